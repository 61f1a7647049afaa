/*
 * apic.h — local APIC helpers for payloads, included by hvsim.h: xAPIC
 * register access (MMIO at IA32_APIC_BASE, identity-mapped by the boot
 * protocol), x2APIC access (MSRs 0x800 + offset / 16), EOI, IPIs through
 * the ICR, timer set-up (one-shot, periodic, TSC-deadline), bounded waits
 * that fail with a message instead of hanging, and IDT sharing so that APs
 * can take interrupts.
 *
 * Header-only (static inline): the payload runtime library is a fixed list
 * of sources. Sections are those of the Intel SDM volume 3A chapter 10
 * (editions up to 2024; chapter 11 from 2025), as elsewhere in hvsim.
 *
 * xAPIC registers are read and written with one aligned 32-bit MOV each,
 * written in inline assembly (SDM 3A 10.4.1: registers are 128-bit aligned
 * and accessed with 32-bit loads and stores; wider registers in several
 * 32-bit accesses). A plain volatile dereference would let the compiler
 * pick a moffs MOV or fold a read-modify-write into one OR/AND on the
 * APIC page; the assembly pins the exact instruction: mov r32, (r64) and
 * mov (r64), r32. Do not touch the MMIO page in x2APIC mode (SDM 3A 10.12.2).
 */
#ifndef HVSIM_APIC_H
#define HVSIM_APIC_H

/* ---- IA32_APIC_BASE (SDM 3A 10.4.4, Figure 10-5; 10.12.1 EXTD) ----
 *
 *   63      MAXPHYADDR  12 11  10   9  8  7    0
 *  +--------+-----------+---+----+---+---+------+
 *  |reserved| APIC base |EN |EXTD|   |BSP|      |
 *  +--------+-----------+---+----+---+---+------+
 */
#define MSR_APIC_BASE        0x1B
#define APIC_BASE_BSP        (1ull << 8)
#define APIC_BASE_EXTD       (1ull << 10)   /* x2APIC mode */
#define APIC_BASE_EN         (1ull << 11)   /* APIC global enable */
#define APIC_BASE_ADDR_MASK  0x000FFFFFFFFFF000ull
#define APIC_DEFAULT_BASE    0xFEE00000ull
#define MSR_TSC_DEADLINE     0x6E0          /* SDM 3A 10.5.4.1 */

/* CPUID leaf 1 feature bits (SDM 2A CPUID). */
#define CPUID1_EDX_APIC         (1u << 9)
#define CPUID1_ECX_X2APIC       (1u << 21)
#define CPUID1_ECX_TSC_DEADLINE (1u << 24)

/* ---- register offsets (SDM 3A 10.4.1, Table 10-1) ---- */
#define APIC_ID         0x020   /* xAPIC: ID in bits 31:24 */
#define APIC_VERSION    0x030   /* 7:0 version, 23:16 max LVT entry */
#define APIC_TPR        0x080
#define APIC_PPR        0x0A0   /* read-only */
#define APIC_EOI        0x0B0   /* write-only */
#define APIC_LDR        0x0D0   /* xAPIC: logical ID in bits 31:24 */
#define APIC_DFR        0x0E0   /* xAPIC only: 31:28 model (1111b flat), 27:0 reserved (all 1s) */
#define APIC_SVR        0x0F0
#define APIC_ISR        0x100   /* 8 words, 16 bytes apart: vector v is bit v%32 of word v/32 */
#define APIC_TMR        0x180
#define APIC_IRR        0x200
#define APIC_ESR        0x280   /* write (any value) before reading (SDM 3A 10.5.3) */
#define APIC_ICR_LO     0x300
#define APIC_ICR_HI     0x310   /* xAPIC: destination in bits 31:24 */
#define APIC_LVT_TIMER  0x320
#define APIC_LVT_LINT0  0x350
#define APIC_LVT_LINT1  0x360
#define APIC_LVT_ERROR  0x370
#define APIC_TMICT      0x380   /* timer initial count */
#define APIC_TMCCT      0x390   /* timer current count (read-only) */
#define APIC_TDCR       0x3E0   /* timer divide configuration */

/* x2APIC MSR of an xAPIC offset (SDM 3A 10.12.1.2, Table 10-6). The ICR is
 * one 64-bit MSR (0x830, destination in 63:32); there is no 0x831 or 0x80E
 * (DFR); SELF IPI (0x83F) exists only in x2APIC mode. */
#define X2APIC_MSR(off)  (0x800u + ((uint32_t)(off) >> 4))
#define X2APIC_ICR       0x830u
#define X2APIC_SELF_IPI  0x83Fu

/* SVR (SDM 3A 10.9, Figure 10-23): 7:0 spurious vector, 8 APIC software enable. */
#define SVR_ENABLE       (1u << 8)

/* LVT entries (SDM 3A 10.5.1, Figure 10-8):
 *
 *   31   19 18 17 16 15 14 13 12 11  8 7      0
 *  +------+-----+--+--+--+--+--+-----+--------+
 *  |      |mode |M |TM|RI|  |DS| DM  | vector |   timer: mode 00 one-shot,
 *  +------+-----+--+--+--+--+--+-----+--------+   01 periodic, 10 TSC-deadline
 */
#define LVT_VECTOR_MASK     0xFFu
#define LVT_PENDING         (1u << 12)   /* delivery status, read-only */
#define LVT_MASKED          (1u << 16)
#define LVT_TIMER_ONESHOT   (0u << 17)
#define LVT_TIMER_PERIODIC  (1u << 17)
#define LVT_TIMER_DEADLINE  (2u << 17)
#define LVT_RESET           LVT_MASKED   /* SDM 3A 10.4.7.1: 0 except the mask bit */

/* ICR low word (SDM 3A 10.6.1, Figure 10-12):
 *
 *   31   20 19 18 17 16 15 14 13 12 11 10  8 7      0
 *  +------+-----+-----+--+--+--+--+--+-----+--------+
 *  |      | SH  |     |TM|L |  |DS|DM| mode| vector |
 *  +------+-----+-----+--+--+--+--+--+-----+--------+
 *  SH: 00 none, 01 self, 10 all including self, 11 all excluding self
 */
#define ICR_FIXED           (0u << 8)
#define ICR_PHYSICAL        (0u << 11)
#define ICR_LOGICAL         (1u << 11)
#define ICR_PENDING         (1u << 12)   /* delivery status (xAPIC only) */
#define ICR_ASSERT          (1u << 14)   /* level: 1 for every mode but INIT de-assert */
#define ICR_SH_NONE         (0u << 18)
#define ICR_SH_SELF         (1u << 18)
#define ICR_SH_ALL          (2u << 18)
#define ICR_SH_OTHERS       (3u << 18)

/* Divide configuration (SDM 3A 10.5.4, Figure 10-10): bits 3, 1, 0. */
static inline uint32_t apic_tdcr_for(unsigned div)
{
    switch (div) {
    case 1: return 0xB;
    case 2: return 0x0;
    case 4: return 0x1;
    case 8: return 0x2;
    case 16: return 0x3;
    case 32: return 0x8;
    case 64: return 0x9;
    default: return 0xA;        /* 128 */
    }
}

/* ---- xAPIC (memory-mapped) ---- */
static inline volatile uint32_t *apic_reg(uint32_t off)
{
    return (volatile uint32_t *)(uintptr_t)(APIC_DEFAULT_BASE + off);
}
static inline uint32_t apic_read(uint32_t off)
{
    uint32_t v;
    __asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(apic_reg(off)) : "memory");
    return v;
}
static inline void apic_write(uint32_t off, uint32_t v)
{
    __asm__ volatile("movl %0, (%1)" :: "r"(v), "r"(apic_reg(off)) : "memory");
}
static inline unsigned apic_self_id(void) { return apic_read(APIC_ID) >> 24; }
static inline void apic_eoi(void) { apic_write(APIC_EOI, 0); }
/* Bit `vector` of a 256-bit register (ISR, TMR, IRR). */
static inline bool apic_vec_bit(uint32_t base, unsigned vector)
{
    return (apic_read(base + 0x10 * (vector / 32)) >> (vector % 32)) & 1;
}
static inline bool apic_isr(unsigned v) { return apic_vec_bit(APIC_ISR, v); }
static inline bool apic_irr(unsigned v) { return apic_vec_bit(APIC_IRR, v); }
/* True if no bit of the 256-bit register is set. */
static inline bool apic_vec_all_clear(uint32_t base)
{
    uint32_t any = 0;
    for (unsigned i = 0; i < 8; i++)
        any |= apic_read(base + 0x10 * i);
    return any == 0;
}
/* Software-enable the APIC (SVR bit 8) with this spurious vector. */
static inline void apic_sw_enable(unsigned spurious_vector)
{
    apic_write(APIC_SVR, SVR_ENABLE | (spurious_vector & 0xFF));
}
/* ESR: a write latches the errors collected since the last write (SDM 3A 10.5.3). */
static inline uint32_t apic_esr(void)
{
    apic_write(APIC_ESR, 0);
    return apic_read(APIC_ESR);
}
/* Send an IPI: destination (ICR high 31:24) first, then the low word,
 * whose write sends it (SDM 3A 10.6.1). */
static inline void apic_send_ipi(unsigned dest, uint32_t icr_lo)
{
    apic_write(APIC_ICR_HI, (uint32_t)dest << 24);
    apic_write(APIC_ICR_LO, icr_lo);
}
static inline void apic_send_self(unsigned vector)
{
    apic_write(APIC_ICR_LO, ICR_SH_SELF | ICR_ASSERT | ICR_FIXED | vector);
}

/* ---- x2APIC (MSRs) ---- */
static inline uint64_t x2apic_read(uint32_t off) { return rdmsr(X2APIC_MSR(off)); }
static inline void x2apic_write(uint32_t off, uint64_t v) { wrmsr(X2APIC_MSR(off), v); }
static inline void x2apic_eoi(void) { wrmsr(X2APIC_MSR(APIC_EOI), 0); }
/* xAPIC -> x2APIC: set EXTD with EN already set (SDM 3A 10.12.1, 10.12.5.1). */
static inline void x2apic_enable(void) { wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_EXTD); }
static inline void x2apic_send_ipi(uint32_t dest, uint32_t icr_lo)
{
    wrmsr(X2APIC_ICR, (uint64_t)dest << 32 | icr_lo);
}
static inline bool x2apic_vec_bit(uint32_t base, unsigned vector)
{
    return (x2apic_read(base + 0x10 * (vector / 32)) >> (vector % 32)) & 1;
}

/* ---- timer (SDM 3A 10.5.4) ---- */
/* One-shot or periodic: divide configuration, LVT, then the initial count
 * (whose write starts the count-down). */
static inline void apic_timer_start(uint32_t lvt, unsigned div, uint32_t count)
{
    apic_write(APIC_TDCR, apic_tdcr_for(div));
    apic_write(APIC_LVT_TIMER, lvt);
    apic_write(APIC_TMICT, count);
}
static inline void apic_timer_stop(void) { apic_write(APIC_TMICT, 0); }
/* TSC-deadline mode: LVT timer mode 10b. In xAPIC mode the MMIO write must
 * be ordered before a later WRMSR to IA32_TSC_DEADLINE: MFENCE
 * (SDM 3A 10.5.4.1). */
static inline void apic_timer_deadline_mode(unsigned vector)
{
    apic_write(APIC_LVT_TIMER, LVT_TIMER_DEADLINE | vector);
    __asm__ volatile("mfence" ::: "memory");
}
/* TSC cycles per APIC timer tick at divide-by-1: the core crystal clock,
 * CPUID.15H (EBX/EAX = TSC/crystal). 0 if the leaf does not say. */
static inline uint64_t apic_tsc_per_tick(void)
{
    uint32_t r[4];
    hv_cpuid(0, 0, r);
    if (r[0] < 0x15)
        return 0;
    hv_cpuid(0x15, 0, r);
    return r[0] ? r[1] / r[0] : 0;
}

/* ---- bounded waits ----
 * Poll `cond` with PAUSE until it holds or `cycles` TSC cycles have passed;
 * the value is whether it held. A missing interrupt thus ends the payload
 * with a FAIL line naming the condition instead of hanging forever. */
#define APIC_WAIT_CYCLES 200000000ull       /* 100 ms at 2 GHz: generous */
#define HV_WAIT(cond, cycles)                                                   \
    ({                                                                          \
        uint64_t _w0 = rdtsc();                                                 \
        bool _ok;                                                               \
        while (!(_ok = (cond)) && rdtsc() - _w0 < (uint64_t)(cycles))           \
            cpu_pause();                                                        \
        _ok;                                                                    \
    })
#define T_WAIT(cond, ...)                                                       \
    do {                                                                        \
        if (!HV_WAIT(cond, APIC_WAIT_CYCLES)) {                                 \
            hv_printf("FAIL %s:%d: timed out waiting for %s: ", __FILE__,       \
                      __LINE__, #cond);                                         \
            hv_printf(__VA_ARGS__);                                             \
            hv_putc('\n');                                                      \
            hv_exit(1);                                                         \
        }                                                                       \
    } while (0)
/* Let `cycles` TSC cycles pass (to show that something does NOT happen). */
static inline void hv_spin_cycles(uint64_t cycles)
{
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < cycles)
        cpu_pause();
}
/* Wait until the xAPIC has sent the last IPI (ICR delivery status idle). */
static inline bool apic_icr_idle_wait(void)
{
    return HV_WAIT(!(apic_read(APIC_ICR_LO) & ICR_PENDING), APIC_WAIT_CYCLES);
}

/* ---- SMP: the runtime's descriptor tables are set up by hv_cpu_init() on
 * the BSP only. APs keep the boot GDT (its 0x08 code selector is the one
 * the IDT gates name) and load the BSP's IDT, so that they can take
 * interrupts at CPL 0 on their own stacks (no TSS needed without a
 * privilege change or IST). ---- */
static struct hv_dtr hv_smp_idtr __attribute__((unused));
static volatile uint32_t hv_smp_idt_ready __attribute__((unused));
/* BSP, after hv_cpu_init() and hv_set_handler(): publish the IDT. */
static inline void hv_smp_share_idt(void)
{
    sidt(&hv_smp_idtr);
    __atomic_store_n(&hv_smp_idt_ready, 1, __ATOMIC_RELEASE);
}
/* AP: wait for the BSP's IDT and load it. */
static inline void hv_smp_load_idt(void)
{
    while (!__atomic_load_n(&hv_smp_idt_ready, __ATOMIC_ACQUIRE))
        cpu_pause();
    lidt(&hv_smp_idtr);
}

#endif
