/*
 * multiboot.c — building the machine a Multiboot v1 kernel expects
 * (docs/multiboot.md): the kernel and modules in RAM, the information
 * structure (MB 3.3), hvsim's firmware area (GDT, the application
 * processors' parking loop, a stack) and the recorded entry states (MB 3.2).
 * Set-up work on guest RAM before the first instruction.
 */
#include <stdio.h>
#include <string.h>

#include "multiboot.h"

#define PG 4096ull
#define GIB4 (1ull << 32)
#define MIB1 0x100000ull

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* Offsets inside the information region (docs/multiboot.md): the fixed
 * part, then the module list and the strings. */
#define REG_INFO  0x000u
#define REG_MMAP  0x080u
#define REG_MODS  0x100u
#define MMAP_ENTRIES 3u
_Static_assert(sizeof(struct mb_info) <= REG_MMAP, "the information structure fits before the map");
_Static_assert(REG_MMAP + MMAP_ENTRIES * sizeof(struct mb_mmap_entry) <= REG_MODS, "the map fits before the modules");

/* The firmware area's parts do not overlap and lie in the legacy hole. */
_Static_assert(MB_FW_BASE >= MB_HOLE_BASE && MB_FW_END <= MB_HOLE_END, "firmware area inside the hole");
_Static_assert(MB_FW_GDT + MB_GDT_LIMIT + 1 <= MB_FW_STACK_TOP - MB_FW_STACK_SIZE, "GDT below the stack");
_Static_assert(MB_FW_STACK_TOP <= MB_FW_END, "stack inside the firmware area");

/* Descriptors (SDM 3A 3.4.5): base 0, limit 0xFFFFF in 4-KiB units, DPL 0,
 * present, 32-bit; code execute/read, data read/write, accessed set so that
 * the descriptors match the hidden parts loaded at entry. */
#define GDT_CODE32 0x00CF9B000000FFFFull
#define GDT_DATA32 0x00CF93000000FFFFull

static void record_state(struct mb_cpu_state *s, uint32_t eip, uint32_t eax, uint32_t ebx, uint32_t esp)
{
    memset(s, 0, sizeof(*s));
    s->gpr[CPU_RAX] = eax;
    s->gpr[CPU_RBX] = ebx;
    s->gpr[CPU_RSP] = esp;
    s->eip = eip;
    s->eflags = MB_ENTRY_EFLAGS;
    s->cr0 = MB_ENTRY_CR0;
    s->mtrr_def_type = MB_MTRR_DEF_TYPE;
    const struct cpu_seg code = { MB_SEL_CODE32, 0, 0xFFFFFFFF, 0xB | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_DB | SEG_ATTR_G };
    const struct cpu_seg data = { MB_SEL_DATA32, 0, 0xFFFFFFFF, 0x3 | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_DB | SEG_ATTR_G };
    const struct cpu_seg none = { 0, 0, 0, SEG_ATTR_UNUSABLE };
    s->seg[CPU_CS] = code;
    s->seg[CPU_SS] = s->seg[CPU_DS] = s->seg[CPU_ES] = s->seg[CPU_FS] = s->seg[CPU_GS] = data;
    s->seg[CPU_LDTR] = s->seg[CPU_TR] = none;
    s->gdtr = (struct cpu_dtr){ MB_FW_GDT, MB_GDT_LIMIT };
    s->idtr = (struct cpu_dtr){ 0, 0 };
}

static void put_string(physmem_t *m, uint64_t *at, uint64_t *addr, const char *a, const char *b)
{
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    uint8_t *p = pmem_host(m, *at, la + (b ? 1 + lb : 0) + 1);
    memcpy(p, a, la);
    if (b) {
        p[la] = ' ';
        memcpy(p + la + 1, b, lb);
        la += 1 + lb;
    }
    p[la] = 0;
    *addr = *at;
    *at += la + 1;
}

bool mb_prepare(physmem_t *m, const struct mb_input *in, struct mb_layout *out, char *msg, size_t n)
{
    memset(out, 0, sizeof(*out));
    uint64_t mem = pmem_size(m);
    uint64_t top = mem < GIB4 ? mem : GIB4;        /* everything hvsim places lies below 4 GiB */
    const char *kname = in->kernel.name;
    char why[400];
    if (mem < 2 * MIB1) {
        snprintf(msg, n, "%s: Multiboot needs at least 2 MiB of RAM (the machine has %llu KiB)", kname,
                 (unsigned long long)(mem >> 10));
        return false;
    }
    if (in->nmods > MB_MAX_MODULES) {
        snprintf(msg, n, "%u modules given, at most %d", in->nmods, MB_MAX_MODULES);
        return false;
    }
    if (!mb_parse(in->kernel.data, in->kernel.size, mem, &out->k, why, sizeof(why))) {
        snprintf(msg, n, "%s: %s", kname, why);
        return false;
    }

    /* The command line (MB 3.3 "cmdline"): the kernel's file name, then the
     * --append string, as GRUB and QEMU pass it. */
    size_t cmdlen = strlen(kname) + (in->append ? 1 + strlen(in->append) : 0);
    if (cmdlen > MB_MAX_CMDLINE) {
        snprintf(msg, n, "%s: the command line (file name and --append) is %zu bytes (at most %d)", kname, cmdlen,
                 MB_MAX_CMDLINE);
        return false;
    }
    uint64_t strings = sizeof("hvsim " HVSIM_VERSION) + cmdlen + 1;
    for (unsigned i = 0; i < in->nmods; i++) {
        const struct mb_blob *b = &in->mods[i];
        size_t sl = strlen(b->string ? b->string : b->name);
        if (sl > MB_MAX_MODSTRING) {
            snprintf(msg, n, "%s: module string is %zu bytes (at most %d)", b->name, sl, MB_MAX_MODSTRING);
            return false;
        }
        strings += sl + 1;
    }

    /* Modules: page-aligned (header flag 0 or not) from the first page at
     * or above 1 MiB after the kernel's highest byte (bss included). */
    const struct elf_image *img = &out->k.img;
    for (unsigned i = 0; i < img->nseg; i++)
        if (img->seg[i].paddr + img->seg[i].memsz > out->kernel_end)
            out->kernel_end = img->seg[i].paddr + img->seg[i].memsz;
    uint64_t at = align_up(out->kernel_end > MIB1 ? out->kernel_end : MIB1, PG);
    for (unsigned i = 0; i < in->nmods; i++) {
        const struct mb_blob *b = &in->mods[i];
        if (at > top || b->size > top - at) {
            snprintf(msg, n, "%s: module %u (%zu bytes) does not fit at %#llx: RAM below 4 GiB ends at %#llx",
                     b->name, i, b->size, (unsigned long long)at, (unsigned long long)top);
            return false;
        }
        out->mod_start[i] = at;
        out->mod_end[i] = at + b->size;
        at = align_up(out->mod_end[i], PG);
    }
    out->nmods = in->nmods;

    /* The information region: the lowest page at or above MB_INFO_LOWEST
     * in lower memory clear of the kernel, else the first page after the
     * modules (or the kernel). */
    uint64_t size = align_up(REG_MODS + (uint64_t)in->nmods * sizeof(struct mb_module) + strings, PG);
    uint64_t base = MB_INFO_LOWEST;
    for (bool moved = true; moved;) {
        moved = false;
        for (unsigned i = 0; i < img->nseg; i++)
            if (overlaps(base, size, img->seg[i].paddr, img->seg[i].memsz)) {
                base = align_up(img->seg[i].paddr + img->seg[i].memsz, PG);
                moved = true;
            }
    }
    if (base + size > MB_LOWER_END) {
        base = at;
        if (base > top || size > top - base) {
            snprintf(msg, n, "%s: no room for the Multiboot information (%llu KiB) in lower memory or after the "
                     "kernel and modules below %#llx", kname, (unsigned long long)(size >> 10),
                     (unsigned long long)top);
            return false;
        }
    }
    out->info_base = base;
    out->info_size = size;

    /* Load the kernel (MB 3.1.3 / ELF PT_LOAD): file bytes, then zeroes. */
    for (unsigned i = 0; i < img->nseg; i++) {
        const struct elf_segment *s = &img->seg[i];
        uint8_t *dst = pmem_host(m, s->paddr, s->memsz);
        if (!dst || s->offset + s->filesz > in->kernel.size) {   /* mb_parse checked both */
            snprintf(msg, n, "%s: range at physical %#llx cannot be loaded", kname, (unsigned long long)s->paddr);
            return false;
        }
        memcpy(dst, in->kernel.data + s->offset, s->filesz);
        memset(dst + s->filesz, 0, s->memsz - s->filesz);
    }
    for (unsigned i = 0; i < in->nmods; i++)
        if (in->mods[i].size)
            memcpy(pmem_host(m, out->mod_start[i], in->mods[i].size), in->mods[i].data, in->mods[i].size);

    /* Firmware area: GDT, parking loop, stack (docs/multiboot.md). */
    memset(pmem_host(m, MB_FW_BASE, MB_FW_END - MB_FW_BASE), 0, MB_FW_END - MB_FW_BASE);
    uint64_t gdt[3] = { 0, GDT_CODE32, GDT_DATA32 };
    _Static_assert(sizeof(gdt) == MB_GDT_LIMIT + 1, "GDTR limit covers the three descriptors");
    memcpy(pmem_host(m, MB_FW_GDT, sizeof(gdt)), gdt, sizeof(gdt));

    /* The information region. */
    memset(pmem_host(m, base, size), 0, size);
    out->info = base + REG_INFO;
    out->mmap = base + REG_MMAP;
    out->mods = base + REG_MODS;
    uint64_t sp = out->mods + (uint64_t)in->nmods * sizeof(struct mb_module);
    put_string(m, &sp, &out->loader_name, "hvsim " HVSIM_VERSION, NULL);
    put_string(m, &sp, &out->cmdline, kname, in->append);
    for (unsigned i = 0; i < in->nmods; i++) {
        const struct mb_blob *b = &in->mods[i];
        put_string(m, &sp, &out->mod_string[i], b->string ? b->string : b->name, NULL);
        struct mb_module e = { (uint32_t)out->mod_start[i], (uint32_t)out->mod_end[i], (uint32_t)out->mod_string[i], 0 };
        memcpy(pmem_host(m, out->mods + i * sizeof(e), sizeof(e)), &e, sizeof(e));
    }

    /* Memory map (MB 3.3 "mmap"): lower memory, the legacy hole, RAM from
     * 1 MiB. The information region and the modules are inside type-1 RAM,
     * as with GRUB: the kernel must not reuse them before it is done. */
    const struct mb_mmap_entry mmap[MMAP_ENTRIES] = {
        { 20, 0, MB_LOWER_END, MB_MMAP_AVAILABLE },
        { 20, MB_HOLE_BASE, MB_HOLE_END - MB_HOLE_BASE, MB_MMAP_RESERVED },
        { 20, MB_HOLE_END, mem - MB_HOLE_END, MB_MMAP_AVAILABLE },
    };
    memcpy(pmem_host(m, out->mmap, sizeof(mmap)), mmap, sizeof(mmap));
    out->mmap_length = sizeof(mmap);

    struct mb_info info = {
        .flags = MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MODS | MB_INFO_MEM_MAP | MB_INFO_BOOT_LOADER,
        .mem_lower = (uint32_t)(MB_LOWER_END >> 10),
        .mem_upper = (uint32_t)((top - MIB1) >> 10),
        .cmdline = (uint32_t)out->cmdline,
        .mods_count = in->nmods,
        .mods_addr = (uint32_t)out->mods,
        .mmap_length = out->mmap_length,
        .mmap_addr = (uint32_t)out->mmap,
        .boot_loader_name = (uint32_t)out->loader_name,
    };
    memcpy(pmem_host(m, out->info, sizeof(info)), &info, sizeof(info));

    /* Entry states (MB 3.2). */
    record_state(&out->bsp, (uint32_t)img->entry, MB_BOOTLOADER_MAGIC, (uint32_t)out->info, (uint32_t)MB_FW_STACK_TOP);
    return true;
}

void mb_cpu_state(cpu_t *cpu, const struct mb_cpu_state *s)
{
    for (int r = CPU_RAX; r <= CPU_R15; r++)
        cpu_set(cpu, r, r <= CPU_RDI ? s->gpr[r] : 0);
    cpu_set(cpu, CPU_RIP, s->eip);
    cpu_set(cpu, CPU_RFLAGS, s->eflags);
    cpu_set(cpu, CPU_CR0, s->cr0);
    cpu_set(cpu, CPU_CR3, s->cr3);
    cpu_set(cpu, CPU_CR4, s->cr4);
    cpu_msr_write(cpu, 0xC0000080, s->efer);        /* IA32_EFER */
    for (int g = CPU_ES; g < CPU_SEG_COUNT; g++)
        cpu_set_seg(cpu, (enum cpu_segreg)g, &s->seg[g]);
    cpu_set_dtr(cpu, false, &s->gdtr);
    cpu_set_dtr(cpu, true, &s->idtr);
    cpu_msr_write(cpu, 0x2FF, s->mtrr_def_type);    /* IA32_MTRR_DEF_TYPE */
    cpu_commit_state(cpu);
}
