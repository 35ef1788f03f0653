#!/bin/sh
# Installs every Debian 12 package that building, testing and benchmarking teehost needs.
# The README and .ci/run both call this script, so a fresh machine needs nothing else.
# Run as root (or through sudo); it is idempotent and quiet when everything is present.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)

PACKAGES="
  build-essential cmake pkg-config clang libclang-rt-14-dev
  liblua5.4-dev lua5.4 lua-check
  libuv1-dev libcurl4-openssl-dev ca-certificates curl
  libcjson-dev libsodium-dev libssl-dev libsecp256k1-dev
  libmicrohttpd-dev libsqlite3-dev libedit-dev
  libcmocka-dev tmux time
  nodejs
"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js and npm run the reference implementations in tests and benchmarks. NodeSource's nodejs
# ships npm inside it and conflicts with Debian's npm package, so npm is only added when absent.
command -v npm >/dev/null 2>&1 || missing="$missing npm"

# The npm reference verifier (@phala/dcap-qvl, pinned in tests/bench/package.json): the e2e tests
# check that it accepts the simulator's quotes, and the benchmarks run it side by side.
npm_refs() {
  [ -d "$ROOT/tests/bench/node_modules/@phala/dcap-qvl" ] && return 0
  (cd "$ROOT/tests/bench" && npm install --no-audit --no-fund --loglevel=error)
}

if [ -z "$missing" ]; then
  npm_refs
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing$missing"
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
npm_refs
