/*
 * smc_step — code rewritten between two calls while hvsim runs the engine
 * one instruction at a time.
 *
 * With CR0.AM = 1, RFLAGS.AC = 1 and CPL 3, hvsim checks every instruction
 * for alignment before it runs (docs/cpu-mmu.md, "Alignment checking"),
 * one engine run each. A ring-3 routine writes `mov eax, imm32; ret` into a
 * page, calls it, changes the immediate and calls it again: once through
 * the address it runs at, once through a second user alias of the same
 * frame (SDM 3A 11.6: the check for self-modifying code is by physical
 * address). Each call must return what was written last, with alignment
 * checking on and off. The stores are bytes, which alignment checking never
 * faults.
 */
#include "hvsim.h"

#define CR0_AM  (1ull << 18)
#define RF_AC   (1ull << 18)
#define CODE_LA 0x50000000ull     /* where the routine is called */
#define ALIAS_LA 0x50200000ull    /* the same frame, a second user mapping */

/* rdi: where to write; returns (first call << 32) | second call */
#define SMC(name)                                                                         \
    ".globl u_" #name "\nu_" #name ":\n"                                                  \
    " movb $0xb8, (%rdi)\n movb $0x11, 1(%rdi)\n movb $0x11, 2(%rdi)\n"                   \
    " movb $0, 3(%rdi)\n movb $0, 4(%rdi)\n movb $0xc3, 5(%rdi)\n"                        \
    " mov $0x50000000, %rax\n call *%rax\n mov %eax, %ebx\n"                              \
    " movb $0x22, 1(%rdi)\n movb $0x22, 2(%rdi)\n"                                        \
    " mov $0x50000000, %rax\n call *%rax\n"                                               \
    " shl $32, %rbx\n or %rbx, %rax\n int $0x81\n"
__asm__(".pushsection .hvuser.text, \"ax\"\n"
        ".globl u_smc_own\nu_smc_own: mov $0x50000000, %rdi\n jmp u_smc\n"
        ".globl u_smc_alias\nu_smc_alias: mov $0x50200000, %rdi\n jmp u_smc\n"
        SMC(smc)
        ".popsection\n");
extern char u_smc_own[], u_smc_alias[];

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)bi; (void)lp; (void)nlps;
    hv_cpu_init();
    hv_user_init();
    void *frame = hv_page_alloc();
    hv_map(CODE_LA, (uint64_t)(uintptr_t)frame, PTE_P | PTE_W | PTE_U);
    hv_make_user(CODE_LA);
    hv_map(ALIAS_LA, (uint64_t)(uintptr_t)frame, PTE_P | PTE_W | PTE_U);
    hv_make_user(ALIAS_LA);

    static const struct { const char *what; char *fn; bool ac; } runs[] = {
        { "through its own address, alignment checking off", u_smc_own, false },
        { "through its own address, alignment checking on", u_smc_own, true },
        { "through the other alias, alignment checking off", u_smc_alias, false },
        { "through the other alias, alignment checking on", u_smc_alias, true },
    };
    for (unsigned i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        write_cr0(runs[i].ac ? (read_cr0() | CR0_AM) : (read_cr0() & ~CR0_AM));
        uint64_t r = hv_run_user_flags((void (*)(void))runs[i].fn, hv_user_stack(), runs[i].ac ? RF_AC : 0);
        write_cr0(read_cr0() & ~CR0_AM);
        hv_printf("%s: %#llx\n", runs[i].what, (unsigned long long)r);
        T_EQ(r, 0x0000111100002222ull);
    }
    T_DONE();
}
