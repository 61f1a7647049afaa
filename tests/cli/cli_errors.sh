#!/bin/sh
# cli_errors.sh HVSIM PAYLOAD_DIR — bad command lines get exit status 64 and a
# message that names what is wrong; nothing runs. (CTest: cli.errors)
hvsim=$1
pd=$2
fail=0
# expect STATUS NEEDLE ARGS...
expect() {
    want=$1 needle=$2
    shift 2
    out=$("$hvsim" "$@" 2>&1 </dev/null)
    st=$?
    if [ "$st" != "$want" ]; then
        echo "FAIL: hvsim $*: exit status $st, expected $want"; echo "$out" | head -3; fail=1
    elif ! printf '%s\n' "$out" | grep -qF -- "$needle"; then
        echo "FAIL: hvsim $*: message lacks \"$needle\":"; echo "$out" | head -3; fail=1
    else
        echo "ok: hvsim $*"
    fi
}
hello=$pd/hello.elf
src=$(cd "$(dirname "$0")/../.." && pwd)
expect 64 "expected MSR=VALUE or MSR=absent" run --vmx-cap 0x48b "$hello"
expect 64 "is not an MSR number" run --vmx-cap zz=1 "$hello"
expect 64 "is not a number (or 'absent')" run --vmx-cap 0x48b=nope "$hello"
expect 64 "is not a VMX capability MSR" run --vmx-cap 0x12=1 "$hello"
expect 64 "allowed-0 bits 0x1 (must be 1) are not allowed-1" run --vmx-cap 0x481=0x1600000017 "$hello"
expect 64 "IA32_VMX_PROCBASED_CTLS2 exists exactly when" run --vmx-cap 0x48b=absent "$hello"
expect 64 "has no VMX" run --cpu amd --vmx-cap 0x48b=absent "$hello"
expect 64 "cannot be removed" run --vmx-cap 0x480=absent "$hello"
expect 64 "expected NAME=VALUE" run --cpu amd --svm-cap features "$hello"
expect 64 "expected NAME=VALUE" run --cpu amd --svm-cap =8 "$hello"
expect 64 "'zz' is not a number" run --cpu amd --svm-cap features=zz "$hello"
expect 64 "'nasid' is not an AMD-V capability" run --cpu amd --svm-cap nasid=16 "$hello"
expect 64 "revision=0x100: the SVM revision is CPUID Fn8000_000A EAX bits 7:0" run --cpu amd --svm-cap revision=256 "$hello"
expect 64 "asids=1: at least 2 are needed" run --cpu amd --svm-cap asids=1 "$hello"
expect 64 "asids=65537: at most 65536" run --cpu amd --svm-cap asids=65537 "$hello"
expect 64 "bit 1 (LBR virtualization) is a feature hvsim does not model" run --cpu amd --svm-cap features=0x2 "$hello"
expect 64 "bit 32 is beyond it" run --cpu amd --svm-cap features=0x100000000 "$hello"
expect 64 "CPU profile intel-server has no SVM" run --svm-cap features=0x9 "$hello"
expect 64 "drop the machine options (such as --svm-cap)" run --svm-cap features=0x9 "$src/scenarios/svm/discovery.xml"
expect 64 "drop the machine options (such as --vmx-cap)" run --vmx-cap 0x48b=absent "$src/scenarios/vmx/discovery.xml"
expect 64 "drop the machine options (such as --tlb)" run --tlb flush-always "$src/scenarios/svm/npt-stale-retain.xml"
expect 64 "unknown or incomplete option" run --no-such-option "$hello"
expect 64 "--impl" differential --impl nosuch scenarios
# the differential's work directory comes from $TMPDIR: too long a value, or
# one that names no directory, is refused with its reason (exit status 12)
long=$(printf '/tmp/%0410d' 0)
TMPDIR=$long expect 12 "TMPDIR is 415 characters long; at most 400 are supported" \
    differential --impl shim "$src/scenarios/cpu/hello.xml"
TMPDIR=/nonexistent/dir expect 12 "cannot create a work directory /nonexistent/dir/hvsim-differential-" \
    differential --impl shim "$src/scenarios/cpu/hello.xml"
# make bench's counts come from the environment: anything but a positive
# whole number is refused before anything runs (exit status 2)
bdir=$(dirname "$hvsim")
for bad in "BENCH_VX_RUNS=x" "BENCH_RUNS=0" "BENCH_SCALE=*" "BENCH_TRACE_RUNS=3 4"; do
    name=${bad%%=*}
    out=$(env "$bad" bash "$src/tests/tools/bench.sh" "$bdir" 2>&1 </dev/null)
    st=$?
    if [ "$st" != 2 ] || ! printf '%s\n' "$out" | grep -qF -- "$name must be a positive whole number"; then
        echo "FAIL: $bad tests/tools/bench.sh: exit status $st"; echo "$out" | head -3; fail=1
    else
        echo "ok: $bad tests/tools/bench.sh"
    fi
done
exit $fail
