#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for Linli's tests: initdb and pg_ctl from Debian's
# `postgresql` package, run as a non-root user, in a directory of its own, listening only
# on 127.0.0.1 on a free port, with a random password (scram-sha-256). It never touches a
# cluster that was already running.
#
#   cluster.sh start DIR [PORT]  create (if needed) and start the cluster in DIR; prints its URL
#                                (the admin database, `postgres`); DIR/url and DIR/port keep them
#   cluster.sh stop DIR [MODE]   stop it (pg_ctl -m MODE: fast by default, immediate = a crash)
#   cluster.sh bin               the directory of initdb, pg_ctl and psql
#
# As root, the cluster runs as the user `postgres` (made by Debian's package) or
# LINLI_TEST_PG_USER; otherwise as the caller. The tests' cluster trades durability for
# speed (fsync off): it is thrown away afterwards. LINLI_TEST_PG_FSYNC=on keeps fsync.
set -euo pipefail

pg_bin() {
  if [ -n "${LINLI_TEST_PG_BIN:-}" ]; then echo "$LINLI_TEST_PG_BIN"; return; fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
    echo "PostgreSQL is not installed (make postgres-deps installs Debian's postgresql)" >&2
    exit 1
  fi
  echo "$d"
}

# Runs a command as the cluster's user.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "${LINLI_TEST_PG_USER:-postgres}" -- "$@"
  else
    "$@"
  fi
}

free_port() {
  # A port the kernel hands out for a listener now; postgres may still lose it to a race,
  # which `start` retries.
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000))
}

start() {
  local dir=$1 port=${2:-} bin
  bin=$(pg_bin)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" = 0 ]; then chown "${LINLI_TEST_PG_USER:-postgres}" "$dir"; fi
  chmod 700 "$dir"
  if ! as_owner test -w "$dir"; then
    echo "cluster.sh: the cluster's user cannot write $dir (are its parent directories open to it?)" >&2
    exit 1
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    local password
    password=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
    as_owner sh -c "umask 077; printf '%s\n' '$password' > '$dir/password'"
    as_owner "$bin/initdb" -D "$dir/data" -U linli --auth=scram-sha-256 --pwfile="$dir/password" \
      --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  local password fsync=${LINLI_TEST_PG_FSYNC:-off}
  password=$(cat "$dir/password")
  [ -n "$port" ] || port=$(cat "$dir/port" 2>/dev/null || free_port)
  local attempt
  for attempt in 1 2 3 4 5; do
    if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$dir' -c fsync=$fsync \
          -c full_page_writes=$fsync -c max_connections=300 -c shared_buffers=64MB" start >/dev/null; then
      echo "$port" >"$dir/port"
      local url="postgres://linli:$password@127.0.0.1:$port/postgres"
      echo "$url" >"$dir/url"
      echo "$url"
      return 0
    fi
    # The port was taken meanwhile: another one (unless the caller asked for this one).
    [ -z "${2:-}" ] || break
    port=$(free_port)
  done
  tail -20 "$dir/server.log" >&2 || true
  exit 1
}

stop() {
  local dir=$1 mode=${2:-fast} bin
  bin=$(pg_bin)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null
  fi
}

case "${1:-}" in
  start) start "$2" "${3:-}" ;;
  stop) stop "$2" "${3:-fast}" ;;
  bin) pg_bin ;;
  *) echo "usage: $0 start DIR [PORT] | stop DIR [MODE] | bin" >&2; exit 2 ;;
esac
