/*
 * apic_sti — the STI interrupt shadow, with an interrupt already pending in
 * the local APIC's IRR when STI executes (one LP, xAPIC self-IPIs):
 *
 *   STI; INC   the interrupt is taken after the INC, not before it: the
 *              handler sees the counter the INC incremented at 1 and the
 *              saved RIP on the instruction after the INC;
 *   STI; CLI   no interrupt at all, it stays pending in IRR;
 *   STI; HLT   HLT executes and the pending interrupt ends it at once
 *              (saved RIP after HLT): the idle idiom has no lost wake-up;
 *   POPF       setting IF with POPF has no shadow: the interrupt is taken
 *              before the next instruction (the contrast to STI).
 *
 * SDM 2B STI ("If IF = 0, maskable hardware interrupts remain inhibited on
 * the instruction boundary following an execution of STI"; "No interrupts
 * can be recognized if an execution of CLI immediately follows such an
 * execution of STI"), 3A 6.8.1 (masking maskable hardware interrupts with
 * IF), 2A HLT (an enabled interrupt resumes execution; the saved RIP is the
 * instruction after HLT), 3A 10.8.4 (a fixed interrupt waits in IRR).
 *
 * The MOV SS / POP SS shadow (3A 6.8.3) is not tested here: an interrupt
 * only becomes deliverable deterministically through an instruction (STI,
 * POPF, a TPR write, EOI), whose own boundary then decides, and STI; MOV SS
 * does not guarantee a second instruction of delay (2B STI, footnote).
 */
#include "hvsim.h"

static volatile uint32_t count[256];
static volatile uint64_t saved_rip[256], saved_rax[256];

static bool on_irq(struct hv_frame *f)
{
    unsigned v = (unsigned)f->vector;
    count[v]++;
    saved_rip[v] = f->rip;
    saved_rax[v] = f->rax;
    apic_eoi();
    return true;
}

/* RAX is the counter the instruction after STI (or POPF) increments. */
void x_sti_inc(void), x_sti_cli(void), x_sti_hlt(void), x_popf_inc(void);
extern char x_sti_inc_after[], x_sti_cli_after[], x_sti_hlt_i[], x_sti_hlt_after[], x_popf_after[];
__asm__(".pushsection .text\n"
        ".globl x_sti_inc, x_sti_inc_after, x_sti_cli, x_sti_cli_after, x_sti_hlt, x_sti_hlt_i\n"
        ".globl x_sti_hlt_after, x_popf_inc, x_popf_after\n"
        "x_sti_inc:       xor %eax, %eax\n"
        "                 sti\n"
        "                 inc %eax\n"            /* in the shadow */
        "x_sti_inc_after: inc %eax\n"
        "                 inc %eax\n"
        "                 cli\n"
        "                 ret\n"
        "x_sti_cli:       sti\n"
        "                 cli\n"
        "x_sti_cli_after: ret\n"
        "x_sti_hlt:       sti\n"
        "x_sti_hlt_i:     hlt\n"
        "x_sti_hlt_after: cli\n"
        "                 ret\n"
        "x_popf_inc:      xor %eax, %eax\n"
        "                 pushq $0x202\n"
        "                 popfq\n"
        "x_popf_after:    inc %eax\n"
        "                 cli\n"
        "                 ret\n"
        ".popsection\n");

/* With IF = 0: a self-IPI with vector v, waiting until it is in IRR. */
static void make_pending(unsigned v)
{
    cli();
    apic_send_self(v);
    T_WAIT(apic_irr(v), "vector %#x in IRR", v);
    T_ASSERT(count[v] == 0, "vector %#x taken with IF=0", v);
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    if (lp != 0)
        for (;;)
            __asm__ volatile("cli; hlt");
    hv_cpu_init();
    for (unsigned v = 0x50; v <= 0x53; v++)
        hv_set_handler(v, on_irq);
    apic_sw_enable(0xFF);

    /* STI; INC. */
    make_pending(0x50);
    hv_mark(0x571);
    x_sti_inc();
    bool rip_ok = saved_rip[0x50] == (uint64_t)(uintptr_t)x_sti_inc_after;
    hv_printf("STI; INC with 0x50 pending: taken %u time(s), counter at delivery %llu, saved RIP %s\n", count[0x50],
              (unsigned long long)saved_rax[0x50], rip_ok ? "= the instruction after the INC" : "WRONG");
    T_CHECK_EQ(count[0x50], 1);
    T_CHECK_EQ(saved_rax[0x50], 1);
    T_CHECK(rip_ok, "saved RIP %#llx, expected %p", (unsigned long long)saved_rip[0x50], (void *)x_sti_inc_after);

    /* STI; CLI. */
    make_pending(0x51);
    hv_mark(0x572);
    x_sti_cli();
    hv_mark(0x573);
    uint32_t taken = count[0x51];
    bool still = apic_irr(0x51);
    hv_sti_nop_cli();
    hv_printf("STI; CLI with 0x51 pending: taken %u, still pending in IRR: %s; then STI; NOP: taken %u\n", taken,
              hv_yn(still), count[0x51]);
    T_CHECK_EQ(taken, 0);
    T_CHECK(still, "IRR bit 0x51 clear");
    T_CHECK_EQ(count[0x51], 1);

    /* STI; HLT. */
    make_pending(0x52);
    hv_mark(0x574);
    x_sti_hlt();
    rip_ok = saved_rip[0x52] == (uint64_t)(uintptr_t)x_sti_hlt_after;
    hv_printf("STI; HLT with 0x52 pending: HLT executed and ended by it: taken %u time(s), saved RIP %s\n",
              count[0x52], rip_ok ? "= after HLT" : saved_rip[0x52] == (uint64_t)(uintptr_t)x_sti_hlt_i ? "= HLT (no shadow)" : "WRONG");
    T_CHECK_EQ(count[0x52], 1);
    T_CHECK(rip_ok, "saved RIP %#llx", (unsigned long long)saved_rip[0x52]);

    /* POPF: no shadow. */
    make_pending(0x53);
    hv_mark(0x575);
    x_popf_inc();
    rip_ok = saved_rip[0x53] == (uint64_t)(uintptr_t)x_popf_after;
    hv_printf("POPF setting IF with 0x53 pending: taken %u time(s), counter at delivery %llu, saved RIP %s\n",
              count[0x53], (unsigned long long)saved_rax[0x53], rip_ok ? "= the instruction after POPF" : "WRONG");
    T_CHECK_EQ(count[0x53], 1);
    T_CHECK_EQ(saved_rax[0x53], 0);
    T_CHECK(rip_ok, "saved RIP %#llx", (unsigned long long)saved_rip[0x53]);
    T_DONE();
}
