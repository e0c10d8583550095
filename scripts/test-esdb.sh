#!/usr/bin/env bash
# The store contract and the CLI's scale-out flow against a real EventStoreDB / KurrentDB server (>= 23.10).
# Without ESDB_CONNECTION_STRING there is no server to test against: say so, run nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${ESDB_CONNECTION_STRING:-}" ]; then
  echo "test:esdb: ESDB_CONNECTION_STRING is not set, so nothing runs against a real EventStoreDB server (set it, e.g. ESDB_CONNECTION_STRING='esdb://127.0.0.1:2113?tls=false')."
  exit 0
fi
npx tsc -p tsconfig.json
exec npx ava --config ava.esdb.config.cjs
