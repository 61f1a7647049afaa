/*
 * vmx_unmodelled — what hvsim does not model yet must stop the run with a
 * message naming it, never run on silently. The command line picks one case;
 * the payload prints what it is about to do, then does it. Every case ends
 * the run as "not modelled" (docs/vmx.md lists what is and is not modelled):
 *   timer       VM entry with "activate VMX-preemption timer" = 1
 *   cr0-mask    a guest MOV to CR0 while the CR0 guest/host mask is not 0
 *   exc-bitmap  a guest #UD whose bit is set in the exception bitmap
 *   vmread      a guest VMREAD (its exit needs the instruction information)
 */
#include "hvsim.h"
#include "vmx.h"

static uint8_t guest_stack[4096] __attribute__((aligned(16)));

__attribute__((used)) static void guest_cr0(void)
{
    write_cr0(read_cr0());
    __asm__ volatile("vmcall");
}
__attribute__((used)) static void guest_ud(void)
{
    __asm__ volatile("ud2; vmcall");
}
__attribute__((used)) static void guest_vmread(void)
{
    uint64_t v, e = 0x4400;
    __asm__ volatile("vmread %1, %0; vmcall" : "=r"(v) : "r"(e));
}
__attribute__((used)) static void guest_nothing(void)
{
    __asm__ volatile("vmcall");
}

static bool is(const struct hvsim_boot_info *bi, const char *word)
{
    const char *c = (const char *)(uintptr_t)bi->cmdline;
    if (!c)
        return false;
    size_t n = strlen(word);
    return !memcmp(c, word, n) && (c[n] == 0 || c[n] == ' ');
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    vmx_enable();
    uint64_t vmxon_region = vmx_region(), vmcs = vmx_region();
    T_ASSERT(vmx_status(vmxon_flags(vmxon_region)) == VMX_OK, "VMXON");
    T_ASSERT(vmx_status(vmclear_flags(vmcs)) == VMX_OK, "VMCLEAR");
    T_ASSERT(vmx_status(vmptrld_flags(vmcs)) == VMX_OK, "VMPTRLD");
    vmx_init_controls(0, 0, 0, 0, 0);
    vmx_init_host();
    void (*guest)(void) = guest_nothing;
    if (is(bi, "timer")) {
        vmw(F_PIN, vmr(F_PIN) | (1u << 6));
        hv_printf("VMLAUNCH with the VMX-preemption timer active\n");
    } else if (is(bi, "cr0-mask")) {
        vmw(F_CR0_MASK, 0x20);
        vmw(F_CR0_SHADOW, 0x20);
        guest = guest_cr0;
        hv_printf("guest MOV to CR0 with CR0 guest/host mask 0x20\n");
    } else if (is(bi, "exc-bitmap")) {
        vmw(F_EXCEPTION_BITMAP, 1u << 6);
        guest = guest_ud;
        hv_printf("guest #UD with bit 6 set in the exception bitmap\n");
    } else if (is(bi, "vmread")) {
        guest = guest_vmread;
        hv_printf("guest VMREAD\n");
    } else {
        hv_printf("usage: --cmdline timer|cr0-mask|exc-bitmap|vmread\n");
        hv_exit(1);
    }
    vmx_init_guest64((uint64_t)(uintptr_t)guest, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 8));
    struct vmx_regs g = { 0 };
    uint64_t r = vmx_enter(&g, 0);
    hv_printf("FAIL: the run went on (entry result %#llx, exit reason %llu)\n", (unsigned long long)r,
              (unsigned long long)vmr(F_EXIT_REASON));
    hv_exit(1);
}
