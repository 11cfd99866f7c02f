#!/usr/bin/env bash
# Runs `rask bench` over a real multi-host topology on this one machine: the scheduler, each
# worker and the client live in their own Linux network namespace, joined by veth pairs to a
# bridge in a hub namespace (addresses 10.77.0.0/24, which exist only inside these namespaces).
# Needs root and iproute2. Cleans up its namespaces on exit and on failure.
#
#   scripts/multihost.sh [--workers N] [--threads T] [--rask PATH] [BENCH [bench flags...]]...
#   scripts/multihost.sh tiny tree "chain --tasks 1000" "transfer --mb 100" zero
#
# Each positional argument is one `rask bench` invocation (quote it to pass flags). The
# default runs every task benchmark once. Output: one JSON line per bench.
set -euo pipefail

WORKERS=2
THREADS=1
RASK=""
BENCHES=()
while [ $# -gt 0 ]; do
    case "$1" in
        --workers) WORKERS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --rask) RASK=$2; shift 2 ;;
        -h|--help) sed -n 2,12p "$0"; exit 0 ;;
        *) BENCHES+=("$1"); shift ;;
    esac
done
[ ${#BENCHES[@]} -gt 0 ] || BENCHES=(tiny "tree --tasks 5000" "chain --tasks 1000" "latency --count 2000" "transfer --mb 100" "fanout --tasks 2000" zero)
if [ -z "$RASK" ]; then
    cd "$(dirname "$0")/.."
    cargo build --release --quiet --bin rask
    RASK="${CARGO_TARGET_DIR:-target}/release/rask"
fi
RASK=$(readlink -f "$RASK")
[ "$(id -u)" = 0 ] || { echo "multihost.sh needs root (network namespaces)" >&2; exit 1; }

TAG="rask$$"
HUB="${TAG}-hub"
NSES=()
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for ns in "${NSES[@]:-}" "$HUB"; do [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

ip netns add "$HUB"
ip -n "$HUB" link add br0 type bridge
ip -n "$HUB" link set br0 up
ip -n "$HUB" link set lo up

# host NAME ADDR: a namespace with one interface on the hub's bridge.
host() {
    local ns="${TAG}-$1" addr=$2 i=${#NSES[@]}
    ip netns add "$ns"
    NSES+=("$ns")
    ip link add "v${TAG}h$i" type veth peer name "v${TAG}p$i"
    ip link set "v${TAG}h$i" netns "$HUB"
    ip link set "v${TAG}p$i" netns "$ns"
    ip -n "$HUB" link set "v${TAG}h$i" master br0 up
    ip -n "$ns" link set "v${TAG}p$i" name eth0
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
}

host sched 10.77.0.1
for i in $(seq 1 "$WORKERS"); do host "w$i" "10.77.0.$((10 + i))"; done
host client 10.77.0.100
SCHED="tcp://10.77.0.1:8786"

start_scheduler() {
    ip netns exec "${TAG}-sched" "$RASK" scheduler --host 10.77.0.1 --port 8786 "$@" \
        > "/tmp/${TAG}-sched.log" 2>&1 &
    SCHED_PID=$!
    PIDS+=("$SCHED_PID")
    for _ in $(seq 100); do grep -q "listening at" "/tmp/${TAG}-sched.log" && return 0; sleep 0.1; done
    echo "the scheduler did not start:" >&2; cat "/tmp/${TAG}-sched.log" >&2; exit 1
}
wait_workers() {
    for _ in $(seq 200); do
        n=$(ip netns exec "${TAG}-client" "$RASK" info "$SCHED" 2>/dev/null | grep -c "^  worker" || true)
        [ "$n" -ge "$WORKERS" ] && return 0
        sleep 0.1
    done
    echo "workers did not register" >&2; exit 1
}

start_scheduler
for i in $(seq 1 "$WORKERS"); do
    addr="10.77.0.$((10 + i))"
    ip netns exec "${TAG}-w$i" "$RASK" worker "$SCHED" --host "$addr" --contact-host "$addr" \
        --nthreads "$THREADS" --name "w$i" > "/tmp/${TAG}-w$i.log" 2>&1 &
    PIDS+=("$!")
done
wait_workers

status=0
for b in "${BENCHES[@]}"; do
    read -r -a words <<< "$b"
    if [ "${words[0]}" = zero ]; then
        # Zero-worker mode is a scheduler setting: restart it; the workers reconnect by themselves.
        kill "$SCHED_PID"; wait "$SCHED_PID" 2>/dev/null || true
        start_scheduler --zero-worker
        wait_workers
    fi
    ip netns exec "${TAG}-client" "$RASK" bench "${words[@]}" --scheduler "$SCHED" || status=1
done
exit $status
