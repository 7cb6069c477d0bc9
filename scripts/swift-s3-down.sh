#!/usr/bin/env bash
# Stops the Swift (and its memcached) that scripts/swift-s3-up.sh started in $SWIFT_DIR. Servers
# are found through their pid files only, and a process is signalled only when its command line
# names its config file (memcached: its pid file) in $SWIFT_DIR, so nothing else on the machine
# is touched.
#
# Environment:
#   SWIFT_DIR    state directory (default /tmp/mizuchi-swift)
#   SWIFT_PURGE  1: delete $SWIFT_DIR afterwards (only when swift-s3-up.sh created it)
set -uo pipefail

SWIFT_DIR=${SWIFT_DIR:-/tmp/mizuchi-swift}
log() { printf '[swift-s3-down %s] %s\n' "$(date +%T)" "$*" >&2; }

if [[ ! -f $SWIFT_DIR/.mizuchi-swift ]]; then
  log "nothing to stop: $SWIFT_DIR was not created by swift-s3-up.sh"
  exit 0
fi

# Prints the pid of server $1 when its pid file points at a live process started with our conf.
our_pid() {
  local pid
  pid=$(cat "$SWIFT_DIR/run/$1.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
  local marker="$SWIFT_DIR/$1-server.conf"
  [[ $1 == memcached ]] && marker="$SWIFT_DIR/run/memcached.pid"
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker" || return 1
  echo "$pid"
}
# A zombie has already exited; it only waits for its parent to reap it.
still_running() {
  [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

stopped=0
# The proxy goes first, so that no request reaches a storage server that is already gone. A
# server exits on SIGTERM within a moment; SIGKILL after 3 s loses nothing, as the data is
# disposable.
for name in proxy object container account memcached; do
  if pid=$(our_pid "$name"); then
    stopped=$((stopped + 1))
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 30; i++)); do
      still_running "$pid" || break
      sleep 0.1
    done
    if still_running "$pid"; then
      log "$name (pid $pid) did not exit in time; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  rm -f "$SWIFT_DIR/run/$name.pid"
done
((stopped)) || log "no server of $SWIFT_DIR was running"

if [[ ${SWIFT_PURGE:-0} == 1 ]]; then
  rm -rf "${SWIFT_DIR:?}"
  log "deleted $SWIFT_DIR"
fi
exit 0
