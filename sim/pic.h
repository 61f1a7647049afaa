/*
 * pic.h — the programming interface of one Intel 8259A programmable
 * interrupt controller (8259A data sheet, "Programming the 8259A"): the
 * initialization command words ICW1-ICW4, the mask (OCW1) and the commands
 * OCW2/OCW3. hvsim has no device wired to a PIC input, so no request is
 * ever raised: IRR and ISR stay 0 and nothing reaches a CPU. The model lets
 * a kernel initialize, remap and mask the PICs as it would on a PC and read
 * back what it wrote (docs/multiboot.md "Platform devices").
 */
#ifndef HVSIM_SIM_PIC_H
#define HVSIM_SIM_PIC_H

#include <stdbool.h>
#include <stdint.h>

/* Initialization sequence (data sheet figure "Initialization Sequence"):
 *
 *   any --ICW1 (A0=0, D4=1)--> WAIT_ICW2
 *   WAIT_ICW2 --A0=1--> WAIT_ICW3 if ICW1.SNGL = 0
 *                       WAIT_ICW4 if SNGL = 1 and ICW1.IC4 = 1
 *                       READY     otherwise
 *   WAIT_ICW3 --A0=1--> WAIT_ICW4 if IC4, else READY
 *   WAIT_ICW4 --A0=1--> READY
 *   READY     --A0=1--> OCW1 (the mask); A0=0: OCW2 (D4:D3 = 00) or OCW3 (01)
 *
 * An ICW1 restarts the sequence from any state. */
enum pic_state {
    PIC_READY = 0,
    PIC_WAIT_ICW2,
    PIC_WAIT_ICW3,
    PIC_WAIT_ICW4,
};

struct pic8259 {
    enum pic_state state;
    uint8_t icw1, icw2, icw3, icw4;   /* the last initialization; icw4 is 0 when ICW1.IC4 = 0 */
    uint8_t imr;                      /* OCW1: interrupt mask */
    uint8_t ocw2;                     /* last OCW2 (EOI / rotation command), for inspection */
    bool read_isr;                    /* OCW3 RR/RIS: A0=0 reads return ISR (else IRR) */
    bool poll;                        /* OCW3 P: the next A0=0 read is a poll word */
    bool special_mask;                /* OCW3 ESMM/SMM */
    unsigned inits;                   /* completed initialization sequences */
};

/* Power-on state: not initialized, mask 0 (QEMU's reset value). */
void pic_reset(struct pic8259 *p);
/* A byte written with address line A0 (0: port 0x20/0xA0, 1: 0x21/0xA1). */
void pic_write(struct pic8259 *p, unsigned a0, uint8_t v);
/* A byte read with address line A0. */
uint8_t pic_read(struct pic8259 *p, unsigned a0);
/* Consistency of the state (for assert()). */
bool pic_sanity(const struct pic8259 *p);

#endif
