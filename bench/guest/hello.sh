#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest half of bench/hello.sh, the HelloBench-style cold start: run
# inside `tools/vm-run --icount` (one CPU; the guest clock counts executed
# instructions, 1 ns each) from the disk bench/hello.sh prepared:
#
#	hello.sh DISK
#
# DISK/params sets ITER, LINKS ("MBIT:ONE_WAY_US ..."), WORKLOADS, TAG,
# PLAIN_REPO, NYDUS_REPO, PROFILE_WORKLOADS, MODE, REC_REPO; DISK/regroot is a docker-registry storage holding
# the original OCI image (PLAIN_REPO:TAG, one tar+gzip layer) and its
# `nydusfs convert` form (NYDUS_REPO:TAG); DISK/erofs.img is the same tree
# as an uncompressed erofs image, used only to measure what each workload
# reads.
#
# Everything is copied into the guest's tmpfs first.  docker-registry serves
# the storage on 127.0.0.1:5000, behind `tc netem` on lo (rate, and half
# the RTT each way: lo carries both directions).  For every link and
# iteration (the order of the two methods alternates):
#
#   plain     manifest, config, then the layer streamed through sha256
#             (openssl) and pigz into tar -x on tmpfs (pull + unpack); then
#             each workload with chroot into the tree; and once more the
#             pull alone (download + verify, no unpack: the link's cost)
#   nydusfs   per workload, a fresh nydusfsd with an empty cache and an
#             empty state_dir, and drop_caches: `nydusfs mount docker://`
#             (manifest, bootstrap layer, verified and stored, registration,
#             kernel mount), then the workload with chroot into the mount;
#             the daemon's metrics after
#   nydusfs-profile
#             per workload recorded (PROFILE_WORKLOADS), as nydusfs but
#             the image converted with that workload's startup profile
#             (NYDUS_REPO-W:TAG, nydusfs convert --prefetch-list), prefetch
#             on (the default: the profile's chunks are fetched at mount);
#             the metrics at the command's exit, then again once the
#             profile's prefetch has finished (fetched_all, ...)
#   prefetch  a fresh nydusfsd with [prefetch] all = true: mount by
#             reference as above, then until every chunk is in the cache
#             (hellobench prefetch-wait polls the status every 25 ms, every
#             2 ms from 95% of the chunks on)
#
# Before that, with no network involved, what each workload reads: the
# erofs image on a loop device with read_ahead_kb = 0, drop_caches, the
# workload with chroot into it, then `hellobench resident` (mincore of
# every file): the 4 KiB pages the workload touched, with no readahead.
#
# MODE=record (the recording boot, before the benchmark's): no link, no
# erofs; per workload a fresh nydusfsd with an empty cache, `nydusfs mount
# --no-prefetch` of REC_REPO:TAG by reference, the workload, then `nydusfs
# profile MNT`: its startup profile, printed as PROFILE lines.
#
# Output, one line each, parsed by bench/hello.sh:
#	READ WORKLOAD resident_bytes=.. touched=.. files=.. file_bytes=..
#	PROFILE WORKLOAD LINE (MODE=record: one line of its startup profile)
#	REC WORKLOAD key=value... (MODE=record: the recording run's metrics)
#	RES LINK ITER METHOD WORKLOAD key=value...
#	SKIP WORKLOAD reason
#	INFO text
set -u
set -o pipefail

DISK=${1:-/mnt/disk0}
H=/tmp/hello
REG=http://127.0.0.1:5000
ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'
# busybox sh runs its own applets before PATH: the host's tc (netem) and
# GNU tar (vm-run --with) by their paths
TC=/usr/local/bin/tc
TAR=/usr/local/bin/tar
DPID=""
RPID=""
RANGE_KIB=512
export NYDUSFS_SOCKET=$H/nydusfsd.sock

. "$DISK/params"

fail() {
	local log

	echo "guest-hello: $*" >&2
	for log in "$H"/*.log; do
		[ -f "$log" ] || continue
		echo "--- $log (tail)" >&2
		tail -n 20 "$log" >&2
	done
	echo "--- dmesg (tail)" >&2
	dmesg | tail -n 20 >&2
	exit 1
}

info() { echo "INFO $*"; }
now() { hellobench now; }

# Time process $1 has been on the CPU, all its threads, in ns (the
# scheduler's own account: precise under icount, unlike utime and stime)
cpu_ns() {
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# The kernel's sha256 implementations, the one it picks (highest priority)
# first: "sha256-avx2 (170), sha256-generic (100)"
sha256_drivers() {
	awk -F' *: *' '$1 == "name" { n = $2 } $1 == "driver" { d = $2 }
		$1 == "priority" && n == "sha256" { print $2, d }' /proc/crypto |
		sort -rn | awk '{ printf "%s%s (%s)", (NR > 1 ? ", " : ""), $2, $1 }'
}

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# The command of a workload, run with chroot in the image
workload_cmd() {
	case $1 in
	sh) echo "/bin/sh -c true" ;;
	perl) echo "perl -e 1" ;;
	python3) echo "python3 -c 1" ;;
	apt-get) echo "apt-get --version" ;;
	*) return 1 ;;
	esac
}

workload_bin() {
	case $1 in
	sh) echo /bin/sh ;;
	*) echo "/usr/bin/$1" ;;
	esac
}

# run_workload ROOT NAME: the workload with chroot into ROOT, the
# environment of a container (no host variables), its output dropped
run_workload() {
	# shellcheck disable=SC2046 # the command's words
	env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root chroot "$1" $(workload_cmd "$2") >"$H/workload.out" 2>&1
}

# The manifest of REPO:TAG into FILE
get_manifest() {
	curl -sSf -H "$ACCEPT" -o "$2" "$REG/v2/$1/manifests/$TAG"
}

# check FILE DIGEST: the file's sha256 is DIGEST
check_digest() {
	[ "$(hellobench sha256 "$1")" = "$2" ] ||
		{ echo "digest mismatch: $1 is not $2" >&2; return 1; }
}

# --- setup ---------------------------------------------------------------

start_registry() {
	local i=0

	cat >"$H/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $H/reg}, delete: {enabled: true}}
http: {addr: "127.0.0.1:5000"}
EOF
	docker-registry serve "$H/registry.yml" >"$H/registry.log" 2>&1 &
	RPID=$!
	until curl -sf -o /dev/null "$REG/v2/"; do
		i=$((i + 1))
		[ $i -lt 200 ] || fail "docker-registry did not start"
		sleep 0.1
	done
}

# write_config FILE PREFETCH_ALL
write_config() {
	cat >"$1" <<EOF
[daemon]
socket = $NYDUSFS_SOCKET
state_dir = $H/state
log_level = warning
[cache]
dir = $H/cache
sync = false
[prefetch]
all = $2
[registry "127.0.0.1:5000"]
scheme = http
EOF
	[ -z "${FETCH_RA:-}" ] || printf '[fetch]\nreadahead = %s\n' "$FETCH_RA" >>"$1"
}

# A fresh daemon with an empty cache (untimed)
daemon_start() {
	local i=0

	rm -rf "$H/cache" "$H/state"
	mkdir -p "$H/cache"
	nydusfsd --config "$1" 2>>"$H/daemon.log" &
	DPID=$!
	until nydusfs status >/dev/null 2>&1; do
		i=$((i + 1))
		kill -0 "$DPID" 2>/dev/null || fail "nydusfsd died at start"
		[ $i -lt 200 ] || fail "nydusfsd did not answer"
		sleep 0.05
	done
}

daemon_stop() {
	[ -n "$DPID" ] || return 0
	kill "$DPID"
	wait "$DPID"
	DPID=""
}

set_link() {
	local rate=${1%%:*} us=${1#*:}

	$TC qdisc replace dev lo root netem rate "${rate}mbit" delay "${us}us" \
		limit 100000 || fail "tc netem failed"
}

# --- what a workload reads ----------------------------------------------

measure_reads() {
	local dev mnt=$H/erofs w out ra ra_kb

	cp "$DISK/erofs.img" "$H/erofs.img" || fail "copy erofs.img"
	dev=$(losetup -f) && losetup -r "$dev" "$H/erofs.img" || fail "losetup"
	ra=/sys/block/${dev#/dev/}/queue/read_ahead_kb
	ra_kb=$(cat "$ra")
	mkdir -p "$mnt"
	mount -t erofs -o ro "$dev" "$mnt" || fail "mount erofs"
	for w in $WORKLOADS; do
		if [ ! -x "$mnt$(workload_bin "$w")" ]; then
			echo "SKIP $w $(workload_bin "$w") is not in the image"
			continue
		fi
		# with the kernel's default readahead first, for information:
		# what an ordinary local filesystem brings in for the workload
		echo "$ra_kb" >"$ra" || fail "read_ahead_kb"
		drop_caches
		run_workload "$mnt" "$w" || fail "$w failed on erofs: $(cat "$H/workload.out")"
		out=$(hellobench resident "$mnt" | sed -n 's/.*resident_bytes=\([0-9]*\).*/\1/p')
		echo 0 >"$ra" || fail "read_ahead_kb"
		drop_caches
		run_workload "$mnt" "$w" || fail "$w failed on erofs: $(cat "$H/workload.out")"
		out="$(hellobench resident "$mnt") ra_resident_bytes=$out ra_kb=$ra_kb" ||
			fail "hellobench resident"
		echo "READ $w $out"
		RUN_WORKLOADS="$RUN_WORKLOADS $w"
	done
	umount "$mnt" && losetup -d "$dev"
	rm -f "$H/erofs.img"
}

# --- plain: pull + unpack -------------------------------------------------

# plain_layers ROOT|"": the config, then the image's one layer streamed
# through sha256 (openssl) and pigz into tar -x on ROOT, as a runtime does
# (or only downloaded and verified); one curl for both, like one HTTP
# connection.  More layers would need whiteouts applied: refused.
plain_layers() {
	local root=$1 cfg layer n

	get_manifest "$PLAIN_REPO" "$H/p-manifest.json" || return 1
	hellobench manifest "$H/p-manifest.json" >"$H/p-fields" || return 1
	cfg=$(sed -n 's/^config //p' "$H/p-fields")
	layer=$(sed -n 's/^layer \([^ ]*\) .*/\1/p' "$H/p-fields")
	n=$(grep -c '^layer ' "$H/p-fields")
	[ "$n" = 1 ] || { echo "plain: $n layers, this benchmark takes one" >&2; return 1; }
	rm -f "$H/fifo"
	mkfifo "$H/fifo"
	openssl dgst -sha256 -r <"$H/fifo" >"$H/layer.sum" &
	if [ -n "$root" ]; then
		curl -sSf -o "$H/p-config.json" "$REG/v2/$PLAIN_REPO/blobs/$cfg" \
			-o - "$REG/v2/$PLAIN_REPO/blobs/$layer" | tee "$H/fifo" |
			pigz -dc | $TAR -xf - -C "$root" --numeric-owner
	else
		curl -sSf -o "$H/p-config.json" "$REG/v2/$PLAIN_REPO/blobs/$cfg" \
			-o - "$REG/v2/$PLAIN_REPO/blobs/$layer" >"$H/fifo"
	fi || return 1
	wait $! || return 1
	[ "sha256:$(cut -d' ' -f1 "$H/layer.sum")" = "$layer" ] ||
		{ echo "layer $layer: digest mismatch" >&2; return 1; }
	check_digest "$H/p-config.json" "$cfg"
}

run_plain() {
	local link=$1 it=$2 root=$H/plain t0 t1 t2 w r0

	rm -rf "$root"
	mkdir -p "$root"
	drop_caches
	r0=$(cpu_ns "$RPID")
	t0=$(now)
	plain_layers "$root" || fail "plain pull + unpack failed"
	t1=$(now)
	echo "RES $link $it plain - pull_unpack_ns=$((t1 - t0)) registry_cpu_ns=$(($(cpu_ns "$RPID") - r0))"
	for w in $RUN_WORKLOADS; do
		t1=$(now)
		run_workload "$root" "$w" || fail "$w failed on the unpacked tree: $(cat "$H/workload.out")"
		t2=$(now)
		echo "RES $link $it plain-run $w run_ns=$((t2 - t1))"
	done
	rm -rf "$root"
	[ "$it" = 0 ] || return 0
	drop_caches
	t0=$(now)
	plain_layers "" || fail "plain pull failed"
	t1=$(now)
	echo "RES $link $it pull-only - pull_ns=$((t1 - t0))"
}

# The link as curl sees it: 4 ranged GETs of 512 KiB (the compressed size
# of a typical 1 MiB chunk) of the nydusfs blob in one curl (one
# connection), at offsets far apart; their mean time (RANGE_KIB KiB each)
link_check() {
	local link=$1 blob url args="" i

	blob=$(sed -n 's/^layer \([^ ]*\) .* -$/\1/p' "$H/nydus-fields" | head -n1)
	url=$REG/v2/$NYDUS_REPO/blobs/$blob
	for i in 1 5 9 13; do
		args="$args -r $((i << 20))-$(((i << 20) + (RANGE_KIB << 10) - 1)) -o /dev/null $url"
	done
	# shellcheck disable=SC2086 # the ranges' words
	curl -sSf -w '%{time_total}\n' $args >"$H/linkcheck" || fail "curl link check failed"
	echo "RES $link 0 linkcheck - range_kib=$RANGE_KIB range_ms=$(awk '{ s += $1 } END { printf "%.1f", s / NR * 1000 }' "$H/linkcheck")"
}

# --- nydusfs ------------------------------------------------------------------

# Mount by reference, the product's one step: manifest, bootstrap layer
# (verified down to the bootstrap's own digest, untarred, stored under the
# config's state_dir, which daemon_start empties), registration with
# nydusfsd, kernel mount with -o digest=
# nydus_mount CONF [REPO [OPTION...]] (REPO: NYDUS_REPO)
nydus_mount() {
	local conf=$1 repo=${2:-$NYDUS_REPO} bdi

	shift
	[ $# = 0 ] || shift
	mkdir -p "$H/mnt"
	nydusfs mount --config "$conf" --tls-verify=false "$@" \
		"docker://127.0.0.1:5000/$repo:$TAG" "$H/mnt" || return 1
	[ -n "${RA_KB:-}" ] || return 0
	# an experiment: the mount's readahead (its bdi), not the kernel's default
	for bdi in /sys/class/bdi/nydusfs-*; do
		echo "$RA_KB" >"$bdi/read_ahead_kb" || return 1
	done
}

# Sum of a metric over its label sets
metric() {
	nydusfs metrics | awk -v m="nydusfsd_$1" '
		{ n = $1; sub(/\{.*/, "", n) } n == m { s += $NF } END { printf "%.0f\n", s }'
}

# Uncompressed bytes of the cache's data files (their allocated blocks)
cache_bytes() {
	find "$H/cache" -type f ! -name '*.*' -exec stat -c '%b %B' {} + |
		awk '{ s += $1 * $2 } END { printf "%.0f\n", s }'
}

nydus_metrics() {
	echo "verify_us=$(nydusfs metrics | awk '/^nydusfsd_verify_cpu_seconds_total/ { printf "%.0f", $NF * 1e6 }') fetched=$(metric fetch_bytes_total) req_us=$(nydusfs metrics | awk '/^nydusfsd_fetch_request_duration_seconds_sum/ { s += $NF } END { printf "%.0f", s * 1e6 }') chunks=$(metric chunks_fetched_total) requests=$(metric fetch_requests_total) readahead_chunks=$(metric readahead_chunks_total) upcalls=$(nydusfs metrics | awk '/^nydusfsd_device_requests_total\{op="read"\}/ { print $NF }') cache_bytes=$(cache_bytes) boot_bytes=$(stat -c %s "$H"/state/bootstraps/sha256/*)"
}

# The lazy case per workload, and right after it (before it in odd
# iterations) the same workload with its startup profile, if recorded
run_nydus() {
	local link=$1 it=$2 w

	for w in $RUN_WORKLOADS; do
		if [ $((it % 2)) = 1 ] && has_profile "$w"; then
			run_nydus_profile "$link" "$it" "$w"
		fi
		run_nydus_lazy "$link" "$it" "$w"
		if [ $((it % 2)) = 0 ] && has_profile "$w"; then
			run_nydus_profile "$link" "$it" "$w"
		fi
	done
}

has_profile() {
	case " ${PROFILE_WORKLOADS:-} " in
	*" $1 "*) return 0 ;;
	esac
	return 1
}

run_nydus_lazy() {
	local link=$1 it=$2 w=$3 t0 t1 t2 res m d0 r0 cpu

	daemon_start "$H/lazy.conf"
	drop_caches
	d0=$(cpu_ns "$DPID") r0=$(cpu_ns "$RPID")
	t0=$(now)
	nydus_mount "$H/lazy.conf" || fail "nydusfs mount failed"
	t1=$(now)
	run_workload "$H/mnt" "$w" || fail "$w failed on nydusfs: $(cat "$H/workload.out")"
	t2=$(now)
	cpu="daemon_cpu_ns=$(($(cpu_ns "$DPID") - d0)) registry_cpu_ns=$(($(cpu_ns "$RPID") - r0))"
	m=$(nydus_metrics)	# before anything else touches the mount
	res=$(hellobench resident "$H/mnt" | sed -n 's/.*resident_bytes=\([0-9]*\).*/\1/p')
	echo "RES $link $it nydusfs $w total_ns=$((t2 - t0)) mount_ns=$((t1 - t0)) run_ns=$((t2 - t1)) $cpu $m pagecache=$res"
	nydusfs umount "$H/mnt" || fail "nydusfs umount failed"
	daemon_stop
}

# The prefetch plan of the mount (the chunks of its startup profile): total
# and done
prefetch_state() {
	nydusfs metrics | awk '/^nydusfsd_prefetch_chunks\{/ {
		if (index($1, "state=\"total\"")) t += $NF; if (index($1, "state=\"done\"")) d += $NF }
		END { printf "pf_total=%.0f pf_done=%.0f\n", t, d }'
}

# nydusfs with a startup profile: the image converted with the workload's
# profile (NYDUS_REPO-W), prefetch on (lazy.conf: the default [prefetch]);
# the metrics at the command's exit, then once the profile's prefetch has
# finished (what the mount fetches for its start, all told)
run_nydus_profile() {
	local link=$1 it=$2 w=$3 t0 t1 t2 m d0 r0 cpu res out

	daemon_start "$H/lazy.conf"
	drop_caches
	d0=$(cpu_ns "$DPID") r0=$(cpu_ns "$RPID")
	t0=$(now)
	nydus_mount "$H/lazy.conf" "$NYDUS_REPO-$w" || fail "nydusfs mount of $NYDUS_REPO-$w failed"
	t1=$(now)
	run_workload "$H/mnt" "$w" || fail "$w failed on nydusfs with a profile: $(cat "$H/workload.out")"
	t2=$(now)
	cpu="daemon_cpu_ns=$(($(cpu_ns "$DPID") - d0)) registry_cpu_ns=$(($(cpu_ns "$RPID") - r0))"
	m="$(nydus_metrics) $(prefetch_state)"
	out=$(hellobench prefetch-wait "$NYDUSFS_SOCKET" 600) ||
		fail "the startup profile's prefetch did not finish: $out"
	res=$(hellobench resident "$H/mnt" | sed -n 's/.*resident_bytes=\([0-9]*\).*/\1/p')
	echo "RES $link $it nydusfs-profile $w total_ns=$((t2 - t0)) mount_ns=$((t1 - t0)) run_ns=$((t2 - t1)) $cpu $m pagecache=$res fetched_all=$(metric fetch_bytes_total) requests_all=$(metric fetch_requests_total) chunks_all=$(metric chunks_fetched_total) cache_bytes_all=$(cache_bytes) pf_done_ns=$(($(echo "$out" | sed 's/ .*//; s/^done_ns=//') - t0))"
	nydusfs umount "$H/mnt" || fail "nydusfs umount failed"
	daemon_stop
}

run_prefetch() {
	local link=$1 it=$2 t0 t1 out done_ns d0 r0 cpu

	daemon_start "$H/all.conf"
	drop_caches
	d0=$(cpu_ns "$DPID") r0=$(cpu_ns "$RPID")
	t0=$(now)
	nydus_mount "$H/all.conf" || fail "nydusfs mount failed"
	t1=$(now)
	out=$(hellobench prefetch-wait "$NYDUSFS_SOCKET" 1200) ||
		fail "prefetch did not finish: $out"
	done_ns=$(echo "$out" | sed 's/ .*//; s/^done_ns=//')
	cpu="daemon_cpu_ns=$(($(cpu_ns "$DPID") - d0)) registry_cpu_ns=$(($(cpu_ns "$RPID") - r0))"
	echo "RES $link $it prefetch - total_ns=$((done_ns - t0)) mount_ns=$((t1 - t0)) $cpu $out $(nydus_metrics)"
	nydusfs umount "$H/mnt" || fail "nydusfs umount failed"
	daemon_stop
}

# --- the recording boot (MODE=record) ----------------------------------------

# Per workload: a fresh daemon, an empty cache, the image of REC_REPO
# mounted by reference without prefetch, the workload once, then its
# startup profile (nydusfs profile), printed as PROFILE lines
record_main() {
	local w line

	for w in $WORKLOADS; do
		daemon_start "$H/lazy.conf"
		drop_caches
		nydus_mount "$H/lazy.conf" "$REC_REPO" --no-prefetch ||
			fail "nydusfs mount --no-prefetch of $REC_REPO failed"
		if [ ! -x "$H/mnt$(workload_bin "$w")" ]; then
			echo "SKIP $w $(workload_bin "$w") is not in the image"
		else
			run_workload "$H/mnt" "$w" || fail "$w failed on nydusfs: $(cat "$H/workload.out")"
			nydusfs profile "$H/mnt" -o "$H/$w.list" 2>"$H/profile.err" ||
				fail "nydusfs profile failed: $(cat "$H/profile.err")"
			sed 's/^/INFO nydusfs profile: /' "$H/profile.err"
			echo "REC $w $(nydus_metrics)"
			while IFS= read -r line; do
				echo "PROFILE $w $line"
			done <"$H/$w.list"
		fi
		nydusfs umount "$H/mnt" || fail "nydusfs umount failed"
		daemon_stop
	done
	info "done"
}

# --- where `nydusfs mount docker://` spends its time (PROFILE=1) -------------

# pstep NAME CMD...: CMD timed, "PROF LINK ITER NAME ns=N"
pstep() {
	local name=$1 t0 t1

	shift
	t0=$(now)
	"$@" >"$H/pstep.out" 2>&1 || fail "$name: $* failed: $(cat "$H/pstep.out")"
	t1=$(now)
	echo "PROF $PLINK $PIT $name ns=$((t1 - t0))"
}

# One round on the current link: the mount by reference whole, then its
# parts by difference (dry run: resolve + fetch + verify + store, no daemon
# and no mount; with the bootstrap already stored; the bootstrap form with
# and without -o digest=: registration + kernel mount, and the kernel's
# sha256 of the bootstrap)
profile_round() {
	local ref="docker://127.0.0.1:5000/$NYDUS_REPO:$TAG" boot dig
	local m="nydusfs mount --config $H/lazy.conf"

	daemon_start "$H/lazy.conf"
	mkdir -p "$H/mnt"
	drop_caches
	pstep mount_ref $m --tls-verify=false "$ref" "$H/mnt"
	pstep umount nydusfs umount "$H/mnt"
	drop_caches
	pstep mount_ref_stored $m --tls-verify=false "$ref" "$H/mnt"
	pstep umount nydusfs umount "$H/mnt"
	pstep dry_run_stored $m -n --tls-verify=false "$ref" "$H/mnt"
	boot=$(ls "$H"/state/bootstraps/sha256/*)
	dig=sha256:${boot##*/}
	rm -f "$boot"
	drop_caches
	pstep dry_run $m -n --tls-verify=false "$ref" "$H/mnt"
	pstep mount_boot_nodigest $m --registry "127.0.0.1:5000/$NYDUS_REPO" "$boot" "$H/mnt"
	pstep umount nydusfs umount "$H/mnt"
	drop_caches
	pstep mount_boot_digest $m -o "digest=$dig" --registry "127.0.0.1:5000/$NYDUS_REPO" "$boot" "$H/mnt"
	pstep umount nydusfs umount "$H/mnt"
	pstep sha256_user hellobench sha256 "$boot"
	pstep curl_boot_layer curl -sSf -o "$H/bl.tgz" "$REG/v2/$NYDUS_REPO/blobs/$(profile_boot_layer)"
	pstep curl_v2 curl -sSf -o /dev/null "$REG/v2/"
	pstep true_cmd nydusfs --help
	echo "PROF $PLINK $PIT bootstrap_bytes n=$(stat -c %s "$boot")"
	daemon_stop
}

profile_boot_layer() {
	sed -n 's/^layer \([^ ]*\) .* sha256:[0-9a-f]*$/\1/p' "$H/nydus-fields" | tail -n1
}

# How the bootstrap layer arrives in a dry run: recvfrom calls, and the
# gaps over 4 ms between them
profile_recv() {
	local ref="docker://127.0.0.1:5000/$NYDUS_REPO:$TAG"

	command -v strace >/dev/null || return 0
	rm -rf "$H/state"
	strace -f -ttt -o "$H/strace-recv.out" -e trace=recvfrom,sendto,connect \
		nydusfs mount --config "$H/lazy.conf" -n --tls-verify=false "$ref" "$H/mnt" \
		>/dev/null 2>&1 || fail "strace nydusfs mount -n failed"
	awk -v l="$PLINK" '{ t = $2 } NR > 1 && t - p > 0.004 { printf "RECV %s gap %.1f ms before: %s\n", l, (t - p) * 1000, substr($0, 1, 140) }
		/recvfrom/ { n++; if (match($0, /= [0-9]+$/)) b += substr($0, RSTART + 2) } { p = t }
		END { printf "RECV %s recvfrom %d calls, %d bytes\n", l, n, b }' "$H/strace-recv.out"
}

# strace of one mount by reference from an empty state: its syscalls of
# note with guest timestamps (strace's own cost inflates the total)
profile_strace() {
	local ref="docker://127.0.0.1:5000/$NYDUS_REPO:$TAG"

	command -v strace >/dev/null || { info "no strace in the guest"; return 0; }
	daemon_start "$H/lazy.conf"
	drop_caches
	strace -f -ttt -T -o "$H/strace.out" \
		-e trace=execve,connect,sendto,sendmsg,recvmsg,mount,rename,mkdir,fsync,exit_group \
		nydusfs mount --config "$H/lazy.conf" --tls-verify=false "$ref" "$H/mnt" ||
		fail "strace nydusfs mount failed"
	sed "s/^/STRACE $PLINK /" "$H/strace.out"
	nydusfs umount "$H/mnt"
	daemon_stop
}

# perf: where the CPU goes during one mount by reference (every process
# and the kernel), by command and DSO, and the top symbols
profile_perf() {
	local ref="docker://127.0.0.1:5000/$NYDUS_REPO:$TAG"

	command -v perf >/dev/null || { info "no perf in the guest"; return 0; }
	daemon_start "$H/lazy.conf"
	drop_caches
	perf record -q -a -g -F 2000 -e cpu-clock -o "$H/perf.data" -- \
		nydusfs mount --config "$H/lazy.conf" --tls-verify=false "$ref" "$H/mnt" \
		>"$H/perf.out" 2>&1 || { info "perf record failed: $(tail -n3 "$H/perf.out")"; daemon_stop; return 0; }
	nydusfs umount "$H/mnt"
	daemon_stop
	perf report -i "$H/perf.data" --stdio --no-children --sort comm,dso 2>/dev/null |
		grep -v '^$' | grep -v '^#' | grep '%' | head -n 30 | sed "s/^/PERF $PLINK dso /"
	perf report -i "$H/perf.data" --stdio --no-children -g none --sort comm,sym 2>/dev/null |
		grep '%' | grep -v '^#' | head -n 60 | sed "s/^/PERF $PLINK sym /"
}

profile_main() {
	for PLINK in $LINKS; do
		set_link "$PLINK"
		PIT=0
		while [ $PIT -lt "$ITER" ]; do
			profile_round
			PIT=$((PIT + 1))
		done
		profile_strace
		profile_recv
		profile_perf
	done
	$TC qdisc del dev lo root
	info "done"
}

# --- main ---------------------------------------------------------------------

main() {
	local link it cmd

	for cmd in docker-registry $TC curl openssl pigz $TAR hellobench nydusfs nydusfsd; do
		command -v $cmd >/dev/null || fail "no $cmd in the guest"
	done
	grep -qw nydusfs /proc/filesystems || fail "nydusfs.ko is not loaded"
	info "sha256 in the kernel: $(sha256_drivers)"
	info "guest kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPU, $(free -m | awk '/^Mem:/ { print $2 }') MiB, $(grep -qw sha_ni /proc/cpuinfo || printf 'no ')sha_ni"
	mkdir -p "$H"
	cp -a "$DISK/regroot" "$H/reg" || fail "copy regroot"
	start_registry
	get_manifest "$NYDUS_REPO" "$H/nydus-manifest.json" &&
		hellobench manifest "$H/nydus-manifest.json" >"$H/nydus-fields" ||
		fail "no manifest for $NYDUS_REPO:$TAG"
	write_config "$H/lazy.conf" false
	write_config "$H/all.conf" true
	if [ "${MODE:-}" = record ]; then
		record_main
		return
	fi
	if [ "${PROFILE:-0}" = 1 ]; then
		profile_main
		return
	fi
	RUN_WORKLOADS=""
	measure_reads
	[ -n "$RUN_WORKLOADS" ] || fail "no workload runs in the image"
	for link in $LINKS; do
		set_link "$link"
		info "link $link: $($TC qdisc show dev lo)"
		link_check "$link"
		it=0
		while [ $it -lt "$ITER" ]; do
			if [ $((it % 2)) = 0 ]; then
				run_plain "$link" $it
				run_nydus "$link" $it
			else
				run_nydus "$link" $it
				run_plain "$link" $it
			fi
			run_prefetch "$link" $it
			it=$((it + 1))
		done
	done
	$TC qdisc del dev lo root
	grep -iE 'error|warning' "$H/daemon.log" | head -n 5 | sed 's/^/INFO daemon: /'
	info "done"
}

main
