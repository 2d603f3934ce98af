#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/daemon/ref_e2e.sh: mount by reference, and running something from
# the image, end to end in one QEMU guest (tools/vm-run) with nydusfs.ko,
# nydusfsd and docker-registry inside the guest; tests/daemon/guest_ref.sh
# is the guest's part and lists the cases (mount by reference as a user
# types it, chroot, the startup profile of that chroot (nydusfs profile),
# bytes fetched, crun over an overlay, whole trees,
# mount -t nydusfs, a second image reusing the cache, umount).
#
# On the host: a Debian minbase OCI layout (v1) and a multi-layer umoci
# image on top of it with whiteouts and an opaque directory (v3, three
# layers), converted with `nydusfs convert` and pushed to a registry on
# 127.0.0.1 (v3 into another repository, with v1 as chunk dictionary, so
# the two share v1's blob); then the registry's storage, `umoci unpack`
# of both originals and an OCI runtime spec (`crun spec`, edited) go on
# the guest's disk, with minbase:badann (v1 whose bootstrap layer's
# annotation names another digest) and minbase:prof (v1 converted with a
# startup profile).  Exit 0 if every case passes, 77 if no
# guest can run.
# timeout: 600
export NYDUSFS=${NYDUSFS:-$(cd "$(dirname "$0")/../.." && pwd)/build/bin/nydusfs}
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../convert_lib.sh"

B=$TOP/build
[ -x "$B/bin/nydusfsd" ] && [ -x "$B/tests/treecmp" ] ||
	skip "build first (make programs)"
[ -e "$TOP/kernel/nydusfs.ko" ] || skip "no kernel/nydusfs.ko (make modules)"
require umoci skopeo jq python3 docker-registry curl crun mount readelf
require_nydusfs

D=$T/data
mkdir -p "$D"
t0=$SECONDS

# ---- the images, converted and pushed ----
mk_minbase_image "$T/L"
info "minbase layouts: $((SECONDS - t0)) s"
# what the guest compares with, while the images are converted
(
	for v in 1 3; do
		umoci unpack --image "$T/L:v$v" "$T/bundle$v" >/dev/null
		mv "$T/bundle$v/rootfs" "$D/ref$v"
		rm -rf "$T/bundle$v"
	done
) &
UNPACK=$!
reg_start reg
H=$REGISTRY_HOST
nyd_ok convert --tls-verify=false "oci:$T/L:v1" "docker://$H/minbase:v1"
nyd_ok convert --tls-verify=false --chunk-dict "docker://$H/minbase:v1" \
	"oci:$T/L:v3" "docker://$H/app:v3"
# minbase:prof, v1 with a startup profile: its chunks first in its own blob
cat >"$T/prof.list" <<'EOF'
/usr/bin/dash
/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
/usr/lib/x86_64-linux-gnu/libc.so.6
/usr/bin/md5sum
/usr/lib/os-release
EOF
nyd_ok convert --tls-verify=false --chunk-size 64K --prefetch-list "$T/prof.list" \
	"oci:$T/L:v1" "docker://$H/minbase:prof"
info "images converted and pushed: $((SECONDS - t0)) s"

# manifest REPO TAG: the converted image's manifest
manifest()
{
	curl -sSf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"$REGISTRY_URL/v2/$1/manifests/$2"
}
manifest minbase v1 >"$T/m1.json"
manifest app v3 >"$T/m3.json"
EARLY_BYTES=$(manifest minbase prof |
	jq -r '[.layers[].annotations["org.nydusfs.startup.bytes"] // empty][0] // 0')
[ "$EARLY_BYTES" -gt 0 ] || fail "minbase:prof has no org.nydusfs.startup.bytes"
blobs() { jq -r '.layers[] | select(.mediaType | endswith("nydus.blob.v1")) | "\(.digest) \(.size)"' "$1"; }
IMAGE_BYTES=$(blobs "$T/m1.json" | awk '{ s += $2 } END { print s }')
SHARED=$(join <(blobs "$T/m1.json" | sort) <(blobs "$T/m3.json" | sort) | wc -l)
NEW3_BYTES=$(join -v 2 <(blobs "$T/m1.json" | sort) <(blobs "$T/m3.json" | sort) |
	awk '{ s += $2 } END { print s + 0 }')
[ "$SHARED" -ge 1 ] || fail "app:v3 shares no blob with minbase:v1"
[ "$NEW3_BYTES" -gt 0 ] || fail "app:v3 has no blob of its own"
info "minbase:v1: $IMAGE_BYTES bytes of blobs; app:v3 shares $SHARED, adds $NEW3_BYTES bytes"
# minbase:badann, the same layers with a wrong bootstrap digest annotation:
# a real mount leaves that check to the kernel (-o digest=)
jq '(.layers[] | select(.annotations["org.nydusfs.bootstrap.digest"] != null)
	| .annotations["org.nydusfs.bootstrap.digest"]) = "sha256:" + ("0" * 64)' \
	"$T/m1.json" >"$T/badann.json"
"$CONVERT_REG/push.sh" manifest minbase badann "$T/badann.json" >/dev/null
"$CONVERT_REG/registry.sh" stop "$T/reg" >/dev/null
cp -a "$REGISTRY_ROOT" "$D/regroot"

wait $UNPACK || fail "umoci unpack failed"
info "unpacked: $((SECONDS - t0)) s"
readelf -l "$D/ref1/usr/bin/md5sum" | grep -q 'program interpreter' ||
	fail "the image's md5sum is not dynamically linked"
crun spec --bundle "$T"
# the container: pid 1 in its own namespaces, writes into the image
jq '.root = {path: "rootfs", readonly: false} |
	.process.terminal = false |
	.process.args = ["/bin/sh", "-c",
		"echo pid $$; echo from-crun >/root/crun.txt; cat /etc/os-release; /usr/bin/md5sum /etc/os-release"] |
	del(.linux.resources)' "$T/config.json" >"$D/config.json"
cat >"$D/env" <<EOF
IMAGE_BYTES=$IMAGE_BYTES
NEW3_BYTES=$NEW3_BYTES
EARLY_BYTES=$EARLY_BYTES
EOF
cp "$TOP/tests/daemon/guest_ref.sh" "$D/"
info "guest data ready: $((SECONDS - t0)) s, $(du -sm "$D" | cut -f1) MB"

"$TOP/tools/vm-run" --timeout 420 --mem 2G --smp 2 \
	--with docker-registry,crun,mount --disk "$D" -- \
	sh /mnt/disk0/guest_ref.sh /mnt/disk0
info "total $((SECONDS - t0)) s"
