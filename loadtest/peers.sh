#!/usr/bin/env bash
# hookgate beside what a team would otherwise deploy, measured by one generator
# (hookgate-load) against one broker (tansu, in memory), in turn and
# interleaved (A B C D E, A B C D E, …):
#   ceiling   a minimal hyper server that reads the body and answers 200
#   null      hookgate with kafka.brokers = "null" (everything but Kafka)
#   hookgate  hookgate, full path (verify, dedup, acks=all, answer after ack)
#   node      fastify + kafkajs, same contract (loadtest/peers/node-gateway.mjs)
#   python    FastAPI + uvicorn + confluent-kafka, same contract (loadtest/peers/python_gateway.py)
# Each server is pinned to CPU 1 (taskset), the generator and tansu to CPU 0,
# so every server gets the same one core. Max rate is closed loop; p99 is open
# loop at half of hookgate's max rate. Prints one table.
#
# Usage: loadtest/peers.sh [seconds=8] [rounds=2] [connections=64]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-8}
rounds=${2:-2}
connections=${3:-64}
TOOLS="${HOOKGATE_TOOLS:-$HOME/.cache/hookgate/tools}"

scripts/setup.sh >/dev/null
cargo build --release --quiet --workspace
if [ "$(cat "$TOOLS/.peer-node" 2>/dev/null)" != "fastify@5.12.8 kafkajs@2.2.4" ]; then
  npm install --silent --no-audit --no-fund --prefix "$TOOLS/peers-node" fastify@5.12.8 kafkajs@2.2.4
  echo "fastify@5.12.8 kafkajs@2.2.4" > "$TOOLS/.peer-node"
fi
if [ "$(cat "$TOOLS/.peer-python" 2>/dev/null)" != "fastapi==0.163.2 uvicorn==0.54.0 confluent-kafka==2.16.1" ]; then
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check fastapi==0.163.2 uvicorn==0.54.0 confluent-kafka==2.16.1
  echo "fastapi==0.163.2 uvicorn==0.54.0 confluent-kafka==2.16.1" > "$TOOLS/.peer-python"
fi

work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

kafka_port=$(port)
tansu=$(command -v tansu || echo "$HOME/.cargo/bin/tansu")
taskset -c 0 "$tansu" broker --listener-url "tcp://127.0.0.1:$kafka_port" --advertised-listener-url "tcp://127.0.0.1:$kafka_port" \
  --storage-engine memory://tansu/ >"$work/tansu.log" 2>&1 &
pids+=($!)
sleep 1
"$tansu" topic create --broker "tcp://127.0.0.1:$kafka_port" --partitions 3 webhooks.load >/dev/null
secret="load-test-secret"
printf '%s' "$secret" > "$work/load.secret"

# Starts target $1 on port $2 pinned to CPU 1; prints its pid.
start() {
  local target=$1 port=$2
  case $target in
    ceiling) taskset -c 1 target/release/hookgate-ceiling "127.0.0.1:$port" >"$work/$target.log" 2>&1 & ;;
    null|hookgate)
      local brokers="127.0.0.1:$kafka_port"
      [ "$target" = null ] && brokers=null
      cat > "$work/$target.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[kafka]
brokers = "$brokers"
topic_partitions = 3
[metrics]
enabled = false
[log]
level = "warn"
[[sources]]
name = "load"
path = "/webhooks/load"
verifier = "github"
secrets = ["file:load.secret"]
topic = "webhooks.load"
TOML
      taskset -c 1 target/release/hookgate serve --config "$work/$target.toml" >"$work/$target.log" 2>&1 & ;;
    node)
      PORT=$port BROKERS="127.0.0.1:$kafka_port" TOPIC=webhooks.load SECRET=$secret \
        HOOKGATE_NODE_MODULES="$TOOLS/peers-node/node_modules" \
        taskset -c 1 node loadtest/peers/node-gateway.mjs >"$work/$target.log" 2>&1 & ;;
    python)
      BROKERS="127.0.0.1:$kafka_port" TOPIC=webhooks.load SECRET=$secret \
        taskset -c 1 "$TOOLS/bin/python" -m uvicorn --app-dir loadtest/peers python_gateway:app \
        --host 127.0.0.1 --port "$port" --log-level warning >"$work/$target.log" 2>&1 & ;;
  esac
  echo $!
}

# Runs the generator against target $1: closed loop, or open loop at rate $2.
measure() {
  local target=$1 rate=${2:-} port pid out
  port=$(port)
  pid=$(start "$target" "$port")
  pids+=("$pid")
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && \
      [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/webhooks/load")" != 000 ] && break
    sleep 0.2
  done
  [ "$target" = hookgate ] && for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
  local rate_args=()
  [ -n "$rate" ] && rate_args=(--rate "$rate")
  out="$work/$target-${rate:-max}-$RANDOM.json"
  taskset -c 0 target/release/hookgate-load --url "http://127.0.0.1:$port/webhooks/load" --provider github \
    --secret "file:$work/load.secret" "${rate_args[@]}" --connections "$connections" --duration "${seconds}s" \
    --duplicates 0.1 --pid "$pid" --json "$out" >/dev/null || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "$out"
}

targets=(ceiling null hookgate node python)
declare -A max_files
for round in $(seq "$rounds"); do
  for target in "${targets[@]}"; do
    echo "round $round: $target, closed loop ${seconds}s" >&2
    max_files[$target]+="$(measure "$target") "
  done
done
hookgate_max=$(python3 - "${max_files[hookgate]}" <<'PY'
import json, statistics, sys
rates = [json.load(open(f))["ok"] / json.load(open(f))["seconds"] for f in sys.argv[1].split()]
print(int(statistics.median(rates)))
PY
)
half=$((hookgate_max / 2))
declare -A p99_files
for target in "${targets[@]}"; do
  echo "$target, open loop at $half/s (half of hookgate's max)" >&2
  p99_files[$target]=$(measure "$target" "$half")
done

python3 - "$hookgate_max" "$half" <<PY
import json, statistics, sys
targets = "${targets[*]}".split()
max_files = {$(for t in "${targets[@]}"; do printf '"%s": "%s",' "$t" "${max_files[$t]}"; done)}
p99_files = {$(for t in "${targets[@]}"; do printf '"%s": "%s",' "$t" "${p99_files[$t]}"; done)}
def load(f): return json.load(open(f))
rows = {}
for t in targets:
    runs = [load(f) for f in max_files[t].split()]
    rate = statistics.median(r["ok"] / r["seconds"] for r in runs)
    cpu = statistics.median((r["gateway_cpu_seconds"] or 0) * 1e6 / max(r["ok"], 1) for r in runs)
    p = load(p99_files[t])
    rows[t] = (rate, p["latency_ms"]["p99"], p["ok"] / max(p["requests"], 1), cpu)
hg = rows["hookgate"][0]
print(f"{'target':<10} {'max 2xx/s':>10} {'p99 ms @ ' + sys.argv[2] + '/s':>16} {'2xx share':>10} {'CPU µs/req':>11} {'hookgate / target':>18}")
for t in targets:
    rate, p99, share, cpu = rows[t]
    print(f"{t:<10} {rate:>10.0f} {p99:>16.2f} {share:>10.3f} {cpu:>11.1f} {hg / rate if rate else float('inf'):>18.2f}")
PY
