#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: a symlink pointing out of the tree, followed by an entry written
# through it ("link -> /etc" then "link/passwd"; a relative "up -> ../.."
# then "up/sentinel/secret"; a symlink to the sentinel then a hard link
# through it) is refused: exit 1, a message, no output left, nothing
# outside touched.  Symlinks are never followed while building.
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

case_tar "absolute symlink, then a file through it" link/nydusfs-pwned <<PY
add("link", typ=SYM, link="/etc")
add("link/nydusfs-pwned", b"pwned\n")
PY
case_tar "relative symlink out of the tree, then a file through it" up/sentinel/secret <<PY
add("up", typ=SYM, link="../..")
add("up/sentinel/secret", b"pwned\n")
PY
case_tar "symlink to the sentinel dir, then a file through it" s/secret <<PY
add("s", typ=SYM, link="$SENTINEL")
add("s/secret", b"pwned\n")
PY

# A symlink may point anywhere as long as nothing goes through it.
rm -rf "$T/work/out"
mktar "$T/work/l.tar" <<PY
add("link", typ=SYM, link="/etc")
add("rel", typ=SYM, link="../../sentinel/secret")
PY
hostile_build l.tar
hostile_assert_built
assert_eq "$(readlink "$T/work/unpacked/link")" /etc "symlink target"
