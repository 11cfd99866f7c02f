#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, integration tests (in-process clusters and
# real `rask` processes on loopback), doc tests, and the examples. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest" >&2
    cargo install cargo-nextest --locked
fi

cargo build --locked --workspace --all-targets
cargo nextest run --locked --workspace --no-fail-fast
cargo test --locked --workspace --doc
cargo run --locked --quiet --example submit_gather
cargo run --locked --quiet --example custom_worker
