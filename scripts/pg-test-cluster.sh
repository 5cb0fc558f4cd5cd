#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and benchmarks (the C++ gtest environment, the
# pytest fixture and the ctest fixture all call this script).
#
#   pg-test-cluster.sh start DIR    initdb in DIR/data, start on 127.0.0.1 and a free port;
#                                   writes DIR/url (postgresql://mlcore:...@127.0.0.1:PORT/postgres)
#   pg-test-cluster.sh stop DIR     stops the server and removes DIR
#   pg-test-cluster.sh restart DIR  pg_ctl restart (same port and data)
#   pg-test-cluster.sh kill DIR     SIGKILL the postmaster (a crash), leaving the data
#   pg-test-cluster.sh up DIR       starts a stopped or killed cluster again (crash recovery)
#   pg-test-cluster.sh bindir       prints the server binaries' folder; exit 3 when absent
#
# The server refuses to run as root, so under root (CI, containers) initdb and pg_ctl run as the
# unprivileged user `nobody` (or $MLCORE_PG_USER) and DIR/data belongs to it. Clients connect
# over TCP with password (scram-sha-256) auth, the path the URL form exercises. fsync is off: a
# test cluster trades crash safety of the machine, not of the server process, for speed; commits
# still reach the WAL (synchronous_commit stays on), so kill -9 of the server loses nothing
# committed.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
password=mlcore-test-secret

bindir() {
  if [ -n "${MLCORE_PG_BINDIR:-}" ] && [ -x "$MLCORE_PG_BINDIR/initdb" ]; then
    echo "$MLCORE_PG_BINDIR"
    return 0
  fi
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  done
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
  return 3
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "${MLCORE_PG_USER:-nobody}" -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() {
  local bin=$1
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
}

case "$cmd" in
  bindir)
    bindir || { echo "pg-test-cluster: no PostgreSQL server binaries (initdb) found" >&2; exit 3; }
    ;;
  start)
    [ -n "$dir" ] || { echo "usage: $0 start DIR" >&2; exit 2; }
    bin=$(bindir) || { echo "pg-test-cluster: no PostgreSQL server binaries (initdb) found" >&2; exit 3; }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    printf '%s\n' "$password" >"$dir/pwfile"
    if [ "$(id -u)" -eq 0 ]; then
      owner=${MLCORE_PG_USER:-nobody}
      chown "$owner" "$dir" "$dir/pwfile"
      chmod 755 "$dir"
    fi
    as_owner "$bin/initdb" -D "$dir/data" -U mlcore --pwfile="$dir/pwfile" -A scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    rm -f "$dir/pwfile"
    port=$(free_port)
    cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
fsync = off
full_page_writes = off
shared_buffers = 64MB
log_min_messages = warning
EOF
    start_server "$bin" || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgresql://mlcore:$password@127.0.0.1:$port/postgres" >"$dir/url"
    cat "$dir/url"
    ;;
  stop)
    [ -n "$dir" ] && [ -d "$dir" ] || exit 0
    bin=$(bindir) || exit 0
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  restart)
    bin=$(bindir)
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 60 restart >/dev/null
    ;;
  kill)
    pid=$(head -1 "$dir/data/postmaster.pid")
    kill -9 "$pid"
    # The backends notice their postmaster is gone and exit; wait for the port to be free.
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    ;;
  up)
    bin=$(bindir)
    # Backends orphaned by a killed postmaster hold its shared memory until they notice (at
    # most a second or so); the start is retried until they are gone.
    for _ in $(seq 1 50); do
      start_server "$bin" 2>/dev/null && exit 0
      sleep 0.2
    done
    cat "$dir/server.log" >&2
    exit 1
    ;;
  *)
    echo "usage: $0 start|stop|restart|kill|up DIR | bindir" >&2
    exit 2
    ;;
esac
