#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster of its own (cluster.sh), and stops
# and removes the cluster afterwards, whether the command passed, failed or was
# interrupted. The command sees:
#   LINLI_TEST_POSTGRES     the cluster's admin URL (tests make a database of their own on it)
#   LINLI_TEST_PG_BIN       the directory of psql, initdb and pg_ctl
#   LINLI_REQUIRE_POSTGRES  1: a PostgreSQL test that cannot run fails instead of skipping
# Nested calls (make test runs make test-rust…) share the outer call's cluster. It never
# uses a database that was running before.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "${LINLI_TEST_PG_OWNED:-}" = 1 ] && [ -n "${LINLI_TEST_POSTGRES:-}" ]; then
  exec "$@"
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/linli-test-pg.XXXXXX")
cleanup() {
  bash "$here/cluster.sh" stop "$dir" immediate >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
LINLI_TEST_POSTGRES=$(bash "$here/cluster.sh" start "$dir")
LINLI_TEST_PG_BIN=$(bash "$here/cluster.sh" bin)
export LINLI_TEST_POSTGRES LINLI_TEST_PG_BIN LINLI_REQUIRE_POSTGRES=1 LINLI_TEST_PG_OWNED=1
echo "with-cluster: PostgreSQL for the tests on 127.0.0.1:$(cat "$dir/port") ($dir)" >&2
"$@"
