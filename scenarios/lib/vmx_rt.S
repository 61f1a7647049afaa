/*
 * vmx_rt.S — entering a guest and coming back (scenarios/lib/vmx.h).
 *
 * uint64_t vmx_enter(struct vmx_regs *g, int resume)
 *   Writes HOST_RSP (this frame) and HOST_RIP (vmx_exit_stub), loads the
 *   guest's general-purpose registers from *g and executes VMLAUNCH
 *   (resume = 0) or VMRESUME. Returns 0 after a VM exit (or a VM-entry
 *   failure, which also arrives at HOST_RIP), the guest's registers saved
 *   in *g; or, when the instruction itself failed (VMfailInvalid or
 *   VMfailValid), RFLAGS with bit 63 set.
 */
    .intel_syntax noprefix
    .text
    .globl vmx_enter
    .type vmx_enter, @function
vmx_enter:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    mov [rip + vmx_cur_regs], rdi
    mov eax, 0x6C14                     /* HOST_RSP */
    vmwrite rax, rsp
    mov eax, 0x6C16                     /* HOST_RIP */
    lea rdx, [rip + vmx_exit_stub]
    vmwrite rax, rdx
    mov r15d, esi
    mov rax, [rdi + 0]
    mov rcx, [rdi + 8]
    mov rdx, [rdi + 16]
    mov rbx, [rdi + 24]
    mov rbp, [rdi + 40]
    mov rsi, [rdi + 48]
    mov r8,  [rdi + 64]
    mov r9,  [rdi + 72]
    mov r10, [rdi + 80]
    mov r11, [rdi + 88]
    mov r12, [rdi + 96]
    mov r13, [rdi + 104]
    mov r14, [rdi + 112]
    test r15d, r15d
    mov r15, [rdi + 120]
    mov rdi, [rdi + 56]
    jnz 1f
    vmlaunch
    jmp 2f
1:  vmresume
2:  /* the instruction failed: report RFLAGS */
    pushfq
    pop rax
    bts rax, 63
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret
    .size vmx_enter, . - vmx_enter

    .globl vmx_exit_stub
    .type vmx_exit_stub, @function
vmx_exit_stub:
    push rdi
    mov rdi, [rip + vmx_cur_regs]
    mov [rdi + 0], rax
    mov [rdi + 8], rcx
    mov [rdi + 16], rdx
    mov [rdi + 24], rbx
    mov [rdi + 40], rbp
    mov [rdi + 48], rsi
    pop rax
    mov [rdi + 56], rax
    mov [rdi + 64], r8
    mov [rdi + 72], r9
    mov [rdi + 80], r10
    mov [rdi + 88], r11
    mov [rdi + 96], r12
    mov [rdi + 104], r13
    mov [rdi + 112], r14
    mov [rdi + 120], r15
    xor eax, eax
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret
    .size vmx_exit_stub, . - vmx_exit_stub

    .data
    .balign 8
vmx_cur_regs:
    .quad 0
    .section .note.GNU-stack, "", @progbits
