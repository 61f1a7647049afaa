/*
 * shim_abi.h — what the differential runner (sim/differential.c) and the
 * boot shim (tests/differential/) agree on. Included from C and from
 * assembly, so only #defines. docs/differential.md describes the whole path.
 *
 * The shim is a Multiboot v1 kernel (a.out kludge, loaded at
 * SHIM_LOAD_ADDR). Module 0 is the payload ELF64; its string carries the
 * machine the payload expects, as words:
 *
 *     "hvsim-shim lps=N mem=BYTES [cmdline=REST OF THE LINE]"
 *
 * Words before "hvsim-shim" are skipped (QEMU's -initrd puts the file name
 * first). cmdline= must come last: everything after it, spaces included, is the
 * payload's command line (docs/boot-protocol.md, boot information block).
 */
#ifndef HVSIM_TESTS_DIFFERENTIAL_SHIM_ABI_H
#define HVSIM_TESTS_DIFFERENTIAL_SHIM_ABI_H

#define SHIM_LOAD_ADDR     0x100000     /* the shim's header load_addr */
#define SHIM_PARAM_MAGIC   "hvsim-shim"
#define SHIM_PARAM_MAX     4096         /* bytes of the parameter string, NUL included */

/*
 * The Bochs boot sector (bootsect.S). The runner builds a flat disk image:
 *
 *   LBA 0                  the boot sector, with the fields below patched in
 *   LBA 1 ..               loaded to BOOT_LOAD_SEG:0 (physical BOOT_LOAD_BASE):
 *     + 0                  the parameter string (SHIM_PARAM_MAX bytes)
 *     + SHIM_PARAM_MAX     the shim image, padded to BOOT_SECTOR bytes
 *     + mod_offset         the payload ELF64 file
 *
 * and the boot sector, after reading it with INT 13h AH=42h, copies the
 * shim to its load address, fakes a Multiboot information structure (memory
 * and one module) at BOOT_MBI and jumps to the shim's entry in 32-bit
 * protected mode with EAX = 0x2BADB002, EBX = BOOT_MBI.
 */
#define BOOT_SECTOR        512
#define BOOT_LOAD_SEG      0x3000
#define BOOT_LOAD_BASE     0x30000
#define BOOT_LOAD_MAX      0x6F000      /* up to 0x9F000: below the EBDA */
#define BOOT_MBI           0x6000       /* Multiboot information (+0x100: module list) */

/* Offsets of the patched fields inside the boot sector (little-endian). */
#define BOOT_F_SECTORS     0x1E0        /* u16: sectors to read from LBA 1 */
#define BOOT_F_SHIM_SIZE   0x1E4        /* u32: bytes of the shim image */
#define BOOT_F_SHIM_ENTRY  0x1E8        /* u32: the shim's entry_addr */
#define BOOT_F_MOD_OFFSET  0x1EC        /* u32: the payload's offset from BOOT_LOAD_BASE */
#define BOOT_F_MOD_SIZE    0x1F0        /* u32: bytes of the payload */
#define BOOT_F_MEM_UPPER   0x1F4        /* u32: KiB of RAM above 1 MiB (Multiboot mem_upper) */
#define BOOT_F_SIGNATURE   0x1FE        /* 0x55 0xAA */

#endif
