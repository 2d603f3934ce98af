#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/daemon/bench.sh [RATE_MBIT [DELAY_MS]]: the cold-read benchmark of
# nydusfsd, in one guest boot (tools/vm-run --icount: guest time, 1 CPU)
# with docker-registry inside the guest behind netem on its loopback
# (default 100 Mbit/s, 5 ms each way).  Images: one 128 MiB file (1 MiB
# chunks) and a tree of 10,000 small files.  Prints the throughput over the
# link rate (target: at least 0.9) and the daemon's peak RSS (target: at
# most 32 MiB).  Not part of `make check` (about 5 minutes).
# BENCH_LOADS="tree tree-warm" runs only those loads (default: big tree
# tree-warm); FETCH_OPTS="key=value,..." adds [fetch] settings.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=$TOP/build
WORK=${WORK:-$B/daemon-bench}
RATE=${1:-100}
DELAY=${2:-5}
NYDUSFS=$B/bin/nydusfs
REG=$TOP/tests/registry

rm -rf "$WORK"
mkdir -p "$WORK/src-big" "$WORK/data"
head -c $((128 << 20)) /dev/urandom >"$WORK/src-big/big"
python3 - "$WORK/src-tree" <<'PY'
import os, random, sys
random.seed(7)
root = sys.argv[1]
words = [b"alpha", b"beta", b"gamma", b"delta", b"config", b"value", b"\n"]
for d in range(100):
    p = os.path.join(root, "d%03d" % d)
    os.makedirs(p)
    for f in range(100):
        n = random.randint(1024, 8192)
        if f % 2:
            data = os.urandom(n)
        else:
            data = b" ".join(random.choice(words) for _ in range(n // 5))[:n]
        with open(os.path.join(p, "f%03d" % f), "wb") as fh:
            fh.write(data)
PY
"$NYDUSFS" build -o "$WORK/img-big" "$WORK/src-big" >/dev/null
"$NYDUSFS" build -o "$WORK/img-tree" "$WORK/src-tree" >/dev/null
env=$("$REG/registry.sh" start --dir "$WORK/reg" --owner $$)
eval "$env"
"$REG/push.sh" nydus bench/big "$WORK/img-big" >/dev/null
"$REG/push.sh" nydus bench/tree "$WORK/img-tree" >/dev/null
"$REG/registry.sh" stop "$WORK/reg" >/dev/null
mkdir -p "$WORK/data/big" "$WORK/data/tree"
cp "$WORK/img-big/bootstrap" "$WORK/data/big/"
cp "$WORK/img-tree/bootstrap" "$WORK/data/tree/"
cp -a "$REGISTRY_ROOT" "$WORK/data/regroot"
cp "${GUEST_BENCH:-$TOP/tests/daemon/guest_bench.sh}" "$WORK/data/guest_bench.sh"
"$TOP/tools/vm-run" --icount --mem 2G --timeout 1800 \
	--with docker-registry,tc${BENCH_WITH:-} --disk "$WORK/data" -- \
	sh /mnt/disk0/guest_bench.sh /mnt/disk0 "$RATE" "$DELAY" "${LOGLEVEL:-warning}" \
	"${FETCH_OPTS:-}" "${BENCH_LOADS:-big tree tree-warm}" |
	tee "$WORK/result.txt"
