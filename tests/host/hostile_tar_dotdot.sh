#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: a layer with ".." path components ("../x", "a/../../x",
# "./../x") is refused: exit 1 with a message, no output left, nothing
# written outside the output directory.
. "$(dirname "$0")/../lib.sh"
require python3
require_nydusfs
hostile_setup

for name in ../sentinel/secret ok/../../sentinel/secret ./../evil a/b/../../..; do
	rm -rf "$T/work/out"
	mktar "$T/work/l.tar" <<PY
add("ok/", typ=DIR, mode=0o755)
add("ok/file", b"fine\n")
add("$name", b"pwned\n")
PY
	hostile_build l.tar
	hostile_assert_rejected "entry $name" "$name"
done
