#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 600
#
# nydusfsd's registry backend against Debian's docker-registry on
# 127.0.0.1 (tests/registry/), with nydusfsd_fakedev playing the kernel:
# plain, TLS (and a refused unknown CA), Basic from a docker config.json
# and from the daemon's config, token auth (one token, then refresh
# without bursts), mirrors with fallback, and every fault of the
# fault-injecting proxy: 503, 429 + Retry-After, 403, 500, reset,
# truncate, stall, flipped bytes, no Range support, redirects to object
# storage (which must never see an Authorization header).  In every case
# the cache holds no wrong byte (nydusfsd_cachecheck) and retries are
# bounded.
. "$(dirname "$0")/../lib.sh"

require docker-registry htpasswd openssl curl python3 jq

REG=$TOP/tests/registry
B=$TOP/build
NYDUSFSD=${NYDUSFSD:-$B/san/bin/nydusfsd}
[ -x "$NYDUSFSD" ] || NYDUSFSD=$B/bin/nydusfsd
FAKEDEV=$B/tests/nydusfsd_fakedev
CACHECHECK=$B/tests/nydusfsd_cachecheck
[ -x "$NYDUSFSD" ] && [ -x "$FAKEDEV" ] && [ -x "$CACHECHECK" ] ||
	skip "build first (make programs)"
DIRS=()
# shellcheck disable=SC2154
trap 'rc=$?; trap - ERR; set +e; for d in "${DIRS[@]}"; do "$REG/registry.sh" stop "$d" >/dev/null 2>&1; done; (exit $rc); _cleanup' EXIT

# ---- the image: ~90 chunks of 64 KiB and less ----
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
# $T/d.log.  Fails unless fakedev's expectations hold and the cache is true.
fetch()
{
	local fp dp rc=0

	rm -rf "$T/cache" "$T/state" "$T/dev.sock"
	"$FAKEDEV" --socket "$T/dev.sock" --bootstrap "$T/img/bootstrap" \
		--cache-dir "$T/cache" --parallel 16 --timeout 120 "$@" \
		>"$T/fd.out" 2>"$T/fd.err" &
	fp=$!
	sleep 0.2
	"$NYDUSFSD" --config "$T/d.conf" 2>"$T/d.log" </dev/null &
	dp=$!
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

# ---- plain: merged ranges, keep-alive ----
start_reg plain
conf
fetch
grep -q 'open, 0 of' "$T/d.log" || fail "the cache did not start empty"
info "plain: ok"

# ---- faults, through the proxy ----
proxy
SOURCE=$FAULTPROXY_HOST SOURCE_HOST=$FAULTPROXY_HOST conf

rules 'status code=503 times=3 path=/blobs/'
fetch
[ "$(retries)" -ge 3 ] || fail "503: expected 3 retries, saw $(retries)"
info "503 x3: retried, ok"

rules 'status code=429 retry_after=1 times=2 path=/blobs/'
t0=$SECONDS
fetch
[ "$(retries)" -ge 2 ] && grep -q 'retry 1 of 4 in 1000 ms' "$T/d.log" ||
	fail "429: Retry-After not honoured"
info "429 + Retry-After: ok ($((SECONDS - t0)) s)"

rules 'reset after=10000 times=3 path=/blobs/'
fetch
[ "$(retries)" -ge 3 ] || fail "reset: no retry"
info "reset mid-body: resumed, ok"

rules 'truncate after=20000 times=2 path=/blobs/'
fetch
[ "$(retries)" -ge 2 ] || fail "truncate: no retry"
info "truncated body: ok"

rules 'stall after=1000 secs=6 times=1 path=/blobs/'
fetch
[ "$(retries)" -ge 1 ] || fail "stall: not detected"
info "stalled body: detected and retried, ok"

rules 'norange path=/blobs/'
fetch
info "server ignoring Range (200): ok"

curl -sf -X POST "$FAULTPROXY_URL/_reset" >/dev/null
rules 'status code=403 path=/blobs/'
fetch --expect-errors -1
[ "$(retries)" = 0 ] || fail "403 was retried"
info "403: failed at once, no retry, ok"

curl -sf -X POST "$FAULTPROXY_URL/_reset" >/dev/null
rules 'status code=500 path=/blobs/'
fetch --expect-errors -1
n=$(pstats | jq '[.rules[0].applied] | add')
r=$(grep -c 'no source left' "$T/d.log" || true)
info "500 forever: $n requests for $r failed chunks"
[ "$(retries)" -gt 0 ] || fail "500 not retried"
[ "$n" -le $((NCHUNKS * 5)) ] || fail "500: retries not bounded ($n requests)"

rules 'flip offset=100 count=4 path=/blobs/'
fetch --expect-errors -2
grep -q 'digest mismatch in the data from' "$T/d.log" || fail "flip: not logged"
info "flipped bytes, no other source: EIO, nothing cached, ok"

# a flipping mirror in front of a good registry: every chunk right
SOURCE=$REGISTRY_HOST MIRRORS=$FAULTPROXY_URL conf
fetch
grep -q 'digest mismatch in the data from mirror' "$T/d.log" ||
	fail "the mirror's bad data went unnoticed"
info "bad mirror, good origin: ok"

rules 'status code=503 path=/blobs/'
fetch
info "failing mirror, fallback to the origin: ok"

MIRRORS=http://127.0.0.1:1 conf
fetch
info "unreachable mirror: ok"
rules ''

# ---- TLS ----
start_reg tls --tls
SCHEME=https CA=$REGISTRY_CA conf
fetch
info "TLS with the test's CA: ok"
SCHEME=https conf
fetch --expect-errors -1
grep -qiE 'certificate|SSL' "$T/d.log" || fail "TLS failure not explained"
info "TLS with an unknown CA: refused, ok"

# ---- Basic ----
start_reg basic --auth basic
AUTH_FILE=$REGISTRY_DOCKER_CONFIG conf
fetch
info "Basic from config.json: ok"
USERPASS=$REGISTRY_USER:$REGISTRY_PASS conf
fetch
info "Basic from the daemon config: ok"
conf
fetch --expect-errors -1
info "no credentials: 401, refused, ok"
if grep -qF "$REGISTRY_PASS" "$T/d.log"; then fail "a password reached the log"; fi

# ---- token ----
start_reg token --auth token --tls
SCHEME=https CA=$REGISTRY_CA AUTH_FILE=$REGISTRY_DOCKER_CONFIG conf
curl -sf --cacert "$REGISTRY_CA" -X POST "${TOKEN_URL%/token}/_reset" >/dev/null
fetch
n=$(curl -sf --cacert "$REGISTRY_CA" "${TOKEN_URL%/token}/_stats" | jq .tokens_issued)
[ "$n" = 1 ] || fail "token: $n tokens for one short session"
info "token auth over TLS: one token, ok"

# refresh before expiry, no bursts: 2 s tokens, a slow session
start_reg tokenexp --auth token --expires-in 2 --strict-expiry
proxy --rule 'delay secs=0.15 path=/blobs/'
# the proxy is another host: the credentials are configured for it
SOURCE=$FAULTPROXY_HOST SOURCE_HOST=$FAULTPROXY_HOST \
	USERPASS=$REGISTRY_USER:$REGISTRY_PASS EXTRA_FETCH='merge_limit = 64K' conf
curl -sf -X POST "${TOKEN_URL%/token}/_reset" >/dev/null
t0=$SECONDS
fetch --parallel 4
stats=$(curl -sf "${TOKEN_URL%/token}/_stats")
n=$(jq .tokens_issued <<<"$stats")
gap=$(jq '[.issued | map(.t) | sort | . as $t | range(1; length) | $t[.] - $t[. - 1]] | min // 99' <<<"$stats")
info "token refresh: $n tokens in $((SECONDS - t0)) s, smallest gap $gap s"
[ "$n" -ge 2 ] || fail "the token was never refreshed"
awk -v g="$gap" 'BEGIN { exit !(g >= 0.5) }' || fail "tokens in a burst (gap $gap s)"

# redirect to object storage: no Authorization there
proxy --rule 'redirect path=/blobs/'
SOURCE=$FAULTPROXY_HOST SOURCE_HOST=$FAULTPROXY_HOST \
	USERPASS=$REGISTRY_USER:$REGISTRY_PASS conf
fetch
s=$(pstats)
[ "$(jq .objstore.requests <<<"$s")" -gt 0 ] || fail "no request reached the object store"
[ "$(jq .objstore.with_authorization <<<"$s")" = 0 ] ||
	fail "Authorization was sent to the object store"
info "redirect to object storage: $(jq .objstore.requests <<<"$s") requests there, no Authorization, ok"

echo "PASS: $TEST_NAME"
