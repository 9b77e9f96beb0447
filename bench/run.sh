#!/usr/bin/env bash
# Linli's benchmarks, side by side with the reference automerge-repo sync server
# (tests/interop/reference-server.mjs). `make bench` runs this; it writes BENCHMARKS.md.
#
# For each workload it starts a fresh Linli on sled (temporary data directory, one bench
# user), for the storm and steady workloads a fresh Linli on PostgreSQL (`linli-pg`: a new
# database on a throwaway cluster this script starts, fsync and synchronous_commit on), and
# then a fresh reference server (temporary directory), drives each with bench/linli-loadgen,
# and kills it. Every server it started (and the cluster) is stopped on exit, whatever happens.
#
# Sizes come from the environment; the defaults are the issue's targets:
#   STORM_CLIENTS=100 STORM_DOCS=10 STORM_CHANGES=20      reconnect storm
#   STEADY_PEERS=1000 STEADY_SECS=25 STEADY_INTERVAL_MS=5000 STEADY_GROUP_MIN=2 STEADY_GROUP_MAX=5
#   IDLE_PEERS=10000 IDLE_PEERS_REFERENCE=2000             idle connected peers
#   TOUCH_DOCS=100000 TOUCH_DOCS_REFERENCE=5000 TOUCH_CACHE=10000 TOUCH_WORKERS=8 TOUCH_WORKERS_REFERENCE=2
#                                                          stored documents touched once; Linli's --max-docs-in-memory
# The reference server gets fewer idle peers and stored documents by default: its cost per
# new connection grows with the documents it has loaded (automerge-repo's CollectionSynchronizer
# walks every loaded document on each new peer), so 10,000 peers take it over 20 minutes
# here, and touching a document costs it ~4 ms. With many documents in flight it also
# crashes: a `find` that waits over 60 s throws an unhandled TimeoutError inside
# automerge-repo, so it gets fewer connections at once too. Its per-peer and per-document
# figures are still comparable; the report says how many it ran with.
#   BENCH_RESULTS=DIR reuses a results directory (e.g. to re-run one workload into a kept run).
#   BENCH_WORKLOADS="storm steady idle touch"  BENCH_SERVERS="linli linli-pg reference"
#   (linli-pg runs the storm and steady workloads only)
#   BENCH_CRITERION=1 (0: skip the criterion micro-benchmarks)  BENCH_OUT=BENCHMARKS.md
#   BENCH_KEEP=1 keeps the work directory (JSON results, server logs) and prints its path.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

STORM_CLIENTS=${STORM_CLIENTS:-100}
STORM_DOCS=${STORM_DOCS:-10}
STORM_CHANGES=${STORM_CHANGES:-20}
STEADY_PEERS=${STEADY_PEERS:-1000}
STEADY_SECS=${STEADY_SECS:-25}
STEADY_INTERVAL_MS=${STEADY_INTERVAL_MS:-5000}
STEADY_GROUP_MIN=${STEADY_GROUP_MIN:-2}
STEADY_GROUP_MAX=${STEADY_GROUP_MAX:-5}
IDLE_PEERS=${IDLE_PEERS:-10000}
IDLE_PEERS_REFERENCE=${IDLE_PEERS_REFERENCE:-2000}
TOUCH_DOCS=${TOUCH_DOCS:-100000}
TOUCH_DOCS_REFERENCE=${TOUCH_DOCS_REFERENCE:-5000}
TOUCH_WORKERS=${TOUCH_WORKERS:-8}
TOUCH_WORKERS_REFERENCE=${TOUCH_WORKERS_REFERENCE:-2}
TOUCH_CACHE=${TOUCH_CACHE:-10000}
BENCH_WORKLOADS=${BENCH_WORKLOADS:-storm steady idle touch}
BENCH_SERVERS=${BENCH_SERVERS:-linli linli-pg reference}
BENCH_CRITERION=${BENCH_CRITERION:-1}
BENCH_OUT=${BENCH_OUT:-$ROOT/BENCHMARKS.md}
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

LINLI=$TARGET_DIR/release/linli
LOADGEN=$TARGET_DIR/release/linli-loadgen
BENCH_USER=bench
BENCH_PASS=bench-password-for-load-tests
# Linli's per-user and per-connection limits exist to stop abuse; all the load here comes
# from one user, so they are raised. Everything else (fsync per change included) is default.
LINLI_FLAGS=(--max-connections-per-user 100000 --max-messages-per-sec 100000 --message-burst 1000000)

# Idle peers need a file descriptor each, in the load generator and in the server.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=$(mktemp -d "${TMPDIR:-/tmp}/linli-bench.XXXXXX")
RESULTS=${BENCH_RESULTS:-$WORK/results}
mkdir -p "$RESULTS"
PIDS=()
PG_DIR=
PG_ADMIN=
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill -9 "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ -n "$PG_DIR" ]; then
    bash tests/postgres/cluster.sh stop "$PG_DIR" fast >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "bench: kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }

log "building linli and linli-loadgen (release)"
$CARGO build --release -p linli-server -p linli-bench
command -v node >/dev/null || { echo "node is required (apt-get install nodejs npm)"; exit 1; }
log "installing the reference server's npm packages"
(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
if [[ " $BENCH_SERVERS " == *" linli-pg "* ]]; then
  make --no-print-directory postgres-deps
  # A directory of its own (the cluster runs as another user when this runs as root), and
  # durable, as a production database: fsync on (the tests' clusters turn it off).
  PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/linli-bench-pg.XXXXXX")
  PG_ADMIN=$(LINLI_TEST_PG_FSYNC=on bash tests/postgres/cluster.sh start "$PG_DIR")
  PSQL="$(bash tests/postgres/cluster.sh bin)/psql"
  log "PostgreSQL $("$PSQL" -X -t -A -d "$PG_ADMIN" -c 'SHOW server_version') on 127.0.0.1:$(cat "$PG_DIR/port") (fsync on)"
fi

# A new database on the bench cluster for DATA (kept in DATA/database-url); its URL.
database_for() {
  local data=$1 name
  if [ ! -s "$data/database-url" ]; then
    name="bench_$(basename "$data" | tr -c 'a-z0-9\n' '_')"
    "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$PG_ADMIN" -c "CREATE DATABASE $name" >/dev/null
    echo "${PG_ADMIN%/*}/$name" >"$data/database-url"
  fi
  cat "$data/database-url"
}

# Waits until FILE has a line matching REGEX (sed -E, one capture group: host:port); prints the capture.
wait_listening() {
  local file=$1 regex=$2 pid=$3 i
  for i in $(seq 1 600); do
    if [ -s "$file" ]; then
      local addr
      addr=$(sed -nE "s#.*${regex}.*#\\1#p" "$file" | head -n1)
      if [ -n "$addr" ]; then
        echo "$addr"
        return 0
      fi
    fi
    kill -0 "$pid" 2>/dev/null || { log "server $pid exited before listening"; return 1; }
    sleep 0.1
  done
  log "server $pid did not start within 60 s"
  return 1
}

# start_server KIND DATA [extra linli flags]: sets SERVER_PID and SERVER_ADDR.
start_server() {
  local kind=$1 data=$2
  shift 2
  mkdir -p "$data"
  local url=
  if [ "$kind" = linli-pg ]; then url=$(database_for "$data"); fi
  if [ "$kind" = linli ] || [ "$kind" = linli-pg ]; then
    export LINLI_DATABASE_URL=$url
    [ -n "$url" ] || unset LINLI_DATABASE_URL
    if [ ! -e "$data/.bench-user" ]; then
      # The benchmark documents are households of grid g1 (Linli checks documents against its schema).
      "$LINLI" --data "$data" grid add g1 --name bench >/dev/null
      echo "$BENCH_PASS" | "$LINLI" --data "$data" user add --username "$BENCH_USER" --role admin >/dev/null
      touch "$data/.bench-user"
    fi
    LINLI_LOG=warn "$LINLI" --data "$data" serve --bind 127.0.0.1:0 "${LINLI_FLAGS[@]}" "$@" \
      >"$data.stdout" 2>>"$data.stderr" </dev/null &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    SERVER_ADDR=$(wait_listening "$data.stdout" 'linli listening on http://([0-9.]+:[0-9]+)' "$SERVER_PID")
    unset LINLI_DATABASE_URL
  else
    node tests/interop/reference-server.mjs --port 0 --data "$data" >"$data.stdout" 2>>"$data.stderr" </dev/null &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    SERVER_ADDR=$(wait_listening "$data.stdout" 'listening on http://([0-9.]+:[0-9]+)' "$SERVER_PID")
  fi
  log "$kind listening on $SERVER_ADDR (pid $SERVER_PID)"
}

# stop_server: SIGTERM (the reference server flushes its repo), SIGKILL after 30 s.
stop_server() {
  local pid=$SERVER_PID i
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# The loadgen flags that point at the running server.
server_args() {
  local kind=$1
  if [ "$kind" = linli ] || [ "$kind" = linli-pg ]; then
    echo "--server-name $kind --server-pid $SERVER_PID --url ws://$SERVER_ADDR/sync --login http://$SERVER_ADDR --username $BENCH_USER --password $BENCH_PASS --metrics-url http://$SERVER_ADDR/metrics"
  else
    echo "--server-name reference --server-pid $SERVER_PID --url ws://$SERVER_ADDR/sync"
  fi
}

# loadgen NAME ARGS...: runs the loadgen; a failed run is recorded, never fatal.
loadgen() {
  local name=$1 before=
  shift
  log "loadgen $*"
  [[ $name == *-linli-pg ]] && before=$(pg_cpu)
  if ! "$LOADGEN" "$@" --json "$RESULTS/$name.json" 2>&1 | tee -a "$WORK/loadgen.log" >&2; then
    log "loadgen $name failed (see the report)"
  fi
  if [ -n "$before" ]; then
    echo "$(pg_cpu) $before" | awk '{printf "%.3f\n", $1 - $2}' >"$RESULTS/$name.pg_cpu"
  fi
}

# CPU seconds the bench cluster has used so far: the postmaster with every backend it
# has reaped, and the backends alive now (/proc/PID/stat utime, stime, cutime, cstime).
# The server's own CPU figures count Linli's process only; this is PostgreSQL's share.
pg_cpu() {
  local master ticks=0 pid f
  master=$(head -n1 "$PG_DIR/data/postmaster.pid")
  read -r -a f < <(sed 's/^.*) //' "/proc/$master/stat")
  ticks=$((f[11] + f[12] + f[13] + f[14]))
  for pid in $(cat "/proc/$master/task/$master/children" 2>/dev/null || pgrep -P "$master"); do
    read -r -a f < <(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null || echo)
    [ "${#f[@]}" -gt 14 ] && ticks=$((ticks + f[11] + f[12]))
  done
  echo "$ticks $(getconf CLK_TCK)" | awk '{printf "%.3f\n", $1 / $2}'
}

run_storm() {
  local kind=$1
  start_server "$kind" "$WORK/storm-$kind"
  # shellcheck disable=SC2046
  loadgen "storm-$kind" storm $(server_args "$kind") \
    --clients "$STORM_CLIENTS" --docs "$STORM_DOCS" --changes "$STORM_CHANGES"
  stop_server
}

run_steady() {
  local kind=$1
  start_server "$kind" "$WORK/steady-$kind"
  # shellcheck disable=SC2046
  loadgen "steady-$kind" steady $(server_args "$kind") --peers "$STEADY_PEERS" \
    --duration-secs "$STEADY_SECS" --interval-ms "$STEADY_INTERVAL_MS" \
    --group-min "$STEADY_GROUP_MIN" --group-max "$STEADY_GROUP_MAX"
  stop_server
}

run_idle() {
  local kind=$1 peers=$IDLE_PEERS
  [ "$kind" = reference ] && peers=$IDLE_PEERS_REFERENCE
  start_server "$kind" "$WORK/idle-$kind"
  # shellcheck disable=SC2046
  loadgen "idle-$kind" idle $(server_args "$kind") --peers "$peers"
  stop_server
}

run_touch() {
  local kind=$1 data=$WORK/touch-$kind cache=0 extra=() docs=$TOUCH_DOCS workers=$TOUCH_WORKERS
  if [ "$kind" = reference ]; then
    docs=$TOUCH_DOCS_REFERENCE
    workers=$TOUCH_WORKERS_REFERENCE
  fi
  if [ "$kind" = linli ]; then
    cache=$TOUCH_CACHE
    extra=(--max-docs-in-memory "$TOUCH_CACHE")
  fi
  start_server "$kind" "$data" "${extra[@]}"
  # shellcheck disable=SC2046
  loadgen "touch-setup-$kind" touch-setup $(server_args "$kind") --docs "$docs" --workers "$workers" --ids-file "$WORK/touch-$kind.ids"
  stop_server
  # A fresh process on the same data: every document on disk, none in memory.
  start_server "$kind" "$data" "${extra[@]}"
  # shellcheck disable=SC2046
  loadgen "touch-$kind" touch $(server_args "$kind") --ids-file "$WORK/touch-$kind.ids" --workers "$workers" --cache-docs "$cache"
  stop_server
}

START=$(date +%s)
for workload in $BENCH_WORKLOADS; do
  for kind in $BENCH_SERVERS; do
    if [ "$kind" = linli-pg ] && [ "$workload" != storm ] && [ "$workload" != steady ]; then
      continue
    fi
    log "=== $workload against $kind ==="
    "run_$workload" "$kind"
  done
  if [ "$workload" = storm ]; then
    loadgen limit limit --clients "$STORM_CLIENTS" --docs "$STORM_DOCS" --changes "$STORM_CHANGES"
  fi
done

if [ "$BENCH_CRITERION" = 1 ]; then
  log "=== criterion micro-benchmarks (cargo bench -p linli-server) ==="
  $CARGO bench -p linli-server --bench sync_apply --bench store -- --warm-up-time 1 --measurement-time 2 \
    2>&1 | tee "$RESULTS/criterion.txt" >&2 || log "criterion failed"
fi

if [ -n "${BENCH_RESULTS:-}" ] && [ -s "$RESULTS/machine.txt" ]; then
  # A partial re-run into an earlier run's results: say so, keep the rest.
  echo "re-run on $(date -u '+%Y-%m-%d %H:%M UTC'): ${BENCH_WORKLOADS} against ${BENCH_SERVERS} (the other rows are from the run above)" >>"$RESULTS/machine.txt"
  "$LOADGEN" report --dir "$RESULTS" --out "$BENCH_OUT"
  log "done: $BENCH_OUT"
  exit 0
fi
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(free -g | awk '/^Mem:/ {print $2}') GiB memory, Linux $(uname -r)"
  echo "toolchain: $(rustc --version 2>/dev/null || echo rustc ?), node $(node --version)"
  echo "Linli: \`target/release/linli serve ${LINLI_FLAGS[*]}\` (+ \`--max-docs-in-memory $TOUCH_CACHE\` for touch), LINLI_LOG=warn, grid g1 and a bench user with role admin; every document is a valid Linli \`household\` of grid g1"
  if [ -n "$PG_ADMIN" ]; then
    echo "Linli on PostgreSQL (storm, steady): the same flags with \`LINLI_DATABASE_URL\` naming a new database on a local PostgreSQL $("$PSQL" -X -t -A -d "$PG_ADMIN" -c 'SHOW server_version') cluster (tests/postgres/cluster.sh, fsync on, shared_buffers 64MB, loopback TCP), default pool and group commit settings"
  fi
  echo "reference: \`node tests/interop/reference-server.mjs\` ($(cd tests/interop && node -p 'require("./node_modules/@automerge/automerge-repo/package.json").version' 2>/dev/null | sed 's/^/automerge-repo /'))"
  echo "open-file limit of the run: $(ulimit -n)"
  echo "sizes: storm ${STORM_CLIENTS}×${STORM_DOCS}×${STORM_CHANGES}, steady ${STEADY_PEERS} peers for ${STEADY_SECS} s at one change per ${STEADY_INTERVAL_MS} ms, idle ${IDLE_PEERS} peers (reference: ${IDLE_PEERS_REFERENCE}), touch ${TOUCH_DOCS} documents (reference: ${TOUCH_DOCS_REFERENCE}) with a Linli cache of ${TOUCH_CACHE}"
  echo "workloads run: ${BENCH_WORKLOADS} against ${BENCH_SERVERS}; total time $(( $(date +%s) - START )) s"
} >"$RESULTS/machine.txt"

"$LOADGEN" report --dir "$RESULTS" --out "$BENCH_OUT"
log "done: $BENCH_OUT"
