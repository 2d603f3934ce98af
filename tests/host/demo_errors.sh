#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 120
#
# scripts/demo.sh (make demo) fails cleanly.  Bad arguments and an image
# that is not there are refused at once, before anything is installed or
# built, with a message naming the problem.  A source that cannot be read
# fails step 5 after the registry was started: exit 1, a message naming
# the step and the log, the log holding skopeo's error, and no registry
# process or scratch directory left behind.  (The whole demo, with its
# QEMU guest, takes minutes and runs by hand: make demo.)
. "$(dirname "$0")/../lib.sh"

require docker-registry skopeo umoci jq curl python3
[ -x "$TOP/build/bin/nydusfs" ] || skip "build first (make programs)"
DEMO=$TOP/scripts/demo.sh
mkdir -p "$T/tmp"

# demo_expect RC PATTERN ARGS...: demo.sh ARGS must exit RC and print a
# line matching PATTERN (extended regexp).
demo_expect()
{
	local want=$1 pat=$2 rc=0

	shift 2
	echo "+ demo.sh $*" >&2
	TMPDIR=$T/tmp DEMO_LOG=$T/demo.log DEMO_SKIP_BUILD=1 \
		timeout -k 5 100 "$DEMO" "$@" >"$T/out" 2>&1 </dev/null || rc=$?
	sed 's/^/  | /' "$T/out" >&2
	[ "$rc" = "$want" ] || fail "demo.sh $* exited $rc, expected $want"
	grep -qE -- "$pat" "$T/out" || fail "demo.sh $*: no line matches '$pat'"
}

demo_expect 1 "IMAGE=oci:$T/nope:v1: no directory $T/nope" --image "oci:$T/nope:v1"
mkdir "$T/empty"
demo_expect 1 "$T/empty is not an OCI image layout" --image "oci:$T/empty"
demo_expect 1 "not oci:DIR\[:TAG\] or docker://" --image "ftp://example/x"
demo_expect 1 "--where must be auto, host or guest" --where mars
demo_expect 2 "unknown argument '--bogus'" --bogus
if [ ! -e /proc/modules ]; then
	demo_expect 1 "--where host: the running kernel .* cannot load modules" \
		--where host
fi

# nothing listens on port 1: skopeo cannot read the source
demo_expect 1 "step 5/10 \(Push the original image .*\) failed \(exit 1\)" \
	--where guest --image docker://127.0.0.1:1/none:x
grep -q "Full log: $T/demo.log" "$T/out" || fail "the log is not named"
grep -q "127.0.0.1:1" "$T/demo.log" || fail "skopeo's error is not in the log"
grep -qE '^\[4/10\] Start a local registry .* ok' "$T/out" ||
	fail "step 4 did not run"
left=$(find "$T/tmp" -mindepth 1 -maxdepth 1)
[ -z "$left" ] || fail "scratch left behind: $left"
if pgrep -f -- "$T/tmp" >&2; then
	fail "processes of the demo are still running"
fi
info "ok: failures are refused early or name their step, and clean up"
