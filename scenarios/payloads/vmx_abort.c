/*
 * vmx_abort — a VM exit whose VM-exit MSR-load list names an MSR that
 * cannot be loaded is a VMX abort: the processor writes a nonzero abort
 * indicator (4, "failure loading MSRs on VM exit") into the VMCS region
 * and enters the shutdown state (SDM 3C "VMX Aborts"). The run therefore
 * ends in shutdown after the guest's VMCALL.
 */
#include "hvsim.h"
#include "vmx.h"

static uint8_t guest_stack[4096] __attribute__((aligned(16)));
static uint64_t exit_msrs[2] __attribute__((aligned(16)));

__attribute__((used)) static void abort_guest(void)
{
    __asm__ volatile("vmcall");
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)bi; (void)lp; (void)nlps;
    hv_cpu_init();
    vmx_on_with_vmcs();
    vmx_init_controls(0, 0, 0, 0, 0);
    vmx_init_host();
    vmx_init_guest64((uint64_t)(uintptr_t)abort_guest, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 8));
    exit_msrs[0] = 0x12345678;                 /* no such MSR: WRMSR would #GP */
    exit_msrs[1] = 0;
    vmw(F_EXIT_MSR_LOAD_ADDR, (uint64_t)(uintptr_t)exit_msrs);
    vmw(F_EXIT_MSR_LOAD_COUNT, 1);
    hv_printf("VMLAUNCH; the guest's VMCALL exit will fail loading MSR 0x12345678\n");
    struct vmx_regs g = { 0 };
    uint64_t r = vmx_enter(&g, 0);
    hv_printf("FAIL: the run went on after the VM exit (entry result %#llx)\n", (unsigned long long)r);
    hv_exit(1);
}
