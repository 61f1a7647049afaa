/*
 * tsc — RDTSC, RDTSCP, IA32_TIME_STAMP_COUNTER, IA32_TSC_ADJUST, IA32_TSC_AUX
 * and CR4.TSD. Prints facts only (no cycle counts: they depend on the cost
 * model); the bounds below are generous.
 *
 * SDM 3B 17.17 (time-stamp counter: monotonically increasing; 17.17.1
 * invariant TSC; WRMSR to IA32_TIME_STAMP_COUNTER sets it; 17.17.3
 * IA32_TSC_ADJUST changes by the amount the TSC was changed by and a write
 * to IA32_TSC_ADJUST adds the difference to the TSC), 2B RDTSC/RDTSCP
 * (EDX:EAX = TSC, RDTSCP also ECX = IA32_TSC_AUX[31:0]; #GP(0) if CR4.TSD = 1
 * and CPL > 0), 2A CPUID (leaf 1 EDX.TSC, 80000001H EDX.RDTSCP, 80000007H
 * EDX[8] invariant TSC, leaf 7 EBX.TSC_ADJUST).
 */
#include "hvsim.h"

#define MSR_TSC_ADJUST 0x3B
#define BOUND 1000000ull                    /* "a few instructions later" */

static inline uint64_t rdtscp(uint32_t *aux)
{
    uint32_t lo, hi, c;
    __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(c));
    *aux = c;
    return (uint64_t)hi << 32 | lo;
}

static void work(uint64_t n)
{
    for (volatile uint64_t i = 0; i < n; i++)
        ;
}

void u_rdtsc(void), u_rdtscp(void);
extern char u_rdtsc_i[], u_rdtscp_i[];
__asm__(".pushsection .hvuser.text, \"ax\"\n"
        ".globl u_rdtsc, u_rdtsc_i, u_rdtscp, u_rdtscp_i\n"
        "u_rdtsc:\n"
        "u_rdtsc_i: rdtsc\n"
        "           mov $1, %eax\n"
        "           int $0x81\n"
        "u_rdtscp:\n"
        "u_rdtscp_i: rdtscp\n"
        "           mov $1, %eax\n"
        "           int $0x81\n"
        ".popsection\n");

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_cpu_init();
    hv_user_init();
    uint32_t r[4];
    hv_cpuid(1, 0, r);
    uint32_t tsc = (r[3] >> 4) & 1;
    hv_cpuid(0x80000001, 0, r);
    uint32_t rdtscp_bit = (r[3] >> 27) & 1;
    hv_cpuid(0x80000007, 0, r);
    uint32_t inv = (r[3] >> 8) & 1;
    hv_cpuid(7, 0, r);
    uint32_t adj = (r[1] >> 1) & 1;
    hv_printf("CPUID: TSC=%u RDTSCP=%u invariant TSC=%u TSC_ADJUST=%u\n", tsc, rdtscp_bit, inv, adj);
    T_ASSERT(tsc && rdtscp_bit && adj, "features");

    /* Monotonic. */
    bool mono = true;
    uint64_t prev = rdtsc();
    for (int i = 0; i < 1000; i++) {
        uint64_t t = rdtsc();
        if (t <= prev)
            mono = false;
        prev = t;
    }
    hv_printf("1000 RDTSCs strictly increasing: %s\n", mono ? "yes" : "no");
    T_CHECK(mono, "not monotonic");

    /* Advances with work. */
    uint64_t t0 = rdtsc();
    work(1000);
    uint64_t t1 = rdtsc();
    work(100000);
    uint64_t t2 = rdtsc();
    hv_printf("more work, more ticks: %s\n", t2 - t1 > 10 * (t1 - t0) ? "yes" : "no");
    T_CHECK(t2 - t1 > 10 * (t1 - t0), "100000 iterations vs 1000");

    /* RDTSCP: IA32_TSC_AUX in ECX, the TSC in EDX:EAX. */
    wrmsr(MSR_TSC_AUX, 0x12345);
    uint32_t aux;
    uint64_t before = rdtsc(), p = rdtscp(&aux), after = rdtsc();
    hv_printf("RDTSCP: ECX = IA32_TSC_AUX (0x%x), TSC between two RDTSCs: %s\n", aux,
              before < p && p < after ? "yes" : "no");
    T_CHECK_EQ(aux, 0x12345);
    T_CHECK(before < p && p < after, "rdtscp value");
    uint64_t m = rdmsr(MSR_TSC), n = rdtsc();
    hv_printf("RDMSR IA32_TIME_STAMP_COUNTER agrees with RDTSC: %s\n", m < n && n - m < BOUND ? "yes" : "no");
    T_CHECK(m < n && n - m < BOUND, "rdmsr tsc");

    /* WRMSR to the TSC sets it; IA32_TSC_ADJUST follows. */
    uint64_t adj0 = rdmsr(MSR_TSC_ADJUST);
    uint64_t tb = rdtsc();
    wrmsr(MSR_TSC, 0);
    uint64_t z = rdtsc();
    uint64_t adj1 = rdmsr(MSR_TSC_ADJUST);
    hv_printf("WRMSR TSC = 0: RDTSC right after is small: %s; TSC_ADJUST decreased by about the old TSC: %s\n",
              z < BOUND ? "yes" : "no", adj0 - adj1 <= tb + BOUND && adj0 - adj1 >= tb ? "yes" : "no");
    T_CHECK(z < BOUND, "TSC after reset %#llx", (unsigned long long)z);
    T_CHECK(adj0 - adj1 >= tb && adj0 - adj1 <= tb + BOUND, "TSC_ADJUST delta");
    const uint64_t big = 1ull << 40;
    wrmsr(MSR_TSC, big);
    uint64_t y = rdtsc();
    hv_printf("WRMSR TSC = 2^40: RDTSC right after is just above: %s\n", y >= big && y - big < BOUND ? "yes" : "no");
    T_CHECK(y >= big && y - big < BOUND, "TSC after write %#llx", (unsigned long long)y);
    uint64_t a2 = rdmsr(MSR_TSC_ADJUST);
    wrmsr(MSR_TSC_ADJUST, a2 + (1ull << 32));
    uint64_t w = rdtsc();
    hv_printf("TSC_ADJUST += 2^32: the TSC jumps by 2^32: %s\n",
              w >= y + (1ull << 32) && w - y - (1ull << 32) < BOUND ? "yes" : "no");
    T_CHECK(w >= y + (1ull << 32) && w - y - (1ull << 32) < BOUND, "TSC after TSC_ADJUST write");

    /* CR4.TSD: RDTSC and RDTSCP fault in ring 3 only. */
    uint64_t ur = hv_run_user(u_rdtsc, hv_user_stack());
    hv_printf("ring 3 RDTSC with CR4.TSD=0: %s\n", ur == 1 ? "ok" : "fault");
    T_CHECK_EQ(ur, 1);
    write_cr4(read_cr4() | (1ull << 2));
    hv_expect(13, NULL);
    ur = hv_run_user(u_rdtsc, hv_user_stack());
    hv_expect_cancel();
    hv_printf("ring 3 RDTSC with CR4.TSD=1: %s, RIP %s\n", ur == ~0ull ? "#GP(0)" : "no fault",
              hv_last_rip == (uint64_t)(uintptr_t)u_rdtsc_i ? "= RDTSC" : "WRONG");
    T_CHECK_EQ(ur, ~0ull);
    T_CHECK_EQ(hv_last_ec, 0);
    hv_expect(13, NULL);
    ur = hv_run_user(u_rdtscp, hv_user_stack());
    hv_expect_cancel();
    hv_printf("ring 3 RDTSCP with CR4.TSD=1: %s\n", ur == ~0ull ? "#GP(0)" : "no fault");
    T_CHECK_EQ(ur, ~0ull);
    uint64_t k0 = rdtsc(), k1 = rdtsc();
    hv_printf("ring 0 RDTSC with CR4.TSD=1: works: %s\n", k1 > k0 ? "yes" : "no");
    T_CHECK(k1 > k0, "ring 0 rdtsc");
    write_cr4(read_cr4() & ~(1ull << 2));
    T_DONE();
}
