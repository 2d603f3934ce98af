#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 180
#
# The registry test infrastructure itself (tests/registry/): Debian's
# docker-registry plain, with Basic auth, with token auth (tokend.py) and
# with TLS; push.sh; every fault of faultproxy.py and its counters; and
# that nothing started here outlives the test.
. "$(dirname "$0")/../lib.sh"

require docker-registry htpasswd openssl curl python3 jq skopeo umoci

REG=$TOP/tests/registry
PIDS=()
DIRS=()

stop_all()
{
	local d

	for d in "${DIRS[@]}"; do
		"$REG/registry.sh" stop "$d" >/dev/null 2>&1
	done
}
# shellcheck disable=SC2154
trap 'rc=$?; trap - ERR; set +e; stop_all; (exit $rc); _cleanup' EXIT

# start NAME ARGS...: a registry in $T/NAME; its variables in this shell.
start()
{
	local name=$1 env

	shift
	unset REGISTRY_CA REGISTRY_CERT_DIR REGISTRY_USER REGISTRY_PASS \
		TOKEN_URL TOKEND_PID
	env=$("$REG/registry.sh" start --dir "$T/$name" "$@")
	eval "$env"
	DIRS+=("$T/$name")
	PIDS+=("$REGISTRY_PID" "$REGISTRY_SUPERVISOR_PID")
	[ -z "${TOKEND_PID:-}" ] || PIDS+=("$TOKEND_PID")
	info "$name: $REGISTRY_URL (mode $REGISTRY_MODE)"
}

proxy()
{
	local env

	env=$("$REG/registry.sh" proxy "$@")
	eval "$env"
	PIDS+=("$FAULTPROXY_PID")
}

# gone PID: not running (a zombie waiting for init counts as gone)
gone()
{
	local stat

	{ stat=$(cat "/proc/$1/stat"); } 2>/dev/null || return 0
	stat=${stat##*) }
	[ "${stat%% *}" = Z ]
}

# wait_gone SECONDS PID...
wait_gone()
{
	local n=$(($1 * 20)) p

	shift
	for p in "$@"; do
		while ! gone "$p"; do
			n=$((n - 1))
			[ "$n" -gt 0 ] || fail "pid $p ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)) still running"
			sleep 0.05
		done
	done
}

# get URL [CURL ARGS...]: body to $T/out; sets CODE, SIZE, RC, HDRS.
get()
{
	local url=$1 w

	shift
	RC=0
	w=$(curl -sS -o "$T/out" -D "$T/hdrs" -w '%{http_code} %{size_download}' \
		--max-time 20 "$@" "$url" 2>"$T/curl.err") || RC=$?
	read -r CODE SIZE <<<"$w"
	HDRS=$(tr -d '\r' <"$T/hdrs")
}

header()
{
	sed -n "s/^$1: *//Ip" <<<"$HDRS" | tail -n 1
}

# same_bytes FILE OFFSET LENGTH: $T/out == FILE[OFFSET, OFFSET+LENGTH)
same_bytes()
{
	dd if="$1" of="$T/expect" bs=64K iflag=skip_bytes,count_bytes \
		skip="$2" count="$3" status=none
	cmp -s "$T/out" "$T/expect" || fail "wrong bytes for $1 @$2+$3"
}

stats()
{
	curl -sS "$FAULTPROXY_URL/_stats" | jq -r "$1"
}

rules()
{
	printf '%s\n' "$@" | curl -sS -f -X PUT --data-binary @- \
		"$FAULTPROXY_URL/_rules" >/dev/null
	curl -sS -f -X POST "$FAULTPROXY_URL/_reset" >/dev/null
}

t0=$SECONDS
head -c 300000 /dev/urandom >"$T/blob"
head -c 70000 /dev/urandom >"$T/blob2"
SIZE1=300000

# ---- plain ----
start plain
D=$("$REG/push.sh" blob t/plain "$T/blob")
assert_eq "$D" "sha256:$(sha256sum "$T/blob" | cut -c1-64)" "digest printed"
BLOB=/v2/t/plain/blobs/$D
get "$REGISTRY_URL$BLOB"
assert_eq "$CODE" 200 "full GET"
same_bytes "$T/blob" 0 $SIZE1
get "$REGISTRY_URL$BLOB" -r 1000-1999
assert_eq "$CODE" 206 "Range GET"
assert_eq "$(header Content-Range)" "bytes 1000-1999/$SIZE1" "Content-Range"
same_bytes "$T/blob" 1000 1000
get "$REGISTRY_URL$BLOB" -I
assert_eq "$(header Accept-Ranges)" bytes "HEAD Accept-Ranges"
# chunked upload (PATCH) and a second push of the same blob (HEAD: skipped)
D2=$("$REG/push.sh" blob --chunked 16384 t/plain "$T/blob2")
get "$REGISTRY_URL/v2/t/plain/blobs/$D2"
same_bytes "$T/blob2" 0 70000
assert_eq "$("$REG/push.sh" blob t/plain "$T/blob2")" "$D2" "repeated push"
# a manifest, and an OCI layout through skopeo
printf '{}' >"$T/cfg"
DC=$("$REG/push.sh" blob t/plain "$T/cfg")
cat >"$T/manifest.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$DC","size":2},
"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"$D2","size":70000}]}
EOF
DM=$("$REG/push.sh" manifest t/plain v1 "$T/manifest.json")
get "$REGISTRY_URL/v2/t/plain/manifests/v1" \
	-H "Accept: application/vnd.oci.image.manifest.v1+json"
assert_eq "$CODE" 200 "manifest GET"
assert_eq "$(header Docker-Content-Digest)" "$DM" "manifest digest"
cmp -s "$T/out" "$T/manifest.json" || fail "manifest not stored byte for byte"
umoci init --layout "$T/oci" && umoci new --image "$T/oci:v1"
umoci unpack --image "$T/oci:v1" "$T/bundle" >/dev/null
echo layout-test >"$T/bundle/rootfs/hello"
umoci repack --image "$T/oci:v1" "$T/bundle"
"$REG/push.sh" layout "$T/oci:v1" t/layout:v1
skopeo --insecure-policy inspect --tls-verify=false \
	"docker://$REGISTRY_HOST/t/layout:v1" >"$T/inspect.json"
assert_eq "$(jq '.Layers | length' "$T/inspect.json")" 1 "pushed layout layers"
# a nydusfs image, when a build is there
if [ -x "$NYDUSFS" ]; then
	mkdir "$T/tree"
	printf 'hello\n' >"$T/tree/a"
	head -c 200000 /dev/urandom >"$T/tree/b"
	nyd_ok build -o "$T/img" "$T/tree"
	"$REG/push.sh" nydus t/nydus "$T/img" >"$T/pushed"
	assert_eq "$(wc -l <"$T/pushed")" \
		$((1 + $(find "$T/img/blobs" -type f | wc -l))) "nydus blobs pushed"
	read -r DB _ <"$T/pushed"
	get "$REGISTRY_URL/v2/t/nydus/blobs/$DB"
	cmp -s "$T/out" "$T/img/bootstrap" || fail "bootstrap blob differs"
else
	info "no $NYDUSFS: push.sh nydus not tried"
fi
# restart: same port, same data
old=$REGISTRY_PID
eval "$("$REG/registry.sh" restart "$T/plain")"
PIDS+=("$REGISTRY_PID" "$REGISTRY_SUPERVISOR_PID")
gone "$old" || fail "restart left the old registry running"
get "$REGISTRY_URL$BLOB" -r 0-9
assert_eq "$CODE" 206 "GET after restart"
# starting again with the same dir just prints the same registry
env2=$("$REG/registry.sh" start --dir "$T/plain")
grep -qx "REGISTRY_PID=$REGISTRY_PID" <<<"$env2" || fail "start is not idempotent"
info "plain: ok ($((SECONDS - t0)) s)"

# ---- faultproxy in front of the plain registry ----
printf '%s\n' '# first two blob GETs fail' 'status code=503 times=2 path=/blobs/' \
	>"$T/rules"
proxy --dir "$T/plain" --rules "$T/rules"
P=$FAULTPROXY_URL$BLOB
for want in 503 503 206; do
	get "$P" -r 0-99
	assert_eq "$CODE" "$want" "status rule, times=2"
done
same_bytes "$T/blob" 0 100
assert_eq "$(stats ".paths[\"$BLOB\"]")" 3 "requests counted per path"
assert_eq "$(stats ".ranges[\"$BLOB\"][\"bytes=0-99\"]")" 3 "counted per Range"
assert_eq "$(stats '.rules[0].applied')" 2 "rule applied count"

rules 'status code=502 times=1' 'status code=500 times=1 skip=1'
get "$P" -r 0-9; assert_eq "$CODE" 502 "502"
get "$P" -r 0-9; assert_eq "$CODE" 206 "skip=1 lets one through"
get "$P" -r 0-9; assert_eq "$CODE" 500 "500 after skip"
get "$P" -r 0-9; assert_eq "$CODE" 206 "then pass"

rules 'status code=500 every=2'
for want in 500 206 500 206; do
	get "$P" -r 0-9
	assert_eq "$CODE" "$want" "every=2"
done

rules 'status code=429 retry_after=2 times=1'
get "$P"; assert_eq "$CODE" 429 "429"
assert_eq "$(header Retry-After)" 2 "Retry-After"
get "$P"; assert_eq "$CODE" 200 "after 429"

rules 'status code=403 path=/blobs/'
get "$P"; assert_eq "$CODE" 403 "403"
get "$P"; assert_eq "$CODE" 403 "403 stays"
get "$FAULTPROXY_URL/v2/"; assert_eq "$CODE" 200 "403 rule only on blobs"

rules 'reset after=1000 range=yes'
get "$P" -r 0-99999
assert_eq "$RC" 56 "reset mid-body: curl's receive error"
assert_eq "$SIZE" 1000 "bytes before the reset"
get "$P"; assert_eq "$CODE" 200 "range=no request not reset"
rules 'reset'
get "$P"
assert_eq "$RC" 56 "reset before any answer"

rules 'truncate after=5000'
get "$P" -r 0-99999
assert_eq "$RC" 18 "truncated body: curl's partial-file error"
assert_eq "$SIZE" 5000 "bytes before the close"
same_bytes "$T/blob" 0 5000

rules 'delay secs=1'
s=$(date +%s%N)
get "$P" -r 0-99
assert_eq "$CODE" 206 "delayed"
assert_le 1000 $((($(date +%s%N) - s) / 1000000)) "delay in ms"

rules 'stall after=100 secs=1.5 times=1' 'stall after=100 secs=1'
s=$(date +%s%N)
get "$P" -r 0-99999
assert_eq "$CODE" 206 "stalled"
same_bytes "$T/blob" 0 100000
assert_le 1500 $((($(date +%s%N) - s) / 1000000)) "stall in ms"
get "$P" -r 0-99999 --max-time 0.5
assert_eq "$RC" 28 "client timeout during a stall"
assert_eq "$SIZE" 100 "bytes before the stall"

rules 'flip offset=10 count=4'
get "$P" -r 0-99999
assert_eq "$CODE" 206 "flipped"
assert_eq "$SIZE" 100000 "flipped size"
dd if="$T/blob" of="$T/expect" bs=100000 count=1 status=none
{ cmp -l "$T/out" "$T/expect" || true; } >"$T/cmp"
assert_eq "$(awk '{print $1}' "$T/cmp" | tr '\n' ' ')" \
	"11 12 13 14 " "flipped byte positions (1-based)"

rules 'norange'
get "$P" -r 1000-1999
assert_eq "$CODE" 200 "Range ignored"
assert_eq "$(header Content-Range)" "" "no Content-Range"
same_bytes "$T/blob" 0 $SIZE1

rules 'redirect ttl=-1 path=/t/other/' 'redirect'
get "$P" -r 0-99
assert_eq "$CODE" 307 "redirect"
loc=$(header Location)
case $loc in "$OBJSTORE_URL"/blobs/"$D"\?*) ;; *) fail "Location $loc" ;; esac
get "$P" -L -r 5-99999
assert_eq "$CODE" 206 "followed redirect"
same_bytes "$T/blob" 5 99995
get "$P" -L -u u:p -r 0-9
assert_eq "$CODE" 206 "curl drops Authorization on the other host"
assert_eq "$(stats .objstore.with_authorization)" 0 "no Authorization yet"
get "$P" -L --location-trusted -u u:p -r 0-9
assert_eq "$CODE" 400 "object store refuses Authorization"
assert_eq "$(stats .objstore.with_authorization)" 1 "Authorization recorded"
assert_eq "$(stats .objstore.requests)" 3 "object store requests"
assert_eq "$(stats ".objstore.ranges[\"/blobs/$D\"][\"bytes=5-99999\"]")" 1 \
	"object store counts per Range"
get "$FAULTPROXY_URL/v2/t/plain/manifests/v1" \
	-H "Accept: application/vnd.oci.image.manifest.v1+json"
assert_eq "$CODE" 200 "redirect only for blobs"
get "$FAULTPROXY_URL/v2/t/plain/blobs/sha256:$(printf %064d 0)"
assert_eq "$CODE" 404 "no redirect for a missing blob"
D3=$(REGISTRY_URL=$FAULTPROXY_URL "$REG/push.sh" blob t/other "$T/blob2")
get "$FAULTPROXY_URL/v2/t/other/blobs/$D3" -L
assert_eq "$CODE" 403 "expired signed URL"

curl -sS -f -X POST "$FAULTPROXY_URL/_reset" >/dev/null
assert_eq "$(stats .requests)" 0 "reset counters"
info "faultproxy: ok ($((SECONDS - t0)) s)"

# bounded life: max lifetime, and the owner's exit
proxy --dir "$T/plain" -- --max-lifetime 1
wait_gone 5 "$FAULTPROXY_PID"
assert_file "$T/plain/log/proxy.1.stats.json"
sleep 60 &
owner=$!
start owned --owner "$owner"
proxy --dir "$T/owned" --owner "$owner"
kill "$owner"
wait "$owner" 2>/dev/null || true
wait_gone 5 "$REGISTRY_PID" "$REGISTRY_SUPERVISOR_PID" "$FAULTPROXY_PID"
info "lifetimes: ok ($((SECONDS - t0)) s)"

# ---- basic auth ----
start basic --auth basic
get "$REGISTRY_URL/v2/"
assert_eq "$CODE" 401 "no credentials"
case $(header Www-Authenticate) in Basic*) ;; *) fail "not a Basic challenge" ;; esac
get "$REGISTRY_URL/v2/" -u "$REGISTRY_USER:wrong"
assert_eq "$CODE" 401 "wrong password"
get "$REGISTRY_URL/v2/" -u "$REGISTRY_USER:$REGISTRY_PASS"
assert_eq "$CODE" 200 "with credentials"
grep -qE '^nydusfs:[$]2[aby][$]' "$T/basic/auth/htpasswd" || fail "htpasswd is not bcrypt"
DB=$("$REG/push.sh" blob t/basic "$T/blob")
get "$REGISTRY_URL/v2/t/basic/blobs/$DB" -u "$REGISTRY_USER:$REGISTRY_PASS" -r 10-19
assert_eq "$CODE" 206 "Range GET with Basic"
same_bytes "$T/blob" 10 10
jq -e --arg h "$REGISTRY_HOST" '.auths[$h].auth' "$REGISTRY_DOCKER_CONFIG" \
	>/dev/null || fail "docker config.json"
info "basic: ok ($((SECONDS - t0)) s)"

# ---- token auth ----
start token --auth token --expires-in 3 --strict-expiry
DT=$("$REG/push.sh" blob t/token "$T/blob")
get "$REGISTRY_URL/v2/t/token/blobs/$DT" -r 0-99
assert_eq "$CODE" 401 "no token"
want="Bearer realm=\"$TOKEN_URL\",service=\"$TOKEN_SERVICE\",scope=\"repository:t/token:pull\""
assert_eq "$(header Www-Authenticate)" "$want" "Bearer challenge"
issued0=$(curl -sS "${TOKEN_URL%/token}/_stats" | jq .tokens_issued)
get "$TOKEN_URL" -G --data-urlencode "service=$TOKEN_SERVICE" \
	--data-urlencode "scope=repository:t/token:pull"
assert_eq "$CODE" 401 "token without credentials"
get "$TOKEN_URL" -u "$REGISTRY_USER:wrong" -G \
	--data-urlencode "service=$TOKEN_SERVICE" \
	--data-urlencode "scope=repository:t/token:pull"
assert_eq "$CODE" 401 "token with a wrong password"
get "$TOKEN_URL" -u "$REGISTRY_USER:$REGISTRY_PASS" -G \
	--data-urlencode "service=$TOKEN_SERVICE" \
	--data-urlencode "scope=repository:t/token:pull"
assert_eq "$CODE" 200 "token"
jq -e '.token == .access_token and .expires_in == 3 and (.issued_at | test("Z$"))' \
	"$T/out" >/dev/null || fail "token answer: $(cat "$T/out")"
TOK=$(jq -r .token "$T/out")
python3 - "$TOK" "$TOKEN_ISSUER" "$TOKEN_SERVICE" <<'EOF' || fail "JWT fields"
import base64, json, sys
tok, iss, aud = sys.argv[1:]
def part(s):
    return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
h, c = part(tok.split(".")[0]), part(tok.split(".")[1])
assert h["alg"] == "RS256" and len(h["x5c"]) == 1, h
assert c["iss"] == iss and c["aud"] == aud and c["sub"] == "nydusfs", c
assert all(k in c for k in ("exp", "nbf", "iat", "jti")), c
assert c["access"] == [{"type": "repository", "name": "t/token",
                        "actions": ["pull"]}], c
EOF
get "$REGISTRY_URL/v2/t/token/blobs/$DT" -H "Authorization: Bearer $TOK" -r 0-99
assert_eq "$CODE" 206 "Range GET with a token"
same_bytes "$T/blob" 0 100
OTHER=$("$REG/push.sh" token t/elsewhere)
get "$REGISTRY_URL/v2/t/token/blobs/$DT" -H "Authorization: Bearer $OTHER" -r 0-99
assert_eq "$CODE" 401 "a token for another repository"
assert_eq "$(curl -sS "${TOKEN_URL%/token}/_stats" | jq .tokens_issued)" \
	$((issued0 + 2)) "tokens counted"
# the faultproxy checks auth with the registry before redirecting
proxy --dir "$T/token" --rule redirect
get "$FAULTPROXY_URL/v2/t/token/blobs/$DT" -r 0-9
assert_eq "$CODE" 401 "no redirect without a token"
get "$FAULTPROXY_URL/v2/t/token/blobs/$DT" -r 0-9 -L -H "Authorization: Bearer $TOK"
assert_eq "$CODE" 206 "redirect with a token, followed"
same_bytes "$T/blob" 0 10
assert_eq "$(stats .objstore.with_authorization)" 0 "no token sent to the object store"
# --strict-expiry: refused once expires_in has passed
sleep 3.2
get "$REGISTRY_URL/v2/t/token/blobs/$DT" -H "Authorization: Bearer $TOK" -r 0-99
assert_eq "$CODE" 401 "expired token"
info "token: ok ($((SECONDS - t0)) s)"

# ---- TLS ----
start tls --tls --auth token
get "$REGISTRY_URL/v2/" --cacert "$REGISTRY_CA"
case $CODE in 401) ;; *) fail "TLS /v2/: $CODE" ;; esac
assert_eq "$(curl -sS -o /dev/null -w '%{http_version}' --cacert "$REGISTRY_CA" \
	"$REGISTRY_URL/v2/")" 2 "HTTP/2"
get "$REGISTRY_URL/v2/"
assert_eq "$RC" 60 "curl without the CA fails verification"
get "https://localhost:${REGISTRY_HOST#*:}/v2/" --cacert "$REGISTRY_CA"
assert_eq "$CODE" 401 "DNS:localhost in the certificate"
case $TOKEN_URL in https://*) ;; *) fail "token realm not https: $TOKEN_URL" ;; esac
DS=$("$REG/push.sh" blob t/tls "$T/blob")
TOK=$("$REG/push.sh" token t/tls)
get "$REGISTRY_URL/v2/t/tls/blobs/$DS" --cacert "$REGISTRY_CA" \
	-H "Authorization: Bearer $TOK" -r 100-199
assert_eq "$CODE" 206 "Range GET over TLS with a token"
same_bytes "$T/blob" 100 100
"$REG/push.sh" layout "$T/oci:v1" t/layout:v1
info "tls: ok ($((SECONDS - t0)) s)"

# ---- nothing left behind ----
stop_all
wait_gone 10 "${PIDS[@]}"
left=$(pgrep -f -- "$T/" || true)
[ -z "$left" ] || fail "processes left: $(ps -o pid,args -p "${left//$'\n'/,}")"
[ ! -e "$T/plain/env" ] || fail "stop left $T/plain/env"
info "all stopped: ${#PIDS[@]} pids checked; total $((SECONDS - t0)) s"
exit 0
