/*
 * vmx_enable — discovering and enabling VMX, one fact per line:
 * CPUID.1:ECX.VMX, the capability MSRs (read-only), CR4.VMXE, and
 * IA32_FEATURE_CONTROL with its lock: VMXON's #UD and #GP conditions before
 * VMX operation. It ends with the lock set and VMX disabled, so it is its
 * own payload (VMXON cannot succeed until reset).
 *
 * SDM 3C 24.6 (discovering VMX support), 24.7 (enabling and entering VMX
 * operation: IA32_FEATURE_CONTROL), 24.8 (restrictions on VMX operation:
 * CR0/CR4 fixed bits), 31.2 (VMsucceed/VMfail conventions), 31.3 (VMXON,
 * VMXOFF, VMCLEAR, VMPTRLD, VMPTRST), 31.4 (VM-instruction error numbers).
 *
 * Every status printed is also checked, so the transcript is the proof.
 */
#include "hvsim.h"
#include "vmx.h"

static uint64_t g_pa, g_flags;
static void do_vmxon(void *p) { (void)p; g_flags = vmxon_flags(g_pa); }
static void do_wr_fc(void *p) { wrmsr(MSR_FEATURE_CONTROL, *(uint64_t *)p); }
static void do_wr_msr(void *p) { wrmsr((uint32_t)*(uint64_t *)p, 0); }

static void expect_fault(const char *what, unsigned vector, void (*fn)(void *), void *arg)
{
    bool f = hv_call_expect(vector, fn, arg);
    hv_printf("%s: %s\n", what, f ? (vector == 6 ? "#UD" : "#GP(0)") : "no fault");
    T_CHECK(f, "%s: no #%u", what, vector);
    if (f && vector == 13)
        T_CHECK_EQ(hv_last_ec, 0);
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)bi; (void)lp; (void)nlps;
    hv_cpu_init();

    /* ---- discovering VMX (SDM 3C 24.6) and its capability MSRs ---- */
    uint32_t r[4];
    hv_cpuid(1, 0, r);
    hv_printf("CPUID.1:ECX.VMX = %u\n", (r[2] >> 5) & 1);
    T_CHECK((r[2] >> 5) & 1, "no VMX");
    uint64_t basic = rdmsr(MSR_VMX_BASIC);
    hv_printf("IA32_VMX_BASIC: VMCS region %llu bytes, memory type %llu (write-back), bit 31 = %llu\n",
              (unsigned long long)((basic >> 32) & 0x1FFF), (unsigned long long)((basic >> 50) & 0xF),
              (unsigned long long)((basic >> 31) & 1));
    T_CHECK_EQ((basic >> 32) & 0x1FFF, 4096);
    T_CHECK_EQ((basic >> 50) & 0xF, 6);
    T_CHECK_EQ((basic >> 31) & 1, 0);
    uint64_t f0 = rdmsr(MSR_VMX_CR0_FIXED0), f4 = rdmsr(MSR_VMX_CR4_FIXED0), f41 = rdmsr(MSR_VMX_CR4_FIXED1);
    hv_printf("IA32_VMX_CR0_FIXED0 = %#llx (PE, NE, PG), IA32_VMX_CR4_FIXED0 = %#llx (VMXE), "
              "CR4_FIXED1 has VMXE: %s\n", (unsigned long long)f0, (unsigned long long)f4, hv_yn(f41 & CR4_VMXE));
    T_CHECK_EQ(f0, 0x80000021);
    T_CHECK_EQ(f4, 0x2000);
    T_CHECK(f41 & CR4_VMXE, "CR4_FIXED1 %#llx", (unsigned long long)f41);
    static const char *const ctl_names[] = { "PINBASED", "PROCBASED", "EXIT", "ENTRY" };
    for (unsigned i = 0; i < 4; i++) {
        uint64_t c = rdmsr(MSR_VMX_PINBASED_CTLS + i);
        uint32_t a0 = (uint32_t)c, a1 = (uint32_t)(c >> 32);
        hv_printf("IA32_VMX_%s_CTLS: allowed-0 %#x, every must-be-1 bit may be 1: %s\n", ctl_names[i], a0,
                  hv_yn((a0 & a1) == a0));
        T_CHECK((a0 & a1) == a0, "%s %#llx", ctl_names[i], (unsigned long long)c);
    }
    uint64_t m = MSR_VMX_BASIC;
    expect_fault("WRMSR IA32_VMX_BASIC (read-only)", 13, do_wr_msr, &m);

    /* ---- enabling (SDM 3C 24.7, 24.8) ---- */
    /* Firmware may have locked IA32_FEATURE_CONTROL already (the Bochs BIOS
     * does, with VMX outside SMX: docs/differential.md); then only the
     * checks that hold for a locked MSR are made. */
    uint64_t region = vmx_region();
    uint64_t fc = rdmsr(MSR_FEATURE_CONTROL);
    bool fw_locked = fc & 1;
    if (fw_locked) {
        hv_printf("IA32_FEATURE_CONTROL = %#llx: locked by the firmware\n", (unsigned long long)fc);
    } else {
        hv_printf("IA32_FEATURE_CONTROL at reset = %#llx (unlocked)\n", (unsigned long long)fc);
        T_CHECK_EQ(fc, 0);
    }
    g_pa = region;
    expect_fault("VMXON with CR4.VMXE = 0", 6, do_vmxon, NULL);
    write_cr4(read_cr4() | CR4_VMXE);
    hv_printf("CR4.VMXE = 1: accepted\n");
    uint64_t v;
    if (!fw_locked) {
        expect_fault("VMXON with IA32_FEATURE_CONTROL unlocked", 13, do_vmxon, NULL);
        v = 0x1 | 0x2;
        expect_fault("WRMSR IA32_FEATURE_CONTROL with 'VMX inside SMX' (no SMX)", 13, do_wr_fc, &v);
        wrmsr(MSR_FEATURE_CONTROL, 1);
        hv_printf("IA32_FEATURE_CONTROL = 1: locked without 'VMX outside SMX'\n");
        expect_fault("VMXON with IA32_FEATURE_CONTROL = 1", 13, do_vmxon, NULL);
        fc = 1;
    }
    v = fc ^ 0x4;
    expect_fault("WRMSR IA32_FEATURE_CONTROL once locked", 13, do_wr_fc, &v);
    T_CHECK_EQ(rdmsr(MSR_FEATURE_CONTROL), fc);
    T_DONE();
}
