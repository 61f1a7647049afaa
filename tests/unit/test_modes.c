/*
 * test_modes.c — guest code outside 64-bit mode (cpu/engmode.c): 32-bit
 * protected mode without paging (the Multiboot entry state), with 32-bit
 * and PAE paging, the path into IA-32e mode (CR4.PAE, EFER.LME, CR0.PG,
 * a far jump to a 64-bit code segment), and the instructions and events
 * that are not modelled there yet failing loudly.
 *
 * SDM 3A 9.8.5 (initializing IA-32e mode), 9.9.1 (switching to protected
 * mode), 4.3/4.4 (32-bit and PAE paging), 2B MOV CR and JMP far.
 */
#include "cpu_harness.h"
#include "cpu_priv.h"

#define GDT_PA   0x1F0000ull
#define PT_PA    0x200000ull      /* page tables built by the tests */
#define DATA_PA  0x300000ull

/* GDT: 0x08 64-bit code, 0x10 data (flat), 0x18 32-bit code (flat), 0x20
 * 16-bit code based at CODE_PA. */
static const uint64_t gdt[] = {
    0, 0x00AF9B000000FFFFull, 0x00CF93000000FFFFull, 0x00CF9B000000FFFFull, 0x000F9B100000FFFFull,
};

/* Put the CPU in the Multiboot entry state: protected mode, paging off,
 * flat 32-bit CS (0x18) and data (0x10), EIP = CODE_PA. */
static void enter_prot32(struct tm *t)
{
    tm_poke(t, GDT_PA, gdt, sizeof(gdt));
    cpu_t *c = t->cpu;
    struct cpu_dtr g = { GDT_PA, sizeof(gdt) - 1 }, i = { 0, 0 };
    cpu_set_dtr(c, false, &g);
    cpu_set_dtr(c, true, &i);
    cpu_set(c, CPU_CR0, CR0_PE | CR0_ET);
    cpu_set(c, CPU_CR4, 0);
    cpu_set(c, CPU_CR3, 0);
    cpu_set(c, CPU_EFER, 0);
    struct cpu_seg cs = { 0x18, 0, 0xFFFFFFFF, 0xB | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_DB | SEG_ATTR_G };
    struct cpu_seg ds = { 0x10, 0, 0xFFFFFFFF, 0x3 | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_DB | SEG_ATTR_G };
    cpu_set_seg(c, CPU_CS, &cs);
    for (int s = CPU_SS; s <= CPU_GS; s++)
        if (s != CPU_CS)
            cpu_set_seg(c, (enum cpu_segreg)s, &ds);
    cpu_set_seg(c, CPU_ES, &ds);
    cpu_set(c, CPU_RIP, CODE_PA);
    cpu_set(c, CPU_RSP, 0x90000);
    cpu_set(c, CPU_RFLAGS, 2);
    cpu_commit_state(c);
}

static void load32(struct tm *t, const uint8_t *code, size_t n)
{
    tm_create(t, "\xf4", 1);
    tm_poke(t, CODE_PA, code, n);
    enter_prot32(t);
}

/* 32-bit code, paging off: 32-bit operand and stack sizes, the console
 * port, CPUID; the run ends at OUT 0xF4. */
START_TEST(prot32_flat_runs)
{
    static const uint8_t code[] = {
        0xb8, 0x78, 0x56, 0x34, 0x12,          /* mov eax, 0x12345678 */
        0x40,                                  /* inc eax (not a REX prefix here) */
        0x89, 0xe3,                            /* mov ebx, esp */
        0x50,                                  /* push eax */
        0x89, 0xe1,                            /* mov ecx, esp */
        0x5a,                                  /* pop edx */
        0xc7, 0x05, 0x00, 0x00, 0x30, 0x00, 0xef, 0xbe, 0xad, 0xde,   /* mov dword [0x300000], 0xdeadbeef */
        0xb0, 0x41, 0xe6, 0xe9,                /* mov al, 'A'; out 0xe9, al */
        0xe6, 0xf4,                            /* out 0xf4, al */
    };
    struct tm t;
    load32(&t, code, sizeof(code));
    ck_assert_int_eq(cpu_run(t.cpu, 1000), CPU_STOP_PLATFORM);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RDX) & 0xFFFFFFFF, 0x12345679);
    ck_assert_uint_eq((cpu_get(t.cpu, CPU_RBX) - cpu_get(t.cpu, CPU_RCX)) & 0xFFFFFFFF, 4);
    ck_assert_uint_eq(tm_peek64(&t, DATA_PA) & 0xFFFFFFFF, 0xdeadbeef);
    ck_assert_uint_eq(t.nio, 2);
    ck_assert_uint_eq(t.io[0].val, 'A');
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RIP), CODE_PA + sizeof(code));
}
END_TEST

/* Protected mode -> IA-32e mode (SDM 3A 9.8.5): PAE page tables (a 4-level
 * identity map with 2-MiB pages), CR4.PAE, EFER.LME, CR0.PG (LMA becomes 1,
 * still 32-bit compatibility code), then a far jump to the 64-bit CS. */
START_TEST(prot32_to_long_mode)
{
    struct tm t;
    uint8_t code[256];
    size_t n = 0;
#define B(...) do { const uint8_t _b[] = { __VA_ARGS__ }; memcpy(code + n, _b, sizeof(_b)); n += sizeof(_b); } while (0)
    B(0x0f, 0x20, 0xe0, 0x83, 0xc8, 0x20, 0x0f, 0x22, 0xe0);         /* mov eax,cr4; or eax,0x20; mov cr4,eax */
    B(0xb8, 0x00, 0x00, 0x20, 0x00, 0x0f, 0x22, 0xd8);               /* mov eax,PT_PA; mov cr3,eax */
    B(0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32);                     /* mov ecx,0xc0000080; rdmsr */
    B(0x0d, 0x00, 0x01, 0x00, 0x00, 0x0f, 0x30);                     /* or eax,0x100; wrmsr */
    B(0x0f, 0x20, 0xc0, 0x0d, 0x00, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0);   /* mov eax,cr0; or eax,PG; mov cr0,eax */
    B(0xb8, 0x01, 0x00, 0x00, 0x00, 0x48);                           /* mov eax,1; dec eax (0x48: compat mode) */
    size_t jmp_at = n;
    B(0xea, 0, 0, 0, 0, 0x08, 0x00);                                 /* jmp 0x08:target */
    uint32_t target = (uint32_t)(CODE_PA + n);
    memcpy(code + jmp_at + 1, &target, 4);
    B(0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11);   /* mov rax, 0x1122334455667788 */
    B(0xe6, 0xf4);                                                   /* out 0xf4, al */
#undef B
    load32(&t, code, n);
    /* PML4[0] -> PDPT, PDPT[0..3] -> PDs, each PD maps 1 GiB with 2-MiB pages */
    tm_poke64(&t, PT_PA, (PT_PA + 0x1000) | 3);
    for (uint64_t g = 0; g < 4; g++) {
        tm_poke64(&t, PT_PA + 0x1000 + 8 * g, (PT_PA + 0x2000 + 0x1000 * g) | 3);
        for (uint64_t i = 0; i < 512; i++)
            tm_poke64(&t, PT_PA + 0x2000 + 0x1000 * g + 8 * i, ((g << 30) + (i << 21)) | 0x83);
    }
    ck_assert_int_eq(cpu_run(t.cpu, 1000), CPU_STOP_PLATFORM);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RAX), 0x1122334455667788ull);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_EFER) & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_CR0) & CR0_PG, CR0_PG);
}
END_TEST

/* 32-bit paging with a 4-KiB page and a 4-MiB page (CR4.PSE) mapping a
 * linear address elsewhere (SDM 3A 4.3). */
START_TEST(prot32_paging_32bit)
{
    static const uint8_t code[] = {
        0x0f, 0x20, 0xe0, 0x83, 0xc8, 0x10, 0x0f, 0x22, 0xe0,   /* CR4.PSE */
        0xb8, 0x00, 0x00, 0x20, 0x00, 0x0f, 0x22, 0xd8,         /* mov cr3, PT_PA */
        0x0f, 0x20, 0xc0, 0x0d, 0x00, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0,   /* CR0.PG */
        0xa1, 0x00, 0x00, 0x00, 0x40,                           /* mov eax, [0x40000000] (4-KiB page) */
        0x8b, 0x1d, 0x08, 0x00, 0x80, 0x00,                     /* mov ebx, [0x00800008] (4-MiB page) */
        0xe6, 0xf4,
    };
    struct tm t;
    load32(&t, code, sizeof(code));
    /* PD: [0] 4-MiB identity (code, stack, tables), [2] 4-MiB -> 0x400000,
     * [0x100] -> page table whose [0] maps DATA_PA */
    uint32_t pd[1024] = { 0 }, ptab[1024] = { 0 };
    pd[0] = 0x83;
    pd[2] = 0x400000 | 0x83;
    pd[0x100] = (uint32_t)(PT_PA + 0x1000) | 3;
    ptab[0] = (uint32_t)DATA_PA | 3;
    tm_poke(&t, PT_PA, pd, sizeof(pd));
    tm_poke(&t, PT_PA + 0x1000, ptab, sizeof(ptab));
    tm_poke64(&t, DATA_PA, 0xA1A2A3A4);
    tm_poke64(&t, 0x400008, 0xB1B2B3B4);
    ck_assert_int_eq(cpu_run(t.cpu, 1000), CPU_STOP_PLATFORM);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RAX) & 0xFFFFFFFF, 0xA1A2A3A4);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RBX) & 0xFFFFFFFF, 0xB1B2B3B4);
}
END_TEST

/* PAE paging without IA-32e mode: PDPTEs loaded by MOV CR0, a reserved bit
 * in a PDPTE makes MOV CR3 fault (SDM 3A 4.4.1). */
START_TEST(prot32_paging_pae)
{
    static const uint8_t code[] = {
        0x0f, 0x20, 0xe0, 0x83, 0xc8, 0x20, 0x0f, 0x22, 0xe0,   /* CR4.PAE */
        0xb8, 0x00, 0x00, 0x20, 0x00, 0x0f, 0x22, 0xd8,         /* mov cr3, PT_PA (PG still 0: no load) */
        0x0f, 0x20, 0xc0, 0x0d, 0x00, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0,   /* CR0.PG: PDPTEs loaded */
        0xa1, 0x00, 0x00, 0x00, 0x40,                           /* mov eax, [0x40000000] */
        0xe6, 0xf4,
    };
    struct tm t;
    load32(&t, code, sizeof(code));
    tm_poke64(&t, PT_PA, (PT_PA + 0x1000) | 1);             /* PDPTE 0 -> PD (0-1 GiB) */
    tm_poke64(&t, PT_PA + 8, (PT_PA + 0x2000) | 1);         /* PDPTE 1 -> PD (1-2 GiB) */
    tm_poke64(&t, PT_PA + 0x1000, 0x83);                     /* 2 MiB identity at 0 */
    tm_poke64(&t, PT_PA + 0x2000, (PT_PA + 0x3000) | 3);     /* 0x40000000 -> page table */
    tm_poke64(&t, PT_PA + 0x3000, DATA_PA | 3);
    tm_poke64(&t, DATA_PA, 0xC1C2C3C4);
    ck_assert_int_eq(cpu_run(t.cpu, 1000), CPU_STOP_PLATFORM);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RAX) & 0xFFFFFFFF, 0xC1C2C3C4);
}
END_TEST

/* An instruction whose legacy semantics are not written yet ends the run
 * loudly, naming the instruction and the mode. */
START_TEST(prot32_unmodelled_is_loud)
{
    static const uint8_t syscall[] = { 0x0f, 0x05 };
    struct tm t;
    load32(&t, syscall, sizeof(syscall));
    ck_assert_int_eq(cpu_run(t.cpu, 1000), CPU_STOP_UNMODELLED);
    ck_assert_msg(strstr(cpu_message(t.cpu), "syscall") && strstr(cpu_message(t.cpu), "32-bit protected mode"),
                  "message: %s", cpu_message(t.cpu));
}
END_TEST

/* Activating IA-32e mode without CR4.PAE raises #GP(0) (SDM 2B MOV CR);
 * with an IDT limit of 0 that becomes #DF and then a triple fault (SDM 3A
 * 6.15), and neither LMA nor PG is set. */
START_TEST(prot32_lme_without_pae)
{
    static const uint8_t code[] = {
        0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x0f, 0x30,   /* EFER.LME */
        0x0f, 0x20, 0xc0, 0x0d, 0x00, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0,                     /* CR0.PG */
        0xe6, 0xf4,
    };
    struct tm t;
    load32(&t, code, sizeof(code));
    ck_assert_int_eq(cpu_run(t.cpu, 1000), CPU_STOP_SHUTDOWN);
    const struct cpu_event *e = NULL;
    ck_assert_uint_ge(tm_count(&t, CPU_EV_EXCEPTION, &e), 2);
    ck_assert_uint_eq(t.ev[0].kind == CPU_EV_EXCEPTION ? t.ev[0].a & 0xFF : 13, 13);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_EFER) & EFER_LMA, 0);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_CR0) & CR0_PG, 0);
}
END_TEST

#define IDT32_PA 0x1F8000ull

/* A 32-bit interrupt (type 0xE) or trap (0xF) gate to CODE_PA + off, CS 0x18. */
static void gate32(struct tm *t, unsigned v, unsigned type, unsigned dpl, uint32_t off)
{
    uint32_t target = (uint32_t)CODE_PA + off;
    uint64_t g = (target & 0xFFFF) | (0x18ull << 16) | ((uint64_t)type << 40) | ((uint64_t)dpl << 45) |
                 (1ull << 47) | ((uint64_t)(target >> 16) << 48);
    tm_poke64(t, IDT32_PA + 8ull * v, g);
    struct cpu_dtr idt = { IDT32_PA, 256 * 8 - 1 };
    cpu_set_dtr(t->cpu, true, &idt);
}

/* #GP with an error code through a 32-bit interrupt gate (SDM 3A 6.12.1,
 * figure 6-4 without a privilege change): the frame holds the error code,
 * EIP of the faulting instruction, CS and EFLAGS; IF is cleared; the
 * handler skips the instruction and IRET returns (SDM 2B IRET). */
START_TEST(prot32_exception_and_iret)
{
    uint8_t code[0x200];
    memset(code, 0x90, sizeof(code));
    static const uint8_t main_part[] = {
        0xfb,                                  /* sti (IF = 1, so the gate clearing it shows) */
        0x66, 0xb8, 0x33, 0x12,                /* mov ax, 0x1233 (beyond the GDT limit) */
        0x8e, 0xd8,                            /* mov ds, ax -> #GP(0x1230) */
        0xbf, 0x11, 0x11, 0x11, 0x11,          /* mov edi, 0x11111111 (after the IRET) */
        0xe6, 0xf4,                            /* out 0xf4 */
    };
    memcpy(code, main_part, sizeof(main_part));
    static const uint8_t handler[] = {
        0x8b, 0x04, 0x24,                      /* mov eax, [esp]     error code */
        0x8b, 0x5c, 0x24, 0x04,                /* mov ebx, [esp+4]   EIP */
        0x8b, 0x4c, 0x24, 0x08,                /* mov ecx, [esp+8]   CS */
        0x8b, 0x54, 0x24, 0x0c,                /* mov edx, [esp+12]  EFLAGS */
        0x9c, 0x5e,                            /* pushf; pop esi     handler EFLAGS */
        0x83, 0xc4, 0x04,                      /* add esp, 4 */
        0x83, 0x04, 0x24, 0x02,                /* add dword [esp], 2 (skip mov ds, ax) */
        0xcf,                                  /* iret */
    };
    memcpy(code + 0x100, handler, sizeof(handler));
    struct tm t;
    load32(&t, code, sizeof(code));
    gate32(&t, 13, 0xE, 0, 0x100);
    ck_assert_int_eq(cpu_run(t.cpu, 1000), CPU_STOP_PLATFORM);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RAX) & 0xFFFFFFFF, 0x1230);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RBX) & 0xFFFFFFFF, CODE_PA + 5);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RCX) & 0xFFFF, 0x18);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RDX) & RF_IF, RF_IF);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RSI) & RF_IF, 0);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RDI) & 0xFFFFFFFF, 0x11111111);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RFLAGS) & RF_IF, RF_IF);      /* restored by IRET */
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RSP) & 0xFFFFFFFF, 0x90000);   /* stack balanced */
}
END_TEST

/* INT n from CPL 0 through a trap gate keeps IF; a gate whose DPL is below
 * CPL is not checked at CPL 0; INTO with OF = 1 raises #OF. */
START_TEST(prot32_int_and_into)
{
    uint8_t code[0x200];
    memset(code, 0x90, sizeof(code));
    static const uint8_t main_part[] = {
        0xfb,                                  /* sti */
        0xcd, 0x40,                            /* int 0x40 (trap gate) */
        0xb0, 0x7f, 0x04, 0x01,                /* mov al, 0x7f; add al, 1 -> OF = 1 */
        0xce,                                  /* into -> #OF (vector 4) */
        0xe6, 0xf4,
    };
    memcpy(code, main_part, sizeof(main_part));
    static const uint8_t h40[] = { 0x9c, 0x5d, 0x83, 0xc7, 0x01, 0xcf };   /* pushf; pop ebp; add edi,1; iret */
    static const uint8_t h4[] = { 0x83, 0xc6, 0x01, 0xcf };                  /* add esi,1; iret */
    memcpy(code + 0x100, h40, sizeof(h40));
    memcpy(code + 0x180, h4, sizeof(h4));
    struct tm t;
    load32(&t, code, sizeof(code));
    cpu_set(t.cpu, CPU_RDI, 0);
    cpu_set(t.cpu, CPU_RSI, 0);
    gate32(&t, 0x40, 0xF, 0, 0x100);
    gate32(&t, 4, 0xE, 0, 0x180);
    ck_assert_int_eq(cpu_run(t.cpu, 1000), CPU_STOP_PLATFORM);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RDI), 1);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RBP) & RF_IF, RF_IF);        /* trap gate: IF kept */
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RSI), 1);                     /* #OF taken once */
}
END_TEST

/* Real mode (SDM 3A 20.1): segment loads set base = selector * 16, INT n
 * goes through the IVT at IDTR.base (FLAGS, CS, IP pushed; IF cleared), and
 * IRET returns. CS = 0x1000, IP = 0. */
START_TEST(real_mode_ivt)
{
    uint8_t code[0x100];
    memset(code, 0x90, sizeof(code));
    static const uint8_t main_part[] = {
        0xfb,                                  /* sti */
        0xb8, 0x00, 0x20,                      /* mov ax, 0x2000 */
        0x8e, 0xd8,                            /* mov ds, ax (base 0x20000) */
        0xc7, 0x06, 0x10, 0x00, 0x34, 0x12,    /* mov word [0x10], 0x1234 -> 0x20010 */
        0xcd, 0x21,                            /* int 0x21 */
        0xbe, 0x55, 0x55,                      /* mov si, 0x5555 */
        0xe6, 0xf4,
    };
    memcpy(code, main_part, sizeof(main_part));
    static const uint8_t h[] = {
        0x89, 0xe5,                            /* mov bp, sp */
        0x8b, 0x5e, 0x00,                      /* mov bx, [bp]    IP */
        0x8b, 0x4e, 0x02,                      /* mov cx, [bp+2]  CS */
        0x9c, 0x5a,                            /* pushf; pop dx (IF cleared in the handler) */
        0xcf,                                  /* iret */
    };
    memcpy(code + 0x80, h, sizeof(h));
    struct tm t;
    tm_create(&t, "\xf4", 1);
    tm_poke(&t, 0x10000, code, sizeof(code));
    uint16_t ivt[2] = { 0x80, 0x1000 };        /* vector 0x21 -> 1000:0080 */
    tm_poke(&t, 0x21 * 4, ivt, 4);
    cpu_t *c = t.cpu;
    cpu_set(c, CPU_CR0, CR0_ET);
    cpu_set(c, CPU_CR4, 0);
    cpu_set(c, CPU_EFER, 0);
    struct cpu_dtr ivtr = { 0, 0x3FF };
    cpu_set_dtr(c, true, &ivtr);
    struct cpu_seg cs = { 0x1000, 0x10000, 0xFFFF, 0xB | SEG_ATTR_S | SEG_ATTR_P };
    struct cpu_seg ds = { 0, 0, 0xFFFF, 0x3 | SEG_ATTR_S | SEG_ATTR_P };
    cpu_set_seg(c, CPU_CS, &cs);
    for (int s = CPU_ES; s <= CPU_GS; s++)
        if (s != CPU_CS)
            cpu_set_seg(c, (enum cpu_segreg)s, &ds);
    cpu_set(c, CPU_RIP, 0);
    cpu_set(c, CPU_RSP, 0x8000);
    cpu_set(c, CPU_RFLAGS, 2);
    cpu_commit_state(c);
    ck_assert_int_eq(cpu_run(c, 1000), CPU_STOP_PLATFORM);
    ck_assert_uint_eq(tm_peek64(&t, 0x20010) & 0xFFFF, 0x1234);
    ck_assert_uint_eq(cpu_get(c, CPU_RBX) & 0xFFFF, 14);            /* IP after INT 0x21 */
    ck_assert_uint_eq(cpu_get(c, CPU_RCX) & 0xFFFF, 0x1000);
    ck_assert_uint_eq(cpu_get(c, CPU_RDX) & RF_IF, 0);
    ck_assert_uint_eq(cpu_get(c, CPU_RSI) & 0xFFFF, 0x5555);
    ck_assert_uint_eq(cpu_get(c, CPU_RSP) & 0xFFFF, 0x8000);
    ck_assert_uint_eq(cpu_get(c, CPU_RFLAGS) & RF_IF, RF_IF);
}
END_TEST

/* Far CALL and RET in protected mode (SDM 2B CALL/RET far, same
 * privilege): CALL ptr16:32 pushes CS and EIP; RET imm16 pops them and
 * releases the arguments. Then into 16-bit code (CS 0x20, D = 0) and back. */
START_TEST(prot32_far_call_ret)
{
    uint8_t code[0x200];
    memset(code, 0x90, sizeof(code));
    static const uint8_t main_part[] = {
        0x6a, 0x07,                                  /* push 7 (an argument) */
        0x9a, 0x00, 0x01, 0x10, 0x00, 0x18, 0x00,    /* call 0x18:0x100100 */
        0x89, 0xe7,                                  /* mov edi, esp (balanced: 0x90000) */
        0xea, 0x80, 0x01, 0x00, 0x00, 0x20, 0x00,    /* jmp 0x20:0x180 (16-bit code based at CODE_PA) */
    };
    memcpy(code, main_part, sizeof(main_part));
    static const uint8_t callee[] = {
        0x8b, 0x5c, 0x24, 0x04,                      /* mov ebx, [esp+4] (pushed CS) */
        0x8b, 0x4c, 0x24, 0x08,                      /* mov ecx, [esp+8] (the argument) */
        0xca, 0x04, 0x00,                            /* ret far 4 */
    };
    memcpy(code + 0x100, callee, sizeof(callee));
    static const uint8_t code16[] = {
        0xb8, 0x34, 0x12,                            /* mov ax, 0x1234 (16-bit operand) */
        0xe6, 0xf4,
    };
    memcpy(code + 0x180, code16, sizeof(code16));
    struct tm t;
    load32(&t, code, sizeof(code));
    cpu_set(t.cpu, CPU_RAX, 0xFFFF0000);
    ck_assert_int_eq(cpu_run(t.cpu, 1000), CPU_STOP_PLATFORM);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RBX) & 0xFFFF, 0x18);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RCX) & 0xFFFFFFFF, 7);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RDI) & 0xFFFFFFFF, 0x90000);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RAX) & 0xFFFFFFFF, 0xFFFF1234);   /* 16-bit mov kept bits 31:16 */
}
END_TEST

/* Far CALL and RET in real mode: CS:IP pushed, CS base = selector * 16. */
START_TEST(real_mode_far_call_ret)
{
    uint8_t code[0x100];
    memset(code, 0x90, sizeof(code));
    static const uint8_t main_part[] = {
        0x9a, 0x00, 0x00, 0x08, 0x10,                /* call 0x1008:0000 (linear 0x10080) */
        0xbe, 0x66, 0x66,                            /* mov si, 0x6666 */
        0xe6, 0xf4,
    };
    memcpy(code, main_part, sizeof(main_part));
    static const uint8_t callee[] = { 0x8c, 0xc8, 0x89, 0xc3, 0xcb };   /* mov ax, cs; mov bx, ax; retf */
    memcpy(code + 0x80, callee, sizeof(callee));
    struct tm t;
    tm_create(&t, "\xf4", 1);
    tm_poke(&t, 0x10000, code, sizeof(code));
    cpu_t *c = t.cpu;
    cpu_set(c, CPU_CR0, CR0_ET);
    cpu_set(c, CPU_CR4, 0);
    cpu_set(c, CPU_EFER, 0);
    struct cpu_seg cs = { 0x1000, 0x10000, 0xFFFF, 0xB | SEG_ATTR_S | SEG_ATTR_P };
    struct cpu_seg ds = { 0, 0, 0xFFFF, 0x3 | SEG_ATTR_S | SEG_ATTR_P };
    cpu_set_seg(c, CPU_CS, &cs);
    for (int s = CPU_ES; s <= CPU_GS; s++)
        if (s != CPU_CS)
            cpu_set_seg(c, (enum cpu_segreg)s, &ds);
    cpu_set(c, CPU_RIP, 0);
    cpu_set(c, CPU_RSP, 0x8000);
    cpu_set(c, CPU_RFLAGS, 2);
    cpu_commit_state(c);
    ck_assert_int_eq(cpu_run(c, 1000), CPU_STOP_PLATFORM);
    ck_assert_uint_eq(cpu_get(c, CPU_RBX) & 0xFFFF, 0x1008);
    ck_assert_uint_eq(cpu_get(c, CPU_RSI) & 0xFFFF, 0x6666);
    ck_assert_uint_eq(cpu_get(c, CPU_RSP) & 0xFFFF, 0x8000);
}
END_TEST

/* SGDT stores 6 bytes outside 64-bit mode; LTR of a 32-bit TSS descriptor
 * (8 bytes in legacy mode: the next GDT slot is not part of it) marks it
 * busy; STR reads the selector back (SDM 2A SGDT, LTR, STR). */
START_TEST(prot32_sgdt_ltr)
{
    static const uint8_t code[] = {
        0xc7, 0x05, 0x06, 0x00, 0x30, 0x00, 0x55, 0x55, 0x55, 0x55,   /* mov dword [0x300006], 0x55555555 */
        0x0f, 0x01, 0x05, 0x00, 0x00, 0x30, 0x00,                     /* sgdt [0x300000] */
        0x66, 0xb8, 0x28, 0x00,                                       /* mov ax, 0x28 */
        0x0f, 0x00, 0xd8,                                             /* ltr ax */
        0x0f, 0x00, 0xcb,                                             /* str bx */
        0xe6, 0xf4,
    };
    struct tm t;
    load32(&t, code, sizeof(code));
    /* a 32-bit TSS (type 9) at 0x1F9000, limit 0x67, as GDT slot 5 (0x28), the last one */
    uint64_t tss_desc = 0x67 | (0x1F9000ull << 16) | (0x89ull << 40);
    uint64_t g[6];
    memcpy(g, gdt, sizeof(gdt));
    g[5] = tss_desc;
    tm_poke(&t, GDT_PA, g, sizeof(g));
    struct cpu_dtr gd = { GDT_PA, sizeof(g) - 1 };
    cpu_set_dtr(t.cpu, false, &gd);
    ck_assert_int_eq(cpu_run(t.cpu, 1000), CPU_STOP_PLATFORM);
    uint64_t stored = tm_peek64(&t, DATA_PA);
    ck_assert_uint_eq(stored & 0xFFFF, sizeof(g) - 1);
    ck_assert_uint_eq((stored >> 16) & 0xFFFFFFFF, GDT_PA);
    ck_assert_uint_eq(tm_peek64(&t, DATA_PA + 6) & 0xFFFFFFFF, 0x55555555);   /* only 6 bytes written */
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RBX) & 0xFFFF, 0x28);
    ck_assert_uint_eq((tm_peek64(&t, GDT_PA + 0x28) >> 40) & 0xF, 0xB);          /* busy */
}
END_TEST

/* Real mode: POP DS (base = selector * 16), LES (a far pointer), and REP
 * OUTSB from DS:SI with a 16-bit CX and SI (SDM 2B POP, LDS/LES, OUTS). */
START_TEST(real_mode_pop_les_outs)
{
    uint8_t code[0x40];
    memset(code, 0x90, sizeof(code));
    static const uint8_t main_part[] = {
        0x68, 0x00, 0x20,                      /* push 0x2000 */
        0x1f,                                  /* pop ds (base 0x20000) */
        0xc4, 0x3e, 0x20, 0x00,                /* les di, [0x20] -> ES:DI from DS:0x20 */
        0xbe, 0x00, 0x00,                      /* mov si, 0 */
        0xb9, 0x03, 0x00,                      /* mov cx, 3 */
        0xba, 0xe9, 0x00,                      /* mov dx, 0xe9 */
        0xf3, 0x6e,                            /* rep outsb */
        0xe6, 0xf4,
    };
    memcpy(code, main_part, sizeof(main_part));
    struct tm t;
    tm_create(&t, "\xf4", 1);
    tm_poke(&t, 0x10000, code, sizeof(code));
    tm_poke(&t, 0x20000, "hvs", 3);
    static const uint16_t farptr[2] = { 0x1234, 0x3000 };
    tm_poke(&t, 0x20020, farptr, 4);
    cpu_t *c = t.cpu;
    cpu_set(c, CPU_CR0, CR0_ET);
    cpu_set(c, CPU_CR4, 0);
    cpu_set(c, CPU_EFER, 0);
    struct cpu_seg cs = { 0x1000, 0x10000, 0xFFFF, 0xB | SEG_ATTR_S | SEG_ATTR_P };
    struct cpu_seg ds = { 0, 0, 0xFFFF, 0x3 | SEG_ATTR_S | SEG_ATTR_P };
    cpu_set_seg(c, CPU_CS, &cs);
    for (int sr = CPU_ES; sr <= CPU_GS; sr++)
        if (sr != CPU_CS)
            cpu_set_seg(c, (enum cpu_segreg)sr, &ds);
    cpu_set(c, CPU_RIP, 0);
    cpu_set(c, CPU_RSP, 0x8000);
    cpu_set(c, CPU_RCX, 0xFFFF0000);
    cpu_set(c, CPU_RFLAGS, 2);
    cpu_commit_state(c);
    ck_assert_int_eq(cpu_run(c, 1000), CPU_STOP_PLATFORM);
    ck_assert_uint_eq(t.nio, 4);
    ck_assert_uint_eq(t.io[0].val, 'h');
    ck_assert_uint_eq(t.io[2].val, 's');
    struct cpu_seg es;
    cpu_get_seg(c, CPU_ES, &es);
    ck_assert_uint_eq(es.sel, 0x3000);
    ck_assert_uint_eq(es.base, 0x30000);
    ck_assert_uint_eq(cpu_get(c, CPU_RDI) & 0xFFFF, 0x1234);
    ck_assert_uint_eq(cpu_get(c, CPU_RSI) & 0xFFFF, 3);
    ck_assert_uint_eq(cpu_get(c, CPU_RCX), 0xFFFF0000);           /* CX counted to 0, ECX[31:16] kept */
    ck_assert_uint_eq(cpu_get(c, CPU_RSP) & 0xFFFF, 0x8000);
}
END_TEST

/* SYSENTER and SYSEXIT in protected mode (SDM 2B): flat 32-bit CS from
 * IA32_SYSENTER_CS (SS = CS + 8), ESP/EIP from the MSRs, CPL 0; SYSEXIT to
 * CS + 16 | 3 with EIP = EDX, ESP = ECX. A GDT with those four slots. */
START_TEST(prot32_sysenter_sysexit)
{
    uint8_t code[0x200];
    memset(code, 0x90, sizeof(code));
    static const uint8_t main_part[] = {
        0xb9, 0x74, 0x01, 0x00, 0x00, 0xb8, 0x18, 0x00, 0x00, 0x00, 0x31, 0xd2, 0x0f, 0x30,   /* SYSENTER_CS = 0x18 */
        0xb9, 0x75, 0x01, 0x00, 0x00, 0xb8, 0x00, 0x80, 0x08, 0x00, 0x0f, 0x30,               /* ESP = 0x88000 */
        0xb9, 0x76, 0x01, 0x00, 0x00, 0xb8, 0x00, 0x01, 0x10, 0x00, 0x0f, 0x30,               /* EIP = +0x100 */
        0xba, 0x80, 0x01, 0x10, 0x00,          /* mov edx, CODE_PA + 0x180 (SYSEXIT target) */
        0xb9, 0x00, 0x70, 0x08, 0x00,          /* mov ecx, 0x87000 (user ESP) */
        0x0f, 0x34,                            /* sysenter */
    };
    memcpy(code, main_part, sizeof(main_part));
    static const uint8_t kernel[] = { 0x8c, 0xcb, 0x89, 0xe6, 0x0f, 0x35 };   /* mov bx, cs; mov esi, esp; sysexit */
    memcpy(code + 0x100, kernel, sizeof(kernel));
    static const uint8_t user[] = { 0x8c, 0xcf, 0x89, 0xe5, 0xe6, 0xf4 };     /* mov di, cs; mov ebp, esp; out 0xf4 */
    memcpy(code + 0x180, user, sizeof(user));
    struct tm t;
    load32(&t, code, sizeof(code));
    /* GDT: 0x18 kernel code, 0x20 kernel data, 0x28 user code (DPL 3), 0x30 user data (DPL 3) */
    uint64_t g[7] = { 0, 0, 0, 0x00CF9B000000FFFFull, 0x00CF93000000FFFFull, 0x00CFFB000000FFFFull,
                      0x00CFF3000000FFFFull };
    tm_poke(&t, GDT_PA, g, sizeof(g));
    struct cpu_dtr gd = { GDT_PA, sizeof(g) - 1 };
    cpu_set_dtr(t.cpu, false, &gd);
    cpu_set(t.cpu, CPU_RFLAGS, 0x3002);        /* IOPL 3: the user code may OUT to the exit port */
    ck_assert_int_eq(cpu_run(t.cpu, 1000), CPU_STOP_PLATFORM);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RBX) & 0xFFFF, 0x18);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RSI) & 0xFFFFFFFF, 0x88000);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RDI) & 0xFFFF, 0x2B);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RBP) & 0xFFFFFFFF, 0x87000);
    ck_assert_uint_eq(cpu_cpl(t.cpu), 3);
}
END_TEST

/* IRET in IA-32e mode (SDM 2B IRET, "IA-32e-MODE"): IRETQ in 64-bit mode
 * pops SS:RSP too and can return to compatibility mode; IRETD in
 * compatibility mode at the same privilege level pops only EIP, CS and
 * EFLAGS (ESP is what the pops leave). */
START_TEST(compat_iret)
{
    uint8_t code[0x100];
    memset(code, 0x90, sizeof(code));
    size_t n = 0;
#define B(...) do { const uint8_t _b[] = { __VA_ARGS__ }; memcpy(code + n, _b, sizeof(_b)); n += sizeof(_b); } while (0)
    B(0x48, 0x89, 0xe0);                       /* mov rax, rsp */
    B(0x6a, 0x10);                             /* push 0x10 (SS) */
    B(0x50);                                   /* push rax (RSP) */
    B(0x9c);                                   /* pushfq */
    B(0x6a, 0x18);                             /* push 0x18 (32-bit CS) */
    size_t push_at = n;
    B(0x68, 0, 0, 0, 0);                       /* push imm32: compat target */
    B(0x48, 0xcf);                             /* iretq */
    uint32_t compat = (uint32_t)(CODE_PA + n);
    memcpy(code + push_at + 1, &compat, 4);
    B(0x89, 0xe6);                             /* (compat) mov esi, esp */
    B(0x9c);                                   /* pushfd */
    B(0x0e);                                   /* push cs */
    size_t push2 = n;
    B(0x68, 0, 0, 0, 0);                       /* push imm32: next */
    B(0xcf);                                   /* iretd */
    uint32_t next = (uint32_t)(CODE_PA + n);
    memcpy(code + push2 + 1, &next, 4);
    B(0x89, 0xe7);                             /* mov edi, esp */
    B(0x8c, 0xcb);                             /* mov bx, cs */
    B(0xe6, 0xf4);
#undef B
    struct tm t;
    tm_create(&t, code, n);
    tm_poke(&t, GDT_PA, gdt, sizeof(gdt));
    struct cpu_dtr g = { GDT_PA, sizeof(gdt) - 1 };
    cpu_set_dtr(t.cpu, false, &g);
    cpu_commit_state(t.cpu);
    ck_assert_int_eq(cpu_run(t.cpu, 1000), CPU_STOP_PLATFORM);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RBX) & 0xFFFF, 0x18);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RSI) & 0xFFFFFFFF, cpu_get(t.cpu, CPU_RDI) & 0xFFFFFFFF);
    ck_assert_uint_eq(cpu_get(t.cpu, CPU_RSI) & 0xFFFFFFFF, t.entry_rsp & 0xFFFFFFFF);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("modes");
    TCase *t = harness_tcase("prot32");
    tcase_add_test(t, prot32_flat_runs);
    tcase_add_test(t, prot32_to_long_mode);
    tcase_add_test(t, prot32_paging_32bit);
    tcase_add_test(t, prot32_paging_pae);
    tcase_add_test(t, prot32_unmodelled_is_loud);
    tcase_add_test(t, prot32_lme_without_pae);
    tcase_add_test(t, prot32_exception_and_iret);
    tcase_add_test(t, prot32_int_and_into);
    tcase_add_test(t, real_mode_ivt);
    tcase_add_test(t, prot32_far_call_ret);
    tcase_add_test(t, real_mode_far_call_ret);
    tcase_add_test(t, prot32_sgdt_ltr);
    tcase_add_test(t, real_mode_pop_les_outs);
    tcase_add_test(t, prot32_sysenter_sysexit);
    tcase_add_test(t, compat_iret);
    suite_add_tcase(s, t);
    return harness_run(s);
}
