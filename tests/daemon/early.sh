#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 300
#
# Early fetch of a startup profile (daemon/early.c), on the host with
# nydusfsd_fakedev as the kernel and docker-registry over plain HTTP:
#   - convert --prefetch-list notes on the blob layer
#     (org.nydusfs.startup.bytes) the compressed bytes at the blob's start
#     that hold the profile's chunks, the same as nydusfs inspect's
#     prefetch ranges; without a profile there is no such annotation;
#   - `nydusfs mount REF` (mount.nydusfs -f: registration, no kernel)
#     asks the daemon for those bytes before the registration; the
#     registry sees ONE GET of the blob, bytes=0-(N-1), for the early
#     fetch and the profile's prefetch together, and every chunk the fake
#     kernel then reads is right;
#   - the second mount of the image (its bootstrap stored) asks for none;
#     with its bootstrap gone but its blob in the cache, the daemon
#     declines;
#   - bad early bytes (a mirror that flips a byte of its first blob
#     answer): the chunk that fails its check is fetched again, the rest
#     of the early bytes is dropped, and every chunk is still right;
#   - with prefetch off the daemon starts none and says why (malformed
#     requests: control_test).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../convert_lib.sh"
. "$(dirname "$0")/lib_fakedev.sh"

require umoci skopeo jq python3 docker-registry curl

ref_daemon_setup
mkdir -p "$HOME" "$T/mnt1" "$T/mnt2"
ln -s "$NYDUSFS" "$T/mount.nydusfs"
metric() { "$NYDUSFS" metrics | awk -v m="$1" 'index($1, m) == 1 { s += $2 } END { print s + 0 }'; }
early() { "$NYDUSFS" status --json | jq -r ".early.$1"; }
blob_gets() { grep -cE "\"GET /v2/e/[a-z]+/blobs/$BLOB HTTP" "$REGISTRY_LOGFILE" || true; }

# ---- the image: 3 MB of random bytes and a profile of two files ----
mk_small_image "$T/L"
cat >"$T/profile" <<'PROF'
/etc/config
/usr/bin/big 0 600000
PROF
reg_start plain
HP=$REGISTRY_HOST
nyd_ok convert -c 64K --tls-verify=false --prefetch-list "$T/profile" \
	"oci:$T/L:v1" "docker://$HP/e/prof:v1"
nyd_ok convert -c 64K --tls-verify=false "oci:$T/L:v1" "docker://$HP/e/plain:v1"
man() {
	curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"$REGISTRY_URL/v2/e/$1/manifests/v1"
}
ANN=org.nydusfs.startup.bytes
N=$(man prof | jq -r --arg a $ANN '[.layers[].annotations[$a] // empty] | .[0] // ""')
BLOB=$(man prof | jq -r --arg a $ANN '.layers[] | select(.annotations[$a]) | .digest')
[ -n "$N" ] && [ "$N" -gt 0 ] || fail "no $ANN on the profile image: $(man prof)"
[ "$(man plain | jq --arg a $ANN '[.layers[].annotations[$a] // empty] | length')" = 0 ] ||
	fail "an image without a profile has $ANN"

# the same bytes as the bootstrap's prefetch ranges
fakedev_conf "log_level = debug"
nyd_ok mount --dry-run --config "$T/d.conf" --tls-verify=false \
	"docker://$HP/e/prof:v1" "$T/mnt1"
BOOT=$(sed -n 's/^bootstrap: \(.*\) (.*)$/\1/p' "$NYD_OUT")
want=$("$NYDUSFS" inspect --json "$BOOT" | jq '[.prefetch_ranges[].bytes] | add')
[ "$N" = "$want" ] || fail "$ANN = $N, the prefetch ranges take $want bytes"
info "$ANN = $N on blob ${BLOB:7:12}, as the profile's ranges: ok"
cp "$BOOT" "$T/boot"	# for the fake kernel
BOOT=$T/boot
rm -rf "$T/state"	# the dry run stored the bootstrap: a first mount again

# start [CONF LINES]: the fake kernel (reads every chunk once $T/go
# exists), and the daemon with $T/d.conf plus the lines
start()
{
	printf '%s\n' "$@" >>"$T/d.conf"
	rm -f "$T/dev.sock" "$T/go"
	"$FAKEDEV" --socket "$T/dev.sock" --bootstrap "$BOOT" \
		--cache-dir "$T/cache" --timeout 60 --wait-file "$T/go" \
		>"$T/fd.out" 2>"$T/fd.err" &
	FPID=$!
	for _ in $(seq 100); do [ -S "$T/dev.sock" ] && break; sleep 0.1; done
	"$NYDUSFSD" --config "$T/d.conf" 2>>"$T/d.log" </dev/null &
	DPID=$!
	for _ in $(seq 300); do "$NYDUSFS" status >/dev/null 2>&1 && break; sleep 0.1; done
	"$NYDUSFS" status >/dev/null || fail "nydusfsd did not come up: $(tail "$T/d.log")"
}

# profile_done: wait for the mount's startup profile to be in the cache
profile_done()
{
	local st

	for _ in $(seq 200); do
		st=$("$NYDUSFS" status --json)
		[ "$(jq '.mounts[0].prefetch | .profile_total > 0 and .profile_done == .profile_total' <<<"$st")" = true ] &&
			return 0
		sleep 0.1
	done
	fail "the startup profile did not come: $st"
}

# finish: the fake kernel reads everything; the cache holds right bytes
finish()
{
	touch "$T/go"
	wait "$FPID" || fail "fakedev: $(cat "$T/fd.out" "$T/fd.err")"
	FPID=
	grep -q ' errors 0 bad 0 ' "$T/fd.out" || fail "fakedev: $(cat "$T/fd.out")"
	kill "$DPID"; wait "$DPID" || fail "nydusfsd exited $? on SIGTERM"; DPID=
	"$CACHECHECK" "$BOOT" "$T/cache" >&2 ||
		fail "a chunk marked present holds wrong data"
}

# ---- the first mount: early, then served from it ----
start
"$T/mount.nydusfs" "docker://$HP/e/prof:v1" "$T/mnt1" -f \
	-o tls-verify=false,config="$T/d.conf" 2>"$T/m1.err" ||
	fail "mount: $(cat "$T/m1.err")"
profile_done
[ "$(early started)" = 1 ] || fail "no early fetch: $("$NYDUSFS" status --json | jq -c .early)"
[ "$(early served_ranges)" -ge 1 ] || fail "no range served from the early bytes"
grep -n 'control: early' "$T/d.log" | head -n 1 >"$T/e1"
grep -n 'control: mount' "$T/d.log" | head -n 1 >"$T/m1"
[ "$(cut -d: -f1 "$T/e1")" -lt "$(cut -d: -f1 "$T/m1")" ] ||
	fail "the early request did not come before the registration"
[ "$(blob_gets)" = 1 ] || fail "$(blob_gets) GETs of the blob for early + profile, not 1"
grep -E "GET /v2/e/prof/blobs/$BLOB" "$REGISTRY_LOGFILE" >/dev/null ||
	fail "the blob's GET is not in the registry's log"
[ "$(metric nydusfsd_early_bytes_total)" = "$N" ] ||
	fail "early bytes: $(metric nydusfsd_early_bytes_total), not $N"
finish
info "first mount: early fetch of $N bytes, profile served from it, one GET: ok"

# ---- the second mount: its bootstrap stored, no early fetch ----
start
"$T/mount.nydusfs" "docker://$HP/e/prof:v1" "$T/mnt2" -f \
	-o tls-verify=false,config="$T/d.conf" 2>"$T/m2.err" ||
	fail "mount: $(cat "$T/m2.err")"
[ "$(early started)" = 0 ] || fail "an early fetch for a stored bootstrap"
finish
info "second mount: no early fetch: ok"

# ---- its bootstrap gone but its blob in the cache: the daemon declines ----
rm -rf "$T/state"
: >"$T/d.log"
start
"$T/mount.nydusfs" "docker://$HP/e/prof:v1" "$T/mnt2" -f \
	-o tls-verify=false,config="$T/d.conf" 2>"$T/m2.err" ||
	fail "mount: $(cat "$T/m2.err")"
grep -q 'control: early' "$T/d.log" || fail "the mount did not ask for the early bytes"
[ "$(early started)" = 0 ] || fail "an early fetch of a blob the cache holds"
finish
info "blob in the cache: no early fetch: ok"

# ---- bad early bytes from a mirror ----
rm -rf "$T/cache" "$T/state"
reg_proxy --rule "flip offset=100 count=1 path=/blobs/ range=yes times=1"
MIRROR=${FAULTPROXY_URL:?}
start "[registry \"$HP\"]" "mirror = $MIRROR"
"$T/mount.nydusfs" "docker://$HP/e/prof:v1" "$T/mnt1" -f \
	-o tls-verify=false,config="$T/d.conf" 2>"$T/m3.err" ||
	fail "mount: $(cat "$T/m3.err")"
profile_done
[ "$(early started)" = 1 ] && [ "$(early failed)" = 1 ] ||
	fail "the bad early bytes went unnoticed: $("$NYDUSFS" status --json | jq -c .early)"
grep -q 'early bytes from .* failed its check' "$T/d.log" || fail "no message for the bad early bytes"
finish
info "bad early bytes: noticed, the chunk fetched again, every chunk right: ok"

# ---- with prefetch off, the daemon starts none, and says why ----
start "[prefetch]" "enable = false"
a=$(python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile().readline())' "$NYDUSFS_SOCKET" \
	'{"cmd": "early", "blob": "'"$BLOB"'", "length": 5, "sources": ["registry:'"$HP"'/e/prof"]}')
[ "$(jq -c '[.ok, .started, .reason]' <<<"$a")" = '[true,false,"prefetch is off"]' ] ||
	fail "with prefetch off: $a"
finish
info "prefetch off: no early fetch, and the answer says why: ok"
