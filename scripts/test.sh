#!/bin/sh
# Runs the whole test suite — unit (cmocka), Lua, end-to-end, fuzz-corpus replay and luacheck —
# on a build with AddressSanitizer and UndefinedBehaviorSanitizer and warnings as errors.
# Extra arguments go to ctest (e.g. -R lua/ to run only the Lua tests). Ends with CTest's summary.
set -eu
cd "$(dirname "$0")/.."
build=${TEEHOST_TEST_BUILD:-build-test}
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DTEEHOST_SANITIZE=ON -DTEEHOST_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs"
cd "$build"
exec ctest --output-on-failure --timeout 300 -j "$jobs" "$@"
