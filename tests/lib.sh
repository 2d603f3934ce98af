# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers shared by the host tests (tests/host/*.sh).  Source it first:
#
#   . "$(dirname "$0")/../lib.sh"
#
# A test exits 0 (pass), 1 (fail) or 77 (skip).  Any command that fails
# unexpectedly fails the test (an ERR trap), naming the line.  Every test
# gets a private temporary directory $T, removed on exit (kept when
# KEEP_TMP=1), with anything mounted under it unmounted first.
#
# Environment:
#   NYDUSFS         the nydusfs binary under test (default: the ASan/UBSan
#                   build, build/san/bin/nydusfs)
#   TREECMP         the tree comparer (default build/tests/treecmp)
#   NYDUSFS_CORPUS  if set, small valid bootstraps are copied here to seed
#                   the fuzzer
#   NYD_TIMEOUT     seconds one nydusfs command may take (default 180)

set -eEu -o pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TEST_NAME=$(basename "$0" .sh)
NYDUSFS=$(realpath -m "${NYDUSFS:-$TOP/build/san/bin/nydusfs}")
TREECMP=$(realpath -m "${TREECMP:-$TOP/build/tests/treecmp}")
NYD_TIMEOUT=${NYD_TIMEOUT:-180}

# Sanitizer reports must never look like nydusfs's own exit 1.
export ASAN_OPTIONS=${ASAN_OPTIONS:-exitcode=86:detect_leaks=1:allocator_may_return_null=1:handle_abort=1:handle_segv=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:exitcode=87:print_stacktrace=1}
export LC_ALL=C.UTF-8

fail()
{
	echo "FAIL: $TEST_NAME: $*" >&2
	exit 1
}

skip()
{
	echo "SKIP: $TEST_NAME: $*" >&2
	exit 77
}

info()
{
	echo "# $*" >&2
}

_on_err()
{
	local rc=$? line=$1 cmd=${2%%$'\n'*}

	echo "FAIL: $TEST_NAME: line $line: '${cmd:0:200}' exited $rc" >&2
	exit 1
}
trap '_on_err $LINENO "$BASH_COMMAND"' ERR

_cleanup()
{
	local rc=$? m

	trap - ERR
	set +e
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		# innermost first
		for m in $(findmnt -rn -o TARGET | grep -F "$T" | sort -r); do
			umount -l "$m" 2>/dev/null
		done
		if [ "${KEEP_TMP:-0}" = 1 ]; then
			echo "# kept $T" >&2
		else
			chmod -R u+rwx "$T" 2>/dev/null
			rm -rf "$T"
		fi
	fi
	exit "$rc"
}
trap _cleanup EXIT

T=$(mktemp -d "${TMPDIR:-/tmp}/nydusfs-$TEST_NAME.XXXXXX")
chmod 0755 "$T"

[ "$(id -u)" = 0 ] || skip "needs root"

require()
{
	local c

	for c in "$@"; do
		command -v "$c" >/dev/null ||
			fail "missing tool '$c' (run scripts/install-deps.sh)"
	done
}

# require_daemon_tools: NYDUSFSD (the sanitizer build when there is one),
# FAKEDEV (nydusfsd_fakedev, the kernel's side) and CACHECHECK, or skip.
require_daemon_tools()
{
	NYDUSFSD=${NYDUSFSD:-$TOP/build/san/bin/nydusfsd}
	[ -x "$NYDUSFSD" ] || NYDUSFSD=$TOP/build/bin/nydusfsd
	FAKEDEV=$TOP/build/tests/nydusfsd_fakedev
	CACHECHECK=$TOP/build/tests/nydusfsd_cachecheck
	[ -x "$NYDUSFSD" ] && [ -x "$FAKEDEV" ] && [ -x "$CACHECHECK" ] ||
		skip "build first (make programs)"
}

# daemon_harness [AT_EXIT]: for tests that start nydusfsd (DPID) and
# nydusfsd_fakedev (FPID) themselves: NYDUSFS_SOCKET in $T, and at exit
# both killed if still set, then the command AT_EXIT (e.g. _reg_stop_all),
# then the usual cleanup.
daemon_harness()
{
	export NYDUSFS_SOCKET=$T/ctl.sock
	DPID=
	FPID=
	_HARNESS_AT_EXIT=${1:-:}
	# shellcheck disable=SC2154
	trap 'rc=$?; trap - ERR; set +e; [ -z "$DPID" ] || kill $DPID 2>/dev/null; [ -z "$FPID" ] || kill $FPID 2>/dev/null; wait; $_HARNESS_AT_EXIT; (exit $rc); _cleanup' EXIT
}

require_nydusfs()
{
	[ -x "$NYDUSFS" ] || fail "no nydusfs binary at $NYDUSFS (run make)"
	[ -x "$TREECMP" ] || fail "no treecmp at $TREECMP (run make)"
}

# ---- running nydusfs ----
#
# nyd ARGS...: run "$NYDUSFS" ARGS under a timeout.  Its stdout and stderr
# go to $NYD_OUT and $NYD_ERR and its exit status to $NYD_RC.  A crash,
# a hang or any sanitizer report fails the test at once, whatever the
# caller expected.
NYD_OUT=$T/.nyd.out
NYD_ERR=$T/.nyd.err
NYD_RC=0

nyd()
{
	echo "+ nydusfs $*" >&2
	NYD_RC=0
	timeout -k 5 "$NYD_TIMEOUT" "$NYDUSFS" "$@" \
		>"$NYD_OUT" 2>"$NYD_ERR" </dev/null || NYD_RC=$?
	_nyd_verdict "$@"
}

# nyd_as UID ARGS...: the same, run as another user (no capabilities).
nyd_as()
{
	local uid=$1

	shift
	echo "+ (uid $uid) nydusfs $*" >&2
	NYD_RC=0
	timeout -k 5 "$NYD_TIMEOUT" setpriv --reuid="$uid" --regid="$uid" \
		--clear-groups --inh-caps=-all "$NYDUSFS" "$@" \
		>"$NYD_OUT" 2>"$NYD_ERR" </dev/null || NYD_RC=$?
	_nyd_verdict "$@"
}

_nyd_verdict()
{
	if grep -qE 'Sanitizer|runtime error:|SUMMARY: ' "$NYD_ERR"; then
		head -n 60 "$NYD_ERR" >&2
		fail "sanitizer report from: nydusfs $*"
	fi
	case $NYD_RC in
	124 | 137)
		fail "nydusfs $* hung (killed after ${NYD_TIMEOUT}s)" ;;
	86 | 87)
		tail -n 30 "$NYD_ERR" >&2
		fail "sanitizer exit $NYD_RC from: nydusfs $*" ;;
	esac
	if [ "$NYD_RC" -ge 128 ]; then
		tail -n 30 "$NYD_ERR" >&2
		fail "nydusfs $* died of signal $((NYD_RC - 128))"
	fi
	return 0
}

# nyd_ok ARGS...: nydusfs must succeed.
nyd_ok()
{
	nyd "$@"
	if [ "$NYD_RC" != 0 ]; then
		tail -n 30 "$NYD_ERR" >&2
		fail "nydusfs $* exited $NYD_RC"
	fi
}

# nyd_expect RC ARGS...: nydusfs must exit RC and, when RC != 0, say why.
nyd_expect()
{
	local want=$1

	shift
	nyd "$@"
	_expect "$want" "$@"
}

nyd_as_expect()
{
	local uid=$1 want=$2

	shift 2
	nyd_as "$uid" "$@"
	_expect "$want" "$@"
}

_expect()
{
	local want=$1

	shift
	if [ "$NYD_RC" != "$want" ]; then
		tail -n 30 "$NYD_ERR" >&2
		fail "nydusfs $* exited $NYD_RC, expected $want"
	fi
	if [ "$want" != 0 ] && ! [ -s "$NYD_ERR" ]; then
		fail "nydusfs $* exited $want without a message on stderr"
	fi
	if [ "$want" != 0 ]; then
		echo "  -> $NYD_RC: $(head -n 3 "$NYD_ERR" | tr '\n' ' ')" >&2
	fi
}

# ---- assertions ----

assert_eq()
{
	[ "$1" = "$2" ] || fail "${3:-values differ}: '$1' != '$2'"
}

# assert_le A B [WHAT]: integers, A <= B
assert_le()
{
	[ "$1" -le "$2" ] || fail "${3:-bound}: $1 > $2"
}

assert_file()
{
	[ -f "$1" ] || fail "missing file $1"
}

assert_no_file()
{
	[ ! -e "$1" ] && [ ! -L "$1" ] || fail "unexpected $1"
}

# assert_grep PATTERN FILE [WHAT]: an extended regexp, case-insensitive
assert_grep()
{
	grep -qiE -- "$1" "$2" ||
		fail "${3:-output} does not match /$1/: $(head -c 400 "$2")"
}

# assert_no_output_left OUTDIR: a failed build left no file behind
assert_no_output_left()
{
	local left

	if [ -e "$1" ]; then
		left=$(find "$1" ! -type d | head -n 5)
		[ -z "$left" ] || fail "failed build left files behind: $left"
	fi
}

# assert_same_tree A B [treecmp options]
assert_same_tree()
{
	local a=$1 b=$2 out

	shift 2
	out=$T/.treecmp.out
	if ! "$TREECMP" --max-diffs 40 "$@" "$a" "$b" >"$out" 2>&1; then
		cat "$out" >&2
		fail "trees differ: $a $b"
	fi
}

# ---- images ----

# build_ok OUTDIR ARGS...: nydusfs build ARGS -o OUTDIR, which must work
# and write OUTDIR/bootstrap and at least the blobs directory.
build_ok()
{
	local out=$1

	shift
	nyd_ok build -o "$out" "$@"
	assert_file "$out/bootstrap"
	[ -d "$out/blobs" ] || fail "build wrote no $out/blobs directory"
	save_corpus "$out/bootstrap"
}

# check_ok OUTDIR: metadata check, then every chunk against the blobs.
check_ok()
{
	nyd_ok check "$1/bootstrap"
	nyd_ok check --blob-dir "$1/blobs" "$1/bootstrap"
}

# A small valid bootstrap seeds the fuzzer's corpus.
save_corpus()
{
	local f=$1 sum

	[ -n "${NYDUSFS_CORPUS:-}" ] || return 0
	[ "$(stat -c %s "$f")" -le $((1 << 20)) ] || return 0
	mkdir -p "$NYDUSFS_CORPUS"
	sum=$(sha256sum "$f" | cut -c1-64)
	cp "$f" "$NYDUSFS_CORPUS/$sum"
}

# bsinfo BOOTSTRAP: the bootstrap's own numbers as JSON, read straight from
# the on-disk format (uapi/nydusfs_fs.h), independent of nydusfs inspect:
# {magic, inode_count, chunkszbits, feature_*, regions: [{offset, size}],
#  blobs: [{digest, compressed_size, uncompressed_size, chunk_index,
#  chunk_count}], chunk_count, ref_count, hole_refs, prefetch: [nid...],
#  inodes: {nid: {mode, size, nlink, ...}} only with --inodes}
bsinfo()
{
	python3 - "$@" <<'EOF'
import json, struct, sys
args = sys.argv[1:]
inodes = "--inodes" in args
path = [a for a in args if a != "--inodes"][0]
b = open(path, "rb").read()
(magic, csum, vmaj, vmin, fcompat, fincompat, blkbits, chunkbits, sbsize,
 icount, root, bsize) = struct.unpack_from("<IIHHIIBBHIIQ", b, 0)
regions = [dict(zip(("offset", "size"), struct.unpack_from("<QQ", b, 40 + 16 * i)))
           for i in range(8)]
def region(i):
    r = regions[i]
    return b[r["offset"]:r["offset"] + r["size"]]
blobs = []
rb = region(4)
for i in range(len(rb) // 64):
    d, cs, us, ci, cc = struct.unpack_from("<32sQQII", rb, 64 * i)
    blobs.append(dict(digest=d.hex(), compressed_size=cs,
                      uncompressed_size=us, chunk_index=ci, chunk_count=cc))
chunks = region(5)
chunk_list = []
for i in range(len(chunks) // 64):
    co, cs, us, uo, comp = struct.unpack_from("<QIIQB", chunks, 64 * i)
    chunk_list.append(dict(compressed_size=cs, uncompressed_size=us,
                           compressor=comp,
                           digest=chunks[64 * i + 32:64 * i + 64].hex()))
refs = region(3)
holes = sum(1 for i in range(len(refs) // 8)
            if struct.unpack_from("<I", refs, 8 * i)[0] == 0xffffffff)
pf = region(7)
out = dict(magic=magic, version_major=vmaj, version_minor=vmin,
           feature_compat=fcompat, feature_incompat=fincompat,
           chunkszbits=chunkbits, inode_count=icount, root_nid=root,
           bootstrap_size=bsize, file_size=len(b), regions=regions,
           blobs=blobs, chunk_count=len(chunk_list),
           unique_chunk_digests=len(set(c["digest"] for c in chunk_list)),
           chunk_bytes=sum(c["uncompressed_size"] for c in chunk_list),
           ref_count=len(refs) // 8, hole_refs=holes,
           prefetch=[struct.unpack_from("<I", pf, 4 * i)[0]
                     for i in range(len(pf) // 4)])
if inodes:
    it = region(0)
    out["inodes"] = {}
    for nid in range(len(it) // 128):
        (mode, _, nlink, uid, gid, size, mtime, nsec, rdev, data, dcount,
         xcount, xidx, parent, blocks) = struct.unpack_from(
             "<HHIIIQqIIQIIIIQ", it, 128 * nid)
        out["inodes"][nid] = dict(mode=mode, nlink=nlink, size=size,
                                  data=data, data_count=dcount,
                                  blocks=blocks)
json.dump(out, sys.stdout)
EOF
}

# bsq BOOTSTRAP JQ_EXPR: one value from bsinfo
bsq()
{
	bsinfo "$1" | jq -r "$2"
}

# json_find FILE KEY: the first value of KEY anywhere in a JSON document
# (empty if absent), so tests do not depend on inspect's nesting.
json_find()
{
	jq -r --arg k "$2" '[.. | objects | select(has($k)) | .[$k]] | first // empty' "$1"
}

# Size in bytes of every file under DIR (apparent size).
dir_bytes()
{
	find "$1" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'
}

# A tiny tree of every file type, for tests that need an image quickly.
mktiny()
{
	local d=$1

	mkdir -p "$d/dir/sub"
	printf 'hello\n' >"$d/file"
	head -c 300000 /dev/urandom >"$d/dir/random"
	ln "$d/file" "$d/dir/hardlink"
	ln -s ../file "$d/dir/sym"
	mkfifo "$d/fifo"
	mknod "$d/chr" c 1 3
	setfattr -n user.x -v 0x00ff "$d/file"
	truncate -s 3M "$d/dir/sparse"
	printf 'x' | dd of="$d/dir/sparse" bs=1 seek=2000000 conv=notrunc 2>/dev/null
	touch -h -d '2001-02-03 04:05:06.789' "$d"/* "$d"/dir/* "$d"
}

# ---- hostile tarballs ----
#
# mktar OUT.tar: run the python on stdin with `tf` (a tarfile opened for
# writing OUT.tar) and `add(name, data=b"", typ=REG, mode=0o644, link="",
# size=None)` defined.
mktar()
{
	cat >"$T/.tarlib.py" <<'PY'
import io, sys, tarfile
from tarfile import REGTYPE as REG, DIRTYPE as DIR, SYMTYPE as SYM, LNKTYPE as LNK
tf = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
def add(name, data=b"", typ=REG, mode=0o644, link="", mtime=1600000000):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.linkname, ti.mtime = typ, mode, link, mtime
    ti.size = len(data) if typ == REG else 0
    tf.addfile(ti, io.BytesIO(data) if typ == REG else None)
exec(sys.stdin.read())
tf.close()
PY
	python3 "$T/.tarlib.py" "$1"
}

# hostile_setup: $T/work (the cwd of the build) and next to it a sentinel
# directory $SENTINEL whose file "secret" no archive may read or change.
hostile_setup()
{
	mkdir -p "$T/work" "$T/sentinel"
	SENTINEL=$T/sentinel
	SECRET="SECRET-$RANDOM$RANDOM"
	printf '%s\n' "$SECRET" >"$SENTINEL/secret"
	hostile_control
	hostile_snapshot >"$T/.snap-before"
}

# Everything under $T but the build's output, the unpacked tree and the
# test's own scratch files: what a hostile archive must not touch.
hostile_snapshot()
{
	find "$T" \( -path "$T/work/out" -o -path "$T/work/unpacked" -o \
		-name '.*' -o -name '*.tar*' \) -prune -o \
		\( -type d -printf '%P d %m\n' \) -o \
		-printf '%P %y %s %m %n %T@\n' | sort
	md5sum "$SENTINEL/secret"
}

# hostile_control: a benign layer of the same kinds of entries builds, so
# a rejection below is about the hostile entry, not tar input as such.
hostile_control()
{
	mktar "$T/work/control.tar" <<'PY'
add("d/", typ=DIR, mode=0o755)
add("d/f", b"benign\n")
add("d/s", typ=SYM, link="f")
add("d/h", typ=LNK, link="d/f")
add("top", b"x" * 5000)
PY
	hostile_build control.tar
	[ "$NYD_RC" = 0 ] || {
		cat "$NYD_ERR" >&2
		fail "a benign tar layer does not build (exit $NYD_RC)"
	}
	rm -rf "$T/work/out" "$T/work/control.tar"
}

hostile_assert_untouched()
{
	hostile_snapshot >"$T/.snap-after"
	diff "$T/.snap-before" "$T/.snap-after" >&2 ||
		fail "something outside the output changed"
	[ ! -e /etc/nydusfs-pwned ] || fail "/etc/nydusfs-pwned exists"
}

# hostile_build TAR...: build from the layers in $T/work; $NYD_RC set.
hostile_build()
{
	pushd "$T/work" >/dev/null
	nyd build -o "$T/work/out" "$@"
	popd >/dev/null
}

# The build must fail cleanly: exit 1, a message naming the problem, no
# output left, nothing outside touched.
hostile_assert_rejected()
{
	local why=$1 names=${2:-}

	[ "$NYD_RC" = 1 ] || fail "build exited $NYD_RC, expected 1 ($why)"
	[ -s "$NYD_ERR" ] || fail "build failed without a message"
	# the message names the offending member
	if [ -n "$names" ] && ! grep -qF -e "$names" "$NYD_ERR"; then
		cat "$NYD_ERR" >&2
		fail "the error for '$why' does not name '$names'"
	fi
	echo "  -> rejected: $(head -n 2 "$NYD_ERR" | tr '\n' ' ')" >&2
	assert_no_output_left "$T/work/out"
	hostile_assert_untouched
}

# The build must succeed; the image checks and unpacks into
# $T/work/unpacked, which holds no byte of the secret.
hostile_assert_built()
{
	[ "$NYD_RC" = 0 ] || { cat "$NYD_ERR" >&2; fail "build exited $NYD_RC, expected 0"; }
	check_ok "$T/work/out"
	nyd_ok unpack "$T/work/out/bootstrap" "$T/work/unpacked"
	! grep -rqF "$SECRET" "$T/work/unpacked" ||
		fail "the image holds the sentinel's secret"
	hostile_assert_untouched
}
