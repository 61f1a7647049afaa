/*
 * store.S — benchmark workload: a store loop.
 *
 * ITER iterations of one 13-instruction loop body: eight 8-byte stores
 * into one 64-byte line of a 64-KiB buffer (16 pages; the line moves on by
 * 64 bytes each iteration and wraps), two ADDs, an AND, DEC and JNZ. No
 * load in the loop. The buffer is zeroed first and the sum of its quadwords is the checksum;
 * the fixed set-up before and after the loop cancels out when two ITER
 * values are compared (tests/tools/bench.sh). Every store goes to a page
 * without code, so this measures the engine's store path (docs/cpu-mmu.md,
 * "Stores into pages without code").
 *
 * Build: see entry.inc and tests/tools/bench.sh (-DITER=N, -DBENCH_FLOPPY
 * for the Bochs/QEMU floppy, -DBENCH_HOST for the reference checksum).
 */
#include "entry.inc"

    .text
    .code64
    .globl bench_run
    .type bench_run, @function
bench_run:
    push %rdi
    lea store_buf(%rip), %rdi       /* zero the buffer (the floppy's .bss is not) */
    mov $8192, %ecx
    xor %eax, %eax
    rep stosq
    pop %rdi
    lea store_buf(%rip), %rsi
    mov $ITER, %rcx
    mov $0x9e3779b97f4a7c15, %rax
    xor %edx, %edx
    .p2align 5
1:  mov %rax, (%rsi,%rdx)           /*  1 */
    mov %rax, 8(%rsi,%rdx)          /*  2 */
    mov %rax, 16(%rsi,%rdx)         /*  3 */
    mov %rax, 24(%rsi,%rdx)         /*  4 */
    mov %rax, 32(%rsi,%rdx)         /*  5 */
    mov %rax, 40(%rsi,%rdx)         /*  6 */
    mov %rax, 48(%rsi,%rdx)         /*  7 */
    mov %rax, 56(%rsi,%rdx)         /*  8 */
    add %rcx, %rax                  /*  9 */
    add $64, %edx                   /* 10 */
    and $0xffff, %edx               /* 11 */
    dec %rcx                        /* 12 */
    jnz 1b                          /* 13 */
    xor %eax, %eax
    mov $8192, %ecx
2:  add (%rsi), %rax
    add $8, %rsi
    dec %ecx
    jnz 2b
    ret

    .bss
    .p2align 12
store_buf:
    .space 65536
