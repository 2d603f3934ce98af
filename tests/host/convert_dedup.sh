#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: a new version of an image converted with the earlier one as
# chunk dictionary (--chunk-dict REF) pushes only its new chunks.
#   1. v1 (Debian minbase) -> conv/a:v1
#   2. v2 (v1 plus a layer of changes) with --chunk-dict docker://.../a:v1
#      -> conv/b:v2: the dictionary's blob is mounted across repositories
#      (POST ?mount= answered 201, no upload), the new blob holds exactly
#      the chunks of v2 that v1 lacks, and only it, the bootstrap layer and
#      the config are uploaded; the image reads back complete
#   3. the same into conv/a (the dictionary's own repository): the blob is
#      found by HEAD, nothing mounted; v1 with itself as dictionary: no
#      new blob at all
#   4. a dictionary in an OCI layout and a registry destination, and the
#      reverse: the dictionary's blob is copied over
#   5. a dictionary that is not a nydusfs image is refused
# timeout: 600
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../convert_lib.sh"
require umoci skopeo jq python3 docker-registry curl
require_nydusfs

# blob_chunks BOOTSTRAP INDEX: the chunk digests of blob INDEX, one a line
blob_chunks()
{
	python3 - "$1" "$2" <<'EOF'
import struct, sys
b = open(sys.argv[1], "rb").read()
def region(i):
    off, size = struct.unpack_from("<QQ", b, 40 + 16 * i)
    return b[off:off + size]
blobs, chunks = region(4), region(5)
_, _, _, ci, cc = struct.unpack_from("<32sQQII", blobs, 64 * int(sys.argv[2]))
for i in range(ci, ci + cc):
    print(chunks[64 * i + 32:64 * i + 64].hex())
EOF
}

# all_chunks BOOTSTRAP: every chunk digest of every blob
all_chunks()
{
	local i n

	n=$(bsq "$1" '.blobs | length')
	for ((i = 0; i < n; i++)); do
		blob_chunks "$1" "$i"
	done | sort -u
}

cd "$T"
mk_minbase_image "$T/L"
umoci_ref "$T/L:v2" "$T/ref2"
reg_start plain
H=$REGISTRY_HOST
NOTLS=--tls-verify=false

# 1. the first version
nyd_ok convert $NOTLS "oci:$T/L:v1" "docker://$H/conv/a:v1"
fetch_converted "docker://$H/conv/a:v1" "$T/c1" --src-tls-verify=false
assert_eq "$(bsq "$T/c1/bootstrap" '.blobs | length')" 1 "v1: one blob"
V1_BLOB=sha256:$(bsq "$T/c1/bootstrap" '.blobs[0].digest')
V1_SIZE=$(bsq "$T/c1/bootstrap" '.blobs[0].compressed_size')

# v2 alone, for the expected set of new chunks
nyd_ok convert $NOTLS "oci:$T/L:v2" "oci:$T/alone:v2"
fetch_converted "oci:$T/alone:v2" "$T/alone"
all_chunks "$T/c1/bootstrap" >"$T/v1.chunks"
all_chunks "$T/alone/bootstrap" >"$T/v2.chunks"
comm -13 "$T/v1.chunks" "$T/v2.chunks" >"$T/new.chunks"
ALONE_SIZE=$(bsq "$T/alone/bootstrap" '.blobs[0].compressed_size')
[ -s "$T/new.chunks" ] || fail "v2 has no chunks of its own"

# 2. v2 with v1 as dictionary, into another repository
t0=$(date +%s%N)
nyd_ok convert -v $NOTLS --chunk-dict "docker://$H/conv/a:v1" "oci:$T/L:v2" \
	"docker://$H/conv/b:v2"
info "convert with a dictionary: $((($(date +%s%N) - t0) / 1000000)) ms"
assert_eq "$(reg_count POST "/v2/conv/b/blobs/uploads/\\?mount=$V1_BLOB&from=conv/a" 201)" 1 \
	"the dictionary blob mounted"
assert_eq "$(reg_count PUT '/v2/conv/b/blobs/uploads/' 201)" 3 \
	"uploads: the new blob, the bootstrap layer, the config"
assert_grep '3 uploaded .* 1 mounted' "$NYD_ERR" "push summary"
fetch_converted "docker://$H/conv/b:v2" "$T/c2" --src-tls-verify=false
check_manifest "$T/c2"
assert_eq "$(bsq "$T/c2/bootstrap" '.blobs | length')" 2 "v2: dictionary blob + new blob"
assert_eq "sha256:$(bsq "$T/c2/bootstrap" '.blobs[0].digest')" "$V1_BLOB" \
	"blob 0 is the dictionary's"
blob_chunks "$T/c2/bootstrap" 1 | sort -u >"$T/pushed.chunks"
cmp -s "$T/pushed.chunks" "$T/new.chunks" ||
	fail "the new blob is not exactly v2's new chunks: $(diff "$T/new.chunks" "$T/pushed.chunks" | head -5)"
NEW_SIZE=$(bsq "$T/c2/bootstrap" '.blobs[1].compressed_size')
assert_le $((NEW_SIZE * 5)) "$ALONE_SIZE" "new blob well under the whole v2 blob"
info "v1 blob $V1_SIZE bytes; v2 alone $ALONE_SIZE; v2 new chunks $(wc -l <"$T/new.chunks") in $NEW_SIZE bytes"
check_converted "$T/c2" "$T/ref2/rootfs"

# 3. into the dictionary's own repository: HEAD finds the blob
nyd_ok convert -v $NOTLS --chunk-dict "docker://$H/conv/a:v1" "oci:$T/L:v2" \
	"docker://$H/conv/a:v2"
assert_eq "$(reg_count POST '/v2/conv/a/blobs/uploads/\?mount=' 201)" 0 "no mount needed"
assert_grep '3 uploaded .* 0 mounted, 1 already there' "$NYD_ERR" "push summary"

# every chunk in the dictionary: no new blob at all
nyd_ok convert -v $NOTLS --chunk-dict "docker://$H/conv/a:v1" "oci:$T/L:v1" \
	"docker://$H/conv/d:v1"
assert_grep '2 uploaded .* 1 mounted' "$NYD_ERR" "only the bootstrap layer and config uploaded"
fetch_converted "docker://$H/conv/d:v1" "$T/c3" --src-tls-verify=false
check_manifest "$T/c3"
assert_eq "$(jq -r '.layers[0].digest' "$T/c3/manifest.json")" "$V1_BLOB" \
	"the dictionary's blob is the only blob layer"
assert_eq "$(jq '.layers | length' "$T/c3/manifest.json")" 2 "layers"
nyd_ok check --blob-dir "$T/c3/blobs" "$T/c3/bootstrap"

# 4. a dictionary in a layout, a registry destination; and the reverse
nyd_ok convert "oci:$T/L:v1" "oci:$T/dict:v1"
nyd_ok convert -v $NOTLS --chunk-dict "oci:$T/dict:v1" "oci:$T/L:v2" \
	"docker://$H/conv/c:v2"
assert_eq "$(reg_count PUT '/v2/conv/c/blobs/uploads/' 201)" 4 \
	"the dictionary blob copied from the layout"
fetch_converted "docker://$H/conv/c:v2" "$T/c4" --src-tls-verify=false
check_converted "$T/c4" "$T/ref2/rootfs"
nyd_ok convert $NOTLS --chunk-dict "docker://$H/conv/a:v1" "oci:$T/L:v2" \
	"oci:$T/out:v2"
fetch_converted "oci:$T/out:v2" "$T/c5"
nyd_ok check --blob-dir "$T/c5/blobs" "$T/c5/bootstrap"
cmp "$T/c2/bootstrap" "$T/c5/bootstrap" || fail "same input, other bootstrap"

# 5. not a nydusfs image as dictionary
nyd_expect 1 convert --chunk-dict "oci:$T/L:v1" "oci:$T/L:v2" "oci:$T/bad:v2"
assert_grep 'not a nydusfs image' "$NYD_ERR"
exit 0
