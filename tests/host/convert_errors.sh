#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: `nydusfs convert` refuses what it must, with a clear message and
# exit 1 (2 for a bad command line), and then leaves no manifest behind:
#   - an image index without the platform asked for (layout and registry),
#     listing the platforms it has; --platform picks one; a single-platform
#     image that is not the one asked for;
#   - a corrupted source layer (digest mismatch) in a layout and in the
#     registry's storage; a layer whose content does not match the
#     config's diff_id;
#   - a missing tag; bad references; a digest as destination; a source
#     that is already a nydus image.
# timeout: 300
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../convert_lib.sh"
require umoci skopeo jq python3 docker-registry curl
require_nydusfs

cd "$T"
mk_small_image "$T/L"
reg_start plain
H=$REGISTRY_HOST
NOTLS=--tls-verify=false

# no_manifest REPO TAG: the registry has no such manifest
no_manifest()
{
	local code

	code=$(curl -s -o /dev/null -w '%{http_code}' \
		-H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"$REGISTRY_URL/v2/$1/manifests/$2")
	assert_eq "$code" 404 "manifest $1:$2 after a failed convert"
}

# ---- platforms ----
# an index with arm64 and s390x entries (both the v1 image), tagged multi
add_platform_index "$T/L" v1 multi
nyd_expect 1 convert "oci:$T/L:multi" "oci:$T/out:m"
assert_grep 'has no linux/amd64 image; it has: linux/arm64/v8, linux/s390x \(choose one with --platform' \
	"$NYD_ERR" "missing platform"
[ ! -e "$T/out/index.json" ] || fail "a failed convert wrote index.json"
nyd_ok convert --platform linux/arm64 "oci:$T/L:multi" "oci:$T/out:m"
nyd_ok convert --platform linux/s390x "oci:$T/L:multi" "oci:$T/out:s"
nyd_expect 1 convert --platform linux/arm64/v7 "oci:$T/L:multi" "oci:$T/out:x"
assert_grep 'no linux/arm64/v7 image' "$NYD_ERR"
nyd_expect 2 convert --platform linux "oci:$T/L:multi" "oci:$T/out:x"
# the same index in a registry
skopeo --insecure-policy copy -q --all --dest-tls-verify=false "oci:$T/L:multi" \
	"docker://$H/src/multi:1"
nyd_expect 1 convert $NOTLS "docker://$H/src/multi:1" "docker://$H/conv/multi:1"
assert_grep 'has no linux/amd64 image; it has: linux/arm64/v8, linux/s390x' "$NYD_ERR"
no_manifest conv/multi 1
nyd_ok convert $NOTLS --platform linux/s390x "docker://$H/src/multi:1" \
	"docker://$H/conv/multi:1"
# a single-platform (amd64) image is not arm64
nyd_expect 1 convert --platform linux/arm64 "oci:$T/L:v1" "oci:$T/out:x"
assert_grep 'single-platform linux/amd64 image, not linux/arm64' "$NYD_ERR"

# ---- corrupted layers ----
layer_of()		# LAYOUT TAG INDEX: the blob file of a layer
{
	local m

	m=$(jq -r --arg t "$2" '.manifests[] |
		select(.annotations["org.opencontainers.image.ref.name"] == $t) |
		.digest' "$1/index.json")
	jq -r ".layers[$3].digest" "$1/blobs/sha256/${m#sha256:}" |
		sed "s|^sha256:|$1/blobs/sha256/|"
}
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
cp -a "$T/L" "$T/bad"
flip "$(layer_of "$T/bad" v2 0)" 1000
nyd_expect 1 convert "oci:$T/bad:v2" "oci:$T/out:bad"
assert_grep 'digest mismatch' "$NYD_ERR" "corrupted layer in a layout"
assert_eq "$(jq '[.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "bad")] | length' \
	"$T/out/index.json")" 0 "no tag for a failed convert"
# in the registry's storage: it serves the corrupted bytes
push_layout "$T/L:v2" src/img:v2
l0=$(basename "$(layer_of "$T/L" v2 0)")
data=$REGISTRY_ROOT/docker/registry/v2/blobs/sha256/${l0:0:2}/$l0/data
[ -f "$data" ] || fail "no $data"
flip "$data" 2000
nyd_expect 1 convert $NOTLS "docker://$H/src/img:v2" "docker://$H/conv/img:v2"
assert_grep "blob sha256:$l0 of src/img: digest mismatch" "$NYD_ERR" "corrupted layer in a registry"
no_manifest conv/img v2
flip "$data" 2000
nyd_ok convert $NOTLS "docker://$H/src/img:v2" "docker://$H/conv/img:v2"
# a layer that matches its digest but not the config's diff_id
cp -a "$T/L" "$T/badid"
python3 - "$T/badid" <<'EOF'
import hashlib, json, os, sys
lay = sys.argv[1]
def blob(d):
    return os.path.join(lay, "blobs", "sha256", d.split(":")[1])
def put(obj):
    b = json.dumps(obj).encode()
    d = "sha256:" + hashlib.sha256(b).hexdigest()
    open(blob(d), "wb").write(b)
    return d, len(b)
idx = json.load(open(os.path.join(lay, "index.json")))
e = [d for d in idx["manifests"]
     if d["annotations"]["org.opencontainers.image.ref.name"] == "v2"][0]
man = json.load(open(blob(e["digest"])))
cfg = json.load(open(blob(man["config"]["digest"])))
cfg["rootfs"]["diff_ids"][0] = "sha256:" + "0" * 64
man["config"]["digest"], man["config"]["size"] = put(cfg)
e["digest"], e["size"] = put(man)
json.dump(idx, open(os.path.join(lay, "index.json"), "w"))
EOF
nyd_expect 1 convert "oci:$T/badid:v2" "oci:$T/out:badid"
assert_grep "the config's diff_id says sha256:0000" "$NYD_ERR" "diff_id mismatch"

# ---- references and tags ----
nyd_expect 1 convert $NOTLS "docker://$H/src/img:nope" "docker://$H/conv/img:x"
assert_grep 'HTTP 404 \(MANIFEST_UNKNOWN' "$NYD_ERR" "missing tag in a registry"
nyd_expect 1 convert "oci:$T/L:nope" "oci:$T/out:x"
assert_grep "no image tagged 'nope'" "$NYD_ERR" "missing tag in a layout"
nyd_expect 1 convert "docker://$H" "oci:$T/out:x"
assert_grep 'no repository name' "$NYD_ERR"
nyd_expect 1 convert "$H/src/img:v2" "oci:$T/out:x"
assert_grep 'no transport: write docker://' "$NYD_ERR"
nyd_expect 1 convert "docker-archive:/x.tar" "oci:$T/out:x"
assert_grep 'unknown transport' "$NYD_ERR"
nyd_expect 1 convert "oci:$T/L:v2" "docker://$H/conv/img@sha256:$(printf %064d 0)"
assert_grep 'name a tag, not a digest' "$NYD_ERR"
nyd_expect 1 convert "oci:$T/nonexistent:v2" "oci:$T/out:x"
assert_grep 'no readable index.json' "$NYD_ERR"
nyd_expect 2 convert "oci:$T/L:v2"
nyd_expect 2 convert --chunk-size 3K "oci:$T/L:v2" "oci:$T/out:x"
nyd_expect 2 convert --no-such-option "oci:$T/L:v2" "oci:$T/out:x"
# a converted image as source
nyd_ok convert "oci:$T/L:v2" "oci:$T/conv:v2"
nyd_expect 1 convert "oci:$T/conv:v2" "oci:$T/out:again"
assert_grep 'already a nydus image' "$NYD_ERR"
exit 0
