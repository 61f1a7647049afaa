/*
 * vmx_task — task switches in VMX non-root operation (SDM 3C 26.4.2
 * "Treatment of Task Switches"). A 32-bit protected-mode guest (32-bit
 * paging with 4-MiB pages, its own GDT, IDT and TSSs in the payload's
 * memory) tries one kind of task switch per run (`--cmdline NAME`, the
 * table at the end): JMP and CALL to a TSS descriptor and through a task
 * gate, IRET with EFLAGS.NT = 1, INT n, INT3 and exceptions through a task
 * gate in the IDT, an NMI and an external interrupt through a task gate
 * (nmi-gate, ext-gate). Every attempt that passes the checks before it is a VM
 * exit with reason 9 and nothing of the switch happens: the host finds TR,
 * the TSS descriptors' busy bits and both TSSs as they were.
 *
 * What is printed and checked (SDM 3C 28.2.1 table "Exit Qualification for
 * Task Switches": selector in bits 15:0, source in 31:30, 0 CALL, 1 IRET,
 * 2 JMP, 3 task gate in the IDT; 28.2.4 IDT-vectoring information for the
 * task-gate case; 28.2.5 the instruction length for CALL, IRET, JMP and
 * the software interrupts and exceptions; 28.3.3 the guest RIP: the
 * instruction, or for a fault what the old TSS would have received). Bits
 * the SDM leaves undefined are masked out: qualification bits 29:16 and
 * 63:32, IDT-vectoring bit 12, the length of a hardware exception's exit.
 *
 * Other cases: the checks that come first (a busy TSS, a TSS limit below
 * 67H, a not-present task gate, a gate naming a busy TSS: #GP, #TS, #NP
 * through the exception bitmap, SDM 3C 26.4.2 steps 1-4) and IA-32e mode,
 * where a far JMP to a TSS descriptor or a task gate is #GP (26.4.2 1.a,
 * 1.c).
 */
#include "hvsim.h"
#include "apic.h"
#include "vmx.h"

#define F_IDT_VECTORING_EC 0x440Au
#define CR4_PSE (1ull << 4)
#define RFLAGS_NT (1ull << 14)

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
    G_TSS64 = 0x18,          /* IA-32e case: an available 64-bit TSS (16 bytes) */
    G_GATE64 = 0x28,         /* IA-32e case: a task gate */
};

static uint64_t ggdt[16] __attribute__((aligned(16)));
static uint64_t gidt[256] __attribute__((aligned(16)));
static uint32_t tss_a[26] __attribute__((aligned(16))), tss_b[26] __attribute__((aligned(16)));
static uint32_t tss_c[26] __attribute__((aligned(16))), tss_d[26] __attribute__((aligned(16)));
static uint32_t gpd[1024] __attribute__((aligned(4096)));
static uint8_t gstack[4096] __attribute__((aligned(16)));
static struct vmx_regs g;
static bool launched;
static uint32_t inject;      /* VM-entry interruption information of the next guest32() */

static uint64_t A(const void *p) { return (uint64_t)(uintptr_t)p; }

/* 32-bit guest code: each snippet ends with VMCALL (reached only when no
 * exit happened); g32_handler is every IDT vector not set otherwise. */
extern char g32_jmp_tss[], g32_call_tss[], g32_jmp_gate[], g32_call_gate[], g32_iret[], g32_int40[], g32_int3[];
extern char g32_ud2[], g32_mov_ds[], g32_jmp_busy[], g32_jmp_short[], g32_jmp_gate_np[], g32_jmp_gate_busy[];
extern char g32_handler[], g64_ljmp[];
__asm__(".pushsection .text\n"
        ".code32\n"
        "g32_jmp_tss: ljmp $0x20, $0\n vmcall\n"
        "g32_call_tss: lcall $0x20, $0\n vmcall\n"
        "g32_jmp_gate: ljmp $0x28, $0\n vmcall\n"
        "g32_call_gate: lcall $0x28, $0\n vmcall\n"
        "g32_iret: iret\n vmcall\n"
        "g32_int40: int $0x40\n vmcall\n"
        "g32_int3: int3\n vmcall\n"
        "g32_ud2: ud2\n vmcall\n"
        "g32_mov_ds: mov %ax, %ds\n vmcall\n"
        "g32_jmp_busy: ljmp $0x30, $0\n vmcall\n"
        "g32_jmp_short: ljmp $0x38, $0\n vmcall\n"
        "g32_jmp_gate_np: ljmp $0x40, $0\n vmcall\n"
        "g32_jmp_gate_busy: ljmp $0x48, $0\n vmcall\n"
        "g32_handler: vmcall\n"
        ".code64\n"
        "g64_ljmp: ljmpl *(%rax)\n vmcall\n"
        ".popsection\n");

/* ---- descriptors (SDM 3A 3.4.5, 7.2.2, 7.2.5, 6.11) ---- */

/* a TSS descriptor: S = 0, type 9 (available 32-bit TSS) or 11 (busy) */
static uint64_t tss_desc(const void *tss, uint32_t limit, unsigned type) { return hv_seg_desc(A(tss), limit, type, 0); }
static uint64_t int_gate32(const void *fn) { return hv_int_gate32((uint32_t)A(fn), G_CODE); }

/* The guest's tables as every case starts them. */
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
    for (unsigned v = 0; v < 256; v++)
        gidt[v] = int_gate32(g32_handler);
    for (unsigned i = 0; i < 26; i++)
        tss_a[i] = tss_b[i] = tss_c[i] = tss_d[i] = 0;
    for (unsigned i = 0; i < 1024; i++)
        gpd[i] = (i << 22) | 0xE3;                          /* P, W, A, D, PS: 4-MiB identity map */
}

/* A 32-bit protected-mode guest at rip with paging (CR4.PSE), CPL 0,
 * TR = G_TSS_A; the host is the payload (64-bit). */
static void guest32(const void *rip, uint64_t rflags)
{
    vmx_init_controls(0, 0, 0, 0, 0);
    vmw(F_ENTRY_CTLS, vmx_ctls(MSR_VMX_ENTRY_CTLS, MSR_VMX_TRUE_ENTRY, 0));   /* not IA-32e mode */
    vmx_init_host();
    vmx_init_guest64(A(rip), A(gstack + sizeof(gstack) - 16));
    vmw(F_GUEST_CR0, 0x80000031);                           /* PG, NE, ET, PE */
    vmw(F_GUEST_CR4, CR4_VMXE | CR4_PSE);
    vmw(F_GUEST_CR3, A(gpd));
    static const uint32_t sel[] = { F_GUEST_ES_SEL, F_GUEST_CS_SEL, F_GUEST_SS_SEL, F_GUEST_DS_SEL,
                                    F_GUEST_FS_SEL, F_GUEST_GS_SEL };
    for (unsigned s = 0; s < 6; s++) {
        vmw(sel[s], s == 1 ? G_CODE : G_DATA);
        vmw(F_GUEST_ES_BASE + 2 * s, 0);
        vmw(F_GUEST_ES_LIMIT + 2 * s, 0xFFFFFFFF);
        vmw(F_GUEST_ES_AR + 2 * s, s == 1 ? 0xC09B : 0xC093);
    }
    vmw(F_GUEST_TR_SEL, G_TSS_A);
    vmw(F_GUEST_TR_BASE, A(tss_a));
    vmw(F_GUEST_TR_LIMIT, 0x67);
    vmw(F_GUEST_TR_AR, 0x8B);                               /* busy 32-bit TSS */
    vmw(F_GUEST_GDTR_BASE, A(ggdt));
    vmw(F_GUEST_GDTR_LIMIT, sizeof(ggdt) - 1);
    vmw(F_GUEST_IDTR_BASE, A(gidt));
    vmw(F_GUEST_IDTR_LIMIT, sizeof(gidt) - 1);
    vmw(F_GUEST_RFLAGS, rflags);
    vmw(F_ENTRY_INTR_INFO, inject);
}

static uint64_t enter(void)
{
    uint64_t r = vmx_enter(&g, launched);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VM entry: %s, error %llu", vmx_status_name(vmx_status(r)),
             (unsigned long long)vmx_insn_error());
    launched = true;
    return vmr(F_EXIT_REASON);
}

/* Nothing of the switch happened: TR is G_TSS_A, TSS A's state fields
 * were not written, TSS B's link was not written, the busy bits are as
 * they were (b_type: TSS B's type before the entry). */
static bool untouched(unsigned b_type)
{
    return vmr(F_GUEST_TR_SEL) == G_TSS_A && tss_a[8] == 0 && tss_a[9] == 0 && tss_b[0] == 0 &&
           hv_desc_type(ggdt[G_TSS_A >> 3]) == 11 && hv_desc_type(ggdt[G_TSS_B >> 3]) == b_type;
}

static const char *const source_name[] = { "CALL", "IRET", "JMP", "task gate in the IDT" };

/* Run the guest at rip; expect a task-switch exit with selector sel from
 * source src, the instruction length len (~0: undefined, not printed) and
 * IDT-vectoring information idt (with error code idt_ec when bit 11). */
static void expect_switch(const char *what, const char *at, const void *rip, uint64_t rflags, uint16_t sel,
                          unsigned src, unsigned len, uint32_t idt, uint32_t idt_ec)
{
    unsigned b_type = hv_desc_type(ggdt[G_TSS_B >> 3]);
    guest32(rip, rflags);
    uint64_t r = enter();
    uint64_t q = vmr(F_EXIT_QUALIFICATION) & 0xC000FFFFull, l = vmr(F_EXIT_INSN_LEN);
    uint64_t iv = vmr(F_IDT_VECTORING_INFO) & ~0x1000ull, iec = vmr(F_IDT_VECTORING_EC);
    uint64_t grip = vmr(F_GUEST_RIP);
    hv_printf("%s: exit %llu, qualification %#llx (selector %#llx, source %llu = %s)", what, (unsigned long long)r,
              (unsigned long long)q, (unsigned long long)(q & 0xFFFF), (unsigned long long)(q >> 30),
              source_name[(q >> 30) & 3]);
    if (len != ~0u)
        hv_printf(", length %llu", (unsigned long long)l);
    if (iv >> 31) {
        hv_printf(", IDT-vectoring information %#llx", (unsigned long long)iv);
        if ((iv >> 11) & 1)
            hv_printf(", error code %#llx", (unsigned long long)iec);
    } else {
        hv_printf(", IDT-vectoring information valid: no");
    }
    bool same = untouched(b_type);
    hv_printf(", at the %s: %s, nothing of the switch happened: %s\n", at, hv_yn(grip == A(rip)), hv_yn(same));
    T_CHECK_EQ(r, 9);
    T_CHECK_EQ(q, (uint64_t)sel | (uint64_t)src << 30);
    if (len != ~0u)
        T_CHECK_EQ(l, len);
    T_CHECK_EQ(iv, idt);
    if ((idt >> 11) & 1)
        T_CHECK_EQ(iec, idt_ec);
    T_CHECK_EQ(grip, A(rip));
    T_CHECK(same, "TR %#llx, TSS A EIP %#x, TSS B link %#x, types %u %u", (unsigned long long)vmr(F_GUEST_TR_SEL),
            tss_a[8], tss_b[0], hv_desc_type(ggdt[G_TSS_A >> 3]), hv_desc_type(ggdt[G_TSS_B >> 3]));
}

/* Run the guest at rip with the exception bitmap bit for vector; expect
 * that exception (error code ec) as exit 0 instead of a task switch. */
static void expect_fault_first(const char *what, const void *rip, unsigned vector, uint32_t ec)
{
    guest32(rip, 0x2);
    vmw(F_EXCEPTION_BITMAP, 1u << vector);
    uint64_t r = enter();
    uint64_t ii = vmr(F_EXIT_INTR_INFO), e = vmr(F_EXIT_INTR_EC), grip = vmr(F_GUEST_RIP);
    hv_printf("%s: exit %llu, interruption information %#llx, error code %#llx, at the JMP: %s\n", what,
              (unsigned long long)r, (unsigned long long)ii, (unsigned long long)e, hv_yn(grip == A(rip)));
    T_CHECK_EQ(r, 0);
    T_CHECK_EQ(ii, 0x80000B00u | vector);
    T_CHECK_EQ(e, ec);
    T_CHECK_EQ(grip, A(rip));
}

/* ---- the cases ---- */

static void jmp_tss(void)
{
    expect_switch("JMP 0x20:0 (an available 32-bit TSS)", "JMP", g32_jmp_tss, 0x2, G_TSS_B, 2, 7, 0, 0);
}
static void call_tss(void)
{
    expect_switch("CALL 0x20:0 (an available 32-bit TSS)", "CALL", g32_call_tss, 0x2, G_TSS_B, 0, 7, 0, 0);
}
static void jmp_gate(void)
{
    expect_switch("JMP 0x28:0 (a task gate naming TSS 0x20)", "JMP", g32_jmp_gate, 0x2, G_TSS_B, 2, 7, 0, 0);
}
static void call_gate(void)
{
    expect_switch("CALL 0x28:0 (a task gate naming TSS 0x20)", "CALL", g32_call_gate, 0x2, G_TSS_B, 0, 7, 0, 0);
}
static void iret_nt(void)
{
    ggdt[G_TSS_B >> 3] = tss_desc(tss_b, 0x67, 11);          /* the task to return to is busy */
    tss_a[0] = G_TSS_B;                                     /* previous-task link */
    expect_switch("IRET with EFLAGS.NT = 1, previous-task link 0x20 (busy)", "IRET", g32_iret, 0x2 | RFLAGS_NT,
                  G_TSS_B, 1, 1, 0, 0);
    hv_printf("  the guest's EFLAGS still has NT: %s\n", hv_yn(vmr(F_GUEST_RFLAGS) & RFLAGS_NT));
    T_CHECK(vmr(F_GUEST_RFLAGS) & RFLAGS_NT, "RFLAGS %#llx", (unsigned long long)vmr(F_GUEST_RFLAGS));
    tss_a[0] = 0;
}
static void int_gate(void)
{
    gidt[0x40] = hv_task_gate(G_TSS_B, true);
    expect_switch("INT 0x40 through a task gate naming TSS 0x20", "INT", g32_int40, 0x2, G_TSS_B, 3, 2, 0x80000440, 0);
}
static void int3_gate(void)
{
    gidt[3] = hv_task_gate(G_TSS_B, true);
    expect_switch("INT3 through a task gate naming TSS 0x20", "INT3", g32_int3, 0x2, G_TSS_B, 3, 1, 0x80000603, 0);
}
static void ud_gate(void)
{
    gidt[6] = hv_task_gate(G_TSS_B, true);
    expect_switch("UD2: #UD through a task gate naming TSS 0x20", "UD2", g32_ud2, 0x2, G_TSS_B, 3, ~0u, 0x80000306, 0);
}
static void gp_gate(void)
{
    gidt[13] = hv_task_gate(G_TSS_B, true);
    g.rax = 0x1238;                                         /* beyond the GDT limit: #GP(0x1238) */
    expect_switch("MOV DS, AX = 0x1238: #GP(0x1238) through a task gate naming TSS 0x20", "MOV", g32_mov_ds, 0x2,
                  G_TSS_B, 3, ~0u, 0x80000B0D, 0x1238);
}
/* An NMI ("NMI exiting" 0; injected by VM entry, type 2) and an external
 * interrupt ("external-interrupt exiting" 0; a self IPI pending at VM
 * entry, RFLAGS.IF = 1) whose IDT entries are task gates: exit 9 from
 * source 3 with the event in the IDT-vectoring information, the guest RIP
 * where the event arrived (the instruction boundary before g32_handler). */
static void nmi_gate(void)
{
    gidt[2] = hv_task_gate(G_TSS_B, true);
    inject = 0x80000202u;                                   /* valid, NMI (type 2), vector 2 */
    expect_switch("an injected NMI through a task gate naming TSS 0x20", "boundary", g32_handler, 0x2, G_TSS_B, 3, ~0u,
                  0x80000202, 0);
    inject = 0;
}
static void ext_gate(void)
{
    gidt[0x50] = hv_task_gate(G_TSS_B, true);
    __asm__ volatile("cli");
    apic_sw_enable(0xFF);
    apic_write(APIC_ICR_LO, (1u << 18) | 0x50);             /* fixed, shorthand self, vector 0x50 */
    hv_printf("self IPI 0x50 pending in the IRR: %s\n", hv_yn((apic_read(APIC_IRR + 0x20) >> 16) & 1));
    expect_switch("external interrupt 0x50 (self IPI) through a task gate naming TSS 0x20", "boundary", g32_handler,
                  0x202, G_TSS_B, 3, ~0u, 0x80000050, 0);
}
static void checks(void)
{
    expect_fault_first("JMP 0x30:0 (a busy TSS): #GP(0x30) before any task switch", g32_jmp_busy, 13, G_TSS_BUSY);
    expect_fault_first("JMP 0x38:0 (a TSS with limit 0x50 < 0x67): #TS(0x38)", g32_jmp_short, 10, G_TSS_SHORT);
    expect_fault_first("JMP 0x40:0 (a task gate with P = 0): #NP(0x40)", g32_jmp_gate_np, 11, G_GATE_NP);
    expect_fault_first("JMP 0x48:0 (a task gate naming the busy TSS 0x30): #GP(0x30)", g32_jmp_gate_busy, 13,
                       G_TSS_BUSY);
}

/* IA-32e mode: a 64-bit guest with its own GDT (an available 64-bit TSS at
 * 0x18, a task gate at 0x28); LJMP m16:32 to either is #GP(selector). */
static void ia32e_gp(void)
{
    static const uint16_t target[] = { G_TSS64, G_GATE64 };
    static const char *const name[] = { "an available 64-bit TSS", "a task gate" };
    static uint32_t farptr[2];
    for (unsigned i = 0; i < 2; i++) {
        for (unsigned k = 0; k < 16; k++)
            ggdt[k] = 0;
        ggdt[G_TSS64 >> 3] = tss_desc(tss_a, 0x67, 9);
        ggdt[(G_TSS64 >> 3) + 1] = 0;                       /* base 63:32 */
        ggdt[G_GATE64 >> 3] = hv_task_gate(G_TSS64, true);
        vmx_init_controls(0, 0, 0, 0, 0);
        vmx_init_host();
        vmx_init_guest64(A(g64_ljmp), A(gstack + sizeof(gstack) - 16));
        vmw(F_GUEST_GDTR_BASE, A(ggdt));
        vmw(F_GUEST_GDTR_LIMIT, sizeof(ggdt) - 1);
        vmw(F_EXCEPTION_BITMAP, 1u << 13);
        farptr[0] = 0;
        farptr[1] = target[i];
        g.rax = A(farptr);
        uint64_t r = enter();
        uint64_t ii = vmr(F_EXIT_INTR_INFO), e = vmr(F_EXIT_INTR_EC), grip = vmr(F_GUEST_RIP);
        hv_printf("64-bit guest, LJMP to %#x (%s): exit %llu, interruption information %#llx, error code %#llx, at "
                  "the LJMP: %s\n", target[i], name[i], (unsigned long long)r, (unsigned long long)ii,
                  (unsigned long long)e, hv_yn(grip == A(g64_ljmp)));
        T_CHECK_EQ(r, 0);
        T_CHECK_EQ(ii, 0x80000B0D);
        T_CHECK_EQ(e, target[i]);
        T_CHECK_EQ(grip, A(g64_ljmp));
    }
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    vmx_on_with_vmcs();
    tables();
    static const struct { const char *name; void (*fn)(void); } cases[] = {
        { "jmp-tss", jmp_tss }, { "call-tss", call_tss }, { "jmp-gate", jmp_gate }, { "call-gate", call_gate },
        { "iret-nt", iret_nt }, { "int-gate", int_gate }, { "int3-gate", int3_gate }, { "ud-gate", ud_gate },
        { "gp-gate", gp_gate }, { "checks", checks }, { "ia32e-gp", ia32e_gp }, { "nmi-gate", nmi_gate },
        { "ext-gate", ext_gate },
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (hv_cmdline_is(bi, cases[i].name)) {
            cases[i].fn();
            T_ASSERT(vmx_status(vmxoff_flags()) == VMX_OK, "VMXOFF");
            T_DONE();
        }
    hv_printf("usage: --cmdline CASE (see the table in vmx_task.c)\n");
    hv_exit(1);
}
