#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 900
#
# Proves: tools/vm-run boots the Debian cloud kernel under TCG and runs one
# command in it: CMD's exit status is vm-run's, the guest's stdout and
# stderr reach vm-run's stdout, a --disk directory is readable (and only
# readable) at /mnt/diskN, arguments arrive unmangled, a module given with
# --module / --insmod is loaded (taint O|E is accepted), and a kernel
# problem is a failure (125): a panic (sysrq c), a WARN (a test module's
# WARN with panic_on_warn) and a W taint seen after CMD.  A hang ends in
# 124 at --timeout; --icount and --kernel-version 6.12 boot; a first run
# with an empty cache (NYDUSFS_VM_CACHE) fetches the kernel itself.
#
# vm-run's own checks do not depend on kernel/nydusfs.ko (written in
# parallel): every boot names its module explicitly.
# shellcheck disable=SC2016 # guest scripts in single quotes
. "$(dirname "$0")/../lib.sh"

VM_RUN=$TOP/tools/vm-run
NO_KO=$T/absent.ko
VM_RC=0

# vm ARGS...: tools/vm-run ARGS; stdout in $T/out, stderr in $T/err, the
# exit status in $VM_RC, the wall time in $VM_SECS.
vm()
{
	local t0=$EPOCHREALTIME

	echo "+ vm-run $*" >&2
	VM_RC=0
	"$VM_RUN" "$@" >"$T/out" 2>"$T/err" </dev/null || VM_RC=$?
	VM_SECS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	echo "  -> exit $VM_RC in $VM_SECS s" >&2
}

# vm_expect RC ARGS...: vm-run must exit RC.
vm_expect()
{
	local want=$1

	shift
	vm "$@"
	if [ "$VM_RC" != "$want" ]; then
		echo "--- stdout" >&2; tail -n 20 "$T/out" >&2
		echo "--- stderr" >&2; tail -n 40 "$T/err" >&2
		fail "vm-run $* exited $VM_RC, expected $want"
	fi
}

out_line() { sed -n "${1}p" "$T/out"; }

# A tiny module: loads cleanly, or WARNs in its init with warn=1.
build_test_module()
{
	local kver=$1 dir=$T/mod

	[ -d "/usr/src/linux-headers-$kver" ] || return 1
	mkdir -p "$dir"
	cat >"$dir/vmrun_test.c" <<'EOF'
// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>

static bool warn;
module_param(warn, bool, 0444);

static int __init vmrun_test_init(void)
{
	WARN(warn, "vmrun_test: warning on request\n");
	return 0;
}

static void __exit vmrun_test_exit(void)
{
}

module_init(vmrun_test_init);
module_exit(vmrun_test_exit);
MODULE_LICENSE("GPL");
EOF
	echo 'obj-m := vmrun_test.o' >"$dir/Kbuild"
	make -C "/usr/src/linux-headers-$kver" M="$dir" \
		CONFIG_DEBUG_INFO_BTF_MODULES= modules >"$dir/build.log" 2>&1 ||
		{ cat "$dir/build.log" >&2; fail "cannot build a test module"; }
	TEST_KO=$dir/vmrun_test.ko
}

[ "$(uname -m)" = x86_64 ] || skip "the guest is x86_64"

# -- the command line ------------------------------------------------------
vm_expect 2 --module "$NO_KO"
assert_grep 'no command' "$T/err"
vm_expect 0 --help
assert_grep 'Usage: tools/vm-run' "$T/out"
vm_expect 2 --timeout abc -- true

# -- exit status and output --------------------------------------------------
vm_expect 0 --module "$NO_KO" -- true
info "boot time (-- true, warm cache): $VM_SECS s"

vm_expect 0 --module "$NO_KO" -- echo hello
assert_eq "$(cat "$T/out")" hello "stdout of -- echo hello"

vm_expect 3 --module "$NO_KO" -- sh -c 'echo to-stderr >&2; uname -r; exit 3'
assert_eq "$(out_line 1)" to-stderr "CMD's stderr on stdout"
KVER=$(out_line 2)
case $KVER in 6.1.*-cloud-amd64) ;; *) fail "guest kernel is '$KVER'" ;; esac

vm_expect 127 --module "$NO_KO" -- no-such-command

# -- disks, arguments, modules --------------------------------------------------
mkdir -p "$T/d0/sub" "$T/d1"
printf 'disk zero\n' >"$T/d0/a file"
printf 'disk one\n' >"$T/d1/x"
ln -s ../a\ file "$T/d0/sub/link"
head -c 3000000 /dev/urandom >"$T/d1/big"
big_sum=$(md5sum <"$T/d1/big" | cut -d' ' -f1)
odd_arg="it's \"q\" \$HOME \\ *"

TEST_KO="" mod_args=(--module "$NO_KO")
if build_test_module "$KVER"; then
	mod_args=(--module "$TEST_KO")
else
	info "no headers for $KVER: module checks skipped"
fi

vm_expect 0 --disk "$T/d0" --disk "$T/d1" "${mod_args[@]}" -- sh -c '
	cat "/mnt/disk0/a file" /mnt/disk0/sub/link /mnt/disk1/x
	md5sum </mnt/disk1/big | cut -d" " -f1
	printf "%s\n" "$1"
	if touch /mnt/disk0/new 2>/dev/null; then echo writable; else echo read-only; fi
	echo "ko=$NYDUSFS_KO"
	grep -o "^vmrun_test" /proc/modules || echo no-module
	cat /proc/sys/kernel/tainted' sh "$odd_arg"
assert_eq "$(out_line 1)" "disk zero" "/mnt/disk0/a file"
assert_eq "$(out_line 2)" "disk zero" "symlink on disk0"
assert_eq "$(out_line 3)" "disk one" "/mnt/disk1/x"
assert_eq "$(out_line 4)" "$big_sum" "md5 of a 3 MB file on disk1"
assert_eq "$(out_line 5)" "$odd_arg" "an argument with quotes and specials"
assert_eq "$(out_line 6)" read-only "/mnt/disk0 is read-only"
if [ -n "$TEST_KO" ]; then
	assert_eq "$(out_line 7)" "ko=/lib/modules/$KVER/extra/nydusfs.ko" NYDUSFS_KO
	assert_eq "$(out_line 8)" vmrun_test "the --module module is loaded"
	[ "$(out_line 9)" != 0 ] || fail "an out-of-tree module and no O taint"

	# --insmod, then a WARN: panic_on_warn -> a kernel problem
	vm_expect 125 --module "$NO_KO" --insmod "$TEST_KO" -- sh -c '
		rmmod vmrun_test
		insmod /lib/modules/$(uname -r)/extra/vmrun_test.ko warn=1
		echo survived'
	assert_grep 'WARNING:|panic_on_warn' "$T/err" "the WARN report"
	if grep -q survived "$T/out"; then fail "the guest went on after a WARN"; fi
fi

# -- kernel problems ---------------------------------------------------------
vm_expect 125 --module "$NO_KO" -- sh -c 'echo c >/proc/sysrq-trigger; echo survived'
assert_grep 'Kernel panic' "$T/err" "the panic report"
if grep -q survived "$T/out"; then fail "the guest went on after a panic"; fi

vm_expect 125 --module "$NO_KO" -- sh -c 'echo 512 >/proc/sys/kernel/tainted'
assert_grep 'tainted \(512' "$T/err" "the taint report"

# -- a hang ----------------------------------------------------------------------
vm_expect 124 --module "$NO_KO" --timeout 15 -- sleep 1000
awk -v s="$VM_SECS" 'BEGIN { exit !(s < 40) }' || fail "--timeout 15 took $VM_SECS s"

# -- deterministic time, the other kernel, a fresh cache -------------------------
vm_expect 0 --module "$NO_KO" --icount -- cat /proc/uptime
assert_grep '^[0-9]+\.[0-9]+ ' "$T/out" "/proc/uptime under --icount"
info "boot time (--icount): $VM_SECS s"

vm_expect 0 --module "$NO_KO" --kernel-version 6.12 -- uname -r
assert_grep '^6\.12\..*-cloud-amd64$' "$T/out" "6.12 kernel release"

NYDUSFS_VM_CACHE=$T/cache vm_expect 0 --module "$NO_KO" -- echo fresh
assert_eq "$(cat "$T/out")" fresh "output with a fresh cache"
[ -f "$T/cache/$KVER/.complete" ] || fail "no kernel cached in $T/cache"
info "first run with an empty cache: $VM_SECS s"
