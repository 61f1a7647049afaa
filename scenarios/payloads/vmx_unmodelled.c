/*
 * vmx_unmodelled — what hvsim does not model yet must stop the run with a
 * message naming it, never run on silently. The command line picks one case;
 * the payload prints what it is about to do, then does it. Every case ends
 * the run as "not modelled" (docs/vmx.md lists what is and is not modelled):
 *   mtf         VM entry with "monitor trap flag" = 1 and guest RFLAGS.TF = 1
 *               (the order of MTF VM exits and single-step traps)
 *   nmi-shorthand  a guest (with "NMI exiting" and "virtual NMIs") sends an
 *               NMI IPI with the "self" shorthand, a combination SDM 3A 10.6.1
 *               calls invalid without saying what it does
 *   pending-dbg VM entry into the HLT state with a pending debug exception (BS)
 */
#include "hvsim.h"
#include "vmx.h"

static uint8_t guest_stack[4096] __attribute__((aligned(16)));

__attribute__((used)) static void guest_nothing(void)
{
    __asm__ volatile("vmcall");
}

/* ICR low = NMI (100b), assert, "self" shorthand (01b) */
__attribute__((used)) static void guest_nmi_self(void)
{
    __asm__ volatile("mov $0xfee00000, %%edx\n mov $0x44400, %%eax\n mov %%eax, 0x300(%%rdx)\n vmcall"
                     ::: "rax", "rdx", "memory");
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    vmx_on_with_vmcs();
    vmx_init_controls(0, 0, 0, 0, 0);
    vmx_init_host();
    void (*guest)(void) = guest_nothing;
    bool pending_dbg = false, tf = false;
    if (hv_cmdline_is(bi, "mtf")) {
        vmw(F_PROC, vmr(F_PROC) | (1u << 27));
        tf = true;
        hv_printf("VMLAUNCH with the monitor trap flag and RFLAGS.TF = 1\n");
    } else if (hv_cmdline_is(bi, "nmi-shorthand")) {
        vmw(F_PIN, vmr(F_PIN) | (1u << 3) | (1u << 5));
        guest = guest_nmi_self;
        hv_printf("the guest sends an NMI with the self shorthand\n");
    } else if (hv_cmdline_is(bi, "pending-dbg")) {
        pending_dbg = true;
        hv_printf("VMLAUNCH into the HLT state with a pending single-step debug exception\n");
    } else {
        hv_printf("usage: --cmdline mtf|nmi-shorthand|pending-dbg\n");
        hv_exit(1);
    }
    vmx_init_guest64((uint64_t)(uintptr_t)guest, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 8));
    if (tf)
        vmw(F_GUEST_RFLAGS, 0x102);
    if (pending_dbg) {
        vmw(F_GUEST_RFLAGS, 0x102);                /* TF = 1, so that BS may be pending */
        vmw(F_GUEST_PENDING_DBG, 1u << 14);
        vmw(F_GUEST_ACTIVITY, 1);                  /* HLT: a pending #DB would have to wake it */
    }
    struct vmx_regs g = { 0 };
    uint64_t r = vmx_enter(&g, 0);
    hv_printf("FAIL: the run went on (entry result %#llx, exit reason %llu)\n", (unsigned long long)r,
              (unsigned long long)vmr(F_EXIT_REASON));
    hv_exit(1);
}
