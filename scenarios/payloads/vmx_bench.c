/*
 * vmx_bench — VM exit round trips for `make bench`: a 64-bit guest executes
 * CPUID in a loop; each CPUID exits (reason 10), the host advances the
 * guest RIP and resumes. The command line gives the number of round trips
 * (default 1000), optionally followed by " vpid" (the guest gets VPID 1); the
 * payload prints the count and a checksum of the exit reasons
 * so that a run that did not do the work cannot pass as fast.
 */
#include "hvsim.h"
#include "vmx.h"

static uint8_t guest_stack[4096] __attribute__((aligned(16)));

__attribute__((used)) static void bench_guest(void)
{
    for (;;)
        __asm__ volatile("cpuid" ::: "rax", "rbx", "rcx", "rdx", "memory");
}

static uint64_t parse_count(const struct hvsim_boot_info *bi)
{
    const char *c = (const char *)(uintptr_t)bi->cmdline;
    uint64_t n = 0;
    if (!c || !*c)
        return 1000;
    for (; *c >= '0' && *c <= '9'; c++)
        n = n * 10 + (uint64_t)(*c - '0');
    return n ? n : 1000;
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    vmx_on_with_vmcs();
    /* "N vpid": the guest runs with VPID 1, so VM entries and exits need
     * not invalidate cached translations (SDM 3C 29.4.3) */
    const char *c = (const char *)(uintptr_t)bi->cmdline;
    bool vpid = c && strlen(c) > 5 && !strcmp(c + strlen(c) - 5, " vpid");
    vmx_init_controls(0, 0, vpid ? (1u << 5) : 0, 0, 0);
    if (vpid)
        vmw(F_VPID, 1);
    vmx_init_host();
    vmx_init_guest64((uint64_t)(uintptr_t)bench_guest, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 8));
    uint64_t n = parse_count(bi), sum = 0;
    struct vmx_regs g = { 0 };
    for (uint64_t i = 0; i < n; i++) {
        uint64_t r = vmx_enter(&g, i != 0);
        T_ASSERT(!VMX_ENTER_FAILED(r), "VM entry %llu failed: error %llu", (unsigned long long)i,
                 (unsigned long long)vmx_insn_error());
        uint64_t reason, len, rip;
        vmread_flags(F_EXIT_REASON, &reason);
        vmread_flags(F_EXIT_INSN_LEN, &len);
        vmread_flags(F_GUEST_RIP, &rip);
        sum += reason;
        vmwrite_flags(F_GUEST_RIP, rip + len);
    }
    hv_printf("BENCH vmexit %llu round trips, reason sum %llu\n", (unsigned long long)n, (unsigned long long)sum);
    T_CHECK_EQ(sum, 10 * n);
    T_DONE();
}
