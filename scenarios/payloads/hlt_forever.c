/*
 * hlt_forever — HLT with RFLAGS.IF = 0 and no NMI, SMI or INIT source: the
 * logical processor never leaves the HLT state, and hvsim ends the run with
 * status 4 ("halted forever", docs/exit-status.md).
 *
 * SDM 2A HLT ("stops instruction execution and places the processor in a
 * HALT state. An enabled interrupt (including NMI and SMI), a debug
 * exception, the BINIT# signal, the INIT# signal, or the RESET# signal
 * will resume execution"); 3A 6.8.1 (IF = 0 masks maskable interrupts).
 */
#include "hvsim.h"

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_cpu_init();
    cli();
    hv_printf("RFLAGS.IF = %llu, executing HLT\n", (unsigned long long)((read_rflags() >> 9) & 1));
    hlt();
    hv_puts("FAIL: HLT returned\n");
    return 1;
}
