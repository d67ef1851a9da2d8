#!/usr/bin/env bash
# bench/serve_bench.sh [N] [SOAK_SECONDS]
#
# The performance targets of the scanning service (issue 5, docs/BENCHMARKS.md),
# measured on loopback with safeguard-bench http against `safeguard serve`:
#  1. GET /v1/lookup with N made-up PDQ hashes loaded (1/3 of the lookups are
#     bank entries, 1/3 entries with 1-16 bits flipped, 1/3 random), closed
#     loop: the maximum rate;
#  2. POST /v1/scan of a 1 MP JPEG (tuxpaint's jellyfish.jpg, 1280x768, a
#     benign photo of ../shared/media), closed loop: the maximum rate;
#  3. the same scan, open loop at 50% of that maximum: p50/p99/p999;
#  4. a soak: scans at 50% for SOAK_SECONDS (default 600) with the server's
#     RSS sampled every second.
# The data directory (DIR, default /tmp/safeguard-serve-bench) is built once
# per N and reused. Nothing here is a timed test; the figures go to
# docs/BENCHMARKS.md with the machine and the date.
set -euo pipefail
BUILD=${BUILD:-build}
N=${1:-10000000}
SOAK=${2:-600}
DIR=${DIR:-/tmp/safeguard-serve-bench}
PORT=${PORT:-18090}
SHARED=${SHARED:-../shared}
BIN="$BUILD/bin/safeguard"
BENCH="$BUILD/bin/safeguard-bench"
PHOTO="$SHARED/media/photos/tuxpaint-data/jellyfish.jpg"
DATA="$DIR/data"
mkdir -p "$DIR"

if [ ! -f "$DATA/.bench-ready-$N" ]; then
  rm -rf "$DATA"
  echo "serve_bench: writing $N made-up hashes and the lookup list" >&2
  python3 - "$N" "$DIR" <<'PY'
import os, random, sys
n, d = int(sys.argv[1]), sys.argv[2]
rng = random.Random(5)
sample = []
with open(os.path.join(d, "list.csv"), "w") as f:
    f.write("type,value,external_id\n")
    for i in range(n):
        h = "%064x" % rng.getrandbits(256)
        f.write("pdq,%s,bench-%d\n" % (h, i))
        if i % max(1, n // 70000) == 0:
            sample.append(h)
with open(os.path.join(d, "lookups.txt"), "w") as f:
    for i in range(100000):
        kind = i % 3
        if kind == 0:
            h = rng.choice(sample)
        elif kind == 1:
            v = int(rng.choice(sample), 16)
            for b in rng.sample(range(256), rng.randint(1, 16)):
                v ^= 1 << b
            h = "%064x" % v
        else:
            h = "%064x" % rng.getrandbits(256)
        f.write("/v1/lookup?pdq=%s\n" % h)
PY
  "$BIN" bank create bench --category other --data "$DATA" > /dev/null
  /usr/bin/time -f "serve_bench: import %e s, peak RSS %M KiB" "$BIN" bank import bench "$DIR/list.csv" --data "$DATA"
  touch "$DATA/.bench-ready-$N"
fi

KEY=$("$BIN" keys create --name bench --scope scan --data "$DATA" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
export SAFEGUARD_API_KEY="$KEY"
"$BIN" serve --data "$DATA" --listen "127.0.0.1:$PORT" 2> "$DIR/serve.log" &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/readyz" > /dev/null; do
  kill -0 $SERVER 2>/dev/null || { cat "$DIR/serve.log" >&2; exit 1; }
  sleep 0.5
done
grep '"ready"' "$DIR/serve.log"
URL="http://127.0.0.1:$PORT"

echo "== lookup, closed loop"
"$BENCH" http --url "$URL/v1/lookup" --urls-file "$DIR/lookups.txt" --connections 16 --warmup 3 --duration 20 --pid $SERVER

echo "== scan of a 1 MP JPEG, closed loop (maximum throughput)"
LINE=$("$BENCH" http --url "$URL/v1/scan" --method POST --body-file "$PHOTO" --content-type image/jpeg \
        --connections 4 --warmup 3 --duration 20 --pid $SERVER)
echo "$LINE"
MAX=$(echo "$LINE" | sed -n 's/.* rps=\([0-9.]*\).*/\1/p')
HALF=$(python3 -c "print(max(1, round($MAX / 2)))")

echo "== scan at 50% of the maximum ($HALF/s), open loop"
"$BENCH" http --url "$URL/v1/scan" --method POST --body-file "$PHOTO" --content-type image/jpeg \
  --connections 16 --rate "$HALF" --warmup 3 --duration 30 --pid $SERVER

echo "== soak: scans at $HALF/s for $SOAK s, server RSS sampled every second"
"$BENCH" http --url "$URL/v1/scan" --method POST --body-file "$PHOTO" --content-type image/jpeg \
  --connections 16 --rate "$HALF" --duration "$SOAK" --pid $SERVER
curl -s "$URL/metrics" | grep -E '^safeguard_(decisions_total|index_pdq_entries|webhook_backlog)'
