#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, integration tests (in-process clusters and
# real `rask` processes on loopback), doc tests, and the examples. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest" >&2
    cargo install cargo-nextest --locked
fi

# The moto S3 server the s3:// tests start (installed once under ~/.cache/rask/moto).
export RASK_MOTO_SERVER="${RASK_MOTO_SERVER:-$(scripts/s3-server.sh)}"

cargo build --locked --workspace --all-targets
cargo nextest run --locked --workspace --no-fail-fast
cargo test --locked --workspace --doc
cargo run --locked --quiet --example submit_gather
cargo run --locked --quiet --example custom_worker
