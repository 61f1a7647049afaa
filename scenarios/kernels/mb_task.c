/*
 * mb_task — task switches outside VMX (SDM 3A 7.3 "Task Switching", table
 * 7-1; SDM 2A JMP and INT n, 2B IRET "Operation"). hvsim makes the checks
 * that come before a task switch, with their faults, but does not model
 * the switch itself (docs/cpu-mmu.md): it is a VM exit in VMX non-root
 * operation (scenarios/payloads/vmx_task.c) and stops the run anywhere
 * else.
 *
 * Without a command line the kernel checks the faults:
 *   JMP to a busy TSS                           #GP(selector)
 *   JMP to a TSS whose limit is below 67H       #TS(selector)
 *   JMP through a task gate with P = 0           #NP(gate selector)
 *   IRET with NT = 1 and a null previous-task link  #TS(0)
 *   INT n through a task gate naming a busy TSS  #GP(TSS selector)
 * With `switch` it makes a valid JMP to an available TSS: hvsim stops the
 * run as unmodelled; a processor (or Bochs) switches to task B, which
 * reports TR and ends the run.
 */
#include "mb32.h"

#define SEL_TSS_B    0x48   /* entry 9: available 32-bit TSS */
#define SEL_TSS_BUSY 0x50   /* entry 10: busy 32-bit TSS */
#define SEL_TSS_SHORT 0x58  /* entry 11: available, limit 0x50 */
#define SEL_GATE_NP  0x60   /* entry 12: task gate naming SEL_TSS_B, P = 0 */
#define VEC_GATE_BUSY 0x90  /* IDT: task gate naming SEL_TSS_BUSY */

static struct mb_tss tss_b, tss_busy, tss_short;
static uint8_t task_b_stack[4096] __attribute__((aligned(16)));

void tk_jmp_busy(void *), tk_jmp_short(void *), tk_jmp_gate_np(void *), tk_iret_nt(void *), tk_int_busy(void *);
void tk_jmp_b(void);
extern const char tk_jmp_busy_at[], tk_jmp_short_at[], tk_jmp_gate_np_at[], tk_iret_nt_at[], tk_int_busy_at[];
__asm__(".pushsection .text\n"
        "tk_jmp_busy:\n"
        "tk_jmp_busy_at: ljmp $0x50, $0\n ret\n"
        "tk_jmp_short:\n"
        "tk_jmp_short_at: ljmp $0x58, $0\n ret\n"
        "tk_jmp_gate_np:\n"
        "tk_jmp_gate_np_at: ljmp $0x60, $0\n ret\n"
        "tk_iret_nt: pushfl\n orl $0x4000, (%esp)\n popfl\n"
        "tk_iret_nt_at: iret\n ret\n"
        "tk_int_busy:\n"
        "tk_int_busy_at: int $0x90\n ret\n"
        "tk_jmp_b: ljmp $0x48, $0\n ret\n"
        ".popsection\n");

static uint32_t addr(const void *p) { return (uint32_t)(uintptr_t)p; }

static void gdt_tss(unsigned i, const struct mb_tss *t, uint32_t limit, bool busy)
{
    mb_gdt_set(i, addr(t), limit, busy ? 0x8B : DESC_TSS32, 0);
}

/* A task gate (SDM 3A 7.2.5, figure 7-6): TSS selector in bits 31:16, type 5. */
static uint64_t task_gate(uint16_t tss, bool present)
{
    return ((uint64_t)tss << 16) | (5ull << 40) | ((uint64_t)present << 47);
}

/* Task B: what a processor that switches tasks runs after `switch`. */
static void task_b(void)
{
    mb_printf("task B runs: TR = %#x\n", str());
    T_DONE();
}

static void expect(const char *what, unsigned vector, const char *name, void (*fn)(void *), uint32_t want_ec,
                   const char *want_eip)
{
    mb_last_ec = mb_last_eip = ~0u;
    bool hit = mb_call_expect(vector, fn, NULL);
    /* an IRET that faulted left EFLAGS.NT set (the frame's): clear it */
    __asm__ volatile("pushfl; andl $~0x4000, (%%esp); popfl" ::: "memory", "cc");
    if (!hit) {
        mb_printf("%s: no %s\n", what, name);
        T_CHECK(hit, "%s: no %s", what, name);
        return;
    }
    bool at = mb_last_eip == addr(want_eip);
    mb_printf("%s: %s(%#x), saved EIP = the instruction: %s, TR still %#x: %s\n", what, name, mb_last_ec, mb_yn(at),
              SEL_TSS, mb_yn(str() == SEL_TSS));
    T_CHECK_EQ(mb_last_ec, want_ec);
    T_CHECK(at, "saved EIP %#x", mb_last_eip);
    T_CHECK_EQ(str(), SEL_TSS);
}

void mb_main(uint32_t magic, const struct mb_info *mbi)
{
    (void)magic;
    mb_cpu_init();
    gdt_tss(9, &tss_b, 0x67, false);
    gdt_tss(10, &tss_busy, 0x67, true);
    gdt_tss(11, &tss_short, 0x50, false);
    mb_gdt[12] = task_gate(SEL_TSS_B, false);
    volatile uint64_t *idt = (volatile uint64_t *)(uintptr_t)mb_idtr.base;
    idt[VEC_GATE_BUSY] = task_gate(SEL_TSS_BUSY, true);
    /* task B's state, for a processor that does switch */
    tss_b.eip = addr((const void *)task_b);
    tss_b.esp = addr(task_b_stack + sizeof(task_b_stack) - 16);
    tss_b.eflags = 0x2;
    tss_b.cs = SEL_KCODE;
    tss_b.ss = tss_b.ds = tss_b.es = tss_b.fs = tss_b.gs = SEL_KDATA;
    tss_b.cr3 = read_cr3();
    tss_b.iomap_base = sizeof(struct mb_tss);

    const char *cmd = (mbi->flags & MB_INFO_CMDLINE) ? (const char *)(uintptr_t)mbi->cmdline : "";
    const char *sp = cmd;
    while (*sp && *sp != ' ')
        sp++;
    if (*sp == ' ' && !strcmp(sp + 1, "switch")) {
        mb_printf("JMP 0x48:0 to an available 32-bit TSS (task B)\n");
        tk_jmp_b();
        mb_printf("the JMP came back without a task switch\n");
        mb_exit(1);
    }
    expect("JMP 0x50:0 (a busy TSS)", 13, "#GP", tk_jmp_busy, SEL_TSS_BUSY, tk_jmp_busy_at);
    expect("JMP 0x58:0 (a TSS with limit 0x50 < 0x67)", 10, "#TS", tk_jmp_short, SEL_TSS_SHORT, tk_jmp_short_at);
    expect("JMP 0x60:0 (a task gate with P = 0)", 11, "#NP", tk_jmp_gate_np, 0x60, tk_jmp_gate_np_at);
    expect("IRET with EFLAGS.NT = 1 and previous-task link 0", 10, "#TS", tk_iret_nt, 0, tk_iret_nt_at);
    expect("INT 0x90 through a task gate naming the busy TSS 0x50", 13, "#GP", tk_int_busy, SEL_TSS_BUSY,
           tk_int_busy_at);
    T_DONE();
}
