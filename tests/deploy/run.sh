#!/bin/sh
# run.sh - `make test-deploy`: installs the pinned validators (package-lock.json) into
# tests/deploy/node_modules when they are missing or stale, then runs the node tests of
# deploy/: the Kubernetes manifests and the systemd units.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "test-deploy: node and npm are needed (Debian: apt-get install nodejs npm)" >&2
    exit 1
fi
if [ ! -f "$here/node_modules/.package-lock.json" ] ||
   [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
cd "$here/../.."
exec node --test "$here/manifests.test.mjs" "$here/systemd.test.mjs"
