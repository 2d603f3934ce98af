#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/daemon/e2e.sh: nydusfsd with nydusfs.ko in a QEMU guest
# (tools/vm-run): the cases of tests/daemon/guest_e2e.sh (whole tree,
# restart without refetch, kill -9 loop during reads, tampered cache with
# -o verify; blobs from a directory, then from docker-registry inside the
# guest; and a full cache disk).  Exit 0 if all pass, 77 if no guest can
# run.
# timeout: 1600
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=$TOP/build
WORK=${WORK:-$B/daemon-e2e}
NYDUSFS=${NYDUSFS:-$B/bin/nydusfs}

[ -x "$B/bin/nydusfsd" ] && [ -x "$B/tests/nydusfsd_cachecheck" ] || {
	echo "SKIP: build first (make programs)"; exit 77; }
[ -e "$TOP/kernel/nydusfs.ko" ] || { echo "SKIP: no kernel/nydusfs.ko"; exit 77; }

rm -rf "$WORK"
mkdir -p "$WORK/data"
"$TOP/tests/mktree.sh" --small "$WORK/src" >/dev/null
# the guest unpacks the reference tree on tmpfs: no user.* xattrs on 6.1
rm -rf "$WORK/src/xattrs"
head -c $((16 << 20)) /dev/urandom >"$WORK/src/big"
for i in $(seq 1 300); do
	head -c $((i * 97)) /dev/urandom >"$WORK/src/small.$i"
done
cp "$WORK/src/big" "$WORK/data/bigfile"
"$NYDUSFS" build -c 64K -o "$WORK/data/img" "$WORK/src" >/dev/null
cp "$TOP/tests/daemon/guest_e2e.sh" "$WORK/data/"
# the same image in a registry's storage, served in the guest
with=
if command -v docker-registry >/dev/null; then
	env=$("$TOP/tests/registry/registry.sh" start --dir "$WORK/reg" --owner $$)
	eval "$env"
	"$TOP/tests/registry/push.sh" nydus e2e/img "$WORK/data/img" >/dev/null
	"$TOP/tests/registry/registry.sh" stop "$WORK/reg" >/dev/null
	cp -a "$REGISTRY_ROOT" "$WORK/data/regroot"
	with=1
fi
"$TOP/tools/vm-run" --smp 2 --timeout 1500 ${with:+--with docker-registry} \
	--disk "$WORK/data" -- sh /mnt/disk0/guest_e2e.sh /mnt/disk0
