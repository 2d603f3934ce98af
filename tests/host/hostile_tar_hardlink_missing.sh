#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: a hard link in a layer whose target does not exist (yet) in the
# image -- a missing name, or a member that only comes later -- is refused:
# exit 1, a message naming the link, no output left, nothing touched.  A
# valid link to an earlier member shares its inode in the unpacked tree.
. "$(dirname "$0")/../lib.sh"
require python3
require_nydusfs
hostile_setup

case_tar()
{
	rm -rf "$T/work/out"
	mktar "$T/work/l.tar"
	hostile_build l.tar
	hostile_assert_rejected "$1" "$2"
}

case_tar "hard link to a missing target" missing-link <<PY
add("a", b"a\n")
add("missing-link", typ=LNK, link="does-not-exist")
PY
case_tar "hard link to a member that comes later" early <<PY
add("early", typ=LNK, link="late")
add("late", b"late\n")
PY

# the valid case: one inode, two names
rm -rf "$T/work/out"
mktar "$T/work/l.tar" <<PY
add("d/", typ=DIR, mode=0o755)
add("d/f", b"shared\n", mode=0o600)
add("g", typ=LNK, link="d/f")
PY
hostile_build l.tar
hostile_assert_built
U=$T/work/unpacked
assert_eq "$(stat -c %i "$U/d/f")" "$(stat -c %i "$U/g")" "hard link inode"
assert_eq "$(stat -c %h "$U/g")" 2 "nlink of a hard-linked file"
assert_eq "$(cat "$U/g")" shared "hard link content"
