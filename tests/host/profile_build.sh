#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: a startup profile (build --prefetch-list) puts the chunks of its
# ranges and whole files first in the new blob, in profile order, as one
# merged prefetch range; the output is reproducible (same bytes with 1 and
# 2 threads); with a chunk dictionary the profile's chunks that dedup
# against it stay in the dictionary's blob (the range table names it) and
# the new blob stores only new chunks; a path missing from the image is a
# warning; bad profile lines are errors naming FILE:LINE; `check` refuses
# corrupt range tables (blob out of range, chunks past the blob, reserved
# bytes, the feature bit and the region disagreeing).
# timeout: 120
. "$(dirname "$0")/../lib.sh"
require python3 jq cmp
require_nydusfs

# 64 KiB chunks, no compression: the blob's bytes are the files' bytes
mkdir -p "$T/src/bin" "$T/src/lib"
head -c 300000 /dev/urandom >"$T/src/bin/app"
head -c 200000 /dev/urandom >"$T/src/lib/libx.so"
head -c 1000000 /dev/urandom >"$T/src/cold"
cat >"$T/prof" <<'EOF2'
# startup of app
/lib/libx.so 70000 10

/bin/app
/not/in/the/image
/lib/libx.so 0 5000
EOF2
build_ok "$T/img" -c 64K -z none -j 1 -p "$T/prof" "$T/src"
grep -q "prof:5: /not/in/the/image is not in the image (skipped)" "$NYD_ERR" ||
	fail "no warning for the missing path: $(cat "$NYD_ERR")"
check_ok "$T/img"
nyd_ok inspect --json "$T/img/bootstrap"
r=$(jq -c .prefetch_ranges "$NYD_OUT")
[ "$r" = '[{"blob":0,"chunk":0,"count":7,"bytes":431072}]' ] ||
	fail "ranges: $r"
blob=$T/img/blobs/$(jq -r '.blobs[0].digest' "$NYD_OUT")
jq -e '.prefetch == ["/bin/app"]' "$NYD_OUT" >/dev/null ||
	fail "the prefetch list: $(jq -c .prefetch "$NYD_OUT")"
# the blob starts with libx chunk 1, app, libx chunk 0
{ dd if="$T/src/lib/libx.so" bs=65536 skip=1 count=1 status=none
  cat "$T/src/bin/app"
  dd if="$T/src/lib/libx.so" bs=65536 count=1 status=none; } >"$T/expect"
cmp -n 431072 "$T/expect" "$blob" || fail "the blob does not start with the profile's chunks in order"
info "profile chunks first in the blob, in order, one range of 7 chunks: ok"

# reproducible, whatever the thread count
build_ok "$T/img2" -c 64K -z none -j 2 -p "$T/prof" "$T/src"
cmp "$T/img/bootstrap" "$T/img2/bootstrap" || fail "bootstrap differs with -j 2"
cmp "$blob" "$T/img2/blobs/$(basename "$blob")" || fail "blob differs with -j 2"
info "reproducible: ok"

# a chunk dictionary: /new is new, /bin/app dedups against the dictionary
build_ok "$T/dict" -c 64K -z none "$T/src"
cp -a "$T/src" "$T/src3"
head -c 100000 /dev/urandom >"$T/src3/new"
printf '/new\n/bin/app\n' >"$T/prof3"
build_ok "$T/img3" -c 64K -z none -d "$T/dict/bootstrap" -p "$T/prof3" "$T/src3"
nyd_ok check "$T/img3/bootstrap"
nyd_ok inspect --json "$T/img3/bootstrap"
app_first=$(python3 - "$T/dict/bootstrap" "$T/src/bin/app" <<'PY'
import hashlib, struct, sys
b = open(sys.argv[1], "rb").read()
off, size = struct.unpack_from("<QQ", b, 40 + 16 * 5)
d = hashlib.sha256(open(sys.argv[2], "rb").read(65536)).digest()
for i in range(size // 64):
    if b[off + 64 * i + 32:off + 64 * i + 64] == d:
        print(i)
        break
PY
)
want3="[{\"blob\":1,\"chunk\":0,\"count\":2,\"bytes\":100000},{\"blob\":0,\"chunk\":$app_first,\"count\":5,\"bytes\":300000}]"
r=$(jq -c .prefetch_ranges "$NYD_OUT")
[ "$r" = "$want3" ] || fail "ranges with a dictionary: $r, want $want3"
[ "$(jq '.blobs[1].chunk_count' "$NYD_OUT")" = 2 ] ||
	fail "the new blob holds more than the new chunks: $(jq -c .blobs "$NYD_OUT")"
info "chunk dictionary: app's chunks stay in blob 0 (from chunk $app_first), new ones first in blob 1: ok"

# bad lines: FILE:LINE and why, nothing written
bad()
{
	printf '/bin/app\n%s\n' "$1" >"$T/bad"
	nyd build -c 64K -p "$T/bad" -o "$T/badimg" "$T/src"
	[ "$NYD_RC" != 0 ] || fail "profile line '$1' accepted"
	grep -q "bad:2: $2" "$NYD_ERR" || fail "line '$1': $(cat "$NYD_ERR")"
	[ ! -e "$T/badimg/bootstrap" ] || fail "line '$1': a bootstrap was written"
}
bad '/bin/app 12' 'expected PATH or PATH OFFSET LENGTH'
bad 'bin/app' "PATH must be absolute"
bad '/bin/app x 5' 'OFFSET is not a decimal number'
bad '/bin/app 5 -1' 'LENGTH is not a decimal number'
bad '/bin/app 5 0' 'LENGTH is 0'
bad '/bin/app 18446744073709551615 2' 'OFFSET + LENGTH overflows'
bad '/bin/a\qp' 'bad escape in PATH'
bad '/bin/../x' "PATH has a '..' component"
printf '/sp\\x20ace\n' >"$T/esc"
mkdir -p "$T/src4"; echo x >"$T/src4/sp ace"; echo y >"$T/src4/other"
build_ok "$T/img4" -c 4K -p "$T/esc" "$T/src4"
nyd_ok inspect --json "$T/img4/bootstrap"
jq -e '.prefetch == ["/sp\\x20ace"] or .prefetch == ["/sp ace"]' "$NYD_OUT" >/dev/null ||
	fail "escaped path: $(jq -c .prefetch "$NYD_OUT")"
info "bad profile lines: clear errors with file:line; \\\\x20 escapes: ok"

# corrupt range tables: check says what is wrong
PYTHONPATH=$TOP/tests python3 - "$T/img/bootstrap" "$T/mut" <<'PY'
import os, struct, sys
from superblock import fix_csum
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
good = open(src, "rb").read()
def emit(name, b, fix=False):
    if fix:
        fix_csum(b)
    open(os.path.join(out, name), "wb").write(bytes(b))
off, size = struct.unpack_from("<QQ", good, 200)
assert size == 16
def rng(name, field, val):
    b = bytearray(good); struct.pack_into("<I", b, off + 4 * field, val); emit(name, b)
rng("blob", 0, 5)
rng("chunk", 1, 40)
rng("count", 2, 99)
rng("zero", 2, 0)
rng("reserved", 3, 1)
b = bytearray(good); struct.pack_into("<I", b, 12, struct.unpack_from("<I", good, 12)[0] & ~4)
emit("featureclear", b, True)
b = bytearray(good); struct.pack_into("<Q", b, 200, 4096); emit("overlap", b, True)
b = bytearray(good); struct.pack_into("<Q", b, 208, 1 << 40); emit("past", b, True)
PY
mut()
{
	nyd check "$T/mut/$1"
	[ "$NYD_RC" = 1 ] || fail "check of $1 exited $NYD_RC: $(cat "$NYD_ERR")"
	grep -q -- "$2" "$NYD_ERR" || fail "check of $1: $(cat "$NYD_ERR")"
}
mut blob 'prefetch range 0: blob 5 beyond the blob count 1'
mut chunk 'prefetch range 0: 7 chunks from chunk 40 of blob 0 do not fit in its 25 chunks'
mut count '99 chunks from chunk 0 of blob 0 do not fit'
mut zero '0 chunks from chunk 0 of blob 0 do not fit'
mut reserved 'prefetch range 0: reserved field is not zero'
mut featureclear 'PREFETCH_RANGES feature clear but its region is set'
mut overlap 'prefetch-ranges region at 4096 overlaps'
mut past 'prefetch-ranges region .* runs past the end'
info "corrupt range tables: refused with clear messages: ok"

# convert --prefetch-list, with --prefetch: the profile's chunks first,
# the glob's matches in the prefetch list after the profile's paths
if command -v umoci >/dev/null && command -v skopeo >/dev/null; then
	. "$TOP/tests/convert_lib.sh"
	mk_small_image "$T/L"
	printf '/usr/bin/new\n/etc/config 0 1\n/gone/file\n' >"$T/cprof"
	nyd_ok convert -c 64K --prefetch-list "$T/cprof" -p '/usr/bin/l*' \
		"oci:$T/L:v2" "oci:$T/C:v2"
	grep -q "cprof:3: /gone/file is not in the image (skipped)" "$NYD_ERR" ||
		fail "convert: no warning for the missing path: $(cat "$NYD_ERR")"
	fetch_converted "oci:$T/C:v2" "$T/conv"
	nyd_ok check "$T/conv/bootstrap"
	nyd_ok inspect --json "$T/conv/bootstrap"
	jq -e '.prefetch == ["/usr/bin/new", "/usr/bin/link"] and
	       .prefetch_ranges == [{"blob": 0, "chunk": 0, "count": 9,
				     "bytes": .prefetch_ranges[0].bytes}]' \
		"$NYD_OUT" >/dev/null ||
		fail "convert: $(jq -c '{prefetch, prefetch_ranges}' "$NYD_OUT")"
	info "convert --prefetch-list with --prefetch: ok"
	nyd convert --prefetch-list "$T/cprof" --prefetch-list "$T/cprof" \
		"oci:$T/L:v2" "oci:$T/C:v3"
	[ "$NYD_RC" = 2 ] && grep -q 'given twice' "$NYD_ERR" ||
		fail "two --prefetch-list: exit $NYD_RC: $(cat "$NYD_ERR")"
fi
