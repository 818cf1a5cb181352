#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: setup, formatting, lints, a
# short run of every fuzz target, unit and end-to-end tests (these share one
# Apache Kafka broker, started on first use and stopped here at the end, and
# start tansu brokers of their own), then the deployment files (alert-rule
# tests, Kubernetes schemas).
set -euo pipefail
cd "$(dirname "$0")/.."
# Where the tests' shared broker runs (CARGO_TARGET_TMPDIR/kafka).
trap 'scripts/kafka.sh stop "${CARGO_TARGET_DIR:-target}/tmp/kafka" >/dev/null 2>&1 || true' EXIT

scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
scripts/fuzz.sh 10
cargo test --workspace --locked
# After the tests, so that the Kubernetes config is checked by the hookgate
# binary they built.
HOOKGATE_BIN=target/debug/hookgate scripts/check-deploy.sh
