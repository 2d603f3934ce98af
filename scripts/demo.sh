#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/demo.sh (`make demo`): nydusfs end to end in one command.
#
#   scripts/demo.sh [--image REF] [--cmd COMMAND] [--where auto|host|guest]
#                   [--keep]
#   make demo [IMAGE=REF] [CMD=COMMAND] [WHERE=auto|host|guest]
#
# As root on Debian 12, with nothing installed beforehand, it
#   1. installs the missing Debian packages (scripts/install-deps.sh);
#   2. builds nydusfs, nydusfsd and nydusfs.ko;
#   3. makes the sample image: a Debian 12 minbase tree (debootstrap,
#      cached by scripts/get-rootfs.sh) as a one-layer OCI image layout
#      (umoci) -- or takes REF: oci:DIR[:TAG] (an OCI image layout) or
#      docker://HOST[:PORT]/REPO[:TAG] (a registry; one on 127.0.0.1 or
#      localhost is read over plain HTTP);
#   4. starts docker-registry on 127.0.0.1 (tests/registry/registry.sh);
#   5. pushes the original image to it (skopeo copy) as demo/image:original;
#   6. converts it with `nydusfs convert` to demo/image:nydusfs;
#   7. goes where nydusfs.ko can run: this host, if its kernel can load
#      modules and its headers are installed (module built for it and
#      loaded), else a QEMU guest (tools/vm-run: the Debian 12 cloud kernel
#      under TCG) that gets the registry's storage on a disk and serves it
#      with docker-registry on its own loopback;
#   8. there (scripts/demo-guest.sh): mounts the converted image by
#      reference with nydusfsd and nydusfs.ko and runs COMMAND in it
#      (chroot MNT /bin/sh -c COMMAND; default: cat /etc/os-release);
#   9. pulls and unpacks the original image from the same registry the
#      plain way (skopeo copy, then GNU tar layer by layer) and runs
#      COMMAND there;
#  10. prints the command's output and a summary: image sizes, bytes the
#      registry served for each run, time to the command's first output,
#      and the ratios.
#
# Each step is one line on the terminal; the details go to the log,
# $DEMO_LOG (default build/demo.log).  Everything started is stopped and
# the scratch directory (under $TMPDIR, default /var/tmp) removed on exit,
# unless --keep.  A failed step ends the demo with exit 1, naming the step
# and the log.  --where forces the place (host fails if the module cannot
# be loaded here).
#
# Environment: DEMO_LOG; DEMO_VM_MEM (guest memory, default 2G: the
# pulled image, its unpacked tree and the daemon's cache are in guest RAM;
# the registry's storage is on a disk);
# DEMO_VM_TIMEOUT (seconds, default 1800); DEMO_SKIP_BUILD=1 skips steps
# 1 and 2 (for tests); NYDUSFS_CACHE (default /var/cache/nydusfs).
set -euo pipefail

TOP=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
NSTEPS=10
IMAGE=""
CMD="cat /etc/os-release"
WHERE=auto
KEEP=0
LOG=${DEMO_LOG:-$TOP/build/demo.log}
NYDUSFS=$TOP/build/bin/nydusfs
REPO=demo/image

WORK="" STEP=0 STEP_TITLE="" STEP_T0=0 RUN_PID="" LOADED_MODULE=0
WHY_GUEST=""

usage()
{
	sed -n '4,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&"${1:-2}"
	exit "${2:-2}"
}

# Errors found before any step starts (bad arguments, not root).
die_early()
{
	echo "nydusfs demo: $*" >&2
	exit 1
}

parse_args()
{
	while [ $# -gt 0 ]; do
		case $1 in
		--image) [ $# -ge 2 ] || usage; IMAGE=$2; shift ;;
		--image=*) IMAGE=${1#*=} ;;
		--cmd) [ $# -ge 2 ] || usage; CMD=$2; shift ;;
		--cmd=*) CMD=${1#*=} ;;
		--where) [ $# -ge 2 ] || usage; WHERE=$2; shift ;;
		--where=*) WHERE=${1#*=} ;;
		--keep) KEEP=1 ;;
		-h | --help) usage 1 0 ;;
		*) echo "nydusfs demo: unknown argument '$1'" >&2; usage ;;
		esac
		shift
	done
	case $WHERE in auto | host | guest) ;; *)
		die_early "--where must be auto, host or guest, not '$WHERE'" ;;
	esac
	[ -n "$CMD" ] || die_early "--cmd: the command is empty"
}

# The image named by the user must look usable before anything is
# installed or built: a typo should cost seconds, not minutes.
check_image_arg()
{
	local dir

	case $IMAGE in
	"") ;;
	oci:*)
		dir=${IMAGE#oci:}
		dir=${dir%%:*}
		[ -d "$dir" ] || die_early "IMAGE=$IMAGE: no directory $dir (an OCI image layout: oci:DIR[:TAG])"
		[ -f "$dir/index.json" ] && [ -f "$dir/oci-layout" ] ||
			die_early "IMAGE=$IMAGE: $dir is not an OCI image layout (no index.json or oci-layout; make one with skopeo copy ... oci:DIR:TAG)"
		;;
	docker://?*) ;;
	*) die_early "IMAGE=$IMAGE: not oci:DIR[:TAG] or docker://HOST[:PORT]/REPO[:TAG]" ;;
	esac
}

# ---- progress: one line per step, details in the log ----

begin_step()
{
	STEP=$1 STEP_TITLE=$2 STEP_T0=$SECONDS
	printf '[%d/%d] %s ... ' "$STEP" "$NSTEPS" "$STEP_TITLE"
	printf '\n==== [%d/%d] %s (%s)\n' "$STEP" "$NSTEPS" "$STEP_TITLE" \
		"$(date +%T)" >>"$LOG"
}

end_step()
{
	[ -n "$STEP_TITLE" ] || return 0
	printf 'ok (%d s)\n' $((SECONDS - STEP_T0))
	STEP_TITLE=""
}

# step N TITLE FUNC [ARGS...]: run FUNC with its output in the log.
step()
{
	begin_step "$1" "$2"
	shift 2
	"$@" >>"$LOG" 2>&1
	end_step
}

skip_step()
{
	printf '[%d/%d] %s ... skipped\n' "$1" "$NSTEPS" "$2"
}

on_exit()
{
	local rc=$?

	trap - EXIT INT TERM
	set +e
	if [ "$rc" != 0 ] && [ -n "$STEP_TITLE" ]; then
		printf 'FAILED\n'
		{
			echo
			if [ "$rc" = 130 ]; then
				echo "nydusfs demo: interrupted in step $STEP/$NSTEPS ($STEP_TITLE); cleaning up."
			else
				echo "nydusfs demo: step $STEP/$NSTEPS ($STEP_TITLE) failed (exit $rc)."
			fi
			echo "Last lines of the log:"
			tail -n 15 "$LOG" | cut -c1-200 | sed 's/^/  | /'
			echo "Full log: $LOG"
		} >&2
	elif [ "$rc" != 0 ]; then
		echo "nydusfs demo: failed (exit $rc); log: $LOG" >&2
	fi
	cleanup >>"$LOG" 2>&1
	exit "$rc"
}

cleanup()
{
	local m

	if [ -n "$RUN_PID" ] && kill -0 "$RUN_PID" 2>/dev/null; then
		kill -TERM "$RUN_PID"
		wait "$RUN_PID"
	fi
	[ -n "$WORK" ] || return 0
	if [ -d "$WORK/registry" ]; then
		"$TOP/tests/registry/registry.sh" stop "$WORK/registry"
	fi
	for m in $(findmnt -rn -o TARGET | grep -F "$WORK" | sort -r); do
		umount -l "$m"
	done
	if [ "$LOADED_MODULE" = 1 ]; then
		rmmod nydusfs || echo "demo: nydusfs.ko stays loaded (in use?)"
	fi
	if [ "$KEEP" = 1 ]; then
		echo "nydusfs demo: kept $WORK" | tee /dev/stderr
	else
		rm -rf "$WORK"
	fi
}

# ---- where nydusfs.ko can run ----

# Can this host load a module built for its running kernel?  Sets
# WHY_GUEST when not.
host_can_load()
{
	local k

	k=$(uname -r)
	if [ ! -e /proc/modules ]; then
		WHY_GUEST="the running kernel ($k) cannot load modules"
	elif [ "$(cat /proc/sys/kernel/modules_disabled 2>/dev/null || echo 0)" != 0 ]; then
		WHY_GUEST="module loading is disabled (kernel.modules_disabled=1)"
	elif [ ! -e "/lib/modules/$k/build/Makefile" ]; then
		WHY_GUEST="no headers for the running kernel $k (linux-headers-$k)"
	else
		return 0
	fi
	return 1
}

choose_place()
{
	if host_can_load; then
		[ "$WHERE" = guest ] || WHERE=host
	elif [ "$WHERE" = host ]; then
		die_early "--where host: $WHY_GUEST"
	else
		WHERE=guest
	fi
	if [ "$WHERE" = host ]; then
		echo "nydusfs.ko runs on this host (kernel $(uname -r))"
	else
		echo "nydusfs.ko runs in a QEMU guest: ${WHY_GUEST:-asked for (--where guest)}"
	fi
}

# ---- the steps ----

module_target()
{
	if [ "$WHERE" = host ]; then
		echo "this kernel, $(uname -r)"
	else
		echo "the guest's Debian 12 cloud kernel"
	fi
}

install_deps() { "$TOP/scripts/install-deps.sh"; }

build()
{
	make -C "$TOP" -j"$(nproc)" programs
	if [ "$WHERE" = host ]; then
		make -C "$TOP" KDIR="/lib/modules/$(uname -r)/build" modules
	else
		make -C "$TOP" modules
	fi
	[ -x "$NYDUSFS" ] && [ -x "$TOP/build/bin/nydusfsd" ] &&
		[ -e "$TOP/kernel/nydusfs.ko" ]
}

rootfs_state()
{
	if [ -d "${NYDUSFS_CACHE:-/var/cache/nydusfs}/rootfs-minbase" ]; then
		echo "debootstrap, cached"
	else
		echo "debootstrap, about a minute the first time"
	fi
}

# The default image: the cached minbase tree as one gzip layer.
make_sample_image()
{
	local tree

	tree=$("$TOP/scripts/get-rootfs.sh")
	umoci init --layout "$WORK/src"
	umoci new --image "$WORK/src:minbase"
	umoci unpack --image "$WORK/src:minbase" "$WORK/bundle"
	cp -a "$tree/." "$WORK/bundle/rootfs/"
	umoci repack --refresh-bundle --image "$WORK/src:minbase" "$WORK/bundle"
	rm -rf "$WORK/bundle"
	SRC=oci:$WORK/src:minbase
}

start_registry()
{
	local env

	env=$(REGISTRY_MAX_LIFETIME=7200 "$TOP/tests/registry/registry.sh" \
		start --dir "$WORK/registry" --owner $$)
	eval "$env"
	echo "$env"
}

push_original()
{
	local -a src_opts=()

	case $SRC in
	docker://127.* | docker://localhost[:/]*) src_opts=(--src-tls-verify=false) ;;
	esac
	skopeo --insecure-policy copy "${src_opts[@]}" --dest-tls-verify=false \
		"$SRC" "docker://$REGISTRY_HOST/$REPO:original"
}

convert_image()
{
	"$NYDUSFS" convert -v --tls-verify=false \
		"docker://$REGISTRY_HOST/$REPO:original" \
		"docker://$REGISTRY_HOST/$REPO:nydusfs"
	measure_sizes
}

manifest() { skopeo inspect --raw --tls-verify=false "docker://$REGISTRY_HOST/$REPO:$1"; }

# Sizes from the two manifests, as "@result" lines in $WORK/results.
measure_sizes()
{
	local boot='.annotations["containerd.io/snapshot/nydus-bootstrap"] == "true"'

	manifest original >"$WORK/original.json"
	manifest nydusfs >"$WORK/nydusfs.json"
	{
		jq -r '"@result original_layers \(.layers | length)"' "$WORK/original.json"
		jq -r '"@result original_bytes \([.layers[].size] | add)"' "$WORK/original.json"
		jq -r "\"@result nydusfs_blob_bytes \([.layers[] | select(($boot) | not) | .size] | add // 0)\"" \
			"$WORK/nydusfs.json"
		jq -r "\"@result nydusfs_bootstrap_bytes \([.layers[] | select($boot) | .size] | add)\"" \
			"$WORK/nydusfs.json"
	} | tee -a "$WORK/results"
}

# The environment file of scripts/demo-guest.sh.
write_run_env()
{
	local f=$1
	shift

	{
		for kv in "$@"; do
			printf '%s=%s\n' "${kv%%=*}" "$(shquote "${kv#*=}")"
		done
		printf 'DEMO_ORIG=%s\n' "$REPO:original"
		printf 'DEMO_NYDUS=%s\n' "$REPO:nydusfs"
		printf 'DEMO_CMD=%s\n' "$(shquote "$CMD")"
	} >"$f"
}

shquote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

result() { awk -v k="$1" '$1 == "@result" && $2 == k { $1 = $2 = ""; sub(/^ +/, ""); v = $0 } END { print v }' "$WORK/results"; }

# Read demo-guest.sh's output: "@step" lines become progress lines, all of
# it goes to the log, "@result" and "@out" lines to $WORK/results.
read_run()
{
	local line rest

	while IFS= read -r line; do
		line=${line%$'\r'}
		printf '%s\n' "$line" >>"$LOG"
		case $line in
		"@step "*)
			end_step
			rest=${line#@step }
			begin_step "${rest%% *}" "${rest#* }"
			;;
		"@result "* | "@out "*)
			printf '%s\n' "$line" >>"$WORK/results"
			;;
		esac
	done
}

# run_there CMD...: run demo-guest.sh through CMD in the background (so
# that cleanup can stop it), its output read by read_run; CMD's status.
run_there()
{
	local rc=0

	rm -f "$WORK/run.fifo"
	mkfifo "$WORK/run.fifo"
	"$@" >"$WORK/run.fifo" 2>&1 </dev/null &
	RUN_PID=$!
	read_run <"$WORK/run.fifo"
	wait "$RUN_PID" || rc=$?
	RUN_PID=""
	return "$rc"
}

# Steps 7-9 in a QEMU guest: the registry's storage goes in on a disk.
run_in_guest()
{
	local g=$WORK/guest rc=0

	begin_step 7 "Boot a QEMU guest (Debian 12 cloud kernel, TCG) with nydusfs.ko, docker-registry, nydusfsd"
	"$TOP/tests/registry/registry.sh" stop "$WORK/registry" >>"$LOG" 2>&1
	mkdir -p "$g"
	mv "$REGISTRY_ROOT" "$g/regroot"
	cp "$TOP/scripts/demo-guest.sh" "$g/"
	write_run_env "$g/demo.env" DEMO_WORK=/tmp/demo \
		DEMO_REGROOT=/mnt/disk0/regroot DEMO_CACHE_SYNC=false \
		DEMO_TAR=/usr/local/bin/tar
	TMPDIR=$WORK run_there "$TOP/tools/vm-run" --smp 2 \
		--mem "${DEMO_VM_MEM:-2G}" --timeout "${DEMO_VM_TIMEOUT:-1800}" \
		--with docker-registry,skopeo,jq,tar,gzip,zstd --disk "$g" -- \
		sh /mnt/disk0/demo-guest.sh /mnt/disk0/demo.env || rc=$?
	case $rc in
	0) end_step; return 0 ;;
	124) echo "demo: the guest timed out (DEMO_VM_TIMEOUT)" >>"$LOG" ;;
	125) echo "demo: kernel problem in the guest (oops, BUG, WARN)" >>"$LOG" ;;
	126) echo "demo: the guest did not start or set up" >>"$LOG" ;;
	esac
	return "$rc"
}

# Steps 7-9 on this host, against the registry started in step 4.
run_on_host()
{
	local rc=0

	begin_step 7 "Load nydusfs.ko into this kernel ($(uname -r))"
	if [ -d /sys/module/nydusfs ]; then
		echo "nydusfs.ko is already loaded: using it" >>"$LOG"
	else
		insmod "$TOP/kernel/nydusfs.ko" >>"$LOG" 2>&1 || {
			echo "demo: insmod kernel/nydusfs.ko failed (a kernel that only loads signed modules?); WHERE=guest runs the demo in a QEMU guest instead" >>"$LOG"
			return 1
		}
		LOADED_MODULE=1
	fi
	write_run_env "$WORK/run.env" DEMO_WORK="$WORK/run" \
		DEMO_REGISTRY="$REGISTRY_HOST" DEMO_REGLOG="$REGISTRY_LOGFILE"
	PATH=$TOP/build/bin:$PATH run_there sh "$TOP/scripts/demo-guest.sh" \
		"$WORK/run.env" || rc=$?
	[ "$rc" = 0 ] && end_step
	return "$rc"
}

# ---- the summary ----

size() { awk -v b="$1" 'BEGIN { if (b < 1e5) printf "%.1f kB", b / 1e3; else printf "%.1f MB", b / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3fx", a / b; else print "-" }'; }

times_faster() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.1f times as fast", b / a }'; }

show_output()
{
	echo
	echo "Output of '$CMD' from the lazily mounted image:"
	awk '$1 == "@out" && $2 == "nydusfs" { $1 = $2 = ""; print "  " substr($0, 3) }' \
		"$WORK/results" | head -n 20
}

summary()
{
	local where kernel orig blob boot nb pb nt pt nr pr

	read -r where kernel <<<"$(result where)"
	orig=$(result original_bytes) blob=$(result nydusfs_blob_bytes)
	boot=$(result nydusfs_bootstrap_bytes)
	nb=$(result nydusfs_fetched_bytes) pb=$(result pull_fetched_bytes)
	nt=$(result nydusfs_first_output_s) pt=$(result pull_first_output_s)
	nr=$(result nydusfs_requests) pr=$(result pull_requests)
	echo
	if [ "$where" = guest ]; then
		echo "Summary (in a QEMU guest, kernel $kernel, under TCG: the CPU is"
		echo "emulated, so every time is several times slower than on real hardware;"
		echo "compare the ratios, not the seconds)"
	else
		echo "Summary (on this host, kernel $kernel)"
	fi
	echo
	printf '  image:  original  %s in %s compressed layer(s), %s unpacked\n' \
		"$(size "$orig")" "$(result original_layers)" \
		"$(size $(($(result pull_unpacked_kib) * 1024)))"
	printf '          nydusfs   %s (blob %s + bootstrap layer %s)\n' \
		"$(size $((blob + boot)))" "$(size "$blob")" "$(size "$boot")"
	echo
	echo "  Running '$CMD':"
	printf '  %-28s %-16s %-16s %s\n' "" "nydusfs (lazy)" \
		"pull + unpack" "nydusfs / pull"
	printf '  %-28s %-16s %-16s %s\n' "fetched from the registry" \
		"$(size "$nb")" "$(size "$pb")" "$(ratio "$nb" "$pb")"
	printf '  %-28s %-16s %-16s %s\n' "requests to the registry" \
		"$nr" "$pr" ""
	printf '  %-28s %-16s %-16s %s\n' "time to first output" \
		"$nt s" "$pt s" "$(ratio "$nt" "$pt") ($(times_faster "$nt" "$pt"))"
	echo
	echo "  nydusfs: mount by reference took $(result nydusfs_ready_s) s (manifest, bootstrap);"
	echo "  pull + unpack: $(result pull_ready_s) s before the command could start"
	echo "  (skopeo copy $(result pull_copy_s) s, tar $(result pull_unpack_s) s)."
	echo "  Same output from both: $(result same_output).  Log: $LOG"
}

main()
{
	parse_args "$@"
	check_image_arg
	[ "$(id -u)" = 0 ] || die_early "needs root (packages, mount, chroot): sudo make demo"
	mkdir -p "$(dirname "$LOG")"
	: >"$LOG"
	echo "nydusfs demo; details in $LOG"
	choose_place
	WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/nydusfs-demo.XXXXXX")
	trap on_exit EXIT
	trap 'exit 130' INT TERM
	: >"$WORK/results"
	SRC=$IMAGE

	if [ "${DEMO_SKIP_BUILD:-0}" = 1 ]; then
		skip_step 1 "Install missing Debian packages"
		skip_step 2 "Build nydusfs, nydusfsd and nydusfs.ko"
	else
		step 1 "Install missing Debian packages (scripts/install-deps.sh)" install_deps
		step 2 "Build nydusfs, nydusfsd and nydusfs.ko (for $(module_target))" build
	fi
	if [ -z "$IMAGE" ]; then
		step 3 "Make the sample image: Debian 12 minbase ($(rootfs_state)) as an OCI layout" \
			make_sample_image
	else
		step 3 "Use the image $IMAGE" true
	fi
	step 4 "Start a local registry (docker-registry on 127.0.0.1)" start_registry
	step 5 "Push the original image to $REGISTRY_HOST/$REPO:original" push_original
	step 6 "Convert it with nydusfs convert, push $REGISTRY_HOST/$REPO:nydusfs" convert_image
	if [ "$WHERE" = guest ]; then
		run_in_guest
	else
		run_on_host
	fi
	printf '[%d/%d] Summary\n' 10 "$NSTEPS"
	show_output
	summary
}

main "$@"
