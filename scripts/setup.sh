#!/usr/bin/env bash
# Installs what building and testing hookgate needs on a fresh machine: a C
# toolchain for librdkafka, and tansu (the Kafka-protocol broker the tests start).
# Idempotent: a second run checks versions and installs nothing.
set -euo pipefail

TANSU_VERSION=0.6.0

missing=()
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v perl >/dev/null 2>&1 || missing+=(perl)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

tansu_bin="$(command -v tansu || echo "${CARGO_HOME:-$HOME/.cargo}/bin/tansu")"
if [ -x "$tansu_bin" ] && [ "$("$tansu_bin" --version 2>/dev/null)" = "tansu $TANSU_VERSION" ]; then
  echo "setup: tansu $TANSU_VERSION is installed at $tansu_bin"
else
  echo "setup: building tansu $TANSU_VERSION from crates.io (about 10 minutes on 2 cores, once)"
  # dynostore brings the in-memory storage; without it tansu drops what it is sent.
  cargo install tansu --locked --version "$TANSU_VERSION" --features dynostore
fi
