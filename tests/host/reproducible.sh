#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: the same input gives bit-identical output, whatever the order in
# which the filesystem lists directories and whatever the time of day.
# Tree A is made by tests/mktree.sh on the disk; tree B is a copy made in
# reverse name order on a tmpfs (which lists in creation order), so
# readdir order differs (asserted), while treecmp says A == B.  They are
# built at different times, with different -j, TZ, umask and cwd: the
# bootstraps and blobs must be byte-identical.  The same for a tar layer
# built twice, and for two tars of A and B whose member order differs.
# timeout: 300
. "$(dirname "$0")/../lib.sh"
require python3 tar
require_nydusfs

cd "$TOP" || fail "cd $TOP"
tests/mktree.sh --small "$T/A"

mkdir "$T/tmpfs"
mount -t tmpfs -o size=1g,mode=0755 nydusfs-test "$T/tmpfs" ||
	skip "cannot mount a tmpfs"
B=$T/tmpfs/B

# copy A to B, creating every directory's entries in reverse name order
python3 - "$T/A" "$B" <<'PY'
import os, stat, sys
src, dst = map(os.fsencode, sys.argv[1:])
links = {}      # (dev, ino) -> (dir fd, name) of the first copy

def px(dfd, name):          # a short path for the xattr calls
    return b"/proc/self/fd/%d/%s" % (dfd, name)

def copy_data(sfd, dfd, name):
    fi = os.open(name, os.O_RDONLY, dir_fd=sfd)
    fo = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=dfd)
    size = os.fstat(fi).st_size
    pos = 0
    while pos < size:
        try:
            pos = os.lseek(fi, pos, os.SEEK_DATA)
        except OSError:
            break
        end = os.lseek(fi, pos, os.SEEK_HOLE)
        while pos < end:
            buf = os.pread(fi, min(end - pos, 1 << 20), pos)
            os.pwrite(fo, buf, pos)
            pos += len(buf)
    os.ftruncate(fo, size)
    os.close(fi)
    os.close(fo)

def copy(sfd, dfd, name):
    st = os.lstat(name, dir_fd=sfd)
    m = st.st_mode
    key = (st.st_dev, st.st_ino)
    if not stat.S_ISDIR(m) and key in links:
        lfd, lname = links[key]
        os.link(lname, name, src_dir_fd=lfd, dst_dir_fd=dfd,
                follow_symlinks=False)
        return
    if stat.S_ISDIR(m):
        os.mkdir(name, 0o700, dir_fd=dfd)
        s2 = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=sfd)
        d2 = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=dfd)
        for n in sorted(map(os.fsencode, os.listdir(s2)), reverse=True):
            copy(s2, d2, n)
        os.close(s2)
        os.close(d2)
    elif stat.S_ISREG(m):
        copy_data(sfd, dfd, name)
    elif stat.S_ISLNK(m):
        os.symlink(os.readlink(name, dir_fd=sfd), name, dir_fd=dfd)
    else:
        os.mknod(name, m, st.st_rdev, dir_fd=dfd)
    if not stat.S_ISDIR(m) and st.st_nlink > 1:
        links[key] = (os.dup(dfd), name)
    caps = None
    for k in os.listxattr(px(sfd, name), follow_symlinks=False):
        v = os.getxattr(px(sfd, name), k, follow_symlinks=False)
        if k == "security.capability":
            caps = v
        else:
            os.setxattr(px(dfd, name), k, v, follow_symlinks=False)
    os.chown(name, st.st_uid, st.st_gid, dir_fd=dfd, follow_symlinks=False)
    if not stat.S_ISLNK(m):
        os.chmod(name, stat.S_IMODE(m), dir_fd=dfd)
    if caps is not None:    # after chown, which clears it
        os.setxattr(px(dfd, name), b"security.capability", caps)
    os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dfd,
             follow_symlinks=False)

sfd = os.open(os.path.dirname(src), os.O_RDONLY | os.O_DIRECTORY)
dfd = os.open(os.path.dirname(dst), os.O_RDONLY | os.O_DIRECTORY)
# copy the root under its own name, then rename it to B's name
name = os.path.basename(src)
copy(sfd, dfd, name)
os.rename(name, os.path.basename(dst), src_dir_fd=dfd, dst_dir_fd=dfd)
PY
assert_same_tree "$T/A" "$B"
[ "$(ls -U "$T/A" | head -c 300)" != "$(ls -U "$B" | head -c 300)" ] ||
	fail "A and B list the root directory in the same order: no test"
[ "$(ls -U "$T/A/bigdir" | md5sum)" != "$(ls -U "$B/bigdir" | md5sum)" ] ||
	fail "A and B list bigdir in the same order: no test"

same_output()
{
	local a=$1 b=$2 f

	cmp "$a/bootstrap" "$b/bootstrap" ||
		fail "bootstraps differ: $a $b"
	diff <(cd "$a/blobs" && ls) <(cd "$b/blobs" && ls) >&2 ||
		fail "blob names differ: $a $b"
	for f in "$a"/blobs/*; do
		cmp "$f" "$b/blobs/$(basename "$f")" || fail "blob $f differs"
	done
}

# build A: -j 1, UTC, umask 022; build B: -j 2, another zone and umask, later
(umask 022; export TZ=UTC; cd / && nyd_ok build -j 1 -o "$T/outA" "$T/A")
sleep 1.1
(umask 077; export TZ=Asia/Kolkata; cd "$T" && nyd_ok build -j 2 -o "$T/outB" "$B")
same_output "$T/outA" "$T/outB"
save_corpus "$T/outA/bootstrap"

# -c 4K -z lz4 as well
nyd_ok build -c 4K -z lz4 -o "$T/outA4" "$T/A"
nyd_ok build -c 4K -z lz4 -j 1 -o "$T/outB4" "$B"
same_output "$T/outA4" "$T/outB4"

# a tar layer built twice
tar --xattrs --xattrs-include='*' --format=posix -C "$T/A" -cf "$T/A.tar" .
nyd_ok build -o "$T/tar1" "$T/A.tar"
sleep 1.1
TZ=America/New_York nyd_ok build -j 1 -o "$T/tar2" "$T/A.tar"
same_output "$T/tar1" "$T/tar2"

# two tars of the same tree, members in different orders (readdir order)
tar --xattrs --xattrs-include='*' --format=posix -C "$B" -cf "$T/B.tar" .
cmp -s "$T/A.tar" "$T/B.tar" && fail "the two tars are identical: no test"
nyd_ok build -o "$T/tar3" "$T/B.tar"
same_output "$T/tar1" "$T/tar3"
