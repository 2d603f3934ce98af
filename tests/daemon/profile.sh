#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 120
#
# A startup profile at mount, on the host with nydusfsd_fakedev as the
# kernel: the image is built with a profile (ranges and a whole file), the
# mount is registered, and before the (fake) workload opens the blob the
# daemon has fetched the profile's chunks in ONE ranged request (they lie
# contiguously at the start of the blob); the workload then finds exactly
# those chunks present at OPEN and fetches only the rest.
. "$(dirname "$0")/../lib.sh"

require jq python3

require_daemon_tools
daemon_harness

nyd() { "$NYDUSFS" "$@"; }
metric() { nyd metrics | awk -v m="$1" 'index($1, m) == 1 { s += $2 } END { print s + 0 }'; }

# 64 KiB chunks: app 5, libx 4, cold 32 chunks
mkdir -p "$T/src/bin" "$T/src/lib"
head -c 300000 /dev/urandom >"$T/src/bin/app"
head -c 200000 /dev/urandom >"$T/src/lib/libx.so"
head -c $((2 << 20)) /dev/urandom >"$T/src/cold"
cat >"$T/profile" <<'PROF'
# what "app" reads at start, in order
/lib/libx.so 70000 10
/bin/app
/lib/libx.so 0 5000
PROF
nyd build -c 64K -z none -p "$T/profile" -o "$T/img" "$T/src" >/dev/null
r=$(nyd inspect --json "$T/img/bootstrap" | jq -c .prefetch_ranges)
[ "$r" = '[{"blob":0,"chunk":0,"count":7,"bytes":431072}]' ] ||
	fail "prefetch ranges: $r"
want=7

cat >"$T/d.conf" <<CONF
[daemon]
device = unix:$T/dev.sock
socket = $NYDUSFS_SOCKET
state_dir = $T/state
log_level = debug
[cache]
dir = $T/cache
[prefetch]
max_inflight = 1
bandwidth = 1M
CONF

"$FAKEDEV" --socket "$T/dev.sock" --bootstrap "$T/img/bootstrap" \
	--cache-dir "$T/cache" --timeout 60 --wait-file "$T/go" --linger 60 \
	>"$T/fd.out" 2>"$T/fd.err" &
FPID=$!
for _ in $(seq 100); do [ -S "$T/dev.sock" ] && break; sleep 0.1; done
"$NYDUSFSD" --config "$T/d.conf" 2>>"$T/d.log" </dev/null &
DPID=$!
for _ in $(seq 300); do nyd status >/dev/null 2>&1 && break; sleep 0.1; done
nyd status >/dev/null || fail "nydusfsd did not come up: $(tail -n 20 "$T/d.log")"

# ---- at mount: the profile, in one request ----
mkdir -p "$T/mnt"
ln -sf "$NYDUSFS" "$T/mount.nydusfs"
"$T/mount.nydusfs" "$T/img/bootstrap" "$T/mnt" -f -o "blob_dir=$T/img/blobs" ||
	fail "mount.nydusfs -f"
for _ in $(seq 100); do
	st=$(nyd status --json)
	[ "$(jq '.mounts[0].prefetch.running' <<<"$st")" = false ] && break
	sleep 0.1
done
total=$(jq '.mounts[0].prefetch.total' <<<"$st")
done_=$(jq '.mounts[0].prefetch.done' <<<"$st")
reqs=$(metric nydusfsd_fetch_requests_total)
bytes=$(metric nydusfsd_fetch_bytes_total)
info "at mount: prefetch $done_/$total chunks, $reqs request(s), $bytes bytes"
[ "$total" = $want ] && [ "$done_" = $want ] || fail "prefetch: $st"
[ "$(jq -c '.mounts[0].prefetch | [.profile_total, .profile_done]' <<<"$st")" = "[$want,$want]" ] ||
	fail "startup profile progress: $st"
nyd status | grep -q "startup profile $want/$want" ||
	fail "nydusfs status shows no startup profile progress: $(nyd status)"
[ "$reqs" = 1 ] || fail "the profile took $reqs requests, not 1"
[ "$bytes" = 431072 ] || fail "fetched $bytes bytes, not the profile's 431072"
grep -q "chunks 0\.\.6 (431072 bytes at 0)" "$T/d.log" ||
	fail "no single range of chunks 0..6 in the log"

# ---- the workload: the profile's chunks are there at OPEN ----
touch "$T/go"
for _ in $(seq 300); do grep -q '^chunks' "$T/fd.out" && break; sleep 0.1; done
info "fakedev: $(cat "$T/fd.out")"
grep -q "^chunks 41 present $want fetched $((41 - want)) errors 0 bad 0 " "$T/fd.out" ||
	fail "fakedev: $(cat "$T/fd.out") $(cat "$T/fd.err")"
kill "$FPID" 2>/dev/null; wait "$FPID" 2>/dev/null || true; FPID=
kill "$DPID"; wait "$DPID" || fail "nydusfsd exited $? on SIGTERM"; DPID=
"$CACHECHECK" "$T/img/bootstrap" "$T/cache" >&2 ||
	fail "a chunk marked present holds wrong data"
info "profile fetched in one request at mount, before the workload: ok"
