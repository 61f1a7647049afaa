/*
 * vmx_init — INIT signals and VMX (run with --lps 2). LP 0 enters VMX root
 * operation; LP 1 sends it an INIT IPI. In VMX root operation INIT is
 * blocked: LP 0 keeps running. When LP 0 then enters a guest, the INIT
 * that was held causes a VM exit with reason 3 (INIT signal) instead of
 * resetting the processor, and LP 0 goes on after VMXOFF.
 *
 * SDM 3C 31.3 VMXON ("block INIT signals"), 24.8 (restrictions on VMX
 * operation: INIT signals are blocked in VMX root operation), 26.2 (INIT
 * signals in VMX non-root operation cause VM exits), 3D appendix C (reason 3).
 */
#include "hvsim.h"
#include "apic.h"
#include "vmx.h"

static volatile uint32_t go_init, init_sent;
static uint8_t guest_stack[4096] __attribute__((aligned(16)));

/* The guest never runs on a processor that holds the INIT (the exit comes
 * first); where the INIT was lost it spins a while and ends with VMCALL
 * (exit reason 18), so that the run ends instead of spinning forever. */
__attribute__((used)) static void spin_guest(void)
{
    for (unsigned i = 0; i < 100000; i++)
        __asm__ volatile("pause");
    for (;;)
        __asm__ volatile("vmcall");
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)bi;
    if (lp == 1) {
        /* LP 1: wait for the signal, send INIT to LP 0, stop */
        while (!__atomic_load_n(&go_init, __ATOMIC_ACQUIRE))
            cpu_pause();
        apic_send_ipi(0, (5u << 8) | ICR_ASSERT | ICR_PHYSICAL | ICR_SH_NONE);
        __atomic_store_n(&init_sent, 1, __ATOMIC_RELEASE);
        for (;;)
            hlt();
    }
    hv_cpu_init();
    T_ASSERT(nlps == 2, "run with --lps 2 (got %u)", nlps);
    vmx_enable();
    uint64_t vmxon_region = vmx_region(), vmcs = vmx_region();
    T_ASSERT(vmx_status(vmxon_flags(vmxon_region)) == VMX_OK, "VMXON");
    hv_printf("LP 0: in VMX root operation; asking LP 1 for an INIT\n");
    __atomic_store_n(&go_init, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&init_sent, __ATOMIC_ACQUIRE))
        cpu_pause();
    hv_spin_cycles(2000000);
    hv_printf("LP 0: INIT sent to it, and it still runs: INIT is blocked in VMX root operation\n");

    T_ASSERT(vmx_status(vmclear_flags(vmcs)) == VMX_OK, "VMCLEAR");
    T_ASSERT(vmx_status(vmptrld_flags(vmcs)) == VMX_OK, "VMPTRLD");
    vmx_init_controls(0, 0, 0, 0, 0);
    vmx_init_host();
    vmx_init_guest64((uint64_t)(uintptr_t)spin_guest, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 8));
    struct vmx_regs g = { 0 };
    uint64_t r = vmx_enter(&g, 0);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VMLAUNCH: error %llu", (unsigned long long)vmx_insn_error());
    uint64_t reason = vmr(F_EXIT_REASON);
    hv_printf("LP 0: VM exit right after VM entry: reason %llu (%s), qualification %llu\n",
              (unsigned long long)reason, reason == 3 ? "INIT signal" : reason == 18 ? "VMCALL: the guest ran, no INIT" : "?",
              (unsigned long long)vmr(F_EXIT_QUALIFICATION));
    T_CHECK_EQ(reason, 3);
    T_ASSERT(vmx_status(vmxoff_flags()) == VMX_OK, "VMXOFF");
    hv_printf("LP 0: VMXOFF; nothing was left pending\n");
    T_DONE();
}
