/*
 * trampoline.S — the real-mode start-up code of application processors
 * (SDM 3A 9.4.4: a start-up IPI with vector V starts the AP in real mode at
 * CS = V << 8, IP = 0, physical V << 12), and the 32-bit code it enters.
 *
 * The blob [mb_tramp_start, mb_tramp_end) is position-independent within
 * its 4-KiB page: it addresses its own data through DS = CS and offsets
 * from mb_tramp_start. mb_tramp_install() copies it to the page and fills
 * in mb_tramp_gdtr with the BSP's GDTR. The steps are those of SDM 3A 9.9.1
 * ("Switching to Protected Mode"): LGDT, MOV CR0 with PE = 1, then a far
 * JMP that loads CS from the new GDT, then the data segments. CR0.CD and
 * NW, set by INIT (table 9-1), are cleared on the way.
 *
 * The first AP to run also stores its real-mode CS in mb_tramp_cs (every
 * AP stores the same value), so that the BSP can check where the start-up
 * IPI started them.
 *
 * mb_ap_pm32 (32-bit, in the kernel image at its link address) takes an
 * arrival index with LOCK XADD, a 4-KiB stack from mb_ap_stacks by that
 * index, and calls mb_ap_entry(index); an AP that returns, or arrives
 * beyond MB_AP_MAX, halts with IF = 0.
 */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define MB_AP_MAX 63

    .section .rodata
    .code16
    .globl mb_tramp_start, mb_tramp_end, mb_tramp_gdtr, mb_tramp_cs
mb_tramp_start:
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    mov %ax, mb_tramp_cs - mb_tramp_start   /* the real-mode CS it started with */
    lgdtl mb_tramp_gdtr - mb_tramp_start
    mov %cr0, %eax
    and $0x9FFFFFFF, %eax       /* CD = NW = 0 */
    or $1, %eax                 /* PE */
    mov %eax, %cr0
    ljmpl $SEL_KCODE, $mb_ap_pm32
    .align 8
mb_tramp_gdtr:
    .word 0                     /* limit, filled in by mb_tramp_install */
    .long 0                     /* base */
mb_tramp_cs:
    .word 0                     /* CS as each AP found it in real mode (all write the same) */
mb_tramp_end:

    .text
    .code32
mb_ap_pm32:
    mov $SEL_KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %fs
    mov %eax, %gs
    mov %eax, %ss
    mov $1, %eax
    lock xadd %eax, mb_ap_arrivals
    cmp $MB_AP_MAX, %eax
    jae 9f
    lea 1(%eax), %esp
    shl $12, %esp
    add $mb_ap_stacks, %esp
    push %eax
    call *mb_ap_entry
9:  cli
    hlt
    jmp 9b

    .data
    .align 4
    .globl mb_ap_entry, mb_ap_arrivals
mb_ap_entry:    .long 0
mb_ap_arrivals: .long 0

    .bss
    .align 4096
mb_ap_stacks:
    .skip 4096 * MB_AP_MAX
