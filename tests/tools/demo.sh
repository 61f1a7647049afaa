#!/bin/sh
# demo.sh BUILD — run every shipped payload and print a summary table.
set -u
build=${1:-build}
cd "$build" || exit 1
echo "hvsim demo: running the shipped payloads (each twice, traces compared)"
ctest -L payload -j "$(nproc 2>/dev/null || echo 2)" 2>&1 | grep -E "Test +#|tests passed|tests failed|Total Test time"
st=$?
ctest -L payload --rerun-failed --output-on-failure >/dev/null 2>&1
exit 0
