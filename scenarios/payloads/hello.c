/* hello — the debug console (port 0xE9), COM1, printf and the exit port. */
#include "hvsim.h"

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_printf("hello from hvsim: lp %u of %u, %llu MiB\n", lp, nlps,
              (unsigned long long)(bi->mem_size >> 20));
    hv_serial_puts("hello on COM1\n");
    hv_printf("%d %u %x %#x %5d|%-5d|%05d %s %c%%\n", -42, 42u, 0xbeefu, 0x10u, 7, 7, 7, "str", 'c');
    T_DONE();
}
