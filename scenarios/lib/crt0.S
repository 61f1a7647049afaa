/*
 * crt0.S — payload entry (docs/boot-protocol.md): RDI = boot info,
 * RSI = LP index, RDX = LP count, RSP 16-byte aligned. Calls
 * int hv_main(const struct hvsim_boot_info *, unsigned lp, unsigned nlps)
 * and exits through port 0xF4 with its return value.
 */
    .section .text.entry, "ax"
    .globl _start
_start:
    cld
    xor %ebp, %ebp
    call hv_main            /* pushes 8 bytes: hv_main sees the usual ABI alignment */
    mov %eax, %edi
    call hv_exit
1:  hlt
    jmp 1b
