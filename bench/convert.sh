#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Convert benchmark: `nydusfs convert` of a Debian minbase image
# (scripts/get-rootfs.sh as one umoci layer, gzip) against the cost of one
# plain copy of it with `skopeo copy`:
#   (a) layout to layout: nydusfs convert oci:SRC oci:NEW
#       against skopeo copy oci:SRC oci:COPY;
#   (b) layout to a registry on 127.0.0.1 (Debian's docker-registry,
#       tests/registry/registry.sh): nydusfs convert oci:SRC docker://...
#       against skopeo copy oci:SRC docker://... (a fresh registry
#       each time, so nothing is skipped or mounted).
# The ratio is convert time / copy time, the median of BENCH_ITER (3)
# alternating runs, warm page cache.  A convert pulls, verifies (digests
# and diff_ids), unpacks every layer, cuts, hashes and compresses every
# chunk and pushes; a copy only moves the compressed layer, so the ratio
# is the price of converting once.  There is no target: it is reported.
# Also reported: the sizes of the source layer, the nydusfs blob and
# the bootstrap layer.  Appends a section to $BENCH_RESULTS/REPORT.md, with
# a plot (convert-times.png) and the runs (convert-runs.tsv).
# Exit: 0 ran, 77 skipped, other: error (see bench/run.sh).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$HERE")
NYDUSFS=${NYDUSFS:-$TOP/build/bin/nydusfs}
ITER=${BENCH_ITER:-3}
RESULTS=${BENCH_RESULTS:-$HERE/results}
REPORT=$RESULTS/REPORT.md

# shellcheck source=bench/lib/report.sh
. "$HERE/lib/report.sh"

for c in umoci skopeo docker-registry jq; do
	command -v "$c" >/dev/null || { echo "bench/convert: no $c" >&2; exit 77; }
done
[ -x "$NYDUSFS" ] || { echo "bench/convert: no $NYDUSFS (make)" >&2; exit 1; }
TREE=$("$TOP/scripts/get-rootfs.sh") || exit 77

WORK=$(mktemp -d "${BENCH_TMP:-/var/tmp}/nydusfs-bench-convert.XXXXXX")
cleanup() {
	local d

	for d in "$WORK"/reg*; do
		"$TOP/tests/registry/registry.sh" stop "$d" >/dev/null 2>&1 || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

now_us() {
	local t=$EPOCHREALTIME

	echo "${t/./}"
}

median() {
	sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# time_us CMD...: run it quietly, print its wall time in microseconds
time_us() {
	local t0 t1

	t0=$(now_us)
	"$@" >/dev/null 2>"$WORK/last.err" || {
		cat "$WORK/last.err" >&2
		echo "bench/convert: failed: $*" >&2
		exit 1
	}
	t1=$(now_us)
	echo $((t1 - t0))
}

umoci init --layout "$WORK/src" >/dev/null
umoci new --image "$WORK/src:base" >/dev/null
umoci unpack --image "$WORK/src:base" "$WORK/bundle" >/dev/null
cp -a "$TREE/." "$WORK/bundle/rootfs/"
umoci repack --refresh-bundle --image "$WORK/src:v1" "$WORK/bundle" >/dev/null
rm -rf "$WORK/bundle"
tar -C "$TREE" -cf - . | cat >/dev/null	# warm

: >"$WORK/a.conv"; : >"$WORK/a.copy"; : >"$WORK/b.conv"; : >"$WORK/b.copy"
for ((i = 0; i < ITER; i++)); do
	rm -rf "$WORK/new" "$WORK/copy"
	time_us "$NYDUSFS" convert "oci:$WORK/src:v1" "oci:$WORK/new:v1" >>"$WORK/a.conv"
	time_us skopeo --insecure-policy copy -q "oci:$WORK/src:v1" \
		"oci:$WORK/copy:v1" >>"$WORK/a.copy"
	# a fresh registry each time: nothing to skip or mount
	env=$("$TOP/tests/registry/registry.sh" start --dir "$WORK/reg$i" --owner $$)
	eval "$env"
	time_us skopeo --insecure-policy copy -q --dest-tls-verify=false \
		"oci:$WORK/src:v1" "docker://$REGISTRY_HOST/copy/img:v1" >>"$WORK/b.copy"
	time_us "$NYDUSFS" convert --dest-tls-verify=false "oci:$WORK/src:v1" \
		"docker://$REGISTRY_HOST/conv/img:v1" >>"$WORK/b.conv"
	"$TOP/tests/registry/registry.sh" stop "$WORK/reg$i" >/dev/null
	rm -rf "$WORK/reg$i"
done

ms() { echo "scale=0; $1 / 1000" | bc; }
ratio() { echo "scale=2; $1 / $2" | bc; }
a_conv=$(median <"$WORK/a.conv"); a_copy=$(median <"$WORK/a.copy")
b_conv=$(median <"$WORK/b.conv"); b_copy=$(median <"$WORK/b.copy")
m=$(jq -r '.manifests[0].digest' "$WORK/new/index.json")
man=$WORK/new/blobs/sha256/${m#sha256:}
src_size=$(du -b "$WORK/copy/blobs" | tail -n 1 | cut -f1)
blob_size=$(jq '[.layers[:-1][].size] | add' "$man")
boot_size=$(jq '.layers[-1].size' "$man")

{
	printf 'path\titer\tconvert_us\tcopy_us\n'
	paste <(sed 's/^/layout\t/' "$WORK/a.conv") "$WORK/a.copy" | awk -F'\t' '{ print $1 "\t" NR - 1 "\t" $2 "\t" $3 }'
	paste <(sed 's/^/registry\t/' "$WORK/b.conv") "$WORK/b.copy" | awk -F'\t' '{ print $1 "\t" NR - 1 "\t" $2 "\t" $3 }'
} >"$RESULTS/convert-runs.tsv"
printf 'layout-to-layout %s %s\nlayout-to-registry %s %s\n' "$(ms "$a_conv")" "$(ms "$a_copy")" \
	"$(ms "$b_conv")" "$(ms "$b_copy")" >"$WORK/plot.dat"
plot_png "$RESULTS/convert-times.png" 640,360 <<EOF || true
set style data histograms
set style histogram clustered gap 1
set ylabel 'milliseconds (wall time, median)'
set yrange [0:*]
set title 'nydusfs convert against one skopeo copy (Debian minbase)'
plot '$WORK/plot.dat' using 2:xtic(1) title 'nydusfs convert' lc rgb '#4f81bd', '' using 3 title 'skopeo copy' lc rgb '#c0504d'
EOF

{
	echo
	echo "## convert: nydusfs convert vs one skopeo copy (Debian minbase)"
	echo
	echo "One gzip layer of $(find "$TREE" | wc -l) entries; $ITER runs, median, warm cache."
	echo "Convert = pull + verify + unpack + chunk/hash/zstd + push; copy = move the layer."
	echo
	echo "| path | nydusfs convert | skopeo copy | ratio convert/copy |"
	echo "| --- | --- | --- | --- |"
	echo "| layout -> layout | $(ms "$a_conv") ms | $(ms "$a_copy") ms | $(ratio "$a_conv" "$a_copy") |"
	echo "| layout -> registry (127.0.0.1) | $(ms "$b_conv") ms | $(ms "$b_copy") ms | $(ratio "$b_conv" "$b_copy") |"
	echo
	echo "Sizes: source layout blobs $src_size bytes; nydusfs blob $blob_size bytes, bootstrap layer $boot_size bytes."
	echo
	plot_ref "$RESULTS/convert-times.png" "convert and copy times"
	echo
	echo "Runs (µs): bench/results/convert-runs.tsv.  No target: the ratio is reported."
} | tee -a "$REPORT"
