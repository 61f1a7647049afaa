/*
 * test_msr.c — the MSR file (cpu/msr.c, cpu/msrs.def): reset values,
 * WRMSR checks through cpu_msr_write() and msr_wrmsr(), and RDMSR/WRMSR
 * executed by guest code, with #GP(0) delivered through the IDT for every
 * refused access (SDM 2B RDMSR/WRMSR; MSR layouts from SDM vol. 4).
 */
#include <stdint.h>

#include "cpu_harness.h"
#include "cpu_priv.h"

#define MSR_TSC              0x10u
#define MSR_APIC_BASE        0x1Bu
#define MSR_FEATURE_CONTROL  0x3Au
#define MSR_TSC_ADJUST       0x3Bu
#define MSR_MTRRCAP          0xFEu
#define MSR_SYSENTER_CS      0x174u
#define MSR_SYSENTER_ESP     0x175u
#define MSR_SYSENTER_EIP     0x176u
#define MSR_MISC_ENABLE      0x1A0u
#define MSR_PAT              0x277u
#define MSR_MTRR_DEF_TYPE    0x2FFu
#define MSR_EFER             0xC0000080u
#define MSR_STAR             0xC0000081u
#define MSR_LSTAR            0xC0000082u
#define MSR_CSTAR            0xC0000083u
#define MSR_FMASK            0xC0000084u
#define MSR_FS_BASE          0xC0000100u
#define MSR_GS_BASE          0xC0000101u
#define MSR_KERNEL_GS_BASE   0xC0000102u
#define MSR_TSC_AUX          0xC0000103u

static const uint8_t hlt_only[] = { 0xF4 };

/* ---- values after cpu_create() and the boot entry state ---- */

struct reset_row { const char *name; uint32_t msr; unsigned lp; uint64_t want; };
static const struct reset_row reset_rows[] = {
    { "reset/apic-base-bsp",       MSR_APIC_BASE, 0, 0xFEE00900 },        /* SDM 3A 11.4.4: BSP flag, enabled */
    { "reset/apic-base-ap",        MSR_APIC_BASE, 1, 0xFEE00800 },
    { "reset/feature-control",     MSR_FEATURE_CONTROL, 0, 0 },
    { "reset/tsc-adjust",          MSR_TSC_ADJUST, 0, 0 },
    { "reset/mtrrcap",             MSR_MTRRCAP, 0, 0x400 },
    { "reset/sysenter-cs",         MSR_SYSENTER_CS, 0, 0 },
    { "reset/misc-enable",         MSR_MISC_ENABLE, 0, 1 },
    { "reset/pat",                 MSR_PAT, 0, 0x0007040600070406ull },   /* SDM 3A 11.12.4 */
    { "reset/mtrr-def-type-boot",  MSR_MTRR_DEF_TYPE, 0, 0x806 },         /* docs/boot-protocol.md */
    { "reset/efer-boot",           MSR_EFER, 0, 0xD00 },
    { "reset/star",                MSR_STAR, 0, 0 },
    { "reset/lstar",               MSR_LSTAR, 0, 0 },
    { "reset/fmask",               MSR_FMASK, 0, 0 },
    { "reset/fs-base",             MSR_FS_BASE, 0, 0 },
    { "reset/gs-base",             MSR_GS_BASE, 0, 0 },
    { "reset/kernel-gs-base",      MSR_KERNEL_GS_BASE, 0, 0 },
    { "reset/tsc-aux",             MSR_TSC_AUX, 0, 0 },
};

START_TEST(reset_values)
{
    const struct reset_row *row = &reset_rows[_i];
    struct tm t;
    tm_create_with(&t, hlt_only, sizeof(hlt_only), NULL, row->lp);
    uint64_t v = ~0ull;
    ck_assert_msg(cpu_msr_read(t.cpu, row->msr, &v), "%s: MSR %#x not readable", row->name, row->msr);
    ck_assert_msg(v == row->want, "%s: %#llx, expected %#llx", row->name, (unsigned long long)v,
                  (unsigned long long)row->want);
    tm_destroy(&t);
}
END_TEST

/* ---- WRMSR checks (cpu_msr_write) ---- */

struct wr_row {
    const char *name;
    uint32_t msr;
    uint64_t val;
    bool ok;
    uint64_t readback;      /* when ok */
};
#define WOK(n, m, v)        { n, m, v, true, v }
#define WOKR(n, m, v, r)    { n, m, v, true, r }
#define WGP(n, m, v)        { n, m, v, false, 0 }

static const struct wr_row wr_rows[] = {
    /* PAT: each entry must be a valid memory type 0, 1, 4, 5, 6, 7 (SDM 3A 11.12.2, table 11-10) */
    WOK("pat/default",             MSR_PAT, 0x0007040600070406ull),
    WOK("pat/all-types-valid",     MSR_PAT, 0x0706050401000706ull),
    WOK("pat/all-wb",              MSR_PAT, 0x0606060606060606ull),
    WGP("pat/type2-in-entry0",     MSR_PAT, 0x0007040600070402ull),
    WGP("pat/type3-in-entry7",     MSR_PAT, 0x0307040600070406ull),
    WGP("pat/type8-in-entry3",     MSR_PAT, 0x0007040608070406ull),
    WGP("pat/0xff-in-entry5",      MSR_PAT, 0x0007FF0600070406ull),
    /* canonical-address MSRs (SDM 2B WRMSR: #GP if non-canonical) */
    WOK("lstar/top-of-lower-half", MSR_LSTAR, 0x00007FFFFFFFFFFFull),
    WOK("lstar/upper-half",        MSR_LSTAR, 0xFFFF800000000000ull),
    WGP("lstar/non-canonical-low", MSR_LSTAR, 0x0000800000000000ull),
    WGP("lstar/non-canonical-bit63", MSR_LSTAR, 0x8000000000000000ull),
    WGP("cstar/non-canonical",     MSR_CSTAR, 0x0001000000000000ull),
    WOK("cstar/canonical",         MSR_CSTAR, 0xFFFFFFFF81000000ull),
    WGP("kernel-gs-base/non-canonical", MSR_KERNEL_GS_BASE, 0x00F0000000000000ull),
    WOK("kernel-gs-base/canonical", MSR_KERNEL_GS_BASE, 0xFFFF888000000000ull),
    WGP("sysenter-esp/non-canonical", MSR_SYSENTER_ESP, 0x0000900000000000ull),
    WGP("sysenter-eip/non-canonical", MSR_SYSENTER_EIP, 0xFFFF000000000000ull),
    WOK("sysenter-eip/canonical",  MSR_SYSENTER_EIP, 0xFFFFFFFF81234567ull),
    WOK("fs-base/canonical",       MSR_FS_BASE, 0xFFFF800012345678ull),
    WGP("fs-base/non-canonical",   MSR_FS_BASE, 0x0001000000000000ull),
    WOK("gs-base/canonical",       MSR_GS_BASE, 0x00007F0000001000ull),
    WGP("gs-base/non-canonical",   MSR_GS_BASE, 0xFFFE000000000000ull),
    /* 32-bit MSRs: bits 63:32 reserved */
    WOK("sysenter-cs/16-bit",      MSR_SYSENTER_CS, 0x10),
    WGP("sysenter-cs/bit32",       MSR_SYSENTER_CS, 1ull << 32),
    WOK("fmask/32-bit",            MSR_FMASK, 0xFFFFFFFF),
    WGP("fmask/bit32",             MSR_FMASK, 1ull << 32),
    WOK("tsc-aux/32-bit",          MSR_TSC_AUX, 0xFFFFFFFF),
    WGP("tsc-aux/bit63",           MSR_TSC_AUX, 1ull << 63),
    WOK("star/any",                MSR_STAR, 0x0023001000000000ull),
    /* MTRR default type (SDM 3A 11.11.2.1): type UC/WC/WT/WP/WB, bits 10 FE and 11 E */
    WOK("mtrr-def-type/wb-enabled", MSR_MTRR_DEF_TYPE, 0x806),
    WOK("mtrr-def-type/fe-e-uc",   MSR_MTRR_DEF_TYPE, 0xC00),
    WGP("mtrr-def-type/type2",     MSR_MTRR_DEF_TYPE, 0x802),
    WGP("mtrr-def-type/type7",     MSR_MTRR_DEF_TYPE, 0x807),
    WGP("mtrr-def-type/bit12",     MSR_MTRR_DEF_TYPE, 0x1806),
    WGP("mtrr-def-type/bit8",      MSR_MTRR_DEF_TYPE, 0x906),
    /* read-only */
    WGP("mtrrcap/read-only",       MSR_MTRRCAP, 0x400),
    /* APIC base (SDM 3A 11.4.4, figure 11-5): bits 7:0, 9 and above MAXPHYADDR (46) reserved, BSP read-only */
    WOKR("apic-base/keep-bsp",     MSR_APIC_BASE, 0xFEE00800, 0xFEE00900),
    WOKR("apic-base/move",         MSR_APIC_BASE, 0xFED00800, 0xFED00900),
    WGP("apic-base/bit0",          MSR_APIC_BASE, 0xFEE00801),
    WGP("apic-base/bit9",          MSR_APIC_BASE, 0xFEE00A00),
    WGP("apic-base/bit46",         MSR_APIC_BASE, 0xFEE00800 | (1ull << 46)),
    WOKR("apic-base/disable",      MSR_APIC_BASE, 0xFEE00000, 0xFEE00100),
    /* Bit 10 (EXTD) enables x2APIC mode (CPUID.01H:ECX[21] = 1): xAPIC ->
     * x2APIC is allowed, EN = 0 with EXTD = 1 is an invalid state (SDM 3A
     * 10.12.5, x2APIC state transitions). */
    WOKR("apic-base/x2apic",       MSR_APIC_BASE, 0xFEE00C00, 0xFEE00D00),
    WGP("apic-base/extd-without-en",  MSR_APIC_BASE, 0xFEE00400),
    /* IA32_TSC_DEADLINE outside TSC-deadline timer mode: the write is
     * ignored and the MSR reads 0 (SDM 3A 10.5.4.1) */
    WOKR("tsc-deadline/outside-mode", 0x6E0, 0x1234, 0),
    WOK("misc-enable/zero",        MSR_MISC_ENABLE, 0),
    WOK("feature-control/unlocked-vmx", MSR_FEATURE_CONTROL, 0x4),
    /* not modelled: refused, never read as zero (cpu/msrs.def) */
    WGP("unmodelled/0x12345678",   0x12345678, 0),
    WGP("unmodelled/bios-sign-id", 0x8B, 0),
    WGP("no-vmx-model/vmx-basic",  0x480, 0),
    WGP("unmodelled/amd-hwcr",     0xC0010015, 0),
    WGP("unmodelled/hyperv-guest-os-id", 0x40000000, 0),
};

START_TEST(wrmsr_checks)
{
    const struct wr_row *row = &wr_rows[_i];
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    uint64_t before = 0;
    bool readable = cpu_msr_read(t.cpu, row->msr, &before);
    bool ok = cpu_msr_write(t.cpu, row->msr, row->val);
    ck_assert_msg(ok == row->ok, "%s: cpu_msr_write(%#x, %#llx) = %d, expected %d", row->name, row->msr,
                  (unsigned long long)row->val, ok, row->ok);
    uint64_t after = 0;
    bool readable2 = cpu_msr_read(t.cpu, row->msr, &after);
    ck_assert_msg(readable == readable2, "%s: readability changed", row->name);
    if (row->ok) {
        ck_assert_msg(readable2 && after == row->readback, "%s: read back %#llx, expected %#llx", row->name,
                      (unsigned long long)after, (unsigned long long)row->readback);
    } else if (readable) {
        ck_assert_msg(after == before, "%s: a refused write changed the MSR from %#llx to %#llx", row->name,
                      (unsigned long long)before, (unsigned long long)after);
    } else {
        ck_assert_msg(!readable, "%s: unmodelled MSR readable", row->name);
    }
    if (row->ok && row->msr == MSR_FS_BASE) {
        struct cpu_seg s;
        cpu_get_seg(t.cpu, CPU_FS, &s);
        ck_assert_msg(s.base == row->val, "%s: FS.base %#llx", row->name, (unsigned long long)s.base);
    }
    if (row->ok && row->msr == MSR_GS_BASE) {
        struct cpu_seg s;
        cpu_get_seg(t.cpu, CPU_GS, &s);
        ck_assert_msg(s.base == row->val, "%s: GS.base %#llx", row->name, (unsigned long long)s.base);
    }
    tm_destroy(&t);
}
END_TEST

/* APIC base on an application processor: the BSP flag stays clear. */
START_TEST(apic_base_bsp_flag_read_only_on_ap)
{
    struct tm t;
    tm_create_with(&t, hlt_only, sizeof(hlt_only), NULL, 1);
    ck_assert(cpu_msr_write(t.cpu, MSR_APIC_BASE, 0xFEE00900));
    uint64_t v;
    ck_assert(cpu_msr_read(t.cpu, MSR_APIC_BASE, &v));
    ck_assert_uint_eq(v, 0xFEE00800);
    tm_destroy(&t);
}
END_TEST

/* IA32_FEATURE_CONTROL: once bit 0 (lock) is set, WRMSR faults until reset
 * (SDM 3C 23.7, SDM 4 table 2-2). */
START_TEST(feature_control_lock)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    uint64_t v;
    ck_assert(cpu_msr_write(t.cpu, MSR_FEATURE_CONTROL, 0x4));
    ck_assert(cpu_msr_write(t.cpu, MSR_FEATURE_CONTROL, 0x0));
    ck_assert(cpu_msr_write(t.cpu, MSR_FEATURE_CONTROL, 0x5));
    ck_assert(cpu_msr_read(t.cpu, MSR_FEATURE_CONTROL, &v));
    ck_assert_uint_eq(v, 0x5);
    ck_assert_msg(!cpu_msr_write(t.cpu, MSR_FEATURE_CONTROL, 0x0), "locked FEATURE_CONTROL was cleared");
    ck_assert_msg(!cpu_msr_write(t.cpu, MSR_FEATURE_CONTROL, 0x5), "locked FEATURE_CONTROL rewritten");
    ck_assert_msg(!cpu_msr_write(t.cpu, MSR_FEATURE_CONTROL, 0x7), "locked FEATURE_CONTROL rewritten");
    ck_assert(cpu_msr_read(t.cpu, MSR_FEATURE_CONTROL, &v));
    ck_assert_uint_eq(v, 0x5);
    tm_destroy(&t);
}
END_TEST

/* TSC (SDM 3B 17.17): a write sets the counter, IA32_TSC_ADJUST moves by
 * the same amount (17.17.3), and a write of TSC_ADJUST moves the TSC. */
START_TEST(tsc_write_sets_counter)
{
    struct tm t;
    const uint8_t code[] = { 0x90, 0x90, 0x90, 0xF4 };
    tm_create(&t, code, sizeof(code));
    uint64_t tsc0, adj;
    ck_assert(cpu_msr_read(t.cpu, MSR_TSC, &tsc0));
    ck_assert_uint_eq(tsc0, cpu_cycles(t.cpu));               /* TSC = cycles until written */
    ck_assert(cpu_msr_write(t.cpu, MSR_TSC, 1000000));
    uint64_t v;
    ck_assert(cpu_msr_read(t.cpu, MSR_TSC, &v));
    ck_assert_uint_eq(v, 1000000);
    ck_assert(cpu_msr_read(t.cpu, MSR_TSC_ADJUST, &adj));
    ck_assert_uint_eq(adj, 1000000 - tsc0);
    /* TSC_ADJUST += 500 moves the TSC by 500 */
    ck_assert(cpu_msr_write(t.cpu, MSR_TSC_ADJUST, adj + 500));
    ck_assert(cpu_msr_read(t.cpu, MSR_TSC, &v));
    ck_assert_uint_eq(v, 1000500);
    /* time passes: the TSC advances with the cycle count */
    uint64_t c0 = cpu_cycles(t.cpu);
    ck_assert_int_eq(cpu_run(t.cpu, 100), CPU_STOP_HALTED);
    uint64_t dc = cpu_cycles(t.cpu) - c0;
    ck_assert_msg(dc > 0, "no cycles for four instructions");
    ck_assert(cpu_msr_read(t.cpu, MSR_TSC, &v));
    ck_assert_uint_eq(v, 1000500 + dc);
    /* writing a smaller value goes backwards (the TSC is writable, SDM 3B 17.17) */
    ck_assert(cpu_msr_write(t.cpu, MSR_TSC, 7));
    ck_assert(cpu_msr_read(t.cpu, MSR_TSC, &v));
    ck_assert_uint_eq(v, 7);
    tm_destroy(&t);
}
END_TEST

/* ---- IA32_EFER through the architectural path (msr_wrmsr, as WRMSR uses) ----
 * SDM 3A 2.2.1 / SDM 4 table 2-2: SCE 0, LME 8, LMA 10 (read-only), NXE 11,
 * SVME 12 (AMD); everything else reserved. LME cannot change while CR0.PG = 1. */
struct efer_row { const char *name; const char *profile; uint64_t val; bool ok; uint64_t readback; };
static const struct efer_row efer_rows[] = {
    { "efer/same-value",              NULL,    0xD00,              true,  0xD00 },
    { "efer/set-sce",                 NULL,    0xD01,              true,  0xD01 },
    { "efer/clear-nxe",               NULL,    0x500,              true,  0x500 },
    { "efer/lma-is-read-only",        NULL,    0x900,              true,  0xD00 },
    { "efer/reserved-bit1",           NULL,    0xD02,              false, 0xD00 },
    { "efer/reserved-bit9",           NULL,    0xF00,              false, 0xD00 },
    { "efer/reserved-bit63",          NULL,    0xD00 | (1ull << 63), false, 0xD00 },
    { "efer/svme-on-intel",           NULL,    0x1D00,             false, 0xD00 },
    { "efer/svme-on-amd",             "amd",   0x1D00,             true,  0x1D00 },
    { "efer/clear-lme-with-paging",   NULL,    0xC00,              false, 0xD00 },
};

START_TEST(efer_checks)
{
    const struct efer_row *row = &efer_rows[_i];
    struct tm t;
    const struct cpu_profile *p = row->profile ? cpu_profile_find(row->profile) : NULL;
    tm_create_with(&t, hlt_only, sizeof(hlt_only), p, 0);
    bool ok = msr_wrmsr(t.cpu, MSR_EFER, row->val);
    ck_assert_msg(ok == row->ok, "%s: msr_wrmsr(EFER, %#llx) = %d", row->name, (unsigned long long)row->val, ok);
    uint64_t v;
    ck_assert(cpu_msr_read(t.cpu, MSR_EFER, &v));
    ck_assert_msg(v == row->readback, "%s: EFER %#llx, expected %#llx", row->name, (unsigned long long)v,
                  (unsigned long long)row->readback);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_EFER), v);
    tm_destroy(&t);
}
END_TEST

/* ---- RDMSR/WRMSR executed by the guest ---- */

struct guest_row {
    const char *name;
    bool write;
    uint32_t msr;
    uint64_t val;           /* EDX:EAX for WRMSR */
    bool lock_fc;           /* lock FEATURE_CONTROL first */
    bool gp;                /* #GP(0) expected */
    bool unmodelled;        /* counted in stats.unmodelled_msrs */
    uint64_t want;          /* RDMSR: EDX:EAX; WRMSR: the MSR afterwards (read by the host) */
};
static const struct guest_row guest_rows[] = {
    { "guest/rdmsr-unmodelled",         false, 0x12345678, 0, false, true,  true,  0 },
    { "guest/wrmsr-unmodelled",         true,  0x8B, 0x1234, false, true,  true,  0 },
    /* without a VMX model (CPUID.1:ECX.VMX = 0) the capability MSRs do not exist: #GP, but known */
    { "guest/rdmsr-vmx-basic-no-vmx",   false, 0x480, 0,  false, true,  false, 0 },
    { "guest/rdmsr-pat",                false, MSR_PAT, 0,  false, false, false, 0x0007040600070406ull },
    { "guest/rdmsr-apic-base",          false, MSR_APIC_BASE, 0, false, false, false, 0xFEE00900 },
    { "guest/rdmsr-mtrrcap",            false, MSR_MTRRCAP, 0, false, false, false, 0x400 },
    { "guest/wrmsr-lstar",              true,  MSR_LSTAR, 0xFFFF80009ABCDEF0ull, false, false, false,
      0xFFFF80009ABCDEF0ull },
    { "guest/wrmsr-lstar-non-canonical", true, MSR_LSTAR, 0x0000800000000000ull, false, true, false, 0 },
    { "guest/wrmsr-efer-reserved",      true,  MSR_EFER, 0xD00 | 0x4, false, true, false, 0xD00 },
    { "guest/wrmsr-efer-clear-lme",     true,  MSR_EFER, 0x800, false, true, false, 0xD00 },
    { "guest/wrmsr-efer-sce",           true,  MSR_EFER, 0xD01, false, false, false, 0xD01 },
    { "guest/wrmsr-pat-invalid",        true,  MSR_PAT, 0x0202020202020202ull, false, true, false,
      0x0007040600070406ull },
    { "guest/wrmsr-mtrrcap-read-only",  true,  MSR_MTRRCAP, 0x400, false, true, false, 0x400 },
    { "guest/wrmsr-feature-control-locked", true, MSR_FEATURE_CONTROL, 0x0, true, true, false, 0x5 },
    { "guest/wrmsr-fs-base",            true,  MSR_FS_BASE, 0x00007F1234560000ull, false, false, false,
      0x00007F1234560000ull },
};

START_TEST(guest_msr_access)
{
    const struct guest_row *row = &guest_rows[_i];
    struct code c = { .n = 0 };
    c_mov_imm64(&c, 0, row->write ? (row->val & 0xFFFFFFFF) | 0xDEAD000000000000ull : ~0ull);
    c_mov_imm64(&c, 2, row->write ? (row->val >> 32) | 0xBEEF000000000000ull : ~0ull);
    c_mov_imm32(&c, 1, row->msr);
    size_t insn = c.n;
    if (row->write)
        C(&c, 0x0F, 0x30);
    else
        C(&c, 0x0F, 0x32);
    C(&c, 0xF4);
    struct tm t;
    tm_create(&t, c.b, c.n);
    if (row->lock_fc)
        ck_assert(cpu_msr_write(t.cpu, MSR_FEATURE_CONTROL, 0x5));
    enum cpu_stop st = cpu_run(t.cpu, 1000);
    ck_assert_msg(st == CPU_STOP_HALTED, "%s: stop %s (%s)", row->name, cpu_stop_name(st), cpu_message(t.cpu));
    struct cpu_stats s;
    cpu_get_stats(t.cpu, &s);
    const struct cpu_event *e = NULL;
    ck_assert_msg(tm_count(&t, CPU_EV_MSR, &e) == 1, "%s: %u MSR events", row->name, tm_count(&t, CPU_EV_MSR, NULL));
    ck_assert_msg(e->a == row->msr && e->c == row->write && e->rip == CODE_PA + insn, "%s: MSR event a=%#llx c=%llu "
                  "rip=%#llx", row->name, (unsigned long long)e->a, (unsigned long long)e->c,
                  (unsigned long long)e->rip);
    if (row->gp) {
        ck_assert_msg(tm_vector(&t) == 13, "%s: vector %d, expected #GP", row->name, tm_vector(&t));
        ck_assert_msg(tm_stack(&t, 0) == 0, "%s: error code %#llx", row->name, (unsigned long long)tm_stack(&t, 0));
        ck_assert_msg(tm_stack(&t, 1) == CODE_PA + insn, "%s: pushed RIP %#llx, expected the %s", row->name,
                      (unsigned long long)tm_stack(&t, 1), row->write ? "WRMSR" : "RDMSR");
        ck_assert_msg(e->d == (row->unmodelled ? 2u : 1u), "%s: MSR event result %llu", row->name,
                      (unsigned long long)e->d);
        if (!row->write) {                       /* a faulting RDMSR leaves EDX:EAX alone */
            ck_assert_msg(cpu_get(t.cpu, CPU_RAX) == ~0ull && cpu_get(t.cpu, CPU_RDX) == ~0ull,
                          "%s: RDMSR that faulted changed RAX/RDX", row->name);
        }
    } else {
        ck_assert_msg(tm_vector(&t) == -1 && cpu_get(t.cpu, CPU_RIP) == c.n + CODE_PA, "%s: did not complete "
                      "(vector %d, RIP %#llx)", row->name, tm_vector(&t), (unsigned long long)cpu_get(t.cpu, CPU_RIP));
        ck_assert_msg(e->d == 0, "%s: MSR event result %llu", row->name, (unsigned long long)e->d);
        if (!row->write) {
            /* RDMSR: EDX:EAX, upper halves of RAX and RDX cleared (SDM 2B RDMSR) */
            ck_assert_msg(cpu_get(t.cpu, CPU_RAX) == (row->want & 0xFFFFFFFF) &&
                          cpu_get(t.cpu, CPU_RDX) == row->want >> 32, "%s: RDX:RAX = %#llx:%#llx", row->name,
                          (unsigned long long)cpu_get(t.cpu, CPU_RDX), (unsigned long long)cpu_get(t.cpu, CPU_RAX));
            ck_assert_msg(e->b == row->want, "%s: MSR event value %#llx", row->name, (unsigned long long)e->b);
        } else {
            /* WRMSR takes EDX:EAX only (upper halves of RAX/RDX ignored) */
            ck_assert_msg(e->b == row->val, "%s: MSR event value %#llx", row->name, (unsigned long long)e->b);
        }
    }
    if (row->write) {
        uint64_t v;
        if (msr_lookup(row->msr) >= 0) {
            ck_assert(cpu_msr_read(t.cpu, row->msr, &v));
            ck_assert_msg(v == row->want, "%s: MSR is %#llx afterwards, expected %#llx", row->name,
                          (unsigned long long)v, (unsigned long long)row->want);
        }
    }
    ck_assert_msg(s.unmodelled_msrs == (row->unmodelled ? 1u : 0u), "%s: unmodelled_msrs %llu", row->name,
                  (unsigned long long)s.unmodelled_msrs);
    tm_destroy(&t);
}
END_TEST

/* RDMSR/WRMSR at CPL 3 raise #GP(0) before looking at the MSR (SDM 2B). The
 * user code runs on pages made user-accessible; the #GP is delivered to
 * CPL 0 on the TSS's RSP0 stack with the user SS:RSP and CS pushed
 * (SDM 3A 6.14.4). */
START_TEST(rdmsr_at_cpl3)
{
    struct code c = { .n = 0 };
    c_mov_imm32(&c, 1, MSR_PAT);
    size_t insn = c.n;
    C(&c, 0x0F, 0x32, 0xF4);
    struct tm t;
    tm_create(&t, c.b, c.n);
    const uint64_t user_rsp = 0x3FF000;
    tm_enter_user(&t, user_rsp);
    ck_assert_uint_eq(cpu_cpl(t.cpu), 3);
    enum cpu_stop st = cpu_run(t.cpu, 1000);
    ck_assert_msg(st == CPU_STOP_HALTED, "stop %s (%s)", cpu_stop_name(st), cpu_message(t.cpu));
    ck_assert_msg(tm_vector(&t) == 13, "vector %d, expected #GP", tm_vector(&t));
    ck_assert_uint_eq(cpu_cpl(t.cpu), 0);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RSP), RSP0_TOP - 48);
    ck_assert_uint_eq(tm_stack(&t, 0), 0);                    /* error code */
    ck_assert_uint_eq(tm_stack(&t, 1), CODE_PA + insn);       /* RIP of RDMSR */
    ck_assert_uint_eq(tm_stack(&t, 2), USER_CS);
    ck_assert_uint_eq(tm_stack(&t, 4), user_rsp);             /* user RSP */
    ck_assert_uint_eq(tm_stack(&t, 5), USER_SS);
    ck_assert_msg(tm_count(&t, CPU_EV_MSR, NULL) == 0, "a CPL-3 RDMSR reached the MSR file");
    ck_assert_msg(cpu_get(t.cpu, CPU_RAX) == 0 && cpu_get(t.cpu, CPU_RDX) == 1,
                  "the refused RDMSR changed RDX:RAX to %#llx:%#llx", (unsigned long long)cpu_get(t.cpu, CPU_RDX),
                  (unsigned long long)cpu_get(t.cpu, CPU_RAX));
    tm_destroy(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("msr");
    TCase *t = harness_tcase("file");
    ADD_ROWS(t, reset_values, reset_rows);
    ADD_ROWS(t, wrmsr_checks, wr_rows);
    tcase_add_test(t, apic_base_bsp_flag_read_only_on_ap);
    tcase_add_test(t, feature_control_lock);
    tcase_add_test(t, tsc_write_sets_counter);
    ADD_ROWS(t, efer_checks, efer_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("guest");
    ADD_ROWS(t, guest_msr_access, guest_rows);
    tcase_add_test(t, rdmsr_at_cpl3);
    suite_add_tcase(s, t);
    return harness_run(s);
}
