/*
 * paging.c — linear-address translation without paging and with 32-bit, PAE
 * and 4-level paging: the walk, permissions, reserved bits, A/D flags and #PF
 * error codes (SDM vol. 3A ch. 4: 4.1.1 modes, 4.3 32-bit paging, 4.4 PAE
 * paging, 4.5 4-level paging, 4.6 access rights, 4.7 #PF error code, 4.8
 * accessed and dirty flags). Pure: no Unicorn, no globals; memory is reached
 * only through struct pg_mem_ops.
 *
 * Choices the SDM leaves open, fixed here (docs/cpu-mmu.md should list them):
 *  - accessed/dirty flags are written only when the whole access is permitted
 *    (as Bochs does); a faulting walk leaves memory untouched;
 *  - on a page whose entry changes during the A/D update, the walk restarts;
 *  - a 4-byte entry of 32-bit paging is read, and its flags are updated, as
 *    the aligned quadword that holds it (pg_mem_ops has 64-bit callbacks
 *    only): the exchange writes the neighbouring entry back with the value
 *    read, and fails (the walk restarts) if the neighbour changed meanwhile.
 */
#include <string.h>

#include "paging.h"

#define CR0_WP   (1ull << 16)
#define CR0_PG   (1ull << 31)
#define CR4_PSE  (1ull << 4)
#define CR4_PAE  (1ull << 5)
#define CR4_PGE  (1ull << 7)
#define CR4_SMEP (1ull << 20)
#define CR4_SMAP (1ull << 21)
#define CR4_LA57 (1ull << 12)
#define EFER_LME (1ull << 8)
#define EFER_NXE (1ull << 11)

#define ADDR_51_12  0x000FFFFFFFFFF000ull   /* table/frame address field of 8-byte entries */
#define ADDR_31_12  0xFFFFF000ull           /* ... of 4-byte entries (SDM 3A tables 4-5, 4-6) */
#define PSE36_HI    0x001FE000ull           /* 4-MiB PDE bits 20:13 = PA bits 39:32 (table 4-4) */
#define MIB4_31_22  0xFFC00000ull           /* 4-MiB PDE bits 31:22 = PA bits 31:22 */

/* Bits hi..lo (inclusive); empty when lo > hi. */
static uint64_t bit_range(unsigned hi, unsigned lo)
{
    if (lo > hi)
        return 0;
    return (~0ull >> (63 - hi)) & ~((1ull << lo) - 1);
}

/* SDM 3A 4.1.1, table 4-1. CR4.PAE = 0 with IA32_EFER.LME = 1 cannot have
 * paging on: setting CR0.PG then is #GP, so is clearing CR4.PAE with
 * 4-level paging active (SDM 3A 4.1.2). */
enum pg_mode pg_mode_of(uint64_t cr0, uint64_t cr4, uint64_t efer)
{
    if (!(cr0 & CR0_PG))
        return PG_MODE_NONE;
    if (!(cr4 & CR4_PAE))
        return (efer & EFER_LME) ? PG_MODE_INVALID : PG_MODE_32BIT;
    if (!(efer & EFER_LME))
        return PG_MODE_PAE;
    return (cr4 & CR4_LA57) ? PG_MODE_5LEVEL : PG_MODE_4LEVEL;
}

const char *pg_strerror(enum pg_status st)
{
    switch (st) {
    case PG_OK:          return "translated";
    case PG_FAULT:       return "page fault";
    case PG_BUS_ERROR:   return "paging-structure entry outside backed memory";
    case PG_UNSUPPORTED: return "paging mode or PDPTE register state not modelled";
    case PG_PDPTE_RSVD:  return "reserved bit set in a present PDPTE";
    case PG_SLAT:        return "second-level translation refused the access";
    }
    return "unknown paging status";
}

bool pg_canonical(uint64_t la, unsigned width)
{
    int64_t s = (int64_t)(la << (64 - width)) >> (64 - width);
    return (uint64_t)s == la;
}

/* SDM 3A 4.7, I/D flag: set for instruction fetches when CR4.SMEP = 1, or
 * when CR4.PAE = 1 (PAE or 4-level paging) and IA32_EFER.NXE = 1. With 32-bit
 * paging NXE alone does not set it. */
static bool fetch_sets_id(const struct pg_ctx *ctx)
{
    return (ctx->cr4 & CR4_SMEP) || ((ctx->cr4 & CR4_PAE) && (ctx->efer & EFER_NXE));
}

/* SDM 3A 4.6.1 (determination of access rights) and 4.6.2 (protection keys,
 * not modelled). user_page: U/S=1 at every level; writable: R/W=1 at every
 * level; nx: XD=1 at some level while IA32_EFER.NXE=1 (never with 32-bit
 * paging, whose entries have no XD bit). The rules are the same in every
 * paging mode; without paging there is no page-level protection. */
uint32_t pg_check_perm(const struct pg_ctx *ctx, enum pg_access acc, bool user_page,
                       bool writable, bool nx)
{
    if (!(ctx->cr0 & CR0_PG))
        return 0;
    bool user_access = ctx->cpl == 3 && !ctx->implicit_sv;
    bool wp = (ctx->cr0 & CR0_WP) != 0;
    bool fault = false;

    if (user_access) {
        if (!user_page)
            fault = true;                          /* 4.6.1: supervisor page, user access */
        else if (acc == PG_ACC_WRITE && !writable)
            fault = true;                          /* 4.6.1: read-only for user mode */
        else if (acc == PG_ACC_FETCH && nx)
            fault = true;                          /* 4.6.1: XD */
    } else {
        if (acc == PG_ACC_FETCH) {
            if (user_page && (ctx->cr4 & CR4_SMEP))
                fault = true;                      /* 4.6.1: SMEP */
            else if (nx)
                fault = true;                      /* 4.6.1: XD */
        } else {
            /* SMAP: explicit supervisor data accesses to user pages fault when
             * RFLAGS.AC = 0 (or at CPL 3); implicit ones always do. */
            if (user_page && (ctx->cr4 & CR4_SMAP) &&
                (ctx->implicit_sv || !ctx->rflags_ac || ctx->cpl == 3))
                fault = true;
            else if (acc == PG_ACC_WRITE && !writable && wp)
                fault = true;                      /* 4.6.1: CR0.WP */
        }
    }
    if (!fault)
        return 0;
    uint32_t ec = PF_EC_P;
    if (acc == PG_ACC_WRITE)
        ec |= PF_EC_W;
    if (user_access)
        ec |= PF_EC_U;
    if (acc == PG_ACC_FETCH && fetch_sets_id(ctx))
        ec |= PF_EC_I;
    return ec;
}

/* M of SDM 3A table 4-4: the physical-address width of a 4-MiB page. The
 * PSE-36 mechanism is assumed (every processor with PAE has it). */
static unsigned pse36_width(const struct pg_ctx *ctx)
{
    unsigned m = ctx->maxphyaddr;
    return m > 40 ? 40 : m < 32 ? 32 : m;
}

/* Reserved bits of a PAE PDPTE register (SDM 3A 4.4.1, table 4-8): 2:1, 8:5
 * and 63:MAXPHYADDR, bit 63 included whatever IA32_EFER.NXE says. */
static uint64_t pdpte_rsvd(const struct pg_ctx *ctx)
{
    return bit_range(63, ctx->maxphyaddr) | PDPTE_PAE_RSVD_LOW;
}

static inline __attribute__((always_inline)) uint64_t rsvd_mask(const struct pg_ctx *ctx, enum pg_mode mode,
                                                                 unsigned level, uint64_t entry)
{
    uint64_t m = 0;
    unsigned maxpa = ctx->maxphyaddr;

    if (mode == PG_MODE_32BIT) {
        /* Table 4-4: only a PDE that maps a 4-MiB page has reserved bits,
         * 21:(M-19); tables 4-5 and 4-6 have none (bit 7 of a PTE is PAT). */
        if (level == 2 && (entry & PTE_PS) && (ctx->cr4 & CR4_PSE))
            m = bit_range(21, pse36_width(ctx) - 19);
        return m;
    }
    if (mode == PG_MODE_PAE) {
        if (level == 3)
            return pdpte_rsvd(ctx);
        /* Tables 4-9..4-11: 62:M everywhere (PAE entries have no ignored
         * high bits), XD without NXE, 20:13 in a PDE that maps 2 MiB. */
        m = bit_range(62, maxpa);
        if (!(ctx->efer & EFER_NXE))
            m |= PTE_XD;
        if (level == 2 && (entry & PTE_PS))
            m |= 0x1FE000ull;
        return m;
    }

    /* 4-level paging, tables 4-15 to 4-20. Address bits between MAXPHYADDR
     * and 51 are reserved in every entry. */
    m |= bit_range(51, maxpa);
    if (!(ctx->efer & EFER_NXE))
        m |= PTE_XD;
    switch (level) {
    case 4:
        m |= PTE_PS;                           /* PS must be 0 in a PML4E */
        if (ctx->amd)
            m |= PTE_G;                        /* bit 8 too on AMD (APM vol. 2 5.3.3) */
        break;
    case 3:
        if (entry & PTE_PS) {
            if (!ctx->has_1g_pages)
                m |= PTE_PS;                   /* no 1-GiB pages: PS reserved */
            else
                m |= 0x3FFFE000ull;            /* bits 29:13 of a 1-GiB page */
        }
        break;
    case 2:
        if (entry & PTE_PS)
            m |= 0x1FE000ull;                  /* bits 20:13 of a 2-MiB page */
        break;
    default:
        break;
    }
    return m;
}

uint64_t pg_rsvd_mask(const struct pg_ctx *ctx, unsigned level, uint64_t entry)
{
    return rsvd_mask(ctx, pg_mode_of(ctx->cr0, ctx->cr4, ctx->efer), level, entry);
}

/* The W, U and I bits of a #PF error code, which describe the access. */
static uint32_t access_bits(const struct pg_ctx *ctx, enum pg_access acc)
{
    uint32_t ec = 0;
    if (acc == PG_ACC_WRITE)
        ec |= PF_EC_W;
    if (ctx->cpl == 3 && !ctx->implicit_sv)
        ec |= PF_EC_U;
    if (acc == PG_ACC_FETCH && fetch_sets_id(ctx))
        ec |= PF_EC_I;
    return ec;
}

/* The structures of one paging mode as read from memory. */
struct pg_fmt {
    unsigned top;        /* level of the first entry read (PAE: the PD, below the PDPTE registers) */
    unsigned esize;      /* bytes per entry */
    unsigned idx_bits;   /* linear-address bits that index one table */
};
static const struct pg_fmt fmt_32bit  = { 2, 4, 10 };   /* SDM 3A 4.3, figures 4-2, 4-3 */
static const struct pg_fmt fmt_pae    = { 2, 8, 9 };    /* SDM 3A 4.4.2, figures 4-5, 4-6 */
static const struct pg_fmt fmt_4level = { 4, 8, 9 };    /* SDM 3A 4.5.4, figures 4-8..4-10 */

/* Does a present entry map a page (rather than reference a table)? */
static bool is_leaf(const struct pg_ctx *ctx, enum pg_mode mode, unsigned level, uint64_t e)
{
    if (level == 1)
        return true;
    if (!(e & PTE_PS))
        return false;
    switch (mode) {
    case PG_MODE_32BIT:
        return level == 2 && (ctx->cr4 & CR4_PSE);   /* 4.3: PS ignored while CR4.PSE = 0 */
    case PG_MODE_PAE:
        return level == 2;                           /* 4.4.2: 2 MiB whatever CR4.PSE says */
    default:
        return level == 2 || level == 3;             /* 4.5.4 (PS reserved in a PML4E) */
    }
}

/* Physical base of the page a leaf maps (reserved bits already checked). */
static uint64_t leaf_frame(enum pg_mode mode, uint64_t e, uint64_t page_size)
{
    if (mode != PG_MODE_32BIT)
        return e & ADDR_51_12 & ~(page_size - 1);
    if (page_size == 4096)
        return e & ADDR_31_12;
    return (e & MIB4_31_22) | ((e & PSE36_HI) << 19);  /* table 4-4: PDE 20:13 -> PA 39:32 */
}

/* Read the entry at epa: the aligned quadword q holding it and, for a 4-byte
 * entry, the half of q at epa (little-endian). */
static bool read_entry(const struct pg_mem_ops *mem, void *mem_ctx, uint64_t epa, unsigned esize,
                       uint64_t *e, uint64_t *q)
{
    if (!mem->read64(mem_ctx, epa & ~7ull, q))
        return false;
    *e = esize == 8 ? *q : (uint32_t)(*q >> (8 * (epa & 4)));
    return true;
}

/* Exchange the entry at epa for want if its quadword still holds q. */
static bool update_entry(const struct pg_mem_ops *mem, void *mem_ctx, uint64_t epa, unsigned esize,
                         uint64_t q, uint64_t want)
{
    uint64_t nq = want;
    if (esize == 4) {
        unsigned sh = 8 * (unsigned)(epa & 4);
        nq = (q & ~(0xFFFFFFFFull << sh)) | (want << sh);
    }
    return mem->cmpxchg64(mem_ctx, epa & ~7ull, q, nq);
}

static enum pg_status fault(struct pg_result *res, unsigned level, uint32_t ec)
{
    res->status = PG_FAULT;
    res->fault_level = level;
    res->error_code = ec;
    return PG_FAULT;
}

enum pg_status pg_walk(const struct pg_ctx *ctx, const struct pg_mem_ops *mem, void *mem_ctx,
                       uint64_t la, enum pg_access acc, bool set_ad, struct pg_result *res)
{
    enum pg_mode mode = pg_mode_of(ctx->cr0, ctx->cr4, ctx->efer);
    const struct pg_fmt *f;
    *res = (struct pg_result){ 0 };

    switch (mode) {
    case PG_MODE_NONE:
        /* CR0.PG = 0 (SDM 3A 4.1.1): linear = physical, no page-level
         * protection, no structures, no flags to update. */
        res->status = PG_OK;
        res->pa = la;
        res->page_base_la = la & ~0xFFFull;
        res->page_base_pa = la & ~0xFFFull;
        res->page_size = 4096;
        res->user = res->upper_user = true;
        res->writable = res->upper_writable = true;
        res->dirty = true;
        return PG_OK;
    case PG_MODE_32BIT:
        f = &fmt_32bit;
        la &= 0xFFFFFFFFull;
        break;
    case PG_MODE_PAE:
        f = &fmt_pae;
        la &= 0xFFFFFFFFull;
        break;
    case PG_MODE_4LEVEL:
        f = &fmt_4level;
        break;
    default:
        res->status = PG_UNSUPPORTED;
        return PG_UNSUPPORTED;
    }

    for (int attempt = 0; attempt < 8; attempt++) {
        uint64_t entries[4], quads[4], entry_pa[4];
        bool user = true, writable = true, nx = false;
        unsigned level = f->top, n = 0;
        uint64_t page_size = 0, table;

        res->levels = 0;
        if (mode == PG_MODE_PAE) {
            /* SDM 3A 4.4.2: bits 31:30 select a PDPTE register; PDPTEs take
             * no part in access rights (4.6.1) and have no A flag (4.8). */
            uint64_t pdpte = ctx->pdpte[(la >> 30) & 3];
            if (!(pdpte & PTE_P))
                return fault(res, 3, access_bits(ctx, acc));
            if (pdpte & pdpte_rsvd(ctx)) {
                /* No processor holds this: loading it was #GP (4.4.1). */
                res->status = PG_UNSUPPORTED;
                res->fault_level = 3;
                return PG_UNSUPPORTED;
            }
            table = pdpte & ADDR_51_12;
        } else if (mode == PG_MODE_32BIT) {
            table = ctx->cr3 & ADDR_31_12;             /* SDM 3A 4.3, table 4-3 */
        } else {
            table = ctx->cr3 & ADDR_51_12 & ((1ull << ctx->maxphyaddr) - 1);
        }

        for (;;) {
            unsigned shift = 12 + f->idx_bits * (level - 1);
            uint64_t idx = (la >> shift) & ((1ull << f->idx_bits) - 1);
            uint64_t epa = table + idx * f->esize;
            uint64_t e, q;
            if (!read_entry(mem, mem_ctx, epa, f->esize, &e, &q)) {
                res->status = PG_BUS_ERROR;
                res->fault_level = level;
                res->bad_pa = epa;
                return PG_BUS_ERROR;
            }
            entries[n] = e;
            quads[n] = q;
            entry_pa[n] = epa;
            n++;
            res->levels = n;
            if (!(e & PTE_P))
                return fault(res, level, access_bits(ctx, acc));             /* P = 0 */
            if (e & rsvd_mask(ctx, mode, level, e))
                return fault(res, level, access_bits(ctx, acc) | PF_EC_P | PF_EC_RSVD);
            user = user && (e & PTE_US);
            writable = writable && (e & PTE_RW);
            if ((ctx->efer & EFER_NXE) && (e & PTE_XD))
                nx = true;                             /* never for a 4-byte entry */
            if (is_leaf(ctx, mode, level, e)) {
                page_size = 1ull << shift;
                break;
            }
            table = mode == PG_MODE_32BIT ? e & ADDR_31_12 : e & ADDR_51_12;
            level--;
        }

        bool uu = true, uw = true, un = false;
        for (unsigned i = 0; i + 1 < n; i++) {
            uu = uu && (entries[i] & PTE_US);
            uw = uw && (entries[i] & PTE_RW);
            if ((ctx->efer & EFER_NXE) && (entries[i] & PTE_XD))
                un = true;
        }
        res->upper_user = uu;
        res->upper_writable = uw;
        res->upper_nx = un;
        uint32_t pf = pg_check_perm(ctx, acc, user, writable, nx);
        if (pf)
            return fault(res, level, pf);

        uint64_t leaf = entries[n - 1];
        res->page_size = page_size;
        res->page_base_la = la & ~(page_size - 1);
        res->page_base_pa = leaf_frame(mode, leaf, page_size);
        res->pa = res->page_base_pa | (la & (page_size - 1));
        res->user = user;
        res->writable = writable;
        res->nx = nx;
        res->global = (ctx->cr4 & CR4_PGE) && (leaf & PTE_G);
        res->leaf_entry_pa = entry_pa[n - 1];

        if (set_ad) {
            bool restart = false;
            for (unsigned i = 0; i < n && !restart; i++) {
                uint64_t want = entries[i] | PTE_A;
                if (i == n - 1 && acc == PG_ACC_WRITE)
                    want |= PTE_D;
                if (want != entries[i]) {
                    if (!update_entry(mem, mem_ctx, entry_pa[i], f->esize, quads[i], want))
                        restart = true;
                    else
                        entries[i] = want;
                }
            }
            if (restart)
                continue;
        }
        res->leaf_entry = entries[n - 1];
        res->dirty = (entries[n - 1] & PTE_D) != 0;
        res->status = PG_OK;
        return PG_OK;
    }
    /* The entries kept changing under us: only possible with a concurrent
     * writer, which the deterministic machine does not have. */
    res->status = PG_BUS_ERROR;
    return PG_BUS_ERROR;
}

/* SDM 3A 4.4.1: the PDPTEs are loaded from the 32-byte aligned table at
 * CR3[31:5] (table 4-7); a present one with a reserved bit set makes the
 * MOV to CR fault with #GP(0) and nothing is loaded. */
enum pg_status pg_load_pdptes(const struct pg_ctx *ctx, const struct pg_mem_ops *mem, void *mem_ctx,
                              uint64_t pdpte_out[4])
{
    uint64_t base = ctx->cr3 & 0xFFFFFFE0ull;
    uint64_t pd[4];
    for (unsigned i = 0; i < 4; i++)
        if (!mem->read64(mem_ctx, base + 8 * i, &pd[i]))
            return PG_BUS_ERROR;
    for (unsigned i = 0; i < 4; i++)
        if ((pd[i] & PTE_P) && (pd[i] & pdpte_rsvd(ctx)))
            return PG_PDPTE_RSVD;
    memcpy(pdpte_out, pd, sizeof(pd));
    return PG_OK;
}
