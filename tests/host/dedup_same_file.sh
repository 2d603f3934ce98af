#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: a tree holding the same 8 MiB random file twice (two names, not
# hard links) stores its chunks once: the chunk table has exactly the
# chunks of one copy, both files reference the same chunks, and the blob
# is about one copy's size (random data does not compress), with 1M and 4K
# chunks.  Both files still unpack with the right content.
# timeout: 200
. "$(dirname "$0")/../lib.sh"
require jq python3
require_nydusfs

MiB=$((1 << 20))
mkdir -p "$T/src/a" "$T/src/b"
head -c $((8 * MiB)) /dev/urandom >"$T/src/a/one"
cp "$T/src/a/one" "$T/src/b/two"
printf 'small\n' >"$T/src/small"

for cs in 1M 4K; do
	case $cs in
	1M) chunk=$MiB ;;
	4K) chunk=4096 ;;
	esac
	out=$T/out-$cs
	build_ok "$out" -c "$cs" "$T/src"
	check_ok "$out"
	bsinfo "$out/bootstrap" >"$T/info.json"

	# 8 MiB / chunk for the big file, plus one for "small"
	want=$((8 * MiB / chunk + 1))
	assert_eq "$(jq .chunk_count "$T/info.json")" "$want" \
		"chunks stored with -c $cs"
	assert_eq "$(jq .unique_chunk_digests "$T/info.json")" "$want" \
		"distinct chunk digests with -c $cs"
	# both files reference chunks: 2 * 8 MiB / chunk + 1 slots
	assert_eq "$(jq .ref_count "$T/info.json")" $((2 * 8 * MiB / chunk + 1)) \
		"chunk slots with -c $cs"

	stored=$(dir_bytes "$out/blobs")
	assert_le "$stored" $((8 * MiB + 8 * MiB / 50)) \
		"blob bytes for two copies of 8 MiB of random data (-c $cs)"
	assert_le $((8 * MiB)) "$stored" "blob bytes (must hold one copy)"

	# inspect --json agrees, if it reports unique chunks
	nyd_ok inspect --json "$out/bootstrap"
	u=$(json_find "$NYD_OUT" unique_chunks)
	[ -z "$u" ] || assert_eq "$u" "$want" "inspect --json unique_chunks"

	nyd_ok unpack "$out/bootstrap" "$T/u-$cs"
	assert_same_tree "$T/src" "$T/u-$cs"
done
