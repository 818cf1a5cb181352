#!/usr/bin/env bash
# A soak: one tansu and one release hookgate for the whole run, driven by
# hookgate-load open loop at a fixed rate in windows of 60 s. After each
# window it prints the window's p50/p99, the gateway's and the broker's
# resident memory and CPU per event, so a leak or a slowdown shows as a trend.
# The last window also checks the ledger (every 2xx'd event of that window in
# Kafka once). hookgate is pinned to CPU 1, tansu and the generator to CPU 0.
#
# tansu keeps every record in memory (about body size + 150 bytes each, and
# each event is written twice: to the intake topic, then by the dedup stage
# to its topic) and slows as its log grows. Size the rate and the body so
# the run fits, and read the broker's columns before blaming the gateway.
#
# The dedup window is 5 minutes, so that the index reaches its steady size
# (rate × window) within the run and the gateway's memory can be seen to level
# off; with the default 72 h it grows for three days.
#
# With broker `null` the gateway acknowledges every event and keeps it nowhere
# (`kafka.brokers = "null"`, ids in memory): the gateway alone, at rates no
# broker we can run holds for long; the broker columns and the ledger are then
# left out.
#
# Usage: loadtest/soak.sh [minutes=30] [rate=5000] [body_bytes=256] [broker=tansu|null]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-30}
rate=${2:-5000}
body_bytes=${3:-256}
broker_kind=${4:-tansu}

# shellcheck source=loadtest/common.sh
. loadtest/common.sh
kafka_port=$(port); http_port=$(port)
if [ "$broker_kind" = null ]; then
  brokers=null
  broker=""
else
  brokers="127.0.0.1:$kafka_port"
  start_tansu "$kafka_port" 0 webhooks.soak
fi
printf '%s' "soak-secret" > "$work/soak.secret"
cat > "$work/hookgate.toml" <<TOML
[server]
listen = "127.0.0.1:$http_port"
[kafka]
brokers = "$brokers"
topic_partitions = 3
[dedup]
window = "5m"
[metrics]
enabled = false
[log]
level = "warn"
[[sources]]
name = "soak"
path = "/webhooks/soak"
verifier = "github"
secrets = ["file:soak.secret"]
topic = "webhooks.soak"
TOML
taskset -c 1 target/release/hookgate serve --config "$work/hookgate.toml" >"$work/hookgate.log" 2>&1 &
gateway=$!
pids+=("$gateway")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null && break; sleep 0.2; done

rss_mib() { if [ -n "$1" ]; then awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; else echo -; fi; }
broker_pid=()
[ -n "$broker" ] && broker_pid=(--broker-pid "$broker")
printf '%-7s %9s %8s %8s %9s %10s %12s %9s %10s\n' minute "2xx/s" "p50 ms" "p99 ms" "non-2xx" "gw MiB" "gw µs/event" "broker MiB" "broker µs/event"
for minute in $(seq "$minutes"); do
  ledger=()
  [ "$minute" = "$minutes" ] && [ -n "$broker" ] && ledger=(--brokers "$brokers" --topic webhooks.soak)
  taskset -c 0 target/release/hookgate-load --url "http://127.0.0.1:$http_port/webhooks/soak" --provider github \
    --secret "file:$work/soak.secret" --rate "$rate" --connections 64 --duration 60s --body-bytes "$body_bytes" \
    --duplicates 0.05 --pid "$gateway" "${broker_pid[@]}" "${ledger[@]}" --json "$work/window.json" >"$work/window.txt" 2>&1 || true
  python3 - "$work/window.json" "$minute" "$(rss_mib "$gateway")" "$(rss_mib "$broker")" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ok = max(r["ok"], 1)
non2xx = r["requests"] - r["ok"]
print(f"{sys.argv[2]:<7} {r['ok'] / r['seconds']:>9.0f} {r['latency_ms']['p50']:>8.2f} {r['latency_ms']['p99']:>8.2f} "
      f"{non2xx:>9} {sys.argv[3]:>10} {(r['gateway_cpu_seconds'] or 0) * 1e6 / ok:>12.1f} {sys.argv[4]:>9} "
      f"{(r['broker_cpu_seconds'] or 0) * 1e6 / ok:>10.1f}")
if r.get("ledger"):
    l = r["ledger"]
    print(f"ledger of the last window: missing {l['missing']}, duplicated {l['duplicated']}")
PY
done
