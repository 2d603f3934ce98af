#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 300
#
# nydusfs mount REF with nydusfsd on the host: nydusfsd_fakedev plays the
# kernel, `mount.nydusfs -f` registers without mounting.  The registry
# settings that reached the registry go to the daemon with the mount
# request, and the daemon fetches every chunk with them, its own config
# naming no registry:
#   - plain HTTP (-o tls-verify=false) to a registry on 127.0.0.1: the
#     settings are saved with the mount table and a restarted daemon
#     fetches every chunk of the restored mount; without them (removed
#     from the table) every chunk fails;
#   - Basic credentials from -o authfile=: fetched in the same daemon
#     lifetime; the password is never written to the state directory;
#   - an OCI layout: its blobs directory becomes a localfs source;
#   - the config's own [registry "HOST"] wins over a request's;
#   - nydusfs umount drops each registration.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../convert_lib.sh"

require umoci skopeo jq python3 docker-registry curl htpasswd

ref_daemon_setup
mkdir -p "$HOME" "$T/mnt1" "$T/mnt2" "$T/mnt3" "$T/mnt4"
ln -s "$NYDUSFS" "$T/mount.nydusfs"
RT=$(realpath "$T")

# ---- images: v1 over plain HTTP and in a layout, v2 behind Basic; and
# img0, what the fake kernel reads while mounts are only registered ----
mkdir -p "$T/src0"
echo tiny >"$T/src0/f"
nyd_ok build -o "$T/img0" "$T/src0"
mk_small_image "$T/L"
reg_start plain
HP=$REGISTRY_HOST
PLAIN_LOG=$REGISTRY_LOGFILE
nyd_ok convert -c 64K --tls-verify=false "oci:$T/L:v1" "docker://$HP/c/a:v1"
nyd_ok convert -c 64K "oci:$T/L:v1" "oci:$T/C:v1"
reg_start basic --auth basic
HB=$REGISTRY_HOST
AUTHF=$REGISTRY_DOCKER_CONFIG
PASS=$REGISTRY_PASS
nyd_ok convert -c 64K --tls-verify=false --creds "$REGISTRY_USER:$PASS" \
	"oci:$T/L:v2" "docker://$HB/b/a:v2"

# conf [EXTRA LINES]: the daemon's config, no [registry] section unless given
conf()
{
	cat >"$T/d.conf" <<EOF
[daemon]
device = unix:$T/dev.sock
socket = $NYDUSFS_SOCKET
state_dir = $T/state
log_level = info
[cache]
dir = $T/cache
[fetch]
retry_base_ms = 50
retry_max_ms = 400
${1:-}
EOF
}
conf

# boot_of ARGS...: where a dry run stores the image's bootstrap
boot_of()
{
	nyd_ok mount --dry-run --config "$T/d.conf" "$@" "$T/mnt1"
	sed -n 's/^bootstrap: \(.*\) (.*)$/\1/p' "$NYD_OUT"
}
BA=$(boot_of --tls-verify=false "docker://$HP/c/a:v1")
BB=$(boot_of --tls-verify=false --authfile "$AUTHF" "docker://$HB/b/a:v2")
[ -f "$BA" ] && [ -f "$BB" ] || fail "no stored bootstraps"

# start BOOTSTRAP [FAKEDEV ARGS]: the fake kernel reads every chunk of
# BOOTSTRAP once $T/go exists (finish), the daemon serves it
start()
{
	local boot=$1 i

	shift
	rm -f "$T/dev.sock" "$T/go"
	"$FAKEDEV" --socket "$T/dev.sock" --bootstrap "$boot" \
		--cache-dir "$T/cache" --parallel 8 --timeout 60 \
		--wait-file "$T/go" "$@" \
		>"$T/fd.out" 2>"$T/fd.err" &
	FPID=$!
	sleep 0.2
	"$NYDUSFSD" --config "$T/d.conf" 2>>"$T/d.log" </dev/null &
	DPID=$!
	for i in $(seq 100); do
		"$NYDUSFS" status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	tail -n 20 "$T/d.log" >&2
	fail "nydusfsd did not come up"
}

# finish BOOTSTRAP: the fake kernel is done and content, the cache true
finish()
{
	touch "$T/go"
	if ! wait "$FPID"; then
		FPID=
		cat "$T/fd.err" >&2
		grep -E 'warning|error' "$T/d.log" | tail -n 15 >&2
		fail "fakedev failed: $(cat "$T/fd.out")"
	fi
	FPID=
	info "fakedev: $(cat "$T/fd.out")"
	stop
	"$CACHECHECK" "$1" "$T/cache" >&2 ||
		fail "a chunk marked present holds wrong data"
}

stop()
{
	if [ -n "$FPID" ]; then
		kill "$FPID" 2>/dev/null || true
		wait "$FPID" 2>/dev/null || true
		FPID=
	fi
	kill "$DPID" 2>/dev/null || true
	wait "$DPID" 2>/dev/null || true
	DPID=
}

helper() { "$T/mount.nydusfs" "$@" -f; }
mount_json() { "$NYDUSFS" status --json | jq -c --arg m "$RT/$1" '.mounts[] | select(.mountpoint == $m)'; }
fetched() { awk '{ for (i = 1; i < NF; i++) if ($i == "fetched") print $(i + 1) }' "$T/fd.out"; }
chunks() { awk '{ print $2 }' "$T/fd.out"; }

# ---- plain HTTP, registered, then fetched after a restart ----
start "$T/img0/bootstrap"
helper "docker://$HP/c/a:v1" "$T/mnt1" -o "tls-verify=false,config=$T/d.conf" ||
	fail "mount.nydusfs -f docker://$HP/c/a:v1"
m=$(mount_json mnt1)
[ "$(jq -r .bootstrap <<<"$m")" = "$BA" ] || fail "registered bootstrap: $m"
[ "$(jq -c .sources <<<"$m")" = "[\"registry:$HP/c/a\"]" ] || fail "sources: $m"
grep -q "registry $HP: http, TLS not verified (from a mount request)" "$T/d.log" ||
	fail "the daemon did not take the request's settings"
stop
jq -e --arg h "$HP" '.registries == [{"host": $h, "scheme": "http", "tls_verify": false}]' \
	"$T/state/mounts.json" >/dev/null || fail "saved settings: $(jq -c .registries "$T/state/mounts.json")"
cp "$T/state/mounts.json" "$T/mounts.saved"
start "$BA"
finish "$BA"
grep -q "registry $HP: http, TLS not verified (saved from a mount request)" "$T/d.log" ||
	fail "the restarted daemon did not restore the settings"
[ "$(fetched)" = "$(chunks)" ] && [ "$(chunks)" -gt 20 ] ||
	fail "not every chunk fetched: $(cat "$T/fd.out")"
info "plain HTTP after a restart: $(chunks) chunks fetched"
# the control: without the saved settings the daemon tries https and fails
jq 'del(.registries)' "$T/mounts.saved" >"$T/state/mounts.json"
rm -rf "$T/cache"
: >"$T/d.log"
start "$BA" --expect-errors -1
finish "$BA"
[ "$(fetched)" = 0 ] || fail "fetched without the settings: $(cat "$T/fd.out")"
grep -q "https://$HP/v2/c/a/blobs/.*SSL" "$T/d.log" ||
	fail "not the failure expected: $(grep -m3 error "$T/d.log")"
info "without the settings: every chunk failed over https, as it must"

# ---- Basic credentials from authfile=, an OCI layout ----
rm -rf "$T/cache"
start "$BB" --linger 60
helper "docker://$HB/b/a:v2" "$T/mnt2" -o "tls-verify=false,authfile=$AUTHF,config=$T/d.conf" ||
	fail "mount.nydusfs -f docker://$HB/b/a:v2"
grep -q "registry $HB: credentials from the mount request" "$T/d.log" ||
	fail "no credentials handed on"
helper "oci:$T/C:v1" "$T/mnt3" -o "config=$T/d.conf" ||
	fail "mount.nydusfs -f oci:$T/C:v1"
[ "$(mount_json mnt3 | jq -c .sources)" = "[\"localfs:$RT/C/blobs/sha256\"]" ] ||
	fail "layout sources: $(mount_json mnt3)"
[ "$(mount_json mnt3 | jq -r .bootstrap)" = "$BA" ] ||
	fail "the layout's bootstrap is not the same stored file"
# creds= is refused as a mount option
if helper "docker://$HB/b/a:v2" "$T/mnt4" -o "creds=u:p,config=$T/d.conf" 2>"$T/err"; then
	fail "creds= taken as a mount option"
fi
grep -q 'creds= is not taken as a mount option' "$T/err" || fail "creds= message: $(cat "$T/err")"
touch "$T/go"
for i in $(seq 300); do
	grep -q '^chunks' "$T/fd.out" && break
	sleep 0.1
done
grep -q ' errors 0 bad 0 ' "$T/fd.out" && [ "$(fetched)" = "$(chunks)" ] || {
	grep -E 'warning|error' "$T/d.log" | tail -n 15 >&2
	fail "not every chunk fetched: $(cat "$T/fd.out")"
}
for mp in mnt1 mnt2 mnt3; do
	"$NYDUSFS" umount "$T/$mp" || fail "nydusfs umount $mp"
	[ -z "$(mount_json $mp)" ] || fail "$mp still registered"
done
stop
"$CACHECHECK" "$BB" "$T/cache" >&2 || fail "a chunk marked present is wrong"
! grep -rqF "$PASS" "$T/state" || fail "the password was written to the state dir"
info "Basic credentials from authfile=: $(chunks) chunks fetched"

# ---- the config file's section wins ----
# (its scheme is the CLI's too: no https probe, no ping)
conf "[registry \"$HP\"]
scheme = http"
start "$T/img0/bootstrap"
pings() { grep -c '"GET /v2/ HTTP.*"nydusfs/1"' "$PLAIN_LOG" || true; }
before=$(pings)
helper "docker://$HP/c/a:v1" "$T/mnt4" -o "tls-verify=false,config=$T/d.conf" ||
	fail "mount.nydusfs -f with a configured host"
assert_eq "$(pings)" "$before" "GET /v2/ by the mount"
grep -q "registry $HP: the settings of the config file are kept" "$T/d.log" ||
	fail "the request's settings replaced the config's"
stop
jq -e --arg h "$HP" '[.registries[] | select(.host == $h)] == []' \
	"$T/state/mounts.json" >/dev/null ||
	fail "saved settings for a configured host"
info "the config's [registry] wins: ok"
exit 0
