# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Report helpers for the benchmark scripts (bench/*.sh source this file; it
# is not a benchmark itself, so it lives outside bench/*.sh).
#
#   source_rev
#       The source's git revision, "-dirty" when a file outside
#       bench/results/ differs from it (a run rewrites the results itself).
#   plot_png OUT.png [WIDTH,HEIGHT] <<EOF ... gnuplot commands ... EOF
#       Runs gnuplot (Debian's gnuplot-nox, pngcairo terminal) on the
#       commands read from stdin, writing OUT.png.  Returns 1, with the
#       reason on stderr, when gnuplot is missing or fails: a benchmark
#       then still reports its numbers, and says the plot is missing.
#   qemu_text GUEST_LOG
#       The QEMU that ran the guest and whether its CPU has the SHA
#       extensions, as the guest's "INFO guest kernel" line says (QEMU 7.2's
#       TCG has none; scripts/install-deps.sh installs QEMU 10).
#   plot_ref OUT.png TITLE
#       The Markdown line that shows OUT.png in REPORT.md (same directory),
#       or a note that it could not be drawn.

source_rev() {
	local top rev

	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	rev=$(git -C "$top" describe --always 2>/dev/null) || { echo unknown; return; }
	if [ -n "$(git -C "$top" status --porcelain -- . ':!bench/results' 2>/dev/null)" ]; then
		rev+=-dirty
	fi
	echo "$rev"
}

qemu_text() {
	local ver sha

	ver=$(qemu-system-x86_64 --version 2>/dev/null | sed -n '1s/.*version \([^ ]*\).*/\1/p')
	case "$(grep -a -m1 '^INFO guest kernel' "$1" 2>/dev/null | tr -d '\r')" in
	*"no sha_ni"*) sha="without the SHA extensions (sha256 in software)" ;;
	*sha_ni*) sha="with the SHA extensions (SHA-NI), as current x86 servers have" ;;
	*) sha="SHA extensions unknown" ;;
	esac
	echo "QEMU ${ver:-?} TCG, \`-cpu max\`: a guest CPU $sha"
}

plot_png() {
	local out=$1 size=${2:-900,420} err

	rm -f "$out"
	if ! command -v gnuplot >/dev/null; then
		echo "plot: no gnuplot (scripts/install-deps.sh installs gnuplot-nox): $out not drawn" >&2
		cat >/dev/null
		return 1
	fi
	err=$(
		{
			echo "set terminal pngcairo size $size font 'sans,10' noenhanced"
			echo "set output '$out'"
			echo "set style fill solid 0.85 border -1"
			echo "set grid ytics lc rgb '#dddddd'"
			echo "set key top left"
			cat
		} | gnuplot 2>&1 >/dev/null
	) || true
	if [ ! -s "$out" ]; then
		echo "plot: gnuplot failed for $out: $err" >&2
		return 1
	fi
}

plot_ref() {
	if [ -s "$1" ]; then
		echo "![$2](${1##*/})"
	else
		echo "(Plot \`${1##*/}\` not drawn: gnuplot missing or failed; see the log.)"
	fi
}

# missed_list [ENTRY...]: "All targets met." with no entries, else one
# "- **MISSED**: ENTRY" line per missed target.
missed_list() {
	local m

	if [ $# -eq 0 ]; then
		echo "All targets met."
		return
	fi
	for m in "$@"; do
		echo "- **MISSED**: $m"
	done
}
