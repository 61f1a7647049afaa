/*
 * apic_ipi2 — interprocessor interrupts between two logical processors
 * (run with --lps 2), xAPIC mode: physical destination, the self / all
 * including self / all excluding self shorthands, logical destinations in
 * the flat model, an AP woken from HLT by an IPI, and an IPI held pending
 * in the target's IRR while its IF = 0.
 *
 * SDM 3A 10.4.4 (IA32_APIC_BASE.BSP is 0 on an AP), 10.4.6 (APIC ID =
 * initial APIC ID), 10.6.1 (ICR: vector, delivery mode 000 fixed,
 * destination mode bit 11, delivery status bit 12 reads 0 (idle) once the
 * IPI has been sent, shorthand bits 19:18; the write to the low word sends),
 * 10.6.2.1 (physical destination: the target's APIC ID), 10.6.2.2 (logical
 * destination, flat model: DFR = FFFFFFFFH, accepted if LDR[31:24] AND the
 * 8-bit destination is not 0), 10.6.2.3 (shorthands), 10.8.4 (a fixed
 * interrupt is held in IRR until the processor can take it), 3A 6.8.1 (IF = 0
 * masks maskable interrupts), 2A HLT (an enabled interrupt resumes a halted
 * processor; the saved RIP is the instruction after HLT).
 */
#include "hvsim.h"
#include "apic_smp.h"

static const unsigned vectors[] = { 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x4A };

static bool settled_counts(unsigned v, uint32_t c0, uint32_t c1)
{
    hv_spin_cycles(1000000);               /* let a stray duplicate arrive */
    return smp[0].count[v] == c0 && smp[1].count[v] == c1;
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    if (lp != 0)
        smp_ap_main(lp);
    hv_cpu_init();
    T_ASSERT(nlps == 2, "run with --lps 2 (got %u)", nlps);
    for (unsigned i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
        hv_set_handler(vectors[i], smp_irq);
    smp_bsp_init(nlps);
    sti();
    unsigned id0 = smp[0].apic_id, id1 = smp[1].apic_id;

    hv_printf("LP 1: IA32_APIC_BASE EN=%llu BSP=%llu; APIC ID %u = initial APIC ID %u\n",
              (unsigned long long)(smp[1].apic_base >> 11) & 1, (unsigned long long)(smp[1].apic_base >> 8) & 1,
              (unsigned)smp[1].apic_id, (unsigned)smp[1].initial_id);
    T_CHECK_EQ(smp[1].apic_base & (APIC_BASE_EN | APIC_BASE_BSP), APIC_BASE_EN);
    T_CHECK_EQ(smp[1].apic_id, smp[1].initial_id);
    T_CHECK(id0 != id1, "LP 0 and LP 1 share APIC ID %u", id0);

    /* An AP halted with IF = 1, woken by a fixed IPI to its physical ID. */
    smp_post(1, SMP_OP_HALT, 0, 0);
    T_WAIT(smp[1].halting, "LP 1 to halt");
    hv_spin_cycles(2000000);                /* it is in HLT by now */
    hv_mark(0x1A1);
    apic_send_ipi(id1, ICR_FIXED | ICR_PHYSICAL | ICR_ASSERT | 0x41);
    bool idle = apic_icr_idle_wait();
    smp_wait_ack(1);
    bool after_hlt = smp[1].rip[0x41] == (uint64_t)(uintptr_t)smp_sti_hlt_after;
    hv_printf("LP 1 in HLT with IF=1: fixed IPI 0x41 to physical APIC ID %u woke it, RIP saved %s\n", id1,
              after_hlt ? "= after its HLT" : "WRONG");
    hv_printf("ICR delivery status (bit 12) reads idle after sending: %s\n", idle ? "yes" : "no");
    T_CHECK(idle, "ICR still send-pending");
    T_CHECK(after_hlt, "LP 1 saved RIP %#llx", (unsigned long long)smp[1].rip[0x41]);
    T_CHECK(settled_counts(0x41, 0, 1), "0x41 counts %u/%u", smp[0].count[0x41], smp[1].count[0x41]);

    /* AP -> BSP, physical. */
    smp_run(1, SMP_OP_SEND, id0, ICR_FIXED | ICR_PHYSICAL | ICR_ASSERT | 0x42);
    T_WAIT(smp[0].count[0x42] == 1, "0x42 on LP 0");
    bool ok = settled_counts(0x42, 1, 0);
    hv_printf("LP 1 -> physical APIC ID %u, vector 0x42: LP 0 took it once, LP 1 did not: %s\n", id0,
              ok ? "yes" : "no");
    T_CHECK(ok, "0x42 counts %u/%u", smp[0].count[0x42], smp[1].count[0x42]);
    T_CHECK(smp[1].result[0], "LP 1's ICR still send-pending");

    /* Shorthands. */
    apic_write(APIC_ICR_LO, ICR_SH_OTHERS | ICR_ASSERT | ICR_FIXED | 0x43);
    T_WAIT(smp[1].count[0x43] == 1, "0x43 on LP 1");
    ok = settled_counts(0x43, 0, 1) && !apic_irr(0x43);
    hv_printf("all excluding self from LP 0, vector 0x43: LP 1 once, LP 0 never (not even pending): %s\n",
              ok ? "yes" : "no");
    T_CHECK(ok, "0x43 counts %u/%u", smp[0].count[0x43], smp[1].count[0x43]);

    apic_write(APIC_ICR_LO, ICR_SH_ALL | ICR_ASSERT | ICR_FIXED | 0x44);
    T_WAIT(smp[0].count[0x44] == 1 && smp[1].count[0x44] == 1, "0x44 on both");
    ok = settled_counts(0x44, 1, 1);
    hv_printf("all including self from LP 0, vector 0x44: LP 0 and LP 1 once each: %s\n", ok ? "yes" : "no");
    T_CHECK(ok, "0x44 counts %u/%u", smp[0].count[0x44], smp[1].count[0x44]);

    smp_run(1, SMP_OP_SEND, 0, ICR_SH_SELF | ICR_ASSERT | ICR_FIXED | 0x45);
    T_WAIT(smp[1].count[0x45] == 1, "0x45 on LP 1");
    ok = settled_counts(0x45, 0, 1);
    hv_printf("self shorthand from LP 1, vector 0x45: LP 1 once, LP 0 never: %s\n", ok ? "yes" : "no");
    T_CHECK(ok, "0x45 counts %u/%u", smp[0].count[0x45], smp[1].count[0x45]);

    /* Logical destinations, flat model (DFR keeps its reset value). */
    apic_write(APIC_LDR, 0x01u << 24);
    smp_run(1, SMP_OP_SET_LDR, 0x02u << 24, 0);
    hv_printf("flat model: DFR %#x; LDR[31:24] LP 0 = 0x01, LP 1 = 0x02\n", apic_read(APIC_DFR));
    apic_send_ipi(0x02, ICR_LOGICAL | ICR_ASSERT | ICR_FIXED | 0x46);
    T_WAIT(smp[1].count[0x46] == 1, "0x46 on LP 1");
    bool l2 = settled_counts(0x46, 0, 1);
    apic_send_ipi(0x03, ICR_LOGICAL | ICR_ASSERT | ICR_FIXED | 0x47);
    T_WAIT(smp[0].count[0x47] == 1 && smp[1].count[0x47] == 1, "0x47 on both");
    bool l3 = settled_counts(0x47, 1, 1);
    apic_send_ipi(0x01, ICR_LOGICAL | ICR_ASSERT | ICR_FIXED | 0x48);
    T_WAIT(smp[0].count[0x48] == 1, "0x48 on LP 0");
    bool l1 = settled_counts(0x48, 1, 0);
    hv_printf("logical destination 0x02 (vector 0x46): LP 1 only: %s; 0x03 (0x47): both: %s; 0x01 (0x48): LP 0 only: %s\n",
              l2 ? "yes" : "no", l3 ? "yes" : "no", l1 ? "yes" : "no");
    T_CHECK(l2 && l3 && l1, "logical delivery");

    /* IF = 0 on the target keeps the IPI pending in its IRR. */
    smp_post(1, SMP_OP_HOLD_IF0, 0x4A, 0);
    T_WAIT(smp[1].holding, "LP 1 to clear IF");
    hv_mark(0x1A2);
    apic_send_ipi(id1, ICR_FIXED | ICR_PHYSICAL | ICR_ASSERT | 0x4A);
    smp_wait_ack(1);
    hv_printf("LP 1 with IF=0: IPI 0x4a pending in its IRR: %s; taken while IF=0: %llu; taken after STI: %llu\n",
              smp[1].result[0] && smp[1].result[3] ? "yes" : "no", (unsigned long long)smp[1].result[1],
              (unsigned long long)smp[1].result[2]);
    T_CHECK(smp[1].result[0] && smp[1].result[3], "IRR bit 0x4A not set on LP 1");
    T_CHECK_EQ(smp[1].result[1], 0);
    T_CHECK_EQ(smp[1].result[2], 1);
    T_DONE();
}
