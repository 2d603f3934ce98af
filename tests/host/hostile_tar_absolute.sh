#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: absolute member names are made relative, as tar does: "/abs/f"
# and "//etc/nydusfs-pwned" land inside the image (abs/f,
# etc/nydusfs-pwned), nothing is written to the host's / or outside the
# output, and an absolute symlink target is stored verbatim, not followed.
. "$(dirname "$0")/../lib.sh"
require python3
require_nydusfs
hostile_setup

mktar "$T/work/l.tar" <<PY
add("/abs/", typ=DIR, mode=0o755)
add("/abs/f", b"absolute\n")
add("//etc/nydusfs-pwned", b"pwned\n")
add("/abs/sentinel", typ=SYM, link="$SENTINEL")
add("$SENTINEL/secret", b"overwritten\n")
PY
hostile_build l.tar
hostile_assert_built
U=$T/work/unpacked
assert_eq "$(cat "$U/abs/f")" absolute "abs/f content"
assert_eq "$(cat "$U/etc/nydusfs-pwned")" pwned "etc/nydusfs-pwned content"
assert_eq "$(readlink "$U/abs/sentinel")" "$SENTINEL" "absolute symlink target"
assert_eq "$(cat "$U/${SENTINEL#/}/secret")" overwritten \
	"the image's copy of the sentinel path"
