#!/usr/bin/env bash
# Runs the restart-and-replica test of the durable dedup for more rounds than
# CI does: each round accepts 60 events 12 at a time, then a restart or a new
# replica must answer every one of them `duplicate`.
#
# Usage: scripts/dedup-rounds.sh [rounds=100]
set -euo pipefail
cd "$(dirname "$0")/.."
HOOKGATE_DEDUP_ROUNDS=${1:-100} cargo test --locked --test it restarts_and_new_replicas_forget_no_id -- --nocapture
