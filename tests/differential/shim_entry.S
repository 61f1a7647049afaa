/*
 * shim_entry.S — the boot shim's Multiboot header and mode switches
 * (docs/differential.md). Runs on QEMU (-kernel) and on Bochs (after
 * bootsect.S), never on hvsim's native path.
 *
 * The bootstrap processor enters at shim_entry32 in 32-bit protected mode
 * (MB 3.2), zeroes the bss, maps the first 4 GiB with the shim's own page
 * tables, enters IA-32e mode and calls shim_main() (shim.c). Application
 * processors start at ap_tramp (copied below 1 MiB by shim_main, started by
 * INIT-SIPI-SIPI), take the same path to 64-bit mode and call shim_ap_main().
 * shim_enter_payload() then switches every LP to the boot-protocol state
 * (docs/boot-protocol.md) and jumps to the payload.
 */
#include "shim_abi.h"

#define MB_MAGIC  0x1BADB002
#define MB_FLAGS  0x00010000            /* bit 16: the address fields are valid (MB 3.1.3) */
#define MSR_EFER  0xC0000080
#define EFER_LME_NXE 0x900
#define CR4_BOOT  0x620                 /* PAE OSFXSR OSXMMEXCPT */
#define CR0_BOOT  0x80010033            /* PE MP ET NE WP PG */
#define SEL_CODE64 0x08
#define SEL_DATA   0x10
#define SEL_CODE32 0x18                 /* the shim's own GDT only */
#define TRAMP_ADDR 0x8000               /* where shim_main copies ap_tramp (SIPI vector 0x08) */

    .section .mbheader, "a"
    .align 4
mb_header:                              /* MB 3.1.1 and 3.1.3 */
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
    .long mb_header                     /* header_addr */
    .long SHIM_LOAD_ADDR                /* load_addr */
    .long __load_end                    /* load_end_addr */
    .long __bss_end                     /* bss_end_addr */
    .long shim_entry32                  /* entry_addr */

    .section .text32, "ax"
    .code32
    .globl shim_entry32
shim_entry32:
    cli
    cld
    mov %ebx, %esi                      /* the Multiboot information structure */
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    shr $2, %ecx
    xor %eax, %eax
    rep stosl
    mov %esi, shim_mbi
    mov $shim_bsp_stack_top, %esp
    call build_tables
    jmp long_mode_on

/* Identity-map [0, 4 GiB) in 2-MiB pages: PML4 -> PDPT -> 4 PDs, all in the
 * bss (SDM 3A 4.5). Only the shim uses these tables. */
build_tables:
    mov $shim_pdpt, %eax
    or $3, %eax
    mov %eax, shim_pml4
    xor %ecx, %ecx
1:  mov %ecx, %eax
    shl $12, %eax
    add $shim_pd, %eax
    or $3, %eax
    mov %eax, shim_pdpt(,%ecx,8)
    inc %ecx
    cmp $4, %ecx
    jne 1b
    xor %ecx, %ecx                      /* PDE index 0..2047 */
2:  mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax                      /* P RW PS */
    mov %eax, shim_pd(,%ecx,8)
    mov %ecx, %eax
    shr $11, %eax                       /* bits 63:32 of the frame */
    mov %eax, shim_pd+4(,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jne 2b
    ret

/* From 32-bit protected mode (paging off) to 64-bit mode; continues at
 * bsp_entry64 or (for APs, with EBX = 1) ap_entry64. */
long_mode_on:
    xor %ebx, %ebx
long_mode_common:
    lgdt shim_gdtr
    mov $CR4_BOOT, %eax
    mov %eax, %cr4
    mov $shim_pml4, %eax
    mov %eax, %cr3
    mov $MSR_EFER, %ecx
    rdmsr
    or $EFER_LME_NXE, %eax
    wrmsr
    mov $CR0_BOOT, %eax
    mov %eax, %cr0
    test %ebx, %ebx
    jnz 3f
    ljmp $SEL_CODE64, $bsp_entry64
3:  ljmp $SEL_CODE64, $ap_entry64

    .align 16
shim_gdt:
    .quad 0
    .quad 0x00AF9B000000FFFF            /* 0x08: 64-bit code */
    .quad 0x00CF93000000FFFF            /* 0x10: data */
    .quad 0x00CF9B000000FFFF            /* 0x18: 32-bit code, for the AP trampoline */
shim_gdtr:
    .word 31
    .long shim_gdt

/* The AP trampoline: copied to TRAMP_ADDR, entered in real mode at
 * (TRAMP_ADDR >> 4):0000 by the start-up IPI (SDM 3A 9.4.4). */
    .globl ap_tramp, ap_tramp_end
    .code16
ap_tramp:
    cli
    cld
    xor %ax, %ax
    mov %ax, %ds
    lgdtl TRAMP_ADDR + (ap_tramp_gdtr - ap_tramp)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $SEL_CODE32, $TRAMP_ADDR + (ap_tramp32 - ap_tramp)
    .code32
ap_tramp32:
    mov $SEL_DATA, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $1, %ebx
    mov $long_mode_common, %eax
    jmp *%eax
    .align 4
ap_tramp_gdtr:
    .word 31
    .long shim_gdt
ap_tramp_end:

    .text
    .code64
bsp_entry64:
    mov $SEL_DATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    mov $shim_bsp_stack_top, %rsp
    mov shim_mbi(%rip), %edi
    call shim_main
4:  cli
    hlt
    jmp 4b

ap_entry64:
    mov $SEL_DATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    mov $1, %eax                        /* the LP index: order of arrival */
    lock xadd %eax, shim_next_lp(%rip)
    mov %eax, %edi
    mov %rdi, %rsp                      /* stack: shim_ap_stacks + (lp + 1) * 4 KiB */
    shl $12, %rsp
    add $shim_ap_stacks + 4096, %rsp
    call shim_ap_main
5:  cli
    hlt
    jmp 5b

/*
 * void shim_enter_payload(const struct shim_entry *e, unsigned lp)
 * The boot-protocol state (docs/boot-protocol.md): the final page tables and
 * GDT, segment registers, IDTR 0/0, RFLAGS 2, RDI/RSI/RDX, RSP, other GPRs 0.
 * struct shim_entry (shim.c): +0 entry, +8 cr3, +16 gdt base, +24 info,
 * +32 stacks, +40 stack size, +48 lp count.
 */
    .globl shim_enter_payload
shim_enter_payload:
    mov %rdi, %r8
    mov %esi, %r9d
    mov 8(%r8), %rax
    mov %rax, %cr3
    mov 16(%r8), %rax
    sub $16, %rsp
    movw $23, (%rsp)
    mov %rax, 2(%rsp)
    lgdt (%rsp)
    movw $0, (%rsp)
    movq $0, 2(%rsp)
    lidt (%rsp)
    add $16, %rsp
    mov $SEL_DATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    xor %eax, %eax                      /* null LDTR (TR cannot be loaded with null: never loaded) */
    lldt %ax
    pushq $SEL_CODE64
    lea 6f(%rip), %rax
    push %rax
    lretq                               /* reload CS from the final GDT */
6:  mov %r9, %rax                       /* stack top: stacks + (lp + 1) * stack size */
    inc %rax
    imul 40(%r8), %rax
    add 32(%r8), %rax
    mov %rax, %rsp
    mov 0(%r8), %rax
    mov 24(%r8), %rdi
    mov %r9, %rsi
    mov 48(%r8), %rdx
    pushq $2
    popfq
    push %rax                           /* the entry, popped by RET below */
    xor %eax, %eax
    xor %ebx, %ebx
    xor %ecx, %ecx
    xor %ebp, %ebp
    xor %r8d, %r8d
    xor %r9d, %r9d
    xor %r10d, %r10d
    xor %r11d, %r11d
    xor %r12d, %r12d
    xor %r13d, %r13d
    xor %r14d, %r14d
    xor %r15d, %r15d
    ret                                 /* RSP is back at the stack top */

    .data
    .align 4
    .globl shim_next_lp
shim_next_lp: .long 1

    .bss
    .align 4096
    .globl shim_pml4
shim_pml4: .space 4096
shim_pdpt: .space 4096
shim_pd:   .space 4 * 4096
    .align 16
    .globl shim_ap_stacks
shim_ap_stacks: .space 64 * 4096        /* 4 KiB per AP (at most 64 LPs) */
shim_bsp_stack: .space 16384
shim_bsp_stack_top:
    .align 4
    .globl shim_mbi
shim_mbi: .long 0
