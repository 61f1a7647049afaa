/*
 * mb_longmode — from the Multiboot entry state (32-bit protected mode,
 * paging off) into IA-32e mode, step by step as SDM 3A 9.8.5
 * ("Initializing IA-32e Mode") lists them, checking the state after each:
 *
 *   1. paging off (it is at entry, MB 3.2);
 *   2. CR4.PAE = 1;
 *   3. CR3 = a PML4 identity-mapping the first 1 GiB with 2-MiB pages
 *      (SDM 3A 4.5, table 4-17: PDE with PS = 1);
 *   4. IA32_EFER.LME = 1: LMA stays 0 until paging is on (SDM 3A 9.8.5,
 *      2.2.1 "IA32_EFER ... LMA");
 *   5. CR0.PG = 1: the processor sets EFER.LMA; CS is still a 32-bit
 *      segment (L = 0), so this is compatibility mode (SDM 3A 5.2.1: in
 *      IA-32e mode CS.L selects 64-bit or compatibility mode);
 *   then a far JMP to a code segment with L = 1, D = 0 enters 64-bit mode
 *   (SDM 3A 9.8.5.3, 5.2.1), where the code prints, checks a 64-bit
 *   operand, and reads its own CS descriptor back with LAR (SDM 2A LAR:
 *   bits 23:8 of the descriptor's high dword, L in bit 21); a far RET goes
 *   back to compatibility mode, where the kernel's 32-bit C code prints the
 *   results.
 *
 * No IDT is valid from step 5 on (mb_lm_activate would load a null one;
 * this kernel never set one up), so any exception is a triple fault.
 */
#include "mb32.h"

/* Results of the 64-bit code, read back in compatibility mode. */
volatile uint64_t lm_wide, lm_lar, lm_rsp;
volatile uint32_t lm_cs;

uint64_t lm64_probe(uint32_t arg);
__asm__(".pushsection .text\n"
        ".code64\n"
        ".globl lm64_probe\n"
        "lm64_probe:\n"
        /* print from 64-bit code: OUT to the debug console */
        "    lea lm64_msg(%rip), %rsi\n"
        "1:  lodsb\n"
        "    test %al, %al\n"
        "    jz 2f\n"
        "    out %al, $0xe9\n"
        "    jmp 1b\n"
        "2:  movabs $0x123456789abcdef0, %rax\n"   /* a 64-bit immediate: REX.W */
        "    rol $8, %rax\n"                        /* 0x3456789abcdef012 */
        "    lea lm_wide(%rip), %rcx\n"
        "    mov %rax, (%rcx)\n"
        "    xor %eax, %eax\n"
        "    mov %cs, %ax\n"
        "    lea lm_cs(%rip), %rcx\n"
        "    mov %eax, (%rcx)\n"
        "    lar %rax, %rdx\n"                      /* access rights of CS */
        "    lea lm_lar(%rip), %rcx\n"
        "    mov %rdx, (%rcx)\n"
        "    lea lm_rsp(%rip), %rcx\n"
        "    mov %rsp, (%rcx)\n"
        "    mov %rdi, %rax\n"
        "    not %rax\n"                            /* ~arg in all 64 bits */
        "    ret\n"
        ".code32\n"
        ".popsection\n"
        ".pushsection .rodata\n"
        "lm64_msg: .asciz \"64-bit mode: this line is printed by 64-bit code (OUT from CS.L = 1)\\n\"\n"
        ".popsection\n");

void mb_main(uint32_t magic, const struct mb_info *mbi)
{
    (void)mbi;
    T_ASSERT(magic == MB_BOOTLOADER_MAGIC, "magic %#x", magic);
    uint32_t r[4];
    mb_cpuid(0x80000001, 0, r);
    mb_printf("CPUID.80000001H:EDX.LM = %u\n", (r[3] >> 29) & 1);
    T_ASSERT(r[3] & (1u << 29), "no long mode");

    /* our own GDT with a 64-bit code segment (SEL_KCODE64: L = 1, D = 0) */
    mb_cpu_init();
    uint64_t d64 = mb_gdt_get(SEL_KCODE64 >> 3);
    mb_printf("GDT 0x30: code, L = %u, D = %u\n", desc_l(d64), desc_db(d64));
    /* No exception can be delivered in IA-32e mode through the 32-bit IDT
     * mb_cpu_init loaded: use none (a fault is then a triple fault). */
    struct mb_dtr null_idt = { 0, 0 };
    lidt(&null_idt);

    /* step 1: paging is off */
    uint32_t cr0 = read_cr0();
    mb_printf("step 1: CR0.PG = %u\n", cr0 >> 31);
    T_CHECK(!(cr0 & CR0_PG), "CR0 %#x", cr0);

    /* step 2: PAE */
    write_cr4(read_cr4() | CR4_PAE);
    mb_printf("step 2: CR4.PAE = %u\n", (read_cr4() >> 5) & 1);

    /* step 3: CR3 = PML4, identity map of the first GiB in 2-MiB pages */
    uint64_t *pml4 = lm_new_identity(1ull << 30);
    write_cr3((uint32_t)(uintptr_t)pml4);
    mb_printf("step 3: CR3 = the PML4 (identity map of 1 GiB, 2-MiB pages): %s\n",
              mb_yn(read_cr3() == (uint32_t)(uintptr_t)pml4));
    T_CHECK_EQ(read_cr3(), (uint32_t)(uintptr_t)pml4);

    /* step 4: EFER.LME; LMA stays 0 while paging is off */
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_LME);
    uint64_t efer = rdmsr(MSR_EFER);
    mb_printf("step 4: EFER.LME = %u, EFER.LMA = %u (not active before CR0.PG)\n", (unsigned)(efer >> 8) & 1,
              (unsigned)(efer >> 10) & 1);
    T_CHECK(efer & EFER_LME, "EFER %#llx", (unsigned long long)efer);
    T_CHECK(!(efer & EFER_LMA), "EFER %#llx", (unsigned long long)efer);

    /* step 5: CR0.PG = 1 activates IA-32e mode; CS.L = 0: compatibility mode */
    write_cr0(read_cr0() | CR0_PG);
    efer = rdmsr(MSR_EFER);
    mb_printf("step 5: CR0.PG = 1, EFER.LMA = %u: IA-32e mode active\n", (unsigned)(efer >> 10) & 1);
    T_CHECK(efer & EFER_LMA, "EFER %#llx", (unsigned long long)efer);
    mb_printf("compatibility mode: CS = %#x (32-bit, L = 0) still runs this 32-bit C code\n", read_cs());
    T_CHECK_EQ(read_cs(), SEL_KCODE);

    /* far JMP to CS.L = 1: 64-bit mode; far RET back */
    uint64_t ret = mb_lm_call64((const void *)lm64_probe, 0x600DF00Du);
    mb_printf("back in compatibility mode: CS = %#x, EFER.LMA = %u\n", read_cs(),
              (unsigned)(rdmsr(MSR_EFER) >> 10) & 1);
    T_CHECK_EQ(read_cs(), SEL_KCODE);
    mb_printf("64-bit code: CS = %#x\n", lm_cs);
    T_CHECK_EQ(lm_cs, SEL_KCODE64);
    uint32_t ar = (uint32_t)lm_lar;
    mb_printf("64-bit code: LAR CS = %#x: L = %u, D = %u, P = %u, type %#x\n", ar, (ar >> 21) & 1,
              (ar >> 22) & 1, (ar >> 15) & 1, (ar >> 8) & 0xF);
    T_CHECK((ar >> 21) & 1, "CS.L = 0 in 64-bit code (LAR %#x)", ar);
    T_CHECK(!((ar >> 22) & 1), "CS.D = 1 with L = 1 (LAR %#x)", ar);
    mb_printf("64-bit code: MOVABS + ROL of a 64-bit register gave %#llx\n", (unsigned long long)lm_wide);
    T_CHECK_EQ(lm_wide, 0x3456789abcdef012ull);
    mb_printf("64-bit code: NOT RDI returned %#llx (RDI = the zero-extended argument)\n",
              (unsigned long long)ret);
    T_CHECK_EQ(ret, ~(uint64_t)0x600DF00Du);
    mb_printf("64-bit code: RSP 16-byte aligned at the call, below 4 GiB: %s\n",
              mb_yn(((lm_rsp + 8) & 15) == 0 && lm_rsp < (1ull << 32)));
    T_CHECK(((lm_rsp + 8) & 15) == 0, "RSP %#llx", (unsigned long long)lm_rsp);
    T_DONE();
}
