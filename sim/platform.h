/*
 * platform.h — the legacy PC ports a Multiboot-era kernel expects, behind
 * one dispatch table (platform.c): the 8259A pair, QEMU's fw_cfg, the Bochs
 * shutdown port and the POST diagnostic port. The machine's IN/OUT dispatch
 * (machine.c) asks these after its own devices (debug console, exit
 * device, COM1). docs/multiboot.md "Platform devices" describes each port.
 */
#ifndef HVSIM_SIM_PLATFORM_H
#define HVSIM_SIM_PLATFORM_H

#include <stdint.h>

#include "cpu.h"
#include "fw_cfg.h"
#include "pic.h"

#define PORT_PIC_MASTER  0x20          /* command; data (mask) at +1 */
#define PORT_PIC_SLAVE   0xA0
#define PORT_POST        0x80
#define PORT_SHUTDOWN    0x8900

/* Bochs's shutdown port (iodev/unmapped.cc): the letters of "Shutdown"
 * written in order end the run; `shutdown` counts those seen so far. */
#define SHUTDOWN_WORD    "Shutdown"

/* Invariants: each PIC satisfies pic_sanity(); shutdown < 8 (reaching 8
 * ends the run and starts the count again). */
struct platform {
    struct pic8259 pic[2];             /* [0] master 0x20/0x21, [1] slave 0xA0/0xA1 */
    struct fw_cfg fw_cfg;
    unsigned shutdown;                 /* 0..7: letters of SHUTDOWN_WORD seen in order */
    uint8_t post_code;                 /* last byte written to port 0x80 */
};

void platform_init(struct platform *p, uint64_t ram_size, unsigned nlps);
/* CPU_IO_UNMODELLED when no device here decodes the port, or the device
 * does not accept an access of that size or direction; CPU_IO_STOP when the
 * access ends the run (the shutdown port). */
enum cpu_io_result platform_in(struct platform *p, uint16_t port, unsigned size, uint32_t *val)
    __attribute__((warn_unused_result));
enum cpu_io_result platform_out(struct platform *p, uint16_t port, unsigned size, uint32_t val)
    __attribute__((warn_unused_result));
/* The device decoding a port, NULL if none (messages, docs). */
const char *platform_port_name(uint16_t port);

#endif
