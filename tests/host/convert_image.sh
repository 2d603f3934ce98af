#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: `nydusfs convert` turns a real multi-layer image (Debian minbase,
# then a layer with changes and whiteouts, then an opaque directory) into
# a nydusfs image that standard tools accept and that holds exactly the
# tree `umoci unpack` makes of the source:
#   1. oci: layout -> registry; skopeo inspect (raw, config) and skopeo
#      copy to a layout; the bootstrap and blobs read back from that copy
#      pass `check --blob-dir`, and `unpack` == umoci unpack
#   2. registry -> registry (the source pushed with skopeo): the same
#      manifest digest (conversion is reproducible)
#   3. registry -> oci: layout, then skopeo copy of that layout to a
#      registry and between registries
#   4. a second push uploads nothing (registry access log)
#   5. chunked upload (PATCH pieces): same image
#   6. --prefetch patterns land in the bootstrap's prefetch table
# timeout: 600
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../convert_lib.sh"
require umoci skopeo jq python3 docker-registry curl
require_nydusfs

cd "$T"
mk_minbase_image "$T/L"
umoci_ref "$T/L:v3" "$T/ref"
REF=$T/ref/rootfs
[ ! -e "$REF/usr/share/doc" ] && [ ! -e "$REF/usr/bin/head" ] &&
	[ "$(ls "$REF/etc/apt")" = sources.list ] ||
	fail "umoci's own unpack is not what this test expects"

reg_start plain
H=$REGISTRY_HOST
NOTLS=--tls-verify=false

# 1. layout -> registry
t0=$(date +%s%N)
nyd_ok convert -v $NOTLS "oci:$T/L:v3" "docker://$H/conv/img:v3"
info "convert of minbase (3 layers): $((($(date +%s%N) - t0) / 1000000)) ms"
D1=$(cat "$NYD_OUT")
case $D1 in sha256:????????????????????????????????????????????????????????????????) ;;
*) fail "convert printed '$D1', not a digest" ;; esac
skopeo --insecure-policy inspect $NOTLS "docker://$H/conv/img:v3" >"$T/inspect.json"
assert_eq "$(jq -r .Digest "$T/inspect.json")" "$D1" "skopeo inspect digest"
assert_eq "$(jq -r '.Os + "/" + .Architecture' "$T/inspect.json")" "linux/amd64" \
	"platform kept from the source config"
skopeo --insecure-policy inspect $NOTLS --raw "docker://$H/conv/img:v3" >"$T/raw.json"
assert_eq "sha256:$(sha256sum <"$T/raw.json" | cut -c1-64)" "$D1" "raw manifest digest"
fetch_converted "docker://$H/conv/img:v3" "$T/c1" --src-tls-verify=false
cmp -s "$T/raw.json" "$T/c1/manifest.json" || fail "skopeo copy changed the manifest"
check_manifest "$T/c1"
skopeo --insecure-policy inspect $NOTLS --config "docker://$H/conv/img:v3" |
	jq -S .config >"$T/cfg-new"
jq -S .config "$(_blob "$T/L" "$(jq -r '.config.digest' \
	"$(_blob "$T/L" "$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "v3") | .digest' "$T/L/index.json")")")")" >"$T/cfg-old"
cmp -s "$T/cfg-old" "$T/cfg-new" || fail "the source config's .config was not kept"
check_converted "$T/c1" "$REF"
# setuid bits and hard links survived
[ "$(stat -c %a "$T/c1/root/opt/app/ls-copy")" = 4750 ] || fail "setuid lost"
[ "$(stat -c %i "$T/c1/root/opt/app/data")" = "$(stat -c %i "$T/c1/root/opt/app/data-link")" ] ||
	fail "hard link lost"

# 2. registry -> registry
push_layout "$T/L:v3" src/img:v3
nyd_ok convert $NOTLS "docker://$H/src/img:v3" "docker://$H/conv2/img:v3"
assert_eq "$(cat "$NYD_OUT")" "$D1" "registry source: same manifest"

# 3. registry -> layout; skopeo copies of it
nyd_ok convert $NOTLS "docker://$H/src/img:v3" "oci:$T/out:nv3"
assert_eq "$(cat "$NYD_OUT")" "$D1" "layout destination: same manifest"
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$T/out:nv3" \
	"docker://$H/copied/img:v3"
skopeo --insecure-policy copy -q --src-tls-verify=false --dest-tls-verify=false \
	"docker://$H/conv/img:v3" "docker://$H/copied2/img:v3"
assert_eq "$(skopeo --insecure-policy inspect $NOTLS "docker://$H/copied2/img:v3" |
	jq -r .Digest)" "$D1" "skopeo copy between registries"

# 4. a second push: blobs there already, nothing uploaded
puts=$(reg_count PUT '/v2/conv/img/blobs/uploads/')
posts=$(reg_count POST '/v2/conv/img/blobs/uploads/')
assert_le 3 "$puts" "uploads of the first push"
nyd_ok convert -v $NOTLS "docker://$H/src/img:v3" "docker://$H/conv/img:v3"
assert_eq "$(cat "$NYD_OUT")" "$D1" "second push: same manifest"
assert_eq "$(reg_count PUT '/v2/conv/img/blobs/uploads/')" "$puts" "uploads on the second push"
assert_eq "$(reg_count POST '/v2/conv/img/blobs/uploads/')" "$posts" "upload sessions on the second push"
assert_grep '0 uploaded .* already there' "$NYD_ERR" "second push summary"
info "second push: $puts blob uploads before, none added"

# 5. chunked upload: PATCH pieces of 8 MiB
nyd_ok convert $NOTLS --upload-chunk 8M "oci:$T/L:v3" "docker://$H/chunked/img:v3"
assert_eq "$(cat "$NYD_OUT")" "$D1" "chunked upload: same manifest"
patches=$(reg_count PATCH '/v2/chunked/img/blobs/uploads/' 202)
assert_le 3 "$patches" "PATCH pieces"
fetch_converted "docker://$H/chunked/img:v3" "$T/c5" --src-tls-verify=false
cmp "$T/c1/bootstrap" "$T/c5/bootstrap" || fail "chunked upload: other bootstrap"
nyd_ok check --blob-dir "$T/c5/blobs" "$T/c5/bootstrap"
info "chunked upload: $patches PATCH pieces"

# 6. prefetch patterns
nyd_ok convert $NOTLS -p '/etc/*' -p usr/bin/bash -p '/usr/lib/x86_64-linux-gnu/libc.so*' \
	-p '/no/such/*' "oci:$T/L:v3" "oci:$T/pf:x"
assert_grep "prefetch pattern '/no/such/\*' matches nothing" "$NYD_ERR"
fetch_converted "oci:$T/pf:x" "$T/c6"
nyd_ok inspect --json --tree "$T/c6/bootstrap"
n=$(bsq "$T/c6/bootstrap" '.prefetch | length')
want=$(($(ls -A "$REF/etc" | wc -l) + 1 + $(ls "$REF"/usr/lib/x86_64-linux-gnu/libc.so* | wc -l)))
assert_eq "$n" "$want" "prefetch entries (/etc/*, bash, libc.so*)"
exit 0
