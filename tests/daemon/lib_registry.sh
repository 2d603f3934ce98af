# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Shared by the daemon's registry tests (registry.sh, nginx.sh), sourced
# after tests/lib.sh: builds a small image in $T/img, starts docker-registry
# (tests/registry/) with it pushed, writes a daemon config for a case
# (conf) and runs one daemon against nydusfsd_fakedev, which plays the
# kernel (fetch), then checks the cache with nydusfsd_cachecheck.

REG=$TOP/tests/registry
require_daemon_tools
DIRS=()
# shellcheck disable=SC2154
trap 'rc=$?; trap - ERR; set +e; for d in "${DIRS[@]}"; do "$REG/registry.sh" stop "$d" >/dev/null 2>&1; done; (exit $rc); _cleanup' EXIT

# ---- the image: ~90 chunks of 64 KiB and less, in $T/img ----
mkdir -p "$T/src"
head -c $((3 << 20)) /dev/urandom >"$T/src/big"
for i in $(seq 1 40); do head -c $((i * 700)) /dev/urandom >"$T/src/f$i"; done
"$NYDUSFS" build -c 64K -o "$T/img" "$T/src" >/dev/null
NCHUNKS=$("$NYDUSFS" inspect --json "$T/img/bootstrap" | jq '[.blobs[].chunk_count] | add')
info "image: $NCHUNKS chunks"

start_reg()
{
	local name=$1 env

	shift
	unset REGISTRY_CA REGISTRY_CERT_DIR REGISTRY_USER REGISTRY_PASS \
		REGISTRY_DOCKER_CONFIG TOKEN_URL TOKEND_PID FAULTPROXY_URL \
		FAULTPROXY_HOST OBJSTORE_URL
	env=$("$REG/registry.sh" start --dir "$T/$name" --owner $$ "$@")
	eval "$env"
	DIRS+=("$T/$name")
	REGISTRY_URL=$REGISTRY_URL "$REG/push.sh" nydus test/img "$T/img" >/dev/null
}

proxy()
{
	local env

	env=$("$REG/registry.sh" proxy --dir "$REGISTRY_DIR" --owner $$ "$@")
	eval "$env"
}

rules() { printf '%s\n' "$@" | curl -sf -X PUT --data-binary @- "$FAULTPROXY_URL/_rules" >/dev/null; }
pstats() { curl -sf "$FAULTPROXY_URL/_stats"; }

# conf [KEY=VALUE...]: the daemon config for this case in $T/d.conf.
# SOURCE (default the registry), MIRRORS, CA, AUTH_FILE, USERPASS,
# EXTRA_FETCH (lines for [fetch]).
conf()
{
	local host=${SOURCE_HOST:-$REGISTRY_HOST} m

	cat >"$T/d.conf" <<EOF
[daemon]
device = unix:$T/dev.sock
socket = $T/ctl.sock
state_dir = $T/state
log_level = info
[cache]
dir = $T/cache
[fetch]
retry_base_ms = 50
retry_max_ms = 400
stall_timeout = 2
${EXTRA_FETCH:-}
[sources]
registry = ${SOURCE:-$REGISTRY_HOST}/test/img
[registry]
${AUTH_FILE:+auth_file = $AUTH_FILE}
${CA:+ca_file = $CA}
[registry "$host"]
scheme = ${SCHEME:-http}
${USERPASS:+username = ${USERPASS%%:*}}
${USERPASS:+password = ${USERPASS#*:}}
EOF
	for m in ${MIRRORS:-}; do
		echo "mirror = $m" >>"$T/d.conf"
	done
}

# fetch [FAKEDEV ARGS]: one daemon, the kernel's side played by fakedev on
# a fresh cache; fakedev's summary line in $OUT, the daemon's log in
# $T/d.log, and its metrics (read before it stops) in $T/metrics.  Fails
# unless fakedev's expectations hold and the cache is true.
fetch()
{
	local fp dp rc=0 i

	rm -rf "$T/cache" "$T/state" "$T/dev.sock" "$T/metrics"
	"$FAKEDEV" --socket "$T/dev.sock" --bootstrap "$T/img/bootstrap" \
		--cache-dir "$T/cache" --parallel 16 --timeout 120 --linger 120 \
		"$@" >"$T/fd.out" 2>"$T/fd.err" &
	fp=$!
	sleep 0.2
	"$NYDUSFSD" --config "$T/d.conf" 2>"$T/d.log" </dev/null &
	dp=$!
	# fakedev prints its line, then lingers until SIGUSR1
	for i in $(seq 1 1300); do
		[ ! -s "$T/fd.out" ] && kill -0 $fp 2>/dev/null || break
		sleep 0.1
	done
	"$NYDUSFS" metrics --socket "$T/ctl.sock" >"$T/metrics" 2>&1 || true
	kill -USR1 $fp 2>/dev/null || true
	wait $fp || rc=$?
	wait $dp || true
	OUT=$(cat "$T/fd.out")
	info "$OUT"
	if [ $rc != 0 ]; then
		cat "$T/fd.err" >&2
		grep -E 'warning|error' "$T/d.log" | tail -n 15 >&2
		fail "fakedev: $rc"
	fi
	"$CACHECHECK" "$T/img/bootstrap" "$T/cache" >&2 ||
		fail "a chunk marked present holds wrong data"
}

retries() { grep -c '; retry ' "$T/d.log" || true; }

# metric NAME SOURCE [LABELS]: the sum of nydusfsd_NAME over the sources
# whose name contains SOURCE (and whose labels contain LABELS), from the
# metrics fetch() saved.
metric()
{
	grep "^nydusfsd_$1{" "$T/metrics" | grep -F "$2" | grep -F "${3:-}" |
		awk '{ n += $NF } END { print n + 0 }'
}
