/*
 * apic_x2apic — switching the local APIC to x2APIC mode and using it
 * through MSRs only (one LP): the APIC MSRs fault outside x2APIC mode, the
 * invalid IA32_APIC_BASE states, the x2APIC ID and derived logical ID,
 * registers kept across the switch, #GP for read-only, write-only and
 * non-existent registers and for reserved bits, self-IPIs through the ICR
 * and the SELF IPI register, EOI, a physical IPI to itself, the timer, and
 * the ways out of x2APIC mode. After the switch the xAPIC page is never
 * touched.
 *
 * SDM 3A 10.12.1 (CPUID.01H:ECX[21]; EXTD, bit 10 of IA32_APIC_BASE),
 * 10.12.1.2 and Table 10-6 (MSR 800H + offset / 16; read-only registers
 * fault on WRMSR, write-only ones on RDMSR; no 80EH (DFR) and no 831H:
 * addresses 800H-BFFH not listed fault; the ICR is the 64-bit MSR 830H;
 * bits 63:32 of the others are reserved; LDR is read-only; a non-zero
 * write to EOI or ESR faults), 10.12.1.3 (non-zero writes to reserved bits
 * fault), 10.12.2 (the MSRs fault when the APIC is not in x2APIC mode),
 * 10.12.5.1 (states EN/EXTD: 0/1 is invalid and a WRMSR that would enter it
 * faults; x2APIC -> xAPIC directly faults; x2APIC -> disabled is allowed;
 * disabled -> x2APIC faults; the switch from xAPIC mode keeps most
 * registers: not LDR, not a written APIC ID, not the ICR high half),
 * 10.12.8 and 2A CPUID leaf 0BH (EDX = x2APIC ID), 10.12.9 (ICR in
 * x2APIC mode: destination in bits 63:32, no delivery status; readable
 * for debugging only, so its value is not checked here), 10.12.10.2
 * (logical x2APIC ID = ID[19:4] << 16 | 1 << ID[3:0]), 10.12.11 (SELF IPI
 * register 83FH: vector in bits 7:0, write-only).
 */
#include "hvsim.h"

struct m { uint32_t msr; uint64_t val; };
static void do_rd(void *p) { struct m *m = p; m->val = rdmsr(m->msr); }
static void do_wr(void *p) { struct m *m = p; wrmsr(m->msr, m->val); }

/* True if RDMSR (or WRMSR of v) raised #GP(0). */
static bool rd_gp(uint32_t msr)
{
    struct m m = { msr, 0 };
    return hv_call_expect(13, do_rd, &m) && hv_last_ec == 0;
}
static bool wr_gp(uint32_t msr, uint64_t v)
{
    struct m m = { msr, v };
    return hv_call_expect(13, do_wr, &m) && hv_last_ec == 0;
}
static const char *gp(bool b) { return b ? "#GP(0)" : "NO FAULT"; }
static volatile uint32_t count[256];
static volatile uint32_t isr_seen[256], ppr_seen[256];

static bool on_irq(struct hv_frame *f)
{
    unsigned v = (unsigned)f->vector;
    count[v]++;
    isr_seen[v] = x2apic_vec_bit(APIC_ISR, v);
    ppr_seen[v] = (uint32_t)x2apic_read(APIC_PPR);
    x2apic_eoi();
    return true;
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    if (lp != 0)
        for (;;)
            __asm__ volatile("cli; hlt");
    hv_cpu_init();
    for (unsigned v = 0x40; v <= 0x43; v++)
        hv_set_handler(v, on_irq);

    uint32_t r[4];
    hv_cpuid(1, 0, r);
    unsigned initial_id = r[1] >> 24;
    hv_printf("CPUID.01H:ECX.x2APIC = %u\n", (r[2] >> 21) & 1);
    T_ASSERT(r[2] & CPUID1_ECX_X2APIC, "no x2APIC");
    hv_cpuid(0xB, 0, r);
    uint32_t leaf_b_id = r[3];

    /* xAPIC mode: the x2APIC MSRs do not exist. */
    bool g1 = rd_gp(X2APIC_MSR(APIC_ID)), g2 = rd_gp(X2APIC_MSR(APIC_SVR)), g3 = wr_gp(X2APIC_SELF_IPI, 0x40);
    hv_printf("xAPIC mode: RDMSR 0x802 (ID) %s, RDMSR 0x80f (SVR) %s, WRMSR 0x83f (SELF IPI) %s\n", gp(g1), gp(g2),
              gp(g3));
    T_CHECK(g1 && g2 && g3, "x2APIC MSRs usable in xAPIC mode");
    T_CHECK_EQ(count[0x40], 0);

    /* Set-up in xAPIC mode, through MMIO (the last MMIO accesses). */
    uint32_t xver = apic_read(APIC_VERSION);
    apic_write(APIC_SVR, SVR_ENABLE | 0xFF);
    apic_write(APIC_TPR, 0x20);
    apic_write(APIC_LDR, 0x80000000);

    /* EN = 0, EXTD = 1 is not a valid state. */
    uint64_t base = rdmsr(MSR_APIC_BASE);
    bool g_inv = wr_gp(MSR_APIC_BASE, (base & ~APIC_BASE_EN) | APIC_BASE_EXTD);
    hv_printf("IA32_APIC_BASE %#llx -> EN=0 EXTD=1 (invalid state): %s, unchanged: %s\n", (unsigned long long)base,
              gp(g_inv), hv_yn(rdmsr(MSR_APIC_BASE) == base));
    T_CHECK(g_inv, "EN=0 EXTD=1 accepted");
    T_CHECK_EQ(rdmsr(MSR_APIC_BASE), base);

    /* xAPIC -> x2APIC. */
    hv_mark(0x7E1);
    x2apic_enable();
    uint64_t base2 = rdmsr(MSR_APIC_BASE);
    hv_printf("EXTD set: IA32_APIC_BASE %#llx (EN=1 EXTD=1: x2APIC mode)\n", (unsigned long long)base2);
    T_CHECK_EQ(base2, base | APIC_BASE_EXTD);

    uint32_t x2id = (uint32_t)x2apic_read(APIC_ID);
    hv_printf("x2APIC ID (MSR 0x802) %u = CPUID.0BH:EDX %u = initial APIC ID %u\n", x2id, leaf_b_id, initial_id);
    T_CHECK_EQ(x2id, leaf_b_id);
    T_CHECK_EQ(x2id, initial_id);
    uint32_t ver = (uint32_t)x2apic_read(APIC_VERSION);
    hv_printf("version (MSR 0x803) the same as in xAPIC mode: %s\n", hv_yn(ver == xver));
    T_CHECK_EQ(ver, xver);
    uint32_t ldr = (uint32_t)x2apic_read(APIC_LDR);
    uint32_t want_ldr = ((x2id >> 4) << 16) | (1u << (x2id & 15));
    hv_printf("LDR (MSR 0x80d) %#x: cluster %u, bit %u, derived from the x2APIC ID (the xAPIC value not kept)\n", ldr,
              ldr >> 16, x2id & 15);
    T_CHECK_EQ(ldr, want_ldr);
    uint32_t svr = (uint32_t)x2apic_read(APIC_SVR), tpr = (uint32_t)x2apic_read(APIC_TPR),
             ppr = (uint32_t)x2apic_read(APIC_PPR);
    hv_printf("kept across the switch: SVR (MSR 0x80f) %#x, TPR (MSR 0x808) %#x; PPR (MSR 0x80a) %#x\n", svr, tpr, ppr);
    T_CHECK_EQ(svr, 0x1FF);
    T_CHECK_EQ(tpr, 0x20);
    T_CHECK_EQ(ppr, 0x20);

    /* #GP: read-only, write-only, absent registers; reserved bits. */
    bool ro_id = wr_gp(X2APIC_MSR(APIC_ID), 5), ro_ver = wr_gp(X2APIC_MSR(APIC_VERSION), 0),
         ro_ppr = wr_gp(X2APIC_MSR(APIC_PPR), 0), ro_ldr = wr_gp(X2APIC_MSR(APIC_LDR), 2),
         ro_irr = wr_gp(X2APIC_MSR(APIC_IRR), 0), ro_cct = wr_gp(X2APIC_MSR(APIC_TMCCT), 0);
    hv_printf("WRMSR to read-only registers: ID %s, version %s, PPR %s, LDR %s, IRR %s, current count %s\n",
              gp(ro_id), gp(ro_ver), gp(ro_ppr), gp(ro_ldr), gp(ro_irr), gp(ro_cct));
    T_CHECK(ro_id && ro_ver && ro_ppr && ro_ldr && ro_irr && ro_cct, "read-only register written");
    T_CHECK_EQ(x2apic_read(APIC_ID), x2id);
    T_CHECK_EQ(x2apic_read(APIC_LDR), want_ldr);
    bool wo_eoi = rd_gp(X2APIC_MSR(APIC_EOI)), wo_self = rd_gp(X2APIC_SELF_IPI);
    hv_printf("RDMSR of write-only registers: EOI %s, SELF IPI %s\n", gp(wo_eoi), gp(wo_self));
    T_CHECK(wo_eoi && wo_self, "write-only register read");
    bool no_dfr = rd_gp(0x80E), no_icr_hi = rd_gp(0x831), no_dfr_w = wr_gp(0x80E, 0xFFFFFFFF);
    hv_printf("no such register: RDMSR 0x80e (DFR) %s, RDMSR 0x831 (ICR high) %s, WRMSR 0x80e %s\n", gp(no_dfr),
              gp(no_icr_hi), gp(no_dfr_w));
    T_CHECK(no_dfr && no_icr_hi && no_dfr_w, "absent register accessed");
    bool rs_tpr = wr_gp(X2APIC_MSR(APIC_TPR), 0x120), rs_svr = wr_gp(X2APIC_MSR(APIC_SVR), 0x1FFull | 1ull << 32),
         rs_eoi = wr_gp(X2APIC_MSR(APIC_EOI), 1), rs_esr = wr_gp(X2APIC_MSR(APIC_ESR), 1),
         rs_self = wr_gp(X2APIC_SELF_IPI, 0x100);
    hv_printf("reserved bits: TPR 0x120 %s, SVR bit 32 %s, EOI 1 %s, ESR 1 %s, SELF IPI 0x100 %s; TPR still %#llx\n",
              gp(rs_tpr), gp(rs_svr), gp(rs_eoi), gp(rs_esr), gp(rs_self),
              (unsigned long long)x2apic_read(APIC_TPR));
    T_CHECK(rs_tpr && rs_svr && rs_eoi && rs_esr && rs_self, "reserved bits accepted");
    T_CHECK_EQ(x2apic_read(APIC_TPR), 0x20);
    T_CHECK_EQ(count[0x40], 0);

    x2apic_write(APIC_TPR, 0);
    sti();

    /* Self-IPI through the ICR (shorthand self). */
    hv_mark(0x7E2);
    x2apic_send_ipi(0, ICR_SH_SELF | ICR_ASSERT | ICR_FIXED | 0x40);
    T_WAIT(count[0x40] == 1, "0x40 through the ICR");
    hv_spin_cycles(1000000);
    bool icr_rd = !rd_gp(X2APIC_ICR);
    hv_printf("WRMSR 0x830 (ICR, self, fixed, vector 0x40): taken %u time(s); in the handler ISR bit %u, PPR %#x\n",
              count[0x40], isr_seen[0x40], ppr_seen[0x40]);
    hv_printf("RDMSR 0x830 (ICR): readable (%s)\n", icr_rd ? "no fault" : "#GP");
    T_CHECK_EQ(count[0x40], 1);
    T_CHECK(isr_seen[0x40] && ppr_seen[0x40] == 0x40, "ISR %u PPR %#x", isr_seen[0x40], ppr_seen[0x40]);
    T_CHECK(icr_rd, "RDMSR of the ICR faulted");
    bool clear = !x2apic_vec_bit(APIC_ISR, 0x40) && x2apic_read(APIC_PPR) == 0;
    hv_printf("after WRMSR 0x80b (EOI) = 0: ISR bit 0x40 clear and PPR 0: %s\n", hv_yn(clear));
    T_CHECK(clear, "EOI through MSR 0x80b");

    /* SELF IPI register. */
    hv_mark(0x7E3);
    wrmsr(X2APIC_SELF_IPI, 0x41);
    T_WAIT(count[0x41] == 1, "0x41 through SELF IPI");
    hv_spin_cycles(1000000);
    hv_printf("WRMSR 0x83f (SELF IPI) = 0x41: taken %u time(s)\n", count[0x41]);
    T_CHECK_EQ(count[0x41], 1);

    /* Physical destination = own x2APIC ID, 32-bit destination field. */
    hv_mark(0x7E4);
    x2apic_send_ipi(x2id, ICR_FIXED | ICR_PHYSICAL | ICR_ASSERT | 0x42);
    T_WAIT(count[0x42] == 1, "0x42 to own x2APIC ID");
    hv_spin_cycles(1000000);
    hv_printf("ICR physical destination %u (own x2APIC ID, bits 63:32), vector 0x42: taken %u time(s)\n", x2id,
              count[0x42]);
    T_CHECK_EQ(count[0x42], 1);

    /* Timer through MSRs 0x83e, 0x832, 0x838, 0x839. */
    x2apic_write(APIC_TDCR, apic_tdcr_for(1));
    x2apic_write(APIC_LVT_TIMER, LVT_TIMER_ONESHOT | 0x43);
    x2apic_write(APIC_TMICT, 20000);
    uint32_t c1 = (uint32_t)x2apic_read(APIC_TMCCT);
    hv_spin_cycles(100000);
    uint32_t c2 = (uint32_t)x2apic_read(APIC_TMCCT);
    T_WAIT(count[0x43] == 1, "the x2APIC one-shot timer");
    hv_spin_cycles(2000000);
    hv_printf("one-shot timer through MSRs: current count (0x839) decreasing: %s; interrupt 0x43 once: %s; "
              "current count then %llu\n", hv_yn(c2 < c1 && c1 <= 20000), hv_yn(count[0x43] == 1),
              (unsigned long long)x2apic_read(APIC_TMCCT));
    T_CHECK(c2 < c1 && c1 <= 20000, "current count %u then %u", c1, c2);
    T_CHECK_EQ(count[0x43], 1);
    T_CHECK_EQ(x2apic_read(APIC_TMCCT), 0);
    cli();

    /* Leaving x2APIC mode. */
    bool to_x = wr_gp(MSR_APIC_BASE, base2 & ~APIC_BASE_EXTD);
    hv_printf("x2APIC -> xAPIC (EXTD=0, EN=1): %s, still x2APIC: %s\n", gp(to_x),
              hv_yn(rdmsr(MSR_APIC_BASE) == base2));
    T_CHECK(to_x, "x2APIC -> xAPIC accepted");
    T_CHECK_EQ(rdmsr(MSR_APIC_BASE), base2);
    hv_mark(0x7E5);
    wrmsr(MSR_APIC_BASE, base2 & ~(APIC_BASE_EXTD | APIC_BASE_EN));
    uint64_t base3 = rdmsr(MSR_APIC_BASE);
    bool gone = rd_gp(X2APIC_MSR(APIC_ID));
    bool to_x2 = wr_gp(MSR_APIC_BASE, base3 | APIC_BASE_EN | APIC_BASE_EXTD);
    hv_printf("x2APIC -> disabled (EN=0, EXTD=0): accepted, IA32_APIC_BASE %#llx; RDMSR 0x802 then %s; "
              "disabled -> x2APIC directly: %s\n", (unsigned long long)base3, gp(gone), gp(to_x2));
    T_CHECK_EQ(base3, base2 & ~(APIC_BASE_EXTD | APIC_BASE_EN));
    T_CHECK(gone, "x2APIC MSR readable with the APIC disabled");
    T_CHECK(to_x2, "disabled -> x2APIC accepted");
    T_CHECK_EQ(rdmsr(MSR_APIC_BASE), base3);
    T_DONE();
}
