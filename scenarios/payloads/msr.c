/*
 * msr — RDMSR/WRMSR round trips and their #GP conditions, SWAPGS, and the
 * FS/GS base MSRs against RDFSBASE/WRFSBASE/RDGSBASE/WRGSBASE.
 *
 * SDM 2B RDMSR/WRMSR (#GP(0) for a reserved or unimplemented MSR address
 * and for a non-zero reserved bit; non-canonical values in the MSRs that
 * hold addresses), SDM 4 (IA32_EFER: bits 1-7, 9, 12-63 reserved;
 * IA32_FMASK and IA32_TSC_AUX: bits 63:32 reserved), 3A 11.12.2 (PAT
 * memory types 2, 3 and >= 8 are reserved: #GP), 3A 9.8.5 (EFER.LME cannot
 * change while paging is on), 2B SWAPGS (exchanges GS base with
 * IA32_KERNEL_GS_BASE), 2A RDFSBASE/WRFSBASE (#UD if CR4.FSGSBASE = 0,
 * #GP(0) for a non-canonical base; the same bases as IA32_FS_BASE /
 * IA32_GS_BASE), 3A 3.4.4 (FS/GS bases in 64-bit mode).
 */
#include "hvsim.h"

struct m { uint32_t msr; uint64_t val; };
static void do_rd(void *p) { struct m *m = p; m->val = rdmsr(m->msr); }
static void do_wr(void *p) { struct m *m = p; wrmsr(m->msr, m->val); }

static void roundtrip(const char *name, uint32_t msr, uint64_t v)
{
    uint64_t old = rdmsr(msr);
    struct m m = { msr, v };
    bool gp = hv_call_expect(13, do_wr, &m);
    uint64_t back = rdmsr(msr);
    hv_printf("%-16s write %#llx: %s, reads back %s\n", name, (unsigned long long)v, gp ? "#GP" : "ok",
              back == v ? "the same" : "DIFFERENT");
    T_CHECK(!gp, "%s write faulted", name);
    T_CHECK_EQ(back, v);
    wrmsr(msr, old);
}

static void wr_gp(const char *what, uint32_t msr, uint64_t v)
{
    uint64_t old = rdmsr(msr);
    struct m m = { msr, v };
    bool gp = hv_call_expect(13, do_wr, &m);
    hv_printf("%-40s %s", what, gp ? "#GP" : "accepted");
    if (gp)
        hv_printf(" error code 0x%llx", (unsigned long long)hv_last_ec);
    hv_printf(", MSR unchanged: %s\n", rdmsr(msr) == old ? "yes" : "no");
    T_CHECK(gp, "%s", what);
    T_CHECK_EQ(hv_last_ec, 0);
    T_CHECK_EQ(rdmsr(msr), old);
}

static inline uint64_t rdfsbase(void) { uint64_t v; __asm__ volatile("rdfsbase %0" : "=r"(v)); return v; }
static inline uint64_t rdgsbase(void) { uint64_t v; __asm__ volatile("rdgsbase %0" : "=r"(v)); return v; }
static inline void wrfsbase(uint64_t v) { __asm__ volatile("wrfsbase %0" :: "r"(v) : "memory"); }
static inline void wrgsbase(uint64_t v) { __asm__ volatile("wrgsbase %0" :: "r"(v) : "memory"); }
static inline uint64_t fs_load(uint64_t off) { uint64_t v; __asm__ volatile("mov %%fs:(%1), %0" : "=r"(v) : "r"(off)); return v; }
static inline uint64_t gs_load(uint64_t off) { uint64_t v; __asm__ volatile("mov %%gs:(%1), %0" : "=r"(v) : "r"(off)); return v; }
static void do_wrfsbase(void *p) { wrfsbase(*(uint64_t *)p); }

static uint64_t area_a[4] = { 0xA0, 0xA1, 0xA2, 0xA3 }, area_b[4] = { 0xB0, 0xB1, 0xB2, 0xB3 };

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_cpu_init();

    /* Round trips. */
    roundtrip("IA32_STAR", MSR_STAR, 0x0023001000080000ull | 0x12345678);
    roundtrip("IA32_LSTAR", MSR_LSTAR, 0xFFFF800012345678ull);
    roundtrip("IA32_FMASK", MSR_FMASK, 0x47700);
    roundtrip("IA32_PAT", MSR_PAT, 0x0001050400070406ull);
    roundtrip("KERNEL_GS_BASE", MSR_KERNEL_GS_BASE, 0xFFFFFFFF80001000ull);
    roundtrip("IA32_TSC_AUX", MSR_TSC_AUX, 0xCAFE);

    /* #GP: unimplemented MSR, reserved bits, non-canonical addresses. */
    struct m m = { 0x12345678, 0 };
    bool gp = hv_call_expect(13, do_rd, &m);
    hv_printf("%-40s %s error code 0x%llx\n", "RDMSR 0x12345678 (no such MSR):", gp ? "#GP" : "no fault",
              (unsigned long long)hv_last_ec);
    T_CHECK(gp, "rdmsr 0x12345678");
    m.val = 1;
    gp = hv_call_expect(13, do_wr, &m);
    hv_printf("%-40s %s error code 0x%llx\n", "WRMSR 0x12345678 (no such MSR):", gp ? "#GP" : "no fault",
              (unsigned long long)hv_last_ec);
    T_CHECK(gp, "wrmsr 0x12345678");
    uint64_t efer = rdmsr(MSR_EFER);
    wr_gp("EFER with reserved bit 2 set:", MSR_EFER, efer | (1ull << 2));
    wr_gp("EFER with reserved bit 12 set:", MSR_EFER, efer | (1ull << 12));
    wr_gp("EFER.LME cleared while paging:", MSR_EFER, efer & ~(1ull << 8));
    wr_gp("PAT entry 0 = type 2 (reserved):", MSR_PAT, 0x0007040600070402ull);
    wr_gp("PAT entry 7 = type 3 (reserved):", MSR_PAT, 0x0307040600070406ull);
    wr_gp("PAT entry 1 = 0x08 (reserved):", MSR_PAT, 0x0007040600070806ull);
    wr_gp("LSTAR non-canonical:", MSR_LSTAR, 0x0000800000000000ull);
    wr_gp("KERNEL_GS_BASE non-canonical:", MSR_KERNEL_GS_BASE, 0x8000000000000000ull);
    wr_gp("FS_BASE non-canonical:", MSR_FS_BASE, 0x0001000000000000ull);
    wr_gp("FMASK bit 32 set:", MSR_FMASK, 1ull << 32);
    wr_gp("TSC_AUX bit 32 set:", MSR_TSC_AUX, 1ull << 32);

    /* SWAPGS exchanges GS.base and IA32_KERNEL_GS_BASE. */
    uint64_t a = (uint64_t)(uintptr_t)area_a, b = (uint64_t)(uintptr_t)area_b;
    wrmsr(MSR_GS_BASE, a);
    wrmsr(MSR_KERNEL_GS_BASE, b);
    uint64_t g0 = gs_load(8);
    swapgs();
    uint64_t gsb = rdmsr(MSR_GS_BASE), kgsb = rdmsr(MSR_KERNEL_GS_BASE), g1 = gs_load(8);
    hv_printf("SWAPGS: GS.base %s, KERNEL_GS_BASE %s, %%gs:8 before 0x%llx after 0x%llx\n",
              gsb == b ? "= old KERNEL_GS_BASE" : "WRONG", kgsb == a ? "= old GS.base" : "WRONG",
              (unsigned long long)g0, (unsigned long long)g1);
    T_CHECK_EQ(gsb, b);
    T_CHECK_EQ(kgsb, a);
    T_CHECK_EQ(g0, 0xA1);
    T_CHECK_EQ(g1, 0xB1);
    swapgs();
    T_CHECK_EQ(rdmsr(MSR_GS_BASE), a);

    /* FS/GS base: the MSRs and RD/WR{FS,GS}BASE name the same registers. */
    uint64_t v = 0x1000;
    bool ud = hv_call_expect(6, do_wrfsbase, &v);
    hv_printf("WRFSBASE with CR4.FSGSBASE=0: %s\n", ud ? "#UD" : "executed");
    T_CHECK(ud, "WRFSBASE without CR4.FSGSBASE");
    write_cr4(read_cr4() | CR4_FSGSBASE);
    wrfsbase(a);
    uint64_t fsm = rdmsr(MSR_FS_BASE), f2 = fs_load(16);
    hv_printf("WRFSBASE a: IA32_FS_BASE %s, %%fs:16 = 0x%llx\n", fsm == a ? "= a" : "WRONG", (unsigned long long)f2);
    T_CHECK_EQ(fsm, a);
    T_CHECK_EQ(f2, 0xA2);
    wrmsr(MSR_FS_BASE, b);
    uint64_t fsr = rdfsbase(), f3 = fs_load(24);
    hv_printf("WRMSR IA32_FS_BASE b: RDFSBASE %s, %%fs:24 = 0x%llx\n", fsr == b ? "= b" : "WRONG", (unsigned long long)f3);
    T_CHECK_EQ(fsr, b);
    T_CHECK_EQ(f3, 0xB3);
    wrgsbase(b);
    uint64_t gsm = rdmsr(MSR_GS_BASE), g3 = gs_load(0);
    wrmsr(MSR_GS_BASE, a);
    uint64_t gsr = rdgsbase();
    hv_printf("WRGSBASE b: IA32_GS_BASE %s, %%gs:0 = 0x%llx; WRMSR IA32_GS_BASE a: RDGSBASE %s\n",
              gsm == b ? "= b" : "WRONG", (unsigned long long)g3, gsr == a ? "= a" : "WRONG");
    T_CHECK_EQ(gsm, b);
    T_CHECK_EQ(g3, 0xB0);
    T_CHECK_EQ(gsr, a);
    v = 0x0000800000000000ull;
    gp = hv_call_expect(13, do_wrfsbase, &v);
    hv_printf("WRFSBASE non-canonical: %s error code 0x%llx, FS base unchanged: %s\n", gp ? "#GP" : "accepted",
              (unsigned long long)hv_last_ec, rdfsbase() == b ? "yes" : "no");
    T_CHECK(gp, "WRFSBASE non-canonical");
    T_CHECK_EQ(rdfsbase(), b);
    T_DONE();
}
