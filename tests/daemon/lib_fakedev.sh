# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Shared by the host tests that run nydusfsd against nydusfsd_fakedev
# (record.sh, pin.sh), sourced after tests/lib.sh, require_daemon_tools
# and daemon_harness: the daemon's config and one start of both.

# fakedev_conf [DAEMON LINES...]: $T/d.conf, the fake device at
# $T/dev.sock, the cache in $T/cache, the state in $T/state, and the
# lines given in [daemon]
fakedev_conf()
{
	cat >"$T/d.conf" <<CONF
[daemon]
device = unix:$T/dev.sock
socket = $NYDUSFS_SOCKET
state_dir = $T/state
$(printf '%s\n' "$@")
[cache]
dir = $T/cache
CONF
}

# shellcheck disable=SC2034  # FPID and DPID: daemon_harness kills them
# start_fakedev_daemon BOOTSTRAP [FAKEDEV-ARGS...]: nydusfsd_fakedev for
# BOOTSTRAP (it reads once $T/go exists, at once with FAKEDEV_GO=1; its
# output in $T/fd.out) and nydusfsd with $T/d.conf (log appended to
# $T/d.log), as FPID and DPID
start_fakedev_daemon()
{
	rm -f "$T/go" "$T/dev.sock"
	[ -z "${FAKEDEV_GO:-}" ] || touch "$T/go"
	"$FAKEDEV" --socket "$T/dev.sock" --bootstrap "$1" --cache-dir "$T/cache" \
		--wait-file "$T/go" --linger 3600 --timeout 60 "${@:2}" \
		>"$T/fd.out" 2>&1 &
	FPID=$!
	for _ in $(seq 100); do [ -S "$T/dev.sock" ] && break; sleep 0.1; done
	"$NYDUSFSD" --config "$T/d.conf" 2>>"$T/d.log" &
	DPID=$!
	for _ in $(seq 300); do "$NYDUSFS" status >/dev/null 2>&1 && break; sleep 0.1; done
	"$NYDUSFS" status >/dev/null ||
		fail "the daemon did not come up: $(tail "$T/d.log")"
}
