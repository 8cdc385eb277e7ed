#!/usr/bin/env bash
# Browser tests of the admin console (console.test.mjs): installs what is missing — Chromium
# from the distribution (apt), playwright-core from npm (pinned by package-lock.json) — builds
# the gateway binary, and runs the tests against it with a temporary data directory.
# Screenshots land in console-tests/artifacts/. Part of scripts/test.
set -euo pipefail
cd "$(dirname "$0")"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM" ]]; then
  echo "console-tests: installing chromium (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
stamp="node_modules/.lock-$(sha256sum package-lock.json | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  echo "console-tests: npm ci (new package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
if [[ -z "${GATEWAY_BIN:-}" ]]; then
  (cd .. && cargo build --locked --bin authmcp-gateway --example mcp_fixture_server)
fi
rm -rf artifacts
node --test --test-concurrency=1 console.test.mjs
