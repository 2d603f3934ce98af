#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# scripts/demo-guest.sh ENVFILE: the part of `make demo` (scripts/demo.sh)
# that runs where nydusfs.ko is loaded: inside the QEMU guest of
# tools/vm-run (busybox sh), or on the host itself when the host can load
# the module.  It is not meant to be run by hand.
#
# ENVFILE sets (shell assignments):
#   DEMO_WORK       a scratch directory (created; the caller removes it)
#   DEMO_REGISTRY   HOST:PORT of a running registry holding the images, or
#   DEMO_REGROOT    a docker-registry storage directory to serve (read
#                   only) on 127.0.0.1:5000 for the run
#   DEMO_REGLOG     the registry's access log (ignored with DEMO_REGROOT):
#                   bytes fetched are counted from it, the same way for
#                   both runs
#   DEMO_ORIG       REPO:TAG of the original image
#   DEMO_NYDUS      REPO:TAG of the converted (nydusfs) image
#   DEMO_CMD        the command, run as chroot ROOT /bin/sh -c "$DEMO_CMD"
#   DEMO_CACHE_SYNC "false" for a daemon cache on tmpfs
#   DEMO_TAR        GNU tar (default tar; busybox sh runs its own applets
#                   before PATH, so the guest names /usr/local/bin/tar)
#
# It runs, cold (empty daemon cache, fresh directories):
#   8. nydusfsd is started, then `nydusfs mount docker://REGISTRY/NYDUS
#      MNT` (by reference: manifest and bootstrap fetched at mount, file
#      data on first read) and DEMO_CMD inside MNT;
#   9. the plain path: `skopeo copy` of the original image (every layer,
#      digests verified), its layers applied in order with GNU tar (OCI
#      whiteouts honoured), and DEMO_CMD inside the tree.  tar is the
#      fastest unpacker at hand: in the guest `umoci raw unpack` took 3-4
#      times as long, which would flatter nydusfs.
# Times are taken from /proc/uptime (10 ms steps): from the start of the
# mount (or of the pull) to the command's first line of output.  Output,
# for scripts/demo.sh to read:
#   @step N TEXT          a progress step begins
#   @result KEY VALUE     a measurement
#   @out RUN LINE         the command's output (RUN: nydusfs or pull)
# Anything else is detail for the log.  Exit 0, or 1 with a message.
set -eu

if [ $# != 1 ] || [ ! -r "$1" ]; then
	echo "usage: demo-guest.sh ENVFILE" >&2
	exit 2
fi
# shellcheck disable=SC1090
. "$1"
W=$DEMO_WORK
TAR=${DEMO_TAR:-tar}
DIE_MSG=""
REG_PID=""
DAEMON_PID=""

say() { echo "demo-guest: $*" >&2; }
die() { DIE_MSG=$*; say "$*"; exit 1; }
now() { awk '{ print $1 }' /proc/uptime; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", b - a }'; }

cleanup()
{
	rc=$?
	set +e
	if [ "$rc" != 0 ]; then
		for f in "$W/nydusfsd.log" "${DEMO_REGROOT:+$W/registry.log}"; do
			[ -s "$f" ] || continue
			echo "---- the last lines of $f"
			tail -n 12 "$f"
		done >&2
		[ -z "$DIE_MSG" ] || say "$DIE_MSG"
	fi
	grep -q " $W/mnt " /proc/mounts 2>/dev/null && umount "$W/mnt"
	[ -z "$DAEMON_PID" ] || { kill "$DAEMON_PID"; wait "$DAEMON_PID"; } 2>/dev/null
	[ -z "$REG_PID" ] || { kill "$REG_PID"; wait "$REG_PID"; } 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_until()	# TRIES CMD...: poll every 0.1 s
{
	n=$1
	shift
	until "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

# busybox wget in the guest; curl on a host that may lack wget
registry_answers()
{
	if command -v wget >/dev/null; then
		wget -q -O /dev/null "http://$DEMO_REGISTRY/v2/"
	else
		curl -fsS -o /dev/null "http://$DEMO_REGISTRY/v2/"
	fi
}

# docker-registry on the guest's loopback, serving DEMO_REGROOT read-only.
start_registry()
{
	DEMO_REGISTRY=127.0.0.1:5000
	DEMO_REGLOG=$W/registry.log
	cat >"$W/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $DEMO_REGROOT}
  maintenance: {readonly: {enabled: true}, uploadpurging: {enabled: false}}
http: {addr: "$DEMO_REGISTRY"}
EOF
	docker-registry serve "$W/registry.yml" >"$DEMO_REGLOG" 2>&1 &
	REG_PID=$!
	wait_until 300 registry_answers || {
		cat "$DEMO_REGLOG" >&2
		die "docker-registry did not start on $DEMO_REGISTRY"
	}
}

# Bytes and requests the registry served since line $1 of its access log
# ("HOST - - [DATE] "GET PATH PROTO" STATUS BYTES ...").
reg_lines() { wc -l <"$DEMO_REGLOG"; }
reg_served()
{
	sleep 0.3	# the access log line is written after the response
	tail -n +$(($1 + 1)) "$DEMO_REGLOG" | awk '
		$2 == "-" && $6 ~ /^"(GET|HEAD)$/ && $10 ~ /^[0-9]+$/ { b += $10; n++ }
		END { printf "%d %d\n", b, n }'
}

start_daemon()
{
	export NYDUSFS_SOCKET="$W/nydusfsd.sock" NYDUSFS_CONFIG="$W/nydusfsd.conf"
	cat >"$NYDUSFS_CONFIG" <<EOF
[daemon]
socket = $NYDUSFS_SOCKET
state_dir = $W/state
log_level = info
[cache]
dir = $W/cache
sync = ${DEMO_CACHE_SYNC:-true}
EOF
	nydusfsd --config "$NYDUSFS_CONFIG" 2>"$W/nydusfsd.log" &
	DAEMON_PID=$!
	wait_until 100 nydusfs status || {
		cat "$W/nydusfsd.log" >&2
		die "nydusfsd did not come up"
	}
}

# Copy stdin to stdout; write the time of the first line to $1.
stamp_first()
{
	if IFS= read -r line || [ -n "$line" ]; then
		now >"$1"
		printf '%s\n' "$line"
		cat
	else
		now >"$1"
	fi
}

# run_cmd ROOT NAME: DEMO_CMD in ROOT; output in $W/NAME.out, the time of
# its first line in $W/NAME.t1.  Fails if the command does.
run_cmd()
{
	{ rc=0; chroot "$1" /bin/sh -c "$DEMO_CMD" 2>&1 || rc=$?; echo $rc >"$W/$2.rc"; } |
		stamp_first "$W/$2.t1" >"$W/$2.out"
	rc=$(cat "$W/$2.rc")
	sed 's/^/| /' "$W/$2.out" >&2
	[ "$rc" = 0 ] || die "the command exited $rc in $1 ($2): $(tail -n 3 "$W/$2.out")"
}

results()	# NAME T0 T_READY L0: the @result lines of one run
{
	set -- "$1" "$2" "$3" "$4" "$(cat "$W/$1.t1")" "$(reg_served "$4")"
	echo "@result $1_ready_s $(elapsed "$2" "$3")"
	echo "@result $1_first_output_s $(elapsed "$2" "$5")"
	echo "@result $1_fetched_bytes ${6% *}"
	echo "@result $1_requests ${6#* }"
	sed "s/^/@out $1 /" "$W/$1.out"
}

run_nydusfs()
{
	echo "@step 8 Mount docker://$DEMO_REGISTRY/$DEMO_NYDUS lazily, run the command"
	mkdir -p "$W/mnt"
	l0=$(reg_lines)
	t0=$(now)
	nydusfs mount --tls-verify=false "docker://$DEMO_REGISTRY/$DEMO_NYDUS" \
		"$W/mnt" || die "nydusfs mount docker://$DEMO_REGISTRY/$DEMO_NYDUS failed"
	t1=$(now)
	run_cmd "$W/mnt" nydusfs
	results nydusfs "$t0" "$t1" "$l0"
	nydusfs metrics | grep -E '^nydusfsd_(fetch|chunks)_[a-z_]*_total' >&2 || true
	nydusfs umount "$W/mnt"
}

# apply_whiteouts BLOB ROOT: the OCI whiteouts of layer BLOB, on the tree
# of the layers below it: .wh.NAME removes NAME, .wh..wh..opq empties its
# directory.  Only inside ROOT (no "..", no symlink leading out).
apply_whiteouts()
{
	top=$(readlink -f "$2")
	"$TAR" -tf "$1" | grep -E '(^|/)\.wh\.[^/]*$' | while IFS= read -r p; do
		p=${p#./}
		case /$p/ in */../*) continue ;; esac
		dir=$(readlink -f "$2/$(dirname "$p")") || continue
		case $dir in "$top" | "$top"/*) ;; *) continue ;; esac
		name=$(basename "$p")
		if [ "$name" = .wh..wh..opq ]; then
			find "$dir" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
		else
			rm -rf "${dir:?}/${name#.wh.}"
		fi
	done
}

# unpack_layers DIR ROOT: the layers of the image skopeo copied to DIR
# (dir: transport), in order, into ROOT.  tar detects the compression.
unpack_layers()
{
	mkdir -p "$2"
	first=1
	for d in $(jq -r '.layers[].digest' "$1/manifest.json"); do
		[ "$first" = 1 ] || apply_whiteouts "$1/${d#sha256:}" "$2"
		"$TAR" -xf "$1/${d#sha256:}" -C "$2" --exclude='.wh.*' || return 1
		first=0
	done
}

run_pull()
{
	echo "@step 9 Plain pull (skopeo copy) + unpack (tar) of the original, run the command"
	l0=$(reg_lines)
	t0=$(now)
	TMPDIR=$W skopeo --insecure-policy copy -q --src-tls-verify=false \
		"docker://$DEMO_REGISTRY/$DEMO_ORIG" "dir:$W/pull" >&2 ||
		die "skopeo copy of docker://$DEMO_REGISTRY/$DEMO_ORIG failed"
	tc=$(now)
	unpack_layers "$W/pull" "$W/rootfs" || die "unpacking the layers with tar failed"
	t1=$(now)
	echo "@result pull_copy_s $(elapsed "$t0" "$tc")"
	echo "@result pull_unpack_s $(elapsed "$tc" "$t1")"
	run_cmd "$W/rootfs" pull
	results pull "$t0" "$t1" "$l0"
	echo "@result pull_unpacked_kib $(du -sk "$W/rootfs" | cut -f1)"
}

mkdir -p "$W"
if [ -n "${DEMO_REGROOT:-}" ]; then
	start_registry
fi
registry_answers || die "no registry answers at http://$DEMO_REGISTRY/v2/"
start_daemon
if [ -n "${NYDUSFS_VM:-}" ]; then where=guest; else where=host; fi
echo "@result where $where $(uname -r)"
run_nydusfs
run_pull
if cmp -s "$W/nydusfs.out" "$W/pull.out"; then
	echo "@result same_output yes"
else
	echo "@result same_output no"
fi
