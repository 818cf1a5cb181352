#!/usr/bin/env bash
# hookgate beside what a team would otherwise deploy, measured by one generator
# (hookgate-load) against one broker (BROKER=tansu, in memory, the default; or
# BROKER=kafka, Apache Kafka from scripts/kafka.sh), in turn and interleaved
# (A B C D E, A B C D E, …):
#   ceiling   a minimal hyper server that reads the body and answers 200
#   null      hookgate with kafka.brokers = "null" (everything but Kafka)
#   hookgate  hookgate, full path in one process: the edge (verify, answer after
#             the intake topic's acks=all ack) and the dedup stage (publish once)
#   naive     the minimal Rust gateway a team would write instead: hyper, hmac,
#             an in-memory id set, rdkafka awaiting each ack (loadtest/src/bin/naive.rs)
#   node      fastify + kafkajs, same contract (loadtest/peers/node-gateway.mjs)
#   python    FastAPI + uvicorn + confluent-kafka, same contract (loadtest/peers/python_gateway.py)
# Each server is pinned to CPU 1 (taskset), the generator and the broker to
# CPU 0, so every server gets the same one core. Against tansu every run starts
# on an empty broker (its memory storage slows as it grows); Apache Kafka runs
# once for the whole script (its log does not slow it), every run on topics of
# its own. Max rate is closed loop, at each of
# the connection counts given; a target's max is its best count's median over
# the rounds (a server that waits on Kafka acks needs more requests in flight
# to be busy, one that is CPU bound gets slower with more). p99 is open loop at
# half of hookgate's max rate, with the largest connection count. Every
# hookgate run publishes to a topic of its own and its ledger is checked.
# Prints one table.
#
# Two more targets can be named in TARGETS (default: all of the above):
#   edge      hookgate with dedup.role = "edge": the edge alone (its ledger is
#             read from the intake topic)
#   before    the hookgate binary at BEFORE_BIN (a version without the dedup
#             stage), for a before/after table in one run
#
# Usage: [BROKER=tansu|kafka] [TARGETS="…"] [BEFORE_BIN=…] loadtest/peers.sh [seconds=8] [rounds=2] ["connection counts"="64 256"]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-8}
rounds=${2:-2}
connection_counts=${3:-64 256}
# shellcheck disable=SC2086 # a list of numbers
open_loop_connections=$(printf '%s\n' $connection_counts | sort -n | tail -1)
TOOLS="${HOOKGATE_TOOLS:-$HOME/.cache/hookgate/tools}"
BROKER=${BROKER:-tansu}
case $BROKER in tansu|kafka) ;; *) echo "BROKER is tansu or kafka, not $BROKER" >&2; exit 2 ;; esac

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
cleanup() {
  for pid in "${pids[@]}" "$(cat "$work/broker.pid" 2>/dev/null)"; do kill "$pid" 2>/dev/null || true; done
  [ "$BROKER" = kafka ] && scripts/kafka.sh stop "$work/kafka" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

kafka_port=$(port)
tansu=$(command -v tansu || echo "$HOME/.cargo/bin/tansu")
# Starts an empty broker (tansu keeps every record in memory, and a run should
# not pay for the ones before it), pinned to CPU 0, with the baselines' topic.
# Runs in measure's subshell, so the broker's pid lives in a file.
fresh_broker() {
  if [ "$BROKER" = kafka ]; then
    # Once: topics the baselines publish to are created with 3 partitions
    # on first use, as hookgate creates its own.
    if [ ! -f "$work/kafka/kafka.pid" ]; then
      taskset -c 0 scripts/kafka.sh start "$work/kafka" "$kafka_port" num.partitions=3 >&2
    fi
    cp "$work/kafka/kafka.pid" "$work/broker.pid"
    return
  fi
  local old
  old=$(cat "$work/broker.pid" 2>/dev/null || true)
  if [ -n "$old" ]; then
    kill "$old" 2>/dev/null || true
    while kill -0 "$old" 2>/dev/null; do sleep 0.1; done
  fi
  taskset -c 0 "$tansu" broker --listener-url "tcp://127.0.0.1:$kafka_port" --advertised-listener-url "tcp://127.0.0.1:$kafka_port" \
    --storage-engine memory://tansu/ >>"$work/tansu.log" 2>&1 &
  echo $! > "$work/broker.pid"
  for _ in $(seq 50); do
    "$tansu" topic create --broker "tcp://127.0.0.1:$kafka_port" --partitions 3 webhooks.load >/dev/null 2>&1 && return
    sleep 0.2
  done
  echo "tansu did not start; see $work/tansu.log" >&2
  exit 1
}
secret="load-test-secret"
printf '%s' "$secret" > "$work/load.secret"

# Starts target $1 on port $2 pinned to CPU 1, hookgate publishing to topic $3;
# prints its pid.
start() {
  local target=$1 port=$2 topic=${3:-webhooks.load}
  case $target in
    ceiling) taskset -c 1 target/release/hookgate-ceiling "127.0.0.1:$port" >"$work/$target.log" 2>&1 & ;;
    null|hookgate|edge|before)
      # Each run's dedup stage starts afresh: topics and group of its own.
      local brokers="127.0.0.1:$kafka_port" binary=target/release/hookgate
      local dedup="intake_topic = \"$topic.intake\"
group = \"$topic.group\""
      [ "$target" = null ] && brokers=null
      [ "$target" = edge ] && dedup="$dedup
role = \"edge\""
      [ "$target" = before ] && binary=$BEFORE_BIN dedup=
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
[dedup]
topic = "$topic.dedup"
$dedup
[[sources]]
name = "load"
path = "/webhooks/load"
verifier = "github"
secrets = ["file:load.secret"]
topic = "$topic"
TOML
      taskset -c 1 "$binary" serve --config "$work/$target.toml" >"$work/$target.log" 2>&1 & ;;
    naive)
      PORT=$port BROKERS="127.0.0.1:$kafka_port" TOPIC=webhooks.load SECRET=$secret \
        taskset -c 1 target/release/hookgate-naive >"$work/$target.log" 2>&1 & ;;
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

# Whether target $1 is hookgate publishing to Kafka: its ledger is checked.
is_hookgate() { case $1 in hookgate|edge|before) return 0 ;; *) return 1 ;; esac; }

# Runs the generator against target $1 with $2 connections: closed loop, or
# open loop at rate $3. Prints the report's file.
measure() {
  local target=$1 connections=$2 rate=${3:-} port pid out topic=webhooks.load ledger_args=()
  port=$(port)
  case $target in hookgate|edge|before|naive|node|python)
    fresh_broker
    ledger_args=(--broker-pid "$(cat "$work/broker.pid")") ;;
  esac
  if is_hookgate "$target"; then
    topic="webhooks.load.run$RANDOM$RANDOM"
    # (Apache Kafka: hookgate creates it at start, with topic_partitions.)
    [ "$BROKER" = tansu ] && "$tansu" topic create --broker "tcp://127.0.0.1:$kafka_port" --partitions 3 "$topic" >/dev/null
    local ledger_topic=$topic
    [ "$target" = edge ] && ledger_topic=$topic.intake
    ledger_args+=(--brokers "127.0.0.1:$kafka_port" --topic "$ledger_topic")
  fi
  pid=$(start "$target" "$port" "$topic")
  pids+=("$pid")
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && \
      [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/webhooks/load")" != 000 ] && break
    sleep 0.2
  done
  is_hookgate "$target" && for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
  local rate_args=()
  [ -n "$rate" ] && rate_args=(--rate "$rate")
  out="$work/$target-$connections-${rate:-max}-$RANDOM.json"
  taskset -c 0 target/release/hookgate-load --url "http://127.0.0.1:$port/webhooks/load" --provider github \
    --secret "file:$work/load.secret" "${rate_args[@]}" --connections "$connections" --duration "${seconds}s" \
    --duplicates 0.1 --pid "$pid" "${ledger_args[@]}" --json "$out" >/dev/null || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "$out"
}

# shellcheck disable=SC2206 # a list of names
targets=(${TARGETS:-ceiling null hookgate naive node python})
declare -A max_files
for round in $(seq "$rounds"); do
  for connections in $connection_counts; do
    for target in "${targets[@]}"; do
      echo "round $round: $target, closed loop, $connections connections, ${seconds}s" >&2
      max_files[$target]+="$connections:$(measure "$target" "$connections") "
    done
  done
done
rows=$work/rows.py
cat > "$rows" <<'PY'
import json, statistics, sys
from collections import defaultdict
def load(f): return json.load(open(f))
def best(entries):
    """The best connection count's median rate over the rounds: (rate, connections, runs)."""
    by_count = defaultdict(list)
    for entry in entries.split():
        connections, path = entry.split(":", 1)
        by_count[int(connections)].append(load(path))
    rates = {c: statistics.median(r["ok"] / r["seconds"] for r in runs) for c, runs in by_count.items()}
    connections = max(rates, key=rates.get)
    return rates[connections], connections, by_count[connections]
PY
hookgate_max=$(python3 -c "exec(open('$rows').read()); print(int(best(sys.argv[1])[0]))" "${max_files[hookgate]}")
half=$((hookgate_max / 2))
declare -A p99_files
for target in "${targets[@]}"; do
  echo "$target, open loop at $half/s (half of hookgate's max), $open_loop_connections connections" >&2
  p99_files[$target]=$(measure "$target" "$open_loop_connections" "$half")
done

python3 - "$half" <<PY
exec(open("$rows").read())
targets = "${targets[*]}".split()
max_files = {$(for t in "${targets[@]}"; do printf '"%s": "%s",' "$t" "${max_files[$t]}"; done)}
p99_files = {$(for t in "${targets[@]}"; do printf '"%s": "%s",' "$t" "${p99_files[$t]}"; done)}
rows = {}
for t in targets:
    rate, connections, runs = best(max_files[t])
    cpu = statistics.median((r["gateway_cpu_seconds"] or 0) * 1e6 / max(r["ok"], 1) for r in runs)
    broker = statistics.median((r.get("broker_cpu_seconds") or 0) * 1e6 / max(r["ok"], 1) for r in runs)
    p = load(p99_files[t])
    rows[t] = (rate, connections, p["latency_ms"]["p99"], p["ok"] / max(p["requests"], 1), cpu, broker)
# hookgate's rate beside each target's, at every connection count measured.
def at(entries):
    by_count = defaultdict(list)
    for entry in entries.split():
        connections, path = entry.split(":", 1)
        r = load(path)
        by_count[int(connections)].append(r["ok"] / r["seconds"])
    return {c: statistics.median(v) for c, v in by_count.items()}
hg_at = at(max_files["hookgate"])
hg = rows["hookgate"][0]
counts = sorted(hg_at)
print(f"{'target':<10} {'max 2xx/s':>10} {'conns':>6} {'p99 ms @ ' + sys.argv[1] + '/s':>16} {'2xx share':>10} {'CPU µs/req':>11} {'broker µs/req':>14} {'hookgate / target':>18} " + " ".join(f"{'@' + str(c):>8}" for c in counts))
for t in targets:
    rate, connections, p99, share, cpu, broker = rows[t]
    t_at = at(max_files[t])
    ratios = " ".join(f"{hg_at[c] / t_at[c] if t_at.get(c) else float('inf'):>8.2f}" for c in counts)
    print(f"{t:<10} {rate:>10.0f} {connections:>6} {p99:>16.2f} {share:>10.3f} {cpu:>11.1f} {broker:>14.1f} {hg / rate if rate else float('inf'):>18.2f} {ratios}")
checked = [t for t in targets if t in ("hookgate", "edge", "before")]
ledgers = [load(e.split(":", 1)[1]).get("ledger") for t in checked for e in max_files[t].split()]
ledgers += [load(p99_files[t]).get("ledger") for t in checked]
if any(l is None for l in ledgers):
    print("ledger: a hookgate run has no ledger (the ledger could not read its topic)")
    sys.exit(1)
total = {k: sum(l[k] for l in ledgers) for k in ("records", "missing", "duplicated", "extra")}
print(f"ledger over all {len(ledgers)} runs of {', '.join(checked)}: {total['records']} records, missing {total['missing']}, "
      f"duplicated {total['duplicated']}, extra {total['extra']}")
sys.exit(1 if total["missing"] or total["duplicated"] else 0)
PY
