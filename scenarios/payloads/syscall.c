/*
 * syscall — SYSCALL/SYSRET between ring 3 and ring 0.
 *
 * SDM 2B SYSCALL (RCX := RIP of the next instruction, R11 := RFLAGS,
 * RFLAGS := RFLAGS AND NOT IA32_FMASK, CS := STAR[47:32], SS := STAR[47:32]
 * + 8, CPL 0, RSP unchanged; #UD if IA32_EFER.SCE = 0), 2B SYSRET (64-bit:
 * RIP := RCX, RFLAGS := (R11 & 3C7FD7H) | 2, CS := STAR[63:48] + 16 | 3,
 * SS := STAR[63:48] + 8 | 3; #GP(0) if CPL != 0 or, on Intel, if RCX is
 * not canonical), 3A 5.8.8 (fast system calls in 64-bit mode).
 */
#include "hvsim.h"

#define FMASK_BITS (RFLAGS_TF | RFLAGS_IF | RFLAGS_DF | RFLAGS_AC)

/* ---- part 1: the runtime's SYSCALL path (hv_syscall_init/hv_syscall) ---- */
static uint64_t handler(uint64_t nr, uint64_t a1, uint64_t a2)
{
    return nr == 7 ? a1 * 1000 + a2 : ~0ull;
}

HV_USER static void u_call(void)
{
    uint64_t r = hv_syscall(7, 12, 34);
    hv_user_return(r);
}

/* ---- part 2: an entry point that records what SYSCALL did ---- */
uint64_t k_rcx, k_r11, k_rflags, k_rsp;
uint16_t k_cs, k_ss;
static uint8_t k_stack[4096] __attribute__((aligned(16)));
uint64_t k_stack_top;
void sc_entry(void);
__asm__(".pushsection .text\n"
        ".globl sc_entry\n"
        "sc_entry: mov %rcx, k_rcx(%rip)\n"
        "          mov %r11, k_r11(%rip)\n"
        "          mov %rsp, k_rsp(%rip)\n"
        "          mov k_stack_top(%rip), %rsp\n"
        "          pushfq\n"
        "          popq k_rflags(%rip)\n"
        "          mov %cs, %ax\n"
        "          mov %ax, k_cs(%rip)\n"
        "          mov %ss, %ax\n"
        "          mov %ax, k_ss(%rip)\n"
        "          mov k_rsp(%rip), %rsp\n"
        "          mov $0x5C, %eax\n"
        "          sysretq\n"
        ".popsection\n");

volatile uint64_t u_flags_before HV_USER_DATA, u_flags_after HV_USER_DATA, u_rax HV_USER_DATA,
    u_rsp_before HV_USER_DATA, u_rsp_after HV_USER_DATA;
volatile uint16_t u_cs HV_USER_DATA, u_ss HV_USER_DATA;
void u_sc(void), u_sysret(void);
extern char u_sc_next[], u_sysret_i[];
__asm__(".pushsection .hvuser.text, \"ax\"\n"
        ".globl u_sc, u_sc_next, u_sysret, u_sysret_i\n"
        "u_sc:      std\n"                                  /* DF = 1 */
        "           pushfq\n"
        "           orq $0x40000, (%rsp)\n"                 /* AC = 1 (CR0.AM = 0: no #AC) */
        "           popfq\n"
        "           pushfq\n"
        "           popq u_flags_before(%rip)\n"
        "           mov %rsp, u_rsp_before(%rip)\n"
        "           mov $0x99, %eax\n"
        "           syscall\n"
        "u_sc_next: pushfq\n"
        "           popq u_flags_after(%rip)\n"
        "           mov %rsp, u_rsp_after(%rip)\n"
        "           mov %rax, u_rax(%rip)\n"
        "           mov %cs, %ax\n"
        "           mov %ax, u_cs(%rip)\n"
        "           mov %ss, %ax\n"
        "           mov %ax, u_ss(%rip)\n"
        "           cld\n"
        "           pushfq\n"
        "           andq $~0x40000, (%rsp)\n"
        "           popfq\n"
        "           mov $1, %eax\n"
        "           int $0x81\n"
        "u_sysret:\n"
        "u_sysret_i: sysretq\n"
        "           mov $1, %eax\n"
        "           int $0x81\n"
        ".popsection\n");

/* Ring 0 SYSCALL with SCE = 0, SYSRET with a non-canonical RCX. */
void k_syscall(void *), k_sysret_nc(void *);
extern char k_syscall_i[], k_sysret_nc_i[];
__asm__(".pushsection .text\n"
        ".globl k_syscall, k_syscall_i, k_sysret_nc, k_sysret_nc_i\n"
        "k_syscall:\n"
        "k_syscall_i: syscall\n"
        "           ret\n"
        "k_sysret_nc: movabs $0x0000800000000000, %rcx\n"
        "           mov $0x2, %r11d\n"
        "k_sysret_nc_i: sysretq\n"
        "           ret\n"
        ".popsection\n");

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_cpu_init();
    hv_user_init();
    k_stack_top = (uint64_t)(uintptr_t)(k_stack + sizeof(k_stack));

    /* SCE = 0 (the boot state): SYSCALL is #UD. */
    bool f = hv_call_expect(6, k_syscall, NULL);
    hv_printf("SYSCALL with EFER.SCE=0: %s, RIP %s\n", f ? "#UD" : "no #UD",
              hv_last_rip == (uint64_t)(uintptr_t)k_syscall_i ? "= SYSCALL" : "WRONG");
    T_CHECK(f, "no #UD");
    T_CHECK_EQ(hv_last_rip, (uint64_t)(uintptr_t)k_syscall_i);

    /* Part 1: runtime path. */
    hv_syscall_init(handler);
    uint64_t r = hv_run_user(u_call, hv_user_stack());
    hv_printf("ring 3 -> SYSCALL 7(12, 34) -> ring 0 handler -> SYSRET -> ring 3: %llu\n", (unsigned long long)r);
    T_CHECK_EQ(r, 12034);

    /* Part 2: what SYSCALL and SYSRET do to RCX, R11, RFLAGS, CS, SS, RSP. */
    wrmsr(MSR_LSTAR, (uint64_t)(uintptr_t)sc_entry);
    wrmsr(MSR_FMASK, FMASK_BITS);
    r = hv_run_user_flags(u_sc, hv_user_stack(), 0x202);        /* IF = 1 in ring 3 */
    T_CHECK_EQ(r, 1);
    uint64_t ufl = u_flags_before;
    hv_printf("user RFLAGS before SYSCALL: IF=%llu DF=%llu AC=%llu\n", (unsigned long long)((ufl >> 9) & 1),
              (unsigned long long)((ufl >> 10) & 1), (unsigned long long)((ufl >> 18) & 1));
    hv_printf("in ring 0: CS=%#x SS=%#x, RCX = next instruction: %s, R11 = user RFLAGS: %s, RSP = user RSP: %s\n",
              k_cs, k_ss, k_rcx == (uint64_t)(uintptr_t)u_sc_next ? "yes" : "no", k_r11 == ufl ? "yes" : "no",
              k_rsp == u_rsp_before ? "yes" : "no");
    T_CHECK_EQ(k_cs, SEL_KCODE);
    T_CHECK_EQ(k_ss, SEL_KDATA);
    T_CHECK_EQ(k_rcx, (uint64_t)(uintptr_t)u_sc_next);
    T_CHECK_EQ(k_r11, ufl);
    T_CHECK_EQ(k_rsp, u_rsp_before);
    hv_printf("in ring 0: RFLAGS after FMASK (TF IF DF AC): IF=%llu DF=%llu AC=%llu TF=%llu, bit 1=%llu\n",
              (unsigned long long)((k_rflags >> 9) & 1), (unsigned long long)((k_rflags >> 10) & 1),
              (unsigned long long)((k_rflags >> 18) & 1), (unsigned long long)((k_rflags >> 8) & 1),
              (unsigned long long)((k_rflags >> 1) & 1));
    T_CHECK_EQ(k_rflags & FMASK_BITS, 0);
    T_CHECK_EQ(k_rflags & ~FMASK_BITS, ufl & ~FMASK_BITS);
    uint64_t afl = u_flags_after;
    hv_printf("after SYSRET: CS=%#x SS=%#x RAX=%#llx, RFLAGS restored from R11: %s (IF=%llu DF=%llu AC=%llu), "
              "RSP kept: %s\n", u_cs, u_ss, (unsigned long long)u_rax, afl == ufl ? "yes" : "no",
              (unsigned long long)((afl >> 9) & 1), (unsigned long long)((afl >> 10) & 1),
              (unsigned long long)((afl >> 18) & 1), u_rsp_after == u_rsp_before ? "yes" : "no");
    T_CHECK_EQ(u_cs, SEL_UCODE | 3);
    T_CHECK_EQ(u_ss, SEL_UDATA | 3);
    T_CHECK_EQ(u_rax, 0x5C);
    T_CHECK_EQ(afl, ufl);
    T_CHECK_EQ(u_rsp_after, u_rsp_before);

    /* SYSRET from ring 3: #GP(0). */
    hv_expect(13, NULL);
    r = hv_run_user(u_sysret, hv_user_stack());
    hv_expect_cancel();
    hv_printf("SYSRET in ring 3: %s, error code 0x%llx, RIP %s\n", r == ~0ull ? "#GP" : "no #GP",
              (unsigned long long)hv_last_ec, hv_last_rip == (uint64_t)(uintptr_t)u_sysret_i ? "= SYSRET" : "WRONG");
    T_CHECK_EQ(r, ~0ull);
    T_CHECK_EQ(hv_last_vector, 13);
    T_CHECK_EQ(hv_last_ec, 0);
    T_CHECK_EQ(hv_last_rip, (uint64_t)(uintptr_t)u_sysret_i);

    /* SYSRET with a non-canonical RCX (Intel): #GP(0) in ring 0. */
    f = hv_call_expect(13, k_sysret_nc, NULL);
    hv_printf("SYSRET with non-canonical RCX: %s, error code 0x%llx, delivered from CS=%#llx, RIP %s\n",
              f ? "#GP" : "no #GP", (unsigned long long)hv_last_ec, (unsigned long long)hv_last_cs,
              hv_last_rip == (uint64_t)(uintptr_t)k_sysret_nc_i ? "= SYSRET" : "WRONG");
    T_CHECK(f, "no #GP");
    T_CHECK_EQ(hv_last_ec, 0);
    T_CHECK_EQ(hv_last_cs, SEL_KCODE);
    T_CHECK_EQ(hv_last_rip, (uint64_t)(uintptr_t)k_sysret_nc_i);
    T_DONE();
}
