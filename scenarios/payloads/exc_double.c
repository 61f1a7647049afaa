/*
 * exc_double — exceptions raised while delivering an exception: serial
 * handling versus double fault, and #DF on its IST stack.
 *
 * SDM 3A 6.15 "Interrupt 8—Double Fault Exception (#DF)" and table 6-5
 * (Conditions for Generating a Double Fault): benign then anything ->
 * handled serially; contributory then contributory -> #DF; page fault then
 * contributory or page fault -> #DF; #DF's error code is 0. 6.14.5 (the
 * interrupt stack table: a gate with IST = n switches to TSS.ISTn), 6.15
 * "Interrupt 11" (#NP for a not-present gate: error code = vector * 8 + 2
 * + EXT, EXT = 1 because the event was not software-generated).
 */
#include "hvsim.h"

#define LA_NP 0x0000040000000000ull       /* PML4 slot 8: not present */

void x_gp(void *), x_ud(void *), x_pf(void *), x_pf_stack(void *);
extern char x_ud_i[];
__asm__(".pushsection .text\n"
        ".globl x_gp, x_ud, x_ud_i, x_pf, x_pf_stack\n"
        "x_gp:       movabs $0x0000800000000000, %rax\n"
        "            mov (%rax), %rax\n"
        "            ret\n"
        "x_ud:\n"
        "x_ud_i:     ud2\n"
        "            ret\n"
        "x_pf:       movabs $0x0000040000000000, %rax\n"
        "            mov (%rax), %rax\n"
        "            ret\n"
        "x_pf_stack: movabs $0x0000040000002000, %rsp\n"  /* a stack in a not-present page */
        "            push %rax\n"
        "            ret\n"
        ".popsection\n");

/* check_cr2: CR2 must lie in [cr2, cr2 + span). */
static void df(const char *what, void (*fn)(void *), bool check_cr2, uint64_t cr2, uint64_t span)
{
    bool f = hv_call_expect(8, fn, NULL);
    bool ist = f && hv_on_ist_stack((void *)(uintptr_t)hv_last_frame);
    hv_printf("%-48s %s", what, f ? "#DF" : "no #DF");
    if (f) {
        hv_printf(", error code 0x%llx, on the IST1 stack: %s", (unsigned long long)hv_last_ec, ist ? "yes" : "no");
        if (check_cr2)
            hv_printf(", CR2 %s", hv_last_cr2 - cr2 < span ? "= faulting address" : "WRONG");
    }
    hv_putc('\n');
    T_CHECK(f, "%s: no #DF", what);
    if (f) {
        T_CHECK_EQ(hv_last_vector, 8);
        T_CHECK_EQ(hv_last_ec, 0);
        T_CHECK(ist, "#DF frame at %#llx", (unsigned long long)hv_last_frame);
        T_CHECK_EQ(hv_last_cs, SEL_KCODE);
        if (check_cr2)
            T_CHECK(hv_last_cr2 - cr2 < span, "CR2 %#llx", (unsigned long long)hv_last_cr2);
    }
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_cpu_init();                  /* #DF gate: IST 1 */

    /* Benign (#UD) then contributory (#NP for the #UD gate): serial, no #DF. */
    hv_set_gate(6, 0, 0, false);
    bool f = hv_call_expect(11, x_ud, NULL);
    hv_printf("%-48s %s, error code 0x%llx, RIP %s\n", "#UD with its gate not present:",
              f ? "#NP" : "no #NP", (unsigned long long)hv_last_ec,
              hv_last_rip == (uint64_t)(uintptr_t)x_ud_i ? "= UD2" : "WRONG");
    T_CHECK(f, "no #NP");
    T_CHECK_EQ(hv_last_ec, 6 * 8 + 2 + 1);
    T_CHECK_EQ(hv_last_rip, (uint64_t)(uintptr_t)x_ud_i);
    hv_set_gate(6, 0, 0, true);

    /* Contributory (#GP) then contributory (#NP): #DF. */
    hv_set_gate(13, 0, 0, false);
    df("#GP with its gate not present:", x_gp, false, 0, 0);
    hv_set_gate(13, 0, 0, true);

    /* Page fault then contributory (#NP): #DF, CR2 from the #PF. */
    hv_set_gate(14, 0, 0, false);
    df("#PF with its gate not present:", x_pf, true, LA_NP, 1);
    hv_set_gate(14, 0, 0, true);

    /* Page fault then page fault (pushing the #PF frame): #DF; CR2 names
     * the stack page (which byte of the frame is implementation-specific). */
    df("#PF while pushing the #PF frame:", x_pf_stack, true, LA_NP + 0x1000, 0x1000);
    T_DONE();
}
