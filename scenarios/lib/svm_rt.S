/*
 * svm_rt.S — svm_run(vmcb_pa, regs) for payloads (svm.h): load the guest's
 * general-purpose registers (struct svm_gregs; RAX and RSP come from the
 * VMCB), VMRUN (AMD APM vol. 3, VMRUN: the host's RAX, RSP, RIP and RFLAGS
 * are restored by #VMEXIT, nothing else), store the guest's registers back
 * and restore the host's callee-saved ones.
 */
    .text
    .globl svm_run
svm_run:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    push %rsi                   /* regs, for after #VMEXIT */
    mov %rdi, %rax              /* the VMCB's physical address */
    mov 0(%rsi), %rbx
    mov 8(%rsi), %rcx
    mov 16(%rsi), %rdx
    mov 40(%rsi), %rbp
    mov 48(%rsi), %r8
    mov 56(%rsi), %r9
    mov 64(%rsi), %r10
    mov 72(%rsi), %r11
    mov 80(%rsi), %r12
    mov 88(%rsi), %r13
    mov 96(%rsi), %r14
    mov 104(%rsi), %r15
    mov 32(%rsi), %rdi
    mov 24(%rsi), %rsi
    vmrun
    mov (%rsp), %rax
    mov %rbx, 0(%rax)
    mov %rcx, 8(%rax)
    mov %rdx, 16(%rax)
    mov %rsi, 24(%rax)
    mov %rdi, 32(%rax)
    mov %rbp, 40(%rax)
    mov %r8, 48(%rax)
    mov %r9, 56(%rax)
    mov %r10, 64(%rax)
    mov %r11, 72(%rax)
    mov %r12, 80(%rax)
    mov %r13, 88(%rax)
    mov %r14, 96(%rax)
    mov %r15, 104(%rax)
    pop %rsi
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret
    .section .note.GNU-stack, "", @progbits
