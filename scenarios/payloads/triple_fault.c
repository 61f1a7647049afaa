/*
 * triple_fault — an exception while delivering #DF shuts the processor
 * down (a triple fault): the run ends with status 2 and the console holds
 * only what was printed before.
 *
 * SDM 3A 6.15 "Interrupt 8—Double Fault Exception (#DF)" (a fault while
 * delivering #DF: the processor enters shutdown mode) and table 6-5: the
 * #PF below meets a not-present #PF gate (#NP, contributory after a page
 * fault: #DF), and the #DF gate is not present either (#NP during #DF
 * delivery: triple fault).
 */
#include "hvsim.h"

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_cpu_init();
    hv_set_gate(14, 0, 0, false);
    hv_set_gate(8, 0, 1, false);
    hv_puts("#PF and #DF gates not present; reading an unmapped address\n");
    (void)*(volatile uint64_t *)(uintptr_t)0x0000040000000000ull;
    hv_puts("FAIL: still running after the triple fault\n");
    return 1;
}
