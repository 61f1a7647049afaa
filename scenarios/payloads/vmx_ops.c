/*
 * vmx_ops — the VMX instructions in VMX root operation, one fact per line:
 * VMXON's VMfailInvalid conditions and VMXON in root, VMCLEAR and VMPTRLD
 * errors, VMPTRST, VMREAD/VMWRITE (widths, high halves, unsupported and
 * read-only fields), the VMLAUNCH/VMRESUME pre-checks, INVEPT/INVVPID
 * operand checks, CPL 3, the CR0/CR4 fixed bits in VMX operation, VMCALL and
 * VMFUNC in root, VMXOFF and #UD after it. What depends on the capability
 * MSRs (VMCS shadowing, VMWRITE to exit fields, EPT/VPID) follows what they
 * say.
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
static void do_vmxoff(void *p) { (void)p; g_flags = vmxoff_flags(); }
static void do_vmptrld(void *p) { (void)p; g_flags = vmptrld_flags(g_pa); }
static void do_wr_cr4(void *p) { write_cr4(*(uint64_t *)p); }
static void do_wr_cr0(void *p) { write_cr0(*(uint64_t *)p); }

/* Run one VMX instruction expecting a status; print and check it. */
static void expect(const char *what, uint64_t flags, int want, uint64_t want_error)
{
    int s = vmx_status(flags);
    uint64_t other = flags & VMX_ARITH_FLAGS & ~(RFLAGS_CF | RFLAGS_ZF);
    if (s == VMX_FAIL_VALID) {
        uint64_t e = vmx_insn_error();
        hv_printf("%s: %s(%llu)\n", what, vmx_status_name(s), (unsigned long long)e);
        T_CHECK_EQ(e, want_error);
    } else {
        hv_printf("%s: %s\n", what, vmx_status_name(s));
    }
    T_CHECK(s == want, "%s: %s, expected %s", what, vmx_status_name(s), vmx_status_name(want));
    T_CHECK(other == 0, "%s: PF/AF/SF/OF left set (%#llx)", what, (unsigned long long)other);
    T_CHECK(!((flags & RFLAGS_CF) && (flags & RFLAGS_ZF)), "%s: CF and ZF both set", what);
}

static void expect_fault(const char *what, unsigned vector, void (*fn)(void *), void *arg)
{
    bool f = hv_call_expect(vector, fn, arg);
    hv_printf("%s: %s\n", what, f ? (vector == 6 ? "#UD" : "#GP(0)") : "no fault");
    T_CHECK(f, "%s: no #%u", what, vector);
    if (f && vector == 13)
        T_CHECK_EQ(hv_last_ec, 0);
}

static uint64_t g_enc, g_val;
static void do_vmread(void *p) { (void)p; g_flags = vmread_flags(g_enc, &g_val); }
static void do_vmwrite(void *p) { (void)p; g_flags = vmwrite_flags(g_enc, g_val); }
static void do_vmlaunch(void *p) { (void)p; g_flags = vmlaunch_flags(); }
static void do_vmfunc(void *p) { (void)p; __asm__ volatile("xor %%eax, %%eax; vmfunc" ::: "rax", "memory"); }

/* VMLAUNCH right after MOV SS: events are blocked by MOV SS (SDM 3A 6.8.3). */
static uint64_t vmlaunch_after_mov_ss(void)
{
    uint64_t f;
    __asm__ volatile("pushq $0x8d5; popfq; mov %%ss, %%ax; mov %%ax, %%ss; vmlaunch; pushfq; popq %0"
                     : "=&r"(f) :: "rax", "cc", "memory");
    return f;
}

/* Ring 3 attempts (SDM 3C 31.3: #GP(0) if CPL > 0 in VMX root operation). */
HV_USER_DATA static uint64_t u_val;
HV_USER static void user_vmread(void) { uint64_t e = 0x4400; __asm__ volatile("vmread %1, %0" : "=r"(u_val) : "r"(e)); hv_user_return(0); }
HV_USER static void user_vmxoff(void) { __asm__ volatile("vmxoff" ::: "cc"); hv_user_return(0); }

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)bi; (void)lp; (void)nlps;
    hv_cpu_init();
    hv_user_init();
    vmx_enable();
    uint64_t cr4 = read_cr4(), cr0 = read_cr0();
    hv_printf("enabled: IA32_FEATURE_CONTROL = %#llx, CR4.VMXE = %llu, CR0.NE = %llu\n",
              (unsigned long long)rdmsr(MSR_FEATURE_CONTROL), (unsigned long long)(cr4 >> 13) & 1,
              (unsigned long long)(cr0 >> 5) & 1);
    uint64_t vmxon_region = vmx_region(), vmcs = vmx_region(), vmcs2 = vmx_region();

    /* ---- VMXON (SDM 3C 31.3 VMXON) ---- */
    expect("VMXON of a region not 4-KiB aligned", vmxon_flags(vmxon_region + 8), VMX_FAIL_INVALID, 0);
    expect("VMXON of a region beyond MAXPHYADDR", vmxon_flags(1ull << 52), VMX_FAIL_INVALID, 0);
    uint32_t *rp = (uint32_t *)(uintptr_t)vmxon_region;
    rp[0] = vmx_revision() + 1;
    expect("VMXON of a region with a wrong revision identifier", vmxon_flags(vmxon_region), VMX_FAIL_INVALID, 0);
    rp[0] = vmx_revision() | 0x80000000u;
    expect("VMXON of a region with bit 31 of the revision set", vmxon_flags(vmxon_region), VMX_FAIL_INVALID, 0);
    rp[0] = vmx_revision();
    expect("VMXON", vmxon_flags(vmxon_region), VMX_OK, 0);

    /* ---- in VMX root operation without a current VMCS ---- */
    uint64_t ptr = 0;
    expect("VMPTRST with no current VMCS", vmptrst_flags(&ptr), VMX_OK, 0);
    hv_printf("VMPTRST stored %#llx\n", (unsigned long long)ptr);
    T_CHECK_EQ(ptr, ~0ull);
    expect("VMXON in VMX root operation, no current VMCS", vmxon_flags(vmxon_region), VMX_FAIL_INVALID, 0);
    uint64_t val;
    expect("VMREAD with no current VMCS", vmread_flags(0x4400, &val), VMX_FAIL_INVALID, 0);
    expect("VMLAUNCH with no current VMCS", vmlaunch_flags(), VMX_FAIL_INVALID, 0);

    /* ---- VMPTRLD / VMCLEAR errors (SDM 3C 31.4: 2, 3, 9, 10, 11) ---- */
    expect("VMPTRLD of the VMXON region", vmptrld_flags(vmxon_region), VMX_FAIL_INVALID, 0);
    expect("VMCLEAR", vmclear_flags(vmcs), VMX_OK, 0);
    expect("VMPTRLD", vmptrld_flags(vmcs), VMX_OK, 0);
    expect("VMPTRST", vmptrst_flags(&ptr), VMX_OK, 0);
    hv_printf("VMPTRST stored the VMCS: %s\n", hv_yn(ptr == vmcs));
    T_CHECK_EQ(ptr, vmcs);
    expect("VMXON in VMX root operation", vmxon_flags(vmxon_region), VMX_FAIL_VALID, 15);
    expect("VMCLEAR of an address not 4-KiB aligned", vmclear_flags(vmcs2 + 0x10), VMX_FAIL_VALID, 2);
    expect("VMCLEAR of the VMXON pointer", vmclear_flags(vmxon_region), VMX_FAIL_VALID, 3);
    expect("VMPTRLD of an address beyond MAXPHYADDR", vmptrld_flags(1ull << 52), VMX_FAIL_VALID, 9);
    expect("VMPTRLD of the VMXON pointer", vmptrld_flags(vmxon_region), VMX_FAIL_VALID, 10);
    uint32_t *v2 = (uint32_t *)(uintptr_t)vmcs2;
    v2[0] = vmx_revision() ^ 0x40;
    expect("VMPTRLD of a VMCS with a wrong revision", vmptrld_flags(vmcs2), VMX_FAIL_VALID, 11);
    /* Bit 31 of the revision (a shadow VMCS) is an error only without VMCS
     * shadowing (IA32_VMX_PROCBASED_CTLS2 bit 46, allowed-1 of bit 14);
     * with it, the shadow VMCS becomes current and the VMCS is loaded back. */
    uint64_t p2 = rdmsr(MSR_VMX_PROCBASED_CTLS) >> 63 ? rdmsr(MSR_VMX_PROCBASED_CTLS2) >> 32 : 0;
    bool shadowing = (p2 >> 14) & 1;
    v2[0] = vmx_revision() | 0x80000000u;
    if (shadowing) {
        expect("VMPTRLD of a shadow VMCS (VMCS shadowing supported)", vmptrld_flags(vmcs2), VMX_OK, 0);
        T_CHECK(vmx_status(vmptrld_flags(vmcs)) == VMX_OK, "VMPTRLD of the VMCS again");
    } else {
        expect("VMPTRLD of a shadow VMCS (no VMCS shadowing)", vmptrld_flags(vmcs2), VMX_FAIL_VALID, 11);
    }
    v2[0] = vmx_revision();
    expect("VMPTRST after the failed VMPTRLDs", vmptrst_flags(&ptr), VMX_OK, 0);
    hv_printf("the current VMCS is unchanged: %s\n", hv_yn(ptr == vmcs));
    T_CHECK_EQ(ptr, vmcs);

    /* ---- VMREAD / VMWRITE (SDM 3C 31.3; 25.11.2 field encodings) ---- */
    expect("VMWRITE guest RIP (0x681e)", vmwrite_flags(0x681E, 0x123456789ABCDEF0ull), VMX_OK, 0);
    expect("VMREAD guest RIP", vmread_flags(0x681E, &val), VMX_OK, 0);
    hv_printf("guest RIP reads back %#llx\n", (unsigned long long)val);
    T_CHECK_EQ(val, 0x123456789ABCDEF0ull);
    expect("VMWRITE guest ES selector (16-bit) with 0x12345", vmwrite_flags(0x0800, 0x12345), VMX_OK, 0);
    vmread_flags(0x0800, &val);
    hv_printf("guest ES selector reads back %#llx (truncated to 16 bits)\n", (unsigned long long)val);
    T_CHECK_EQ(val, 0x2345);
    expect("VMWRITE VMCS link pointer (64-bit, full)", vmwrite_flags(0x2800, 0x1111222233334444ull), VMX_OK, 0);
    expect("VMWRITE VMCS link pointer high half (0x2801)", vmwrite_flags(0x2801, 0xAAAABBBBull), VMX_OK, 0);
    vmread_flags(0x2800, &val);
    hv_printf("VMCS link pointer = %#llx\n", (unsigned long long)val);
    T_CHECK_EQ(val, 0xAAAABBBB33334444ull);
    vmread_flags(0x2801, &val);
    hv_printf("VMREAD of the high half = %#llx\n", (unsigned long long)val);
    T_CHECK_EQ(val, 0xAAAABBBBull);
    expect("VMREAD of encoding 0x6c1e (no such field)", vmread_flags(0x6C1E, &val), VMX_FAIL_VALID, 12);
    expect("VMWRITE of an encoding with bit 12 set (0x1000)", vmwrite_flags(0x1000, 0), VMX_FAIL_VALID, 12);
    expect("VMREAD of an encoding above 32 bits", vmread_flags(0x100004400ull, &val), VMX_FAIL_VALID, 12);
    expect("VMREAD of the high half of a 32-bit field (0x4401)", vmread_flags(0x4401, &val), VMX_FAIL_VALID, 12);
    uint64_t misc = rdmsr(MSR_VMX_MISC);
    bool ro_writable = (misc >> 29) & 1;
    hv_printf("IA32_VMX_MISC[29] (VMWRITE to VM-exit information fields) = %u\n", ro_writable);
    expect("VMWRITE exit reason (0x4402, read-only data)", vmwrite_flags(0x4402, 7),
           ro_writable ? VMX_OK : VMX_FAIL_VALID, 13);

    /* ---- VMLAUNCH / VMRESUME pre-checks ---- */
    expect("VMRESUME of a clear VMCS", vmresume_flags(), VMX_FAIL_VALID, 5);
    expect("VMLAUNCH after MOV SS", vmlaunch_after_mov_ss(), VMX_FAIL_VALID, 26);

    /* ---- INVEPT, INVVPID in VMX root operation ---- */
    if ((p2 & 2) && (p2 & 0x20)) {
        uint64_t desc[2] = { 0, 0 };
        expect("INVEPT type 0", invept_flags(0, desc), VMX_FAIL_VALID, 28);
        expect("INVEPT type 2 (all-context)", invept_flags(2, desc), VMX_OK, 0);
        desc[0] = 0x1E | 0x1000;
        expect("INVEPT single-context, EPTP WB 4-level", invept_flags(1, desc), VMX_OK, 0);
        desc[0] = 0x1000 | 0x18 | 2;
        expect("INVEPT single-context, EPTP memory type 2", invept_flags(1, desc), VMX_FAIL_VALID, 28);
        desc[0] = 0;
        expect("INVVPID single-context of VPID 0", invvpid_flags(1, desc), VMX_FAIL_VALID, 28);
        expect("INVVPID all-context", invvpid_flags(2, desc), VMX_OK, 0);
        desc[0] = 1ull << 16 | 1;
        expect("INVVPID with descriptor bits 63:16 set", invvpid_flags(1, desc), VMX_FAIL_VALID, 28);
        desc[0] = 5;
        desc[1] = 0x0000800000000000ull;
        expect("INVVPID individual address, non-canonical", invvpid_flags(0, desc), VMX_FAIL_VALID, 28);
        expect("INVVPID type 4", invvpid_flags(4, desc), VMX_FAIL_VALID, 28);
    } else {
        hv_printf("no EPT and VPID: INVEPT/INVVPID not tried\n");
    }

    /* ---- CPL 3 (#GP(0)) ---- */
    hv_expect(13, NULL);
    uint64_t ur = hv_run_user(user_vmread, hv_user_stack());
    hv_printf("VMREAD at CPL 3: %s, error code %llu\n", ur == ~0ull ? "#GP" : "no fault",
              (unsigned long long)hv_last_ec);
    T_CHECK(ur == ~0ull && hv_last_vector == 13 && hv_last_ec == 0, "VMREAD at CPL 3");
    hv_expect(13, NULL);
    ur = hv_run_user(user_vmxoff, hv_user_stack());
    hv_printf("VMXOFF at CPL 3: %s\n", ur == ~0ull ? "#GP" : "no fault");
    T_CHECK(ur == ~0ull && hv_last_vector == 13, "VMXOFF at CPL 3");

    /* ---- fixed bits in VMX operation (SDM 3C 24.8) ---- */
    uint64_t nv = read_cr4() & ~CR4_VMXE;
    expect_fault("MOV CR4 clearing VMXE in VMX operation", 13, do_wr_cr4, &nv);
    nv = read_cr0() & ~CR0_NE;
    expect_fault("MOV CR0 clearing NE in VMX operation", 13, do_wr_cr0, &nv);

    /* ---- VMCALL, VMFUNC in VMX root operation ---- */
    /* Last before VMXOFF: Bochs 2.7 stops at VMCALL in VMX root operation
     * ("not implemented yet", docs/differential.md), so everything the
     * differential run can compare comes first. */
    expect("VMCALL in VMX root operation", vmcall_flags(), VMX_FAIL_VALID, 1);
    expect_fault("VMFUNC in VMX root operation", 6, do_vmfunc, NULL);

    /* ---- VMXOFF ---- */
    expect("VMXOFF", vmxoff_flags(), VMX_OK, 0);
    g_enc = 0x681E;
    expect_fault("VMREAD after VMXOFF", 6, do_vmread, NULL);
    expect_fault("VMXOFF outside VMX operation", 6, do_vmxoff, NULL);
    g_val = 0;
    expect_fault("VMWRITE after VMXOFF", 6, do_vmwrite, NULL);
    expect_fault("VMLAUNCH after VMXOFF", 6, do_vmlaunch, NULL);
    g_pa = vmcs;
    expect_fault("VMPTRLD after VMXOFF", 6, do_vmptrld, NULL);
    nv = read_cr4() & ~CR4_VMXE;
    write_cr4(nv);
    hv_printf("CR4.VMXE cleared after VMXOFF: %s\n", hv_yn(!(read_cr4() & CR4_VMXE)));
    T_DONE();
}
