/*
 * apic_selfipi — self-IPIs through the xAPIC ICR (one LP): delivery, the
 * IRR -> ISR move and PPR while in service, EOI, a physical destination
 * equal to the sender's own ID, IF = 0 holding an interrupt in IRR, the
 * IRR and ISR each holding one instance of a vector (more collapse), and
 * the all-including-self / all-excluding-self shorthands with no other LP.
 *
 * SDM 3A 10.6.1 (ICR: fixed delivery, destination shorthand 01 self, 10
 * all including self, 11 all excluding self; delivery status bit 12 reads
 * 0 once sent), 10.6.2.1 (physical destination = an APIC ID, the sender's
 * own included), 10.6.2.3 (shorthands), 10.8.4 (a fixed interrupt is
 * recorded in IRR; when the processor takes it, its IRR bit is cleared
 * and its ISR bit set; the IRR and ISR can queue two interrupts of one
 * vector, further ones collapse into the IRR bit), 10.8.3.1 (PPR = ISRV
 * with TPR 0), 10.8.5 (EOI clears the ISR bit), 3A 6.8.1 (IF = 0 masks
 * maskable interrupts).
 */
#include "hvsim.h"

static volatile uint32_t count[256];
static volatile uint32_t seen_isr, seen_irr, seen_ppr;      /* 0x40's handler */
static volatile uint32_t requeued_irr, requeued_isr;        /* 0x44's first run */

static bool on_irq(struct hv_frame *f)
{
    unsigned v = (unsigned)f->vector;
    count[v]++;
    if (v == 0x40) {
        seen_isr = apic_isr(0x40);
        seen_irr = apic_irr(0x40);
        seen_ppr = apic_read(APIC_PPR);
    }
    if (v == 0x44 && count[v] == 1) {
        /* The same vector again while it is in service: it waits in IRR. */
        apic_send_self(0x44);
        requeued_irr = HV_WAIT(apic_irr(0x44), APIC_WAIT_CYCLES);
        requeued_isr = apic_isr(0x44);
    }
    apic_eoi();
    return true;
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    if (lp != 0)
        for (;;)
            __asm__ volatile("cli; hlt");
    hv_cpu_init();
    for (unsigned v = 0x40; v <= 0x46; v++)
        hv_set_handler(v, on_irq);
    apic_sw_enable(0xFF);
    hv_printf("SVR = %#x: APIC software-enabled\n", apic_read(APIC_SVR));

    /* Self shorthand, IF = 1. */
    sti();
    apic_send_self(0x40);
    bool idle = apic_icr_idle_wait();
    T_WAIT(count[0x40] == 1, "self-IPI 0x40");
    hv_spin_cycles(1000000);
    hv_printf("self-IPI (shorthand self, fixed, vector 0x40): delivery status idle: %s; taken %u time(s)\n", hv_yn(idle),
              count[0x40]);
    T_CHECK(idle, "ICR send-pending");
    T_CHECK_EQ(count[0x40], 1);
    hv_printf("in 0x40's handler: ISR bit 0x40 = %u, IRR bit 0x40 = %u, PPR = %#x\n", seen_isr, seen_irr, seen_ppr);
    T_CHECK_EQ(seen_isr, 1);
    T_CHECK_EQ(seen_irr, 0);
    T_CHECK_EQ(seen_ppr, 0x40);
    bool clear = apic_vec_all_clear(APIC_ISR) && apic_vec_all_clear(APIC_IRR);
    hv_printf("after EOI: ISR and IRR all clear: %s, PPR = %#x\n", hv_yn(clear), apic_read(APIC_PPR));
    T_CHECK(clear, "ISR/IRR not clear after EOI");
    T_CHECK_EQ(apic_read(APIC_PPR), 0);

    /* Physical destination = own APIC ID. */
    apic_send_ipi(apic_self_id(), ICR_FIXED | ICR_PHYSICAL | ICR_ASSERT | 0x41);
    T_WAIT(count[0x41] == 1, "0x41 to own APIC ID");
    hv_spin_cycles(1000000);
    hv_printf("physical destination = own APIC ID %u, vector 0x41: taken %u time(s)\n", apic_self_id(), count[0x41]);
    T_CHECK_EQ(count[0x41], 1);

    /* IF = 0: the interrupt waits in IRR. */
    cli();
    hv_mark(0x5E1);
    apic_send_self(0x42);
    bool pending = HV_WAIT(apic_irr(0x42), APIC_WAIT_CYCLES);
    hv_spin_cycles(1000000);
    uint32_t taken_if0 = count[0x42];
    hv_printf("IF=0: self-IPI 0x42 pending in IRR: %s, taken: %u\n", hv_yn(pending && apic_irr(0x42)), taken_if0);
    T_CHECK(pending && apic_irr(0x42), "0x42 not in IRR");
    T_CHECK_EQ(taken_if0, 0);
    hv_mark(0x5E2);
    hv_sti_nop_cli();
    hv_printf("STI; NOP: 0x42 taken %u time(s), IRR bit now %u\n", count[0x42], apic_irr(0x42));
    T_CHECK_EQ(count[0x42], 1);
    T_CHECK(!apic_irr(0x42), "IRR bit 0x42 still set");

    /* Three of one vector while IF = 0: one IRR bit, one interrupt. */
    hv_mark(0x5E3);
    for (int i = 0; i < 3; i++) {
        apic_send_self(0x43);
        T_ASSERT(apic_icr_idle_wait(), "ICR send-pending");
    }
    T_WAIT(apic_irr(0x43), "0x43 in IRR");
    hv_spin_cycles(1000000);
    hv_sti_nop_cli();
    sti();
    hv_spin_cycles(1000000);
    cli();
    hv_printf("IF=0: three self-IPIs 0x43 collapse into one IRR bit: taken %u time(s)\n", count[0x43]);
    T_CHECK_EQ(count[0x43], 1);

    /* Sent again from its own handler: queued in IRR while in ISR. */
    sti();
    apic_send_self(0x44);
    T_WAIT(count[0x44] == 2, "0x44 twice");
    hv_spin_cycles(1000000);
    hv_printf("0x44 sent again in its own handler: IRR bit set while ISR bit set: %s; taken %u times in all\n",
              hv_yn(requeued_irr && requeued_isr), count[0x44]);
    T_CHECK(requeued_irr && requeued_isr, "IRR %u ISR %u", requeued_irr, requeued_isr);
    T_CHECK_EQ(count[0x44], 2);

    /* Shorthands with a single LP. */
    apic_write(APIC_ICR_LO, ICR_SH_ALL | ICR_ASSERT | ICR_FIXED | 0x45);
    T_WAIT(count[0x45] == 1, "0x45 (all including self)");
    hv_mark(0x5E4);
    apic_write(APIC_ICR_LO, ICR_SH_OTHERS | ICR_ASSERT | ICR_FIXED | 0x46);
    idle = apic_icr_idle_wait();
    hv_spin_cycles(1000000);
    hv_mark(0x5E5);
    cli();
    hv_printf("all including self, vector 0x45: taken %u time(s); all excluding self, vector 0x46: taken %u, "
              "pending: %s\n", count[0x45], count[0x46], hv_yn(apic_irr(0x46)));
    T_CHECK_EQ(count[0x45], 1);
    T_CHECK_EQ(count[0x46], 0);
    T_CHECK(!apic_irr(0x46), "0x46 pending");
    T_CHECK(idle, "ICR send-pending after all excluding self");
    T_DONE();
}
