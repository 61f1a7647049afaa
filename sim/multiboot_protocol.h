/*
 * multiboot_protocol.h — the guest-visible layouts of the Multiboot
 * Specification version 0.6.96 ("MB" below): the header a kernel carries and
 * the information structure hvsim hands it (docs/multiboot.md). Plain C,
 * fixed-width types, little-endian; usable by freestanding 32-bit kernels.
 */
#ifndef HVSIM_MULTIBOOT_PROTOCOL_H
#define HVSIM_MULTIBOOT_PROTOCOL_H

#include <stdint.h>

#define MB_HEADER_MAGIC      0x1BADB002u   /* MB 3.1.2 */
#define MB_BOOTLOADER_MAGIC  0x2BADB002u   /* EAX at entry, MB 3.2 */
#define MB_SEARCH_BYTES      8192u         /* the header lies within the first 8192 bytes, MB 3.1.1 */
#define MB_HEADER_ALIGN      4u

/* Header flags (MB 3.1.2). Bits 0-15 are requirements: a loader that
 * cannot meet one must refuse the image; bits 16-31 are optional. */
#define MB_HF_PAGE_ALIGN     (1u << 0)     /* modules on 4-KiB boundaries */
#define MB_HF_MEMORY_INFO    (1u << 1)     /* mem_lower/mem_upper (and the mmap if any) */
#define MB_HF_VIDEO_MODE     (1u << 2)     /* video mode table, graphics fields valid */
#define MB_HF_AOUT_KLUDGE    (1u << 16)    /* address fields valid, MB 3.1.3 */
#define MB_HF_REQUIRED_MASK  0x0000FFFFu

/* The header (MB 3.1.1): 12 bytes always, 32 with the address fields
 * (flag 16), 48 with the graphics fields (flag 2). */
struct mb_header {
    uint32_t magic;          /*  0 */
    uint32_t flags;          /*  4 */
    uint32_t checksum;       /*  8: magic + flags + checksum == 0 (mod 2^32) */
    uint32_t header_addr;    /* 12: physical address of `magic` (flag 16) */
    uint32_t load_addr;      /* 16: physical address of the first loaded byte */
    uint32_t load_end_addr;  /* 20: end of the loaded bytes; 0: to the end of the file */
    uint32_t bss_end_addr;   /* 24: end of the zeroed bss; 0: no bss */
    uint32_t entry_addr;     /* 28: physical entry point */
    uint32_t mode_type;      /* 32: graphics fields (flag 2), MB 3.1.4 */
    uint32_t width;          /* 36 */
    uint32_t height;         /* 40 */
    uint32_t depth;          /* 44 */
};
#define MB_HEADER_MIN_SIZE   12u
#define MB_HEADER_ADDR_SIZE  32u
#define MB_HEADER_VIDEO_SIZE 48u

/* Information-structure flags (MB 3.3): which fields are valid. */
#define MB_INFO_MEMORY       (1u << 0)     /* mem_lower, mem_upper */
#define MB_INFO_BOOTDEV      (1u << 1)     /* boot_device (hvsim: never) */
#define MB_INFO_CMDLINE      (1u << 2)     /* cmdline */
#define MB_INFO_MODS         (1u << 3)     /* mods_count, mods_addr */
#define MB_INFO_AOUT_SYMS    (1u << 4)
#define MB_INFO_ELF_SHDR     (1u << 5)
#define MB_INFO_MEM_MAP      (1u << 6)     /* mmap_length, mmap_addr */
#define MB_INFO_BOOT_LOADER  (1u << 9)     /* boot_loader_name */

/* The Multiboot information structure (MB 3.3), fields at the offsets the
 * specification gives; hvsim fills the ones its flags name and zeroes the
 * rest (boot_device to the framebuffer fields). */
struct mb_info {
    uint32_t flags;              /*   0 */
    uint32_t mem_lower;          /*   4: KiB from 0 (at most 640) */
    uint32_t mem_upper;          /*   8: KiB from 1 MiB up to the first hole */
    uint32_t boot_device;        /*  12 */
    uint32_t cmdline;            /*  16: physical address of a NUL-terminated string */
    uint32_t mods_count;         /*  20 */
    uint32_t mods_addr;          /*  24: physical address of struct mb_module[mods_count] */
    uint32_t syms[4];            /*  28 */
    uint32_t mmap_length;        /*  44: bytes of memory map */
    uint32_t mmap_addr;          /*  48: physical address of the first entry's `size` */
    uint32_t drives_length;      /*  52 */
    uint32_t drives_addr;        /*  56 */
    uint32_t config_table;       /*  60 */
    uint32_t boot_loader_name;   /*  64: physical address of a NUL-terminated string */
    uint32_t apm_table;          /*  68 */
    uint32_t vbe_control_info;   /*  72 */
    uint32_t vbe_mode_info;      /*  76 */
    uint16_t vbe_mode;           /*  80 */
    uint16_t vbe_interface_seg;  /*  82 */
    uint16_t vbe_interface_off;  /*  84 */
    uint16_t vbe_interface_len;  /*  86 */
    uint32_t framebuffer_addr_lo;/*  88: 64-bit framebuffer_addr (flag 12), split for alignment */
    uint32_t framebuffer_addr_hi;/*  92 */
    uint32_t framebuffer_pitch;  /*  96 */
    uint32_t framebuffer_width;  /* 100 */
    uint32_t framebuffer_height; /* 104 */
    uint8_t framebuffer_bpp;     /* 108 */
    uint8_t framebuffer_type;    /* 109 */
    uint8_t color_info[6];       /* 110 */
};

/* A boot module (MB 3.3 "mods"): [mod_start, mod_end) holds the file. */
struct mb_module {
    uint32_t mod_start;
    uint32_t mod_end;            /* exclusive, as GRUB and QEMU set it */
    uint32_t string;             /* physical address of a NUL-terminated string */
    uint32_t reserved;           /* 0 */
};

/* A memory-map entry (MB 3.3 "mmap"): `size` precedes the entry and does not
 * count itself; the next entry starts size + 4 bytes later. mmap_addr points
 * at `size`. */
struct __attribute__((packed)) mb_mmap_entry {
    uint32_t size;               /* bytes of the entry after this field: 20 */
    uint64_t base_addr;
    uint64_t length;
    uint32_t type;               /* 1 available RAM; any other value reserved */
};
#define MB_MMAP_AVAILABLE    1u
#define MB_MMAP_RESERVED     2u

_Static_assert(sizeof(struct mb_header) == MB_HEADER_VIDEO_SIZE, "MB 3.1.1: the header is 48 bytes at most");
_Static_assert(__builtin_offsetof(struct mb_header, header_addr) == 12, "MB 3.1.1: header_addr at 12");
_Static_assert(__builtin_offsetof(struct mb_header, entry_addr) == 28, "MB 3.1.1: entry_addr at 28");
_Static_assert(__builtin_offsetof(struct mb_header, mode_type) == 32, "MB 3.1.1: mode_type at 32");
_Static_assert(sizeof(struct mb_info) == 116, "MB 3.3: the information structure is 116 bytes");
_Static_assert(__builtin_offsetof(struct mb_info, cmdline) == 16, "MB 3.3: cmdline at 16");
_Static_assert(__builtin_offsetof(struct mb_info, mods_addr) == 24, "MB 3.3: mods_addr at 24");
_Static_assert(__builtin_offsetof(struct mb_info, mmap_length) == 44, "MB 3.3: mmap_length at 44");
_Static_assert(__builtin_offsetof(struct mb_info, mmap_addr) == 48, "MB 3.3: mmap_addr at 48");
_Static_assert(__builtin_offsetof(struct mb_info, boot_loader_name) == 64, "MB 3.3: boot_loader_name at 64");
_Static_assert(__builtin_offsetof(struct mb_info, vbe_mode) == 80, "MB 3.3: vbe_mode at 80");
_Static_assert(__builtin_offsetof(struct mb_info, framebuffer_addr_lo) == 88, "MB 3.3: framebuffer_addr at 88");
_Static_assert(__builtin_offsetof(struct mb_info, framebuffer_bpp) == 108, "MB 3.3: framebuffer_bpp at 108");
_Static_assert(sizeof(struct mb_module) == 16, "MB 3.3: a module entry is 16 bytes");
_Static_assert(sizeof(struct mb_mmap_entry) == 24, "MB 3.3: size (4) + base_addr (8) + length (8) + type (4)");
_Static_assert(__builtin_offsetof(struct mb_mmap_entry, base_addr) == 4, "MB 3.3: base_addr follows size");
_Static_assert(__builtin_offsetof(struct mb_mmap_entry, type) == 20, "MB 3.3: type at base_addr + 16");

#endif
