/*
 * crt0.S — payload entry (docs/boot-protocol.md): RDI = boot info,
 * RSI = LP index, RDX = LP count, RSP 16-byte aligned. Records the entry
 * RSP and RFLAGS of each LP (hv_entry_rsp[], hv_entry_rflags[], for the
 * boot-state tests), then calls
 * int hv_main(const struct hvsim_boot_info *, unsigned lp, unsigned nlps)
 * and exits through port 0xF4 with its return value.
 */
    .section .text.entry, "ax"
    .globl _start
_start:
    cmp $64, %rsi
    jae 1f
    mov %rsp, hv_entry_rsp(,%rsi,8)
    pushfq
    popq hv_entry_rflags(,%rsi,8)
1:  cld
    xor %ebp, %ebp
    call hv_main            /* pushes 8 bytes: hv_main sees the usual ABI alignment */
    mov %eax, %edi
    call hv_exit
2:  hlt
    jmp 2b

    .bss
    .align 8
    .globl hv_entry_rsp, hv_entry_rflags
hv_entry_rsp:    .space 8 * 64
hv_entry_rflags: .space 8 * 64
