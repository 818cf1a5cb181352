# Shared by loadtest/run.sh and loadtest/soak.sh (sourced, not run): builds
# what they run, gives them a work folder and a list of processes that is
# cleaned up on exit, free ports, and a tansu broker.

scripts/setup.sh >/dev/null
cargo build --release --quiet --workspace

work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tansu=$(command -v tansu || echo "$HOME/.cargo/bin/tansu")

# Starts tansu (in memory) on port $1, pinned to CPUs $2 when given, and
# creates topic $3 with 3 partitions; sets $broker to its pid.
start_tansu() {
  local port=$1 cpus=${2:-} topic=$3 pin=()
  [ -n "$cpus" ] && pin=(taskset -c "$cpus")
  "${pin[@]}" "$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ >"$work/tansu.log" 2>&1 &
  broker=$!
  pids+=("$broker")
  for _ in $(seq 50); do
    "$tansu" topic create --broker "tcp://127.0.0.1:$port" --partitions 3 "$topic" >/dev/null 2>&1 && return
    sleep 0.2
  done
  echo "tansu did not start; see $work/tansu.log" >&2
  exit 1
}
