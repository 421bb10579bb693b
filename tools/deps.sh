#!/bin/sh
# deps.sh - installs the Debian packages the project builds and tests with, through sudo
# when not root; does nothing when every one is present already.
set -eu
PKGS="build-essential pkg-config libhiredis-dev libevent-dev libcivetweb-dev libcjson-dev \
libcurl4-openssl-dev check redis-server redis-sentinel curl nodejs chromium wrk \
libxxhash-dev libssl-dev rsync"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Debian's nodejs comes without npm (a package of its own); NodeSource's bundles it.
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
