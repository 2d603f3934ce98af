#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: a bad command line exits 2 with a usage text on stderr, for
# every subcommand: no command, an unknown command or option, a missing
# or extra argument, and out-of-range or malformed option values
# (chunk sizes that are not a power of two in 4K..16M, an unknown
# compressor, a bad job count).
. "$(dirname "$0")/../lib.sh"
require_nydusfs

mkdir -p "$T/src"
printf 'x\n' >"$T/src/f"
build_ok "$T/img" "$T/src"
BS=$T/img/bootstrap

bad()
{
	nyd "$@"
	[ "$NYD_RC" = 2 ] ||
		fail "'nydusfs $*' exited $NYD_RC, expected 2 (bad usage)"
	assert_grep 'usage' "$NYD_ERR" "stderr of 'nydusfs $*'"
	[ ! -e "$T/o" ] || fail "'nydusfs $*' wrote $T/o"
}

bad
bad frobnicate
bad --bogus
bad build
bad build "$T/src"
bad build -o "$T/o"
bad build --bogus -o "$T/o" "$T/src"
for cs in 0 1K 2K 3K 5000 12K 32M 1G -4K 4KK abc ""; do
	bad build -c "$cs" -o "$T/o" "$T/src"
done
bad build --chunk-size 8M3 -o "$T/o" "$T/src"
bad build -z gzip -o "$T/o" "$T/src"
bad build --compressor "" -o "$T/o" "$T/src"
bad build -j abc -o "$T/o" "$T/src"
bad build -j -1 -o "$T/o" "$T/src"
bad check
bad check --bogus "$BS"
bad check "$BS" extra
bad check --blob-dir
bad inspect
bad inspect --bogus "$BS"
bad inspect "$BS" extra
bad unpack
bad unpack "$BS"
bad unpack "$BS" "$T/o" extra
bad unpack --bogus "$BS" "$T/o"

# the good spellings of the same options work
for cs in 4K 4096 64K 1M 16M; do
	nyd_ok build -c "$cs" -o "$T/ok-$cs" "$T/src"
done
for z in none lz4 zstd; do
	nyd_ok build --compressor "$z" -j 1 -o "$T/ok-$z" "$T/src"
done
