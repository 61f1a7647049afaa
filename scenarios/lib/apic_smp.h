/*
 * apic_smp.h — a command loop for application processors, shared by the
 * multi-LP APIC payloads (apic_ipi2, apic_ipi4). Include after hvsim.h.
 *
 * Every LP enters hv_main at once (boot protocol v1). LP 0 (the BSP) sets
 * up the runtime (hv_cpu_init), installs smp_irq for the vectors it uses
 * and calls smp_bsp_init(); every other LP calls smp_ap_main(lp), which
 * loads the BSP's IDT, software-enables its APIC and then runs the
 * commands the BSP posts in its mailbox, with IF = 1 while it waits.
 * Only the BSP prints; APs report through smp[].
 *
 * Invariants: smp[lp] is written by LP lp except `cmd`/`cmd_seq` (written
 * by the BSP before it bumps cmd_seq); a command is complete when
 * ack_seq == cmd_seq. Interrupt counts are per LP index (not APIC ID:
 * smp_id_to_lp maps one to the other, so sparse APIC IDs work too).
 */
#ifndef HVSIM_APIC_SMP_H
#define HVSIM_APIC_SMP_H

#define SMP_MAX_LPS 8
#define SMP_SPURIOUS_VECTOR 0xFF

enum smp_op {
    SMP_OP_HALT = 1,    /* CLI; halting = 1; STI; HLT; (woken) halting = 0 */
    SMP_OP_SEND,        /* apic_send_ipi(a0, a1); result[0] = ICR idle afterwards */
    SMP_OP_HOLD_IF0,    /* with IF = 0: wait for IRR bit a0, then STI; NOP; CLI (see below) */
    SMP_OP_SET_LDR,     /* LDR = a0 (DFR stays flat) */
};

struct smp_lp {
    volatile uint32_t count[256];   /* interrupts taken, per vector */
    volatile uint64_t rip[256];     /* RIP saved by the last one, per vector */
    volatile uint32_t cmd_seq, ack_seq;
    volatile uint32_t op, a0, a1;
    volatile uint64_t result[4];
    volatile uint32_t halting;      /* 1 from just before STI; HLT until woken */
    volatile uint32_t holding;      /* SMP_OP_HOLD_IF0: 1 once IF = 0 */
    volatile uint32_t ready;        /* smp_ap_main set-up done */
    volatile uint32_t apic_id;      /* from its APIC ID register */
    volatile uint32_t initial_id;   /* CPUID.01H:EBX[31:24] */
    volatile uint64_t apic_base;    /* IA32_APIC_BASE as the LP read it */
};

static struct smp_lp smp[SMP_MAX_LPS] __attribute__((unused));
static volatile uint8_t smp_id_to_lp[256] __attribute__((unused));

/* STI; HLT, with the address after HLT exported so that a handler's saved
 * RIP can be compared with it. */
void smp_sti_hlt(void);
void smp_sti_nop_cli(void);
extern char smp_sti_hlt_after[];
__asm__(".pushsection .text\n"
        ".globl smp_sti_hlt, smp_sti_hlt_after, smp_sti_nop_cli\n"
        "smp_sti_hlt:\n"
        "    sti\n"
        "    hlt\n"
        "smp_sti_hlt_after:\n"
        "    cli\n"
        "    ret\n"
        "smp_sti_nop_cli:\n"
        "    sti\n"
        "    nop\n"
        "    cli\n"
        "    ret\n"
        ".popsection\n");

/* The interrupt handler for every vector the payload counts: count,
 * remember the saved RIP, EOI. */
static __attribute__((unused)) bool smp_irq(struct hv_frame *f)
{
    unsigned me = smp_id_to_lp[apic_self_id()];
    smp[me].rip[f->vector] = f->rip;
    __atomic_add_fetch(&smp[me].count[f->vector], 1, __ATOMIC_SEQ_CST);
    apic_eoi();
    return true;
}

static __attribute__((unused)) void smp_record_self(unsigned lp)
{
    uint32_t r[4];
    hv_cpuid(1, 0, r);
    smp[lp].initial_id = r[1] >> 24;
    smp[lp].apic_id = apic_self_id();
    smp[lp].apic_base = rdmsr(MSR_APIC_BASE);
    smp_id_to_lp[smp[lp].apic_id] = (uint8_t)lp;
}

/* BSP: after hv_cpu_init() and the hv_set_handler() calls. Waits for the
 * other LPs to be ready. */
static __attribute__((unused)) void smp_bsp_init(unsigned nlps)
{
    T_ASSERT(nlps <= SMP_MAX_LPS, "at most %u LPs", SMP_MAX_LPS);
    smp_record_self(0);
    apic_sw_enable(SMP_SPURIOUS_VECTOR);
    hv_smp_share_idt();
    for (unsigned i = 1; i < nlps; i++)
        T_WAIT(smp[i].ready, "LP %u ready", i);
}

/* BSP: post a command to LP lp (returns at once). */
static __attribute__((unused)) void smp_post(unsigned lp, enum smp_op op, uint32_t a0, uint32_t a1)
{
    smp[lp].op = op;
    smp[lp].a0 = a0;
    smp[lp].a1 = a1;
    __atomic_add_fetch(&smp[lp].cmd_seq, 1, __ATOMIC_SEQ_CST);
}
static __attribute__((unused)) void smp_wait_ack(unsigned lp)
{
    T_WAIT(smp[lp].ack_seq == smp[lp].cmd_seq, "LP %u to finish command %u", lp, smp[lp].op);
}
static __attribute__((unused)) void smp_run(unsigned lp, enum smp_op op, uint32_t a0, uint32_t a1)
{
    smp_post(lp, op, a0, a1);
    smp_wait_ack(lp);
}

/* SMP_OP_HOLD_IF0 on the AP: CLI, tell the BSP (holding = 1), wait for
 * IRR bit a0 (result[0] = seen), let 1M TSC cycles pass, result[1] = how
 * many a0 interrupts were taken with IF = 0 (must be 0), result[3] = the
 * IRR bit, trace marker 0x5A00 + a0, STI; NOP; CLI, result[2] = how many
 * were taken by then. */
static __attribute__((unused)) void smp_hold_if0(unsigned lp, unsigned v)
{
    cli();
    smp[lp].holding = 1;
    smp[lp].result[0] = HV_WAIT(apic_irr(v), APIC_WAIT_CYCLES);
    hv_spin_cycles(1000000);
    smp[lp].result[1] = smp[lp].count[v];
    smp[lp].result[3] = apic_irr(v);
    hv_mark(0x5A00 + v);                    /* trace anchor: the STI follows */
    smp_sti_nop_cli();
    smp[lp].result[2] = smp[lp].count[v];
    smp[lp].holding = 0;
    sti();
}

/* AP: never returns. */
static __attribute__((unused, noreturn)) void smp_ap_main(unsigned lp)
{
    if (lp >= SMP_MAX_LPS)
        for (;;)
            __asm__ volatile("cli; hlt");
    hv_smp_load_idt();
    apic_sw_enable(SMP_SPURIOUS_VECTOR);
    smp_record_self(lp);
    __atomic_store_n(&smp[lp].ready, 1, __ATOMIC_SEQ_CST);
    sti();
    uint32_t seen = 0;
    for (;;) {
        while (__atomic_load_n(&smp[lp].cmd_seq, __ATOMIC_SEQ_CST) == seen)
            cpu_pause();
        seen = smp[lp].cmd_seq;
        switch (smp[lp].op) {
        case SMP_OP_HALT:
            cli();
            smp[lp].halting = 1;
            smp_sti_hlt();                  /* returns with IF = 0 once woken */
            smp[lp].halting = 0;
            sti();
            break;
        case SMP_OP_SEND:
            apic_send_ipi(smp[lp].a0, smp[lp].a1);
            smp[lp].result[0] = apic_icr_idle_wait();
            break;
        case SMP_OP_HOLD_IF0:
            smp_hold_if0(lp, smp[lp].a0);
            break;
        case SMP_OP_SET_LDR:
            apic_write(APIC_LDR, smp[lp].a0);
            break;
        }
        __atomic_store_n(&smp[lp].ack_seq, seen, __ATOMIC_SEQ_CST);
    }
}

#endif
