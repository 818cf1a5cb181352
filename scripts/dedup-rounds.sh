#!/usr/bin/env bash
# Runs the restart-and-replica test of the dedup for more rounds than CI
# does: each round accepts 60 events 12 at a time, then a restart or a new
# replica is sent them again; at the end each must be on the topic once.
#
# Usage: scripts/dedup-rounds.sh [rounds=100]
set -euo pipefail
cd "$(dirname "$0")/.."
HOOKGATE_DEDUP_ROUNDS=${1:-100} cargo test --locked --test it restarts_and_new_replicas_publish_each_event_once -- --nocapture
