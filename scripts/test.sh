#!/usr/bin/env bash
# The whole test suite, on both stores: starts a throwaway PostgreSQL on
# loopback (unless FLOWW_TEST_POSTGRES already names a server), runs
# `cargo test --release` with it, and stops it. Arguments go to cargo test,
# e.g. `scripts/test.sh multi_host` runs the tests whose names contain it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Guests are built for this target; the integration tests build them.
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# TypeScript workflows build with Node.js 20+ and the npm packages that
# package-lock.json pins (the SDK, esbuild, componentize-js, tsc), installed
# again only when the lock file changed.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "The tests need Node.js 20 or later with npm (TypeScript workflows): install them first" >&2
  exit 1
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# The dashboard's browser tests drive Debian's Chromium through chromedriver.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  scripts/apt-install.sh "Chromium and chromedriver" chromium chromium-driver
fi

if [ -z "${FLOWW_TEST_POSTGRES:-}" ]; then
  pg=$(mktemp -d /tmp/floww-pg.XXXXXX)
  trap 'scripts/postgres.sh stop "$pg" || true; rm -rf "$pg"' EXIT
  FLOWW_TEST_POSTGRES=$(scripts/postgres.sh start "$pg")
  export FLOWW_TEST_POSTGRES
  echo "PostgreSQL for the tests: $FLOWW_TEST_POSTGRES" >&2
fi
# The TypeScript SDK's unit tests (Node's test runner, on faked host
# imports) and its type tests, when the whole suite runs.
if [ $# -eq 0 ]; then
  npm test --workspace ts-sdk
  npm run check --workspace ts-sdk
fi
cargo test --release "$@"
