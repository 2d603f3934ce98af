# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers for the `nydusfs convert` tests (tests/host/convert_*.sh), sourced
# after tests/lib.sh:
#
#   . "$(dirname "$0")/../lib.sh"
#   . "$(dirname "$0")/../convert_lib.sh"
#
# reg_start NAME [registry.sh start ARGS]   a registry in $T/NAME, its
#                                           variables in this shell; all
#                                           are stopped on exit
# reg_proxy [registry.sh proxy ARGS]        a fault proxy (FAULTPROXY_*)
# mk_small_image LAYOUT                     tags v1, v2: a few files
# mk_minbase_image LAYOUT                   tags v1 (Debian minbase), v2
#                                           (changes, whiteouts), v3 (an
#                                           opaque directory)
# add_platform_index LAYOUT TAG NEWTAG      an index of TAG for arm64/v8
#                                           and s390x
# fetch_converted REF DIR [SKOPEO ARGS]     skopeo copy REF to DIR/layout,
#                                           then DIR/bootstrap + DIR/blobs/
#                                           from it, checked
# check_converted DIR REFTREE               check --blob-dir, unpack, and
#                                           compare with REFTREE
# reg_count METHOD PATH_REGEX               requests by nydusfs in the
#                                           registry's access log

CONVERT_REG=$TOP/tests/registry
_REG_DIRS=()

_reg_stop_all()
{
	local d

	for d in "${_REG_DIRS[@]}"; do
		"$CONVERT_REG/registry.sh" stop "$d" >/dev/null 2>&1
	done
}
# shellcheck disable=SC2154
trap 'rc=$?; trap - ERR; set +e; _reg_stop_all; (exit $rc); _cleanup' EXIT

reg_start()
{
	local name=$1 env

	shift
	unset REGISTRY_CA REGISTRY_CERT_DIR REGISTRY_USER REGISTRY_PASS \
		REGISTRY_DOCKER_CONFIG TOKEN_URL TOKEND_PID
	env=$("$CONVERT_REG/registry.sh" start --dir "$T/$name" --owner $$ "$@")
	eval "$env"
	_REG_DIRS+=("$T/$name")
	info "registry $name: $REGISTRY_URL (${REGISTRY_MODE})"
}

reg_proxy()
{
	local env

	env=$("$CONVERT_REG/registry.sh" proxy --owner $$ "$@")
	eval "$env"
}

# push_layout LAYOUT:TAG REPO:TAG: skopeo, with the registry's creds/CA
push_layout()
{
	"$CONVERT_REG/push.sh" layout "$@" >/dev/null
}

# reg_count METHOD PATH_REGEX [STATUS]: nydusfs's requests in the access log
reg_count()
{
	local status=${3:-[0-9]+}

	grep -cE "\"$1 $2[^\"]* HTTP/[0-9.]+\" $status .*\"nydusfs/1\"" \
		"$REGISTRY_LOGFILE" || true
}

# proxy_count METHOD PATH_REGEX: requests the fault proxy saw
proxy_count()
{
	curl -sS "$FAULTPROXY_URL/_stats" |
		jq --arg m "$1" --arg p "$2" \
			'[.log[] | select(.method == $m and (.path | test($p)))] | length'
}

# ref_daemon_setup: for a test of nydusfsd with `nydusfs mount REF` on
# the host: the daemon's tools, the harness (stopping the registries),
# $T as the working directory, a private HOME and control socket, and no
# registry credentials from the environment
ref_daemon_setup()
{
	require_daemon_tools
	require_nydusfs
	daemon_harness _reg_stop_all
	cd "$T" || fail "cd $T"
	export HOME=$T/home NYDUSFS_SOCKET=$T/ctl.sock
	unset DOCKER_CONFIG REGISTRY_AUTH_FILE XDG_RUNTIME_DIR
}

# ---- images ----

mk_small_image()
{
	local l=$1 b=$T/.small-bundle

	umoci init --layout "$l"
	umoci new --image "$l:base"
	umoci unpack --image "$l:base" "$b" >/dev/null
	mkdir -p "$b/rootfs/etc" "$b/rootfs/usr/bin" "$b/rootfs/gone"
	printf 'v1\n' >"$b/rootfs/etc/config"
	head -c 3000000 /dev/urandom >"$b/rootfs/usr/bin/big"
	printf 'bye\n' >"$b/rootfs/gone/file"
	ln -s ../etc/config "$b/rootfs/usr/bin/link"
	umoci repack --refresh-bundle --image "$l:v1" "$b"
	printf 'v2\n' >"$b/rootfs/etc/config"
	rm -rf "$b/rootfs/gone"
	head -c 500000 /dev/urandom >"$b/rootfs/usr/bin/new"
	umoci repack --refresh-bundle --image "$l:v2" "$b"
	rm -rf "$b"
}

mk_minbase_image()
{
	local l=$1 b=$T/.minbase-bundle rootfs

	rootfs=$("$TOP/scripts/get-rootfs.sh") || skip "no minbase tree"
	umoci init --layout "$l"
	umoci new --image "$l:base"
	umoci unpack --image "$l:base" "$b" >/dev/null
	cp -a "$rootfs/." "$b/rootfs/"
	umoci repack --refresh-bundle --image "$l:v1" "$b"
	# layer 2: modify, add, delete files and directories (whiteouts)
	printf 'PRETTY_NAME="nydusfs test v2"\n' >>"$b/rootfs/etc/os-release"
	rm -rf "$b/rootfs/usr/share/doc" "$b/rootfs/usr/share/info"
	rm -f "$b/rootfs/etc/motd" "$b/rootfs/usr/bin/tail"
	mkdir -p "$b/rootfs/opt/app"
	head -c 2000000 /dev/urandom >"$b/rootfs/opt/app/data"
	cp "$b/rootfs/usr/bin/ls" "$b/rootfs/opt/app/ls-copy"
	ln "$b/rootfs/opt/app/data" "$b/rootfs/opt/app/data-link"
	chmod 4750 "$b/rootfs/opt/app/ls-copy"
	umoci repack --refresh-bundle --image "$l:v2" "$b"
	# layer 3: an opaque directory and a whiteout, written verbatim
	python3 - "$T/.layer3.tar" <<'PY'
import io, sys, tarfile
def add(tf, name, data=None, typ=tarfile.REGTYPE, mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime = typ, mode, 1700000000
    if data is not None:
        ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data) if data is not None else None)
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as tf:
    add(tf, "etc/apt", typ=tarfile.DIRTYPE, mode=0o755)
    add(tf, "etc/apt/.wh..wh..opq", b"")
    add(tf, "etc/apt/sources.list", b"deb http://example.invalid/ x main\n")
    add(tf, "usr/bin/.wh.head", b"")
PY
	umoci raw add-layer --image "$l:v2" --tag v3 "$T/.layer3.tar"
	rm -rf "$b" "$T/.layer3.tar"
}

# add_platform_index LAYOUT TAG NEWTAG: an image index tagged NEWTAG whose
# two entries, linux/arm64/v8 and linux/s390x, are both the image TAG
add_platform_index()
{
	python3 - "$1" "$2" "$3" <<'EOF'
import hashlib, json, os, sys
lay, tag, new = sys.argv[1:]
idx = json.load(open(os.path.join(lay, "index.json")))
m = [d for d in idx["manifests"]
     if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
def entry(os_, arch, variant=None):
    p = {"os": os_, "architecture": arch}
    if variant:
        p["variant"] = variant
    return {"mediaType": m["mediaType"], "digest": m["digest"],
            "size": m["size"], "platform": p}
body = json.dumps({"schemaVersion": 2,
                   "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": [entry("linux", "arm64", "v8"),
                                 entry("linux", "s390x")]}).encode()
d = hashlib.sha256(body).hexdigest()
open(os.path.join(lay, "blobs", "sha256", d), "wb").write(body)
idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
                         "digest": "sha256:" + d, "size": len(body),
                         "annotations": {"org.opencontainers.image.ref.name": new}})
json.dump(idx, open(os.path.join(lay, "index.json"), "w"))
EOF
}

# umoci_ref LAYOUT:TAG DIR: what umoci unpacks, the reference tree
umoci_ref()
{
	umoci unpack --image "$1" "$2" >/dev/null
}

# ---- reading a converted image back ----

# The blob path of DIGEST in LAYOUT.
_blob()
{
	echo "$1/blobs/sha256/${2#sha256:}"
}

# fetch_converted REF DIR [SKOPEO ARGS]: skopeo copy REF into DIR/layout
# (skopeo checks every digest), then DIR/manifest.json, DIR/config.json,
# DIR/bootstrap (checked against its annotation) and DIR/blobs/HEX.
fetch_converted()
{
	local ref=$1 dir=$2 m bl want got d

	shift 2
	mkdir -p "$dir/blobs"
	skopeo --insecure-policy copy -q "$@" "$ref" "oci:$dir/layout:x"
	m=$(jq -r '.manifests[0].digest' "$dir/layout/index.json")
	cp "$(_blob "$dir/layout" "$m")" "$dir/manifest.json"
	cp "$(_blob "$dir/layout" "$(jq -r .config.digest "$dir/manifest.json")")" \
		"$dir/config.json"
	bl=$(jq -r '[.layers[] | select(.annotations["containerd.io/snapshot/nydus-bootstrap"] == "true")] | last | .digest' \
		"$dir/manifest.json")
	[ "$bl" != null ] || fail "$ref: no bootstrap layer"
	tar -xzf "$(_blob "$dir/layout" "$bl")" -C "$dir" image/image.boot
	mv "$dir/image/image.boot" "$dir/bootstrap"
	rmdir "$dir/image"
	want=$(jq -r --arg d "$bl" '.layers[] | select(.digest == $d) |
		.annotations["org.nydusfs.bootstrap.digest"]' "$dir/manifest.json")
	got=sha256:$(sha256sum "$dir/bootstrap" | cut -c1-64)
	assert_eq "$got" "$want" "bootstrap digest annotation"
	for d in $(jq -r '.layers[] | select(.mediaType == "application/vnd.oci.image.layer.nydus.blob.v1") | .digest' \
		"$dir/manifest.json"); do
		ln "$(_blob "$dir/layout" "$d")" "$dir/blobs/${d#sha256:}"
	done
}

# check_manifest DIR: the manifest and config follow the conventions
check_manifest()
{
	local dir=$1 n nb i d diff

	jq -e '.schemaVersion == 2 and
		.mediaType == "application/vnd.oci.image.manifest.v1+json" and
		.config.mediaType == "application/vnd.oci.image.config.v1+json"' \
		"$dir/manifest.json" >/dev/null || fail "manifest fields"
	n=$(jq '.layers | length' "$dir/manifest.json")
	nb=$(jq '[.layers[] | select(.mediaType == "application/vnd.oci.image.layer.nydus.blob.v1" and
		.annotations["containerd.io/snapshot/nydus-blob"] == "true")] | length' "$dir/manifest.json")
	assert_eq "$nb" $((n - 1)) "nydus blob layers (all but the bootstrap)"
	jq -e '.layers[-1].mediaType == "application/vnd.oci.image.layer.v1.tar+gzip" and
		.layers[-1].annotations["containerd.io/snapshot/nydus-bootstrap"] == "true"' \
		"$dir/manifest.json" >/dev/null || fail "bootstrap layer last"
	assert_eq "$(jq '.rootfs.diff_ids | length' "$dir/config.json")" "$n" "diff_ids"
	for ((i = 0; i < n; i++)); do
		d=$(jq -r ".layers[$i].digest" "$dir/manifest.json")
		diff=$(jq -r ".rootfs.diff_ids[$i]" "$dir/config.json")
		if [ "$i" -lt $((n - 1)) ]; then
			assert_eq "$diff" "$d" "diff_id of blob layer $i"
		else
			assert_eq "$diff" "sha256:$(gzip -dc "$(_blob "$dir/layout" "$d")" |
				sha256sum | cut -c1-64)" "diff_id of the bootstrap layer"
		fi
	done
	assert_eq "$(jq '[.history[] | select(.empty_layer != true)] | length' \
		"$dir/config.json")" "$n" "history entries with layers"
	# the bootstrap's blob table is the list of blob layers, in order
	assert_eq "$(bsq "$dir/bootstrap" '[.blobs[].digest] | join(" ")')" \
		"$(jq -r '[.layers[:-1][].digest | ltrimstr("sha256:")] | join(" ")' \
			"$dir/manifest.json")" "blob table == blob layers"
}

# check_converted DIR REFTREE: every chunk verified, unpacked, compared
check_converted()
{
	nyd_ok check --blob-dir "$1/blobs" "$1/bootstrap"
	nyd_ok unpack --blob-dir "$1/blobs" "$1/bootstrap" "$1/root"
	assert_same_tree "$2" "$1/root" --no-root-attrs
}
