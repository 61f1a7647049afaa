/*
 * vmx_entry_fail — how VM entry fails, one stage per line (SDM 3C "VM
 * Entries"): a control check (VMfailValid 7), a host-state check
 * (VMfailValid 8), a guest-state check (a VM-entry failure: exit reason
 * 0x80000021 through the host-state area), the VM-entry MSR-load list
 * (exit reason 0x80000022, qualification = the failing entry), and the
 * launch state after a successful VMLAUNCH (VMLAUNCH again: error 4;
 * VMRESUME works).
 *
 * Each failure is provoked from a valid VMCS by changing one field, which is
 * restored afterwards; `hvsim run` prints which check failed.
 */
#include "hvsim.h"
#include "vmx.h"

static uint8_t guest_stack[4096] __attribute__((aligned(16)));
static uint64_t msr_area[2] __attribute__((aligned(16)));

extern char fail_guest_vmcall[];
__attribute__((used)) static void fail_guest(void)
{
    __asm__ volatile(".globl fail_guest_vmcall\nfail_guest_vmcall: vmcall\n1: jmp 1b" ::: "memory");
}

static void try_entry(const char *what, int resume, uint64_t want_status, uint64_t want_error_or_reason,
                      uint64_t want_qual)
{
    struct vmx_regs g = { 0 };
    uint64_t r = vmx_enter(&g, resume);
    if (VMX_ENTER_FAILED(r)) {
        int s = vmx_status(r);
        uint64_t e = s == VMX_FAIL_VALID ? vmx_insn_error() : 0;
        hv_printf("%s: %s", what, vmx_status_name(s));
        if (s == VMX_FAIL_VALID)
            hv_printf("(%llu)", (unsigned long long)e);
        hv_printf("\n");
        T_CHECK(want_status == (uint64_t)s, "%s: %s", what, vmx_status_name(s));
        T_CHECK_EQ(e, want_error_or_reason);
        return;
    }
    uint64_t reason = vmr(F_EXIT_REASON), q = vmr(F_EXIT_QUALIFICATION);
    hv_printf("%s: VM exit, reason %#llx, qualification %llu\n", what, (unsigned long long)reason,
              (unsigned long long)q);
    T_CHECK(want_status == 99, "%s: a VM exit, expected a VMfail", what);
    T_CHECK_EQ(reason, want_error_or_reason);
    T_CHECK_EQ(q, want_qual);
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)bi; (void)lp; (void)nlps;
    hv_cpu_init();
    uint64_t vmcs = vmx_on_with_vmcs();
    vmx_init_controls(0, 0, 0, 0, 0);
    vmx_init_host();
    vmx_init_guest64((uint64_t)(uintptr_t)fail_guest, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 8));

    /* controls: the pin-based controls without their must-be-1 bits */
    uint64_t pin = vmr(F_PIN);
    vmw(F_PIN, 0);
    try_entry("VMLAUNCH with pin-based controls 0", 0, VMX_FAIL_VALID, 7, 0);
    vmw(F_PIN, pin);
    /* controls: more than 4 CR3-target values */
    vmw(F_CR3_TARGET_COUNT, 5);
    try_entry("VMLAUNCH with CR3-target count 5", 0, VMX_FAIL_VALID, 7, 0);
    vmw(F_CR3_TARGET_COUNT, 0);

    /* host state: host CR0 without PE and NE (IA32_VMX_CR0_FIXED0) */
    uint64_t hcr0 = vmr(F_HOST_CR0);
    vmw(F_HOST_CR0, hcr0 & ~0x21ull);
    try_entry("VMLAUNCH with host CR0.PE = CR0.NE = 0", 0, VMX_FAIL_VALID, 8, 0);
    vmw(F_HOST_CR0, hcr0);
    /* host state: host TR selector 0 */
    uint64_t htr = vmr(F_HOST_TR_SEL);
    vmw(F_HOST_TR_SEL, 0);
    try_entry("VMLAUNCH with host TR selector 0", 0, VMX_FAIL_VALID, 8, 0);
    vmw(F_HOST_TR_SEL, htr);

    /* guest state: RFLAGS bit 1 clear -> VM-entry failure, reason 33 | bit 31 */
    vmw(F_GUEST_RFLAGS, 0);
    try_entry("VMLAUNCH with guest RFLAGS = 0", 0, 99, 0x80000021, 0);
    vmw(F_GUEST_RFLAGS, 2);
    /* guest state: CS.L = 1 and CS.D = 1 together */
    uint64_t csar = vmr(F_GUEST_CS_AR);
    vmw(F_GUEST_CS_AR, csar | 0x4000);
    try_entry("VMLAUNCH with guest CS.L = CS.D = 1", 0, 99, 0x80000021, 0);
    vmw(F_GUEST_CS_AR, csar);
    /* guest state: a VMCS link pointer that is neither ~0 nor valid -> qualification 4 */
    vmw(F_VMCS_LINK, 0x1234);
    try_entry("VMLAUNCH with VMCS link pointer 0x1234", 0, 99, 0x80000021, 4);
    vmw(F_VMCS_LINK, ~0ull);
    hv_printf("launch state still clear after the failures: %s\n",
              hv_yn(vmx_status(vmresume_flags()) == VMX_FAIL_VALID && vmx_insn_error() == 5));

    /* the VM-entry MSR-load list: entry 1 names an MSR hvsim refuses (0x12345678) */
    msr_area[0] = 0x12345678;
    msr_area[1] = 0;
    vmw(F_ENTRY_MSR_LOAD_ADDR, (uint64_t)(uintptr_t)msr_area);
    vmw(F_ENTRY_MSR_LOAD_COUNT, 1);
    try_entry("VMLAUNCH loading MSR 0x12345678", 0, 99, 0x80000022, 1);
    vmw(F_ENTRY_MSR_LOAD_COUNT, 0);

    /* a valid entry, then the launch state */
    try_entry("VMLAUNCH", 0, 99, 18, 0);
    T_CHECK_EQ(vmr(F_GUEST_RIP), (uint64_t)(uintptr_t)fail_guest_vmcall);
    try_entry("VMLAUNCH of a launched VMCS", 0, VMX_FAIL_VALID, 4, 0);
    try_entry("VMRESUME", 1, 99, 18, 0);
    T_CHECK(vmx_status(vmclear_flags(vmcs)) == VMX_OK, "VMCLEAR");
    T_CHECK(vmx_status(vmptrld_flags(vmcs)) == VMX_OK, "VMPTRLD");
    try_entry("VMRESUME after VMCLEAR", 1, VMX_FAIL_VALID, 5, 0);
    try_entry("VMLAUNCH after VMCLEAR", 0, 99, 18, 0);
    T_ASSERT(vmx_status(vmxoff_flags()) == VMX_OK, "VMXOFF");
    T_DONE();
}
