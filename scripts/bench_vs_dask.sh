#!/usr/bin/env bash
# Runs Dask's reference scripts (../shared/anchors/dask) and the matching `rask bench` runs
# back to back on this machine, printing one JSON line per run (prefixed by its label), so
# ratios come from the same session. Installs Dask into a venv on first use.
#
#   scripts/bench_vs_dask.sh [tiny|latency|transfer|wordcount|all]...
set -euo pipefail
cd "$(dirname "$0")/.."
ANCHORS=${ANCHORS:-../shared/anchors/dask}
VENV=${DASK_VENV:-/tmp/dask-venv}
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -r "$ANCHORS/requirements.txt"
fi
cargo build --release --quiet --bin rask
RASK="${CARGO_TARGET_DIR:-target}/release/rask"
PY="$VENV/bin/python"
run() { local label=$1; shift; printf '%s\t' "$label"; "$@" 2>/dev/null | tail -n 1; }

what=("$@")
[ ${#what[@]} -gt 0 ] || what=(all)
has() { for w in "${what[@]}"; do [ "$w" = "$1" ] || [ "$w" = all ] && return 0; done; return 1; }

if has tiny; then
    run dask-tiny "$PY" "$ANCHORS/tiny_tasks.py" --n 20000 --tree-n 5000 --chain-n 1000 --skip fchain
    for mode in "--processes 2" "--local 2"; do
        run "rask-tiny $mode" $RASK bench tiny $mode --tasks 20000 --repeat 5
        run "rask-zero $mode" $RASK bench zero $mode --tasks 20000 --repeat 5
        run "rask-tree $mode" $RASK bench tree $mode --tasks 5000 --repeat 5
        run "rask-chain $mode" $RASK bench chain $mode --tasks 1000 --repeat 5
    done
fi
if has latency; then
    run dask-latency "$PY" "$ANCHORS/latency.py" --count 2000
    for mode in "--processes 2" "--local 2"; do
        run "rask-latency $mode" $RASK bench latency $mode --count 2000 --repeat 3
    done
fi
if has transfer; then
    run dask-transfer "$PY" "$ANCHORS/transfer.py" --reps 3
    for mode in "--processes 2" "--local 2"; do
        run "rask-transfer $mode" $RASK bench transfer $mode --mb 100 --repeat 3
    done
fi
if has wordcount; then
    run dask-wordcount "$PY" "$ANCHORS/bag_wordcount.py" --mb 200 --skip-counter
    for mode in "--processes 2" "--local 2"; do
        run "rask-wordcount $mode" $RASK bench wordcount $mode --mb 200 --repeat 3
    done
fi
