/*
 * bootsect.S — hard-disk boot sector that brings the boot shim up on Bochs
 * the way QEMU's -kernel/-initrd does (docs/differential.md). The BIOS loads
 * it at 0:7C00 in real mode with DL = the boot drive.
 *
 * It reads the sectors after it (count patched in by the runner, layout in
 * shim_abi.h) to BOOT_LOAD_BASE with INT 13h AH=42h (extended read, 32
 * sectors at a time), enables A20 (port 0x92), enters 32-bit protected mode
 * on its own flat GDT, copies the shim to SHIM_LOAD_ADDR, builds a Multiboot
 * information structure with the memory sizes and one module (the payload,
 * its string the parameter string) at BOOT_MBI and jumps to the shim's entry
 * with EAX = 0x2BADB002, EBX = BOOT_MBI (MB 3.2). A disk error prints
 * "hvsim-bootsect: disk read error" on port 0xE9 and halts.
 */
#include "shim_abi.h"

#define CHUNK 32                                /* sectors per INT 13h call */

    .code16
    .text
    .globl _start
_start:
    cli
    ljmp $0, $1f                                /* CS = 0 whatever the BIOS used */
1:  xor %ax, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x7C00, %sp
    mov %dl, drive
    mov sectors, %cx
    movw $BOOT_LOAD_SEG, dap_seg
    movl $1, dap_lba
read:
    test %cx, %cx
    jz loaded
    mov $CHUNK, %ax
    cmp %ax, %cx
    jae 2f
    mov %cx, %ax
2:  mov %ax, dap_count
    push %cx
    push %ax
    mov $0x42, %ah
    mov drive, %dl
    mov $dap, %si
    int $0x13
    pop %ax
    pop %cx
    jc disk_error
    sub %ax, %cx
    movzwl %ax, %ebx
    addl %ebx, dap_lba
    shl $5, %ax                                 /* sectors -> paragraphs */
    add %ax, dap_seg
    jmp read

disk_error:
    mov $msg, %si
3:  lodsb
    test %al, %al
    jz 4f
    out %al, $0xE9
    jmp 3b
4:  hlt
    jmp 4b

loaded:
    in $0x92, %al                               /* fast A20 */
    or $2, %al
    and $0xFE, %al
    out %al, $0x92
    lgdtl gdtr
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x08, $pmode

    .code32
pmode:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x7000, %esp
    mov $BOOT_LOAD_BASE + SHIM_PARAM_MAX, %esi  /* the shim to its load address */
    mov $SHIM_LOAD_ADDR, %edi
    mov shim_size, %ecx
    rep movsb
    mov $BOOT_MBI, %edi                         /* Multiboot information (MB 3.3) */
    xor %eax, %eax
    mov $0x200 / 4, %ecx
    rep stosl
    movl $0x9, BOOT_MBI                         /* flags: mem_*, mods */
    movl $640, BOOT_MBI + 4                     /* mem_lower */
    mov mem_upper, %eax
    mov %eax, BOOT_MBI + 8
    movl $1, BOOT_MBI + 20                      /* mods_count */
    movl $BOOT_MBI + 0x100, BOOT_MBI + 24       /* mods_addr */
    mov mod_offset, %eax
    add $BOOT_LOAD_BASE, %eax
    mov %eax, BOOT_MBI + 0x100                  /* mod_start */
    add mod_size, %eax
    mov %eax, BOOT_MBI + 0x104                  /* mod_end */
    movl $BOOT_LOAD_BASE, BOOT_MBI + 0x108      /* string: the parameter string */
    mov shim_entry, %ecx
    mov $0x2BADB002, %eax
    mov $BOOT_MBI, %ebx
    jmp *%ecx

msg: .asciz "hvsim-bootsect: disk read error\n"

    .align 8
gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF                    /* 0x08: 32-bit code */
    .quad 0x00CF92000000FFFF                    /* 0x10: data */
gdtr:
    .word 23
    .long gdt
    .align 4
dap:                                            /* INT 13h AH=42h disk address packet */
    .byte 16, 0
dap_count: .word 0
    .word 0                                     /* offset */
dap_seg: .word 0
dap_lba: .quad 0
drive: .byte 0

    .org BOOT_F_SECTORS
sectors:    .word 0
    .org BOOT_F_SHIM_SIZE
shim_size:  .long 0
    .org BOOT_F_SHIM_ENTRY
shim_entry: .long 0
    .org BOOT_F_MOD_OFFSET
mod_offset: .long 0
    .org BOOT_F_MOD_SIZE
mod_size:   .long 0
    .org BOOT_F_MEM_UPPER
mem_upper:  .long 0
    .org BOOT_F_SIGNATURE
    .byte 0x55, 0xAA
