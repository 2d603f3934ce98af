#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/mktree.sh [--small] DIR
#
# Create DIR (it must not exist) holding every tricky case a builder and a
# reader must get right.  The content is deterministic (seeded), and every
# entry gets an explicit mtime, so two runs give trees treecmp calls equal.
#
#   names/    255-byte names (ASCII and UTF-8), spaces, newline, tab, high
#             bytes, control bytes, "...", names that sort by memcmp
#   deep/     a path of 120 directories, more than 4096 bytes long
#   sparse/   holes at several offsets, a file that is only a hole, and
#             (not with --small) a 5 GiB sparse file with data across the
#             4 GiB mark and at its end
#   chunks/   files of 4K-1, 4K, 4K+1, 1M-1, 1M, 1M+1 and 2M bytes: one
#             chunk, a chunk and a byte, for -c 4K and the 1M default
#   dup/      the same 4 MiB+100 file three times (not hard links)
#   zero/     a 0-byte file and a written (not sparse) all-zero file
#   links/    a file with 3 hard links across directories, a hard-linked
#             symlink, fifo and empty file
#   types/    every file type: regular, dir, symlinks (relative, dangling,
#             absolute, 4095-byte target), char and block devices (the
#             largest major:minor), fifo, socket
#   modes/    setuid, setgid, sticky, 0000 file and dir, 07777
#   owners/   uids and gids up to 4000000000, on files, dirs and symlinks
#   times/    nanoseconds, 1901 (pre-1970), 0, 2^31, 2100
#   xattrs/   binary user.* and trusted.* values, empty and 3000-byte
#             values, 20 xattrs on one file, security.capability, xattrs
#             on a directory, a symlink and a device
#   bigdir/   1500 entries in one directory
#
# Needs root (devices, owners, trusted.*) and python3.
set -euo pipefail

small=0
if [ "${1:-}" = --small ]; then
	small=1
	shift
fi
if [ $# -ne 1 ]; then
	echo "usage: $0 [--small] DIR" >&2
	exit 2
fi

exec python3 - "$1" "$small" <<'EOF'
import os, random, socket, stat, sys, hashlib

root = os.fsencode(sys.argv[1])
small = sys.argv[2] == "1"
rnd = random.Random(0x6e796475)
K, M, G = 1 << 10, 1 << 20, 1 << 30
times = {}      # relative path -> ns since the epoch (overrides)

def P(rel):
    return os.path.join(root, rel) if rel else root

def mkdir(rel, mode=0o755):
    os.mkdir(P(rel), mode)

def write(rel, data, mode=0o644):
    fd = os.open(P(rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.write(fd, data)
    os.close(fd)

def pwrite_at(rel, chunks, size):
    """A sparse file: (offset, bytes) pairs, then truncated to size."""
    fd = os.open(P(rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    for off, data in chunks:
        os.pwrite(fd, data, off)
    os.ftruncate(fd, size)
    os.close(fd)

def rand(n):
    return rnd.randbytes(n)

os.mkdir(root, 0o755)

# names/: long, odd and memcmp-ordered names
mkdir(b"names")
write(b"names/" + b"a" * 255, b"255 ascii\n")
mkdir(b"names/" + b"d" * 255)
write(b"names/" + b"d" * 255 + b"/" + b"f" * 255, b"255/255\n")
write(b"names/" + "é".encode() * 127 + b"x", b"255 bytes of utf-8\n")
for n in [b"with space", b"new\nline", b"tab\tx", b"back\\slash",
          "ütf-8 名前".encode(), b"\xff\xfe high bytes", b"\x01ctl",
          b"-dash", b".hidden", b"...", b"a", b"a.b", b"ab", b"aa", b"a\x7f",
          b"A", b"b" * 100, b"b" * 101, b"b" * 99 + b"c"]:
    write(b"names/" + n, n + b"\n")

# deep/: 120 levels, > 4096 bytes of path; built with dir fds
mkdir(b"deep")
fd = os.open(P(b"deep"), os.O_RDONLY | os.O_DIRECTORY)
deep_len = len(b"deep")
for i in range(120):
    name = b"level%03d-" % i + b"x" * 30
    os.mkdir(name, 0o755, dir_fd=fd)
    nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
    deep_len += 1 + len(name)
leaf = os.open(b"leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
os.write(leaf, b"at the bottom\n" + rand(5000))
os.close(leaf)
os.symlink(b"../" * 120 + b"names/a", b"up", dir_fd=fd)
os.close(fd)
assert deep_len > 4096

# sparse/
mkdir(b"sparse")
pwrite_at(b"sparse/holes", [(0, b"head"), (2 * M + 100, rand(64 * K)),
                            (3 * M - 4096, rand(8192)),
                            (9 * M - 1, b"tail")], 9 * M + 3)
pwrite_at(b"sparse/leading_hole", [(5 * M + 7, b"x")], 6 * M)
pwrite_at(b"sparse/only_hole", [], 3 * M)
pwrite_at(b"sparse/hole_4k", [(4096, rand(4096)), (3 * 4096 + 1, b"y")],
          5 * 4096)
if not small:
    pwrite_at(b"sparse/big5g", [(0, b"start"), (4 * G - 2, b"ACROSS4G"),
                                (4 * G + 12345, rand(M + 7)),
                                (5 * G + 4096 - 3, b"end")], 5 * G + 4096)

# chunks/
mkdir(b"chunks")
for n in [4 * K - 1, 4 * K, 4 * K + 1, M - 1, M, M + 1, 2 * M]:
    write(b"chunks/size_%d" % n, rand(n))
write(b"chunks/text_3m", b"".join(b"line %08d of compressible text\n" % i
                                  for i in range(3 * M // 32)))

# dup/
mkdir(b"dup")
mkdir(b"dup/sub")
blob = rand(4 * M + 100)
for n in [b"dup/one", b"dup/two", b"dup/sub/three"]:
    write(n, blob)

# zero/
mkdir(b"zero")
write(b"zero/empty", b"")
write(b"zero/zeros", bytes(2 * M + 5))
write(b"zero/zeros_and_one", bytes(M) + b"\x01" + bytes(M))

# links/: 3 hard links across directories, and hard-linked odd types
for d in [b"links", b"links/a", b"links/b", b"links/c", b"links/c/d"]:
    mkdir(d)
write(b"links/a/target", rand(300 * K))
os.link(P(b"links/a/target"), P(b"links/b/link1"))
os.link(P(b"links/a/target"), P(b"links/c/d/link2"))
os.symlink(b"a/target", P(b"links/sym"))
os.link(P(b"links/sym"), P(b"links/c/sym_hardlink"), follow_symlinks=False)
os.mkfifo(P(b"links/fifo"))
os.link(P(b"links/fifo"), P(b"links/b/fifo_hardlink"))
write(b"links/empty", b"")
os.link(P(b"links/empty"), P(b"links/a/empty_hardlink"))

# types/
mkdir(b"types")
mkdir(b"types/dir")
write(b"types/reg", b"regular\n")
os.symlink(b"reg", P(b"types/sym_rel"))
os.symlink(b"dir", P(b"types/sym_dir"))
os.symlink(b"does/not/exist", P(b"types/sym_dangling"))
os.symlink(b"/etc/passwd", P(b"types/sym_abs"))
os.symlink(b"a/" * 2047 + b"b", P(b"types/sym_4095"))
os.mknod(P(b"types/chr"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
os.mknod(P(b"types/chr_max"), stat.S_IFCHR | 0o600, os.makedev(4095, 1048575))
os.mknod(P(b"types/blk"), stat.S_IFBLK | 0o660, os.makedev(8, 1))
os.mkfifo(P(b"types/fifo"), 0o640)
cwd = os.getcwd()
os.chdir(P(b"types"))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(b"sock")
s.close()
os.chdir(cwd)

# owners/ (chown before chmod: chown clears setuid and capabilities)
mkdir(b"owners")
for n, u, g in [(b"u1000", 1000, 1000), (b"nobody", 65534, 65534),
                (b"huge", 4000000000, 123), (b"g5", 0, 5), (b"u12345", 12345, 0)]:
    write(b"owners/" + n, n + b"\n")
    os.chown(P(b"owners/" + n), u, g)
os.symlink(b"u1000", P(b"owners/sym"))
os.chown(P(b"owners/sym"), 1001, 1002, follow_symlinks=False)
mkdir(b"owners/dir")
os.chown(P(b"owners/dir"), 2000, 2001)
os.mkfifo(P(b"owners/fifo"))
os.chown(P(b"owners/fifo"), 3000, 3001)

# modes/ (set last: umask does not apply to chmod)
mkdir(b"modes")
for n, m in [(b"setuid", 0o4755), (b"setgid", 0o2755), (b"m000", 0),
             (b"m777", 0o777), (b"m7777", 0o7777), (b"m600", 0o600)]:
    write(b"modes/" + n, n + b"\n")
    os.chown(P(b"modes/" + n), 0, 0)
    os.chmod(P(b"modes/" + n), m)
mkdir(b"modes/sticky")
os.chmod(P(b"modes/sticky"), 0o1777)
mkdir(b"modes/setgid_dir")
os.chmod(P(b"modes/setgid_dir"), 0o2775)
mkdir(b"modes/d000")
write(b"modes/d000/inside", b"in a mode 000 dir\n")
mkdir(b"modes/d555")
write(b"modes/d555/inside", b"in a mode 555 dir\n")
os.chown(P(b"modes/setuid"), 1000, 1000)
os.chmod(P(b"modes/setuid"), 0o4755)
os.chmod(P(b"modes/d000"), 0)
os.chmod(P(b"modes/d555"), 0o555)

# xattrs/
mkdir(b"xattrs")
write(b"xattrs/file", b"has xattrs\n")
x = P(b"xattrs/file")
os.setxattr(x, b"user.bin", bytes(range(256)))
os.setxattr(x, b"user.empty", b"")
os.setxattr(x, b"trusted.bin", b"\0" + rand(98) + b"\0")
os.setxattr(x, b"user." + b"n" * 200, b"long name")
for i in range(20):
    os.setxattr(x, b"user.m%02d" % i, b"value %d\0" % i)
write(b"xattrs/bigvalue", b"one big xattr\n")
os.setxattr(P(b"xattrs/bigvalue"), b"user.big", rand(3000))
write(b"xattrs/capfile", b"#!/bin/sh\n")
os.chown(P(b"xattrs/capfile"), 1000, 1000)
os.chmod(P(b"xattrs/capfile"), 0o755)
# vfs_cap_data v2, effective, permitted = CAP_NET_BIND_SERVICE
os.setxattr(P(b"xattrs/capfile"), b"security.capability",
            bytes.fromhex("0100000200040000000000000000000000000000"))
mkdir(b"xattrs/dir")
os.setxattr(P(b"xattrs/dir"), b"user.dirattr", b"on a directory")
os.symlink(b"file", P(b"xattrs/sym"))
os.setxattr(P(b"xattrs/sym"), b"trusted.sym", b"\x00on a symlink",
            follow_symlinks=False)
os.mknod(P(b"xattrs/chr"), stat.S_IFCHR | 0o600, os.makedev(1, 5))
os.setxattr(P(b"xattrs/chr"), b"trusted.dev", b"on a device")

# empty dirs
mkdir(b"empty")
mkdir(b"empty/nested")
mkdir(b"empty/nested/deeper")

# bigdir/
mkdir(b"bigdir")
for i in range(1500):
    write(b"bigdir/entry-%05d" % ((i * 7919) % 100000), b"%d\n" % i
          if i % 3 else b"")

# times/ (applied below, with every other entry's mtime)
mkdir(b"times")
mkdir(b"times/dir_ns")
for n in [b"ns", b"pre1970", b"epoch", b"y2038", b"y2100"]:
    write(b"times/" + n, n + b"\n")
os.symlink(b"ns", P(b"times/sym_pre1970"))
S = 10 ** 9
times.update({
    b"times/ns": 1234567890 * S + 123456789,
    b"times/pre1970": -2000000000 * S + 1,      # 1906
    b"times/epoch": 0,
    b"times/y2038": (1 << 31) * S,
    b"times/y2100": 4102444800 * S + 999999999,
    b"times/sym_pre1970": -1234567889 * S - 500000000,
    b"times/dir_ns": 1500000000 * S + 1,
    b"times": 1600000000 * S + 999999999,
})

# Every entry gets a fixed mtime (children before their directory).
def mtime_of(rel):
    if rel in times:
        return times[rel]
    h = int.from_bytes(hashlib.sha256(rel).digest()[:8], "little")
    return (1500000000 + h % 100000000) * S + (h >> 32) % S

for dirpath, dirnames, filenames, dfd in os.fwalk(root, topdown=False):
    rel_dir = os.path.relpath(dirpath, root)
    rel_dir = b"" if rel_dir == b"." else rel_dir + b"/"
    for n in filenames + dirnames:
        t = mtime_of(rel_dir + n)
        os.utime(n, ns=(t, t), dir_fd=dfd, follow_symlinks=False)
t = mtime_of(b"")
os.utime(root, ns=(t, t))
EOF
