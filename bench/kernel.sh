#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Kernel benchmark: nydusfs.ko's read path, every chunk cached, against the
# kernel's own erofs on the same tree, in one QEMU guest boot
# (tools/vm-run --icount).  The method is the one in the project notes
# (machine-and-vm.md, "Benchmarks inside the guest"):
#
#   - guest time under -icount (one CPU; 1 executed instruction = 1 ns),
#     read with CLOCK_MONOTONIC by bench/readbench.c inside the guest,
#     where bench/guest/kernel.sh runs the loads: it does not depend on
#     the host's load or speed;
#   - every image copied into the guest's tmpfs before anything is timed;
#   - three mounts: nydusfs (every chunk already in its cache file, so no
#     upcall), erofs (mkfs.erofs, uncompressed) and a second copy of the
#     erofs image as the A/A control; drop_caches before each timed run,
#     the order of the mounts rotated every iteration, BENCH_ITER (3)
#     iterations, a ratio is the median of the per-iteration ratios;
#   - the run counts only if every A/A ratio is within 1.00 +- 0.01; if
#     not, or if a result lies within 0.01 of its target, the guest part
#     is run again with 5 iterations, and that run is the one reported.
#
# Loads: read every file, read one 64 MiB file sequentially, read its 4 KiB
# blocks in a random order, walk the tree (nftw: readdir + lstat), all in
# 4 KiB read() calls.  Ratios are throughput relative to erofs (erofs time
# / nydusfs time, higher is better); targets: sequential reads >= 0.95,
# metadata walk >= 0.9.  Then the upcall cost: a cold read of a 4 KiB-chunk
# image served by selftests/nydusfs/nydusfs_testd inside the guest, in
# random order (one chunk per upcall) and sequentially (readahead), with a
# fresh daemon and an empty cache each time: round trip = guest time /
# READ upcalls, and upcalls per guest second.
#
# Environment: BENCH_ITER (3), BENCH_TMP (/var/tmp), BENCH_RESULTS,
# BENCH_VM_TIMEOUT (seconds per guest boot, 5400), BENCH_MEM (2G),
# BENCH_KERNEL_MOUNTS ("nydusfs erofs erofs2"; without nydusfs only the
# erofs side and the A/A control run), BENCH_LARGE_MIB (64),
# BENCH_UPCALL_MIB (16), BENCH_KERNEL_VERSION (6.1), BENCH_KEEP (set: keep
# the work directory under BENCH_TMP).
# Appends a section to $BENCH_RESULTS/REPORT.md with a plot
# (kernel-ratios.png); prints "MISSED: ..." or "PASS: ..." for each target.  Exit: 0 ran, 77 skipped, other: error (see bench/run.sh).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$HERE")
NYDUSFS=${NYDUSFS:-$TOP/build/bin/nydusfs}
ITER=${BENCH_ITER:-3}
RESULTS=${BENCH_RESULTS:-$HERE/results}
REPORT=$RESULTS/REPORT.md
VM_TIMEOUT=${BENCH_VM_TIMEOUT:-5400}
MEM=${BENCH_MEM:-2G}
MOUNTS=${BENCH_KERNEL_MOUNTS:-nydusfs erofs erofs2}
LARGE_MIB=${BENCH_LARGE_MIB:-64}
UPCALL_MIB=${BENCH_UPCALL_MIB:-16}
KSERIES=${BENCH_KERNEL_VERSION:-6.1}
RERUN_ITER=5
TESTS=(seqall seqlarge rand walk)

# shellcheck source=bench/lib/report.sh
. "$HERE/lib/report.sh"

die() {
	echo "bench/kernel: $*" >&2
	exit 1
}

skip() {
	echo "bench/kernel: skipped: $*" >&2
	exit 77
}

has_mount() { [[ " $MOUNTS " == *" $1 "* ]]; }

median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) print "nan";
		else if (NR % 2) print v[(NR + 1) / 2];
		else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# --- preparing ----------------------------------------------------------

check_prereqs() {
	local cmd

	[ "$(id -u)" = 0 ] || skip "needs root (tools/vm-run, cp -a of the OS tree)"
	[ -x "$NYDUSFS" ] || die "$NYDUSFS not found: run make first"
	for cmd in mkfs.erofs gcc make; do
		command -v "$cmd" >/dev/null || die "$cmd missing: run make (installs deps)"
	done
	[ -x "$TOP/tools/vm-run" ] || die "no tools/vm-run"
	if has_mount nydusfs; then
		[ -f "$TOP/kernel/nydusfs.ko" ] ||
			skip "no kernel/nydusfs.ko (make modules)"
		[ -f "$TOP/selftests/nydusfs/nydusfs_testd.c" ] ||
			skip "no selftests/nydusfs/nydusfs_testd.c"
	fi
}

# bench/readbench.c and the test daemon, built under build/bench
build_tools() {
	READBENCH=$TOP/build/bench/readbench
	mkdir -p "$TOP/build/bench"
	if [ ! -x "$READBENCH" ] || [ "$HERE/readbench.c" -nt "$READBENCH" ]; then
		gcc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE \
			-o "$READBENCH" "$HERE/readbench.c" ||
			die "cannot build bench/readbench.c"
	fi
	WITH=$READBENCH
	TESTD=""
	if has_mount nydusfs; then
		TESTD=$TOP/build/bench/nydusfs_testd
		make -s -C "$TOP/selftests/nydusfs" OUTPUT="$TOP/build/bench" \
			"$TESTD" >&2 || die "cannot build nydusfs_testd"
		WITH+=,$TESTD
		# a snapshot, so that a rebuild during the run changes nothing
		cp "$TOP/kernel/nydusfs.ko" "$WORK/nydusfs.ko"
	fi
}

# The tree (the minbase OS tree plus one large file), its images, the
# upcall image and the guest script, all in $DISK for vm-run --disk.
prepare_data() {
	local rootfs

	rootfs=$("$TOP/scripts/get-rootfs.sh" | tail -n1) ||
		die "scripts/get-rootfs.sh failed"
	[ -d "$rootfs" ] || die "no OS tree at '$rootfs'"
	TREE=$WORK/tree DISK=$WORK/disk
	mkdir -p "$DISK" "$WORK/upsrc"
	cp -a "$rootfs" "$TREE"
	"$READBENCH" -s 1 fill "$TREE/bench-large.bin" $((LARGE_MIB << 20))
	"$READBENCH" -s 2 fill "$WORK/upsrc/upcall.bin" $((UPCALL_MIB << 20))
	TREE_SUM=$("$READBENCH" sum "$TREE") || die "readbench sum failed"
	TREE_SUM=${TREE_SUM%% *} TREE_SUM=${TREE_SUM#sum=}
	ENTRIES=$(find "$TREE" | wc -l)
	TREE_BYTES=$(du -sb --apparent-size "$TREE" | cut -f1)

	mkfs.erofs --quiet "$DISK/erofs.img" "$TREE" >"$WORK/mkfs.log" 2>&1 ||
		die "mkfs.erofs failed: $(tail -n5 "$WORK/mkfs.log")"
	if has_mount nydusfs; then
		"$NYDUSFS" build -z none -o "$DISK/nydus" "$TREE" \
			>"$WORK/build.log" 2>&1 ||
			die "nydusfs build failed: $(tail -n5 "$WORK/build.log")"
		"$NYDUSFS" build -z none -c 4K -o "$DISK/up" "$WORK/upsrc" \
			>"$WORK/build-up.log" 2>&1 ||
			die "nydusfs build (upcall image) failed: $(tail -n5 "$WORK/build-up.log")"
	fi
	install -m 755 "$HERE/guest/kernel.sh" "$DISK/guest-kernel.sh"
	rm -rf "$TREE"
}

# --- the guest ------------------------------------------------------------

# run_guest N ITER PHASES: one boot; its output in $WORK/guest-N.log
run_guest() {
	local n=$1 iter=$2 phases=$3 log=$WORK/guest-$1.log rc=0 args=()

	args=(--icount --mem "$MEM" --timeout "$VM_TIMEOUT"
	      --kernel-version "$KSERIES" --with "$WITH" --disk "$DISK")
	if has_mount nydusfs; then
		args+=(--module "$WORK/nydusfs.ko")
	else
		args+=(--module "$WORK/none.ko")
	fi
	echo "bench/kernel: guest boot $n: $iter iterations, phases: $phases" >&2
	"$TOP/tools/vm-run" "${args[@]}" -- \
		sh /mnt/disk0/guest-kernel.sh "$iter" "$MOUNTS" "$phases" \
		"$TREE_SUM" 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
	[ "$rc" = 0 ] || die "the guest run failed (vm-run exit $rc); see $log"
	grep -q '^INFO done' "$log" || die "the guest run did not finish; see $log"
	awk -v b="$n" '$1 == "RES" {
		printf "%s\t%s\t%s\t%s", b, $2, $3, $4
		for (i = 5; i <= NF; i++) { split($i, kv, "="); printf "\t%s", kv[2] }
		printf "\n" }' "$log" | tr -d '\r' >>"$RUNS"
	awk -v b="$n" '$1 == "UPCALL" {
		printf "%s\t%s\t%s", b, $2, $3
		for (i = 4; i <= NF; i++) { split($i, kv, "="); printf "\t%s", kv[2] }
		printf "\n" }' "$log" | tr -d '\r' >>"$UPRUNS"
}

# --- numbers ----------------------------------------------------------------

# Column $4 (ns=5 bytes=6 files=7 entries=8 ops=9) of test $2 on mount $3
# in boot $1, one line per iteration, in iteration order
runs_of() {
	awk -F'\t' -v b="$1" -v t="$2" -v m="$3" -v c="${4:-5}" \
		'$1 == b && $3 == t && $4 == m { print $2, $c }' "$RUNS" |
		sort -n | cut -d' ' -f2
}

# Median over iterations of (time on $3) / (time on $4), test $2, boot $1
ratio() {
	paste -d' ' <(runs_of "$1" "$2" "$3") <(runs_of "$1" "$2" "$4") |
		awk '{ printf "%.4f\n", $1 / $2 }' | median
}

median_ms() {
	runs_of "$1" "$2" "$3" | median | awk '{ printf "%.1f", $1 / 1e6 }'
}

target_of() {
	case $1 in
	seqall|seqlarge) echo 0.95 ;;
	walk) echo 0.9 ;;
	*) echo "" ;;
	esac
}

# Whether boot $1 needs a rerun: an A/A ratio off by more than 0.01, or a
# result within 0.01 of its target
needs_rerun() {
	local t aa r tgt

	for t in "${TESTS[@]}"; do
		if has_mount erofs2; then
			aa=$(ratio "$1" "$t" erofs erofs2)
			awk -v a="$aa" 'BEGIN { exit !(a < 0.99 || a > 1.01) }' && return 0
		fi
		tgt=$(target_of "$t")
		if has_mount nydusfs && [ -n "$tgt" ]; then
			r=$(ratio "$1" "$t" erofs nydusfs)
			awk -v r="$r" -v l="$tgt" 'BEGIN { exit !(r >= l - 0.01 && r < l + 0.01) }' &&
				return 0
		fi
	done
	return 1
}

aa_ok() {
	local t aa

	has_mount erofs2 || return 1
	for t in "${TESTS[@]}"; do
		aa=$(ratio "$1" "$t" erofs erofs2)
		awk -v a="$aa" 'BEGIN { exit !(a < 0.99 || a > 1.01) }' && return 1
	done
	return 0
}

describe_test() {
	case $1 in
	seqall) echo "read every file (4 KiB read())" ;;
	seqlarge) echo "sequential read, ${LARGE_MIB} MiB file (4 KiB read())" ;;
	rand) echo "random 4 KiB reads, ${LARGE_MIB} MiB file, every block once" ;;
	walk) echo "metadata walk (nftw: readdir + lstat of every entry)" ;;
	esac
}

guest_value() {	# INFO line prefix -> rest of the line, from boot $1
	sed -n "s/^INFO $2//p" "$WORK/guest-$1.log" | tr -d '\r' | head -n1
}

# --- report -------------------------------------------------------------------

write_main_table() {
	local b=$1 t tgt r aa result e2 ny

	echo "| load | erofs (ms) | erofs copy (ms) | nydusfs (ms) | A/A: erofs / erofs copy | nydusfs throughput relative to erofs | target | result |"
	echo "|------|-----------:|----------------:|-------------:|------------------------:|--------------------------:|--------|--------|"
	for t in "${TESTS[@]}"; do
		tgt=$(target_of "$t")
		aa="-" r="-" result="-" e2="-" ny="-"
		if has_mount erofs2; then
			aa=$(ratio "$b" "$t" erofs erofs2)
			e2=$(median_ms "$b" "$t" erofs2)
		fi
		if has_mount nydusfs; then
			r=$(printf '%.3f' "$(ratio "$b" "$t" erofs nydusfs)")
			ny=$(median_ms "$b" "$t" nydusfs)
			if [ -z "$tgt" ]; then
				result="(info)"
			elif [ "$AA_VALID" != 1 ]; then
				result="NO VERDICT (A/A)"
				MISSED+=("$(describe_test "$t"): $r, target >= $tgt, but the A/A control is out of 1.00 +- 0.01: no verdict")
			elif awk -v r="$r" -v l="$tgt" 'BEGIN { exit !(r >= l) }'; then
				result=PASS
				PASSED+=("$(describe_test "$t"): nydusfs at ${r}x erofs, target >= ${tgt}x")
			else
				result=MISSED
				MISSED+=("$(describe_test "$t"): nydusfs at ${r}x erofs, target >= ${tgt}x")
			fi
		fi
		[ "$aa" = - ] || aa=$(printf '%.3f' "$aa")
		printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' \
			"$(describe_test "$t")" "$(median_ms "$b" "$t" erofs)" \
			"$e2" "$ny" "$aa" "$r" "${tgt:+>= $tgt}" "$result"
	done
}

# Median of column $3 of the upcall runs of mode $2 in boot $1
# (4 ns, 5 bytes, 6 files, 7 entries, 8 ops, 9 reads, 10 opens, 11 chunks,
# 12 read_errors, 13 testd_ns: the daemon's time on the CPU)
up_median() {
	awk -F'\t' -v b="$1" -v m="$2" -v c="$3" '$1 == b && $3 == m { print $c }' \
		"$UPRUNS" | median
}

write_upcall_table() {
	local b=$1 mode ns reads chunks bytes errs dns

	echo "| cold read, 4 KiB chunks | chunks fetched | READ upcalls | guest time (ms) | round trip per upcall (µs) | of which the daemon on the CPU (µs) | upcalls per guest second | MiB per guest second |"
	echo "|------|------:|------:|------:|------:|------:|------:|------:|"
	for mode in rand seq; do
		ns=$(up_median "$b" "$mode" 4)
		reads=$(up_median "$b" "$mode" 9)
		chunks=$(up_median "$b" "$mode" 11)
		bytes=$(up_median "$b" "$mode" 5)
		errs=$(up_median "$b" "$mode" 12)
		dns=$(up_median "$b" "$mode" 13)
		[ "$errs" = 0 ] || UP_NOTE+=" The daemon reported $errs read errors in $mode mode."
		awk -v m="$mode" -v ns="$ns" -v r="$reads" -v c="$chunks" \
		    -v by="$bytes" -v dns="$dns" 'BEGIN {
			d = (m == "rand") ? "random order, no readahead (one chunk per upcall)" : "sequential, readahead (missing chunks of a window queued at once)"
			printf "| %s | %d | %d | %.1f | %.1f | %.1f | %.0f | %.1f |\n", d, c, r, ns / 1e6,
				r ? ns / r / 1e3 : 0, r ? dns / r / 1e3 : 0,
				ns ? r / (ns / 1e9) : 0,
				ns ? by / 1048576 / (ns / 1e9) : 0 }'
	done
}

# Throughput relative to erofs per load, with the A/A control beside it
draw_plot() {
	local b=$1 t aa r

	for t in "${TESTS[@]}"; do
		aa=1 r=0
		has_mount erofs2 && aa=$(ratio "$b" "$t" erofs erofs2)
		has_mount nydusfs && r=$(ratio "$b" "$t" erofs nydusfs)
		echo "$t $r $aa"
	done >"$WORK/plot.dat"
	plot_png "$RESULTS/kernel-ratios.png" 760,380 <<EOF || true
set style data histograms
set style histogram clustered gap 1
set ylabel 'throughput relative to erofs (higher is better)'
set yrange [0:*]
set key top right
set title 'nydusfs.ko read path against erofs, every chunk cached (guest time)'
set arrow from graph 0, first 0.95 to graph 1, first 0.95 nohead dt 2 lc rgb '#c0504d'
set label 'dashed: target 0.95 (walk: 0.9)' at graph 0.02, graph 0.95 tc rgb '#c0504d'
plot '$WORK/plot.dat' using 2:xtic(1) title 'nydusfs / erofs' lc rgb '#4f81bd', '' using 3 title 'A/A: erofs copy / erofs' lc rgb '#9bbb59'
EOF
}

write_report() {
	local b=$FINAL section=$WORK/section.md kver first_note="" ko_info=""

	kver=$(guest_value "$b" "guest kernel " | cut -d, -f1)
	if [ "$FINAL" != 1 ]; then
		first_note="The first boot ($ITER iterations) $RERUN_WHY, so the guest part ran again with $RERUN_ITER iterations; the table shows that second boot. First boot's ratios: $(first_boot_summary)."
	fi
	has_mount nydusfs && ko_info="nydusfs.ko sha256 $(sha256sum "$WORK/nydusfs.ko" | cut -c1-12)"
	{
		echo
		echo "## Kernel: nydusfs.ko read path against in-kernel erofs (guest instruction time)"
		echo
		echo "- Host: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'), load average at start $LOAD_START"
		echo "- Guest: \`tools/vm-run --icount --mem $MEM\`, Debian cloud kernel $kver, one CPU, $(qemu_text "$WORK/guest-$b.log"); nydusfs $(source_rev)${ko_info:+, $ko_info}; mkfs.erofs $(dpkg-query -W -f='${Version}' erofs-utils 2>/dev/null || echo '?')"
		echo "- Data: the minbase OS tree (scripts/get-rootfs.sh) plus \`/bench-large.bin\`, $LARGE_MIB MiB of pseudo-random bytes: $ENTRIES entries, $TREE_BYTES bytes.  Images: \`nydusfs build -z none\` (1 MiB chunks), \`mkfs.erofs\` with no compression (4 KiB blocks); every mount must give the same \`readbench sum\` (names, modes, owners, sizes, contents) as the source tree before it is timed."
		echo "- Method: time is **guest instruction time**: QEMU TCG with \`-icount shift=0,sleep=off,align=off\` makes the guest clock count executed instructions (1 ns each), whatever the host does; \`bench/readbench\` reads CLOCK_MONOTONIC in the guest around each load.  Every image is copied into the guest's **tmpfs** first: the erofs image twice (loop-mounted; the second copy is the A/A control), the nydusfs bootstrap (on a loop device too: nydusfs needs ->read_folio, which tmpfs lacks, and so its metadata takes the same path as erofs's) and its blobs; the nydusfs cache file is on the same tmpfs and read directly, erofs data goes through the loop device.  The nydusfs mount is timed with every chunk in its cache file (all read once through \`nydusfs_testd\` beforehand), so it makes no upcall ($TIMED_UPCALLS upcalls during the timed runs).  \`sync; echo 3 > /proc/sys/vm/drop_caches\` before every timed run: each run reads through the filesystem's code path with an empty page cache, CPU-bound and repeatable, not a disk."
		echo "- Statistics: $(iters_of "$b") iterations, the order of the mounts rotated every iteration; a ratio is the median of the per-iteration ratios; the run counts only if the A/A ratio (erofs / its copy) is within 1.00 +- 0.01 for every load.  A/A: $([ "$AA_VALID" = 1 ] && echo "within range" || echo "**OUT OF RANGE: the ratios below do not count**").  Ratios are throughput relative to erofs: erofs time / nydusfs time, higher is better.  Absolute times are guest instruction time, not wall time."
		[ -z "$first_note" ] || echo "- $first_note"
		echo
		write_main_table "$b"
		if [ -s "$UPRUNS" ]; then
			echo
			echo "Upcall round trip: a $UPCALL_MIB MiB file of pseudo-random bytes in an image with 4 KiB chunks (\`nydusfs build -z none -c 4K\`), blob and cache in the guest's tmpfs, served by \`selftests/nydusfs/nydusfs_testd\` in the guest (it preads the chunk from the blob, checks its sha256, pwrites it into the cache file and its presence map, then replies).  Each run: a fresh daemon and an empty cache, a fresh mount, one untimed read (the OPEN upcall and one chunk), drop_caches, then every 4 KiB block read once.  Round trip = guest time / READ upcalls counted by the daemon; one CPU, so the reader, the kernel and the daemon take turns; the daemon's share is its time on the CPU (/proc/PID/schedstat: its user code and its system calls), the rest is the reader's side of the kernel (page fault or read, queueing, wake-ups, the copy from the cache file).  Medians of the $(iters_of 1) runs of the first boot."
			echo
			write_upcall_table 1
			[ -z "$UP_NOTE" ] || { echo; echo "-$UP_NOTE"; }
		fi
		echo
		draw_plot "$b"
		plot_ref "$RESULTS/kernel-ratios.png" "nydusfs.ko throughput relative to erofs per load"
		echo
		echo "Loads in the plot: seqall = read every file, seqlarge = sequential read of the large file, rand = random 4 KiB reads of it, walk = metadata walk."
		echo
		echo "Per-run numbers: bench/results/kernel-runs.tsv and kernel-upcall-runs.tsv; guest output: bench/results/kernel-guest-*.log."
		echo
		missed_list ${MISSED[@]+"${MISSED[@]}"}
	} >"$section"
	cat "$section"
	cat "$section" >>"$REPORT"
}

iters_of() {
	awk -F'\t' -v b="$1" '$1 == b { print $2 }' "$RUNS" | sort -u | wc -l
}

first_boot_summary() {
	local t out=()

	for t in "${TESTS[@]}"; do
		out+=("$t $(has_mount nydusfs && printf '%.3f' "$(ratio 1 "$t" erofs nydusfs)" || echo -) (A/A $(has_mount erofs2 && printf '%.3f' "$(ratio 1 "$t" erofs erofs2)" || echo -))")
	done
	local IFS=';'
	echo "${out[*]}"
}

# --- main -------------------------------------------------------------------

check_prereqs
mkdir -p "$RESULTS"
WORK=$(mktemp -d "${BENCH_TMP:-/var/tmp}/nydusfs-bench-kernel.XXXXXX")
if [ -n "${BENCH_KEEP:-}" ]; then
	echo "bench/kernel: keeping $WORK" >&2
else
	trap 'rm -rf "$WORK"' EXIT
fi
build_tools
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
prepare_data
echo "bench/kernel: tree $ENTRIES entries, $TREE_BYTES bytes, sum $TREE_SUM" >&2

RUNS=$WORK/runs.tsv UPRUNS=$WORK/upruns.tsv
: >"$RUNS"
: >"$UPRUNS"
phases=main
has_mount nydusfs && phases="main upcall"
run_guest 1 "$ITER" "$phases"
FINAL=1 RERUN_WHY=""
if [ "$ITER" -lt "$RERUN_ITER" ] && needs_rerun 1; then
	if aa_ok 1 || ! has_mount erofs2; then
		RERUN_WHY="had a result within 0.01 of its target"
	else
		RERUN_WHY="had an A/A ratio out of 1.00 +- 0.01"
		echo "bench/kernel: WARNING: A/A control out of 1.00 +- 0.01: running again with $RERUN_ITER iterations" >&2
	fi
	run_guest 2 "$RERUN_ITER" main
	FINAL=2
fi
AA_VALID=0
aa_ok "$FINAL" && AA_VALID=1
if has_mount erofs2 && [ "$AA_VALID" != 1 ]; then
	echo "bench/kernel: WARNING: THE A/A CONTROL IS OUT OF 1.00 +- 0.01: THE RATIOS DO NOT COUNT" >&2
fi
TIMED_UPCALLS=$(sed -n 's/^TIMED_UPCALLS //p' "$WORK/guest-$FINAL.log" | tr -d '\r' | head -n1)
TIMED_UPCALLS=${TIMED_UPCALLS:-0}
if [ "$TIMED_UPCALLS" != 0 ]; then
	echo "bench/kernel: WARNING: nydusfs made $TIMED_UPCALLS upcalls during the timed runs" >&2
fi

MISSED=() PASSED=() UP_NOTE=""
{
	printf 'boot\titer\ttest\tmount\tns\tbytes\tfiles\tentries\tops\n'
	cat "$RUNS"
} >"$RESULTS/kernel-runs.tsv"
{
	printf 'boot\titer\tmode\tns\tbytes\tfiles\tentries\tops\treads\topens\tchunks\tread_errors\ttestd_ns\n'
	cat "$UPRUNS"
} >"$RESULTS/kernel-upcall-runs.tsv"
for f in "$WORK"/guest-*.log; do
	cp "$f" "$RESULTS/kernel-${f##*/}"
done
write_report
for m in "${PASSED[@]}"; do
	echo "PASS: $m"
done
for m in "${MISSED[@]}"; do
	echo "MISSED: $m"
done
exit 0
