#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: a full disk gives a clear error (ENOSPC), exit 1, and removes
# the partial output: after the failed build the small filesystem holding
# OUTDIR has no file left and its space is free again.  Two cases: the
# blob does not fit (8 MiB of random data in 2 MiB), and the bootstrap
# does not fit (20,000 empty files: 2.5 MiB of inodes in 2 MiB).
. "$(dirname "$0")/../lib.sh"
require_nydusfs

mkdir "$T/small"
mount -t tmpfs -o size=2m,mode=0755 nydusfs-test "$T/small" ||
	skip "cannot mount a tmpfs (mount not permitted)"

used_kib() { df --output=used -k "$T/small" | tail -n 1 | tr -d ' '; }
base=$(used_kib)

mkdir -p "$T/big"
head -c $((8 << 20)) /dev/urandom >"$T/big/random"
nyd_expect 1 build -z none -o "$T/small/out" "$T/big"
assert_grep 'space' "$NYD_ERR" "error on a full disk (blob)"
assert_no_output_left "$T/small"
assert_le "$(used_kib)" $((base + 16)) "KiB still used on the small fs"

mkdir -p "$T/many"
(cd "$T/many" && seq -f 'f%05g' 1 20000 | xargs touch)
nyd_expect 1 build -o "$T/small/out" "$T/many"
assert_grep 'space' "$NYD_ERR" "error on a full disk (bootstrap)"
assert_no_output_left "$T/small"
assert_le "$(used_kib)" $((base + 16)) "KiB still used on the small fs"

# and the same trees build fine where there is room
build_ok "$T/roomy" "$T/many"
