/*
 * mb_apic.h — local APIC helpers for 32-bit kernels, included by mb32.h:
 * xAPIC register access at IA32_APIC_BASE (paging off, or the page
 * identity-mapped), IPIs through the ICR with a bounded wait on the
 * delivery status, and the INIT and start-up IPIs of SDM 3A 9.4.4.
 *
 * Every access is one aligned 32-bit MOV written in inline assembly (SDM 3A
 * 10.4.1: the registers are 32 bits wide, 16-byte aligned, accessed with
 * 32-bit loads and stores): a volatile dereference would let the compiler
 * fold a read-modify-write into one OR on the APIC page.
 */
#ifndef HVSIM_MB_APIC_H
#define HVSIM_MB_APIC_H

/* IA32_APIC_BASE (SDM 3A 10.4.4, figure 10-5): 8 BSP, 11 global enable,
 * 12+ base. */
#define APIC_BASE_BSP       (1u << 8)
#define APIC_BASE_EN        (1u << 11)
#define APIC_DEFAULT_BASE   0xFEE00000u

/* Register offsets (SDM 3A 10.4.1, table 10-1). */
#define APIC_ID         0x020   /* ID in bits 31:24 */
#define APIC_VERSION    0x030
#define APIC_EOI        0x0B0   /* write 0: end of interrupt */
#define APIC_SVR        0x0F0
#define APIC_ESR        0x280
#define APIC_ICR_LO     0x300
#define APIC_ICR_HI     0x310   /* destination in bits 31:24 */
#define APIC_LVT_LINT0  0x350
#define APIC_LVT_MASKED (1u << 16)
#define SVR_ENABLE      (1u << 8)

/* ICR low word (SDM 3A 10.6.1, figure 10-12):
 *   31   20 19 18 17 16 15 14 13 12 11 10  8 7      0
 *  +------+-----+-----+--+--+--+--+--+-----+--------+
 *  |      | SH  |     |TM|L |  |DS|DM| mode| vector |
 *  +------+-----+-----+--+--+--+--+--+-----+--------+
 *  mode 101 INIT, 110 start-up; L level (1 assert); TM trigger;
 *  SH 00 none, 01 self, 10 all including self, 11 all excluding self */
#define ICR_MODE_INIT    (5u << 8)
#define ICR_MODE_STARTUP (6u << 8)
#define ICR_PENDING      (1u << 12)
#define ICR_ASSERT       (1u << 14)
#define ICR_TRIGGER_LVL  (1u << 15)
#define ICR_SH_OTHERS    (3u << 18)

static inline uint32_t apic_base_addr(void) { return (uint32_t)rdmsr(MSR_APIC_BASE) & 0xFFFFF000u; }

static inline uint32_t apic_read(uint32_t off)
{
    uint32_t v;
    __asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(apic_base_addr() + off) : "memory");
    return v;
}

static inline void apic_write(uint32_t off, uint32_t v)
{
    __asm__ volatile("movl %0, (%1)" :: "r"(v), "r"(apic_base_addr() + off) : "memory");
}

static inline uint32_t apic_id(void) { return apic_read(APIC_ID) >> 24; }

/* Send an IPI (destination in ICR_HI bits 31:24, ignored with a
 * shorthand) and wait, bounded, for the delivery status to go idle: false
 * if it never did. */
static inline bool apic_send_icr(uint32_t dest, uint32_t lo)
{
    apic_write(APIC_ICR_HI, dest << 24);
    apic_write(APIC_ICR_LO, lo);
    for (uint32_t i = 0; i < 100000; i++)
        if (!(apic_read(APIC_ICR_LO) & ICR_PENDING))
            return true;
    return false;
}

/* The TSC frequency from CPUID leaf 15H (SDM 2A CPUID: TSC = crystal *
 * EBX / EAX), 0 if the leaf does not give it. Fits 32 bits for any clock
 * below 4.29 GHz; 0 beyond. */
static inline uint32_t mb_tsc_hz(void)
{
    uint32_t r[4];
    mb_cpuid(0, 0, r);
    if (r[0] < 0x15)
        return 0;
    mb_cpuid(0x15, 0, r);
    if (!r[0] || !r[1] || !r[2])
        return 0;
    uint64_t hz = (uint64_t)r[2] * r[1];
    uint32_t den = r[0], q = 0;
    /* hz / den by repeated subtraction of shifted divisors (no libgcc) */
    for (int s = 31; s >= 0; s--)
        if ((hz >> s) >= den) {
            hz -= (uint64_t)den << s;
            q |= 1u << s;
        }
    return q;
}

/* Busy-wait for `us` microseconds of TSC time (hz from mb_tsc_hz(); a
 * fixed count when 0). */
static inline void mb_udelay(uint32_t hz, uint32_t us)
{
    uint64_t ticks = hz ? (uint64_t)(hz / 1000000u) * us : (uint64_t)us * 1000u;
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < ticks)
        cpu_pause();
}

#endif
