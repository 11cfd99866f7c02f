#!/usr/bin/env bash
# Stream soak (not run by CI): a scheduler and two worker processes on loopback run the
# paced map → 1-s tumbling window → sink pipeline of `rask bench stream` for a long time at a
# steady rate. Every minute (SOAK_EVERY) it records the RSS of every process (scheduler,
# worker nannies and workers, the bench client) and the scheduler's tracked-task count
# (`client.info().tasks`, printed by the bench), then asserts that nothing grows: for each
# series, the mean of the last third of the samples may exceed the mean of the second third
# (the first third is warm-up) by at most SOAK_SLACK (default 20 %) plus 2 MB, and tracked
# tasks stay under 64.
#
#   scripts/soak_stream.sh [SECONDS (default 1800)] [RATE events/s (default 10000)]
#   SOAK_EVERY=10 scripts/soak_stream.sh 180     # a three-minute trial
#
# Writes OUT (default /tmp/rask-soak-<time>/) with samples.tsv and the bench output.
set -euo pipefail

SECONDS_TOTAL=${1:-1800}
RATE=${2:-10000}
EVERY=${SOAK_EVERY:-60}
SLACK=${SOAK_SLACK:-0.20}
OUT=${OUT:-/tmp/rask-soak-$(date +%Y%m%d-%H%M%S)}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
mkdir -p "$OUT"

cargo build --release --bin rask --manifest-path "$ROOT/Cargo.toml" >&2
RASK=$CARGO_TARGET_DIR/release/rask

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

"$RASK" scheduler --host 127.0.0.1 --port 0 >"$OUT/scheduler.log" 2>&1 &
PIDS+=($!)
SCHED_PID=$!
for _ in $(seq 100); do
  ADDR=$(grep -o 'tcp://[0-9.:]*' "$OUT/scheduler.log" | head -1 || true)
  [ -n "$ADDR" ] && break
  sleep 0.1
done
[ -n "$ADDR" ] || { echo "scheduler did not start" >&2; exit 1; }
for i in 0 1; do
  "$RASK" worker "$ADDR" --name "soak-w$i" --host 127.0.0.1 --nthreads 1 >"$OUT/worker$i.log" 2>&1 &
  PIDS+=($!)
done
sleep 2

"$RASK" bench stream --scheduler "$ADDR" --rate "$RATE" --soak-seconds "$SECONDS_TOTAL" \
  --report-every "$EVERY" >"$OUT/bench.jsonl" 2>"$OUT/bench.log" &
BENCH_PID=$!
PIDS+=($BENCH_PID)

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# Every process of the run: scheduler, nannies, their worker children, the bench client.
procs() {
  echo "scheduler $SCHED_PID"
  local n=0
  for p in "${PIDS[@]:1:2}"; do
    echo "nanny$n $p"
    for c in $(pgrep -P "$p" || true); do echo "worker$n $c"; done
    n=$((n + 1))
  done
  echo "client $BENCH_PID"
}

printf 't_s\tprocess\tpid\trss_kb\n' >"$OUT/samples.tsv"
START=$(date +%s)
while kill -0 "$BENCH_PID" 2>/dev/null; do
  sleep "$EVERY"
  T=$(($(date +%s) - START))
  while read -r name pid; do
    RSS=$(rss_kb "$pid")
    # A process that has just exited (the client at the end) gives no sample.
    [ "${RSS:-0}" -gt 0 ] && printf '%s\t%s\t%s\t%s\n' "$T" "$name" "$pid" "$RSS" >>"$OUT/samples.tsv"
  done < <(procs)
  TASKS=$( (grep '"soak_s"' "$OUT/bench.jsonl" || true) | tail -1 | sed -n 's/.*"tasks":\([0-9]*\).*/\1/p')
  # The bench reports every SOAK_EVERY seconds too; no report yet: no sample.
  [ -n "$TASKS" ] && printf '%s\ttasks\t-\t%s\n' "$T" "$TASKS" >>"$OUT/samples.tsv"
  echo "t=${T}s $(awk -v t="$T" '$1==t {printf "%s=%s ", $2, $4}' "$OUT/samples.tsv")" >&2
done
wait "$BENCH_PID" || { echo "the bench failed (see $OUT/bench.log)" >&2; exit 1; }
tail -1 "$OUT/bench.jsonl" | grep -q '"ok":true' || { echo "results did not verify" >&2; exit 1; }

# No growth trend: last third vs second third of each series.
python3 - "$OUT/samples.tsv" "$SLACK" <<'PY'
import sys, collections
path, slack = sys.argv[1], float(sys.argv[2])
series = collections.defaultdict(list)
for line in open(path).read().splitlines()[1:]:
    t, name, _pid, v = line.split("\t")
    series[name].append(float(v))
bad = []
for name, xs in sorted(series.items()):
    if len(xs) < 3:
        bad.append(f"{name}: only {len(xs)} samples")
        continue
    k = len(xs) // 3
    mid, last = xs[k:2 * k] or xs[:1], xs[2 * k:]
    a, b = sum(mid) / len(mid), sum(last) / len(last)
    if name == "tasks":
        ok = max(xs) < 64
        print(f"{name:10s} max {max(xs):.0f}  {'ok' if ok else 'GROWS'}")
    else:
        ok = b <= a * (1 + slack) + 2048
        print(f"{name:10s} {a/1024:8.1f} MB -> {b/1024:8.1f} MB  {'ok' if ok else 'GROWS'}")
    if not ok:
        bad.append(name)
if bad:
    sys.exit("growth: " + ", ".join(bad))
print("no growth trend")
PY
echo "samples in $OUT/samples.tsv" >&2
