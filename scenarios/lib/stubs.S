/*
 * stubs.S — exception entry stubs (256 of them, 16 bytes apart), the
 * common save/restore path with FXSAVE, ring-3 entry and return, and the
 * SYSCALL entry used by payloads.
 */
    .text
    .align 16
    .globl hv_stubs
hv_stubs:
    .set v, 0
    .rept 256
    .align 16
    .if (v == 8) || (v >= 10 && v <= 14) || (v == 17) || (v == 21) || (v == 29) || (v == 30)
    .else
    pushq $0
    .endif
    .if v < 128
    pushq $v
    .else
    pushq $(v - 256)            /* sign-extended imm8 would be negative: use imm32 */
    .endif
    jmp hv_common
    .set v, v + 1
    .endr

hv_common:
    /* vector pushed as a sign-extended value for v >= 128: normalize */
    andq $0xff, (%rsp)
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi
    mov %rsp, %rbp
    sub $512, %rsp
    and $-16, %rsp
    fxsave64 (%rsp)
    cld
    call hv_dispatch
    fxrstor64 (%rsp)
    mov %rbp, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp
    iretq

/* uint64_t hv_run_user(void (*fn)(void), void *stack_top)
 * uint64_t hv_run_user_flags(void (*fn)(void), void *stack_top, uint64_t rflags) */
    .globl hv_run_user, hv_run_user_flags
hv_run_user:
    mov $0x2, %edx              /* RFLAGS: IF = 0 */
hv_run_user_flags:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, hv_kernel_resume_rsp(%rip)
    pushq $0x23                 /* SS: user data | 3 */
    pushq %rsi                  /* RSP */
    pushq %rdx                  /* RFLAGS */
    pushq $0x2b                 /* CS: user code | 3 */
    pushq %rdi                  /* RIP */
    iretq

    .globl hv_user_landing
hv_user_landing:
    mov hv_kernel_resume_rsp(%rip), %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

/* bool hv_call_expect(unsigned vector, void (*fn)(void *), void *arg)
 * Calls fn(arg) with hv_expect(vector, hv_catch_landing) armed. If the
 * exception is raised, the handler resumes at hv_catch_landing, which
 * restores this frame's stack and callee-saved registers and returns true;
 * if fn returns normally the expectation is cancelled and it returns false. */
    .globl hv_call_expect
hv_call_expect:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    sub $8, %rsp                /* 16-byte alignment for the calls below */
    mov %rsi, %r12              /* fn */
    mov %rdx, %r13              /* arg */
    mov %rsp, hv_catch_rsp(%rip)
    lea hv_catch_landing(%rip), %rsi
    call hv_expect              /* edi = vector */
    mov %r13, %rdi
    call *%r12
    call hv_expect_cancel
    xor %eax, %eax
    jmp 1f
hv_catch_landing:
    mov hv_catch_rsp(%rip), %rsp
    cld
    mov $1, %eax
1:  add $8, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

/* SYSCALL entry: RCX = user RIP, R11 = user RFLAGS, RSP still the user's. */
    .globl hv_syscall_entry
hv_syscall_entry:
    mov %rsp, hv_syscall_user_rsp(%rip)
    mov hv_syscall_stack_top(%rip), %rsp
    push %rcx
    push %r11
    mov %rsi, %rdx              /* a2 */
    mov %rdi, %rsi              /* a1 */
    mov %rax, %rdi              /* number */
    call hv_syscall_dispatch
    pop %r11
    pop %rcx
    mov hv_syscall_user_rsp(%rip), %rsp
    sysretq

    .text
    .globl hv_sti_nop_cli
hv_sti_nop_cli:
    sti
    nop
    cli
    ret

    .bss
    .align 8
    .globl hv_kernel_resume_rsp, hv_syscall_user_rsp, hv_syscall_stack_top
hv_kernel_resume_rsp: .quad 0
hv_syscall_user_rsp:  .quad 0
hv_syscall_stack_top: .quad 0
hv_catch_rsp:         .quad 0
