/*
 * apic.c — the local APIC of one logical processor (SDM 3A chapter 10,
 * "Advanced Programmable Interrupt Controller (APIC)"; chapter 11 in
 * editions from 2025): xAPIC registers behind the APIC page (the view
 * routes data accesses there to apic_mmio_read/write), x2APIC registers as
 * MSRs 0x800-0x8FF, IA32_APIC_BASE mode transitions, the priority logic
 * (IRR/ISR/TPR/PPR), EOI, the LVT timer in one-shot, periodic and
 * TSC-deadline modes on virtual time, and interprocessor interrupts.
 *
 * Interrupts from other LPs arrive with the sender's virtual time and are
 * accepted into the IRR once this LP's clock has reached it, so that an LP
 * that runs behind another never sees an interrupt "from the future".
 * The platform routes IPIs between LPs (struct cpu_platform.ipi).
 *
 * NMI IPIs make an NMI pending on the target (cpu->nmi_pending; cpu.c
 * delivers it). SMI IPIs make an SMI pending on the target, offered at
 * each boundary to the virtualization model (AMD-V: the SMI intercept, GIF);
 * an SMI that would enter SMM stops the run (SMM is not modelled). Not
 * modelled (fail loudly, naming the request): NMI or SMI with the "self" or
 * "all including self" shorthand (invalid combinations). The LINT0/LINT1 pins, thermal, performance and
 * CMCI sources never fire; EOI-broadcast suppression is not offered
 * (docs/apic.md).
 */
#include <string.h>

#include "cpu_priv.h"

/* xAPIC register offsets (SDM 3A table 10-1). */
enum {
    A_ID = 0x20, A_VER = 0x30, A_TPR = 0x80, A_APR = 0x90, A_PPR = 0xA0, A_EOI = 0xB0, A_RRD = 0xC0,
    A_LDR = 0xD0, A_DFR = 0xE0, A_SVR = 0xF0, A_ISR = 0x100, A_TMR = 0x180, A_IRR = 0x200,
    A_ESR = 0x280, A_CMCI = 0x2F0, A_ICR_LO = 0x300, A_ICR_HI = 0x310, A_LVT_TIMER = 0x320,
    A_LVT_THERMAL = 0x330, A_LVT_PERF = 0x340, A_LVT_LINT0 = 0x350, A_LVT_LINT1 = 0x360,
    A_LVT_ERROR = 0x370, A_TIMER_INIT = 0x380, A_TIMER_CUR = 0x390, A_TIMER_DCR = 0x3E0,
    A_SELF_IPI = 0x3F0,   /* x2APIC only */
};

#define LVT_MASKED       (1u << 16)
#define LVT_PENDING      (1u << 12)   /* delivery status */
#define TIMER_MODE(l)    (((l) >> 17) & 3)
#define TIMER_ONESHOT    0
#define TIMER_PERIODIC   1
#define TIMER_TSC_DL     2
#define SVR_ENABLE       (1u << 8)

#define BASE_BSP   (1ull << 8)
#define BASE_EXTD  (1ull << 10)
#define BASE_EN    (1ull << 11)

/* ESR bits (SDM 3A figure 10-9). */
#define ESR_SEND_ILLEGAL   (1u << 5)
#define ESR_RECV_ILLEGAL   (1u << 6)
#define ESR_ILLEGAL_REG    (1u << 7)

static inline struct apic *A(cpu_t *cpu) { return &cpu->apic; }

static unsigned lvt_index(unsigned off)
{
    switch (off) {
    case A_CMCI: return APIC_LVT_CMCI;
    case A_LVT_TIMER: return APIC_LVT_TIMER;
    case A_LVT_THERMAL: return APIC_LVT_THERMAL;
    case A_LVT_PERF: return APIC_LVT_PERF;
    case A_LVT_LINT0: return APIC_LVT_LINT0;
    case A_LVT_LINT1: return APIC_LVT_LINT1;
    case A_LVT_ERROR: return APIC_LVT_ERROR;
    }
    return ~0u;
}

/* Writable bits of each LVT entry (SDM 3A figure 10-8). */
static const uint32_t lvt_mask[APIC_NLVT] = {
    [APIC_LVT_TIMER] = 0x700FF,      /* vector, mask, timer mode */
    [APIC_LVT_THERMAL] = 0x107FF,    /* vector, delivery mode, mask */
    [APIC_LVT_PERF] = 0x107FF,
    [APIC_LVT_LINT0] = 0x1A7FF,      /* vector, delivery mode, polarity, trigger, mask */
    [APIC_LVT_LINT1] = 0x1A7FF,
    [APIC_LVT_ERROR] = 0x100FF,      /* vector, mask */
    [APIC_LVT_CMCI] = 0x107FF,
};

bool apic_x2(const cpu_t *cpu) { return (cpu->msr.val[MSR_APIC_BASE] & (BASE_EN | BASE_EXTD)) == (BASE_EN | BASE_EXTD); }
static bool hw_enabled(const cpu_t *cpu) { return cpu->msr.val[MSR_APIC_BASE] & BASE_EN; }
static bool sw_enabled(const cpu_t *cpu) { return cpu->apic.svr & SVR_ENABLE; }

/* ---- bit vectors of 256 interrupts ---- */

static void bit_set(uint32_t *v, unsigned n) { v[n >> 5] |= 1u << (n & 31); }
static void bit_clear(uint32_t *v, unsigned n) { v[n >> 5] &= ~(1u << (n & 31)); }
static bool bit_test(const uint32_t *v, unsigned n) { return v[n >> 5] >> (n & 31) & 1; }

static int highest(const uint32_t *v)
{
    for (int w = 7; w >= 0; w--)
        if (v[w])
            return w * 32 + 31 - __builtin_clz(v[w]);
    return -1;
}

/* ---- priorities (SDM 3A 10.8.3.1) ---- */

static uint32_t ppr(const cpu_t *cpu)
{
    const struct apic *a = &cpu->apic;
    int isrv = highest(a->isr);
    uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xF0;
    return (a->tpr & 0xF0) >= isr_class ? a->tpr & 0xFF : isr_class;
}

int apic_pending_vector(cpu_t *cpu)
{
    if (!hw_enabled(cpu))
        return -1;
    int v = highest(cpu->apic.irr);
    if (v < 0 || ((uint32_t)v & 0xF0) <= (ppr(cpu) & 0xF0))
        return -1;
    return v;
}

void apic_ack(cpu_t *cpu, unsigned v)
{
    bit_clear(cpu->apic.irr, v);
    bit_set(cpu->apic.isr, v);
    apic_update(cpu);
}

/* An error the APIC detected (SDM 3A 10.5.3): recorded for the ESR and
 * signalled through the LVT error entry when it is unmasked. An illegal
 * vector in that entry is itself an error, recorded but not signalled
 * again. */
static void apic_error(cpu_t *cpu, uint32_t bits)
{
    struct apic *a = A(cpu);
    a->esr_pending |= bits;
    uint32_t l = a->lvt[APIC_LVT_ERROR];
    if ((l & LVT_MASKED) || !(a->svr & SVR_ENABLE))
        return;
    if ((l & 0xFF) < 16) {
        a->esr_pending |= ESR_RECV_ILLEGAL;
        return;
    }
    bit_set(a->irr, l & 0xFF);
    bit_clear(a->tmr, l & 0xFF);
}

/* Accept a fixed interrupt into the IRR (SDM 3A 10.8.4). */
static void accept(cpu_t *cpu, unsigned vector, bool level)
{
    struct apic *a = A(cpu);
    if (vector < 16) {
        apic_error(cpu, ESR_RECV_ILLEGAL);
        return;
    }
    bit_set(a->irr, vector);
    if (level)
        bit_set(a->tmr, vector);
    else
        bit_clear(a->tmr, vector);
}

/* ---- the timer (SDM 3A 10.5.4, 10.5.4.1) ---- */

static uint64_t divisor(const struct apic *a)
{
    unsigned v = (a->dcr & 3) | ((a->dcr >> 1) & 4);
    return v == 7 ? 1 : 2ull << v;
}

static uint64_t period_cycles(const cpu_t *cpu)
{
    return cpu->apic.ticks_per_count * divisor(&cpu->apic);
}

static void timer_disarm(cpu_t *cpu)
{
    cpu->apic.timer_deadline = ~0ull;
}

static void timer_start(cpu_t *cpu)
{
    struct apic *a = A(cpu);
    if (!a->timer_initial || TIMER_MODE(a->lvt[APIC_LVT_TIMER]) == TIMER_TSC_DL) {
        timer_disarm(cpu);
        return;
    }
    a->timer_start = cpu->cycles;
    a->timer_deadline = cpu->cycles + (uint64_t)a->timer_initial * period_cycles(cpu);
}

static uint32_t timer_current(const cpu_t *cpu)
{
    const struct apic *a = &cpu->apic;
    if (a->timer_deadline == ~0ull || TIMER_MODE(a->lvt[APIC_LVT_TIMER]) == TIMER_TSC_DL)
        return 0;
    uint64_t p = period_cycles(cpu), elapsed = cpu->cycles - a->timer_start;
    uint64_t ticks = elapsed / p;
    if (TIMER_MODE(a->lvt[APIC_LVT_TIMER]) == TIMER_PERIODIC)
        ticks %= a->timer_initial;
    return ticks >= a->timer_initial ? 0 : a->timer_initial - (uint32_t)ticks;
}

static uint64_t tsc_now(const cpu_t *cpu) { return cpu->cycles + cpu->tsc_offset; }

/* The timer's interrupt, if its LVT entry lets it through (masked entries,
 * or a software-disabled APIC, count but do not interrupt). */
static void timer_fire(cpu_t *cpu)
{
    uint32_t l = cpu->apic.lvt[APIC_LVT_TIMER];
    cpu_emit(cpu, CPU_EV_APIC, cpu_rip(cpu), CPU_APIC_TIMER, l, l & 0xFF, 0);
    if (!(l & LVT_MASKED) && sw_enabled(cpu))
        accept(cpu, l & 0xFF, false);
}

bool cpu_smi_pending(const cpu_t *cpu) { return cpu->apic.smi_pending; }

/* A pending SMI at an instruction boundary (SMIs come before INIT and NMI,
 * SDM 3A table 6-2): the virtualization model may take it (AMD-V: the SMI
 * intercept, APM 2 15.13.3) or hold it (GIF = 0, 15.17); otherwise the LP
 * would enter SMM, which hvsim does not model. */
static void smi_recognize(cpu_t *cpu)
{
    int r = cpu->has_virt && cpu->virt.smi_signal ? cpu->virt.smi_signal(cpu->virt.ctx, cpu) : CPU_SMI_SMM;
    if (r != CPU_SMI_SMM)
        return;                                    /* a VM exit or held: it stays pending */
    cpu_unmodelled(cpu, "an SMI reached LP %u at RIP %#llx: it would enter system-management mode, which hvsim "
                   "does not model", cpu->cfg.lp_index, (unsigned long long)cpu_rip(cpu));
}

void apic_poll(cpu_t *cpu)
{
    struct apic *a = A(cpu);
    uint64_t now = cpu->cycles;
    /* an SMI IPI whose time has come (SDM 3A 10.6.1 delivery mode 010b) */
    if (a->smi_time <= now) {
        a->smi_time = ~0ull;
        a->smi_pending = true;
    }
    if (a->smi_pending) {
        smi_recognize(cpu);
        if (cpu->pend.kind == PEND_UNMODELLED)
            return;
    }
    /* INIT, then a start-up IPI that came after it (SDM 3A 9.4.4, 10.4.7.3) */
    if (a->init_time <= now) {
        uint64_t sipi = a->sipi_time;
        uint8_t vec = a->sipi_vector;
        a->init_time = ~0ull;
        cpu_apic_init_received(cpu);
        if (sipi != ~0ull) {                       /* it was behind the INIT: keep it */
            a->sipi_time = sipi;
            a->sipi_vector = vec;
        }
    }
    if (a->sipi_time <= now) {
        a->sipi_time = ~0ull;
        if (cpu->wait_sipi)
            cpu_apic_sipi_received(cpu, a->sipi_vector);   /* ignored unless waiting for one */
    }
    /* an NMI whose time has come: latched for cpu.c (one pending NMI;
     * SDM 3A 6.7.1) */
    if (a->nmi_time <= now) {
        a->nmi_time = ~0ull;
        cpu->nmi_pending = true;
    }
    /* interrupts from other LPs whose time has come */
    if (a->next_arrival <= now) {
        uint64_t next = ~0ull;
        for (unsigned w = 0; w < 8; w++) {
            uint32_t bits = a->arriving[w];
            while (bits) {
                unsigned b = (unsigned)__builtin_ctz(bits);
                bits &= bits - 1;
                unsigned v = w * 32 + b;
                if (a->arrival_time[v] <= now) {
                    bit_clear(a->arriving, v);
                    accept(cpu, v, bit_test(a->arriving_level, v));
                } else if (a->arrival_time[v] < next) {
                    next = a->arrival_time[v];
                }
            }
        }
        a->next_arrival = next;
    }
    /* the timer */
    unsigned mode = TIMER_MODE(a->lvt[APIC_LVT_TIMER]);
    if (mode == TIMER_TSC_DL) {
        if (a->tsc_deadline && tsc_now(cpu) >= a->tsc_deadline) {
            a->tsc_deadline = 0;                 /* SDM 3A 10.5.4.1: disarmed after it fires */
            timer_fire(cpu);
        }
    } else if (a->timer_deadline <= now) {
        timer_fire(cpu);
        if (mode == TIMER_PERIODIC) {
            /* Reload; periods that passed while nobody looked coalesce into
             * the one IRR bit, as on hardware. */
            uint64_t len = (uint64_t)a->timer_initial * period_cycles(cpu);
            uint64_t missed = (now - a->timer_deadline) / len;
            a->timer_start = a->timer_deadline + missed * len;
            a->timer_deadline = a->timer_start + len;
        } else {
            a->timer_deadline = ~0ull;
        }
    }
    apic_update(cpu);
}

/* The next virtual cycle at which something may change the IRR. */
static uint64_t next_event(const cpu_t *cpu)
{
    const struct apic *a = &cpu->apic;
    uint64_t t = a->next_arrival;
    if (a->init_time < t)
        t = a->init_time;
    if (a->sipi_time < t)
        t = a->sipi_time;
    if (a->nmi_time < t)
        t = a->nmi_time;
    if (a->smi_time < t)
        t = a->smi_time;
    if (TIMER_MODE(a->lvt[APIC_LVT_TIMER]) == TIMER_TSC_DL) {
        if (a->tsc_deadline) {
            uint64_t c = a->tsc_deadline > cpu->tsc_offset ? a->tsc_deadline - cpu->tsc_offset : 0;
            if (c < t)
                t = c;
        }
    } else if (a->timer_deadline < t) {
        t = a->timer_deadline;
    }
    return t;
}

void apic_update(cpu_t *cpu)
{
    uint64_t t = next_event(cpu);
    if (cpu->guest_mode && cpu->guest_deadline < t)
        t = cpu->guest_deadline;               /* the VMX-preemption timer: stop at a block boundary */
    cpu->irq_cycle = t;
}

uint64_t apic_next_wake(cpu_t *cpu)
{
    /* Only events that can make an interrupt deliverable wake a halted LP
     * (RFLAGS.IF = 1 is checked by the caller): the timer's vector or an
     * arriving vector must rise above the processor priority. */
    const struct apic *a = &cpu->apic;
    uint32_t pclass = ppr(cpu) & 0xF0;
    uint64_t t = ~0ull;
    for (unsigned w = 0; w < 8; w++) {
        uint32_t bits = a->arriving[w];
        while (bits) {
            unsigned v = w * 32 + (unsigned)__builtin_ctz(bits);
            bits &= bits - 1;
            if ((v & 0xF0) > pclass && a->arrival_time[v] < t)
                t = a->arrival_time[v];
        }
    }
    uint32_t l = a->lvt[APIC_LVT_TIMER];
    if (!(l & LVT_MASKED) && sw_enabled(cpu) && ((l & 0xF0) > pclass) && !bit_test(a->irr, l & 0xFF)) {
        uint64_t tt = ~0ull;
        if (TIMER_MODE(l) == TIMER_TSC_DL) {
            if (a->tsc_deadline)
                tt = a->tsc_deadline > cpu->tsc_offset ? a->tsc_deadline - cpu->tsc_offset : 0;
        } else {
            tt = a->timer_deadline;
        }
        if (tt < t)
            t = tt;
    }
    return t;
}

/* ---- reset and mode changes ---- */

static void regs_reset(cpu_t *cpu)
{
    struct apic *a = A(cpu);
    uint64_t tpc = a->ticks_per_count;
    memset(a, 0, sizeof(*a));
    a->ticks_per_count = tpc;
    a->init_time = a->sipi_time = a->nmi_time = a->smi_time = ~0ull;
    a->id = cpu->cfg.lp_index;
    a->dfr = 0xFFFFFFFFu;
    a->svr = 0xFF;
    for (unsigned i = 0; i < APIC_NLVT; i++)
        a->lvt[i] = LVT_MASKED;
    a->timer_deadline = ~0ull;
    a->next_arrival = ~0ull;
}

/* INIT (SDM 3A 10.4.7.3): the APIC returns to its power-up state except
 * for the ID (and IA32_APIC_BASE, which INIT leaves alone). */
void apic_init_reset(cpu_t *cpu)
{
    uint32_t id = cpu->apic.id;
    regs_reset(cpu);
    cpu->apic.id = id;
    apic_update(cpu);
}

void apic_reset(cpu_t *cpu)
{
    /* The timer counts at the core crystal clock where CPUID leaf 0x15
     * enumerates one (SDM 3A 10.5.4), else at the profile's bus clock. */
    cpu->apic.ticks_per_count = cpu->prof->apic_timer_hz ? cpu->prof->tsc_hz / cpu->prof->apic_timer_hz : 1;
    regs_reset(cpu);
    apic_update(cpu);
}

/* IA32_APIC_BASE (SDM 3A 10.4.4, 10.12.5 table 10-5 for the mode
 * transitions). Returns false for #GP. */
bool apic_base_write(cpu_t *cpu, uint64_t v)
{
    uint64_t rsvd = 0x2FFull | ~((1ull << cpu->prof->maxphyaddr) - 1);
    if (!cpu->prof->x2apic)
        rsvd |= BASE_EXTD;
    if (v & rsvd)
        return false;
    uint64_t old = cpu->msr.val[MSR_APIC_BASE];
    v = (v & ~BASE_BSP) | (old & BASE_BSP);
    unsigned om = (old & BASE_EN ? 2 : 0) | (old & BASE_EXTD ? 1 : 0);
    unsigned nm = (v & BASE_EN ? 2 : 0) | (v & BASE_EXTD ? 1 : 0);
    if (nm == 1)
        return false;                              /* EXTD without EN: invalid */
    if (om == 3 && nm == 2)
        return false;                              /* x2APIC -> xAPIC directly */
    if (om == 0 && nm == 3)
        return false;                              /* disabled -> x2APIC directly */
    cpu->msr.val[MSR_APIC_BASE] = v;
    if (nm == 0 && om != 0) {
        regs_reset(cpu);                           /* disabling resets the APIC (10.4.3) */
        apic_update(cpu);
    }
    if (nm == 3 && om != 3) {
        /* Entering x2APIC mode: the ID becomes the x2APIC ID and the LDR is
         * derived from it (10.12.10.2). */
        cpu->apic.id = cpu->cfg.lp_index;
    }
    if ((old ^ v) & ~BASE_BSP)
        view_drop_shadows(cpu->view);              /* the APIC page moved or changed role: never aliased */
    return true;
}

bool apic_xapic_page(const cpu_t *cpu, uint64_t pa)
{
    uint64_t b = cpu->msr.val[MSR_APIC_BASE];
    return (b & (BASE_EN | BASE_EXTD)) == BASE_EN && (pa & ~0xFFFull) == (b & ~0xFFFull & ((1ull << 52) - 1));
}

uint64_t apic_base_page(const cpu_t *cpu)
{
    return cpu->msr.val[MSR_APIC_BASE] & ~0xFFFull & ((1ull << 52) - 1);
}

/* ---- interprocessor interrupts (SDM 3A 10.6) ---- */

static uint32_t logical_id(const cpu_t *cpu)
{
    if (apic_x2(cpu))                              /* 10.12.10.2: cluster in 31:16, bit in 15:0 */
        return ((cpu->apic.id >> 4) << 16) | (1u << (cpu->apic.id & 0xF));
    return cpu->apic.ldr;
}

bool cpu_apic_ipi_matches(cpu_t *cpu, const struct cpu_ipi *m)
{
    if (!hw_enabled(cpu))
        return false;
    if (!m->logical) {
        if (m->x2apic)
            return m->dest == 0xFFFFFFFFu || m->dest == cpu->apic.id;
        return m->dest == 0xFF || m->dest == (cpu->apic.id & 0xFF);
    }
    uint32_t ldr = logical_id(cpu);
    if (m->x2apic) {
        if (m->dest == 0xFFFFFFFFu)
            return true;
        return (m->dest >> 16) == (ldr >> 16) && (m->dest & ldr & 0xFFFF);
    }
    uint32_t d = m->dest & 0xFF, l = ldr >> 24;
    if (d == 0xFF)
        return true;
    if ((cpu->apic.dfr >> 28) == 0xF)              /* flat model */
        return (d & l) != 0;
    return (d >> 4) == (l >> 4) && (d & l & 0xF);  /* cluster model */
}

uint32_t cpu_apic_priority(cpu_t *cpu) { return ppr(cpu); }

void cpu_apic_ipi_deliver(cpu_t *cpu, const struct cpu_ipi *m)
{
    struct apic *a = A(cpu);
    if (!hw_enabled(cpu))
        return;
    if (m->mode == 5 || m->mode == 6) {
        /* INIT and start-up act when this LP's clock reaches the send time
         * (apic_poll); a software-disabled APIC still takes them (10.4.7.2). */
        uint64_t t = m->time > cpu->cycles ? m->time : cpu->cycles;
        if (m->mode == 5) {
            a->init_time = t;
        } else if (a->sipi_time == ~0ull) {
            a->sipi_time = t;
            a->sipi_vector = m->vector;
        }
        apic_update(cpu);
        return;
    }
    if (m->mode == 2) {
        /* SMI: the vector is ignored (SDM 3A 10.6.1: "should be 00H"), a
         * software-disabled APIC still takes it (10.4.7.2); it becomes
         * pending when this LP's clock reaches the send time (apic_poll) */
        uint64_t t = m->time > cpu->cycles ? m->time : cpu->cycles;
        if (t < a->smi_time)
            a->smi_time = t;
        apic_update(cpu);
        return;
    }
    if (m->mode == 4) {
        /* NMI: the vector is ignored, a software-disabled APIC still takes
         * it (10.4.7.2, 10.6.1); it becomes pending when this LP's clock
         * reaches the send time (apic_poll) */
        uint64_t t = m->time > cpu->cycles ? m->time : cpu->cycles;
        if (t < a->nmi_time)
            a->nmi_time = t;
        apic_update(cpu);
        return;
    }
    if (!sw_enabled(cpu))
        return;                                    /* fixed interrupts are dropped (10.4.7.2) */
    unsigned v = m->vector;
    if (m->time <= cpu->cycles) {
        accept(cpu, v, m->level_trigger);
    } else {
        if (!bit_test(a->arriving, v) || m->time < a->arrival_time[v])
            a->arrival_time[v] = m->time;
        bit_set(a->arriving, v);
        if (m->level_trigger)
            bit_set(a->arriving_level, v);
        else
            bit_clear(a->arriving_level, v);
        if (m->time < a->next_arrival)
            a->next_arrival = m->time;
    }
    apic_update(cpu);
}

/* Send the IPI described by the ICR (xAPIC: written through ICR low;
 * x2APIC: the 64-bit ICR MSR or SELF IPI). False: not modelled. */
static bool send_ipi(cpu_t *cpu, uint32_t lo, uint32_t dest)
{
    unsigned mode = (lo >> 8) & 7, shorthand = (lo >> 18) & 3;
    /* The trigger-mode bit only matters for INIT level de-assert; fixed and
     * lowest-priority IPIs are edge-triggered (SDM 3A 10.6.1). */
    struct cpu_ipi m = {
        .vector = lo & 0xFF, .mode = mode, .logical = (lo >> 11) & 1, .dest = dest,
        .shorthand = shorthand, .level_trigger = false, .x2apic = apic_x2(cpu),
        .time = cpu->cycles,
    };
    static const char *const names[8] = { "fixed", "lowest priority", "SMI", "reserved (3)", "NMI", "INIT",
                                          "start-up", "reserved (7)" };
    if (mode == 3 || mode == 7) {
        cpu_unmodelled(cpu, "IPI with delivery mode %s (ICR %#x): the reserved modes are not modelled",
                       names[mode], lo);
        return false;
    }
    if ((mode == 2 || mode == 4) && (shorthand == 1 || shorthand == 2)) {
        /* SDM 3A 10.6.1, table "Valid Combinations for the ... Local xAPIC
         * Interrupt Command Register": NMI or SMI with the "self" or "all
         * including self" shorthand is invalid; what it does is not said */
        cpu_unmodelled(cpu, "IPI with delivery mode %s and the '%s' shorthand (ICR %#x): an invalid combination "
                       "(SDM 3A 10.6.1); use no shorthand with this LP's APIC ID", names[mode],
                       shorthand == 1 ? "self" : "all including self", lo);
        return false;
    }
    cpu_emit(cpu, CPU_EV_APIC, cpu_rip(cpu), CPU_APIC_IPI, dest, lo, 0);
    if (mode == 5 && !((lo >> 14) & 1) && ((lo >> 15) & 1))
        return true;                                /* INIT level de-assert: no effect (SDM 3A 10.6.1) */
    if (mode == 2 || mode == 4 || mode == 5 || mode == 6) {
        m.level_trigger = false;
        if (!cpu->plat.ipi) {
            if (shorthand == 1 || shorthand == 2 || (shorthand == 0 && cpu_apic_ipi_matches(cpu, &m)))
                cpu_apic_ipi_deliver(cpu, &m);
            return true;
        }
        cpu->plat.ipi(cpu->plat.ctx, cpu, &m);
        return true;
    }
    if (m.vector < 16) {
        apic_error(cpu, ESR_SEND_ILLEGAL);         /* 10.5.3: not sent */
        apic_update(cpu);
        return true;
    }
    if (!cpu->plat.ipi) {
        /* A platform without IPI routing: only self-IPIs. */
        if (shorthand == 1 || shorthand == 2 || (shorthand == 0 && cpu_apic_ipi_matches(cpu, &m)))
            cpu_apic_ipi_deliver(cpu, &m);
        return true;
    }
    cpu->plat.ipi(cpu->plat.ctx, cpu, &m);
    return true;
}

/* ---- register access ---- */

static void eoi(cpu_t *cpu)
{
    int v = highest(cpu->apic.isr);
    cpu_emit(cpu, CPU_EV_APIC, cpu_rip(cpu), CPU_APIC_EOI, 0, v < 0 ? 256 : (uint64_t)v, 0);
    if (v >= 0)
        bit_clear(cpu->apic.isr, (unsigned)v);
    apic_update(cpu);
}

static void set_svr(cpu_t *cpu, uint32_t v)
{
    struct apic *a = A(cpu);
    a->svr = v & 0x3FF;         /* vector, APIC enable, focus checking; no EOI-broadcast suppression */
    if (!(a->svr & SVR_ENABLE))
        for (unsigned i = 0; i < APIC_NLVT; i++)
            a->lvt[i] |= LVT_MASKED;             /* 10.4.7.2 */
}

static void set_lvt(cpu_t *cpu, unsigned i, uint32_t v)
{
    struct apic *a = A(cpu);
    uint32_t nv = v & lvt_mask[i];
    if (!sw_enabled(cpu))
        nv |= LVT_MASKED;                          /* the mask cannot be cleared while disabled */
    if (i == APIC_LVT_TIMER) {
        unsigned om = TIMER_MODE(a->lvt[i]), nm = TIMER_MODE(nv);
        if (nm == TIMER_TSC_DL && !cpu->prof->tsc_deadline)
            nv &= ~(3u << 17);                    /* reserved without CPUID.1:ECX[24] */
        nm = TIMER_MODE(nv);
        a->lvt[i] = nv;
        if ((om == TIMER_TSC_DL) != (nm == TIMER_TSC_DL)) {
            /* Changing to or from TSC-deadline mode disarms the timer (10.5.4.1). */
            timer_disarm(cpu);
            a->timer_initial = 0;
            a->tsc_deadline = 0;
        }
        apic_update(cpu);
        return;
    }
    a->lvt[i] = nv;
}

/* Read register at offset off (16-byte aligned). False: no such register. */
static bool reg_read(cpu_t *cpu, unsigned off, uint32_t *out)
{
    struct apic *a = A(cpu);
    bool x2 = apic_x2(cpu);
    unsigned lv = lvt_index(off);
    if (lv != ~0u) {
        *out = a->lvt[lv];
        return true;
    }
    if (off >= A_ISR && off < A_ISR + 0x80) { *out = a->isr[(off - A_ISR) >> 4]; return true; }
    if (off >= A_TMR && off < A_TMR + 0x80) { *out = a->tmr[(off - A_TMR) >> 4]; return true; }
    if (off >= A_IRR && off < A_IRR + 0x80) { *out = a->irr[(off - A_IRR) >> 4]; return true; }
    switch (off) {
    case A_ID: *out = x2 ? a->id : a->id << 24; return true;
    case A_VER:
        /* version 0x14 (integrated APIC), highest LVT entry 6 (CMCI) */
        *out = 0x14 | ((APIC_NLVT - 1) << 16);
        return true;
    case A_TPR: *out = a->tpr; return true;
    case A_APR: if (x2) return false; *out = 0; return true;
    case A_PPR: *out = ppr(cpu); return true;
    case A_EOI: if (x2) return false; *out = 0; return true;   /* write-only; xAPIC reads 0 */
    case A_RRD: if (x2) return false; *out = 0; return true;
    case A_LDR: *out = logical_id(cpu); return true;
    case A_DFR: if (x2) return false; *out = a->dfr; return true;
    case A_SVR: *out = a->svr; return true;
    case A_ESR: *out = a->esr; return true;
    case A_ICR_LO: *out = a->icr_lo; return true;
    case A_ICR_HI: if (x2) return false; *out = a->icr_hi; return true;
    case A_TIMER_INIT: *out = a->timer_initial; return true;
    case A_TIMER_CUR: *out = timer_current(cpu); return true;
    case A_TIMER_DCR: *out = a->dcr; return true;
    }
    return false;
}

/* Write register at offset off. 0: done, 1: no such register or read-only
 * (x2APIC: #GP), -1: not modelled (message set). */
static int reg_write(cpu_t *cpu, unsigned off, uint32_t v, uint32_t hi)
{
    struct apic *a = A(cpu);
    bool x2 = apic_x2(cpu);
    unsigned lv = lvt_index(off);
    if (lv != ~0u) {
        set_lvt(cpu, lv, v);
        return 0;
    }
    switch (off) {
    case A_ID:
        if (x2)
            return 1;                              /* read-only in x2APIC mode */
        a->id = v >> 24;
        return 0;
    case A_TPR:
        a->tpr = v & 0xFF;
        apic_update(cpu);
        return 0;
    case A_EOI:
        if (x2 && v)
            return 1;                              /* 10.12.1.2: non-zero EOI write #GP */
        eoi(cpu);
        return 0;
    case A_LDR:
        if (x2)
            return 1;
        a->ldr = v & 0xFF000000u;
        return 0;
    case A_DFR:
        if (x2)
            return 1;
        a->dfr = v | 0x0FFFFFFFu;
        return 0;
    case A_SVR:
        set_svr(cpu, v);
        return 0;
    case A_ESR:
        if (x2 && v)
            return 1;
        a->esr = a->esr_pending;                   /* a write latches and clears (10.5.3) */
        a->esr_pending = 0;
        return 0;
    case A_ICR_LO:
        a->icr_lo = v & 0x000CCFFFu;
        if (x2)
            a->icr_hi = hi;
        return send_ipi(cpu, a->icr_lo, x2 ? hi : a->icr_hi >> 24) ? 0 : -1;
    case A_ICR_HI:
        if (x2)
            return 1;
        a->icr_hi = v & 0xFF000000u;
        return 0;
    case A_TIMER_INIT:
        if (TIMER_MODE(a->lvt[APIC_LVT_TIMER]) == TIMER_TSC_DL)
            return 0;                              /* ignored in TSC-deadline mode */
        a->timer_initial = v;
        timer_start(cpu);
        apic_update(cpu);
        return 0;
    case A_TIMER_DCR: {
        uint32_t cur = timer_current(cpu);
        a->dcr = v & 0xB;
        /* The count goes on from where it is at the new rate. */
        if (a->timer_deadline != ~0ull && TIMER_MODE(a->lvt[APIC_LVT_TIMER]) != TIMER_TSC_DL) {
            uint64_t p = period_cycles(cpu);
            a->timer_start = cpu->cycles - (uint64_t)(a->timer_initial - cur) * p;
            a->timer_deadline = cpu->cycles + (uint64_t)cur * p;
            apic_update(cpu);
        }
        return 0;
    }
    case A_SELF_IPI:
        if (!x2)
            return 1;
        return send_ipi(cpu, (v & 0xFF) | (1u << 18), 0) ? 0 : -1;
    case A_VER: case A_APR: case A_PPR: case A_RRD: case A_TIMER_CUR:
        return x2 ? 1 : 0;                         /* read-only: xAPIC ignores the write */
    }
    if (off >= A_ISR && off < A_IRR + 0x80)
        return x2 ? 1 : 0;
    return 1;
}

bool apic_mmio_read(cpu_t *cpu, unsigned off, unsigned size, uint32_t *out)
{
    if (size != 4 || (off & 0xF)) {
        cpu_unmodelled(cpu, "xAPIC register access of %u bytes at offset %#x: only aligned 32-bit accesses "
                       "are modelled (SDM 3A 10.4.1)", size, off);
        return false;
    }
    if (!reg_read(cpu, off, out)) {
        apic_error(cpu, ESR_ILLEGAL_REG);
        *out = 0;
    }
    return true;
}

bool apic_mmio_write(cpu_t *cpu, unsigned off, unsigned size, uint32_t v)
{
    if (size != 4 || (off & 0xF)) {
        cpu_unmodelled(cpu, "xAPIC register access of %u bytes at offset %#x: only aligned 32-bit accesses "
                       "are modelled (SDM 3A 10.4.1)", size, off);
        return false;
    }
    if (off == A_SELF_IPI) {
        apic_error(cpu, ESR_ILLEGAL_REG);     /* no SELF IPI register in xAPIC mode */
        return true;
    }
    int r = reg_write(cpu, off, v, 0);
    if (r > 0)
        apic_error(cpu, ESR_ILLEGAL_REG);
    return r >= 0;
}

/* x2APIC MSRs 0x800-0x8FF (SDM 3A 10.12.1.2, table 10-6). 1: done,
 * 0: #GP, -1: not modelled. */
int apic_msr_read(cpu_t *cpu, uint32_t msr, uint64_t *val)
{
    if (!apic_x2(cpu))
        return 0;
    unsigned off = (msr - 0x800) << 4;
    if (off == A_ICR_LO) {
        *val = (uint64_t)cpu->apic.icr_hi << 32 | cpu->apic.icr_lo;
        return 1;
    }
    if (off == A_SELF_IPI || off == A_EOI)
        return 0;                                  /* write-only */
    uint32_t v;
    if (!reg_read(cpu, off, &v))
        return 0;
    *val = v;
    return 1;
}

/* Writable bits of each x2APIC register: a non-zero write to any other
 * bit raises #GP (SDM 3A 10.12.1.3 "Reserved Bit Checking"). */
static uint64_t x2_writable(unsigned off)
{
    unsigned lv = lvt_index(off);
    if (lv != ~0u)
        return lvt_mask[lv];
    switch (off) {
    case A_TPR: return 0xFF;
    case A_SVR: return 0x3FF;
    case A_ICR_LO: return 0xFFFFFFFF000CCFFFull;   /* destination 63:32; no delivery status */
    case A_TIMER_INIT: return 0xFFFFFFFFu;
    case A_TIMER_DCR: return 0xB;
    case A_SELF_IPI: return 0xFF;
    default: return 0;                             /* EOI, ESR: only 0; the rest are not writable */
    }
}

int apic_msr_write(cpu_t *cpu, uint32_t msr, uint64_t val)
{
    if (!apic_x2(cpu))
        return 0;
    unsigned off = (msr - 0x800) << 4;
    if (val & ~x2_writable(off))
        return 0;
    int r = reg_write(cpu, off, (uint32_t)val, (uint32_t)(val >> 32));
    return r < 0 ? -1 : r == 0;
}

/* IA32_TSC_DEADLINE (MSR 0x6E0). */
bool apic_tsc_deadline_read(cpu_t *cpu, uint64_t *val)
{
    if (!cpu->prof->tsc_deadline)
        return false;
    /* Reads 0 outside TSC-deadline mode (10.5.4.1). */
    *val = TIMER_MODE(cpu->apic.lvt[APIC_LVT_TIMER]) == TIMER_TSC_DL ? cpu->apic.tsc_deadline : 0;
    return true;
}

bool apic_tsc_deadline_write(cpu_t *cpu, uint64_t val)
{
    if (!cpu->prof->tsc_deadline)
        return false;
    if (TIMER_MODE(cpu->apic.lvt[APIC_LVT_TIMER]) != TIMER_TSC_DL)
        return true;                               /* ignored outside TSC-deadline mode */
    cpu->apic.tsc_deadline = val;                  /* 0 disarms */
    apic_update(cpu);
    return true;
}

uint64_t apic_get_tpr(const cpu_t *cpu) { return cpu->apic.tpr; }

void apic_set_tpr(cpu_t *cpu, uint64_t tpr)
{
    cpu->apic.tpr = (uint32_t)tpr & 0xFF;
    apic_update(cpu);
}
