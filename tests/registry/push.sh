#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# push.sh: put test content into the registry started by registry.sh.
#
#   push.sh layout OCI_DIR[:TAG] REPO[:TAG] [SKOPEO ARGS...]
#       skopeo copy oci:OCI_DIR:TAG docker://$REGISTRY_HOST/REPO:TAG, with
#       the credentials and CA of the registry (TAGs default to latest).
#   push.sh blob [--chunked SIZE] REPO FILE
#       Upload FILE as a blob of REPO with the distribution upload flow
#       (POST -> 202 Location -> PUT ?digest=; --chunked: PATCH pieces of
#       SIZE bytes, then PUT), unless the registry already has it (HEAD).
#       Prints its digest, sha256:HEX.
#   push.sh nydus REPO OUTDIR
#       Upload a `nydusfs build` output: OUTDIR/bootstrap and every
#       OUTDIR/blobs/HEX (whose name must be its sha256).  Prints one line
#       "DIGEST SIZE PATH" per blob, the bootstrap first.
#   push.sh manifest REPO REF FILE [MEDIATYPE]
#       PUT FILE as the manifest REF (a tag or digest) of REPO (media type
#       default: its "mediaType" field, else the OCI manifest).  Prints the
#       digest.
#   push.sh token REPO [ACTIONS]
#       Print a bearer token for repository:REPO:ACTIONS (default pull),
#       fetched the way a client does (401 challenge -> realm).
#
# The registry comes from the environment registry.sh prints
# (REGISTRY_URL, REGISTRY_HOST, REGISTRY_MODE, REGISTRY_USER, REGISTRY_PASS,
# REGISTRY_CA, REGISTRY_CERT_DIR), or from $REGISTRY_DIR/env when
# REGISTRY_URL is unset.  REGISTRY_URL may be pointed at a faultproxy.
set -euo pipefail

die()
{
	echo "push.sh: $*" >&2
	exit 1
}

usage()
{
	sed -n '4,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2
	exit 2
}

if [ -z "${REGISTRY_URL:-}" ] && [ -n "${REGISTRY_DIR:-}" ]; then
	# shellcheck disable=SC1091
	. "$REGISTRY_DIR/env"
fi
[ -n "${REGISTRY_URL:-}" ] || die "no registry: set REGISTRY_URL (eval \"\$(registry.sh start)\")"
URL=${REGISTRY_URL%/}
MODE=${REGISTRY_MODE:-none}
CURL=(curl -sS --max-time 120 ${REGISTRY_CA:+--cacert "$REGISTRY_CA"})
AUTH=()

# challenge_param NAME HEADER: a parameter of a WWW-Authenticate header.
challenge_param()
{
	sed -n "s/.*[ ,]$1=\"\\([^\"]*\\)\".*/\\1/p" <<<" $2"
}

# token REPO ACTIONS: a bearer token, after the registry's own challenge.
get_token()
{
	local repo=$1 actions=$2 hdr realm service

	hdr=$("${CURL[@]}" -o /dev/null -D - "$URL/v2/" |
		tr -d '\r' | grep -i '^www-authenticate: *bearer' || true)
	[ -n "$hdr" ] || die "no Bearer challenge from $URL/v2/"
	realm=$(challenge_param realm "$hdr")
	service=$(challenge_param service "$hdr")
	"${CURL[@]}" -f -u "$REGISTRY_USER:${REGISTRY_PASS:-}" -G "$realm" \
		--data-urlencode "service=$service" \
		--data-urlencode "scope=repository:$repo:$actions" |
		jq -er '.token // .access_token'
}

set_auth()
{
	case $MODE in
	none) AUTH=() ;;
	basic) AUTH=(-u "$REGISTRY_USER:$REGISTRY_PASS") ;;
	token) AUTH=(-H "Authorization: Bearer $(get_token "$1" "$2")") ;;
	*) die "unknown REGISTRY_MODE '$MODE'" ;;
	esac
}

# absolute URL of a Location header
absolute()
{
	case $1 in
	http://* | https://*) echo "$1" ;;
	/*) echo "$URL$1" ;;
	*) die "odd Location '$1'" ;;
	esac
}

# req METHOD URL [CURL ARGS]: prints "STATUS LOCATION"; dies on 000.
req()
{
	local method=$1 url=$2 out

	shift 2
	out=$("${CURL[@]}" "${AUTH[@]}" -X "$method" -o /dev/null \
		-w '%{http_code} %header{location}' "$@" "$url") ||
		die "$method $url failed"
	echo "$out"
}

upload_blob()
{
	local repo=$1 file=$2 chunk=$3 digest size status loc off n

	digest=sha256:$(sha256sum "$file" | cut -c1-64)
	size=$(stat -c %s "$file")
	status=$("${CURL[@]}" "${AUTH[@]}" -o /dev/null -w '%{http_code}' -I \
		"$URL/v2/$repo/blobs/$digest")
	if [ "$status" = 200 ]; then
		echo "$digest"
		return 0
	fi
	read -r status loc < <(req POST "$URL/v2/$repo/blobs/uploads/" \
		-H "Content-Length: 0")
	[ "$status" = 202 ] || die "POST $repo/blobs/uploads/: HTTP $status"
	loc=$(absolute "$loc")
	if [ "$chunk" -gt 0 ]; then
		off=0
		while [ "$off" -lt "$size" ]; do
			n=$((size - off < chunk ? size - off : chunk))
			read -r status loc < <(dd if="$file" bs=64K \
				iflag=skip_bytes,count_bytes skip="$off" \
				count="$n" status=none | req PATCH "$loc" \
				-H "Content-Type: application/octet-stream" \
				-H "Content-Range: $off-$((off + n - 1))" \
				--data-binary @-)
			[ "$status" = 202 ] || die "PATCH at $off: HTTP $status"
			loc=$(absolute "$loc")
			off=$((off + n))
		done
		set -- -H "Content-Length: 0"
	else
		set -- -H "Content-Type: application/octet-stream" \
			--data-binary "@$file"
	fi
	case $loc in *\?*) loc="$loc&" ;; *) loc="$loc?" ;; esac
	read -r status _ < <(req PUT "${loc}digest=$digest" "$@")
	[ "$status" = 201 ] || die "PUT $repo blob $digest: HTTP $status"
	echo "$digest"
}

cmd_blob()
{
	local chunk=0

	if [ "${1:-}" = --chunked ]; then
		chunk=$2
		shift 2
	fi
	[ $# = 2 ] || usage
	[ -f "$2" ] || die "no file $2"
	set_auth "$1" pull,push
	upload_blob "$1" "$2" "$chunk"
}

cmd_nydus()
{
	local repo=$1 out=$2 f hex d

	[ $# = 2 ] || usage
	[ -f "$out/bootstrap" ] || die "no $out/bootstrap"
	set_auth "$repo" pull,push
	d=$(upload_blob "$repo" "$out/bootstrap" 0)
	echo "$d $(stat -c %s "$out/bootstrap") $out/bootstrap"
	for f in "$out"/blobs/*; do
		[ -f "$f" ] || continue
		hex=$(basename "$f")
		d=$(upload_blob "$repo" "$f" 0)
		[ "$d" = "sha256:$hex" ] || die "$f is not named by its sha256"
		echo "$d $(stat -c %s "$f") $f"
	done
}

cmd_manifest()
{
	local repo=$1 ref=$2 file=$3 mt=${4:-} status

	[ $# -ge 3 ] || usage
	[ -n "$mt" ] || mt=$(jq -r '.mediaType // empty' "$file")
	[ -n "$mt" ] || mt=application/vnd.oci.image.manifest.v1+json
	set_auth "$repo" pull,push
	read -r status _ < <(req PUT "$URL/v2/$repo/manifests/$ref" \
		-H "Content-Type: $mt" --data-binary "@$file")
	[ "$status" = 201 ] || die "PUT manifest $repo:$ref: HTTP $status"
	echo "sha256:$(sha256sum "$file" | cut -c1-64)"
}

cmd_layout()
{
	local src=$1 dst=$2
	local -a args=(--insecure-policy copy -q)

	shift 2
	case $src in oci:*) src=${src#oci:} ;; esac
	case $src in *:*) ;; *) src=$src:latest ;; esac
	case $dst in *:*) ;; *) dst=$dst:latest ;; esac
	case $URL in
	http://*) args+=(--dest-tls-verify=false) ;;
	https://*) args+=(--dest-cert-dir "$REGISTRY_CERT_DIR") ;;
	esac
	[ "$MODE" = none ] ||
		args+=(--dest-creds "$REGISTRY_USER:$REGISTRY_PASS")
	skopeo "${args[@]}" "$@" "oci:$src" "docker://${URL#*://}/$dst"
}

case ${1:-} in
layout) shift; [ $# -ge 2 ] || usage; cmd_layout "$@" ;;
blob) shift; cmd_blob "$@" ;;
nydus) shift; cmd_nydus "$@" ;;
manifest) shift; cmd_manifest "$@" ;;
token) shift; [ $# -ge 1 ] || usage; get_token "$1" "${2:-pull}" ;;
*) usage ;;
esac
