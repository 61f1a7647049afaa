/*
 * segments — descriptor-table and segment instructions in IA-32e mode:
 * LGDT/SGDT/SIDT, LTR/STR (busy TSS), LLDT/SLDT, LAR/LSL/VERR/VERW, and MOV
 * to DS/SS with bad selectors.
 *
 * SDM 3A 3.4.2 (selectors: index, TI, RPL), 3.4.5 (descriptor fields),
 * 3.5 and table 3-2 (system types in IA-32e mode: 2 LDT, 9/B 64-bit TSS,
 * C 64-bit call gate; type 1 is not valid), 7.2.3 / 8.2.3 (64-bit TSS
 * descriptor), 5.5-5.6 (privilege checks on data and stack segment loads),
 * 2A LAR (ZF, access rights masked by 00FxFF00H; valid system types in
 * 64-bit mode), 2A LSL (byte-granular limit; LDT and TSS types only),
 * 2B VERR/VERW, 2A LTR (#GP(selector) for a busy TSS or a non-TSS
 * descriptor, #GP(0) for a null selector; marks the TSS busy), 2A LLDT,
 * 2B MOV (DS: #GP(selector) beyond the table, system or execute-only
 * descriptor, RPL or CPL > DPL; #NP(selector) if not present; SS: #GP for
 * a code, read-only, RPL != CPL or DPL != CPL descriptor, #SS(selector) if
 * not present, null allowed at CPL < 3 with RPL = CPL).
 */
#include "hvsim.h"

static uint64_t gdt[32] __attribute__((aligned(16)));
static uint64_t ldt[2] __attribute__((aligned(16)));
static uint8_t tss[104] __attribute__((aligned(16)));

static uint64_t desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
    return (limit & 0xFFFFull) | ((uint64_t)(base & 0xFFFFFF) << 16) | ((uint64_t)access << 40) |
           ((uint64_t)((limit >> 16) & 0xF) << 48) | ((uint64_t)(flags & 0xF) << 52) |
           ((uint64_t)(base >> 24) << 56);
}

static void sysdesc(unsigned idx, uint64_t base, uint32_t limit, uint8_t access)
{
    gdt[idx] = desc((uint32_t)base, limit, access, 0);
    gdt[idx + 1] = base >> 32;
}

enum {
    S_TSS2 = 0x40, S_DATA = 0x50, S_RODATA = 0x58, S_XONLY = 0x60, S_NPDATA = 0x68, S_DATA3 = 0x70,
    S_LDT = 0x78, S_CGATE = 0x88, S_TSS16 = 0x98, S_CONF = 0xA8,
};

static uint32_t lar(uint16_t sel, bool *zf)
{
    uint32_t v = 0xDEADBEEF;
    uint8_t z;
    __asm__ volatile("lar %k2, %k0; setz %1" : "+r"(v), "=q"(z) : "r"((uint32_t)sel) : "cc");
    *zf = z;
    return v;
}

static uint32_t lsl(uint16_t sel, bool *zf)
{
    uint32_t v = 0xDEADBEEF;
    uint8_t z;
    __asm__ volatile("lsl %k2, %k0; setz %1" : "+r"(v), "=q"(z) : "r"((uint32_t)sel) : "cc");
    *zf = z;
    return v;
}

static bool verr(uint16_t sel)
{
    uint8_t z;
    __asm__ volatile("verr %w1; setz %0" : "=q"(z) : "r"(sel) : "cc");
    return z;
}

static bool verw(uint16_t sel)
{
    uint8_t z;
    __asm__ volatile("verw %w1; setz %0" : "=q"(z) : "r"(sel) : "cc");
    return z;
}

static void check_lar(const char *what, uint16_t sel, bool ok, uint32_t rights)
{
    bool zf;
    uint32_t v = lar(sel, &zf);
    if (zf)
        hv_printf("LAR 0x%04x %-26s ZF=1 rights %#010x\n", sel, what, v & 0x00F0FF00u);
    else
        hv_printf("LAR 0x%04x %-26s ZF=0 destination %s\n", sel, what, v == 0xDEADBEEF ? "unchanged" : "CHANGED");
    T_CHECK(zf == ok, "LAR %#x ZF", sel);
    if (zf && ok) {
        T_CHECK_EQ(v & 0x00F0FF00u, rights);
        T_CHECK_EQ(v & 0xFF0000FFu, 0);
    }
    if (!zf)
        T_CHECK_EQ(v, 0xDEADBEEF);
}

static void check_lsl(const char *what, uint16_t sel, bool ok, uint32_t limit)
{
    bool zf;
    uint32_t v = lsl(sel, &zf);
    if (zf)
        hv_printf("LSL 0x%04x %-26s ZF=1 limit %#x\n", sel, what, v);
    else
        hv_printf("LSL 0x%04x %-26s ZF=0\n", sel, what);
    T_CHECK(zf == ok, "LSL %#x ZF", sel);
    if (zf && ok)
        T_CHECK_EQ(v, limit);
}

static void check_ver(const char *what, uint16_t sel, bool r, bool w)
{
    bool vr = verr(sel), vw = verw(sel);
    hv_printf("VERR/VERW 0x%04x %-20s %u/%u\n", sel, what, vr, vw);
    T_CHECK(vr == r, "VERR %#x", sel);
    T_CHECK(vw == w, "VERW %#x", sel);
}

/* MOV to DS / SS / LTR with an expected exception. */
static void mov_ds(void *p) { __asm__ volatile("mov %0, %%ds" :: "r"(*(uint16_t *)p)); }
static void mov_ss(void *p) { __asm__ volatile("mov %0, %%ss" :: "r"(*(uint16_t *)p)); }
static void do_ltr(void *p) { ltr(*(uint16_t *)p); }

static void load(const char *what, void (*fn)(void *), uint16_t sel, int vec, uint64_t ec)
{
    bool f = vec >= 0 && hv_call_expect((unsigned)vec, fn, &sel);
    if (vec < 0)
        fn(&sel);
    static const char *const names[] = { [10] = "#TS", [11] = "#NP", [12] = "#SS", [13] = "#GP" };
    if (vec < 0)
        hv_printf("%-44s loaded\n", what);
    else
        hv_printf("%-44s %s(0x%llx)\n", what, f ? names[vec] : "NO FAULT", (unsigned long long)(f ? hv_last_ec : 0));
    if (vec >= 0) {
        T_CHECK(f, "%s", what);
        T_CHECK_EQ(hv_last_ec, ec);
    }
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_cpu_init();

    /* Our GDT: the runtime's first eight entries, then test descriptors. */
    struct hv_dtr old;
    sgdt(&old);
    memcpy(gdt, (void *)(uintptr_t)old.base, 64);
    const uint64_t *rt_tss_desc = &gdt[SEL_TSS / 8];
    uint64_t rt_tss = ((rt_tss_desc[0] >> 16) & 0xFFFFFF) | (((rt_tss_desc[0] >> 56) & 0xFF) << 24) |
                      (rt_tss_desc[1] << 32);
    memcpy(tss, (void *)(uintptr_t)rt_tss, sizeof(tss));      /* same RSP0 and IST1 */
    sysdesc(S_TSS2 / 8, (uint64_t)(uintptr_t)tss, sizeof(tss) - 1, 0x89);        /* available 64-bit TSS */
    gdt[S_DATA / 8] = desc(0, 0x12345, 0x93, 0x4);             /* RW data, byte granular */
    gdt[S_RODATA / 8] = desc(0, 0xFFFFF, 0x91, 0xC);           /* read-only data */
    gdt[S_XONLY / 8] = desc(0, 0xFFFFF, 0x99, 0xA);            /* execute-only 64-bit code */
    gdt[S_NPDATA / 8] = desc(0, 0xFFFFF, 0x13, 0xC);           /* RW data, not present */
    gdt[S_DATA3 / 8] = desc(0, 0xFFFFF, 0xF3, 0xC);            /* RW data, DPL 3 */
    sysdesc(S_LDT / 8, (uint64_t)(uintptr_t)ldt, sizeof(ldt) - 1, 0x82);         /* LDT */
    sysdesc(S_CGATE / 8, 0, 0, 0x8C);                          /* 64-bit call gate (fields unused) */
    sysdesc(S_TSS16 / 8, (uint64_t)(uintptr_t)tss, 0x2B, 0x81); /* type 1: not valid in IA-32e mode */
    gdt[S_CONF / 8] = desc(0, 0xFFFFF, 0x9F, 0xA);             /* conforming readable code */
    ldt[1] = desc(0, 0xFFF, 0x93, 0x4);                        /* LDT selector 0x0C: RW data */
    struct hv_dtr g = { sizeof(gdt) - 1, (uint64_t)(uintptr_t)gdt }, g2, i2;
    lgdt(&g);
    sgdt(&g2);
    sidt(&i2);
    hv_printf("SGDT after LGDT: base %s, limit %#x; SIDT: limit %#x\n",
              g2.base == g.base ? "= loaded" : "WRONG", g2.limit, i2.limit);
    T_CHECK_EQ(g2.base, g.base);
    T_CHECK_EQ(g2.limit, sizeof(gdt) - 1);
    T_CHECK_EQ(i2.limit, 4095);

    /* LTR / STR. */
    hv_printf("STR: %#x\n", str());
    T_CHECK_EQ(str(), SEL_TSS);
    load("LTR 0x30 (busy TSS):", do_ltr, SEL_TSS, 13, SEL_TSS);
    load("LTR 0x50 (data segment):", do_ltr, S_DATA, 13, S_DATA);
    load("LTR 0x98 (type 1, 16-bit TSS):", do_ltr, S_TSS16, 13, S_TSS16);
    load("LTR 0 (null):", do_ltr, 0, 13, 0);
    ltr(S_TSS2);
    hv_printf("LTR 0x40: STR %#x, descriptor type now %#llx (busy)\n", str(),
              (unsigned long long)((gdt[S_TSS2 / 8] >> 40) & 0xF));
    T_CHECK_EQ(str(), S_TSS2);
    T_CHECK_EQ((gdt[S_TSS2 / 8] >> 40) & 0xF, 0xB);
    load("LTR 0x40 again (now busy):", do_ltr, S_TSS2, 13, S_TSS2);

    /* LLDT / SLDT. */
    uint16_t ldtr;
    __asm__ volatile("sldt %0" : "=r"(ldtr));
    hv_printf("SLDT before LLDT: %#x\n", ldtr);
    T_CHECK_EQ(ldtr, 0);
    load("MOV DS, 0x0c (TI=1, no LDT):", mov_ds, 0x0C, 13, 0x0C);
    __asm__ volatile("lldt %0" :: "r"((uint16_t)S_LDT));
    __asm__ volatile("sldt %0" : "=r"(ldtr));
    hv_printf("LLDT 0x78: SLDT %#x\n", ldtr);
    T_CHECK_EQ(ldtr, S_LDT);
    load("MOV DS, 0x0c (LDT data segment):", mov_ds, 0x0C, -1, 0);

    /* LAR. */
    check_lar("64-bit code DPL 0", SEL_KCODE, true, 0x00A09B00);
    check_lar("data DPL 0", SEL_KDATA, true, 0x00C09300);
    check_lar("data, byte granular", S_DATA, true, 0x00409300);
    check_lar("data, not present", S_NPDATA, true, 0x00C01300);
    check_lar("data DPL 3, RPL 3", S_DATA3 | 3, true, 0x00C0F300);
    check_lar("busy 64-bit TSS", S_TSS2, true, 0x00008B00);
    check_lar("LDT", S_LDT, true, 0x00008200);
    check_lar("64-bit call gate", S_CGATE, true, 0x00008C00);
    check_lar("LDT-relative data", 0x0C, true, 0x00409300);
    check_lar("type 1 (invalid in IA-32e)", S_TSS16, false, 0);
    check_lar("null selector", 0, false, 0);
    check_lar("beyond the GDT limit", 0x1000, false, 0);
    check_lar("DPL 0 data, RPL 3", SEL_KDATA | 3, false, 0);

    /* LSL. */
    check_lsl("data, byte granular", S_DATA, true, 0x12345);
    check_lsl("data, 4-KiB granular", SEL_KDATA, true, 0xFFFFFFFF);
    check_lsl("busy 64-bit TSS", S_TSS2, true, 103);
    check_lsl("LDT", S_LDT, true, 15);
    check_lsl("64-bit call gate", S_CGATE, false, 0);
    check_lsl("null selector", 0, false, 0);

    /* VERR / VERW. */
    check_ver("RW data:", S_DATA, true, true);
    check_ver("read-only data:", S_RODATA, true, false);
    check_ver("execute-only code:", S_XONLY, false, false);
    check_ver("readable code:", SEL_KCODE, true, false);
    check_ver("conforming code:", S_CONF, true, false);
    check_ver("TSS:", S_TSS2, false, false);
    check_ver("DPL 0 data, RPL 3:", S_DATA | 3, false, false);
    check_ver("null:", 0, false, false);

    /* MOV to DS. */
    load("MOV DS, 0x1000 (beyond the GDT limit):", mov_ds, 0x1000, 13, 0x1000);
    load("MOV DS, 0x40 (TSS, a system descriptor):", mov_ds, S_TSS2, 13, S_TSS2);
    load("MOV DS, 0x60 (execute-only code):", mov_ds, S_XONLY, 13, S_XONLY);
    load("MOV DS, 0x53 (RPL 3 > DPL 0):", mov_ds, S_DATA | 3, 13, S_DATA);
    load("MOV DS, 0x68 (not present):", mov_ds, S_NPDATA, 11, S_NPDATA);
    load("MOV DS, 0x08 (readable code):", mov_ds, SEL_KCODE, -1, 0);
    load("MOV DS, 0 (null):", mov_ds, 0, -1, 0);
    load("MOV DS, 0x10:", mov_ds, SEL_KDATA, -1, 0);

    /* MOV to SS. */
    load("MOV SS, 0x08 (code):", mov_ss, SEL_KCODE, 13, SEL_KCODE);
    load("MOV SS, 0x58 (read-only data):", mov_ss, S_RODATA, 13, S_RODATA);
    load("MOV SS, 0x13 (RPL 3 != CPL 0):", mov_ss, SEL_KDATA | 3, 13, SEL_KDATA);
    load("MOV SS, 0x70 (DPL 3 != CPL 0):", mov_ss, S_DATA3, 13, S_DATA3);
    load("MOV SS, 0x68 (not present):", mov_ss, S_NPDATA, 12, S_NPDATA);
    load("MOV SS, 3 (null, RPL 3 != CPL 0):", mov_ss, 3, 13, 0);
    load("MOV SS, 0 (null at CPL 0):", mov_ss, 0, -1, 0);
    load("MOV SS, 0x10:", mov_ss, SEL_KDATA, -1, 0);
    hv_printf("SS=%#x DS=%#x\n", read_ss(), read_ds());
    T_CHECK_EQ(read_ss(), SEL_KDATA);
    T_CHECK_EQ(read_ds(), SEL_KDATA);
    T_DONE();
}
