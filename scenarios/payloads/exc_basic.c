/*
 * exc_basic — exceptions and software interrupts through the IA-32e IDT.
 *
 * SDM 3A 6.15 (exception reference: #DE, #BP, #UD, #NP, #SS, #GP: class,
 * error code, saved RIP), 6.14.2 (64-bit mode stack frame: RSP aligned to
 * 16 bytes before the frame is pushed; SS:RSP always pushed), 6.12.1.1
 * (INT n, INT3 check the gate's DPL against CPL: #GP with error code
 * vector * 8 + 2; hardware exceptions do not), 6.12.1.3 (an interrupt gate
 * clears IF, a trap gate does not), 6.14.4 (privilege change: RSP from
 * TSS.RSP0, SS := null selector), 6.13 (error code format:
 * IDT bit), 3.3.7.1 (canonical addresses: #GP, or #SS for stack
 * references), 2B INT n (a not-present gate gives #NP(vector * 8 + 2)).
 */
#include "hvsim.h"

#define NONCANON 0x0000800000000000ull

void x_div0(void *), x_idiv(void *), x_ud2(void *), x_lock(void *), x_bp(void *), x_gp(void *), x_ss(void *),
    x_int41(void *), x_int42(void *);
extern char x_div0_i[], x_idiv_i[], x_ud2_i[], x_lock_i[], x_bp_after[], x_gp_i[], x_ss_i[], x_int41_i[],
    x_int42_after[];
__asm__(".pushsection .text\n"
        ".globl x_div0, x_div0_i, x_idiv, x_idiv_i, x_ud2, x_ud2_i, x_lock, x_lock_i, x_bp, x_bp_after\n"
        ".globl x_gp, x_gp_i, x_ss, x_ss_i, x_int41, x_int41_i, x_int42, x_int42_after\n"
        "x_div0:     xor %ecx, %ecx\n"
        "            mov $1, %eax\n"
        "            xor %edx, %edx\n"
        "x_div0_i:   div %ecx\n"
        "            ret\n"
        "x_idiv:     movabs $0x8000000000000000, %rax\n"
        "            cqo\n"
        "            mov $-1, %rcx\n"
        "x_idiv_i:   idiv %rcx\n"
        "            ret\n"
        "x_ud2:\n"
        "x_ud2_i:    ud2\n"
        "            ret\n"
        "x_lock:\n"
        "x_lock_i:   .byte 0xf0, 0x89, 0xc0\n"      /* lock mov %eax, %eax */
        "            ret\n"
        "x_bp:       push %rax\n"                   /* RSP = 8 mod 16 at the INT3 */
        "            int3\n"
        "x_bp_after: pop %rax\n"
        "            ret\n"
        "x_gp:       movabs $0x0000800000000000, %rax\n"
        "x_gp_i:     mov (%rax), %rax\n"
        "            ret\n"
        "x_ss:       push %rbp\n"
        "            movabs $0x0000800000000000, %rbp\n"
        "x_ss_i:     mov 8(%rbp), %rax\n"           /* RBP base: SS segment */
        "            pop %rbp\n"
        "            ret\n"
        "x_int41:\n"
        "x_int41_i:  int $0x41\n"
        "            ret\n"
        "x_int42:    int $0x42\n"
        "x_int42_after: ret\n"
        ".popsection\n");

/* Ring 3. */
void u_int40(void), u_int3(void), u_ud2(void);
extern char u_int40_i[], u_ud2_i[];
__asm__(".pushsection .hvuser.text, \"ax\"\n"
        ".globl u_int40, u_int40_i, u_int3, u_ud2, u_ud2_i\n"
        "u_int40:\n"
        "u_int40_i: int $0x40\n"
        "           mov $1, %eax\n"
        "           int $0x81\n"
        "u_int3:    int3\n"
        "           mov $0x33, %eax\n"
        "           int $0x81\n"
        "u_ud2:\n"
        "u_ud2_i:   ud2\n"
        "           mov $1, %eax\n"
        "           int $0x81\n"
        ".popsection\n");

static void fault(const char *what, unsigned vec, void (*fn)(void *), uint64_t ec, const char *rip)
{
    bool f = hv_call_expect(vec, fn, NULL);
    hv_printf("%-44s %s", what, f ? "raised" : "NOT raised");
    if (f)
        hv_printf(", vector %llu, error code 0x%llx, RIP %s", (unsigned long long)hv_last_vector,
                  (unsigned long long)hv_last_ec, hv_last_rip == (uint64_t)(uintptr_t)rip ? "= instruction" : "WRONG");
    hv_putc('\n');
    T_CHECK(f, "%s", what);
    if (f) {
        T_CHECK_EQ(hv_last_vector, vec);
        T_CHECK_EQ(hv_last_ec, ec);
        T_CHECK_EQ(hv_last_rip, (uint64_t)(uintptr_t)rip);
    }
}

/* #BP and INT 0x42/0x43 handlers: record the frame and the handler's own
 * state, and resume after the instruction. */
static volatile uint64_t trap_rip, trap_cs, trap_ss, trap_rsp, trap_count, trap_aligned, trap_rflags,
    trap_cur_ss, trap_rsp0;
static bool trap_handler(struct hv_frame *f)
{
    trap_rip = f->rip;
    trap_cs = f->cs;
    trap_ss = f->ss;
    trap_rsp = f->rsp;
    trap_aligned = (((uintptr_t)&f->ss + 8) & 15) == 0;   /* RSP before the pushes */
    trap_rflags = read_rflags();
    trap_cur_ss = read_ss();
    trap_rsp0 = hv_on_rsp0_stack(f);
    trap_count++;
    return true;
}

void x_sti_int3(void *), x_sti_int43(void *);
__asm__(".pushsection .text\n"
        ".globl x_sti_int3, x_sti_int43\n"
        "x_sti_int3:  sti\n"
        "             int3\n"
        "             cli\n"
        "             ret\n"
        "x_sti_int43: sti\n"
        "             int $0x43\n"
        "             cli\n"
        "             ret\n"
        ".popsection\n");

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_cpu_init();
    hv_user_init();

    /* Faults: RIP of the faulting instruction is saved. */
    fault("#DE: DIV by zero", 0, x_div0, 0, x_div0_i);
    fault("#DE: IDIV overflow (INT64_MIN / -1)", 0, x_idiv, 0, x_idiv_i);
    fault("#UD: UD2", 6, x_ud2, 0, x_ud2_i);
    fault("#GP: load from a non-canonical address", 13, x_gp, 0, x_gp_i);
    fault("#SS: RBP-based non-canonical access", 12, x_ss, 0, x_ss_i);

    /* #BP is a trap: RIP after INT3; the frame starts 16-byte aligned. */
    hv_set_handler(3, trap_handler);
    x_bp(NULL);
    hv_printf("#BP: INT3 resumes after it: %s, saved CS=%#llx SS=%#llx, frame 16-byte aligned: %s\n",
              trap_rip == (uint64_t)(uintptr_t)x_bp_after ? "yes" : "no", (unsigned long long)trap_cs,
              (unsigned long long)trap_ss, trap_aligned ? "yes" : "no");
    T_CHECK_EQ(trap_count, 1);
    T_CHECK_EQ(trap_rip, (uint64_t)(uintptr_t)x_bp_after);
    T_CHECK_EQ(trap_cs, SEL_KCODE);
    T_CHECK_EQ(trap_ss, SEL_KDATA);
    T_CHECK(trap_aligned, "frame not aligned");

    /* An interrupt gate clears IF; a trap gate (type 0xF) leaves it. */
    x_sti_int3(NULL);
    uint64_t if_int = (trap_rflags >> 9) & 1;
    struct hv_dtr idtr;
    sidt(&idtr);
    uint64_t *idt = (uint64_t *)(uintptr_t)idtr.base;
    hv_set_gate(0x43, 0, 0, true);
    idt[2 * 0x43] |= 1ull << 40;                            /* type 0xE -> 0xF */
    hv_set_handler(0x43, trap_handler);
    x_sti_int43(NULL);
    uint64_t if_trap = (trap_rflags >> 9) & 1;
    hv_printf("IF=1, INT3 through an interrupt gate: handler IF=%llu; INT 0x43 through a trap gate: handler IF=%llu\n",
              (unsigned long long)if_int, (unsigned long long)if_trap);
    T_CHECK_EQ(if_int, 0);
    T_CHECK_EQ(if_trap, 1);

    /* INT n through a present DPL-0 gate from ring 0. */
    hv_set_handler(0x42, trap_handler);
    x_int42(NULL);
    hv_printf("INT 0x42 from ring 0: delivered, returns after it: %s\n",
              trap_rip == (uint64_t)(uintptr_t)x_int42_after ? "yes" : "no");
    T_CHECK_EQ(trap_count, 4);
    T_CHECK_EQ(trap_rip, (uint64_t)(uintptr_t)x_int42_after);

    /* INT n through a not-present gate: #NP(vector * 8 + 2), a fault. */
    hv_set_gate(0x41, 0, 0, false);
    fault("#NP: INT 0x41, gate not present", 11, x_int41, 0x41 * 8 + 2, x_int41_i);

    /* Ring 3: INT n through a DPL-0 gate -> #GP(vector * 8 + 2). */
    hv_expect(13, NULL);
    uint64_t r = hv_run_user(u_int40, hv_user_stack());
    hv_expect_cancel();
    hv_printf("ring 3: INT 0x40 through a DPL-0 gate: %s, vector %llu, error code 0x%llx, RIP %s\n",
              r == ~0ull ? "faulted" : "NOT faulted", (unsigned long long)hv_last_vector,
              (unsigned long long)hv_last_ec, hv_last_rip == (uint64_t)(uintptr_t)u_int40_i ? "= INT" : "WRONG");
    T_CHECK_EQ(r, ~0ull);
    T_CHECK_EQ(hv_last_vector, 13);
    T_CHECK_EQ(hv_last_ec, 0x40 * 8 + 2);
    T_CHECK_EQ(hv_last_rip, (uint64_t)(uintptr_t)u_int40_i);

    /* Ring 3: INT3 through the DPL-3 gate works and resumes in ring 3. */
    r = hv_run_user(u_int3, hv_user_stack());
    hv_printf("ring 3: INT3 through a DPL-3 gate: handled in ring 0 (saved CS=%#llx), ring 3 continued: %s\n",
              (unsigned long long)trap_cs, r == 0x33 ? "yes" : "no");
    T_CHECK_EQ(trap_count, 5);
    T_CHECK_EQ(trap_cs, SEL_UCODE | 3);
    T_CHECK_EQ(r, 0x33);
    /* Privilege change (SDM 3A 6.14.4): the stack comes from TSS.RSP0, SS
     * becomes a null selector (RPL = new CPL), the old SS:RSP is saved. */
    hv_printf("ring 3 -> ring 0: on the TSS.RSP0 stack: %s, handler SS=%#llx, saved SS=%#llx, saved RSP = user RSP: %s\n",
              trap_rsp0 ? "yes" : "no", (unsigned long long)trap_cur_ss, (unsigned long long)trap_ss,
              trap_rsp == (uint64_t)(uintptr_t)hv_user_stack() ? "yes" : "no");
    T_CHECK(trap_rsp0, "frame not on the RSP0 stack");
    T_CHECK_EQ(trap_cur_ss, 0);
    T_CHECK_EQ(trap_ss, SEL_UDATA | 3);
    T_CHECK_EQ(trap_rsp, (uint64_t)(uintptr_t)hv_user_stack());

    /* Ring 3: #UD goes through the DPL-0 gate (no DPL check for exceptions). */
    hv_expect(6, NULL);
    r = hv_run_user(u_ud2, hv_user_stack());
    hv_expect_cancel();
    hv_printf("ring 3: UD2 through a DPL-0 gate: %s, vector %llu, RIP %s\n", r == ~0ull ? "delivered" : "NOT delivered",
              (unsigned long long)hv_last_vector, hv_last_rip == (uint64_t)(uintptr_t)u_ud2_i ? "= UD2" : "WRONG");
    T_CHECK_EQ(r, ~0ull);
    T_CHECK_EQ(hv_last_vector, 6);
    T_CHECK_EQ(hv_last_rip, (uint64_t)(uintptr_t)u_ud2_i);

    /* LOCK on an instruction that cannot be locked (SDM 2A 2.1.1, LOCK):
     * #UD. Last, because hvsim currently stops the run here. */
    fault("#UD: LOCK prefix on MOV", 6, x_lock, 0, x_lock_i);
    T_DONE();
}
