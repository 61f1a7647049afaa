/*
 * align_check — alignment checking (SDM 3A 6.15 "Interrupt 17—Alignment
 * Check Exception (#AC)", table 6-7): with CR0.AM = 1, RFLAGS.AC = 1 and
 * CPL 3 a misaligned data or stack access is #AC(0), a fault (the saved
 * RIP is the instruction, nothing of it happened); an aligned one, a byte,
 * a 16-byte SSE load (no #AC above 8 bytes), or any access with AM = 0,
 * AC = 0 or at CPL 0 is not checked.
 *
 * Each ring-3 snippet points a register at u_buf (16-byte aligned) plus an
 * offset, runs one instruction (labelled *_i) and returns through INT 0x81.
 *
 * `--cmdline unmodelled`: OUTSW from a misaligned address at CPL 3 with
 * IOPL 0 and alignment checking on, which hvsim does not classify (the TSS
 * I/O permission bitmap decides whether #GP comes first): the run stops as
 * not modelled.
 */
#include "hvsim.h"

#define CR0_AM (1ull << 18)

#define U(name, setup, insn) \
    ".globl u_" #name "\nu_" #name ": " setup "\nu_" #name "_i: " insn "\n mov $1, %eax\n int $0x81\n"
__asm__(".pushsection .hvuser.text, \"ax\"\n"
        U(ld4_1, "lea u_buf+1(%rip), %rax", "mov (%rax), %eax")
        U(ld4_4, "lea u_buf+4(%rip), %rax", "mov (%rax), %eax")
        U(ld2_2, "lea u_buf+2(%rip), %rax", "movw (%rax), %ax")
        U(ld2_1, "lea u_buf+1(%rip), %rax", "movw (%rax), %ax")
        U(ld8_4, "lea u_buf+4(%rip), %rax", "mov (%rax), %rax")
        U(ld1_1, "lea u_buf+1(%rip), %rax", "movb (%rax), %al")
        U(st4_2, "lea u_buf+2(%rip), %rax", "movl $7, (%rax)")
        U(xadd_6, "lea u_buf+6(%rip), %rax", "lock xaddl %ecx, (%rax)")
        U(push_4, "mov %rsp, %rbx\n lea u_stk+0x804(%rip), %rsp", "push %rax\n mov %rbx, %rsp")
        U(movs_1, "lea u_buf+1(%rip), %rsi\n lea u_buf+32(%rip), %rdi", "movsl")
        U(movups_1, "lea u_buf+1(%rip), %rax", "movups (%rax), %xmm0")
        U(movss_2, "lea u_buf+2(%rip), %rax", "movss (%rax), %xmm0")
        U(popf_ac, "pushfq\n orq $0x40000, (%rsp)\n popfq\n lea u_buf+1(%rip), %rax", "mov (%rax), %eax")
        U(outsw, "lea u_buf+1(%rip), %rsi\n mov $0x80, %edx", "outsw")
        ".popsection\n"
        ".pushsection .hvuser.data, \"aw\"\n"
        ".balign 16\n"
        "u_buf: .fill 64, 1, 0\n"
        ".balign 16\n"
        "u_stk: .fill 4096, 1, 0\n"
        ".popsection\n");
#define DECL(name) extern char u_##name[], u_##name##_i[];
DECL(ld4_1) DECL(ld4_4) DECL(ld2_2) DECL(ld2_1) DECL(ld8_4) DECL(ld1_1) DECL(st4_2) DECL(xadd_6) DECL(push_4)
DECL(movs_1) DECL(movups_1) DECL(movss_2) DECL(popf_ac) DECL(outsw)
extern char u_buf[];

#define RF_AC (1ull << 18)

/* Run the ring-3 snippet fn with RFLAGS rflags; expect #AC(0) at insn
 * (ac) or no fault. */
static void run(const char *what, char *fn, char *insn, uint64_t rflags, bool ac)
{
    hv_expect(17, NULL);
    uint64_t r = hv_run_user_flags((void (*)(void))fn, hv_user_stack(), rflags);
    hv_expect_cancel();
    write_rflags(read_rflags() & ~RF_AC);
    bool f = r == ~0ull;
    if (f)
        hv_printf("%s: #AC(%#llx), saved RIP = the instruction: %s\n", what, (unsigned long long)hv_last_ec,
                  hv_yn(hv_last_rip == (uint64_t)(uintptr_t)insn));
    else
        hv_printf("%s: no fault\n", what);
    T_CHECK(f == ac, "%s: %s", what, f ? "#AC" : "no #AC");
    if (f && ac) {
        T_CHECK_EQ(hv_last_vector, 17);
        T_CHECK_EQ(hv_last_ec, 0);
        T_CHECK_EQ(hv_last_rip, (uint64_t)(uintptr_t)insn);
    }
}

static void k_load(void *p) { *(volatile uint32_t *)p = *(volatile uint32_t *)p + 1; }

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    hv_user_init();
    const uint64_t AC = 0x2 | RF_AC, NOAC = 0x2;
    write_cr0(read_cr0() | CR0_AM);
    const char *c = (const char *)(uintptr_t)bi->cmdline;
    if (c && !strcmp(c, "unmodelled")) {
        hv_printf("OUTSW from u_buf + 1 at CPL 3 with IOPL 0, CR0.AM = 1 and RFLAGS.AC = 1\n");
        hv_expect(13, NULL);
        uint64_t r = hv_run_user_flags((void (*)(void))u_outsw, hv_user_stack(), AC);
        hv_printf("came back: %s, vector %llu\n", r == ~0ull ? "a fault" : "no fault", (unsigned long long)hv_last_vector);
        hv_exit(1);
    }
    hv_printf("CR0.AM = 1, CPL 3, RFLAGS.AC = 1:\n");
    run("  4-byte load at +1", u_ld4_1, u_ld4_1_i, AC, true);
    run("  4-byte load at +4", u_ld4_4, u_ld4_4_i, AC, false);
    run("  2-byte load at +2", u_ld2_2, u_ld2_2_i, AC, false);
    run("  2-byte load at +1", u_ld2_1, u_ld2_1_i, AC, true);
    run("  8-byte load at +4", u_ld8_4, u_ld8_4_i, AC, true);
    run("  1-byte load at +1", u_ld1_1, u_ld1_1_i, AC, false);
    run("  4-byte store at +2 (nothing stored)", u_st4_2, u_st4_2_i, AC, true);
    T_CHECK_EQ(*(volatile uint32_t *)(u_buf + 2), 0);
    run("  LOCK XADD of 4 bytes at +6", u_xadd_6, u_xadd_6_i, AC, true);
    run("  PUSH with RSP 4 bytes past an 8-byte boundary", u_push_4, u_push_4_i, AC, true);
    run("  MOVSD with RSI at +1", u_movs_1, u_movs_1_i, AC, true);
    run("  MOVUPS (16 bytes) at +1", u_movups_1, u_movups_1_i, AC, false);
    run("  MOVSS (4 bytes) at +2", u_movss_2, u_movss_2_i, AC, true);
    hv_printf("CR0.AM = 1, CPL 3, RFLAGS.AC = 0:\n");
    run("  4-byte load at +1", u_ld4_1, u_ld4_1_i, NOAC, false);
    run("  POPF sets AC, then a 4-byte load at +1", u_popf_ac, u_popf_ac_i, NOAC, true);
    hv_printf("CR0.AM = 1, CPL 0, RFLAGS.AC = 1:\n");
    write_rflags(read_rflags() | RF_AC);
    bool f = hv_call_expect(17, k_load, u_buf + 1);
    write_rflags(read_rflags() & ~RF_AC);
    hv_printf("  4-byte load and store at +1: %s\n", f ? "#AC" : "no fault");
    T_CHECK(!f, "#AC at CPL 0");
    write_cr0(read_cr0() & ~CR0_AM);
    hv_printf("CR0.AM = 0, CPL 3, RFLAGS.AC = 1:\n");
    run("  4-byte load at +1", u_ld4_1, u_ld4_1_i, AC, false);
    T_DONE();
}
