/*
 * rdrand — RDRAND and RDSEED: CF = 1 with a value, the other arithmetic
 * flags cleared, successive values differ, 16/32/64-bit forms. hvsim draws
 * them from a PRNG seeded by --seed, so a run is reproducible and the
 * printed values change with the seed (tests rdrand_seed1, rdrand_seed2).
 *
 * SDM 2B RDRAND/RDSEED ("CF = 1 if a random value was available; OF, SF,
 * ZF, AF, PF are cleared"; not privileged), 2A CPUID leaf 1 ECX[30]
 * (RDRAND), leaf 7 EBX[18] (RDSEED), 3A 7.3.17 / 1 7.3.17 (random number
 * generator instructions).
 */
#include "hvsim.h"

#define ARITH_FLAGS 0x8D5ull                /* CF PF AF ZF SF OF */

static uint64_t rdrand64(uint64_t *fl)
{
    uint64_t v, f;
    /* Set every arithmetic flag first so that clearing is visible. */
    __asm__ volatile("pushfq; orq $0x8D5, (%%rsp); popfq; rdrand %0; pushfq; popq %1" : "=r"(v), "=r"(f) :: "cc");
    *fl = f;
    return v;
}

static uint64_t rdseed64(uint64_t *fl)
{
    uint64_t v, f;
    __asm__ volatile("pushfq; orq $0x8D5, (%%rsp); popfq; rdseed %0; pushfq; popq %1" : "=r"(v), "=r"(f) :: "cc");
    *fl = f;
    return v;
}

HV_USER static void u_rdrand(void)
{
    uint64_t v;
    uint8_t cf;
    __asm__ volatile("rdrand %0; setc %1" : "=r"(v), "=qm"(cf) :: "cc");
    hv_user_return(cf);
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_cpu_init();
    hv_user_init();
    uint32_t r[4];
    hv_cpuid(1, 0, r);
    uint32_t has_rdrand = (r[2] >> 30) & 1;
    hv_cpuid(7, 0, r);
    uint32_t has_rdseed = (r[1] >> 18) & 1;
    hv_printf("CPUID: RDRAND=%u RDSEED=%u\n", has_rdrand, has_rdseed);
    T_ASSERT(has_rdrand && has_rdseed, "features");

    uint64_t v[8], fl;
    bool flags_ok = true;
    for (int i = 0; i < 8; i++) {
        v[i] = rdrand64(&fl);
        if ((fl & ARITH_FLAGS) != 1)
            flags_ok = false;
    }
    bool distinct = true;
    for (int i = 0; i < 8; i++)
        for (int j = i + 1; j < 8; j++)
            if (v[i] == v[j])
                distinct = false;
    hv_printf("RDRAND: CF=1 and OF SF ZF AF PF cleared: %s; 8 values all different: %s\n", flags_ok ? "yes" : "no",
              distinct ? "yes" : "no");
    hv_printf("RDRAND first value: %#llx\n", (unsigned long long)v[0]);
    T_CHECK(flags_ok, "flags %#llx", (unsigned long long)fl);
    T_CHECK(distinct, "repeated value");

    uint64_t s0 = rdseed64(&fl), s1 = rdseed64(&fl);
    hv_printf("RDSEED: CF=1 and OF SF ZF AF PF cleared: %s; two values different: %s\n",
              (fl & ARITH_FLAGS) == 1 ? "yes" : "no", s0 != s1 ? "yes" : "no");
    hv_printf("RDSEED first value: %#llx\n", (unsigned long long)s0);
    T_CHECK_EQ(fl & ARITH_FLAGS, 1);
    T_CHECK(s0 != s1, "repeated seed");

    /* Narrow forms: 32-bit zero-extends, 16-bit leaves bits 63:16 alone. */
    uint64_t e = ~0ull, x = ~0ull;
    __asm__ volatile("rdrand %k0" : "+r"(e) :: "cc");
    __asm__ volatile("rdrand %w0" : "+r"(x) :: "cc");
    hv_printf("RDRAND r32 zero-extends: %s; RDRAND r16 keeps bits 63:16: %s\n", (e >> 32) == 0 ? "yes" : "no",
              (x >> 16) == 0xFFFFFFFFFFFFull ? "yes" : "no");
    T_CHECK_EQ(e >> 32, 0);
    T_CHECK_EQ(x >> 16, 0xFFFFFFFFFFFFull);

    uint64_t ucf = hv_run_user(u_rdrand, hv_user_stack());
    hv_printf("RDRAND in ring 3: CF=%llu\n", (unsigned long long)ucf);
    T_CHECK_EQ(ucf, 1);
    T_DONE();
}
