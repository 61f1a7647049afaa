#!/bin/sh
# run-payload.sh HVSIM PAYLOAD.elf STATUS EXPECTED_STDOUT [hvsim run options...]
# Runs the payload, checks its exit status and console output, then runs it
# a second time and requires a byte-identical trace (determinism).
set -u
hvsim=$1 elf=$2 want=$3 expected=$4
shift 4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$hvsim" run --no-progress --trace "$tmp/a.hvt" "$@" "$elf" >"$tmp/out" 2>"$tmp/err"
st=$?
if [ "$st" != "$want" ]; then
    echo "FAIL: exit status $st, expected $want"
    echo "--- stderr"; cat "$tmp/err"
    echo "--- stdout"; cat "$tmp/out"
    exit 1
fi
if ! diff -u "$expected" "$tmp/out" >"$tmp/diff"; then
    echo "FAIL: console output differs from $expected"
    cat "$tmp/diff"
    echo "--- stderr"; cat "$tmp/err"
    exit 1
fi
"$hvsim" run --no-progress --trace "$tmp/b.hvt" "$@" "$elf" >/dev/null 2>&1
da=$("$hvsim" trace digest "$tmp/a.hvt") || { echo "FAIL: trace does not validate: $da"; exit 1; }
db=$("$hvsim" trace digest "$tmp/b.hvt") || { echo "FAIL: second trace does not validate"; exit 1; }
da=${da%% *}
db=${db%% *}
if [ "$da" != "$db" ]; then
    echo "FAIL: nondeterministic: trace digests differ ($da vs $db)"
    "$hvsim" trace dump "$tmp/a.hvt" >"$tmp/a.txt"; "$hvsim" trace dump "$tmp/b.hvt" >"$tmp/b.txt"
    diff "$tmp/a.txt" "$tmp/b.txt" | head -20
    exit 1
fi
echo "ok: status $st, output as expected, trace $da"
