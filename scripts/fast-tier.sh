#!/usr/bin/env bash
# `npm test` after the build: the linters (Biome, the line limit, dependency-cruiser: mostly one core) run beside
# the fast tier (ava keeps both cores busy), and the linters' output is printed after ava's. Fails when either fails.
set -uo pipefail
cd "$(dirname "$0")/.."
lint_log=$(mktemp)
npm run -s lint >"$lint_log" 2>&1 &
lint_pid=$!
npx ava "$@"
tests=$?
wait "$lint_pid"
linted=$?
cat "$lint_log"
rm -f "$lint_log"
if [ "$linted" -ne 0 ]; then
  echo "npm test: the linters failed (their output is above): fix what they name, or run npx biome check --write ." >&2
  exit "$linted"
fi
exit "$tests"
