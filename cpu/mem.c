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
    pc->rflags_ac = (cpu_rflags(cpu) & RF_AC) != 0;
    pc->maxphyaddr = cpu->prof->maxphyaddr;
    pc->has_1g_pages = cpu->prof->page1g;
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
    while (len) {
        struct cpu_phys_span sp;
        cpu->plat.phys_span(cpu->plat.ctx, pa, &sp);
        if (sp.kind != CPU_SPAN_RAM || pa < sp.base || pa - sp.base >= sp.len)
            return false;
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

static bool pg_read64(void *ctx, uint64_t pa, uint64_t *v)
{
    return phys_read(ctx, pa, v, 8);
}

static bool pg_cmpxchg64(void *ctx, uint64_t pa, uint64_t old, uint64_t nv)
{
    uint64_t cur;
    if (!phys_read(ctx, pa, &cur, 8))
        return false;
    if (cur != old)
        return false;
    return phys_access(ctx, pa, &nv, 8, true);
}

static const struct pg_mem_ops walk_ops = { pg_read64, pg_cmpxchg64 };

enum pg_status cpu_walk(cpu_t *cpu, const struct pg_ctx *pc, uint64_t la, enum pg_access acc,
                        bool set_ad, struct pg_result *r)
{
    return pg_walk(pc, &walk_ops, cpu, la, acc, set_ad, r);
}

bool pae_load_pdptes(cpu_t *cpu, uint64_t cr3, uint64_t cr0, uint64_t cr4, uint64_t out[4])
{
    struct pg_ctx pc;
    cpu_pg_ctx(cpu, &pc, 0, true);
    pc.cr3 = cr3;
    pc.cr0 = cr0;
    pc.cr4 = cr4;
    enum pg_status st = pg_load_pdptes(&pc, &walk_ops, cpu, out);
    if (st == PG_BUS_ERROR)
        cpu_unmodelled(cpu, "MOV to CR3/CR0/CR4 loads PAE PDPTEs from %#llx, which is not RAM",
                       (unsigned long long)(cr3 & 0xFFFFFFE0ull));
    return st == PG_OK;
}

/* Translate one page's worth of an access. */
static enum mem_res translate(cpu_t *cpu, const struct mem_acc *a, uint64_t la, enum pg_access acc,
                              uint64_t *pa, struct xcpt *x)
{
    if (!pg_canonical(la, cpu->prof->linear_bits)) {
        *x = (struct xcpt){ a->stack ? VEC_SS : VEC_GP, 0, true, 0 };
        return MEM_FAULT;
    }
    struct pg_ctx pc;
    struct pg_result r;
    cpu_pg_ctx(cpu, &pc, a->cpl, a->implicit_sv);
    enum pg_status st = pg_walk(&pc, &walk_ops, cpu, la, acc, true, &r);
    switch (st) {
    case PG_OK:
        *pa = r.pa;
        return MEM_OK;
    case PG_FAULT:
        *x = (struct xcpt){ VEC_PF, r.error_code, true, la };
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
        enum mem_res r = translate(cpu, a, cur, write ? PG_ACC_WRITE : PG_ACC_READ, &pas[np], x);
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

static bool peek_read64(void *ctx, uint64_t pa, uint64_t *v)
{
    return phys_read(ctx, pa, v, 8);
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
     * not affect reads (keep NXE: without it XD would be a reserved bit). */
    cpu_pg_ctx(cpu, &pc, 0, false);
    pc.cr4 &= ~(CR4_SMAP | CR4_SMEP);
    pc.rflags_ac = true;
    size_t done = 0;
    while (done < len) {
        uint64_t cur = la + done;
        if (!pg_canonical(cur, cpu->prof->linear_bits))
            break;
        struct pg_result r;
        if (pg_walk(&pc, &peek_ops, cpu, cur, PG_ACC_READ, false, &r) != PG_OK)
            break;
        uint64_t n = 4096 - (cur & 4095);
        if (n > len - done)
            n = len - done;
        if (!phys_read(cpu, r.pa, buf + done, n))
            break;
        done += n;
    }
    return done;
}

bool cpu_read_linear(cpu_t *cpu, uint64_t la, void *buf, size_t len)
{
    struct mem_acc a = mem_acc_sys();
    struct xcpt x;
    return mem_read(cpu, &a, la, buf, len, &x) == MEM_OK;
}
