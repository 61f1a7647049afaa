/*
 * alu.S — benchmark workload 1: a register-only ALU loop.
 *
 * ITER iterations of one 16-instruction loop body (14 ALU instructions,
 * DEC, JNZ): no memory access at all, one translation block per iteration.
 * Instructions retired by the loop: 16 * ITER exactly (ALU_INSNS_PER_ITER);
 * the fixed set-up before and after it cancels out when two ITER values are
 * compared (tests/tools/bench.sh).
 *
 * The checksum (XOR of the working registers) is printed by entry.inc; the
 * same code run natively (-DBENCH_HOST) gives the reference value.
 *
 * Build: see entry.inc and tests/tools/bench.sh (-DITER=N, and -DBENCH_FLOPPY
 * for the Bochs/QEMU floppy).
 */
#include "entry.inc"

    .text
    .code64
    .globl bench_run
    .type bench_run, @function
bench_run:
    mov $ITER, %rcx
    mov $0x0123456789abcdef, %rax
    mov $0x9e3779b97f4a7c15, %rbx
    mov $0x2545f4914f6cdd1d, %rdx
    mov $0x0f1e2d3c4b5a6978, %rsi
    xor %edi, %edi
    mov $3, %r8d
    mov $0x5851f42d4c957f2d, %r9
    mov $0x14057b7ef767814f, %r10
    mov $0x8000000000000001, %r11
    .p2align 5
1:  add %rbx, %rax              /*  1 */
    xor %rax, %rdx              /*  2 */
    rol $13, %rdx               /*  3 */
    sub %rdx, %rsi              /*  4 */
    lea 7(%rsi,%rax,2), %rdi    /*  5 */
    imul %rdi, %r8              /*  6 */
    or $1, %r8                  /*  7 */
    add %r8, %r9                /*  8 */
    ror $7, %r9                 /*  9 */
    and %rsi, %r10              /* 10 */
    add %rdi, %r10              /* 11 */
    adc %r10, %r11              /* 12 */
    shr $1, %r11                /* 13 */
    inc %rbx                    /* 14 */
    dec %rcx                    /* 15 */
    jnz 1b                      /* 16 */
    xor %rbx, %rax
    xor %rdx, %rax
    xor %rsi, %rax
    xor %rdi, %rax
    xor %r8, %rax
    xor %r9, %rax
    xor %r10, %rax
    xor %r11, %rax
    ret
