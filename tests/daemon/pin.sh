#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 180
#
# Cross-image cache poisoning, on the host with nydusfsd_fakedev as the
# kernel.  Image A is honest; image B names A's blob (digest and geometry)
# with its own chunk table, and its blob_dir serves its own bytes under
# A's blob name.  The chunk map pins the cache to one chunk table:
#   1. A registered and read: B's registration is refused (the message
#      names the blob, the other mount, "unmount the other first"); with A
#      unregistered but the (fake) kernel still holding the blob, too;
#   2. a new daemon: B is refused while the cache file is open elsewhere
#      (the kernel after a restart); then A's chunks are dropped, B reads
#      B's bytes;
#   3. a new daemon, A registered: B's chunks dropped; B's READs (another
#      table than the pinned one) are refused and nothing is written; so
#      are they when they come at once as a daemon starts;
#   4. a new daemon loads A from its saved table: A reads A's bytes;
#   5. one more restart: the pin held, every chunk is still present;
#   6. B registered while A's prefetch (unregistered, from a registry
#      behind a proxy that delays each blob answer 3 s) is still in
#      flight: nydusfsd answers EAGAIN, nydusfs mount says so and tries
#      again until the fetch is done, then B is reset and reads B's bytes.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../convert_lib.sh"

require python3 docker-registry curl

require_daemon_tools
daemon_harness _reg_stop_all
. "$(dirname "$0")/lib_fakedev.sh"

nyd() { "$NYDUSFS" "$@"; }

# expect_refused WHAT COMMAND...: a mount that exits 32 (mount(8)'s
# "mount failure"); its stderr in $T/err
expect_refused()
{
	local what=$1 rc=0

	shift
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	[ $rc = 32 ] || fail "$what: exit $rc, not 32: $(cat "$T/err")"
	info "$what: $(head -c 400 "$T/err")"
}


# read_all PATTERN: let the fake kernel read; its summary must match
read_all()
{
	touch "$T/go"
	for _ in $(seq 300); do grep -q '^chunks' "$T/fd.out" && break; sleep 0.1; done
	grep -q "^chunks $N $1" "$T/fd.out" || fail "fakedev: want '$1': $(cat "$T/fd.out")"
	info "fakedev: $(grep '^chunks' "$T/fd.out")"
}

stop()
{
	kill "$DPID"
	wait "$DPID" || fail "nydusfsd exited $?: $(tail "$T/d.log")"
	kill "$FPID" 2>/dev/null || true
	wait "$FPID" 2>/dev/null || true
	DPID=''
	FPID=
}

# cachecheck BOOTSTRAP: its summary line (exit status ignored)
cachecheck() { "$CACHECHECK" "$1" "$T/cache" 2>/dev/null || true; }

# cached BOOTSTRAP LINE WHAT: cachecheck says LINE within 10 s (a chunk's
# bit reaches the map after its data's fdatasync, a little after the READ)
cached()
{
	for _ in $(seq 100); do
		[ "$(cachecheck "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	fail "$3: $(cachecheck "$1")"
}

# ---- A, and B lying about A's blob ----
mkdir -p "$T/src/bin" "$T/mnt" "$T/mnt2"
head -c 20000 /dev/urandom >"$T/src/bin/app"
head -c 9000 /dev/urandom >"$T/src/lib.so"
nyd build -c 4K -z none -o "$T/A" "$T/src" >/dev/null
X=$(ls "$T/A/blobs")
N=$(($(stat -c %s "$T/A/blobs/$X") / 4096 + 1))	# 5 + 3 chunks
[ "$N" = 8 ] || fail "image A: $N chunks, not 8"
mkdir -p "$T/B/blobs"
head -c "$(stat -c %s "$T/A/blobs/$X")" /dev/urandom >"$T/B/blobs/$X"
python3 - "$T/A/bootstrap" "$T/B/blobs/$X" "$T/B/bootstrap" "$TOP/tests" <<'PY'
import hashlib, struct, sys
sys.path.insert(0, sys.argv[4])
from superblock import fix_csum
b = bytearray(open(sys.argv[1], "rb").read())
blob = open(sys.argv[2], "rb").read()
off, size = struct.unpack_from("<QQ", b, 40 + 16 * 5)   # region CHUNKS
for e in range(off, off + size, 64):
    coff, csize = struct.unpack_from("<QI", b, e)
    b[e + 32:e + 64] = hashlib.sha256(blob[coff:coff + csize]).digest()
open(sys.argv[3], "wb").write(fix_csum(b))
PY
# the merkle digests stay A's: only `nydusfs check` reads them, neither
# the daemon nor the reader the fake kernel uses
[ "$(ls "$T/B/blobs")" = "$X" ] || fail "B's blob_dir"

fakedev_conf
ln -sf "$NYDUSFS" "$T/mount.nydusfs"
mount_A() { "$T/mount.nydusfs" "$T/A/bootstrap" "$T/mnt" -f -o "blob_dir=$T/A/blobs,noprefetch"; }
mount_B() { "$T/mount.nydusfs" "$T/B/bootstrap" "$T/mnt2" -f -o "blob_dir=$T/B/blobs,noprefetch"; }

# ---- 1. A in use: B is refused ----
start_fakedev_daemon "$T/A/bootstrap"
mount_A || fail "mount A"
read_all "present 0 fetched $N errors 0 bad 0"
cached "$T/A/bootstrap" "blobs 1 marked $N bad 0 pinned 1" "A cached and pinned"
expect_refused "B while A is registered" mount_B
for want in "blob $X" "one of the two images lies about this blob" \
	"the mount at $T/mnt uses" "unmount the other first"; do
	grep -qF -- "$want" "$T/err" || fail "B's refusal lacks '$want': $(cat "$T/err")"
done
nyd umount "$T/mnt"
expect_refused "B while the kernel holds A's blob open" mount_B
grep -qF "a kernel mount uses" "$T/err" || fail "B's refusal: $(cat "$T/err")"
[ "$(nyd status --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["mounts"]))')" = 0 ] ||
	fail "a refused registration stayed: $(nyd status)"
[ "$(cachecheck "$T/A/bootstrap")" = "blobs 1 marked $N bad 0 pinned 1" ] ||
	fail "the refusals touched A's cache: $(cachecheck "$T/A/bootstrap")"
stop

# ---- 2. B registered with nobody else on the blob: reset ----
start_fakedev_daemon "$T/B/bootstrap"
# as the kernel after a daemon restart: the cache file open elsewhere
exec 7<"$T/cache/$X"
expect_refused "B while the cache file is open elsewhere" mount_B
grep -qF "its cache file is open elsewhere" "$T/err" || fail "B's refusal: $(cat "$T/err")"
exec 7<&-
[ "$(cachecheck "$T/A/bootstrap")" = "blobs 1 marked $N bad 0 pinned 1" ] ||
	fail "a refused reset touched A's cache: $(cachecheck "$T/A/bootstrap")"
mount_B || fail "mount B: $(tail -n 3 "$T/d.log")"
grep -q "cache $X: .*names it with chunk table .*dropping them" "$T/d.log" ||
	fail "no reset warning: $(tail "$T/d.log")"
[ "$(cachecheck "$T/A/bootstrap")" = "blobs 1 marked 0 bad 0 pinned 0" ] ||
	fail "A's chunks survived the reset: $(cachecheck "$T/A/bootstrap")"
read_all "present 0 fetched $N errors 0 bad 0"	# fakedev checks B's digests
cached "$T/B/bootstrap" "blobs 1 marked $N bad 0 pinned 1" "B's cache"
nyd umount "$T/mnt2"
stop

# ---- 3. A again: reset; B's READs differ from the pinned table ----
start_fakedev_daemon "$T/B/bootstrap" --expect-errors -1
mount_A || fail "mount A again"
[ "$(cachecheck "$T/B/bootstrap")" = "blobs 1 marked 0 bad 0 pinned 0" ] ||
	fail "B's chunks survived: $(cachecheck "$T/B/bootstrap")"
read_all "present 0 fetched 0 errors $N bad 0"
grep -q "differs from the blob's registered chunk table: refused, nothing fetched" "$T/d.log" ||
	fail "no log of the refused READ: $(tail "$T/d.log")"
if [ "$(cachecheck "$T/A/bootstrap")" != "blobs 1 marked 0 bad 0 pinned 1" ] ||
	[ "$(stat -c %b "$T/cache/$X")" != 0 ]; then
	fail "a refused READ wrote: $(cachecheck "$T/A/bootstrap"), $(stat -c %b "$T/cache/$X") blocks"
fi
stop

# ---- 3b. restart with B's READs at once: refused too ----
# (as the kernel re-queues its requests at a daemon's start, while the
# saved mounts compare their tables with the pins: a READ that finds no
# table yet waits for them; this run does not force that order)
FAKEDEV_GO=1 start_fakedev_daemon "$T/B/bootstrap" --expect-errors -1
read_all "present 0 fetched 0 errors $N bad 0"
cached "$T/A/bootstrap" "blobs 1 marked 0 bad 0 pinned 1" "READs at start"
stop

# ---- 4. restart: A from the saved table reads A's bytes ----
start_fakedev_daemon "$T/A/bootstrap"
read_all "present 0 fetched $N errors 0 bad 0"
cached "$T/A/bootstrap" "blobs 1 marked $N bad 0 pinned 1" "A's cache"
stop

# ---- 5. restart: the pin persists, nothing is dropped ----
start_fakedev_daemon "$T/A/bootstrap"
read_all "present $N fetched 0 errors 0 bad 0"
[ "$(grep -c "(its chunks dropped)" "$T/d.log")" = 2 ] ||
	fail "resets: $(grep "its chunks dropped" "$T/d.log")"
stop
info "pinning: refused while in use, reset otherwise, READs checked, persists: ok"

# ---- 6. B while A's fetches are in flight: EAGAIN, the CLI waits ----
reg_start pinreg
"$CONVERT_REG/push.sh" blob a "$T/A/blobs/$X" >/dev/null
reg_proxy --rule "delay secs=3 path=/blobs/ method=GET"
rm -rf "$T/cache" "$T/state"
fakedev_conf
printf '[registry "%s"]\nscheme = http\n[prefetch]\nall = true\n' \
	"$FAULTPROXY_HOST" >>"$T/d.conf"
start_fakedev_daemon "$T/B/bootstrap"
"$T/mount.nydusfs" "$T/A/bootstrap" "$T/mnt" -f \
	-o "source=registry:$FAULTPROXY_HOST/a" || fail "mount A from the registry"
for _ in $(seq 50); do		# A's prefetch on its way (3 s at the proxy)
	[ "$(proxy_count GET /blobs/)" -ge 1 ] && break
	sleep 0.1
done
nyd umount "$T/mnt"
mount_B 2>"$T/err" || fail "mount B while A's fetch ran: $(cat "$T/err")"
grep -q "still busy with another image's fetches; try again; waiting" "$T/err" ||
	fail "B did not wait for A's fetch: $(cat "$T/err")"
read_all "present 0 fetched $N errors 0 bad 0"	# B's bytes, B's digests
cached "$T/B/bootstrap" "blobs 1 marked $N bad 0 pinned 1" "B after the wait"
stop
info "registration while another image's fetches run: waited, then reset: ok"
