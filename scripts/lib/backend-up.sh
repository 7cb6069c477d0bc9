# Shared by the scripts that start a local S3 backend (radosgw-up.sh, swift-s3-up.sh); sourced,
# not run. Before sourcing, set LOG_TAG (the name in log lines) and START_NS (start time, ns).
# install_packages also reads APT_PACKAGES, and the caller's directory and marker.

log() { printf '[%s %s] %s\n' "$LOG_TAG" "$(date +%T)" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
since_start() { echo "$((($(date +%s%N) - START_NS) / 1000000)) ms"; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
next_free_port() {
  local port=$1
  while port_in_use "$port"; do port=$((port + 1)); done
  echo "$port"
}

# install_packages MODE_NAME MODE DIR MARKER SECONDS PKG...: installs the missing Debian packages
# PKG... (and curl) as root with apt-get, once per machine; MODE (the value of the variable
# MODE_NAME) must be "auto", else the script stops naming them. Output goes to DIR/apt.log.
install_packages() {
  local mode_name=$1 mode=$2 dir=$3 marker=$4 seconds=$5
  shift 5
  local missing=("$@")
  [[ $mode == auto ]] || die "missing packages: ${missing[*]} ($mode_name=never)"
  [[ $(id -u) == 0 ]] || die "missing packages: ${missing[*]}; as root: apt-get install ${APT_PACKAGES[*]} curl"
  mkdir -p "$dir"
  touch "$marker"
  local apt_log="$dir/apt.log"
  log "installing ${APT_PACKAGES[*]} curl (once per machine, about $seconds s); output in $apt_log"
  export DEBIAN_FRONTEND=noninteractive
  apt_install() {
    apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      "${APT_PACKAGES[@]}" curl </dev/null >>"$apt_log" 2>&1
  }
  # A fresh machine often has no package lists, or lists old enough to point at files the
  # mirror no longer has: on failure refresh them and try once more.
  if ! apt_install; then
    log "apt-get install failed; running apt-get update and retrying"
    apt-get update -q -o DPkg::Lock::Timeout=300 </dev/null >>"$apt_log" 2>&1 ||
      die "apt-get update failed; see $apt_log"
    apt_install || die "apt-get install failed; see $apt_log"
  fi
  log "packages installed [$(since_start)]"
}
