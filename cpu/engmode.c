/*
 * engmode.c — giving the instruction engine the guest's code mode and
 * segment state (docs/cpu-mmu.md, "Legacy modes: measurements").
 *
 * The engine never leaves IA-32e mode: EFER.LMA, CR0.PG and hvsim's 4-level
 * shadow tables stay on whatever the guest runs. Guest code in real mode,
 * 16/32-bit protected mode or compatibility mode runs in the engine's
 * compatibility mode with the guest's segment caches (base, limit, D/B);
 * 64-bit guest code runs with a 64-bit CS. The hidden state is written
 * straight into a saved engine context image (segment caches, QEMU's
 * hflags, CR0/CR4) which is then restored: measured at about 160 ns, no
 * translated code lost, no code below 4 GiB needed, and the engine's GDT and
 * IDT stay empty so that nothing escapes interception.
 *
 * The image layout (QEMU's CPUX86State as bundled by Unicorn 2.0.1) is found
 * by experiment at start-up and checked; the hflags rules are QEMU's
 * cpu_x86_load_seg_cache()/cpu_x86_update_cr0() rules, which
 * tests/probes/modes_probe.c compares with the engine's own transitions.
 * A layout that does not match makes cpu_create() fail (CPU_ERR_QUIRK)
 * rather than run guest code wrongly.
 */
#include <string.h>

#include "cpu_priv.h"

/* QEMU hflags bits (target/i386/cpu.h) */
#define HF_CPL_MASK 3u
#define HF_CS32     (1u << 4)
#define HF_SS32     (1u << 5)
#define HF_ADDSEG   (1u << 6)
#define HF_PE       (1u << 7)
#define HF_MP       (1u << 9)
#define HF_EM       (1u << 10)
#define HF_TS       (1u << 11)
#define HF_LMA      (1u << 14)
#define HF_CS64     (1u << 15)
#define HF_OSFXSR   (1u << 22)
#define HF_MODEL    (HF_CPL_MASK | HF_CS32 | HF_SS32 | HF_ADDSEG | HF_PE | HF_MP | HF_EM | HF_TS | HF_LMA | \
                     HF_CS64 | HF_OSFXSR)

/* QEMU's SegmentCache: u32 selector, (pad), u64 base, u32 limit, u32 flags */
#define SC_SEL   0
#define SC_BASE  8
#define SC_LIMIT 16
#define SC_FLAGS 20
#define SC_SIZE  24

/* Engine segment order (QEMU R_ES .. R_GS) is cpu/'s enum cpu_segreg order. */

static uint32_t rd32(const void *c, size_t off)
{
    uint32_t v;
    memcpy(&v, (const char *)c + off, 4);
    return v;
}

static uint64_t rd64(const void *c, size_t off)
{
    uint64_t v;
    memcpy(&v, (const char *)c + off, 8);
    return v;
}

static void wr32(void *c, size_t off, uint32_t v) { memcpy((char *)c + off, &v, 4); }
static void wr64(void *c, size_t off, uint64_t v) { memcpy((char *)c + off, &v, 8); }

/* Offset of the only 8-byte-aligned place where b holds v and a does not. */
static long find_changed64(const uc_context *a, const uc_context *b, size_t n, uint64_t v)
{
    long at = -1;
    for (size_t i = 0; i + 8 <= n; i += 8)
        if (rd64(b, i) == v && rd64(a, i) != v) {
            if (at >= 0)
                return -1;
            at = (long)i;
        }
    return at;
}

bool eng_layout_find(cpu_t *cpu)
{
    uc_engine *uc = cpu->uc;
    size_t n = uc_context_size(uc);
    uc_context *a = NULL, *b = NULL;
    bool ok = false;
    if (uc_context_alloc(uc, &a) || uc_context_alloc(uc, &b))
        goto out;
    uc_context_save(uc, a);
    const uint64_t m_rax = 0x5EE5C0DE0000A001ull, m_fs = 0x5EE5C0DE0000F5B5ull;
    eng_set(cpu, UC_X86_REG_RAX, m_rax);
    eng_set(cpu, UC_X86_REG_FS_BASE, m_fs);
    eng_set(cpu, UC_X86_REG_ES, 0x1238);
    /* MXCSR written as it is: the engine names its state (engine_locks.c) */
    void *env = NULL;
    uint64_t mxcsr = 0;
    uc_reg_read(uc, UC_X86_REG_MXCSR, &mxcsr);
    engine_env_catch = &env;
    uc_reg_write(uc, UC_X86_REG_MXCSR, &mxcsr);
    engine_env_catch = NULL;
    uc_context_save(uc, b);
    long rax = find_changed64(a, b, n, m_rax), fsb = find_changed64(a, b, n, m_fs);
    /* The state the engine named is the context image without its header
     * (RAX, the first register, where the header ends): the same bytes now,
     * and again after the restore writes the earlier image. Only then may
     * hvsim read and write it directly (eng_env_check has the rest). */
    size_t hdr = rax < 0 ? 0 : (size_t)rax;
    bool env_ok = env && rax >= 0 && hdr <= 64 && !memcmp(env, (const char *)b + hdr, n - hdr);
    uc_context_restore(uc, a);
    eng_cache_drop(cpu);
    env_ok = env_ok && !memcmp(env, (const char *)a + hdr, n - hdr);
    cpu->eng_env = NULL;
    if (env_ok && eng_env_check(cpu, env)) {
        cpu->eng_env = env;
        cpu->eng_env_hdr = hdr;
    }
    uc_context_restore(uc, a);                   /* (what the check wrote) */
    if (rax < 0 || fsb < 0)
        goto out;
    long segs = fsb - SC_BASE - 4 * SC_SIZE;          /* ES's cache: FS is the fifth */
    if (segs < 8 || (rd32(b, (size_t)segs + SC_SEL) & 0xFFFF) != 0x1238)
        goto out;
    long hflags = segs - 8;                            /* hflags, hflags2, then segs[] */
    uint32_t hf = rd32(a, (size_t)hflags);
    if ((hf & (HF_LMA | HF_CS64)) != (HF_LMA | HF_CS64))
        goto out;
    /* cr[0..4]: find CR3 (the shadow root, a distinctive value) */
    uint64_t cr3 = eng_get(cpu, UC_X86_REG_CR3), cr0 = eng_get(cpu, UC_X86_REG_CR0);
    long cr0_off = -1;
    for (size_t i = 24; i + 8 <= n; i += 8)
        if (rd64(a, i) == cr3 && rd64(a, i - 24) == cr0) {
            cr0_off = (long)i - 24;
            break;
        }
    if (cr0_off < 0)
        goto out;
    cpu->eng_layout = (struct eng_layout){ .hflags = (size_t)hflags, .segs = (size_t)segs, .cr0 = (size_t)cr0_off,
                                           .cr4 = (size_t)cr0_off + 32, .valid = true };
    /* CR3 in place too (engine_load_root, at every change of the view's
     * root): the API's write must change those 8 bytes and nothing else in
     * the image (no TLB flush, no hflags: 64-bit mode stores it plainly),
     * and a value stored there must be what the API reads. */
    cpu->eng_cr3_direct = false;
    if (cpu->eng_env) {
        size_t at = (size_t)cr0_off + 24;
        uint64_t probe = cr3 ^ 0x7000, got = 0;
        uc_context_save(uc, a);
        uc_reg_write(uc, UC_X86_REG_CR3, &probe);
        uc_context_save(uc, b);
        bool plain = rd64(b, at) == probe;
        wr64(b, at, cr3);
        plain = plain && !memcmp(a, b, n);
        memcpy(cpu->eng_env + (at - cpu->eng_env_hdr), &cr3, 8);
        plain = plain && uc_reg_read(uc, UC_X86_REG_CR3, &got) == UC_ERR_OK && got == cr3;
        uc_context_restore(uc, a);
        cpu->eng_cr3_direct = plain;
    }
    /* FS and GS base in place (a VM entry and exit load both, each
     * uc_reg_write a dispatch of a few hundred host instructions): the
     * API's write must change the base in the segment cache and nothing
     * else, and a value stored there must be what the API reads. */
    cpu->eng_segbase_direct = false;
    if (cpu->eng_env) {
        bool plain = true;
        size_t base_at[2] = { (size_t)segs + CPU_FS * SC_SIZE + SC_BASE, (size_t)segs + CPU_GS * SC_SIZE + SC_BASE };
        for (int k = 0; k < 2 && plain; k++) {
            int reg = k ? UC_X86_REG_GS_BASE : UC_X86_REG_FS_BASE;
            size_t at = base_at[k];
            uint64_t was = rd64(a, at), probe = 0x00007A5C3E001000ull + (uint64_t)k * 0x2000, got = 0;
            uc_context_save(uc, a);
            uc_reg_write(uc, reg, &probe);
            uc_context_save(uc, b);
            plain = rd64(b, at) == probe;
            wr64(b, at, was);
            plain = plain && !memcmp(a, b, n);
            uint64_t back = probe ^ 0x5000;
            memcpy(cpu->eng_env + (at - cpu->eng_env_hdr), &back, 8);
            plain = plain && uc_reg_read(uc, reg, &got) == UC_ERR_OK && got == back;
            uc_context_restore(uc, a);
        }
        eng_cache_drop(cpu);
        if (plain) {
            cpu->eng_fs_base_at = base_at[0] - cpu->eng_env_hdr;
            cpu->eng_gs_base_at = base_at[1] - cpu->eng_env_hdr;
            cpu->eng_segbase_direct = true;
        }
    }
    ok = true;
out:
    if (a)
        uc_context_free(a);
    if (b)
        uc_context_free(b);
    return ok;
}

/* The segment-cache flags the engine sees: the descriptor's high dword
 * (attributes in bits 23:8 of it), with DPL 0 because the engine always runs
 * at CPL 0 (hvsim enforces privilege itself). */
static uint32_t cache_flags(const struct cpu_seg *s, bool real_mode)
{
    uint32_t attr = s->attr;
    if (real_mode || (attr & SEG_ATTR_UNUSABLE) || !(attr & SEG_ATTR_P)) {
        /* A usable, present, read/write (code: readable) segment with the
         * cached size bits; real-mode caches keep their D/B and G bits only
         * as an unreal-mode loader left them. */
        attr = (attr & ~0xFFu & ~SEG_ATTR_UNUSABLE) | SEG_ATTR_P | SEG_ATTR_S;
        attr |= 0x3;                                   /* data read/write, accessed */
    }
    attr &= ~(3u << 5);                                /* DPL 0 */
    return ((attr & 0xFF) << 8) | ((attr >> 12) & 0xF) << 20;
}

static uint32_t code_flags(const struct cpu_seg *s, bool real_mode)
{
    uint32_t attr = s->attr & ~(3u << 5) & ~SEG_ATTR_UNUSABLE;
    if (real_mode)
        attr = (attr & ~0xFFu) | SEG_ATTR_P | SEG_ATTR_S | 0xB;   /* code, readable, accessed */
    attr &= ~(1u << 13);                               /* L = 0 unless 64-bit (set below) */
    return ((attr & 0xFF) << 8) | ((attr >> 12) & 0xF) << 20;
}

/* What eng_load_mode writes into the engine's segment caches and CR0/CR4.
 * In 64-bit mode the engine uses no data segment's attributes or limit
 * (only the FS and GS bases): DS, ES, FS and GS get one canonical cache
 * there, so that a host and a guest whose null segments differ in ignored
 * bits load the same image. */
static void mode_image(const cpu_t *cpu, struct eng_mode_img *m)
{
    memset(m, 0, sizeof(*m));
    bool real = !(cpu->cr0 & CR0_PE);
    bool long64 = cpu_code_bits(cpu) == 64;
    for (int s = CPU_ES; s <= CPU_GS; s++) {
        const struct cpu_seg *g = &cpu->seg[s];
        uint32_t flags = s == CPU_CS ? code_flags(g, real) : cache_flags(g, real);
        uint64_t base = g->base;
        uint32_t limit = g->limit;
        if (s == CPU_CS && long64)
            flags = (flags | (1u << 21)) & ~(1u << 22);   /* L = 1, D = 0 */
        if (long64 && s != CPU_CS && s != CPU_SS) {
            flags = (uint32_t)(SEG_ATTR_P | SEG_ATTR_S | 0x3) << 8;   /* present read/write data */
            limit = 0xFFFFFFFFu;
        }
        if (long64 && s != CPU_FS && s != CPU_GS)
            base = 0;                                  /* ignored in 64-bit mode */
        if (!long64)
            base &= 0xFFFFFFFFull;
        m->sel[s] = g->sel;
        m->base[s] = base;
        m->limit[s] = limit;
        m->flags[s] = flags;
    }
    m->cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_WP | CR0_PG | (cpu->cr0 & (CR0_MP | CR0_EM | CR0_TS));
    m->cr4 = CR4_PAE | (cpu->cr4 & (CR4_OSFXSR | CR4_OSXMMEXCPT));
    m->bits = cpu_code_bits(cpu);
    m->valid = true;
}

static bool mode_image_eq(const struct eng_mode_img *a, const struct eng_mode_img *b)
{
    for (int s = CPU_ES; s <= CPU_GS; s++)
        if (a->sel[s] != b->sel[s] || a->base[s] != b->base[s] || a->limit[s] != b->limit[s] ||
            a->flags[s] != b->flags[s])
            return false;
    return a->valid && b->valid && a->cr0 == b->cr0 && a->cr4 == b->cr4 && a->bits == b->bits;
}

void eng_load_mode(cpu_t *cpu)
{
    /* The engine still holds the image the last load wrote when nothing
     * wrote its segment registers, CR0 or CR4 since (eng_set and
     * eng_write_cr_native forget it; the engine changes none of them
     * itself: segment loads, control-register writes and event delivery
     * are hvsim's). A world switch between a host and a guest with the
     * same segments then loads nothing. */
    struct eng_mode_img img;
    mode_image(cpu, &img);
    if (mode_image_eq(&img, &cpu->eng_img) && cpu->eng_bits == img.bits) {
        cpu->eng_mode_dirty = false;
        cpu->stats.mode_loads_skipped++;
        return;
    }
    const struct eng_layout *L = &cpu->eng_layout;
    /* the fields are written where the engine keeps them, or into a saved
     * image written back after (offsets are the image's either way) */
    uint8_t *c;
    if (cpu->eng_env) {
        c = cpu->eng_env - cpu->eng_env_hdr;
    } else {
        eng_flush_rip(cpu);
        uc_context_save(cpu->uc, cpu->ctx_scratch);
        c = (uint8_t *)cpu->ctx_scratch;
    }
    bool long64 = img.bits == 64;
    for (int s = CPU_ES; s <= CPU_GS; s++) {
        size_t o = L->segs + (size_t)s * SC_SIZE;
        wr32(c, o + SC_SEL, img.sel[s]);
        wr64(c, o + SC_BASE, img.base[s]);
        wr32(c, o + SC_LIMIT, img.limit[s]);
        wr32(c, o + SC_FLAGS, img.flags[s]);
    }
    /* CR0/CR4: the engine's paging stays on; PE, the x87 bits and OSFXSR
     * follow the guest (real mode runs as 16-bit protected mode: hvsim
     * intercepts every segment load and far transfer). */
    uint64_t cr0 = img.cr0, cr4 = img.cr4;
    wr64(c, L->cr0, cr0);
    wr64(c, L->cr4, cr4);
    /* hflags from the caches (QEMU's rules, checked by the modes probe) */
    uint32_t csf = rd32(c, L->segs + CPU_CS * SC_SIZE + SC_FLAGS);
    uint32_t ssf = rd32(c, L->segs + CPU_SS * SC_SIZE + SC_FLAGS);
    uint32_t hf = rd32(c, L->hflags) & ~HF_MODEL;
    hf |= HF_PE | HF_LMA;                              /* CPL 0 */
    hf |= (uint32_t)(cr0 << 8) & (HF_MP | HF_EM | HF_TS);
    if (cr4 & CR4_OSFXSR)
        hf |= HF_OSFXSR;
    if (ssf & (1u << 22))
        hf |= HF_SS32;
    if (csf & (1u << 21)) {
        hf |= HF_CS32 | HF_CS64;
    } else {
        if (csf & (1u << 22))
            hf |= HF_CS32;
        uint64_t bases = rd64(c, L->segs + CPU_DS * SC_SIZE + SC_BASE) |
                         rd64(c, L->segs + CPU_ES * SC_SIZE + SC_BASE) |
                         rd64(c, L->segs + CPU_SS * SC_SIZE + SC_BASE);
        if (!(hf & HF_CS32) || bases)
            hf |= HF_ADDSEG;
    }
    wr32(c, L->hflags, hf);
    int32_t none = -1;
    memcpy(c + cpu->oe_off, &none, 4);                  /* #DF tracker reset, as after an exception */
    if (!cpu->eng_env)
        uc_context_restore(cpu->uc, cpu->ctx_scratch);
    eng_cache_drop(cpu);                                /* (cached segment registers) */
    cpu->eng_cs_base = long64 ? 0 : cpu->seg[CPU_CS].base & 0xFFFFFFFFull;
    cpu->eng_bits = cpu_code_bits(cpu);
    cpu->eng_mode_dirty = false;
    cpu->eng_img = img;
    cpu->stats.mode_loads++;
}

unsigned cpu_code_bits(const cpu_t *cpu)
{
    if (!(cpu->cr0 & CR0_PE))
        return 16;
    if ((cpu->efer & EFER_LMA) && (cpu->seg[CPU_CS].attr & SEG_ATTR_L))
        return 64;
    return (cpu->seg[CPU_CS].attr & SEG_ATTR_DB) ? 32 : 16;
}

uint64_t cpu_cs_base(const cpu_t *cpu)
{
    return cpu_code_bits(cpu) == 64 ? 0 : cpu->seg[CPU_CS].base & 0xFFFFFFFFull;
}
