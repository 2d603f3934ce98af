#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# fuzz/run.sh SECONDS CORPUSDIR
#
# Run the bootstrap fuzzer (build/fuzz/fuzz_bootstrap, ASan + UBSan) for
# SECONDS from the corpus in CORPUSDIR, which is created if needed and
# seeded with the reader test's hand-made images, and, when it holds no
# other image and build/bin/nydusfs exists, small trees built with each
# compressor and chunk size.  New inputs libFuzzer finds are added to CORPUSDIR, so a
# corpus kept between runs grows.  Exits nonzero if the fuzzer crashed (the
# input is saved as build/fuzz/crash-*), hung or leaked.
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 SECONDS CORPUSDIR" >&2
	exit 2
fi
secs=$1
corpus=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
fuzzer=$root/build/fuzz/fuzz_bootstrap

[ -x "$fuzzer" ] || make -C "$here"
mkdir -p "$corpus"

seed_with_builder() {
	nydusfs=$root/build/bin/nydusfs
	[ -x "$nydusfs" ] || return 0
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	src=$tmp/src
	mkdir -p "$src/dir/sub" "$src/empty"
	printf 'hello\n' > "$src/dir/file"
	head -c 20000 /dev/zero | tr '\0' 'a' > "$src/dir/sub/text"
	ln "$src/dir/file" "$src/hardlink"
	ln -s dir/file "$src/symlink"
	mkfifo "$src/fifo"
	truncate -s 100000 "$src/sparse"
	setfattr -n user.seed -v 0x00ff "$src/dir/file" 2>/dev/null || true
	printf '/dir/file\n/sparse\n' > "$tmp/prefetch"
	n=0
	for z in none lz4 zstd; do
		for c in 4K 16K; do
			n=$((n + 1))
			"$nydusfs" build -z "$z" -c "$c" -p "$tmp/prefetch" \
				-o "$tmp/out$n" "$src" >/dev/null 2>&1 || continue
			cp "$tmp/out$n/bootstrap" "$corpus/built-$z-$c"
		done
	done
}

if [ ! -e "$corpus/base" ] && [ -x "$root/build/tests/reader_test" ]; then
	"$root/build/tests/reader_test" --write-corpus "$corpus"
fi
if [ -z "$(ls -A "$corpus" | grep -v -e '^base$' -e '^case-')" ]; then
	seed_with_builder
fi
if [ -z "$(ls -A "$corpus")" ]; then
	echo "$0: no seeds in $corpus (build the tests first: make programs)" >&2
	exit 1
fi

echo "fuzz: $fuzzer for ${secs}s from $corpus ($(ls "$corpus" | wc -l) inputs)"
exec "$fuzzer" -max_total_time="$secs" -max_len=262144 -timeout=20 \
	-rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$root/build/fuzz/" "$corpus"
