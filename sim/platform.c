/*
 * platform.c — port dispatch for the legacy PC devices (platform.h). Called
 * from the machine's platform callbacks while an LP executes IN/OUT; never
 * touches guest memory or the CPU. One row per device: the ports it
 * decodes and its handlers; anything else, and any access a device does
 * not accept, is CPU_IO_UNMODELLED, which ends the run naming the port.
 */
#include <stdbool.h>
#include <stddef.h>

#include "platform.h"

/* ---- 8259A pair: byte accesses only ---- */

static enum cpu_io_result pic_in(struct platform *p, uint16_t port, unsigned size, uint32_t *v)
{
    if (size != 1)
        return CPU_IO_UNMODELLED;
    *v = pic_read(&p->pic[port >= PORT_PIC_SLAVE], port & 1);
    return CPU_IO_OK;
}

static enum cpu_io_result pic_out(struct platform *p, uint16_t port, unsigned size, uint32_t v)
{
    if (size != 1)
        return CPU_IO_UNMODELLED;
    pic_write(&p->pic[port >= PORT_PIC_SLAVE], port & 1, (uint8_t)v);
    return CPU_IO_OK;
}

/* ---- POST diagnostic port 0x80 (also the usual I/O delay): Bochs keeps
 * the last byte written and reads it back (iodev/unmapped.cc) ---- */

static enum cpu_io_result post_in(struct platform *p, uint16_t port, unsigned size, uint32_t *v)
{
    (void)port;
    if (size != 1)
        return CPU_IO_UNMODELLED;
    *v = p->post_code;
    return CPU_IO_OK;
}

static enum cpu_io_result post_out(struct platform *p, uint16_t port, unsigned size, uint32_t v)
{
    (void)port;
    if (size != 1)
        return CPU_IO_UNMODELLED;
    p->post_code = (uint8_t)v;
    return CPU_IO_OK;
}

/* ---- fw_cfg, the x86 "combined" I/O region 0x510-0x511 (QEMU
 * hw/nvram/fw_cfg.c fw_cfg_comb_valid/read/write): a 16-bit write at 0x510
 * selects; byte reads at either port read data; byte writes are data
 * writes, ignored since QEMU 2.4 (fw_cfg.rst "Data Register"). Other
 * widths are invalid accesses there; hvsim refuses them loudly. ---- */

static enum cpu_io_result fwcfg_in(struct platform *p, uint16_t port, unsigned size, uint32_t *v)
{
    (void)port;
    if (size != 1)
        return CPU_IO_UNMODELLED;
    *v = fw_cfg_read(&p->fw_cfg);
    return CPU_IO_OK;
}

static enum cpu_io_result fwcfg_out(struct platform *p, uint16_t port, unsigned size, uint32_t v)
{
    if (size == 2 && port == FW_CFG_PORT_SEL) {
        fw_cfg_select(&p->fw_cfg, (uint16_t)v);
        return CPU_IO_OK;
    }
    if (size == 1)
        return CPU_IO_OK;
    return CPU_IO_UNMODELLED;
}

/* ---- Bochs shutdown port 0x8900 (iodev/unmapped.cc): each letter of
 * "Shutdown" advances the count when it is the next one, a letter of the
 * word out of turn leaves the count as it is, any other value resets it;
 * the 8th letter ends the run (machine.c: exit-device end, status 1,
 * docs/exit-status.md). Bochs compares the whole value written, so a 16- or
 * 32-bit write counts only if its value is the letter. Reads: not
 * modelled (Bochs returns the unmapped-port value). ---- */

static enum cpu_io_result shutdown_out(struct platform *p, uint16_t port, unsigned size, uint32_t v)
{
    (void)port;
    (void)size;
    static const char word[] = SHUTDOWN_WORD;
    bool letter = false;
    for (unsigned i = 0; i < sizeof(word) - 1; i++)
        if (v == (uint8_t)word[i]) {
            letter = true;
            if (p->shutdown == i)
                p->shutdown = i + 1;
            break;
        }
    if (!letter)
        p->shutdown = 0;
    if (p->shutdown == sizeof(word) - 1) {
        p->shutdown = 0;
        return CPU_IO_STOP;
    }
    return CPU_IO_OK;
}

/* The dispatch table: rows in port order, non-overlapping. A NULL handler
 * means the direction is not modelled. */
static const struct port_row {
    uint16_t first, last;
    const char *name;
    enum cpu_io_result (*in)(struct platform *p, uint16_t port, unsigned size, uint32_t *v);
    enum cpu_io_result (*out)(struct platform *p, uint16_t port, unsigned size, uint32_t v);
} rows[] = {
    { PORT_PIC_MASTER, PORT_PIC_MASTER + 1, "8259A PIC (master)", pic_in, pic_out },
    { PORT_POST, PORT_POST, "POST diagnostic port", post_in, post_out },
    { PORT_PIC_SLAVE, PORT_PIC_SLAVE + 1, "8259A PIC (slave)", pic_in, pic_out },
    { FW_CFG_PORT_SEL, FW_CFG_PORT_DATA, "QEMU fw_cfg", fwcfg_in, fwcfg_out },
    { PORT_SHUTDOWN, PORT_SHUTDOWN, "Bochs shutdown port", NULL, shutdown_out },
};

static const struct port_row *row_of(uint16_t port)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (port >= rows[i].first && port <= rows[i].last)
            return &rows[i];
    return NULL;
}

const char *platform_port_name(uint16_t port)
{
    const struct port_row *r = row_of(port);
    return r ? r->name : NULL;
}

void platform_init(struct platform *p, uint64_t ram_size, unsigned nlps)
{
    pic_reset(&p->pic[0]);
    pic_reset(&p->pic[1]);
    fw_cfg_init(&p->fw_cfg, ram_size, nlps);
    p->shutdown = 0;
    p->post_code = 0;
}

enum cpu_io_result platform_in(struct platform *p, uint16_t port, unsigned size, uint32_t *val)
{
    const struct port_row *r = row_of(port);
    if (!r || !r->in)
        return CPU_IO_UNMODELLED;
    return r->in(p, port, size, val);
}

enum cpu_io_result platform_out(struct platform *p, uint16_t port, unsigned size, uint32_t val)
{
    const struct port_row *r = row_of(port);
    if (!r || !r->out)
        return CPU_IO_UNMODELLED;
    if (size < 4)
        val &= (1u << (8 * size)) - 1;
    return r->out(p, port, size, val);
}
