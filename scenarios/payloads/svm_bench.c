/*
 * svm_bench — AMD-V round trips for `make bench` (issue 7): a 64-bit guest
 * executes CPUID in a loop; each CPUID is intercepted (#VMEXIT 0x72), the
 * host moves the guest's RIP to nRIP and runs VMRUN again. The command line
 * gives the number of round trips (default 1000); the payload prints it and
 * the sum of the exit codes, so that a run that skipped the work cannot
 * pass as fast.
 */
#include "hvsim.h"

#define MSR_HSAVE 0xC0010117u
#define EFER_SVME (1ull << 12)

static uint8_t vmcb[4096] __attribute__((aligned(4096)));
static uint8_t hsave[4096] __attribute__((aligned(4096)));
static uint8_t iopm[3 * 4096] __attribute__((aligned(4096)));
static uint8_t msrpm[2 * 4096] __attribute__((aligned(4096)));
static uint8_t guest_stack[4096] __attribute__((aligned(16)));

extern char bench_guest[];
__asm__(".text\n.globl bench_guest\nbench_guest: cpuid\n jmp bench_guest\n");

/* VMRUN with the host's callee-saved registers kept (the guest's CPUID
 * clobbers RBX, RCX, RDX; the processor restores only RAX, RSP, RIP and
 * RFLAGS of the host). */
static void vmrun(uint64_t pa)
{
    __asm__ volatile("push %%rbp\n push %%rbx\n mov %0, %%rax\n vmrun\n pop %%rbx\n pop %%rbp"
                     ::"r"(pa) : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
                       "r15", "memory", "cc");
}

static void w64(unsigned off, uint64_t v) { *(volatile uint64_t *)(vmcb + off) = v; }
static uint64_t r64(unsigned off) { return *(volatile uint64_t *)(vmcb + off); }
static void seg(unsigned off, uint16_t sel, uint16_t attrib, uint32_t limit, uint64_t base)
{
    *(volatile uint16_t *)(vmcb + off) = sel;
    *(volatile uint16_t *)(vmcb + off + 2) = attrib;
    *(volatile uint32_t *)(vmcb + off + 4) = limit;
    *(volatile uint64_t *)(vmcb + off + 8) = base;
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    const char *c = (const char *)(uintptr_t)bi->cmdline;
    uint64_t n = 0;
    for (; c && *c >= '0' && *c <= '9'; c++)
        n = n * 10 + (uint64_t)(*c - '0');
    if (!n)
        n = 1000;
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
    wrmsr(MSR_HSAVE, (uint64_t)(uintptr_t)hsave);
    struct hv_dtr gd, id;
    sgdt(&gd);
    sidt(&id);
    *(volatile uint32_t *)(vmcb + 0x00C) = 1u << 18;              /* CPUID */
    *(volatile uint32_t *)(vmcb + 0x010) = 1u << 0;               /* VMRUN */
    w64(0x040, (uint64_t)(uintptr_t)iopm);
    w64(0x048, (uint64_t)(uintptr_t)msrpm);
    *(volatile uint32_t *)(vmcb + 0x058) = 1;                     /* ASID 1 */
    seg(0x410, SEL_KCODE, 0xA9B, 0xFFFFFFFF, 0);
    seg(0x420, SEL_KDATA, 0xC93, 0xFFFFFFFF, 0);
    seg(0x430, SEL_KDATA, 0xC93, 0xFFFFFFFF, 0);
    seg(0x400, SEL_KDATA, 0xC93, 0xFFFFFFFF, 0);
    seg(0x460, 0, 0, gd.limit, gd.base);
    seg(0x480, 0, 0, id.limit, id.base);
    w64(0x4D0, rdmsr(MSR_EFER));
    w64(0x558, read_cr0());
    w64(0x550, read_cr3());
    w64(0x548, read_cr4());
    w64(0x568, 0xFFFF0FF0);
    w64(0x560, 0x400);
    w64(0x570, 0x2);
    w64(0x578, (uint64_t)(uintptr_t)bench_guest);
    w64(0x5D8, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 8));
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        vmrun((uint64_t)(uintptr_t)vmcb);
        sum += r64(0x070);
        w64(0x578, r64(0x0C8));                                   /* RIP = nRIP */
    }
    hv_printf("BENCH svmexit %llu round trips, exit code sum %llu\n", (unsigned long long)n, (unsigned long long)sum);
    T_CHECK_EQ(sum, 0x72 * n);
    T_DONE();
}
