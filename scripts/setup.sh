#!/usr/bin/env bash
# Installs what building and testing hookgate needs on a fresh machine: a C
# toolchain for librdkafka with the system's OpenSSL and libcurl (TLS, SASL
# SCRAM and OAUTHBEARER/OIDC to the brokers), stunnel (the TLS test puts it in
# front of the test broker), Apache Kafka (its jars from Maven Central through
# Maven, run on a JDK 17: the broker most tests share), tansu (the
# Kafka-protocol broker the fault tests start one of each),
# Prometheus (the dashboard test queries a real one), check-jsonschema (the
# docker-compose file is validated against the Compose schema), and the
# providers' own SDKs from PyPI and npm (the interop test signs and verifies
# with them).
# Idempotent: a second run checks versions and installs nothing.
set -euo pipefail

TANSU_VERSION=0.6.0
CHECK_JSONSCHEMA_VERSION=0.39.0
TOOLS="${HOOKGATE_TOOLS:-$HOME/.cache/hookgate/tools}"
PYTHON_SDKS="stripe==16.1.0 standardwebhooks==1.1.0 svix==2.9.1 slack-sdk==3.47.0 twilio==9.13.0"
PYTHON_SDKS="$PYTHON_SDKS Adyen==16.0.0 gocardless-pro==3.22.0 polar-sdk==1.0.2 telnyx==4.189.0 pynacl==1.5.0"
# Consumer-group members the Kafka tests start, kill and freeze (librdkafka
# 2.12.1 in the wheel: the version hookgate links).
PYTHON_SDKS="$PYTHON_SDKS confluent-kafka==2.12.1"
# What a consumer team reads CloudEvents records with (the Kafka binding).
PYTHON_SDKS="$PYTHON_SDKS cloudevents==2.2.0"
NODE_SDKS="@octokit/webhooks-methods@6.0.0"

missing=()
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v perl >/dev/null 2>&1 || missing+=(perl)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v stunnel4 >/dev/null 2>&1 || missing+=(stunnel4)
# Apache Kafka 4 runs on Java 17 or newer; Maven fetches its jars.
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
[ "${java_major:-0}" -ge 17 ] 2>/dev/null || missing+=(openjdk-17-jre-headless)
# The Java consumer example is compiled and run by the tests.
command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
for dev in libssl-dev libcurl4-openssl-dev; do
  dpkg-query -W -f='${Status}' "$dev" 2>/dev/null | grep -q "install ok installed" || missing+=("$dev")
done
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

if [ "$(cat "$TOOLS/.python-sdks" 2>/dev/null)" = "$PYTHON_SDKS" ]; then
  echo "setup: the providers' Python SDKs are installed in $TOOLS"
else
  echo "setup: installing $PYTHON_SDKS from PyPI into $TOOLS"
  # shellcheck disable=SC2086 # one argument per package
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check $PYTHON_SDKS
  echo "$PYTHON_SDKS" > "$TOOLS/.python-sdks"
fi

command -v npm >/dev/null 2>&1 || {
  echo "setup: installing nodejs and npm from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
}
if [ "$(cat "$TOOLS/.node-sdks" 2>/dev/null)" = "$NODE_SDKS" ]; then
  echo "setup: the providers' npm SDKs are installed in $TOOLS/node"
else
  echo "setup: installing $NODE_SDKS from npm into $TOOLS/node"
  mkdir -p "$TOOLS/node"
  # shellcheck disable=SC2086 # one argument per package
  npm install --silent --no-audit --no-fund --prefix "$TOOLS/node" $NODE_SDKS
  echo "$NODE_SDKS" > "$TOOLS/.node-sdks"
fi

# Apache Kafka's jars, once, into the tools folder (scripts/kafka.sh).
echo "setup: Apache Kafka's jars are in $(scripts/kafka.sh install)"

tansu_bin="$(command -v tansu || echo "${CARGO_HOME:-$HOME/.cargo}/bin/tansu")"
if [ -x "$tansu_bin" ] && [ "$("$tansu_bin" --version 2>/dev/null)" = "tansu $TANSU_VERSION" ]; then
  echo "setup: tansu $TANSU_VERSION is installed at $tansu_bin"
else
  echo "setup: building tansu $TANSU_VERSION from crates.io (about 10 minutes on 2 cores, once)"
  # dynostore brings the in-memory storage; without it tansu drops what it is sent.
  cargo install tansu --locked --version "$TANSU_VERSION" --features dynostore
fi

# The fuzz targets (scripts/fuzz.sh) build with the nightly toolchain where
# the machine has one, else with the stable one; cargo-fuzz is built once,
# like tansu.
CARGO_FUZZ_VERSION=0.13.1
if [ "$(cargo fuzz --version 2>/dev/null)" = "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  echo "setup: cargo-fuzz $CARGO_FUZZ_VERSION is installed"
else
  echo "setup: building cargo-fuzz $CARGO_FUZZ_VERSION from crates.io (about 2 minutes, once)"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
