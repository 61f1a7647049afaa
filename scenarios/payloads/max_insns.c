/*
 * max_insns — an infinite loop under --max-insns 100000: the run ends with
 * status 6 (instruction limit, docs/exit-status.md) after what was printed
 * before the loop. (No SDM behaviour beyond ordinary execution: this
 * checks the simulator's budget.)
 */
#include "hvsim.h"

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_puts("spinning forever\n");
    for (volatile uint64_t i = 0;; i++)
        ;
}
