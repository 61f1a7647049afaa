/*
 * apic_priority — interrupt priority in the local APIC (one LP, xAPIC
 * self-IPIs): TPR blocking and release, PPR values, two pending vectors
 * taken highest first, nesting of a higher class inside a handler, a lower
 * class held until EOI, EOI clearing the highest ISR bit whoever issues
 * it, and CR8 as the TPR's priority class.
 *
 * SDM 3A 10.8.3 (priority class = vector[7:4]), 10.8.3.1 (PPR[7:4] =
 * max(TPR[7:4], ISRV[7:4]); PPR[3:0] = TPR[3:0] if TPR[7:4] > ISRV[7:4],
 * 0 if below; an interrupt is delivered only if its class is above PPR's
 * class; the equal-class sub-class case is model-specific and avoided here),
 * 10.8.4 (IRR/ISR; the highest-priority IRR bit is dispatched when its
 * class is above the PPR class; an accepted interrupt can interrupt a
 * handler of a lower class), 10.8.5 (EOI clears the highest-priority ISR
 * bit), 10.8.6.1 (MOV to CR8 writes TPR[7:4]), 3A 6.12.1.3 (an interrupt
 * gate clears IF: the handlers below set it to allow nesting).
 */
#include "hvsim.h"

static volatile uint32_t count[256];
static volatile uint32_t order[16], norder;

static void log_order(unsigned v)
{
    if (norder < 16)
        order[norder] = v;
    norder++;
}

/* Plain handler: count, log, EOI. */
static bool on_irq(struct hv_frame *f)
{
    unsigned v = (unsigned)f->vector;
    count[v]++;
    log_order(v);
    apic_eoi();
    return true;
}

/* ---- PPR values (0x51) ---- */
static volatile uint32_t ppr_in_51, ppr_in_51_tpr65;
static bool on_51(struct hv_frame *f)
{
    count[0x51]++;
    ppr_in_51 = apic_read(APIC_PPR);
    apic_write(APIC_TPR, 0x65);
    ppr_in_51_tpr65 = apic_read(APIC_PPR);
    apic_write(APIC_TPR, 0x35);
    apic_eoi();
    return true;
}

/* ---- highest first (0x9A with 0x5A pending) ---- */
static volatile uint32_t irr_5a_in_9a, isr_9a_in_9a, isr_5a_in_9a;
static bool on_9a(struct hv_frame *f)
{
    irr_5a_in_9a = apic_irr(0x5A);
    isr_9a_in_9a = apic_isr(0x9A);
    isr_5a_in_9a = apic_isr(0x5A);
    return on_irq(f);
}

/* ---- nesting: 0x40 lets 0x80 in, holds 0x30 back ---- */
static volatile uint32_t n80_isr40, n80_isr80, n80_ppr, n40_after_isr40, n40_after_isr80, n40_after_ppr;
static volatile uint32_t n30_pending, n30_taken_early;
static bool on_40(struct hv_frame *f)
{
    count[0x40]++;
    log_order(0x40);
    apic_send_self(0x80);
    sti();
    T_WAIT(count[0x80] == 1, "0x80 to nest in 0x40's handler");
    cli();
    n40_after_isr40 = apic_isr(0x40);
    n40_after_isr80 = apic_isr(0x80);
    n40_after_ppr = apic_read(APIC_PPR);
    apic_send_self(0x30);
    n30_pending = HV_WAIT(apic_irr(0x30), APIC_WAIT_CYCLES);
    sti();
    hv_spin_cycles(1000000);            /* IF = 1, but class 3 <= PPR class 4 */
    cli();
    n30_taken_early = count[0x30];
    log_order(0x140);                   /* "0x40's EOI" */
    apic_eoi();
    return true;                        /* IRET sets IF: 0x30 comes now */
}
static bool on_80(struct hv_frame *f)
{
    n80_isr40 = apic_isr(0x40);
    n80_isr80 = apic_isr(0x80);
    n80_ppr = apic_read(APIC_PPR);
    return on_irq(f);
}

/* ---- EOI clears the highest ISR bit: 0x88 returns without EOI ---- */
static volatile uint32_t e_isr48_a, e_isr88_a, e_ppr_a, e_isr48_b, e_isr88_b, e_ppr_b, e_isr48_c, e_ppr_c;
static bool on_88(struct hv_frame *f)
{
    count[0x88]++;
    return true;                        /* no EOI: stays in service */
}
static bool on_48(struct hv_frame *f)
{
    count[0x48]++;
    apic_send_self(0x88);
    sti();
    T_WAIT(count[0x88] == 1, "0x88 to nest in 0x48's handler");
    cli();
    e_isr48_a = apic_isr(0x48);
    e_isr88_a = apic_isr(0x88);
    e_ppr_a = apic_read(APIC_PPR);
    apic_eoi();
    e_isr48_b = apic_isr(0x48);
    e_isr88_b = apic_isr(0x88);
    e_ppr_b = apic_read(APIC_PPR);
    apic_eoi();
    e_isr48_c = apic_isr(0x48);
    e_ppr_c = apic_read(APIC_PPR);
    return true;
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    if (lp != 0)
        for (;;)
            __asm__ volatile("cli; hlt");
    hv_cpu_init();
    static const unsigned plain[] = { 0x30, 0x45, 0x55, 0x5A, 0x65, 0x66, 0x76 };
    for (unsigned i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        hv_set_handler(plain[i], on_irq);
    hv_set_handler(0x51, on_51);
    hv_set_handler(0x9A, on_9a);
    hv_set_handler(0x40, on_40);
    hv_set_handler(0x80, on_80);
    hv_set_handler(0x48, on_48);
    hv_set_handler(0x88, on_88);
    apic_sw_enable(0xFF);
    sti();

    /* TPR blocks classes <= its own, with IF = 1. */
    apic_write(APIC_TPR, 0x50);
    hv_mark(0x7A1);
    apic_send_self(0x55);
    apic_send_self(0x45);
    bool pend = HV_WAIT(apic_irr(0x55) && apic_irr(0x45), APIC_WAIT_CYCLES);
    hv_spin_cycles(1000000);
    hv_printf("TPR 0x50, IF=1: 0x55 and 0x45 (classes 5 and 4) pending in IRR: %s, taken: %u and %u; PPR %#x\n",
              hv_yn(pend), count[0x55], count[0x45], apic_read(APIC_PPR));
    T_CHECK(pend, "not pending");
    T_CHECK(count[0x55] == 0 && count[0x45] == 0, "taken through TPR 0x50");
    T_CHECK_EQ(apic_read(APIC_PPR), 0x50);
    apic_send_self(0x65);
    T_WAIT(count[0x65] == 1, "0x65 through TPR 0x50");
    hv_printf("TPR 0x50: 0x65 (class 6) taken at once: %s; 0x55 and 0x45 still pending: %s\n", hv_yn(count[0x65] == 1),
              hv_yn(apic_irr(0x55) && apic_irr(0x45) && count[0x55] == 0 && count[0x45] == 0));
    T_CHECK(apic_irr(0x55) && apic_irr(0x45), "released by 0x65's EOI");
    hv_mark(0x7A2);
    apic_write(APIC_TPR, 0x40);
    T_WAIT(count[0x55] == 1, "0x55 after TPR 0x40");
    hv_spin_cycles(1000000);
    hv_printf("TPR 0x40: 0x55 taken: %s; 0x45 (class 4) still pending: %s\n", hv_yn(count[0x55] == 1),
              hv_yn(count[0x45] == 0 && apic_irr(0x45)));
    T_CHECK(count[0x45] == 0 && apic_irr(0x45), "0x45 through TPR 0x40");
    hv_mark(0x7A3);
    apic_write(APIC_TPR, 0x00);
    T_WAIT(count[0x45] == 1, "0x45 after TPR 0");
    hv_printf("TPR 0: 0x45 taken: %s; order of delivery 0x65, 0x55, 0x45: %s\n", hv_yn(count[0x45] == 1),
              hv_yn(norder == 3 && order[0] == 0x65 && order[1] == 0x55 && order[2] == 0x45));
    T_CHECK(norder == 3 && order[0] == 0x65 && order[1] == 0x55 && order[2] == 0x45, "order");

    /* PPR values. */
    apic_write(APIC_TPR, 0x35);
    uint32_t ppr_idle = apic_read(APIC_PPR);
    apic_send_self(0x51);
    T_WAIT(count[0x51] == 1, "0x51 through TPR 0x35");
    uint32_t ppr_after = apic_read(APIC_PPR);
    apic_write(APIC_TPR, 0);
    hv_printf("PPR: TPR 0x35, nothing in service: %#x; 0x51 in service: %#x; TPR 0x65 with 0x51 in service: %#x; "
              "after EOI: %#x\n", ppr_idle, ppr_in_51, ppr_in_51_tpr65, ppr_after);
    T_CHECK_EQ(ppr_idle, 0x35);
    T_CHECK_EQ(ppr_in_51, 0x50);
    T_CHECK_EQ(ppr_in_51_tpr65, 0x65);
    T_CHECK_EQ(ppr_after, 0x35);

    /* Two pending: the higher vector first. */
    cli();
    norder = 0;
    apic_send_self(0x5A);
    T_WAIT(apic_irr(0x5A), "0x5a in IRR");
    apic_send_self(0x9A);
    T_WAIT(apic_irr(0x9A), "0x9a in IRR");
    hv_mark(0x7A4);
    hv_sti_nop_cli();
    sti();
    T_WAIT(norder == 2, "both taken");
    hv_printf("IF=0, 0x5a sent before 0x9a; after STI taken in the order %#x, %#x\n", order[0], order[1]);
    T_CHECK(order[0] == 0x9A && order[1] == 0x5A, "order %#x %#x", order[0], order[1]);
    hv_printf("in 0x9a's handler: ISR bit 0x9a = %u, IRR bit 0x5a = %u, ISR bit 0x5a = %u\n", isr_9a_in_9a,
              irr_5a_in_9a, isr_5a_in_9a);
    T_CHECK(isr_9a_in_9a && irr_5a_in_9a && !isr_5a_in_9a, "ISR/IRR in 0x9a");

    /* Nesting. */
    norder = 0;
    apic_send_self(0x40);
    T_WAIT(count[0x30] == 1, "0x30 after 0x40's EOI");
    hv_printf("0x40's handler with IF=1: 0x80 nested in it; in 0x80's handler ISR bits 0x40 = %u, 0x80 = %u, PPR %#x\n",
              n80_isr40, n80_isr80, n80_ppr);
    T_CHECK(n80_isr40 && n80_isr80, "ISR in 0x80's handler");
    T_CHECK_EQ(n80_ppr, 0x80);
    hv_printf("back in 0x40's handler after 0x80's EOI: ISR bits 0x40 = %u, 0x80 = %u, PPR %#x\n", n40_after_isr40,
              n40_after_isr80, n40_after_ppr);
    T_CHECK(n40_after_isr40 && !n40_after_isr80, "ISR back in 0x40");
    T_CHECK_EQ(n40_after_ppr, 0x40);
    hv_printf("0x30 sent in 0x40's handler: pending %s, taken before 0x40's EOI: %u; order 0x40, 0x80, EOI of 0x40, "
              "0x30: %s\n", hv_yn(n30_pending), n30_taken_early,
              hv_yn(norder == 4 && order[0] == 0x40 && order[1] == 0x80 && order[2] == 0x140 && order[3] == 0x30));
    T_CHECK(n30_pending, "0x30 not pending");
    T_CHECK_EQ(n30_taken_early, 0);
    T_CHECK(norder == 4 && order[1] == 0x80 && order[2] == 0x140 && order[3] == 0x30, "nesting order");

    /* EOI clears the highest ISR bit. */
    apic_send_self(0x48);
    T_WAIT(count[0x48] == 1, "0x48");
    hv_printf("0x88 nested in 0x48's handler and returned without EOI: ISR bits 0x48 = %u, 0x88 = %u, PPR %#x\n",
              e_isr48_a, e_isr88_a, e_ppr_a);
    T_CHECK(e_isr48_a && e_isr88_a, "both in service");
    T_CHECK_EQ(e_ppr_a, 0x80);
    hv_printf("one EOI (from 0x48's handler) clears the highest: ISR bits 0x48 = %u, 0x88 = %u, PPR %#x; "
              "a second EOI: ISR bit 0x48 = %u, PPR %#x\n", e_isr48_b, e_isr88_b, e_ppr_b, e_isr48_c, e_ppr_c);
    T_CHECK(e_isr48_b && !e_isr88_b, "first EOI");
    T_CHECK_EQ(e_ppr_b, 0x40);
    T_CHECK(!e_isr48_c, "second EOI");
    T_CHECK_EQ(e_ppr_c, 0);

    /* CR8 is the TPR class. */
    write_cr8(6);
    uint32_t tpr_cr8 = apic_read(APIC_TPR);
    hv_mark(0x7A5);
    apic_send_self(0x66);
    bool p66 = HV_WAIT(apic_irr(0x66), APIC_WAIT_CYCLES);
    apic_send_self(0x76);
    T_WAIT(count[0x76] == 1, "0x76 through CR8 6");
    hv_spin_cycles(1000000);
    uint32_t early66 = count[0x66];
    hv_mark(0x7A6);
    write_cr8(5);
    T_WAIT(count[0x66] == 1, "0x66 after CR8 5");
    hv_printf("CR8 = 6 (TPR %#x): 0x66 pending: %s, taken: %u; 0x76 taken; CR8 = 5: 0x66 taken\n", tpr_cr8,
              hv_yn(p66), early66);
    T_CHECK(p66, "0x66 not in IRR");
    T_CHECK_EQ(tpr_cr8, 0x60);
    T_CHECK_EQ(early66, 0);
    write_cr8(0);
    cli();
    T_DONE();
}
