#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Print the path of a real OS tree for tests and benchmarks: a Debian 12
# "bookworm" debootstrap --variant=minbase, cached between runs under
# $NYDUSFS_CACHE (default /var/cache/nydusfs) as rootfs-minbase.
#
# The first call builds it (~60 s, needs root and the Debian archive);
# later calls print the cached path at once.  The tree is built in a
# temporary directory and renamed into place, so a cached tree is always
# complete; a lock lets parallel callers wait for one build.  apt's caches
# and package lists are removed: they are large and change daily.
set -euo pipefail

cache=${NYDUSFS_CACHE:-/var/cache/nydusfs}
mirror=${NYDUSFS_MIRROR:-http://deb.debian.org/debian}
dest=$cache/rootfs-minbase

if [ -d "$dest" ]; then
	echo "$dest"
	exit 0
fi

if ! command -v debootstrap >/dev/null; then
	echo "get-rootfs: debootstrap is missing (scripts/install-deps.sh)" >&2
	exit 1
fi
mkdir -p "$cache"
exec 9>"$cache/.rootfs.lock"
flock 9
if [ -d "$dest" ]; then		# built by whoever held the lock
	echo "$dest"
	exit 0
fi

tmp=$(mktemp -d "$cache/.rootfs-minbase.XXXXXX")
trap 'umount -R "$tmp/proc" "$tmp/sys" 2>/dev/null; rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"
echo "get-rootfs: debootstrap --variant=minbase bookworm into $dest" >&2
if ! debootstrap --variant=minbase bookworm "$tmp" "$mirror" \
		>"$cache/debootstrap.log" 2>&1; then
	tail -n 20 "$cache/debootstrap.log" >&2
	echo "get-rootfs: debootstrap failed (log: $cache/debootstrap.log)" >&2
	exit 1
fi
rm -rf "$tmp"/var/cache/apt/*.bin "$tmp"/var/cache/apt/archives/*.deb \
	"$tmp"/var/cache/apt/archives/partial/* "$tmp"/var/lib/apt/lists/* \
	"$tmp"/debootstrap
mv -T "$tmp" "$dest"
trap - EXIT
echo "$dest"
