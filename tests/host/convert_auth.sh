#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: `nydusfs convert` talks to registries that need credentials and
# TLS the way skopeo does, and says clearly what is wrong when it cannot:
#   - a plain HTTP registry needs --tls-verify=false (with a hint);
#   - Basic auth: --creds, --authfile, $DOCKER_CONFIG, --src-creds; none
#     or a wrong password is refused with a hint, and nothing is pushed;
#   - token auth over TLS with a custom CA: --cert-dir, --ca-file; without
#     the CA a certificate error with a hint; without credentials the token
#     server's refusal; tokens per scope from the token server;
#   - the converted images read back (skopeo copy with credentials) are
#     complete.
# timeout: 300
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../convert_lib.sh"
require umoci skopeo jq docker-registry htpasswd openssl curl python3
require_nydusfs

cd "$T"
mk_small_image "$T/L"
umoci_ref "$T/L:v2" "$T/ref"
REF=$T/ref/rootfs

# ---- plain HTTP ----
reg_start plain
nyd_expect 1 convert "oci:$T/L:v2" "docker://$REGISTRY_HOST/p/img:v2"
assert_grep 'tls-verify=false' "$NYD_ERR" "plain HTTP hint"
nyd_ok convert --dest-tls-verify=false "oci:$T/L:v2" "docker://$REGISTRY_HOST/p/img:v2"
P_DIGEST=$(cat "$NYD_OUT")

# ---- Basic ----
reg_start basic --auth basic
H=$REGISTRY_HOST
nyd_expect 1 convert --tls-verify=false "oci:$T/L:v2" "docker://$H/b/img:v2"
assert_grep 'HTTP 401.*no credentials for this registry: use --creds' "$NYD_ERR" "401 hint"
nyd_expect 1 convert --tls-verify=false --creds "$REGISTRY_USER:wrong" \
	"oci:$T/L:v2" "docker://$H/b/img:v2"
assert_grep 'HTTP 401.*credentials were not accepted' "$NYD_ERR" "wrong password"
assert_eq "$(reg_count POST '/v2/b/img/blobs/uploads/' 202)" 0 "uploads without access"
nyd_ok convert --tls-verify=false --creds "$REGISTRY_USER:$REGISTRY_PASS" \
	"oci:$T/L:v2" "docker://$H/b/img:v2"
assert_eq "$(cat "$NYD_OUT")" "$P_DIGEST" "same image as over plain HTTP"
grep -q "$REGISTRY_PASS" "$NYD_ERR" && fail "the password is in the log"
nyd_ok convert --tls-verify=false --authfile "$REGISTRY_DOCKER_CONFIG" \
	"oci:$T/L:v1" "docker://$H/b/img:v1"
DOCKER_CONFIG=$(dirname "$REGISTRY_DOCKER_CONFIG") HOME=/nonexistent \
	nyd_ok convert --tls-verify=false "oci:$T/L:v1" "docker://$H/b/img2:v1"
# a registry source with credentials
push_layout "$T/L:v2" src/img:v2
nyd_ok convert --src-tls-verify=false --src-creds "$REGISTRY_USER:$REGISTRY_PASS" \
	"docker://$H/src/img:v2" "oci:$T/out:v2"
assert_eq "$(cat "$NYD_OUT")" "$P_DIGEST" "basic-auth source"
fetch_converted "docker://$H/b/img:v2" "$T/cb" --src-tls-verify=false \
	--src-creds "$REGISTRY_USER:$REGISTRY_PASS"
check_manifest "$T/cb"
check_converted "$T/cb" "$REF"

# ---- token auth over TLS, with this run's CA ----
reg_start tok --auth token --tls
H=$REGISTRY_HOST
STATS=${TOKEN_URL%/token}/_stats
nyd_expect 1 convert --creds "$REGISTRY_USER:$REGISTRY_PASS" "oci:$T/L:v2" \
	"docker://$H/t/img:v2"
assert_grep 'certificate.*--cert-dir DIR or --ca-file FILE' "$NYD_ERR" "TLS hint"
nyd_expect 1 convert --cert-dir "$REGISTRY_CERT_DIR" "oci:$T/L:v2" \
	"docker://$H/t/img:v2"
assert_grep 'token server wants credentials' "$NYD_ERR" "token without credentials"
issued0=$(curl -sS --cacert "$REGISTRY_CA" "$STATS" | jq .tokens_issued)
nyd_ok convert --cert-dir "$REGISTRY_CERT_DIR" \
	--creds "$REGISTRY_USER:$REGISTRY_PASS" "oci:$T/L:v2" "docker://$H/t/img:v2"
assert_eq "$(cat "$NYD_OUT")" "$P_DIGEST" "token + TLS"
curl -sS --cacert "$REGISTRY_CA" "$STATS" >"$T/stats.json"
issued=$(($(jq .tokens_issued "$T/stats.json") - issued0))
assert_le 1 "$issued" "tokens issued"
assert_le "$issued" 3 "tokens issued (cached per scope)"
jq -e '[.issued[].scope] | any(test("repository:t/img:pull,push"))' "$T/stats.json" \
	>/dev/null || fail "no push token: $(jq -c '[.issued[].scope]' "$T/stats.json")"
grep -qE "$REGISTRY_PASS|Bearer [A-Za-z0-9]" "$NYD_ERR" && fail "a secret in the log"
# --ca-file and a config.json; a TLS source too
push_layout "$T/L:v2" src/img:v2
nyd_ok convert --ca-file "$REGISTRY_CA" --authfile "$REGISTRY_DOCKER_CONFIG" \
	"docker://$H/src/img:v2" "docker://$H/t2/img:v2"
assert_eq "$(cat "$NYD_OUT")" "$P_DIGEST" "--ca-file, --authfile, TLS source"
# --tls-verify=false also works against TLS (no verification)
nyd_ok convert --tls-verify=false --authfile "$REGISTRY_DOCKER_CONFIG" \
	"docker://$H/src/img:v2" "oci:$T/out2:v2"
fetch_converted "docker://$H/t2/img:v2" "$T/ct" --src-cert-dir "$REGISTRY_CERT_DIR" \
	--src-creds "$REGISTRY_USER:$REGISTRY_PASS"
check_manifest "$T/ct"
check_converted "$T/ct" "$REF"
exit 0
