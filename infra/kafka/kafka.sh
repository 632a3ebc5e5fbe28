#!/usr/bin/env bash
# Single-node KRaft Kafka broker (broker + controller in one JVM) for local
# tests, built only from Apache Kafka's own jars on Maven Central.
#
#   kafka.sh fetch              populate the jar cache only
#   kafka.sh start DIR          (fetch,) configure, format, start, wait; prints 127.0.0.1:PORT
#   kafka.sh stop DIR           SIGTERM, wait, SIGKILL; idempotent
#   kafka.sh restart DIR        stop + start on the same ports and the same data
#   kafka.sh status DIR         prints the bootstrap address if running, exit 3 if not
#
# Only the bootstrap address goes to stdout, so BOOTSTRAP=$(kafka.sh start DIR)
# works; progress and errors go to stderr.
#
# Environment:
#   KAFKA_VERSION        broker version from Maven Central (default 4.1.2)
#   TRAJECT_CACHE        cache root (default $HOME/.cache/traject); jars land in
#                        $TRAJECT_CACHE/kafka-$KAFKA_VERSION/libs
#   TRAJECT_M2_REPO      Maven local repository (default $HOME/.m2/repository)
#   PYTHON               interpreter for port picking / readiness check (default:
#                        the repo's .venv/bin/python if present, else python3).
#                        With kafka-python importable the readiness check also does
#                        an admin describe_cluster/list_topics round trip.
#   JAVA                 java binary (default $JAVA_HOME/bin/java or java)
#   KAFKA_HEAP_OPTS      default "-Xms64m -Xmx512m"
#   KAFKA_JVM_OPTS       extra JVM flags
#   KAFKA_START_TIMEOUT  seconds to wait for the broker to answer (default 90)
#   KAFKA_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 30)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
KAFKA_VERSION=${KAFKA_VERSION:-4.1.2}
CACHE_ROOT=${TRAJECT_CACHE:-${HOME:-/tmp}/.cache/traject}
CACHE_DIR=$CACHE_ROOT/kafka-$KAFKA_VERSION
LIBS=$CACHE_DIR/libs
MARKER=$LIBS/.traject-complete
M2_REPO=${TRAJECT_M2_REPO:-${HOME:-/tmp}/.m2/repository}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}

if [[ -n ${PYTHON:-} ]]; then
  PY=$PYTHON
elif [[ -x $HERE/../../.venv/bin/python ]]; then
  PY=$HERE/../../.venv/bin/python
else
  PY=python3
fi
if [[ -n ${JAVA:-} ]]; then
  JAVA_BIN=$JAVA
elif [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
  JAVA_BIN=$JAVA_HOME/bin/java
else
  JAVA_BIN=java
fi

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { printf 'kafka.sh: ERROR: %s\n' "$*" >&2; exit 1; }
usage() {
  sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# Stamp = version + pom content, so editing pom.xml invalidates the cache.
stamp() {
  printf '%s %s\n' "$KAFKA_VERSION" "$(cksum <"$HERE/pom.xml" | cut -d' ' -f1)"
}

cache_ok() {
  [[ -f $MARKER && "$(cat "$MARKER")" == "$(stamp)" ]]
}

cmd_fetch() {
  cache_ok && return 0
  command -v mvn >/dev/null 2>&1 || die "mvn not found (needed once to fetch Kafka $KAFKA_VERSION jars)"
  mkdir -p "$CACHE_DIR"
  # Serialise concurrent fetches; re-check once we hold the lock.
  exec 9>"$CACHE_DIR/.fetch.lock"
  if command -v flock >/dev/null 2>&1; then flock 9; fi
  if cache_ok; then exec 9>&-; return 0; fi

  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
  local tmp mvnlog
  tmp=$(mktemp -d "$CACHE_DIR/libs.tmp.XXXXXX")
  mvnlog=$CACHE_DIR/mvn.log
  # Maven 3.8 on Debian prints stray ANSI resets even with -B -q; keep all of
  # its output in mvn.log and show it only on failure.
  # maven.repo.local is pinned to $HOME (Java's user.home comes from the
  # passwd entry, which for e.g. nobody is /nonexistent).
  if ! mvn -B -q -f "$HERE/pom.xml" \
      -Dmaven.repo.local="$M2_REPO" \
      -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies \
      -DincludeScope=runtime \
      -DoutputDirectory="$tmp" >"$mvnlog" 2>&1; then
    cat "$mvnlog" >&2
    rm -rf "$tmp"
    die "mvn dependency:copy-dependencies failed (log: $mvnlog)"
  fi
  [[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar ]] || { rm -rf "$tmp"; die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn"; }
  stamp >"$tmp/.traject-complete"
  rm -rf "$LIBS.old"
  if [[ -d $LIBS ]]; then mv "$LIBS" "$LIBS.old"; fi
  mv "$tmp" "$LIBS"
  rm -rf "$LIBS.old"
  exec 9>&-
  log "cached $(find "$LIBS" -name '*.jar' | wc -l) jars in $LIBS"
}

# --- process helpers --------------------------------------------------------

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd -P); }

# True if PID is alive, not a zombie, and is *our* broker for DIR.
is_our_broker() {
  local pid=$1 dir=$2 state cmdline
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r /proc/$pid/stat ]]; then
    state=$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f1) || return 1
    [[ $state != Z ]] || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  else
    cmdline=$(ps -o args= -p "$pid" 2>/dev/null) || return 1
  fi
  [[ $cmdline == *kafka.Kafka*"$dir/server.properties"* ]]
}

running_pid() {  # prints pid if the broker for DIR is running
  local dir=$1 pid
  [[ -f $dir/pid ]] || return 1
  pid=$(cat "$dir/pid")
  is_our_broker "$pid" "$dir" || return 1
  printf '%s\n' "$pid"
}

free_ports() {  # two distinct free loopback ports
  "$PY" - <<'EOF'
import socket
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

check_ports_free() {  # fail fast (instead of a 90 s timeout) if a port is taken
  "$PY" - "$@" <<'EOF' || die "port(s) $* on 127.0.0.1 already in use by another process"
import socket, sys
for p in sys.argv[1:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the JVM does
    try:
        s.bind(("127.0.0.1", int(p)))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
EOF
}

new_cluster_id() {  # Kafka Uuid: url-safe base64 of 16 random bytes, no padding
  "$PY" -c '
import base64, uuid
while True:
    u = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    if not u.startswith("-"):
        print(u)
        break'
}

jvm_opts() {
  # shellcheck disable=SC2206
  local heap=(${KAFKA_HEAP_OPTS:--Xms64m -Xmx512m}) extra=(${KAFKA_JVM_OPTS:-})
  printf '%s\n' "${heap[@]}" -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
    ${extra[@]+"${extra[@]}"}
}

write_config() {
  local dir=$1 port=$2 cport=$3
  cat >"$dir/server.properties" <<EOF
# Written by infra/kafka/kafka.sh (Kafka $KAFKA_VERSION, KRaft combined mode).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=${KAFKA_OFFSETS_PARTITIONS:-1}
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# After a SIGKILL the old registration of node 1 blocks re-registration until
# the broker session expires (default 9 s); shorten it for fast restarts.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
  printf '%s %s\n' "$port" "$cport" >"$dir/ports"
}

# --- subcommands ------------------------------------------------------------

cmd_start() {
  local dir pid port cport rc t0
  dir=$(abs_dir "$1")
  t0=$(date +%s)
  cmd_fetch

  if pid=$(running_pid "$dir"); then
    read -r port cport <"$dir/ports"
    log "already running (pid $pid)"
  else
    rm -f "$dir/pid" "$dir/bootstrap"
    if [[ -f $dir/server.properties && -f $dir/ports ]]; then
      read -r port cport <"$dir/ports"           # restart: same ports, same data
    else
      read -r port cport < <(free_ports)
      [[ -n ${port:-} && -n ${cport:-} ]] || die "could not pick free ports"
      write_config "$dir" "$port" "$cport"
    fi
    local -a opts
    mapfile -t opts < <(jvm_opts)

    if [[ ! -f $dir/data/meta.properties ]]; then
      local cid
      cid=$(new_cluster_id)
      if ! "$JAVA_BIN" "${opts[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
          -t "$cid" -c "$dir/server.properties" --ignore-formatted \
          >"$dir/format.log" 2>&1; then
        cat "$dir/format.log" >&2
        die "formatting $dir/data failed"
      fi
    fi

    check_ports_free "$port" "$cport"
    printf '\n===== kafka.sh start %s (Kafka %s) =====\n' "$(date -u +%FT%TZ)" "$KAFKA_VERSION" >>"$dir/broker.log"
    # nohup + </dev/null + own log: the broker outlives this script and holds
    # none of the caller's pipes open (safe under subprocess capture_output).
    nohup "$JAVA_BIN" "${opts[@]}" -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
      </dev/null >>"$dir/broker.log" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$dir/pid"
  fi

  rc=0
  "$PY" "$HERE/wait_ready.py" "127.0.0.1:$port" "$START_TIMEOUT" "$pid" || rc=$?
  if [[ $rc -ne 0 ]]; then
    {
      if [[ $rc -eq 2 ]]; then
        echo "kafka.sh: ERROR: broker (pid $pid) exited during startup"
      else
        echo "kafka.sh: ERROR: broker did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s (readiness rc=$rc)"
      fi
      echo "----- tail of $dir/broker.log -----"
      tail -n 60 "$dir/broker.log"
      echo "-----------------------------------"
    } >&2
    cmd_stop "$dir" >/dev/null 2>&1 || true
    exit 1
  fi
  printf '127.0.0.1:%s\n' "$port" >"$dir/bootstrap"
  log "broker ready on 127.0.0.1:$port (controller $cport, pid $pid, $(($(date +%s) - t0))s)"
  printf '127.0.0.1:%s\n' "$port"
}

cmd_stop() {
  local dir pid i
  [[ -d $1 ]] || { log "nothing to stop ($1 does not exist)"; return 0; }
  dir=$(abs_dir "$1")
  if ! pid=$(running_pid "$dir"); then
    rm -f "$dir/pid" "$dir/bootstrap"
    log "not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    is_our_broker "$pid" "$dir" || break
    sleep 0.1
  done
  if is_our_broker "$pid" "$dir"; then
    log "broker pid $pid ignored SIGTERM for ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      is_our_broker "$pid" "$dir" || break
      sleep 0.1
    done
    is_our_broker "$pid" "$dir" && die "broker pid $pid survived SIGKILL"
  fi
  rm -f "$dir/pid" "$dir/bootstrap"
  log "stopped (pid $pid)"
}

cmd_status() {
  local dir pid
  [[ -d $1 ]] || { log "not running"; return 3; }
  dir=$(abs_dir "$1")
  pid=$(running_pid "$dir") || { log "not running"; return 3; }
  log "running (pid $pid)"
  cat "$dir/bootstrap" 2>/dev/null || true
}

main() {
  [[ $# -ge 1 ]] || usage
  local sub=$1
  shift
  case $sub in
    fetch) [[ $# -eq 0 ]] || usage; cmd_fetch ;;
    start) [[ $# -eq 1 ]] || usage; cmd_start "$1" ;;
    stop) [[ $# -eq 1 ]] || usage; cmd_stop "$1" ;;
    restart) [[ $# -eq 1 ]] || usage; cmd_stop "$1"; cmd_start "$1" ;;
    status) [[ $# -eq 1 ]] || usage; cmd_status "$1" ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
