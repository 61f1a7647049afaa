/*
 * vmx_ept_bench — `make bench`'s EPT workload: a 64-bit guest reads one
 * quadword of every 4-KiB page of a 32-MiB working set, again and again,
 * with EPT off, or on with 2-MiB or 4-KiB EPT pages (identity map). The
 * command line is "MODE ITERATIONS" (MODE: noept, ept2m, ept4k); the
 * payload prints the number of guest instructions the loop retired and a
 * checksum so that a run that skipped the work cannot pass as fast:
 *   BENCH ept MODE ITERATIONS insns N sum S
 * Instructions: 4 per page, 4 per pass around the pages, plus the first
 * XOR and the final VMCALL (the loop is assembly, so the count is exact).
 */
#include "hvsim.h"
#include "vmx.h"

#define P2_EPT   (1u << 1)
#define F_EPTP   0x201Au
#define EPT_RWX  7ull
#define EPT_WB   (6ull << 3)
#define EPT_PS   (1ull << 7)
#define ADDR     0x000FFFFFFFFFF000ull
#define WS_BYTES (32u << 20)
#define WS_PAGES (WS_BYTES / 4096)

static uint8_t ws[WS_BYTES] __attribute__((aligned(2u << 20)));
static uint8_t guest_stack[4096] __attribute__((aligned(16)));

extern char g_touch[];
__attribute__((used)) static void snippets(void)
{
    /* rsi = base, rcx = pages, rdx = passes; the sum in rax */
    __asm__ volatile(".globl g_touch\ng_touch: xor %%eax, %%eax\n"
                     "1: mov %%rsi, %%rdi\n mov %%rcx, %%r8\n"
                     "2: add (%%rdi), %%rax\n add $4096, %%rdi\n dec %%r8\n jnz 2b\n"
                     " dec %%rdx\n jnz 1b\n vmcall\n" ::: "memory");
}

static uint64_t eptp_build(bool small_pages)
{
    uint64_t *pml4 = hv_page_alloc(), *pdpt = hv_page_alloc();
    pml4[0] = (uint64_t)(uintptr_t)pdpt | EPT_RWX;
    uint64_t wbase = (uint64_t)(uintptr_t)ws;
    for (uint64_t i = 0; i < 4; i++) {
        uint64_t *pd = hv_page_alloc();
        pdpt[i] = (uint64_t)(uintptr_t)pd | EPT_RWX;
        for (uint64_t j = 0; j < 512; j++) {
            uint64_t base = (i << 30) | (j << 21);
            if (small_pages && base - wbase < WS_BYTES) {
                uint64_t *pt = hv_page_alloc();
                for (uint64_t k = 0; k < 512; k++)
                    pt[k] = (base + (k << 12)) | EPT_RWX | EPT_WB;
                pd[j] = (uint64_t)(uintptr_t)pt | EPT_RWX;
            } else {
                pd[j] = base | EPT_RWX | EPT_WB | EPT_PS;
            }
        }
    }
    return (uint64_t)(uintptr_t)pml4 | 6 | (3 << 3);
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    const char *c = (const char *)(uintptr_t)bi->cmdline;
    int mode = -1;
    if (c && !memcmp(c, "noept ", 6)) mode = 0, c += 6;
    else if (c && !memcmp(c, "ept2m ", 6)) mode = 1, c += 6;
    else if (c && !memcmp(c, "ept4k ", 6)) mode = 2, c += 6;
    uint64_t passes = 0;
    for (; c && *c >= '0' && *c <= '9'; c++)
        passes = passes * 10 + (uint64_t)(*c - '0');
    if (mode < 0 || !passes) {
        hv_printf("usage: --cmdline 'noept|ept2m|ept4k PASSES'\n");
        hv_exit(1);
    }
    for (unsigned p = 0; p < WS_PAGES; p++)
        *(volatile uint64_t *)&ws[(uint64_t)p * 4096] = p;
    (void)vmx_on_with_vmcs();
    vmx_init_controls(0, 0, mode ? P2_EPT : 0, 0, 0);
    if (mode)
        vmw(F_EPTP, eptp_build(mode == 2));
    vmx_init_host();
    vmx_init_guest64((uint64_t)(uintptr_t)g_touch, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 64));
    struct vmx_regs g = { .rsi = (uint64_t)(uintptr_t)ws, .rcx = WS_PAGES, .rdx = passes };
    uint64_t r = vmx_enter(&g, 0);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VM entry failed: error %llu", (unsigned long long)vmx_insn_error());
    uint64_t reason = vmr(F_EXIT_REASON);
    T_ASSERT(reason == 18, "exit reason %llu, expected VMCALL", (unsigned long long)reason);
    uint64_t want = passes * ((uint64_t)WS_PAGES * (WS_PAGES - 1) / 2);
    T_ASSERT(g.rax == want, "sum %#llx, expected %#llx", (unsigned long long)g.rax, (unsigned long long)want);
    static const char *const names[] = { "noept", "ept2m", "ept4k" };
    hv_printf("BENCH ept %s %llu insns %llu sum %#llx\n", names[mode], (unsigned long long)passes,
              (unsigned long long)(passes * (4ull * WS_PAGES + 4) + 2), (unsigned long long)g.rax);
    hv_exit(0);
}
