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
expect 64 "expected MSR=VALUE or MSR=absent" run --vmx-cap 0x48b "$hello"
expect 64 "is not an MSR number" run --vmx-cap zz=1 "$hello"
expect 64 "is not a number (or 'absent')" run --vmx-cap 0x48b=nope "$hello"
expect 64 "is not a VMX capability MSR" run --vmx-cap 0x12=1 "$hello"
expect 64 "allowed-0 bits 0x1 (must be 1) are not allowed-1" run --vmx-cap 0x481=0x1600000017 "$hello"
expect 64 "IA32_VMX_PROCBASED_CTLS2 exists exactly when" run --vmx-cap 0x48b=absent "$hello"
expect 64 "has no VMX" run --cpu amd --vmx-cap 0x48b=absent "$hello"
expect 64 "cannot be removed" run --vmx-cap 0x480=absent "$hello"
expect 64 "unknown or incomplete option" run --no-such-option "$hello"
expect 64 "--impl" differential --impl nosuch scenarios
exit $fail
