/*
 * smp — two logical processors (run with --lps 2): each enters hv_main with
 * its own index and stack, both print, both increment a shared counter
 * under a spinlock built on LOCK CMPXCHG (and an atomic LOCK XADD counter),
 * and the BSP waits for the AP before it checks the totals and exits.
 *
 * SDM 3A 9.1 / 8.1.2 (LOCK prefix: locked read-modify-write is atomic with
 * respect to other processors), 2A CMPXCHG (ZF = 1 when the exchange
 * happened), 2B XADD, 2A PAUSE (spin-wait hint), 2A CPUID leaf 1 EBX[31:24]
 * (initial APIC ID per logical processor). The boot protocol gives every LP
 * its own stack (docs/boot-protocol.md).
 */
#include "hvsim.h"

#define N 2000

static volatile uint32_t lock;
static volatile uint64_t counter, atomic_counter;
static volatile uint32_t phase, done;

static void spin_lock(volatile uint32_t *l)
{
    for (;;) {
        uint32_t expected = 0;
        uint8_t ok;
        __asm__ volatile("lock cmpxchgl %3, %1; sete %0"
                         : "=q"(ok), "+m"(*l), "+a"(expected) : "r"(1u) : "memory", "cc");
        if (ok)
            return;
        while (*l)
            cpu_pause();
    }
}

static void spin_unlock(volatile uint32_t *l)
{
    __asm__ volatile("" ::: "memory");
    *l = 0;
}

static void hammer(void)
{
    for (int i = 0; i < N; i++) {
        spin_lock(&lock);
        uint64_t t = counter;                   /* a racy update, made safe by the lock */
        for (volatile int k = 0; k < 3; k++)
            ;
        counter = t + 1;
        spin_unlock(&lock);
        uint64_t one = 1;
        __asm__ volatile("lock xaddq %0, %1" : "+r"(one), "+m"(atomic_counter) :: "memory");
    }
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    uint32_t r[4];
    hv_cpuid(1, 0, r);
    bool own_stack = hv_entry_rsp[lp] == bi->stacks + (uint64_t)(lp + 1) * bi->stack_size;
    if (lp != 0) {
        while (phase != 1)
            cpu_pause();
        hv_printf("LP %u of %u: hello; own stack: %s; initial APIC ID %u\n", lp, nlps, own_stack ? "yes" : "no",
                  r[1] >> 24);
        phase = 2;
        while (phase != 3)
            cpu_pause();
        hammer();
        __atomic_store_n(&done, 1, __ATOMIC_SEQ_CST);
        for (;;)
            __asm__ volatile("cli; hlt");
    }
    hv_cpu_init();
    T_ASSERT(nlps == 2, "run with --lps 2 (got %u)", nlps);
    hv_printf("LP %u of %u: hello; own stack: %s; initial APIC ID %u\n", lp, nlps, own_stack ? "yes" : "no",
              r[1] >> 24);
    T_CHECK(own_stack, "LP 0 stack");
    phase = 1;
    while (phase != 2)
        cpu_pause();
    phase = 3;
    hammer();
    while (!done)
        cpu_pause();
    hv_printf("LP 0: the AP is done; locked counter %llu, LOCK XADD counter %llu (expected %u each)\n",
              (unsigned long long)counter, (unsigned long long)atomic_counter, 2 * N);
    T_CHECK_EQ(counter, 2 * N);
    T_CHECK_EQ(atomic_counter, 2 * N);
    T_CHECK_EQ(lock, 0);
    T_DONE();
}
