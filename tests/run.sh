#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/run.sh [-l] [-k] [PATTERN...]: run the nydusfs test suite (make check).
#
# The suite is a list of test commands (see add_test below).  Each runs
# under a timeout and exits 0 (pass), 77 (skip) or anything else (fail).
# Prints "PASS name", "SKIP name" or "FAIL name" (with the tail of its log)
# per test, and ends with the line "N passed, N failed, N skipped".  Exit
# status 1 if any test failed.
#
#   PATTERN   run only the tests whose name contains one of the patterns
#   -l        list the tests and exit
#   -k        keep each test's temporary directory (KEEP_TMP=1)
#
# Logs go to build/test-logs/<name>.log ($TEST_LOGDIR), the fuzzers' seed
# corpora to build/test-corpus/TARGET ($TEST_CORPUS).  Host tests run against the
# ASan/UBSan build (build/san/bin/nydusfs); the round trip runs a second
# time against the release build.  A host test may declare its timeout
# with a line "# timeout: SECONDS" (default 300).  The fuzzer smoke runs
# last, seeded with the bootstraps the other tests built.
set -uo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 2

SAN_BIN=$TOP/build/san/bin/nydusfs
REL_BIN=$TOP/build/bin/nydusfs
LOGDIR=${TEST_LOGDIR:-$TOP/build/test-logs}
CORPUS=${TEST_CORPUS:-$TOP/build/test-corpus}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
DEFAULT_TIMEOUT=300

list_only=0
while getopts lkh opt; do
	case $opt in
	l) list_only=1 ;;
	k) export KEEP_TMP=1 ;;
	*) sed -n '4,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

names=()
timeouts=()
cmds=()

# add_test NAME TIMEOUT COMMAND: COMMAND is a string run by bash -c.
add_test()
{
	names+=("$1")
	timeouts+=("$2")
	cmds+=("$3")
}

declared_timeout()
{
	local t

	t=$(sed -n 's/^# timeout: *\([0-9]\+\).*/\1/p' "$1" | head -n 1)
	echo "${t:-$DEFAULT_TIMEOUT}"
}

# ---- the suite ----

# Unit test programs (tests/*_test.c), preferably their sanitizer build.
unit_dir=build/san/tests
ls $unit_dir/*_test >/dev/null 2>&1 || unit_dir=build/tests
for t in "$unit_dir"/*_test; do
	[ -x "$t" ] || continue
	add_test "unit/$(basename "$t")" 120 "$t"
done
add_test unit/treecmp-self-test 60 "build/tests/treecmp --self-test"

for t in tests/host/*.sh; do
	[ -e "$t" ] || continue
	add_test "host/$(basename "$t" .sh)" "$(declared_timeout "$t")" \
		"NYDUSFS=$SAN_BIN bash $t"
done

# The round trip again, against the release build.
t=tests/host/roundtrip_generated.sh
if [ -e "$t" ]; then
	add_test "host/$(basename "$t" .sh)-release" \
		"$(declared_timeout "$t")" "NYDUSFS=$REL_BIN bash $t"
fi

# nydusfsd (daemon/): its shell tests, on the host (registry.sh) and in a
# QEMU guest with nydusfs.ko (e2e.sh); guest_*.sh run inside the guest;
# lib_*.sh are sourced by the others; bench.sh is a benchmark, run by hand.
for t in tests/daemon/*.sh; do
	[ -e "$t" ] || continue
	case $(basename "$t") in guest_*|lib_*|bench.sh) continue ;; esac
	add_test "daemon/$(basename "$t" .sh)" "$(declared_timeout "$t")" \
		"bash $t"
done

# Later: guest tests (QEMU) are added here, as more add_test lines.

# The kselftests of selftests/nydusfs, in one QEMU guest boot
# (tests/guest/selftests.sh run: fails on a kernel problem too); then one
# entry per kselftest case, which reads its result from that boot.
if [ -x tests/guest/selftests.sh ]; then
	add_test guest/selftests 1200 "tests/guest/selftests.sh run"
	while IFS= read -r c; do
		add_test "guest/$c" 900 "tests/guest/selftests.sh result $c"
	done < <(tests/guest/selftests.sh list 2>/dev/null)
fi

# Fuzzer smoke: a bounded run of every libFuzzer target, FUZZ_SECONDS in
# all, the bootstrap reader's from the corpus of bootstraps built above.
if [ -x fuzz/run.sh ]; then
	add_test fuzz/smoke $((FUZZ_SECONDS + 120)) \
		"fuzz/run.sh $FUZZ_SECONDS $CORPUS"
else
	add_test fuzz/smoke 10 \
		"echo 'fuzz/run.sh is missing'; exit 77"
fi

# ---- running it ----

selected()
{
	local p

	[ $# -gt 1 ] || return 0
	for p in "${@:2}"; do
		case $1 in *"$p"*) return 0 ;; esac
	done
	return 1
}

if [ "$list_only" = 1 ]; then
	for i in "${!names[@]}"; do
		selected "${names[$i]}" "$@" &&
			printf '%-40s %4ss  %s\n' "${names[$i]}" "${timeouts[$i]}" \
				"${cmds[$i]}"
	done
	exit 0
fi

# treecmp is the host tests' oracle: make sure it exists even when some
# other test program does not build.
if [ ! -x build/tests/treecmp ] || [ tests/treecmp.c -nt build/tests/treecmp ]; then
	make --no-print-directory -s build/tests/treecmp >&2 ||
		echo "# could not build build/tests/treecmp" >&2
fi

rm -rf "$LOGDIR" "$CORPUS"
mkdir -p "$LOGDIR" "$CORPUS"
export NYDUSFS_CORPUS=$CORPUS/bootstrap
export TREECMP=$TOP/build/tests/treecmp

passed=0
failed=0
skipped=0
failures=()
start=$SECONDS

for i in "${!names[@]}"; do
	name=${names[$i]}
	selected "$name" "$@" || continue
	log=$LOGDIR/${name//\//_}.log
	t0=$SECONDS
	{
		echo "# test: $name"
		echo "# command: ${cmds[$i]}"
		echo "# timeout: ${timeouts[$i]}s"
	} >"$log"
	timeout -k 10 "${timeouts[$i]}" bash -c "${cmds[$i]}" \
		>>"$log" 2>&1 </dev/null
	rc=$?
	dt=$((SECONDS - t0))
	case $rc in
	0)
		passed=$((passed + 1))
		echo "PASS $name (${dt}s)"
		;;
	77)
		skipped=$((skipped + 1))
		echo "SKIP $name ($(grep -m1 -E 'SKIP|skip' "$log" | cut -c1-120))"
		;;
	*)
		failed=$((failed + 1))
		failures+=("$name")
		if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			echo "# timed out after ${timeouts[$i]}s" >>"$log"
		fi
		echo "FAIL $name (exit $rc, ${dt}s; log: ${log#"$TOP"/})"
		tail -n 40 "$log" | cut -c1-300 | sed 's/^/    | /'
		;;
	esac
done

echo "# total time $((SECONDS - start))s"
[ ${#failures[@]} = 0 ] || echo "# failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
