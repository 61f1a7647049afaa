/*
 * test_guest_insn.c — the guest side of the VT-x/AMD-V seam (cpu/cpu.h,
 * struct cpu_guest_insn, filled by cpu/sysinsn.c): what a virtualization
 * model's guest_insn hook is told about an intercepted instruction, and how
 * cpu/ executes the value the hook substitutes (cpu_guest_insn.out). A stub
 * model records every call; no VMX model is involved, so the rows reach
 * what a VMX payload cannot: 16-bit addressing, operand faults before the
 * hook, the privilege checks that come before any VM exit.
 *
 * SDM 3C "Relative Priority of Faults and VM Exits" (fault_first, LMSW's
 * operand fetched first, MOV DR's exit before the CPL check), "VM-Exit
 * Instruction-Information Field" and "Exit Qualification for VM Exits Due
 * to Instruction Execution" (the memory-operand form), "Changes to
 * Instruction Behavior in VMX Non-Root Operation" (out.value).
 */
#include "cpu_harness.h"

#define DATA_LA  0x300000ull
#define HOLE_LA  0x600000ull      /* its 2-MiB page is made not present */
#define GDT32_PA 0x1F0000ull

struct stub {
    unsigned n;
    struct cpu_guest_insn gi[8];
    enum insn_class adjust;       /* give this class out.value */
    uint64_t value;
    bool tsc_scale;               /* ... and out.tsc_scale with tsc_multiplier */
    uint64_t tsc_multiplier;
    enum insn_class done;         /* ... or out.done (the model did it) */
    unsigned nb;                  /* guest_boundary: where each instruction or event left off */
    uint64_t b_rip[16], b_rcx[16], b_insns;
};

static enum cpu_guest_action stub_guest_insn(void *ctx, cpu_t *cpu, struct cpu_guest_insn *gi)
{
    struct stub *s = ctx;
    (void)cpu;
    if (s->n < 8)
        s->gi[s->n++] = *gi;
    if (gi->cls == s->adjust && s->adjust != IC_NONE) {
        gi->out.use_value = true;
        gi->out.value = s->value;
        gi->out.tsc_scale = s->tsc_scale;
        gi->out.tsc_multiplier = s->tsc_multiplier;
    }
    if (gi->cls == s->done && s->done != IC_NONE)
        gi->out.done = true;
    return CPU_GUEST_EXECUTE;
}

/* Record RIP and RCX at each boundary where an instruction retired since
 * the last one (a call without progress, e.g. after new sites were found,
 * records nothing). */
static enum cpu_guest_action stub_boundary(void *ctx, cpu_t *cpu)
{
    struct stub *s = ctx;
    if (cpu_insns(cpu) != s->b_insns && s->nb < 16) {
        s->b_rip[s->nb] = cpu_get(cpu, CPU_RIP);
        s->b_rcx[s->nb++] = cpu_get(cpu, CPU_RCX);
    }
    s->b_insns = cpu_insns(cpu);
    return CPU_GUEST_EXECUTE;
}

static bool stub_insn(void *ctx, cpu_t *cpu, const struct cpu_virt_insn *in)
{
    (void)ctx; (void)in;
    cpu_insn_unmodelled(cpu, "stub model: no VMX instructions");
    return false;
}

/* The machine in guest mode with the stub model. */
static void setup(struct tm *t, struct stub *s, const struct code *c)
{
    memset(s, 0, sizeof(*s));
    s->adjust = s->done = IC_NONE;
    tm_create(t, c->b, c->n);
    static struct cpu_virt_ops ops;
    ops = (struct cpu_virt_ops){ .insn = stub_insn, .guest_insn = stub_guest_insn, .guest_boundary = stub_boundary };
    ops.ctx = s;
    cpu_set_virt_ops(t->cpu, &ops);
    cpu_set_guest_mode(t->cpu, true);
}

static const struct cpu_guest_insn *first(struct stub *s, enum insn_class cls)
{
    for (unsigned i = 0; i < s->n; i++)
        if (s->gi[i].cls == cls)
            return &s->gi[i];
    return NULL;
}

#define STOP(c) C(c, 0xE6, 0xF4)                  /* out 0xf4, al: the run ends */

START_TEST(mov_cr_dr_fields)
{
    struct code c = { .n = 0 };
    C(&c, 0x0F, 0x20, 0xC3);                       /* mov rbx, cr0 */
    C(&c, 0x0F, 0x22, 0xE3);                       /* mov cr4, rbx (rbx = CR0: #GP, but the hook comes first) */
    struct tm t;
    struct stub s;
    setup(&t, &s, &c);
    cpu_run(t.cpu, 100);
    const struct cpu_guest_insn *g = first(&s, IC_MOV_FROM_CR);
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(g->cr, 0);
    ck_assert_uint_eq(g->gpr, 3);
    ck_assert(!g->write && !g->fault_first);
    ck_assert_uint_eq(g->len, 3);
    g = first(&s, IC_MOV_TO_CR);
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(g->cr, 4);
    ck_assert_uint_eq(g->gpr, 3);
    ck_assert(g->write);
    ck_assert_uint_eq(g->src, cpu_get(t.cpu, CPU_CR0));
    /* the #GP of the bad CR4 value came after the hook (vector 13) */
    ck_assert_int_eq(tm_vector(&t), 13);
}
END_TEST

START_TEST(mov_dr_fields)
{
    struct code c = { .n = 0 };
    C(&c, 0x41, 0x0F, 0x21, 0xF9);                 /* mov r9, dr7 */
    C(&c, 0x0F, 0x23, 0xC2);                       /* mov dr0, rdx */
    STOP(&c);
    struct tm t;
    struct stub s;
    setup(&t, &s, &c);
    cpu_set(t.cpu, CPU_RDX, 0x1234);
    cpu_commit_state(t.cpu);
    ck_assert_int_eq(cpu_run(t.cpu, 100), CPU_STOP_PLATFORM);
    const struct cpu_guest_insn *g = first(&s, IC_MOV_FROM_DR);
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(g->cr, 7);
    ck_assert_uint_eq(g->gpr, 9);
    g = first(&s, IC_MOV_TO_DR);
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(g->cr, 0);
    ck_assert_uint_eq(g->gpr, 2);
    ck_assert_uint_eq(g->src, 0x1234);
    ck_assert(g->write);
}
END_TEST

/* LMSW with a memory operand: the operand is fetched before the hook; a
 * fault on it is delivered and the hook is never asked. */
START_TEST(lmsw_operand_first)
{
    struct code c = { .n = 0 };
    C(&c, 0x0F, 0x01, 0x30);                       /* lmsw [rax] */
    STOP(&c);
    struct tm t;
    struct stub s;
    setup(&t, &s, &c);
    cpu_set(t.cpu, CPU_RAX, HOLE_LA + 8);
    tm_pde_modify(&t, HOLE_LA, PTE_P, 0);
    cpu_run(t.cpu, 100);
    ck_assert_int_eq(tm_vector(&t), 14);
    ck_assert_ptr_null(first(&s, IC_LMSW));

    setup(&t, &s, &c);
    uint16_t w = 0x000B;
    tm_poke(&t, DATA_LA + 6, &w, 2);
    cpu_set(t.cpu, CPU_RAX, DATA_LA + 6);
    cpu_commit_state(t.cpu);
    ck_assert_int_eq(cpu_run(t.cpu, 100), CPU_STOP_PLATFORM);
    const struct cpu_guest_insn *g = first(&s, IC_LMSW);
    ck_assert_ptr_nonnull(g);
    ck_assert(g->mem);
    ck_assert_uint_eq(g->src, 0x000B);
    ck_assert_uint_eq(g->la, DATA_LA + 6);
    ck_assert_uint_eq(g->form.base, 0);
    ck_assert_uint_eq(g->form.index, CPU_MEM_NOREG);
    ck_assert_uint_eq(g->form.seg, CPU_DS);
    ck_assert_uint_eq(g->form.addr_size, 8);
}
END_TEST

/* Privilege-level faults come before VM exits; MOV DR is the exception. */
START_TEST(fault_first_at_cpl3)
{
    struct code c = { .n = 0 };
    C(&c, 0x0F, 0x21, 0xF8);                       /* mov rax, dr7 */
    struct tm t;
    struct stub s;
    setup(&t, &s, &c);
    tm_enter_user(&t, 0x90000);
    cpu_run(t.cpu, 100);
    const struct cpu_guest_insn *g = first(&s, IC_MOV_FROM_DR);
    ck_assert_ptr_nonnull(g);
    ck_assert(!g->fault_first);                    /* MOV-DR exiting has priority over the #GP */
    ck_assert_int_eq(tm_vector(&t), 13);

    static const struct { const char *name; uint8_t b[4]; unsigned n; enum insn_class cls; } rows[] = {
        { "mov rax, cr0", { 0x0F, 0x20, 0xC0 }, 3, IC_MOV_FROM_CR },
        { "hlt", { 0xF4 }, 1, IC_HLT },
        { "rdmsr", { 0x0F, 0x32 }, 2, IC_RDMSR },
        { "in al, 0x80 (IOPL 0, no I/O bitmap)", { 0xE4, 0x80 }, 2, IC_IN },
        { "invlpg [rax]", { 0x0F, 0x01, 0x38 }, 3, IC_INVLPG },
        { "lgdt [rax]", { 0x0F, 0x01, 0x10 }, 3, IC_LGDT },
        { "clts", { 0x0F, 0x06 }, 2, IC_CLTS },
        { "wbinvd", { 0x0F, 0x09 }, 2, IC_WBINVD },
    };
    for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct code r = { .n = 0 };
        c_bytes(&r, rows[i].b, rows[i].n);
        setup(&t, &s, &r);
        cpu_set(t.cpu, CPU_RAX, DATA_LA);
        tm_enter_user(&t, 0x90000);
        cpu_run(t.cpu, 100);
        g = first(&s, rows[i].cls);
        ck_assert_msg(g && g->fault_first, "%s at CPL 3: fault_first expected", rows[i].name);
        ck_assert_msg(tm_vector(&t) == 13, "%s at CPL 3: #GP expected, vector %d", rows[i].name, tm_vector(&t));
    }
}
END_TEST

/* The memory-operand form: registers, scale, displacement, segment,
 * address size; RIP-relative; string I/O's first address. */
/* The operand size of INS/OUTS with both an operand-size and a REP prefix,
 * in either order (cpu/decode.c works around Capstone taking 66 F3 6D for
 * REP INSD): what the model is told (size) and what cpu/ transfers. */
START_TEST(string_io_operand_size)
{
    struct code c = { .n = 0 };
    C(&c, 0x66, 0xF3, 0x6D);                           /* rep insw (the order assemblers emit) */
    C(&c, 0xF3, 0x66, 0x6D);                           /* rep insw */
    C(&c, 0xF3, 0x6D);                                 /* rep insd */
    C(&c, 0x66, 0x6F);                                 /* outsw */
    C(&c, 0x66, 0xF3, 0x6F);                           /* rep outsw */
    STOP(&c);
    struct tm t;
    struct stub s;
    setup(&t, &s, &c);
    cpu_set(t.cpu, CPU_RCX, 1);
    cpu_set(t.cpu, CPU_RDX, 0xE9);                     /* the harness's port */
    cpu_set(t.cpu, CPU_RSI, DATA_LA);
    cpu_set(t.cpu, CPU_RDI, DATA_LA + 0x100);
    cpu_commit_state(t.cpu);
    cpu_run(t.cpu, 100);
    static const unsigned want[5] = { 2, 2, 4, 2, 2 };
    ck_assert_uint_ge(s.n, 5);
    for (unsigned i = 0; i < 5; i++)
        ck_assert_msg(s.gi[i].size == want[i], "instruction %u: size %u, expected %u", i, s.gi[i].size, want[i]);
    /* the first REP INSW moved RDI by 2 and used RCX up; the other REPs ran
     * with RCX = 0, OUTSW moved RSI by 2 */
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RDI), DATA_LA + 0x102);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RSI), DATA_LA + 2);
    tm_destroy(&t);
}
END_TEST

START_TEST(mem_form_64)
{
    struct code c = { .n = 0 };
    C(&c, 0x66, 0x0F, 0x38, 0x82, 0x54, 0xF3, 0x20);   /* invpcid rdx, [rbx+rsi*8+0x20] */
    C(&c, 0x0F, 0x01, 0x7C, 0x24, 0xF8);               /* invlpg [rsp-8] */
    C(&c, 0x0F, 0x01, 0x0D, 0x00, 0x01, 0x00, 0x00);   /* sidt [rip+0x100] */
    C(&c, 0xF3, 0x64, 0x6E);                           /* rep outsb dx, fs:[rsi] */
    C(&c, 0x67, 0x6C);                                 /* insb [edi], dx (addr32) */
    STOP(&c);
    struct tm t;
    struct stub s;
    setup(&t, &s, &c);
    cpu_set(t.cpu, CPU_RBX, DATA_LA - 0x20);
    cpu_set(t.cpu, CPU_RSI, 0);
    cpu_set(t.cpu, CPU_RDX, 2);                        /* INVPCID type 2 */
    struct cpu_seg fs;
    cpu_get_seg(t.cpu, CPU_FS, &fs);
    fs.base = 0x1000;
    cpu_set_seg(t.cpu, CPU_FS, &fs);
    cpu_commit_state(t.cpu);
    cpu_run(t.cpu, 100);
    const struct cpu_guest_insn *g = first(&s, IC_INVPCID);
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(g->gpr, 2);
    ck_assert(g->mem);
    ck_assert_uint_eq(g->la, DATA_LA);
    ck_assert_uint_eq(g->form.base, 3);
    ck_assert_uint_eq(g->form.index, 6);
    ck_assert_uint_eq(g->form.scale, 8);
    ck_assert_int_eq(g->form.disp, 0x20);
    ck_assert_uint_eq(g->form.seg, CPU_DS);
    g = first(&s, IC_INVLPG);
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(g->form.base, 4);
    ck_assert_uint_eq(g->form.seg, CPU_SS);            /* an rSP base defaults to SS */
    ck_assert_int_eq(g->form.disp, -8);
    g = first(&s, IC_SIDT);
    ck_assert_ptr_nonnull(g);
    ck_assert(g->form.rip_rel);
    ck_assert_uint_eq(g->form.base, CPU_MEM_NOREG);
    ck_assert_uint_eq(g->la, g->rip + 7 + 0x100);
    ck_assert_uint_eq(g->opsize, 8);
    g = first(&s, IC_OUTS);
    ck_assert_ptr_nonnull(g);
    ck_assert(g->string && g->rep && g->write && g->mem);
    ck_assert_uint_eq(g->form.seg, CPU_FS);
    ck_assert_uint_eq(g->la, 0x1000);                  /* FS base + RSI */
    ck_assert_uint_eq(g->form.addr_size, 8);
}
END_TEST

/* 32-bit protected mode: a 0x67 prefix gives 16-bit addressing ([bp+si]
 * defaults to SS, disp8 sign-extended); 0x66 gives a 16-bit operand size. */
START_TEST(mem_form_16bit_addressing)
{
    static const uint64_t gdt[] = { 0, 0, 0x00CF93000000FFFFull, 0x00CF9B000000FFFFull };
    struct code c = { .n = 0 };
    C(&c, 0x67, 0x66, 0x0F, 0x01, 0x42, 0xF0);         /* o16 sgdt [bp+si-0x10] (a16) */
    STOP(&c);
    struct tm t;
    struct stub s;
    setup(&t, &s, &c);
    cpu_t *cpu = t.cpu;
    tm_poke(&t, GDT32_PA, gdt, sizeof(gdt));
    struct cpu_dtr gd = { GDT32_PA, sizeof(gdt) - 1 };
    cpu_set_dtr(cpu, false, &gd);
    cpu_set(cpu, CPU_CR0, 0x11);                       /* PE, ET: no paging */
    cpu_set(cpu, CPU_CR4, 0);
    cpu_set(cpu, CPU_EFER, 0);
    struct cpu_seg cs = { 0x18, 0, 0xFFFFFFFF, 0xB | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_DB | SEG_ATTR_G };
    struct cpu_seg ds = { 0x10, 0, 0xFFFFFFFF, 0x3 | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_DB | SEG_ATTR_G };
    cpu_set_seg(cpu, CPU_CS, &cs);
    for (int sr = CPU_ES; sr <= CPU_GS; sr++)
        if (sr != CPU_CS)
            cpu_set_seg(cpu, (enum cpu_segreg)sr, &ds);
    cpu_set(cpu, CPU_RIP, CODE_PA);
    cpu_set(cpu, CPU_RSP, 0x90000);
    cpu_set(cpu, CPU_RBP, 0x3000);
    cpu_set(cpu, CPU_RSI, 0x20);
    cpu_commit_state(cpu);
    cpu_run(cpu, 100);
    const struct cpu_guest_insn *g = first(&s, IC_SGDT);
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(g->form.addr_size, 2);
    ck_assert_uint_eq(g->form.base, 5);
    ck_assert_uint_eq(g->form.index, 6);
    ck_assert_uint_eq(g->form.seg, CPU_SS);
    ck_assert_int_eq(g->form.disp, -0x10);
    ck_assert_uint_eq(g->opsize, 2);
    ck_assert_uint_eq(g->la, 0x3010);
}
END_TEST

/* out.value: the value read (MOV from CR0), the CR0 written (MOV to CR0),
 * the TSC offset (RDTSC). */
START_TEST(adjusted_values)
{
    struct code c = { .n = 0 };
    C(&c, 0x0F, 0x20, 0xC0);                           /* mov rax, cr0 */
    STOP(&c);
    struct tm t;
    struct stub s;
    setup(&t, &s, &c);
    s.adjust = IC_MOV_FROM_CR;
    s.value = 0x12345;
    ck_assert_int_eq(cpu_run(t.cpu, 100), CPU_STOP_PLATFORM);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RAX), 0x12345);

    c.n = 0;
    C(&c, 0x0F, 0x22, 0xC0);                           /* mov cr0, rax */
    STOP(&c);
    setup(&t, &s, &c);
    uint64_t cr0 = cpu_get(t.cpu, CPU_CR0);
    s.adjust = IC_MOV_TO_CR;
    s.value = cr0 & ~(1ull << 16);                     /* the model writes WP = 0 */
    cpu_set(t.cpu, CPU_RAX, cr0);
    cpu_commit_state(t.cpu);
    ck_assert_int_eq(cpu_run(t.cpu, 100), CPU_STOP_PLATFORM);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_CR0), cr0 & ~(1ull << 16));

    c.n = 0;
    C(&c, 0x0F, 0x31);                                 /* rdtsc */
    STOP(&c);
    setup(&t, &s, &c);
    s.adjust = IC_RDTSC;
    s.value = 1ull << 40;
    ck_assert_int_eq(cpu_run(t.cpu, 100), CPU_STOP_PLATFORM);
    uint64_t tsc = (cpu_get(t.cpu, CPU_RDX) << 32) | (cpu_get(t.cpu, CPU_RAX) & 0xFFFFFFFF);
    ck_assert_uint_ge(tsc, 1ull << 40);
    ck_assert_uint_lt(tsc, (1ull << 40) + cpu_cycles(t.cpu) + 1);
}
END_TEST

/* out.tsc_scale (SDM 3C 26.3 "RDTSC" with "use TSC scaling"): RDTSC and
 * RDMSR of IA32_TIME_STAMP_COUNTER read ((TSC * multiplier) >> 48) +
 * offset, the product 128 bits wide. Rows: code, multiplier, offset. */
struct scale_row { const char *name; bool rdmsr; uint64_t mult, off; };
static const struct scale_row scale_rows[] = {
    { "tsc-scale/rdtsc-1.0",        false, 1ull << 48, 0 },
    { "tsc-scale/rdtsc-2.0",        false, 2ull << 48, 0 },
    { "tsc-scale/rdtsc-0.5-offset", false, 1ull << 47, 1ull << 40 },
    { "tsc-scale/rdtsc-huge",       false, ~0ull, 5 },             /* the product needs all 128 bits */
    { "tsc-scale/rdmsr-0.75",       true,  3ull << 46, 0x1000 },
};

START_TEST(tsc_scaled)
{
    const struct scale_row *row = &scale_rows[_i];
    struct code c = { .n = 0 };
    if (row->rdmsr)
        C(&c, 0x0F, 0x32);                             /* rdmsr (ECX = 0x10) */
    else
        C(&c, 0x0F, 0x31);                             /* rdtsc */
    STOP(&c);
    struct tm t;
    struct stub s;
    setup(&t, &s, &c);
    cpu_advance_cycles(t.cpu, 1ull << 36);
    cpu_set(t.cpu, CPU_RCX, 0x10);
    s.adjust = row->rdmsr ? IC_RDMSR : IC_RDTSC;
    s.value = row->off;
    s.tsc_scale = true;
    s.tsc_multiplier = row->mult;
    uint64_t before = cpu_cycles(t.cpu);
    ck_assert_int_eq(cpu_run(t.cpu, 100), CPU_STOP_PLATFORM);
    uint64_t after = cpu_cycles(t.cpu);
    uint64_t tsc = (cpu_get(t.cpu, CPU_RDX) << 32) | (cpu_get(t.cpu, CPU_RAX) & 0xFFFFFFFF);
    uint64_t lo = (uint64_t)(((unsigned __int128)before * row->mult) >> 48) + row->off;
    uint64_t hi = (uint64_t)(((unsigned __int128)after * row->mult) >> 48) + row->off;
    ck_assert_msg(tsc >= lo && tsc <= hi, "%s: read %#llx, expected %#llx..%#llx", row->name,
                  (unsigned long long)tsc, (unsigned long long)lo, (unsigned long long)hi);
}
END_TEST

/* out.done: the model carried out MOV to CR8 (a TPR shadow): cpu/ only
 * retires it; the APIC's TPR is not written. */
START_TEST(done_retires_only)
{
    struct code c = { .n = 0 };
    C(&c, 0x44, 0x0F, 0x22, 0xC0);                     /* mov cr8, rax */
    STOP(&c);
    struct tm t;
    struct stub s;
    setup(&t, &s, &c);
    s.done = IC_MOV_TO_CR;
    cpu_set(t.cpu, CPU_RAX, 5);
    cpu_commit_state(t.cpu);
    uint64_t rip = cpu_get(t.cpu, CPU_RIP);
    ck_assert_int_eq(cpu_run(t.cpu, 100), CPU_STOP_PLATFORM);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_CR8), 0);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RIP), rip + 6);   /* past the MOV and the OUT */
    ck_assert_uint_eq(cpu_insns(t.cpu), 2);
}
END_TEST

/* cpu_set_guest_step (the monitor trap flag): guest_boundary after every
 * instruction, a taken branch and each iteration of a REP string
 * instruction included; the iteration that leaves RCX at 0 ends the
 * instruction (RIP past it, as after REP STOSB on hardware). */
START_TEST(guest_step_boundaries)
{
    struct code c = { .n = 0 };
    C(&c, 0xB8, 0x01, 0x00, 0x00, 0x00);               /* +0  mov eax, 1 */
    C(&c, 0xF3, 0xAA);                                 /* +5  rep stosb */
    C(&c, 0xEB, 0x00);                                 /* +7  jmp +0 */
    C(&c, 0x90);                                       /* +9  nop */
    STOP(&c);                                          /* +10 */
    struct tm t;
    struct stub s;
    setup(&t, &s, &c);
    uint64_t rip = cpu_get(t.cpu, CPU_RIP);
    cpu_set(t.cpu, CPU_RCX, 2);
    cpu_set(t.cpu, CPU_RDI, DATA_LA);
    cpu_commit_state(t.cpu);
    s.b_insns = cpu_insns(t.cpu);
    cpu_set_guest_step(t.cpu, true);
    ck_assert_int_eq(cpu_run(t.cpu, 100), CPU_STOP_PLATFORM);
    static const uint64_t off[] = { 5, 5, 7, 9, 10 }, rcx[] = { 2, 1, 0, 0, 0 };
    ck_assert_uint_eq(s.nb, 5);
    for (unsigned i = 0; i < 5; i++) {
        ck_assert_uint_eq(s.b_rip[i] - rip, off[i]);
        ck_assert_uint_eq(s.b_rcx[i], rcx[i]);
    }
    ck_assert_uint_eq(tm_peek64(&t, DATA_LA) & 0xFFFFFF, 0x0101);   /* two bytes stored, the third not */
}
END_TEST

/* ---- task switches (cpu/task.c): the checks first, then guest_task_switch ----
 *
 * A 32-bit protected-mode machine without paging (SDM 3C 26.4.2 steps 1-4
 * before the hook; SDM 3A 7.3, table 7-1):
 *   GDT32_PA: 0x10 data, 0x18 code, 0x20 TSS A (busy, TR), 0x28 TSS B
 *   (available; busy for IRET rows), 0x30 task gate -> 0x28, 0x38 busy TSS,
 *   0x40 TSS with limit 0x50, 0x48 task gate -> 0x28 with P = 0
 *   IDT32_PA: 32-bit gates; task gates at 3, 4, 6, 0x40 (-> 0x28), 0x41
 *   (-> the busy 0x38), 0x42 (-> 0x2C: TI = 1); interrupt gates to
 *   STOP32 at 10, 11, 13. */
#define IDT32_PA  0x1F1000ull
#define TSS32_PA  0x1F2000ull            /* TSS A; B, C, D follow at 0x100 steps */
#define STOP32    (CODE_PA + 0x100)       /* out 0xf4, al */

struct ts_stub {
    unsigned nts;
    struct cpu_task_switch ts;
    unsigned nev;
    struct cpu_guest_event ev;            /* the last event offered */
};

static enum cpu_guest_action ts_task_switch(void *ctx, cpu_t *cpu, const struct cpu_task_switch *t)
{
    struct ts_stub *s = ctx;
    s->nts++;
    s->ts = *t;
    cpu_set_rip_linear(cpu, STOP32);      /* as a model's VM exit would leave the instruction */
    return CPU_GUEST_EXITED;
}

static enum cpu_guest_action ts_event(void *ctx, cpu_t *cpu, const struct cpu_guest_event *e)
{
    struct ts_stub *s = ctx;
    (void)cpu;
    s->nev++;
    s->ev = *e;
    return CPU_GUEST_EXECUTE;
}

static bool ts_insn(void *ctx, cpu_t *cpu, const struct cpu_virt_insn *in)
{
    (void)ctx; (void)in;
    cpu_insn_unmodelled(cpu, "stub model: no VMX instructions");
    return false;
}

static uint64_t desc32(uint64_t base, uint32_t limit, unsigned type_s, unsigned flags)
{
    return (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | ((uint64_t)type_s << 40) | (1ull << 47) |
           ((uint64_t)((limit >> 16) & 0xF) << 48) | ((uint64_t)flags << 52) | (((base >> 24) & 0xFF) << 56);
}
static uint64_t tgate(uint16_t tss, bool p) { return ((uint64_t)tss << 16) | (5ull << 40) | ((uint64_t)p << 47); }

enum { TS_SWITCH, TS_FAULT };
struct ts_row {
    const char *name;
    uint8_t b[8];
    unsigned n;
    bool nt, b_busy, of;                  /* EFLAGS.NT (TSS A's link = 0x28), TSS B busy, EFLAGS.OF */
    uint16_t link;                        /* previous-task link when nt */
    unsigned kind;
    /* TS_SWITCH: what the hook receives */
    uint16_t sel;
    enum cpu_task_source src;
    unsigned len;                         /* insn_len */
    unsigned vector, type;                /* CPU_TASK_IDT */
    bool has_ec;
    uint32_t ec;
    /* TS_FAULT: the exception raised instead (error code ec) */
    unsigned fvector;
};
static const struct ts_row ts_rows[] = {
    { "jmp tss", { 0xEA, 0, 0, 0, 0, 0x28, 0 }, 7, .kind = TS_SWITCH, .sel = 0x28, .src = CPU_TASK_JMP, .len = 7 },
    { "call tss", { 0x9A, 0, 0, 0, 0, 0x28, 0 }, 7, .kind = TS_SWITCH, .sel = 0x28, .src = CPU_TASK_CALL, .len = 7 },
    { "jmp tss rpl 3", { 0xEA, 0, 0, 0, 0, 0x2B, 0 }, 7, .kind = TS_FAULT, .fvector = 13, .ec = 0x28 },
    { "jmp gate", { 0xEA, 0, 0, 0, 0, 0x30, 0 }, 7, .kind = TS_SWITCH, .sel = 0x28, .src = CPU_TASK_JMP, .len = 7 },
    { "call gate o16", { 0x66, 0x9A, 0, 0, 0x30, 0 }, 6, .kind = TS_SWITCH, .sel = 0x28, .src = CPU_TASK_CALL, .len = 6 },
    { "iret nt", { 0xCF }, 1, .nt = true, .b_busy = true, .link = 0x28, .kind = TS_SWITCH, .sel = 0x28,
      .src = CPU_TASK_IRET, .len = 1 },
    { "int 0x40 gate", { 0xCD, 0x40 }, 2, .kind = TS_SWITCH, .sel = 0x28, .src = CPU_TASK_IDT, .len = 2,
      .vector = 0x40, .type = 4 },
    { "int3 gate", { 0xCC }, 1, .kind = TS_SWITCH, .sel = 0x28, .src = CPU_TASK_IDT, .len = 1, .vector = 3, .type = 6 },
    { "into gate", { 0xCE }, 1, .of = true, .kind = TS_SWITCH, .sel = 0x28, .src = CPU_TASK_IDT, .len = 1,
      .vector = 4, .type = 6 },
    { "ud2 gate", { 0x0F, 0x0B }, 2, .kind = TS_SWITCH, .sel = 0x28, .src = CPU_TASK_IDT, .len = 0, .vector = 6,
      .type = 3 },
    { "jmp busy tss", { 0xEA, 0, 0, 0, 0, 0x38, 0 }, 7, .kind = TS_FAULT, .fvector = 13, .ec = 0x38 },
    { "jmp short tss", { 0xEA, 0, 0, 0, 0, 0x40, 0 }, 7, .kind = TS_FAULT, .fvector = 10, .ec = 0x40 },
    { "jmp gate p=0", { 0xEA, 0, 0, 0, 0, 0x48, 0 }, 7, .kind = TS_FAULT, .fvector = 11, .ec = 0x48 },
    { "iret nt available", { 0xCF }, 1, .nt = true, .link = 0x28, .kind = TS_FAULT, .fvector = 10, .ec = 0x28 },
    { "iret nt null link", { 0xCF }, 1, .nt = true, .link = 0, .kind = TS_FAULT, .fvector = 10, .ec = 0 },
    { "iret nt ldt link", { 0xCF }, 1, .nt = true, .link = 0x2C, .kind = TS_FAULT, .fvector = 10, .ec = 0x2C },
    { "int gate busy tss", { 0xCD, 0x41 }, 2, .kind = TS_FAULT, .fvector = 13, .ec = 0x38 },
    { "int gate ti=1", { 0xCD, 0x42 }, 2, .kind = TS_FAULT, .fvector = 13, .ec = 0x2C },
};

START_TEST(task_switch)
{
    const struct ts_row *r = &ts_rows[_i];
    struct code c = { .n = 0 };
    c_bytes(&c, r->b, r->n);
    STOP(&c);
    while (c.n < STOP32 - CODE_PA)
        C(&c, 0x90);
    STOP(&c);                                          /* STOP32 */
    struct tm t;
    tm_create(&t, c.b, c.n);
    static struct ts_stub s;
    memset(&s, 0, sizeof(s));
    static struct cpu_virt_ops ops;
    ops = (struct cpu_virt_ops){ .ctx = &s, .insn = ts_insn, .guest_event = ts_event,
                                 .guest_task_switch = ts_task_switch };
    cpu_set_virt_ops(t.cpu, &ops);
    cpu_set_guest_mode(t.cpu, true);
    cpu_t *cpu = t.cpu;
    uint64_t gdt[10] = { 0 };
    gdt[2] = desc32(0, 0xFFFFF, 0x13, 0xC);
    gdt[3] = desc32(0, 0xFFFFF, 0x1B, 0xC);
    gdt[4] = desc32(TSS32_PA, 0x67, 0xB, 0);
    gdt[5] = desc32(TSS32_PA + 0x100, 0x67, r->b_busy ? 0xB : 0x9, 0);
    gdt[6] = tgate(0x28, true);
    gdt[7] = desc32(TSS32_PA + 0x200, 0x67, 0xB, 0);
    gdt[8] = desc32(TSS32_PA + 0x300, 0x50, 0x9, 0);
    gdt[9] = tgate(0x28, false);
    tm_poke(&t, GDT32_PA, gdt, sizeof(gdt));
    static const struct { unsigned v; uint16_t tss; } gates[] = { { 3, 0x28 }, { 4, 0x28 }, { 6, 0x28 },
                                                                    { 0x40, 0x28 }, { 0x41, 0x38 }, { 0x42, 0x2C } };
    for (unsigned i = 0; i < sizeof(gates) / sizeof(gates[0]); i++)
        tm_poke64(&t, IDT32_PA + 8ull * gates[i].v, tgate(gates[i].tss, true));
    static const unsigned faults[] = { 10, 11, 13 };
    for (unsigned i = 0; i < 3; i++)
        tm_poke64(&t, IDT32_PA + 8ull * faults[i], (STOP32 & 0xFFFF) | (0x18ull << 16) | (0xEull << 40) | (1ull << 47) |
                                                       ((STOP32 >> 16) << 48));
    uint32_t link = r->link;
    tm_poke(&t, TSS32_PA, &link, 4);
    struct cpu_dtr gd = { GDT32_PA, sizeof(gdt) - 1 }, id = { IDT32_PA, 0x7FF };
    cpu_set_dtr(cpu, false, &gd);
    cpu_set_dtr(cpu, true, &id);
    cpu_set(cpu, CPU_CR0, 0x11);                       /* PE, ET: no paging */
    cpu_set(cpu, CPU_CR4, 0);
    cpu_set(cpu, CPU_EFER, 0);
    struct cpu_seg cs = { 0x18, 0, 0xFFFFFFFF, 0xB | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_DB | SEG_ATTR_G };
    struct cpu_seg ds = { 0x10, 0, 0xFFFFFFFF, 0x3 | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_DB | SEG_ATTR_G };
    struct cpu_seg tr = { 0x20, TSS32_PA, 0x67, 0xB | SEG_ATTR_P };
    cpu_set_seg(cpu, CPU_CS, &cs);
    for (int sr = CPU_ES; sr <= CPU_GS; sr++)
        if (sr != CPU_CS)
            cpu_set_seg(cpu, (enum cpu_segreg)sr, &ds);
    cpu_set_seg(cpu, CPU_TR, &tr);
    cpu_set(cpu, CPU_RIP, CODE_PA);
    cpu_set(cpu, CPU_RSP, 0x90000);
    cpu_set(cpu, CPU_RFLAGS, 0x2 | (r->nt ? 0x4000 : 0) | (r->of ? 0x800 : 0));
    cpu_commit_state(cpu);
    ck_assert_msg(cpu_run(cpu, 100) == CPU_STOP_PLATFORM, "%s: %s", r->name, cpu_message(cpu));
    if (r->kind == TS_SWITCH) {
        ck_assert_msg(s.nts == 1, "%s: %u task switches", r->name, s.nts);
        ck_assert_msg(s.ts.tss_sel == r->sel && s.ts.source == r->src && s.ts.insn_len == r->len &&
                      s.ts.rip == CODE_PA, "%s: sel %#x source %u len %u rip %#llx", r->name, s.ts.tss_sel,
                      s.ts.source, s.ts.insn_len, (unsigned long long)s.ts.rip);
        if (r->src == CPU_TASK_IDT)
            ck_assert_msg(s.ts.vector == r->vector && s.ts.type == r->type && s.ts.has_ec == r->has_ec,
                          "%s: vector %u type %u", r->name, s.ts.vector, s.ts.type);
        ck_assert_uint_eq(tm_peek64(&t, GDT32_PA + 0x20) >> 40 & 0xF, 0xB);   /* nothing switched */
    } else {
        ck_assert_msg(s.nts == 0, "%s: a task switch instead of the fault", r->name);
        ck_assert_msg(s.nev >= 1 && s.ev.vector == r->fvector && s.ev.has_ec && s.ev.ec == r->ec && s.ev.type == 3,
                      "%s: vector %u ec %#x", r->name, s.ev.vector, s.ev.ec);
    }
    ck_assert_uint_eq(cpu_get(cpu, CPU_RSP) == 0x90000 || r->kind == TS_FAULT, 1);
}
END_TEST

/* IA-32e mode has no task switches: a far JMP to an available 64-bit TSS
 * or a task gate is #GP(selector) (SDM 3C 26.4.2 1.a, 1.c). */
START_TEST(task_switch_ia32e)
{
    static const uint16_t sel[] = { 0x80, 0x90 };
    struct code c = { .n = 0 };
    C(&c, 0xFF, 0x28);                                 /* ljmp [rax] (m16:32) */
    STOP(&c);
    struct tm t;
    tm_create(&t, c.b, c.n);
    static struct ts_stub s;
    memset(&s, 0, sizeof(s));
    static struct cpu_virt_ops ops;
    ops = (struct cpu_virt_ops){ .ctx = &s, .insn = ts_insn, .guest_event = ts_event,
                                 .guest_task_switch = ts_task_switch };
    cpu_set_virt_ops(t.cpu, &ops);
    cpu_set_guest_mode(t.cpu, true);
    /* the boot GDT (the IDT's gates name its code segment) and, past it,
     * an available 64-bit TSS at 0x80 (16 bytes) and a task gate at 0x90 */
    uint64_t gdt[20] = { 0 };
    struct cpu_dtr gd;
    cpu_get_dtr(t.cpu, false, &gd);
    ck_assert_uint_lt(gd.limit, 0x80);
    ck_assert(cpu_read_linear(t.cpu, gd.base, gdt, gd.limit + 1u));
    gdt[0x80 >> 3] = desc32(TSS32_PA, 0x67, 0x9, 0);   /* gdt[0x11]: base 63:32 = 0 */
    gdt[0x90 >> 3] = tgate(0x80, true);
    tm_poke(&t, GDT32_PA, gdt, sizeof(gdt));
    gd = (struct cpu_dtr){ GDT32_PA, sizeof(gdt) - 1 };
    cpu_set_dtr(t.cpu, false, &gd);
    uint32_t fp[2] = { 0, sel[_i] };
    tm_poke(&t, DATA_LA, fp, sizeof(fp));
    cpu_set(t.cpu, CPU_RAX, DATA_LA);
    cpu_commit_state(t.cpu);
    cpu_run(t.cpu, 100);
    ck_assert_int_eq(tm_vector(&t), 13);
    ck_assert_uint_eq(s.nts, 0);
    ck_assert_uint_eq(s.ev.ec, sel[_i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("guest_insn");
    TCase *t = harness_tcase("seam");
    tcase_add_test(t, mov_cr_dr_fields);
    tcase_add_test(t, mov_dr_fields);
    tcase_add_test(t, lmsw_operand_first);
    tcase_add_test(t, fault_first_at_cpl3);
    tcase_add_test(t, string_io_operand_size);
    tcase_add_test(t, mem_form_64);
    tcase_add_test(t, mem_form_16bit_addressing);
    tcase_add_test(t, adjusted_values);
    tcase_add_loop_test(t, tsc_scaled, 0, (int)(sizeof(scale_rows) / sizeof(scale_rows[0])));
    tcase_add_test(t, done_retires_only);
    tcase_add_test(t, guest_step_boundaries);
    tcase_add_loop_test(t, task_switch, 0, (int)(sizeof(ts_rows) / sizeof(ts_rows[0])));
    tcase_add_loop_test(t, task_switch_ia32e, 0, 2);
    suite_add_tcase(s, t);
    return harness_run(s);
}
