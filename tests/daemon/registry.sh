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

. "$(dirname "$0")/lib_registry.sh"

# connections SOURCE VERSION: after fetch(), the source's answers all came
# in HTTP/VERSION over far fewer connections than requests (keep-alive,
# or HTTP/2 multiplexing).  Prints "answers connections".
connections()
{
	local answers conns all

	answers=$(metric http_responses_total "$1" "version=\"$2\"")
	all=$(metric http_responses_total "$1")
	conns=$(metric http_connections_total "$1")
	info "$1: $answers answers in HTTP/$2 (of $all) on $conns connections"
	[ "$answers" -gt 0 ] && [ "$answers" = "$all" ] ||
		fail "$1: $answers of $all answers in HTTP/$2"
	[ "$conns" -ge 1 ] && [ "$conns" -le "${3:-8}" ] &&
		[ "$conns" -lt "$answers" ] ||
		fail "$1: $conns connections for $answers answers (no reuse)"
}

# ---- plain: merged ranges, keep-alive ----
start_reg plain
conf
fetch
grep -q 'open, 0 of' "$T/d.log" || fail "the cache did not start empty"
# HTTP/1.1: at most max_inflight (8) connections, each kept alive
connections "registry:$REGISTRY_HOST" 1.1 8
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
# docker-registry offers h2 by ALPN: every range on one connection or two
connections "registry:$REGISTRY_HOST" 2 2
info "TLS with the test's CA, HTTP/2: ok"
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
