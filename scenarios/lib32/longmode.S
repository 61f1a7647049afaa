/*
 * longmode.S — IA-32e mode from 32-bit protected mode (SDM 3A 9.8.5,
 * "Initializing IA-32e Mode") and calls into 64-bit code.
 *
 * mb_lm_activate(pml4) follows the steps of 9.8.5 with paging already off
 * (step 1): CR4.PAE = 1 (2), CR3 = the PML4 (3), IA32_EFER.LME = 1 (4),
 * CR0.PG = 1 (5), which sets IA32_EFER.LMA. The code must sit in
 * identity-mapped memory (the caller's tables map it so). The processor is
 * then in compatibility mode: CS is still the 32-bit SEL_KCODE and the
 * caller carries on as 32-bit code. The IDT is replaced by a null one first
 * (IA-32e mode takes 16-byte gates, SDM 3A 6.14.1: the runtime's 32-bit
 * IDT would be misread), so any exception from here on is a visible triple
 * fault.
 *
 * mb_lm_call64(fn, arg) far-jumps to SEL_KCODE64 (CS.L = 1: 64-bit mode),
 * calls fn with RDI = arg on a 16-byte aligned stack, and far-returns to
 * SEL_KCODE (compatibility mode). The 64-bit side zero-extends the
 * registers it takes over (RSP, RAX, RDI) instead of relying on their
 * upper halves after compatibility-mode code.
 */
    .text
    .code32
    .globl mb_lm_activate
mb_lm_activate:
    mov 4(%esp), %edx
    lidt mb_null_idtr
    mov %cr4, %eax
    or $0x20, %eax              /* CR4.PAE */
    mov %eax, %cr4
    mov %edx, %cr3
    mov $0xC0000080, %ecx       /* IA32_EFER */
    rdmsr
    or $0x100, %eax             /* LME */
    wrmsr
    mov %cr0, %eax
    or $0x80000000, %eax        /* PG: IA-32e mode active (LMA = 1) */
    mov %eax, %cr0
    ret

    .globl mb_lm_call64
mb_lm_call64:
    push %ebp
    push %ebx
    push %esi
    push %edi
    mov 20(%esp), %eax          /* fn */
    mov 24(%esp), %edi          /* arg */
    ljmp $0x30, $1f             /* SEL_KCODE64 */
    .code64
1:  mov %esp, %esp              /* zero-extends into RSP */
    mov %eax, %eax
    mov %edi, %edi
    mov %rsp, %rbx
    and $-16, %rsp
    call *%rax
    mov %rbx, %rsp
    mov %rax, %rdx
    shr $32, %rdx
    pushq $0x08                 /* SEL_KCODE */
    lea 2f(%rip), %rcx          /* (an ELF32 object has no 64-bit absolute relocations) */
    push %rcx
    lretq                       /* to compatibility mode */
    .code32
2:  pop %edi
    pop %esi
    pop %ebx
    pop %ebp
    ret

    .data
    .align 8
mb_null_idtr:
    .word 0
    .long 0
