#!/usr/bin/env bash
# Throwaway PostgreSQL server for tests and benchmarks.
#
#   pg.sh start    DIR        init + start a server in DIR, create db "traject",
#                             write DIR/dsn and print the DSN on stdout
#   pg.sh createdb DIR NAME   create database NAME on that server, print its DSN
#   pg.sh dsn      DIR        print the DSN of the "traject" database
#   pg.sh status   DIR        exit 0 if the server in DIR is running, 3 if not
#   pg.sh stop     DIR        stop the server (idempotent), then delete its data
#                             unless KEEP=1
#
# Only DSNs go to stdout; all diagnostics go to stderr, so
# `DSN=$(pg.sh start DIR)` works.  See README.md next to this file.
#
# Environment knobs (all optional):
#   PG_BINDIR           directory holding initdb/pg_ctl/... (default: highest
#                       /usr/lib/postgresql/*/bin, then `pg_config --bindir`)
#   PG_SHARED_BUFFERS   default 256MB
#   PG_MAX_CONNECTIONS  default 200
#   PG_EXTRA_CONF       extra postgresql.conf lines (newline separated)
#   PG_START_TIMEOUT    seconds to wait for readiness, default 30
#   KEEP=1              `stop` leaves the data directory in place
set -euo pipefail

PROG=${0##*/}
DB_USER=traject
DB_NAME=traject
MARKER=.traject-pg          # proves DIR was set up by this script (guards rm -rf)

# Client/server behaviour must not be steered by the caller's PG* environment.
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGSERVICE PGSERVICEFILE \
      PGOPTIONS PGSSLMODE PGREQUIRESSL PGTARGETSESSIONATTRS PGDATA \
      PGPASSWORD PGPASSFILE PGCONNECT_TIMEOUT 2>/dev/null || true

say()  { printf '%s: %s\n' "$PROG" "$*" >&2; }
die()  { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }

usage() {
    cat >&2 <<EOF
usage: $PROG start DIR
       $PROG createdb DIR NAME
       $PROG dsn DIR
       $PROG status DIR
       $PROG stop DIR            (KEEP=1 to keep the data)
EOF
    exit 2
}

# ---------------------------------------------------------------- binaries
find_bindir() {
    if [[ -n ${PG_BINDIR:-} ]]; then
        [[ -x $PG_BINDIR/pg_ctl ]] || die "PG_BINDIR=$PG_BINDIR has no pg_ctl"
        printf '%s\n' "$PG_BINDIR"; return
    fi
    local d best=""
    # highest installed major version (Debian layout)
    best=$(for d in /usr/lib/postgresql/*/bin; do
               [[ -x $d/pg_ctl && -x $d/initdb ]] && printf '%s\n' "$d"
           done | sort -V | tail -n 1)
    if [[ -z $best ]] && command -v pg_config >/dev/null 2>&1; then
        d=$(pg_config --bindir 2>/dev/null || true)
        [[ -n $d && -x $d/pg_ctl && -x $d/initdb ]] && best=$d
    fi
    if [[ -z $best ]] && command -v initdb >/dev/null 2>&1; then
        best=$(dirname "$(readlink -f "$(command -v initdb)")")
    fi
    [[ -n $best ]] || die "cannot find PostgreSQL server binaries (initdb/pg_ctl); set PG_BINDIR"
    printf '%s\n' "$best"
}

BIN=$(find_bindir)
for _t in initdb pg_ctl postgres pg_isready psql createdb; do
    [[ -x $BIN/$_t ]] || die "$BIN/$_t missing"
done

# ---------------------------------------------------------------- users
IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1
PG_OS_USER=postgres

if (( IS_ROOT )); then
    id -u "$PG_OS_USER" >/dev/null 2>&1 \
        || die "running as root but system user '$PG_OS_USER' does not exist (PostgreSQL refuses to run as root)"
fi

# Run a command as the user that owns the cluster.  As root that is the
# `postgres` system user; cwd is / so the tools never trip over an
# unreadable cwd such as /root/... .
as_pg() {
    if (( IS_ROOT )); then
        if command -v runuser >/dev/null 2>&1; then
            (cd / && runuser -u "$PG_OS_USER" -- "$@")
        else
            local cmd; cmd=$(printf '%q ' "$@")
            (cd / && su "$PG_OS_USER" -s /bin/bash -c "$cmd")
        fi
    else
        "$@"
    fi
}

give_to_pg() {   # chown paths to the cluster owner when root
    (( IS_ROOT )) && chown "$PG_OS_USER:" "$@"
    return 0
}

# ---------------------------------------------------------------- helpers
abs_dir() {      # absolute path without requiring existence
    local p=$1
    [[ $p == /* ]] || p=$PWD/$p
    realpath -m -- "$p"
}

free_port() {
    local py
    for py in python3 python; do
        if command -v "$py" >/dev/null 2>&1; then
            "$py" - <<'EOF' && return 0
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
        fi
    done
    # no python: random high port; a collision is caught by the retry loop
    echo $(( 20000 + RANDOM % 30000 ))
}

sql_quote() { printf "'%s'" "${1//\'/\'\'}"; }

# State files inside DIR:
#   DIR/.traject-pg  marker        DIR/pgdata  path of the data directory
#   DIR/port         TCP port      DIR/dsn     DSN of db "traject"
#   DIR/pgroot       only when the data lives in a /tmp fallback dir
#   DIR/postgres.log server log (a symlink in the fallback case)
load_state() {
    DIR=$(abs_dir "$1")
    PGDATA_DIR=""; PORT=""; PGROOT=""
    [[ -f $DIR/pgdata ]] && PGDATA_DIR=$(<"$DIR/pgdata")
    [[ -f $DIR/port   ]] && PORT=$(<"$DIR/port")
    [[ -f $DIR/pgroot ]] && PGROOT=$(<"$DIR/pgroot")
    # as root, act as whoever owns an existing cluster (normally `postgres`)
    if (( IS_ROOT )) && [[ -n $PGDATA_DIR && -d $PGDATA_DIR ]]; then
        local owner; owner=$(stat -c %U -- "$PGDATA_DIR")
        [[ $owner != root && $owner != UNKNOWN ]] && PG_OS_USER=$owner
    fi
    return 0
}

# 0 = running, 3 = not running, 4 = no data dir
pg_status() {
    [[ -n $PGDATA_DIR && -f $PGDATA_DIR/PG_VERSION ]] || return 4
    local rc=0
    as_pg "$BIN/pg_ctl" status -D "$PGDATA_DIR" >/dev/null 2>&1 || rc=$?
    return "$rc"
}

dsn_for() { printf 'postgresql://%s@127.0.0.1:%s/%s\n' "$DB_USER" "$PORT" "$1"; }

log_tail() {
    local log=$1
    if [[ -r $log ]]; then
        printf -- '----- last 40 lines of %s -----\n' "$log" >&2
        tail -n 40 "$log" >&2 || true
        printf -- '-----\n' >&2
    else
        say "(no log at $log)"
    fi
}

# ---------------------------------------------------------------- start
cmd_start() {
    [[ $# -eq 1 ]] || usage
    load_state "$1"

    if [[ -e $DIR && ! -d $DIR ]]; then die "$DIR exists and is not a directory"; fi
    if [[ -d $DIR && -n $(ls -A "$DIR") && ! -e $DIR/$MARKER ]]; then
        die "$DIR is not empty and was not created by $PROG; refusing to use it"
    fi
    if [[ -e $DIR/$MARKER ]]; then
        local st=0; pg_status || st=$?
        if (( st == 0 )); then
            die "a server is already running in $DIR ($(dsn_for "$DB_NAME")); run '$PROG stop $DIR' first"
        fi
        say "removing stale leftovers in $DIR"
        wipe_state
    fi

    mkdir -p -- "$DIR"
    : > "$DIR/$MARKER"
    give_to_pg "$DIR"

    # Can the cluster owner reach DIR?  (e.g. not under /root when root)
    local root=$DIR log=$DIR/postgres.log
    if ! as_pg test -w "$DIR" -a -x "$DIR" 2>/dev/null; then
        PGROOT=$(mktemp -d /tmp/traject-pg.XXXXXX)
        chmod 755 "$PGROOT"
        give_to_pg "$PGROOT"
        printf '%s\n' "$PGROOT" > "$DIR/pgroot"
        root=$PGROOT; log=$PGROOT/postgres.log
        ln -sfn "$log" "$DIR/postgres.log"
        say "user '$PG_OS_USER' cannot reach $DIR; data lives in $PGROOT (recorded in $DIR/pgroot)"
    fi
    PGDATA_DIR=$root/data
    printf '%s\n' "$PGDATA_DIR" > "$DIR/pgdata"

    # ---- initdb
    local locale=C
    # (no `cmd | grep -q` under pipefail: an early grep exit SIGPIPEs cmd)
    if grep -Eix 'c\.utf-?8' <<<"$(locale -a 2>/dev/null || true)" >/dev/null; then
        locale=C.UTF-8
    fi
    local initlog=$root/initdb.log
    if ! as_pg "$BIN/initdb" -D "$PGDATA_DIR" --auth=trust --username="$DB_USER" \
            -E UTF8 --locale="$locale" --no-sync --no-instructions \
            >"$initlog" 2>&1; then
        log_tail "$initlog"
        die "initdb failed (full output: $initlog)"
    fi

    # ---- config: settings in traject.conf, included from postgresql.conf
    local sockdir=$PGDATA_DIR sockline
    # unix socket path (dir + "/.s.PGSQL.NNNNN") must fit in sun_path (107 bytes)
    if (( ${#sockdir} + 15 > 107 )); then
        sockline="unix_socket_directories = ''   # data dir path too long for a socket"
        say "data dir path too long for a unix socket; TCP only"
    else
        sockline="unix_socket_directories = $(sql_quote "$sockdir")"
    fi
    printf "\ninclude = 'traject.conf'\n" >> "$PGDATA_DIR/postgresql.conf"

    local attempt port ok=0 timeout=${PG_START_TIMEOUT:-30} offset
    : > "$log"; give_to_pg "$log"
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        cat > "$PGDATA_DIR/traject.conf" <<EOF
# written by $PROG -- throwaway test server
listen_addresses = '127.0.0.1'
port = $port
$sockline
max_connections = ${PG_MAX_CONNECTIONS:-200}
shared_buffers = ${PG_SHARED_BUFFERS:-256MB}
# durability stays ON: benchmarks compare against it
fsync = on
synchronous_commit = on
full_page_writes = on
timezone = 'UTC'
log_timezone = 'UTC'
lc_messages = 'C'
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
${PG_EXTRA_CONF:-}
EOF
        give_to_pg "$PGDATA_DIR/traject.conf"
        chmod 600 "$PGDATA_DIR/traject.conf"

        offset=$(stat -c %s "$log")
        if as_pg "$BIN/pg_ctl" start -D "$PGDATA_DIR" -l "$log" -w -t "$timeout" -s >&2; then
            ok=1; break
        fi
        # make sure nothing half-started survives this attempt
        as_pg "$BIN/pg_ctl" stop -D "$PGDATA_DIR" -m immediate -w -t 10 -s >/dev/null 2>&1 || true
        if tail -c +"$((offset + 1))" "$log" \
                | grep -E 'could not bind|Address already in use|could not create any TCP/IP sockets' >/dev/null; then
            say "port $port was taken, retrying with another one (attempt $attempt)"
            continue
        fi
        break
    done
    if (( ! ok )); then
        log_tail "$log"
        die "PostgreSQL failed to start in $DIR (log: $log); run '$PROG stop $DIR' to clean up"
    fi
    PORT=$port
    printf '%s\n' "$PORT" > "$DIR/port"

    # ---- wait for pg_isready (pg_ctl -w already waited; this is the TCP check)
    local deadline=$(( SECONDS + timeout ))
    until "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U "$DB_USER" -d postgres -t 2; do
        if (( SECONDS >= deadline )); then
            log_tail "$log"
            as_pg "$BIN/pg_ctl" stop -D "$PGDATA_DIR" -m immediate -s >/dev/null 2>&1 || true
            die "server did not answer pg_isready on 127.0.0.1:$PORT within ${timeout}s"
        fi
        sleep 0.2
    done

    # ---- make sure we talk to OUR server, not someone else's on that port
    local seen
    seen=$("$BIN/psql" -X -w -At -h 127.0.0.1 -p "$PORT" -U "$DB_USER" -d postgres \
              -c 'show data_directory' 2>&1) || {
        log_tail "$log"; die "cannot connect to 127.0.0.1:$PORT: $seen"; }
    if [[ $(realpath -m -- "$seen") != $(realpath -m -- "$PGDATA_DIR") ]]; then
        as_pg "$BIN/pg_ctl" stop -D "$PGDATA_DIR" -m immediate -s >/dev/null 2>&1 || true
        die "127.0.0.1:$PORT is served by $seen, not by $PGDATA_DIR"
    fi

    "$BIN/createdb" -w -h 127.0.0.1 -p "$PORT" -U "$DB_USER" -- "$DB_NAME" >&2 \
        || { log_tail "$log"; die "createdb $DB_NAME failed"; }

    dsn_for "$DB_NAME" > "$DIR/dsn"
    say "PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') running: data=$PGDATA_DIR port=$PORT log=$DIR/postgres.log"
    cat "$DIR/dsn"
}

# ---------------------------------------------------------------- stop
wipe_state() {   # needs load_state; only called when the marker is present
    if [[ -n $PGROOT ]]; then
        case $PGROOT in
            /tmp/traject-pg.*) rm -rf -- "$PGROOT" ;;
            *) say "not removing unexpected pgroot '$PGROOT'" ;;
        esac
    fi
    rm -rf -- "$DIR/data" "$DIR/initdb.log"
    rm -f -- "$DIR/postgres.log" "$DIR/dsn" "$DIR/port" "$DIR/pgdata" "$DIR/pgroot"
    PGDATA_DIR=""; PORT=""; PGROOT=""
}

cmd_stop() {
    [[ $# -eq 1 ]] || usage
    load_state "$1"
    if [[ ! -d $DIR ]]; then say "$DIR does not exist; nothing to stop"; return 0; fi
    [[ -e $DIR/$MARKER ]] || die "$DIR was not set up by $PROG (no $MARKER); refusing to touch it"

    local st=0; pg_status || st=$?
    if (( st == 0 )); then
        if ! as_pg "$BIN/pg_ctl" stop -D "$PGDATA_DIR" -m fast -w -t 60 -s >&2; then
            say "fast shutdown failed; trying immediate"
            as_pg "$BIN/pg_ctl" stop -D "$PGDATA_DIR" -m immediate -w -t 30 -s >&2 \
                || die "could not stop the server in $PGDATA_DIR"
        fi
        say "stopped server in $DIR"
    else
        say "no server running in $DIR"
    fi

    if [[ ${KEEP:-0} == 1 ]]; then
        say "KEEP=1: leaving data in ${PGDATA_DIR:-$DIR}"
        return 0
    fi
    wipe_state
    rm -f -- "$DIR/$MARKER"
    rmdir -- "$DIR" 2>/dev/null || true
}

# ---------------------------------------------------------------- others
require_running() {
    load_state "$1"
    [[ -e $DIR/$MARKER && -n $PORT ]] || die "no server set up in $DIR (run '$PROG start $DIR')"
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U "$DB_USER" -d postgres -t 5 \
        || die "server for $DIR is not answering on 127.0.0.1:$PORT"
}

cmd_createdb() {
    [[ $# -eq 2 ]] || usage
    local name=$2
    [[ $name =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$ ]] \
        || die "bad database name '$name' (allowed: [A-Za-z0-9_-], max 63 chars)"
    require_running "$1"
    "$BIN/createdb" -w -h 127.0.0.1 -p "$PORT" -U "$DB_USER" -- "$name" >&2 \
        || die "createdb $name failed"
    dsn_for "$name"
}

cmd_dsn() {
    [[ $# -eq 1 ]] || usage
    load_state "$1"
    [[ -f $DIR/dsn ]] || die "no DSN in $DIR (is the server started?)"
    cat "$DIR/dsn"
}

cmd_status() {
    [[ $# -eq 1 ]] || usage
    load_state "$1"
    local st=0; pg_status || st=$?
    if (( st == 0 )); then say "running: $(dsn_for "$DB_NAME")"; return 0; fi
    say "not running"; return 3
}

[[ $# -ge 1 ]] || usage
sub=$1; shift
case $sub in
    start)    cmd_start "$@" ;;
    stop)     cmd_stop "$@" ;;
    createdb) cmd_createdb "$@" ;;
    dsn)      cmd_dsn "$@" ;;
    status)   cmd_status "$@" ;;
    -h|--help|help) usage ;;
    *) usage ;;
esac
