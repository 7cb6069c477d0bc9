#!/usr/bin/env bash
# Stops the test cluster that scripts/radosgw-up.sh started in $RGW_DIR. Processes are found
# through their pid files only, and a process is signalled only when its command line names
# $RGW_DIR/ceph.conf, so nothing else on the machine is touched.
#
# Environment:
#   RGW_DIR    state directory (default /tmp/mizuchi-radosgw)
#   RGW_KILL   1: SIGKILL straight away instead of a graceful SIGTERM first
#   RGW_PURGE  1: delete $RGW_DIR afterwards (only when radosgw-up.sh created it); without it,
#              only a bluestore OSD's block file is deleted, as it is the one large file
set -uo pipefail

RGW_DIR=${RGW_DIR:-/tmp/mizuchi-radosgw}
CONF="$RGW_DIR/ceph.conf"
log() { printf '[radosgw-down %s] %s\n' "$(date +%T)" "$*" >&2; }

if [[ ! -f $RGW_DIR/.mizuchi-radosgw ]]; then
  log "nothing to stop: $RGW_DIR was not created by radosgw-up.sh"
  exit 0
fi

# Prints the pid of daemon $1 when its pid file points at a live process started with our conf.
our_pid() {
  local file="$RGW_DIR/run/$1.pid" pid
  [[ -s $file ]] || return 1
  pid=$(cat "$file")
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONF" || return 1
  echo "$pid"
}
# A zombie has already exited; it only waits for its parent to reap it.
still_running() {
  [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

signal=TERM
[[ ${RGW_KILL:-0} == 1 ]] && signal=KILL

stopped=0
# stop_daemon NAME TENTHS: send $signal, give it TENTHS x 0.1 s to exit, then SIGKILL.
stop_daemon() {
  local name=$1 tenths=$2 pid i
  if pid=$(our_pid "$name"); then
    stopped=$((stopped + 1))
    log "stopping $name (pid $pid, SIG$signal)"
    kill -"$signal" "$pid" 2>/dev/null
    for ((i = 0; i < tenths; i++)); do
      still_running "$pid" || break
      sleep 0.1
    done
    if still_running "$pid"; then
      log "$name (pid $pid) did not exit in time; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  rm -f "$RGW_DIR/run/$name.pid"
}

# Order matters, and the daemons go one after another: radosgw can hang in its SIGTERM handler
# when the OSD below it is already shutting down, and the OSD reports its own shutdown to the
# mon, which must still be there to hear it. The data is disposable, so SIGKILL as a last
# resort loses nothing.
stop_daemon client.rgw.local 40
stop_daemon osd.0 50
stop_daemon mon.a 50
((stopped)) || log "no daemon of $RGW_DIR was running"

# A bluestore OSD keeps its data in a sparse file of up to RGW_STORE_GB. Nothing can use it once
# the OSD is down (radosgw-up.sh wipes a stopped cluster before starting anew), so give the
# disk space back now rather than at the next start.
block="$RGW_DIR/osd/block"
if [[ -f $block ]] && ! our_pid osd.0 >/dev/null; then
  log "deleting the bluestore block file ($(du -sh "$block" | cut -f1) on disk)"
  rm -f "$block"
fi

if [[ ${RGW_PURGE:-0} == 1 ]]; then
  rm -rf "${RGW_DIR:?}"
  log "deleted $RGW_DIR"
fi
exit 0
