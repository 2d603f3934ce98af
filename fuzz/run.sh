#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# fuzz/run.sh SECONDS CORPUSDIR [TARGET...]
#
# Run the libFuzzer targets (build/fuzz/fuzz_TARGET, ASan + UBSan; all of
# them by default, see TARGETS in fuzz/Makefile) one after the other,
# sharing SECONDS between them (each run takes about a second more than
# its share): the bootstrap reader gets three shares, each of the others
# one.  Each target's corpus is CORPUSDIR/TARGET,
# created if needed; new inputs libFuzzer finds are added there, so a
# corpus kept between runs grows.  The seeds in fuzz/seeds/TARGET are read
# too.  The bootstrap corpus is also seeded with the reader test's
# hand-made images and, when it holds no other image and build/bin/nydusfs
# exists, small trees built with each compressor and chunk size; the
# tests add the bootstraps they build (tests/run.sh).  Exits nonzero if a
# target crashed (the input is saved as build/fuzz/TARGET-crash-*), broke
# one of its checks, hung or leaked.
set -eu

if [ $# -lt 2 ]; then
	echo "usage: $0 SECONDS CORPUSDIR [TARGET...]" >&2
	exit 2
fi
secs=$1
root_corpus=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
targets=${*:-bootstrap oci_ref auth_challenge auth_token http_answer docker_config daemon_config control_request}

for t in $targets; do
	[ -x "$root/build/fuzz/fuzz_$t" ] || make -C "$here" "../build/fuzz/fuzz_$t"
done

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

seed_bootstrap() {
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
}

# the shares, of SECONDS less about a second a run takes beyond its time
total=0
budget=$secs
for t in $targets; do
	case $t in bootstrap) total=$((total + 3)) ;; *) total=$((total + 1)) ;; esac
	budget=$((budget - 1))
done

failed=""
for t in $targets; do
	corpus=$root_corpus/$t
	mkdir -p "$corpus"
	share=1
	max_len=4096
	extra=""
	case $t in
	bootstrap)
		seed_bootstrap
		share=3
		max_len=262144
		;;
	daemon_config)
		extra=-close_fd_mask=2		# its error messages
		;;
	esac
	t_secs=$((budget * share / total))
	[ "$t_secs" -ge 1 ] || t_secs=1
	seeds=""
	[ -d "$here/seeds/$t" ] && seeds=$here/seeds/$t
	echo "fuzz: fuzz_$t for ${t_secs}s from $corpus ($(ls "$corpus" | wc -l) inputs)${seeds:+ and fuzz/seeds/$t}"
	# shellcheck disable=SC2086
	if ! "$root/build/fuzz/fuzz_$t" -max_total_time="$t_secs" \
		-max_len="$max_len" -timeout=20 -rss_limit_mb=2048 \
		-print_final_stats=1 $extra \
		-artifact_prefix="$root/build/fuzz/$t-" "$corpus" $seeds; then
		failed="$failed $t"
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz: FAILED:$failed (inputs in build/fuzz/*-crash-*)" >&2
	exit 1
fi
echo "fuzz: all passed:" $targets
