#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: a real OS tree (Debian 12 debootstrap --variant=minbase, cached by
# scripts/get-rootfs.sh: ~6,700 entries, setuid files, hard links, device
# nodes) survives build -> check --blob-dir -> unpack with every attribute
# intact (treecmp), and the bootstrap counts every entry of it.
# timeout: 400
. "$(dirname "$0")/../lib.sh"
require jq
require_nydusfs

rootfs=$("$TOP/scripts/get-rootfs.sh") || fail "no rootfs (scripts/get-rootfs.sh)"
[ -x "$rootfs/usr/bin/dpkg" ] || fail "$rootfs is not a Debian tree"

build_ok "$T/out" "$rootfs"
check_ok "$T/out"
nyd_ok unpack "$T/out/bootstrap" "$T/unpacked"
assert_same_tree "$rootfs" "$T/unpacked"

# one inode per distinct inode of the source tree
want=$(find "$rootfs" -printf '%i\n' | sort -u | wc -l)
assert_eq "$(bsq "$T/out/bootstrap" .inode_count)" "$want" "inode count"
