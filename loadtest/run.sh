#!/usr/bin/env bash
# One load-test run on this machine: tansu (in memory) + hookgate (release) +
# hookgate-load, then the ledger over the topic. Bounded in time; stops
# everything it started.
#
# Usage: loadtest/run.sh [seconds=10] [rate|max=max] [connections=64] [body_bytes=1024] [duplicates=0.1] [provider=github]
#   rate: requests per second, open loop; `max`: closed loop, flat out.
# Extra arguments for hookgate-load can follow in LOAD_ARGS; WORKERS and
# LINGER_MS set hookgate's server.workers and the producer's linger.ms;
# HOOKGATE_BIN runs another hookgate binary (for A/B comparisons).
# TLS=1 serves https with a certificate made here (openssl) and sends over it.
# OTLP_ENDPOINT exports every request's spans there ([tracing] otlp_endpoint).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
rate=${2:-max}
connections=${3:-64}
body_bytes=${4:-1024}
duplicates=${5:-0.1}
provider=${6:-github}

# shellcheck source=loadtest/common.sh
. loadtest/common.sh
kafka_port=$(port); http_port=$(port); metrics_port=$(port)
start_tansu "$kafka_port" "" webhooks.load

secret="load-test-secret"
[ "$provider" = standard-webhooks ] && secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
printf '%s' "$secret" > "$work/load.secret"
scheme=http tls_table="" ca_args=() curl_ca=()
if [ "${TLS:-0}" = 1 ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -addext basicConstraints=critical,CA:FALSE -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
  scheme=https ca_args=(--ca "$work/tls.crt") curl_ca=(--cacert "$work/tls.crt")
  tls_table=$'[server.tls]\ncertificate = "tls.crt"\nkey = "tls.key"'
fi
tracing_table=""
[ -n "${OTLP_ENDPOINT:-}" ] && tracing_table="[tracing]
otlp_endpoint = \"$OTLP_ENDPOINT\""
cat > "$work/hookgate.toml" <<TOML
[server]
listen = "127.0.0.1:$http_port"
workers = ${WORKERS:-0}
$tls_table
[kafka]
brokers = "127.0.0.1:$kafka_port"
topic_partitions = 3
producer = { "linger.ms" = "${LINGER_MS:-2}" }
[metrics]
listen = "127.0.0.1:$metrics_port"
[log]
level = "warn"
$tracing_table
[[sources]]
name = "load"
path = "/webhooks/load"
verifier = "$provider"
secrets = ["file:load.secret"]
topic = "webhooks.load"
TOML
${HOOKGATE_BIN:-target/release/hookgate} serve --config "$work/hookgate.toml" >"$work/hookgate.log" 2>&1 &
gateway=$!
pids+=($gateway)
for _ in $(seq 100); do curl -sf "${curl_ca[@]}" "$scheme://localhost:$http_port/readyz" >/dev/null && break; sleep 0.2; done

rate_args=()
[ "$rate" != max ] && rate_args=(--rate "$rate")
# shellcheck disable=SC2086 # LOAD_ARGS is a list of arguments
target/release/hookgate-load --url "$scheme://localhost:$http_port/webhooks/load" "${ca_args[@]}" --provider "$provider" \
  --secret "file:$work/load.secret" "${rate_args[@]}" --connections "$connections" --duration "${seconds}s" \
  --body-bytes "$body_bytes" --duplicates "$duplicates" --pid "$gateway" --broker-pid "$broker" \
  --brokers "127.0.0.1:$kafka_port" --topic webhooks.load ${LOAD_ARGS:-}
