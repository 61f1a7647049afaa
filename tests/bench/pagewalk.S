/*
 * pagewalk.S — benchmark workload 2: address translation.
 *
 * The payload builds its own 4-level tables: the first GiB identity-mapped
 * with 2-MiB pages, except [32 MiB, 64 MiB), which is identity-mapped with
 * 8192 4-KiB pages (16 page tables). It stores a distinct value in the first
 * qword of each of those pages, loads CR3, then makes ITER passes, each
 * reading the first qword of every page in order (stride 4096). 8192 pages
 * exceed every engine's TLB (and Bochs's 1024-entry one by far), so nearly
 * every load needs a translation.
 *
 * With -DFLUSH=1 each pass starts with MOV CR3 (reload of the same value),
 * which flushes all non-global translations: then every load of every pass
 * is a full page walk in every engine, hvsim's translation cache included.
 *
 * Instructions retired per pass, exactly (PW_INSNS_PER_ITER):
 *   4 * 8192 (inner loop) + 4 (pass set-up and loop) [+ 2 with FLUSH]
 *   = 32772 [32774].
 * The set-up before the passes cancels out when two ITER values are compared.
 *
 * Checksum: page i (0-based) holds (i + 1) * K, K = 0x9E3779B97F4A7C15, so
 * the result is ITER * K * 8192 * 8193 / 2 mod 2^64 (tests/tools/bench.sh
 * checks it).
 */
#include "entry.inc"

#define REGION      0x2000000           /* 32 MiB */
#define NPAGES      8192
#define NPTS        (NPAGES / 512)
#define PD_FIRST    (REGION >> 21)      /* first PD entry of the region */

    .bss
    .p2align 12
pw_pml4:    .skip 4096
pw_pdpt:    .skip 4096
pw_pd:      .skip 4096
pw_pts:     .skip 4096 * NPTS
pw_end:

    .text
    .code64
    .globl bench_run
    .type bench_run, @function
bench_run:
    /* tables: zero them, then fill */
    mov $pw_pml4, %edi
    mov $((pw_end - pw_pml4) / 8), %ecx
    xor %eax, %eax
    cld
    rep stosq
    movq $(pw_pdpt + 3), pw_pml4
    movq $(pw_pd + 3), pw_pdpt
    xor %ecx, %ecx
1:  mov %rcx, %rax                  /* PD: 2-MiB identity pages */
    shl $21, %rax
    or $0x83, %rax
    mov %rax, pw_pd(,%rcx,8)
    inc %ecx
    cmp $512, %ecx
    jb 1b
    mov $(pw_pts + 3), %eax         /* PD[16..31] -> the page tables */
    mov $PD_FIRST, %ecx
2:  mov %rax, pw_pd(,%rcx,8)
    add $4096, %rax
    inc %ecx
    cmp $(PD_FIRST + NPTS), %ecx
    jb 2b
    mov $(REGION | 3), %eax         /* PTEs: 4-KiB identity pages */
    xor %ecx, %ecx
3:  mov %rax, pw_pts(,%rcx,8)
    add $4096, %rax
    inc %ecx
    cmp $NPAGES, %ecx
    jb 3b

    /* page i's first qword = (i + 1) * K (written through the old map) */
    mov $0x9e3779b97f4a7c15, %rdx
    xor %eax, %eax
    mov $REGION, %esi
    mov $NPAGES, %ecx
4:  add %rdx, %rax
    mov %rax, (%rsi)
    add $4096, %rsi
    dec %ecx
    jnz 4b

    mov $pw_pml4, %eax
    mov %rax, %cr3

    /* the measured loop */
    mov $ITER, %rcx
    xor %r8d, %r8d
    .p2align 5
5:
#if defined(FLUSH) && FLUSH
    mov %cr3, %rax
    mov %rax, %cr3
#endif
    mov $REGION, %esi
    mov $NPAGES, %edx
6:  add (%rsi), %r8
    add $4096, %rsi
    dec %edx
    jnz 6b
    dec %rcx
    jnz 5b
    mov %r8, %rax
    ret
