/*
 * reserved_exec — a jump into the linear range hvsim reserves for itself
 * stops the run as not modelled.
 *
 * hvsim keeps its shadow page tables and its trampoline page in the top
 * 16 MiB below 1 TiB of linear space (docs/boot-protocol.md, "What hvsim
 * reserves" in docs/cpu-mmu.md); a payload must not use it. A data access
 * there already stops the run, naming the address. Execution did too, but
 * only at one address of the trampoline page: anywhere else in that page
 * the engine ran hvsim's own trampoline code for the guest. The command
 * line picks the target: "tramp" (the trampoline that starts a run with a
 * flush), "page" (the first byte of the trampoline page), "pool" (the
 * shadow-table pool, never mapped for execution).
 */
#include "hvsim.h"

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    uint64_t target = hv_cmdline_is(bi, "tramp") ? 0x000000FFFFFFF040ull
                    : hv_cmdline_is(bi, "page")  ? 0x000000FFFFFFF000ull
                    : 0x000000FFFF000000ull;
    hv_printf("jump to %#llx\n", (unsigned long long)target);
    __asm__ volatile("call *%0" :: "r"(target) : "rax", "rcx", "rdx", "memory");
    hv_printf("returned from the reserved range\n");
    T_DONE();
}
