#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: hard links in a layer are resolved inside the image only.  A
# link to a missing target, to "../outside" (the sentinel), to an absolute
# host path, or through a symlink to outside is refused (exit 1, no output,
# nothing touched, no byte of the host file read); a valid link to an
# earlier member shares its inode in the unpacked tree.
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
case_tar "hard link to ../outside" evil-outside <<PY
add("evil-outside", typ=LNK, link="../sentinel/secret")
PY
case_tar "hard link to an absolute host path" evil-abs <<PY
add("evil-abs", typ=LNK, link="$SENTINEL/secret")
PY
case_tar "hard link through a symlink out of the tree" evil-through <<PY
add("s", typ=SYM, link="$SENTINEL")
add("evil-through", typ=LNK, link="s/secret")
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
