/*
 * apic_ipi4 — interprocessor interrupts among four logical processors
 * (run with --lps 4), xAPIC mode: three APs halted and woken one at a time
 * by physical-destination IPIs, a logical (flat model) destination that
 * selects two of four, all excluding self, all including self sent by an
 * AP, AP-to-AP physical delivery, and a logical destination that includes
 * the sender.
 *
 * SDM 3A 10.6.1 (ICR), 10.6.2.1 (physical destination mode: one APIC ID),
 * 10.6.2.2 (logical destination mode, flat model: every local APIC whose
 * LDR[31:24] shares a bit with the destination accepts the IPI, the
 * sender's own included), 10.6.2.3 (shorthands: all excluding self is not
 * delivered to the sender; all including self is), 10.6.3 (IPI delivery and
 * acceptance), 2A HLT (an enabled interrupt resumes a halted processor).
 */
#include "hvsim.h"
#include "apic_smp.h"

#define NLPS 4

static const unsigned vectors[] = { 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58 };

/* Each LP took vector v exactly want[lp] times, also after a settling delay. */
static bool counts_are(unsigned v, const uint32_t want[NLPS])
{
    hv_spin_cycles(1000000);
    bool ok = true;
    for (unsigned i = 0; i < NLPS; i++)
        if (smp[i].count[v] != want[i]) {
            hv_printf("FAIL: vector %#x: LP %u took it %u time(s), expected %u\n", v, i, smp[i].count[v], want[i]);
            ok = false;
        }
    return ok;
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    if (lp != 0)
        smp_ap_main(lp);
    hv_cpu_init();
    T_ASSERT(nlps == NLPS, "run with --lps %u (got %u)", NLPS, nlps);
    for (unsigned i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
        hv_set_handler(vectors[i], smp_irq);
    smp_bsp_init(nlps);
    sti();

    for (unsigned i = 1; i < NLPS; i++) {
        hv_printf("LP %u: IA32_APIC_BASE EN=%llu BSP=%llu; APIC ID %u = initial APIC ID %u\n", i,
                  (unsigned long long)(smp[i].apic_base >> 11) & 1, (unsigned long long)(smp[i].apic_base >> 8) & 1,
                  (unsigned)smp[i].apic_id, (unsigned)smp[i].initial_id);
        T_CHECK_EQ(smp[i].apic_base & (APIC_BASE_EN | APIC_BASE_BSP), APIC_BASE_EN);
        T_CHECK_EQ(smp[i].apic_id, smp[i].initial_id);
    }

    /* Halt LPs 1-3; wake each with its own physical IPI; the others stay halted. */
    for (unsigned i = 1; i < NLPS; i++)
        smp_post(i, SMP_OP_HALT, 0, 0);
    for (unsigned i = 1; i < NLPS; i++)
        T_WAIT(smp[i].halting, "LP %u to halt", i);
    hv_spin_cycles(2000000);
    for (unsigned i = 1; i < NLPS; i++) {
        unsigned v = 0x50 + i;
        hv_mark(0x4A0 + i);
        apic_send_ipi(smp[i].apic_id, ICR_FIXED | ICR_PHYSICAL | ICR_ASSERT | v);
        T_WAIT(smp[i].count[v] == 1, "LP %u to take %#x", i, v);
        smp_wait_ack(i);
        hv_spin_cycles(1000000);
        bool others_halted = true;
        for (unsigned k = i + 1; k < NLPS; k++)
            others_halted = others_halted && smp[k].halting;
        uint32_t want[NLPS] = { 0 };
        want[i] = 1;
        bool exact = counts_are(v, want);
        bool rip = smp[i].rip[v] == (uint64_t)(uintptr_t)smp_sti_hlt_after;
        hv_printf("physical IPI %#x to APIC ID %u: LP %u woke (RIP saved after its HLT: %s), no other LP took it: %s, "
                  "the LPs not yet woken still halted: %s\n",
                  v, (unsigned)smp[i].apic_id, i, hv_yn(rip), hv_yn(exact), hv_yn(others_halted));
        T_CHECK(rip && exact && others_halted, "wake-up of LP %u", i);
    }

    /* Logical destinations, flat model: LDR[31:24] = 1 << lp. */
    apic_write(APIC_LDR, 1u << 24);
    for (unsigned i = 1; i < NLPS; i++)
        smp_run(i, SMP_OP_SET_LDR, 1u << (24 + i), 0);
    apic_send_ipi(0x0A, ICR_LOGICAL | ICR_ASSERT | ICR_FIXED | 0x54);
    T_WAIT(smp[1].count[0x54] == 1 && smp[3].count[0x54] == 1, "0x54 on LPs 1 and 3");
    bool ok = counts_are(0x54, (const uint32_t[NLPS]){ 0, 1, 0, 1 });
    hv_printf("logical destination 0x0a (LDR bits of LPs 1 and 3), vector 0x54: LPs 1 and 3 only: %s\n", hv_yn(ok));
    T_CHECK(ok, "logical 0x0a");

    /* All excluding self, from the BSP. */
    apic_write(APIC_ICR_LO, ICR_SH_OTHERS | ICR_ASSERT | ICR_FIXED | 0x55);
    T_WAIT(smp[1].count[0x55] && smp[2].count[0x55] && smp[3].count[0x55], "0x55 on LPs 1-3");
    ok = counts_are(0x55, (const uint32_t[NLPS]){ 0, 1, 1, 1 }) && !apic_irr(0x55);
    hv_printf("all excluding self from LP 0, vector 0x55: LPs 1, 2, 3 once each, LP 0 never: %s\n", hv_yn(ok));
    T_CHECK(ok, "all excluding self");

    /* All including self, from LP 2. */
    smp_run(2, SMP_OP_SEND, 0, ICR_SH_ALL | ICR_ASSERT | ICR_FIXED | 0x56);
    T_WAIT(smp[0].count[0x56] && smp[1].count[0x56] && smp[2].count[0x56] && smp[3].count[0x56], "0x56 on all");
    ok = counts_are(0x56, (const uint32_t[NLPS]){ 1, 1, 1, 1 });
    hv_printf("all including self from LP 2, vector 0x56: all four LPs once each: %s\n", hv_yn(ok));
    T_CHECK(ok, "all including self");

    /* AP to AP, physical. */
    smp_run(3, SMP_OP_SEND, smp[2].apic_id, ICR_FIXED | ICR_PHYSICAL | ICR_ASSERT | 0x57);
    T_WAIT(smp[2].count[0x57] == 1, "0x57 on LP 2");
    ok = counts_are(0x57, (const uint32_t[NLPS]){ 0, 0, 1, 0 }) && smp[3].result[0];
    hv_printf("LP 3 -> physical APIC ID %u, vector 0x57: LP 2 only, LP 3's ICR idle afterwards: %s\n",
              (unsigned)smp[2].apic_id, hv_yn(ok));
    T_CHECK(ok, "AP to AP");

    /* A logical destination that includes the sender. */
    smp_run(1, SMP_OP_SEND, 0x0F, ICR_LOGICAL | ICR_ASSERT | ICR_FIXED | 0x58);
    T_WAIT(smp[0].count[0x58] && smp[1].count[0x58] && smp[2].count[0x58] && smp[3].count[0x58], "0x58 on all");
    ok = counts_are(0x58, (const uint32_t[NLPS]){ 1, 1, 1, 1 });
    hv_printf("logical destination 0x0f from LP 1, vector 0x58: all four LPs once each, LP 1 included: %s\n", hv_yn(ok));
    T_CHECK(ok, "logical 0x0f");
    T_DONE();
}
