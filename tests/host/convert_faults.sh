#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: the registry client of `nydusfs convert` (lib/registry.c) copes
# with what registries and networks do, through tests/registry/faultproxy.py:
#   - 503s and 500s are retried (bounded), 429 waits for Retry-After, a
#     403 is final (one request), a connection reset or a truncated body
#     resumes with Range (and copes with a 200 to that), flipped bytes are
#     refused (digest mismatch);
#   - a failed upload step restarts the upload; a push that keeps failing
#     leaves no manifest behind;
#   - redirects to object storage are followed without Authorization;
#   - a token that expires during a long push is renewed.
# timeout: 300
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../convert_lib.sh"
require umoci skopeo jq python3 docker-registry curl
require_nydusfs

rules()
{
	printf '%s\n' "$@" | curl -sS -f -X PUT --data-binary @- \
		"$FAULTPROXY_URL/_rules" >/dev/null
	curl -sS -f -X POST "$FAULTPROXY_URL/_reset" >/dev/null
}

stats()
{
	curl -sS "$FAULTPROXY_URL/_stats" | jq -r "$1"
}

# resumed PATH: requests for PATH with an open Range from past its start
resumed()
{
	stats "[.ranges[\"$1\"] | keys[] | select(test(\"^bytes=[1-9][0-9]*-\$\"))] | length"
}

ms_since()
{
	echo $((($(date +%s%N) - $1) / 1000000))
}

cd "$T"
mk_small_image "$T/L"
umoci_ref "$T/L:v2" "$T/ref"
reg_start plain
push_layout "$T/L:v2" src/img:v2
reg_proxy --dir "$T/plain"
P=$FAULTPROXY_HOST
C=(convert -v --tls-verify=false)
L0=$(jq -r '.layers[0].digest' "$(_blob "$T/L" "$(jq -r '.manifests[] |
	select(.annotations["org.opencontainers.image.ref.name"] == "v2") |
	.digest' "$T/L/index.json")")")
L0P=/v2/src/img/blobs/$L0
nyd_ok convert --tls-verify=false "docker://$P/src/img:v2" "oci:$T/good:v2"
D=$(cat "$NYD_OUT")

# ---- downloads ----
rules 'status code=503 times=2 method=GET path=/blobs/sha256'
nyd_ok "${C[@]}" "docker://$P/src/img:v2" "oci:$T/o1:v2"
assert_eq "$(cat "$NYD_OUT")" "$D" "after 503s"
assert_grep 'HTTP 503.*; retry 1 of 4' "$NYD_ERR"
assert_grep ' 2 retries' "$NYD_ERR" "retries counted"

rules "reset after=100000 times=1 method=GET path=$L0P"
nyd_ok "${C[@]}" "docker://$P/src/img:v2" "oci:$T/o2:v2"
assert_eq "$(cat "$NYD_OUT")" "$D" "after a reset"
assert_eq "$(resumed "$L0P")" 1 "resumed with Range"

rules "reset after=100000 times=1 method=GET path=$L0P" "norange"
nyd_ok "${C[@]}" "docker://$P/src/img:v2" "oci:$T/o3:v2"
assert_eq "$(cat "$NYD_OUT")" "$D" "after a reset, resumed with a 200"

rules "truncate after=70000 times=1 method=GET path=$L0P"
nyd_ok "${C[@]}" "docker://$P/src/img:v2" "oci:$T/o4:v2"
assert_eq "$(resumed "$L0P")" 1 "resumed after a short body"

rules 'status code=429 retry_after=1 times=1 path=/manifests/'
t0=$(date +%s%N)
nyd_ok "${C[@]}" "docker://$P/src/img:v2" "oci:$T/o5:v2"
assert_le 1000 "$(ms_since "$t0")" "waited for Retry-After"
assert_grep 'HTTP 429.*; retry 1 of 4 in 1000 ms' "$NYD_ERR"

rules "status code=403 method=GET path=$L0P"
nyd_expect 1 "${C[@]}" "docker://$P/src/img:v2" "oci:$T/o6:v2"
assert_grep 'HTTP 403.*; access denied' "$NYD_ERR"
assert_eq "$(stats ".paths[\"$L0P\"]")" 1 "a 403 is not retried"

rules "flip offset=5000 count=4 method=GET path=$L0P"
nyd_expect 1 "${C[@]}" "docker://$P/src/img:v2" "oci:$T/o7:v2"
assert_grep 'digest mismatch' "$NYD_ERR" "flipped bytes"

# ---- uploads ----
rules 'status code=500 method=PUT path=/blobs/uploads/'
nyd_expect 1 "${C[@]}" --retries 1 "oci:$T/L:v2" "docker://$P/up/img:v2"
assert_grep 'upload of sha256:.* failed; retry 1 of 1' "$NYD_ERR"
code=$(curl -s -o /dev/null -w '%{http_code}' "$REGISTRY_URL/v2/up/img/manifests/v2")
assert_eq "$code" 404 "no manifest after a failed push"

rules 'status code=500 method=PUT path=/blobs/uploads/ times=1' \
	'status code=503 method=PATCH times=1' 'status code=502 method=PUT path=/manifests/ times=1'
nyd_ok "${C[@]}" --upload-chunk 1M "oci:$T/L:v2" "docker://$P/up/img:v2"
assert_eq "$(cat "$NYD_OUT")" "$D" "after failed upload steps"
assert_eq "$(stats '[.rules[].applied] | add')" 3 "every fault hit"
fetch_converted "docker://$REGISTRY_HOST/up/img:v2" "$T/cu" --src-tls-verify=false
check_converted "$T/cu" "$T/ref/rootfs"

# ---- redirects and tokens (a token registry behind the proxy) ----
reg_start tok --auth token --expires-in 3 --strict-expiry
push_layout "$T/L:v2" src/img:v2
reg_proxy --dir "$T/tok"
P=$FAULTPROXY_HOST
STATS=${TOKEN_URL%/token}/_stats
rules 'redirect'
nyd_ok "${C[@]}" --creds "$REGISTRY_USER:$REGISTRY_PASS" \
	"docker://$P/src/img:v2" "oci:$T/o8:v2"
assert_eq "$(cat "$NYD_OUT")" "$D" "through redirects"
assert_le 2 "$(stats .objstore.requests)" "blobs from the object store"
assert_eq "$(stats .objstore.with_authorization)" 0 "Authorization sent to the object store"

# a push that outlives its 3 s token: 1 s per PATCH, 512K pieces
rules 'delay secs=1 method=PATCH'
curl -sS -X POST "${STATS%/_stats}/_reset" >/dev/null
nyd_ok "${C[@]}" --upload-chunk 512K --creds "$REGISTRY_USER:$REGISTRY_PASS" \
	"oci:$T/L:v2" "docker://$P/tok/img:v2"
assert_eq "$(cat "$NYD_OUT")" "$D" "a long push with short tokens"
n=$(curl -sS "$STATS" | jq '[.issued[] | select(.scope | test("tok/img:pull,push"))] | length')
assert_le 2 "$n" "push tokens renewed"
info "push tokens issued during a ~6 s push: $n"
exit 0
