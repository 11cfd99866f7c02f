#!/usr/bin/env bash
# Long fuzz run of every socket-facing decoder (protocol batches of each direction, the
# handshake, the scheduler journal): random bytes and mutated, cut and spliced valid frames.
# Usage: scripts/fuzz.sh [ITERATIONS] [SEED]   (default 1,000,000 and 7)
set -euo pipefail
cd "$(dirname "$0")/.."
export RASK_FUZZ_ITERS="${1:-1000000}" RASK_FUZZ_SEED="${2:-7}"
cargo test --release --locked -p rask-protocol random_and_mutated_bytes_never_panic -- --nocapture
cargo test --release --locked -p rask-actors corrupt_records_end_the_readable_part -- --nocapture
