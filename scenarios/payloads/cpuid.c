/*
 * cpuid — what CPUID reports, and that it agrees with what the processor
 * does. Run with --lps 2 (test cpuid) and with --cpu amd --lps 2 (test
 * cpuid_amd, output cpuid_amd.out).
 *
 * SDM 2A CPUID: leaf 0 (maximum basic leaf, vendor string in EBX EDX ECX),
 * leaf 1 (EAX signature and the DisplayFamily/DisplayModel rules, EBX[31:24]
 * the initial APIC ID of the executing logical processor, feature flags),
 * leaf 7 (SMEP, SMAP, FSGSBASE, UMIP), leaves 80000000H..80000008H (SYSCALL,
 * NX, Page1GB, RDTSCP, LM; brand string; address sizes), and "If a value
 * entered for CPUID.EAX is higher than the maximum input value for basic or
 * extended function for that processor then the data for the highest basic
 * information leaf is returned" (Intel). 3A 2.5 (a CR4 bit for a feature
 * the processor does not report is reserved: MOV to CR4 raises #GP(0)).
 * AMD: APM vol. 3 CPUID (AuthenticAMD; 80000001H EDX repeats leaf 1 EDX
 * bits 0-9, 12-17, 23, 24).
 */
#include "hvsim.h"

static volatile uint32_t apic_id[64];
static volatile uint32_t reported;

static void cpuid(uint32_t leaf, uint32_t r[4]) { hv_cpuid(leaf, 0, r); }

static void vendor_of(const uint32_t r[4], char v[13])
{
    memcpy(v, &r[1], 4);
    memcpy(v + 4, &r[3], 4);
    memcpy(v + 8, &r[2], 4);
    v[12] = 0;
}

/* MOV to CR4 with one more bit; back to the old value if it worked. */
struct cr4try { uint64_t bit; };
static void try_cr4(void *p)
{
    uint64_t old = read_cr4();
    write_cr4(old | ((struct cr4try *)p)->bit);
    write_cr4(old);
}

static void cr4_vs_cpuid(const char *name, uint64_t cr4bit, bool reported_bit)
{
    struct cr4try t = { cr4bit };
    bool gp = hv_call_expect(13, try_cr4, &t);
    hv_printf("  CR4.%-9s CPUID says %u, MOV to CR4 %s\n", name, reported_bit ? 1 : 0, gp ? "#GP" : "accepted");
    T_CHECK(gp == !reported_bit, "CR4.%s", name);
}

HV_USER static void u_cpuid(void)
{
    uint32_t a = 0, b, c = 0, d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    hv_user_return(b);
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    uint32_t r[4];
    if (lp != 0) {
        /* APs: report the initial APIC ID and halt. */
        cpuid(1, r);
        apic_id[lp] = r[1] >> 24;
        __atomic_fetch_add(&reported, 1, __ATOMIC_SEQ_CST);
        for (;;)
            __asm__ volatile("cli; hlt");
    }
    hv_cpu_init();
    hv_user_init();

    cpuid(0, r);
    char vendor[13];
    vendor_of(r, vendor);
    uint32_t max_basic = r[0];
    bool amd = !strcmp(vendor, "AuthenticAMD");
    hv_printf("leaf 0: vendor \"%s\", maximum basic leaf %#x\n", vendor, max_basic);
    T_ASSERT(amd || !strcmp(vendor, "GenuineIntel"), "vendor");

    cpuid(1, r);
    uint32_t fam = (r[0] >> 8) & 0xF, model = (r[0] >> 4) & 0xF, step = r[0] & 0xF;
    uint32_t dfam = fam == 0xF ? fam + ((r[0] >> 20) & 0xFF) : fam;
    uint32_t dmodel = (fam == 6 || fam == 0xF) ? (((r[0] >> 16) & 0xF) << 4) + model : model;
    hv_printf("leaf 1: family %#x model %#x stepping %u, initial APIC ID %u\n", dfam, dmodel, step, r[1] >> 24);
    uint32_t edx1 = r[3], ecx1 = r[2];
    hv_printf("leaf 1 EDX: FPU=%u TSC=%u MSR=%u PAE=%u CX8=%u PGE=%u CMOV=%u PAT=%u FXSR=%u SSE=%u SSE2=%u\n",
              edx1 & 1, (edx1 >> 4) & 1, (edx1 >> 5) & 1, (edx1 >> 6) & 1, (edx1 >> 8) & 1, (edx1 >> 13) & 1,
              (edx1 >> 15) & 1, (edx1 >> 16) & 1, (edx1 >> 24) & 1, (edx1 >> 25) & 1, (edx1 >> 26) & 1);
    hv_printf("leaf 1 ECX: PCID=%u XSAVE=%u OSXSAVE=%u RDRAND=%u\n", (ecx1 >> 17) & 1, (ecx1 >> 26) & 1,
              (ecx1 >> 27) & 1, (ecx1 >> 30) & 1);
    /* What this payload relies on must be reported. */
    T_CHECK((edx1 & 0x01012171u) == 0x01012171u, "leaf 1 EDX %#x lacks FPU/TSC/MSR/PAE/CX8/PGE/PAT/FXSR", edx1);
    T_CHECK_EQ((ecx1 >> 27) & 1, 0);            /* CR4.OSXSAVE is 0 */
    T_CHECK_EQ(r[1] >> 24, 0);

    /* Per-LP initial APIC IDs. */
    while (reported != nlps - 1)
        cpu_pause();
    for (unsigned i = 1; i < nlps; i++) {
        hv_printf("LP %u: initial APIC ID %u\n", i, apic_id[i]);
        T_CHECK_EQ(apic_id[i], i);
    }

    cpuid(7, r);
    uint32_t ebx7 = r[1], ecx7 = r[2];
    hv_printf("leaf 7: FSGSBASE=%u SMEP=%u SMAP=%u RDSEED=%u UMIP=%u\n", ebx7 & 1, (ebx7 >> 7) & 1,
              (ebx7 >> 20) & 1, (ebx7 >> 18) & 1, (ecx7 >> 2) & 1);

    cpuid(0x80000000, r);
    uint32_t max_ext = r[0];
    hv_printf("leaf 80000000H: maximum extended leaf %#x\n", max_ext);
    T_ASSERT(max_ext >= 0x80000008, "max extended leaf");
    cpuid(0x80000001, r);
    uint32_t edx81 = r[3];
    hv_printf("leaf 80000001H EDX: SYSCALL=%u NX=%u Page1GB=%u RDTSCP=%u LM=%u\n", (edx81 >> 11) & 1,
              (edx81 >> 20) & 1, (edx81 >> 26) & 1, (edx81 >> 27) & 1, (edx81 >> 29) & 1);
    /* Consistency: this code runs in 64-bit mode with EFER.NXE = 1. */
    uint64_t efer = rdmsr(MSR_EFER);
    hv_printf("  consistent with EFER.LMA=%llu NXE=%llu\n", (unsigned long long)((efer >> 10) & 1),
              (unsigned long long)((efer >> 11) & 1));
    T_CHECK((edx81 >> 29) & 1, "LM not reported in long mode");
    T_CHECK((edx81 >> 20) & 1, "NX not reported but EFER.NXE is set");
    T_CHECK((edx81 >> 11) & 1, "SYSCALL not reported");
    wrmsr(MSR_EFER, efer | 1);                  /* SCE is writable when SYSCALL is reported */
    T_CHECK_EQ(rdmsr(MSR_EFER), efer | 1);
    wrmsr(MSR_EFER, efer);
    if (amd) {
        bool mirror = (edx81 & 0x0183F3FFu) == (edx1 & 0x0183F3FFu);
        hv_printf("  AMD: repeats leaf 1 EDX bits 0-9, 12-17, 23, 24: %s\n", mirror ? "yes" : "no");
        T_CHECK(mirror, "leaf 80000001H EDX %#x vs leaf 1 EDX %#x", edx81, edx1);
    }

    char brand[49];
    for (uint32_t i = 0; i < 3; i++) {
        cpuid(0x80000002 + i, r);
        memcpy(brand + 16 * i, r, 16);
    }
    brand[48] = 0;
    hv_printf("brand: \"%s\"\n", brand);
    cpuid(0x80000008, r);
    hv_printf("leaf 80000008H: %u physical, %u linear address bits\n", r[0] & 0xFF, (r[0] >> 8) & 0xFF);

    /* CR4 bits for optional features: accepted iff reported. */
    hv_printf("CR4 bits versus CPUID:\n");
    cr4_vs_cpuid("PGE", CR4_PGE, (edx1 >> 13) & 1);
    cr4_vs_cpuid("PCIDE", 1ull << 17, (ecx1 >> 17) & 1);
    cr4_vs_cpuid("OSXSAVE", 1ull << 18, (ecx1 >> 26) & 1);
    cr4_vs_cpuid("FSGSBASE", CR4_FSGSBASE, ebx7 & 1);
    cr4_vs_cpuid("SMEP", CR4_SMEP, (ebx7 >> 7) & 1);
    cr4_vs_cpuid("SMAP", CR4_SMAP, (ebx7 >> 20) & 1);
    cr4_vs_cpuid("UMIP", CR4_UMIP, (ecx7 >> 2) & 1);

    /* Out-of-range leaves. */
    uint32_t top[4], hi[4];
    cpuid(max_basic, top);
    if (!amd) {
        uint32_t list[4] = { max_basic + 1, 0x1000, 0x40000000, max_ext + 1 };
        for (int i = 0; i < 4; i++) {
            cpuid(list[i], hi);
            bool same = !memcmp(hi, top, sizeof(top));
            hv_printf("leaf %#x (out of range): returns leaf %#x's data: %s\n", list[i], max_basic,
                      same ? "yes" : "no");
            T_CHECK(same, "leaf %#x: %#x %#x %#x %#x", list[i], hi[0], hi[1], hi[2], hi[3]);
        }
    } else {
        hv_printf("out-of-range leaves: not checked (the rule above is Intel's)\n");
    }

    /* CPUID is not privileged. */
    uint64_t ub = hv_run_user(u_cpuid, hv_user_stack());
    cpuid(0, r);
    hv_printf("ring 3 CPUID leaf 0 EBX matches ring 0: %s\n", ub == r[1] ? "yes" : "no");
    T_CHECK_EQ(ub, r[1]);
    T_DONE();
}
