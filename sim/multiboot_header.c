/*
 * multiboot_header.c — reading a Multiboot v1 kernel (MB 3.1): the header
 * search and checksum, the flags, and the image the header describes: the
 * a.out kludge's address fields (flag 16, MB 3.1.3) or else an ELF32
 * executable (elf32.c). Pure parsing of an untrusted byte array; every
 * refusal names the field and the rule.
 */
#include <stdio.h>
#include <string.h>

#include "multiboot.h"

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Flags hvsim understands among the required bits 15:0 (MB 3.1.2). */
#define KNOWN_REQUIRED (MB_HF_PAGE_ALIGN | MB_HF_MEMORY_INFO | MB_HF_VIDEO_MODE)

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* The address fields (MB 3.1.3): one range [load_addr, bss_end) whose first
 * load_end_addr - load_addr bytes come from the file at the offset of the
 * header minus (header_addr - load_addr). */
static bool parse_aout(const uint8_t *d, size_t size, uint64_t mem, struct mb_kernel *k, char *msg, size_t n)
{
    const uint8_t *h = d + k->header_offset;
    uint32_t header_addr = rd32(h + 12), load_addr = rd32(h + 16), load_end = rd32(h + 20);
    uint32_t bss_end = rd32(h + 24), entry = rd32(h + 28);
    if (load_addr > header_addr) {
        snprintf(msg, n, "header_addr %#x is below load_addr %#x (MB 3.1.3: load_addr must be less than or "
                 "equal to header_addr)", header_addr, load_addr);
        return false;
    }
    uint32_t before = header_addr - load_addr;
    if (before > k->header_offset) {
        snprintf(msg, n, "header_addr %#x - load_addr %#x = %#x, but the header is at file offset %#x: loading "
                 "would start before the beginning of the file (MB 3.1.3)", header_addr, load_addr, before,
                 k->header_offset);
        return false;
    }
    uint64_t offset = k->header_offset - before;
    uint64_t load_size;
    if (load_end == 0) {
        load_size = size - offset;                  /* MB 3.1.3: text and data are the rest of the file */
    } else {
        if (load_end < load_addr) {
            snprintf(msg, n, "load_end_addr %#x is below load_addr %#x", load_end, load_addr);
            return false;
        }
        load_size = load_end - load_addr;
        if (load_size > size - offset) {
            snprintf(msg, n, "load_end_addr %#x: the %#llx bytes from file offset %#llx extend past the end of "
                     "the file (%zu bytes)", load_end, (unsigned long long)load_size,
                     (unsigned long long)offset, size);
            return false;
        }
    }
    uint64_t end = (uint64_t)load_addr + load_size;
    if (bss_end != 0) {
        if (bss_end < end) {
            snprintf(msg, n, "bss_end_addr %#x is below the end of the loaded bytes (load_addr %#x + %#llx = "
                     "%#llx)", bss_end, load_addr, (unsigned long long)load_size, (unsigned long long)end);
            return false;
        }
        end = bss_end;
    }
    if (end > (1ull << 32)) {
        snprintf(msg, n, "load_addr %#x with %#llx bytes from the file (load_end_addr 0: the rest of the file) "
                 "extends past 4 GiB", load_addr, (unsigned long long)load_size);
        return false;
    }
    if (end > mem) {
        snprintf(msg, n, "load_addr %#x .. %s %#llx is outside the machine's %llu MiB of RAM", load_addr,
                 bss_end ? "bss_end_addr" : "end of the loaded bytes", (unsigned long long)end,
                 (unsigned long long)(mem >> 20));
        return false;
    }
    if (entry < load_addr || entry - load_addr >= load_size) {
        snprintf(msg, n, "entry_addr %#x is outside the loaded bytes [%#x, %#llx)", entry, load_addr,
                 (unsigned long long)((uint64_t)load_addr + load_size));
        return false;
    }
    k->img.entry = entry;
    k->img.nseg = 1;
    k->img.seg[0] = (struct elf_segment){ .paddr = load_addr, .vaddr = load_addr, .offset = offset,
                                          .filesz = load_size, .memsz = end - load_addr, .flags = 7 };
    if (overlaps(load_addr, end - load_addr, MB_HOLE_BASE, MB_HOLE_END - MB_HOLE_BASE)) {
        snprintf(msg, n, "load_addr %#x .. %#llx overlaps the legacy hole [0xa0000, 0x100000) (reserved in the "
                 "memory map; hvsim keeps its GDT and stack there)", load_addr, (unsigned long long)end);
        return false;
    }
    return true;
}

bool mb_parse(const uint8_t *d, size_t size, uint64_t mem, struct mb_kernel *k, char *msg, size_t n)
{
    memset(k, 0, sizeof(*k));
    if (size < MB_HEADER_MIN_SIZE) {
        snprintf(msg, n, "file is %zu bytes, too short for a Multiboot header (12 bytes, MB 3.1.1)", size);
        return false;
    }
    /* MB 3.1.1: the header lies wholly within the first 8192 bytes, 32-bit
     * aligned. The first aligned magic whose checksum holds is the header
     * (as GRUB and QEMU search); a magic with a bad checksum is skipped. */
    size_t lim = size < MB_SEARCH_BYTES ? size : MB_SEARCH_BYTES;
    bool found = false, bad = false;
    size_t off, bad_off = 0;
    uint32_t flags = 0, bad_sum = 0;
    for (off = 0; off + MB_HEADER_MIN_SIZE <= lim; off += MB_HEADER_ALIGN) {
        if (rd32(d + off) != MB_HEADER_MAGIC)
            continue;
        flags = rd32(d + off + 4);
        uint32_t sum = MB_HEADER_MAGIC + flags + rd32(d + off + 8);
        if (sum == 0) {
            found = true;
            break;
        }
        if (!bad) {
            bad = true;
            bad_off = off;
            bad_sum = sum;
        }
    }
    if (!found) {
        if (bad)
            snprintf(msg, n, "no valid Multiboot header: magic 0x1badb002 at offset %#zx, but magic + flags + "
                     "checksum = %#x (MB 3.1.2: must be 0)", bad_off, bad_sum);
        else if (size >= 5 && !memcmp(d, "\x7f" "ELF", 4) && d[4] == 2)
            snprintf(msg, n, "no Multiboot header (magic 0x1badb002 at a 4-byte-aligned offset in the first 8192 "
                     "bytes, MB 3.1.1); this is an ELF64 file: boot it with the native protocol "
                     "(hvsim run FILE.elf, docs/boot-protocol.md)");
        else
            snprintf(msg, n, "no Multiboot header (magic 0x1badb002 at a 4-byte-aligned offset in the first 8192 "
                     "bytes, MB 3.1.1)");
        return false;
    }
    k->header_offset = (uint32_t)off;
    k->flags = flags;
    if (flags & MB_HF_VIDEO_MODE) {
        snprintf(msg, n, "header at offset %#zx: flags %#x has bit 2 (video mode, MB 3.1.2/3.1.4) set: hvsim has "
                 "no framebuffer or VBE, and bits 0-15 are requirements, so the kernel is refused", off, flags);
        return false;
    }
    uint32_t unknown = flags & MB_HF_REQUIRED_MASK & ~KNOWN_REQUIRED;
    if (unknown) {
        snprintf(msg, n, "header at offset %#zx: flags %#x has bit %d set, a requirement hvsim does not know "
                 "(MB 3.1.2: a loader must refuse unknown bits 0-15)", off, flags, __builtin_ctz(unknown));
        return false;
    }
    if (flags & MB_HF_AOUT_KLUDGE) {
        if (off + MB_HEADER_ADDR_SIZE > lim) {
            snprintf(msg, n, "header at offset %#zx: flags bit 16 (address fields, MB 3.1.3) is set but the "
                     "32-byte header extends past %s", off,
                     lim == size ? "the end of the file" : "the first 8192 bytes (MB 3.1.1)");
            return false;
        }
        k->aout = true;
        return parse_aout(d, size, mem, k, msg, n);
    }
    /* MB 3.1.3: without the address fields the image must be in a format the
     * loader knows: an ELF executable. */
    if (size < 5 || memcmp(d, "\x7f" "ELF", 4) != 0) {
        snprintf(msg, n, "flags bit 16 (address fields, MB 3.1.3) is clear and the file is not an ELF "
                 "executable: hvsim cannot tell where to load it");
        return false;
    }
    if (d[4] == 2) {
        snprintf(msg, n, "ELF64 image without the address fields (flags bit 16): a Multiboot v1 kernel is an "
                 "ELF32 executable; boot ELF64 payloads with the native protocol (hvsim run FILE.elf, "
                 "docs/boot-protocol.md)");
        return false;
    }
    if (!elf32_parse(d, size, mem, &k->img, msg, n))
        return false;
    for (unsigned i = 0; i < k->img.nseg; i++) {
        const struct elf_segment *s = &k->img.seg[i];
        if (overlaps(s->paddr, s->memsz, MB_HOLE_BASE, MB_HOLE_END - MB_HOLE_BASE)) {
            snprintf(msg, n, "ELF segment at p_paddr %#llx (p_memsz %#llx) overlaps the legacy hole [0xa0000, "
                     "0x100000) (reserved in the memory map; hvsim keeps its GDT and stack there)",
                     (unsigned long long)s->paddr, (unsigned long long)s->memsz);
            return false;
        }
    }
    return true;
}
