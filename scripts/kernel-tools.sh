#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Extract the few kernel-tree files the project uses but does not carry:
#
#   scripts/checkpatch.pl, scripts/spelling.txt,
#   scripts/const_structs.checkpatch      (style checks on kernel/ and uapi/)
#   tools/testing/selftests/kselftest.h,
#   tools/testing/selftests/kselftest_harness.h   (selftests/nydusfs)
#
# They come from Debian's linux-source-6.1 package (the only one that ships
# them), whose .deb holds the whole tree as an inner tarball.  The files go
# to build/kernel-tools/ (override with $KERNEL_TOOLS), never into git.
# The .deb is fetched with `apt-get download` when missing and removed once
# the files are out.  Idempotent and quick when the files are present;
# a lock lets parallel callers wait for one extraction (~15 s).
#
# Prints the directory on success.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
dest=${KERNEL_TOOLS:-$top/build/kernel-tools}
pkg=linux-source-6.1
files="scripts/checkpatch.pl scripts/spelling.txt
scripts/const_structs.checkpatch tools/testing/selftests/kselftest.h
tools/testing/selftests/kselftest_harness.h"

have_all() {
	for f in $files; do
		[ -s "$dest/$f" ] || return 1
	done
}

if have_all; then
	echo "$dest"
	exit 0
fi

mkdir -p "$dest"
exec 9>"$dest/.lock"
flock 9
if have_all; then
	echo "$dest"
	exit 0
fi

work=$(mktemp -d "$dest/.work.XXXXXX")
chmod 755 "$work"	# apt-get download drops to user _apt
trap 'rm -rf "$work"' EXIT

deb=$(ls /var/cache/apt/archives/${pkg}_*.deb 2>/dev/null | tail -n 1 || true)
if [ -z "$deb" ]; then
	echo "kernel-tools: downloading $pkg" >&2
	(cd "$work" && apt-get download -q "$pkg" >&2)
	deb=$(ls "$work"/${pkg}_*.deb | tail -n 1)
fi

# The inner tarball is usr/src/linux-source-6.1.tar.xz; its members are
# prefixed with linux-source-6.1/.
dpkg-deb --fsys-tarfile "$deb" |
	tar -xf - -C "$work" "./usr/src/$pkg.tar.xz"
members=""
for f in $files; do
	members="$members $pkg/$f"
done
# shellcheck disable=SC2086
tar -xJf "$work/usr/src/$pkg.tar.xz" -C "$work" $members

for f in $files; do
	mkdir -p "$(dirname "$dest/$f")"
	mv "$work/$pkg/$f" "$dest/$f"
done
chmod +x "$dest/scripts/checkpatch.pl"
echo "$dest"
