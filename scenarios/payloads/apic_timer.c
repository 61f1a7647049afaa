/*
 * apic_timer — the local APIC timer in one-shot and periodic mode (one LP,
 * xAPIC): count-down, one interrupt per one-shot and a current count of 0
 * afterwards, periodic reload, the timer's rate against the TSC (CPUID.15H),
 * the divide configuration, a masked LVT, re-writing and zeroing the
 * initial count.
 *
 * Durations are measured with RDTSC from the initial-count write to the
 * handler and compared with count x divisor x (TSC / crystal clock) from
 * CPUID.15H; only comparisons with a tolerance are printed, never cycle
 * counts.
 *
 * SDM 3A 10.5.4 (the timer counts down from the initial count at the bus
 * or core crystal clock divided by the divide configuration; one-shot: one
 * interrupt when it reaches 0, where it stays; periodic: reloaded from the
 * initial count; writing the initial count restarts the count-down; a
 * write of 0 stops the timer in both modes; the current count is
 * read-only), Figure 10-10 (divide configuration bits 3, 1, 0: 1011b = 1,
 * 0000b = 2, 0001b = 4), 10.5.1 (LVT timer: mode bits 18:17, mask bit
 * 16), 2A CPUID leaf 15H (TSC / core crystal clock ratio).
 */
#include "hvsim.h"

#define V_ONESHOT  0x60
#define V_PERIODIC 0x61
#define V_DIV1     0x62
#define V_DIV2     0x63
#define V_DIV4     0x64
#define V_MASKED   0x65
#define V_RESTART  0x66
#define V_STOP     0x67
#define NPERIODS   5

static volatile uint32_t count[256];
static volatile uint64_t irq_tsc[256];
static volatile uint64_t period_tsc[NPERIODS + 1];
static volatile uint32_t period_cur[NPERIODS + 1];

static bool on_timer(struct hv_frame *f)
{
    unsigned v = (unsigned)f->vector;
    uint64_t now = rdtsc();
    uint32_t n = ++count[v];
    irq_tsc[v] = now;
    if (v == V_PERIODIC && n <= NPERIODS) {
        period_tsc[n] = now;
        period_cur[n] = apic_read(APIC_TMCCT);
        if (n == NPERIODS)
            apic_timer_stop();
    }
    apic_eoi();
    return true;
}

static uint64_t ratio;                      /* TSC cycles per timer tick at divide-by-1 */

/* |measured - expected| <= expected * pct / 100 */
static bool within(uint64_t measured, uint64_t expected, unsigned pct)
{
    uint64_t d = measured > expected ? measured - expected : expected - measured;
    return d * 100 <= expected * pct;
}

/* One-shot at divide `div`: TSC cycles from the start to the interrupt. */
static uint64_t oneshot_cycles(unsigned v, unsigned div, uint32_t initial)
{
    apic_write(APIC_TDCR, apic_tdcr_for(div));
    apic_write(APIC_LVT_TIMER, LVT_TIMER_ONESHOT | v);
    uint64_t t0 = rdtsc();
    apic_write(APIC_TMICT, initial);
    T_WAIT(count[v] == 1, "one-shot %#x", v);
    return irq_tsc[v] - t0;
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    if (lp != 0)
        for (;;)
            __asm__ volatile("cli; hlt");
    hv_cpu_init();
    for (unsigned v = V_ONESHOT; v <= V_STOP; v++)
        hv_set_handler(v, on_timer);
    ratio = apic_tsc_per_tick();
    hv_printf("CPUID.15H: the timer's crystal clock ticks once per %llu TSC cycles\n", (unsigned long long)ratio);
    T_ASSERT(ratio != 0, "CPUID.15H does not give the TSC / crystal ratio");
    apic_sw_enable(0xFF);
    sti();

    /* Divide configuration is read/write (bits 3, 1, 0). */
    apic_write(APIC_TDCR, 0xB);
    uint32_t tdcr = apic_read(APIC_TDCR);
    hv_printf("divide configuration written 0xb (divide by 1) reads %#x\n", tdcr);
    T_CHECK_EQ(tdcr, 0xB);

    /* One-shot. */
    const uint32_t c1 = 20000;
    uint64_t e1 = (uint64_t)c1 * ratio;
    apic_write(APIC_LVT_TIMER, LVT_TIMER_ONESHOT | V_ONESHOT);
    uint64_t t0 = rdtsc();
    apic_write(APIC_TMICT, c1);
    uint32_t cc1 = apic_read(APIC_TMCCT);
    hv_spin_cycles(e1 / 4);
    uint32_t cc2 = apic_read(APIC_TMCCT);
    uint32_t ict = apic_read(APIC_TMICT);
    hv_printf("one-shot, divide by 1, initial count %u: current count decreasing (%s), below the initial count (%s), "
              "initial count reads back: %s\n", c1, hv_yn(cc2 < cc1), hv_yn(cc1 <= c1 && cc2 < c1), hv_yn(ict == c1));
    T_CHECK(cc2 < cc1 && cc1 <= c1, "current count %u then %u", cc1, cc2);
    T_CHECK_EQ(ict, c1);
    T_WAIT(count[V_ONESHOT] == 1, "the one-shot interrupt");
    uint64_t d1 = irq_tsc[V_ONESHOT] - t0;
    hv_printf("one-shot: interrupt %#x after %u ticks x %llu TSC cycles, within 5%%: %s\n", V_ONESHOT, c1,
              (unsigned long long)ratio, hv_yn(within(d1, e1, 5)));
    T_CHECK(within(d1, e1, 5), "one-shot took %llu TSC cycles, expected %llu", (unsigned long long)d1,
            (unsigned long long)e1);
    hv_spin_cycles(2 * e1);
    hv_printf("one-shot: current count %u after it fired; interrupts in 2 more periods: %u\n",
              apic_read(APIC_TMCCT), count[V_ONESHOT] - 1);
    T_CHECK_EQ(apic_read(APIC_TMCCT), 0);
    T_CHECK_EQ(count[V_ONESHOT], 1);

    /* Periodic: reloads; initial count 0 (written in the 5th handler) stops it. */
    const uint32_t c2 = 10000;
    uint64_t e2 = (uint64_t)c2 * ratio;
    apic_write(APIC_LVT_TIMER, LVT_TIMER_PERIODIC | V_PERIODIC);
    period_tsc[0] = rdtsc();
    apic_write(APIC_TMICT, c2);
    T_WAIT(count[V_PERIODIC] == NPERIODS, "%u periodic interrupts", NPERIODS);
    bool periods_ok = true, reload_ok = true;
    for (unsigned i = 1; i <= NPERIODS; i++) {
        uint64_t d = period_tsc[i] - period_tsc[i - 1];
        if (!within(d, e2, 5)) {
            hv_printf("FAIL: period %u took %llu TSC cycles, expected %llu\n", i, (unsigned long long)d,
                      (unsigned long long)e2);
            periods_ok = false;
        }
        if (i < NPERIODS && (period_cur[i] == 0 || period_cur[i] > c2))
            reload_ok = false;
    }
    hv_spin_cycles(3 * e2);
    hv_printf("periodic, initial count %u: %u interrupts, each period %u ticks within 5%%: %s\n", c2,
              count[V_PERIODIC], c2, hv_yn(periods_ok));
    hv_printf("periodic: current count reloaded after each interrupt (non-zero, <= initial count): %s\n",
              hv_yn(reload_ok));
    hv_printf("periodic: initial count 0 written in the 5th handler stops it: interrupts in 3 more periods: %u, "
              "current count %u\n", count[V_PERIODIC] - NPERIODS, apic_read(APIC_TMCCT));
    T_CHECK(periods_ok, "periods");
    T_CHECK(reload_ok, "reload");
    T_CHECK_EQ(count[V_PERIODIC], NPERIODS);
    T_CHECK_EQ(apic_read(APIC_TMCCT), 0);

    /* Divide configuration: 2 and 4 against 1. */
    const uint32_t c3 = 10000;
    uint64_t d_1 = oneshot_cycles(V_DIV1, 1, c3);
    uint64_t d_2 = oneshot_cycles(V_DIV2, 2, c3);
    uint32_t tdcr2 = apic_read(APIC_TDCR);
    uint64_t d_4 = oneshot_cycles(V_DIV4, 4, c3);
    uint32_t tdcr4 = apic_read(APIC_TDCR);
    hv_printf("divide configuration 0x%x (divide by 2): 2x as long as divide by 1, within 5%%: %s; 0x%x (divide by 4): "
              "4x: %s\n", tdcr2, hv_yn(within(d_2, 2 * d_1, 5)), tdcr4, hv_yn(within(d_4, 4 * d_1, 5)));
    T_CHECK_EQ(tdcr2, 0x0);
    T_CHECK_EQ(tdcr4, 0x1);
    T_CHECK(within(d_2, 2 * d_1, 5) && within(d_4, 4 * d_1, 5), "divide by 1/2/4: %llu %llu %llu",
            (unsigned long long)d_1, (unsigned long long)d_2, (unsigned long long)d_4);
    T_CHECK(within(d_1, (uint64_t)c3 * ratio, 5), "divide by 1 took %llu", (unsigned long long)d_1);

    /* Masked LVT: counts to 0, delivers nothing. */
    apic_write(APIC_TDCR, apic_tdcr_for(1));
    apic_write(APIC_LVT_TIMER, LVT_MASKED | LVT_TIMER_ONESHOT | V_MASKED);
    hv_mark(0x7B1);
    apic_write(APIC_TMICT, c3);
    T_WAIT(apic_read(APIC_TMCCT) == 0, "the masked timer to count down");
    hv_spin_cycles((uint64_t)c3 * ratio);
    hv_mark(0x7B2);
    hv_printf("masked LVT timer: counted down to 0, interrupts: %u, IRR bit %#x set: %s\n", count[V_MASKED], V_MASKED,
              hv_yn(apic_irr(V_MASKED)));
    T_CHECK_EQ(count[V_MASKED], 0);
    T_CHECK(!apic_irr(V_MASKED), "IRR bit of the masked vector set");

    /* Re-writing the initial count restarts the count-down. */
    apic_write(APIC_LVT_TIMER, LVT_TIMER_ONESHOT | V_RESTART);
    t0 = rdtsc();
    apic_write(APIC_TMICT, c1);
    hv_spin_cycles(e1 / 2);
    uint64_t t_rw = rdtsc();
    apic_write(APIC_TMICT, c1);
    T_WAIT(count[V_RESTART] == 1, "the restarted one-shot");
    uint64_t since_rw = irq_tsc[V_RESTART] - t_rw, since_start = irq_tsc[V_RESTART] - t0;
    hv_spin_cycles(e1);
    hv_printf("initial count re-written halfway: one interrupt (%u), none at the first expiry (%s), %u ticks after "
              "the re-write within 5%%: %s\n", count[V_RESTART], hv_yn(since_start > e1), c1, hv_yn(within(since_rw, e1, 5)));
    T_CHECK_EQ(count[V_RESTART], 1);
    T_CHECK(since_start > e1, "fired %llu TSC cycles after the first write", (unsigned long long)since_start);
    T_CHECK(within(since_rw, e1, 5), "restart: %llu TSC cycles after the re-write", (unsigned long long)since_rw);

    /* Writing 0 stops it before it fires. */
    apic_write(APIC_LVT_TIMER, LVT_TIMER_ONESHOT | V_STOP);
    apic_write(APIC_TMICT, c1);
    hv_spin_cycles(e1 / 4);
    hv_mark(0x7B3);
    apic_timer_stop();
    uint32_t cc_stop = apic_read(APIC_TMCCT);
    hv_spin_cycles(2 * e1);
    hv_mark(0x7B4);
    hv_printf("initial count 0 written before expiry: current count %u, interrupts: %u\n", cc_stop, count[V_STOP]);
    T_CHECK_EQ(cc_stop, 0);
    T_CHECK_EQ(count[V_STOP], 0);
    cli();
    T_DONE();
}
