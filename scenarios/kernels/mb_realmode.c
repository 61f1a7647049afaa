/*
 * mb_realmode — from 32-bit protected mode back to real-address mode and
 * back again, as SDM 3A 9.9.2 and 9.9.1 prescribe, with real-mode code
 * that uses the IVT and real-mode segment arithmetic.
 *
 * SDM 3A 9.9.2 ("Switching Back to Real-Address Mode"), paging being off:
 *   3. far JMP to a readable 16-bit code segment with a limit of 64 KiB
 *      (SEL_KCODE16, base RM_BASE, so offsets there are the real-mode ones);
 *   4. load SS, DS, ES, FS, GS with a 16-bit data selector, limit 64 KiB
 *      (SEL_KDATA16), byte granular, expand-up, writable, present;
 *   5. LIDT a real-mode IVT (base 0, limit 0x3FF);
 *   6. clear CR0.PE;
 *   7. far JMP to a real-mode CS:IP (RM_SEG:offset) to flush the queue and
 *      load CS with a real-mode value;
 *   8. load SS, DS, ES, FS, GS with real-mode values.
 * In real mode (SDM 3A 20.1 and the INT n reference, SDM 2A): a linear
 * address is selector * 16 + offset; INT n pushes FLAGS, CS, IP, clears
 * IF, TF and AC and takes CS:IP from the 4-byte IVT entry at 4 * n; IRET
 * pops IP, CS, FLAGS. An exception is delivered the same way, through
 * IVT entry "vector", with IP = the faulting instruction for a fault such
 * as #DE (SDM 3A 20.1.4). A20 is never masked under Multiboot (MB 3.2), so
 * FFFF:0010 is physical 0x100000, the start of this kernel.
 * SDM 3A 9.9.1 ("Switching to Protected Mode"): LGDT, MOV CR0 with PE = 1,
 * a far JMP to a 32-bit code selector, then the data segments (and LIDT).
 *
 * The 16-bit code [rm_start, rm_end) is copied to RM_BASE (below 1 MiB,
 * clear of the Multiboot information at 0x9000) and addresses its own data
 * as offsets from rm_start with DS = CS = RM_SEG; results are read back by
 * the 32-bit code after the return.
 */
#include "mb32.h"

#define RM_BASE 0x5000u
#define RM_SEG  0x0500u
#define RM_INT  0x42

/* Offsets of the result area inside the blob (see the .long list below). */
struct rm_results {
    uint32_t cs_after_jmp, cr0, fl_before, fl_in, fl_after;
    uint32_t pushed_ip, pushed_cs, pushed_fl, bx_in, bx_out, seg_read, a20_read;
    uint32_t expected_ip;
    uint32_t de_pushed_ip, de_expected_ip, de_count;
};

void rm_run(void);
extern const char rm_start[], rm_end[], rm_res[], rm_gdtr[];
__asm__(
    /* ---- the 32-bit side: enter and return ---- */
    ".pushsection .text\n"
    ".code32\n"
    ".globl rm_run\n"
    "rm_run:\n"
    "    push %ebp\n"
    "    push %ebx\n"
    "    push %esi\n"
    "    push %edi\n"
    "    mov %esp, rm_saved_esp\n"
    "    ljmp $0x38, $0\n"                         /* 9.9.2 step 3: SEL_KCODE16 */
    "rm_back32:\n"                                 /* 9.9.1: first 32-bit instruction */
    "    mov $0x10, %eax\n"
    "    mov %eax, %ds\n"
    "    mov %eax, %es\n"
    "    mov %eax, %fs\n"
    "    mov %eax, %gs\n"
    "    mov %eax, %ss\n"
    "    mov rm_saved_esp, %esp\n"
    "    lidt mb_idtr\n"
    "    pop %edi\n"
    "    pop %esi\n"
    "    pop %ebx\n"
    "    pop %ebp\n"
    "    ret\n"
    ".popsection\n"
    ".pushsection .data\n"
    "rm_saved_esp: .long 0\n"
    ".popsection\n"

    /* ---- the 16-bit blob, copied to RM_BASE ---- */
    ".pushsection .rodata\n"
    ".code16\n"
    ".globl rm_start, rm_end, rm_res, rm_gdtr\n"
    "rm_start:\n"                                  /* 16-bit protected mode, CS.base = RM_BASE */
    "    mov $0x40, %ax\n"                         /* step 4: SEL_KDATA16 */
    "    mov %ax, %ds\n"
    "    mov %ax, %es\n"
    "    mov %ax, %fs\n"
    "    mov %ax, %gs\n"
    "    mov %ax, %ss\n"
    "    lidtl %cs:rm_ivt - rm_start\n"            /* step 5 */
    "    mov %cr0, %eax\n"
    "    and $0xFFFFFFFE, %eax\n"                  /* step 6: PE = 0 */
    "    mov %eax, %cr0\n"
    "    ljmp $0x500, $rm_real - rm_start\n"       /* step 7 */
    "rm_real:\n"
    "    mov $0x500, %ax\n"                        /* step 8 */
    "    mov %ax, %ds\n"
    "    xor %ax, %ax\n"
    "    mov %ax, %ss\n"
    "    mov $0x7000, %sp\n"
    "    mov %ax, %es\n"
    "    mov %ax, %fs\n"
    "    mov %ax, %gs\n"
    "    mov %cs, %ax\n"
    "    mov %ax, rm_res - rm_start + 0\n"
    "    mov %cr0, %eax\n"
    "    mov %eax, rm_res - rm_start + 4\n"
    /* print from real mode */
    "    mov $rm_msg - rm_start, %si\n"
    "1:  lodsb\n"
    "    test %al, %al\n"
    "    jz 2f\n"
    "    out %al, $0xe9\n"
    "    jmp 1b\n"
    /* IVT entry 0x42 = RM_SEG:rm_isr */
    "2:  movw $rm_isr - rm_start, %es:4*0x42\n"
    "    movw $0x500, %es:4*0x42+2\n"
    /* EFLAGS.AC = 1 before the INT */
    "    pushfl\n"
    "    popl %eax\n"
    "    or $0x40000, %eax\n"
    "    pushl %eax\n"
    "    popfl\n"
    "    pushfl\n"
    "    popl rm_res - rm_start + 8\n"
    "    mov $0x1111, %bx\n"
    "    int $0x42\n"
    "rm_after_int:\n"
    "    pushfl\n"
    "    popl rm_res - rm_start + 16\n"
    "    mov %bx, rm_res - rm_start + 36\n"
    /* segment arithmetic: 1234:0010 and 1000:2350 are physical 0x12350 */
    "    mov $0x1234, %ax\n"
    "    mov %ax, %es\n"
    "    movw $0xBEEF, %es:0x10\n"
    "    mov $0x1000, %ax\n"
    "    mov %ax, %fs\n"
    "    mov %fs:0x2350, %ax\n"
    "    mov %ax, rm_res - rm_start + 40\n"
    /* FFFF:0010 = 0x100000 with A20 on */
    "    mov $0xFFFF, %ax\n"
    "    mov %ax, %gs\n"
    "    mov %gs:0x10, %eax\n"
    "    mov %eax, rm_res - rm_start + 44\n"
    /* #DE in real mode: a fault through IVT entry 0, IP = the DIV */
    "    xor %ax, %ax\n"
    "    mov %ax, %es\n"
    "    movw $rm_de_isr - rm_start, %es:0\n"
    "    movw $0x500, %es:2\n"
    "    mov $0x64, %ax\n"
    "    xor %cl, %cl\n"
    "rm_de_at:\n"
    "    div %cl\n"
    /* back to protected mode (9.9.1) */
    "    lgdtl rm_gdtr - rm_start\n"
    "    mov %cr0, %eax\n"
    "    or $1, %eax\n"
    "    mov %eax, %cr0\n"
    "    ljmpl $0x08, $rm_back32\n"
    /* the INT 0x42 handler: record the frame (IP, CS, FLAGS at BP+2..6) */
    "rm_isr:\n"
    "    push %bp\n"
    "    mov %sp, %bp\n"
    "    mov 2(%bp), %ax\n"
    "    mov %ax, rm_res - rm_start + 20\n"
    "    mov 4(%bp), %ax\n"
    "    mov %ax, rm_res - rm_start + 24\n"
    "    mov 6(%bp), %ax\n"
    "    mov %ax, rm_res - rm_start + 28\n"
    "    pushfl\n"
    "    popl rm_res - rm_start + 12\n"
    "    mov %bx, rm_res - rm_start + 32\n"
    "    mov $0x4242, %bx\n"
    "    pop %bp\n"
    "    iret\n"
    /* the #DE handler: record the pushed IP, step over the 2-byte DIV */
    "rm_de_isr:\n"
    "    push %bp\n"
    "    mov %sp, %bp\n"
    "    mov 2(%bp), %ax\n"
    "    mov %ax, rm_res - rm_start + 52\n"
    "    addw $2, 2(%bp)\n"
    "    incw rm_res - rm_start + 60\n"
    "    pop %bp\n"
    "    iret\n"
    "    .align 4\n"
    "rm_res:\n"
    "    .skip 48\n"
    "    .long rm_after_int - rm_start\n"
    "    .long 0\n"
    "    .long rm_de_at - rm_start\n"
    "    .long 0\n"
    "rm_gdtr:\n"
    "    .word 0\n"
    "    .long 0\n"
    "rm_ivt:\n"
    "    .word 0x3FF\n"
    "    .long 0\n"
    "rm_msg:\n"
    "    .asciz \"real mode: this line is printed by 16-bit code at 0500:xxxx\\n\"\n"
    "rm_end:\n"
    ".code32\n"
    ".popsection\n");

static void do_ud2(void *a)
{
    (void)a;
    __asm__ volatile("ud2");
}

_Static_assert(sizeof(struct rm_results) == 64, "rm_res layout");

void mb_main(uint32_t magic, const struct mb_info *mbi)
{
    (void)mbi;
    T_ASSERT(magic == MB_BOOTLOADER_MAGIC, "magic %#x", magic);
    mb_cpu_init();
    /* SEL_KCODE16: 16-bit, readable, limit 0xFFFF, base RM_BASE */
    mb_gdt_set(SEL_KCODE16 >> 3, RM_BASE, 0xFFFF, DESC_CODE_XR, 0);
    uint32_t n = (uint32_t)(rm_end - rm_start);
    T_ASSERT(n < 0x1000, "blob %u bytes", n);
    memcpy((void *)(uintptr_t)RM_BASE, rm_start, n);
    volatile struct rm_results *res = (volatile struct rm_results *)(uintptr_t)(RM_BASE + (rm_res - rm_start));
    memcpy((void *)(uintptr_t)(RM_BASE + (rm_gdtr - rm_start)), &mb_gdtr, 6);
    *phys32(0x12350) = 0;

    uint64_t d = mb_gdt_get(SEL_KCODE16 >> 3);
    mb_printf("SEL_KCODE16 = %#x: base %#x, limit %#x, %s-bit, readable code: %s\n", SEL_KCODE16, desc_base(d),
              desc_limit(d), desc_db(d) ? "32" : "16", mb_yn((desc_type(d) & 0xA) == 0xA));
    uint64_t d16 = mb_gdt_get(SEL_KDATA16 >> 3);
    mb_printf("SEL_KDATA16 = %#x: base %#x, limit %#x, writable expand-up data, byte granular: %s\n", SEL_KDATA16,
              desc_base(d16), desc_limit(d16),
              mb_yn((desc_type(d16) & 0xE) == 0x2 && !desc_g(d16) && desc_p(d16)));

    rm_run();

    mb_printf("real mode: CS = %#x after the far JMP, CR0.PE = %u\n", res->cs_after_jmp, res->cr0 & 1);
    T_CHECK_EQ(res->cs_after_jmp, RM_SEG);
    T_CHECK_EQ(res->cr0 & 1, 0);
    mb_printf("real mode: INT %#x through the IVT entry at %#x: the handler ran (BX %#x in, %#x back): %s\n", RM_INT,
              4 * RM_INT, res->bx_in & 0xFFFF, res->bx_out & 0xFFFF,
              mb_yn((res->bx_in & 0xFFFF) == 0x1111 && (res->bx_out & 0xFFFF) == 0x4242));
    T_CHECK_EQ(res->bx_in & 0xFFFF, 0x1111);
    T_CHECK_EQ(res->bx_out & 0xFFFF, 0x4242);
    mb_printf("real mode: INT pushed CS = %#x, IP = the next instruction: %s, FLAGS = the FLAGS before: %s\n",
              res->pushed_cs & 0xFFFF, mb_yn((res->pushed_ip & 0xFFFF) == res->expected_ip),
              mb_yn((res->pushed_fl & 0xFFFF) == (res->fl_before & 0xFFFF)));
    T_CHECK_EQ(res->pushed_cs & 0xFFFF, RM_SEG);
    T_CHECK_EQ(res->pushed_ip & 0xFFFF, res->expected_ip);
    T_CHECK_EQ(res->pushed_fl & 0xFFFF, res->fl_before & 0xFFFF);
    mb_printf("real mode: EFLAGS.AC = %u before INT, %u in the handler (INT clears AC, IF, TF); IF = %u, TF = %u "
              "there\n", (res->fl_before >> 18) & 1, (res->fl_in >> 18) & 1, (res->fl_in >> 9) & 1,
              (res->fl_in >> 8) & 1);
    T_CHECK(res->fl_before & (1u << 18), "AC not set before INT: %#x", res->fl_before);
    T_CHECK(!(res->fl_in & ((1u << 18) | EFLAGS_IF | (1u << 8))), "handler EFLAGS %#x", res->fl_in);
    mb_printf("real mode: after IRET EFLAGS.AC = %u (IRET restores only the 16-bit FLAGS)\n",
              (res->fl_after >> 18) & 1);
    T_CHECK(!(res->fl_after & (1u << 18)), "EFLAGS after IRET %#x", res->fl_after);
    uint32_t p = *phys32(0x12350) & 0xFFFF;
    mb_printf("real mode: a word written at 1234:0010 reads back at 1000:2350 (%#x) and at physical 0x12350 (%#x)\n",
              res->seg_read & 0xFFFF, p);
    T_CHECK_EQ(res->seg_read & 0xFFFF, 0xBEEF);
    T_CHECK_EQ(p, 0xBEEF);
    mb_printf("real mode: FFFF:0010 reads %#x, the Multiboot header magic at physical 0x100000: %s\n",
              res->a20_read, mb_yn(res->a20_read == MB_HEADER_MAGIC));
    T_CHECK_EQ(res->a20_read, MB_HEADER_MAGIC);
    mb_printf("real mode: DIV by zero raised #DE through IVT entry 0 %u time(s), pushed IP = the DIV: %s\n",
              res->de_count & 0xFFFF, mb_yn((res->de_pushed_ip & 0xFFFF) == res->de_expected_ip));
    T_CHECK_EQ(res->de_count & 0xFFFF, 1);
    T_CHECK_EQ(res->de_pushed_ip & 0xFFFF, res->de_expected_ip);
    mb_printf("back in protected mode: CS = %#x, DS = %#x, CR0.PE = %u\n", read_cs(), read_ds(), read_cr0() & 1);
    T_CHECK_EQ(read_cs(), SEL_KCODE);
    T_CHECK_EQ(read_ds(), SEL_KDATA);
    T_CHECK(read_cr0() & CR0_PE, "CR0 %#x", read_cr0());
    /* the protected-mode IDT is back */
    struct mb_dtr i;
    sidt(&i);
    mb_printf("IDTR = the kernel's IDT again: %s\n", mb_yn(i.base == mb_idtr.base && i.limit == mb_idtr.limit));
    T_CHECK(i.base == mb_idtr.base && i.limit == mb_idtr.limit, "IDTR %#x/%#x", i.base, i.limit);
    bool ud = mb_call_expect(6, do_ud2, NULL);
    mb_printf("protected mode: UD2 raises #UD through the IDT, CS = %#x in the frame: %s\n", mb_last_cs, mb_yn(ud));
    T_CHECK(ud, "no #UD");
    T_CHECK_EQ(mb_last_cs, SEL_KCODE);
    T_DONE();
}
