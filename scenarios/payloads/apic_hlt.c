/*
 * apic_hlt — HLT ended by the local APIC timer (one LP, xAPIC): STI; HLT
 * with a one-shot timer armed and with a TSC deadline armed; the interrupt
 * ends the HLT state no earlier than the timer expires, and its saved RIP
 * is the instruction after HLT.
 *
 * SDM 2A HLT ("An enabled interrupt ... will resume execution"; after the
 * handler, execution continues with the instruction following HLT), 2B STI
 * (interrupts are recognized after the instruction following STI, so STI;
 * HLT cannot lose a wake-up), 3A 10.5.4 (one-shot timer), 10.5.4.1
 * (TSC-deadline mode: the interrupt comes when the TSC >= the deadline).
 */
#include "hvsim.h"

static volatile uint32_t count[256];
static volatile uint64_t irq_tsc[256], saved_rip[256];

static bool on_timer(struct hv_frame *f)
{
    unsigned v = (unsigned)f->vector;
    irq_tsc[v] = rdtsc();
    saved_rip[v] = f->rip;
    count[v]++;
    apic_eoi();
    return true;
}

void x_sti_hlt(void);
extern char x_sti_hlt_after[];
__asm__(".pushsection .text\n"
        ".globl x_sti_hlt, x_sti_hlt_after\n"
        "x_sti_hlt:       sti\n"
        "                 hlt\n"
        "x_sti_hlt_after: cli\n"
        "                 ret\n"
        ".popsection\n");

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    if (lp != 0)
        for (;;)
            __asm__ volatile("cli; hlt");
    hv_cpu_init();
    hv_set_handler(0x90, on_timer);
    hv_set_handler(0x91, on_timer);
    uint64_t ratio = apic_tsc_per_tick();
    T_ASSERT(ratio != 0, "CPUID.15H does not give the TSC / crystal ratio");
    apic_sw_enable(0xFF);

    /* One-shot timer. */
    const uint32_t c = 50000;
    uint64_t e = (uint64_t)c * ratio;
    apic_write(APIC_TDCR, apic_tdcr_for(1));
    apic_write(APIC_LVT_TIMER, LVT_TIMER_ONESHOT | 0x90);
    hv_mark(0x7D1);
    uint64_t t0 = rdtsc();
    apic_write(APIC_TMICT, c);
    x_sti_hlt();
    uint64_t t1 = rdtsc();
    bool rip = saved_rip[0x90] == (uint64_t)(uintptr_t)x_sti_hlt_after;
    hv_printf("one-shot timer (%u ticks), STI; HLT: ended by interrupt 0x90 (%u), saved RIP after HLT: %s, "
              "not before the timer expired: %s\n", c, count[0x90], hv_yn(rip), hv_yn(t1 - t0 >= e - e / 20));
    T_CHECK_EQ(count[0x90], 1);
    T_CHECK(rip, "saved RIP %#llx", (unsigned long long)saved_rip[0x90]);
    T_CHECK(t1 - t0 >= e - e / 20, "HLT left after %llu TSC cycles, the timer needs %llu", (unsigned long long)(t1 - t0),
            (unsigned long long)e);

    /* TSC deadline. */
    uint32_t r[4];
    hv_cpuid(1, 0, r);
    T_ASSERT(r[2] & CPUID1_ECX_TSC_DEADLINE, "no TSC-deadline mode");
    apic_timer_deadline_mode(0x91);
    hv_mark(0x7D2);
    uint64_t dl = rdtsc() + 4000000;
    wrmsr(MSR_TSC_DEADLINE, dl);
    x_sti_hlt();
    rip = saved_rip[0x91] == (uint64_t)(uintptr_t)x_sti_hlt_after;
    hv_printf("TSC deadline, STI; HLT: ended by interrupt 0x91 (%u), saved RIP after HLT: %s, TSC >= deadline in the "
              "handler: %s\n", count[0x91], hv_yn(rip), hv_yn(irq_tsc[0x91] >= dl));
    T_CHECK_EQ(count[0x91], 1);
    T_CHECK(rip, "saved RIP %#llx", (unsigned long long)saved_rip[0x91]);
    T_CHECK(irq_tsc[0x91] >= dl, "woken before the deadline");
    T_DONE();
}
