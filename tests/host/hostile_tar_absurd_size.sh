#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: a tar header claiming an absurd size (8 GiB - 1 in octal, 2^62
# and a negative size in base-256) with the data missing, and an archive
# cut short in the middle of a member, gzip'd or not, are refused: exit 1
# with a message, no output left, no crash, no hang, no huge allocation.
. "$(dirname "$0")/../lib.sh"
require python3 gzip
require_nydusfs
hostile_setup

# a tar of one 10-byte member "f" (after a normal one), its size field
# (offset 124, 12 bytes) then set to SIZE_FIELD and the checksum fixed
patched_tar()
{
	python3 - "$1" "$2" <<'PY'
import io, sys, tarfile
out, field = sys.argv[1], bytes.fromhex(sys.argv[2])
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
    for name, data in (("ok", b"fine\n"), ("f", b"0123456789")):
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
b = bytearray(buf.getvalue())
h = 1024  # "ok" takes a header and one data block
assert b[h:h + 1] == b"f"
b[h + 124:h + 136] = field
b[h + 148:h + 156] = b" " * 8
b[h + 148:h + 156] = b"%06o\0 " % sum(b[h:h + 512])
open(out, "wb").write(bytes(b[:h + 512 + 512]))   # the data is cut short
PY
}

octal_8g=$(printf '77777777777\0' | od -An -tx1 | tr -d ' \n')
b256_2p62=800000004000000000000000
b256_neg=ffffffffffffffffffffff00

for f in "$octal_8g" "$b256_2p62" "$b256_neg"; do
	for z in plain gz; do
		rm -rf "$T/work/out" "$T/work/l.tar"*
		patched_tar "$T/work/l.tar" "$f"
		layer=l.tar
		if [ $z = gz ]; then
			gzip "$T/work/l.tar"
			layer=l.tar.gz
		fi
		hostile_build "$layer"
		hostile_assert_rejected "size field $f, $z"
	done
done

# an honest header, but the archive ends in the middle of the data
rm -rf "$T/work/out"
mktar "$T/work/full.tar" <<'PY'
add("big", bytes(range(256)) * 4096)
PY
head -c 200000 "$T/work/full.tar" >"$T/work/cut.tar"
rm "$T/work/full.tar"
hostile_snapshot >"$T/.snap-before"
hostile_build cut.tar
hostile_assert_rejected "archive cut in the middle of a member"
