#!/usr/bin/env bash
# A quick throughput figure: tansu (in memory) + hookgate (release) + wrk, all on
# this machine, every request a new signed GitHub event through the full path
# (verify, dedup, publish, wait for acks=all). Bounded in time; stops everything.
# Usage: loadtest/quick.sh [seconds=15] [connections=64] [body_bytes=1024]
# For open-loop latencies free of coordinated omission and a ledger of what
# reached Kafka, use loadtest/run.sh (hookgate-load) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
connections=${2:-64}
body_bytes=${3:-1024}

scripts/setup.sh >/dev/null
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
cargo build --release --quiet

work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kafka_port=$(port); http_port=$(port); metrics_port=$(port)
tansu=$(command -v tansu || echo "$HOME/.cargo/bin/tansu")
"$tansu" broker --listener-url "tcp://127.0.0.1:$kafka_port" --advertised-listener-url "tcp://127.0.0.1:$kafka_port" \
  --storage-engine memory://tansu/ >"$work/tansu.log" 2>&1 &
pids+=($!)
sleep 1
"$tansu" topic create --broker "tcp://127.0.0.1:$kafka_port" --partitions 3 webhooks.load >/dev/null

secret="load-test-secret"
echo "$secret" > "$work/github.secret"
cat > "$work/hookgate.toml" <<TOML
[server]
listen = "127.0.0.1:$http_port"
[kafka]
brokers = "127.0.0.1:$kafka_port"
[metrics]
listen = "127.0.0.1:$metrics_port"
[log]
level = "warn"
[[sources]]
name = "github"
path = "/webhooks/github"
verifier = "github"
secrets = ["file:github.secret"]
topic = "webhooks.load"
TOML
target/release/hookgate serve --config "$work/hookgate.toml" >"$work/hookgate.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null && break; sleep 0.2; done

body=$(printf '{"zen":"load","filler":"%s"}' "$(head -c $((body_bytes > 40 ? body_bytes - 40 : 0)) /dev/zero | tr '\0' x)")
export SIGNATURE=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" | sed 's/^.* //')
export BODY_BYTES=$body_bytes RUN_ID="run$$"
echo "hookgate full path, ${body_bytes} B bodies, ${connections} connections, ${seconds}s (wrk, 1 thread)"
wrk -t1 -c"$connections" -d"${seconds}s" -s loadtest/github.lua "http://127.0.0.1:$http_port/webhooks/github"
echo "--- hookgate's own count:"
curl -s "http://127.0.0.1:$metrics_port/metrics" | grep -E '^hookgate_(requests_total|events_accepted_total|rejections_total|dedup_writes_total|dedup_entries)' | grep -v ' 0$'
