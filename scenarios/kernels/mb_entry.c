/*
 * mb_entry — the machine state a Multiboot v1 kernel is entered in (MB 3.2)
 * and the information structure it is handed (MB 3.3), as the kernel sees
 * them. One fact per line; every value is also checked.
 *
 * MB 3.2: EAX = 0x2BADB002; EBX = the physical address of the information
 * structure; CS a 32-bit read/execute code segment with offset 0 and limit
 * 0xFFFFFFFF; DS, ES, FS, GS, SS 32-bit read/write data segments with
 * offset 0 and limit 0xFFFFFFFF; A20 enabled; CR0.PG = 0, CR0.PE = 1;
 * EFLAGS.VM = 0, EFLAGS.IF = 0. The GDTR may be invalid (MB 3.2), so the
 * descriptor fields are read from hvsim's documented boot GDT
 * (docs/multiboot.md) and the base, limit and stack size are also tested
 * by behaviour.
 *
 * MB 3.3: the flags say which fields are valid; mem_lower/mem_upper in
 * KiB (lower at most 640, upper at most the first hole above 1 MiB minus
 * 1 MiB); cmdline a C string; mods_count/mods_addr, each module
 * {mod_start, mod_end, string, reserved = 0}, page-aligned because the
 * header sets flag 0 (MB 3.1.2); the memory map as {size, base_addr,
 * length, type} entries, size not counting itself, type 1 available.
 *
 * The scenarios pass --append and modules; the transcript prints only the
 * file name of paths (the kernel's path in the command line, a module's
 * string: the file's path when the scenario gives none), which depend on
 * where the build and the scenario live; so module strings given in
 * scenarios contain no '/'.
 */
#include "mb32.h"

static const char *basename(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Print a module's bytes as text: printable ASCII, other bytes as \xNN. */
static void print_bytes(const uint8_t *p, uint32_t n)
{
    mb_putc('"');
    for (uint32_t i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7F && p[i] != '"' && p[i] != '\\')
            mb_putc((char)p[i]);
        else if (p[i] == '\n')
            mb_puts("\\n");
        else
            mb_printf("\\x%02x", p[i]);
    }
    mb_putc('"');
}

/* A segment register's loaded state: descriptor fields from the boot GDT,
 * the base by reading the Multiboot header at 0x100000 through the
 * segment, and the limit by reading the last dword of RAM through it. */
#define READ_SEG(seg, off) ({ uint32_t _v; __asm__ volatile("movl %%" seg ":(%1), %0" : "=r"(_v) : "r"(off)); _v; })

static void segment(const char *name, uint16_t sel, bool code, uint32_t via_seg, uint32_t top_via_seg,
                    uint32_t top_direct)
{
    struct mb_dtr g;
    sgdt(&g);
    uint64_t d = 0;
    bool in_gdt = !(sel & 4) && (uint32_t)(sel | 7) <= g.limit;
    if (in_gdt)
        d = *(const volatile uint64_t *)(uintptr_t)(g.base + (sel & ~7u));
    unsigned t = desc_type(d);
    bool kind_ok = code ? (t & 0xA) == 0xA : (t & 0xA) == 0x2;   /* code+readable / data+writable */
    mb_printf("%s = %#x: base %#x, limit %#x, %s, %s-bit, DPL %u, present %s; reads at 0x100000 and at the "
              "end of RAM through it: %s\n",
              name, sel, desc_base(d), desc_limit(d),
              code ? (kind_ok ? "execute/read code" : "WRONG TYPE") : (kind_ok ? "read/write data" : "WRONG TYPE"),
              desc_db(d) ? "32" : "16", desc_dpl(d), mb_yn(desc_p(d)),
              via_seg == MB_HEADER_MAGIC && top_via_seg == top_direct ? "same as physical" : "DIFFERENT");
    T_CHECK(in_gdt, "%s selector %#x outside the GDT (limit %#x)", name, sel, g.limit);
    T_CHECK(desc_s(d) && kind_ok, "%s descriptor %#llx", name, (unsigned long long)d);
    T_CHECK_EQ(desc_base(d), 0);
    T_CHECK_EQ(desc_limit(d), 0xFFFFFFFFu);
    T_CHECK(desc_db(d), "%s is not a 32-bit segment", name);
    T_CHECK(desc_p(d), "%s not present", name);
    T_CHECK_EQ(desc_dpl(d), 0);
    T_CHECK_EQ(via_seg, MB_HEADER_MAGIC);
    T_CHECK_EQ(top_via_seg, top_direct);
}

void mb_main(uint32_t magic, const struct mb_info *mbi)
{
    const struct mb_entry_state *e = &mb_entry_state;

    /* ---- registers (MB 3.2) ---- */
    mb_printf("EAX = %#x: the boot loader magic (MB 3.2)\n", e->eax);
    T_CHECK_EQ(e->eax, MB_BOOTLOADER_MAGIC);
    T_CHECK_EQ(magic, e->eax);
    mb_printf("EBX = %#x: the information structure's physical address (MB 3.2)\n", e->ebx);
    T_CHECK_EQ(e->ebx, (uint32_t)(uintptr_t)mbi);
    T_CHECK(e->ebx && e->ebx < 0xFFFFFFFFu - sizeof(*mbi), "EBX %#x", e->ebx);
    mb_printf("CR0.PE = %u, CR0.PG = %u (MB 3.2: protected mode, paging off)\n", e->cr0 & CR0_PE ? 1 : 0,
              e->cr0 & CR0_PG ? 1 : 0);
    T_CHECK(e->cr0 & CR0_PE, "CR0 %#x", e->cr0);
    T_CHECK(!(e->cr0 & CR0_PG), "CR0 %#x", e->cr0);
    mb_printf("EFLAGS.IF = %u, EFLAGS.VM = %u (MB 3.2)\n", e->eflags & EFLAGS_IF ? 1 : 0,
              e->eflags & EFLAGS_VM ? 1 : 0);
    T_CHECK(!(e->eflags & EFLAGS_IF), "EFLAGS %#x", e->eflags);
    T_CHECK(!(e->eflags & EFLAGS_VM), "EFLAGS %#x", e->eflags);

    /* ---- segments (MB 3.2) ---- */
    const struct mb_mmap_entry *last = NULL;
    if (mbi->flags & MB_INFO_MEM_MAP)
        for (uint32_t off = 0; off < mbi->mmap_length;) {
            const struct mb_mmap_entry *m = (const void *)(uintptr_t)(mbi->mmap_addr + off);
            if (m->type == MB_MMAP_AVAILABLE && (!last || m->base_addr > last->base_addr))
                last = m;
            off += m->size + 4;
        }
    T_ASSERT(last != NULL, "no available memory-map entry");
    uint32_t top = (uint32_t)(last->base_addr + last->length - 4);    /* the last dword of RAM */
    uint32_t top_direct = *phys32(top);
    uint32_t hdr = 0x100000;
    segment("CS", e->cs, true, READ_SEG("cs", hdr), READ_SEG("cs", top), top_direct);
    segment("DS", e->ds, false, READ_SEG("ds", hdr), READ_SEG("ds", top), top_direct);
    segment("ES", e->es, false, READ_SEG("es", hdr), READ_SEG("es", top), top_direct);
    segment("FS", e->fs, false, READ_SEG("fs", hdr), READ_SEG("fs", top), top_direct);
    segment("GS", e->gs, false, READ_SEG("gs", hdr), READ_SEG("gs", top), top_direct);
    segment("SS", e->ss, false, READ_SEG("ss", hdr), READ_SEG("ss", top), top_direct);
    /* SS.B = 1: a PUSH uses all of ESP (our stack is above 64 KiB), so the
     * value lands at DS:ESP-4; with B = 0 it would go to SS.base + SP - 2. */
    uint32_t before, after, seen;
    __asm__ volatile("mov %%esp, %0\n\t"
                     "pushl $0x5EB0B0B5\n\t"
                     "mov %%esp, %1\n\t"
                     "mov (%1), %2\n\t"
                     "add $4, %%esp"
                     : "=&r"(before), "=&r"(after), "=&r"(seen) :: "memory");
    mb_printf("SS.B = 1: PUSH at ESP %s moved ESP by %u and wrote at linear ESP - 4: %s\n",
              before > 0xFFFF ? "above 64 KiB" : "BELOW 64 KiB", before - after, mb_yn(seen == 0x5EB0B0B5));
    T_CHECK_EQ(before - after, 4);
    T_CHECK_EQ(seen, 0x5EB0B0B5);
    T_CHECK(before > 0xFFFF, "ESP %#x", before);

    /* ---- A20 (MB 3.2: must be enabled) ---- */
    volatile uint32_t *lo = phys32(0), *hi = phys32(0x100000);
    uint32_t save_lo = *lo, save_hi = *hi;
    *lo = 0x0A20A20Au;
    *hi = 0xA20DA20Du;
    bool a20 = *lo == 0x0A20A20Au && *hi == 0xA20DA20Du;
    *lo = save_lo;
    *hi = save_hi;
    mb_printf("A20 enabled: a write at 0x100000 is not seen at 0: %s (MB 3.2)\n", mb_yn(a20));
    T_CHECK(a20, "0x100000 aliases 0");

    /* ---- the information structure (MB 3.3) ---- */
    uint32_t f = mbi->flags;
    mb_printf("flags = %#x: mem %s, boot_device %s, cmdline %s, mods %s, syms %s, mmap %s, boot_loader_name %s "
              "(MB 3.3)\n", f, mb_yn(f & MB_INFO_MEMORY), mb_yn(f & MB_INFO_BOOTDEV), mb_yn(f & MB_INFO_CMDLINE),
              mb_yn(f & MB_INFO_MODS), mb_yn(f & (MB_INFO_AOUT_SYMS | MB_INFO_ELF_SHDR)),
              mb_yn(f & MB_INFO_MEM_MAP), mb_yn(f & MB_INFO_BOOT_LOADER));
    /* header flag 1 asked for memory information: bit 0 (and the map) */
    T_CHECK(f & MB_INFO_MEMORY, "flags %#x", f);
    T_CHECK(f & MB_INFO_CMDLINE, "flags %#x", f);
    T_CHECK(f & MB_INFO_MODS, "flags %#x", f);
    T_CHECK(f & MB_INFO_MEM_MAP, "flags %#x", f);
    T_CHECK(f & MB_INFO_BOOT_LOADER, "flags %#x", f);
    T_CHECK((f & (MB_INFO_AOUT_SYMS | MB_INFO_ELF_SHDR)) != (MB_INFO_AOUT_SYMS | MB_INFO_ELF_SHDR),
            "flags 4 and 5 are mutually exclusive: %#x", f);

    mb_printf("mem_lower = %u KiB, mem_upper = %u KiB\n", mbi->mem_lower, mbi->mem_upper);
    T_CHECK(mbi->mem_lower <= 640, "mem_lower %u", mbi->mem_lower);

    /* memory map */
    uint32_t n = 0;
    bool sorted = true, sizes_ok = true;
    uint64_t prev_end = 0, low_avail = 0, high_avail = 0;
    for (uint32_t off = 0; off < mbi->mmap_length; n++) {
        const struct mb_mmap_entry *m = (const void *)(uintptr_t)(mbi->mmap_addr + off);
        mb_printf("mmap[%u]: base %#llx, length %#llx, type %u (%s)\n", n, (unsigned long long)m->base_addr,
                  (unsigned long long)m->length, m->type, m->type == MB_MMAP_AVAILABLE ? "available" : "reserved");
        if (m->size < 20)
            sizes_ok = false;
        if (n && m->base_addr < prev_end)
            sorted = false;
        prev_end = m->base_addr + m->length;
        if (m->type == MB_MMAP_AVAILABLE && m->base_addr == 0)
            low_avail = m->length;
        if (m->type == MB_MMAP_AVAILABLE && m->base_addr == 0x100000)
            high_avail = m->length;
        off += m->size + 4;
    }
    mb_printf("mmap: %u entries in %u bytes, each size >= 20: %s, sorted and disjoint: %s\n", n,
              mbi->mmap_length, mb_yn(sizes_ok), mb_yn(sorted));
    T_CHECK(sizes_ok, "an entry's size is below 20");
    T_CHECK(sorted, "entries out of order or overlapping");
    mb_printf("mem_lower = the available RAM at 0: %s; mem_upper = the available RAM at 1 MiB: %s\n",
              mb_yn((uint64_t)mbi->mem_lower * 1024 == low_avail),
              mb_yn((uint64_t)mbi->mem_upper * 1024 == high_avail));
    T_CHECK_EQ((uint64_t)mbi->mem_lower * 1024, low_avail);
    T_CHECK_EQ((uint64_t)mbi->mem_upper * 1024, high_avail);

    /* command line: the kernel's path, then the --append string */
    const char *cl = (const char *)(uintptr_t)mbi->cmdline;
    const char *sp = cl;
    while (*sp && *sp != ' ')
        sp++;
    char kpath[256];
    uint32_t kl = (uint32_t)(sp - cl) < sizeof(kpath) ? (uint32_t)(sp - cl) : sizeof(kpath) - 1;
    memcpy(kpath, cl, kl);
    kpath[kl] = 0;
    if (*sp)
        mb_printf("cmdline: \"%s\" then \"%s\"\n", basename(kpath), sp + 1);
    else
        mb_printf("cmdline: \"%s\" alone\n", basename(kpath));

    /* modules */
    mb_printf("mods_count = %u\n", mbi->mods_count);
    const struct mb_module *mods = (const void *)(uintptr_t)mbi->mods_addr;
    uint32_t kend = (uint32_t)(uintptr_t)__kernel_end;
    for (uint32_t i = 0; i < mbi->mods_count; i++) {
        const struct mb_module *m = &mods[i];
        const char *s = (const char *)(uintptr_t)m->string;
        uint32_t len = m->mod_end - m->mod_start;
        mb_printf("module %u: %u bytes, page-aligned %s, above the kernel %s, reserved = %u, string \"%s\", "
                  "contents ", i, len, mb_yn(!(m->mod_start & 0xFFF)), mb_yn(m->mod_start >= kend), m->reserved,
                  basename(s));
        print_bytes((const uint8_t *)(uintptr_t)m->mod_start, len);
        mb_putc('\n');
        T_CHECK(!(m->mod_start & 0xFFF), "mod_start %#x", m->mod_start);
        T_CHECK(m->mod_end >= m->mod_start, "mod_end %#x", m->mod_end);
        T_CHECK(m->mod_start >= kend, "module %u at %#x overlaps the kernel (ends %#x)", i, m->mod_start, kend);
        T_CHECK_EQ(m->reserved, 0);
        if (i)
            T_CHECK(m->mod_start >= mods[i - 1].mod_end, "module %u overlaps module %u", i, i - 1);
    }

    const char *bl = (const char *)(uintptr_t)mbi->boot_loader_name;
    mb_printf("boot_loader_name starts with \"hvsim \": %s\n", mb_yn(!strncmp(bl, "hvsim ", 6)));
    T_CHECK(!strncmp(bl, "hvsim ", 6), "boot_loader_name \"%s\"", bl);
    T_DONE();
}
