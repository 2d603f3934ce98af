#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest half of bench/kernel.sh (in bench/guest/, as bench/run.sh takes
# every bench/*.sh for a benchmark): run inside `tools/vm-run --icount` (one
# CPU, guest clock = executed instructions), from the disk bench/kernel.sh
# prepared:
#
#	kernel.sh ITER MOUNTS PHASES SUM
#
# ITER iterations; MOUNTS a subset of "nydusfs erofs erofs2" (erofs2 is a
# second copy of the erofs image: the A/A control); PHASES a subset of
# "main upcall"; SUM the `readbench sum` of the source tree, which every
# mount must reproduce before it is timed.
#
# Every image is copied into the guest's tmpfs first, so no timed run waits
# on a device; `echo 3 > drop_caches` before each timed run empties the
# filesystems' page caches (the tmpfs pages behind them stay).  The nydusfs
# mount is timed with every chunk in its cache file (read once beforehand
# through nydusfs_testd), so it makes no upcall.
#
# Output, one line each, parsed by bench/kernel.sh:
#	RES ITER TEST MOUNT ns=.. bytes=.. files=.. entries=.. ops=..
#	UPCALL ITER MODE ns=.. bytes=.. ... reads=N opens=N chunks=N
#		read_errors=N testd_ns=N
#	SUM MOUNT HASH
#	INFO text
set -u

ITER=$1
MOUNTS=$2
PHASES=$3
WANT_SUM=$4
DISK=$(cd "$(dirname "$0")" && pwd)
W=/tmp/kbench
LARGE=bench-large.bin		# the large file of the tree
UPFILE=upcall.bin		# the only file of the 4 KiB-chunk image
RAND_SEED=42
TESTS="seqall seqlarge rand walk"
TESTD_PID=""

fail() {
	local log

	echo "guest-kernel: $*" >&2
	for log in "$W"/*.log; do
		[ -f "$log" ] || continue
		echo "--- $log (tail)" >&2
		tail -n 20 "$log" >&2
	done
	echo "--- dmesg (tail)" >&2
	dmesg | tail -n 20 >&2
	exit 1
}

info() { echo "INFO $*"; }

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# The words of $2... rotated left by $1, separated by single spaces
rotate() {
	local n=$1

	shift
	n=$((n % $#))
	while [ "$n" -gt 0 ]; do
		set -- "$@" "$1"
		shift
		n=$((n - 1))
	done
	echo "$*"
}

has_word() {
	case " $1 " in *" $2 "*) return 0 ;; esac
	return 1
}

# Last value of counter $2 in the stats a testd printed into log $1
testd_count() {
	grep "^$2 " "$1" | tail -n1 | cut -d' ' -f2
}

holds_device() {
	local fd

	for fd in "/proc/$1/fd/"*; do
		[ "$(readlink "$fd")" = /dev/nydusfs ] && return 0
	done
	return 1
}

# Start nydusfs_testd BLOB_DIR CACHE_DIR LOG; wait until it holds the device
start_testd() {
	local i=0

	nydusfs_testd --pdeathsig "$1" "$2" 2>"$3" &
	TESTD_PID=$!
	while ! holds_device "$TESTD_PID"; do
		kill -0 "$TESTD_PID" 2>/dev/null || fail "nydusfs_testd died: $(cat "$3")"
		[ $i -lt 100 ] || fail "nydusfs_testd did not open /dev/nydusfs"
		sleep 0.1
		i=$((i + 1))
	done
}

# Make the daemon print its counts into its log, and wait for them
testd_stats() {
	local log=$1 before

	before=$(grep -c '^read ' "$log")
	kill -USR1 "$TESTD_PID"
	while [ "$(grep -c '^read ' "$log")" = "$before" ]; do
		sleep 0.1
	done
}

# Time process $1 spent on the CPU, in ns (the scheduler's own account,
# precise under icount, unlike the tick-sampled utime and stime)
on_cpu_ns() {
	cut -d' ' -f1 "/proc/$1/schedstat"
}

stop_testd() {
	[ -n "$TESTD_PID" ] || return 0
	kill -TERM "$TESTD_PID" 2>/dev/null
	wait "$TESTD_PID"
	TESTD_PID=""
}

# The bootstrap goes on a loop device over its tmpfs file: nydusfs needs
# ->read_folio, which tmpfs lacks, and this way its metadata takes the same
# path as erofs's (the loop device's page cache, emptied by drop_caches,
# refilled from tmpfs).  Not mount(8): busybox's would add a loop device of
# its own under a regular file.
mount_nydusfs() {
	local dev

	dev=$(losetup -f) && losetup -r "$dev" "$1" &&
		readbench mount nydusfs "$dev" "$2"
}

mount_one() {
	local m=$1 dir=$W/m/$1

	mkdir -p "$dir"
	case $m in
	nydusfs) mount_nydusfs "$W/bootstrap" "$dir" ;;
	erofs) mount -t erofs -o ro,loop "$W/erofs-a.img" "$dir" ;;
	erofs2) mount -t erofs -o ro,loop "$W/erofs-b.img" "$dir" ;;
	*) fail "unknown mount $m" ;;
	esac || fail "mounting $m failed"
}

# Copy the images into tmpfs, start the daemon, mount, check every mount
setup_main() {
	local m out

	mkdir -p "$W/m"
	for m in $MOUNTS; do
		case $m in
		nydusfs)
			# the blobs too: while the guest waits for the
			# virtio disk, icount with sleep=off jumps the clock
			# to the next timer, which can be the request timeout
			cp "$DISK/nydus/bootstrap" "$W/bootstrap" || fail "copy"
			cp -r "$DISK/nydus/blobs" "$W/blobs" || fail "copy"
			mkdir -p "$W/cache"
			start_testd "$W/blobs" "$W/cache" "$W/testd.log" ;;
		erofs) cp "$DISK/erofs.img" "$W/erofs-a.img" || fail "copy" ;;
		erofs2) cp "$DISK/erofs.img" "$W/erofs-b.img" || fail "copy" ;;
		esac
		mount_one "$m"
	done
	# the first pass over nydusfs also fetches every chunk into the cache
	for m in $MOUNTS; do
		out=$(readbench sum "$W/m/$m") || fail "readbench sum on $m failed"
		echo "SUM $m $out"
		[ "${out%% *}" = "sum=$WANT_SUM" ] ||
			fail "$m does not serve the source tree: $out, want sum=$WANT_SUM"
	done
}

run_test() {
	local dir=$W/m/$2

	case $1 in
	seqall) readbench seq "$dir" ;;
	seqlarge) readbench seq "$dir/$LARGE" ;;
	rand) readbench rand -s "$RAND_SEED" "$dir/$LARGE" ;;
	walk) readbench walk "$dir" ;;
	esac
}

phase_main() {
	local i=0 t m out order reads0=0 reads1=0

	setup_main
	if has_word "$MOUNTS" nydusfs; then
		testd_stats "$W/testd.log"
		reads0=$(testd_count "$W/testd.log" read)
		info "nydusfs warm-up: $reads0 READ upcalls, $(testd_count "$W/testd.log" chunks) chunks fetched"
	fi
	while [ $i -lt "$ITER" ]; do
		for t in $TESTS; do
			# shellcheck disable=SC2086 # word lists
			order=$(rotate "$i" $MOUNTS)
			# untimed, so that the first timed run follows a run of
			# the same load like the others (without it the first
			# run after another load was up to 2% slower)
			drop_caches
			run_test "$t" "${order%% *}" >/dev/null || fail "$t failed"
			for m in $order; do
				drop_caches
				out=$(run_test "$t" "$m") || fail "$t on $m failed"
				echo "RES $i $t $m $out"
			done
		done
		i=$((i + 1))
	done
	if has_word "$MOUNTS" nydusfs; then
		testd_stats "$W/testd.log"
		reads1=$(testd_count "$W/testd.log" read)
		info "nydusfs upcalls during the timed runs: $((reads1 - reads0))"
		echo "TIMED_UPCALLS $((reads1 - reads0))"
	fi
	for m in $MOUNTS; do
		umount -d "$W/m/$m" || fail "umount $m failed"
	done
	stop_testd
	rm -rf "$W/cache" "$W/blobs" "$W/erofs-a.img" "$W/erofs-b.img"
}

# One cold read of the 4 KiB-chunk image with a fresh daemon and cache:
# $1 iteration, $2 rand (one block per read, no readahead: one chunk per
# upcall) or seq (readahead windows, their missing chunks queued at once)
upcall_run() {
	local i=$1 mode=$2 log=$W/up-$1-$2.log dir=$W/m/up out
	local reads0 reads1 chunks0 chunks1 cpu0 cpu1

	rm -rf "$W/upcache"
	mkdir -p "$W/upcache" "$dir"
	start_testd "$W/up/blobs" "$W/upcache" "$log"
	mount_nydusfs "$W/up/bootstrap" "$dir" || fail "mounting the upcall image failed"
	# untimed: OPEN the blob and fetch one chunk, so the daemon is serving
	readbench rand -n 1 -s 1 "$dir/$UPFILE" >/dev/null || fail "first read failed"
	testd_stats "$log"
	reads0=$(testd_count "$log" read)
	chunks0=$(testd_count "$log" chunks)
	drop_caches
	cpu0=$(on_cpu_ns "$TESTD_PID")
	case $mode in
	rand) out=$(readbench rand -s "$RAND_SEED" "$dir/$UPFILE") ;;
	seq) out=$(readbench seq "$dir/$UPFILE") ;;
	esac || fail "upcall $mode read failed"
	cpu1=$(on_cpu_ns "$TESTD_PID")
	testd_stats "$log"
	reads1=$(testd_count "$log" read)
	chunks1=$(testd_count "$log" chunks)
	umount -d "$dir" || fail "umount of the upcall image failed"
	stop_testd
	echo "UPCALL $i $mode $out reads=$((reads1 - reads0)) opens=$(testd_count "$log" open) chunks=$((chunks1 - chunks0)) read_errors=$(testd_count "$log" read_errors) testd_ns=$((cpu1 - cpu0))"
}

phase_upcall() {
	local i=0 mode

	mkdir -p "$W"
	cp -r "$DISK/up" "$W/up" || fail "copy"
	while [ $i -lt "$ITER" ]; do
		for mode in rand seq; do
			upcall_run "$i" "$mode"
		done
		i=$((i + 1))
	done
	rm -rf "$W/up" "$W/upcache"
}

main() {
	grep -qw erofs /proc/filesystems || fail "no erofs in this kernel"
	if has_word "$MOUNTS" nydusfs || has_word "$PHASES" upcall; then
		grep -qw nydusfs /proc/filesystems || fail "nydusfs.ko is not loaded"
		command -v nydusfs_testd >/dev/null || fail "no nydusfs_testd in the guest"
	fi
	info "guest kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPU, $(free -m | awk '/^Mem:/ { print $2 }') MiB, $(grep -qw sha_ni /proc/cpuinfo || printf 'no ')sha_ni"
	mkdir -p "$W"
	if has_word "$PHASES" main; then phase_main; fi
	if has_word "$PHASES" upcall; then phase_upcall; fi
	dmesg | grep -i nydusfs | tail -n 20 | sed 's/^/INFO dmesg: /'
	info "done"
}

main
