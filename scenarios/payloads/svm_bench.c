/*
 * svm_bench — AMD-V round trips for `make bench` (issue 7): a 64-bit guest
 * executes CPUID in a loop; each CPUID is intercepted (#VMEXIT 0x72), the
 * host moves the guest's RIP past it and runs VMRUN again: to nRIP where the
 * processor saves it (NRIP save, CPUID Fn8000_000A EDX bit 3; APM 2 15.7.1),
 * else by the 2 bytes of CPUID (QEMU TCG has no NRIP save, and its nRIP
 * field stays as the VMCB had it). The command line
 * gives the number of round trips (default 1000); the payload prints it and
 * the sum of the exit codes, so that a run that skipped the work cannot
 * pass as fast.
 */
#include "svm.h"

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
    svm_enable(hsave);
    vmcb_guest64(vmcb, bench_guest, svm_pa(guest_stack + sizeof(guest_stack) - 8), iopm, msrpm);
    *(volatile uint32_t *)(vmcb + V_I3) = SVM_BIT(I3_CPUID);
    uint32_t r[4];
    hv_cpuid(0x8000000A, 0, r);
    bool nrips = (r[3] >> 3) & 1;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        vmrun((uint64_t)(uintptr_t)vmcb);
        sum += r64(V_EXITCODE);
        w64(V_RIP, nrips ? r64(V_NRIP) : r64(V_RIP) + 2);          /* RIP = nRIP, or past CPUID (0F A2) */
    }
    hv_printf("BENCH svmexit %llu round trips, exit code sum %llu\n", (unsigned long long)n, (unsigned long long)sum);
    T_CHECK_EQ(sum, 0x72 * n);
    T_DONE();
}
