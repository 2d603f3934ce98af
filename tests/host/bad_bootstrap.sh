#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: a truncated, bit-flipped, hostile or garbage bootstrap (or a
# corrupted, truncated or missing blob) gives a clear error and exit 1
# from check, inspect and unpack -- never a crash, a sanitizer report
# (this runs against the ASan/UBSan build), exit 2 or a hang.  Each
# superblock-level corruption (truncation, magic, version, unknown
# incompat bits, out-of-range regions and counts, with the checksum
# recomputed so the deeper checks are reached) is refused by all three
# commands; each table-level corruption (a directory loop, a dirent naming
# the root, out-of-range nids, indices and sizes, a flipped merkle digest)
# is found by `check`.  Random bit flips (fixed seeds, reproducible) may
# be accepted or refused, but never crash or hang.
# timeout: 400
. "$(dirname "$0")/../lib.sh"
require python3
require_nydusfs
# shellcheck disable=SC2034 # read by nyd (tests/lib.sh)
NYD_TIMEOUT=30

mktiny "$T/src"
mkdir -p "$T/src/dir/sub/subsub"
printf 'deep\n' >"$T/src/dir/sub/subsub/f"
ln -s /nowhere "$T/src/dir/sub/dangling"
build_ok "$T/img" -c 4K "$T/src"
check_ok "$T/img"
BS=$T/img/bootstrap
BLOBS=$T/img/blobs

mkdir "$T/mut"
PYTHONPATH=$TOP/tests python3 - "$BS" "$T/mut" <<'PY'
import os, random, struct, sys
from superblock import fix_csum
src, out = sys.argv[1], sys.argv[2]
good = open(src, "rb").read()

stored = struct.unpack_from("<I", good, 4)[0]
if bytes(fix_csum(bytearray(good)))[:256] != good[:256]:
    sys.exit("the test's crc32c disagrees with the superblock checksum "
             "(crc32c, seed ~0, final xor ~0, checksum field as zero)")

def emit(cls, name, b):
    open(os.path.join(out, "%s-%s" % (cls, name)), "wb").write(bytes(b))

regions = [struct.unpack_from("<QQ", good, 40 + 16 * i) for i in range(8)]
R_INODES, R_DIRENTS, R_XATTRS, R_REFS, R_BLOBS, R_CHUNKS, R_STRINGS = range(7)
inode_count = struct.unpack_from("<I", good, 24)[0]

def mut_sb(name, off, fmt, val, fix=True, cls="sb"):
    b = bytearray(good)
    struct.pack_into(fmt, b, off, val)
    emit(cls, name, fix_csum(b) if fix else b)

def mut_table(name, region, index, esize, off, fmt, val):
    b = bytearray(good)
    struct.pack_into(fmt, b, regions[region][0] + index * esize + off, val)
    emit("table", name, b)

def flip_table(name, region, index, esize, off):
    b = bytearray(good)
    b[regions[region][0] + index * esize + off] ^= 0x40
    emit("table", name, b)

# truncated
for n in [0, 1, 4, 100, 255, 256, 4095, 4096, 4097, len(good) // 2,
          len(good) - 4096, len(good) - 1]:
    emit("sb", "truncated-%d" % n, good[:n])
emit("sb", "extended", good + bytes(4096))
# superblock fields (checksum fixed unless said)
mut_sb("magic-zero", 0, "<I", 0)
mut_sb("magic-zero-nofix", 0, "<I", 0, fix=False)
mut_sb("checksum-wrong", 4, "<I", stored ^ 1, fix=False)
mut_sb("version-major-2", 8, "<H", 2)
mut_sb("incompat-unknown", 16, "<I", struct.unpack_from("<I", good, 16)[0] | 0x80000000)
mut_sb("incompat-all", 16, "<I", 0xffffffff)
mut_sb("blkszbits-13", 20, "<B", 13)
mut_sb("chunkszbits-11", 21, "<B", 11)
mut_sb("chunkszbits-25", 21, "<B", 25)
mut_sb("chunkszbits-255", 21, "<B", 255)
mut_sb("sb-size-100", 22, "<H", 100)
mut_sb("inode-count-max", 24, "<I", 0xffffffff)
mut_sb("inode-count-0", 24, "<I", 0)
mut_sb("inode-count-plus1", 24, "<I", inode_count + 1)
mut_sb("root-nid-1", 28, "<I", 1)
mut_sb("bootstrap-size-big", 32, "<Q", len(good) + 4096)
mut_sb("bootstrap-size-max", 32, "<Q", 0xfffffffffffff000)
for i in range(8):
    o = 40 + 16 * i
    mut_sb("region%d-offset-max" % i, o, "<Q", 0xfffffffffffff000)
    mut_sb("region%d-offset-unaligned" % i, o, "<Q", regions[i][0] + 8)
    mut_sb("region%d-offset-0" % i, o, "<Q", 0)
    mut_sb("region%d-size-max" % i, o + 8, "<Q", 0xfffffffffffffff0)
    # the string region's entries are bytes: one more may be padding
    mut_sb("region%d-size-odd" % i, o + 8, "<Q", regions[i][1] + 1,
           cls="rand" if i == R_STRINGS else "sb")
    if i:
        mut_sb("region%d-overlaps-previous" % i, o, "<Q", regions[i - 1][0])

# tables: parse inodes and dirents to aim at real entries
def inode(nid):
    return struct.unpack_from("<HHIIIQqIIQIIIIQ", good, regions[R_INODES][0] + 128 * nid)
def dirent(i):
    return struct.unpack_from("<IIBB", good, regions[R_DIRENTS][0] + 16 * i)
S_IFMT, S_IFDIR, S_IFREG, S_IFLNK = 0o170000, 0o040000, 0o100000, 0o120000
dirs = [n for n in range(inode_count) if (inode(n)[0] & S_IFMT) == S_IFDIR]
regs = [n for n in range(inode_count) if (inode(n)[0] & S_IFMT) == S_IFREG and inode(n)[10]]
lnks = [n for n in range(inode_count) if (inode(n)[0] & S_IFMT) == S_IFLNK]
assert len(dirs) >= 3 and regs and lnks, "tree too small"
# a dirent in a non-root directory that names a directory
sub = [(d, inode(d)[9] + k) for d in dirs[1:] for k in range(inode(d)[10])
       if dirent(inode(d)[9] + k)[3] == 4][0]
parent_dir, loop_dirent = sub

mut_table("root-is-regular", R_INODES, 0, 128, 0, "<H", S_IFREG | 0o755)
mut_table("root-data-count-max", R_INODES, 0, 128, 48, "<I", 0xffffffff)
mut_table("root-data-max", R_INODES, 0, 128, 40, "<Q", 0xffffffffffffffff)
mut_table("root-xattr-count-max", R_INODES, 0, 128, 52, "<I", 0xffffffff)
mut_table("root-xattr-index-max", R_INODES, 0, 128, 56, "<I", 0xfffffff0)
mut_table("root-parent-5", R_INODES, 0, 128, 60, "<I", 5)
mut_table("dir-parent-wrong", R_INODES, dirs[1], 128, 60, "<I", dirs[-1])
mut_table("dir-size-wrong", R_INODES, dirs[1], 128, 16, "<Q", 12345)
mut_table("file-size-max", R_INODES, regs[0], 128, 16, "<Q", 0xffffffffffffffff)
mut_table("file-size-plus-chunk", R_INODES, regs[0], 128, 16, "<Q", inode(regs[0])[5] + 4096)
mut_table("file-data-max", R_INODES, regs[0], 128, 40, "<Q", 0xfffffffffffffff0)
mut_table("file-data-count-max", R_INODES, regs[0], 128, 48, "<I", 0xffffffff)
mut_table("mtime-nsec-1e9", R_INODES, regs[0], 128, 32, "<I", 1000000000)
mut_table("symlink-size-0", R_INODES, lnks[0], 128, 16, "<Q", 0)
mut_table("symlink-size-max", R_INODES, lnks[0], 128, 16, "<Q", 0xffffffffffffffff)
mut_table("symlink-data-max", R_INODES, lnks[0], 128, 40, "<Q", 0xfffffffffffffff0)
mut_table("mode-type-bogus", R_INODES, regs[0], 128, 0, "<H", 0o170644)
mut_table("nlink-0", R_INODES, regs[0], 128, 4, "<I", 0)
flip_table("digest-flip", R_INODES, regs[0], 128, 72)
flip_table("root-digest-flip", R_INODES, 0, 128, 100)
mut_table("dirent-loop-to-parent", R_DIRENTS, loop_dirent, 16, 0, "<I", parent_dir)
mut_table("dirent-names-root", R_DIRENTS, loop_dirent, 16, 0, "<I", 0)
mut_table("dirent-nid-max", R_DIRENTS, 0, 16, 0, "<I", 0xffffffff)
mut_table("dirent-nid-count", R_DIRENTS, 0, 16, 0, "<I", inode_count)
mut_table("dirent-name-len-0", R_DIRENTS, 0, 16, 8, "<B", 0)
mut_table("dirent-name-off-max", R_DIRENTS, 0, 16, 4, "<I", 0xffffffff)
mut_table("dirent-type-wrong", R_DIRENTS, 0, 16, 9, "<B", 12)
mut_table("dirent-swap-order", R_DIRENTS, 0, 16, 4, "<I", dirent(1)[1])
mut_table("ref-blob-index", R_REFS, 0, 8, 0, "<I", 7)
mut_table("ref-chunk-index-max", R_REFS, 0, 8, 4, "<I", 0xffffffff)
mut_table("ref-hole-with-chunk", R_REFS, 0, 8, 0, "<I", 0xffffffff)
mut_table("blob-chunk-count-max", R_BLOBS, 0, 64, 52, "<I", 0xffffffff)
mut_table("blob-chunk-index-1", R_BLOBS, 0, 64, 48, "<I", 1)
mut_table("blob-usize-unaligned", R_BLOBS, 0, 64, 40, "<Q", 4097)
mut_table("chunk-csize-max", R_CHUNKS, 0, 64, 8, "<I", 0xffffffff)
mut_table("chunk-coff-max", R_CHUNKS, 0, 64, 0, "<Q", 0xfffffffffffffff0)
mut_table("chunk-usize-0", R_CHUNKS, 0, 64, 12, "<I", 0)
mut_table("chunk-usize-big", R_CHUNKS, 0, 64, 12, "<I", 1 << 24)
mut_table("chunk-uoff-unaligned", R_CHUNKS, 1, 64, 16, "<Q", 4096 + 1)
mut_table("chunk-compressor-7", R_CHUNKS, 0, 64, 24, "<B", 7)
flip_table("chunk-digest-flip", R_CHUNKS, 0, 64, 40)
if regions[R_XATTRS][1]:
    mut_table("xattr-name-len-0", R_XATTRS, 0, 16, 8, "<B", 0)
    mut_table("xattr-value-len-max", R_XATTRS, 0, 16, 12, "<I", 0xffffffff)
    mut_table("xattr-name-off-max", R_XATTRS, 0, 16, 0, "<I", 0xfffffff0)

# garbage
rnd = random.Random(1)
emit("sb", "garbage-4k", rnd.randbytes(4096))
emit("sb", "garbage-64k", rnd.randbytes(65536))
emit("sb", "all-ff", b"\xff" * 8192)
emit("sb", "all-zero", bytes(len(good)))
emit("rand", "valid-sb-garbage-rest", good[:4096] + rnd.randbytes(len(good) - 4096))

# random bit flips (reproducible); 2 of 3 get a fixed checksum
for seed in range(60):
    r = random.Random(seed)
    b = bytearray(good)
    for _ in range(r.randint(1, 4)):
        pos = r.randrange(256) if r.random() < 0.4 else r.randrange(len(b))
        b[pos] ^= 1 << r.randrange(8)
    if seed % 3:
        fix_csum(b)
    emit("rand", "flip-%02d" % seed, b)
PY
info "$(ls "$T/mut" | wc -l) corrupt bootstraps"

# run CMD... against MUTANT: exit 0 or 1 only (nyd fails crashes/hangs)
try_all()
{
	local m=$1 cls=$2 want_check want_other codes=

	case $cls in
	sb) want_check=1 want_other=1 ;;
	table) want_check=1 want_other= ;;
	rand) want_check='' want_other='' ;;
	esac
	rm -rf "$T/dest"
	for cmd in "check" "check --blob-dir $BLOBS" "inspect" "inspect --json" \
		   "inspect --tree" "unpack --blob-dir $BLOBS"; do
		# shellcheck disable=SC2086
		if [ "${cmd%% *}" = unpack ]; then
			nyd $cmd "$m" "$T/dest"
		else
			nyd $cmd "$m"
		fi
		case $NYD_RC in
		0 | 1) ;;
		*) fail "$cmd $(basename "$m") exited $NYD_RC" ;;
		esac
		if [ "$NYD_RC" = 1 ] && ! [ -s "$NYD_ERR" ]; then
			fail "$cmd $(basename "$m") exited 1 without a message"
		fi
		local want=$want_other
		[ "${cmd%% *}" = check ] && want=$want_check
		if [ -n "$want" ] && [ "$NYD_RC" != "$want" ]; then
			fail "$cmd accepted the corrupt bootstrap $(basename "$m")"
		fi
		rm -rf "$T/dest"
		codes="$codes ${cmd%% --*}=$NYD_RC"
	done
	echo "# $(basename "$m"):$codes" >&2
}

for m in "$T"/mut/*; do
	name=$(basename "$m")
	try_all "$m" "${name%%-*}"
done

# an unknown incompat feature is reported as such
nyd_expect 1 check "$T/mut/sb-incompat-unknown"
assert_grep 'feature|support' "$NYD_ERR" "error for an unknown incompat bit"

# blob corruption: a flipped byte, a truncated blob, a missing blob, a blob
# replaced by another one's bytes.  Metadata stays valid, so a plain check
# passes; check --blob-dir and unpack fail.
blob=$(ls "$BLOBS" | head -n 1)
for how in flip truncate missing swapped; do
	d=$T/blobs-$how
	cp -r "$BLOBS" "$d"
	case $how in
	flip)
		python3 - "$d/$blob" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x10
open(p, "wb").write(b)
PY
		;;
	truncate) truncate -s -1 "$d/$blob" ;;
	missing) rm "$d/$blob" ;;
	swapped) head -c "$(stat -c %s "$d/$blob")" /dev/urandom >"$d/$blob" ;;
	esac
	nyd_ok check "$BS"
	nyd_expect 1 check --blob-dir "$d" "$BS"
	nyd_expect 1 unpack --blob-dir "$d" "$BS" "$T/dest-$how"
done
