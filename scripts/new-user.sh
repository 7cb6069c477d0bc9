#!/usr/bin/env bash
# The first ten minutes of a new user, scripted (issue 9): a fresh clone of this repository, the
# README's command that starts the gateway, then the README's first upload commands and its
# JavaScript example, each taken from README.md itself (the fenced block after a
# `<!-- new-user-test: NAME -->` marker), never retyped here. At the end the uploaded files must
# be on the embedded filesystem backend with the bytes the commands sent.
#
#   bash scripts/new-user.sh
#
# Needs what the README's commands need: git, Node.js with npm (and the npm registry), curl, the
# aws CLI. The gateway listens on a free port instead of 8080 (`PORT`, which the README names);
# the commands' `127.0.0.1:8080` is rewritten to it. Nothing outside a temporary folder is
# touched; the aws CLI runs with its own empty HOME.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
README="$REPO/README.md"
work=$(mktemp -d "${TMPDIR:-/tmp}/mizuchi-new-user.XXXXXX")
server_pid=''

log() { printf '[new-user %s] %s\n' "$(date +%T)" "$*" >&2; }
fail() {
  log "FAILED: $*"
  exit 1
}
cleanup() {
  local status=$?
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM -- "-$server_pid" 2>/dev/null || kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if ((status != 0)) && [[ -f $work/server.log ]]; then
    log 'last lines the gateway printed:'
    tail -n 40 "$work/server.log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

# The body of the fenced block that follows `<!-- new-user-test: $1 -->` in the README.
readme_block() {
  awk -v marker="<!-- new-user-test: $1 -->" '
    $0 == marker { found = 1; next }
    found && !inside && /^```/ { inside = 1; next }
    inside && /^```/ { exit }
    inside { print }
  ' "$README"
}

free_port() {
  node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => {
    console.log(s.address().port); s.close(); });"
}

serve=$(readme_block serve)
upload=$(readme_block upload)
client=$(readme_block node)
[[ -n $serve && -n $upload && -n $client ]] ||
  fail 'README.md lacks one of the new-user-test blocks (serve, upload, node)'

log "cloning $REPO into $work/mizuchi"
git clone --quiet "$REPO" "$work/mizuchi"
cd "$work/mizuchi"
port=$(free_port)

log "running the README's serve command on port $port: $serve"
# Its own process group, so that cleanup stops npm and the gateway under it together.
PORT=$port setsid bash -c "$serve" >"$work/server.log" 2>&1 &
server_pid=$!
deadline=$((SECONDS + 600)) # npm ci builds the splice addon; give a slow mirror time
until grep -q 'serving [0-9]* route(s) on' "$work/server.log"; do
  kill -0 "$server_pid" 2>/dev/null || fail 'the serve command ended before the gateway was serving'
  ((SECONDS < deadline)) || fail 'the gateway was not serving after 10 minutes'
  sleep 1
done
log "serving: $(grep -o 'serving [0-9]* route(s) on [^"]*' "$work/server.log" | head -n 1)"

export HOME="$work/home" AWS_CONFIG_FILE="$work/home/aws-config"
export AWS_SHARED_CREDENTIALS_FILE="$work/home/aws-credentials"
mkdir -p "$HOME"
run_block() {
  local name=$1 text=$2
  text=${text//127.0.0.1:8080/127.0.0.1:$port}
  log "running the README's $name block:"
  printf '%s\n' "$text" | sed 's/^/    /' >&2
  bash -euo pipefail -c "$text" || fail "the README's $name block failed"
}
run_block upload "$upload"

# The JavaScript example is an ES module; it resolves @aws-sdk/client-s3 from the clone.
printf '%s\n' "${client//127.0.0.1:8080/127.0.0.1:$port}" >"$work/mizuchi/new-user-example.mjs"
log "running the README's JavaScript example with node"
node "$work/mizuchi/new-user-example.mjs" || fail "the README's JavaScript example failed"

# What each command sent, where the embedded default backend keeps it.
expect_file() {
  local path=$1 expected=$2 actual
  [[ -f $path ]] || fail "$path was not stored"
  actual=$(cat "$path")
  [[ $actual == "$expected" ]] || fail "$path holds '$actual', expected '$expected'"
  log "stored: ${path#"$work/mizuchi/"} = '$actual'"
}
expect_file data/uploads/hello-aws.txt 'hello from curl'
# The JavaScript example wrote hello.txt last, over the one curl sent.
expect_file data/uploads/hello.txt 'hello'
log 'passed: clone, serve, curl, aws CLI and the SDK example all worked as the README says'
