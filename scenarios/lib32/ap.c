/*
 * ap.c — installing the AP trampoline (trampoline.S) below 1 MiB.
 * Called by the BSP with paging off, before it sends the start-up IPIs.
 */
#include "mb32.h"

unsigned mb_tramp_install(uint32_t phys)
{
    size_t n = (size_t)(mb_tramp_end - mb_tramp_start);
    memcpy((void *)(uintptr_t)phys, mb_tramp_start, n);
    struct mb_dtr g;
    sgdt(&g);
    memcpy((void *)(uintptr_t)(phys + (uint32_t)(mb_tramp_gdtr - mb_tramp_start)), &g, sizeof(g));
    return phys >> 12;
}
