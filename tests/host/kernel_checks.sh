#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Checks on the kernel module that need no guest:
#   - it builds against the installed cloud kernel headers with W=1 and
#     sparse (C=1), and the build prints no warning at all;
#   - checkpatch.pl --strict finds nothing in kernel/ and uapi/.
# Exit 0 pass, 1 fail, 77 skip (no headers, no sparse, no checkpatch).
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1

# The Debian 12 kernel (6.1) the project targets; other series may be
# installed next to it.
kver=$(ls /usr/src | grep '^linux-headers-6\.1\..*-cloud-amd64$' | sort -V |
	tail -n 1)
if [ -z "$kver" ] || [ ! -d "/usr/src/$kver" ]; then
	echo "SKIP: no linux-headers-*-cloud-amd64 in /usr/src"
	exit 77
fi
if ! command -v sparse >/dev/null; then
	echo "SKIP: sparse is not installed"
	exit 77
fi
tools=$(scripts/kernel-tools.sh) || {
	echo "SKIP: cannot get checkpatch.pl (scripts/kernel-tools.sh)"
	exit 77
}

fail=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# A clean tree, so every file is compiled and checked again.
make -s -C "/usr/src/$kver" M="$top" clean >/dev/null 2>&1
if ! make -C "/usr/src/$kver" M="$top" W=1 C=1 \
	CONFIG_DEBUG_INFO_BTF_MODULES= modules >"$log" 2>&1; then
	cat "$log"
	echo "FAIL: module build against $kver"
	fail=1
elif grep -E -i 'warning|error|: note:' "$log"; then
	echo "FAIL: module build printed warnings (W=1, sparse)"
	fail=1
else
	echo "ok: module builds against $kver, no W=1 or sparse warning"
fi

# Run from an empty directory: checkpatch leaves a CamelCase cache file in
# its working directory.  BIT() is kernel-internal: uapi headers cannot
# use it.
cp="$tools/scripts/checkpatch.pl --strict --no-tree --terse --show-types"
kfiles=$(ls "$top"/kernel/*.c "$top"/kernel/*.h | grep -v '\.mod\.c$')
scratch=$(mktemp -d)
# shellcheck disable=SC2086
(
	cd "$scratch" || exit 1
	$cp -f $kfiles
	$cp --ignore BIT_MACRO -f "$top"/uapi/*.h
) >"$log" 2>&1
rm -rf "$scratch"
if grep -E ':[0-9]+: (ERROR|WARNING|CHECK):' "$log"; then
	echo "FAIL: checkpatch.pl --strict"
	fail=1
else
	echo "ok: checkpatch.pl --strict is clean on kernel/ and uapi/"
fi

exit $fail
