/*
 * apic_regs — the local APIC's registers at power-up, their read-only and
 * reserved bits, software enable/disable through the SVR, and the CR8/TPR
 * link (xAPIC mode; LP 0 reports, other LPs park).
 *
 * SDM 3A 10.4.2 (CPUID.01H:EDX[9]: an on-chip APIC), 10.4.4 and Figure 10-5
 * (IA32_APIC_BASE: base FEE00000H, EN bit 11, BSP bit 8), 10.4.6 (xAPIC ID
 * in bits 31:24; CPUID.01H:EBX[31:24] is the initial APIC ID), 10.4.8
 * (version register: 1XH is an integrated APIC, bits 23:16 are the number
 * of LVT entries minus 1), 10.4.7.1 (power-up/reset: IRR, ISR, TMR, ICR,
 * LDR, TPR, initial and current count, divide configuration 0; DFR all
 * 1s; LVT entries 0 except the mask bit; SVR 000000FFH), 10.4.3 and
 * 10.4.7.2 (SVR bit 8 = 0 is the software-disabled state: all LVT mask bits
 * set, writes cannot clear them), 10.9 and Figure 10-23 (SVR: vector 7:0,
 * APIC software enable bit 8), 10.6.2.2 and Figure 10-14 (DFR bits 27:0
 * reserved, all 1s), Table 10-1 (version, PPR and current count are
 * read-only), 10.5.3 (ESR: write, then read), 10.8.6.1 (MOV to CR8 sets
 * TPR[7:4] = CR8[3:0] and TPR[3:0] = 0; MOV from CR8 returns TPR[7:4]).
 *
 * Only facts that hold on any processor with an integrated xAPIC after
 * reset are printed (the version is reported as "1X", the LVT count as a
 * lower bound).
 */
#include "hvsim.h"

struct reset_reg { const char *name; uint32_t off, value; };

/* SDM 3A 10.4.7.1, in Table 10-1 order. */
static const struct reset_reg reset_regs[] = {
    { "TPR", APIC_TPR, 0 },
    { "PPR", APIC_PPR, 0 },
    { "LDR", APIC_LDR, 0 },
    { "DFR", APIC_DFR, 0xFFFFFFFF },
    { "SVR", APIC_SVR, 0xFF },
    { "ICR high", APIC_ICR_HI, 0 },
    { "ICR low", APIC_ICR_LO, 0 },
    { "LVT timer", APIC_LVT_TIMER, LVT_RESET },
    { "LVT LINT0", APIC_LVT_LINT0, LVT_RESET },
    { "LVT LINT1", APIC_LVT_LINT1, LVT_RESET },
    { "LVT error", APIC_LVT_ERROR, LVT_RESET },
    { "initial count", APIC_TMICT, 0 },
    { "current count", APIC_TMCCT, 0 },
    { "divide configuration", APIC_TDCR, 0 },
};

static void park(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    if (lp != 0)
        park();
    hv_cpu_init();

    uint32_t r[4];
    hv_cpuid(1, 0, r);
    unsigned initial_id = r[1] >> 24;
    hv_printf("CPUID.01H: EDX.APIC=%u ECX.x2APIC=%u ECX.TSC-deadline=%u\n", (r[3] >> 9) & 1, (r[2] >> 21) & 1,
              (r[2] >> 24) & 1);
    T_ASSERT(r[3] & CPUID1_EDX_APIC, "no local APIC");

    uint64_t base = rdmsr(MSR_APIC_BASE);
    hv_printf("IA32_APIC_BASE: base %#llx, EN=%llu, BSP=%llu, EXTD=%llu\n",
              (unsigned long long)(base & APIC_BASE_ADDR_MASK), (unsigned long long)(base >> 11) & 1,
              (unsigned long long)(base >> 8) & 1, (unsigned long long)(base >> 10) & 1);
    T_CHECK_EQ(base & APIC_BASE_ADDR_MASK, APIC_DEFAULT_BASE);
    T_CHECK_EQ(base & (APIC_BASE_EN | APIC_BASE_BSP | APIC_BASE_EXTD), APIC_BASE_EN | APIC_BASE_BSP);

    uint32_t id = apic_read(APIC_ID);
    hv_printf("APIC ID register: bits 31:24 = %u = CPUID.01H:EBX[31:24], bits 23:0 = %#x\n", id >> 24,
              id & 0xFFFFFF);
    T_CHECK_EQ(id >> 24, initial_id);

    uint32_t ver = apic_read(APIC_VERSION);
    unsigned max_lvt = (ver >> 16) & 0xFF;
    hv_printf("version register: %s APIC (version 0x1X), max LVT entry %s 3\n",
              (ver & 0xF0) == 0x10 ? "integrated" : "NOT an integrated", max_lvt >= 3 ? ">=" : "<");
    T_CHECK_EQ(ver & 0xF0, 0x10);
    T_CHECK(max_lvt >= 3, "max LVT entry %u: timer, LINT0, LINT1 and error need 4 entries", max_lvt);

    /* Power-up values, one line per register. */
    for (unsigned i = 0; i < sizeof(reset_regs) / sizeof(reset_regs[0]); i++) {
        const struct reset_reg *g = &reset_regs[i];
        uint32_t v = apic_read(g->off);
        hv_printf("reset: %-21s %#x\n", g->name, v);
        T_CHECK(v == g->value, "%s = %#x, expected %#x", g->name, v, g->value);
    }
    bool isr0 = apic_vec_all_clear(APIC_ISR), tmr0 = apic_vec_all_clear(APIC_TMR),
         irr0 = apic_vec_all_clear(APIC_IRR);
    hv_printf("reset: ISR, TMR and IRR all 0: %s, %s, %s\n", isr0 ? "yes" : "no", tmr0 ? "yes" : "no",
              irr0 ? "yes" : "no");
    T_CHECK(isr0 && tmr0 && irr0, "256-bit registers not clear");
    uint32_t esr = apic_esr();
    hv_printf("reset: ESR (after a write) %#x\n", esr);
    T_CHECK_EQ(esr, 0);
    hv_printf("reset: SVR bit 8 = 0: the APIC is software-disabled\n");

    /* Read-only registers (Table 10-1): writes change nothing. */
    apic_write(APIC_VERSION, ~ver);
    apic_write(APIC_PPR, 0xF0);
    apic_write(APIC_TMCCT, 0x1234);
    bool ro = apic_read(APIC_VERSION) == ver && apic_read(APIC_PPR) == 0 && apic_read(APIC_TMCCT) == 0;
    hv_printf("read-only: writes to version, PPR and current count leave them unchanged: %s\n", ro ? "yes" : "no");
    T_CHECK(ro, "a read-only register changed");

    /* DFR: only the model (31:28) is writable; 27:0 read as 1s. */
    apic_write(APIC_DFR, 0);
    uint32_t dfr = apic_read(APIC_DFR);
    apic_write(APIC_DFR, 0xFFFFFFFF);
    hv_printf("DFR written 0 (cluster model) reads %#x: bits 27:0 reserved, read as 1s\n", dfr);
    T_CHECK_EQ(dfr, 0x0FFFFFFF);
    /* LDR: the logical APIC ID (31:24) is read/write. */
    apic_write(APIC_LDR, 0x5A000000);
    uint32_t ldr = apic_read(APIC_LDR);
    apic_write(APIC_LDR, 0);
    hv_printf("LDR written 0x5a000000 reads %#x\n", ldr);
    T_CHECK_EQ(ldr, 0x5A000000);

    /* Software-disabled: the LVT mask bits stay set. */
    apic_write(APIC_LVT_TIMER, 0x30);
    uint32_t lvt_dis = apic_read(APIC_LVT_TIMER);
    hv_printf("software-disabled: LVT timer written 0x30 reads %#x (the mask bit stays set)\n", lvt_dis);
    T_CHECK_EQ(lvt_dis, LVT_MASKED | 0x30);

    /* Software enable; all eight vector bits of the SVR are writable. */
    apic_write(APIC_SVR, SVR_ENABLE | 0xF0);
    uint32_t svr = apic_read(APIC_SVR);
    uint32_t lvt_kept = apic_read(APIC_LVT_TIMER);
    hv_printf("SVR written 0x1f0 reads %#x: software-enabled; LVT timer still %#x\n", svr, lvt_kept);
    T_CHECK_EQ(svr, 0x1F0);
    T_CHECK_EQ(lvt_kept, LVT_MASKED | 0x30);
    apic_write(APIC_LVT_TIMER, 0x30);
    uint32_t lvt_en = apic_read(APIC_LVT_TIMER);
    apic_write(APIC_LVT_LINT0, 0x31);
    uint32_t lint0_en = apic_read(APIC_LVT_LINT0);
    hv_printf("software-enabled: LVT timer written 0x30 reads %#x, LINT0 written 0x31 reads %#x\n", lvt_en,
              lint0_en);
    T_CHECK_EQ(lvt_en, 0x30);
    T_CHECK_EQ(lint0_en, 0x31);

    /* Software disable sets every LVT mask bit. */
    apic_write(APIC_SVR, 0xFF);
    uint32_t lvt_off = apic_read(APIC_LVT_TIMER), lint0_off = apic_read(APIC_LVT_LINT0);
    hv_printf("SVR bit 8 cleared: LVT timer reads %#x, LINT0 reads %#x (mask bits set)\n", lvt_off, lint0_off);
    T_CHECK_EQ(lvt_off, LVT_MASKED | 0x30);
    T_CHECK_EQ(lint0_off, LVT_MASKED | 0x31);

    /* CR8 is the TPR's priority class (64-bit mode). */
    apic_write(APIC_SVR, SVR_ENABLE | 0xFF);
    apic_write(APIC_TPR, 0x35);
    uint64_t cr8 = read_cr8();
    write_cr8(6);
    uint32_t tpr = apic_read(APIC_TPR);
    write_cr8(0);
    uint32_t tpr0 = apic_read(APIC_TPR);
    hv_printf("TPR 0x35 -> CR8 reads %llu; CR8 = 6 -> TPR reads %#x; CR8 = 0 -> TPR reads %#x\n",
              (unsigned long long)cr8, tpr, tpr0);
    T_CHECK_EQ(cr8, 3);
    T_CHECK_EQ(tpr, 0x60);
    T_CHECK_EQ(tpr0, 0);
    T_DONE();
}
