/*
 * entry.S — the Multiboot v1 header and the kernel's entry point.
 *
 * The header (MB 3.1.1, 3.1.2) comes first in .text (kernel.ld puts
 * .multiboot at the start of the image, well inside the first 8192 bytes
 * of the file): magic 0x1BADB002, flags bit 0 (modules page-aligned) and
 * bit 1 (memory information), checksum = -(magic + flags). No address
 * fields: the loader takes the ELF program headers.
 *
 * _start runs in the state of MB 3.2 (EAX = 0x2BADB002, EBX = the
 * information structure, 32-bit protected mode, paging off, IF = 0, ESP
 * undefined): it records that state in mb_entry_state before changing any
 * of it, switches to the kernel's own 16-KiB stack and calls
 * mb_main(magic, info). If mb_main returns, the run ends with status 3.
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003

    .section .multiboot, "a"
    .align 4
    .globl mb_header
mb_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .text
    .globl _start
_start:
    /* MOVs only until PUSHF: none of them changes EFLAGS */
    mov %eax, mb_entry_state + 0
    mov %ebx, mb_entry_state + 4
    mov %ecx, mb_entry_state + 8
    mov %edx, mb_entry_state + 12
    mov %esi, mb_entry_state + 16
    mov %edi, mb_entry_state + 20
    mov %ebp, mb_entry_state + 24
    mov %esp, mb_entry_state + 28
    /* PUSHF needs a usable stack: the loader's (ESP = 0xF8000 under hvsim);
     * MB 3.2 leaves ESP undefined, so switch first and push on our own. */
    mov $mb_boot_stack_top, %esp
    pushf
    popl mb_entry_state + 32
    mov %cr0, %ecx
    mov %ecx, mb_entry_state + 36
    mov %cs, mb_entry_state + 40
    mov %ds, mb_entry_state + 42
    mov %es, mb_entry_state + 44
    mov %fs, mb_entry_state + 46
    mov %gs, mb_entry_state + 48
    mov %ss, mb_entry_state + 50
    cld
    xor %ebp, %ebp
    push %ebx
    push %eax
    call mb_main
    add $8, %esp
    push $3
    call mb_exit

    .bss
    .align 16
    .globl mb_boot_stack, mb_boot_stack_top
mb_boot_stack:
    .skip 16384
mb_boot_stack_top:
