/*
 * boot_state — the machine state at the payload's first instruction and the
 * boot information block (docs/boot-protocol.md, sim/boot_protocol.h).
 *
 * SDM references: 3A 2.5 (CR0, CR4), 3A 2.2.1 / 4.1 (IA32_EFER, IA-32e
 * mode and 4-level paging), 3A 3.4.5 (the boot GDT's descriptors), 3A 6.10
 * (IDTR: no IDT at entry), 3A 4.5 (the identity map's 2-MiB pages),
 * 2A CPUID leaf 15H (TSC frequency).
 *
 * Run with --cmdline "a b c" (test boot_state) and without (test
 * boot_state_nocmdline, its own .out).
 */
#include "hvsim.h"

static bool in_range(uint64_t a, uint64_t len, uint64_t base, uint64_t size)
{
    return a >= base && a + len <= base + size && a + len >= a;
}

static const char *type_name(uint32_t t)
{
    switch (t) {
    case HVSIM_MEM_USABLE: return "usable";
    case HVSIM_MEM_BOOT: return "boot";
    case HVSIM_MEM_IMAGE: return "image";
    default: return "?";
    }
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    /* Registers first, before anything changes them. */
    uint64_t cr0 = read_cr0(), cr3 = read_cr3(), cr4 = read_cr4(), efer = rdmsr(MSR_EFER);
    uint16_t cs = read_cs(), ss = read_ss(), ds = read_ds();
    struct hv_dtr gdtr, idtr;
    sgdt(&gdtr);
    sidt(&idtr);
    uint16_t tr = str();

    hv_printf("entry: lp %u of %u\n", lp, nlps);
    T_EQ(lp, 0);
    T_EQ(nlps, 1);

    /* RSP: 16-byte aligned, the top of this LP's stack. */
    uint64_t rsp0 = hv_entry_rsp[0];
    hv_printf("RSP at entry: 16-byte aligned: %s, top of LP 0's stack: %s\n",
              (rsp0 & 15) == 0 ? "yes" : "no", rsp0 == bi->stacks + bi->stack_size ? "yes" : "no");
    T_EQ(rsp0 & 15, 0);
    T_EQ(rsp0, bi->stacks + bi->stack_size);
    T_ASSERT(bi->stack_size >= 4096 && (bi->stack_size & 15) == 0, "stack_size %#llx",
             (unsigned long long)bi->stack_size);

    /* RFLAGS: IF = 0 (no interrupts until the payload has an IDT). */
    uint64_t fl = hv_entry_rflags[0];
    hv_printf("RFLAGS at entry: IF=%llu DF=%llu bit1=%llu\n", (unsigned long long)((fl >> 9) & 1),
              (unsigned long long)((fl >> 10) & 1), (unsigned long long)((fl >> 1) & 1));
    T_EQ(fl & RFLAGS_IF, 0);
    T_EQ(fl & 2, 2);

    /* Control registers and EFER. */
    hv_printf("CR0=%#llx CR4=%#llx EFER=%#llx\n", (unsigned long long)cr0, (unsigned long long)cr4,
              (unsigned long long)efer);
    T_EQ(cr0, 0x80010033);          /* PG WP NE ET MP PE */
    T_EQ(cr4, 0x620);               /* OSXMMEXCPT OSFXSR PAE */
    T_EQ(efer, 0xD00);              /* NXE LMA LME, SCE clear */
    hv_printf("CR3 inside the boot range: %s\n",
              in_range(cr3 & ~0xFFFull, 4096, bi->boot_base, bi->boot_size) ? "yes" : "no");
    T_ASSERT(in_range(cr3 & ~0xFFFull, 4096, bi->boot_base, bi->boot_size), "CR3 %#llx",
             (unsigned long long)cr3);

    /* Segments and descriptor tables. */
    hv_printf("CS=%#x SS=%#x DS=%#x TR=%#x\n", cs, ss, ds, tr);
    T_EQ(cs, 0x08);
    T_EQ(ss, 0x10);
    T_EQ(ds, 0x10);
    T_EQ(tr, 0);
    hv_printf("IDTR: base=%#llx limit=%#x (no IDT)\n", (unsigned long long)idtr.base, idtr.limit);
    T_EQ(idtr.base, 0);
    T_EQ(idtr.limit, 0);
    const uint64_t *gdt = (const uint64_t *)(uintptr_t)gdtr.base;
    hv_printf("GDTR: limit=%#x, in the boot range: %s\n", gdtr.limit,
              in_range(gdtr.base, gdtr.limit + 1u, bi->boot_base, bi->boot_size) ? "yes" : "no");
    T_EQ(gdtr.limit, 23);
    T_ASSERT(in_range(gdtr.base, 24, bi->boot_base, bi->boot_size), "GDT base %#llx",
             (unsigned long long)gdtr.base);
    /* 0x08: present, DPL 0, code, L = 1, D = 0; 0x10: present, DPL 0, writable data. */
    uint64_t code = gdt[1], data = gdt[2];
    hv_printf("GDT[0x08]: P=%llu DPL=%llu code=%llu L=%llu D=%llu\n", (unsigned long long)((code >> 47) & 1),
              (unsigned long long)((code >> 45) & 3), (unsigned long long)((code >> 43) & 1),
              (unsigned long long)((code >> 53) & 1), (unsigned long long)((code >> 54) & 1));
    hv_printf("GDT[0x10]: P=%llu DPL=%llu code=%llu W=%llu\n", (unsigned long long)((data >> 47) & 1),
              (unsigned long long)((data >> 45) & 3), (unsigned long long)((data >> 43) & 1),
              (unsigned long long)((data >> 41) & 1));
    T_EQ(gdt[0], 0);
    T_EQ((code >> 43) & 0x3, 0x3);          /* S = 1, code */
    T_EQ((code >> 53) & 3, 1);
    T_EQ((data >> 41) & 1, 1);

    /* The boot information block. */
    hv_printf("magic %s, version %u, lp_count %u, mem_size %llu MiB\n",
              bi->magic == HVSIM_BOOT_MAGIC ? "ok" : "BAD", bi->version, bi->lp_count,
              (unsigned long long)(bi->mem_size >> 20));
    T_EQ(bi->magic, HVSIM_BOOT_MAGIC);
    T_EQ(bi->version, HVSIM_BOOT_VERSION);
    T_EQ(bi->lp_count, nlps);
    T_EQ(bi->size, sizeof(*bi) + bi->mmap_count * sizeof(struct hvsim_mmap_entry));
    T_ASSERT(in_range((uint64_t)(uintptr_t)bi, bi->size, bi->boot_base, bi->boot_size), "info block %p", bi);
    hv_printf("identity_limit %#llx\n", (unsigned long long)bi->identity_limit);
    T_ASSERT(bi->identity_limit >= (4ull << 30) && bi->identity_limit >= bi->mem_size, "identity_limit");
    T_ASSERT(in_range(bi->stacks, bi->stack_size * nlps, bi->boot_base, bi->boot_size), "stacks");

    /* Memory map: sorted, non-overlapping; the image entry covers this code,
     * the boot entry is exactly [boot_base, boot_base + boot_size). */
    T_ASSERT(bi->mmap_count >= 3, "mmap_count %u", bi->mmap_count);
    bool sorted = true, image_ok = false, boot_ok = false;
    uint64_t covered = 0, code_la = (uint64_t)(uintptr_t)&hv_main;
    for (uint32_t i = 0; i < bi->mmap_count; i++) {
        const struct hvsim_mmap_entry *e = &bi->mmap[i];
        T_ASSERT(e->length > 0, "entry %u is empty", i);
        T_ASSERT(e->type == HVSIM_MEM_USABLE || e->type == HVSIM_MEM_BOOT || e->type == HVSIM_MEM_IMAGE,
                 "entry %u type %#x (%s)", i, e->type, type_name(e->type));
        if (i > 0 && e->base < bi->mmap[i - 1].base + bi->mmap[i - 1].length)
            sorted = false;
        if (e->type == HVSIM_MEM_IMAGE && in_range(code_la, 1, e->base, e->length))
            image_ok = true;
        if (e->type == HVSIM_MEM_BOOT && e->base == bi->boot_base && e->length == bi->boot_size)
            boot_ok = true;
        covered += e->length;
    }
    hv_printf("memory map: sorted and non-overlapping: %s, image entry holds the code: %s, "
              "boot entry matches boot_base/boot_size: %s, covers all RAM: %s\n",
              sorted ? "yes" : "no", image_ok ? "yes" : "no", boot_ok ? "yes" : "no",
              covered == bi->mem_size ? "yes" : "no");
    T_ASSERT(sorted, "memory map not sorted / overlapping");
    T_ASSERT(image_ok, "no image entry for the code");
    T_ASSERT(boot_ok, "no boot entry");
    T_EQ(bi->mmap[0].base, 0);
    T_EQ(covered, bi->mem_size);

    /* The command line. */
    if (bi->cmdline) {
        const char *c = (const char *)(uintptr_t)bi->cmdline;
        hv_printf("cmdline: \"%s\" (%u bytes)\n", c, bi->cmdline_len);
        T_EQ(strlen(c), bi->cmdline_len);
        T_ASSERT(in_range(bi->cmdline, bi->cmdline_len + 1, bi->boot_base, bi->boot_size), "cmdline");
    } else {
        hv_printf("cmdline: none (length %u)\n", bi->cmdline_len);
        T_EQ(bi->cmdline_len, 0);
    }

    /* TSC frequency: the same as CPUID.15H (TSC = crystal * EBX / EAX). */
    uint32_t r[4];
    hv_cpuid(0x15, 0, r);
    uint64_t hz = r[0] ? (uint64_t)r[2] * r[1] / r[0] : 0;
    hv_printf("tsc_hz matches CPUID.15H: %s\n", hz == bi->tsc_hz ? "yes" : "no");
    T_EQ(bi->tsc_hz, hz);

    /* The identity map: [0, identity_limit) reads back physical memory,
     * in 2-MiB pages (PDE.PS = 1) per the boot page tables. */
    const uint64_t *pml4 = (const uint64_t *)(uintptr_t)(cr3 & ~0xFFFull);
    const uint64_t *pdpt = (const uint64_t *)(uintptr_t)(pml4[0] & 0x000FFFFFFFFFF000ull);
    const uint64_t *pd = (const uint64_t *)(uintptr_t)(pdpt[0] & 0x000FFFFFFFFFF000ull);
    uint64_t pde = pd[1];                   /* the 2-MiB page that holds this code */
    hv_printf("PDE for 2 MiB: P=%llu PS=%llu frame=%#llx\n", (unsigned long long)(pde & 1),
              (unsigned long long)((pde >> 7) & 1), (unsigned long long)(pde & 0x000FFFFFFFE00000ull));
    T_EQ(pde & 0x81, 0x81);
    T_EQ(pde & 0x000FFFFFFFE00000ull, 0x200000);
    T_DONE();
}
