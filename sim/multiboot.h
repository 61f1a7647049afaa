/*
 * multiboot.h — the Multiboot v1 loader (Multiboot Specification 0.6.96,
 * "MB" below; docs/multiboot.md): finds and checks the kernel's header,
 * loads the image (ELF32, or the a.out kludge's address fields), places the
 * modules, builds the information structure in guest RAM and records the
 * machine state at entry (MB 3.2) for the bootstrap processor and the parked
 * application processors. Set-up work on guest RAM before the first
 * instruction; mb_cpu_state() applies a recorded state through cpu.h.
 */
#ifndef HVSIM_SIM_MULTIBOOT_H
#define HVSIM_SIM_MULTIBOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu.h"
#include "elf.h"
#include "multiboot_protocol.h"
#include "physmem.h"

#define MB_MAX_MODULES    64
#define MB_MAX_CMDLINE    65536        /* bytes of the kernel's command line (file name + append), no NUL */
#define MB_MAX_MODSTRING  4096         /* bytes of one module's string, no NUL */

/* Physical layout (docs/multiboot.md "Memory layout"). */
#define MB_LOWER_END      0xA0000ull   /* lower memory [0, 640 KiB) */
#define MB_HOLE_BASE      0xA0000ull   /* legacy hole, reserved in the memory map */
#define MB_HOLE_END       0x100000ull
#define MB_FW_BASE        0xF0000ull   /* hvsim's firmware area, inside the hole: */
#define MB_FW_GDT         0xF0000ull   /*   the flat GDT (3 descriptors) */
#define MB_FW_STACK_TOP   0xF8000ull   /*   the bootstrap processor's stack (ESP) */
#define MB_FW_STACK_SIZE  0x4000ull
#define MB_FW_END         0xF8000ull
#define MB_INFO_LOWEST    0x9000ull    /* the information region starts here or higher */

#define MB_SEL_CODE32     0x08
#define MB_SEL_DATA32     0x10
#define MB_GDT_LIMIT      23
#define MB_ENTRY_CR0      0x11u        /* PE, ET */
#define MB_ENTRY_EFLAGS   0x2u         /* IF = 0, VM = 0 (bit 1 is reserved as 1) */
#define MB_MTRR_DEF_TYPE  0x806u       /* as the native protocol: MTRRs on, default write-back */

/* `hvsim run --multiboot`'s options (machine_load_multiboot). */
struct mb_options {
    const char *kernel;                /* path */
    const char *append;                /* --append: after the file name in the kernel's cmdline; NULL: none */
    unsigned nmods;
    struct {
        const char *path;
        const char *string;            /* the module's string (MB 3.3); NULL: the path */
    } mods[MB_MAX_MODULES];
};

/* One input file: the kernel or a module. */
struct mb_blob {
    const char *name;                  /* path as given: messages, and the start of the kernel's cmdline */
    const uint8_t *data;
    size_t size;
    const char *string;                /* modules: the module's string (MB 3.3); NULL: the name */
};

struct mb_input {
    struct mb_blob kernel;
    const char *append;                /* --append; NULL: none */
    unsigned nmods;
    struct mb_blob mods[MB_MAX_MODULES];
};

/* What the kernel's header and executable say (mb_parse). */
struct mb_kernel {
    uint32_t header_offset;            /* file offset of the header's magic */
    uint32_t flags;                    /* the header's flags */
    bool aout;                         /* loaded by the address fields (flag 16), else as ELF32 */
    struct elf_image img;              /* ranges to load (one for the a.out kludge) and the physical entry */
};

/* A logical processor's state at entry, as recorded by mb_prepare and
 * applied by mb_cpu_state (docs/multiboot.md "Machine state at entry"). */
struct mb_cpu_state {
    uint32_t gpr[8];                   /* EAX ECX EDX EBX ESP EBP ESI EDI (enum cpu_reg order) */
    uint32_t eip, eflags;
    uint32_t cr0, cr3, cr4;
    uint64_t efer;
    uint64_t mtrr_def_type;
    struct cpu_seg seg[CPU_SEG_COUNT]; /* ES CS SS DS FS GS LDTR TR (enum cpu_segreg order) */
    struct cpu_dtr gdtr, idtr;
};

/* Where everything went. Invariants after a successful mb_prepare: the
 * kernel's ranges, the modules, the information region and the firmware
 * area do not overlap; all lie in RAM below 4 GiB; none of the kernel's
 * ranges or the modules touches the legacy hole. */
struct mb_layout {
    struct mb_kernel k;
    uint64_t kernel_end;               /* end of the highest loaded range (bss included) */
    unsigned nmods;
    uint64_t mod_start[MB_MAX_MODULES], mod_end[MB_MAX_MODULES];
    uint64_t info_base, info_size;     /* the information region (page-aligned) */
    uint64_t info;                     /* struct mb_info: EBX */
    uint64_t mmap;                     /* first struct mb_mmap_entry */
    uint32_t mmap_length;              /* bytes */
    uint64_t mods;                     /* struct mb_module[nmods] */
    uint64_t loader_name, cmdline;     /* NUL-terminated strings */
    uint64_t mod_string[MB_MAX_MODULES];
    struct mb_cpu_state bsp;           /* logical processor 0 */
};

/* Find and check the header, and parse the image it describes against the
 * file's size and RAM. Messages name the field, not the file. */
bool mb_parse(const uint8_t *data, size_t size, uint64_t mem_size, struct mb_kernel *out, char *msg,
              size_t msglen) __attribute__((warn_unused_result));

/* Load the kernel and modules into RAM, build the information structure,
 * the GDT and the parking loop, and record the entry states. Messages start
 * with the name of the file at fault. */
bool mb_prepare(physmem_t *m, const struct mb_input *in, struct mb_layout *out, char *msg, size_t msglen)
    __attribute__((warn_unused_result));

/* Put a logical processor in a recorded state (cpu_set, cpu_set_seg,
 * cpu_set_dtr, cpu_msr_write, then cpu_commit_state). */
void mb_cpu_state(cpu_t *cpu, const struct mb_cpu_state *s);

#endif
