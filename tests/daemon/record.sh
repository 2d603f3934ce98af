#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 180
#
# nydusfs profile against nydusfsd on the host, with nydusfsd_fakedev
# playing the kernel (one READ at a time, the chunks of the first three
# regular files in nid order): the daemon records each chunk once, in the
# order asked, and the profile names exactly the byte ranges of the files
# that were read (not the daemon's own readahead, not a deduplicated copy);
# the header names the bootstrap's digest and the chunk size, and `nydusfs
# build --prefetch-list` lays those chunks first.  Errors: no
# daemon, a directory that is no mount, a mount of another type, nothing
# read yet, the wrong bootstrap; warnings: prefetch on, a warm cache, a
# record cut at [daemon] trace_limit; --reset.  ~10 s.
. "$(dirname "$0")/../lib.sh"

require jq sha256sum

require_daemon_tools
daemon_harness
. "$(dirname "$0")/lib_fakedev.sh"

nyd() { "$NYDUSFS" "$@"; }

# expect_fail WHAT GREP-PATTERN COMMAND...: exits 1 with that message
expect_fail()
{
	local what=$1 pat=$2 rc=0

	shift 2
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	[ $rc = 1 ] || fail "$what: exit $rc, not 1: $(cat "$T/err")"
	grep -q -- "$pat" "$T/err" || fail "$what: $(cat "$T/err")"
	info "$what: $(head -c 300 "$T/err")"
}

# fakedev reads the first three files once $T/go exists, one at a time
start_fakedev() { start_fakedev_daemon "$T/img/bootstrap" --files 3 --parallel 1; }

# ---- the image: 4 KiB chunks; nids breadth-first ----
mkdir -p "$T/src/bin" "$T/src/lib" "$T/mnt" "$T/mnt2"
head -c 10000 /dev/urandom >"$T/src/bin/sh"
head -c 9000 /dev/urandom >"$T/src/lib/libc.so"
cp "$T/src/bin/sh" "$T/src/lib/copy"
head -c 5000 /dev/urandom >"$T/src/etc.conf"
echo /lib/libc.so >"$T/plist"		# a prefetch list, for the warning
nyd build -c 4K -z none -p "$T/plist" -o "$T/img" "$T/src" >/dev/null
mkdir -p "$T/src2"
echo other >"$T/src2/f"
nyd build -o "$T/img2" "$T/src2" >/dev/null
# what fakedev --files 3 reads: the first three regular files by nid
order=$(nyd inspect -t "$T/img/bootstrap" | awk '/^-/ { print $4, $5 }' |
	sort -n | head -n 3 | awk '{ print $2 }' | tr '\n' ' ')
[ "$order" = "/etc.conf /bin/sh /lib/copy " ] ||
	fail "the builder's nid order changed: $order"

fakedev_conf

expect_fail "no daemon" "nydusfsd is not running" nyd profile "$T/mnt"

start_fakedev

# ---- errors before anything is read ----
expect_fail "not a mount" "is not a mount point" nyd profile "$T/mnt"
expect_fail "another filesystem" "is not a nydusfs mount (it is proc)" \
	nyd profile /proc
ln -sf "$NYDUSFS" "$T/mount.nydusfs"
"$T/mount.nydusfs" "$T/img/bootstrap" "$T/mnt" -f \
	-o "blob_dir=$T/img/blobs,noprefetch" || fail "mount.nydusfs -f"
expect_fail "nothing read yet" "no record: nothing was read" nyd profile "$T/mnt"
if grep -q warning "$T/err"; then
	fail "a warning for an empty cache, no prefetch: $(cat "$T/err")"
fi

# ---- the fake kernel reads three files, one chunk at a time ----
touch "$T/go"
for _ in $(seq 300); do grep -q '^chunks' "$T/fd.out" && break; sleep 0.1; done
grep -q '^chunks 5 present 0 fetched 5 errors 0' "$T/fd.out" ||
	fail "fakedev: $(cat "$T/fd.out")"
nyd profile -o "$T/prof" "$T/mnt" 2>"$T/err" || fail "profile: $(cat "$T/err")"
info "$(cat "$T/err")"
sed 's/^/# | /' "$T/prof" >&2
printf '/etc.conf 0 5000\n/bin/sh 0 10000\n' >"$T/want"
grep -v '^#' "$T/prof" | cmp -s - "$T/want" ||
	fail "profile lines: $(grep -v '^#' "$T/prof")"
grep -q "^# image: bootstrap sha256:$(sha256sum <"$T/img/bootstrap" | cut -c1-64) " \
	"$T/prof" || fail "header: the bootstrap's digest"
grep -q '^# chunk size: 4096$' "$T/prof" || fail "header: chunk size"
grep -q '^# recorded: .*: 5 chunks first asked for in 5 READs$' "$T/prof" ||
	fail "header: counts"
! grep -q warning "$T/err" || fail "a warning: $(cat "$T/err")"
info "the profile names what was read, in order: ok"
# what it is for: the builder lays those chunks out first
nyd build -c 4K -z none -p "$T/prof" -o "$T/img3" "$T/src" >/dev/null
nyd inspect "$T/img3/bootstrap" >"$T/inspect"
grep -q '^prefetch ranges: 1$' "$T/inspect" &&
	grep -q 'blob 0 chunks 0\.\.4 (5 chunks, 15000 bytes' "$T/inspect" ||
	fail "build --prefetch-list of the profile: $(grep -A3 'prefetch ranges' "$T/inspect")"
info "nydusfs build --prefetch-list takes it: its 5 chunks first: ok"

# ---- an output that cannot be written, the wrong bootstrap; --reset ----
expect_fail "bad output" "nodir/p: No such file or directory" \
	nyd profile -o "$T/nodir/p" "$T/mnt"
expect_fail "wrong bootstrap" "not the mounted image's bootstrap" \
	nyd profile --bootstrap "$T/img2/bootstrap" "$T/mnt"
nyd profile --reset "$T/mnt" >"$T/prof2" 2>/dev/null
cmp -s <(grep -v '^#' "$T/prof2") "$T/want" || fail "--reset: the record"
expect_fail "after --reset" "no record" nyd profile "$T/mnt"

# ---- a second mount of the image: a warm cache, prefetch on ----
"$T/mount.nydusfs" "$T/img/bootstrap" "$T/mnt2" -f \
	-o "blob_dir=$T/img/blobs" || fail "mount.nydusfs -f (2)"
expect_fail "warm cache" "no record" nyd profile "$T/mnt2"
# the five read, and libc.so's three if the daemon's readahead took them
grep -Eq "warning: [5-8] chunks of the image were in the cache" "$T/err" ||
	fail "no warm cache warning: $(cat "$T/err")"
grep -q "mounted with prefetch on" "$T/err" ||
	fail "no prefetch warning: $(cat "$T/err")"
info "warnings for a warm cache and prefetch: ok"
nyd umount "$T/mnt"
nyd umount "$T/mnt2"
expect_fail "unregistered" "no registration" nyd profile "$T/mnt"
kill $DPID
wait $DPID || fail "the daemon exited $? on SIGTERM: $(tail -n 20 "$T/d.log")"
DPID=

# ---- [daemon] trace_limit: the record stops there, the profile says so ----
kill "$FPID" 2>/dev/null; wait "$FPID" 2>/dev/null || true
rm -rf "$T/cache" "$T/state" "$T/go"
mkdir -p "$T/cache"
printf 'trace_limit = 3\n' | sed -i '/^\[daemon\]$/r /dev/stdin' "$T/d.conf"
start_fakedev
"$T/mount.nydusfs" "$T/img/bootstrap" "$T/mnt" -f \
	-o "blob_dir=$T/img/blobs,noprefetch" || fail "mount.nydusfs -f (3)"
touch "$T/go"
for _ in $(seq 300); do grep -q '^chunks' "$T/fd.out" && break; sleep 0.1; done
grep -q '^chunks 5 present 0 fetched 5 errors 0' "$T/fd.out" ||
	fail "fakedev (3): $(cat "$T/fd.out")"
nyd profile -o "$T/prof3" "$T/mnt" 2>"$T/err" || fail "profile (3): $(cat "$T/err")"
grep -q "warning: the record stopped at 3 chunks" "$T/err" ||
	fail "no truncation warning: $(cat "$T/err")"
printf '/etc.conf 0 5000\n/bin/sh 0 4096\n' >"$T/want3"
grep -v '^#' "$T/prof3" | cmp -s - "$T/want3" ||
	fail "truncated profile lines: $(grep -v '^#' "$T/prof3")"
info "trace_limit 3: the first 3 chunks, and a warning: ok"
nyd umount "$T/mnt"
kill $DPID
wait $DPID || fail "the daemon exited $? on SIGTERM (3): $(tail -n 20 "$T/d.log")"
DPID=
