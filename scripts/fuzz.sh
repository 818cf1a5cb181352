#!/usr/bin/env bash
# Fuzzes hookgate's parsers of untrusted input with cargo-fuzz (libFuzzer):
#   verify        every signature scheme's headers, query and body
#   event_id      event id and event type look-ups on arbitrary bodies
#   config        the configuration loader (parse, then validate)
#   dedup_record  the dedup topic's record reader
#   request_headers  forwarding headers behind trusted proxies, trace context
# Each target runs for the given seconds; its corpus and the build are kept
# in the tools folder, so later runs start where earlier ones stopped. A crash
# fails the run and leaves its input under fuzz/artifacts/.
#
# libFuzzer's instrumentation takes unstable compiler flags: the nightly
# toolchain where the machine has one, else the default (stable) one with
# RUSTC_BOOTSTRAP=1 (which allows them). Never skipped: without cargo-fuzz
# (scripts/setup.sh installs it) this fails.
#
# Usage: scripts/fuzz.sh [seconds=10] [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(verify event_id config dedup_record request_headers)
TOOLS="${HOOKGATE_TOOLS:-$HOME/.cache/hookgate/tools}"

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
  echo "fuzz: with the nightly toolchain"
else
  toolchain=()
  export RUSTC_BOOTSTRAP=1
  echo "fuzz: with the default toolchain and RUSTC_BOOTSTRAP=1 (no nightly here)"
fi
if ! cargo "${toolchain[@]}" fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is not installed: run scripts/setup.sh" >&2
  exit 1
fi

# No AddressSanitizer: hookgate's own code forbids unsafe, and librdkafka's C
# build does not link against it. Coverage guidance and panics still count.
for target in "${targets[@]}"; do
  corpus="$TOOLS/fuzz-corpus/$target"
  mkdir -p "$corpus"
  log=$(mktemp)
  if ! cargo "${toolchain[@]}" fuzz run --sanitizer none --target-dir "$TOOLS/fuzz-target" \
      "$target" "$corpus" -- -max_total_time="$seconds" >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz: $target found a crash; its input is under fuzz/artifacts/$target/"
    exit 1
  fi
  runs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' || echo "?")
  echo "fuzz: $target: $runs runs in ${seconds}s, no crash, corpus $(find "$corpus" -type f | wc -l) inputs"
  rm -f "$log"
done
