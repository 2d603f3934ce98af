#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: a directory replaced by a file (and a file by a directory), in
# one layer or across two layers, follows OCI layer semantics: the later
# entry replaces the earlier one and everything below it, with nothing
# written outside the output.
. "$(dirname "$0")/../lib.sh"
require python3
require_nydusfs
hostile_setup

mktar "$T/work/l.tar" <<'PY'
add("d/", typ=DIR, mode=0o755)
add("d/x", b"under d\n")
add("d/sub/", typ=DIR, mode=0o755)
add("d/sub/y", b"deeper\n")
add("d", b"d is a file now\n")
add("f", b"f is a file\n")
add("f/", typ=DIR, mode=0o700)
add("f/inside", b"f is a dir now\n")
PY
hostile_build l.tar
hostile_assert_built
U=$T/work/unpacked
[ -f "$U/d" ] || fail "d is not a regular file"
assert_eq "$(cat "$U/d")" "d is a file now" "d content"
[ -d "$U/f" ] || fail "f is not a directory"
assert_eq "$(stat -c %a "$U/f")" 700 "f mode"
assert_eq "$(ls -A "$U/f")" inside "f's children"

# the same across layers
rm -rf "$T/work/out" "$T/work/unpacked"
mktar "$T/work/l1.tar" <<'PY'
add("d/", typ=DIR, mode=0o755)
add("d/x", b"under d\n")
add("f", b"f\n")
PY
mktar "$T/work/l2.tar" <<'PY'
add("d", b"d is a file now\n")
add("f/", typ=DIR, mode=0o700)
add("f/inside", b"inside\n")
PY
hostile_snapshot >"$T/.snap-before"
hostile_build l1.tar l2.tar
hostile_assert_built
U=$T/work/unpacked
[ -f "$U/d" ] || fail "d is not a regular file (two layers)"
[ -f "$U/f/inside" ] || fail "f/inside missing (two layers)"
