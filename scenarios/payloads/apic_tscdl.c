/*
 * apic_tscdl — the local APIC timer's TSC-deadline mode (one LP, xAPIC):
 * IA32_TSC_DEADLINE ignored outside the mode, the initial/current count
 * inside it, arming, one interrupt at TSC >= deadline after which the MSR
 * reads 0, disarming with 0, moving the deadline later and earlier, a
 * deadline already passed, and a mode change disarming the timer.
 *
 * SDM 3A 10.5.4.1 (CPUID.01H:ECX[24]; LVT timer mode 10b; a write to the
 * LVT timer that changes the mode disarms the timer; in TSC-deadline mode
 * initial-count writes are ignored and the current count reads 0; writing
 * a non-zero value to IA32_TSC_DEADLINE (6E0H) arms the timer, which
 * interrupts when the TSC is greater than or equal to it, then disarms
 * itself and clears the MSR; writing 0 disarms; the deadline may be moved
 * forward or backward while armed; in the other modes the MSR reads 0 and
 * writes are ignored; in xAPIC mode an MFENCE orders the LVT write before
 * the WRMSR).
 */
#include "hvsim.h"

#define D 1000000ull                    /* TSC cycles: 0.5 ms at 2 GHz */

static volatile uint32_t count[256];
static volatile uint64_t irq_tsc[256];

static bool on_timer(struct hv_frame *f)
{
    unsigned v = (unsigned)f->vector;
    irq_tsc[v] = rdtsc();
    count[v]++;
    apic_eoi();
    return true;
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    if (lp != 0)
        for (;;)
            __asm__ volatile("cli; hlt");
    hv_cpu_init();
    for (unsigned v = 0x70; v <= 0x77; v++)
        hv_set_handler(v, on_timer);
    uint32_t r[4];
    hv_cpuid(1, 0, r);
    hv_printf("CPUID.01H:ECX.TSC-deadline = %u\n", (r[2] >> 24) & 1);
    T_ASSERT(r[2] & CPUID1_ECX_TSC_DEADLINE, "no TSC-deadline mode");
    apic_sw_enable(0xFF);
    sti();

    /* One-shot mode: the MSR ignores writes and reads 0. */
    apic_write(APIC_LVT_TIMER, LVT_TIMER_ONESHOT | 0x70);
    hv_mark(0x7C1);
    wrmsr(MSR_TSC_DEADLINE, rdtsc() + D);
    uint64_t v_os = rdmsr(MSR_TSC_DEADLINE);
    hv_spin_cycles(3 * D);
    hv_mark(0x7C2);
    hv_printf("one-shot mode: WRMSR IA32_TSC_DEADLINE ignored: reads %#llx, interrupts: %u\n",
              (unsigned long long)v_os, count[0x70]);
    T_CHECK_EQ(v_os, 0);
    T_CHECK_EQ(count[0x70], 0);

    /* TSC-deadline mode: initial count ignored, current count 0. */
    apic_timer_deadline_mode(0x71);
    uint64_t v_reset = rdmsr(MSR_TSC_DEADLINE);
    apic_write(APIC_TMICT, 12345);
    uint32_t ict = apic_read(APIC_TMICT), cct = apic_read(APIC_TMCCT);
    hv_printf("TSC-deadline mode (LVT timer %#x): IA32_TSC_DEADLINE %#llx before arming; initial count write "
              "ignored (reads %u), current count %u\n", apic_read(APIC_LVT_TIMER), (unsigned long long)v_reset, ict,
              cct);
    T_CHECK_EQ(v_reset, 0);
    T_CHECK_EQ(ict, 0);
    T_CHECK_EQ(cct, 0);

    /* Arm, fire once, MSR cleared. */
    uint64_t dl = rdtsc() + D;
    wrmsr(MSR_TSC_DEADLINE, dl);
    uint64_t armed = rdmsr(MSR_TSC_DEADLINE);
    T_WAIT(count[0x71] == 1, "the deadline interrupt");
    uint64_t after = rdmsr(MSR_TSC_DEADLINE);
    hv_spin_cycles(2 * D);
    hv_printf("armed at TSC + %llu: reads back the deadline: %s; interrupt 0x71 with TSC >= deadline: %s; "
              "IA32_TSC_DEADLINE then %#llx; interrupts in total: %u\n", D, hv_yn(armed == dl),
              hv_yn(irq_tsc[0x71] >= dl), (unsigned long long)after, count[0x71]);
    T_CHECK_EQ(armed, dl);
    T_CHECK(irq_tsc[0x71] >= dl, "fired before the deadline");
    T_CHECK_EQ(after, 0);
    T_CHECK_EQ(count[0x71], 1);

    /* Writing 0 disarms. */
    apic_timer_deadline_mode(0x72);
    wrmsr(MSR_TSC_DEADLINE, rdtsc() + D);
    hv_mark(0x7C3);
    wrmsr(MSR_TSC_DEADLINE, 0);
    hv_spin_cycles(3 * D);
    hv_mark(0x7C4);
    hv_printf("armed, then 0 written: interrupts in 3 intervals: %u, IA32_TSC_DEADLINE %#llx\n", count[0x72],
              (unsigned long long)rdmsr(MSR_TSC_DEADLINE));
    T_CHECK_EQ(count[0x72], 0);
    T_CHECK_EQ(rdmsr(MSR_TSC_DEADLINE), 0);

    /* Moved later before it expires. */
    apic_timer_deadline_mode(0x73);
    uint64_t now = rdtsc();
    wrmsr(MSR_TSC_DEADLINE, now + D);
    uint64_t dl2 = now + 3 * D;
    wrmsr(MSR_TSC_DEADLINE, dl2);
    T_WAIT(count[0x73] == 1, "the postponed deadline");
    hv_spin_cycles(2 * D);
    hv_printf("deadline moved later before it expired: interrupts %u, at TSC >= the new deadline: %s\n", count[0x73],
              hv_yn(irq_tsc[0x73] >= dl2));
    T_CHECK_EQ(count[0x73], 1);
    T_CHECK(irq_tsc[0x73] >= dl2, "fired at the old deadline");

    /* Moved earlier. */
    apic_timer_deadline_mode(0x74);
    now = rdtsc();
    uint64_t far = now + 20 * D, near = now + D;
    wrmsr(MSR_TSC_DEADLINE, far);
    wrmsr(MSR_TSC_DEADLINE, near);
    T_WAIT(count[0x74] == 1, "the advanced deadline");
    hv_printf("deadline moved earlier: interrupt at TSC >= the new deadline: %s, before the old one: %s\n",
              hv_yn(irq_tsc[0x74] >= near), hv_yn(irq_tsc[0x74] < far));
    T_CHECK(irq_tsc[0x74] >= near && irq_tsc[0x74] < far, "advanced deadline");

    /* Already passed: fires at once. */
    apic_timer_deadline_mode(0x75);
    uint64_t t0 = rdtsc();
    wrmsr(MSR_TSC_DEADLINE, 1);
    bool prompt = HV_WAIT(count[0x75] == 1, D / 10);
    hv_printf("deadline 1 (already passed): interrupt within %llu TSC cycles: %s, IA32_TSC_DEADLINE then %#llx\n",
              D / 10, hv_yn(prompt), (unsigned long long)rdmsr(MSR_TSC_DEADLINE));
    T_CHECK(prompt, "no prompt interrupt (%u after %llu cycles)", count[0x75], (unsigned long long)(rdtsc() - t0));
    T_CHECK_EQ(rdmsr(MSR_TSC_DEADLINE), 0);

    /* Changing the LVT timer mode disarms. */
    apic_timer_deadline_mode(0x76);
    wrmsr(MSR_TSC_DEADLINE, rdtsc() + D);
    hv_mark(0x7C5);
    apic_write(APIC_LVT_TIMER, LVT_TIMER_ONESHOT | 0x76);
    hv_spin_cycles(3 * D);
    uint64_t v_mode = rdmsr(MSR_TSC_DEADLINE);
    apic_timer_deadline_mode(0x77);
    uint64_t v_back = rdmsr(MSR_TSC_DEADLINE);
    hv_spin_cycles(2 * D);
    hv_mark(0x7C6);
    hv_printf("armed, then LVT timer switched to one-shot: interrupts %u; IA32_TSC_DEADLINE %#llx, and %#llx back in "
              "TSC-deadline mode (no interrupt: %s)\n", count[0x76], (unsigned long long)v_mode,
              (unsigned long long)v_back, hv_yn(count[0x77] == 0));
    T_CHECK_EQ(count[0x76], 0);
    T_CHECK_EQ(v_mode, 0);
    T_CHECK_EQ(v_back, 0);
    T_CHECK_EQ(count[0x77], 0);
    cli();
    T_DONE();
}
