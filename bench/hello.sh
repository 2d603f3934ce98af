#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# HelloBench-style cold start: how long a command from a real OS image
# takes to run when the image is not on the machine yet, started from a
# nydusfs image with an empty cache (lazy pull) against a plain pull +
# unpack of the original image from the same registry, over a shaped link.
# One QEMU guest boot (tools/vm-run --icount: guest instruction time, one
# CPU), with everything in guest RAM and docker-registry inside the guest
# on its loopback behind `tc netem`; bench/guest/hello.sh runs the loads
# and describes them.
#
# The image: the Debian minbase tree (scripts/get-rootfs.sh) as an OCI
# image (umoci, one tar+gzip layer), pushed to a registry on the host
# (tests/registry/) as bench/plain:v1, and `nydusfs convert`ed (default
# options: 1 MiB chunks, zstd; BENCH_CHUNK_SIZE sets --chunk-size) into
# bench/nydus:v1; the registry's storage is handed to the guest on a disk
# and copied into its tmpfs.  nydusfs mounts it by reference (`nydusfs
# mount docker://...`: manifest, bootstrap, kernel mount in one step).
#
# Startup profiles: a recording boot first runs each workload once on
# bench/nydus:v1 (mounted by reference, empty cache, --no-prefetch) and
# writes its `nydusfs profile` ($BENCH_RESULTS/hello-startup-W.list); the
# OCI image is then converted per workload with --prefetch-list into
# bench/nydus-W:v1, and the main boot measures both: nydusfs lazy (no
# profile, the reference) and nydusfs + startup profile (prefetch on).
#
# Workloads: `sh -c true`, `perl -e 1`, `python3 -c 1` (when the image has
# it: minbase does not), `apt-get --version`, each run with chroot into the
# image.  Links: 100 Mbit/s with 20 ms RTT, and 1 Gbit/s with 1 ms RTT.
# Targets (issue 6):
#   - cold start (nydusfs: mount by reference + run; plain: pull + unpack +
#     run) at most 0.1x the plain one when the workload reads at most 10%
#     of the image;
#   - bytes fetched by nydusfsd at most 1.5x the bytes the workload reads
#     (4 KiB pages of file data touched, measured on erofs with readahead
#     off);
#   - with prefetch of the whole image, the time until every chunk is in
#     the cache at most 1.1x the plain pull + unpack.
# A ratio is the median of the per-iteration ratios (BENCH_ITER, 3).
#
# Environment: BENCH_ITER (3), BENCH_TMP (/var/tmp), BENCH_RESULTS,
# BENCH_VM_TIMEOUT (seconds, 5400), BENCH_MEM (2G), BENCH_HELLO_LINKS
# ("100:10000 1000:500": Mbit/s and one-way delay in µs; lo carries both
# directions, so the RTT is twice the delay), BENCH_HELLO_WORKLOADS
# ("sh perl python3 apt-get"), BENCH_CHUNK_SIZE (the converted image's
# chunk size, as `nydusfs convert --chunk-size` takes it, e.g. 256K;
# default: convert's own), BENCH_KEEP (keep the work directory),
# BENCH_HELLO_PROFILE=1 (instead of the benchmark, break down `nydusfs
# mount docker://` on each link: its parts timed by difference, an strace
# of its syscalls of note and a perf profile; written to
# $BENCH_RESULTS/hello-profile.log, REPORT.md untouched),
# BENCH_HELLO_MODULES (tools/vm-run --modules for the guest; default
# +sha256_ssse3, which a real host's udev loads), BENCH_HELLO_PROFILES
# (1; 0: no recording boot and no profile rows), BENCH_PROFILE_CHUNK_SIZE
# (the profile images' --chunk-size; default 32K; when it differs from
# BENCH_CHUNK_SIZE, the profiles are recorded from an image of that chunk
# size, bench/nydus-record:v1), BENCH_PROFILE_LEVEL (their zstd --level;
# default 19; empty: convert's), BENCH_HELLO_FETCH_RA (an experiment: nydusfsd's
# [fetch] readahead in the guest, e.g. 0; default: the daemon's),
# BENCH_HELLO_RA_KB (an experiment: read_ahead_kb of the
# nydusfs mount's bdi, set right after the mount; default: the mount's,
# readahead=0).
# Appends a section to $BENCH_RESULTS/REPORT.md and prints "MISSED: ..."
# or "PASS: ..." for each target.  Exit: 0 ran, 77 skipped, other: error
# (see bench/run.sh).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$HERE")
NYDUSFS=${NYDUSFS:-$TOP/build/bin/nydusfs}
ITER=${BENCH_ITER:-3}
RESULTS=${BENCH_RESULTS:-$HERE/results}
REPORT=$RESULTS/REPORT.md
VM_TIMEOUT=${BENCH_VM_TIMEOUT:-5400}
MEM=${BENCH_MEM:-2G}
LINKS=${BENCH_HELLO_LINKS:-100:10000 1000:500}
WORKLOADS=${BENCH_HELLO_WORKLOADS:-sh perl python3 apt-get}
CHUNK_SIZE=${BENCH_CHUNK_SIZE:-}
PROFILE=${BENCH_HELLO_PROFILE:-0}
PROFILES=${BENCH_HELLO_PROFILES:-1}
# 32K chunks for the profile images: with the mount's readahead off (its
# default), a profile names the chunks the workload touched, and smaller
# chunks name fewer bytes (apt-get --version: 5.5 MiB of 32K chunks, 8.8
# of 128K ones, 11.4 of 1 MiB ones); 16K named 4.4 MiB but its larger
# bootstrap made the mount slower (100 Mbit/s: 0.106x against 0.098x);
# zstd -19: 12% fewer bytes to fetch than the default level (the chunks a
# profile names arrive compressed), for a convert about 13x slower
PROFILE_CHUNK=${BENCH_PROFILE_CHUNK_SIZE-32K}
PROFILE_LEVEL=${BENCH_PROFILE_LEVEL-19}
MODULES=${BENCH_HELLO_MODULES-+sha256_ssse3}
TAG=v1
PLAIN_REPO=bench/plain
NYDUS_REPO=bench/nydus
# the image the startup profiles are recorded from: the reference, unless
# the profile images have another chunk size (a profile names whole chunks)
REC_REPO=$NYDUS_REPO
[ "$PROFILE_CHUNK" = "$CHUNK_SIZE" ] || REC_REPO=bench/nydus-record
PROFILE_OPTS=(${PROFILE_CHUNK:+--chunk-size "$PROFILE_CHUNK"} ${PROFILE_LEVEL:+--level "$PROFILE_LEVEL"})
PROFILE_WORKLOADS=""
GUEST_TOOLS=docker-registry,tc,curl,openssl,pigz,tar

# shellcheck source=bench/lib/report.sh
. "$HERE/lib/report.sh"

die() {
	echo "bench/hello: $*" >&2
	exit 1
}

skip() {
	echo "bench/hello: skipped: $*" >&2
	exit 77
}

log() { echo "bench/hello: $*" >&2; }

# --- preparing ---------------------------------------------------------------

check_prereqs() {
	local cmd

	[ "$(id -u)" = 0 ] || skip "needs root (tools/vm-run, the OS tree)"
	[ -x "$NYDUSFS" ] && [ -x "$TOP/build/bin/nydusfsd" ] ||
		die "build/bin/nydusfs or nydusfsd missing: run make first"
	[ -f "$TOP/kernel/nydusfs.ko" ] || skip "no kernel/nydusfs.ko (make modules)"
	for cmd in ${GUEST_TOOLS//,/ } umoci skopeo mkfs.erofs gcc pkg-config; do
		command -v "$cmd" >/dev/null || die "$cmd missing: run make (scripts/install-deps.sh)"
	done
}

build_tools() {
	HELLOBENCH=$TOP/build/bench/hellobench
	mkdir -p "$TOP/build/bench"
	if [ ! -x "$HELLOBENCH" ] || [ "$HERE/hellobench.c" -nt "$HELLOBENCH" ]; then
		# shellcheck disable=SC2046 # pkg-config's words
		gcc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE \
			$(pkg-config --cflags jansson libcrypto) -o "$HELLOBENCH" \
			"$HERE/hellobench.c" $(pkg-config --libs jansson libcrypto) ||
			die "cannot build bench/hellobench.c"
	fi
	# a snapshot, so that a rebuild during the run changes nothing
	cp "$TOP/kernel/nydusfs.ko" "$WORK/nydusfs.ko"
}

# The OCI image of the tree: one umoci layer (tar+gzip), as bench/convert.sh
make_oci_image() {
	umoci init --layout "$WORK/src" >/dev/null
	umoci new --image "$WORK/src:base" >/dev/null
	umoci unpack --image "$WORK/src:base" "$WORK/bundle" >/dev/null
	cp -a "$TREE/." "$WORK/bundle/rootfs/"
	umoci repack --refresh-bundle --image "$WORK/src:$TAG" "$WORK/bundle" >/dev/null
	rm -rf "$WORK/bundle"
}

registry_start() {
	local env

	env=$("$TOP/tests/registry/registry.sh" start --dir "$WORK/reg" --owner $$) ||
		die "cannot start docker-registry"
	eval "$env"
}

registry_stop() {
	"$TOP/tests/registry/registry.sh" stop "$WORK/reg" >/dev/null
}

# timed_convert NAME REPO [OPTION...]: nydusfs convert of the OCI image into
# REPO:TAG in the registry on the host; its wall time (host, information
# only) is recorded as "NAME SECONDS" in $WORK/convert-times
timed_convert() {
	local name=$1 repo=$2 t0 t1

	shift 2
	t0=$(date +%s.%N)
	"$NYDUSFS" convert --dest-tls-verify=false "$@" "oci:$WORK/src:$TAG" \
		"docker://$REGISTRY_HOST/$repo:$TAG" >"$WORK/convert.log" 2>&1 ||
		die "nydusfs convert $* into $repo failed: $(tail -n5 "$WORK/convert.log")"
	t1=$(date +%s.%N)
	echo "$name $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" >>"$WORK/convert-times"
}

manifest_of() {	# REPO FILE
	skopeo --insecure-policy inspect --raw --tls-verify=false \
		"docker://$REGISTRY_HOST/$1:$TAG" >"$2" || die "no manifest for $1:$TAG"
}

# Push the original and the converted image into a registry on the host
# (and, when the startup profiles are recorded from an image of another
# chunk size than the reference's, that image too)
fill_registry() {
	registry_start
	"$TOP/tests/registry/push.sh" layout "$WORK/src:$TAG" "$PLAIN_REPO:$TAG" >/dev/null ||
		die "pushing the original image failed"
	timed_convert reference "$NYDUS_REPO" ${CHUNK_SIZE:+--chunk-size "$CHUNK_SIZE"}
	if [ "$PROFILES" = 1 ] && [ "$REC_REPO" != "$NYDUS_REPO" ]; then
		timed_convert record "$REC_REPO" --chunk-size "$PROFILE_CHUNK"
	fi
	manifest_of "$PLAIN_REPO" "$WORK/plain-manifest.json"
	manifest_of "$NYDUS_REPO" "$WORK/nydus-manifest.json"
	registry_stop
}

prepare_data() {
	DISK=$WORK/disk
	mkdir -p "$DISK"
	TREE=$("$TOP/scripts/get-rootfs.sh" | tail -n1) || die "scripts/get-rootfs.sh failed"
	[ -d "$TREE" ] || die "no OS tree at '$TREE'"
	ENTRIES=$(find "$TREE" | wc -l)
	make_oci_image
	fill_registry
	mkfs.erofs --quiet "$DISK/erofs.img" "$TREE" >"$WORK/mkfs.log" 2>&1 ||
		die "mkfs.erofs failed: $(tail -n5 "$WORK/mkfs.log")"
	PLAIN_LAYERS=$(jq '[.layers[].size] | add' "$WORK/plain-manifest.json")
	NYDUS_BLOBS=$(jq '[.layers[] | select(.mediaType == "application/vnd.oci.image.layer.nydus.blob.v1") | .size] | add' \
		"$WORK/nydus-manifest.json")
	BOOT_LAYER=$(jq '[.layers[] | select(.annotations["containerd.io/snapshot/nydus-bootstrap"] == "true") | .size] | add' \
		"$WORK/nydus-manifest.json")
	cat >"$DISK/params" <<EOF
ITER=$ITER
LINKS="$LINKS"
WORKLOADS="$WORKLOADS"
TAG=$TAG
PLAIN_REPO=$PLAIN_REPO
NYDUS_REPO=$NYDUS_REPO
PROFILE=$PROFILE
RA_KB=${BENCH_HELLO_RA_KB:-}
FETCH_RA=${BENCH_HELLO_FETCH_RA:-}
EOF
	install -m 755 "$HERE/guest/hello.sh" "$DISK/hello.sh"
}

# --- startup profiles -----------------------------------------------------------

# The recording boot: per workload, nydusfs profile after one run on the
# image of REC_REPO mounted by reference with an empty cache and no
# prefetch (bench/guest/hello.sh MODE=record); the profiles land in
# $RESULTS/hello-startup-W.list, the boot's output in hello-record.log
record_profiles() {
	local rdisk=$WORK/recdisk rlog=$WORK/record.log rc=0 w n

	mkdir -p "$rdisk"
	cp -a "$WORK/reg/storage" "$rdisk/regroot"
	sed -e '/^PROFILE=/d' "$DISK/params" >"$rdisk/params"
	printf 'PROFILE=0\nMODE=record\nREC_REPO=%s\n' "$REC_REPO" >>"$rdisk/params"
	install -m 755 "$HERE/guest/hello.sh" "$rdisk/hello.sh"
	log "recording boot: startup profiles of $WORKLOADS from $REC_REPO:$TAG"
	"$TOP/tools/vm-run" --icount --mem "$MEM" --timeout "$VM_TIMEOUT" \
		--module "$WORK/nydusfs.ko" --with "$GUEST_TOOLS,$HELLOBENCH" \
		${MODULES:+--modules "$MODULES"} \
		--disk "$rdisk" -- sh /mnt/disk0/hello.sh /mnt/disk0 >"$rlog" 2>&1 || rc=$?
	tr -d '\r' <"$rlog" >"$RESULTS/hello-record.log"
	[ "$rc" = 0 ] || die "the recording boot failed (vm-run exit $rc); see $RESULTS/hello-record.log"
	grep -q '^INFO done' "$RESULTS/hello-record.log" ||
		die "the recording boot did not finish; see $RESULTS/hello-record.log"
	rm -rf "$rdisk"
	PROFILE_WORKLOADS=""
	for w in $WORKLOADS; do
		rm -f "$RESULTS/hello-startup-$w.list"
		grep -q "^REC $w " "$RESULTS/hello-record.log" || continue
		awk -v w="$w" '$1 == "PROFILE" && $2 == w { sub(/^PROFILE [^ ]+ /, ""); print }' \
			"$RESULTS/hello-record.log" >"$RESULTS/hello-startup-$w.list"
		n=$(grep -cv '^#' "$RESULTS/hello-startup-$w.list" || true)
		[ "$n" -gt 0 ] || die "the startup profile of $w is empty; see $RESULTS/hello-record.log"
		PROFILE_WORKLOADS+=" $w"
	done
	PROFILE_WORKLOADS=${PROFILE_WORKLOADS# }
	[ -n "$PROFILE_WORKLOADS" ] || die "no startup profile recorded; see $RESULTS/hello-record.log"
}

# Each workload's image: the OCI image converted with its profile
# (--prefetch-list) and the profile images' options, pushed as
# NYDUS_REPO-W:TAG
convert_profiles() {
	local w

	registry_start
	for w in $PROFILE_WORKLOADS; do
		log "convert with the startup profile of $w: ${PROFILE_OPTS[*]}"
		timed_convert "$w" "$NYDUS_REPO-$w" "${PROFILE_OPTS[@]}" \
			--prefetch-list "$RESULTS/hello-startup-$w.list"
		manifest_of "$NYDUS_REPO-$w" "$WORK/nydus-$w-manifest.json"
	done
	registry_stop
	echo "PROFILE_WORKLOADS=\"$PROFILE_WORKLOADS\"" >>"$DISK/params"
}

# The registry's storage to the main boot's disk
registry_to_disk() {
	cp -a "$WORK/reg/storage" "$DISK/regroot"
	rm -rf "$WORK/reg"
}

run_guest() {
	local rc=0

	log "guest boot: $ITER iterations, links: $LINKS"
	"$TOP/tools/vm-run" --icount --mem "$MEM" --timeout "$VM_TIMEOUT" \
		--module "$WORK/nydusfs.ko" --with "$GUEST_TOOLS,$HELLOBENCH$PROFILE_TOOLS" \
		${MODULES:+--modules "$MODULES"} \
		--disk "$DISK" -- sh /mnt/disk0/hello.sh /mnt/disk0 2>&1 |
		tee "$GUEST_LOG" || rc=${PIPESTATUS[0]}
	[ "$rc" = 0 ] || die "the guest run failed (vm-run exit $rc); see $GUEST_LOG"
	grep -q '^INFO done' "$GUEST_LOG" || die "the guest run did not finish; see $GUEST_LOG"
	# RES LINK ITER METHOD WORKLOAD k=v... -> one row per value
	awk '$1 == "RES" { for (i = 6; i <= NF; i++) { split($i, kv, "=")
		printf "%s\t%s\t%s\t%s\t%s\t%s\n", $2, $3, $4, $5, kv[1], kv[2] } }' \
		"$GUEST_LOG" | tr -d '\r' >"$RUNS"
}

# --- numbers ---------------------------------------------------------------------

median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) print "nan";
		else if (NR % 2) print v[(NR + 1) / 2];
		else printf "%.12g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# vals LINK METHOD WORKLOAD KEY: one value per iteration, in iteration order
vals() {
	awk -F'\t' -v l="$1" -v m="$2" -v w="$3" -v k="$4" \
		'$1 == l && $3 == m && $4 == w && $5 == k { print $2, $6 }' "$RUNS" |
		sort -n | cut -d' ' -f2
}

med() { vals "$@" | median; }

# Plain cold start per iteration: pull + unpack, then the workload's run
plain_total() {
	paste -d' ' <(vals "$1" plain - pull_unpack_ns) <(vals "$1" plain-run "$2" run_ns) |
		awk '{ printf "%.0f\n", $1 + $2 }'	# mawk prints large sums as 6.1e+09
}

# coldstart_ratio LINK WORKLOAD [METHOD]: median over iterations of the
# nydusfs (or nydusfs-profile) total / plain total
coldstart_ratio() {
	paste -d' ' <(vals "$1" "${3:-nydusfs}" "$2" total_ns) <(plain_total "$1" "$2") |
		awk '{ printf "%.4f\n", $1 / $2 }' | median
}

# The cases of workload $1: nydusfs (lazy), and nydusfs-profile when its
# startup profile was recorded
cases_of() {
	echo nydusfs
	case " $PROFILE_WORKLOADS " in
	*" $1 "*) echo nydusfs-profile ;;
	esac
}

case_label() {
	case $1 in
	nydusfs) echo "lazy" ;;
	nydusfs-profile) echo "+ startup profile" ;;
	esac
}

# What a case fetched for its start, all told: at the command's exit for
# the lazy case; for the profile case once its prefetch has finished too
# (key_all), since it goes on after the command exits
fkey() {	# METHOD KEY
	if [ "$1" = nydusfs-profile ]; then echo "${2}_all"; else echo "$2"; fi
}

fmed() { med "$1" "$2" "$3" "$(fkey "$2" "$4")"; }	# LINK METHOD WORKLOAD KEY

fetched_over_read() {	# LINK METHOD WORKLOAD
	awk -v f="$(fmed "$1" "$2" "$3" fetched)" -v r="$(read_of "$3" resident_bytes)" \
		'BEGIN { print f / r }'
}

prefetch_ratio() {	# LINK: per iteration, against the plain pull + unpack
	paste -d' ' <(vals "$1" prefetch - total_ns) <(vals "$1" plain - pull_unpack_ns) |
		awk '{ printf "%.4f\n", $1 / $2 }' | median
}

# The pull alone is timed in the first iteration only (information)
pull_only_ratio() {
	awk -v a="$(med "$1" prefetch - total_ns)" -v b="$(med "$1" pull-only - pull_ns)" \
		'BEGIN { printf "%.4f\n", a / b }'
}

# Mean time (ms) and size (KiB) of nydusfsd's ranged requests until the
# command's exit: LINK METHOD WORKLOAD
req_ms() {
	awk -v t="$(med "$1" "$2" "$3" req_us)" -v n="$(med "$1" "$2" "$3" requests)" \
		'BEGIN { printf "%.0f", n ? t / n / 1000 : 0 }'
}

req_kib() {
	awk -v b="$(med "$1" "$2" "$3" fetched)" -v n="$(med "$1" "$2" "$3" requests)" \
		'BEGIN { printf "%.0f", n ? b / n / 1024 : 0 }'
}

read_of() {	# WORKLOAD KEY, from the READ lines
	awk -v w="$1" -v k="$2" '$1 == "READ" && $2 == w {
		for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' \
		"$GUEST_LOG" | tr -d '\r' | head -n1
}

secs() { awk -v n="$1" 'BEGIN { printf "%.3f", n / 1e9 }'; }
mib() { awk -v n="$1" 'BEGIN { printf "%.2f", n / 1048576 }'; }
fmt3() { awk -v n="$1" 'BEGIN { printf "%.3f", n }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

link_label() {
	awk -v r="${1%%:*}" -v us="${1#*:}" 'BEGIN {
		rate = (r >= 1000) ? sprintf("%g Gbit/s", r / 1000) : sprintf("%g Mbit/s", r)
		printf "%s, %g ms RTT", rate, 2 * us / 1000 }'
}

link_short() {
	awk -v r="${1%%:*}" -v us="${1#*:}" 'BEGIN {
		rate = (r >= 1000) ? sprintf("%gG", r / 1000) : sprintf("%gM", r)
		printf "%s/%gms", rate, 2 * us / 1000 }'
}

# verdict VALUE LIMIT DESCRIPTION: RESULT=PASS or MISSED, recorded (not in
# a subshell: it adds to PASSED or MISSED)
verdict() {
	if le "$1" "$2"; then
		PASSED+=("$3: $(fmt3 "$1"), target <= $2")
		RESULT=PASS
	else
		MISSED+=("$3: $(fmt3 "$1"), target <= $2")
		RESULT=MISSED
	fi
}

# --- report ---------------------------------------------------------------------------

chunk_label() {
	if [ -n "$CHUNK_SIZE" ]; then
		echo "--chunk-size $CHUNK_SIZE"
	else
		echo "default chunk size (1 MiB)"
	fi
}

chunk_count() { med "${LINKS%% *}" prefetch - total; }
boot_bytes() { med "${LINKS%% *}" nydusfs "$(ran_workloads | head -n1)" boot_bytes; }

# The workloads that ran (those the image has), in order
ran_workloads() {
	awk '$1 == "READ" { print $2 }' "$GUEST_LOG" | tr -d '\r'
}

write_summary_tsv() {
	local link w c

	printf 'link\tworkload\tcase\tread_bytes\tplain_s\tnydusfs_s\tnydusfs_run_s\tratio\tfetched_bytes\tfetched_over_read\tcache_bytes\trequests\tupcalls\n' \
		>"$SUMMARY"
	for link in $LINKS; do
		for w in $(ran_workloads); do
			for c in $(cases_of "$w"); do
				printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
					"$(link_short "$link")" "$w" "$c" "$(read_of "$w" resident_bytes)" \
					"$(secs "$(plain_total "$link" "$w" | median)")" \
					"$(secs "$(med "$link" "$c" "$w" total_ns)")" \
					"$(secs "$(med "$link" "$c" "$w" run_ns)")" \
					"$(fmt3 "$(coldstart_ratio "$link" "$w" "$c")")" \
					"$(fmed "$link" "$c" "$w" fetched)" \
					"$(fmt3 "$(fetched_over_read "$link" "$c" "$w")")" \
					"$(fmed "$link" "$c" "$w" cache_bytes)" \
					"$(fmed "$link" "$c" "$w" requests)" \
					"$(med "$link" "$c" "$w" upcalls)" >>"$SUMMARY"
			done
		done
	done
	printf 'link\tplain_pull_unpack_s\tplain_pull_s\tprefetch_all_s\tratio_vs_pull_unpack\tratio_vs_pull\n' >"$PF_SUMMARY"
	for link in $LINKS; do
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(link_short "$link")" \
			"$(secs "$(med "$link" plain - pull_unpack_ns)")" \
			"$(secs "$(med "$link" pull-only - pull_ns)")" \
			"$(secs "$(med "$link" prefetch - total_ns)")" \
			"$(fmt3 "$(prefetch_ratio "$link")")" \
			"$(fmt3 "$(pull_only_ratio "$link")")" >>"$PF_SUMMARY"
	done
}

coldstart_table() {
	local link w c rd pct r tgt res

	echo "| link | workload | nydusfs | reads (file data) | of the image | plain: pull + unpack + run (s) | nydusfs: mount by reference + run (s) | nydusfs / plain | target | result | nydusfs: mount by reference (manifest + bootstrap + kernel mount), run (s) |"
	echo "|------|----------|---------|------:|------:|------:|------:|------:|--------|--------|------|"
	for link in $LINKS; do
		for w in $(ran_workloads); do
			rd=$(read_of "$w" resident_bytes)
			pct=$(awk -v r="$rd" -v t="$IMAGE_FILE_BYTES" 'BEGIN { printf "%.1f", 100 * r / t }')
			for c in $(cases_of "$w"); do
				r=$(coldstart_ratio "$link" "$w" "$c")
				if le "$pct" 10; then
					tgt="<= 0.1"
					verdict "$r" 0.1 "cold start, $w, $(link_label "$link"), nydusfs $(case_label "$c"): nydusfs / plain pull + unpack"
					res=$RESULT
				else
					tgt="(reads > 10%)" res="(info)"
				fi
				printf '| %s | `%s` | %s | %s MiB | %s%% | %s | %s | %s | %s | %s | %s, %s |\n' \
					"$(link_label "$link")" "$(workload_cmd "$w")" "$(case_label "$c")" \
					"$(mib "$rd")" "$pct" \
					"$(secs "$(plain_total "$link" "$w" | median)")" \
					"$(secs "$(med "$link" "$c" "$w" total_ns)")" \
					"$(fmt3 "$r")" "$tgt" "$res" \
					"$(secs "$(med "$link" "$c" "$w" mount_ns)")" \
					"$(secs "$(med "$link" "$c" "$w" run_ns)")"
			done
		done
	done
}

bytes_table() {
	local link w c rd ratio res

	echo "| link | workload | nydusfs | read: 4 KiB pages of file data | fetched by nydusfsd (compressed) | fetched / read | target | result | chunks fetched (uncompressed, in the cache) | of which readahead; in the profile's prefetch | READ upcalls | ranged requests | mean request until the exit: KiB, ms | page cache of the mount after the run | page cache of erofs after the run, default readahead ($(read_of "$(ran_workloads | head -n1)" ra_kb) KiB) |"
	echo "|------|----------|---------|------:|------:|------:|--------|--------|------:|------:|------:|------:|------:|------:|------:|"
	for link in $LINKS; do
		for w in $(ran_workloads); do
			rd=$(read_of "$w" resident_bytes)
			for c in $(cases_of "$w"); do
				ratio=$(fetched_over_read "$link" "$c" "$w")
				verdict "$ratio" 1.5 "bytes fetched / bytes read, $w, $(link_label "$link"), nydusfs $(case_label "$c")"
				res=$RESULT
				printf '| %s | `%s` | %s | %s MiB | %s MiB | %s | <= 1.5 | %s | %s MiB | %s; %s of %s chunks | %s | %s | %s KiB, %s ms | %s MiB | %s MiB |\n' \
					"$(link_label "$link")" "$(workload_cmd "$w")" "$(case_label "$c")" \
					"$(mib "$rd")" "$(mib "$(fmed "$link" "$c" "$w" fetched)")" \
					"$(fmt3 "$ratio")" "$res" \
					"$(mib "$(fmed "$link" "$c" "$w" cache_bytes)")" \
					"$(med "$link" "$c" "$w" readahead_chunks)" \
					"$(if [ "$c" = nydusfs ]; then echo -; else med "$link" "$c" "$w" pf_total; fi)" \
					"$(fmed "$link" "$c" "$w" chunks)" \
					"$(med "$link" "$c" "$w" upcalls)" \
					"$(fmed "$link" "$c" "$w" requests)" \
					"$(req_kib "$link" "$c" "$w")" "$(req_ms "$link" "$c" "$w")" \
					"$(mib "$(med "$link" "$c" "$w" pagecache)")" \
					"$(mib "$(read_of "$w" ra_resident_bytes)")"
			done
		done
	done
}

prefetch_table() {
	local link r res

	echo "| link | plain: pull + unpack (s) | plain: pull only, no unpack (s) | nydusfs, prefetch all: mount by reference + every chunk cached (s) | nydusfs / plain pull + unpack | target | result | nydusfs / pull only |"
	echo "|------|------:|------:|------:|------:|--------|--------|------:|"
	for link in $LINKS; do
		r=$(prefetch_ratio "$link")
		verdict "$r" 1.1 "whole image with prefetch, $(link_label "$link"): nydusfs / plain pull + unpack"
		res=$RESULT
		printf '| %s | %s | %s | %s | %s | <= 1.1 | %s | %s |\n' "$(link_label "$link")" \
			"$(secs "$(med "$link" plain - pull_unpack_ns)")" \
			"$(secs "$(med "$link" pull-only - pull_ns)")" \
			"$(secs "$(med "$link" prefetch - total_ns)")" \
			"$(fmt3 "$r")" "$res" \
			"$(fmt3 "$(pull_only_ratio "$link")")"
	done
}

# The largest spread over the iterations (max / min of a case's time) on
# link $1, and the case
spread() {
	awk -F'\t' -v l="$1" '$1 == l && ($5 == "total_ns" || $5 == "pull_unpack_ns") {
		k = $3 " " $4; if (!(k in lo) || $6 < lo[k]) lo[k] = $6; if ($6 > hi[k]) hi[k] = $6 }
		END { for (k in lo) if (hi[k] / lo[k] > m) { m = hi[k] / lo[k]; c = k }
		      sub(/ -$/, "", c); printf "%.3f (%s)", m, c }' "$RUNS"
}

# Where the guest time went: for each link, the plain pull + unpack, each
# nydusfs cold start and the whole-image prefetch, with the CPU time of
# nydusfsd (and of its chunk checks: nydusfsd_verify_cpu_seconds_total, the
# workers decompressing and hashing) and of docker-registry, and the time
# nydusfsd's requests took (summed: they overlap when several are out)
time_table() {
	local link w

	echo "| link | case | total (s) | nydusfsd CPU (s) | of which decompressing + sha256 in its workers (s) | docker-registry CPU (s) | nydusfsd requests | their summed time (s) |"
	echo "|------|------|------:|------:|------:|------:|------:|------:|"
	for link in $LINKS; do
		printf '| %s | plain pull + unpack | %s | - | - | %s | 1 (GET of the layer) | - |\n' \
			"$(link_label "$link")" "$(secs "$(med "$link" plain - pull_unpack_ns)")" \
			"$(secs "$(med "$link" plain - registry_cpu_ns)")"
		for w in $(ran_workloads); do
			time_row "$link" nydusfs "$w" "nydusfs cold start, \`$(workload_cmd "$w")\`"
			[ "$(cases_of "$w" | wc -l)" = 1 ] ||
				time_row "$link" nydusfs-profile "$w" "nydusfs + startup profile, \`$(workload_cmd "$w")\` (until the exit)"
		done
		time_row "$link" prefetch - "nydusfs prefetch of the whole image"
	done
}

time_row() {	# LINK METHOD WORKLOAD LABEL
	printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(link_label "$1")" "$4" \
		"$(secs "$(med "$1" "$2" "$3" total_ns)")" \
		"$(secs "$(med "$1" "$2" "$3" daemon_cpu_ns)")" \
		"$(secs "$(awk -v u="$(med "$1" "$2" "$3" verify_us)" 'BEGIN { print u * 1000 }')")" \
		"$(secs "$(med "$1" "$2" "$3" registry_cpu_ns)")" \
		"$(med "$1" "$2" "$3" requests)" \
		"$(secs "$(awk -v u="$(med "$1" "$2" "$3" req_us)" 'BEGIN { print u * 1000 }')")"
}

workload_cmd() {
	case $1 in
	sh) echo "sh -c true" ;;
	perl) echo "perl -e 1" ;;
	python3) echo "python3 -c 1" ;;
	apt-get) echo "apt-get --version" ;;
	*) echo "$1" ;;
	esac
}

# Cold start times (one panel per link, and the whole image) and bytes
# read against fetched; gnuplot reads one small data file per panel
draw_plots() {
	local n link dat first=${LINKS%% *}

	n=$(echo "$LINKS" | wc -w)
	# one line per workload: plain, lazy, with profile ("-" if none)
	for link in $LINKS; do
		awk -F'\t' -v l="$(link_short "$link")" 'NR > 1 && $1 == l {
			if (!($2 in p)) { o[++k] = $2; pf[$2] = "-" }
			p[$2] = $5; if ($3 == "nydusfs") lz[$2] = $6; else pf[$2] = $6 }
			END { for (i = 1; i <= k; i++) print o[i], p[o[i]], lz[o[i]], pf[o[i]] }' \
			"$SUMMARY" >"$WORK/plot-${link%%:*}.dat"
	done
	awk -F'\t' 'NR > 1 { print $1, $2, $4 }' "$PF_SUMMARY" >"$WORK/plot-pf.dat"
	# read, fetched lazy, fetched with profile, lazy chunks uncompressed
	awk -F'\t' -v l="$(link_short "$first")" 'NR > 1 && $1 == l {
			if (!($2 in r)) { o[++k] = $2; pf[$2] = "-" }
			r[$2] = $4 / 1048576
			if ($3 == "nydusfs") { lz[$2] = $9 / 1048576; ch[$2] = $11 / 1048576 }
			else pf[$2] = $9 / 1048576 }
		END { for (i = 1; i <= k; i++) print o[i], r[o[i]], lz[o[i]], pf[o[i]], ch[o[i]] }' \
		"$SUMMARY" >"$WORK/plot-bytes.dat"
	{
		echo "set datafile missing '-'"
		echo "set multiplot layout 1,$((n + 1))"
		echo "set style data histograms"
		echo "set style histogram clustered gap 1"
		echo "set ylabel 'seconds (guest time)'"
		echo "set yrange [0:*]"
		echo "set key below"
		for link in $LINKS; do
			dat=$WORK/plot-${link%%:*}.dat
			echo "set title 'cold start, $(link_label "$link")'"
			echo "plot '$dat' using 2:xtic(1) title 'plain: pull + unpack + run' lc rgb '#c0504d', '' using 3 title 'nydusfs (lazy): mount by reference + run' lc rgb '#4f81bd', '' using 4 title 'nydusfs + startup profile' lc rgb '#f79646'"
		done
		echo "set title 'whole image'"
		echo "plot '$WORK/plot-pf.dat' using 2:xtic(1) title 'plain: pull + unpack' lc rgb '#c0504d', '' using 3 title 'nydusfs: prefetch all' lc rgb '#4f81bd'"
		echo "unset multiplot"
	} | plot_png "$RESULTS/hello-coldstart.png" 1200,450 || true
	{
		echo "set datafile missing '-'"
		echo "set style data histograms"
		echo "set style histogram clustered gap 1"
		echo "set ylabel 'MiB'"
		echo "set key below"
		echo "set yrange [0:*]"
		echo "set title 'read by the workload against fetched by nydusfsd ($(link_label "$first"))'"
		echo "plot '$WORK/plot-bytes.dat' using 2:xtic(1) title 'read (4 KiB pages of file data)' lc rgb '#9bbb59', '' using 3 title 'fetched, lazy (compressed)' lc rgb '#4f81bd', '' using 4 title 'fetched, + startup profile (compressed)' lc rgb '#f79646', '' using 5 title 'fetched chunks, lazy, uncompressed' lc rgb '#8064a2'"
	} | plot_png "$RESULTS/hello-bytes.png" 800,420 || true
}

modules_text() {
	local drv

	drv=$(sed -n 's/^INFO sha256 in the kernel: //p' "$GUEST_LOG" | tr -d '\r' | head -n1)
	case $MODULES in
	*sha256_ssse3*) printf 'The guest loads sha256_ssse3 (`tools/vm-run --modules %s`), as udev does on a real x86 host (the guest has no udev), so the kernel hashes the bootstrap for `-o digest=` with it (its sha256 drivers, by priority: %s).' "$MODULES" "$drv" ;;
	*) printf 'Kernel modules: %s; the kernel sha256: %s.' "${MODULES:-vm-run default}" "$drv" ;;
	esac
}

convert_time() { awk -v n="$1" '$1 == n { print $2 }' "$WORK/convert-times"; }

profile_label() {
	local o="${PROFILE_CHUNK:+--chunk-size $PROFILE_CHUNK }${PROFILE_LEVEL:+--level $PROFILE_LEVEL }"
	echo "\`nydusfs convert ${o}--prefetch-list hello-startup-W.list\`"
}

fetch_ra_text() {
	[ -z "${BENCH_HELLO_FETCH_RA:-}" ] ||
		printf '  **Experiment**: every nydusfsd of this run (lazy and profile) has `[fetch] readahead = %s` (BENCH_HELLO_FETCH_RA), not the default.' "$BENCH_HELLO_FETCH_RA"
}

profile_method_text() {
	echo "- **nydusfs + startup profile**: a recording boot before this one (same guest, same registry storage, no link shaping) ran each workload once on \`$REC_REPO:$TAG\`$([ "$REC_REPO" = "$NYDUS_REPO" ] || echo " (the OCI image converted with --chunk-size $PROFILE_CHUNK: a profile names whole chunks)") mounted by reference with a fresh nydusfsd, an empty cache and \`--no-prefetch\`, then \`nydusfs profile MNT\` (the ranges the kernel asked nydusfsd for, in first-use order: bench/results/hello-startup-W.list; that boot's output: hello-record.log).  On the host, the same OCI image was converted per workload with $(profile_label) into \`$NYDUS_REPO-W:$TAG\`: the profile's chunks first in the blob, their ranges in the bootstrap.  Here, per workload: a fresh nydusfsd with an empty cache and the default configuration (prefetch on), \`drop_caches\`, \`nydusfs mount docker://127.0.0.1:5000/$NYDUS_REPO-W:$TAG MNT\`, the workload.  The mount finds on the blob layer how many bytes at the blob's start hold the profile's chunks (org.nydusfs.startup.bytes) and has nydusfsd fetch them as soon as it has the manifest, while it downloads the bootstrap (an *early fetch*, one ranged request); once the image is registered, the profile's chunks are served from those bytes, checked against the bootstrap.$(fetch_ra_text)  Time as for the lazy case, until the command exits; bytes, requests and chunks fetched once the profile's prefetch has finished too (it may still run when the command exits), so that everything the mount fetched for the start counts.  Order: profile after lazy in even iterations, before it in odd ones."
}

# The startup profiles and their images
profile_images_text() {
	local w f

	echo "### The startup profiles"
	echo
	echo "| image | profile: ranges, bytes named | chunks in the prefetch plan | blob (compressed) | \`nydusfs convert\` on the host (wall time, s) |"
	echo "|-------|------:|------:|------:|------:|"
	printf '| `%s:%s` (%s; no profile: the lazy rows) | - | - | %s MiB | %s |\n' "$NYDUS_REPO" "$TAG" \
		"$(chunk_label)" "$(mib "$NYDUS_BLOBS")" "$(convert_time reference)"
	for w in $PROFILE_WORKLOADS; do
		f=$RESULTS/hello-startup-$w.list
		printf '| `%s-%s:%s` (`%s`) | %s, %s MiB | %s | %s MiB | %s |\n' "$NYDUS_REPO" "$w" "$TAG" \
			"$(profile_opts_text "$w")" \
			"$(grep -cv '^#' "$f")" "$(mib "$(awk '!/^#/ { s += $NF } END { printf "%.0f", s }' "$f")")" \
			"$(med "${LINKS%% *}" nydusfs-profile "$w" pf_total)" \
			"$(mib "$(blob_bytes "$WORK/nydus-$w-manifest.json")")" "$(convert_time "$w")"
	done
	echo
}

profile_opts_text() {	# WORKLOAD
	echo "nydusfs convert ${PROFILE_OPTS[*]} --prefetch-list hello-startup-$1.list" | tr -s ' '
}

blob_bytes() {	# MANIFEST: the nydusfs blobs' compressed size
	jq '[.layers[] | select(.mediaType == "application/vnd.oci.image.layer.nydus.blob.v1") | .size] | add' "$1"
}

write_report() {
	local section=$WORK/section.md kver skipped

	kver=$(sed -n 's/^INFO guest kernel //p' "$GUEST_LOG" | tr -d '\r' | cut -d, -f1 | head -n1)
	skipped=$(awk '$1 == "SKIP" { $1 = ""; print }' "$GUEST_LOG" | tr -d '\r' | sed 's/^ //' | paste -sd';')
	IMAGE_FILE_BYTES=$(read_of "$(ran_workloads | head -n1)" file_bytes)
	{
		echo
		echo "## Cold start (HelloBench style): nydusfs lazy pull, with and without a startup profile, against a plain pull + unpack (guest instruction time)"
		echo
		echo "- Host: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'), load average at start $LOAD_START"
		echo "- Guest: \`tools/vm-run --icount --mem $MEM\`, Debian cloud kernel $kver, one CPU, $(qemu_text "$GUEST_LOG"); nydusfs $(source_rev), nydusfs.ko sha256 $(sha256sum "$WORK/nydusfs.ko" | cut -c1-12); docker-registry $(dpkg-query -W -f='${Version}' docker-registry 2>/dev/null || echo '?'), curl, pigz $(dpkg-query -W -f='${Version}' pigz 2>/dev/null || echo '?'), GNU tar, OpenSSL from the host.  $(modules_text)"
		echo "- Image: the Debian 12 minbase tree (scripts/get-rootfs.sh): $ENTRIES entries, $(mib "$IMAGE_FILE_BYTES") MiB of file data.  Original: an OCI image with one tar+gzip layer (umoci), $(mib "$PLAIN_LAYERS") MiB.  Converted with \`nydusfs convert\` ($(chunk_label), zstd): blob $(mib "$NYDUS_BLOBS") MiB in $(chunk_count) chunks, bootstrap $(mib "$(boot_bytes)") MiB, its layer (tar+gzip) $(mib "$BOOT_LAYER") MiB.  Both pushed to one docker-registry whose storage the guest copies into its tmpfs and serves on 127.0.0.1:5000."
		echo "- Links: \`tc qdisc replace dev lo root netem rate R delay D\` in the guest; lo carries both directions, so the RTT is 2 D.  $(for l in $LINKS; do printf '%s (curl in the guest: a %s KiB ranged GET of the blob takes %s ms)\n' "$(link_label "$l")" "$(med "$l" linkcheck - range_kib)" "$(med "$l" linkcheck - range_ms)"; done | paste -sd';' | sed 's/;/; /g')."
		echo "- Workloads, each with \`env -i PATH=... chroot ROOT CMD\` (the clean environment of a container): $(for w in $(ran_workloads); do printf '`%s`\n' "$(workload_cmd "$w")"; done | paste -sd, | sed 's/,/, /g').${skipped:+  Skipped: $skipped.}"
		echo "- **plain** (what a container start costs without lazy pulling): GET the manifest and the config, then the layer streamed through \`openssl dgst -sha256\` (verified) and \`pigz -d\` into \`tar -x\` on tmpfs (pull + unpack; pigz is the fastest gzip decompressor here, and the one containerd uses when present), then the workload with chroot into the tree.  The pull + unpack is timed once per iteration and each workload's run after it; plain cold start = pull + unpack + run.  The pull alone (download + verify, no unpack) is timed in the first iteration, for information."
		echo "- **nydusfs** (lazy): for each workload a fresh nydusfsd with an empty cache (default configuration; cache on tmpfs with \`sync = false\`) and an empty state_dir (no stored bootstrap), and \`drop_caches\`; then the product's one step, \`nydusfs mount --config CONF --tls-verify=false docker://127.0.0.1:5000/bench/nydus:v1 MNT\` (GET the manifest and the bootstrap layer, verify it down to the bootstrap's own digest, untar and store it, register the image with nydusfsd, kernel mount with \`-o digest=\`), then the workload with chroot into the mount.  Cold start = both, until the command exits.  The daemon's start is not counted (it runs before a container starts, like containerd)."
		[ -z "$PROFILE_WORKLOADS" ] || profile_method_text
		echo "- **Bytes read**: the same tree as an uncompressed erofs image on a loop device with \`read_ahead_kb = 0\`, \`drop_caches\`, the workload with chroot into it, then \`bench/hellobench resident\` (mmap + mincore of every regular file, each inode once): the 4 KiB pages of file data the workload touched, with no readahead to inflate them (read(2) and page faults then bring in only the pages asked for); for comparison, the page cache erofs holds after the same run with the kernel's default readahead (last column of the bytes table).  Metadata (directories, inodes) is not counted; nydusfs has it all in the bootstrap, which is listed apart.  **Bytes fetched**: the daemon's \`nydusfsd_fetch_bytes_total\` (compressed bytes received), which includes the chunk rounding ($(chunk_label)) and the daemon's readahead.  The bootstrap layer ($(mib "$BOOT_LAYER") MiB) comes on top for every workload."
		echo "- **Whole image**: a fresh nydusfsd with \`[prefetch] all = true\`, empty cache; mount by reference as above, then until the daemon reports every chunk in the cache (\`bench/hellobench prefetch-wait\` polls its status every 25 ms, every 2 ms from 95% of the chunks on); against the plain pull + unpack of the same iteration."
		echo "- Method: time is **guest instruction time** (\`-icount shift=0,sleep=off\`: 1 executed instruction = 1 ns; idle time waiting for the link is the link's real time, skipped in wall time); every timestamp is CLOCK_MONOTONIC in the guest (\`bench/hellobench now\`).  $ITER iterations, the order of plain and nydusfs alternating; a ratio is the median of the per-iteration ratios, a time the median of the iterations."
		echo "- Spread over the $ITER iterations, the largest max / min of one case's time: $(for l in $LINKS; do printf '%s %s\n' "$(link_label "$l"):" "$(spread "$l")"; done | paste -sd';' | sed 's/;/; /g').  Guest time is repeatable to about 1% for CPU-bound loads; with the link's timers and the daemon's threads interleaving on one CPU it varies more."
		echo "- Caveats: the registry runs on the same single guest CPU, so its per-request cost counts against nydusfs (many ranged requests) and its per-byte cost against plain (the whole layer); a real registry is another machine.  Instruction time weighs CPU work (decompression, hashing, untar) against link time like a 1 GHz, 1-instruction-per-cycle CPU would: CPU-heavy steps look about 3x dearer than on this host, which penalises the plain pull's gzip + untar the most at 1 Gbit/s."
		echo
		echo "### Time to the command's exit"
		echo
		coldstart_table
		echo
		plot_ref "$RESULTS/hello-coldstart.png" "cold start times per workload and link, and the whole image"
		echo
		[ -z "$PROFILE_WORKLOADS" ] || profile_images_text
		echo "### Bytes fetched against bytes read"
		echo
		bytes_table
		echo
		plot_ref "$RESULTS/hello-bytes.png" "bytes read against bytes fetched per workload"
		echo
		echo "### Whole image: prefetch of every chunk against the plain pull"
		echo
		prefetch_table
		echo
		echo "### Where the guest time goes"
		echo
		echo "CPU time is the scheduler's account of every thread of the process (\`/proc/PID/task/*/schedstat\`), in guest instruction time; on one CPU, whatever is not CPU is waiting for the link."
		echo
		time_table
		echo
		echo "Per-run numbers: bench/results/hello-runs.tsv (link, iteration, method, workload, key, value), summaries hello-summary.tsv and hello-prefetch.tsv; guest output: bench/results/hello-guest.log."
		echo
		missed_list ${MISSED[@]+"${MISSED[@]}"}
	} >"$section"
	cat "$section"
	cat "$section" >>"$REPORT"
}

# Median per link and step of the PROF lines: LINK NAME ms
profile_summary() {
	local link name

	for link in $LINKS; do
		for name in $(awk -v l="$link" '$1 == "PROF" && $2 == l { print $4 }' \
			"$RESULTS/hello-profile.log" | awk '!seen[$0]++'); do
			printf '%s\t%s\t%s\n' "$(link_short "$link")" "$name" \
				"$(awk -v l="$link" -v n="$name" '$1 == "PROF" && $2 == l && $4 == n {
					split($5, kv, "="); print kv[2] }' "$RESULTS/hello-profile.log" | median)"
		done
	done
}

# --- main ---------------------------------------------------------------------------------

check_prereqs
mkdir -p "$RESULTS"
WORK=$(mktemp -d "${BENCH_TMP:-/var/tmp}/nydusfs-bench-hello.XXXXXX")
cleanup() {
	"$TOP/tests/registry/registry.sh" stop "$WORK/reg" >/dev/null 2>&1 || true
	if [ -n "${BENCH_KEEP:-}" ]; then
		log "keeping $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
[ "$PROFILE" != 1 ] || PROFILES=0
build_tools
prepare_data
if [ "$PROFILES" = 1 ]; then
	record_profiles
	convert_profiles
fi
registry_to_disk
log "image: $ENTRIES entries; layer $PLAIN_LAYERS bytes; nydusfs blob $NYDUS_BLOBS, bootstrap layer $BOOT_LAYER"

RUNS=$WORK/runs.tsv GUEST_LOG=$WORK/guest.log
SUMMARY=$RESULTS/hello-summary.tsv PF_SUMMARY=$RESULTS/hello-prefetch.tsv
PROFILE_TOOLS=""
if [ "$PROFILE" = 1 ]; then
	for t in strace perf; do
		if command -v "$t" >/dev/null; then PROFILE_TOOLS+=",$t"; fi
	done
fi
run_guest
if [ "$PROFILE" = 1 ]; then
	grep -E '^(PROF|STRACE|RECV|PERF|INFO)' "$GUEST_LOG" | tr -d '\r' >"$RESULTS/hello-profile.log"
	profile_summary
	exit 0
fi
MISSED=() PASSED=()
{
	printf 'link\titer\tmethod\tworkload\tkey\tvalue\n'
	cat "$RUNS"
} >"$RESULTS/hello-runs.tsv"
cp "$GUEST_LOG" "$RESULTS/hello-guest.log"
IMAGE_FILE_BYTES=$(read_of "$(ran_workloads | head -n1)" file_bytes)
write_summary_tsv
draw_plots
write_report
for m in "${PASSED[@]}"; do
	echo "PASS: $m"
done
for m in "${MISSED[@]}"; do
	echo "MISSED: $m"
done
exit 0
