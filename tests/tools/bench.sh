#!/bin/bash
# bench.sh BUILD — `make bench`: guest MIPS of hvsim against Bochs and QEMU TCG.
#
# Workloads (tests/bench/):
#   alu           register-only ALU loop, 16 instructions per iteration
#   pagewalk      one load from each of 8192 4-KiB pages per pass (TLB misses),
#                 32772 instructions per pass
#   pagewalk-cr3  the same with a CR3 reload at the start of every pass, so that
#                 every load is a full page walk, 32774 instructions per pass
#   store         eight 8-byte stores per iteration into a 64-KiB buffer,
#                 13 instructions per iteration
#   ept           a guest reading one quadword per page of 32 MiB with EPT off,
#                 2-MiB and 4-KiB EPT pages (scenarios/payloads/vmx_ept_bench.c),
#                 in guest MIPS and as a ratio to EPT off (issue 6)
#   svmexit       AMD-V round trips (scenarios/payloads/svm_bench.c: a guest CPUID loop,
#                 each CPUID intercepted, the host runs VMRUN again) in round trips per
#                 second, against QEMU TCG (-cpu max,vendor=AuthenticAMD) and Bochs's ryzen,
#                 both through the differential boot shim like vmexit's Bochs figure
#                 (QEMU timed by the run time `hvsim differential -v` reports, 0.1 s
#                 resolution, hence 20x the counts, for every engine)
#   vmexit        VM-exit round trips (scenarios/payloads/vmx_bench.c: a guest
#                 CPUID loop under a VMX host that resumes after every exit,
#                 with a hypervisor's exit path), in round trips per second,
#                 without VPID (every entry and exit invalidates translations)
#   vmexit-vpid   the same with the guest on VPID 1, as hypervisors run guests
#                 (nothing invalidated). hvsim runs the built payload;
#                 Bochs runs the same payload through the differential boot
#                 shim (`hvsim differential --impl bochs`, tests/differential),
#                 which checks its output once; the timed Bochs runs then
#                 start from that run's directory without the debugger
#                 breakpoints the differential stops Bochs with, and end at
#                 the payload's BENCH line (bochs_timed below).
# Each is assembled as an hvsim ELF payload and as a boot floppy (real mode ->
# long mode -> the same loop code) for Bochs and QEMU.
#
# Every engine runs each workload with a small and a large iteration count
# (small = large / 20), alternately, several times; one run pair gives
#   MIPS = (insns_large - insns_small) / (t_large - t_small)
# so boot and set-up time cancel. Times are wall-clock, taken here. Every run's
# checksum is checked (ALU: the same code run natively; page walk: closed
# form). The iteration counts are fixed per engine so that the large run does
# about 2 s of work on the development machine.
#
# Environment: BENCH_RUNS (default 5), BENCH_VX_RUNS (the vmexit and
# vmexit-vpid pairs of hvsim and Bochs runs, default 9), BENCH_TRACE_RUNS (default 3),
# BENCH_SCALE (percent of the iteration counts, default 100),
# BENCH_MIPS_WORKLOADS (the MIPS workloads to run, default "alu pagewalk
# pagewalk-cr3 store"; empty: none, only the round-trip and EPT figures), CC, BOCHS and
# QEMU (the commands, default bochs and qemu-system-x86_64).
# Exit status: 0 all runs correct and hvsim (tracing off) at least as fast as
# Bochs on every MIPS workload; 1 otherwise; 2 bad usage. The VM-exit figures
# are reported, not required.
set -u

build=${1:-}
if [ -z "$build" ] || [ ! -x "$build/hvsim" ]; then
    echo "usage: tests/tools/bench.sh BUILD_DIR   (BUILD_DIR/hvsim must exist: make build)" >&2
    exit 2
fi
build=$(cd "$build" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
src=$root/tests/bench
hvsim=$build/hvsim
work=$build/bench
CC=${CC:-cc}
RUNS=${BENCH_RUNS:-5}
TRACE_RUNS=${BENCH_TRACE_RUNS:-3}
SCALE=${BENCH_SCALE:-100}
BOCHS=${BOCHS:-bochs}
QEMU=${QEMU:-qemu-system-x86_64}
VX_RUNS=${BENCH_VX_RUNS:-9}

for v in RUNS:BENCH_RUNS TRACE_RUNS:BENCH_TRACE_RUNS SCALE:BENCH_SCALE VX_RUNS:BENCH_VX_RUNS; do
    n=${v%%:*}
    val=${!n}
    case $val in
        ''|*[!0-9]*|0) echo "bench.sh: ${v#*:} must be a positive whole number (got '$val')" >&2; exit 2 ;;
    esac
done
mkdir -p "$work/img"
rm -f "$work"/img/*.elf "$work"/img/*.img
tmp=$(mktemp -d "$work/run.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

WORKLOADS=${BENCH_MIPS_WORKLOADS-alu pagewalk pagewalk-cr3 store}
ENGINES="hvsim hvsim-trace bochs qemu"

declare -A SRC FLAGS PER_ITER ITERS
SRC[alu]=alu.S           FLAGS[alu]=""           PER_ITER[alu]=16
SRC[pagewalk]=pagewalk.S FLAGS[pagewalk]=""      PER_ITER[pagewalk]=32772
SRC[pagewalk-cr3]=pagewalk.S FLAGS[pagewalk-cr3]="-DFLUSH=1" PER_ITER[pagewalk-cr3]=32774
SRC[store]=store.S       FLAGS[store]=""         PER_ITER[store]=13

# large iteration counts (~2 s of work each on the development machine)
ITERS[hvsim:alu]=60000000        ITERS[hvsim:pagewalk]=8000      ITERS[hvsim:pagewalk-cr3]=120
ITERS[hvsim-trace:alu]=250000    ITERS[hvsim-trace:pagewalk]=150 ITERS[hvsim-trace:pagewalk-cr3]=60
ITERS[bochs:alu]=6000000         ITERS[bochs:pagewalk]=400       ITERS[bochs:pagewalk-cr3]=400
ITERS[qemu:alu]=300000000        ITERS[qemu:pagewalk]=1200       ITERS[qemu:pagewalk-cr3]=1500
ITERS[hvsim:store]=20000000      ITERS[hvsim-trace:store]=250000  ITERS[bochs:store]=6000000
ITERS[qemu:store]=100000000

declare -A LABEL=([hvsim]="hvsim" [hvsim-trace]="hvsim --trace-insns" [bochs]="Bochs 2.7" [qemu]="QEMU TCG")

failed=0
fail() { echo "bench: FAIL: $*"; failed=1; }

now() {
    if [ -n "${EPOCHREALTIME:-}" ]; then echo "$EPOCHREALTIME"; else date +%s.%N; fi
}

# ---- tools ----
have_bochs=1 have_qemu=1
bochs_share=${BXSHARE:-/usr/share/bochs}
if ! command -v "$BOCHS" >/dev/null 2>&1 || [ ! -e "$bochs_share/BIOS-bochs-latest" ] ||
   [ ! -e "$bochs_share/VGABIOS-lgpl-latest" ]; then
    have_bochs=0
    echo "bench: Bochs ($BOCHS) is not installed (or its BIOS files are missing): Bochs figures skipped"
    echo "       (Debian: apt-get install bochs bochsbios vgabios bochs-term)"
fi
if ! command -v "$QEMU" >/dev/null 2>&1; then
    have_qemu=0
    echo "bench: QEMU ($QEMU) is not installed: QEMU figures skipped"
    echo "       (Debian: apt-get install qemu-system-x86)"
fi

# ---- images ----
# image WORKLOAD ITER KIND(elf|img) -> prints the path; built if needed
image() {
    local wl=$1 iter=$2 kind=$3 out o
    out=$work/img/$wl-$iter.$kind
    o=$tmp/$wl-$iter-$kind.o
    if [ "$kind" = elf ]; then
        $CC -c -DITER="$iter" ${FLAGS[$wl]} -I"$src" "$src/${SRC[$wl]}" -o "$o" &&
        $CC -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-z,noexecstack -Wl,-z,max-page-size=4096 \
            -Wl,-T,"$root/scenarios/lib/payload.ld" "$o" -o "$out" || return 1
    else
        $CC -c -DITER="$iter" -DBENCH_FLOPPY ${FLAGS[$wl]} -I"$src" "$src/${SRC[$wl]}" -o "$o" &&
        $CC -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-T,"$src/floppy.ld" "$o" -o "$out" &&
        truncate -s 1474560 "$out" || return 1
    fi
    echo "$out"
}

# expected WORKLOAD ITER -> the checksum every engine must print
expected() {
    local wl=$1 iter=$2 ref=$tmp/ref-$1-$2
    if [ "$wl" = alu ] || [ "$wl" = store ]; then
        if [ ! -s "$ref.out" ]; then
            $CC -O2 -DBENCH_HOST -DITER="$iter" -I"$src" "$src/host_ref.c" "$src/${SRC[$wl]}" -o "$ref" &&
            "$ref" >"$ref.out" || return 1
        fi
        sed -n 's/^BENCH \([0-9a-f]*\)$/\1/p' "$ref.out"
    else
        # page i holds (i + 1) * K; a pass sums them: K * 8192 * 8193 / 2
        printf '%016x\n' $(( iter * 0x9e3779b97f4a7c15 * (8192 * 8193 / 2) ))
    fi
}

# ---- one run ----
# run ENGINE IMAGE EXPECTED_CHECKSUM -> sets $elapsed (seconds); status 0 if correct
elapsed=0
run() {
    local engine=$1 img=$2 want=$3 st t0 t1 out=$tmp/out err=$tmp/err
    rm -f "$out" "$err" "$tmp/t.hvt"
    case $engine in
    hvsim)
        t0=$(now)
        timeout -s KILL 300 "$hvsim" run --no-progress "$img" >"$out" 2>"$err"; st=$?
        t1=$(now) ;;
    hvsim-trace)
        t0=$(now)
        timeout -s KILL 300 "$hvsim" run --no-progress --trace "$tmp/t.hvt" --trace-insns "$img" >"$out" 2>"$err"; st=$?
        t1=$(now)
        rm -f "$tmp/t.hvt" ;;
    bochs)
        cat >"$tmp/bochsrc" <<EOF
megs: 128
romimage: file=$bochs_share/BIOS-bochs-latest
vgaromimage: file=$bochs_share/VGABIOS-lgpl-latest
floppya: 1_44=$img, status=inserted
boot: floppy
display_library: term
port_e9_hack: enabled=1
log: $tmp/bochs.log
clock: sync=none, time0=946684800
cpu: model=corei7_skylake_x, reset_on_triple_fault=0
sound: driver=dummy
speaker: enabled=0
EOF
        echo c >"$tmp/cont.rc"
        t0=$(now)
        TERM=dumb timeout -s KILL 300 "$BOCHS" -q -f "$tmp/bochsrc" -rc "$tmp/cont.rc" </dev/null >"$out" 2>"$err"; st=$?
        t1=$(now) ;;
    qemu)
        t0=$(now)
        timeout -s KILL 300 "$QEMU" -accel tcg -display none -no-reboot -m 128 \
            -drive file="$img",format=raw,if=floppy -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
            -debugcon file:"$out" -serial none -monitor none -parallel none </dev/null 2>"$err"; st=$?
        t1=$(now) ;;
    esac
    elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    local got
    got=$(grep -a -o 'BENCH [0-9a-f]\{16\}' "$out" 2>/dev/null | head -1 | cut -c7-)
    if [ "$st" != 1 ] || [ "$got" != "$want" ]; then
        echo "    $engine $(basename "$img"): exit status $st (expected 1), checksum '${got:-none}' (expected $want)"
        grep -a -v '^0000' "$err" 2>/dev/null | grep -a -i -E "error|panic|not available|status|unmodelled|fault|>>" | head -5 | sed 's/^/      /'
        if [ "$engine" = bochs ]; then
            grep -q "display library 'term' not available" "$err" 2>/dev/null &&
                echo "      Bochs lacks its term display library (Debian: apt-get install bochs-term)"
            [ -f "$tmp/bochs.log" ] && tail -3 "$tmp/bochs.log" | sed 's/^/      bochs.log: /'
        fi
        return 1
    fi
    return 0
}

# ---- the exact instruction counts, from hvsim's own retired-instruction count ----
check_counts() {
    local wl a b na nb
    for wl in $WORKLOADS; do
        a=$(image "$wl" 1 elf) && b=$(image "$wl" 3 elf) || { fail "cannot build $wl"; continue; }
        "$hvsim" run --no-progress --quiet --trace "$tmp/c1.hvt" "$a" >/dev/null 2>&1
        "$hvsim" run --no-progress --quiet --trace "$tmp/c3.hvt" "$b" >/dev/null 2>&1
        na=$("$hvsim" trace dump "$tmp/c1.hvt" 2>/dev/null | sed -n 's/.* end .*insns=\([0-9]*\).*/\1/p')
        nb=$("$hvsim" trace dump "$tmp/c3.hvt" 2>/dev/null | sed -n 's/.* end .*insns=\([0-9]*\).*/\1/p')
        rm -f "$tmp/c1.hvt" "$tmp/c3.hvt"
        if [ -z "$na" ] || [ -z "$nb" ] || [ $(( (nb - na) / 2 )) != "${PER_ITER[$wl]}" ] ||
           [ $(( (nb - na) % 2 )) != 0 ]; then
            fail "$wl: hvsim retired ${na:-?} (ITER=1) and ${nb:-?} (ITER=3) instructions; expected a difference of 2 x ${PER_ITER[$wl]}"
        else
            printf '  %-13s %6d instructions per iteration (hvsim retired %d and %d for ITER 1 and 3)\n' \
                "$wl" "${PER_ITER[$wl]}" "$na" "$nb"
        fi
    done
}

# ---- one engine x workload ----
# prepare ENGINE WORKLOAD: images and checksums for the small and large counts
declare -A IMG_L IMG_S WANT_L WANT_S DN ITER_L ITER_S LIST MED MIN MAX NRUNS BROKEN
prepare() {
    local engine=$1 wl=$2 k=$1:$2 large small kind=img
    large=$(( ${ITERS[$k]} * SCALE / 100 )); [ "$large" -lt 20 ] && large=20
    small=$(( large / 20 ))
    case $engine in hvsim*) kind=elf ;; esac
    IMG_L[$k]=$(image "$wl" "$large" $kind) && IMG_S[$k]=$(image "$wl" "$small" $kind) ||
        { fail "$engine $wl: cannot build the images"; BROKEN[$k]=1; return; }
    WANT_L[$k]=$(expected "$wl" "$large") && WANT_S[$k]=$(expected "$wl" "$small") &&
        [ -n "${WANT_L[$k]}" ] && [ -n "${WANT_S[$k]}" ] ||
        { fail "$wl: no reference checksum"; BROKEN[$k]=1; return; }
    ITER_L[$k]=$large ITER_S[$k]=$small
    DN[$k]=$(( (large - small) * ${PER_ITER[$wl]} ))
    LIST[$k]=""
}

# pair ENGINE WORKLOAD I N: one small and one large run -> one MIPS figure
pair() {
    local engine=$1 wl=$2 i=$3 n=$4 k=$1:$2 tS tL mips
    [ -z "${BROKEN[$k]:-}" ] || return
    run "$engine" "${IMG_S[$k]}" "${WANT_S[$k]}" ||
        { fail "$engine $wl (ITER ${ITER_S[$k]}) run $i"; BROKEN[$k]=1; return; }
    tS=$elapsed
    run "$engine" "${IMG_L[$k]}" "${WANT_L[$k]}" ||
        { fail "$engine $wl (ITER ${ITER_L[$k]}) run $i"; BROKEN[$k]=1; return; }
    tL=$elapsed
    mips=$(awk -v n="${DN[$k]}" -v a="$tS" -v b="$tL" 'BEGIN { if (b > a) printf "%.3f", n / (b - a) / 1e6; else print "x" }')
    if [ "$mips" = x ]; then
        fail "$engine $wl run $i: the large run ($tL s) was not slower than the small one ($tS s)"
        BROKEN[$k]=1; return
    fi
    printf '  %-20s %-13s run %d/%d: ITER %d %.3f s, ITER %d %.3f s -> %10.3f MIPS (checksums ok)\n' \
        "${LABEL[$engine]}" "$wl" "$i" "$n" "${ITER_S[$k]}" "$tS" "${ITER_L[$k]}" "$tL" "$mips"
    LIST[$k]="${LIST[$k]} $mips"
}

finish() {
    local k=$1:$2
    [ -z "${BROKEN[$k]:-}" ] && [ -n "${LIST[$k]:-}" ] || return
    read -r MED[$k] MIN[$k] MAX[$k] NRUNS[$k] < <(echo ${LIST[$k]} | tr ' ' '\n' | sort -g |
        awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
                                  printf "%.3f %.3f %.3f %d\n", m, v[1], v[NR], NR }')
}

echo "hvsim bench: guest MIPS, hvsim ($build) against Bochs and QEMU TCG"
echo "host: $(uname -m), $(nproc 2>/dev/null || echo '?') CPUs, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //')"
echo "instruction counts (checked against hvsim's retired-instruction count):"
check_counts
echo
# engines in use; runs alternate between them (round-robin) so that a change
# in the host's speed during the benchmark hits all of them alike
active="hvsim hvsim-trace"
[ $have_bochs = 1 ] && active="$active bochs"
[ $have_qemu = 1 ] && active="$active qemu"
echo "runs: $RUNS per engine ($TRACE_RUNS with --trace-insns), each a pair: small and large iteration count"
for wl in $WORKLOADS; do
    echo "workload $wl (${PER_ITER[$wl]} instructions per iteration):"
    for engine in $active; do prepare "$engine" "$wl"; done
    for i in $(seq 1 "$RUNS"); do
        for engine in $active; do
            if [ "$engine" = hvsim-trace ]; then
                [ "$i" -le "$TRACE_RUNS" ] && pair "$engine" "$wl" "$i" "$TRACE_RUNS"
            else
                pair "$engine" "$wl" "$i" "$RUNS"
            fi
        done
    done
    for engine in $active; do finish "$engine" "$wl"; done
done

# ---- the table ----
ratio() { # a b -> a/b formatted, or -
    if [ -n "$1" ] && [ -n "$2" ]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3gx", a / b }'; else echo "-"; fi
}
echo
echo "Guest MIPS (median of the runs; range min-max; boot and set-up removed)"
printf '%-20s %-13s %4s %12s %21s %12s %12s\n' engine workload runs "median MIPS" "range (min-max)" "vs Bochs" "vs QEMU"
for wl in $WORKLOADS; do
    for engine in $ENGINES; do
        k=$engine:$wl
        [ -n "${MED[$k]:-}" ] || { 
            case $engine in bochs) [ $have_bochs = 1 ] || continue ;; qemu) [ $have_qemu = 1 ] || continue ;; esac
            printf '%-20s %-13s %4s %12s\n' "${LABEL[$engine]}" "$wl" - failed; continue; }
        vb=- vq=-
        case $engine in hvsim*)
            vb=$(ratio "${MED[$k]}" "${MED[bochs:$wl]:-}")
            vq=$(ratio "${MED[$k]}" "${MED[qemu:$wl]:-}") ;;
        esac
        printf '%-20s %-13s %4d %12.2f %21s %12s %12s\n' "${LABEL[$engine]}" "$wl" "${NRUNS[$k]}" "${MED[$k]}" \
            "$(printf '%.2f-%.2f' "${MIN[$k]}" "${MAX[$k]}")" "$vb" "$vq"
    done
done
echo "(vs Bochs / vs QEMU: hvsim's median divided by that engine's median)"

# ---- the requirement: hvsim with tracing off is not slower than Bochs ----
echo
for wl in $WORKLOADS; do
    h=${MED[hvsim:$wl]:-} b=${MED[bochs:$wl]:-}
    if [ -z "$h" ] || [ -z "$b" ]; then
        echo "requirement  $wl: not checked (missing figures)"
    elif awk -v h="$h" -v b="$b" 'BEGIN { exit !(h >= b) }'; then
        echo "requirement  $wl: ok, hvsim $h MIPS >= Bochs $b MIPS"
    else
        echo "requirement  $wl: NOT MET, hvsim $h MIPS is slower than Bochs $b MIPS"
        failed=1
    fi
done
# ---- VM-exit round trips ----
# rt_hvsim N -> sets $elapsed; status 0 if the payload ran N round trips
rt_hvsim() {
    local n=$1 st t0 t1 out=$tmp/vx.out
    t0=$(now)
    timeout -s KILL 300 "$hvsim" run --no-progress --cmdline "$n$VX_SUF" "$build/payloads/vmx_bench.elf" >"$out" 2>&1; st=$?
    t1=$(now)
    elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    if [ "$st" != 1 ] || ! grep -q "^BENCH vmexit $n round trips, reason sum $((10 * n))\$" "$out"; then
        echo "    hvsim vmx_bench $n: exit status $st (expected 1) or no 'BENCH vmexit $n round trips' line"
        grep -a -v '^BENCH' "$out" | head -3 | sed 's/^/      /'
        return 1
    fi
    return 0
}
# Bochs runs a payload through the differential boot shim. `hvsim differential`
# stops Bochs with debugger breakpoints at the payload's exit points, and a
# breakpoint makes Bochs's debugger check every instruction (measured on
# vmx_bench: 160,000 round trips took 2.2-2.5 s with them, 1.7-2.1 s without).
# So the differential runs once, to check that Bochs prints what hvsim prints
# and to leave its Bochs runs' directories (bochsrc, disk image); each timed
# run then starts Bochs there with no breakpoint and stops it when the
# payload's BENCH line arrives.
#
# bochs_prepare DIR WHAT SMALL LARGE: run `hvsim differential --impl bochs
# --keep-work` on DIR's scenarios; sets $bdS and $bdL, the Bochs run
# directories whose output holds "BENCH WHAT SMALL round trips" and
# "... LARGE ..."; status 1 when Bochs did not match hvsim
bochs_prepare() {
    local d=$1 what=$2 k out=$tmp/bx-prep.out
    TMPDIR=$tmp "$hvsim" differential --impl bochs --bochs "$BOCHS" -v --keep-work --timeout 300 "$d" >"$out" 2>&1
    local wd
    wd=$(sed -n 's/^work directory kept: //p' "$out")
    bdS="" bdL=""
    if ! grep -q "^bochs  *2 " "$out" || [ -z "$wd" ]; then
        grep -E "DIFFERS|skipped|bochs|could not" "$out" | head -6 | sed 's/^/      /'
        return 1
    fi
    for k in "$wd"/r*-bochs; do
        grep -q "^BENCH $what $3 round trips" "$k/stdout" 2>/dev/null && bdS=$k
        grep -q "^BENCH $what $4 round trips" "$k/stdout" 2>/dev/null && bdL=$k
    done
    [ -n "$bdS" ] && [ -n "$bdL" ]
}
# bochs_timed RUNDIR LINE -> sets $elapsed: Bochs started in RUNDIR with the
# debugger's `c` only, from its start until it prints LINE (then killed);
# status 1 when it ended or took 300 s without printing it
bochs_timed() {
    local d=$1 line=$2 fifo=$tmp/bx.fifo pid t0 t1 got
    rm -f "$fifo" "$d/disk.img.lock"
    mkfifo "$fifo" || return 1
    echo c >"$d/cont.rc"
    t0=$(now)
    (cd "$d" && TERM=dumb exec "$BOCHS" -q -f bochsrc -rc cont.rc </dev/null >"$fifo" 2>/dev/null) &
    pid=$!
    # (bash's read: mawk would wait for a full input buffer)
    got=$(timeout 300 bash -c 'while IFS= read -r l; do case $l in "$1"*) echo yes; exit 0 ;; esac; done' - "$line" <"$fifo")
    t1=$(now)
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$fifo" "$d/disk.img.lock"
    elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    [ "$got" = yes ]
}
# vx_scenarios DIR SMALL LARGE: the two vmx_bench scenarios for the differential
vx_scenarios() {
    local d=$1 n
    rm -rf "$d"; mkdir -p "$d"
    for n in "$2" "$3"; do
        printf '%s\n' '<?xml version="1.0"?>' \
            '<scenario xmlns="urn:hvsim:scenario:1" version="1">' \
            "  <description>make bench: $n VM-exit round trips (guest CPUID, the host resumes)</description>" \
            "  <payload elf=\"vmx_bench\" cmdline=\"$n$VX_SUF\"/>" \
            '  <expect>' '    <exit status="1" end="exit-device"/>' \
            "    <console mode=\"contains\"><line>BENCH vmexit $n round trips, reason sum $((10 * n))</line></console>" \
            '  </expect>' '</scenario>' >"$d/vmx-bench-$n.xml"
    done
}
# hvsim_pair WORKLOAD RUNNER I: one pair of hvsim runs (VXB_S and VXB_L round
# trips, RUNNER sets $elapsed); prints the run and sets $r (round trips per
# second); status 1 (after `fail`) when a run failed or the large one was not slower
hvsim_pair() {
    local wl=$1 runner=$2 i=$3 tS tL
    "$runner" "$VXB_S" || { fail "hvsim $wl ($VXB_S round trips) run $i"; return 1; }
    tS=$elapsed
    "$runner" "$VXB_L" || { fail "hvsim $wl ($VXB_L round trips) run $i"; return 1; }
    tL=$elapsed
    r=$(awk -v n=$((VXB_L - VXB_S)) -v a="$tS" -v b="$tL" 'BEGIN { if (b > a) printf "%.0f", n / (b - a); else print "x" }')
    [ "$r" = x ] && { fail "hvsim $wl run $i: the large run was not slower"; return 1; }
    printf '  %-20s %-13s run %d/%d: %d trips %.3f s, %d trips %.3f s -> %8d round trips/s\n' \
        hvsim "$wl" "$i" "$RUNS" "$VXB_S" "$tS" "$VXB_L" "$tL" "$r"
}
VX_S=$(( 2000 * SCALE / 100 )); [ "$VX_S" -lt 100 ] && VX_S=100
VX_L=$(( VX_S * 10 ))
VXB_S=$(( VX_S * 20 )) VXB_L=$(( VX_L * 20 ))   # every engine: 20x, for Bochs's and QEMU's 0.1-s timing
med() { echo $1 | tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.0f %.0f %.0f %d\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR], NR }'; }
# vx_workload NAME SUFFIX: hvsim and Bochs take turns running vmx_bench with
# the command-line words SUFFIX (VX_SUF), the same round-trip counts, so that
# a busy stretch of a shared host weighs on both alike; the medians go to
# VXM[NAME] and VXBM[NAME] (VXR[NAME]: the table rows)
declare -A VXR
vx_workload() {
    local wl=$1 i vx_note="" vx_bochs=1 VX_LIST="" VXB_LIST="" vx_dS="" vx_dL="" bS bL vxm vxmin vxmax vxn vxbm="" vxbmin vxbmax vxbn
    local hr PR_LIST="" pr_wins=0 pr_n=0 prm
    local RUNS=$VX_RUNS                      # (hvsim_pair's count)
    VX_SUF=$2
    echo
    echo "workload $wl (VM-exit round trips: guest CPUID -> VM exit -> host VMRESUME; vmx_bench \"N$VX_SUF\"):"
    if [ $have_bochs = 0 ]; then
        vx_note="no Bochs figure: Bochs is not installed"; vx_bochs=0
    elif ! "$hvsim" differential --help >/dev/null 2>&1 || [ ! -e "$build/differential/shim.bin" ]; then
        vx_note="no Bochs figure: it needs the differential boot shim ($build/differential/shim.bin and 'hvsim differential')"; vx_bochs=0
    fi
    if [ $vx_bochs = 1 ]; then
        vx_scenarios "$tmp/vx-scn" "$VXB_S" "$VXB_L"
        if bochs_prepare "$tmp/vx-scn" vmexit "$VXB_S" "$VXB_L"; then
            vx_dS=$bdS vx_dL=$bdL
        else
            vx_note="no Bochs figure: 'hvsim differential --impl bochs' did not run vmx_bench (above)"; vx_bochs=0
        fi
    fi
    for i in $(seq 1 "$RUNS"); do
        hvsim_pair "$wl" rt_hvsim "$i" || break
        VX_LIST="$VX_LIST $r"
        hr=$r
        [ $vx_bochs = 1 ] || continue
        if ! bochs_timed "$vx_dS" "BENCH vmexit $VXB_S round trips, reason sum $((10 * VXB_S))"; then
            vx_note="no Bochs figure: Bochs did not print its BENCH line"; vx_bochs=0; continue
        fi
        bS=$elapsed
        if ! bochs_timed "$vx_dL" "BENCH vmexit $VXB_L round trips, reason sum $((10 * VXB_L))"; then
            vx_note="no Bochs figure: Bochs did not print its BENCH line"; vx_bochs=0; continue
        fi
        bL=$elapsed
        r=$(awk -v n=$((VXB_L - VXB_S)) -v a="$bS" -v b="$bL" 'BEGIN { if (b > a) printf "%.0f", n / (b - a); else print "x" }')
        [ "$r" = x ] && { vx_note="no Bochs figure: its large run was not slower"; vx_bochs=0; continue; }
        printf '  %-20s %-13s run %d/%d: %d trips %.3f s, %d trips %.3f s -> %8d round trips/s\n' \
            "${LABEL[bochs]}" "$wl" "$i" "$RUNS" "$VXB_S" "$bS" "$VXB_L" "$bL" "$r"
        VXB_LIST="$VXB_LIST $r"
        # the pair taken back to back: a busy stretch of the host weighs on both
        PR_LIST="$PR_LIST $(awk -v h="$hr" -v b="$r" 'BEGIN { printf "%.3f", h / b }')"
        pr_n=$((pr_n + 1))
        [ "$hr" -gt "$r" ] && pr_wins=$((pr_wins + 1))
    done
    vxm=""
    [ -n "$VX_LIST" ] && read -r vxm vxmin vxmax vxn < <(med "$VX_LIST")
    [ -n "$VXB_LIST" ] && read -r vxbm vxbmin vxbmax vxbn < <(med "$VXB_LIST")
    if [ -n "$vxm" ]; then
        VXR[$wl]=$(printf '%-20s %-13s %4d %12d %21s %12s' hvsim "$wl" "$vxn" "$vxm" "$vxmin-$vxmax" "$(ratio "$vxm" "$vxbm")")
    else
        VXR[$wl]=$(printf '%-20s %-13s %4s %12s' hvsim "$wl" - failed)
    fi
    [ -n "$vxbm" ] && VXR[$wl]+=$'\n'$(printf '%-20s %-13s %4d %12d %21s %12s' "${LABEL[bochs]}" "$wl" "$vxbn" "$vxbm" "$vxbmin-$vxbmax" -)
    if [ "$pr_n" -gt 0 ]; then
        read -r prm _ < <(med "$(echo $PR_LIST | tr ' ' '\n' | awk '{ printf "%d ", $1 * 1000 }')")
        VXR[$wl]+=$'\n'"($wl run by run, hvsim/Bochs:$PR_LIST; median $(awk -v m="$prm" 'BEGIN { printf "%.3g", m / 1000 }')x; hvsim faster in $pr_wins of $pr_n pairs)"
    fi
    [ -n "$vx_note" ] && VXR[$wl]+=$'\n'"($wl: $vx_note)"
    return 0
}
# without VPID every VM entry and exit invalidates the translations (SDM 3C
# 29.4.3); with it (as hypervisors run guests) they stay
vx_workload vmexit ""
vx_workload vmexit-vpid " vpid"
echo
echo "VM-exit round trips per second (median; range min-max; boot and set-up removed)"
printf '%-20s %-13s %4s %12s %21s %12s\n' engine workload runs "median/s" "range (min-max)" "vs Bochs"
echo "${VXR[vmexit]}"
echo "${VXR[vmexit-vpid]}"
echo "(reported, not required: docs/cpu-mmu.md \"VM entry and exit\" has the figures and where the time goes)"

# ---- AMD-V round trips (issue 7): guest CPUID intercepted, the host runs VMRUN again ----
svm_hvsim() {
    local n=$1 st t0 t1 out=$tmp/svm.out
    t0=$(now)
    timeout -s KILL 300 "$hvsim" run --cpu amd --no-progress --cmdline "$n" "$build/payloads/svm_bench.elf" >"$out" 2>&1; st=$?
    t1=$(now)
    elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    if [ "$st" != 1 ] || ! grep -q "^BENCH svmexit $n round trips, exit code sum $((0x72 * n))\$" "$out"; then
        echo "    hvsim svm_bench $n: exit status $st (expected 1) or no 'BENCH svmexit $n round trips' line"
        grep -a -v '^BENCH' "$out" | head -3 | sed 's/^/      /'
        return 1
    fi
    return 0
}
# svm_scenarios DIR SMALL LARGE: the two svm_bench scenarios for the differential
svm_scenarios() {
    local d=$1 n
    rm -rf "$d"; mkdir -p "$d"
    for n in "$2" "$3"; do
        printf '%s\n' '<?xml version="1.0"?>' \
            '<scenario xmlns="urn:hvsim:scenario:1" version="1">' \
            "  <description>make bench: $n AMD-V round trips (guest CPUID intercepted, the host runs VMRUN again)</description>" \
            '  <machine cpu="amd"/>' \
            "  <payload elf=\"svm_bench\" cmdline=\"$n\"/>" \
            '  <expect>' '    <exit status="1" end="exit-device"/>' \
            "    <console mode=\"contains\"><line>BENCH svmexit $n round trips, exit code sum $((0x72 * n))</line></console>" \
            '  </expect>' '</scenario>' >"$d/svm-bench-$n.xml"
    done
}
# svm_qemu SMALL LARGE: svm_bench on QEMU TCG through the differential boot
# shim (QEMU ends at the shim's exit device: no breakpoints); sets $qS and
# $qL, the run times `hvsim differential -v` reports (0.1 s resolution);
# status 1 unless both runs matched hvsim's
svm_qemu() {
    local d=$tmp/svm-scn
    svm_scenarios "$d" "$1" "$2"
    "$hvsim" differential --impl qemu --qemu "$QEMU" -v --timeout 300 "$d" >"$tmp/svm-diff.out" 2>&1
    qS=$(awk -v f="svm-bench-$1.xml" 'index($0, f) { s = 1; next } s && $1 == "qemu" && $2 == "same" { gsub(/[][]/, ""); print $(NF - 1); exit }' "$tmp/svm-diff.out")
    qL=$(awk -v f="svm-bench-$2.xml" 'index($0, f) { s = 1; next } s && $1 == "qemu" && $2 == "same" { gsub(/[][]/, ""); print $(NF - 1); exit }' "$tmp/svm-diff.out")
    if [ -z "$qS" ] || [ -z "$qL" ]; then
        grep -E "DIFFERS|skipped|qemu |could not|not found" "$tmp/svm-diff.out" | head -6 | sed 's/^/      /'
        return 1
    fi
}
declare -A SVX_LABEL=([qemu]="qemu (AMD max)" [bochs]="bochs (ryzen)")
echo
echo "workload svmexit (AMD-V round trips: guest CPUID -> #VMEXIT -> host VMRUN):"
SV_LIST="" sv_note=""
declare -A SVO_LIST SVO_NOTE
# QEMU TCG and Bochs: the same payload through the differential boot shim (QEMU: -cpu
# max,vendor=AuthenticAMD, sim/differential.c; Bochs: ryzen, timed without breakpoints
# as for vmexit). svm_bench moves the guest past CPUID by nRIP only where CPUID says
# NRIP save, which QEMU TCG lacks. The engines take turns with the same round-trip
# counts (as for vmexit).
sv_qemu=1 sv_bochs=1
[ $have_qemu = 0 ] && { SVO_NOTE[qemu]="no QEMU figure: QEMU is not installed"; sv_qemu=0; }
[ $have_bochs = 0 ] && { SVO_NOTE[bochs]="no Bochs figure: Bochs is not installed"; sv_bochs=0; }
if [ ! -e "$build/differential/shim.bin" ]; then
    for e in qemu bochs; do SVO_NOTE[$e]="no $e figure: the differential shim ($build/differential/shim.bin) is missing"; done
    sv_qemu=0 sv_bochs=0
fi
if [ $sv_bochs = 1 ]; then
    svm_scenarios "$tmp/svb-scn" "$VXB_S" "$VXB_L"
    if bochs_prepare "$tmp/svb-scn" svmexit "$VXB_S" "$VXB_L"; then
        sv_dS=$bdS sv_dL=$bdL
    else
        SVO_NOTE[bochs]="no Bochs figure: 'hvsim differential --impl bochs' did not run svm_bench (above)"; sv_bochs=0
    fi
fi
# sv_other ENGINE I S_SECONDS L_SECONDS: one run pair of QEMU or Bochs
sv_other() {
    r=$(awk -v n=$((VXB_L - VXB_S)) -v a="$3" -v b="$4" 'BEGIN { if (b > a) printf "%.0f", n / (b - a); else print "x" }')
    if [ "$r" = x ]; then
        SVO_NOTE[$1]="no $1 figure: its large run was not slower"
        return 1
    fi
    printf '  %-20s %-13s run %d/%d: %d trips %.3f s, %d trips %.3f s -> %8d round trips/s\n' \
        "${SVX_LABEL[$1]}" svmexit "$2" "$RUNS" "$VXB_S" "$3" "$VXB_L" "$4" "$r"
    SVO_LIST[$1]="${SVO_LIST[$1]:-} $r"
}
for i in $(seq 1 "$RUNS"); do
    hvsim_pair svmexit svm_hvsim "$i" || break
    SV_LIST="$SV_LIST $r"
    if [ $sv_qemu = 1 ]; then
        if svm_qemu "$VXB_S" "$VXB_L"; then
            sv_other qemu "$i" "$qS" "$qL" || sv_qemu=0
        else
            SVO_NOTE[qemu]="no qemu figure: 'hvsim differential --impl qemu' did not run svm_bench (above)"; sv_qemu=0
        fi
    fi
    if [ $sv_bochs = 1 ]; then
        if bochs_timed "$sv_dS" "BENCH svmexit $VXB_S round trips, exit code sum $((0x72 * VXB_S))" && bS=$elapsed &&
           bochs_timed "$sv_dL" "BENCH svmexit $VXB_L round trips, exit code sum $((0x72 * VXB_L))"; then
            sv_other bochs "$i" "$bS" "$elapsed" || sv_bochs=0
        else
            SVO_NOTE[bochs]="no Bochs figure: Bochs did not print its BENCH line"; sv_bochs=0
        fi
    fi
done
echo
echo "AMD-V round trips per second (median; range min-max; boot and set-up removed)"
printf '%-20s %-13s %4s %12s %21s %12s %12s\n' engine workload runs "median/s" "range (min-max)" "vs Bochs" "vs QEMU"
svm_m="" svq_m="" svb_m=""
[ -n "$SV_LIST" ] && read -r svm_m svmin svmax svn < <(med "$SV_LIST")
[ -n "${SVO_LIST[qemu]:-}" ] && read -r svq_m svqmin svqmax svqn < <(med "${SVO_LIST[qemu]}")
[ -n "${SVO_LIST[bochs]:-}" ] && read -r svb_m svbmin svbmax svbn < <(med "${SVO_LIST[bochs]}")
if [ -n "$svm_m" ]; then
    printf '%-20s %-13s %4d %12d %21s %12s %12s\n' hvsim svmexit "$svn" "$svm_m" "$svmin-$svmax" \
        "$(ratio "$svm_m" "$svb_m")" "$(ratio "$svm_m" "$svq_m")"
else
    printf '%-20s %-13s %4s %12s\n' hvsim svmexit - failed
fi
[ -n "$svb_m" ] && printf '%-20s %-13s %4d %12d %21s %12s %12s\n' "${SVX_LABEL[bochs]}" svmexit "$svbn" "$svb_m" "$svbmin-$svbmax" - -
[ -n "$svq_m" ] && printf '%-20s %-13s %4d %12d %21s %12s %12s\n' "${SVX_LABEL[qemu]}" svmexit "$svqn" "$svq_m" "$svqmin-$svqmax" - -
for e in bochs qemu; do [ -n "${SVO_NOTE[$e]:-}" ] && echo "(${SVO_NOTE[$e]})"; done
echo "(reported, not required; issue 7 asks hvsim for more round trips per second than Bochs and QEMU TCG)"

# ---- EPT working set (issue 6): guest MIPS with EPT off, 2-MiB and 4-KiB EPT pages ----
# ept_run MODE PASSES -> sets $elapsed and $insns
ept_run() {
    local mode=$1 n=$2 st t0 t1 out=$tmp/ept.out
    t0=$(now)
    timeout -s KILL 300 "$hvsim" run --no-progress --cmdline "$mode $n" "$build/payloads/vmx_ept_bench.elf" >"$out" 2>&1; st=$?
    t1=$(now)
    elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    insns=$(awk -v m="$mode" -v n="$n" '$1 == "BENCH" && $2 == "ept" && $3 == m && $4 == n { print $6 }' "$out")
    if [ "$st" != 1 ] || [ -z "$insns" ]; then
        echo "    hvsim vmx_ept_bench '$mode $n': exit status $st (expected 1) or no BENCH line"
        grep -a -v '^BENCH' "$out" | head -3 | sed 's/^/      /'
        return 1
    fi
    return 0
}
EP_S=$(( 600 * SCALE / 100 )); [ "$EP_S" -lt 60 ] && EP_S=60
EP_L=$(( EP_S * 5 ))
echo
echo "workload ept (a guest reads one quadword per 4-KiB page of 32 MiB, $EP_S and $EP_L passes; tracing off):"
declare -A EPT_LIST
for i in $(seq 1 "$RUNS"); do
    for mode in noept ept2m ept4k; do
        ept_run "$mode" "$EP_S" || { fail "hvsim ept $mode run $i"; break 2; }
        tS=$elapsed iS=$insns
        ept_run "$mode" "$EP_L" || { fail "hvsim ept $mode run $i"; break 2; }
        tL=$elapsed iL=$insns
        m=$(awk -v a="$tS" -v b="$tL" -v x="$iS" -v y="$iL" 'BEGIN { if (b > a) printf "%.1f", (y - x) / (b - a) / 1e6; else print "x" }')
        [ "$m" = x ] && { fail "hvsim ept $mode run $i: the large run was not slower"; break 2; }
        printf '  %-20s %-13s run %d/%d: %d passes %.3f s, %d passes %.3f s -> %8s MIPS\n' \
            hvsim "ept:$mode" "$i" "$RUNS" "$EP_S" "$tS" "$EP_L" "$tL" "$m"
        EPT_LIST[$mode]="${EPT_LIST[$mode]:-} $m"
    done
done
echo
echo "Guest MIPS through EPT (median; range min-max; boot, set-up and the first touch of each page removed)"
printf '%-20s %-13s %4s %12s %21s %12s\n' engine workload runs "median MIPS" "range (min-max)" "vs no EPT"
base=""
for mode in noept ept2m ept4k; do
    [ -z "${EPT_LIST[$mode]:-}" ] && continue
    read -r em emin emax en < <(echo ${EPT_LIST[$mode]} | tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.1f %.1f %.1f %d\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR], NR }')
    [ "$mode" = noept ] && base=$em
    printf '%-20s %-13s %4d %12s %21s %12s\n' hvsim "ept:$mode" "$en" "$em" "$emin-$emax" "$(ratio "$em" "$base")"
done
echo "(reported, not required: docs/ept.md \"How cpu/ applies it\")"

[ $failed = 0 ] && echo "hvsim bench: done" || echo "hvsim bench: done, with failures (see above)"
exit $failed
