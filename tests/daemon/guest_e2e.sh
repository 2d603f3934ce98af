#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# tests/daemon/guest_e2e.sh DATA: nydusfsd end to end with nydusfs.ko, run
# inside the guest by tests/daemon/e2e.sh (busybox sh).  DATA holds img/
# (bootstrap and blobs, built by `nydusfs build`), bigfile (a copy of the
# image's /big) and, if docker-registry is in the guest, regroot/ (a
# registry's storage holding the image as e2e/img).  The cases run with
# the blobs from a directory (localfs), then from docker-registry on the
# guest's own loopback.  Each case prints "ok N NAME" or "not ok N NAME";
# the exit status is the number of failed cases.
#
#   tree       nydusfs mount (CLI, control socket, fds), the whole tree
#              compared with `nydusfs unpack` of the same image
#   restart    a restarted daemon serves from its persistent cache: no
#              chunk is fetched again
#   kill9      SIGKILL of the daemon every ~0.4 s (up to 20 times) while
#              readers run: every reader gets correct data, no error; the
#              cache stays true
#   tamper     flipped bytes in the cache file, -o verify: detected,
#              fetched again, correct data
#   fulldisk   a cache filesystem that fills up: reads fail with EIO, the
#              daemon lives on, the cache stays consistent
DATA=${1:-/mnt/disk0}
IMG=$DATA/img
T=/tmp/e2e
failed=0
n=0

export NYDUSFS_SOCKET=$T/nydusfsd.sock

say() { echo "# $*"; }
result()
{
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n $2"
	else
		echo "not ok $n $2"
		failed=$((failed + 1))
	fi
}

write_config()
{
	cat >"$T/nydusfsd.conf" <<EOF
[daemon]
socket = $NYDUSFS_SOCKET
state_dir = $T/state
log_level = info
[cache]
dir = $1
[registry "127.0.0.1:5000"]
scheme = http
EOF
}

# The daemon, restarted whenever it dies, until $T/stop exists.
supervise()
{
	rm -f "$T/stop"
	(
		while [ ! -e "$T/stop" ]; do
			nydusfsd --config "$T/nydusfsd.conf" 2>>"$T/daemon.log" &
			echo $! >"$T/daemon.pid"
			wait $! 2>/dev/null
		done
	) &
	echo $! >"$T/supervisor.pid"
	wait_socket
}

wait_socket()
{
	i=0
	while [ $i -lt 100 ]; do
		nydusfs status >/dev/null 2>&1 && return 0
		sleep 0.1
		i=$((i + 1))
	done
	say "nydusfsd did not come up"; tail -n 20 "$T/daemon.log"
	return 1
}

stop_daemon()
{
	touch "$T/stop"
	kill "$(cat "$T/daemon.pid")" 2>/dev/null
	wait "$(cat "$T/supervisor.pid")" 2>/dev/null
}

metric()
{
	nydusfs metrics | awk -v m="$1" '$1 == m { print $2 }'
}

mkdir -p $T/mnt $T/ref
nydusfs unpack --blob-dir "$IMG/blobs" "$IMG/bootstrap" $T/ref/tree || exit 100
ref=$T/ref/tree

# cases MODE SOURCE-OPTION: the cases with the blobs from one source
cases()
{
	MODE=$1
	SRC=$2
	C=$T/$MODE
	mkdir -p $C
	# ---- tree ----
	write_config $C/cache
	supervise
	rc=0
	nydusfs mount $SRC "$IMG/bootstrap" $T/mnt || rc=1
	[ $rc = 0 ] && { treecmp $ref $T/mnt || rc=1; }
	nydusfs status | sed 's/^/# /'
	result $rc "$MODE tree"

	# ---- restart: nothing fetched again ----
	rc=0
	nydusfs umount $T/mnt || rc=1
	stop_daemon
	echo 3 >/proc/sys/vm/drop_caches
	supervise
	nydusfs mount $SRC "$IMG/bootstrap" $T/mnt || rc=1
	treecmp $ref $T/mnt || rc=1
	reads=$(metric 'nydusfsd_device_requests_total{op="read"}')
	fetched=$(metric nydusfsd_chunks_fetched_total)
	say "after restart: $reads READ requests, $fetched chunks fetched"
	[ "$reads" = 0 ] && [ "$fetched" = 0 ] || rc=1
	nydusfs umount $T/mnt
	result $rc "$MODE restart"

	# ---- kill -9 in a loop during reads ----
	rc=0
	stop_daemon
	write_config $C/cache2
	supervise
	echo 3 >/proc/sys/vm/drop_caches
	nydusfs mount --no-prefetch $SRC "$IMG/bootstrap" $T/mnt ||
		rc=1
	want=$(md5sum <"$DATA/bigfile")
	( treecmp $ref $T/mnt >$T/treecmp.out 2>&1; echo $? >$T/treecmp.rc ) &
	tpid=$!
	( md5sum <$T/mnt/big >$T/md5.out 2>&1; echo $? >$T/md5.rc ) &
	mpid=$!
	# at most 20 kills, so that a slow guest still finishes
	kills=0
	while [ $kills -lt 20 ] && { kill -0 $tpid 2>/dev/null ||
				     kill -0 $mpid 2>/dev/null; }; do
		sleep 0.4
		kill -9 "$(cat "$T/daemon.pid")" 2>/dev/null && kills=$((kills + 1))
	done
	wait $tpid $mpid
	say "daemon killed $kills times"
	[ "$(cat $T/treecmp.rc)" = 0 ] || { rc=1; head -n 20 $T/treecmp.out; }
	[ "$(cat $T/md5.rc)" = 0 ] && [ "$(cat $T/md5.out)" = "$want" ] || {
		rc=1; say "md5 of big: $(cat $T/md5.out), want $want"; }
	[ $kills -ge 3 ] || { rc=1; say "too few kills"; }
	nydusfs umount $T/mnt
	stop_daemon
	nydusfsd_cachecheck "$IMG/bootstrap" $C/cache2 | sed 's/^/# /' || rc=1
	result $rc "$MODE kill9"

	# ---- tampered cache, -o verify ----
	rc=0
	refetch0=$(grep -c 'fetch it again' $T/daemon.log)
	supervise
	for f in $C/cache2/*; do
		case $f in *.chunkmap) continue ;; esac
		size=$(stat -c %s "$f")
		off=0
		while [ $off -lt "$size" ]; do
			printf 'X' | dd of="$f" bs=1 seek=$off conv=notrunc 2>/dev/null
			off=$((off + 65536))
		done
	done
	echo 3 >/proc/sys/vm/drop_caches
	nydusfs mount -o verify $SRC "$IMG/bootstrap" $T/mnt || rc=1
	treecmp $ref $T/mnt || rc=1
	refetch=$(grep -c 'fetch it again' $T/daemon.log)
	refetch=$((refetch - refetch0))
	say "$refetch chunks fetched again"
	[ "$refetch" -gt 0 ] || rc=1
	nydusfs umount $T/mnt
	stop_daemon
	nydusfsd_cachecheck "$IMG/bootstrap" $C/cache2 | sed 's/^/# /' || rc=1
	result $rc "$MODE tamper"
}

start_registry()
{
	cp -a "$DATA/regroot" $T/reg
	cat >$T/registry.yml <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $T/reg}}
http: {addr: "127.0.0.1:5000"}
EOF
	docker-registry serve $T/registry.yml >$T/registry.log 2>&1 &
	i=0
	until wget -q -O /dev/null http://127.0.0.1:5000/v2/ 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 300 ] || { say "registry did not start"; return 1; }
		sleep 0.1
	done
}

cases localfs "--blob-dir $IMG/blobs"
# ---- full disk ----
rc=0
mkdir -p $T/small
mount -t tmpfs -o size=256k tmpfs $T/small
write_config $T/small/cache
supervise
echo 3 >/proc/sys/vm/drop_caches
nydusfs mount --no-prefetch --blob-dir $IMG/blobs "$IMG/bootstrap" $T/mnt ||
	rc=1
if cat $T/mnt/big >/dev/null 2>$T/cat.err; then
	rc=1; say "reading big on a full cache succeeded"
fi
say "cat: $(cat $T/cat.err)"
grep -q 'Input/output error' $T/cat.err || rc=1
nydusfs status >/dev/null || { rc=1; say "daemon gone"; }
nydusfs umount $T/mnt
stop_daemon
nydusfsd_cachecheck "$IMG/bootstrap" $T/small/cache | sed 's/^/# /' || rc=1
umount $T/small
result $rc fulldisk

if [ -d "$DATA/regroot" ] && command -v docker-registry >/dev/null; then
	if start_registry; then
		cases registry "--registry 127.0.0.1:5000/e2e/img"
	else
		result 1 "registry start"
	fi
else
	say "no docker-registry in the guest: registry cases skipped"
fi

grep -E 'error|warning' $T/daemon.log | sed 's/^[0-9:.]* //' | sort | uniq -c |
	sort -rn | head -n 15 | sed 's/^/# log: /'
echo "# $((n - failed)) passed, $failed failed"
exit $failed
