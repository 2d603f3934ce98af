#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# tests/daemon/guest_bench.sh DATA RATE_MBIT DELAY_MS: run inside the guest
# by tests/daemon/bench.sh.  docker-registry serves DATA/regroot on the
# guest's loopback, shaped by netem (RATE_MBIT, DELAY_MS each way);
# nydusfsd fetches from it.  Measures, cold (empty cache, caches dropped):
#
#   big     one large file read sequentially (cat)
#   tree    every file of a tree of many small files (find | cat)
#
# as throughput of compressed bytes fetched over the link rate, and the
# daemon's peak RSS (VmHWM) after the tree.  Prints "bench NAME KEY VALUE"
# lines; guest time (run with --icount for repeatable numbers).
DATA=${1:-/mnt/disk0}
RATE=${2:-100}
DELAY=${3:-5}
LOGLEVEL=${4:-warning}
FETCH_OPTS=$(echo "${5:-}" | tr ',' '\n')
LOADS=${6:-big tree tree-warm}
want() { case " $LOADS " in *" $1 "*) return 0 ;; esac; return 1; }
T=/tmp/bench
mkdir -p $T/mnt
echo "INFO guest kernel $(uname -r), $(grep -qw sha_ni /proc/cpuinfo || printf 'no ')sha_ni"
export NYDUSFS_SOCKET=$T/nydusfsd.sock

cp -a "$DATA/regroot" $T/reg
# bootstraps in RAM: a virtio disk read is not repeatable under icount
for i in big tree; do mkdir -p $T/$i; cp "$DATA/$i/bootstrap" $T/$i/; done
cat >$T/registry.yml <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $T/reg}, delete: {enabled: true}}
http: {addr: "127.0.0.1:5000"}
EOF
docker-registry serve $T/registry.yml >$T/registry.log 2>&1 &
RPID=$!
i=0
until wget -q -O /dev/null http://127.0.0.1:5000/v2/ 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 200 ] || { echo "registry did not start"; cat $T/registry.log; exit 1; }
	sleep 0.1
done
TC=/usr/local/bin/tc
$TC qdisc add dev lo root netem rate ${RATE}mbit delay ${DELAY}ms limit 10000 ||
	exit 1

cat >$T/nydusfsd.conf <<EOF
[daemon]
socket = $NYDUSFS_SOCKET
state_dir = $T/state
log_level = ${LOGLEVEL:-warning}
[cache]
dir = $T/cache
sync = false
[fetch]
${FETCH_OPTS:-}
[registry "127.0.0.1:5000"]
scheme = http
EOF
nydusfsd --config $T/nydusfsd.conf 2>$T/daemon.log &
DPID=$!

now() { awk '{ print $1 }' /proc/uptime; }
# cputime PID: its user + system time in clock ticks
cputime() { awk '{ print $14 + $15 }' /proc/$1/stat; }
metric() { nydusfs metrics | awk -v m="$1" '$1 ~ "^"m { s += $2 } END { print s + 0 }'; }

# run NAME IMAGE CMD: a cold read through a fresh mount
run()
{
	name=$1 img=$2
	shift 2
	nydusfs mount --no-prefetch --registry 127.0.0.1:5000/bench/$img \
		"$T/$img/bootstrap" $T/mnt || exit 1
	echo 3 >/proc/sys/vm/drop_caches
	b0=$(metric nydusfsd_fetch_bytes_total)
	i0=$(awk '/^cpu / { print $5 + $6 }' /proc/stat)
	d0=$(cputime $DPID) r0=$(cputime $RPID)
	v0=$(metric nydusfsd_verify_cpu_seconds_total)
	t0=$(now)
	[ "$LOGLEVEL" = debug ] && echo "# $name start $(date +%T)" >&2
	sh -c "$*" >/dev/null || echo "bench $name read-error 1"
	[ "$LOGLEVEL" = debug ] && echo "# $name end $(date +%T)" >&2
	t1=$(now)
	i1=$(awk '/^cpu / { print $5 + $6 }' /proc/stat)
	d1=$(cputime $DPID) r1=$(cputime $RPID)
	echo "bench $name cpu_daemon_s $(awk -v t=$((d1 - d0)) 'BEGIN { print t / 100 }')"
	echo "bench $name cpu_verify_s $(awk -v a="$v0" -v b="$(metric nydusfsd_verify_cpu_seconds_total)" 'BEGIN { printf "%.2f", b - a }')"
	echo "bench $name cpu_registry_s $(awk -v t=$((r1 - r0)) 'BEGIN { print t / 100 }')"
	awk -v n="$name" -v i=$((i1 - i0)) -v t0="$t0" -v t1="$t1" 'BEGIN {
		printf "bench %s cpu_idle %.2f\n", n, i / 100 / (t1 - t0) }'
	b1=$(metric nydusfsd_fetch_bytes_total)
	awk -v n="$name" -v b=$((b1 - b0)) -v t0="$t0" -v t1="$t1" -v r="$RATE" 'BEGIN {
		s = t1 - t0; mbit = b * 8 / s / 1e6
		printf "bench %s bytes %d\nbench %s seconds %.2f\n", n, b, n, s
		printf "bench %s mbit_per_s %.1f\nbench %s link_ratio %.3f\n", n, mbit, n, mbit / r
	}'
	echo "bench $name requests $(metric nydusfsd_fetch_requests_total)"
	nydusfs umount $T/mnt
}

sleep 1
echo "bench link rate_mbit $RATE delay_ms $DELAY"
if want big; then
	# the link itself: one plain download of the big blob (busybox wget)
	blob=$(ls $T/reg/docker/registry/v2/repositories/bench/big/_layers/sha256/ |
		while read -r h; do
			s=$(stat -c %s $T/reg/docker/registry/v2/blobs/sha256/$(echo $h | cut -c1-2)/$h/data)
			echo "$s $h"
		done | sort -n | tail -n 1 | cut -d' ' -f2)
	t0=$(now)
	wget -q -O /dev/null http://127.0.0.1:5000/v2/bench/big/blobs/sha256:$blob
	t1=$(now)
	awk -v t0="$t0" -v t1="$t1" -v r="$RATE" -v b=$((128 << 20)) 'BEGIN {
		s = t1 - t0; printf "bench wget seconds %.2f\nbench wget link_ratio %.3f\n", s, b * 8 / s / 1e6 / r }'
fi
want big && run big big "cat $T/mnt/big"
want tree && run tree tree "cd $T/mnt && find . -type f | xargs cat"
# the same read again, everything in the cache: what the daemon costs
want tree-warm && run tree-warm tree "cd $T/mnt && find . -type f | xargs cat"
echo "bench daemon vmhwm_kib $(awk '/VmHWM/ { print $2 }' /proc/$DPID/status)"
echo "bench daemon vmrss_kib $(awk '/VmRSS/ { print $2 }' /proc/$DPID/status)"
if [ "$LOGLEVEL" = debug ]; then grep -E "big|chunks|OPEN|READ" $T/daemon.log | grep -v "^.*READ" | head -n 150; fi
grep -E "error|warning" $T/daemon.log | head -n 5
kill $DPID
$TC qdisc del dev lo root
