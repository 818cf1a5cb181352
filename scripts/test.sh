#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: setup, formatting, lints, a
# short run of every fuzz target, unit and end-to-end tests (these start their
# own tansu brokers), then the deployment files (alert-rule tests, Kubernetes
# schemas).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
scripts/fuzz.sh 10
cargo test --workspace --locked
# After the tests, so that the Kubernetes config is checked by the hookgate
# binary they built.
HOOKGATE_BIN=target/debug/hookgate scripts/check-deploy.sh
