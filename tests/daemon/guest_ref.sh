#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# tests/daemon/guest_ref.sh DATA: mount by reference and run from it,
# inside the guest of tests/daemon/ref_e2e.sh (busybox sh).  DATA holds
# regroot/ (a registry's storage with minbase:v1 and app:v3, nydusfs
# images), ref1/ and ref3/ (umoci unpack of the originals), config.json (an
# OCI runtime spec) and env (IMAGE_BYTES: the blobs of v1; NEW3_BYTES: the
# blobs v3 does not share with v1; EARLY_BYTES: minbase:prof's
# org.nydusfs.startup.bytes).  Each case prints "ok N NAME" or "not
# ok N NAME"; the exit status is the number of failed cases.
#
#   mount     nydusfs mount --tls-verify=false docker://127.0.0.1:5000/
#             minbase:v1 DIR, with no daemon running and no config at all:
#             it starts nydusfsd with the defaults
#   chroot    chroot DIR /bin/sh -c 'cat /etc/os-release', and md5sum (a
#             dynamically linked program of the image): the right output
#   profile   nydusfs profile of the mount after chroot: it names the
#             shell first, then the loader, libc, cat, md5sum, os-release;
#             every range lies inside a regular file of the original, and
#             it holds no more chunks than nydusfsd fetched
#   lazy      the bytes nydusfsd fetched so far are a small fraction (at
#             most 1/4) of the image's blobs
#   crun      an OCI bundle whose rootfs is an overlay, the mount as its
#             lower dir and a tmpfs upper dir: crun runs /bin/sh as pid 1;
#             the file it writes lands in the upper dir, not in the image
#   tree      the whole tree against `umoci unpack` of the original
#   mount-t   mount -t nydusfs -o tls-verify=false docker://127.0.0.1:5000/
#             app:v3 DIR (util-linux mount, then mount.nydusfs): the whole
#             tree against `umoci unpack` of the original (whiteouts, an
#             opaque directory)
#   shared    app:v3 shares minbase:v1's blob: reading all of it fetched
#             only bytes of its own blob (at most NEW3_BYTES, more than 0)
#   early     minbase:prof (a startup profile of the shell, the loader,
#             libc, md5sum, os-release): nydusfs mount has nydusfsd fetch
#             its EARLY_BYTES while it downloads the bootstrap; the
#             profile is served from them (early_served_requests_total),
#             none fails, and md5sum of os-release run from it is right;
#             READ replies named profile chunks present ahead of their
#             range (nydusfs.ko and nydusfsd with PRESENT_AFTER)
#   badann    minbase:badann (v1's layers, the bootstrap annotation
#             naming another digest): nydusfs mount fails, saying the
#             kernel refused the bootstrap; nothing mounted or registered,
#             no bootstrap stored under that name
#   umount    nydusfs umount of both: nothing mounted, nothing registered
DATA=${1:-/mnt/disk0}
T=/tmp/ref
REG=127.0.0.1:5000
failed=0
n=0
. "$DATA/env"

say() { echo "# $*"; }
result()
{
	now=$(date +%s)
	say "$2: $((now - ${last:-$now})) s"
	last=$now
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n $2"
	else
		echo "not ok $n $2"
		failed=$((failed + 1))
	fi
}

# every byte nydusfsd received from any source
fetched()
{
	nydusfs metrics | awk '$1 ~ /^nydusfsd_fetch_bytes_total/ { s += $2 }
		END { printf "%d\n", s }'
}

compare()
{
	treecmp --mtime-seconds --no-root-attrs --max-diffs 20 "$1" "$2" \
		>$T/treecmp.out 2>&1
	rc=$?
	head -n 20 $T/treecmp.out | sed 's/^/# /'
	return $rc
}

# served from the read-only disk: the registry only reads it
start_registry()
{
	cat >$T/registry.yml <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $DATA/regroot}}
http: {addr: "$REG"}
EOF
	docker-registry serve $T/registry.yml >$T/registry.log 2>&1 &
	i=0
	until wget -q -O /dev/null "http://$REG/v2/" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 300 ] || { say "registry did not start"; return 1; }
		sleep 0.1
	done
}

t0=$(date +%s)
mkdir -p $T/m1 $T/m3 $T/bundle/rootfs $T/ovl
start_registry || exit 100
last=$(date +%s)
say "registry up: $((last - t0)) s"

# ---- mount: as a user types it, nothing set up ----
rc=0
NYDUSFS_DAEMON_LOG=1 nydusfs mount --tls-verify=false \
	"docker://$REG/minbase:v1" $T/m1 2>$T/daemon.log || rc=1
grep -q " $T/m1 nydusfs ro,.*digest=sha256:" /proc/mounts || rc=1
grep " $T/m1 " /proc/mounts | sed 's/^/# /'
ls /var/lib/nydusfs/bootstraps/sha256/ | sed 's/^/# stored bootstrap /'
[ $rc = 0 ] || { tail -n 20 $T/daemon.log; exit 100; }
result $rc mount

# ---- chroot: a shell and a dynamically linked program from the image ----
rc=0
chroot $T/m1 /bin/sh -c 'cat /etc/os-release' >$T/os-release || rc=1
cmp $T/os-release "$DATA/ref1/etc/os-release" || rc=1
grep PRETTY_NAME $T/os-release | sed 's/^/# /'
want=$(md5sum <"$DATA/ref1/etc/os-release" | cut -d' ' -f1)
got=$(chroot $T/m1 /usr/bin/md5sum /etc/os-release) || rc=1
say "md5sum in the image: $got"
[ "$got" = "$want  /etc/os-release" ] || rc=1
result $rc chroot

# ---- profile: what the chroot read, as ranges of files ----
rc=0
nydusfs profile -o $T/profile $T/m1 2>$T/profile.err || rc=1
sed 's/^/# /' $T/profile.err
grep -v '^#' $T/profile >$T/ranges
sed 's/^/# profile: /' $T/ranges | head -n 30
read -r first _ <$T/ranges
[ "$first" = /usr/bin/dash ] || { rc=1; say "profile: $first first, not the shell"; }
L=/usr/lib/x86_64-linux-gnu
for f in /usr/bin/cat /usr/bin/md5sum /usr/lib/os-release $L/libc.so.6 \
	$L/ld-linux-x86-64.so.2; do
	grep -q "^$f " $T/ranges || { rc=1; say "profile: no $f"; }
done
while read -r p off len; do
	size=$(stat -c %s "$DATA/ref1$p" 2>/dev/null) || size=-1
	if [ -L "$DATA/ref1$p" ] || [ ! -f "$DATA/ref1$p" ] ||
	   [ $((off + len)) -gt "$size" ] || [ "$len" -le 0 ]; then
		rc=1; say "profile: $p $off $len: not inside a file of the image"
	fi
done <$T/ranges
chunks=$(sed -n 's/^# recorded: .*: \([0-9]*\) chunks first asked for.*/\1/p' \
	$T/profile)
got=$(nydusfs metrics | awk '$1 == "nydusfsd_chunks_fetched_total" { print $2 }')
say "profile: $(wc -l <$T/ranges) ranges, $chunks chunks; $got chunks fetched"
[ "${chunks:-0}" -gt 0 ] && [ "$chunks" -le "${got:-0}" ] || rc=1
result $rc profile

# ---- lazy: a small fraction fetched ----
rc=0
f=$(fetched)
say "fetched $f of $IMAGE_BYTES bytes ($((f * 100 / IMAGE_BYTES))%)"
[ "$f" -gt 0 ] && [ $((f * 4)) -le "$IMAGE_BYTES" ] || rc=1
result $rc lazy

# ---- crun: the mount as the lower dir of an overlay ----
rc=0
mkdir -p $T/ovl
mount -t tmpfs tmpfs $T/ovl
mkdir -p $T/ovl/upper $T/ovl/work
mount -t overlay overlay \
	-o lowerdir=$T/m1,upperdir=$T/ovl/upper,workdir=$T/ovl/work \
	$T/bundle/rootfs || rc=1
cp "$DATA/config.json" $T/bundle/
mkdir -p /sys/fs/cgroup
mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null
crun --cgroup-manager=disabled run --no-pivot --bundle $T/bundle ref-e2e \
	>$T/crun.out 2>&1 || rc=1
sed 's/^/# crun: /' $T/crun.out | grep -v -e NAME= -e _URL= -e ^ID
grep -qx 'pid 1' $T/crun.out || rc=1
grep -q "^$want  /etc/os-release" $T/crun.out || rc=1
[ "$(cat $T/ovl/upper/root/crun.txt 2>/dev/null)" = from-crun ] || rc=1
[ ! -e $T/m1/root/crun.txt ] || rc=1
umount $T/bundle/rootfs || rc=1
umount $T/ovl
result $rc crun

# ---- tree: all of minbase:v1 ----
rc=0
compare "$DATA/ref1" $T/m1 || rc=1
f1=$(fetched)
say "fetched $f1 of $IMAGE_BYTES bytes after reading every file"
result $rc tree

# ---- mount -t nydusfs: app:v3, whose first blob is minbase:v1's ----
rc=0
ln -sf "$(command -v nydusfs)" /sbin/mount.nydusfs
MOUNT=/usr/local/bin/mount	# util-linux, not busybox's applet
[ -x $MOUNT ] || MOUNT=mount
$MOUNT -t nydusfs -o tls-verify=false "docker://$REG/app:v3" $T/m3 || rc=1
grep " $T/m3 " /proc/mounts | sed 's/^/# /'
[ $rc = 0 ] && { compare "$DATA/ref3" $T/m3 || rc=1; }
[ -e $T/m3/etc/motd ] && rc=1		# a whiteout
[ -e $T/m3/usr/share/doc ] && rc=1
[ "$(ls $T/m3/etc/apt)" = sources.list ] || rc=1	# opaque
result $rc mount-t

# ---- shared: nothing of minbase:v1's blob fetched again ----
f3=$(fetched)
d=$((f3 - f1))
say "reading app:v3 fetched $d bytes; its own blobs: $NEW3_BYTES bytes"
rc=0
[ "$d" -gt 0 ] && [ "$d" -le "$NEW3_BYTES" ] || rc=1
result $rc shared

# ---- early: a startup profile fetched while the bootstrap downloads ----
metric() { nydusfs metrics | awk -v m="$1" '$1 == m { print $2 }'; }
rc=0
mkdir -p $T/m4
nydusfs mount --tls-verify=false "docker://$REG/minbase:prof" $T/m4 || rc=1
out=$(chroot $T/m4 /bin/sh -c 'md5sum /etc/os-release')
[ "$out" = "$want  /etc/os-release" ] || { rc=1; say "early: md5sum: $out"; }
for i in $(seq 100); do		# the profile's prefetch, done
	nydusfs status | grep -q 'startup profile \([0-9]*\)/\1' && break
	sleep 0.1
done
nydusfs status | grep 'startup profile' | sed 's/^/# /'
e=$(metric nydusfsd_early_fetches_total)
eb=$(metric nydusfsd_early_bytes_total)
es=$(metric nydusfsd_early_served_requests_total)
ef=$(metric nydusfsd_early_failures_total)
pa=$(metric nydusfsd_device_present_after_chunks_total)
say "early: $e fetch(es), $eb of $EARLY_BYTES bytes, $es range(s) served, $ef failed; READ replies named $pa prefetched chunks present ahead"
[ "$e" = 1 ] && [ "$eb" = "$EARLY_BYTES" ] && [ "${es:-0}" -ge 1 ] &&
	[ "$ef" = 0 ] && [ "${pa:-0}" -ge 1 ] || rc=1
result $rc early

# ---- badann: the kernel's digest check refuses the bootstrap ----
rc=0
BAD=/var/lib/nydusfs/bootstraps/sha256/0000000000000000000000000000000000000000000000000000000000000000
mkdir -p $T/bad
if nydusfs mount --tls-verify=false "docker://$REG/minbase:badann" $T/bad \
	2>$T/bad.err; then
	rc=1
fi
sed 's/^/# /' $T/bad.err
grep -q "does not match the digest its layer's annotation gives" $T/bad.err || rc=1
grep -q " $T/bad " /proc/mounts && rc=1
nydusfs status | grep -q "$T/bad" && rc=1
[ -e $BAD ] && rc=1
dmesg | grep 'differs from the digest option' | tail -n 1 | sed 's/^/# /'
result $rc badann

# ---- umount ----
rc=0
nydusfs umount $T/m1 || rc=1
nydusfs umount $T/m3 || rc=1
nydusfs umount $T/m4 || rc=1
grep nydusfs /proc/mounts && rc=1
nydusfs status >$T/status || rc=1
grep -q '^mount ' $T/status && rc=1
sed 's/^/# /' $T/status
result $rc umount

say "guest time $(($(date +%s) - t0)) s"
grep -E 'error|warning' $T/daemon.log | sed 's/^[0-9:.]* //' | sort |
	uniq -c | sort -rn | head -n 10 | sed 's/^/# log: /'
echo "# $((n - failed)) passed, $failed failed"
exit $failed
