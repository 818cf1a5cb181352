#!/usr/bin/env bash
# Apache Kafka for tests: a single-node KRaft broker+controller run from the
# release's jars on Maven Central (no tarball, no Docker, no ZooKeeper).
#
#   kafka.sh install                  fetch the jars once, record a class-data
#                                     archive once; prints the libs folder
#   kafka.sh start DIR PORT [OPT...]  format DIR/data if new, start in the
#                                     background, wait until ready; pid in
#                                     DIR/kafka.pid, log in DIR/kafka.log
#   kafka.sh run DIR PORT [OPT...]    the same in the foreground (exec java),
#                                     for a caller that owns the process
#   kafka.sh wait DIR PORT            wait until a `run` broker is ready
#   kafka.sh stop DIR                 SIGTERM (SIGKILL after 20 s), wait for exit
#
# PORT is the PLAINTEXT listener on 127.0.0.1. OPT adds listeners,
#   ssl=PORT  sasl_ssl=PORT  sasl_plaintext=PORT  controller=PORT (else a free one),
# or sets a broker property (a name with a dot): auto.create.topics.enable=false
# TLS listeners use a certificate for 127.0.0.1 and localhost made in DIR/tls/,
# signed by DIR/tls/ca.pem. SASL listeners take SCRAM-SHA-512 and -256 for
# $KAFKA_SCRAM_USER / $KAFKA_SCRAM_PASSWORD (hookgate / hookgate-secret), made
# when DIR is formatted. $KAFKA_HEAP_OPTS, $KAFKA_JVM_OPTS replace the JVM
# options below; $KAFKA_READY_TIMEOUT (s, default 60) bounds the wait.
# Idempotent: a second install does nothing, a second start of a running DIR
# says so, a stopped DIR keeps its data and starts again on it.
set -euo pipefail

KAFKA_VERSION=4.4.0
LOG4J_VERSION=2.25.5 # kafka-server's own log4j-api/log4j-core version
TOOLS="${HOOKGATE_TOOLS:-$HOME/.cache/hookgate/tools}"
HOME_DIR="$TOOLS/kafka-$KAFKA_VERSION"
LIBS="$HOME_DIR/libs"

USAGE="usage: kafka.sh install | start DIR PORT [OPT...] | run DIR PORT [OPT...] | wait DIR PORT | stop DIR"
die() { echo "kafka.sh: $*" >&2; exit 1; }

install() {
  fetch_jars
  # A class-data archive of a first run's classes (AppCDS) saves about a
  # third of each later start-up; the JVM writes it when that run exits.
  if [ ! -f "$HOME_DIR/kafka.jsa" ] && [ -z "${KAFKA_CDS_DUMP:-}" ]; then
    echo "kafka.sh: one start and stop to record $HOME_DIR/kafka.jsa" >&2
    local tmp
    tmp="$(mktemp -d)"
    KAFKA_CDS_DUMP="$tmp/kafka.jsa" start "$tmp" "$(free_port)" "ssl=$(free_port)" "sasl_ssl=$(free_port)" >&2
    stop "$tmp" >&2
    if [ -f "$tmp/kafka.jsa" ]; then mv "$tmp/kafka.jsa" "$HOME_DIR/kafka.jsa"; fi
    rm -rf "$tmp"
  fi
  echo "$LIBS"
}

fetch_jars() {
  [ -f "$HOME_DIR/.complete" ] && [ -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" ] && return
  command -v mvn >/dev/null || die "mvn is needed to fetch Kafka's jars (apt-get install maven)"
  echo "kafka.sh: fetching Kafka $KAFKA_VERSION's jars from Maven Central into $LIBS" >&2
  mkdir -p "$HOME_DIR"
  rm -rf "$LIBS" "$HOME_DIR/.complete" "$HOME_DIR/kafka.jsa"
  # kafka-server's published pom lists its test dependencies (JUnit,
  # ApacheDS) as runtime ones: they are left out.
  cat >"$HOME_DIR/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.hookgate</groupId><artifactId>kafka-libs</artifactId><version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version>
      <exclusions>
        <exclusion><groupId>org.junit.jupiter</groupId><artifactId>*</artifactId></exclusion>
        <exclusion><groupId>org.apache.directory.api</groupId><artifactId>*</artifactId></exclusion>
        <exclusion><groupId>org.apache.directory.server</groupId><artifactId>*</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
  mvn -q -B -Dstyle.color=never -f "$HOME_DIR/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIBS" >"$HOME_DIR/mvn.log" 2>&1 ||
    die "mvn could not fetch the jars: see $HOME_DIR/mvn.log"
  touch "$HOME_DIR/.complete"
}

# A port nothing listens on, below the kernel's ephemeral range.
free_port() {
  local port
  for _ in $(seq 200); do
    port=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
  die "no free port found"
}

# The CA and the server's certificate and key (PKCS#8 PEM) for 127.0.0.1.
make_tls() {
  local tls="$1/tls"
  [ -f "$tls/server.pem" ] && return
  command -v openssl >/dev/null || die "openssl is needed for the TLS listeners"
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=hookgate test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$tls/ext.cnf"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 3650 -extfile "$tls/ext.cnf" -out "$tls/server.crt" 2>/dev/null
  # Kafka's PEM key store: the unencrypted PKCS#8 key, then the chain.
  cat "$tls/server.key" "$tls/server.crt" "$tls/ca.pem" >"$tls/server.pem.tmp"
  mv "$tls/server.pem.tmp" "$tls/server.pem"
}

# Writes DIR/server.properties and formats DIR/data once.
prepare() {
  [ $# -ge 2 ] || die "$USAGE"
  command -v java >/dev/null || die "java (17 or newer) is needed"
  install >/dev/null # first: its own first run sets the same globals
  DIR="$(mkdir -p "$1" && cd "$1" && pwd)"
  local port="$2" ssl="" sasl_ssl="" sasl_plain="" controller="" extra="" opt
  shift 2
  for opt in "$@"; do
    case "$opt" in
      ssl=*) ssl="${opt#*=}" ;;
      sasl_ssl=*) sasl_ssl="${opt#*=}" ;;
      sasl_plaintext=*) sasl_plain="${opt#*=}" ;;
      controller=*) controller="${opt#*=}" ;;
      *.*=*) extra+="$opt"$'\n' ;;
      *) die "unknown option $opt" ;;
    esac
  done
  controller="${controller:-$(free_port)}"
  local listeners="PLAINTEXT://127.0.0.1:$port" advertised="PLAINTEXT://127.0.0.1:$port"
  local protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"
  local name p
  for name in SSL SASL_SSL SASL_PLAINTEXT; do
    case "$name" in SSL) p="$ssl" ;; SASL_SSL) p="$sasl_ssl" ;; *) p="$sasl_plain" ;; esac
    [ -n "$p" ] || continue
    listeners+=",$name://127.0.0.1:$p"
    advertised+=",$name://127.0.0.1:$p"
  done
  [ -z "$ssl$sasl_ssl" ] || make_tls "$DIR"
  cat >"$DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=$listeners,CONTROLLER://127.0.0.1:$controller
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$DIR/data
# Small and quick for tests.
num.network.threads=2
num.io.threads=2
background.threads=2
num.partitions=1
offsets.topic.num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.backoff.ms=500
log.cleaner.dedupe.buffer.size=16777216
log.retention.check.interval.ms=5000
# The controller's no-op record every 0.5 s is most of an idle broker's CPU.
metadata.max.idle.interval.ms=5000
# SCRAM on the SASL listeners (users are made by kafka.sh at format time).
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
  printf '%s' "$extra" >>"$DIR/server.properties"
  if [ -n "$ssl$sasl_ssl" ]; then
    printf 'ssl.keystore.type=PEM\nssl.keystore.location=%s\n' "$DIR/tls/server.pem" >>"$DIR/server.properties"
  fi
  cat >"$DIR/log4j2.properties" <<'EOF'
shutdownHook=disable
appender.out.type=Console
appender.out.name=OUT
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.out.ref=OUT
logger.state.name=state.change.logger
logger.state.level=WARN
EOF
  JAVA_ARGS=(-cp "$LIBS/*" -Djava.awt.headless=true -Dlog4j2.configurationFile="$DIR/log4j2.properties")
  [ ! -f "$HOME_DIR/kafka.jsa" ] || JAVA_ARGS+=(-XX:SharedArchiveFile="$HOME_DIR/kafka.jsa")
  # Last, so that they win. C1 alone and the serial collector start fastest
  # and take the least CPU and memory on 2 cores.
  # shellcheck disable=SC2206 # one word per JVM option
  JAVA_ARGS+=(${KAFKA_HEAP_OPTS:--Xms64m -Xmx256m} ${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1})
  # shellcheck disable=SC2206
  BROKER=("${JAVA_ARGS[@]}" ${KAFKA_CDS_DUMP:+-XX:ArchiveClassesAtExit="$KAFKA_CDS_DUMP"} kafka.Kafka "$DIR/server.properties")
  if [ ! -f "$DIR/data/meta.properties" ]; then
    local user="${KAFKA_SCRAM_USER:-hookgate}" password="${KAFKA_SCRAM_PASSWORD:-hookgate-secret}"
    # A random cluster id: 16 bytes, base64url without padding.
    local id
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    java "${JAVA_ARGS[@]}" kafka.tools.StorageTool format --cluster-id="$id" -c "$DIR/server.properties" \
      --add-scram "SCRAM-SHA-512=[name=$user,password=$password]" \
      --add-scram "SCRAM-SHA-256=[name=$user,password=$password]" \
      >"$DIR/format.log" 2>&1 || die "formatting $DIR/data failed: $(tail -n 5 "$DIR/format.log")"
  fi
}

# Sends one request (header v1, client id "k") to 127.0.0.1:PORT; prints the
# error code (hex) at bytes 12-13 of the response.
kafka_error() {
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 0
  # shellcheck disable=SC2059 # the request is in printf's escapes
  printf "$2" >&3
  timeout 2 head -c 14 <&3 | od -An -tx1 | tr -d ' \n' | tail -c 4
  exec 3<&-
}

# Whether DIR's broker runs (a zombie or a reused pid does not count).
running() { [ -f "$1/kafka.pid" ] && grep -qas kafka.Kafka "/proc/$(cat "$1/kafka.pid")/cmdline"; }

start() {
  [ $# -ge 2 ] || die "$USAGE"
  if running "$1"; then
    echo "kafka.sh: already running in $1 (pid $(cat "$1/kafka.pid"))"
    return
  fi
  prepare "$@"
  : >"$DIR/kafka.log"
  java "${BROKER[@]}" </dev/null >>"$DIR/kafka.log" 2>&1 &
  echo $! >"$DIR/kafka.pid"
  OWNED=1 wait_ready "$DIR" "$2"
}

# Waits until DIR's broker answers on PORT: asks it for a group's and a
# transaction's coordinator (FindCoordinator v1) and for a producer id
# (InitProducerId v0) until each succeeds. So it creates and loads
# __consumer_offsets and __transaction_state and fetches a block of producer
# ids now, where a client's first call would be told to retry (librdkafka
# retries a JoinGroup 3 s later).
wait_ready() {
  [ $# -eq 2 ] || die "$USAGE"
  local begin request
  begin=$(date +%s%N)
  DEADLINE=$((SECONDS + ${KAFKA_READY_TIMEOUT:-60}))
  for request in '\x00\x00\x00\x0f\x00\x0a\x00\x01\x00\x00\x00\x01\x00\x01k\x00\x01w\x00' \
    '\x00\x00\x00\x0f\x00\x0a\x00\x01\x00\x00\x00\x01\x00\x01k\x00\x01w\x01' \
    '\x00\x00\x00\x11\x00\x16\x00\x00\x00\x00\x00\x01\x00\x01k\xff\xff\x00\x00\xea\x60'; do
    until [ "$(kafka_error "$2" "$request")" = 0000 ]; do not_yet "$1" "$2"; done
  done
  echo "kafka.sh: Kafka $KAFKA_VERSION ready on 127.0.0.1:$2 in $((($(date +%s%N) - begin) / 1000000)) ms (pid $(cat "$1/kafka.pid"), $1)"
}

# not_yet DIR PORT: fails if $DEADLINE has passed or the broker that `start` launched
# ($OWNED) has exited (and kills that one), else sleeps a little.
not_yet() {
  [ -z "${OWNED:-}" ] || running "$1" ||
    die "Kafka exited: $(grep -sE '\] (ERROR|FATAL)|^Caused by' "$1/kafka.log" | tail -n 3); see $1/kafka.log"
  if [ "$SECONDS" -ge "$DEADLINE" ]; then
    [ -z "${OWNED:-}" ] || kill -KILL "$(cat "$1/kafka.pid")"
    die "Kafka on 127.0.0.1:$2 was not ready within ${KAFKA_READY_TIMEOUT:-60} s"
  fi
  sleep 0.05
}

run() {
  [ $# -ge 2 ] || die "$USAGE"
  ! running "$1" || die "already running in $1 (pid $(cat "$1/kafka.pid"))"
  prepare "$@"
  echo $$ >"$DIR/kafka.pid"
  exec java "${BROKER[@]}"
}

stop() {
  [ $# -eq 1 ] || die "$USAGE"
  running "$1" || { rm -f "$1/kafka.pid"; echo "kafka.sh: not running in $1"; return; }
  local pid
  pid="$(cat "$1/kafka.pid")"
  kill -CONT "$pid" 2>/dev/null || true # a frozen JVM cannot shut down
  kill -TERM "$pid"
  for _ in $(seq 400); do
    running "$1" || break
    sleep 0.05
  done
  if running "$1"; then kill -KILL "$pid"; fi
  rm -f "$1/kafka.pid"
  echo "kafka.sh: stopped pid $pid"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  install) install ;;
  start) start "$@" ;;
  run) run "$@" ;;
  wait) wait_ready "$@" ;;
  stop) stop "$@" ;;
  *) die "$USAGE" ;;
esac
