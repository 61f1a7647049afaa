/*
 * test_apic.c — the local APIC (cpu/apic.c and its hooks in cpu.c, sysinsn.c,
 * msr.c, view.c, profiles.c) against SDM 3A chapter 10, "Advanced
 * Programmable Interrupt Controller (APIC)" (chapter 11 in 2025 editions):
 *
 *   reset/     register reset state, IA32_APIC_BASE, CPUID (10.4.2, 10.4.7.1, 10.12.5.1)
 *   base/      IA32_APIC_BASE mode transitions and relocation (10.4.4, 10.12.5)
 *   prio/      TPR/PPR, IRR/ISR, EOI, illegal vectors, ESR (10.5.2, 10.5.3, 10.8)
 *   mmio/      the xAPIC page as guest code sees it (10.4.1, table 10-1)
 *   x2/        x2APIC MSRs (10.12.1.2, 10.12.1.3, table 10-6, 10.12.10.2, 10.12.11)
 *   timer/     one-shot, periodic, divide, masking, TSC deadline (10.5.4, 10.5.4.1)
 *   shadow/    STI and MOV SS interrupt shadows (SDM 3A 6.8.3, 2B STI)
 *   ipi/       IPIs between LPs: destinations, shorthands, lowest priority,
 *              arrival on virtual time (10.6)
 *
 * White-box tests call apic_* through cpu_priv.h; guest tests run code
 * through cpu_harness.h. Expectations come from the SDM, not from the model:
 * rows marked "MODEL BUG" fail against the current model on purpose (see the
 * report that accompanies this file).
 */
#include <stdint.h>

#include "cpu_harness.h"
#include "cpu_priv.h"

#define APIC_PA            0xFEE00000ull
#define IA32_TSC           0x10u
#define IA32_APIC_BASE     0x1Bu
#define IA32_TSC_DEADLINE  0x6E0u

#define BASE_BSP   0x100ull
#define BASE_XAPIC 0xFEE00800ull      /* EN */
#define BASE_X2    0xFEE00C00ull      /* EN | EXTD */
#define BASE_OFF   0xFEE00000ull      /* disabled */

/* xAPIC register offsets (SDM 3A table 10-1); the x2APIC MSR is 0x800 + off/16. */
enum {
    R_ID = 0x20, R_VER = 0x30, R_TPR = 0x80, R_APR = 0x90, R_PPR = 0xA0, R_EOI = 0xB0, R_RRD = 0xC0,
    R_LDR = 0xD0, R_DFR = 0xE0, R_SVR = 0xF0, R_ISR = 0x100, R_TMR = 0x180, R_IRR = 0x200, R_ESR = 0x280,
    R_CMCI = 0x2F0, R_ICR_LO = 0x300, R_ICR_HI = 0x310, R_LVT_TIMER = 0x320, R_LVT_THERMAL = 0x330,
    R_LVT_PERF = 0x340, R_LVT_LINT0 = 0x350, R_LVT_LINT1 = 0x360, R_LVT_ERROR = 0x370, R_INIT = 0x380,
    R_CUR = 0x390, R_DCR = 0x3E0, R_SELF_IPI = 0x3F0,
};
#define X2(off) (0x800u + ((unsigned)(off) >> 4))

/* ESR bits (SDM 3A figure 10-9) */
#define ESR_SEND_ILLEGAL 0x20u
#define ESR_RECV_ILLEGAL 0x40u

/* LVT timer modes, bits 18:17 (SDM 3A figure 10-8) */
#define LVT_MASK      0x10000u
#define TM_PERIODIC   (1u << 17)
#define TM_TSC_DL     (2u << 17)

/* Guest-side interrupt handlers of this file (see log_handler) and their log. */
#define HANDLER_PA 0x170000ull        /* 64 bytes per vector */
#define LOG_PA     0x17C000ull        /* one byte per delivered interrupt */

static const uint8_t hlt_only[] = { 0xF4 };

/* ---- white-box register access (SDM register semantics, either mode) ---- */

static uint32_t reg(cpu_t *c, unsigned off)
{
    if (apic_x2(c)) {
        uint64_t v = 0;
        ck_assert_msg(msr_rdmsr(c, X2(off), &v), "RDMSR %#x refused", X2(off));
        return (uint32_t)v;
    }
    uint32_t v = 0xDEADBEEF;
    ck_assert_msg(apic_mmio_read(c, off, 4, &v), "xAPIC read of %#x unmodelled: %s", off, cpu_message(c));
    return v;
}

static void set_reg(cpu_t *c, unsigned off, uint32_t v)
{
    if (apic_x2(c))
        ck_assert_msg(msr_wrmsr(c, X2(off), v), "WRMSR %#x = %#x refused", X2(off), v);
    else
        ck_assert_msg(apic_mmio_write(c, off, 4, v), "xAPIC write of %#x unmodelled: %s", off, cpu_message(c));
}

/* One bit of the IRR, ISR or TMR (base R_IRR, R_ISR, R_TMR), read through the registers. */
static bool vbit(cpu_t *c, unsigned base, unsigned v)
{
    return reg(c, base + 0x10 * (v / 32)) >> (v % 32) & 1;
}

/* No bit at all in the IRR / ISR. */
static bool vempty(cpu_t *c, unsigned base)
{
    for (unsigned i = 0; i < 8; i++)
        if (reg(c, base + 0x10 * i))
            return false;
    return true;
}

/* A fixed, edge-triggered interrupt message accepted at virtual time `time`. */
static void inject(cpu_t *c, unsigned vec, uint64_t time)
{
    struct cpu_ipi m = { .vector = (uint8_t)vec, .mode = 0, .shorthand = 1, .time = time };
    cpu_apic_ipi_deliver(c, &m);
}

static void sw_enable(cpu_t *c) { set_reg(c, R_SVR, 0x1FF); }

static uint64_t base_msr(cpu_t *c)
{
    uint64_t v = 0;
    ck_assert(cpu_msr_read(c, IA32_APIC_BASE, &v));
    return v;
}

static void to_x2apic(cpu_t *c) { ck_assert(msr_wrmsr(c, IA32_APIC_BASE, BASE_X2)); }

/* Cycles per APIC timer tick at divide-by-1: the TSC runs at the core
 * crystal clock times CPUID.15H EBX/EAX, and the timer counts at the core
 * crystal clock where leaf 15H enumerates one (SDM 3A 10.5.4, SDM 2A CPUID
 * leaf 15H); virtual cycles are TSC ticks. */
static uint64_t ticks_per_count(cpu_t *c)
{
    uint32_t r[4];
    cpuid_query(c, 0x15, 0, r);
    ck_assert_msg(r[0] && r[1] && r[2], "CPUID.15H does not enumerate the crystal clock");
    ck_assert_msg(r[1] % r[0] == 0, "TSC/crystal ratio %u/%u is not whole", r[1], r[0]);
    return r[1] / r[0];
}

/* ---- guest code helpers ---- */

static void c_stop(struct code *c) { C(c, 0xE6, 0xF4); }                 /* out 0xF4, al */
static void c_load(struct code *c, unsigned off) { C(c, 0x8B, 0x83); c_imm(c, off, 4); }   /* mov eax, [rbx+off] */
static void c_store_imm(struct code *c, unsigned off, uint32_t v)         /* mov dword [rbx+off], v */
{
    C(c, 0xC7, 0x83);
    c_imm(c, off, 4);
    c_imm(c, v, 4);
}
static void c_wrmsr(struct code *c, uint32_t msr, uint64_t v)
{
    c_mov_imm32(c, 1, msr);
    c_mov_imm32(c, 0, (uint32_t)v);
    c_mov_imm32(c, 2, (uint32_t)(v >> 32));
    C(c, 0x0F, 0x30);
}
static void c_rdmsr(struct code *c, uint32_t msr)
{
    c_mov_imm32(c, 1, msr);
    C(c, 0x0F, 0x32);
}
/* mov r8d..r11d, eax */
static void c_save_eax(struct code *c, unsigned r)
{
    uint8_t b[3] = { 0x41, 0x89, (uint8_t)(0xC0 + r) };
    c_bytes(c, b, 3);
}

/* IA-32e interrupt gate for vec to target (SDM 3A 6.14.1). */
static void gate_to(struct tm *t, unsigned vec, uint64_t target)
{
    uint64_t lo = (target & 0xFFFF) | ((uint64_t)BOOT_SEL_CODE64 << 16) | ((uint64_t)GATE_INT << 40) | (1ull << 47) |
                  (((target >> 16) & 0xFFFF) << 48);
    tm_poke64(t, IDT_PA + 16ull * vec, lo);
    tm_poke64(t, IDT_PA + 16ull * vec + 8, target >> 32);
}

/* A handler for vec that appends vec to the log at R12, keeps the
 * interrupted RIP in R14, counts in R15, signals EOI (if asked) and IRETs. */
enum eoi_kind { EOI_NONE, EOI_XAPIC, EOI_X2APIC };
static void log_handler(struct tm *t, unsigned vec, enum eoi_kind eoi)
{
    struct code c = { .n = 0 };
    C(&c, 0x41, 0xC6, 0x04, 0x24);               /* mov byte [r12], vec */
    c_imm(&c, vec, 1);
    C(&c, 0x49, 0xFF, 0xC4);                     /* inc r12 */
    C(&c, 0x4C, 0x8B, 0x34, 0x24);               /* mov r14, [rsp] */
    C(&c, 0x49, 0xFF, 0xC7);                     /* inc r15 */
    if (eoi == EOI_XAPIC)
        c_store_imm(&c, R_EOI, 0);               /* mov dword [rbx+0xB0], 0 */
    else if (eoi == EOI_X2APIC)                  /* push rax/rcx/rdx; WRMSR 0x80B = 0; pop */
        C(&c, 0x50, 0x51, 0x52, 0xB9, 0x0B, 0x08, 0x00, 0x00, 0x31, 0xC0, 0x31, 0xD2, 0x0F, 0x30, 0x5A, 0x59, 0x58);
    C(&c, 0x48, 0xCF);                           /* iretq */
    ck_assert(c.n <= 64);
    tm_poke(t, HANDLER_PA + 64ull * vec, c.b, c.n);
    gate_to(t, vec, HANDLER_PA + 64ull * vec);
    cpu_set(t->cpu, CPU_R12, LOG_PA);
    cpu_set(t->cpu, CPU_RBX, APIC_PA);
}

/* The vectors the log handlers saw, in order (at most n). */
static unsigned log_read(struct tm *t, uint8_t *out, unsigned n)
{
    unsigned k = (unsigned)(cpu_get(t->cpu, CPU_R12) - LOG_PA);
    ck_assert_msg(k <= 256, "log pointer R12 = %#llx", (unsigned long long)cpu_get(t->cpu, CPU_R12));
    if (k > n)
        k = n;
    ck_assert(pmem_read(t->m, LOG_PA, out, k));
    return k;
}

/* Run one LP as the machine's scheduler does: a halted LP's clock jumps to
 * its next wake-up time, and it runs on; HLT with nothing to wake it ends
 * the run (the harness's own handlers are HLT with IF = 0). */
static enum cpu_stop run_lp(struct tm *t)
{
    for (unsigned i = 0; i < 1000; i++) {
        enum cpu_stop st = cpu_run(t->cpu, 10000000);
        if (st != CPU_STOP_HALTED)
            return st;
        uint64_t w = cpu_next_wake(t->cpu);
        if (w == ~0ull)
            return st;
        cpu_advance_cycles(t->cpu, w);
    }
    ck_abort_msg("LP %u kept waking up", cpu_lp_index(t->cpu));
    return CPU_STOP_INTERNAL;
}

/* Delivered external interrupts (EV_EXT_INT through the IDT): how many, and the n-th. */
static unsigned ext_ints(const struct tm *t, unsigned nth, const struct cpu_event **ev)
{
    unsigned k = 0;
    for (unsigned i = 0; i < t->nev; i++) {
        const struct cpu_event *e = &t->ev[i];
        if (e->kind == CPU_EV_EXCEPTION && ((e->a >> 8) & 0xFF) == EV_EXT_INT) {
            if (k == nth && ev)
                *ev = e;
            k++;
        }
    }
    return k;
}

/* ====================================================================
 * reset/ — SDM 3A 10.4.7.1 (power-up / reset state), 10.4.4, 10.4.2
 * ==================================================================== */

struct reset_row { const char *name; unsigned lp; unsigned off; unsigned n; uint32_t want; };
#define RR(name, lp, off, want)     { name, lp, off, 1, want }
#define RRN(name, off, n, want)     { name, 0, off, n, want }
static const struct reset_row reset_rows[] = {
    RR("reset/id-lp0",           0, R_ID, 0),
    RR("reset/id-lp3",           3, R_ID, 3u << 24),           /* xAPIC ID in bits 31:24 (figure 10-6) */
    RR("reset/version",          0, R_VER, 0x00060014),        /* integrated APIC, max LVT entry 6 (CMCI) */
    RR("reset/tpr",              0, R_TPR, 0),
    RR("reset/ppr",              0, R_PPR, 0),
    RR("reset/ldr",              0, R_LDR, 0),
    RR("reset/dfr",              0, R_DFR, 0xFFFFFFFF),
    RR("reset/svr",              0, R_SVR, 0xFF),              /* software-disabled */
    RRN("reset/isr",             R_ISR, 8, 0),
    RRN("reset/tmr",             R_TMR, 8, 0),
    RRN("reset/irr",             R_IRR, 8, 0),
    RR("reset/esr",              0, R_ESR, 0),
    RR("reset/icr-lo",           0, R_ICR_LO, 0),
    RR("reset/icr-hi",           0, R_ICR_HI, 0),
    RR("reset/lvt-cmci",         0, R_CMCI, LVT_MASK),
    RR("reset/lvt-timer",        0, R_LVT_TIMER, LVT_MASK),
    RR("reset/lvt-thermal",      0, R_LVT_THERMAL, LVT_MASK),
    RR("reset/lvt-perf",         0, R_LVT_PERF, LVT_MASK),
    RR("reset/lvt-lint0",        0, R_LVT_LINT0, LVT_MASK),
    RR("reset/lvt-lint1",        0, R_LVT_LINT1, LVT_MASK),
    RR("reset/lvt-error",        0, R_LVT_ERROR, LVT_MASK),
    RR("reset/initial-count",    0, R_INIT, 0),
    RR("reset/current-count",    0, R_CUR, 0),
    RR("reset/divide-config",    0, R_DCR, 0),
};

START_TEST(reset_registers)
{
    const struct reset_row *row = &reset_rows[_i];
    struct tm t;
    tm_create_with(&t, hlt_only, sizeof(hlt_only), NULL, row->lp);
    for (unsigned i = 0; i < row->n; i++) {
        uint32_t v = reg(t.cpu, row->off + 0x10 * i);
        ck_assert_msg(v == row->want, "%s: register %#x = %#x, expected %#x", row->name, row->off + 0x10 * i, v,
                      row->want);
    }
    ck_assert_msg(cpu_get(t.cpu, CPU_CR8) == 0, "%s: CR8 %llu", row->name, (unsigned long long)cpu_get(t.cpu, CPU_CR8));
    tm_destroy(&t);
}
END_TEST

/* The same state as guest loads from the APIC page see it (SDM 3A 10.4.1). */
START_TEST(reset_seen_by_guest)
{
    struct code c = { .n = 0 };
    c_mov_imm64(&c, 3, APIC_PA);
    c_load(&c, R_ID);
    c_save_eax(&c, 0);
    c_load(&c, R_VER);
    c_save_eax(&c, 1);
    c_load(&c, R_SVR);
    c_save_eax(&c, 2);
    c_load(&c, R_LVT_TIMER);
    c_save_eax(&c, 3);
    c_stop(&c);
    struct tm t;
    tm_create_with(&t, c.b, c.n, NULL, 2);
    enum cpu_stop st = run_lp(&t);
    ck_assert_msg(st == CPU_STOP_PLATFORM, "stop %s (%s)", cpu_stop_name(st), cpu_message(t.cpu));
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_R8), 2u << 24);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_R9), 0x00060014);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_R10), 0xFF);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_R11), LVT_MASK);
    tm_destroy(&t);
}
END_TEST

/* IA32_APIC_BASE after reset: base FEE00000H, EN, BSP on the bootstrap
 * processor only (SDM 3A 10.4.4, figure 10-5). */
struct base_reset_row { const char *name; unsigned lp; uint64_t want; };
static const struct base_reset_row base_reset_rows[] = {
    { "reset/apic-base-lp0-bsp", 0, 0xFEE00900 },
    { "reset/apic-base-lp1", 1, 0xFEE00800 },
    { "reset/apic-base-lp5", 5, 0xFEE00800 },
};

START_TEST(reset_apic_base)
{
    const struct base_reset_row *row = &base_reset_rows[_i];
    struct tm t;
    tm_create_with(&t, hlt_only, sizeof(hlt_only), NULL, row->lp);
    ck_assert_msg(base_msr(t.cpu) == row->want, "%s: %#llx", row->name, (unsigned long long)base_msr(t.cpu));
    ck_assert_msg(!apic_x2(t.cpu), "%s: x2APIC mode after reset", row->name);
    tm_destroy(&t);
}
END_TEST

/* CPUID (SDM 2A CPUID; 3A 10.4.2 APIC presence, 10.12.1 x2APIC, 10.5.4.1
 * TSC-deadline). */
struct cpuid_row {
    const char *name;
    const char *profile;
    unsigned lp, nlps;
    uint32_t leaf, sub;
    unsigned reg;        /* 0 EAX, 1 EBX, 2 ECX, 3 EDX */
    uint32_t mask, want;
};
static const struct cpuid_row cpuid_rows[] = {
    { "reset/cpuid-intel-apic",         NULL,  0, 0, 1, 0, 3, 1u << 9,  1u << 9 },
    { "reset/cpuid-intel-x2apic",       NULL,  0, 0, 1, 0, 2, 1u << 21, 1u << 21 },
    { "reset/cpuid-intel-tsc-deadline", NULL,  0, 0, 1, 0, 2, 1u << 24, 1u << 24 },
    { "reset/cpuid-amd-apic",           "amd", 0, 0, 1, 0, 3, 1u << 9,  1u << 9 },
    { "reset/cpuid-amd-x2apic",         "amd", 0, 0, 1, 0, 2, 1u << 21, 1u << 21 },
    { "reset/cpuid-amd-no-tsc-deadline", "amd", 0, 0, 1, 0, 2, 1u << 24, 0 },
    { "reset/cpuid-initial-apic-id",    NULL,  3, 4, 1, 0, 1, 0xFF000000u, 3u << 24 },
    { "reset/cpuid-max-leaf-has-0xb",   NULL,  0, 0, 0, 0, 0, 0xFFFFFFFFu, 0x16 },
    /* leaf 0BH: x2APIC ID in EDX at every subleaf; level 0 SMT (one
     * thread per core), level 1 core (all LPs), then an invalid level
     * that echoes ECX[7:0] with type 0 */
    { "reset/cpuid-0b-sub0-eax",        NULL,  2, 4, 0xB, 0, 0, 0x1F,   0 },
    { "reset/cpuid-0b-sub0-ebx",        NULL,  2, 4, 0xB, 0, 1, 0xFFFF, 1 },
    { "reset/cpuid-0b-sub0-ecx",        NULL,  2, 4, 0xB, 0, 2, 0xFFFF, 0x100 },
    { "reset/cpuid-0b-sub0-edx",        NULL,  2, 4, 0xB, 0, 3, 0xFFFFFFFFu, 2 },
    { "reset/cpuid-0b-sub1-eax-4lps",   NULL,  2, 4, 0xB, 1, 0, 0x1F,   2 },
    { "reset/cpuid-0b-sub1-eax-3lps",   NULL,  2, 3, 0xB, 1, 0, 0x1F,   2 },
    { "reset/cpuid-0b-sub1-eax-5lps",   NULL,  4, 5, 0xB, 1, 0, 0x1F,   3 },
    { "reset/cpuid-0b-sub1-eax-1lp",    NULL,  0, 1, 0xB, 1, 0, 0x1F,   0 },
    { "reset/cpuid-0b-sub1-ebx",        NULL,  2, 4, 0xB, 1, 1, 0xFFFF, 4 },
    { "reset/cpuid-0b-sub1-ecx",        NULL,  2, 4, 0xB, 1, 2, 0xFFFF, 0x201 },
    { "reset/cpuid-0b-sub1-edx",        NULL,  3, 4, 0xB, 1, 3, 0xFFFFFFFFu, 3 },
    { "reset/cpuid-0b-sub2-eax",        NULL,  2, 4, 0xB, 2, 0, 0xFFFFFFFFu, 0 },
    { "reset/cpuid-0b-sub2-ebx",        NULL,  2, 4, 0xB, 2, 1, 0xFFFFFFFFu, 0 },
    { "reset/cpuid-0b-sub2-ecx",        NULL,  2, 4, 0xB, 2, 2, 0xFFFF, 0x002 },
    { "reset/cpuid-0b-sub7-ecx",        NULL,  2, 4, 0xB, 7, 2, 0xFFFF, 0x007 },
};

START_TEST(reset_cpuid)
{
    const struct cpuid_row *row = &cpuid_rows[_i];
    struct tm t;
    const struct cpu_profile *p = row->profile ? cpu_profile_find(row->profile) : NULL;
    tm_create_mp(&t, hlt_only, sizeof(hlt_only), p, row->lp, row->nlps, NULL, NULL);
    uint32_t r[4];
    cpuid_query(t.cpu, row->leaf, row->sub, r);
    ck_assert_msg((r[row->reg] & row->mask) == row->want, "%s: CPUID.%#x.%u reg %u = %#x, expected %#x under %#x",
                  row->name, row->leaf, row->sub, row->reg, r[row->reg], row->want, row->mask);
    tm_destroy(&t);
}
END_TEST

/* With IA32_APIC_BASE[11] = 0 the processor has no APIC: CPUID.1:EDX[9]
 * reads 0; it comes back with EN (SDM 3A 10.4.3). */
START_TEST(reset_cpuid_apic_bit_follows_enable)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    uint32_t r[4];
    ck_assert(msr_wrmsr(t.cpu, IA32_APIC_BASE, BASE_OFF));
    cpuid_query(t.cpu, 1, 0, r);
    ck_assert_msg(!(r[3] & (1u << 9)), "CPUID.1:EDX[9] set with the APIC globally disabled");
    ck_assert(msr_wrmsr(t.cpu, IA32_APIC_BASE, BASE_XAPIC));
    cpuid_query(t.cpu, 1, 0, r);
    ck_assert_msg(r[3] & (1u << 9), "CPUID.1:EDX[9] clear after re-enabling the APIC");
    tm_destroy(&t);
}
END_TEST

/* The x2APIC ID read from MSR 802H equals CPUID.0BH:EDX and the initial
 * APIC ID of CPUID.1:EBX[31:24] (SDM 3A 10.12.8.1). */
START_TEST(reset_x2apic_id_matches_cpuid)
{
    struct tm t;
    tm_create_mp(&t, hlt_only, sizeof(hlt_only), NULL, 5, 8, NULL, NULL);
    to_x2apic(t.cpu);
    uint64_t id;
    ck_assert(msr_rdmsr(t.cpu, X2(R_ID), &id));
    uint32_t b[4], l1[4];
    cpuid_query(t.cpu, 0xB, 0, b);
    cpuid_query(t.cpu, 1, 0, l1);
    ck_assert_uint_eq(id, 5);
    ck_assert_uint_eq(b[3], id);
    ck_assert_uint_eq(l1[1] >> 24, id & 0xFF);
    tm_destroy(&t);
}
END_TEST

/* Leaf 0BH says the package holds nlps LPs (the core level's EBX and its
 * shift); leaf 1 must not contradict it: with CPUID.1:EDX.HTT[28] = 0
 * "there is only a single logical processor in the package", and with
 * HTT = 1, EBX[23:16] must cover the IDs that leaf 0BH's shift reserves
 * (SDM 2A CPUID, EDX bit 28 and EBX[23:16]). MODEL BUG: HTT stays 0 and
 * EBX[23:16] stays 1 whatever the LP count. */
START_TEST(reset_cpuid_topology_consistent)
{
    struct tm t;
    tm_create_mp(&t, hlt_only, sizeof(hlt_only), NULL, 1, 4, NULL, NULL);
    uint32_t l1[4], core[4];
    cpuid_query(t.cpu, 1, 0, l1);
    cpuid_query(t.cpu, 0xB, 1, core);
    unsigned per_pkg = core[1] & 0xFFFF, ids = 1u << (core[0] & 0x1F);
    ck_assert_uint_eq(per_pkg, 4);
    bool htt = l1[3] >> 28 & 1;
    unsigned max_ids = (l1[1] >> 16) & 0xFF;
    ck_assert_msg(htt && max_ids >= ids, "leaf 0BH puts %u LPs (%u IDs) in the package, but CPUID.1 says HTT=%d, "
                  "EBX[23:16]=%u", per_pkg, ids, htt, max_ids);
    tm_destroy(&t);
}
END_TEST

/* ====================================================================
 * base/ — IA32_APIC_BASE (SDM 3A 10.4.4 figure 10-5; 10.12.5 figure
 * 10-27 and 10.12.5.1: the x2APIC state transitions)
 * ==================================================================== */

#define SETUP_END ~0ull
struct base_row {
    const char *name;
    const char *profile;
    uint64_t setup[3];   /* writes that must succeed first (SETUP_END ends) */
    uint64_t val;
    bool ok;
    uint64_t want;       /* IA32_APIC_BASE afterwards (LP 0: BSP set) */
};
static const struct base_row base_rows[] = {
    { "base/xapic-to-x2apic",         NULL, { SETUP_END }, BASE_X2, true, BASE_X2 | BASE_BSP },
    { "base/x2apic-to-x2apic",        NULL, { BASE_X2, SETUP_END }, BASE_X2, true, BASE_X2 | BASE_BSP },
    { "base/x2apic-to-xapic-gp",      NULL, { BASE_X2, SETUP_END }, BASE_XAPIC, false, BASE_X2 | BASE_BSP },
    { "base/x2apic-to-disabled",      NULL, { BASE_X2, SETUP_END }, BASE_OFF, true, BASE_OFF | BASE_BSP },
    { "base/disabled-to-x2apic-gp",   NULL, { BASE_OFF, SETUP_END }, BASE_X2, false, BASE_OFF | BASE_BSP },
    { "base/disabled-to-xapic",       NULL, { BASE_OFF, SETUP_END }, BASE_XAPIC, true, BASE_XAPIC | BASE_BSP },
    { "base/x2apic-disabled-xapic",   NULL, { BASE_X2, BASE_OFF, SETUP_END }, BASE_XAPIC, true, BASE_XAPIC | BASE_BSP },
    { "base/xapic-to-disabled",       NULL, { SETUP_END }, BASE_OFF, true, BASE_OFF | BASE_BSP },
    { "base/extd-without-en-from-xapic",    NULL, { SETUP_END }, 0xFEE00400, false, BASE_XAPIC | BASE_BSP },
    { "base/extd-without-en-from-x2apic",   NULL, { BASE_X2, SETUP_END }, 0xFEE00400, false, BASE_X2 | BASE_BSP },
    { "base/extd-without-en-from-disabled", NULL, { BASE_OFF, SETUP_END }, 0xFEE00400, false, BASE_OFF | BASE_BSP },
    { "base/reserved-bit0",           NULL, { SETUP_END }, BASE_XAPIC | 1, false, BASE_XAPIC | BASE_BSP },
    { "base/reserved-bit7",           NULL, { SETUP_END }, BASE_XAPIC | 0x80, false, BASE_XAPIC | BASE_BSP },
    { "base/reserved-bit9",           NULL, { SETUP_END }, BASE_XAPIC | 0x200, false, BASE_XAPIC | BASE_BSP },
    { "base/reserved-bit9-in-x2apic", NULL, { BASE_X2, SETUP_END }, BASE_X2 | 0x200, false, BASE_X2 | BASE_BSP },
    /* MAXPHYADDR: 46 on the intel profile, 48 on amd (CPUID.80000008H) */
    { "base/above-maxphyaddr-intel",  NULL, { SETUP_END }, (1ull << 46) | BASE_XAPIC, false, BASE_XAPIC | BASE_BSP },
    { "base/below-maxphyaddr-intel",  NULL, { SETUP_END }, (1ull << 45) | 0x800, true, (1ull << 45) | 0x900 },
    { "base/above-maxphyaddr-amd",    "amd", { SETUP_END }, (1ull << 48) | BASE_XAPIC, false, BASE_XAPIC | BASE_BSP },
    { "base/below-maxphyaddr-amd",    "amd", { SETUP_END }, (1ull << 47) | 0x800, true, (1ull << 47) | 0x900 },
    { "base/bsp-read-only",           NULL, { SETUP_END }, BASE_XAPIC, true, BASE_XAPIC | BASE_BSP },
    { "base/relocate",                NULL, { SETUP_END }, 0x800800, true, 0x800900 },
    { "base/relocate-in-x2apic",      NULL, { BASE_X2, SETUP_END }, 0x800C00, true, 0x800D00 },
    { "base/amd-xapic-to-x2apic",     "amd", { SETUP_END }, BASE_X2, true, BASE_X2 | BASE_BSP },
};

START_TEST(base_transitions)
{
    const struct base_row *row = &base_rows[_i];
    struct tm t;
    const struct cpu_profile *p = row->profile ? cpu_profile_find(row->profile) : NULL;
    tm_create_with(&t, hlt_only, sizeof(hlt_only), p, 0);
    for (unsigned i = 0; i < 3 && row->setup[i] != SETUP_END; i++)
        ck_assert_msg(msr_wrmsr(t.cpu, IA32_APIC_BASE, row->setup[i]), "%s: setup write %#llx refused", row->name,
                      (unsigned long long)row->setup[i]);
    bool ok = msr_wrmsr(t.cpu, IA32_APIC_BASE, row->val);
    ck_assert_msg(ok == row->ok, "%s: WRMSR IA32_APIC_BASE = %#llx %s", row->name, (unsigned long long)row->val,
                  ok ? "succeeded, expected #GP" : "raised #GP");
    uint64_t b = base_msr(t.cpu);
    ck_assert_msg(b == row->want, "%s: IA32_APIC_BASE %#llx, expected %#llx", row->name, (unsigned long long)b,
                  (unsigned long long)row->want);
    /* the mode the register says is the mode the APIC is in */
    bool x2 = (b & 0xC00) == 0xC00, en = b & 0x800;
    uint64_t ver;
    ck_assert_msg(msr_rdmsr(t.cpu, X2(R_VER), &ver) == x2, "%s: x2APIC version MSR %s", row->name,
                  x2 ? "refused in x2APIC mode" : "readable outside x2APIC mode");
    ck_assert_msg(apic_x2(t.cpu) == x2, "%s: apic_x2 disagrees", row->name);
    uint32_t r[4];
    cpuid_query(t.cpu, 1, 0, r);
    ck_assert_msg(((r[3] >> 9) & 1) == en, "%s: CPUID.1:EDX[9] = %u with EN = %d", row->name, (r[3] >> 9) & 1, en);
    tm_destroy(&t);
}
END_TEST

/* x2APIC -> disabled -> xAPIC: only the x2APIC ID survives; every other
 * register is back at its reset value (SDM 3A 10.12.5.1: "all the APIC
 * register states in the x2APIC, except for the x2APIC ID, are not
 * preserved"; 10.4.3: disabling may return the APIC to the power-up state),
 * and a running timer is gone. Entering x2APIC mode derives the LDR from the
 * x2APIC ID (10.12.10.2). */
START_TEST(base_disable_resets_registers)
{
    struct tm t;
    tm_create_with(&t, hlt_only, sizeof(hlt_only), NULL, 2);
    cpu_t *c = t.cpu;
    sw_enable(c);
    set_reg(c, R_LDR, 0x04000000);
    set_reg(c, R_DFR, 0x0FFFFFFF);
    to_x2apic(c);
    ck_assert_uint_eq(reg(c, R_LDR), 1u << 2);                  /* derived: cluster 0, bit 2 */
    ck_assert_uint_eq(reg(c, R_ID), 2);
    sw_enable(c);
    set_reg(c, R_TPR, 0x40);
    set_reg(c, R_LVT_TIMER, 0x50);
    set_reg(c, R_DCR, 0x3);
    set_reg(c, R_INIT, 1000);
    set_reg(c, R_LVT_ERROR, 0x51);
    inject(c, 0x60, 0);
    apic_ack(c, 0x60);
    inject(c, 0x70, 0);
    ck_assert(msr_wrmsr(c, IA32_APIC_BASE, BASE_OFF));
    ck_assert_int_eq(apic_pending_vector(c), -1);
    ck_assert(msr_wrmsr(c, IA32_APIC_BASE, BASE_XAPIC));
    static const struct { unsigned off; uint32_t want; } after[] = {
        { R_ID, 2u << 24 }, { R_TPR, 0 }, { R_PPR, 0 }, { R_LDR, 0 }, { R_DFR, 0xFFFFFFFF }, { R_SVR, 0xFF },
        { R_LVT_TIMER, LVT_MASK }, { R_LVT_ERROR, LVT_MASK }, { R_DCR, 0 }, { R_INIT, 0 }, { R_CUR, 0 },
        { R_ESR, 0 }, { R_ICR_LO, 0 },
    };
    for (unsigned i = 0; i < sizeof(after) / sizeof(after[0]); i++)
        ck_assert_msg(reg(c, after[i].off) == after[i].want, "register %#x = %#x after x2APIC->disabled->xAPIC, "
                      "expected %#x", after[i].off, reg(c, after[i].off), after[i].want);
    ck_assert_msg(vempty(c, R_IRR) && vempty(c, R_ISR), "IRR/ISR survived the disable");
    /* the timer programmed before is gone */
    cpu_advance_cycles(c, cpu_cycles(c) + 10000000);
    apic_poll(c);
    ck_assert_msg(vempty(c, R_IRR), "the old timer fired after the disable");
    tm_destroy(&t);
}
END_TEST

/* A globally disabled APIC is no APIC: x2APIC MSRs #GP, nothing is pending,
 * it is no IPI destination (SDM 3A 10.4.3, 10.12.2). */
START_TEST(base_disabled_apic_is_absent)
{
    struct tm t;
    tm_create_with(&t, hlt_only, sizeof(hlt_only), NULL, 1);
    cpu_t *c = t.cpu;
    ck_assert(msr_wrmsr(c, IA32_APIC_BASE, BASE_OFF));
    uint64_t v;
    ck_assert_msg(!msr_rdmsr(c, X2(R_VER), &v), "x2APIC MSR readable with the APIC disabled");
    ck_assert_msg(!msr_wrmsr(c, X2(R_TPR), 0), "x2APIC MSR writable with the APIC disabled");
    struct cpu_ipi m = { .vector = 0x40, .dest = 0xFF };
    ck_assert_msg(!cpu_apic_ipi_matches(c, &m), "a disabled APIC matches a broadcast");
    m.dest = 1;
    ck_assert_msg(!cpu_apic_ipi_matches(c, &m), "a disabled APIC matches its own ID");
    ck_assert_int_eq(apic_pending_vector(c), -1);
    tm_destroy(&t);
}
END_TEST

/* Relocation (SDM 3A 10.4.5): the register page follows IA32_APIC_BASE; the
 * page it leaves, and the page in x2APIC mode (10.12.2: the MMIO interface
 * behaves as if the APIC were globally disabled) or with the APIC disabled,
 * is ordinary memory. One target shares a 2-MiB page of the boot identity
 * map with the code, so the split into 4-KiB translations is exercised. */
static const uint64_t reloc_rows[] = { 0x800000, 0x1F0000 };

START_TEST(base_relocation)
{
    uint64_t target = reloc_rows[_i];
    const uint32_t marker = 0xCAFEBABE;
    struct code c = { .n = 0 };
    c_mov_imm64(&c, 3, target);
    c_load(&c, R_VER);                           /* RAM */
    c_save_eax(&c, 0);
    c_wrmsr(&c, IA32_APIC_BASE, target | 0x800);
    c_load(&c, R_VER);                           /* the APIC */
    c_save_eax(&c, 1);
    c_wrmsr(&c, IA32_APIC_BASE, target | 0xC00);
    c_load(&c, R_VER);                           /* x2APIC mode: RAM */
    c_save_eax(&c, 2);
    c_wrmsr(&c, IA32_APIC_BASE, target);
    c_wrmsr(&c, IA32_APIC_BASE, BASE_XAPIC);
    c_load(&c, R_VER);                           /* moved away: RAM */
    c_save_eax(&c, 3);
    c_stop(&c);
    struct tm t;
    tm_create(&t, c.b, c.n);
    ck_assert_msg(t.l.base + t.l.size <= target || t.l.base >= target + 4096, "boot structures overlap %#llx",
                  (unsigned long long)target);
    tm_poke(&t, target + R_VER, &marker, 4);
    enum cpu_stop st = run_lp(&t);
    ck_assert_msg(st == CPU_STOP_PLATFORM, "%#llx: stop %s (%s), vector %d", (unsigned long long)target,
                  cpu_stop_name(st), cpu_message(t.cpu), tm_vector(&t));
    ck_assert_msg(cpu_get(t.cpu, CPU_R8) == marker, "before relocation: %#llx",
                  (unsigned long long)cpu_get(t.cpu, CPU_R8));
    ck_assert_msg(cpu_get(t.cpu, CPU_R9) == 0x00060014, "relocated APIC: version %#llx",
                  (unsigned long long)cpu_get(t.cpu, CPU_R9));
    ck_assert_msg(cpu_get(t.cpu, CPU_R10) == marker, "x2APIC mode: %#llx", (unsigned long long)cpu_get(t.cpu, CPU_R10));
    ck_assert_msg(cpu_get(t.cpu, CPU_R11) == marker, "moved back: %#llx", (unsigned long long)cpu_get(t.cpu, CPU_R11));
    tm_destroy(&t);
}
END_TEST

/* ====================================================================
 * prio/ — SDM 3A 10.8.3.1 (TPR, PPR), 10.8.4 (IRR/ISR), 10.8.5 (EOI),
 * 10.5.2 (valid vectors), 10.5.3 (ESR)
 * ==================================================================== */

struct prio_row {
    const char *name;
    uint32_t tpr;
    uint8_t isr[3], irr[3];     /* 0 ends */
    int want_vec;               /* apic_pending_vector: highest deliverable, -1 none */
    uint32_t want_ppr;
};
static const struct prio_row prio_rows[] = {
    /* PPR[7:4] = max(TPR[7:4], ISRV[7:4]); PPR[3:0] = TPR[3:0] if TPR[7:4] >= ISRV[7:4], else 0 */
    { "prio/idle",                      0x00, { 0 }, { 0x31 }, 0x31, 0x00 },
    { "prio/tpr-same-class-blocks",     0x30, { 0 }, { 0x3F }, -1, 0x30 },
    { "prio/tpr-subclass-does-not-count", 0x3F, { 0 }, { 0x3E }, -1, 0x3F },
    { "prio/tpr-higher-class-passes",   0x3F, { 0 }, { 0x40 }, 0x40, 0x3F },
    { "prio/isr-class-above-tpr",       0x2F, { 0x35 }, { 0 }, -1, 0x30 },
    { "prio/tpr-class-equals-isr",      0x35, { 0x3A }, { 0 }, -1, 0x35 },
    { "prio/tpr-above-isr",             0x40, { 0x35 }, { 0 }, -1, 0x40 },
    { "prio/isr-blocks-same-class",     0x00, { 0x50 }, { 0x5F }, -1, 0x50 },
    { "prio/isr-blocks-lower-class",    0x00, { 0x50 }, { 0x41 }, -1, 0x50 },
    { "prio/isr-lets-higher-class",     0x00, { 0x50 }, { 0x61 }, 0x61, 0x50 },
    { "prio/highest-irr-first",         0x00, { 0 }, { 0x31, 0x92, 0x45 }, 0x92, 0x00 },
    { "prio/highest-isr-counts",        0x00, { 0x41, 0x72 }, { 0x65 }, -1, 0x70 },
    { "prio/tpr-max",                   0xFF, { 0 }, { 0xFF }, -1, 0xFF },
    { "prio/vector-16-is-valid",        0x00, { 0 }, { 0x10 }, 0x10, 0x00 },
    { "prio/vector-255",                0xE0, { 0 }, { 0xFF }, 0xFF, 0xE0 },
};

START_TEST(prio_table)
{
    const struct prio_row *row = &prio_rows[_i];
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    sw_enable(c);
    set_reg(c, R_TPR, row->tpr);
    for (unsigned i = 0; i < 3 && row->isr[i]; i++) {
        inject(c, row->isr[i], 0);
        apic_ack(c, row->isr[i]);
    }
    for (unsigned i = 0; i < 3 && row->irr[i]; i++)
        inject(c, row->irr[i], 0);
    for (unsigned i = 0; i < 3 && row->irr[i]; i++)
        ck_assert_msg(vbit(c, R_IRR, row->irr[i]), "%s: vector %#x not in the IRR", row->name, row->irr[i]);
    for (unsigned i = 0; i < 3 && row->isr[i]; i++)
        ck_assert_msg(vbit(c, R_ISR, row->isr[i]), "%s: vector %#x not in the ISR", row->name, row->isr[i]);
    uint32_t ppr = reg(c, R_PPR);
    ck_assert_msg(ppr == row->want_ppr, "%s: PPR %#x, expected %#x", row->name, ppr, row->want_ppr);
    ck_assert_msg(cpu_apic_priority(c) == row->want_ppr, "%s: cpu_apic_priority %#x", row->name, cpu_apic_priority(c));
    int v = apic_pending_vector(c);
    ck_assert_msg(v == row->want_vec, "%s: pending vector %d (%#x), expected %d (%#x)", row->name, v, v,
                  row->want_vec, row->want_vec);
    tm_destroy(&t);
}
END_TEST

/* Nesting: a higher class interrupts a handler, EOI retires the highest
 * ISR bit first, and a same-class vector waits until the class is retired
 * (SDM 3A 10.8.3, 10.8.5). EOI is a write to the EOI register. */
START_TEST(prio_nesting_and_eoi)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    sw_enable(c);
    inject(c, 0x40, 0);
    ck_assert_int_eq(apic_pending_vector(c), 0x40);
    apic_ack(c, 0x40);
    ck_assert(!vbit(c, R_IRR, 0x40) && vbit(c, R_ISR, 0x40));
    ck_assert_uint_eq(reg(c, R_PPR), 0x40);
    inject(c, 0x80, 0);
    ck_assert_int_eq(apic_pending_vector(c), 0x80);     /* nests */
    apic_ack(c, 0x80);
    ck_assert_uint_eq(reg(c, R_PPR), 0x80);
    inject(c, 0x45, 0);                                  /* same class as the outer handler */
    inject(c, 0x7F, 0);                                  /* below the inner one */
    ck_assert_int_eq(apic_pending_vector(c), -1);
    set_reg(c, R_EOI, 0);                               /* retires 0x80, the highest */
    ck_assert_msg(!vbit(c, R_ISR, 0x80) && vbit(c, R_ISR, 0x40), "EOI did not retire the highest ISR bit");
    ck_assert_uint_eq(reg(c, R_PPR), 0x40);
    ck_assert_int_eq(apic_pending_vector(c), 0x7F);
    apic_ack(c, 0x7F);
    set_reg(c, R_EOI, 0);                               /* retires 0x7F */
    ck_assert_int_eq(apic_pending_vector(c), -1);       /* 0x45 still waits for 0x40 */
    set_reg(c, R_EOI, 0);                               /* retires 0x40 */
    ck_assert_uint_eq(reg(c, R_PPR), 0);
    ck_assert_int_eq(apic_pending_vector(c), 0x45);
    apic_ack(c, 0x45);
    set_reg(c, R_EOI, 0);
    ck_assert(vempty(c, R_ISR) && vempty(c, R_IRR));
    set_reg(c, R_EOI, 0);                               /* EOI with nothing in service: no effect */
    ck_assert(vempty(c, R_ISR));
    set_reg(c, R_ESR, 0);
    ck_assert_uint_eq(reg(c, R_ESR), 0);
    tm_destroy(&t);
}
END_TEST

/* Vectors 0-15 are illegal: the APIC never sets IRR bits 0-15 and records
 * "receive illegal vector" in the ESR (SDM 3A 10.5.2, figure 10-9); the ESR
 * shows the errors recorded since the previous write only after a write
 * (10.5.3). */
START_TEST(prio_illegal_vector_received)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    sw_enable(c);
    for (unsigned v = 0; v < 16; v++)
        inject(c, v, 0);
    ck_assert_msg(reg(c, R_IRR) == 0, "IRR bits 0-15: %#x", reg(c, R_IRR));
    ck_assert_int_eq(apic_pending_vector(c), -1);
    ck_assert_msg(reg(c, R_ESR) == 0, "ESR changed before a write: %#x", reg(c, R_ESR));
    set_reg(c, R_ESR, 0);
    ck_assert_msg(reg(c, R_ESR) == ESR_RECV_ILLEGAL, "ESR %#x after the latching write", reg(c, R_ESR));
    set_reg(c, R_ESR, 0);
    ck_assert_msg(reg(c, R_ESR) == 0, "ESR %#x after a second write (nothing new)", reg(c, R_ESR));
    /* an error after the write shows only at the next write */
    inject(c, 3, 0);
    ck_assert_uint_eq(reg(c, R_ESR), 0);
    set_reg(c, R_ESR, 0xFFFFFFFF);                      /* the value written does not matter (xAPIC) */
    ck_assert_uint_eq(reg(c, R_ESR), ESR_RECV_ILLEGAL);
    tm_destroy(&t);
}
END_TEST

/* A self-IPI with an illegal vector: "send illegal vector" (SDM 3A figure
 * 10-9: a write to the ICR, or to SELF IPI in x2APIC mode, with a vector
 * 0-15), and no IRR bit. */
struct illegal_send_row { const char *name; bool x2; bool self_ipi_reg; uint32_t icr; };
static const struct illegal_send_row illegal_send_rows[] = {
    { "prio/send-illegal-xapic-icr-self",   false, false, 0x00040007 },
    { "prio/send-illegal-xapic-icr-physical", false, false, 0x00000007 },   /* destination: own ID 0 */
    { "prio/send-illegal-x2apic-icr-self",  true,  false, 0x00040007 },
    { "prio/send-illegal-x2apic-self-ipi",  true,  true,  7 },
};

START_TEST(prio_illegal_vector_sent)
{
    const struct illegal_send_row *row = &illegal_send_rows[_i];
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    if (row->x2)
        to_x2apic(c);
    sw_enable(c);
    if (row->self_ipi_reg)
        ck_assert(msr_wrmsr(c, X2(R_SELF_IPI), row->icr));
    else if (row->x2)
        ck_assert(msr_wrmsr(c, X2(R_ICR_LO), row->icr));
    else
        set_reg(c, R_ICR_LO, row->icr);
    apic_poll(c);
    ck_assert_msg(reg(c, R_IRR) == 0, "%s: IRR bits 0-31 %#x", row->name, reg(c, R_IRR));
    set_reg(c, R_ESR, 0);
    ck_assert_msg(reg(c, R_ESR) & ESR_SEND_ILLEGAL, "%s: ESR %#x without send-illegal", row->name, reg(c, R_ESR));
    tm_destroy(&t);
}
END_TEST

/* A locally generated interrupt from the LVT with an illegal vector is not
 * delivered and sets "receive illegal vector" (SDM 3A figure 10-9). */
START_TEST(prio_illegal_vector_from_lvt_timer)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    sw_enable(c);
    set_reg(c, R_DCR, 0xB);
    set_reg(c, R_LVT_TIMER, 0x05);
    set_reg(c, R_INIT, 1);
    cpu_advance_cycles(c, cpu_cycles(c) + 100 * ticks_per_count(c));
    apic_poll(c);
    ck_assert_msg(reg(c, R_IRR) == 0, "IRR %#x", reg(c, R_IRR));
    set_reg(c, R_ESR, 0);
    ck_assert_msg(reg(c, R_ESR) == ESR_RECV_ILLEGAL, "ESR %#x", reg(c, R_ESR));
    tm_destroy(&t);
}
END_TEST

/* When the APIC detects an error it interrupts through the LVT error entry
 * unless that entry is masked (SDM 3A 10.5.1, "LVT Error Register ...
 * specifies interrupt delivery when the APIC detects an internal error";
 * 10.5.3). MODEL BUG: errors are recorded in the ESR but never interrupt. */
START_TEST(prio_error_interrupt)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    sw_enable(c);
    set_reg(c, R_LVT_ERROR, 0xE3);
    inject(c, 5, 0);                                     /* receive illegal vector */
    apic_poll(c);
    ck_assert_msg(vbit(c, R_IRR, 0xE3), "no LVT error interrupt (vector 0xE3) after a receive-illegal error");
    tm_destroy(&t);
}
END_TEST

/* A masked LVT error entry: the error is recorded, no interrupt. */
START_TEST(prio_error_interrupt_masked)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    sw_enable(c);
    set_reg(c, R_LVT_ERROR, LVT_MASK | 0xE3);
    inject(c, 5, 0);
    apic_poll(c);
    ck_assert(vempty(c, R_IRR));
    set_reg(c, R_ESR, 0);
    ck_assert_uint_eq(reg(c, R_ESR), ESR_RECV_ILLEGAL);
    tm_destroy(&t);
}
END_TEST

/* CR8 is TPR[7:4]: MOV to CR8 loads TPR[7:4] and clears TPR[3:0], MOV from
 * CR8 reads TPR[7:4] (SDM 3A 10.8.6.1). */
START_TEST(prio_cr8_is_tpr)
{
    struct code c = { .n = 0 };
    c_mov_imm64(&c, 3, APIC_PA);
    c_store_imm(&c, R_TPR, 0x5A);
    C(&c, 0x44, 0x0F, 0x20, 0xC0);               /* mov rax, cr8 */
    C(&c, 0x49, 0x89, 0xC0);                     /* mov r8, rax */
    c_mov_imm32(&c, 1, 3);
    C(&c, 0x44, 0x0F, 0x22, 0xC1);               /* mov cr8, rcx */
    c_load(&c, R_TPR);
    c_save_eax(&c, 1);
    c_load(&c, R_PPR);
    c_save_eax(&c, 2);
    c_stop(&c);
    struct tm t;
    tm_create(&t, c.b, c.n);
    enum cpu_stop st = run_lp(&t);
    ck_assert_msg(st == CPU_STOP_PLATFORM, "stop %s (%s), vector %d", cpu_stop_name(st), cpu_message(t.cpu),
                  tm_vector(&t));
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_R8), 5);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_R9), 0x30);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_R10), 0x30);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_CR8), 3);
    tm_destroy(&t);
}
END_TEST

/* A pending interrupt held by the PPR is taken right after the instruction
 * that lowers the PPR: MOV CR8, a store to the TPR, or an EOI that retires
 * the in-service vector (SDM 3A 10.8.3.1, 10.8.5, 10.8.6.1). */
struct unblock_row { const char *name; uint8_t insn[12]; unsigned n; unsigned cr8; unsigned isr; };
static const struct unblock_row unblock_rows[] = {
    { "prio/unblock-by-mov-cr8",   { 0x44, 0x0F, 0x22, 0xC1 }, 4, 5, 0 },                  /* mov cr8, rcx (0) */
    { "prio/unblock-by-tpr-store", { 0xC7, 0x83, 0x80, 0, 0, 0, 0, 0, 0, 0 }, 10, 5, 0 },  /* TPR = 0 */
    { "prio/unblock-by-eoi",       { 0xC7, 0x83, 0xB0, 0, 0, 0, 0, 0, 0, 0 }, 10, 0, 0x5A }, /* EOI */
};

START_TEST(prio_unblock_delivery)
{
    const struct unblock_row *row = &unblock_rows[_i];
    struct code c = { .n = 0 };
    c_mov_imm32(&c, 1, 0);
    c_bytes(&c, row->insn, row->n);
    size_t after = c.n;
    C(&c, 0x48, 0xFF, 0xC0);                     /* inc rax */
    c_stop(&c);
    struct tm t;
    tm_create(&t, c.b, c.n);
    cpu_t *cpu = t.cpu;
    sw_enable(cpu);
    cpu_set(cpu, CPU_RBX, APIC_PA);
    cpu_set(cpu, CPU_CR8, row->cr8);
    if (row->isr) {
        inject(cpu, row->isr, 0);
        apic_ack(cpu, row->isr);
    }
    cpu_set(cpu, CPU_RFLAGS, 0x202);
    inject(cpu, 0x55, 0);
    ck_assert_int_eq(apic_pending_vector(cpu), -1);
    enum cpu_stop st = cpu_run(cpu, 1000);
    ck_assert_msg(st == CPU_STOP_HALTED && tm_vector(&t) == 0x55, "%s: stop %s (%s), vector %d", row->name,
                  cpu_stop_name(st), cpu_message(cpu), tm_vector(&t));
    ck_assert_msg(tm_stack(&t, 0) == CODE_PA + after, "%s: interrupt taken at %#llx, expected %#llx", row->name,
                  (unsigned long long)tm_stack(&t, 0), (unsigned long long)(CODE_PA + after));
    ck_assert_uint_eq(cpu_get(cpu, CPU_RAX), 0);
    tm_destroy(&t);
}
END_TEST

/* Software disable (SVR[8] = 0, SDM 3A 10.4.7.2): every LVT mask bit is
 * set, and interrupts already in the IRR stay pending for the processor. */
START_TEST(prio_software_disable)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    sw_enable(c);
    set_reg(c, R_LVT_TIMER, 0x40);
    set_reg(c, R_LVT_LINT0, 0x700);
    set_reg(c, R_LVT_ERROR, 0x41);
    inject(c, 0x90, 0);
    set_reg(c, R_SVR, 0xFF);
    static const unsigned lvts[] = { R_CMCI, R_LVT_TIMER, R_LVT_THERMAL, R_LVT_PERF, R_LVT_LINT0, R_LVT_LINT1,
                                     R_LVT_ERROR };
    for (unsigned i = 0; i < sizeof(lvts) / sizeof(lvts[0]); i++)
        ck_assert_msg(reg(c, lvts[i]) & LVT_MASK, "LVT %#x unmasked after the software disable", lvts[i]);
    ck_assert_uint_eq(reg(c, R_LVT_TIMER), LVT_MASK | 0x40);
    ck_assert_msg(apic_pending_vector(c) == 0x90, "the pending vector was lost (%d)", apic_pending_vector(c));
    tm_destroy(&t);
}
END_TEST

/* ====================================================================
 * mmio/ — the xAPIC register page from guest code (SDM 3A 10.4.1, table
 * 10-1, figures 10-7 .. 10-26)
 * ==================================================================== */

#define ANY 0xA5A5A5A5u
struct mmio_row {
    const char *name;
    bool svr_on;            /* software-enable the APIC first */
    unsigned off;
    uint32_t val;
    bool ro;                /* read-only: the write is ignored */
    uint32_t want;          /* value read after the write (ro: also before) */
    int src;                /* store from: -1 an immediate, 0 EAX, 9 R9D */
};
static const struct mmio_row mmio_rows[] = {
    { "mmio/tpr-reserved-bits",       true,  R_TPR, 0xFFFFFFFF, false, 0xFF, -1 },
    { "mmio/tpr",                     true,  R_TPR, 0x5A, false, 0x5A, -1 },
    { "mmio/ldr",                     true,  R_LDR, 0xFFFFFFFF, false, 0xFF000000, -1 },
    { "mmio/dfr-cluster",             true,  R_DFR, 0x00000000, false, 0x0FFFFFFF, -1 },
    { "mmio/dfr-flat",                true,  R_DFR, 0xF0000000, false, 0xFFFFFFFF, -1 },
    /* SVR: vector, enable (8); 12 needs EOI-broadcast suppression (version bit 24 = 0); focus
     * checking (9) is not supported on all processors and is left out */
    { "mmio/svr",                     false, R_SVR, 0xFFFFFDFF, false, 0x1FF, -1 },
    { "mmio/svr-disable",             true,  R_SVR, 0x0FF, false, 0x0FF, -1 },
    { "mmio/icr-hi",                  true,  R_ICR_HI, 0xFFFFFFFF, false, 0xFF000000, -1 },
    { "mmio/lvt-timer",               true,  R_LVT_TIMER, 0xFFFBFFFF, false, 0x000300FF, -1 },
    { "mmio/lvt-timer-unmasked",      true,  R_LVT_TIMER, 0x000200EF, false, 0x000200EF, -1 },
    /* 10.4.7.2: while software-disabled, LVT mask bits cannot be cleared */
    { "mmio/lvt-timer-sw-disabled",   false, R_LVT_TIMER, 0x000200EF, false, 0x000300EF, -1 },
    { "mmio/lvt-lint0-sw-disabled",   false, R_LVT_LINT0, 0x000000EF, false, 0x000100EF, -1 },
    { "mmio/lvt-thermal",             true,  R_LVT_THERMAL, 0xFFFFF4EF, false, 0x000104EF, -1 },
    { "mmio/lvt-perf",                true,  R_LVT_PERF, 0xFFFFF4EF, false, 0x000104EF, -1 },
    { "mmio/lvt-cmci",                true,  R_CMCI, 0xFFFFF0EF, false, 0x000100EF, -1 },
    { "mmio/lvt-lint0",               true,  R_LVT_LINT0, 0xFFFFF7EF, false, 0x0001A7EF, -1 },
    { "mmio/lvt-lint1",               true,  R_LVT_LINT1, 0xFFFF74EF, false, 0x000124EF, -1 },
    { "mmio/lvt-error",               true,  R_LVT_ERROR, 0xFFFFFFEF, false, 0x000100EF, -1 },
    { "mmio/divide-config",           true,  R_DCR, 0xFFFFFFFF, false, 0xB, -1 },
    { "mmio/initial-count",           true,  R_INIT, 0x12345678, false, 0x12345678, -1 },
    { "mmio/esr-nothing-recorded",    true,  R_ESR, 0xFFFFFFFF, false, 0, -1 },
    /* read-only registers ignore writes (table 10-1) */
    { "mmio/ro-version",              true,  R_VER, 0xFFFFFFFF, true, 0x00060014, -1 },
    { "mmio/ro-ppr",                  true,  R_PPR, 0xFFFFFFFF, true, 0, -1 },
    { "mmio/ro-apr",                  true,  R_APR, 0xFFFFFFFF, true, ANY, -1 },
    { "mmio/ro-rrd",                  true,  R_RRD, 0xFFFFFFFF, true, ANY, -1 },
    { "mmio/ro-isr0",                 true,  R_ISR, 0xFFFFFFFF, true, 0, -1 },
    { "mmio/ro-isr7",                 true,  R_ISR + 0x70, 0xFFFFFFFF, true, 0, -1 },
    { "mmio/ro-tmr0",                 true,  R_TMR, 0xFFFFFFFF, true, 0, -1 },
    { "mmio/ro-tmr7",                 true,  R_TMR + 0x70, 0xFFFFFFFF, true, 0, -1 },
    { "mmio/ro-irr0",                 true,  R_IRR, 0xFFFFFFFF, true, 0, -1 },
    { "mmio/ro-irr7",                 true,  R_IRR + 0x70, 0xFFFFFFFF, true, 0, -1 },
    { "mmio/ro-current-count",        true,  R_CUR, 0xFFFFFFFF, true, 0, -1 },
    /* stores from a register: the low 32 bits of the named register */
    { "mmio/tpr-from-eax",            true,  R_TPR, 0x3C, false, 0x3C, 0 },
    { "mmio/tpr-from-r9d",            true,  R_TPR, 0x4D, false, 0x4D, 9 },
    { "mmio/ldr-from-r9d",            true,  R_LDR, 0x5E000000, false, 0x5E000000, 9 },
};

START_TEST(mmio_registers)
{
    const struct mmio_row *row = &mmio_rows[_i];
    struct code c = { .n = 0 };
    c_mov_imm64(&c, 3, APIC_PA);
    if (row->svr_on)
        c_store_imm(&c, R_SVR, 0x1FF);
    c_load(&c, row->off);
    c_save_eax(&c, 0);
    if (row->src < 0) {
        c_store_imm(&c, row->off, row->val);
    } else {
        /* the other register holds garbage: only the named one may be stored */
        c_mov_imm64(&c, 0, row->src == 0 ? 0xFFFFFFFF00000000ull | row->val : 0x1111111111111111ull);
        C(&c, 0x49, 0xB9);                       /* mov r9, imm64 */
        c_imm(&c, row->src == 9 ? 0xEEEEEEEE00000000ull | row->val : 0x2222222222222222ull, 8);
        if (row->src == 0)
            C(&c, 0x89, 0x83);                   /* mov [rbx+off], eax */
        else
            C(&c, 0x44, 0x89, 0x8B);             /* mov [rbx+off], r9d */
        c_imm(&c, row->off, 4);
    }
    c_load(&c, row->off);
    c_save_eax(&c, 1);
    c_stop(&c);
    struct tm t;
    tm_create(&t, c.b, c.n);
    enum cpu_stop st = run_lp(&t);
    ck_assert_msg(st == CPU_STOP_PLATFORM, "%s: stop %s (%s), vector %d", row->name, cpu_stop_name(st),
                  cpu_message(t.cpu), tm_vector(&t));
    uint32_t before = (uint32_t)cpu_get(t.cpu, CPU_R8), after = (uint32_t)cpu_get(t.cpu, CPU_R9);
    if (row->ro) {
        ck_assert_msg(after == before, "%s: read-only register %#x changed from %#x to %#x", row->name, row->off,
                      before, after);
        if (row->want != ANY)
            ck_assert_msg(before == row->want, "%s: %#x, expected %#x", row->name, before, row->want);
    } else {
        ck_assert_msg(after == row->want, "%s: wrote %#x, read %#x, expected %#x", row->name, row->val, after,
                      row->want);
    }
    ck_assert_msg(tm_count(&t, CPU_EV_EXCEPTION, NULL) == 0, "%s: an exception was delivered", row->name);
    tm_destroy(&t);
}
END_TEST

/* A 32-bit load into a 64-bit register zero-extends (SDM 1 3.4.1.1), from
 * the APIC page as from memory. */
START_TEST(mmio_load_zero_extends)
{
    struct code c = { .n = 0 };
    c_mov_imm64(&c, 3, APIC_PA);
    c_mov_imm64(&c, 0, ~0ull);
    c_load(&c, R_VER);
    c_stop(&c);
    struct tm t;
    tm_create(&t, c.b, c.n);
    enum cpu_stop st = run_lp(&t);
    ck_assert_msg(st == CPU_STOP_PLATFORM, "stop %s (%s)", cpu_stop_name(st), cpu_message(t.cpu));
    ck_assert_msg(cpu_get(t.cpu, CPU_RAX) == 0x00060014, "RAX %#llx", (unsigned long long)cpu_get(t.cpu, CPU_RAX));
    tm_destroy(&t);
}
END_TEST

/* Offset 3F0H is the SELF IPI register in x2APIC mode only; in xAPIC mode it
 * is reserved and a write sends nothing (SDM 3A table 10-1, 10.12.11). */
START_TEST(mmio_no_self_ipi_register)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    sw_enable(c);
    ck_assert(apic_mmio_write(c, R_SELF_IPI, 4, 0x41));
    apic_poll(c);
    ck_assert_msg(vempty(c, R_IRR), "a write to offset 0x3F0 in xAPIC mode sent an IPI");
    tm_destroy(&t);
}
END_TEST

/* Anything but an aligned 32-bit MOV load or store to the page is not
 * modelled (SDM 3A 10.4.1: "accessed using 128-bit aligned 32-bit loads or
 * stores"; narrower accesses are model specific): the run stops as
 * unmodelled with a message that names the instruction (hvsim's rule for
 * unmodelled behaviour), and the register is untouched. MODEL BUG (rows
 * marked): the wrong-size and misaligned MOV rows stop with a message that
 * names only the size and offset. */
struct unm_row { const char *name; uint8_t insn[12]; unsigned n; const char *mnemonic; };
static const struct unm_row unm_rows[] = {
    { "mmio/unmodelled-add-store",      { 0x01, 0x83, 0x80, 0, 0, 0 }, 6, "add" },
    { "mmio/unmodelled-inc",            { 0xFF, 0x83, 0x80, 0, 0, 0 }, 6, "inc" },
    { "mmio/unmodelled-xchg",           { 0x87, 0x83, 0x80, 0, 0, 0 }, 6, "xchg" },
    { "mmio/unmodelled-or-load",        { 0x0B, 0x83, 0x80, 0, 0, 0 }, 6, "or" },
    { "mmio/unmodelled-load-16",        { 0x66, 0x8B, 0x83, 0x80, 0, 0, 0 }, 7, "mov" },
    { "mmio/unmodelled-load-8",         { 0x8A, 0x83, 0x80, 0, 0, 0 }, 6, "mov" },
    { "mmio/unmodelled-load-64",        { 0x48, 0x8B, 0x83, 0x80, 0, 0, 0 }, 7, "mov" },
    { "mmio/unmodelled-movzx-16",       { 0x0F, 0xB7, 0x83, 0x80, 0, 0, 0 }, 7, "movzx" },
    { "mmio/unmodelled-store-16",       { 0x66, 0x89, 0x83, 0x80, 0, 0, 0 }, 7, "mov" },        /* MODEL BUG */
    { "mmio/unmodelled-store-64",       { 0x48, 0x89, 0x83, 0x80, 0, 0, 0 }, 7, "mov" },        /* MODEL BUG */
    { "mmio/unmodelled-store-imm16",    { 0x66, 0xC7, 0x83, 0x80, 0, 0, 0, 0x20, 0 }, 9, "mov" }, /* MODEL BUG */
    { "mmio/unmodelled-load-misaligned", { 0x8B, 0x83, 0x84, 0, 0, 0 }, 6, "mov" },            /* MODEL BUG */
    { "mmio/unmodelled-store-misaligned", { 0x89, 0x83, 0x84, 0, 0, 0 }, 6, "mov" },           /* MODEL BUG */
};

START_TEST(mmio_unmodelled)
{
    const struct unm_row *row = &unm_rows[_i];
    struct code c = { .n = 0 };
    c_mov_imm64(&c, 3, APIC_PA);
    c_mov_imm32(&c, 0, 0x20);
    size_t at = c.n;
    c_bytes(&c, row->insn, row->n);
    c_stop(&c);
    struct tm t;
    tm_create(&t, c.b, c.n);
    enum cpu_stop st = cpu_run(t.cpu, 1000);
    ck_assert_msg(st == CPU_STOP_UNMODELLED, "%s: stop %s (%s), vector %d", row->name, cpu_stop_name(st),
                  cpu_message(t.cpu), tm_vector(&t));
    ck_assert_msg_contains(row->name, cpu_message(t.cpu), row->mnemonic);
    ck_assert_msg(tm_count(&t, CPU_EV_UNMODELLED, NULL) == 1, "%s: no UNMODELLED event", row->name);
    ck_assert_msg(cpu_get(t.cpu, CPU_RIP) == CODE_PA + at, "%s: RIP %#llx, expected the instruction at %#llx",
                  row->name, (unsigned long long)cpu_get(t.cpu, CPU_RIP), (unsigned long long)(CODE_PA + at));
    ck_assert_msg(reg(t.cpu, R_TPR) == 0, "%s: TPR became %#x", row->name, reg(t.cpu, R_TPR));
    tm_destroy(&t);
}
END_TEST

/* The page's paging rights apply to the emulated access (SDM 3A 4.6): a
 * CPL-3 access through a supervisor mapping and a write through a read-only
 * one (CR0.WP = 1) are page faults with the right error code, and the
 * register is unchanged. */
struct perm_row {
    const char *name;
    bool user;              /* run at CPL 3 */
    bool us;                /* the APIC page's PDPTE and PDE allow user access */
    bool ro;                /* the PDE is read-only */
    bool store;             /* mov dword [rbx+0x80], 0x20, else mov eax, [rbx+0x30] */
    bool fault;
    uint32_t ec;            /* #PF error code (SDM 3A 4.7) */
};
static const struct perm_row perm_rows[] = {
    { "mmio/perm-user-load-supervisor-page",   true,  false, false, false, true,  0x5 },
    { "mmio/perm-user-store-supervisor-page",  true,  false, false, true,  true,  0x7 },
    { "mmio/perm-user-load-user-page",         true,  true,  false, false, false, 0 },
    { "mmio/perm-user-store-user-page",        true,  true,  false, true,  false, 0 },
    { "mmio/perm-user-store-user-read-only",   true,  true,  true,  true,  true,  0x7 },
    { "mmio/perm-kernel-store-read-only",      false, false, true,  true,  true,  0x3 },
    { "mmio/perm-kernel-load-read-only",       false, false, true,  false, false, 0 },
    { "mmio/perm-kernel-store",                false, false, false, true,  false, 0 },
};

START_TEST(mmio_page_permissions)
{
    const struct perm_row *row = &perm_rows[_i];
    struct code c = { .n = 0 };
    size_t at = c.n;
    if (row->store)
        c_store_imm(&c, R_TPR, 0x20);
    else
        c_load(&c, R_VER);
    C(&c, 0x0F, 0x0B);                           /* ud2: the end (vector 6) */
    struct tm t;
    tm_create(&t, c.b, c.n);
    cpu_set(t.cpu, CPU_RBX, APIC_PA);
    if (row->us) {
        uint64_t e3 = tm_entry_pa(&t, APIC_PA, 3);
        tm_poke64(&t, e3, tm_peek64(&t, e3) | PTE_US);
        tm_pde_modify(&t, APIC_PA, 0, PTE_US);
    }
    if (row->ro)
        tm_pde_modify(&t, APIC_PA, PTE_RW, 0);
    if (row->user)
        tm_enter_user(&t, 0x3FF000);
    enum cpu_stop st = cpu_run(t.cpu, 1000);
    ck_assert_msg(st == CPU_STOP_HALTED, "%s: stop %s (%s)", row->name, cpu_stop_name(st), cpu_message(t.cpu));
    if (row->fault) {
        ck_assert_msg(tm_vector(&t) == 14, "%s: vector %d, expected #PF", row->name, tm_vector(&t));
        ck_assert_msg(tm_stack(&t, 0) == row->ec, "%s: error code %#llx, expected %#x", row->name,
                      (unsigned long long)tm_stack(&t, 0), row->ec);
        ck_assert_msg(tm_stack(&t, 1) == CODE_PA + at, "%s: pushed RIP %#llx", row->name,
                      (unsigned long long)tm_stack(&t, 1));
        uint64_t want_cr2 = APIC_PA + (row->store ? R_TPR : R_VER);
        ck_assert_msg(cpu_get(t.cpu, CPU_CR2) == want_cr2, "%s: CR2 %#llx", row->name,
                      (unsigned long long)cpu_get(t.cpu, CPU_CR2));
        ck_assert_msg(reg(t.cpu, R_TPR) == 0, "%s: the faulting store reached the TPR", row->name);
    } else {
        ck_assert_msg(tm_vector(&t) == 6, "%s: vector %d, expected to reach UD2", row->name, tm_vector(&t));
        if (row->store)
            ck_assert_msg(reg(t.cpu, R_TPR) == 0x20, "%s: TPR %#x", row->name, reg(t.cpu, R_TPR));
        else
            ck_assert_msg(cpu_get(t.cpu, CPU_RAX) == 0x00060014, "%s: loaded %#llx", row->name,
                          (unsigned long long)cpu_get(t.cpu, CPU_RAX));
    }
    tm_destroy(&t);
}
END_TEST

/* ====================================================================
 * x2/ — x2APIC MSRs (SDM 3A 10.12.1.2 table 10-6, 10.12.1.3 reserved
 * bits, 10.12.9 ICR, 10.12.10.2 LDR, 10.12.11 SELF IPI, 10.12.2)
 * ==================================================================== */

#define NOREAD ~0ull
struct x2_row {
    const char *name;
    bool write;
    uint32_t msr;
    uint64_t val;           /* WRMSR value */
    bool ok;                /* false: #GP */
    uint64_t want;          /* RDMSR value, or the MSR after a write (NOREAD: not readable) */
};
#define XR(n, m, w)        { n, false, m, 0, true, w }
#define XRGP(n, m)         { n, false, m, 0, false, 0 }
#define XW(n, m, v, w)     { n, true, m, v, true, w }
#define XWGP(n, m, v, w)   { n, true, m, v, false, w }
/* LP 3: x2APIC ID 3, logical ID 1 << 3; SVR 0x1FF */
static const struct x2_row x2_rows[] = {
    XR("x2/read-id",              0x802, 3),
    XR("x2/read-version",         0x803, 0x00060014),
    XR("x2/read-tpr",             0x808, 0),
    XR("x2/read-ppr",             0x80A, 0),
    XR("x2/read-ldr",             0x80D, 0x8),
    XR("x2/read-svr",             0x80F, 0x1FF),
    XR("x2/read-isr0",            0x810, 0),
    XR("x2/read-isr7",            0x817, 0),
    XR("x2/read-tmr0",            0x818, 0),
    XR("x2/read-tmr7",            0x81F, 0),
    XR("x2/read-irr0",            0x820, 0),
    XR("x2/read-irr7",            0x827, 0),
    XR("x2/read-esr",             0x828, 0),
    XR("x2/read-lvt-cmci",        0x82F, LVT_MASK),
    XR("x2/read-icr",             0x830, 0),
    XR("x2/read-lvt-timer",       0x832, LVT_MASK),
    XR("x2/read-lvt-thermal",     0x833, LVT_MASK),
    XR("x2/read-lvt-perf",        0x834, LVT_MASK),
    XR("x2/read-lvt-lint0",       0x835, LVT_MASK),
    XR("x2/read-lvt-lint1",       0x836, LVT_MASK),
    XR("x2/read-lvt-error",       0x837, LVT_MASK),
    XR("x2/read-initial-count",   0x838, 0),
    XR("x2/read-current-count",   0x839, 0),
    XR("x2/read-divide-config",   0x83E, 0),
    /* write-only and absent registers */
    XRGP("x2/read-eoi-gp",        0x80B),
    XRGP("x2/read-self-ipi-gp",   0x83F),
    XRGP("x2/read-800-gp",        0x800),
    XRGP("x2/read-801-gp",        0x801),
    XRGP("x2/read-804-gp",        0x804),
    XRGP("x2/read-807-gp",        0x807),
    XRGP("x2/read-apr-gp",        0x809),
    XRGP("x2/read-rrd-gp",        0x80C),
    XRGP("x2/read-dfr-gp",        0x80E),
    XRGP("x2/read-icr-hi-gp",     0x831),
    XRGP("x2/read-83a-gp",        0x83A),
    XRGP("x2/read-83d-gp",        0x83D),
    XRGP("x2/read-840-gp",        0x840),
    XRGP("x2/read-8ff-gp",        0x8FF),
    /* writes */
    XW("x2/write-tpr",            0x808, 0x40, 0x40),
    XW("x2/write-svr",            0x80F, 0x1EF, 0x1EF),
    XW("x2/write-lvt-timer",      0x832, 0x40, 0x40),
    XW("x2/write-lvt-timer-periodic", 0x832, TM_PERIODIC | 0x40, TM_PERIODIC | 0x40),
    XW("x2/write-lvt-error",      0x837, 0x45, 0x45),
    XW("x2/write-lvt-lint0",      0x835, 0x1A7EF, 0x1A7EF),
    XW("x2/write-lvt-cmci",       0x82F, 0x4F, 0x4F),
    XW("x2/write-initial-count",  0x838, 0xFFFFFFFF, 0xFFFFFFFF),
    XW("x2/write-divide-config",  0x83E, 0xB, 0xB),
    XW("x2/write-icr-64-bit",     0x830, 0x0000000500000041ull, 0x0000000500000041ull),
    XW("x2/write-esr-zero",       0x828, 0, 0),
    XW("x2/write-eoi-zero",       0x80B, 0, NOREAD),
    XW("x2/write-self-ipi",       0x83F, 0x41, NOREAD),
    /* read-only registers: #GP (table 10-6) */
    XWGP("x2/write-id-gp",        0x802, 7, 3),
    XWGP("x2/write-version-gp",   0x803, 0, 0x00060014),
    XWGP("x2/write-ppr-gp",       0x80A, 0x20, 0),
    XWGP("x2/write-ldr-gp",       0x80D, 0x10001, 0x8),
    XWGP("x2/write-isr-gp",       0x810, 1, 0),
    XWGP("x2/write-tmr-gp",       0x818, 1, 0),
    XWGP("x2/write-irr-gp",       0x820, 1, 0),
    XWGP("x2/write-current-count-gp", 0x839, 5, 0),
    /* registers absent in x2APIC mode */
    XWGP("x2/write-apr-gp",       0x809, 0, NOREAD),
    XWGP("x2/write-rrd-gp",       0x80C, 0, NOREAD),
    XWGP("x2/write-dfr-gp",       0x80E, 0xFFFFFFFF, NOREAD),
    XWGP("x2/write-icr-hi-gp",    0x831, 0, NOREAD),
    XWGP("x2/write-800-gp",       0x800, 0, NOREAD),
    XWGP("x2/write-8ff-gp",       0x8FF, 0, NOREAD),
    /* 10.12.1.2: only zero may be written to EOI and ESR */
    XWGP("x2/write-eoi-nonzero-gp", 0x80B, 1, NOREAD),
    XWGP("x2/write-esr-nonzero-gp", 0x828, 1, 0),
    /* 10.12.1.3: bits 63:32 of every register but the ICR are reserved */
    XWGP("x2/write-tpr-high-half-gp", 0x808, 1ull << 32, 0),
    XWGP("x2/write-lvt-timer-high-half-gp", 0x832, (1ull << 32) | 0x40, LVT_MASK),
    XWGP("x2/write-self-ipi-high-half-gp", 0x83F, (1ull << 32) | 0x41, NOREAD),
    XWGP("x2/write-self-ipi-bit8-gp", 0x83F, 0x141, NOREAD),
    /* 10.12.1.3: "Non-zero writes (by WRMSR instruction) to reserved bits
     * to these registers will raise a general protection fault exception" */
    XWGP("x2/write-tpr-reserved-gp",        0x808, 0x140, 0),
    XWGP("x2/write-svr-reserved-gp",        0x80F, 0x21FF, 0x1FF),
    XWGP("x2/write-lvt-timer-reserved-gp",  0x832, (1u << 20) | 0x40, LVT_MASK),
    XWGP("x2/write-lvt-error-reserved-gp",  0x837, 0x445, LVT_MASK),          /* no delivery mode in LVT error */
    XWGP("x2/write-divide-config-reserved-gp", 0x83E, 0x4, 0),
    XWGP("x2/write-icr-reserved-gp",        0x830, 0x0000000500100041ull, 0), /* ICR[31:20] */
    XWGP("x2/write-icr-delivery-status-gp", 0x830, 0x0000000500001041ull, 0), /* ICR[12]: none in x2APIC */
};

START_TEST(x2_msrs)
{
    const struct x2_row *row = &x2_rows[_i];
    struct tm t;
    tm_create_with(&t, hlt_only, sizeof(hlt_only), NULL, 3);
    cpu_t *c = t.cpu;
    to_x2apic(c);
    sw_enable(c);
    uint64_t v = 0;
    if (!row->write) {
        bool ok = msr_rdmsr(c, row->msr, &v);
        ck_assert_msg(ok == row->ok, "%s: RDMSR %#x %s", row->name, row->msr, ok ? "succeeded, expected #GP" : "#GP");
        if (ok)
            ck_assert_msg(v == row->want, "%s: RDMSR %#x = %#llx, expected %#llx", row->name, row->msr,
                          (unsigned long long)v, (unsigned long long)row->want);
    } else {
        bool ok = msr_wrmsr(c, row->msr, row->val);
        ck_assert_msg(ok == row->ok, "%s: WRMSR %#x = %#llx %s", row->name, row->msr, (unsigned long long)row->val,
                      ok ? "succeeded, expected #GP" : "raised #GP");
        if (row->want != NOREAD) {
            ck_assert_msg(msr_rdmsr(c, row->msr, &v), "%s: RDMSR %#x refused", row->name, row->msr);
            ck_assert_msg(v == row->want, "%s: %#x reads %#llx afterwards, expected %#llx", row->name, row->msr,
                          (unsigned long long)v, (unsigned long long)row->want);
        }
    }
    tm_destroy(&t);
}
END_TEST

/* Outside x2APIC mode the whole range 800H-8FFH is #GP (SDM 3A 10.12.2). */
struct x2_off_row { const char *name; uint64_t base; };
static const struct x2_off_row x2_off_rows[] = {
    { "x2/msrs-gp-in-xapic-mode", BASE_XAPIC },
    { "x2/msrs-gp-when-disabled", BASE_OFF },
};

START_TEST(x2_msrs_outside_x2apic_mode)
{
    const struct x2_off_row *row = &x2_off_rows[_i];
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    ck_assert(msr_wrmsr(t.cpu, IA32_APIC_BASE, row->base));
    static const uint32_t msrs[] = { 0x802, 0x803, 0x808, 0x80B, 0x80F, 0x830, 0x832, 0x838, 0x83F };
    for (unsigned i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
        uint64_t v;
        ck_assert_msg(!msr_rdmsr(t.cpu, msrs[i], &v), "%s: RDMSR %#x succeeded", row->name, msrs[i]);
        ck_assert_msg(!msr_wrmsr(t.cpu, msrs[i], 0), "%s: WRMSR %#x succeeded", row->name, msrs[i]);
    }
    tm_destroy(&t);
}
END_TEST

/* Logical x2APIC ID = (x2APIC ID[19:4] << 16) | (1 << x2APIC ID[3:0]),
 * set when x2APIC mode is entered (SDM 3A 10.12.10.2). */
static const unsigned ldr_lps[] = { 0, 1, 15, 16, 19 };

START_TEST(x2_ldr_derivation)
{
    unsigned lp = ldr_lps[_i];
    struct tm t;
    tm_create_with(&t, hlt_only, sizeof(hlt_only), NULL, lp);
    to_x2apic(t.cpu);
    uint32_t want = ((lp >> 4) << 16) | (1u << (lp & 15));
    ck_assert_msg(reg(t.cpu, R_LDR) == want, "LP %u: LDR %#x, expected %#x", lp, reg(t.cpu, R_LDR), want);
    ck_assert_uint_eq(reg(t.cpu, R_ID), lp);
    tm_destroy(&t);
}
END_TEST

/* SELF IPI (SDM 3A 10.12.11): the same as an edge-triggered fixed IPI to
 * self: the IRR bit, no TMR bit. */
START_TEST(x2_self_ipi)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    to_x2apic(c);
    sw_enable(c);
    ck_assert(msr_wrmsr(c, X2(R_SELF_IPI), 0x61));
    apic_poll(c);
    ck_assert_msg(vbit(c, R_IRR, 0x61), "SELF IPI vector 0x61 not in the IRR");
    ck_assert_msg(!vbit(c, R_TMR, 0x61), "SELF IPI set the TMR bit (it is edge-triggered)");
    ck_assert_int_eq(apic_pending_vector(c), 0x61);
    tm_destroy(&t);
}
END_TEST

/* The ICR is one 64-bit MSR with the destination in bits 63:32 (SDM 3A
 * 10.12.9): a physical IPI to the own x2APIC ID arrives, to another ID not
 * (a platform without routing). */
START_TEST(x2_icr_64_bit)
{
    struct tm t;
    tm_create_with(&t, hlt_only, sizeof(hlt_only), NULL, 3);
    cpu_t *c = t.cpu;
    to_x2apic(c);
    sw_enable(c);
    ck_assert(msr_wrmsr(c, X2(R_ICR_LO), (5ull << 32) | 0x51));
    apic_poll(c);
    ck_assert_msg(!vbit(c, R_IRR, 0x51), "IPI to x2APIC ID 5 reached LP 3");
    ck_assert(msr_wrmsr(c, X2(R_ICR_LO), (3ull << 32) | 0x52));
    apic_poll(c);
    ck_assert_msg(vbit(c, R_IRR, 0x52), "IPI to own x2APIC ID 3 did not arrive");
    uint64_t v;
    ck_assert(msr_rdmsr(c, X2(R_ICR_LO), &v));
    ck_assert_uint_eq(v, (3ull << 32) | 0x52);
    /* an 8-bit destination field would see 0x103 as 3 */
    ck_assert(msr_wrmsr(c, X2(R_ICR_LO), (0x103ull << 32) | 0x53));
    apic_poll(c);
    ck_assert_msg(!vbit(c, R_IRR, 0x53), "IPI to x2APIC ID 0x103 reached ID 3");
    tm_destroy(&t);
}
END_TEST

/* EOI through MSR 80BH retires the highest in-service vector. */
START_TEST(x2_eoi)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    to_x2apic(c);
    sw_enable(c);
    inject(c, 0x44, 0);
    apic_ack(c, 0x44);
    inject(c, 0x88, 0);
    apic_ack(c, 0x88);
    ck_assert_uint_eq(reg(c, R_PPR), 0x80);
    ck_assert(!msr_wrmsr(c, X2(R_EOI), 0x88));           /* non-zero: #GP, nothing retired */
    ck_assert(vbit(c, R_ISR, 0x88));
    ck_assert(msr_wrmsr(c, X2(R_EOI), 0));
    ck_assert(!vbit(c, R_ISR, 0x88) && vbit(c, R_ISR, 0x44));
    ck_assert_uint_eq(reg(c, R_PPR), 0x40);
    tm_destroy(&t);
}
END_TEST

/* The same from guest code: RDMSR of the x2APIC ID, WRMSR to it #GP(0) at
 * the WRMSR (SDM 3A 10.12.1.2). */
START_TEST(x2_guest_access)
{
    struct code c = { .n = 0 };
    c_wrmsr(&c, IA32_APIC_BASE, BASE_X2);
    c_rdmsr(&c, X2(R_ID));
    c_save_eax(&c, 0);
    C(&c, 0x49, 0x89, 0xD1);                     /* mov r9, rdx */
    c_mov_imm32(&c, 1, X2(R_ID));
    size_t at = c.n;
    C(&c, 0x0F, 0x30);                           /* wrmsr */
    c_stop(&c);
    struct tm t;
    tm_create_with(&t, c.b, c.n, NULL, 6);
    enum cpu_stop st = run_lp(&t);
    ck_assert_msg(st == CPU_STOP_HALTED && tm_vector(&t) == 13, "stop %s (%s), vector %d", cpu_stop_name(st),
                  cpu_message(t.cpu), tm_vector(&t));
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_R8), 6);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_R9), 0);
    ck_assert_uint_eq(tm_stack(&t, 0), 0);
    ck_assert_uint_eq(tm_stack(&t, 1), CODE_PA + at);
    tm_destroy(&t);
}
END_TEST

/* ====================================================================
 * timer/ — SDM 3A 10.5.4 (one-shot, periodic, divide configuration
 * figure 10-10), 10.5.4.1 (TSC-deadline mode)
 * ==================================================================== */

/* Program the timer at a known cycle: DCR, LVT, then the initial count. */
static uint64_t timer_start_at(cpu_t *c, uint32_t dcr, uint32_t lvt, uint32_t initial)
{
    sw_enable(c);
    set_reg(c, R_DCR, dcr);
    set_reg(c, R_LVT_TIMER, lvt);
    uint64_t t0 = cpu_cycles(c);
    set_reg(c, R_INIT, initial);
    return t0;
}

/* Advance the LP's clock to `to` and let due timer events reach the IRR. */
static void at(cpu_t *c, uint64_t to)
{
    cpu_advance_cycles(c, to);
    apic_poll(c);
}

/* Take the pending vector (acknowledge + EOI), as a handler would. */
static void service(cpu_t *c, unsigned v)
{
    ck_assert_int_eq(apic_pending_vector(c), (int)v);
    apic_ack(c, v);
    set_reg(c, R_EOI, 0);
}

START_TEST(timer_one_shot)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    uint64_t p = ticks_per_count(c);                     /* divide by 1 */
    uint64_t t0 = timer_start_at(c, 0xB, 0x40, 100);
    ck_assert_uint_eq(reg(c, R_INIT), 100);
    ck_assert_uint_eq(reg(c, R_CUR), 100);
    at(c, t0 + 1 * p);
    ck_assert_uint_eq(reg(c, R_CUR), 99);
    at(c, t0 + 50 * p);
    ck_assert_uint_eq(reg(c, R_CUR), 50);
    at(c, t0 + 100 * p - 1);
    ck_assert_uint_eq(reg(c, R_CUR), 1);
    ck_assert_msg(!vbit(c, R_IRR, 0x40), "fired one cycle early");
    at(c, t0 + 100 * p);
    ck_assert_msg(vbit(c, R_IRR, 0x40), "did not fire at initial * %llu cycles", (unsigned long long)p);
    ck_assert_uint_eq(reg(c, R_CUR), 0);
    ck_assert_uint_eq(reg(c, R_INIT), 100);
    service(c, 0x40);
    at(c, t0 + 1000 * p);                                /* once only */
    ck_assert_msg(vempty(c, R_IRR), "one-shot timer fired again");
    ck_assert_uint_eq(reg(c, R_CUR), 0);
    tm_destroy(&t);
}
END_TEST

START_TEST(timer_periodic)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    uint64_t p = ticks_per_count(c) * 2;                 /* divide by 2 */
    uint64_t t0 = timer_start_at(c, 0x0, TM_PERIODIC | 0x41, 10);
    for (unsigned k = 1; k <= 3; k++) {
        at(c, t0 + k * 10 * p - 1);
        ck_assert_msg(!vbit(c, R_IRR, 0x41), "period %u: fired early", k);
        ck_assert_uint_eq(reg(c, R_CUR), 1);
        at(c, t0 + k * 10 * p);
        ck_assert_msg(vbit(c, R_IRR, 0x41), "period %u: no interrupt", k);
        service(c, 0x41);
        at(c, t0 + k * 10 * p + 3 * p);
        ck_assert_uint_eq(reg(c, R_CUR), 7);
    }
    /* periods that pass unobserved leave one IRR bit, and the count keeps its phase */
    at(c, t0 + 65 * p);
    ck_assert(vbit(c, R_IRR, 0x41));
    service(c, 0x41);
    ck_assert_uint_eq(reg(c, R_CUR), 5);
    at(c, t0 + 70 * p - 1);
    ck_assert(!vbit(c, R_IRR, 0x41));
    at(c, t0 + 70 * p);
    ck_assert(vbit(c, R_IRR, 0x41));
    tm_destroy(&t);
}
END_TEST

/* Divide configuration: bits 0, 1, 3 (figure 10-10): 000 /2, 001 /4,
 * 010 /8, 011 /16, 100 /32, 101 /64, 110 /128, 111 /1; bit 2 is reserved. */
struct div_row { const char *name; uint32_t dcr; uint64_t div; };
static const struct div_row div_rows[] = {
    { "timer/divide-by-2",   0x0, 2 },   { "timer/divide-by-4",   0x1, 4 },
    { "timer/divide-by-8",   0x2, 8 },   { "timer/divide-by-16",  0x3, 16 },
    { "timer/divide-by-32",  0x8, 32 },  { "timer/divide-by-64",  0x9, 64 },
    { "timer/divide-by-128", 0xA, 128 }, { "timer/divide-by-1",   0xB, 1 },
    { "timer/divide-bit2-ignored", 0xF, 1 },
};

START_TEST(timer_divide)
{
    const struct div_row *row = &div_rows[_i];
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    uint64_t p = ticks_per_count(c) * row->div;
    uint64_t t0 = timer_start_at(c, row->dcr, 0x42, 3);
    at(c, t0 + p);
    ck_assert_msg(reg(c, R_CUR) == 2, "%s: current count %u after one tick", row->name, reg(c, R_CUR));
    at(c, t0 + 3 * p - 1);
    ck_assert_msg(!vbit(c, R_IRR, 0x42), "%s: fired early", row->name);
    at(c, t0 + 3 * p);
    ck_assert_msg(vbit(c, R_IRR, 0x42), "%s: no interrupt at 3 * %llu cycles", row->name, (unsigned long long)p);
    tm_destroy(&t);
}
END_TEST

/* Rewriting the initial count restarts the count; writing 0 stops the
 * timer (SDM 3A 10.5.4). */
START_TEST(timer_restart_and_stop)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    uint64_t p = ticks_per_count(c);
    uint64_t t0 = timer_start_at(c, 0xB, 0x43, 100);
    at(c, t0 + 60 * p);
    set_reg(c, R_INIT, 100);                             /* restart at t0 + 60p */
    ck_assert_uint_eq(reg(c, R_CUR), 100);
    at(c, t0 + 100 * p);
    ck_assert_msg(!vbit(c, R_IRR, 0x43), "fired at the first start's deadline");
    at(c, t0 + 160 * p);
    ck_assert_msg(vbit(c, R_IRR, 0x43), "restarted count did not fire");
    service(c, 0x43);
    /* periodic, stopped by a write of 0 */
    set_reg(c, R_LVT_TIMER, TM_PERIODIC | 0x43);
    uint64_t t1 = cpu_cycles(c);
    set_reg(c, R_INIT, 10);
    at(c, t1 + 5 * p);
    set_reg(c, R_INIT, 0);
    at(c, t1 + 1000 * p);
    ck_assert_msg(vempty(c, R_IRR), "stopped timer fired");
    ck_assert_uint_eq(reg(c, R_CUR), 0);
    tm_destroy(&t);
}
END_TEST

/* A masked timer counts but does not interrupt (SDM 3A 10.5.1, 10.5.4). */
START_TEST(timer_masked_counts)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    uint64_t p = ticks_per_count(c);
    uint64_t t0 = timer_start_at(c, 0xB, LVT_MASK | 0x44, 10);
    at(c, t0 + 4 * p);
    ck_assert_uint_eq(reg(c, R_CUR), 6);
    at(c, t0 + 10 * p);
    ck_assert_msg(vempty(c, R_IRR), "masked one-shot timer interrupted");
    ck_assert_uint_eq(reg(c, R_CUR), 0);
    set_reg(c, R_LVT_TIMER, 0x44);                       /* unmasking later brings nothing */
    at(c, t0 + 20 * p);
    ck_assert(vempty(c, R_IRR));
    /* periodic and masked: reloads and keeps counting */
    set_reg(c, R_LVT_TIMER, LVT_MASK | TM_PERIODIC | 0x44);
    uint64_t t1 = cpu_cycles(c);
    set_reg(c, R_INIT, 10);
    at(c, t1 + 10 * p + 2 * p);
    ck_assert_uint_eq(reg(c, R_CUR), 8);
    ck_assert(vempty(c, R_IRR));
    /* unmasked: the next period interrupts */
    set_reg(c, R_LVT_TIMER, TM_PERIODIC | 0x44);
    at(c, t1 + 20 * p);
    ck_assert_msg(vbit(c, R_IRR, 0x44), "unmasked periodic timer did not interrupt");
    tm_destroy(&t);
}
END_TEST

/* TSC-deadline mode (SDM 3A 10.5.4.1). */
static void tsc_deadline_mode(cpu_t *c, unsigned vec)
{
    sw_enable(c);
    set_reg(c, R_LVT_TIMER, TM_TSC_DL | vec);
}

static uint64_t rd_deadline(cpu_t *c)
{
    uint64_t v = ~0ull;
    ck_assert_msg(msr_rdmsr(c, IA32_TSC_DEADLINE, &v), "RDMSR IA32_TSC_DEADLINE #GP");
    return v;
}

static uint64_t rd_tsc(cpu_t *c)
{
    uint64_t v = 0;
    ck_assert(msr_rdmsr(c, IA32_TSC, &v));
    return v;
}

START_TEST(timer_tsc_deadline_fires)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    tsc_deadline_mode(c, 0x45);
    /* the TSC, not the cycle count, is compared: move it far away first */
    ck_assert(msr_wrmsr(c, IA32_TSC, 1000000000ull));
    uint64_t tsc0 = rd_tsc(c), c0 = cpu_cycles(c);
    ck_assert(msr_wrmsr(c, IA32_TSC_DEADLINE, tsc0 + 5000));
    ck_assert_uint_eq(rd_deadline(c), tsc0 + 5000);
    ck_assert_uint_eq(reg(c, R_CUR), 0);                 /* current count reads 0 in this mode */
    at(c, c0 + 4999);
    ck_assert_msg(vempty(c, R_IRR), "fired before TSC = deadline");
    at(c, c0 + 5000);
    ck_assert_msg(vbit(c, R_IRR, 0x45), "no interrupt at TSC = deadline");
    ck_assert_msg(rd_deadline(c) == 0, "IA32_TSC_DEADLINE %#llx after firing, expected 0",
                  (unsigned long long)rd_deadline(c));
    service(c, 0x45);
    at(c, c0 + 100000);
    ck_assert_msg(vempty(c, R_IRR), "fired twice");
    /* a deadline already passed fires at once */
    ck_assert(msr_wrmsr(c, IA32_TSC_DEADLINE, rd_tsc(c) - 10));
    apic_poll(c);
    ck_assert_msg(vbit(c, R_IRR, 0x45), "a deadline in the past did not fire");
    tm_destroy(&t);
}
END_TEST

START_TEST(timer_tsc_deadline_disarm)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    uint64_t c0 = cpu_cycles(c);
    tsc_deadline_mode(c, 0x46);
    /* writing 0 disarms */
    ck_assert(msr_wrmsr(c, IA32_TSC_DEADLINE, rd_tsc(c) + 1000));
    ck_assert(msr_wrmsr(c, IA32_TSC_DEADLINE, 0));
    ck_assert_uint_eq(rd_deadline(c), 0);
    at(c, c0 + 5000);
    ck_assert_msg(vempty(c, R_IRR), "disarmed deadline fired");
    /* leaving TSC-deadline mode disarms; the MSR reads 0 and ignores writes outside it */
    ck_assert(msr_wrmsr(c, IA32_TSC_DEADLINE, rd_tsc(c) + 1000));
    set_reg(c, R_LVT_TIMER, 0x46);
    ck_assert_uint_eq(rd_deadline(c), 0);
    ck_assert(msr_wrmsr(c, IA32_TSC_DEADLINE, rd_tsc(c) + 10));
    ck_assert_uint_eq(rd_deadline(c), 0);
    set_reg(c, R_LVT_TIMER, TM_TSC_DL | 0x46);
    ck_assert_msg(rd_deadline(c) == 0, "a deadline survived the round trip through one-shot mode");
    at(c, cpu_cycles(c) + 5000);
    ck_assert_msg(vempty(c, R_IRR), "deadline armed outside TSC-deadline mode fired");
    /* entering TSC-deadline mode stops a running one-shot count */
    set_reg(c, R_LVT_TIMER, 0x46);
    set_reg(c, R_DCR, 0xB);
    uint64_t c1 = cpu_cycles(c);
    set_reg(c, R_INIT, 10);
    set_reg(c, R_LVT_TIMER, TM_TSC_DL | 0x46);
    at(c, c1 + 1000 * ticks_per_count(c));
    ck_assert_msg(vempty(c, R_IRR), "one-shot count kept running in TSC-deadline mode");
    /* a mask set in TSC-deadline mode: it expires (MSR back to 0) without an interrupt */
    set_reg(c, R_LVT_TIMER, LVT_MASK | TM_TSC_DL | 0x46);
    ck_assert(msr_wrmsr(c, IA32_TSC_DEADLINE, rd_tsc(c) + 100));
    at(c, cpu_cycles(c) + 200);
    ck_assert(vempty(c, R_IRR));
    ck_assert_uint_eq(rd_deadline(c), 0);
    tm_destroy(&t);
}
END_TEST

/* In TSC-deadline mode, writes to the initial-count register are ignored and
 * the current count reads 0 (SDM 3A 10.5.4.1). */
START_TEST(timer_tsc_deadline_ignores_initial_count)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    tsc_deadline_mode(c, 0x47);
    set_reg(c, R_DCR, 0xB);
    uint64_t c0 = cpu_cycles(c);
    set_reg(c, R_INIT, 5);
    ck_assert_msg(reg(c, R_INIT) == 0, "initial count %u written in TSC-deadline mode", reg(c, R_INIT));
    ck_assert_uint_eq(reg(c, R_CUR), 0);
    at(c, c0 + 1000 * ticks_per_count(c));
    ck_assert_msg(vempty(c, R_IRR), "an initial-count write started a count in TSC-deadline mode");
    tm_destroy(&t);
}
END_TEST

/* Without CPUID.1:ECX[24] (amd profile) IA32_TSC_DEADLINE does not exist:
 * RDMSR/WRMSR #GP (SDM 4 table 2-2, "If CPUID.01H:ECX.[24] = 1"), and the
 * LVT timer mode 10b is reserved (10.5.4.1). */
START_TEST(timer_tsc_deadline_absent_on_amd)
{
    struct tm t;
    tm_create_with(&t, hlt_only, sizeof(hlt_only), cpu_profile_find("amd"), 0);
    cpu_t *c = t.cpu;
    uint64_t v;
    ck_assert_msg(!msr_rdmsr(c, IA32_TSC_DEADLINE, &v), "RDMSR IA32_TSC_DEADLINE succeeded on amd");
    ck_assert_msg(!msr_wrmsr(c, IA32_TSC_DEADLINE, 0), "WRMSR IA32_TSC_DEADLINE succeeded on amd");
    sw_enable(c);
    set_reg(c, R_LVT_TIMER, TM_TSC_DL | 0x48);
    ck_assert_msg((reg(c, R_LVT_TIMER) & (3u << 17)) != TM_TSC_DL, "TSC-deadline mode selectable on amd");
    tm_destroy(&t);
}
END_TEST

/* Guest: a due timer interrupt waits while RFLAGS.IF = 0 (it is in the IRR),
 * and is taken once STI's shadow has passed (SDM 3A 6.8.1, 6.8.3). */
START_TEST(timer_waits_for_if)
{
    struct code c = { .n = 0 };
    c_mov_imm32(&c, 1, 5000);
    C(&c, 0xFF, 0xC9, 0x75, 0xFC);               /* l: dec ecx; jnz l */
    c_load(&c, R_IRR + 0x20);                    /* IRR bits 64-95 */
    c_save_eax(&c, 0);
    C(&c, 0xFB);                                 /* sti */
    C(&c, 0x90);                                 /* nop (shadowed) */
    size_t taken = c.n;
    C(&c, 0x90, 0x90, 0xFA);                     /* nop; nop; cli */
    c_stop(&c);
    struct tm t;
    tm_create(&t, c.b, c.n);
    cpu_t *cpu = t.cpu;
    log_handler(&t, 0x50, EOI_XAPIC);
    uint64_t p = ticks_per_count(cpu);
    uint64_t t0 = timer_start_at(cpu, 0xB, 0x50, 10);
    enum cpu_stop st = run_lp(&t);
    ck_assert_msg(st == CPU_STOP_PLATFORM, "stop %s (%s), vector %d", cpu_stop_name(st), cpu_message(cpu),
                  tm_vector(&t));
    ck_assert_msg(cpu_get(cpu, CPU_R8) & (1u << (0x50 - 64)), "timer vector not pending in the IRR while IF = 0 "
                  "(IRR[95:64] = %#llx)", (unsigned long long)cpu_get(cpu, CPU_R8));
    ck_assert_uint_eq(cpu_get(cpu, CPU_R15), 1);
    const struct cpu_event *e = NULL;
    ck_assert_uint_eq(ext_ints(&t, 0, &e), 1);
    ck_assert_msg(e->rip == CODE_PA + taken && cpu_get(cpu, CPU_R14) == CODE_PA + taken,
                  "interrupt taken at %#llx, expected %#llx", (unsigned long long)e->rip,
                  (unsigned long long)(CODE_PA + taken));
    ck_assert_msg(e->cycle > t0 + 10 * p, "delivered at cycle %llu, before the deadline %llu",
                  (unsigned long long)e->cycle, (unsigned long long)(t0 + 10 * p));
    tm_destroy(&t);
}
END_TEST

/* Guest: a periodic timer interrupts a spinning loop every period; the
 * handlers run on the virtual time of the period boundaries. */
START_TEST(timer_periodic_guest)
{
    struct code c = { .n = 0 };
    C(&c, 0xFB);                                 /* sti */
    C(&c, 0x49, 0x83, 0xFF, 0x03, 0x72, 0xFA);   /* l: cmp r15, 3; jb l */
    C(&c, 0xFA);                                 /* cli */
    c_stop(&c);
    struct tm t;
    tm_create(&t, c.b, c.n);
    cpu_t *cpu = t.cpu;
    log_handler(&t, 0x51, EOI_XAPIC);
    uint64_t period = ticks_per_count(cpu) * 16 * 50;
    uint64_t t0 = timer_start_at(cpu, 0x3, TM_PERIODIC | 0x51, 50);
    enum cpu_stop st = run_lp(&t);
    ck_assert_msg(st == CPU_STOP_PLATFORM, "stop %s (%s), vector %d", cpu_stop_name(st), cpu_message(cpu),
                  tm_vector(&t));
    ck_assert_uint_eq(cpu_get(cpu, CPU_R15), 3);
    ck_assert_uint_eq(ext_ints(&t, 0, NULL), 3);
    for (unsigned k = 0; k < 3; k++) {
        const struct cpu_event *e = NULL;
        ext_ints(&t, k, &e);
        uint64_t due = t0 + (k + 1) * period;
        ck_assert_msg(e->cycle >= due && e->cycle < due + 64, "interrupt %u at cycle %llu, due at %llu", k,
                      (unsigned long long)e->cycle, (unsigned long long)due);
    }
    uint8_t log[4];
    ck_assert_uint_eq(log_read(&t, log, 4), 3);
    ck_assert(log[0] == 0x51 && log[1] == 0x51 && log[2] == 0x51);
    tm_destroy(&t);
}
END_TEST

/* HLT: the LP stops (CPU_STOP_HALTED) and cpu_next_wake says when its timer
 * fires; advanced to that time, it takes the interrupt with the RIP after
 * the HLT pushed (SDM 2A HLT, 3A 6.8.1). */
struct wake_row { const char *name; bool tsc_deadline; bool cli; bool masked; uint32_t tpr; bool wakes; };
static const struct wake_row wake_rows[] = {
    { "timer/hlt-woken-by-one-shot",        false, false, false, 0x00, true },
    { "timer/hlt-woken-by-tsc-deadline",    true,  false, false, 0x00, true },
    { "timer/hlt-with-if0-never-woken",     false, true,  false, 0x00, false },
    { "timer/hlt-masked-timer-never-wakes", false, false, true,  0x00, false },
    { "timer/hlt-tpr-blocks-timer-vector",  false, false, false, 0x50, false },
    { "timer/hlt-tpr-below-timer-class",    false, false, false, 0x4F, true },
    { "timer/hlt-tsc-deadline-with-if0",    true,  true,  false, 0x00, false },
};

START_TEST(timer_hlt_wake)
{
    const struct wake_row *row = &wake_rows[_i];
    struct code c = { .n = 0 };
    uint8_t if_insn = row->cli ? 0xFA : 0xFB;      /* cli / sti */
    c_bytes(&c, &if_insn, 1);
    C(&c, 0xF4);                                 /* hlt */
    size_t after_hlt = c.n;
    c_stop(&c);
    struct tm t;
    tm_create(&t, c.b, c.n);
    cpu_t *cpu = t.cpu;
    sw_enable(cpu);
    set_reg(cpu, R_TPR, row->tpr);
    uint32_t lvt = 0x52 | (row->masked ? LVT_MASK : 0);
    uint64_t due;
    if (row->tsc_deadline) {
        set_reg(cpu, R_LVT_TIMER, TM_TSC_DL | lvt);
        ck_assert(msr_wrmsr(cpu, IA32_TSC, 1ull << 40));             /* TSC ahead of the cycle count */
        ck_assert(msr_wrmsr(cpu, IA32_TSC_DEADLINE, (1ull << 40) + 30000));
        due = cpu_cycles(cpu) + 30000;
    } else {
        due = timer_start_at(cpu, 0x1, lvt, 1000) + 1000 * 4 * ticks_per_count(cpu);
    }
    enum cpu_stop st = cpu_run(cpu, 1000);
    ck_assert_msg(st == CPU_STOP_HALTED && cpu_halted(cpu), "%s: stop %s (%s)", row->name, cpu_stop_name(st),
                  cpu_message(cpu));
    ck_assert_msg(cpu_get(cpu, CPU_RIP) == CODE_PA + after_hlt, "%s: RIP %#llx after HLT", row->name,
                  (unsigned long long)cpu_get(cpu, CPU_RIP));
    uint64_t w = cpu_next_wake(cpu);
    if (!row->wakes) {
        ck_assert_msg(w == ~0ull, "%s: cpu_next_wake %llu, expected never", row->name, (unsigned long long)w);
        cpu_advance_cycles(cpu, due + 1000000);
        ck_assert_int_eq(cpu_run(cpu, 1000), CPU_STOP_HALTED);
        ck_assert_msg(ext_ints(&t, 0, NULL) == 0, "%s: an interrupt was delivered", row->name);
        ck_assert_msg(cpu_get(cpu, CPU_RIP) == CODE_PA + after_hlt, "%s: left HLT", row->name);
        tm_destroy(&t);
        return;
    }
    ck_assert_msg(w == due, "%s: cpu_next_wake %llu, expected the timer's %llu", row->name, (unsigned long long)w,
                  (unsigned long long)due);
    cpu_advance_cycles(cpu, w);
    st = cpu_run(cpu, 1000);
    ck_assert_msg(st == CPU_STOP_HALTED && tm_vector(&t) == 0x52, "%s: stop %s, vector %d", row->name,
                  cpu_stop_name(st), tm_vector(&t));
    ck_assert_msg(tm_stack(&t, 0) == CODE_PA + after_hlt, "%s: pushed RIP %#llx, expected after the HLT", row->name,
                  (unsigned long long)tm_stack(&t, 0));
    const struct cpu_event *e = NULL;
    ck_assert_uint_eq(ext_ints(&t, 0, &e), 1);
    ck_assert_msg(e->cycle == due, "%s: delivered at %llu, due %llu", row->name, (unsigned long long)e->cycle,
                  (unsigned long long)due);
    tm_destroy(&t);
}
END_TEST

/* ====================================================================
 * shadow/ — blocking by STI and by MOV SS (SDM 3A 6.8.3, table 6-2 note;
 * SDM 2B STI: "the processor responds to external interrupts after
 * executing the next instruction" when STI sets IF)
 * ==================================================================== */

struct shadow_row {
    const char *name;
    uint8_t code[16];
    unsigned n;
    bool taken;             /* the interrupt is delivered before the OUT */
    unsigned pushed;        /* offset of the pushed RIP within the code */
    uint64_t rax;           /* RAX at the end */
};
static const struct shadow_row shadow_rows[] = {
    /* sti; inc rax; inc rax; out: one instruction runs in the shadow */
    { "shadow/sti-then-one-insn",   { 0xFB, 0x48, 0xFF, 0xC0, 0x48, 0xFF, 0xC0, 0xE6, 0xF4 }, 9, true, 4, 1 },
    /* sti; jmp +0; inc rax: the shadow covers the jump, taken at its target */
    { "shadow/sti-then-jmp",        { 0xFB, 0xEB, 0x00, 0x48, 0xFF, 0xC0, 0xE6, 0xF4 }, 8, true, 3, 0 },
    /* sti; hlt: the interrupt is taken after the HLT, which resumes after itself */
    { "shadow/sti-hlt",             { 0xFB, 0xF4, 0x48, 0xFF, 0xC0, 0xE6, 0xF4 }, 7, true, 2, 0 },
    /* sti; cli: the shadow covers CLI, and then IF = 0 */
    { "shadow/sti-cli",             { 0xFB, 0xFA, 0x48, 0xFF, 0xC0, 0xE6, 0xF4 }, 7, false, 0, 1 },
    /* sti; sti: the second STI finds IF = 1 and opens no new shadow */
    { "shadow/sti-sti",             { 0xFB, 0xFB, 0x48, 0xFF, 0xC0, 0xE6, 0xF4 }, 7, true, 2, 0 },
    /* sti; mov rax, cr8 (emulated); inc rax */
    { "shadow/sti-then-mov-cr8",    { 0xFB, 0x44, 0x0F, 0x20, 0xC0, 0x48, 0xFF, 0xC0, 0xE6, 0xF4 }, 10, true, 5, 0 },
    /* sti; mov eax, [rbx+0x30] (xAPIC load); inc rax */
    { "shadow/sti-then-apic-load",  { 0xFB, 0x8B, 0x83, 0x30, 0, 0, 0, 0x48, 0xFF, 0xC0, 0xE6, 0xF4 }, 12, true, 7,
      0x00060014 },
    /* push 0x202; popfq; inc rax: POPF opens no shadow */
    { "shadow/popf-no-shadow",      { 0x68, 0x02, 0x02, 0, 0, 0x9D, 0x48, 0xFF, 0xC0, 0xE6, 0xF4 }, 11, true, 6, 0 },
};

START_TEST(shadow_sti)
{
    const struct shadow_row *row = &shadow_rows[_i];
    struct tm t;
    tm_create(&t, row->code, row->n);
    cpu_t *cpu = t.cpu;
    cpu_set(cpu, CPU_RBX, APIC_PA);
    sw_enable(cpu);
    inject(cpu, 0x60, 0);                                /* pending before the code runs, IF = 0 */
    enum cpu_stop st = run_lp(&t);
    if (row->taken) {
        ck_assert_msg(st == CPU_STOP_HALTED && tm_vector(&t) == 0x60, "%s: stop %s (%s), vector %d", row->name,
                      cpu_stop_name(st), cpu_message(cpu), tm_vector(&t));
        ck_assert_msg(tm_stack(&t, 0) == CODE_PA + row->pushed, "%s: pushed RIP %#llx, expected %#llx", row->name,
                      (unsigned long long)tm_stack(&t, 0), (unsigned long long)(CODE_PA + row->pushed));
        ck_assert_uint_eq(ext_ints(&t, 0, NULL), 1);
    } else {
        ck_assert_msg(st == CPU_STOP_PLATFORM, "%s: stop %s (%s), vector %d", row->name, cpu_stop_name(st),
                      cpu_message(cpu), tm_vector(&t));
        ck_assert_msg(ext_ints(&t, 0, NULL) == 0, "%s: interrupt delivered", row->name);
        ck_assert(vbit(cpu, R_IRR, 0x60));
    }
    ck_assert_msg(cpu_get(cpu, CPU_RAX) == row->rax, "%s: RAX %#llx, expected %#llx", row->name,
                  (unsigned long long)cpu_get(cpu, CPU_RAX), (unsigned long long)row->rax);
    tm_destroy(&t);
}
END_TEST

/* MOV SS: an interrupt that becomes pending during MOV SS (it arrives one
 * cycle after the instruction starts) waits for one more instruction; a
 * MOV DS does not hold it. The code first stops once at an OUT, so that
 * fetching and translating it has already cost its cycles when the
 * interrupt's arrival time is chosen. */
struct movss_row { const char *name; uint8_t sreg_modrm; unsigned pushed; uint64_t rax; };
static const struct movss_row movss_rows[] = {
    { "shadow/mov-ss-then-one-insn", 0xD0, 7, 0x11 },    /* out | mov ss, ax; inc rax | inc rax */
    { "shadow/mov-ds-no-shadow",     0xD8, 4, 0x10 },    /* out | mov ds, ax | inc rax; inc rax */
};

START_TEST(shadow_mov_ss)
{
    const struct movss_row *row = &movss_rows[_i];
    uint8_t code[] = { 0xE6, 0xF4, 0x8E, row->sreg_modrm, 0x48, 0xFF, 0xC0, 0x48, 0xFF, 0xC0, 0xE6, 0xF4 };
    struct tm t;
    tm_create(&t, code, sizeof(code));
    cpu_t *cpu = t.cpu;
    sw_enable(cpu);
    cpu_set(cpu, CPU_RFLAGS, 0x202);
    enum cpu_stop st = cpu_run(cpu, 100);
    ck_assert_msg(st == CPU_STOP_PLATFORM && cpu_get(cpu, CPU_RIP) == CODE_PA + 2, "%s: warm-up stop %s (%s)",
                  row->name, cpu_stop_name(st), cpu_message(cpu));
    cpu_set(cpu, CPU_RAX, BOOT_SEL_DATA);
    inject(cpu, 0x61, cpu_cycles(cpu) + 1);              /* not yet there when MOV SS starts */
    st = run_lp(&t);
    ck_assert_msg(st == CPU_STOP_HALTED && tm_vector(&t) == 0x61, "%s: stop %s (%s), vector %d", row->name,
                  cpu_stop_name(st), cpu_message(cpu), tm_vector(&t));
    ck_assert_msg(tm_stack(&t, 0) == CODE_PA + row->pushed, "%s: pushed RIP %#llx, expected %#llx", row->name,
                  (unsigned long long)tm_stack(&t, 0), (unsigned long long)(CODE_PA + row->pushed));
    ck_assert_msg(cpu_get(cpu, CPU_RAX) == row->rax, "%s: RAX %#llx", row->name,
                  (unsigned long long)cpu_get(cpu, CPU_RAX));
    tm_destroy(&t);
}
END_TEST

/* ====================================================================
 * ipi/ — interprocessor interrupts (SDM 3A 10.6.1 ICR, 10.6.2
 * destinations, 10.6.2.4 lowest priority, 10.12.9/10.12.10 x2APIC)
 * ==================================================================== */

#define MP_MAX 4
struct mp {
    unsigned n;
    struct tm t[MP_MAX];
    unsigned routed;
};

/* The platform side, as SDM 3A 10.6.1 describes the shorthands: self, all
 * including self, all excluding self, else the destination field matched by
 * every local APIC; a lowest-priority message goes to one matching LP, the
 * one with the lowest processor priority (ties: the lowest LP number). */
static void mp_route(void *ctx, cpu_t *from, const struct cpu_ipi *m)
{
    struct mp *mp = ctx;
    mp->routed++;
    unsigned src = cpu_lp_index(from);
    bool hit[MP_MAX] = { false };
    for (unsigned j = 0; j < mp->n; j++) {
        switch (m->shorthand) {
        case 1: hit[j] = j == src; break;
        case 2: hit[j] = true; break;
        case 3: hit[j] = j != src; break;
        default: hit[j] = cpu_apic_ipi_matches(mp->t[j].cpu, m); break;
        }
    }
    if (m->mode == 1) {
        int best = -1;
        for (unsigned j = 0; j < mp->n; j++)
            if (hit[j]) {
                if (best < 0 || cpu_apic_priority(mp->t[j].cpu) < cpu_apic_priority(mp->t[best].cpu))
                    best = (int)j;
                hit[j] = false;
            }
        if (best >= 0)
            hit[best] = true;
    }
    for (unsigned j = 0; j < mp->n; j++)
        if (hit[j])
            cpu_apic_ipi_deliver(mp->t[j].cpu, m);
}

static void mp_release(void *p) { free(p); }

/* n LPs, each with its own RAM and code (codes[j], or hlt_only). */
static struct mp *mp_create(unsigned n, const struct code *codes)
{
    struct mp *mp = calloc(1, sizeof(*mp));
    ck_assert_ptr_nonnull(mp);
    harness_own(mp_release, mp);
    mp->n = n;
    for (unsigned j = 0; j < n; j++) {
        if (codes && codes[j].n)
            tm_create_mp(&mp->t[j], codes[j].b, codes[j].n, NULL, j, n, mp_route, mp);
        else
            tm_create_mp(&mp->t[j], hlt_only, sizeof(hlt_only), NULL, j, n, mp_route, mp);
    }
    return mp;
}

struct route_row {
    const char *name;
    bool x2;                /* every LP in x2APIC mode; ICR = dest << 32 | lo */
    bool cluster;           /* xAPIC: DFR cluster model */
    uint8_t ldr[MP_MAX];    /* xAPIC logical IDs (LDR[31:24]) */
    uint8_t tpr[MP_MAX];
    uint8_t isr[MP_MAX];    /* a vector in service (0: none) */
    int disabled;           /* LP whose APIC is globally disabled (-1: none) */
    uint32_t lo;            /* ICR[31:0] */
    uint32_t dest;
    unsigned want;          /* bit j: LP j receives the vector */
};
#define FLAT { 0x01, 0x02, 0x04, 0x08 }
#define CLUSTER { 0x01, 0x02, 0x11, 0x12 }
/* LP 0 sends vector 0x66 */
static const struct route_row route_rows[] = {
    { "ipi/physical-one",               false, false, FLAT, { 0 }, { 0 }, -1, 0x00066, 2, 0x4 },
    { "ipi/physical-own-id",            false, false, FLAT, { 0 }, { 0 }, -1, 0x00066, 0, 0x1 },
    { "ipi/physical-broadcast",         false, false, FLAT, { 0 }, { 0 }, -1, 0x00066, 0xFF, 0xF },
    { "ipi/physical-nobody",            false, false, FLAT, { 0 }, { 0 }, -1, 0x00066, 9, 0x0 },
    { "ipi/physical-broadcast-skips-disabled", false, false, FLAT, { 0 }, { 0 }, 2, 0x00066, 0xFF, 0xB },
    { "ipi/shorthand-self",             false, false, FLAT, { 0 }, { 0 }, -1, 0x40066, 2, 0x1 },
    { "ipi/shorthand-all-including-self", false, false, FLAT, { 0 }, { 0 }, -1, 0x80066, 2, 0xF },
    { "ipi/shorthand-all-excluding-self", false, false, FLAT, { 0 }, { 0 }, -1, 0xC0066, 2, 0xE },
    { "ipi/logical-flat",               false, false, FLAT, { 0 }, { 0 }, -1, 0x00866, 0x06, 0x6 },
    { "ipi/logical-flat-none",          false, false, FLAT, { 0 }, { 0 }, -1, 0x00866, 0x00, 0x0 },
    { "ipi/logical-flat-broadcast",     false, false, FLAT, { 0 }, { 0 }, -1, 0x00866, 0xFF, 0xF },
    { "ipi/logical-flat-shared-bit",    false, false, { 0x01, 0x03, 0x02, 0x80 }, { 0 }, { 0 }, -1, 0x00866, 0x02,
      0x6 },
    { "ipi/logical-cluster-two",        false, true,  CLUSTER, { 0 }, { 0 }, -1, 0x00866, 0x13, 0xC },
    { "ipi/logical-cluster-one",        false, true,  CLUSTER, { 0 }, { 0 }, -1, 0x00866, 0x02, 0x2 },
    { "ipi/logical-cluster-other-cluster", false, true, CLUSTER, { 0 }, { 0 }, -1, 0x00866, 0x23, 0x0 },
    { "ipi/logical-cluster-broadcast",  false, true,  CLUSTER, { 0 }, { 0 }, -1, 0x00866, 0xFF, 0xF },
    { "ipi/lowest-priority-by-tpr",     false, false, FLAT, { 0, 0x30, 0x10, 0x20 }, { 0 }, -1, 0x00966, 0x0E, 0x4 },
    { "ipi/lowest-priority-by-isr",     false, false, FLAT, { 0, 0, 0x20, 0x10 }, { 0, 0x80, 0, 0 }, -1, 0x00966, 0x0E,
      0x8 },
    { "ipi/lowest-priority-physical",   false, false, FLAT, { 0 }, { 0 }, -1, 0x00166, 3, 0x8 },
    { "ipi/x2-physical-one",            true,  false, FLAT, { 0 }, { 0 }, -1, 0x00066, 3, 0x8 },
    { "ipi/x2-physical-broadcast",      true,  false, FLAT, { 0 }, { 0 }, -1, 0x00066, 0xFFFFFFFF, 0xF },
    { "ipi/x2-physical-8-bit-alias",    true,  false, FLAT, { 0 }, { 0 }, -1, 0x00066, 0x102, 0x0 },
    { "ipi/x2-physical-ff-is-not-broadcast", true, false, FLAT, { 0 }, { 0 }, -1, 0x00066, 0xFF, 0x0 },
    { "ipi/x2-logical",                 true,  false, FLAT, { 0 }, { 0 }, -1, 0x00866, 0x0000000A, 0xA },
    { "ipi/x2-logical-other-cluster",   true,  false, FLAT, { 0 }, { 0 }, -1, 0x00866, 0x00010003, 0x0 },
    { "ipi/x2-logical-broadcast",       true,  false, FLAT, { 0 }, { 0 }, -1, 0x00866, 0xFFFFFFFF, 0xF },
    { "ipi/x2-shorthand-all-excluding-self", true, false, FLAT, { 0 }, { 0 }, -1, 0xC0066, 0, 0xE },
};

START_TEST(ipi_routing)
{
    const struct route_row *row = &route_rows[_i];
    struct mp *mp = mp_create(4, NULL);
    for (unsigned j = 0; j < 4; j++) {
        cpu_t *c = mp->t[j].cpu;
        if (row->x2)
            to_x2apic(c);
        sw_enable(c);
        if (!row->x2) {
            set_reg(c, R_LDR, (uint32_t)row->ldr[j] << 24);
            if (row->cluster)
                set_reg(c, R_DFR, 0x0FFFFFFF);
        }
        set_reg(c, R_TPR, row->tpr[j]);
        if (row->isr[j]) {
            inject(c, row->isr[j], 0);
            apic_ack(c, row->isr[j]);
        }
        if ((int)j == row->disabled)
            ck_assert(msr_wrmsr(c, IA32_APIC_BASE, BASE_OFF));
    }
    cpu_t *s = mp->t[0].cpu;
    if (row->x2) {
        ck_assert(msr_wrmsr(s, X2(R_ICR_LO), (uint64_t)row->dest << 32 | row->lo));
    } else {
        set_reg(s, R_ICR_HI, row->dest << 24);
        set_reg(s, R_ICR_LO, row->lo);
    }
    for (unsigned j = 0; j < 4; j++) {
        cpu_t *c = mp->t[j].cpu;
        if ((int)j == row->disabled)
            continue;
        apic_poll(c);
        bool got = vbit(c, R_IRR, 0x66);
        ck_assert_msg(got == ((row->want >> j) & 1), "%s: LP %u %s the IPI", row->name, j,
                      got ? "received" : "did not receive");
    }
}
END_TEST

/* Level-triggered fixed IPIs do not exist: the ICR trigger-mode flag is
 * used only for INIT level de-assert and is always issued as 0 (edge) by
 * Pentium 4 and later (SDM 3A 10.6.1, "Trigger Mode"), so the TMR bit of the
 * vector stays clear. MODEL BUG: the model sets the TMR bit. */
START_TEST(ipi_trigger_mode_ignored_for_fixed)
{
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    sw_enable(c);
    set_reg(c, R_ICR_LO, 0x4C067);                       /* self, level, assert, fixed, vector 0x67 */
    apic_poll(c);
    ck_assert(vbit(c, R_IRR, 0x67));
    ck_assert_msg(!vbit(c, R_TMR, 0x67), "a fixed IPI with ICR[15] = 1 set the TMR bit");
    tm_destroy(&t);
}
END_TEST

/* A platform without IPI routing still holds the sender: ICRs that name the
 * sender reach it (SDM 3A 10.6.1: "All Including Self"), others reach
 * nobody. MODEL BUG (row marked): "all including self" is dropped when the
 * platform has no ipi callback. */
struct selfonly_row { const char *name; uint32_t lo; uint32_t dest; bool arrives; };
static const struct selfonly_row selfonly_rows[] = {
    { "ipi/no-router-shorthand-self",          0x40068, 5, true },
    { "ipi/no-router-physical-own-id",         0x00068, 0, true },
    { "ipi/no-router-physical-broadcast",      0x00068, 0xFF, true },
    { "ipi/no-router-physical-other",          0x00068, 1, false },
    { "ipi/no-router-logical-own",             0x00868, 0x01, true },
    { "ipi/no-router-logical-other",           0x00868, 0x02, false },
    { "ipi/no-router-all-excluding-self",      0xC0068, 0, false },
    { "ipi/no-router-all-including-self",      0x80068, 0, true },        /* MODEL BUG */
};

START_TEST(ipi_without_router)
{
    const struct selfonly_row *row = &selfonly_rows[_i];
    struct tm t;
    tm_create(&t, hlt_only, sizeof(hlt_only));
    cpu_t *c = t.cpu;
    sw_enable(c);
    set_reg(c, R_LDR, 0x01000000);
    set_reg(c, R_ICR_HI, row->dest << 24);
    set_reg(c, R_ICR_LO, row->lo);
    apic_poll(c);
    ck_assert_msg(vbit(c, R_IRR, 0x68) == row->arrives, "%s: IPI %s", row->name,
                  row->arrives ? "did not arrive" : "arrived");
    tm_destroy(&t);
}
END_TEST

/* The combinations SDM 3A 10.6.1 calls invalid (NMI or SMI with the "self"
 * or "all including self" shorthand) are not modelled (apic.c header): an
 * ICR write with one of them (or a reserved mode, 011b and
 * 111b) stops the run as unmodelled, naming the mode, and the instruction
 * does not complete. */
struct dm_row { const char *name; bool x2; uint32_t lo; const char *mode; };
static const struct dm_row dm_rows[] = {
    { "ipi/unmodelled-smi-self",     false, 0x44200, "SMI" },
    { "ipi/unmodelled-smi-all-incl", false, 0x84200, "SMI" },
    { "ipi/unmodelled-nmi-self",     false, 0x44400, "NMI" },
    { "ipi/unmodelled-nmi-all-incl", false, 0x84400, "NMI" },
    { "ipi/unmodelled-reserved-3",   false, 0x00340, "reserved" },
    { "ipi/unmodelled-reserved-7",   false, 0x00740, "reserved" },
    { "ipi/unmodelled-x2-nmi-self",  true,  0x44400, "NMI" },
};

START_TEST(ipi_unmodelled_delivery_modes)
{
    const struct dm_row *row = &dm_rows[_i];
    struct code c = { .n = 0 };
    size_t at;
    if (row->x2) {
        c_wrmsr(&c, IA32_APIC_BASE, BASE_X2);
        c_mov_imm32(&c, 1, X2(R_ICR_LO));
        c_mov_imm32(&c, 0, row->lo);
        c_mov_imm32(&c, 2, 1);
        at = c.n;
        C(&c, 0x0F, 0x30);
    } else {
        c_mov_imm64(&c, 3, APIC_PA);
        c_store_imm(&c, R_ICR_HI, 1u << 24);
        at = c.n;
        c_store_imm(&c, R_ICR_LO, row->lo);
    }
    c_stop(&c);
    struct tm t;
    tm_create(&t, c.b, c.n);
    enum cpu_stop st = cpu_run(t.cpu, 1000);
    ck_assert_msg(st == CPU_STOP_UNMODELLED, "%s: stop %s (%s), vector %d", row->name, cpu_stop_name(st),
                  cpu_message(t.cpu), tm_vector(&t));
    ck_assert_msg_contains(row->name, cpu_message(t.cpu), row->mode);
    ck_assert_msg(cpu_get(t.cpu, CPU_RIP) == CODE_PA + at, "%s: RIP %#llx, expected the ICR write at %#llx",
                  row->name, (unsigned long long)cpu_get(t.cpu, CPU_RIP), (unsigned long long)(CODE_PA + at));
    tm_destroy(&t);
}
END_TEST

/* NMI IPIs (SDM 3A 10.6.1, 6.7.1): an ICR write with delivery mode NMI to
 * the LP's own APIC ID (no shorthand) makes an NMI pending, delivered
 * through IDT vector 2 at the next boundary whatever RFLAGS.IF says (the
 * vector field is ignored), and blocks further NMIs: a second one stays
 * pending until an IRET, which then lets it through. */
START_TEST(ipi_nmi_self)
{
    struct code c = { .n = 0 };
    c_mov_imm64(&c, 3, APIC_PA);
    c_store_imm(&c, R_ICR_HI, 0);
    c_store_imm(&c, R_ICR_LO, 0x4455);           /* NMI, assert, vector 0x55 (ignored) */
    c_stop(&c);
    struct tm t;
    tm_create(&t, c.b, c.n);
    cpu_set(t.cpu, CPU_RFLAGS, 2);               /* IF = 0 */
    enum cpu_stop st = cpu_run(t.cpu, 1000);
    ck_assert_msg(st == CPU_STOP_HALTED && tm_vector(&t) == 2, "stop %s, vector %d (%s)", cpu_stop_name(st),
                  tm_vector(&t), cpu_message(t.cpu));
    ck_assert(cpu_nmi_blocked(t.cpu));
    ck_assert(!cpu_nmi_pending(t.cpu));
    tm_destroy(&t);
}
END_TEST

START_TEST(ipi_nmi_blocked_until_iret)
{
    struct code c = { .n = 0 };
    C(&c, 0x90, 0x90);                                        /* nop; nop: the NMI stays blocked */
    C(&c, 0x48, 0x89, 0xE0);                                  /* mov rax, rsp */
    C(&c, 0x6A, BOOT_SEL_DATA);                               /* push SS */
    C(&c, 0x50);                                              /* push rax */
    C(&c, 0x9C);                                              /* pushfq */
    C(&c, 0x6A, BOOT_SEL_CODE64);                             /* push CS */
    C(&c, 0x48, 0x8D, 0x0D, 0x03, 0x00, 0x00, 0x00);          /* lea rcx, [rip + 3] */
    C(&c, 0x51);                                              /* push rcx */
    C(&c, 0x48, 0xCF);                                        /* iretq */
    size_t after = c.n;
    c_stop(&c);
    struct tm t;
    tm_create(&t, c.b, c.n);
    cpu_set_nmi_blocked(t.cpu, true);
    cpu_raise_nmi(t.cpu);
    enum cpu_stop st = cpu_run(t.cpu, 1000);
    ck_assert_msg(st == CPU_STOP_HALTED && tm_vector(&t) == 2, "stop %s, vector %d (%s)", cpu_stop_name(st),
                  tm_vector(&t), cpu_message(t.cpu));
    ck_assert_msg(tm_stack(&t, 0) == CODE_PA + after, "NMI return address %#llx, expected the IRET's target %#llx",
                  (unsigned long long)tm_stack(&t, 0), (unsigned long long)(CODE_PA + after));
    tm_destroy(&t);
}
END_TEST

/* INIT-SIPI (SDM 3A 9.4.4, 10.6.1, table 9-1): INIT puts an AP in the
 * INIT state (real mode at F000:FFF0, CR0 = 0x60000010, EDX = signature)
 * and in wait-for-SIPI, where fixed interrupts do not wake it; a start-up
 * IPI with vector 8 starts it in real mode at 0800:0000; a second SIPI to a
 * running LP is ignored; INIT level de-assert does nothing; INIT of the
 * BSP is reported as unmodelled (no firmware at the reset vector). */
START_TEST(ipi_init_sipi)
{
    struct code codes[MP_MAX] = { { .n = 0 } };
    struct mp *mp = mp_create(2, codes);
    cpu_t *bsp = mp->t[0].cpu, *ap = mp->t[1].cpu;
    static const uint8_t rm[] = { 0x8c, 0xc8, 0xbb, 0x34, 0x12, 0xe6, 0xf4 };   /* mov ax, cs; mov bx, 0x1234; out 0xf4 */
    tm_poke(&mp->t[1], 0x8000, rm, sizeof(rm));
    sw_enable(bsp);
    set_reg(bsp, R_ICR_HI, 1u << 24);
    set_reg(bsp, R_ICR_LO, 0x08500);                     /* INIT level de-assert: nothing */
    cpu_run(ap, 10);
    ck_assert(!cpu_waiting_for_sipi(ap));
    set_reg(bsp, R_ICR_LO, 0x04500);                     /* INIT */
    cpu_advance_cycles(ap, cpu_cycles(bsp));
    ck_assert_int_eq(cpu_run(ap, 10), CPU_STOP_HALTED);
    ck_assert(cpu_waiting_for_sipi(ap));
    ck_assert_uint_eq(cpu_get(ap, CPU_RIP), 0xFFF0);
    struct cpu_seg cs;
    cpu_get_seg(ap, CPU_CS, &cs);
    ck_assert_uint_eq(cs.sel, 0xF000);
    ck_assert_uint_eq(cs.base, 0xFFFF0000u);
    ck_assert_uint_eq(cpu_get(ap, CPU_CR0), 0x60000010);
    uint32_t sig[4];
    cpuid_query(ap, 1, 0, sig);
    ck_assert_uint_eq(cpu_get(ap, CPU_RDX), sig[0]);
    ck_assert_uint_eq(cpu_next_wake(ap), ~0ull);
    set_reg(bsp, R_ICR_LO, 0x04069);                     /* a fixed IPI: no wake-up from wait-for-SIPI */
    ck_assert_uint_eq(cpu_next_wake(ap), ~0ull);
    cpu_advance_cycles(bsp, cpu_cycles(bsp) + 1000);
    set_reg(bsp, R_ICR_LO, 0x04608);                     /* start-up, vector 8 */
    uint64_t w = cpu_next_wake(ap);
    ck_assert_uint_eq(w, cpu_cycles(bsp));
    cpu_advance_cycles(ap, w);
    enum cpu_stop st = cpu_run(ap, 100);
    ck_assert_msg(st == CPU_STOP_PLATFORM, "AP: stop %s (%s)", cpu_stop_name(st), cpu_message(ap));
    ck_assert_uint_eq(cpu_get(ap, CPU_RAX) & 0xFFFF, 0x0800);
    ck_assert_uint_eq(cpu_get(ap, CPU_RBX) & 0xFFFF, 0x1234);
    ck_assert_uint_eq(cpu_get(ap, CPU_RIP), sizeof(rm));
    set_reg(bsp, R_ICR_LO, 0x04609);                     /* a second SIPI: ignored */
    ck_assert(!cpu_waiting_for_sipi(ap));
    /* INIT to the BSP (self): not modelled */
    set_reg(bsp, R_ICR_LO, 0x44500);
    st = cpu_run(bsp, 100);
    ck_assert_msg(st == CPU_STOP_UNMODELLED && strstr(cpu_message(bsp), "bootstrap processor"), "BSP: stop %s (%s)",
                  cpu_stop_name(st), cpu_message(bsp));
}
END_TEST

/* Arrival on virtual time: an IPI sent at the sender's cycle T is accepted
 * by an LP once that LP's own clock reaches T, never earlier (hvsim's
 * multiprocessor time model, docs/cpu-mmu.md; apic.c header). */
START_TEST(ipi_arrival_time)
{
    struct code codes[MP_MAX] = { { .n = 0 } };
    C(&codes[1], 0xFB, 0xF4);                            /* LP 1: sti; hlt */
    c_stop(&codes[1]);
    C(&codes[2], 0xFB, 0x48, 0xFF, 0xC1, 0xEB, 0xFB);    /* LP 2: sti; l: inc rcx; jmp l */
    struct mp *mp = mp_create(4, codes);
    for (unsigned j = 0; j < 4; j++)
        sw_enable(mp->t[j].cpu);
    cpu_t *lp1 = mp->t[1].cpu, *lp2 = mp->t[2].cpu, *lp3 = mp->t[3].cpu;
    ck_assert_int_eq(cpu_run(lp1, 100), CPU_STOP_HALTED);
    ck_assert_uint_eq(cpu_next_wake(lp1), ~0ull);
    const uint64_t T = 200000;
    ck_assert(cpu_cycles(lp1) < T && cpu_cycles(lp2) < T);
    cpu_advance_cycles(lp3, 2 * T);                      /* LP 3 runs ahead of the sender */
    cpu_advance_cycles(mp->t[0].cpu, T);
    set_reg(mp->t[0].cpu, R_ICR_LO, 0xC0069);           /* all excluding self, vector 0x69, at T */
    ck_assert_uint_eq(mp->routed, 1);
    /* LP 3 is past T: the IPI is there */
    ck_assert_msg(vbit(lp3, R_IRR, 0x69), "LP 3 (clock 2T) did not accept the IPI sent at T");
    /* LP 1, halted before T: not yet, but its wake-up time is T */
    ck_assert_msg(!vbit(lp1, R_IRR, 0x69), "LP 1 (clock < T) accepted an IPI from its future");
    ck_assert_uint_eq(cpu_next_wake(lp1), T);
    at(lp1, T - 1);
    ck_assert_msg(!vbit(lp1, R_IRR, 0x69), "LP 1 accepted the IPI at T - 1");
    cpu_advance_cycles(lp1, T);
    enum cpu_stop st = cpu_run(lp1, 100);
    ck_assert_msg(st == CPU_STOP_HALTED && tm_vector(&mp->t[1]) == 0x69, "LP 1: stop %s (%s), vector %d",
                  cpu_stop_name(st), cpu_message(lp1), tm_vector(&mp->t[1]));
    const struct cpu_event *e = NULL;
    ck_assert_uint_eq(ext_ints(&mp->t[1], 0, &e), 1);
    ck_assert_msg(e->cycle == T, "LP 1 took the IPI at cycle %llu, expected %llu", (unsigned long long)e->cycle,
                  (unsigned long long)T);
    ck_assert_uint_eq(tm_stack(&mp->t[1], 0), CODE_PA + 2);   /* after the HLT */
    /* LP 2, running from cycle 0: takes it when its clock reaches T */
    st = cpu_run(lp2, 10000000);
    ck_assert_msg(st == CPU_STOP_HALTED && tm_vector(&mp->t[2]) == 0x69, "LP 2: stop %s (%s), vector %d",
                  cpu_stop_name(st), cpu_message(lp2), tm_vector(&mp->t[2]));
    ck_assert_uint_eq(ext_ints(&mp->t[2], 0, &e), 1);
    ck_assert_msg(e->cycle >= T && e->cycle < T + 16, "LP 2 took the IPI at cycle %llu, sent at %llu",
                  (unsigned long long)e->cycle, (unsigned long long)T);
}
END_TEST

/* HLT resumes only for an interrupt that can be delivered: an IPI whose
 * class is at or below the halted LP's PPR arrives in the IRR but does not
 * wake it; one above does, at its arrival time (SDM 3A 10.8.3.1, 2A HLT). */
START_TEST(ipi_wake_respects_priority)
{
    struct code codes[MP_MAX] = { { .n = 0 } };
    C(&codes[1], 0xFB, 0xF4);                            /* LP 1: sti; hlt */
    c_stop(&codes[1]);
    struct mp *mp = mp_create(2, codes);
    cpu_t *lp0 = mp->t[0].cpu, *lp1 = mp->t[1].cpu;
    sw_enable(lp0);
    sw_enable(lp1);
    set_reg(lp1, R_TPR, 0x70);
    ck_assert_int_eq(cpu_run(lp1, 100), CPU_STOP_HALTED);
    const uint64_t T = 100000;
    cpu_advance_cycles(lp0, T);
    set_reg(lp0, R_ICR_HI, 1u << 24);
    set_reg(lp0, R_ICR_LO, 0x7A);                        /* class 7 = TPR class: blocked */
    ck_assert_msg(cpu_next_wake(lp1) == ~0ull, "LP 1 would wake at %llu for a vector its TPR blocks",
                  (unsigned long long)cpu_next_wake(lp1));
    cpu_advance_cycles(lp0, 2 * T);
    set_reg(lp0, R_ICR_LO, 0x81);                        /* class 8: deliverable */
    ck_assert_uint_eq(cpu_next_wake(lp1), 2 * T);
    cpu_advance_cycles(lp1, 2 * T);
    enum cpu_stop st = cpu_run(lp1, 100);
    ck_assert_msg(st == CPU_STOP_HALTED && tm_vector(&mp->t[1]) == 0x81, "LP 1: stop %s (%s), vector %d",
                  cpu_stop_name(st), cpu_message(lp1), tm_vector(&mp->t[1]));
    ck_assert_msg(vbit(lp1, R_IRR, 0x7A), "the blocked vector did not arrive in the IRR");
}
END_TEST

/* Guest to guest: LP 0's code writes the ICR (xAPIC MMIO, or the x2APIC
 * ICR MSR); LP 1, halted with IF = 1, wakes into its handler at the send
 * time, with the RIP after its HLT pushed. */
START_TEST(ipi_guest_to_guest)
{
    bool x2 = _i == 1;
    struct code codes[MP_MAX] = { { .n = 0 } };
    struct code *s = &codes[0], *r = &codes[1];
    if (x2) {
        c_wrmsr(s, IA32_APIC_BASE, BASE_X2);
        c_wrmsr(s, X2(R_ICR_LO), (1ull << 32) | 0x6A);
        c_wrmsr(r, IA32_APIC_BASE, BASE_X2);
        c_wrmsr(r, X2(R_SVR), 0x1FF);
    } else {
        c_mov_imm64(s, 3, APIC_PA);
        c_store_imm(s, R_ICR_HI, 1u << 24);
        c_store_imm(s, R_ICR_LO, 0x6A);
        c_mov_imm64(r, 3, APIC_PA);
        c_store_imm(r, R_SVR, 0x1FF);
    }
    c_stop(s);
    C(r, 0xFB, 0xF4);
    size_t after_hlt = r->n;
    c_stop(r);
    struct mp *mp = mp_create(2, codes);
    cpu_t *lp0 = mp->t[0].cpu, *lp1 = mp->t[1].cpu;
    ck_assert_int_eq(cpu_run(lp1, 1000), CPU_STOP_HALTED);
    uint64_t halted_at = cpu_cycles(lp1);
    enum cpu_stop st = cpu_run(lp0, 1000);
    ck_assert_msg(st == CPU_STOP_PLATFORM, "LP 0: stop %s (%s), vector %d", cpu_stop_name(st), cpu_message(lp0),
                  tm_vector(&mp->t[0]));
    ck_assert_uint_eq(mp->routed, 1);
    /* the IPI left LP 0 before its run ended; LP 1 wakes at the send time
     * or, if its clock is already past it, at once */
    uint64_t w = cpu_next_wake(lp1);
    uint64_t latest = cpu_cycles(lp0) > halted_at ? cpu_cycles(lp0) : halted_at;
    ck_assert_msg(w != ~0ull && w >= halted_at && w <= latest, "LP 1 (halted at %llu) wakes at %llu; LP 0 ended at "
                  "%llu", (unsigned long long)halted_at, (unsigned long long)w, (unsigned long long)cpu_cycles(lp0));
    st = run_lp(&mp->t[1]);
    ck_assert_msg(st == CPU_STOP_HALTED && tm_vector(&mp->t[1]) == 0x6A, "LP 1: stop %s (%s), vector %d",
                  cpu_stop_name(st), cpu_message(lp1), tm_vector(&mp->t[1]));
    ck_assert_uint_eq(tm_stack(&mp->t[1], 0), CODE_PA + after_hlt);
    ck_assert_msg(ext_ints(&mp->t[0], 0, NULL) == 0, "the sender took its own IPI");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("apic");
    TCase *t = harness_tcase("reset");
    ADD_ROWS(t, reset_registers, reset_rows);
    tcase_add_test(t, reset_seen_by_guest);
    ADD_ROWS(t, reset_apic_base, base_reset_rows);
    ADD_ROWS(t, reset_cpuid, cpuid_rows);
    tcase_add_test(t, reset_cpuid_apic_bit_follows_enable);
    tcase_add_test(t, reset_x2apic_id_matches_cpuid);
    tcase_add_test(t, reset_cpuid_topology_consistent);
    suite_add_tcase(s, t);

    t = harness_tcase("base");
    ADD_ROWS(t, base_transitions, base_rows);
    tcase_add_test(t, base_disable_resets_registers);
    tcase_add_test(t, base_disabled_apic_is_absent);
    ADD_ROWS(t, base_relocation, reloc_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("prio");
    ADD_ROWS(t, prio_table, prio_rows);
    tcase_add_test(t, prio_nesting_and_eoi);
    tcase_add_test(t, prio_illegal_vector_received);
    ADD_ROWS(t, prio_illegal_vector_sent, illegal_send_rows);
    tcase_add_test(t, prio_illegal_vector_from_lvt_timer);
    tcase_add_test(t, prio_error_interrupt);
    tcase_add_test(t, prio_error_interrupt_masked);
    tcase_add_test(t, prio_cr8_is_tpr);
    ADD_ROWS(t, prio_unblock_delivery, unblock_rows);
    tcase_add_test(t, prio_software_disable);
    suite_add_tcase(s, t);

    t = harness_tcase("mmio");
    ADD_ROWS(t, mmio_registers, mmio_rows);
    tcase_add_test(t, mmio_load_zero_extends);
    tcase_add_test(t, mmio_no_self_ipi_register);
    ADD_ROWS(t, mmio_unmodelled, unm_rows);
    ADD_ROWS(t, mmio_page_permissions, perm_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("x2");
    ADD_ROWS(t, x2_msrs, x2_rows);
    ADD_ROWS(t, x2_msrs_outside_x2apic_mode, x2_off_rows);
    ADD_ROWS(t, x2_ldr_derivation, ldr_lps);
    tcase_add_test(t, x2_self_ipi);
    tcase_add_test(t, x2_icr_64_bit);
    tcase_add_test(t, x2_eoi);
    tcase_add_test(t, x2_guest_access);
    suite_add_tcase(s, t);

    t = harness_tcase("timer");
    tcase_add_test(t, timer_one_shot);
    tcase_add_test(t, timer_periodic);
    ADD_ROWS(t, timer_divide, div_rows);
    tcase_add_test(t, timer_restart_and_stop);
    tcase_add_test(t, timer_masked_counts);
    tcase_add_test(t, timer_tsc_deadline_fires);
    tcase_add_test(t, timer_tsc_deadline_disarm);
    tcase_add_test(t, timer_tsc_deadline_ignores_initial_count);
    tcase_add_test(t, timer_tsc_deadline_absent_on_amd);
    tcase_add_test(t, timer_waits_for_if);
    tcase_add_test(t, timer_periodic_guest);
    ADD_ROWS(t, timer_hlt_wake, wake_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("shadow");
    ADD_ROWS(t, shadow_sti, shadow_rows);
    ADD_ROWS(t, shadow_mov_ss, movss_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("ipi");
    ADD_ROWS(t, ipi_routing, route_rows);
    tcase_add_test(t, ipi_trigger_mode_ignored_for_fixed);
    ADD_ROWS(t, ipi_without_router, selfonly_rows);
    ADD_ROWS(t, ipi_unmodelled_delivery_modes, dm_rows);
    tcase_add_test(t, ipi_nmi_self);
    tcase_add_test(t, ipi_nmi_blocked_until_iret);
    tcase_add_test(t, ipi_init_sipi);
    tcase_add_test(t, ipi_arrival_time);
    tcase_add_test(t, ipi_wake_respects_priority);
    tcase_add_loop_test(t, ipi_guest_to_guest, 0, 2);
    suite_add_tcase(s, t);
    return harness_run(s);
}
