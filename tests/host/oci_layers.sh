#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: OCI layers are flattened exactly as `umoci unpack` does it.  A
# three-layer image is made with umoci (files added, modified, deleted, a
# directory deleted, an opaque directory), its layer tarballs are checked
# to really hold `.wh.NAME` and `.wh..wh..opq` entries, then
#   1. build oci:LAYOUT:TAG             -> unpack == umoci unpack rootfs/
#   2. build layer blobs as SOURCE...   -> unpack == the same, and the
#      bootstrap is byte-identical to 1 (same tree, same bytes)
#   3. the layers uncompressed (plain tar) as SOURCE... -> the same
#   4. the image re-compressed with zstd layers by skopeo -> the same
# timeout: 300
. "$(dirname "$0")/../lib.sh"
require umoci skopeo jq python3 zstd
require_nydusfs

L=$T/layout
B=$T/bundle
cd "$T" || fail "cd $T"

umoci init --layout "$L"
umoci new --image "$L:base"
umoci unpack --image "$L:base" "$B"
R=$B/rootfs

# layer 1: a little tree
mkdir -p "$R"/etc "$R"/usr/bin "$R"/gone/sub "$R"/opq/old "$R"/keep
printf 'v1\n' >"$R/etc/config"
printf 'delete me\n' >"$R/etc/delete-me"
head -c 2000000 /dev/urandom >"$R/usr/bin/tool"
printf 'in a dir to delete\n' >"$R/gone/sub/file"
printf 'old\n' >"$R/opq/old/file"
printf 'old top\n' >"$R/opq/top"
printf 'kept\n' >"$R/keep/file"
ln -s ../etc/config "$R/keep/link"
ln "$R/keep/file" "$R/keep/hardlink"
chmod 4755 "$R/usr/bin/tool"
setfattr -n user.layer -v one "$R/etc/config"
umoci repack --refresh-bundle --image "$L:v1" "$B"

# layer 2: modify, add, delete a file, delete a directory
printf 'v2\n' >"$R/etc/config"
printf 'new\n' >"$R/etc/added"
rm "$R/etc/delete-me"
rm -rf "$R/gone"
chown 1000:1000 "$R/keep/file"
umoci repack --refresh-bundle --image "$L:v2" "$B"

# layer 3 (python tarfile): an opaque directory, plus a whiteout of a
# file from layer 1, added verbatim with `umoci raw add-layer`
python3 - "$T/layer3.tar" <<'PY'
import io, sys, tarfile
def add(tf, name, data=None, typ=tarfile.REGTYPE, mode=0o644, link=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime, ti.linkname = typ, mode, 1700000000, link
    if data is not None:
        ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data) if data is not None else None)
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as tf:
    add(tf, "opq", typ=tarfile.DIRTYPE, mode=0o750)
    add(tf, "opq/.wh..wh..opq", b"")
    add(tf, "opq/new", b"new content after opaque\n")
    add(tf, "keep/.wh.hardlink", b"")
PY
umoci raw add-layer --image "$L:v2" --tag v3 "$T/layer3.tar"

# the reference: what umoci unpacks
umoci unpack --image "$L:v3" "$T/ref"
REF=$T/ref/rootfs
[ ! -e "$REF/gone" ] && [ ! -e "$REF/etc/delete-me" ] &&
	[ ! -e "$REF/opq/old" ] && [ ! -e "$REF/opq/top" ] &&
	[ -f "$REF/opq/new" ] && [ ! -e "$REF/keep/hardlink" ] ||
	fail "umoci's own unpack is not what this test expects"

# the layer blobs of a tag, in order
layers_of()
{
	local layout=$1 tag=$2 m

	m=$(jq -r --arg t "$tag" '.manifests[] |
		select(.annotations["org.opencontainers.image.ref.name"] == $t) |
		.digest' "$layout/index.json")
	[ -n "$m" ] || fail "no tag $tag in $layout"
	jq -r '.layers[].digest' "$layout/blobs/sha256/${m#sha256:}" |
		sed "s|^sha256:|$layout/blobs/sha256/|"
}
mapfile -t layers < <(layers_of "$L" v3)
assert_eq "${#layers[@]}" 3 "layer count"

# the whiteouts are really in the layers
for l in "${layers[@]}"; do
	tar -tzf "$l" 2>/dev/null || tar -tf "$l"
done >"$T/members"
grep -q '/\.wh\.delete-me$\|^etc/\.wh\.delete-me$' "$T/members" ||
	fail "layer 2 has no .wh.delete-me"
grep -q '\(^\|/\)\.wh\.gone$' "$T/members" || fail "layer 2 has no .wh.gone"
grep -q '\(^\|/\)opq/\.wh\.\.wh\.\.opq$' "$T/members" ||
	fail "layer 3 has no .wh..wh..opq"

# 1. oci:LAYOUT:TAG
build_ok "$T/o1" "oci:$L:v3"
check_ok "$T/o1"
nyd_ok unpack "$T/o1/bootstrap" "$T/u1"
assert_same_tree "$REF" "$T/u1" --no-root-attrs

# 2. the layer blobs as SOURCE..., in order
build_ok "$T/o2" "${layers[@]}"
check_ok "$T/o2"
nyd_ok unpack "$T/o2/bootstrap" "$T/u2"
assert_same_tree "$REF" "$T/u2" --no-root-attrs
cmp "$T/o1/bootstrap" "$T/o2/bootstrap" ||
	fail "oci: and the same layers as tarballs give different bootstraps"

# 3. uncompressed tar layers (format detected by content, not by name)
plain=()
for i in "${!layers[@]}"; do
	if gzip -t "${layers[$i]}" 2>/dev/null; then
		gzip -dc "${layers[$i]}" >"$T/plain$i"
	else
		cp "${layers[$i]}" "$T/plain$i"
	fi
	plain+=("$T/plain$i")
done
build_ok "$T/o3" "${plain[@]}"
nyd_ok unpack "$T/o3/bootstrap" "$T/u3"
assert_same_tree "$REF" "$T/u3" --no-root-attrs

# 4. zstd layers, re-compressed by skopeo (oci: to oci:)
skopeo copy -q --dest-compress-format zstd "oci:$L:v3" "oci:$T/zlayout:v3"
mapfile -t zlayers < <(layers_of "$T/zlayout" v3)
nz=0
for l in "${zlayers[@]}"; do
	[ "$(head -c 4 "$l" | od -An -tx1 | tr -d ' ')" = 28b52ffd ] &&
		nz=$((nz + 1))
done
assert_eq "$nz" 3 "zstd layers written by skopeo"
build_ok "$T/o4" "oci:$T/zlayout:v3"
check_ok "$T/o4"
nyd_ok unpack "$T/o4/bootstrap" "$T/u4"
assert_same_tree "$REF" "$T/u4" --no-root-attrs
