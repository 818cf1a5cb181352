#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: setup, formatting, lints, a
# short run of every fuzz target, then unit and end-to-end tests (these start
# their own tansu brokers).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
scripts/fuzz.sh 10
cargo test --workspace --locked
