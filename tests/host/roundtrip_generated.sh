#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: a tree holding every tricky case (tests/mktree.sh: 255-byte names,
# a > 4096-byte path, holes, a 5 GiB sparse file with data past 4 GiB,
# chunk-sized files, hard links across directories, binary xattrs incl.
# security.capability, every file type, odd modes, owners and mtimes)
# survives build -> check --blob-dir -> unpack with every attribute intact
# (treecmp), for the default options, -c 4K -z lz4 and -z none.  Holes stay
# holes in the unpacked tree, the prefetch list lands in the bootstrap,
# and inspect --json is valid JSON.
# timeout: 420
. "$(dirname "$0")/../lib.sh"
require python3 jq
require_nydusfs

cd "$TOP" || fail "cd $TOP"
tests/mktree.sh "$T/src"
printf '%s\n' /chunks/size_1048576 /links/a/target /types/reg \
	>"$T/prefetch.txt"

roundtrip()
{
	local tag=$1 out=$T/out-$1 dst=$T/unpacked-$1 big

	shift
	info "round trip: $tag ($*)"
	build_ok "$out" "$@" "$T/src"
	check_ok "$out"
	nyd_ok inspect "$out/bootstrap"
	[ -s "$NYD_OUT" ] || fail "inspect printed nothing"
	nyd_ok inspect --json "$out/bootstrap"
	jq -e . "$NYD_OUT" >/dev/null || fail "inspect --json is not JSON"
	nyd_ok unpack --blob-dir "$out/blobs" "$out/bootstrap" "$dst"
	assert_same_tree "$T/src" "$dst"

	# A 5 GiB file with 1 MiB of data must unpack sparse.
	big=$(du -k "$dst/sparse/big5g" | cut -f1)
	assert_le "$big" 65536 "KiB allocated to the unpacked 5 GiB sparse file"
	rm -rf "$dst"
}

roundtrip default -p "$T/prefetch.txt"
# the prefetch table names the three files
assert_eq "$(bsq "$T/out-default/bootstrap" '.prefetch | length')" 3 \
	"prefetch entries"
assert_eq "$(bsq "$T/out-default/bootstrap" '.chunkszbits')" 20 \
	"default chunk size bits"

roundtrip 4k-lz4 -c 4K -z lz4
assert_eq "$(bsq "$T/out-4k-lz4/bootstrap" '.chunkszbits')" 12 \
	"-c 4K chunk size bits"

roundtrip none -z none -j 1
# uncompressed: every blob's compressed size equals its uncompressed data
bsinfo "$T/out-none/bootstrap" >"$T/none.json"
assert_eq "$(jq '[.blobs[].compressed_size] | add' "$T/none.json")" \
	"$(dir_bytes "$T/out-none/blobs")" "blob table sizes vs blob files"

# unpack's default blob dir is $(dirname BOOTSTRAP)/blobs
nyd_ok unpack "$T/out-default/bootstrap" "$T/unpacked-defaultdir"
assert_same_tree "$T/src" "$T/unpacked-defaultdir"
