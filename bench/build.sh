#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build benchmark: `nydusfs build` on a real OS tree (scripts/get-rootfs.sh)
# against its peers.
#
#   (a) compression off: `nydusfs build -z none` against
#       `mkfs.erofs --chunksize=1048576 --blobdev=BLOB IMG TREE`;
#       ratio = erofs time / nydusfs time, target >= 1.0;
#   (b) zstd: `nydusfs build` (zstd, default level) against
#       `tar -C TREE -cf - . | zstd -3`; output size ratio (bootstrap +
#       blobs over the .tar.zst) target <= 1.05, wall time ratio target
#       <= 1.5.  `zstd -3` is single-threaded by default; `zstd -3 -T0`
#       (all CPUs) is measured too, for information.
#
# All commands run in one go, alternating (the order rotates every
# iteration), BENCH_ITER (3) iterations per cache mode; a ratio is the
# median of the per-iteration ratios.  Cache modes (BENCH_CACHE, default
# "cold warm"): cold drops the page cache before every command, warm reads
# the tree once first so every command reads it from the page cache.
# Outputs go to BENCH_TMP (/var/tmp).  Appends a section to
# $BENCH_RESULTS/REPORT.md and a plot (build-times.png); prints
# "MISSED: ..." or "PASS: ..." for each target.
# Exit: 0 ran, 77 skipped, other: error (see bench/run.sh).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$HERE")
NYDUSFS=${NYDUSFS:-$TOP/build/bin/nydusfs}
ITER=${BENCH_ITER:-3}
MODES=${BENCH_CACHE:-cold warm}
RESULTS=${BENCH_RESULTS:-$HERE/results}
REPORT=$RESULTS/REPORT.md

TOOLS=(nydusfs-none erofs nydusfs-zstd tar-zstd tar-zstd-T0)

# shellcheck source=bench/lib/report.sh
. "$HERE/lib/report.sh"

die() {
	echo "bench/build: $*" >&2
	exit 1
}

now_us() {
	local t=$EPOCHREALTIME

	echo "${t/./}"
}

can_drop_caches() {
	sync && echo 3 2>/dev/null >/proc/sys/vm/drop_caches
}

# Read every file of the tree once, so that it sits in the page cache.
warm_tree() {
	tar -C "$TREE" -cf - . | cat >/dev/null
}

file_size() {
	stat -c %s "$1"
}

# Size of a nydusfs output directory: the bootstrap plus its blobs.
nydusfs_size() {
	local total=0 f

	for f in "$1"/bootstrap "$1"/blobs/*; do
		total=$((total + $(file_size "$f")))
	done
	echo "$total"
}

# Run one tool once; sets RUN_US and RUN_BYTES.
run_tool() {
	local tool=$1 mode=$2 out=$WORK/$1 t0 t1

	rm -rf "$out"
	mkdir -p "$out"
	sync
	if [ "$mode" = cold ]; then
		echo 3 >/proc/sys/vm/drop_caches
	fi
	t0=$(now_us)
	case $tool in
	nydusfs-none)
		"$NYDUSFS" build -z none -o "$out/img" "$TREE" \
			>"$out.log" 2>&1 || die "$tool failed: $(tail -n5 "$out.log")"
		;;
	nydusfs-zstd)
		"$NYDUSFS" build -z zstd -o "$out/img" "$TREE" \
			>"$out.log" 2>&1 || die "$tool failed: $(tail -n5 "$out.log")"
		;;
	erofs)
		mkfs.erofs --quiet --chunksize=1048576 --blobdev="$out/blob" \
			"$out/img" "$TREE" >"$out.log" 2>&1 ||
			die "$tool failed: $(tail -n5 "$out.log")"
		;;
	tar-zstd)
		tar -C "$TREE" -cf - . | zstd -3 -q >"$out/tar.zst" ||
			die "$tool failed"
		;;
	tar-zstd-T0)
		tar -C "$TREE" -cf - . | zstd -3 -T0 -q >"$out/tar.zst" ||
			die "$tool failed"
		;;
	esac
	t1=$(now_us)
	RUN_US=$((t1 - t0))
	case $tool in
	nydusfs-*) RUN_BYTES=$(nydusfs_size "$out/img") ;;
	erofs) RUN_BYTES=$(($(file_size "$out/img") + $(file_size "$out/blob"))) ;;
	tar-*) RUN_BYTES=$(file_size "$out/tar.zst") ;;
	esac
}

# The tools in the order of iteration $1: the list rotated by $1.
rotated_tools() {
	local n=${#TOOLS[@]} i

	for ((i = 0; i < n; i++)); do
		echo "${TOOLS[(i + $1) % n]}"
	done
}

median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2];
		else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Column $3 of the runs of tool $2 in mode $1, one per line, by iteration.
runs_of() {
	awk -v m="$1" -v t="$2" -v c="$3" \
		'$1 == m && $3 == t { print $2, $c }' "$RUNS" | sort -n |
		cut -d' ' -f2
}

# Median over iterations of (time of $3) / (time of $2) in mode $1.
ratio_median() {
	paste -d' ' <(runs_of "$1" "$2" 4) <(runs_of "$1" "$3" 4) |
		awk '{ printf "%.4f\n", $2 / $1 }' | median
}

# Size of tool $2's output in mode $1; dies unless every run agrees.
size_of() {
	local sizes

	sizes=$(runs_of "$1" "$2" 5 | sort -u)
	[ "$(echo "$sizes" | wc -l)" = 1 ] ||
		die "$2 gave different output sizes: $(tr '\n' ' ' <<<"$sizes")"
	echo "$sizes"
}

# verdict VALUE OP LIMIT: PASS or FAIL
verdict() {
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		ok = (op == ">=") ? (v >= l) : (v <= l)
		print ok ? "PASS" : "FAIL" }'
}

# --- main ------------------------------------------------------------

[ -x "$NYDUSFS" ] || die "$NYDUSFS not found: run make first"
for cmd in mkfs.erofs zstd tar; do
	command -v "$cmd" >/dev/null || die "$cmd missing: run make (installs deps)"
done
[ "$(id -u)" = 0 ] || echo "bench/build: not root: cold mode unavailable" >&2

# The real OS tree: a cached debootstrap --variant=minbase of bookworm.
TREE=$("$TOP/scripts/get-rootfs.sh" | tail -n1) || die "scripts/get-rootfs.sh failed"
[ -d "$TREE" ] || die "no OS tree at '$TREE'"

mkdir -p "$RESULTS"
WORK=$(mktemp -d "${BENCH_TMP:-/var/tmp}/nydusfs-bench-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
RUNS=$WORK/runs.tsv
: >"$RUNS"

cache_note=""
if [[ " $MODES " == *" cold "* ]] && ! can_drop_caches; then
	MODES=${MODES//cold/}
	cache_note="Dropping the page cache failed here, so only warm runs were made."
fi
MODES=$(xargs <<<"$MODES")	# trim
[ -n "$MODES" ] || die "no cache mode left to run (BENCH_CACHE='$MODES')"

entries=$(find "$TREE" | wc -l)
tree_bytes=$(du -sb --apparent-size "$TREE" | cut -f1)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench/build: tree $TREE ($entries entries, $tree_bytes bytes)"

for mode in $MODES; do
	[ "$mode" = warm ] && warm_tree
	for ((i = 0; i < ITER; i++)); do
		for tool in $(rotated_tools "$i"); do
			run_tool "$tool" "$mode"
			printf '%s\t%d\t%s\t%s\t%s\n' "$mode" "$i" "$tool" \
				"$(awk -v u="$RUN_US" 'BEGIN { printf "%.3f", u / 1e6 }')" \
				"$RUN_BYTES" >>"$RUNS"
			printf '  %-5s iter %d  %-13s %7.3f s  %12d bytes\n' \
				"$mode" "$i" "$tool" \
				"$(awk -v u="$RUN_US" 'BEGIN { print u / 1e6 }')" \
				"$RUN_BYTES"
		done
	done
done

# The images of the last runs must be sound, or the timings mean nothing.
for tool in nydusfs-none nydusfs-zstd; do
	"$NYDUSFS" check --blob-dir "$WORK/$tool/img/blobs" \
		"$WORK/$tool/img/bootstrap" >"$WORK/check.log" 2>&1 ||
		die "nydusfs check failed on the $tool image: $(tail -n5 "$WORK/check.log")"
done
cp "$RUNS" "$RESULTS/build-runs.tsv"

# --- report ----------------------------------------------------------

# Median time of every command, one bar per cache mode
draw_plot() {
	local tool mode cols i=2

	for tool in "${TOOLS[@]}"; do
		printf '%s' "$tool"
		for mode in $MODES; do
			printf ' %s' "$(runs_of "$mode" "$tool" 4 | median)"
		done
		echo
	done >"$WORK/plot.dat"
	for mode in $MODES; do
		if [ $i = 2 ]; then
			cols="using 2:xtic(1) title '$mode'"
		else
			cols+=", '' using $i title '$mode'"
		fi
		i=$((i + 1))
	done
	plot_png "$RESULTS/build-times.png" 800,380 <<EOF || true
set style data histograms
set style histogram clustered gap 1
set ylabel 'seconds (wall time, median)'
set yrange [0:*]
set title 'build of the minbase tree: nydusfs against mkfs.erofs and tar | zstd'
plot '$WORK/plot.dat' $cols
EOF
}
draw_plot

section=$WORK/section.md
missed=() passed=()
{
	echo
	echo "## Build: nydusfs against mkfs.erofs and tar | zstd -3"
	echo
	echo "- Tree: \`$TREE\` (from scripts/get-rootfs.sh, debootstrap --variant=minbase bookworm): $entries entries, $tree_bytes bytes apparent size"
	echo "- Machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'), load average at start $load_start"
	echo "- Tools: nydusfs ($(source_rev)), mkfs.erofs $(dpkg-query -W -f='${Version}' erofs-utils 2>/dev/null || echo '?'), $(zstd --version | sed 's/^\*\*\* //; s/, by.*//'), GNU tar $(tar --version | sed -n '1s/.* //p')"
	echo "- Method: one run of this script; $ITER iterations per cache mode, the tools alternated (their order rotates every iteration); a ratio is the median of the per-iteration ratios.  Time is wall time from start to exit of the command; outputs go to \`${BENCH_TMP:-/var/tmp}\` (the same filesystem for all) and \`sync\` runs before each command, outside the timing."
	echo "- Cache modes: **cold** = \`sync; echo 3 > /proc/sys/vm/drop_caches\` before every command, so each one reads the tree from disk; **warm** = the tree read once beforehand, so every command reads it from the page cache. $cache_note"
	echo "- Threads: \`nydusfs build\` uses every CPU (-j $(nproc)) to hash and compress; \`mkfs.erofs\` (no compression here) is single-threaded; the \`zstd\` CLI is single-threaded by default (\`zstd -3\`), \`zstd -3 -T0\` uses every CPU and is shown for information only."
	echo "- Noise: wall time on this shared host is noisy (machine-and-vm.md: the host CPU's speed swings widely); ratios are between runs made close together within this one run.  Absolute times are informational."
	echo
	echo "Commands: nydusfs-none = \`nydusfs build -z none -o OUT TREE\`; erofs = \`mkfs.erofs --chunksize=1048576 --blobdev=BLOB IMG TREE\`; nydusfs-zstd = \`nydusfs build -z zstd -o OUT TREE\`; tar-zstd = \`tar -C TREE -cf - . | zstd -3\`; tar-zstd-T0 = the same with \`zstd -3 -T0\`.  Output = bootstrap + blobs, IMG + BLOB, or the .tar.zst."
	echo
	echo "| mode | command | median time (s) | output (bytes) |"
	echo "|------|---------|----------------:|---------------:|"
	for mode in $MODES; do
		for tool in "${TOOLS[@]}"; do
			printf '| %s | %s | %.3f | %d |\n' "$mode" "$tool" \
				"$(runs_of "$mode" "$tool" 4 | median)" \
				"$(size_of "$mode" "$tool")"
		done
	done
	echo
	echo "| mode | measure | value | target | result |"
	echo "|------|---------|------:|--------|--------|"
} >"$section"

add_row() {	# mode measure value op limit [informational]
	local result value

	value=$(printf '%.3f' "$3")

	if [ -n "${6:-}" ]; then
		result="(info)"
	else
		result=$(verdict "$3" "$4" "$5")
		if [ "$result" = PASS ]; then
			passed+=("${2//\\|/|} ($1): $value, target $4 $5")
		else
			missed+=("${2//\\|/|} ($1): $value, target $4 $5")
		fi
	fi
	printf '| %s | %s | %s | %s | %s |\n' "$1" "$2" "$value" \
		"${6:+(}$4 $5${6:+)}" "$result" >>"$section"
}

# Sizes do not depend on the cache mode: one row, from the first mode.
first_mode=${MODES%% *}
add_row "any" "output size zstd: nydusfs / tar \\| zstd -3" \
	"$(awk -v a="$(size_of "$first_mode" nydusfs-zstd)" \
	       -v b="$(size_of "$first_mode" tar-zstd)" 'BEGIN { print a / b }')" \
	"<=" 1.05
for mode in $MODES; do
	add_row "$mode" "build time -z none: erofs / nydusfs (throughput ratio)" \
		"$(ratio_median "$mode" nydusfs-none erofs)" ">=" 1.0
	add_row "$mode" "build time zstd: nydusfs / tar \\| zstd -3" \
		"$(ratio_median "$mode" tar-zstd nydusfs-zstd)" "<=" 1.5
	add_row "$mode" "build time zstd: nydusfs / tar \\| zstd -3 -T0" \
		"$(ratio_median "$mode" tar-zstd-T0 nydusfs-zstd)" "<=" 1.5 info
done

{
	echo
	for tool in nydusfs-none nydusfs-zstd; do
		boot=$(file_size "$WORK/$tool/img/bootstrap")
		echo "- $tool output: bootstrap $boot bytes, blobs $(($(nydusfs_size "$WORK/$tool/img") - boot)) bytes."
	done
	echo
	plot_ref "$RESULTS/build-times.png" "build times per command and cache mode"
	echo
	echo "Per-run times and sizes: bench/results/build-runs.tsv.  Both nydusfs images of the last iteration passed \`nydusfs check --blob-dir\`."
	echo
	missed_list ${missed[@]+"${missed[@]}"}
} >>"$section"

cat "$section"
cat "$section" >>"$REPORT"
for m in "${passed[@]}"; do
	echo "PASS: $m"
done
for m in "${missed[@]}"; do
	echo "MISSED: $m"
done
exit 0
