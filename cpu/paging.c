/*
 * paging.c — 4-level paging walk, permissions, reserved bits, A/D flags and
 * #PF error codes (SDM vol. 3A ch. 4). Pure: no Unicorn, no globals; memory
 * is reached only through struct pg_mem_ops.
 *
 * Choices the SDM leaves open, fixed here and documented in docs/cpu-mmu.md:
 *  - accessed/dirty flags are written only when the whole access is permitted
 *    (as Bochs does); a faulting walk leaves memory untouched;
 *  - on a page whose entry changes during the A/D update, the walk restarts.
 */
#include "paging.h"

#define CR0_WP   (1ull << 16)
#define CR0_PG   (1ull << 31)
#define CR4_PAE  (1ull << 5)
#define CR4_PGE  (1ull << 7)
#define CR4_SMEP (1ull << 20)
#define CR4_SMAP (1ull << 21)
#define CR4_LA57 (1ull << 12)
#define EFER_LME (1ull << 8)
#define EFER_NXE (1ull << 11)

enum pg_mode pg_mode_of(uint64_t cr0, uint64_t cr4, uint64_t efer)
{
    if (!(cr0 & CR0_PG))
        return PG_MODE_NONE;
    if (!(cr4 & CR4_PAE))
        return PG_MODE_32BIT;
    if (!(efer & EFER_LME))
        return PG_MODE_PAE;
    return (cr4 & CR4_LA57) ? PG_MODE_5LEVEL : PG_MODE_4LEVEL;
}

bool pg_canonical(uint64_t la, unsigned width)
{
    int64_t s = (int64_t)(la << (64 - width)) >> (64 - width);
    return (uint64_t)s == la;
}

/* SDM 3A 4.6.1 (determination of access rights) and 4.6.2 (protection keys,
 * not modelled). user_page: U/S=1 at every level; writable: R/W=1 at every
 * level; nx: XD=1 at some level while IA32_EFER.NXE=1. */
uint32_t pg_check_perm(const struct pg_ctx *ctx, enum pg_access acc, bool user_page,
                       bool writable, bool nx)
{
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
    if (acc == PG_ACC_FETCH && ((ctx->efer & EFER_NXE) || (ctx->cr4 & CR4_SMEP)))
        ec |= PF_EC_I;
    return ec;
}

/* Reserved-bit mask for an entry at a given level (SDM 3A 4.5, tables 4-15
 * to 4-20). level: 4 = PML4E, 3 = PDPTE, 2 = PDE, 1 = PTE. */
uint64_t pg_rsvd_mask(const struct pg_ctx *ctx, unsigned level, uint64_t entry)
{
    uint64_t m = 0;
    unsigned maxpa = ctx->maxphyaddr;
    /* Address bits between MAXPHYADDR and 51 are reserved in every entry. */
    if (maxpa < 52)
        m |= ((1ull << 52) - 1) & ~((1ull << maxpa) - 1);
    if (!(ctx->efer & EFER_NXE))
        m |= PTE_XD;
    switch (level) {
    case 4:
        m |= PTE_PS;                           /* PS must be 0 in a PML4E */
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

static uint32_t access_bits(const struct pg_ctx *ctx, enum pg_access acc)
{
    uint32_t ec = 0;
    if (acc == PG_ACC_WRITE)
        ec |= PF_EC_W;
    if (ctx->cpl == 3 && !ctx->implicit_sv)
        ec |= PF_EC_U;
    if (acc == PG_ACC_FETCH && ((ctx->efer & EFER_NXE) || (ctx->cr4 & CR4_SMEP)))
        ec |= PF_EC_I;
    return ec;
}

enum pg_status pg_walk(const struct pg_ctx *ctx, const struct pg_mem_ops *mem, void *mem_ctx,
                       uint64_t la, enum pg_access acc, bool set_ad, struct pg_result *res)
{
    enum pg_mode mode = pg_mode_of(ctx->cr0, ctx->cr4, ctx->efer);
    *res = (struct pg_result){ 0 };

    if (mode == PG_MODE_NONE) {
        res->status = PG_OK;
        res->pa = la;
        res->page_base_la = la & ~0xFFFull;
        res->page_base_pa = la & ~0xFFFull;
        res->page_size = 4096;
        res->user = true;
        res->writable = true;
        return PG_OK;
    }
    if (mode != PG_MODE_4LEVEL) {
        res->status = PG_UNSUPPORTED;
        return PG_UNSUPPORTED;
    }

    const uint64_t addr_mask = ((1ull << 52) - 1) & ~0xFFFull;
    for (int attempt = 0; attempt < 8; attempt++) {
        uint64_t table = ctx->cr3 & addr_mask & ((1ull << ctx->maxphyaddr) - 1);
        uint64_t entries[4], entry_pa[4];
        bool user = true, writable = true, nx = false;
        unsigned level = 4, n = 0;
        uint64_t page_size = 0;

        for (;;) {
            unsigned shift = 12 + 9 * (level - 1);
            uint64_t idx = (la >> shift) & 0x1FF;
            uint64_t epa = table + idx * 8;
            uint64_t e;
            if (!mem->read64(mem_ctx, epa, &e)) {
                res->status = PG_BUS_ERROR;
                res->fault_level = level;
                res->bad_pa = epa;
                return PG_BUS_ERROR;
            }
            entries[n] = e;
            entry_pa[n] = epa;
            n++;
            res->levels = n;
            if (!(e & PTE_P)) {
                res->status = PG_FAULT;
                res->fault_level = level;
                res->error_code = access_bits(ctx, acc);        /* P = 0 */
                return PG_FAULT;
            }
            if (e & pg_rsvd_mask(ctx, level, e)) {
                res->status = PG_FAULT;
                res->fault_level = level;
                res->error_code = access_bits(ctx, acc) | PF_EC_P | PF_EC_RSVD;
                return PG_FAULT;
            }
            user = user && (e & PTE_US);
            writable = writable && (e & PTE_RW);
            if ((ctx->efer & EFER_NXE) && (e & PTE_XD))
                nx = true;
            bool leaf = level == 1 || ((level == 3 || level == 2) && (e & PTE_PS));
            if (leaf) {
                page_size = 1ull << shift;
                break;
            }
            table = e & addr_mask;
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
        if (pf) {
            res->status = PG_FAULT;
            res->fault_level = level;
            res->error_code = pf;
            return PG_FAULT;
        }

        uint64_t leaf = entries[n - 1];
        uint64_t frame_mask = addr_mask & ~(page_size - 1);
        res->page_size = page_size;
        res->page_base_la = la & ~(page_size - 1);
        res->page_base_pa = leaf & frame_mask;
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
                    if (!mem->cmpxchg64(mem_ctx, entry_pa[i], entries[i], want))
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
