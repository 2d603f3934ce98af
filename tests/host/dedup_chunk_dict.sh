#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: with --chunk-dict, a second version of the real OS tree that
# changes a few files (one appended to, one replaced, one added) stores
# only the new chunks: the new blob is no larger than the changed files
# rounded up to whole chunks, v1's blob is referenced (not copied) in v2's
# blob table, `check --blob-dir` passes on a directory holding v1's and
# v2's blobs, and unpacking v2 gives exactly the v2 tree.
# timeout: 400
. "$(dirname "$0")/../lib.sh"
require jq
require_nydusfs

rootfs=$("$TOP/scripts/get-rootfs.sh") || fail "no rootfs (scripts/get-rootfs.sh)"
CHUNK=$((1 << 20))
roundup() { echo $(((($1) + CHUNK - 1) / CHUNK * CHUNK)); }

build_ok "$T/v1" "$rootfs"

cp -a "$rootfs" "$T/tree2"
append=$T/tree2/usr/bin/bash
replace=$T/tree2/usr/share/common-licenses/Apache-2.0
[ -f "$append" ] && [ -f "$replace" ] || fail "rootfs lacks $append or $replace"
head -c 100000 /dev/urandom >>"$append"
head -c 300000 /dev/urandom >"$replace"
head -c 500000 /dev/urandom >"$T/tree2/usr/share/new-file"
bound=$(($(roundup "$(stat -c %s "$append")") +
	 $(roundup "$(stat -c %s "$replace")") + $(roundup 500000)))

build_ok "$T/v2" --chunk-dict "$T/v1/bootstrap" "$T/tree2"

# the blobs v2 wrote that v1 does not have
new=0
for b in "$T"/v2/blobs/*; do
	[ -e "$T/v1/blobs/$(basename "$b")" ] && continue
	new=$((new + $(stat -c %s "$b")))
done
info "v1 blobs: $(dir_bytes "$T/v1/blobs") bytes; v2 new blobs: $new bytes; bound $bound"
[ "$new" -gt 0 ] || fail "v2 stored no new data at all"
assert_le "$new" "$bound" "new blob bytes vs changed files in whole chunks"

# v1's blob(s) are in v2's blob table
bsinfo "$T/v1/bootstrap" | jq -r '.blobs[].digest' | sort >"$T/v1.blobs"
bsinfo "$T/v2/bootstrap" | jq -r '.blobs[].digest' | sort >"$T/v2.blobs"
[ -z "$(comm -23 "$T/v1.blobs" "$T/v2.blobs")" ] ||
	fail "v2's blob table does not name v1's blobs"

# a blob dir holding both versions' blobs checks and unpacks
mkdir "$T/all"
ln "$T"/v1/blobs/* "$T"/v2/blobs/* "$T/all/" 2>/dev/null ||
	cp -n "$T"/v1/blobs/* "$T"/v2/blobs/* "$T/all/"
nyd_ok check --blob-dir "$T/all" "$T/v2/bootstrap"
nyd_ok unpack --blob-dir "$T/all" "$T/v2/bootstrap" "$T/u2"
assert_same_tree "$T/tree2" "$T/u2"

# without v1's blobs, v2's chunks cannot all be read
mkdir "$T/only2"
for b in "$T"/v2/blobs/*; do
	[ -e "$T/v1/blobs/$(basename "$b")" ] || cp "$b" "$T/only2/"
done
nyd_expect 1 check --blob-dir "$T/only2" "$T/v2/bootstrap"
