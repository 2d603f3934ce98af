#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: unpack refuses a DESTDIR that already exists (an empty dir, a
# non-empty dir, a file, a symlink), exit 1, leaving it untouched; and
# unpack/check/inspect fail with exit 1 and a message on a missing
# bootstrap, a directory given as the bootstrap, or a missing blob dir.
. "$(dirname "$0")/../lib.sh"
require_nydusfs

mktiny "$T/src"
build_ok "$T/img" "$T/src"
BS=$T/img/bootstrap

mkdir "$T/empty" "$T/full"
printf 'keep\n' >"$T/full/keep"
printf 'a file\n' >"$T/file"
ln -s "$T/full" "$T/link"
touch -d '2000-01-01' "$T/empty" "$T/full"
for d in empty full file link; do
	before=$(ls -la --time-style=full-iso "$T/$d" 2>&1; cat "$T/full/keep")
	nyd_expect 1 unpack "$BS" "$T/$d"
	after=$(ls -la --time-style=full-iso "$T/$d" 2>&1; cat "$T/full/keep")
	assert_eq "$after" "$before" "existing DESTDIR $d after a refused unpack"
done

nyd_expect 1 unpack "$T/nope/bootstrap" "$T/d1"
assert_no_file "$T/d1"
nyd_expect 1 check "$T/nope/bootstrap"
nyd_expect 1 inspect "$T/nope/bootstrap"
nyd_expect 1 check "$T/img"
nyd_expect 1 inspect "$T/img"
nyd_expect 1 unpack "$T/img" "$T/d2"
nyd_expect 1 check --blob-dir "$T/nope" "$BS"
nyd_expect 1 unpack --blob-dir "$T/nope" "$BS" "$T/d3"

# and a fresh DESTDIR works
nyd_ok unpack "$BS" "$T/fresh"
assert_same_tree "$T/src" "$T/fresh"
