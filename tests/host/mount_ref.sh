#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: `nydusfs mount REF MOUNTPOINT` resolves an image reference,
# fetches the image's bootstrap and checks it against the manifest before
# anything is registered or mounted (--dry-run stops there and prints the
# plan), against a real docker-registry and OCI layouts:
#   - docker:// over plain HTTP (--tls-verify=false), by tag and by
#     digest, and oci:; the bootstrap is stored by its digest in
#     STATE_DIR/bootstraps/sha256/ (state_dir of the daemon's config), byte
#     for byte the one convert pushed; the next mount finds it there (no
#     second download); a damaged stored copy is fetched again; the blobs'
#     source is the repository (with the scheme that worked) or the
#     layout's blobs directory; -o digest= is the bootstrap's digest;
#     Basic auth (--authfile) and token auth over TLS (--cert-dir) hand
#     their credentials and CA on;
#   - round trips, counted in the registry's log: a first mount GETs the
#     manifest and the bootstrap layer (no /v2/ ping, no config), a second
#     one the manifest only; the config only for --platform of a
#     single-platform image; the scheme of the daemon config's
#     [registry "HOST"] is used without the https probe;
#   - refusals, exit 1 with a message naming the problem and a hint, and
#     nothing stored: bad references; missing tags and repositories; no
#     access (401 without and with wrong credentials, 403); an image that
#     is not a nydusfs image (hint: convert); a platform the index lacks;
#     a tampered bootstrap layer (in the registry's storage and in a
#     layout); a bootstrap that does not match the manifest's annotation;
#     no annotation; a manifest that lacks a blob the bootstrap needs; a
#     conflicting -o digest=; REF options with a bootstrap file.
# timeout: 300
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../convert_lib.sh"
require umoci skopeo jq python3 docker-registry curl htpasswd openssl
require_nydusfs

cd "$T"
# no credentials but those a case gives
export HOME=$T/home
unset DOCKER_CONFIG REGISTRY_AUTH_FILE XDG_RUNTIME_DIR
mkdir -p "$HOME" "$T/mnt"
mk_small_image "$T/L"
reg_start plain
H=$REGISTRY_HOST
PLAIN_LOG=$REGISTRY_LOGFILE
PLAIN_ROOT=$REGISTRY_ROOT
NOTLS=--tls-verify=false
RT=$(realpath "$T")

# conf NAME: a daemon config whose state_dir is $T/NAME (no daemon runs:
# --dry-run never talks to it)
conf()
{
	printf '[daemon]\nstate_dir = %s/%s\nsocket = %s/none.sock\n' \
		"$T" "$1" "$T" >"$T/$1.conf"
	echo "$T/$1.conf"
}
C1=$(conf state)
STORE=$T/state/bootstraps/sha256

# dry [CONF=FILE] ARGS...: a dry run that must work
dry() { nyd_ok mount --dry-run --config "${CONF:-$C1}" "$@" "$T/mnt"; }
# refused RC ARGS...: a dry run that must fail with RC
refused()
{
	local rc=$1

	shift
	nyd_expect "$rc" mount --dry-run --config "${CONF:-$C1}" "$@" "$T/mnt"
}
field() { sed -n "s/^$1: //p" "$NYD_OUT"; }
# nothing_stored DIR: no bootstrap and no leftover in a store
nothing_stored()
{
	local left

	left=$(find "$1" -mindepth 1 2>/dev/null | head -n 3)
	[ -z "$left" ] || fail "left in the store: $left"
}

nyd_ok convert $NOTLS "oci:$T/L:v1" "docker://$H/c/a:v1"
MDIGEST=$(cat "$NYD_OUT")
nyd_ok convert "oci:$T/L:v1" "oci:$T/C:v1"
fetch_converted "docker://$H/c/a:v1" "$T/ref" --src-tls-verify=false
BOOT=$(sha256sum "$T/ref/bootstrap" | cut -c1-64)
BL=$(jq -r '.layers[-1].digest' "$T/ref/manifest.json")
# downloads of the bootstrap layer by nydusfs (not skopeo)
boot_gets() { grep -cE "\"GET /v2/c/a/blobs/$BL HTTP.*\"nydusfs/1\"" "$PLAIN_LOG" || true; }

# ---- resolution, the store, the plan ----
dry $NOTLS "docker://$H/c/a:v1"
assert_eq "$(field bootstrap)" "$STORE/$BOOT (fetched)" "stored bootstrap"
cmp "$STORE/$BOOT" "$T/ref/bootstrap" || fail "stored bootstrap differs"
assert_eq "$(field digest)" "sha256:$BOOT" "bootstrap digest"
assert_eq "$(field manifest)" "$MDIGEST" "manifest digest"
assert_eq "$(field source)" "registry:$H/c/a (http, TLS not verified)" "source"
assert_eq "$(field options)" "digest=sha256:$BOOT" "kernel options"
assert_eq "$(boot_gets)" 1 "bootstrap layer downloads"
assert_eq "$(stat -c %a "$T/state")" 700 "state dir mode"
dry $NOTLS -o verify "docker://$H/c/a@$MDIGEST"
assert_eq "$(field bootstrap)" "$STORE/$BOOT (already stored)" "second mount"
assert_eq "$(field options)" "verify,digest=sha256:$BOOT" "options"
assert_eq "$(boot_gets)" 1 "the stored bootstrap is not fetched again"
dry $NOTLS -o "digest=sha256:$BOOT" "docker://$H/c/a:v1"
assert_eq "$(field options)" "digest=sha256:$BOOT" "-o digest= of the same"
refused 1 $NOTLS -o "digest=sha256:$(printf %064d 0)" "docker://$H/c/a:v1"
assert_grep "-o digest=sha256:0{64}: the bootstrap of .* is sha256:$BOOT" "$NYD_ERR"
# a damaged stored copy
printf 'X' | dd of="$STORE/$BOOT" bs=1 seek=100 conv=notrunc 2>/dev/null
dry $NOTLS "docker://$H/c/a:v1"
assert_grep 'the stored bootstrap does not match its name: fetching it again' "$NYD_ERR"
assert_eq "$(field bootstrap)" "$STORE/$BOOT (fetched)" "refetched"
cmp "$STORE/$BOOT" "$T/ref/bootstrap" || fail "refetched bootstrap differs"
# an OCI layout: blobs from its directory
dry "oci:$T/C:v1"
assert_eq "$(field source)" "localfs:$RT/C/blobs/sha256" "layout source"
assert_eq "$(field digest)" "sha256:$BOOT" "layout bootstrap digest"
# the default state dir comes from the config; none: /var/lib/nydusfs
grep -q /var/lib/nydusfs "$TOP/Documentation/nydusfs-run.rst" ||
	fail "the docs do not say where bootstraps are stored"
info "resolution, store and plan: ok"

# ---- round trips: the manifest and the bootstrap layer, nothing else ----
# gets PATH_REGEX: nydusfs's GETs of that path (exactly) so far
gets() { grep -cE "\"GET $1 HTTP/[0-9.]+\" [0-9]+ .*\"nydusfs/1\"" "$PLAIN_LOG" || true; }
CFG=$(jq -r .config.digest "$T/ref/manifest.json")
# trips: "PINGS MANIFESTS BLOBS CONFIGS" fetched since the last call
trips()
{
	local now p m b c

	now="$(gets /v2/) $(gets '/v2/c/a/manifests/[^ ]+') $(gets '/v2/c/a/blobs/[^ ]+') $(gets "/v2/c/a/blobs/$CFG")"
	if [ -f "$T/trips.count" ]; then
		read -r p m b c <"$T/trips.count"
		set -- $now
		echo "$(($1 - p)) $(($2 - m)) $(($3 - b)) $(($4 - c))"
	fi
	echo "$now" >"$T/trips.count"
}
C2=$(conf trips)
trips >/dev/null
CONF=$C2 dry -v $NOTLS "docker://$H/c/a:v1"
assert_eq "$(trips)" "0 1 1 0" "first mount: GETs of /v2/, manifests, blobs, the config"
# the https probe, then http without a second ping
assert_grep 'no TLS, using plain HTTP' "$NYD_ERR"
assert_grep "mount docker://$H/c/a:v1: 3 requests" "$NYD_ERR"
CONF=$C2 dry -v $NOTLS "docker://$H/c/a:v1"
assert_eq "$(trips)" "0 1 0 0" "second mount: the manifest only"
assert_grep "mount docker://$H/c/a:v1: 2 requests" "$NYD_ERR"
# an explicit platform of a single-platform image: only its config says it
CONF=$C2 dry --platform linux/amd64 $NOTLS "docker://$H/c/a:v1"
assert_eq "$(trips)" "0 1 1 1" "--platform: the config too"
# the daemon config says the scheme: no https probe either
C3=$(conf trips3)
printf '[registry "%s"]\nscheme = http\n' "$H" >>"$C3"
CONF=$C3 dry -v $NOTLS "docker://$H/c/a:v1"
assert_eq "$(trips)" "0 1 1 0" "a configured scheme"
assert_grep "mount docker://$H/c/a:v1: 2 requests" "$NYD_ERR"
! grep -q 'no TLS' "$NYD_ERR" || fail "https was probed though the config says http"
assert_eq "$(field source)" "registry:$H/c/a (http, TLS not verified)" "source"
printf '[registry "%s"]\nscheme = ftp\n' "$H" >"$C3"
CONF=$C3 refused 1 $NOTLS "docker://$H/c/a:v1"
assert_grep "\[registry \"$H\"\] scheme = ftp: it must be http or https" "$NYD_ERR"
info "round trips: ok"

# ---- bad references ----
refused 1 "docker://$H"
assert_grep 'bad reference .*no repository name' "$NYD_ERR"
refused 1 "$H/c/a:v1"
assert_grep "no such bootstrap file, and not an image reference.*did you mean docker://$H/c/a:v1" "$NYD_ERR"
refused 1 "docker://$H/c/a:v1:v2"
assert_grep 'bad reference' "$NYD_ERR"
refused 1 "docker-archive:/x.tar"
assert_grep 'not an image reference \(docker://' "$NYD_ERR"
refused 1 "$T/C"
assert_grep 'is a directory: give a bootstrap file or an image reference' "$NYD_ERR"
refused 1 "oci:$T/nonexistent:v1"
assert_grep 'no readable index.json' "$NYD_ERR"
refused 1 $NOTLS "$STORE/$BOOT"
assert_grep 'is a bootstrap file: --platform, --tls-verify.* are for an image reference' "$NYD_ERR"
refused 2 --tls-verify=maybe "docker://$H/c/a:v1"
assert_grep "'maybe' is not a boolean" "$NYD_ERR"
refused 2 --platform linux "docker://$H/c/a:v1"
assert_grep "bad platform 'linux'" "$NYD_ERR"
nyd_expect 2 mount --dry-run "docker://$H/c/a:v1"
# a plain HTTP registry without --tls-verify=false
refused 1 "docker://$H/c/a:v1"
assert_grep 'plain HTTP registry needs --tls-verify=false' "$NYD_ERR"
info "bad references: ok"

# ---- missing tags and repositories ----
refused 1 $NOTLS "docker://$H/c/a:nope"
assert_grep 'HTTP 404 \(MANIFEST_UNKNOWN' "$NYD_ERR"
assert_grep 'not mounted: not found' "$NYD_ERR"
refused 1 $NOTLS "docker://$H/c/none:v1"
assert_grep 'HTTP 404 \((NAME|MANIFEST)_UNKNOWN' "$NYD_ERR"
refused 1 "oci:$T/C:nope"
assert_grep "no image tagged 'nope'" "$NYD_ERR"
info "missing tags: ok"

# ---- not a nydusfs image ----
push_layout "$T/L:v1" src/a:v1
refused 1 $NOTLS "docker://$H/src/a:v1"
assert_grep "docker://$H/src/a:v1 is not a nydusfs image: manifest sha256:[0-9a-f]{64} has no layer annotated containerd.io/snapshot/nydus-bootstrap; convert it first: nydusfs convert" "$NYD_ERR"
refused 1 "oci:$T/L:v1"
assert_grep 'is not a nydusfs image.*nydusfs convert' "$NYD_ERR"
info "not a nydusfs image: ok"

# ---- platforms ----
# an index of the converted image with only arm64 and s390x entries
add_platform_index "$T/C" v1 multi
refused 1 "oci:$T/C:multi"
assert_grep 'has no linux/amd64 image; it has: linux/arm64/v8, linux/s390x \(choose one with --platform' "$NYD_ERR"
dry --platform linux/s390x "oci:$T/C:multi"
assert_eq "$(field digest)" "sha256:$BOOT" "the s390x entry"
refused 1 --platform linux/arm64 "oci:$T/C:v1"
assert_grep 'single-platform linux/amd64 image, not linux/arm64' "$NYD_ERR"
info "platforms: ok"

# ---- tampered images: nothing is stored ----
flip()			# FILE OFFSET: invert one byte in place
{
	python3 - "$1" "$2" <<'EOF'
import sys
f = open(sys.argv[1], "r+b")
f.seek(int(sys.argv[2]))
b = f.read(1)
f.seek(int(sys.argv[2]))
f.write(bytes([b[0] ^ 0xff]))
EOF
}
# edit_manifest LAYOUT PYTHON: rewrite the manifest of the only tag (m is
# the manifest) and index.json, so that every digest matches again
edit_manifest()
{
	python3 - "$1" "$2" <<'EOF'
import hashlib, json, os, sys
lay, code = sys.argv[1], sys.argv[2]
def blob(d):
    return os.path.join(lay, "blobs", "sha256", d.split(":")[1])
idx = json.load(open(os.path.join(lay, "index.json")))
e = idx["manifests"][0]
m = json.load(open(blob(e["digest"])))
exec(code)
b = json.dumps(m).encode()
e["digest"], e["size"] = "sha256:" + hashlib.sha256(b).hexdigest(), len(b)
open(blob(e["digest"]), "wb").write(b)
json.dump(idx, open(os.path.join(lay, "index.json"), "w"))
EOF
}
layout_copy() { rm -rf "$T/$1"; nyd_ok convert "oci:$T/L:v1" "oci:$T/$1:v1"; }
BLF=blobs/sha256/${BL#sha256:}

CONF=$(conf s2)
layout_copy Cbad
flip "$T/Cbad/$BLF" 500
refused 1 "oci:$T/Cbad:v1"
assert_grep "blob $BL: digest mismatch" "$NYD_ERR" "tampered layer in a layout"
nothing_stored "$T/s2/bootstraps/sha256"

# in the registry's storage (v2: its own bootstrap layer)
nyd_ok convert $NOTLS "oci:$T/L:v2" "docker://$H/c/t:v2"
fetch_converted "docker://$H/c/t:v2" "$T/ref2" --src-tls-verify=false
BL2=$(jq -r '.layers[-1].digest' "$T/ref2/manifest.json")
data=$PLAIN_ROOT/docker/registry/v2/blobs/sha256/${BL2:7:2}/${BL2#sha256:}/data
[ -f "$data" ] || fail "no $data"
flip "$data" 300
refused 1 $NOTLS "docker://$H/c/t:v2"
assert_grep "blob $BL2 of c/t: digest mismatch" "$NYD_ERR" "tampered layer in a registry"
assert_grep 'not mounted: data that does not match its digest' "$NYD_ERR"
nothing_stored "$T/s2/bootstraps/sha256"
flip "$data" 300
dry $NOTLS "docker://$H/c/t:v2"

CONF=$(conf s3)
layout_copy Cann
edit_manifest "$T/Cann" 'm["layers"][-1]["annotations"]["org.nydusfs.bootstrap.digest"] = "sha256:" + "0" * 64'
refused 1 "oci:$T/Cann:v1"
assert_grep "the bootstrap is sha256:$BOOT, its layer's annotation says sha256:0{64}" "$NYD_ERR"
nothing_stored "$T/s3/bootstraps/sha256"
layout_copy Cnoann
edit_manifest "$T/Cnoann" 'del m["layers"][-1]["annotations"]["org.nydusfs.bootstrap.digest"]'
refused 1 "oci:$T/Cnoann:v1"
assert_grep 'has no org.nydusfs.bootstrap.digest annotation: not an image made by nydusfs convert' "$NYD_ERR"
layout_copy Cpart
edit_manifest "$T/Cpart" 'm["layers"] = m["layers"][-1:]'
refused 1 "oci:$T/Cpart:v1"
assert_grep 'the bootstrap needs blob sha256:[0-9a-f]{64}, which manifest sha256:[0-9a-f]{64} does not list' "$NYD_ERR"
nothing_stored "$T/s3/bootstraps/sha256"
unset CONF
info "tampered images: ok"

# ---- access: Basic (401), a 403, token auth over TLS ----
reg_proxy --dir "$T/plain"
curl -sS -f -X PUT --data-binary 'status code=403 path=/manifests/' \
	"$FAULTPROXY_URL/_rules" >/dev/null
refused 1 $NOTLS "docker://$FAULTPROXY_HOST/c/a:v1"
assert_grep 'HTTP 403.*access denied, and no credentials were sent: use --creds USER:PASS, --authfile FILE' "$NYD_ERR"

reg_start basic --auth basic
nyd_ok convert $NOTLS --creds "$REGISTRY_USER:$REGISTRY_PASS" "oci:$T/L:v1" \
	"docker://$REGISTRY_HOST/b/a:v1"
refused 1 $NOTLS "docker://$REGISTRY_HOST/b/a:v1"
assert_grep 'HTTP 401.*no credentials for this registry: use --creds USER:PASS, --authfile FILE' "$NYD_ERR"
refused 1 $NOTLS --creds "$REGISTRY_USER:wrong" "docker://$REGISTRY_HOST/b/a:v1"
assert_grep 'HTTP 401.*credentials were not accepted' "$NYD_ERR"
dry $NOTLS --authfile "$REGISTRY_DOCKER_CONFIG" "docker://$REGISTRY_HOST/b/a:v1"
assert_eq "$(field source)" "registry:$REGISTRY_HOST/b/a (http, TLS not verified, credentials)" "basic source"
grep -qF "$REGISTRY_PASS" "$NYD_OUT" "$NYD_ERR" && fail "the password is printed"

reg_start tok --auth token --tls
nyd_ok convert --cert-dir "$REGISTRY_CERT_DIR" --creds "$REGISTRY_USER:$REGISTRY_PASS" \
	"oci:$T/L:v1" "docker://$REGISTRY_HOST/t/a:v1"
refused 1 --creds "$REGISTRY_USER:$REGISTRY_PASS" "docker://$REGISTRY_HOST/t/a:v1"
assert_grep 'certificate is not trusted: use --cert-dir DIR or --ca-file FILE' "$NYD_ERR"
refused 1 --cert-dir "$REGISTRY_CERT_DIR" "docker://$REGISTRY_HOST/t/a:v1"
assert_grep 'token server wants credentials' "$NYD_ERR"
dry --cert-dir "$REGISTRY_CERT_DIR" --creds "$REGISTRY_USER:$REGISTRY_PASS" \
	"docker://$REGISTRY_HOST/t/a:v1"
assert_eq "$(field source)" "registry:$REGISTRY_HOST/t/a (https, CA, credentials)" "token source"
assert_eq "$(field digest)" "sha256:$BOOT" "the same bootstrap"
info "access: ok"
exit 0
