#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 300
#
# nydusfsd on the host, with nydusfsd_fakedev playing the kernel: the
# command line and a bad config (exit 2 naming the line), sd_notify
# (READY=1 once the device is open, STOPPING=1), the systemd unit
# (systemd-analyze verify and security), the control socket through the
# nydusfs CLI (mount.nydusfs -f registers without mounting; status,
# metrics, cache, umount), prefetch of the bootstrap's list with its
# progress, metrics over HTTP, the mount table surviving a restart, and
# cache GC (nothing a mount uses is evicted; LRU down to the limit).
. "$(dirname "$0")/../lib.sh"

require python3 curl jq systemd-analyze

B=$TOP/build
require_daemon_tools
daemon_harness

nyd() { "$NYDUSFS" "$@"; }

# ---- command line and config errors ----
"$NYDUSFSD" --help | grep -q -- '--config' || fail "--help"
"$NYDUSFSD" --version | grep -q 'protocol 1' || fail "--version"
rc=0; "$NYDUSFSD" --bogus 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "a bad option exits $rc, not 2"
printf '[daemon]\nlog_level = info\n\n[fetch]\nmerge_limit = lots\n' >"$T/bad.conf"
rc=0; "$NYDUSFSD" --config "$T/bad.conf" 2>"$T/err" || rc=$?
[ $rc = 2 ] || fail "a bad config exits $rc, not 2"
grep -q "bad.conf:5: merge_limit: 'lots' is not a size" "$T/err" ||
	fail "bad config message: $(cat "$T/err")"
rc=0; "$NYDUSFSD" --config "$T/missing.conf" 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "a missing config exits $rc"
"$NYDUSFSD" --check-config --config "$TOP/daemon/nydusfsd.conf.example" >/dev/null ||
	fail "the example config does not parse"
sed 's/^;//' "$TOP/daemon/nydusfsd.conf.example" >"$T/full.conf"
"$NYDUSFSD" --check-config --config "$T/full.conf" | grep -q '2 mirrors, credentials' ||
	fail "the example config, every example line on, does not parse"
info "command line and config errors, the example config: ok"

# ---- the systemd unit ----
sed "s|/usr/local/sbin/nydusfsd|$B/bin/nydusfsd|" "$TOP/daemon/nydusfsd.service" \
	>"$T/nydusfsd.service"
# verify runs man(1) on the unit's Documentation=man:nydusfsd(8)
mkdir -p "$T/man/man8"
cp "$TOP/Documentation/nydusfsd.8" "$T/man/man8/"
out=$(cd "$T" && MANPATH=$T/man systemd-analyze verify ./nydusfsd.service 2>&1) ||
	fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
exposure=$(systemd-analyze security --offline=true "$T/nydusfsd.service" 2>&1 |
	sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
info "unit: verify clean, exposure $exposure"
awk -v e="$exposure" 'BEGIN { exit !(e != "" && e < 4.0) }' ||
	fail "exposure $exposure"

# ---- the image: a prefetch list ----
mkdir -p "$T/src/etc" "$T/src/bin"
head -c $((1 << 20)) /dev/urandom >"$T/src/bin/app"
for i in $(seq 1 20); do head -c $((i * 300)) /dev/urandom >"$T/src/etc/c$i"; done
head -c $((2 << 20)) /dev/urandom >"$T/src/cold"
printf '/bin/app\n/etc\n' >"$T/plist"
nyd build -c 64K -p "$T/plist" -o "$T/img" "$T/src" >/dev/null
mkdir -p "$T/src2"
head -c $((3 << 20)) /dev/urandom >"$T/src2/other"
nyd build -c 64K -o "$T/img2" "$T/src2" >/dev/null
want=$(( (1 << 20) / 65536 + 20 ))
# what the fake kernel opens (a blob in use the whole time)
mkdir -p "$T/src0"
echo tiny >"$T/src0/f"
nyd build -o "$T/img0" "$T/src0" >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/d.conf" <<EOF
[daemon]
device = unix:$T/dev.sock
socket = $NYDUSFS_SOCKET
state_dir = $T/state
metrics_listen = 127.0.0.1:$port
[cache]
dir = $T/cache
EOF

# start_daemon: fakedev as the kernel (serving nothing until asked), the
# daemon with NOTIFY_SOCKET pointing at a datagram socket of ours
start_daemon()
{
	rm -f "$T/notify.log" "$T/notify.sock" "$T/dev.sock"
	python3 - "$T/notify.sock" "$T/notify.log" <<'EOF' &
import os, socket, sys
p = sys.argv[1]
if os.path.exists(p): os.unlink(p)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(p)
s.settimeout(60)
with open(sys.argv[2], "a") as f:
    while True:
        try: m = s.recv(4096)
        except Exception: break
        f.write(m.decode() + "\n"); f.flush()
        if b"STOPPING=1" in m: break
EOF
	NPID=$!
	"$FAKEDEV" --socket "$T/dev.sock" --bootstrap "$T/img0/bootstrap" \
		--cache-dir "$T/cache" --files 0 --linger 3600 --timeout 30 \
		>"$T/fd.out" 2>&1 &
	FPID=$!
	# both sockets bound before the daemon starts (python is slow to
	# start on a loaded machine: READY=1 was once sent to nobody)
	for _ in $(seq 200); do
		[ -S "$T/notify.sock" ] && [ -S "$T/dev.sock" ] && break
		sleep 0.1
	done
	NOTIFY_SOCKET=$T/notify.sock "$NYDUSFSD" --config "$T/d.conf" \
		2>>"$T/d.log" &
	DPID=$!
	for _ in $(seq 300); do		# 30 s: a loaded machine, ASan
		grep -q READY=1 "$T/notify.log" 2>/dev/null && break
		sleep 0.1
	done
	grep -q READY=1 "$T/notify.log" || fail "no READY=1 from sd_notify"
}

stop_daemon()
{
	kill $DPID
	wait $DPID || fail "the daemon exited $? on SIGTERM"
	DPID=
	wait $NPID
	grep -q STOPPING=1 "$T/notify.log" || fail "no STOPPING=1"
	kill $FPID 2>/dev/null
	wait $FPID 2>/dev/null || true
	FPID=
}

start_daemon
info "sd_notify: READY=1 once the device is open: ok"

# ---- registration, prefetch, status ----
mkdir -p "$T/mnt"
ln -sf "$NYDUSFS" "$T/mount.nydusfs"
"$T/mount.nydusfs" "$T/img/bootstrap" "$T/mnt" -f \
	-o "blob_dir=$T/img/blobs,verify" || fail "mount.nydusfs -f"
for _ in $(seq 100); do
	st=$(nyd status --json)
	[ "$(jq '.mounts[0].prefetch.running' <<<"$st")" = false ] && break
	sleep 0.1
done
jq -e '.mounts | length == 1' <<<"$st" >/dev/null || fail "not registered: $st"
done_=$(jq '.mounts[0].prefetch.done' <<<"$st")
total=$(jq '.mounts[0].prefetch.total' <<<"$st")
info "prefetch: $done_ of $total chunks (want $want)"
[ "$total" = "$want" ] && [ "$done_" = "$want" ] || fail "prefetch progress: $st"
nyd status | grep -q "prefetch $want/$want" || fail "status text"
if "$T/mount.nydusfs" "$T/img/bootstrap" "$T/mnt" -f 2>"$T/err"; then
	fail "a mountpoint registered twice"
fi
grep -q 'already registered' "$T/err" || fail "twice: $(cat "$T/err")"
nyd status --json | jq -e '.mounts | length == 1' >/dev/null ||
	fail "the daemon is unwell after a refused registration"

# ---- metrics, on the socket and over HTTP ----
nyd metrics >"$T/m1"
grep -q '^nydusfsd_fetch_bytes_total{backend="localfs"' "$T/m1" || fail "metrics"
grep -q "^nydusfsd_prefetch_chunks{mountpoint=\"$T/mnt\",state=\"done\"} $want" \
	"$T/m1" || fail "prefetch metric"
grep -q '^nydusfsd_fetch_request_duration_seconds_bucket' "$T/m1" ||
	fail "latency histogram"
curl -sf "http://127.0.0.1:$port/metrics" | grep -q '^nydusfsd_mounts 1' ||
	fail "metrics over HTTP"
info "metrics (socket and HTTP): ok"

# ---- the mount table survives a restart ----
stop_daemon
start_daemon
nyd status --json | jq -e ".mounts[0].mountpoint == \"$T/mnt\"" >/dev/null ||
	fail "the registration was lost in a restart"
info "restart: the mount table is back, ok"

# ---- cache usage and GC ----
# img0's blob is open in the (fake) kernel, img's is registered
u=$(nyd cache --json)
[ "$(jq .blobs <<<"$u")" = 2 ] && [ "$(jq .in_use <<<"$u")" = 2 ] ||
	fail "cache usage: $u"
nyd cache gc --all >/dev/null
[ "$(nyd cache --json | jq .blobs)" = 2 ] || fail "gc evicted a blob in use"
nyd umount "$T/mnt"
[ "$(nyd status --json | jq '.mounts | length')" = 0 ] || fail "umount"
# fill the cache with the second image, then unregister it too
"$T/mount.nydusfs" "$T/img2/bootstrap" "$T/mnt" -f -o "blob_dir=$T/img2/blobs"
sleep 0.5
nyd umount "$T/mnt"
u=$(nyd cache --json)
info "cache: $(jq -c '{bytes,blobs,in_use}' <<<"$u")"
[ "$(jq .blobs <<<"$u")" = 3 ] && [ "$(jq .in_use <<<"$u")" = 1 ] ||
	fail "cache usage: $u"
g=$(nyd cache gc --all --json)
[ "$(jq .blobs <<<"$g")" = 1 ] && [ "$(jq .evicted <<<"$g")" = 2 ] ||
	fail "gc --all: $g"
[ "$(ls "$T/cache" | wc -l)" = 2 ] || fail "files left in the cache: $(ls "$T/cache")"
info "cache gc: in-use blobs kept, unused ones evicted, ok"

# LRU down to a limit: two unused blobs, the older goes
"$T/mount.nydusfs" "$T/img/bootstrap" "$T/mnt" -f -o "blob_dir=$T/img/blobs"
sleep 0.5
nyd umount "$T/mnt"
sleep 1.1
"$T/mount.nydusfs" "$T/img2/bootstrap" "$T/mnt" -f -o "blob_dir=$T/img2/blobs"
sleep 0.5
nyd umount "$T/mnt"
stop_daemon
start_daemon
old=$(nyd inspect --json "$T/img/bootstrap" | jq -r '.blobs[0].digest')
new=$(nyd inspect --json "$T/img2/bootstrap" | jq -r '.blobs[0].digest')
zero=$(nyd inspect --json "$T/img0/bootstrap" | jq -r '.blobs[0].digest')
keep=$(stat -c '%b' "$T/cache/$new" "$T/cache/$new.chunkmap" "$T/cache/$zero" \
	"$T/cache/$zero.chunkmap" | awk '{ s += $1 * 512 } END { print s + 4096 }')
g=$(nyd cache gc --limit "$keep" --json)
info "gc --limit $keep: $(jq -c '{evicted,blobs,bytes}' <<<"$g")"
[ ! -e "$T/cache/$old" ] && [ ! -e "$T/cache/$old.chunkmap" ] ||
	fail "LRU: the least recently used blob stayed"
[ -e "$T/cache/$new" ] || fail "LRU: the recent blob went too"
stop_daemon

# [cache] limit: the daemon evicts by itself, never what is in use
printf 'limit = 1\ngc_interval = 1\n' >>"$T/d.conf"
start_daemon
for _ in $(seq 200); do		# GC 1 s after start, then every second
	[ -e "$T/cache/$new" ] || break
	sleep 0.1
done
[ ! -e "$T/cache/$new" ] || fail "limit: the unused blob was not evicted"
[ -e "$T/cache/$zero" ] || fail "limit: a blob in use was evicted"
grep -q 'cache gc: evicted 1 blobs' "$T/d.log" || fail "limit: no log of the eviction"
info "cache limit: automatic GC, ok"
stop_daemon

echo "PASS: $TEST_NAME"
