#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Daemon benchmark: nydusfsd's cold reads over a shaped link, for
# `make bench`.  It runs tests/daemon/bench.sh (which stays usable on its
# own: tests/daemon/bench.sh [RATE_MBIT [DELAY_MS]]) and turns its output
# into a report section.  That script builds two images (one 128 MiB file
# of random bytes, 1 MiB chunks; a tree of 10,000 files of 1-8 KiB), pushes
# them to docker-registry, and in one guest boot (tools/vm-run --icount:
# guest time, one CPU) serves them from docker-registry inside the guest
# behind netem on lo (tests/daemon/guest_bench.sh); it reads, cold (fresh
# mount, drop_caches, nothing cached):
#
#   big   the large file, sequentially (cat)
#   tree  every file of the tree (find | xargs cat)
#
# and measures their throughput (compressed bytes fetched per second of
# guest time) over the link rate, against a plain `wget` of the large blob
# over the same link in the same boot (the peer: what one HTTP download
# achieves), and the daemon's peak RSS after serving the 10,000-file image.
# Targets (issue 4): cold throughput at least 0.9x the link rate; RSS at
# most 32 MiB.
#
# Environment: BENCH_DAEMON_RATE (Mbit/s, 100), BENCH_DAEMON_DELAY (ms each
# way, 5), BENCH_TMP (/var/tmp), BENCH_RESULTS.  Appends a section to
# $BENCH_RESULTS/REPORT.md; prints "MISSED: ..." or "PASS: ..." for each
# target.  Exit: 0 ran, 77 skipped, other: error (see bench/run.sh).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$HERE")
RESULTS=${BENCH_RESULTS:-$HERE/results}
REPORT=$RESULTS/REPORT.md
RATE=${BENCH_DAEMON_RATE:-100}
DELAY=${BENCH_DAEMON_DELAY:-5}

# shellcheck source=bench/lib/report.sh
. "$HERE/lib/report.sh"

die() {
	echo "bench/daemon: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || { echo "bench/daemon: skipped: needs root (tools/vm-run)" >&2; exit 77; }
[ -f "$TOP/kernel/nydusfs.ko" ] || { echo "bench/daemon: skipped: no kernel/nydusfs.ko (make modules)" >&2; exit 77; }
[ -x "$TOP/build/bin/nydusfsd" ] || die "no build/bin/nydusfsd: run make first"

mkdir -p "$RESULTS"
WORK=$(mktemp -d "${BENCH_TMP:-/var/tmp}/nydusfs-bench-daemon.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
LOG=$RESULTS/daemon-guest.log

rc=0
WORK=$WORK/run "$TOP/tests/daemon/bench.sh" "$RATE" "$DELAY" >"$WORK/out.log" 2>&1 || rc=$?
tr -d '\r' <"$WORK/out.log" >"$LOG"
cat "$LOG"
[ "$rc" = 0 ] || die "tests/daemon/bench.sh failed (exit $rc); see $LOG"

# "bench NAME KEY VALUE [KEY VALUE]" -> NAME KEY VALUE rows
awk '$1 == "bench" { for (i = 3; i + 1 <= NF; i += 2) print $2 "\t" $i "\t" $(i + 1) }' \
	"$LOG" >"$WORK/values.tsv"
{
	printf 'name\tkey\tvalue\n'
	cat "$WORK/values.tsv"
} >"$RESULTS/daemon-runs.tsv"

val() {
	awk -F'\t' -v n="$1" -v k="$2" '$1 == n && $2 == k { print $3; exit }' "$WORK/values.tsv"
}

for name in wget big tree; do
	[ -n "$(val "$name" link_ratio)" ] || die "no result for '$name' in $LOG"
done
[ -n "$(val daemon vmhwm_kib)" ] || die "no daemon RSS in $LOG"
if grep -q 'read-error' "$LOG"; then
	die "a read failed in the guest; see $LOG"
fi

MISSED=() PASSED=()
check() {	# VALUE OP LIMIT DESCRIPTION -> RESULT
	if awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { exit !(op == ">=" ? v >= l : v <= l) }'; then
		PASSED+=("$4: $1, target $2 $3")
		RESULT=PASS
	else
		MISSED+=("$4: $1, target $2 $3")
		RESULT=MISSED
	fi
}

describe() {
	case $1 in
	wget) echo "plain \`wget\` of the 128 MiB blob (the peer)" ;;
	big) echo "nydusfs: cold sequential read of the 128 MiB file" ;;
	tree) echo "nydusfs: cold read of every file of the 10,000-file tree" ;;
	tree-warm) echo "nydusfs: the same read of the tree, every chunk cached" ;;
	esac
}

# The CPU breakdown tests/daemon/guest_bench.sh gives (guest seconds)
cpu_of() {
	[ -n "$(val "$1" cpu_daemon_s)" ] || { echo -; return; }
	echo "$(val "$1" cpu_daemon_s) ($(val "$1" cpu_verify_s)), $(val "$1" cpu_registry_s)"
}

rows() {
	local name lr wr

	wr=$(val wget link_ratio)
	for name in wget big tree tree-warm; do
		[ -n "$(val "$name" seconds)" ] || continue
		lr=$(val "$name" link_ratio)
		case $name in
		big|tree)
			check "$lr" ">=" 0.9 "$(describe "$name") over the link rate"
			target=">= 0.9" ;;
		*)	RESULT="(info)" target="" ;;
		esac
		if [ "$name" = tree-warm ]; then	# nothing fetched: no rate
			printf '| %s | 0 | %s | - | - | - | | (info) | %s |\n' \
				"$(describe "$name")" "$(val "$name" seconds)" "$(cpu_of "$name")"
			continue
		fi
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(describe "$name")" \
			"$(val "$name" bytes | grep . || echo "$((128 << 20))")" \
			"$(val "$name" seconds)" \
			"$(val "$name" mbit_per_s | grep . || echo -)" "$lr" \
			"$(awk -v a="$lr" -v b="$wr" 'BEGIN { printf "%.3f", a / b }')" \
			"$target" "$RESULT" "$(cpu_of "$name")"
	done
}

awk -F'\t' '$2 == "link_ratio" && $1 != "tree-warm" { print $1, $3 }' "$WORK/values.tsv" >"$WORK/plot.dat"
plot_png "$RESULTS/daemon-link.png" 700,380 <<EOF || true
set style data histograms
set style histogram clustered gap 1
set ylabel 'throughput / link rate'
set yrange [0:1.1]
set title 'nydusfsd cold reads, $RATE Mbit/s, $((2 * DELAY)) ms RTT (guest time)'
set arrow from graph 0, first 0.9 to graph 1, first 0.9 nohead dt 2 lc rgb '#c0504d'
set label 'target 0.9' at graph 0.02, first 0.93
plot '$WORK/plot.dat' using 2:xtic(1) title 'throughput / link rate' lc rgb '#4f81bd'
EOF

hwm=$(val daemon vmhwm_kib)
check "$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')" "<=" 32 \
	"nydusfsd peak RSS (MiB) serving the 10,000-file image"
rss_result=$RESULT
section=$WORK/section.md
{
	echo
	echo "## Daemon: nydusfsd cold reads against the shaped link (guest instruction time)"
	echo
	echo "- Host: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'), load average at start $LOAD_START; nydusfs $(source_rev)"
	echo "- Method: \`tests/daemon/bench.sh $RATE $DELAY\` (its guest half: tests/daemon/guest_bench.sh): one guest boot, \`tools/vm-run --icount\` (guest instruction time, one CPU; $(qemu_text "$LOG")), docker-registry in the guest on 127.0.0.1 behind \`netem rate ${RATE}mbit delay ${DELAY}ms\` on lo (RTT $((2 * DELAY)) ms), nydusfsd with its default fetch settings and its cache on tmpfs.  Images: one 128 MiB file of random bytes (1 MiB chunks, zstd: incompressible), and a tree of 100 directories of 100 files of 1-8 KiB (half random, half text).  Each read is cold: a fresh mount with \`--no-prefetch\`, \`drop_caches\`, nothing in the cache.  Throughput = compressed bytes the daemon fetched / guest seconds of the read; over the link rate it is the fraction of the link used.  The peer is a plain \`wget\` of the 128 MiB blob over the same link in the same boot."
	echo
	echo "| read | bytes fetched | guest seconds | Mbit/s | throughput / link rate | / wget's | target | result | CPU s: daemon (of which verify), registry |"
	echo "|------|------:|------:|------:|------:|------:|--------|--------|------|"
	rows
	echo
	echo "Daemon memory after serving the 10,000-file image: peak RSS (VmHWM) $(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }') MiB, RSS now $(awk -v k="$(val daemon vmrss_kib)" 'BEGIN { printf "%.1f", k / 1024 }') MiB; target <= 32 MiB: $rss_result."
	echo
	plot_ref "$RESULTS/daemon-link.png" "nydusfsd cold read throughput over the link rate"
	echo
	echo "Values: bench/results/daemon-runs.tsv; guest output: bench/results/daemon-guest.log."
	echo
	missed_list ${MISSED[@]+"${MISSED[@]}"}
} >"$section"
cat "$section"
cat "$section" >>"$REPORT"
for m in "${PASSED[@]}"; do
	echo "PASS: $m"
done
for m in "${MISSED[@]}"; do
	echo "MISSED: $m"
done
exit 0
