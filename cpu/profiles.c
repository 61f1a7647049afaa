/*
 * profiles.c — CPU profiles: what CPUID reports and which optional
 * behaviours the model enables. Profiles are data; cpuid_query() is the only
 * code that reads CPUID leaves. docs/cpu-profiles.md describes each profile.
 *
 * Every feature bit a profile sets must be something hvsim actually provides:
 * either the instruction engine executes it natively (measured, see
 * docs/cpu-mmu.md "What the engine executes") or cpu/ emulates it. The engine
 * (Unicorn 2.0.1) lacks AVX, XSAVE, POPCNT, MOVBE and PCLMULQDQ, so no
 * profile offers them. VMX/SVM bits are set by the virtualization models
 * when they register (issues #4, #7), not here.
 */
#include <string.h>

#include "cpu_priv.h"

/* CPUID.1:ECX / EDX and friends (SDM 2A CPUID, tables 3-10 .. 3-20). */
#define F1C_SSE3     (1u << 0)
#define F1C_MONITOR  (1u << 3)
#define F1C_SSSE3    (1u << 9)
#define F1C_CX16     (1u << 13)
#define F1C_PCID     (1u << 17)
#define F1C_SSE41    (1u << 19)
#define F1C_SSE42    (1u << 20)
#define F1C_AES      (1u << 25)
#define F1C_X2APIC   (1u << 21)
#define F1C_TSCDL    (1u << 24)
#define F1C_RDRAND   (1u << 30)

#define F1D_FPU   (1u << 0)
#define F1D_DE    (1u << 2)
#define F1D_PSE   (1u << 3)
#define F1D_TSC   (1u << 4)
#define F1D_MSR   (1u << 5)
#define F1D_PAE   (1u << 6)
#define F1D_CX8   (1u << 8)
#define F1D_APIC  (1u << 9)
#define F1D_SEP   (1u << 11)
#define F1D_MTRR  (1u << 12)
#define F1D_PGE   (1u << 13)
#define F1D_CMOV  (1u << 15)
#define F1D_PAT   (1u << 16)
#define F1D_PSE36 (1u << 17)
#define F1D_CLFSH (1u << 19)
#define F1D_MMX   (1u << 23)
#define F1D_FXSR  (1u << 24)
#define F1D_SSE   (1u << 25)
#define F1D_SSE2  (1u << 26)

#define F7B_FSGSBASE   (1u << 0)
#define F7B_TSC_ADJUST (1u << 1)
#define F7B_BMI1       (1u << 3)
#define F7B_SMEP       (1u << 7)
#define F7B_BMI2       (1u << 8)
#define F7B_ERMS       (1u << 9)
#define F7B_INVPCID    (1u << 10)
#define F7B_RDSEED     (1u << 18)
#define F7B_ADX        (1u << 19)
#define F7B_SMAP       (1u << 20)
#define F7C_UMIP       (1u << 2)

#define X1C_LAHF      (1u << 0)
#define X1C_ABM       (1u << 5)
#define X1C_PREFETCHW (1u << 8)
#define X1D_SYSCALL   (1u << 11)
#define X1D_NX        (1u << 20)
#define X1D_PAGE1G    (1u << 26)
#define X1D_RDTSCP    (1u << 27)
#define X1D_LM        (1u << 29)

/* Pack a 12-byte string into EBX, EDX, ECX order as CPUID leaf 0 does. */
#define STR4(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

#define BASIC_EDX (F1D_FPU | F1D_DE | F1D_PSE | F1D_TSC | F1D_MSR | F1D_PAE | F1D_CX8 | F1D_APIC | F1D_SEP | \
                   F1D_MTRR | F1D_PGE | F1D_CMOV | F1D_PAT | F1D_PSE36 | F1D_CLFSH | F1D_MMX | F1D_FXSR | \
                   F1D_SSE | F1D_SSE2)
#define BASIC_ECX (F1C_SSE3 | F1C_MONITOR | F1C_SSSE3 | F1C_CX16 | F1C_PCID | F1C_SSE41 | \
                   F1C_SSE42 | F1C_X2APIC | F1C_AES | F1C_RDRAND)
#define LEAF7_EBX (F7B_FSGSBASE | F7B_TSC_ADJUST | F7B_BMI1 | F7B_SMEP | F7B_BMI2 | F7B_ERMS | \
                   F7B_INVPCID | F7B_RDSEED | F7B_ADX | F7B_SMAP)

/* "hvsim virtual CPU" brand strings, 48 bytes over leaves 0x80000002..4. */
#define BRAND_LEAVES(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11) \
    { 0x80000002, 0, false, s0, s1, s2, s3 }, \
    { 0x80000003, 0, false, s4, s5, s6, s7 }, \
    { 0x80000004, 0, false, s8, s9, s10, s11 }

/* The Intel profiles share their leaves but for the signature, the brand
 * string and the physical-address width:
 * Vendor "GenuineIntel", highest basic leaf 0x16; leaf 1 EBX: CLFLUSH line
 * 8 qwords, one logical processor per package (the initial APIC ID in 31:24
 * is filled per LP by cpuid_query, and so is leaf 0xB); leaves 0x15/0x16:
 * the TSC/crystal ratio and frequencies of the virtual 2 GHz TSC; leaf
 * 0x80000007: invariant TSC; leaf 0x80000008 EAX: physical and linear
 * address bits. */
#define INTEL_LEAVES(signature, brand, addr_bits) \
    { 0x00000000, 0, false, 0x16, STR4('G','e','n','u'), STR4('n','t','e','l'), STR4('i','n','e','I') }, \
    { 0x00000001, 0, false, signature, 0x00010800, BASIC_ECX | F1C_TSCDL, BASIC_EDX }, \
    { 0x00000007, 0, true,  0, LEAF7_EBX, F7C_UMIP, 0 }, \
    { 0x0000000B, 0, false, 0, 0, 0, 0 }, \
    { 0x00000015, 0, false, 1, 80, 25000000, 0 }, \
    { 0x00000016, 0, false, 2000, 2000, 100, 0 }, \
    { 0x80000000, 0, false, 0x80000008, 0, 0, 0 }, \
    { 0x80000001, 0, false, 0, 0, X1C_LAHF | X1C_ABM | X1C_PREFETCHW, \
      X1D_SYSCALL | X1D_NX | X1D_PAGE1G | X1D_RDTSCP | X1D_LM }, \
    brand, \
    { 0x80000007, 0, false, 0, 0, 0, 1u << 8 }, \
    { 0x80000008, 0, false, addr_bits, 0, 0, 0 }

/* Family 6, model 0x8F, stepping 8 (a 4th-generation Xeon Scalable
 * signature); 46 physical, 48 linear address bits. */
static const struct cpuid_leaf intel_server_leaves[] = {
    INTEL_LEAVES(0x000806F8,
                 BRAND_LEAVES(STR4('h','v','s','i'), STR4('m',' ','v','i'), STR4('r','t','u','a'),
                              STR4('l',' ','I','n'), STR4('t','e','l',' '), STR4('s','e','r','v'),
                              STR4('e','r',' ','p'), STR4('r','o','f','i'), STR4('l','e',0,0), 0, 0, 0),
                 0x302E),
};

/* The same CPU with a minimal VMX (vmx_model/caps.c): an Ivy Bridge client
 * signature (family 6, model 0x3A, stepping 9); 39 physical, 48 linear
 * address bits. */
static const struct cpuid_leaf intel_minimal_leaves[] = {
    INTEL_LEAVES(0x000306A9,
                 BRAND_LEAVES(STR4('h','v','s','i'), STR4('m',' ','v','i'), STR4('r','t','u','a'),
                              STR4('l',' ','I','n'), STR4('t','e','l',' '), STR4('m','i','n','i'),
                              STR4('m','a','l',' '), STR4('V','M','X',' '), STR4('p','r','o','f'),
                              STR4('i','l','e',0), 0, 0),
                 0x3027),
};

static const struct cpuid_leaf amd_server_leaves[] = {
    /* Vendor "AuthenticAMD", highest basic leaf 0xD would be usual; we stop at 7. */
    { 0x00000000, 0, false, 0x7, STR4('A','u','t','h'), STR4('c','A','M','D'), STR4('e','n','t','i') },
    /* Family 0x19 (0xF + 0xA), model 0x11, stepping 1 (a Zen 4 server signature). */
    { 0x00000001, 0, false, 0x00A10F11, 0x00010800, BASIC_ECX & ~F1C_MONITOR, BASIC_EDX },
    { 0x00000007, 0, true,  0, LEAF7_EBX, F7C_UMIP, 0 },
    { 0x80000000, 0, false, 0x80000008, STR4('A','u','t','h'), STR4('c','A','M','D'), STR4('e','n','t','i') },
    { 0x80000001, 0, false, 0x00A10F11, 0, X1C_LAHF | X1C_ABM | X1C_PREFETCHW,
      X1D_SYSCALL | X1D_NX | X1D_PAGE1G | X1D_RDTSCP | X1D_LM | (BASIC_EDX & 0x0183F3FF) },
    BRAND_LEAVES(STR4('h','v','s','i'), STR4('m',' ','v','i'), STR4('r','t','u','a'), STR4('l',' ','A','M'),
                 STR4('D',' ','s','e'), STR4('r','v','e','r'), STR4(' ','p','r','o'), STR4('f','i','l','e'),
                 0, 0, 0, 0),
    { 0x80000007, 0, false, 0, 0, 0, 1u << 8 },
    { 0x80000008, 0, false, 0x3030, 0, 0, 0 },             /* 48 physical, 48 linear bits */
};

#define NLEAVES(a) (unsigned)(sizeof(a) / sizeof((a)[0]))

/* CR4 bits a profile does not support (they fault on MOV to CR4):
 * VME, PVI (no virtual-8086 mode), MCE, LA57, VMXE/SMXE (until a
 * virtualization model registers), OSXSAVE (no XSAVE), PKE and everything
 * above bit 22. */
#define CR4_RSVD_COMMON (CR4_VME | CR4_PVI | CR4_LA57 | CR4_VMXE | CR4_SMXE | CR4_OSXSAVE | \
                         CR4_PKE | (1ull << 15) | (1ull << 19) | ~((1ull << 23) - 1))

static const struct cpu_profile profiles[] = {
    {
        .name = "intel-server",
        .description = "Intel server part (4th-gen Xeon signature): NX, SMEP, SMAP, UMIP, PCID, "
                       "INVPCID, 1-GiB pages, FSGSBASE, RDRAND/RDSEED, SSE4.2, BMI1/2",
        .vendor = "GenuineIntel", .is_amd = false,
        .maxphyaddr = 46, .linear_bits = 48,
        .leaves = intel_server_leaves, .nleaves = NLEAVES(intel_server_leaves),
        .tsc_hz = 2000000000ull,
        .nx = true, .smep = true, .smap = true, .pcid = true, .invpcid = true, .fsgsbase = true,
        .xsave = false, .rdrand = true, .rdseed = true, .rdtscp = true, .page1g = true, .pge = true,
        .syscall = true, .umip = true, .sysenter_in_long_mode = true, .monitor = true,
        .x2apic = true, .tsc_deadline = true,
        .apic_timer_hz = 25000000ull,          /* the core crystal clock of CPUID.15H */
        .xcr0_supported = 0x3,
        .cr4_reserved = CR4_RSVD_COMMON | CR4_MCE,
    },
    {
        .name = "intel-minimal",
        .description = "the Intel profile with a minimal VMX (no secondary controls, no TRUE "
                       "capability MSRs, no EPT/VPID) and 39 physical-address bits",
        .vendor = "GenuineIntel", .is_amd = false,
        .maxphyaddr = 39, .linear_bits = 48,
        .leaves = intel_minimal_leaves, .nleaves = NLEAVES(intel_minimal_leaves),
        .tsc_hz = 2000000000ull,
        .nx = true, .smep = true, .smap = true, .pcid = true, .invpcid = true, .fsgsbase = true,
        .xsave = false, .rdrand = true, .rdseed = true, .rdtscp = true, .page1g = true, .pge = true,
        .syscall = true, .umip = true, .sysenter_in_long_mode = true, .monitor = true,
        .x2apic = true, .tsc_deadline = true,
        .apic_timer_hz = 25000000ull,
        .xcr0_supported = 0x3,
        .cr4_reserved = CR4_RSVD_COMMON | CR4_MCE,
    },
    {
        .name = "amd-server",
        .description = "AMD server part (Zen 4 signature): NX, SMEP, SMAP, UMIP, PCID, INVPCID, "
                       "1-GiB pages, FSGSBASE, RDRAND/RDSEED, SSE4.2, BMI1/2",
        .vendor = "AuthenticAMD", .is_amd = true,
        .maxphyaddr = 48, .linear_bits = 48,
        .leaves = amd_server_leaves, .nleaves = NLEAVES(amd_server_leaves),
        .tsc_hz = 2000000000ull,
        .nx = true, .smep = true, .smap = true, .pcid = true, .invpcid = true, .fsgsbase = true,
        .xsave = false, .rdrand = true, .rdseed = true, .rdtscp = true, .page1g = true, .pge = true,
        .syscall = true, .umip = true, .sysenter_in_long_mode = false, .monitor = false,
        .x2apic = true, .tsc_deadline = false,
        .apic_timer_hz = 100000000ull,         /* 100 MHz reference clock (no CPUID leaf says) */
        .xcr0_supported = 0x3,
        .cr4_reserved = CR4_RSVD_COMMON | CR4_MCE,
    },
};

const struct cpu_profile *cpu_profile_default(void) { return &profiles[0]; }

const struct cpu_profile *cpu_profile_at(unsigned i)
{
    return i < NLEAVES(profiles) ? &profiles[i] : NULL;
}

const struct cpu_profile *cpu_profile_find(const char *name)
{
    if (!name)
        return NULL;
    if (!strcmp(name, "intel"))
        return &profiles[0];
    if (!strcmp(name, "amd"))
        return cpu_profile_find("amd-server");
    for (unsigned i = 0; i < NLEAVES(profiles); i++)
        if (!strcmp(profiles[i].name, name))
            return &profiles[i];
    return NULL;
}

const char *cpu_profile_name(const struct cpu_profile *p) { return p->name; }
const char *cpu_profile_description(const struct cpu_profile *p) { return p->description; }
const char *cpu_profile_vendor(const struct cpu_profile *p) { return p->vendor; }

static const struct cpuid_leaf *find_leaf(const struct cpu_profile *p, uint32_t leaf, uint32_t sub)
{
    for (unsigned i = 0; i < p->nleaves; i++) {
        const struct cpuid_leaf *l = &p->leaves[i];
        if (l->leaf == leaf && (!l->has_subleaf || l->subleaf == sub))
            return l;
    }
    return NULL;
}

/* SDM 2A CPUID: on Intel, a basic leaf above the maximum returns the data of
 * the highest basic leaf; AMD returns zeros. Unlisted leaves in range are 0. */
void cpuid_query(cpu_t *cpu, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
    const struct cpu_profile *p = cpu->prof;
    const struct cpuid_leaf *max_basic = find_leaf(p, 0, 0);
    const struct cpuid_leaf *max_ext = find_leaf(p, 0x80000000, 0);
    uint32_t mb = max_basic ? max_basic->eax : 0;
    uint32_t me = max_ext ? max_ext->eax : 0;
    out[0] = out[1] = out[2] = out[3] = 0;

    bool in_range = (leaf <= mb) || (leaf >= 0x80000000 && leaf <= me);
    if (!in_range) {
        if (p->is_amd) {
            if (cpu->has_virt && cpu->virt.cpuid)
                cpu->virt.cpuid(cpu->virt.ctx, cpu, leaf, sub, out);   /* e.g. SVM's leaf 0x8000000A */
            return;
        }
        leaf = mb;                      /* Intel: highest basic leaf */
        sub = 0;
    }
    const struct cpuid_leaf *l = find_leaf(p, leaf, sub);
    if (!l)
        return;
    out[0] = l->eax;
    out[1] = l->ebx;
    out[2] = l->ecx;
    out[3] = l->edx;
    if (leaf == 1) {
        /* Initial APIC ID; the LPs form one package: HTT and the number of
         * addressable IDs in it (a power of two, SDM 2A CPUID leaf 01H). */
        unsigned n = cpu->cfg.lp_count ? cpu->cfg.lp_count : 1, ids = 1;
        while (ids < n)
            ids <<= 1;
        out[1] = (out[1] & 0x0000FFFF) | ((ids & 0xFF) << 16) | (cpu->cfg.lp_index << 24);
        if (n > 1)
            out[3] |= 1u << 28;                                          /* HTT */
        if (cpu->cr4 & CR4_OSXSAVE)
            out[2] |= 1u << 27;
        if (!(cpu->msr.val[MSR_APIC_BASE] & (1u << 11)))
            out[3] &= ~F1D_APIC;        /* SDM 3A 10.4.3: a hardware-disabled APIC hides the bit */
    }
    if (leaf == 0xB) {
        /* x2APIC topology (SDM 2A CPUID leaf 0BH): every LP is a core of one
         * package, one thread per core. */
        unsigned n = cpu->cfg.lp_count ? cpu->cfg.lp_count : 1, shift = 0;
        while ((1u << shift) < n)
            shift++;
        out[3] = cpu->cfg.lp_index;
        if (sub == 0) {
            out[0] = 0; out[1] = 1; out[2] = 0x100;
        } else if (sub == 1) {
            out[0] = shift; out[1] = n; out[2] = 0x200 | 1;
        } else {
            out[0] = 0; out[1] = 0; out[2] = sub & 0xFF;
        }
    }
    if (leaf == 7 && sub != 0)
        out[0] = out[1] = out[2] = out[3] = 0;
    if (cpu->has_virt && cpu->virt.cpuid)
        cpu->virt.cpuid(cpu->virt.ctx, cpu, leaf, sub, out);   /* VMX/SVM feature bits */
}
