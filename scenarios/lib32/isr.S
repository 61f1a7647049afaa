/*
 * isr.S — 32-bit exception entry stubs (256 of them, 16 bytes apart), the
 * common path to mb_dispatch(), and the two ways back into the kernel that
 * handlers use: mb_call_expect's resume point and mb_run_user's.
 *
 * The CPU pushes an error code for vectors 8, 10-14, 17, 21, 29 and 30
 * (SDM 3A 6.13, table 6-1); the other stubs push a 0 in its place so that
 * every frame has the layout of struct mb_frame. Software INT n to one of
 * those vectors would push none: the kernels never do that.
 *
 * Segment registers are not saved: data segments are loaded with MOV
 * (never POP Sreg), and every data selector the runtime uses is flat.
 */
    .text
    .align 16
    .globl mb_stubs
mb_stubs:
    .set v, 0
    .rept 256
    .align 16
    .if (v == 8) || (v >= 10 && v <= 14) || (v == 17) || (v == 21) || (v == 29) || (v == 30)
    .else
    pushl $0
    .endif
    pushl $v
    jmp mb_common
    .set v, v + 1
    .endr

mb_common:
    pushal
    cld
    push %esp                   /* struct mb_frame * */
    call mb_dispatch
    add $4, %esp
    popal
    add $8, %esp                /* vector, error code */
    iret

/* bool mb_call_expect(unsigned vector, void (*fn)(void *), void *arg) */
    .globl mb_call_expect, mb_ce_resume
mb_call_expect:
    push %ebp
    push %ebx
    push %esi
    push %edi
    mov 20(%esp), %eax          /* vector */
    mov %eax, mb_expect_vector
    mov %esp, mb_ce_esp
    pushl 28(%esp)              /* arg */
    call *28(%esp)              /* fn (moved up by the push) */
    add $4, %esp
    movl $-1, mb_expect_vector
    xor %eax, %eax
    jmp 1f
mb_ce_resume:                   /* mb_dispatch IRETs here, CPL 0 */
    mov mb_ce_esp, %esp
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov $1, %eax
1:  pop %edi
    pop %esi
    pop %ebx
    pop %ebp
    ret

/* uint32_t mb_run_user(void (*fn)(void), void *stack_top) */
    .globl mb_run_user, mb_user_resume
mb_run_user:
    push %ebp
    push %ebx
    push %esi
    push %edi
    mov 20(%esp), %ecx          /* fn */
    mov 24(%esp), %edx          /* stack_top */
    mov %esp, mb_user_ksp
    movl $1, mb_user_active
    mov $0x23, %eax             /* SEL_UDATA */
    mov %eax, %ds
    mov %eax, %es
    push $0x23                  /* SS */
    push %edx                   /* ESP */
    push $0x2                   /* EFLAGS: IF = 0, IOPL 0 */
    push $0x1B                  /* CS = SEL_UCODE */
    push %ecx                   /* EIP */
    xor %eax, %eax
    xor %ebx, %ebx
    xor %ecx, %ecx
    xor %edx, %edx
    xor %esi, %esi
    xor %edi, %edi
    xor %ebp, %ebp
    iret                        /* to ring 3 (SDM 3A 6.12.1) */
mb_user_resume:                 /* mb_dispatch IRETs here, CPL 0, EAX = value */
    mov mb_user_ksp, %esp
    mov $0x10, %ecx
    mov %ecx, %ds
    mov %ecx, %es
    movl $0, mb_user_active
    pop %edi
    pop %esi
    pop %ebx
    pop %ebp
    ret

    .data
    .align 4
    .globl mb_expect_vector, mb_user_active
mb_expect_vector:   .long -1
mb_ce_esp:          .long 0
mb_user_ksp:        .long 0
mb_user_active:     .long 0
