/*
 * test_platform.c — the legacy PC ports (sim/platform.c, sim/pic.c,
 * sim/fw_cfg.c) and COM1 (sim/machine.c), driven through the machine's
 * public port I/O (machine_port_in/out, the same dispatch IN/OUT use), plus
 * the 8259A state machine through pic.h, and the Bochs shutdown port ending
 * a real run (a 64-bit payload under the native boot protocol).
 *
 * References: Intel 8259A data sheet (ICW1-ICW4, OCW1-OCW3); QEMU
 * docs/specs/fw_cfg.rst and hw/nvram/fw_cfg.c; Bochs iodev/unmapped.cc
 * (port 0x8900); National PC16550D data sheet; docs/multiboot.md "Platform
 * devices"; docs/exit-status.md.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "fw_cfg.h"
#include "harness.h"
#include "machine.h"
#include "pic.h"
#include "platform.h"

#define MEM_SIZE (64ull << 20)

static void release_machine(void *p) { machine_destroy(p); }

static machine_t *new_machine(unsigned nlps, uint64_t mem, FILE *console)
{
    struct machine_config cfg = { .nlps = nlps, .mem_size = mem, .console = console };
    machine_t *m;
    char msg[600] = "";
    ck_assert_msg(machine_create(&cfg, &m, msg, sizeof(msg)), "%s", msg);
    return harness_own(release_machine, m);
}

static void out_ok(machine_t *m, uint16_t port, unsigned size, uint32_t v, const char *row)
{
    enum cpu_io_result r = machine_port_out(m, 0, port, size, v);
    ck_assert_msg(r == CPU_IO_OK, "%s: OUT %#x (size %u) <- %#x gave %d", row, port, size, v, r);
}

static uint32_t in_ok(machine_t *m, uint16_t port, unsigned size, const char *row)
{
    uint32_t v = 0xDEADBEEF;
    enum cpu_io_result r = machine_port_in(m, 0, port, size, &v);
    ck_assert_msg(r == CPU_IO_OK, "%s: IN %#x (size %u) gave %d", row, port, size, r);
    return v;
}

/* ---- 8259A (data sheet "Initialization Command Words") ---- */

/* A sequence of writes, then the expected mask and state. `ops` are
 * (A0, byte) pairs; A0 = 2 ends the list. */
struct pic_op { unsigned a0; uint8_t v; };
struct pic_row {
    const char *name;
    struct pic_op ops[10];
    enum pic_state state;
    uint8_t imr, icw2, icw3, icw4;
    unsigned inits;
};
static const struct pic_row pic_rows[] = {
    /* the PC remap: ICW1 (edge, cascade, ICW4), vector 0x20, slave on IR2, 8086 mode; then a mask */
    { "pic/remap-then-mask", { { 0, 0x11 }, { 1, 0x20 }, { 1, 0x04 }, { 1, 0x01 }, { 1, 0xFB }, { 2, 0 } },
      PIC_READY, 0xFB, 0x20, 0x04, 0x01, 1 },
    /* ICW1 without IC4: ICW2, ICW3, then OCW1 */
    { "pic/no-icw4", { { 0, 0x10 }, { 1, 0x68 }, { 1, 0x04 }, { 1, 0x3C }, { 2, 0 } },
      PIC_READY, 0x3C, 0x68, 0x04, 0x00, 1 },
    /* single (SNGL): no ICW3 */
    { "pic/single-with-icw4", { { 0, 0x13 }, { 1, 0x40 }, { 1, 0x03 }, { 1, 0x7F }, { 2, 0 } },
      PIC_READY, 0x7F, 0x40, 0x00, 0x03, 1 },
    { "pic/single-no-icw4", { { 0, 0x12 }, { 1, 0x48 }, { 1, 0x55 }, { 2, 0 } },
      PIC_READY, 0x55, 0x48, 0x00, 0x00, 1 },
    /* mid-sequence: still waiting */
    { "pic/waiting-icw3", { { 0, 0x11 }, { 1, 0x20 }, { 2, 0 } }, PIC_WAIT_ICW3, 0x00, 0x20, 0, 0, 0 },
    { "pic/waiting-icw4", { { 0, 0x11 }, { 1, 0x20 }, { 1, 0x04 }, { 2, 0 } }, PIC_WAIT_ICW4, 0x00, 0x20, 4, 0, 0 },
    /* ICW1 clears the mask (data sheet: ICW1 effect b) and restarts a sequence */
    { "pic/icw1-clears-mask", { { 1, 0xFF }, { 0, 0x11 }, { 1, 0x20 }, { 1, 0x04 }, { 1, 0x01 }, { 2, 0 } },
      PIC_READY, 0x00, 0x20, 0x04, 0x01, 1 },
    { "pic/icw1-restarts", { { 0, 0x11 }, { 1, 0x20 }, { 0, 0x11 }, { 1, 0x28 }, { 1, 0x02 }, { 1, 0x01 },
                             { 1, 0xAA }, { 2, 0 } },
      PIC_READY, 0xAA, 0x28, 0x02, 0x01, 1 },
    /* OCW2 (EOI) and OCW3 between masks change neither the mask nor the state */
    { "pic/eoi-and-ocw3", { { 0, 0x11 }, { 1, 0x20 }, { 1, 0x04 }, { 1, 0x01 }, { 1, 0x12 }, { 0, 0x20 },
                            { 0, 0x0B }, { 0, 0x60 }, { 2, 0 } },
      PIC_READY, 0x12, 0x20, 0x04, 0x01, 1 },
    /* before any initialization, A0=1 writes are masks (power-on state is READY) */
    { "pic/mask-before-init", { { 1, 0xF0 }, { 2, 0 } }, PIC_READY, 0xF0, 0, 0, 0, 0 },
    { "pic/two-inits", { { 0, 0x11 }, { 1, 0x20 }, { 1, 0x04 }, { 1, 0x01 }, { 0, 0x11 }, { 1, 0x30 }, { 1, 0x04 },
                         { 1, 0x01 }, { 2, 0 } },
      PIC_READY, 0x00, 0x30, 0x04, 0x01, 2 },
};

START_TEST(pic_sequences)
{
    const struct pic_row *row = &pic_rows[_i];
    struct pic8259 p;
    pic_reset(&p);
    ck_assert_uint_eq(pic_read(&p, 1), 0);                 /* QEMU's reset mask */
    for (const struct pic_op *o = row->ops; o->a0 != 2; o++) {
        pic_write(&p, o->a0, o->v);
        ck_assert_msg(pic_sanity(&p), "%s: state inconsistent", row->name);
    }
    ck_assert_msg(p.state == row->state, "%s: state %d", row->name, p.state);
    ck_assert_msg(p.imr == row->imr && pic_read(&p, 1) == row->imr, "%s: mask %#x", row->name, p.imr);
    ck_assert_msg(p.icw2 == row->icw2 && p.icw3 == row->icw3 && p.icw4 == row->icw4,
                  "%s: ICW2-4 %#x %#x %#x", row->name, p.icw2, p.icw3, p.icw4);
    ck_assert_msg(p.inits == row->inits, "%s: %u initializations", row->name, p.inits);
}
END_TEST

/* OCW3: status reads (IRR, ISR) and the poll word are all 0: nothing ever
 * requests an interrupt. The poll command lasts one read. */
START_TEST(pic_status_reads)
{
    struct pic8259 p;
    pic_reset(&p);
    pic_write(&p, 0, 0x0A);                                  /* read IRR */
    ck_assert(!p.read_isr);
    ck_assert_uint_eq(pic_read(&p, 0), 0);
    pic_write(&p, 0, 0x0B);                                  /* read ISR */
    ck_assert(p.read_isr);
    ck_assert_uint_eq(pic_read(&p, 0), 0);
    pic_write(&p, 0, 0x08);                                  /* RR = 0: no change */
    ck_assert(p.read_isr);
    pic_write(&p, 0, 0x0C);                                  /* poll */
    ck_assert(p.poll);
    ck_assert_uint_eq(pic_read(&p, 0), 0);
    ck_assert(!p.poll);
    pic_write(&p, 0, 0x68);                                  /* special mask mode on */
    ck_assert(p.special_mask);
    pic_write(&p, 0, 0x48);                                  /* off */
    ck_assert(!p.special_mask);
    pic_write(&p, 0, 0x11);                                  /* ICW1: status read back to IRR, SMM off */
    ck_assert(!p.read_isr && !p.special_mask);
}
END_TEST

/* Through the machine: both PICs remapped the way a kernel does (with
 * port-0x80 delays), masks read back; byte accesses only. */
START_TEST(pic_ports)
{
    machine_t *m = new_machine(1, MEM_SIZE, NULL);
    static const struct { uint16_t port; uint8_t v; } seq[] = {
        { 0x20, 0x11 }, { 0xA0, 0x11 }, { 0x21, 0x20 }, { 0xA1, 0x28 }, { 0x21, 0x04 }, { 0xA1, 0x02 },
        { 0x21, 0x01 }, { 0xA1, 0x01 }, { 0x21, 0xFB }, { 0xA1, 0xFF },
    };
    for (unsigned i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        out_ok(m, seq[i].port, 1, seq[i].v, "remap");
        out_ok(m, 0x80, 1, 0, "io-delay");
    }
    ck_assert_uint_eq(in_ok(m, 0x21, 1, "mask"), 0xFB);
    ck_assert_uint_eq(in_ok(m, 0xA1, 1, "mask"), 0xFF);
    out_ok(m, 0x20, 1, 0x20, "eoi");
    out_ok(m, 0xA0, 1, 0x20, "eoi");
    ck_assert_uint_eq(in_ok(m, 0x20, 1, "irr"), 0);
    ck_assert_uint_eq(in_ok(m, 0xA0, 1, "irr"), 0);
    ck_assert_uint_eq(in_ok(m, 0x21, 1, "mask"), 0xFB);
    uint32_t v;
    ck_assert_int_eq(machine_port_out(m, 0, 0x20, 2, 0x2011), CPU_IO_UNMODELLED);
    ck_assert_int_eq(machine_port_in(m, 0, 0x21, 2, &v), CPU_IO_UNMODELLED);
    ck_assert_int_eq(machine_port_in(m, 0, 0x22, 1, &v), CPU_IO_UNMODELLED);   /* not a PIC port */
}
END_TEST

/* ---- port 0x80 ---- */

START_TEST(post_port)
{
    machine_t *m = new_machine(1, MEM_SIZE, NULL);
    ck_assert_uint_eq(in_ok(m, 0x80, 1, "post"), 0);
    out_ok(m, 0x80, 1, 0x5A, "post");
    ck_assert_uint_eq(in_ok(m, 0x80, 1, "post"), 0x5A);
    uint32_t v;
    ck_assert_int_eq(machine_port_out(m, 0, 0x80, 2, 1), CPU_IO_UNMODELLED);
    ck_assert_int_eq(machine_port_in(m, 0, 0x80, 4, &v), CPU_IO_UNMODELLED);
}
END_TEST

/* ---- fw_cfg (QEMU docs/specs/fw_cfg.rst) ---- */

static void fw_read(machine_t *m, uint16_t key, uint8_t *buf, unsigned n)
{
    out_ok(m, FW_CFG_PORT_SEL, 2, key, "select");
    for (unsigned i = 0; i < n; i++)
        buf[i] = (uint8_t)in_ok(m, FW_CFG_PORT_DATA, 1, "data");
}

struct fw_row { const char *name; uint16_t key; unsigned n; uint8_t want[12]; };
/* for a machine of 3 LPs and 0x40000000 bytes of RAM */
static const struct fw_row fw_rows[] = {
    { "fw_cfg/signature",        0x0000, 6, { 'Q', 'E', 'M', 'U', 0, 0 } },
    { "fw_cfg/id-no-dma",        0x0001, 6, { 1, 0, 0, 0, 0, 0 } },
    { "fw_cfg/ram-size-le64",    0x0003, 10, { 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0 } },
    { "fw_cfg/nb-cpus-le16",     0x0005, 4, { 3, 0, 0, 0 } },
    { "fw_cfg/max-cpus-le16",    0x000F, 4, { 3, 0, 0, 0 } },
    { "fw_cfg/file-dir-empty",   0x0019, 6, { 0, 0, 0, 0, 0, 0 } },
    { "fw_cfg/unknown-uuid",     0x0002, 4, { 0, 0, 0, 0 } },
    { "fw_cfg/unknown-file",     0x0020, 4, { 0, 0, 0, 0 } },
    { "fw_cfg/beyond-max-entry", 0x3FFF, 4, { 0, 0, 0, 0 } },
    { "fw_cfg/arch-e820",        0x8003, 4, { 0, 0, 0, 0 } },
    { "fw_cfg/arch-local-zero",  0x8000, 4, { 0, 0, 0, 0 } },
    { "fw_cfg/write-channel",    0x4000, 4, { 'Q', 'E', 'M', 'U' } },
    { "fw_cfg/all-ones",         0xFFFF, 4, { 0, 0, 0, 0 } },
};

START_TEST(fw_cfg_items)
{
    const struct fw_row *row = &fw_rows[_i];
    machine_t *m = new_machine(3, 1ull << 30, NULL);
    uint8_t got[12];
    fw_read(m, row->key, got, row->n);
    for (unsigned i = 0; i < row->n; i++)
        ck_assert_msg(got[i] == row->want[i], "%s: byte %u is %#x, expected %#x", row->name, i, got[i], row->want[i]);
    /* selecting again starts over at offset 0 */
    fw_read(m, row->key, got, 1);
    ck_assert_msg(got[0] == row->want[0], "%s: re-select", row->name);
}
END_TEST

START_TEST(fw_cfg_accesses)
{
    machine_t *m = new_machine(1, MEM_SIZE, NULL);
    /* byte writes are data writes, ignored (QEMU >= 2.4): the offset stays */
    out_ok(m, FW_CFG_PORT_SEL, 2, FW_CFG_SIGNATURE, "select");
    ck_assert_uint_eq(in_ok(m, FW_CFG_PORT_DATA, 1, "Q"), 'Q');
    out_ok(m, FW_CFG_PORT_DATA, 1, 0x55, "data write");
    out_ok(m, FW_CFG_PORT_SEL, 1, 0x01, "byte at the selector: a data write");
    ck_assert_uint_eq(in_ok(m, FW_CFG_PORT_DATA, 1, "E"), 'E');
    /* a byte read at 0x510 reads data too (fw_cfg_comb_read) */
    ck_assert_uint_eq(in_ok(m, FW_CFG_PORT_SEL, 1, "M"), 'M');
    ck_assert_uint_eq(in_ok(m, FW_CFG_PORT_DATA, 1, "U"), 'U');
    ck_assert_uint_eq(in_ok(m, FW_CFG_PORT_DATA, 1, "end"), 0);
    ck_assert_uint_eq(in_ok(m, FW_CFG_PORT_DATA, 1, "end"), 0);
    /* widths QEMU rejects, and the DMA interface, are not modelled */
    uint32_t v;
    ck_assert_int_eq(machine_port_in(m, 0, FW_CFG_PORT_DATA, 2, &v), CPU_IO_UNMODELLED);
    ck_assert_int_eq(machine_port_in(m, 0, FW_CFG_PORT_SEL, 4, &v), CPU_IO_UNMODELLED);
    ck_assert_int_eq(machine_port_out(m, 0, FW_CFG_PORT_SEL, 4, 0), CPU_IO_UNMODELLED);
    ck_assert_int_eq(machine_port_out(m, 0, FW_CFG_PORT_DATA, 2, 0), CPU_IO_UNMODELLED);
    ck_assert_int_eq(machine_port_out(m, 0, 0x514, 4, 0), CPU_IO_UNMODELLED);
    ck_assert_int_eq(machine_port_in(m, 0, 0x518, 4, &v), CPU_IO_UNMODELLED);
    /* deterministic: a second machine of the same configuration reads the same */
    machine_t *m2 = new_machine(1, MEM_SIZE, NULL);
    uint8_t a[8], c[8];
    fw_read(m, FW_CFG_RAM_SIZE, a, 8);
    fw_read(m2, FW_CFG_RAM_SIZE, c, 8);
    ck_assert(!memcmp(a, c, 8));
    uint64_t ram = 0;
    for (int i = 7; i >= 0; i--)
        ram = ram << 8 | a[i];
    ck_assert_uint_eq(ram, MEM_SIZE);
}
END_TEST

START_TEST(fw_cfg_names)
{
    ck_assert_str_eq(fw_cfg_item_name(FW_CFG_SIGNATURE), "FW_CFG_SIGNATURE");
    ck_assert_str_eq(fw_cfg_item_name(FW_CFG_FILE_DIR), "FW_CFG_FILE_DIR");
    ck_assert_str_eq(fw_cfg_item_name(FW_CFG_WRITE_CHANNEL | FW_CFG_ID), "FW_CFG_ID");
    ck_assert_ptr_null(fw_cfg_item_name(0x0002));
    ck_assert_ptr_null(fw_cfg_item_name(FW_CFG_ARCH_LOCAL | FW_CFG_SIGNATURE));
    ck_assert_str_eq(platform_port_name(0x511), "QEMU fw_cfg");
    ck_assert_str_eq(platform_port_name(0xA1), "8259A PIC (slave)");
    ck_assert_ptr_null(platform_port_name(0x2F8));
}
END_TEST

/* ---- the Bochs shutdown port (iodev/unmapped.cc) ---- */

struct sd_row { const char *name; const char *bytes; int stop_at; };   /* index of the stopping byte, -1: none */
static const struct sd_row sd_rows[] = {
    { "shutdown/word",                   "Shutdown",   7 },
    { "shutdown/repeated-S",             "SSShutdown", 9 },
    { "shutdown/letter-out-of-turn-kept", "ShSutdown", 8 },   /* 'S' out of turn: the count stays */
    { "shutdown/repeated-letter",        "Shuutdown",  8 },
    { "shutdown/other-byte-resets",      "Shut!down",  -1 },
    { "shutdown/reset-then-word",        "Shu.Shutdown", 11 },
    { "shutdown/lowercase",              "shutdown",   -1 },
    { "shutdown/incomplete",             "Shutdow",    -1 },
};

START_TEST(shutdown_sequences)
{
    const struct sd_row *row = &sd_rows[_i];
    machine_t *m = new_machine(1, MEM_SIZE, NULL);
    int stopped = -1;
    for (int i = 0; row->bytes[i]; i++) {
        enum cpu_io_result r = machine_port_out(m, 0, PORT_SHUTDOWN, 1, (uint8_t)row->bytes[i]);
        ck_assert_msg(r == CPU_IO_OK || r == CPU_IO_STOP, "%s: byte %d gave %d", row->name, i, r);
        if (r == CPU_IO_STOP) {
            ck_assert_msg(stopped < 0, "%s: stopped twice", row->name);
            stopped = i;
        }
    }
    ck_assert_msg(stopped == row->stop_at, "%s: stopped at byte %d", row->name, stopped);
}
END_TEST

START_TEST(shutdown_widths)
{
    machine_t *m = new_machine(1, MEM_SIZE, NULL);
    /* Bochs compares the whole value: a 16-bit 'S' counts, 0x0153 does not */
    ck_assert_int_eq(machine_port_out(m, 0, PORT_SHUTDOWN, 2, 'S'), CPU_IO_OK);
    ck_assert_int_eq(machine_port_out(m, 0, PORT_SHUTDOWN, 4, 'h'), CPU_IO_OK);
    ck_assert_int_eq(machine_port_out(m, 0, PORT_SHUTDOWN, 2, 0x0175), CPU_IO_OK);     /* resets */
    const char *w = "Shutdown";
    enum cpu_io_result r = CPU_IO_OK;
    for (int i = 0; w[i]; i++)
        r = machine_port_out(m, 0, PORT_SHUTDOWN, 1, (uint8_t)w[i] | 0xFF00u);      /* AH ignored for a byte */
    ck_assert_int_eq(r, CPU_IO_STOP);
    uint32_t v;
    ck_assert_int_eq(machine_port_in(m, 0, PORT_SHUTDOWN, 1, &v), CPU_IO_UNMODELLED);
}
END_TEST

/* A whole run: a 64-bit payload (native boot protocol) writes "Shutdown"
 * to port 0x8900 and the run ends as the exit device with status 1
 * (docs/exit-status.md); with a wrong letter it goes on and exits through
 * port 0xF4 with 5 (status 11). */
static void w16(uint8_t *p, uint64_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void w32(uint8_t *p, uint64_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void w64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* ELF64 with one R+X PT_LOAD at physical 0x100000 holding `code`. */
static const char *write_payload(const char *dir, const char *name, const uint8_t *code, size_t n)
{
    uint8_t img[0x2000] = { 0 };
    ck_assert(n <= 0x1000);
    memcpy(img, "\x7f" "ELF\x02\x01\x01", 7);
    w16(img + 16, 2);
    w16(img + 18, 62);
    w32(img + 20, 1);
    w64(img + 24, 0x100000);
    w64(img + 32, 64);
    w16(img + 52, 64);
    w16(img + 54, 56);
    w16(img + 56, 1);
    uint8_t *ph = img + 64;
    w32(ph, 1);
    w32(ph + 4, 5);
    w64(ph + 8, 0x1000);
    w64(ph + 16, 0x100000);
    w64(ph + 24, 0x100000);
    w64(ph + 32, 0x1000);
    w64(ph + 40, 0x1000);
    w64(ph + 48, 0x1000);
    memcpy(img + 0x1000, code, n);
    char *path = harness_own(harness_free, malloc(600));
    snprintf(path, 600, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert_uint_eq(fwrite(img, 1, sizeof(img), f), sizeof(img));
    fclose(f);
    return path;
}

/* mov dx, 0x8900; then mov al, c; out dx, al per letter; mov al, 5; out 0xF4, al; hlt */
static size_t shutdown_code(uint8_t *c, const char *word)
{
    size_t n = 0;
    c[n++] = 0x66; c[n++] = 0xBA; c[n++] = 0x00; c[n++] = 0x89;
    for (const char *p = word; *p; p++) {
        c[n++] = 0xB0;
        c[n++] = (uint8_t)*p;
        c[n++] = 0xEE;
    }
    c[n++] = 0xB0; c[n++] = 0x05; c[n++] = 0xE6; c[n++] = 0xF4; c[n++] = 0xF4;
    return n;
}

START_TEST(shutdown_ends_run)
{
    const char *dir = harness_tmp_dir("/tmp/hvsim-test-platform-");
    static const struct { const char *word; enum machine_end end; int status; } rows[] = {
        { "Shutdown", MEND_EXIT_DEVICE, 1 },
        { "Shutdwn!", MEND_EXIT_DEVICE, 11 },
    };
    for (unsigned i = 0; i < 2; i++) {
        uint8_t code[128];
        size_t n = shutdown_code(code, rows[i].word);
        const char *path = write_payload(dir, i ? "no.elf" : "yes.elf", code, n);
        machine_t *m = new_machine(1, MEM_SIZE, NULL);
        char msg[600] = "";
        ck_assert_msg(machine_load_elf(m, path, msg, sizeof(msg)), "%s", msg);
        struct machine_result r;
        machine_run(m, &r);
        ck_assert_msg(r.end == rows[i].end && r.status == rows[i].status, "%s: end %d status %d (%s)",
                      rows[i].word, r.end, r.status, r.reason);
        harness_release(m);
    }
}
END_TEST

/* ---- COM1, a 16550 (PC16550D data sheet) ---- */

struct memcon { FILE *f; char *buf; size_t n; };

static void release_memcon(void *p)
{
    struct memcon *c = p;
    fclose(c->f);
    free(c->buf);
    free(c);
}

START_TEST(com1_registers)
{
    struct memcon *con = harness_own(release_memcon, calloc(1, sizeof(*con)));
    con->f = open_memstream(&con->buf, &con->n);
    ck_assert_ptr_nonnull(con->f);
    machine_t *m = new_machine(1, MEM_SIZE, con->f);
    const uint16_t b = 0x3F8;
    ck_assert_uint_eq(in_ok(m, b + 5, 1, "LSR"), 0x60);               /* THRE | TEMT, no data */
    ck_assert_uint_eq(in_ok(m, b + 0, 1, "RBR"), 0);
    /* divisor latch (DLAB): 115200 / 3 = 38400 baud */
    out_ok(m, b + 3, 1, 0x80, "LCR DLAB");
    out_ok(m, b + 0, 1, 0x03, "DLL");
    out_ok(m, b + 1, 1, 0x00, "DLM");
    ck_assert_uint_eq(in_ok(m, b + 0, 1, "DLL"), 0x03);
    ck_assert_uint_eq(in_ok(m, b + 1, 1, "DLM"), 0x00);
    ck_assert_uint_eq(in_ok(m, b + 2, 1, "IIR with DLAB"), 0x01);
    out_ok(m, b + 3, 1, 0x03, "LCR 8N1");
    ck_assert_uint_eq(in_ok(m, b + 3, 1, "LCR"), 0x03);
    /* IER accepted (low 4 bits), no interrupt ever pending */
    out_ok(m, b + 1, 1, 0xFF, "IER");
    ck_assert_uint_eq(in_ok(m, b + 1, 1, "IER"), 0x0F);
    ck_assert_uint_eq(in_ok(m, b + 2, 1, "IIR"), 0x01);
    /* FCR: FIFOs on (IIR bits 7:6), the reset bits self-clear */
    out_ok(m, b + 2, 1, 0xC7, "FCR");
    ck_assert_uint_eq(in_ok(m, b + 2, 1, "IIR FIFO"), 0xC1);
    out_ok(m, b + 2, 1, 0x00, "FCR off");
    ck_assert_uint_eq(in_ok(m, b + 2, 1, "IIR"), 0x01);
    /* scratch */
    out_ok(m, b + 7, 1, 0xA5, "SCR");
    ck_assert_uint_eq(in_ok(m, b + 7, 1, "SCR"), 0xA5);
    /* MSR: DCD, DSR, CTS without loopback; in loopback the outputs come
     * back (Linux's 8250 probe: MCR = LOOP | OUT2 | RTS must read 0x90) */
    out_ok(m, b + 4, 1, 0x0B, "MCR");
    ck_assert_uint_eq(in_ok(m, b + 4, 1, "MCR"), 0x0B);
    ck_assert_uint_eq(in_ok(m, b + 6, 1, "MSR"), 0xB0);
    static const struct { uint8_t mcr, msr; } loop[] = {
        { 0x1A, 0x90 }, { 0x10, 0x00 }, { 0x11, 0x20 }, { 0x12, 0x10 }, { 0x14, 0x40 }, { 0x18, 0x80 }, { 0x1F, 0xF0 },
    };
    for (unsigned i = 0; i < sizeof(loop) / sizeof(loop[0]); i++) {
        out_ok(m, b + 4, 1, loop[i].mcr, "MCR loop");
        ck_assert_msg(in_ok(m, b + 6, 1, "MSR loop") == loop[i].msr, "MCR %#x: MSR %#x", loop[i].mcr,
                      in_ok(m, b + 6, 1, "MSR loop"));
    }
    out_ok(m, b + 4, 1, 0x03, "MCR");
    /* THR: output goes to the console at once */
    out_ok(m, b, 1, 'h', "THR");
    out_ok(m, b, 1, 'i', "THR");
    out_ok(m, b, 1, '\n', "THR");
    fflush(con->f);
    ck_assert_uint_eq(con->n, 3);
    ck_assert(!memcmp(con->buf, "hi\n", 3));
    ck_assert_uint_eq(in_ok(m, b + 5, 1, "LSR after output"), 0x60);
}
END_TEST

/* Ports nothing decodes still end the run loudly. */
START_TEST(unknown_ports)
{
    machine_t *m = new_machine(1, MEM_SIZE, NULL);
    static const uint16_t ports[] = { 0x2F8, 0x60, 0x64, 0x92, 0x3D4, 0xCF8, 0x40, 0x70, 0x4D0, 0x512 };
    for (unsigned i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
        uint32_t v;
        ck_assert_msg(machine_port_in(m, 0, ports[i], 1, &v) == CPU_IO_UNMODELLED, "IN %#x", ports[i]);
        ck_assert_msg(machine_port_out(m, 0, ports[i], 1, 0) == CPU_IO_UNMODELLED, "OUT %#x", ports[i]);
    }
    uint32_t v;
    ck_assert_int_eq(machine_port_in(m, 1, 0x21, 1, &v), CPU_IO_UNMODELLED);      /* no LP 1 */
    ck_assert_int_eq(machine_port_in(m, 0, 0x21, 3, &v), CPU_IO_UNMODELLED);      /* no 3-byte access */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("platform");
    TCase *t = harness_tcase("pic");
    ADD_ROWS(t, pic_sequences, pic_rows);
    tcase_add_test(t, pic_status_reads);
    tcase_add_test(t, pic_ports);
    tcase_add_test(t, post_port);
    suite_add_tcase(s, t);

    t = harness_tcase("fw_cfg");
    ADD_ROWS(t, fw_cfg_items, fw_rows);
    tcase_add_test(t, fw_cfg_accesses);
    tcase_add_test(t, fw_cfg_names);
    suite_add_tcase(s, t);

    t = harness_tcase("shutdown");
    ADD_ROWS(t, shutdown_sequences, sd_rows);
    tcase_add_test(t, shutdown_widths);
    tcase_add_test(t, shutdown_ends_run);
    suite_add_tcase(s, t);

    t = harness_tcase("com1");
    tcase_add_test(t, com1_registers);
    tcase_add_test(t, unknown_ports);
    suite_add_tcase(s, t);
    return harness_run(s);
}
