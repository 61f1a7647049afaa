/*
 * unmodelled_io — an OUT to a port no device decodes (0x1234) is
 * behaviour hvsim does not model: the run ends with status 10 instead of
 * the write disappearing silently (docs/exit-status.md). On hardware the
 * write would go to whatever the platform decodes there (SDM 1 18.3 and
 * 2B OUT: the instruction itself completes at CPL 0).
 */
#include "hvsim.h"

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_puts("OUT 0x5a to port 0x1234 (no device)\n");
    outb(0x1234, 0x5a);
    hv_puts("FAIL: the run went on after an unmodelled port write\n");
    return 1;
}
