#!/usr/bin/env bash
# Installs what building and testing hookgate needs on a fresh machine: a C
# toolchain for librdkafka, tansu (the Kafka-protocol broker the tests start),
# Prometheus (the dashboard test queries a real one), and check-jsonschema (the
# docker-compose file is validated against the Compose schema).
# Idempotent: a second run checks versions and installs nothing.
set -euo pipefail

TANSU_VERSION=0.6.0
CHECK_JSONSCHEMA_VERSION=0.39.0
TOOLS="${HOOKGATE_TOOLS:-$HOME/.cache/hookgate/tools}"

missing=()
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v perl >/dev/null 2>&1 || missing+=(perl)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "setup: $(prometheus --version 2>&1 | head -n 1)"

if [ "$("$TOOLS/bin/check-jsonschema" --version 2>/dev/null)" = "check-jsonschema, version $CHECK_JSONSCHEMA_VERSION" ]; then
  echo "setup: check-jsonschema $CHECK_JSONSCHEMA_VERSION is installed in $TOOLS"
else
  echo "setup: installing check-jsonschema $CHECK_JSONSCHEMA_VERSION from PyPI into $TOOLS"
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "check-jsonschema==$CHECK_JSONSCHEMA_VERSION"
fi

tansu_bin="$(command -v tansu || echo "${CARGO_HOME:-$HOME/.cargo}/bin/tansu")"
if [ -x "$tansu_bin" ] && [ "$("$tansu_bin" --version 2>/dev/null)" = "tansu $TANSU_VERSION" ]; then
  echo "setup: tansu $TANSU_VERSION is installed at $tansu_bin"
else
  echo "setup: building tansu $TANSU_VERSION from crates.io (about 10 minutes on 2 cores, once)"
  # dynostore brings the in-memory storage; without it tansu drops what it is sent.
  cargo install tansu --locked --version "$TANSU_VERSION" --features dynostore
fi
