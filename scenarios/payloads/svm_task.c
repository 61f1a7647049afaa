/*
 * svm_task — the AMD-V task-switch intercept (AMD APM vol. 2 15.14.1 "Task
 * Switch Intercept", intercept vector 3 bit 29, exit code 0x7D in appendix
 * C). A 32-bit protected-mode guest (vmcb_guest32: 32-bit paging with
 * 4-MiB pages, its own GDT, IDT and TSSs in the payload's memory; TR, FS
 * and GS from VMLOAD) tries one kind of task switch per run (`--cmdline
 * NAME`, the table at the end): JMP and CALL to a TSS descriptor and
 * through a task gate, IRET with EFLAGS.NT = 1, INT n, INT3 and #GP through
 * a task gate in the IDT, an external interrupt injected with EVENTINJ
 * through one. With the intercept every attempt that passes the
 * checks before it is #VMEXIT 0x7D and nothing of the switch happens: the
 * host finds TR (VMSAVE), the TSS descriptors' busy bits and both TSSs as
 * they were.
 *
 * What is printed and checked (15.14.1): EXITINFO1 the selector of the new
 * TSS; EXITINFO2 bit 36 for IRET, bit 38 for a far JMP, bit 44 with the
 * error code in bits 31:0 for an exception that pushes one, bit 48 the
 * EFLAGS.RF the old TSS would have saved (1 for a fault-class exception);
 * EXITINTINFO the event whose delivery met a task gate in the IDT (15.7.2);
 * nRIP 0, the task-switch intercept not being an instruction intercept
 * (15.7.1); the guest RIP at the instruction (or the faulting one).
 *
 * Other cases: the checks that come first (a busy TSS, a TSS limit below
 * 67H, a not-present task gate or TSS, a gate naming a busy TSS, IRET with
 * a null previous-task link): the guest's own handler gets the fault, or
 * with the exception intercept it is #VMEXIT 0x40 + vector; IA-32e mode,
 * where a far JMP to a TSS descriptor or a task gate is #GP; and the
 * intercept clear, where hvsim, which does not model task switching, must
 * stop the run.
 *
 * TSS B is a complete 32-bit task (its EIP a VMMCALL) so that an
 * implementation that performs the switch instead of exiting ends in
 * #VMEXIT 0x81 rather than running away.
 */
#include "svm.h"

#define RFLAGS_NT (1ull << 14)
#define B(n) (1u << (n))
#define U(x) ((unsigned long long)(x))

/* the guest's GDT: selectors */
enum {
    G_CODE = 0x08, G_DATA = 0x10,
    G_TSS_A = 0x18,          /* the current task (TR), busy */
    G_TSS_B = 0x20,          /* available (busy for the IRET case) */
    G_GATE_B = 0x28,         /* task gate naming G_TSS_B */
    G_TSS_BUSY = 0x30,       /* busy */
    G_TSS_SHORT = 0x38,      /* available, limit 0x50 < 0x67 */
    G_GATE_NP = 0x40,        /* task gate naming G_TSS_B, not present */
    G_GATE_BUSY = 0x48,      /* task gate naming G_TSS_BUSY */
    G_TSS_NP = 0x50,         /* available, not present */
    G_TSS64 = 0x18,          /* IA-32e case: an available 64-bit TSS (16 bytes) */
    G_GATE64 = 0x28,         /* IA-32e case: a task gate */
};

static uint8_t vmcb[4096] __attribute__((aligned(4096)));
static uint8_t hsave[4096] __attribute__((aligned(4096)));
static uint8_t iopm[3 * 4096] __attribute__((aligned(4096)));
static uint8_t msrpm[2 * 4096] __attribute__((aligned(4096)));
static uint8_t host_sa[4096] __attribute__((aligned(4096)));   /* the host's TR, LDTR, FS, GS (VMSAVE) */
static uint8_t guest_sa[4096] __attribute__((aligned(4096)));  /* the guest's, for VMLOAD and VMSAVE */
static uint64_t ggdt[16] __attribute__((aligned(16)));
static uint64_t gidt[256] __attribute__((aligned(16)));
static uint32_t tss_a[26] __attribute__((aligned(16))), tss_b[26] __attribute__((aligned(16)));
static uint32_t tss_c[26] __attribute__((aligned(16))), tss_d[26] __attribute__((aligned(16)));
static uint32_t gpd[1024] __attribute__((aligned(4096)));
static uint8_t gstack[4096] __attribute__((aligned(16)));
static uint8_t bstack[4096] __attribute__((aligned(16)));       /* task B's */
static struct svm_gregs g;
static uint64_t guest_rax;                                      /* the guest's RAX at VMRUN */
static uint64_t expect_switch_inj;                              /* EVENTINJ for expect_switch's VMRUN */

static uint64_t A(const void *p) { return (uint64_t)(uintptr_t)p; }
static uint64_t r64(unsigned off) { return *(volatile uint64_t *)(vmcb + off); }
static void w64(unsigned off, uint64_t v) { *(volatile uint64_t *)(vmcb + off) = v; }
static void vmload(void *p) { __asm__ volatile("mov %0, %%rax\n vmload" ::"r"(A(p)) : "rax", "memory"); }
static void vmsave(void *p) { __asm__ volatile("mov %0, %%rax\n vmsave" ::"r"(A(p)) : "rax", "memory"); }

/* 32-bit guest code: each snippet ends with VMMCALL (reached only when no
 * exit happened); the handlers put their vector in EAX and VMMCALL;
 * g32_task_b is where task B starts. */
extern char g32_jmp_tss[], g32_call_tss[], g32_jmp_gate[], g32_call_gate[], g32_iret[], g32_int40[], g32_int3[];
extern char g32_mov_ds[], g32_jmp_busy[], g32_jmp_short[], g32_jmp_gate_np[], g32_jmp_gate_busy[], g32_jmp_tss_np[];
extern char g32_handler[], g32_h_ts[], g32_h_np[], g32_h_gp[], g32_task_b[], g32_nop[], g64_ljmp[];
__asm__(".pushsection .text\n"
        ".code32\n"
        "g32_jmp_tss: ljmp $0x20, $0\n vmmcall\n"
        "g32_call_tss: lcall $0x20, $0\n vmmcall\n"
        "g32_jmp_gate: ljmp $0x28, $0\n vmmcall\n"
        "g32_call_gate: lcall $0x28, $0\n vmmcall\n"
        "g32_iret: iret\n vmmcall\n"
        "g32_int40: int $0x40\n vmmcall\n"
        "g32_int3: int3\n vmmcall\n"
        "g32_mov_ds: mov %ax, %ds\n vmmcall\n"
        "g32_jmp_busy: ljmp $0x30, $0\n vmmcall\n"
        "g32_jmp_short: ljmp $0x38, $0\n vmmcall\n"
        "g32_jmp_gate_np: ljmp $0x40, $0\n vmmcall\n"
        "g32_jmp_gate_busy: ljmp $0x48, $0\n vmmcall\n"
        "g32_jmp_tss_np: ljmp $0x50, $0\n vmmcall\n"
        "g32_handler: mov $0xff, %eax\n vmmcall\n"
        "g32_h_ts: mov $10, %eax\n vmmcall\n"
        "g32_h_np: mov $11, %eax\n vmmcall\n"
        "g32_h_gp: mov $13, %eax\n vmmcall\n"
        "g32_task_b: mov $0xb, %eax\n vmmcall\n"
        "g32_nop: nop\n vmmcall\n"
        ".code64\n"
        "g64_ljmp: ljmpl *(%rax)\n vmmcall\n"
        ".popsection\n");

/* ---- descriptors (SDM 3A 3.4.5, 7.2.2, 7.2.5, 6.11; APM 2 4.7, 4.8) ---- */

/* a TSS descriptor: S = 0, type 9 (available 32-bit TSS) or 11 (busy) */
static uint64_t tss_desc(const void *tss, uint32_t limit, unsigned type) { return hv_seg_desc(A(tss), limit, type, 0); }
static uint64_t int_gate32(const void *fn) { return hv_int_gate32((uint32_t)A(fn), G_CODE); }

/* The guest's tables as every case starts them. TSS B is a whole task
 * (32-bit TSS, SDM 3A 7.2.1): CR3, EIP at g32_task_b, flat segments, its
 * own stack. */
static void tables(void)
{
    for (unsigned i = 0; i < 16; i++)
        ggdt[i] = 0;
    ggdt[G_CODE >> 3] = hv_seg_desc(0, 0xFFFFF, 0x1B, 0xC);    /* S | execute/read, accessed; G, D */
    ggdt[G_DATA >> 3] = hv_seg_desc(0, 0xFFFFF, 0x13, 0xC);    /* S | read/write, accessed */
    ggdt[G_TSS_A >> 3] = tss_desc(tss_a, 0x67, 11);
    ggdt[G_TSS_B >> 3] = tss_desc(tss_b, 0x67, 9);
    ggdt[G_GATE_B >> 3] = hv_task_gate(G_TSS_B, true);
    ggdt[G_TSS_BUSY >> 3] = tss_desc(tss_c, 0x67, 11);
    ggdt[G_TSS_SHORT >> 3] = tss_desc(tss_d, 0x50, 9);
    ggdt[G_GATE_NP >> 3] = hv_task_gate(G_TSS_B, false);
    ggdt[G_GATE_BUSY >> 3] = hv_task_gate(G_TSS_BUSY, true);
    ggdt[G_TSS_NP >> 3] = tss_desc(tss_d, 0x67, 9) & ~(1ull << 47);
    for (unsigned v = 0; v < 256; v++)
        gidt[v] = int_gate32(g32_handler);
    gidt[10] = int_gate32(g32_h_ts);
    gidt[11] = int_gate32(g32_h_np);
    gidt[13] = int_gate32(g32_h_gp);
    for (unsigned i = 0; i < 26; i++)
        tss_a[i] = tss_b[i] = tss_c[i] = tss_d[i] = 0;
    tss_b[7] = (uint32_t)A(gpd);                            /* CR3 */
    tss_b[8] = (uint32_t)A(g32_task_b);                     /* EIP */
    tss_b[9] = 0x2;                                         /* EFLAGS */
    tss_b[14] = (uint32_t)A(bstack + sizeof(bstack) - 16);  /* ESP */
    tss_b[18] = tss_b[20] = tss_b[21] = tss_b[22] = tss_b[23] = G_DATA;   /* ES, SS, DS, FS, GS */
    tss_b[19] = G_CODE;                                     /* CS */
    for (unsigned i = 0; i < 1024; i++)
        gpd[i] = (i << 22) | 0xE3;                          /* P, W, A, D, PS: 4-MiB identity map */
}

/* A 32-bit protected-mode guest at rip, CPL 0, TR = G_TSS_A (busy, from
 * VMLOAD with FS and GS), with the intercepts in vector 3 i3 and the
 * exception intercepts exc; VMMCALL is intercepted. */
static void guest32(const void *rip, uint64_t rflags, uint32_t i3, uint32_t exc)
{
    struct hv_dtr gd = { sizeof(ggdt) - 1, A(ggdt) }, id = { sizeof(gidt) - 1, A(gidt) };
    vmcb_guest32(vmcb, (uint32_t)A(rip), (uint32_t)A(gstack + sizeof(gstack) - 16), G_CODE, G_DATA, &gd, &id,
                 (uint32_t)A(gpd), iopm, msrpm);
    *(volatile uint32_t *)(vmcb + V_I3) = i3;
    *(volatile uint32_t *)(vmcb + V_I4) = B(I4_VMRUN) | B(I4_VMMCALL);
    *(volatile uint32_t *)(vmcb + V_EXC_ICPT) = exc;
    w64(V_RFLAGS, rflags);
    w64(V_RAX, guest_rax);
    w64(V_NRIP, 0x1111);                                    /* to see that #VMEXIT writes it */
    memset(guest_sa, 0, sizeof(guest_sa));
    vmcb_seg(guest_sa, V_FS, G_DATA, 0xC93, 0xFFFFFFFF, 0);
    vmcb_seg(guest_sa, V_GS, G_DATA, 0xC93, 0xFFFFFFFF, 0);
    vmcb_seg(guest_sa, V_TR, G_TSS_A, 0x8B, 0x67, A(tss_a));   /* busy 32-bit TSS, P */
}

/* VMRUN with the guest's TR, LDTR, FS and GS, then the guest's back into
 * guest_sa and the host's own reloaded (#VMEXIT restores neither). */
static uint64_t run(void)
{
    vmload(guest_sa);
    svm_run(A(vmcb), &g);
    vmsave(guest_sa);
    vmload(host_sa);
    return r64(V_EXITCODE);
}

/* Nothing of the switch happened: TR is G_TSS_A, TSS A's EIP and EFLAGS
 * fields were not written, TSS B's link was not written, the busy bits
 * are as they were (b_type: TSS B's type before the run). */
static bool untouched(unsigned b_type)
{
    uint16_t tr = *(volatile uint16_t *)(guest_sa + V_TR);
    return tr == G_TSS_A && tss_a[8] == 0 && tss_a[9] == 0 && tss_b[0] == 0 &&
           hv_desc_type(ggdt[G_TSS_A >> 3]) == 11 && hv_desc_type(ggdt[G_TSS_B >> 3]) == b_type;
}

/* Run the guest at rip with the task-switch intercept; expect #VMEXIT 0x7D
 * with EXITINFO1 sel, EXITINFO2 info2 and EXITINTINFO intinfo. */
static void expect_switch(const char *what, const char *at, const void *rip, uint64_t rflags, uint16_t sel,
                          uint64_t info2, uint64_t intinfo)
{
    unsigned b_type = hv_desc_type(ggdt[G_TSS_B >> 3]);
    guest32(rip, rflags, B(I3_TASK_SWITCH), 0);
    w64(V_EVENTINJ, expect_switch_inj);
    uint64_t code = run();
    uint64_t i1 = r64(V_EXITINFO1), i2 = r64(V_EXITINFO2), ii = r64(V_EXITINTINFO), nrip = r64(V_NRIP);
    bool same = untouched(b_type);
    hv_printf("%s: exit %#llx, EXITINFO1 %#llx, EXITINFO2 %#llx (IRET %llu, JMP %llu, error code %llu, RF %llu), "
              "EXITINTINFO %#llx, nRIP %#llx, at the %s: %s, nothing of the switch happened: %s\n", what, U(code),
              U(i1), U(i2), U((i2 >> 36) & 1), U((i2 >> 38) & 1), U((i2 >> 44) & 1), U((i2 >> 48) & 1), U(ii),
              U(nrip), at, hv_yn(r64(V_RIP) == A(rip)), hv_yn(same));
    T_CHECK_EQ(code, 0x7D);
    T_CHECK_EQ(i1, sel);
    T_CHECK_EQ(i2, info2);
    T_CHECK_EQ(ii, intinfo);
    T_CHECK_EQ(nrip, 0);
    T_CHECK_EQ(r64(V_RIP), A(rip));
    T_CHECK(same, "TR %#x, TSS A EIP %#x, TSS B link %#x, types %u %u", *(volatile uint16_t *)(guest_sa + V_TR),
            tss_a[8], tss_b[0], hv_desc_type(ggdt[G_TSS_A >> 3]), hv_desc_type(ggdt[G_TSS_B >> 3]));
}

/* ---- the cases ---- */

#define I2_IRET (1ull << 36)
#define I2_JMP  (1ull << 38)
#define I2_EV   (1ull << 44)
#define I2_RF   (1ull << 48)

static void jmp_tss(void)
{
    expect_switch("JMP 0x20:0 (an available 32-bit TSS)", "JMP", g32_jmp_tss, 0x2, G_TSS_B, I2_JMP, 0);
}
static void call_tss(void)
{
    expect_switch("CALL 0x20:0 (an available 32-bit TSS)", "CALL", g32_call_tss, 0x2, G_TSS_B, 0, 0);
}
static void jmp_gate(void)
{
    expect_switch("JMP 0x28:0 (a task gate naming TSS 0x20)", "JMP", g32_jmp_gate, 0x2, G_TSS_B, I2_JMP, 0);
}
static void call_gate(void)
{
    expect_switch("CALL 0x28:0 (a task gate naming TSS 0x20)", "CALL", g32_call_gate, 0x2, G_TSS_B, 0, 0);
}
static void iret_nt(void)
{
    ggdt[G_TSS_B >> 3] = tss_desc(tss_b, 0x67, 11);          /* the task to return to is busy */
    tss_a[0] = G_TSS_B;                                     /* previous-task link */
    expect_switch("IRET with EFLAGS.NT = 1, previous-task link 0x20 (busy)", "IRET", g32_iret, 0x2 | RFLAGS_NT,
                  G_TSS_B, I2_IRET, 0);
    hv_printf("  the guest's EFLAGS still has NT: %s\n", hv_yn(r64(V_RFLAGS) & RFLAGS_NT));
    T_CHECK(r64(V_RFLAGS) & RFLAGS_NT, "RFLAGS %#llx", U(r64(V_RFLAGS)));
}
static void int_gate(void)
{
    gidt[0x40] = hv_task_gate(G_TSS_B, true);
    expect_switch("INT 0x40 through a task gate naming TSS 0x20", "INT", g32_int40, 0x2, G_TSS_B, 0, 0x80000440);
}
static void int3_gate(void)
{
    gidt[3] = hv_task_gate(G_TSS_B, true);
    expect_switch("INT3 through a task gate naming TSS 0x20", "INT3", g32_int3, 0x2, G_TSS_B, 0, 0x80000303);
}
static void gp_gate(void)
{
    gidt[13] = hv_task_gate(G_TSS_B, true);
    guest_rax = 0x1238;                                     /* beyond the GDT limit: #GP(0x1238), a fault */
    expect_switch("MOV DS, AX = 0x1238: #GP(0x1238) through a task gate naming TSS 0x20", "MOV", g32_mov_ds, 0x2,
                  G_TSS_B, I2_EV | I2_RF | 0x1238, 0x123880000B0Dull);
}

/* EVENTINJ of an external interrupt (type 0, vector 0x40) whose IDT entry
 * is a task gate: the injection meets the gate before the guest's first
 * instruction, #VMEXIT 0x7D with the interrupt in EXITINTINFO. */
static void eventinj_gate(void)
{
    gidt[0x40] = hv_task_gate(G_TSS_B, true);
    expect_switch_inj = (1ull << 31) | 0x40;
    expect_switch("EVENTINJ of external interrupt 0x40 through a task gate naming TSS 0x20", "first instruction",
                  g32_nop, 0x2, G_TSS_B, 0, 0x80000040);
    hv_printf("  EVENTINJ's valid bit cleared: %s\n", hv_yn(!(r64(V_EVENTINJ) >> 31 & 1)));
    T_CHECK(!(r64(V_EVENTINJ) >> 31 & 1), "EVENTINJ %#llx", U(r64(V_EVENTINJ)));
}

/* The checks before a task switch fault first (15.14.1 takes the intercept
 * only after the new TSS is validated): run the guest at rip with the
 * task-switch intercept and the exception intercepts exc; expect the
 * guest's handler for vector with error code ec (exc 0), or #VMEXIT
 * 0x40 + vector with EXITINFO1 ec. */
static void expect_fault_first(const char *what, const void *rip, uint64_t rflags, unsigned vector, uint32_t ec,
                               uint32_t exc)
{
    guest32(rip, rflags, B(I3_TASK_SWITCH), exc);
    uint64_t code = run();
    if (exc) {
        hv_printf("%s, with the intercept of vector %u: exit %#llx, EXITINFO1 %#llx, at the instruction: %s\n", what,
                  vector, U(code), U(r64(V_EXITINFO1)), hv_yn(r64(V_RIP) == A(rip)));
        T_CHECK_EQ(code, 0x40 + vector);
        T_CHECK_EQ(r64(V_EXITINFO1), ec);
        T_CHECK_EQ(r64(V_RIP), A(rip));
        return;
    }
    volatile uint32_t *sp = (volatile uint32_t *)(uintptr_t)(r64(V_RSP) & 0xFFFFFFFF);
    uint64_t vec = r64(V_RAX) & 0xFF;
    hv_printf("%s: the guest's handler for vector %llu ran (exit %#llx), error code %#x, pushed EIP at the "
              "instruction: %s\n", what, U(vec), U(code), sp[0], hv_yn(sp[1] == A(rip)));
    T_CHECK_EQ(code, 0x81);
    T_CHECK_EQ(vec, vector);
    T_CHECK_EQ(sp[0], ec);
    T_CHECK_EQ(sp[1], A(rip));
}

static void checks(void)
{
    expect_fault_first("JMP 0x30:0 (a busy TSS): #GP(0x30)", g32_jmp_busy, 0x2, 13, G_TSS_BUSY, 0);
    expect_fault_first("JMP 0x38:0 (a TSS with limit 0x50 < 0x67): #TS(0x38)", g32_jmp_short, 0x2, 10, G_TSS_SHORT, 0);
    expect_fault_first("JMP 0x40:0 (a task gate with P = 0): #NP(0x40)", g32_jmp_gate_np, 0x2, 11, G_GATE_NP, 0);
    expect_fault_first("JMP 0x48:0 (a task gate naming the busy TSS 0x30): #GP(0x30)", g32_jmp_gate_busy, 0x2, 13,
                       G_TSS_BUSY, 0);
    expect_fault_first("JMP 0x50:0 (a TSS with P = 0): #NP(0x50)", g32_jmp_tss_np, 0x2, 11, G_TSS_NP, 0);
    expect_fault_first("IRET with EFLAGS.NT = 1 and a null previous-task link: #TS(0)", g32_iret, 0x2 | RFLAGS_NT, 10,
                       0, 0);
    expect_fault_first("JMP 0x50:0 (a TSS with P = 0): #NP(0x50)", g32_jmp_tss_np, 0x2, 11, G_TSS_NP, B(11));
    hv_printf("no task-switch exit, TR still %#x, TSS B's link and busy bit untouched: %s\n",
              *(volatile uint16_t *)(guest_sa + V_TR), hv_yn(untouched(9)));
    T_CHECK(untouched(9), "TR %#x", *(volatile uint16_t *)(guest_sa + V_TR));
}

/* IA-32e mode: a 64-bit guest with its own GDT (64-bit code at 0x08, an
 * available 64-bit TSS at 0x18, a task gate at 0x28); LJMP m16:32 to either
 * is #GP(selector), taken by the #GP intercept, with the task-switch
 * intercept set too. */
static void ia32e_gp(void)
{
    static const uint16_t target[] = { G_TSS64, G_GATE64 };
    static const char *const name[] = { "an available 64-bit TSS", "a task gate" };
    static uint32_t farptr[2];
    for (unsigned i = 0; i < 2; i++) {
        for (unsigned k = 0; k < 16; k++)
            ggdt[k] = 0;
        ggdt[G_CODE >> 3] = hv_seg_desc(0, 0xFFFFF, 0x1B, 0xA);    /* S | execute/read, accessed; G, L */
        ggdt[G_DATA >> 3] = hv_seg_desc(0, 0xFFFFF, 0x13, 0xC);
        ggdt[G_TSS64 >> 3] = tss_desc(tss_a, 0x67, 9);
        ggdt[(G_TSS64 >> 3) + 1] = 0;                       /* base 63:32 */
        ggdt[G_GATE64 >> 3] = hv_task_gate(G_TSS64, true);
        vmcb_guest64(vmcb, g64_ljmp, A(gstack + sizeof(gstack) - 16), iopm, msrpm);
        vmcb_seg(vmcb, V_CS, G_CODE, 0xA9B, 0xFFFFFFFF, 0);
        vmcb_seg(vmcb, V_SS, G_DATA, 0xC93, 0xFFFFFFFF, 0);
        vmcb_seg(vmcb, V_DS, G_DATA, 0xC93, 0xFFFFFFFF, 0);
        vmcb_seg(vmcb, V_ES, G_DATA, 0xC93, 0xFFFFFFFF, 0);
        vmcb_seg(vmcb, V_GDTR, 0, 0, sizeof(ggdt) - 1, A(ggdt));
        *(volatile uint32_t *)(vmcb + V_I3) = B(I3_TASK_SWITCH);
        *(volatile uint32_t *)(vmcb + V_I4) = B(I4_VMRUN) | B(I4_VMMCALL);
        *(volatile uint32_t *)(vmcb + V_EXC_ICPT) = B(13);
        farptr[0] = 0;
        farptr[1] = target[i];
        w64(V_RAX, A(farptr));
        svm_run(A(vmcb), &g);
        uint64_t code = r64(V_EXITCODE);
        hv_printf("64-bit guest, LJMP to %#x (%s): exit %#llx, EXITINFO1 %#llx, at the LJMP: %s\n", target[i],
                  name[i], U(code), U(r64(V_EXITINFO1)), hv_yn(r64(V_RIP) == A(g64_ljmp)));
        T_CHECK_EQ(code, 0x4D);
        T_CHECK_EQ(r64(V_EXITINFO1), target[i]);
        T_CHECK_EQ(r64(V_RIP), A(g64_ljmp));
    }
}

/* Without the intercept the switch would go on in the guest; hvsim does not
 * model task switching, so the run must stop there, naming it. */
static void no_intercept(void)
{
    guest32(g32_jmp_tss, 0x2, 0, 0);
    hv_printf("JMP 0x20:0 (an available 32-bit TSS) without the task-switch intercept\n");
    uint64_t code = run();
    hv_printf("the run went on: exit %#llx, TR %#x\n", U(code), *(volatile uint16_t *)(guest_sa + V_TR));
    hv_exit(1);
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    svm_enable(hsave);
    vmsave(host_sa);
    tables();
    static const struct { const char *name; void (*fn)(void); } cases[] = {
        { "jmp-tss", jmp_tss }, { "call-tss", call_tss }, { "jmp-gate", jmp_gate }, { "call-gate", call_gate },
        { "iret-nt", iret_nt }, { "int-gate", int_gate }, { "int3-gate", int3_gate }, { "gp-gate", gp_gate }, { "eventinj-gate", eventinj_gate },
        { "checks", checks }, { "ia32e-gp", ia32e_gp }, { "no-intercept", no_intercept },
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (hv_cmdline_is(bi, cases[i].name)) {
            cases[i].fn();
            T_DONE();
        }
    hv_printf("usage: --cmdline CASE (see the table in svm_task.c)\n");
    hv_exit(1);
}
