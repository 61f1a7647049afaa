/*
 * mem.c — memory accesses made by emulated instructions and by exception
 * delivery: canonical checks, the page walk (paging.c) with A/D updates,
 * #PF/#GP/#SS construction, and physical access through the platform.
 *
 * Accesses that cross a page boundary are translated page by page and
 * nothing is written until every page has translated (SDM 3A 6.5: a fault
 * leaves the instruction without effect).
 */
#include <string.h>

#include "cpu_priv.h"

void cpu_pg_ctx(cpu_t *cpu, struct pg_ctx *pc, unsigned cpl, bool implicit_sv)
{
    pc->cr0 = cpu->cr0;
    pc->cr3 = cpu->cr3;
    pc->cr4 = cpu->cr4;
    pc->efer = cpu->efer;
    pc->cpl = cpl;
    pc->implicit_sv = implicit_sv;
    pc->rflags_ac = (cpu_rflags_sys(cpu) & RF_AC) != 0;
    pc->maxphyaddr = cpu->prof->maxphyaddr;
    pc->has_1g_pages = cpu->prof->page1g;
    pc->amd = cpu->prof->is_amd;
    memcpy(pc->pdpte, cpu->pdpte, sizeof(pc->pdpte));
}

struct mem_acc mem_acc_cur(cpu_t *cpu)
{
    return (struct mem_acc){ .cpl = cpu->cpl, .implicit_sv = false, .stack = false };
}

struct mem_acc mem_acc_sys(void)
{
    return (struct mem_acc){ .cpl = 0, .implicit_sv = true, .stack = false };
}

/* Physical access through the platform; false if any byte is not RAM. */
static bool phys_access(cpu_t *cpu, uint64_t pa, void *buf, size_t len, bool write)
{
    uint8_t *b = buf;
    /* The last RAM span (the platform's map is fixed: cpu.h) */
    if (cpu->ram_span.host && pa - cpu->ram_span.base < cpu->ram_span.len &&
        len <= cpu->ram_span.len - (pa - cpu->ram_span.base)) {
        uint8_t *h = cpu->ram_span.host + (pa - cpu->ram_span.base);
        uint8_t *dst = write ? h : b;
        const uint8_t *src = write ? b : h;
        switch (len) {                      /* VMCS/VMCB fields: inline copies */
        case 16: memcpy(dst, src, 16); break;
        case 8: memcpy(dst, src, 8); break;
        case 4: memcpy(dst, src, 4); break;
        case 2: memcpy(dst, src, 2); break;
        case 1: *dst = *src; break;
        default: memcpy(dst, src, len); break;
        }
        return true;
    }
    while (len) {
        struct cpu_phys_span sp;
        cpu->plat.phys_span(cpu->plat.ctx, pa, &sp);
        if (sp.kind != CPU_SPAN_RAM || pa < sp.base || pa - sp.base >= sp.len)
            return false;
        cpu->ram_span = sp;
        uint64_t n = sp.len - (pa - sp.base);
        if (n > len)
            n = len;
        if (write) {
            memcpy(sp.host + (pa - sp.base), b, n);
        } else {
            memcpy(b, sp.host + (pa - sp.base), n);
        }
        pa += n;
        b += n;
        len -= n;
    }
    return true;
}

/* Host address of guest-physical [pa, pa + len) when it lies in one RAM
 * span, else NULL. Writes through it must be reported (cpu_phys_written). */
uint8_t *phys_host(cpu_t *cpu, uint64_t pa, size_t len)
{
    if (!(cpu->ram_span.host && pa - cpu->ram_span.base < cpu->ram_span.len &&
          len <= cpu->ram_span.len - (pa - cpu->ram_span.base))) {
        struct cpu_phys_span sp;
        cpu->plat.phys_span(cpu->plat.ctx, pa, &sp);
        if (sp.kind != CPU_SPAN_RAM || pa < sp.base || pa - sp.base >= sp.len || len > sp.len - (pa - sp.base))
            return NULL;
        cpu->ram_span = sp;
    }
    return cpu->ram_span.host + (pa - cpu->ram_span.base);
}

bool phys_read(cpu_t *cpu, uint64_t pa, void *buf, size_t len)
{
    return phys_access(cpu, pa, buf, len, false);
}

bool phys_write(cpu_t *cpu, uint64_t pa, const void *buf, size_t len)
{
    if (!phys_access(cpu, pa, (void *)buf, len, true))
        return false;
    view_phys_written(cpu->view, pa, len);
    return true;
}

/* Second-level translation (SDM 3C 29.3): guest-physical to host-physical
 * through the model (EPT) while it is on, identity otherwise. */
int slat_translate(cpu_t *cpu, uint64_t gpa, unsigned acc, struct cpu_slat *s)
{
    if (!cpu->slat_on || !cpu->virt.slat) {
        /* identity: as large as any page (a translation is then bounded by
         * the guest's page alone) */
        *s = (struct cpu_slat){ .hpa = gpa, .page_base_gpa = gpa & ~((1ull << 30) - 1),
                                .page_base_hpa = gpa & ~((1ull << 30) - 1), .page_size = 1ull << 30, .dirty = true,
                                .perm = CPU_SLAT_PERM_R | CPU_SLAT_PERM_W | CPU_SLAT_PERM_X | CPU_SLAT_PERM_XU };
        return CPU_SLAT_OK;
    }
    s->walked = false;
    int r = cpu->virt.slat(cpu->virt.ctx, cpu, gpa, acc, s);
    if (s->walked && !(acc & CPU_SLAT_PROBE))
        cpu_charge(cpu, cost_table[COST_EPT_WALK]);
    if (r != CPU_SLAT_OK) {
        cpu->slat_fault.active = r == CPU_SLAT_FAULT;
        cpu->slat_fault.stop = r != CPU_SLAT_FAULT;
        cpu->slat_fault.f = (struct cpu_slat_fault){ .gpa = gpa, .acc = acc & ~CPU_SLAT_PROBE };
    }
    return r;
}

/* The walker's view of guest-physical memory: paging-structure entries are
 * read and updated through the second-level translation. */
struct walk_ctx {
    cpu_t *cpu;
    bool probe;
    bool pdpte_load;      /* MOV to CR loading PAE PDPTEs: plain reads, also for EPT A/D (SDM 3C 29.3.5) */
};

static bool pg_read64(void *ctx, uint64_t gpa, uint64_t *v)
{
    struct walk_ctx *w = ctx;
    cpu_t *cpu = w->cpu;
    if (!cpu->slat_on || !cpu->virt.slat) {
        /* (slat_translate's identity, without its record; the last RAM span
         * inline, as phys_access looks first) */
        if (cpu->ram_span.host && gpa - cpu->ram_span.base < cpu->ram_span.len &&
            8 <= cpu->ram_span.len - (gpa - cpu->ram_span.base)) {
            memcpy(v, cpu->ram_span.host + (gpa - cpu->ram_span.base), 8);
            return true;
        }
        return phys_read(cpu, gpa, v, 8);
    }
    struct cpu_slat s;
    unsigned acc = CPU_SLAT_READ | (w->pdpte_load ? 0 : CPU_SLAT_PAGING) | (w->probe ? CPU_SLAT_PROBE : 0);
    if (slat_translate(w->cpu, gpa, acc, &s) != CPU_SLAT_OK)
        return false;
    if (w->cpu->slat_on && !w->probe && apic_access_hit(w->cpu, s.hpa)) {   /* SDM 3C 30.4.6.1 */
        apic_access_fault(w->cpu, 0, s.hpa, CPU_SLAT_READ, true);
        return false;
    }
    return phys_read(w->cpu, s.hpa, v, 8);
}

static bool pg_cmpxchg64(void *ctx, uint64_t gpa, uint64_t old, uint64_t nv)
{
    /* A/D update: a locked read-modify-write of the entry (SDM 3A 4.8),
     * a write for the second-level translation. */
    struct walk_ctx *w = ctx;
    struct cpu_slat s;
    if (slat_translate(w->cpu, gpa, CPU_SLAT_WRITE | CPU_SLAT_PAGING | (w->probe ? CPU_SLAT_PROBE : 0), &s) != CPU_SLAT_OK)
        return false;
    if (w->cpu->slat_on && !w->probe && apic_access_hit(w->cpu, s.hpa)) {   /* SDM 3C 30.4.6.1 */
        apic_access_fault(w->cpu, 0, s.hpa, CPU_SLAT_WRITE, true);
        return false;
    }
    uint64_t cur;
    if (!phys_read(w->cpu, s.hpa, &cur, 8))
        return false;
    if (cur != old)
        return false;
    return phys_access(w->cpu, s.hpa, &nv, 8, true);
}

static const struct pg_mem_ops walk_ops = { pg_read64, pg_cmpxchg64 };

static unsigned slat_acc(enum pg_access acc, const struct pg_result *r)
{
    switch (acc) {
    case PG_ACC_WRITE: return CPU_SLAT_WRITE;
    case PG_ACC_FETCH: return CPU_SLAT_FETCH | (r->user ? CPU_SLAT_USER : 0);
    default:           return CPU_SLAT_READ;
    }
}

enum pg_status cpu_walk_slat(cpu_t *cpu, const struct pg_ctx *pc, uint64_t la, enum pg_access acc,
                             bool set_ad, struct pg_result *r, struct cpu_slat *s)
{
    struct walk_ctx w = { cpu, !set_ad, false };
    cpu->slat_fault.active = cpu->slat_fault.stop = false;
    enum pg_status st = pg_walk(pc, &walk_ops, &w, la, acc, set_ad, r);
    if (st == PG_BUS_ERROR && (cpu->slat_fault.active || cpu->slat_fault.stop)) {
        /* an access to a paging-structure entry failed second-level translation */
        struct cpu_slat_fault *f = &cpu->slat_fault.f;
        f->gla_valid = true;
        f->gla = la;
        f->gla_translation = false;
        return PG_SLAT;
    }
    if (st != PG_OK)
        return st;
    struct cpu_slat tmp;
    if (!s)
        s = &tmp;
    if (slat_translate(cpu, r->pa, slat_acc(acc, r) | (set_ad ? 0 : CPU_SLAT_PROBE), s) != CPU_SLAT_OK) {
        struct cpu_slat_fault *f = &cpu->slat_fault.f;
        f->gla_valid = true;
        f->gla = la;
        f->gla_translation = true;
        f->guest_user = r->user;
        f->guest_writable = r->writable;
        f->guest_nx = r->nx;
        return PG_SLAT;
    }
    return PG_OK;
}

enum pg_status cpu_walk(cpu_t *cpu, const struct pg_ctx *pc, uint64_t la, enum pg_access acc,
                        bool set_ad, struct pg_result *r)
{
    struct walk_ctx w = { cpu, !set_ad, false };
    cpu->slat_fault.active = cpu->slat_fault.stop = false;
    enum pg_status st = pg_walk(pc, &walk_ops, &w, la, acc, set_ad, r);
    if (st == PG_BUS_ERROR && (cpu->slat_fault.active || cpu->slat_fault.stop))
        return PG_SLAT;
    return st;
}

/* ---- the translation cache (tlb.c) in front of the walk ---- */

void cpu_tlb_tag(const cpu_t *cpu, struct tlb_tag *tag)
{
    tag->vpid = cpu->tlb_vpid;
    tag->pcid = (cpu->cr4 & CR4_PCIDE) ? (uint16_t)(cpu->cr3 & 0xFFF) : 0;
    tag->eptrta = cpu->tlb_eptrta;
}

static unsigned log2_size(uint64_t size)
{
    /* the smallest n with 2^n >= size (sizes here are powers of two) */
    return size <= 1 ? 0 : 64u - (unsigned)__builtin_clzll(size - 1);
}

/* Does the cached entry allow the access without a walk? A write needs the
 * guest's D flag and EPT write permission and D (else the walk sets them). */
static bool entry_allows(const struct pg_ctx *pc, const struct tlb_entry *e, enum pg_access acc)
{
    if (pg_check_perm(pc, acc, e->flags & TLB_USER, e->flags & TLB_WRITABLE, e->flags & TLB_NX))
        return false;
    switch (acc) {
    case PG_ACC_WRITE:
        return (e->flags & TLB_DIRTY) && (e->flags & TLB_SLAT_W) && (e->flags & TLB_SLAT_D);
    case PG_ACC_FETCH:
        return (e->flags & ((e->flags & TLB_USER) ? TLB_SLAT_XU : TLB_SLAT_X)) != 0;
    default:
        return (e->flags & TLB_SLAT_R) != 0;
    }
}

enum pg_status cpu_translate(cpu_t *cpu, const struct pg_ctx *pc, uint64_t la, enum pg_access acc,
                             bool set_ad, struct pg_result *r, struct cpu_slat *s, bool *cached)
{
    struct tlb_tag tag;
    struct tlb_entry e;
    struct cpu_slat tmp;
    if (!s)
        s = &tmp;
    *cached = false;
    cpu_tlb_tag(cpu, &tag);
    bool paging = pg_mode_of(pc->cr0, pc->cr4, pc->efer) != PG_MODE_NONE;
    if (!pg_canonical(la, cpu->prof->linear_bits))
        return cpu_walk_slat(cpu, pc, la, acc, set_ad, r, s);
    if ((paging || cpu->slat_on) && tlb_lookup(cpu->tlb, &tag, la, &e)) {
        if (entry_allows(pc, &e, acc)) {
            uint64_t piece = 1ull << e.size_log2, off = la & (piece - 1);
            uint64_t gsize = 1ull << e.guest_size_log2;
            *r = (struct pg_result){ .status = PG_OK, .pa = e.gpa + off, .page_base_la = e.guest_la,
                                     .page_base_pa = (e.gpa + off - (la - e.guest_la)), .page_size = gsize,
                                     .user = e.flags & TLB_USER, .writable = e.flags & TLB_WRITABLE,
                                     .nx = e.flags & TLB_NX, .global = e.flags & TLB_GLOBAL,
                                     .dirty = e.flags & TLB_DIRTY };
            unsigned perm = ((e.flags & TLB_SLAT_R) ? CPU_SLAT_PERM_R : 0) | ((e.flags & TLB_SLAT_W) ? CPU_SLAT_PERM_W : 0) |
                            ((e.flags & TLB_SLAT_X) ? CPU_SLAT_PERM_X : 0) | ((e.flags & TLB_SLAT_XU) ? CPU_SLAT_PERM_XU : 0);
            *s = (struct cpu_slat){ .hpa = e.pa + off, .page_base_gpa = e.gpa, .page_base_hpa = e.pa,
                                    .page_size = piece, .perm = perm, .dirty = e.flags & TLB_SLAT_D };
            *cached = true;
            return PG_OK;
        }
        if (set_ad)
            tlb_remove(cpu->tlb, &tag, la);     /* the walk decides, and replaces it */
    }
    enum pg_status st = cpu_walk_slat(cpu, pc, la, acc, set_ad, r, s);
    if (st == PG_FAULT && set_ad)
        tlb_remove(cpu->tlb, &tag, la);         /* a #PF drops the faulting address's entries (SDM 3A 4.10.4.1) */
    if (st != PG_OK || !set_ad || (!paging && !cpu->slat_on))
        return st;
    /* cache the translation: one piece of at most 2 MiB, no larger than the
     * guest's page or the EPT page */
    uint64_t piece = r->page_size < s->page_size ? r->page_size : s->page_size;
    if (piece >= (2ull << 20))
        piece = 2ull << 20;
    else
        piece = 4096;
    e = (struct tlb_entry){ .la = la & ~(piece - 1), .pa = s->hpa & ~(piece - 1), .gpa = r->pa & ~(piece - 1),
                            .guest_la = r->page_base_la, .size_log2 = (uint8_t)log2_size(piece),
                            .guest_size_log2 = (uint8_t)log2_size(r->page_size),
                            .flags = (uint16_t)((r->user ? TLB_USER : 0) | (r->writable ? TLB_WRITABLE : 0) |
                                                (r->nx ? TLB_NX : 0) | (r->global ? TLB_GLOBAL : 0) |
                                                (r->dirty ? TLB_DIRTY : 0) |
                                                ((s->perm & CPU_SLAT_PERM_R) ? TLB_SLAT_R : 0) |
                                                ((s->perm & CPU_SLAT_PERM_W) ? TLB_SLAT_W : 0) |
                                                ((s->perm & CPU_SLAT_PERM_X) ? TLB_SLAT_X : 0) |
                                                ((s->perm & CPU_SLAT_PERM_XU) ? TLB_SLAT_XU : 0) |
                                                (s->dirty ? TLB_SLAT_D : 0)) };
    tlb_insert(cpu->tlb, &tag, &e);
    cpu_emit(cpu, CPU_EV_TLB_FILL, cpu_rip(cpu), e.la, e.pa, e.gpa,
             (uint64_t)tag.vpid | ((uint64_t)tag.pcid << 16) | ((uint64_t)e.size_log2 << 32) |
             ((uint64_t)e.flags << 40));
    return PG_OK;
}

bool pae_load_pdptes_x(cpu_t *cpu, uint64_t cr3, uint64_t cr0, uint64_t cr4, uint64_t out[4], struct xcpt *x)
{
    struct pg_ctx pc;
    cpu_pg_ctx(cpu, &pc, 0, true);
    pc.cr3 = cr3;
    pc.cr0 = cr0;
    pc.cr4 = cr4;
    struct walk_ctx w = { cpu, false, true };
    cpu->slat_fault.active = cpu->slat_fault.stop = false;
    enum pg_status st = pg_load_pdptes(&pc, &walk_ops, &w, out);
    *x = xcpt_gp(0);
    if (st == PG_BUS_ERROR && cpu->slat_fault.active) {
        /* SDM 3C 29.3.3.2 / 28.2.1: loading the PDPTEs through EPT; the
         * exit has no guest-linear address (qualification bit 7 = 0). */
        cpu->slat_fault.f.gla_valid = false;
        *x = (struct xcpt){ VEC_SLAT, 0, false, 0 };
    } else if (st == PG_BUS_ERROR && !cpu->slat_fault.stop) {
        cpu_unmodelled(cpu, "MOV to CR3/CR0/CR4 loads PAE PDPTEs from %#llx, which is not RAM",
                       (unsigned long long)(cr3 & 0xFFFFFFE0ull));
    }
    return st == PG_OK;
}

bool pae_load_pdptes(cpu_t *cpu, uint64_t cr3, uint64_t cr0, uint64_t cr4, uint64_t out[4])
{
    struct xcpt x;
    return pae_load_pdptes_x(cpu, cr3, cr0, cr4, out, &x);
}

/* Translate one page's worth of an access. */
static struct xlat_key xlat_key_now(const cpu_t *cpu, unsigned cpl, bool implicit_sv, bool ac);
static bool xlat_key_eq(const struct xlat_key *a, const struct xlat_key *b);

/* RFLAGS.AC as far as a translation depends on it: only SMAP looks at it
 * (paging.c), so without CR4.SMAP the flags need not be read */
static bool smap_ac(cpu_t *cpu)
{
    return (cpu->cr4 & CR4_SMAP) && (cpu_rflags_sys(cpu) & RF_AC);
}

enum mem_res mem_translate(cpu_t *cpu, const struct mem_acc *a, uint64_t la, enum pg_access acc, uint64_t *pa,
                           struct xcpt *x)
{
    /* the same page, read or written as the last time it was found in the
     * translation cache, with nothing changed since: the same answer (an
     * emulated POPF, PUSHF or VMREAD to memory translates its stack or
     * operand page again and again) */
    struct xlat_memo *m = acc == PG_ACC_WRITE ? &cpu->mxm[1] : acc == PG_ACC_READ ? &cpu->mxm[0] : NULL;
    struct xlat_key k = xlat_key_now(cpu, a->cpl, a->implicit_sv, smap_ac(cpu));
    if (m && m->valid && m->page == la >> 12 && xlat_key_eq(&m->k, &k)) {
        *pa = m->hpa | (la & 0xFFF);
        return MEM_OK;
    }
    if (!pg_canonical(la, cpu->prof->linear_bits)) {
        *x = (struct xcpt){ a->stack ? VEC_SS : VEC_GP, 0, true, 0 };
        return MEM_FAULT;
    }
    struct pg_ctx pc;
    struct pg_result r;
    struct cpu_slat s;
    cpu_pg_ctx(cpu, &pc, a->cpl, a->implicit_sv);
    bool cached;
    enum pg_status st = cpu_translate(cpu, &pc, la, acc, true, &r, &s, &cached);
    switch (st) {
    case PG_OK:
        if (apic_access_hit(cpu, s.hpa)) {             /* SDM 3C 30.4: an APIC-access VM exit */
            apic_access_fault(cpu, la, s.hpa, slat_acc(acc, &r), false);
            *x = (struct xcpt){ VEC_SLAT, 0, false, 0 };
            return MEM_FAULT;
        }
        *pa = s.hpa;
        if (m && cached)                                /* (a walk changes the cache: its generation) */
            *m = (struct xlat_memo){ .valid = true, .page = la >> 12, .hpa = s.hpa & ~0xFFFull, .k = k };
        return MEM_OK;
    case PG_FAULT:
        *x = (struct xcpt){ VEC_PF, r.error_code, true, la };
        return MEM_FAULT;
    case PG_SLAT:
        if (cpu->slat_fault.stop)
            return MEM_UNMODELLED;
        *x = (struct xcpt){ VEC_SLAT, 0, false, 0 };
        return MEM_FAULT;
    case PG_BUS_ERROR:
        cpu_unmodelled(cpu, "page walk for linear %#llx reads unbacked physical address %#llx",
                       (unsigned long long)la, (unsigned long long)r.bad_pa);
        return MEM_UNMODELLED;
    case PG_UNSUPPORTED:
    default:
        cpu_unmodelled(cpu, "paging mode of CR0=%#llx CR4=%#llx EFER=%#llx is not modelled",
                       (unsigned long long)cpu->cr0, (unsigned long long)cpu->cr4,
                       (unsigned long long)cpu->efer);
        return MEM_UNMODELLED;
    }
}

static enum mem_res mem_access(cpu_t *cpu, const struct mem_acc *a, uint64_t la, void *buf, size_t len,
                           bool write, struct xcpt *x)
{
    /* Translate every page first (at most two for instruction operands,
     * more for descriptor-table or string blocks). */
    enum { MAXP = 8 };
    uint64_t pas[MAXP], lens[MAXP];
    unsigned np = 0;
    uint64_t cur = la;
    size_t left = len;
    while (left) {
        if (np == MAXP) {
            cpu_internal(cpu, "memory access of %zu bytes spans too many pages", len);
            return MEM_UNMODELLED;
        }
        uint64_t n = 4096 - (cur & 4095);
        if (n > left)
            n = left;
        enum mem_res r = mem_translate(cpu, a, cur, write ? PG_ACC_WRITE : PG_ACC_READ, &pas[np], x);
        if (r == MEM_FAULT && x->vector == VEC_SLAT && apic_access_emulated(cpu, cur, n, write))
            return MEM_UNMODELLED;                       /* a virtualized access cpu/ does not model */
        if (r != MEM_OK)
            return r;
        lens[np++] = n;
        cur += n;
        left -= n;
    }
    uint8_t *b = buf;
    for (unsigned i = 0; i < np; i++) {
        bool ok = write ? phys_write(cpu, pas[i], b, lens[i]) : phys_read(cpu, pas[i], b, lens[i]);
        if (!ok) {
            cpu_unmodelled(cpu, "%s of %llu bytes at physical %#llx (linear %#llx): no RAM or device there",
                           write ? "write" : "read", (unsigned long long)lens[i],
                           (unsigned long long)pas[i], (unsigned long long)la);
            return MEM_UNMODELLED;
        }
        b += lens[i];
    }
    return MEM_OK;
}

enum mem_res mem_read(cpu_t *cpu, const struct mem_acc *a, uint64_t la, void *buf, size_t len,
                      struct xcpt *x)
{
    return mem_access(cpu, a, la, buf, len, false, x);
}

enum mem_res mem_write(cpu_t *cpu, const struct mem_acc *a, uint64_t la, const void *buf, size_t len,
                       struct xcpt *x)
{
    return mem_access(cpu, a, la, (void *)buf, len, true, x);
}

static bool peek_read64(void *ctx, uint64_t gpa, uint64_t *v)
{
    cpu_t *cpu = ctx;
    struct cpu_slat s;
    if (slat_translate(cpu, gpa, CPU_SLAT_READ | CPU_SLAT_PAGING | CPU_SLAT_PROBE, &s) != CPU_SLAT_OK)
        return false;
    return phys_read(cpu, s.hpa, v, 8);
}

static bool peek_nocas(void *ctx, uint64_t pa, uint64_t old, uint64_t nv)
{
    (void)ctx; (void)pa; (void)old; (void)nv;
    return false;
}

size_t mem_peek_code(cpu_t *cpu, uint64_t la, uint8_t *buf, size_t len)
{
    static const struct pg_mem_ops peek_ops = { peek_read64, peek_nocas };
    struct pg_ctx pc;
    /* A supervisor read with SMAP/SMEP off sees every present page; XD does
     * not affect reads (keep NXE: without it XD would be a reserved bit).
     * Through EPT the bytes are read if the page may be read or executed. */
    cpu_pg_ctx(cpu, &pc, 0, false);
    pc.cr4 &= ~(CR4_SMAP | CR4_SMEP);
    pc.rflags_ac = true;
    bool saved_active = cpu->slat_fault.active, saved_stop = cpu->slat_fault.stop;
    struct cpu_slat_fault saved = cpu->slat_fault.f;
    size_t done = 0;
    while (done < len) {
        uint64_t cur = la + done;
        if (!pg_canonical(cur, cpu->prof->linear_bits))
            break;
        struct pg_result r;
        if (pg_walk(&pc, &peek_ops, cpu, cur, PG_ACC_READ, false, &r) != PG_OK)
            break;
        struct cpu_slat s;
        if (slat_translate(cpu, r.pa, CPU_SLAT_READ | CPU_SLAT_PROBE, &s) != CPU_SLAT_OK &&
            slat_translate(cpu, r.pa, CPU_SLAT_FETCH | CPU_SLAT_PROBE, &s) != CPU_SLAT_OK &&
            slat_translate(cpu, r.pa, CPU_SLAT_FETCH | CPU_SLAT_USER | CPU_SLAT_PROBE, &s) != CPU_SLAT_OK)
            break;
        uint64_t n = 4096 - (cur & 4095);
        if (n > len - done)
            n = len - done;
        if (!phys_read(cpu, s.hpa, buf + done, n))
            break;
        done += n;
    }
    cpu->slat_fault.active = saved_active;
    cpu->slat_fault.stop = saved_stop;
    cpu->slat_fault.f = saved;
    return done;
}

size_t cpu_peek_code(cpu_t *cpu, uint64_t la, void *buf, size_t len) { return mem_peek_code(cpu, la, buf, len); }

static bool mem_code_cached_walk(cpu_t *cpu, uint64_t la);

/* What a lookup in the translation cache depends on: the cache itself
 * (tlb_generation), the tag (VPID, PCID in CR3, EPTRTA), the paging
 * controls and privilege of cpu_pg_ctx, and the APIC-access page a guest
 * may have (mem_translate's exits). */
static struct xlat_key xlat_key_now(const cpu_t *cpu, unsigned cpl, bool implicit_sv, bool ac)
{
    return (struct xlat_key){ .gen = tlb_generation(cpu->tlb), .cr0 = cpu->cr0, .cr3 = cpu->cr3, .cr4 = cpu->cr4,
                              .efer = cpu->efer, .eptrta = cpu->tlb_eptrta, .vpid = cpu->tlb_vpid,
                              .cpl = (uint8_t)cpl, .ac = ac, .slat_on = cpu->slat_on, .implicit_sv = implicit_sv,
                              .apic = cpu->apic_acc_on && cpu->guest_mode ? cpu->apic_acc_pa : ~0ull };
}

static bool xlat_key_eq(const struct xlat_key *a, const struct xlat_key *b)
{
    return a->gen == b->gen && a->cr0 == b->cr0 && a->cr3 == b->cr3 && a->cr4 == b->cr4 && a->efer == b->efer &&
           a->eptrta == b->eptrta && a->vpid == b->vpid && a->cpl == b->cpl && a->ac == b->ac &&
           a->slat_on == b->slat_on && a->implicit_sv == b->implicit_sv && a->apic == b->apic;
}

bool mem_code_cached(cpu_t *cpu, uint64_t la)
{
    struct xlat_key k = xlat_key_now(cpu, cpu->cpl, false, smap_ac(cpu));
    if (cpu->mcc.valid && cpu->mcc.page == la >> 12 && xlat_key_eq(&cpu->mcc.k, &k))
        return true;
    bool yes = mem_code_cached_walk(cpu, la);
    if (yes)
        cpu->mcc = (struct xlat_memo){ .valid = true, .page = la >> 12, .k = k };
    return yes;
}

static bool mem_code_cached_walk(cpu_t *cpu, uint64_t la)
{
    struct pg_ctx pc;
    cpu_pg_ctx(cpu, &pc, cpu->cpl, false);
    if (pg_mode_of(pc.cr0, pc.cr4, pc.efer) == PG_MODE_NONE && !cpu->slat_on)
        return false;
    if (!pg_canonical(la, cpu->prof->linear_bits))
        return false;
    struct tlb_tag tag;
    struct tlb_entry e;
    cpu_tlb_tag(cpu, &tag);
    return tlb_lookup(cpu->tlb, &tag, la, &e) && entry_allows(&pc, &e, PG_ACC_READ);
}

bool cpu_read_linear(cpu_t *cpu, uint64_t la, void *buf, size_t len)
{
    struct mem_acc a = mem_acc_sys();
    struct xcpt x;
    return mem_read(cpu, &a, la, buf, len, &x) == MEM_OK;
}
