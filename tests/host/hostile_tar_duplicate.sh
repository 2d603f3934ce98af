#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: duplicate entries in one layer follow tar semantics, the last
# one wins: a file twice (content, mode, owner of the second), a directory
# twice (attributes of the second, children of both kept), a symlink
# replaced by a file, and a file whose hard-link partner was later
# replaced (the link keeps the old content).
. "$(dirname "$0")/../lib.sh"
require python3
require_nydusfs
hostile_setup

mktar "$T/work/l.tar" <<'PY'
add("f", b"first\n", mode=0o600)
add("f", b"second, longer\n", mode=0o640)
add("d/", typ=DIR, mode=0o700)
add("d/a", b"a\n")
add("d/", typ=DIR, mode=0o751)
add("d/b", b"b\n")
add("s", typ=SYM, link="f")
add("s", b"now a file\n")
add("h1", b"old\n")
add("h2", typ=LNK, link="h1")
add("h1", b"new\n")
PY
hostile_build l.tar
hostile_assert_built
U=$T/work/unpacked
assert_eq "$(cat "$U/f")" "second, longer" "duplicate file content"
assert_eq "$(stat -c %a "$U/f")" 640 "duplicate file mode"
assert_eq "$(stat -c %a "$U/d")" 751 "duplicate dir mode"
assert_eq "$(ls "$U/d" | tr '\n' ' ')" "a b " "duplicate dir children"
[ -f "$U/s" ] && [ ! -L "$U/s" ] || fail "s is not a regular file"
assert_eq "$(cat "$U/s")" "now a file" "symlink replaced by a file"
assert_eq "$(cat "$U/h1")" new "replaced hard-link partner"
assert_eq "$(cat "$U/h2")" old "hard link keeps the old inode"
assert_eq "$(stat -c %h "$U/h2")" 1 "nlink after the partner was replaced"
