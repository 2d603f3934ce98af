#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/guest/selftests.sh: the kselftests of selftests/nydusfs, run in a
# QEMU guest (tools/vm-run) with nydusfs.ko loaded.
#
#   selftests.sh run [PROG...]     build the programs and the images, run the
#                                  programs (default: all, rmmod_test last)
#                                  in one guest boot; print their TAP and
#                                  one line per test case; exit 0 if all
#                                  passed, 1 if not, 77 if nothing ran
#   selftests.sh list              PROG/CASE for every test case
#   selftests.sh result PROG/CASE  that case's result in this session's run
#                                  (runs PROG first if there is none):
#                                  0 pass, 1 fail, 77 skip
#
# tests/run.sh calls `run` once, then `result` for every case of `list`, so
# each kselftest case counts in its "N passed, N failed".  A run keeps its
# results in $RESULTS (default build/test-logs/guest-selftests); run.sh
# empties build/test-logs when it starts, so `result` never reads an
# earlier session's.
#
# The images go on one ext4 disk (/mnt/disk0 in the guest, built in
# build/selftests/): a rich generated tree (tests/mktree.sh), a Debian
# minbase tree (scripts/get-rootfs.sh) and a few small trees, each as a
# nydusfs image, some also as mkfs.erofs images and as plain trees.  A
# second disk (/mnt/disk1) holds bootstraps of build/test-corpus.
#
# Environment: NYDUSFS_SELFTEST_KO (the module; default kernel/nydusfs.ko,
# built when missing or older than its sources), NYDUSFS_VM_ARGS (more
# tools/vm-run options), NYDUSFS_TESTD_ARGS (more options for every test
# daemon, e.g. -vv), RESULTS.
set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
SELFTESTS=$TOP/build/selftests/nydusfs
DISK=$TOP/build/selftests/data.img
DATA=
CORPUS_DIR=$TOP/build/selftests/corpus
RESULTS=${RESULTS:-$TOP/build/test-logs/guest-selftests}
NYDUSFS=$TOP/build/bin/nydusfs
KO=${NYDUSFS_SELFTEST_KO:-$TOP/kernel/nydusfs.ko}
CORPUS_MAX=200

# Every program, in the order they run; rmmod_test must stay last.
PROGS="mount_test namei_test diff_test lazy_test corrupt_test daemon_test
verify_test stress_test rmmod_test"

# Seconds each program may take in the guest.
prog_timeout()
{
	case $1 in
	diff_test|daemon_test) echo 300 ;;
	corrupt_test|stress_test) echo 240 ;;
	lazy_test|verify_test) echo 150 ;;
	*) echo 90 ;;
	esac
}

say() { echo "selftests: $*" >&2; }
die() { say "$*"; exit 1; }

# ---- building ----

build_programs()
{
	"$TOP/scripts/kernel-tools.sh" >/dev/null ||
		die "cannot get kselftest_harness.h (scripts/kernel-tools.sh)"
	make -s --no-print-directory -C "$TOP/selftests/nydusfs" \
		OUTPUT="$SELFTESTS" >&2 || die "building selftests/nydusfs failed"
}

newer_than()
{
	local ref=$1 f

	shift
	for f in "$@"; do
		[ -e "$f" ] && [ "$f" -nt "$ref" ] && return 0
	done
	return 1
}

# kernel/nydusfs.ko, rebuilt from its sources when they are newer.
build_module()
{
	local kver

	[ -n "${NYDUSFS_SELFTEST_KO:-}" ] && return 0
	if [ -f "$KO" ] && ! newer_than "$KO" "$TOP"/kernel/*.[ch] \
			"$TOP"/kernel/Kbuild "$TOP"/uapi/*.h; then
		return 0
	fi
	kver=$(find /usr/src -maxdepth 1 -name 'linux-headers-*-cloud-amd64' \
		-printf '%f\n' | sed 's/^linux-headers-//' | sort -V | tail -n 1)
	[ -n "$kver" ] || die "no linux-headers-*-cloud-amd64 in /usr/src"
	say "building kernel/nydusfs.ko against $kver"
	make -s -C "/usr/src/linux-headers-$kver" M="$TOP" \
		CONFIG_DEBUG_INFO_BTF_MODULES= modules >&2 ||
		die "the module does not build"
}

# ---- images ----

# N bytes of seeded pseudo-random data: the same images every time.
random_bytes()
{
	python3 -c 'import random, sys
sys.stdout.buffer.write(random.Random(int(sys.argv[1])).randbytes(int(sys.argv[2])))' "$1" "$2"
}

# A small tree of every file type (as tests/lib.sh mktiny).
make_small_tree()
{
	local d=$1

	mkdir -p "$d/dir/sub"
	printf 'hello\n' >"$d/file"
	random_bytes 1 300000 >"$d/dir/random"
	ln "$d/file" "$d/dir/hardlink"
	ln -s ../file "$d/dir/sym"
	mkfifo "$d/fifo"
	mknod "$d/chr" c 1 3
	setfattr -n user.x -v 0x00ff "$d/file"
	truncate -s 3M "$d/dir/sparse"
	printf 'x' | dd of="$d/dir/sparse" bs=1 seek=2000000 conv=notrunc 2>/dev/null
	touch -h -d '2001-02-03 04:05:06.789' "$d"/* "$d"/dir/* "$d"
}

# 64 files with the same 1 MiB: one chunk shared by all.
make_dedup_tree()
{
	local d=$1 i

	mkdir -p "$d/same"
	random_bytes 2 1048576 >"$d/chunk"
	for i in $(seq -w 0 63); do
		cp "$d/chunk" "$d/same/f$i"
	done
	rm "$d/chunk"
	random_bytes 3 5000 >"$d/other"
}

# A 5 GiB file with data across the 4 GiB mark and at its end, a file
# that is only a hole.
make_sparse_tree()
{
	python3 - "$1" <<'PY'
import os, random, sys
d = sys.argv[1]
os.mkdir(d)
r = random.Random(5)
G = 1 << 30
fd = os.open(os.path.join(d, "big"), os.O_WRONLY | os.O_CREAT, 0o644)
for off, data in ((0, b"start"), (4 * G - 2, b"ACROSS4G"),
                  (4 * G + 12345, r.randbytes((1 << 20) + 7)),
                  (5 * G + 4093, b"end")):
    os.pwrite(fd, data, off)
os.ftruncate(fd, 5 * G + 4096)
os.close(fd)
fd = os.open(os.path.join(d, "hole"), os.O_WRONLY | os.O_CREAT, 0o644)
os.ftruncate(fd, 100 << 20)
os.close(fd)
PY
}

# One file of four 64 KiB chunks (-c 64K), one small file.
make_one_tree()
{
	local d=$1

	mkdir -p "$d"
	random_bytes 4 262144 >"$d/data"
	printf 'small\n' >"$d/small"
}

build_image()
{
	local name=$1 src=$2

	shift 2
	"$NYDUSFS" build -o "$DATA/img/$name" "$@" "$src" >/dev/null ||
		die "nydusfs build of $name failed"
	sha256sum "$DATA/img/$name/bootstrap" | cut -c1-64 \
		>"$DATA/img/$name/bootstrap.sha256"
}

build_erofs()
{
	mkfs.erofs --quiet --chunksize=4096 "$DATA/erofs/$1.erofs" "$2" \
		>/dev/null || die "mkfs.erofs of $1 failed"
}

# The data disk: built in a temporary directory (a rootfs holds many
# "*.d" directories, which the top-level Makefile would take for
# dependency files under build/), then made into $DISK.
make_images()
{
	local rootfs stamp=$DISK.stamp lock

	[ -x "$NYDUSFS" ] || die "no $NYDUSFS (run make)"
	command -v mkfs.erofs >/dev/null || die "no mkfs.erofs (scripts/install-deps.sh)"
	rootfs=$("$TOP/scripts/get-rootfs.sh") || die "scripts/get-rootfs.sh failed"
	mkdir -p "$(dirname "$DISK")"
	exec {lock}>"$DISK.lock"
	flock "$lock"	# another run may be making them
	if [ -f "$stamp" ] && [ -f "$DISK" ] &&
	   ! newer_than "$stamp" "$NYDUSFS" "$TOP/tests/mktree.sh" "$0"; then
		exec {lock}>&-
		return 0
	fi
	say "making the test images into ${DISK#"$TOP"/}"
	rm -f "$DISK" "$stamp"
	DATA=$(mktemp -d "${TMPDIR:-/tmp}/nydusfs-selftest-data.XXXXXX") ||
		die "mktemp failed"
	trap 'rm -rf "$DATA"' EXIT
	fill_data "$rootfs"
	make_disk
	rm -rf "$DATA"
	trap - EXIT
	touch "$stamp"
	exec {lock}>&-
}

fill_data()
{
	local rootfs=$1

	mkdir -p "$DATA/src" "$DATA/img" "$DATA/erofs"
	# --small: no 5 GiB file (the "sparse" image has one), which a full
	# read through the daemon would take minutes to compare under TCG
	"$TOP/tests/mktree.sh" --small "$DATA/src/gen" >/dev/null || die "mktree failed"
	# mkfs.ext4 -d (e2fsprogs 1.47.0) stores times from 2038 on as
	# negative and splits a hard-linked symlink: the comparison with the
	# source on ext4 goes without them (gen-e vs erofs has them)
	rm -f "$DATA/src/gen/times/y2038" "$DATA/src/gen/times/y2100" \
	      "$DATA/src/gen/links/sym" "$DATA/src/gen/links/c/sym_hardlink"
	# mkfs.erofs 1.5 fails on 255-byte names, a newline in a name and
	# paths over PATH_MAX: the erofs comparison uses the tree without them
	"$TOP/tests/mktree.sh" --small "$DATA/src/gen-e" >/dev/null || die "mktree failed"
	rm -rf "$DATA/src/gen-e/deep" "$DATA/src/gen-e/names"
	cp -a "$rootfs" "$DATA/src/root" || die "copying $rootfs failed"
	make_small_tree "$DATA/src/small"
	make_dedup_tree "$DATA/src/dedup"
	make_one_tree "$DATA/src/one"
	make_sparse_tree "$DATA/src/sparse"

	build_image gen "$DATA/src/gen"
	build_image gen-e "$DATA/src/gen-e" -c 64K -z lz4
	build_image root "$rootfs"
	build_image small "$DATA/src/small" -c 4K -z none
	build_image dedup "$DATA/src/dedup"
	build_image one "$DATA/src/one" -c 64K
	build_image sparse "$DATA/src/sparse"
	build_erofs gen-e "$DATA/src/gen-e"
	build_erofs root "$rootfs"
	build_erofs small "$DATA/src/small"
}

make_disk()
{
	local kib inodes

	kib=$(du -sk "$DATA" | cut -f1)
	inodes=$(( $(find "$DATA" | wc -l) + 4096 ))
	kib=$(( kib + kib / 3 + inodes / 2 + 65536 ))
	rm -f "$DISK.tmp"
	truncate -s "${kib}K" "$DISK.tmp"
	mkfs.ext4 -q -F -O ^has_journal -N "$inodes" -m 0 -d "$DATA" \
		"$DISK.tmp" >&2 || die "mkfs.ext4 of $DATA failed"
	mv -f "$DISK.tmp" "$DISK"
}

# Bootstraps for corrupt_test: the reader test's hand-made ones (valid and
# corrupt), and those the host tests and the fuzzer left in
# build/test-corpus, the smallest first.
make_corpus()
{
	local src=$TOP/build/test-corpus

	rm -rf "$CORPUS_DIR"
	mkdir -p "$CORPUS_DIR"
	if [ -x "$TOP/build/tests/reader_test" ]; then
		"$TOP/build/tests/reader_test" --write-corpus "$CORPUS_DIR" \
			>/dev/null 2>&1 || say "reader_test --write-corpus failed"
	fi
	[ -d "$src" ] || return 0
	find "$src" -maxdepth 1 -type f -size -1024k -printf '%s %f\n' |
		sort -n -k1,1 -k2,2 | head -n "$CORPUS_MAX" |
		while read -r _ f; do cp "$src/$f" "$CORPUS_DIR/"; done
}

# ---- running ----

# The guest side: each program under a timeout, between markers.
# shellcheck disable=SC2016 # expanded in the guest
GUEST_SCRIPT='
export NYDUSFS_SELFTEST_DATA=/mnt/disk0 NYDUSFS_SELFTEST_CORPUS=/mnt/disk1
for spec in "$@"; do
	p=${spec%%:*} t=${spec#*:}
	echo "### selftest-begin $p"
	t0=$(date +%s)
	timeout "$t" "$p"
	rc=$?
	echo "### selftest-end $p rc=$rc secs=$(( $(date +%s) - t0 ))"
done
'

# NYDUSFS_TESTD_ARGS (e.g. -vv) reaches every test daemon in the guest.
guest_env()
{
	[ -n "${NYDUSFS_TESTD_ARGS:-}" ] || return 0
	printf 'export NYDUSFS_TESTD_ARGS=%q\n' "$NYDUSFS_TESTD_ARGS"
}

with_list()
{
	local p list=mkfs.erofs,fsck.erofs,getfattr,setfattr,strace

	for p in $PROGS nydusfs_testd; do
		list+=,$SELFTESTS/$p
	done
	echo "$list"
}

# Split the guest log into PROG.tap / PROG.rc and one line per case in
# $RESULTS/cases: "PROG/CASE pass|fail|skip".
parse_results()
{
	local log=$RESULTS/guest.log

	awk -v dir="$RESULTS" '
	/^### selftest-begin / { prog = $3; tap = dir "/" prog ".tap";
				 printf "" > tap; name = ""; next }
	/^### selftest-end / {
		rc = $4; sub(/^rc=/, "", rc)
		print rc > (dir "/" $3 ".rc"); close(dir "/" $3 ".rc")
		close(tap); prog = ""; next }
	prog == "" { next }
	{ print >> tap }
	/^#  RUN / { name = $3; next }
	/^(not )?ok [0-9]+ / {
		res = ($1 == "not") ? "fail" : "pass"
		if ($0 ~ /# SKIP/) res = "skip"
		if (name != "") print prog "/" name " " res >> (dir "/cases")
		name = ""
	}' "$log"
}

run_guest()
{
	local specs=() p rc=0 t0=$SECONDS timeout=60 extra=()

	for p in "$@"; do
		specs+=("$p:$(prog_timeout "$p")")
		timeout=$((timeout + $(prog_timeout "$p")))
	done
	# shellcheck disable=SC2206 # word splitting wanted
	[ -n "${NYDUSFS_VM_ARGS:-}" ] && extra=($NYDUSFS_VM_ARGS)
	[ -n "${NYDUSFS_SELFTEST_KO:-}" ] && extra+=(--module "$KO")
	"$TOP/tools/vm-run" --smp 2 --mem 2G --timeout "$timeout" \
		--disk "$DISK" --disk "$CORPUS_DIR" --with "$(with_list)" \
		"${extra[@]}" -- sh -c "$(guest_env)$GUEST_SCRIPT" sh "${specs[@]}" \
		</dev/null | tee "$RESULTS/guest.log"
	rc=${PIPESTATUS[0]}
	echo "$rc" >"$RESULTS/vm.rc"
	say "guest run: vm-run exit $rc, $((SECONDS - t0)) s"
	return "$rc"
}

summarize()
{
	local p rc pass=0 fail=0 skip=0 status=0 c r

	for p in "$@"; do
		rc=$(cat "$RESULTS/$p.rc" 2>/dev/null || echo none)
		case $rc in
		0) ;;
		4) ;;
		*) status=1; say "$p: exit $rc" ;;
		esac
	done
	if [ -f "$RESULTS/cases" ]; then
		while read -r c r; do
			[[ " $* " == *" ${c%%/*} "* ]] || continue
			case $r in
			pass) pass=$((pass + 1)); echo "PASS $c" ;;
			skip) skip=$((skip + 1)); echo "SKIP $c" ;;
			*) fail=$((fail + 1)); echo "FAIL $c" ;;
			esac
		done <"$RESULTS/cases"
	fi
	echo "# kselftest cases: $pass passed, $fail failed, $skip skipped"
	[ "$(cat "$RESULTS/vm.rc")" = 0 ] || status=1
	[ "$fail" = 0 ] || status=1
	if [ "$status" = 0 ] && [ "$pass" = 0 ]; then
		return 77
	fi
	return "$status"
}

cmd_run()
{
	local progs=("$@") p

	# shellcheck disable=SC2206 # a list of words
	[ ${#progs[@]} -gt 0 ] || progs=($PROGS)
	for p in "${progs[@]}"; do
		grep -qw -- "$p" <<<"$PROGS" || die "no such program: $p"
	done
	build_programs
	build_module
	make_images
	make_corpus
	mkdir -p "$RESULTS"
	for p in "${progs[@]}"; do
		rm -f "$RESULTS/$p.tap" "$RESULTS/$p.rc"
		[ -f "$RESULTS/cases" ] && sed -i "\\,^$p/,d" "$RESULTS/cases"
	done
	run_guest "${progs[@]}"
	parse_results
	summarize "${progs[@]}"
}

cmd_list()
{
	local p

	build_programs >/dev/null 2>&1 || { echo "$PROGS" | tr ' ' '\n'; return; }
	for p in $PROGS; do
		"$SELFTESTS/$p" -l | sed "s,^,$p/,"
	done
}

# The TAP lines of one case: from its RUN line to its result.
case_tap()
{
	awk -v name="$2" '
	$0 ~ /^#  RUN / { on = ($3 == name) }
	on { print }
	on && /^(not )?ok [0-9]+ / { exit }' "$RESULTS/$1.tap" 2>/dev/null
}

cmd_result()
{
	local spec=$1 prog=${1%%/*} name=${1#*/} r

	mkdir -p "$(dirname "$RESULTS")"
	exec 9>"$RESULTS.lock"
	flock 9
	if [ ! -f "$RESULTS/$prog.rc" ]; then
		say "no result for $prog in this session: running it"
		cmd_run "$prog" >/dev/null
	fi
	flock -u 9
	r=$(awk -v c="$spec" '$1 == c { r = $2 } END { print r }' "$RESULTS/cases" 2>/dev/null)
	case_tap "$prog" "$name"
	case $r in
	pass) exit 0 ;;
	skip) exit 77 ;;
	fail) exit 1 ;;
	esac
	echo "no result for $spec: $prog exited $(cat "$RESULTS/$prog.rc" 2>/dev/null || echo '(never ran)')" \
		"(vm-run exit $(cat "$RESULTS/vm.rc" 2>/dev/null)); see $RESULTS/guest.log"
	exit 1
}

case ${1:-} in
run) shift; cmd_run "$@" ;;
list) cmd_list ;;
result) [ $# = 2 ] || die "usage: $0 result PROG/CASE"; cmd_result "$2" ;;
*) sed -n '4,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
