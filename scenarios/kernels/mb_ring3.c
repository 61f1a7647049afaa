/*
 * mb_ring3 — privilege levels in 32-bit protected mode (paging off): ring 3
 * entered by IRET, system calls through a DPL-3 interrupt gate with the
 * stack switch to TSS.SS0:ESP0, a call gate, and the #GP faults that
 * protect ring 0.
 *
 *  - IRET to an outer privilege level pops EIP, CS, EFLAGS, ESP, SS
 *    (SDM 3A 6.12.1 figure 6-4, 5.8.6 / IRET in SDM 2A): user code runs
 *    with CPL = CS.RPL = 3.
 *  - INT n from CPL 3 through a gate with DPL 3 to a DPL-0 code segment
 *    switches to the stack named by TSS.SS0:ESP0 (SDM 3A 6.12.1, 7.2.1) and
 *    pushes SS, ESP, EFLAGS, CS, EIP there: the CPU's frame starts exactly
 *    at ESP0 - 20.
 *  - INT n through a gate with DPL 0 from CPL 3: #GP with error code
 *    vector * 8 + 2 (IDT bit; SDM 3A 6.12.1.1, 6.13).
 *  - Privileged instructions at CPL 3 (SDM 3A 5.9: LGDT, MOV to/from CR,
 *    HLT, WRMSR...), CLI with IOPL < CPL (SDM 2A CLI) and OUT with IOPL <
 *    CPL and no I/O permission bitmap (SDM 1 19.5) raise #GP(0).
 *  - A far CALL through a call gate (SDM 3A 5.8.3, 5.8.5) with DPL 3 to a
 *    DPL-0 segment switches to the TSS stack and pushes SS, ESP, CS, EIP;
 *    the far RET back to CPL 3 pops them (5.8.6). hvsim 0.1 ends the run as
 *    unmodelled at the LCALL (docs/cpu-mmu.md: call gates are not modelled),
 *    so this part runs only with the command-line word "callgate"
 *    (QEMU: -append callgate).
 */
#include "mb32.h"

#define SYSCALL_VEC 0x81
#define DPL0_VEC    0x82
#define SEL_CALLGATE ((MB_GDT_FIRST_FREE << 3) | 3)

static MB_USER_DATA uint8_t user_stack[4096] __attribute__((aligned(16)));
static MB_USER_DATA volatile uint32_t u_cs, u_ss, u_esp_before, u_esp_after, u_ret;
static uint8_t alt_stack[4096] __attribute__((aligned(16)));

/* ---- ring-3 code ---- */
static MB_USER void user_ident(void)
{
    uint32_t cs, ss;
    __asm__ volatile("mov %%cs, %0; mov %%ss, %1" : "=r"(cs), "=r"(ss));
    u_cs = cs;
    u_ss = ss;
    mb_user_return(0x600D);
}

static MB_USER void user_syscall(void)
{
    uint32_t r, esp;
    __asm__ volatile("mov %%esp, %1\n\t"
                     "int $0x81" : "=a"(r), "=&r"(esp) : "a"(0x1234) : "memory");
    u_esp_before = esp;
    u_ret = r;
    mb_user_return(r);
}

static MB_USER void user_int_dpl0(void) { __asm__ volatile("int $0x82" ::: "memory"); mb_user_return(0); }
static MB_USER void user_hlt(void) { __asm__ volatile("hlt"); mb_user_return(0); }
static MB_USER void user_cli(void) { __asm__ volatile("cli"); mb_user_return(0); }
static MB_USER void user_read_cr0(void) { uint32_t v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); mb_user_return(v); }
static MB_USER void user_out(void) { __asm__ volatile("outb %%al, $0x80" :: "a"(0)); mb_user_return(0); }
static MB_USER void user_lgdt(void)
{
    static MB_USER_DATA struct mb_dtr d;
    __asm__ volatile("lgdt %0" :: "m"(d));
    mb_user_return(0);
}
static MB_USER void user_wrmsr(void) { __asm__ volatile("wrmsr" :: "c"(0xC0000103u), "a"(0), "d"(0)); mb_user_return(0); }
static MB_USER void user_callgate(void)
{
    uint32_t before, after, r;
    __asm__ volatile("mov %%esp, %1\n\t"
                     "lcall $%c3, $0\n\t"
                     "mov %%esp, %2"
                     : "=a"(r), "=&r"(before), "=&r"(after) : "i"(SEL_CALLGATE) : "memory");
    u_esp_before = before;
    u_esp_after = after;
    u_ret = r;
    mb_user_return(r);
}

/* ---- ring-0 side ---- */
static volatile uint32_t k_cs, k_ss, k_frame, k_ucs, k_uss, k_uesp, k_eax;

static bool syscall_handler(struct mb_frame *f)
{
    k_cs = read_cs();
    k_ss = read_ss();
    k_frame = (uint32_t)(uintptr_t)&f->eip;
    k_ucs = f->cs;
    k_uss = f->ss;
    k_uesp = f->esp;
    k_eax = f->eax;
    f->eax = f->eax ^ 0xFFFF;                 /* the "system call" result */
    return true;                              /* IRET back to ring 3 */
}

/* The call gate's target (DPL 0): records CS, SS and the frame the gate
 * pushed (EIP, CS, ESP, SS from ESP up), returns with a far RET. */
volatile uint32_t cg_cs, cg_ss, cg_esp, cg_frame[4];
void cg_target(void);
__asm__(".pushsection .text\n"
        ".globl cg_target\n"
        "cg_target:\n"
        "    mov %cs, %eax\n"
        "    mov %eax, cg_cs\n"
        "    mov %ss, %eax\n"
        "    mov %eax, cg_ss\n"
        "    mov %esp, cg_esp\n"
        "    mov 0(%esp), %eax\n"
        "    mov %eax, cg_frame\n"
        "    mov 4(%esp), %eax\n"
        "    mov %eax, cg_frame + 4\n"
        "    mov 8(%esp), %eax\n"
        "    mov %eax, cg_frame + 8\n"
        "    mov 12(%esp), %eax\n"
        "    mov %eax, cg_frame + 12\n"
        "    mov $0xCA11, %eax\n"
        "    lret\n"
        ".popsection\n");

static void *ustack_top(void) { return user_stack + sizeof user_stack; }

static void gp_at_cpl3(const char *what, void (*fn)(void), uint32_t want_ec)
{
    mb_last_ec = ~0u;
    mb_expect(13);
    uint32_t r = mb_run_user(fn, ustack_top());
    mb_expect_cancel();
    bool gp = r == ~0u;
    mb_printf("CPL 3: %s: #GP(%#x) from CS = %#x: %s\n", what, mb_last_ec, mb_last_cs, mb_yn(gp));
    T_CHECK(gp, "%s: no #GP", what);
    T_CHECK_EQ(mb_last_ec, want_ec);
    T_CHECK_EQ(mb_last_cs, SEL_UCODE);
}

static void iret_and_syscalls(void)
{
    /* IRET to ring 3 */
    uint32_t r = mb_run_user(user_ident, ustack_top());
    mb_printf("IRET to ring 3: CS = %#x (CPL %u), SS = %#x; back through INT 0x80 with EAX = %#x\n", u_cs, u_cs & 3,
              u_ss, r);
    T_CHECK_EQ(u_cs, SEL_UCODE);
    T_CHECK_EQ(u_ss, SEL_UDATA);
    T_CHECK_EQ(r, 0x600D);

    /* INT 0x81: DPL-3 interrupt gate, stack switch to TSS.SS0:ESP0 */
    mb_set_gate(SYSCALL_VEC, GATE_INT32, 3, true);
    mb_set_handler(SYSCALL_VEC, syscall_handler);
    uint32_t esp0 = mb_tss.esp0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            mb_tss.esp0 = (uint32_t)(uintptr_t)(alt_stack + sizeof alt_stack);
        uint32_t want0 = mb_tss.esp0;
        r = mb_run_user(user_syscall, ustack_top());
        mb_printf("INT 0x81 (DPL-3 gate) from ring 3, TSS.ESP0 = %s: handler at CS = %#x, SS = %#x (TSS.SS0); the CPU's "
                  "frame starts at ESP0 - 20: %s\n", pass ? "another stack" : "the ring-0 stack", k_cs, k_ss,
                  mb_yn(k_frame == want0 - 20));
        mb_printf("  frame: user CS = %#x, SS = %#x, ESP = the user's ESP at the INT: %s; EAX in %#x, out %#x\n", k_ucs,
                  k_uss, mb_yn(k_uesp == u_esp_before), k_eax, r);
        T_CHECK_EQ(k_cs, SEL_KCODE);
        T_CHECK_EQ(k_ss, mb_tss.ss0);
        T_CHECK_EQ(k_frame, want0 - 20);
        T_CHECK_EQ(k_ucs, SEL_UCODE);
        T_CHECK_EQ(k_uss, SEL_UDATA);
        T_CHECK_EQ(k_uesp, u_esp_before);
        T_CHECK_EQ(k_eax, 0x1234);
        T_CHECK_EQ(r, 0x1234 ^ 0xFFFF);
    }
    mb_tss.esp0 = esp0;
}

static void privileged(void)
{
    /* a DPL-0 gate from ring 3 */
    mb_set_gate(DPL0_VEC, GATE_INT32, 0, true);
    gp_at_cpl3("INT 0x82 through a DPL-0 gate (error code = vector * 8 + 2, IDT)", user_int_dpl0, DPL0_VEC * 8 + 2);
    /* privileged instructions */
    gp_at_cpl3("HLT", user_hlt, 0);
    gp_at_cpl3("CLI with IOPL = 0", user_cli, 0);
    gp_at_cpl3("MOV from CR0", user_read_cr0, 0);
    gp_at_cpl3("LGDT", user_lgdt, 0);
    gp_at_cpl3("WRMSR", user_wrmsr, 0);
    /* IOPL 0 < CPL and no I/O permission bitmap (TSS I/O map base = the
     * TSS limit + 1): every port is denied (SDM 1 19.5.2 / 3A 7.2.1) */
    gp_at_cpl3("OUT to port 0x80 with IOPL = 0 and no I/O bitmap", user_out, 0);
}

static void call_gate(void)
{
    /* a 32-bit call gate, DPL 3, to cg_target in SEL_KCODE (DPL 0) */
    uint32_t off = (uint32_t)(uintptr_t)cg_target;
    uint32_t lo = ((uint32_t)SEL_KCODE << 16) | (off & 0xFFFF);
    uint32_t hi = (off & 0xFFFF0000u) | 0x8000u | (3u << 13) | (0xCu << 8);
    mb_gdt[MB_GDT_FIRST_FREE] = (uint64_t)hi << 32 | lo;
    uint32_t r = mb_run_user(user_callgate, ustack_top());
    mb_printf("call gate %#x (DPL 3) from ring 3: target runs at CS = %#x, SS = %#x, ESP = TSS.ESP0 - 16: %s\n",
              SEL_CALLGATE, cg_cs & 0xFFFF, cg_ss & 0xFFFF, mb_yn(cg_esp == mb_tss.esp0 - 16));
    mb_printf("  pushed: CS = %#x, SS = %#x, ESP = the caller's: %s, EIP = after the LCALL: %s\n", cg_frame[1] & 0xFFFF,
              cg_frame[3] & 0xFFFF, mb_yn(cg_frame[2] == u_esp_before),
              mb_yn(cg_frame[0] > (uint32_t)(uintptr_t)user_callgate &&
                    cg_frame[0] < (uint32_t)(uintptr_t)user_callgate + 64));
    mb_printf("  far RET back to ring 3: ESP restored: %s, EAX = %#x\n", mb_yn(u_esp_after == u_esp_before), u_ret);
    T_CHECK_EQ(cg_cs & 0xFFFF, SEL_KCODE);
    T_CHECK_EQ(cg_ss & 0xFFFF, mb_tss.ss0);
    T_CHECK_EQ(cg_esp, mb_tss.esp0 - 16);
    T_CHECK_EQ(cg_frame[1] & 0xFFFF, SEL_UCODE);
    T_CHECK_EQ(cg_frame[3] & 0xFFFF, SEL_UDATA);
    T_CHECK_EQ(cg_frame[2], u_esp_before);
    T_CHECK(cg_frame[0] > (uint32_t)(uintptr_t)user_callgate && cg_frame[0] < (uint32_t)(uintptr_t)user_callgate + 64,
            "EIP %#x", cg_frame[0]);
    T_CHECK_EQ(u_esp_after, u_esp_before);
    T_CHECK_EQ(u_ret, 0xCA11);
    T_CHECK_EQ(r, 0xCA11);
}

void mb_main(uint32_t magic, const struct mb_info *mbi)
{
    T_ASSERT(magic == MB_BOOTLOADER_MAGIC, "magic %#x", magic);
    const char *cmd = (mbi->flags & MB_INFO_CMDLINE) ? (const char *)(uintptr_t)mbi->cmdline : "";
    bool callgate = false;
    for (const char *c = cmd; *c; c++)
        if (!strncmp(c, "callgate", 8))
            callgate = true;
    mb_cpu_init();
    iret_and_syscalls();
    privileged();
    if (callgate)
        call_gate();
    T_DONE();
}
