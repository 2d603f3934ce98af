#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: hard links are resolved inside the image only.  A link to
# "../outside" (a sentinel file next to the build's cwd), to an absolute
# host path, or through a symlink that points out of the tree is refused:
# exit 1, a message naming the link, no output left, the sentinel neither
# changed nor linked, and no byte of it read into an image.
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
