/*
 * pic.c — one 8259A's command words (pic.h; Intel 8259A data sheet,
 * "Initialization Command Words" and "Operation Command Words"). Called
 * from the machine's port dispatch; no interrupt request ever exists, so
 * the only observable state is what the guest programmed.
 */
#include <assert.h>
#include <string.h>

#include "pic.h"

#define ICW1_IC4   0x01    /* ICW4 needed */
#define ICW1_SNGL  0x02    /* single PIC: no ICW3 */
#define CW_D4      0x10    /* A0=0: ICW1 */
#define CW_D3      0x08    /* A0=0, D4=0: OCW3 (else OCW2) */
#define OCW3_RIS   0x01
#define OCW3_RR    0x02
#define OCW3_P     0x04
#define OCW3_SMM   0x20
#define OCW3_ESMM  0x40

void pic_reset(struct pic8259 *p)
{
    memset(p, 0, sizeof(*p));
    assert(pic_sanity(p));
}

bool pic_sanity(const struct pic8259 *p)
{
    if (p->state > PIC_WAIT_ICW4)
        return false;
    if (p->state == PIC_WAIT_ICW3 && (p->icw1 & ICW1_SNGL))
        return false;
    if (p->state == PIC_WAIT_ICW4 && !(p->icw1 & ICW1_IC4))
        return false;
    return true;
}

/* After ICW2 or ICW3: the next word expected (figure "Initialization Sequence"). */
static enum pic_state after(const struct pic8259 *p, bool icw2)
{
    if (icw2 && !(p->icw1 & ICW1_SNGL))
        return PIC_WAIT_ICW3;
    return (p->icw1 & ICW1_IC4) ? PIC_WAIT_ICW4 : PIC_READY;
}

void pic_write(struct pic8259 *p, unsigned a0, uint8_t v)
{
    assert(pic_sanity(p));
    if (!a0) {
        if (v & CW_D4) {
            /* ICW1: mask cleared, special mask mode off, status read = IRR,
             * ICW4 functions zero if IC4 = 0 (data sheet, ICW1 effects a-f). */
            p->icw1 = v;
            p->icw2 = p->icw3 = p->icw4 = 0;
            p->imr = 0;
            p->special_mask = false;
            p->read_isr = false;
            p->poll = false;
            p->state = PIC_WAIT_ICW2;
        } else if (v & CW_D3) {
            if (v & OCW3_RR)
                p->read_isr = (v & OCW3_RIS) != 0;
            if (v & OCW3_ESMM)
                p->special_mask = (v & OCW3_SMM) != 0;
            p->poll = (v & OCW3_P) != 0;
        } else {
            /* OCW2: EOI and rotation commands. With nothing ever in service
             * an EOI changes nothing; the command is kept for inspection. */
            p->ocw2 = v;
        }
        assert(pic_sanity(p));
        return;
    }
    enum pic_state was = p->state;
    switch (p->state) {
    case PIC_WAIT_ICW2:
        p->icw2 = v;
        p->state = after(p, true);
        break;
    case PIC_WAIT_ICW3:
        p->icw3 = v;
        p->state = after(p, false);
        break;
    case PIC_WAIT_ICW4:
        p->icw4 = v;
        p->state = PIC_READY;
        break;
    case PIC_READY:
        p->imr = v;                 /* OCW1 */
        break;
    }
    if (was != PIC_READY && p->state == PIC_READY)
        p->inits++;
    assert(pic_sanity(p));
}

uint8_t pic_read(struct pic8259 *p, unsigned a0)
{
    if (a0)
        return p->imr;              /* OCW1 reads back at A0 = 1 */
    /* A0 = 0: IRR or ISR (OCW3), or the poll word (I bit 7 and the level,
     * all 0 with no request). The poll command is one-shot. */
    p->poll = false;
    return 0;
}
