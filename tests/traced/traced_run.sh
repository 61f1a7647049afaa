#!/bin/sh
# traced_run.sh HVSIM SCENARIO.xml — run a scenario twice with every
# instruction traced (--trace-insns) and require that it passes both times
# with the same trace (SHA-256 from `hvsim trace digest`).
#
# Instruction tracing changes how cpu/ meets sensitive instructions: the
# trace hook sees every instruction and hands sites to the site logic itself
# (cpu/cpu.c, cb_trace), so the scenarios' ordinary runs do not cover it.
set -u
hvsim=$1
xml=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hvsim-traced.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
for i in 1 2; do
    if ! "$hvsim" run --quiet --no-progress --trace "$tmp/t$i.hvt" --trace-insns "$xml" >"$tmp/out$i" 2>&1; then
        echo "traced run $i of $xml failed:"
        cat "$tmp/out$i"
        exit 1
    fi
    "$hvsim" trace digest "$tmp/t$i.hvt" >"$tmp/d$i.full" 2>&1 || { cat "$tmp/d$i.full"; exit 1; }
    cut -d' ' -f1 "$tmp/d$i.full" >"$tmp/d$i"
done
if ! cmp -s "$tmp/d1" "$tmp/d2"; then
    echo "the two traced runs of $xml differ:"
    cat "$tmp/d1" "$tmp/d2"
    exit 1
fi
if ! "$hvsim" trace dump "$tmp/t1.hvt" | grep -q ' insn '; then
    echo "the trace of $xml holds no instruction records"
    exit 1
fi
echo "traced: $xml passed twice, $(cat "$tmp/d1")"
