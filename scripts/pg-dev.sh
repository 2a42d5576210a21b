#!/usr/bin/env bash
# A throwaway PostgreSQL (Debian's postgresql) for tests and benchmarks, without systemd.
#   bash scripts/pg-dev.sh start    install if missing, initdb + pg_ctl start; prints the URL
#   bash scripts/pg-dev.sh stop     stop it (pg_ctl -m fast)
#   bash scripts/pg-dev.sh status   exit 0 when it answers; prints the URL
#   bash scripts/pg-dev.sh url      the URL, without starting anything
# Loopback only, trust authentication, fsync off: for tests, never for data. The cluster lives in
# $TRAINYARD_PG_DIR (default /tmp/trainyard-pg) and listens on $TRAINYARD_PG_PORT (default
# 55433); starting an instance that already answers just prints its URL, so parallel test
# binaries share one. initdb refuses root, so the server runs as the `postgres` user
# (created by the package); as a non-root user it runs as that user.
set -euo pipefail
DIR="${TRAINYARD_PG_DIR:-/tmp/trainyard-pg}"
PORT="${TRAINYARD_PG_PORT:-55433}"
URL="postgres://postgres@127.0.0.1:$PORT/postgres"
cmd="${1:-start}"

die() { echo "pg-dev: $*" >&2; exit 1; }
bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
as_pg() {
  if [[ $(id -u) == 0 ]]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
answers() { local b; b="$(bindir)"; [[ -n $b ]] && "$b/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 1; }

install() {
  [[ -n $(bindir) ]] && return 0
  [[ $(id -u) == 0 ]] || die "postgresql is not installed and installing it needs root"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
}

start() {
  if answers; then echo "$URL"; return 0; fi
  install
  local bin; bin="$(bindir)"
  # One start at a time (parallel test binaries): the loser waits, then finds it answering.
  mkdir -p "$(dirname "$DIR")"
  exec 9>"$DIR.lock"
  flock 9
  if answers; then echo "$URL"; return 0; fi
  mkdir -p "$DIR"
  [[ $(id -u) == 0 ]] && chown postgres "$DIR"
  if [[ ! -s $DIR/db/PG_VERSION ]]; then
    as_pg "'$bin/initdb' -D '$DIR/db' --auth=trust -U postgres -E UTF8 --locale=C.UTF-8" >/dev/null \
      || die "initdb failed"
  fi
  # A stale postmaster.pid of a killed instance would stop pg_ctl; the server is not running.
  rm -f "$DIR/db/postmaster.pid"
  as_pg "'$bin/pg_ctl' -D '$DIR/db' -l '$DIR/pg.log' -w -t 30 -o \"-c listen_addresses=127.0.0.1 -p $PORT -k '$DIR' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400\" start" >/dev/null \
    || die "pg_ctl start failed: $(tail -5 "$DIR/pg.log" 2>/dev/null)"
  answers || die "PostgreSQL does not answer on port $PORT"
  echo "$URL"
}

stop() {
  local bin; bin="$(bindir)"
  [[ -n $bin && -s $DIR/db/postmaster.pid ]] || return 0
  as_pg "'$bin/pg_ctl' -D '$DIR/db' -m fast -w stop" >/dev/null
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) answers && echo "$URL" ;;
  url) echo "$URL" ;;
  *) die "usage: pg-dev.sh start|stop|status|url" ;;
esac
