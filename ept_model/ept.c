/*
 * ept.c — the EPT walk, its misconfiguration rules and the EPT-violation
 * exit qualification (see ept.h for what is modelled and the SDM sections).
 * Section numbers are those of the SDM vol. 3C of 2024 ("29.3 The Extended
 * Page Table Mechanism"; older editions number the chapter 28).
 */
#include <stddef.h>

#include "ept.h"

static uint64_t addr_mask(unsigned maxphyaddr)
{
    /* bits (N-1):12 of an entry or of the EPTP */
    return ((1ull << maxphyaddr) - 1) & ~0xFFFull;
}

static unsigned walk_levels(uint64_t eptp)
{
    return (unsigned)((eptp & EPTP_WALK_MASK) >> 3) + 1;
}

const char *ept_eptp_invalid(uint64_t eptp, uint64_t cap, unsigned maxphyaddr)
{
    /* SDM 27.2.1.1 "VM-Execution Control Fields", the EPTP items. */
    unsigned mt = (unsigned)(eptp & EPTP_MT_MASK);
    if (!((mt == 0 && (cap & EPTCAP_UC)) || (mt == 6 && (cap & EPTCAP_WB))))
        return "EPTP bits 2:0 name a memory type IA32_VMX_EPT_VPID_CAP does not allow (UC needs bit 8, WB bit 14)";
    unsigned lv = walk_levels(eptp);
    if (!((lv == 4 && (cap & EPTCAP_WALK4)) || (lv == 5 && (cap & EPTCAP_WALK5))))
        return "EPTP bits 5:3 (page-walk length - 1) name a walk IA32_VMX_EPT_VPID_CAP does not allow";
    if ((eptp & EPTP_AD) && !(cap & EPTCAP_AD))
        return "EPTP bit 6 (accessed and dirty flags) set but IA32_VMX_EPT_VPID_CAP[21] = 0";
    if (eptp & (0x1Full << 7))
        return "EPTP bits 11:7 are reserved";
    if (maxphyaddr < 64 && (eptp >> maxphyaddr))
        return "EPTP sets bits beyond the physical-address width";
    return NULL;
}

static bool entry_present(const struct ept_ctx *ctx, uint64_t e)
{
    /* SDM 29.3.2: present if any of bits 2:0 is 1, or bit 10 with
     * mode-based execute control. */
    return (e & (EPTE_R | EPTE_W | EPTE_X)) || (ctx->mbec && (e & EPTE_XU));
}

static bool is_leaf(unsigned level, uint64_t e)
{
    return level == 1 || ((level == 2 || level == 3) && (e & EPTE_PS));
}

const char *ept_entry_misconfig(const struct ept_ctx *ctx, unsigned level, uint64_t e)
{
    /* SDM 29.3.3.1 "EPT Misconfigurations" and the entry formats of
     * 29.3.2 (tables 29-1 .. 29-6). */
    if (!(e & EPTE_R) && (e & EPTE_W))
        return "bit 1 (write) set with bit 0 (read) clear";
    bool exec = (e & EPTE_X) || (ctx->mbec && (e & EPTE_XU));
    if (!(e & EPTE_R) && exec && !(ctx->cap & EPTCAP_EXEC_ONLY))
        return "execute-only entry (bit 0 clear, execute set) but IA32_VMX_EPT_VPID_CAP[0] = 0";
    if (ctx->maxphyaddr < 52 && (e & (((1ull << 52) - 1) & ~((1ull << ctx->maxphyaddr) - 1))))
        return "reserved bits 51:MAXPHYADDR set";
    if (level >= 4) {
        if (e & (0x1Full << 3))
            return level == 5 ? "PML5E bits 7:3 are reserved" : "PML4E bits 7:3 are reserved";
        return NULL;
    }
    if (!is_leaf(level, e)) {
        if (e & (0xFull << 3))
            return level == 3 ? "PDPTE referencing a page directory: bits 6:3 are reserved"
                              : "PDE referencing a page table: bits 6:3 are reserved";
        return NULL;
    }
    if (level == 3) {
        if (!(ctx->cap & EPTCAP_1G))
            return "PDPTE bit 7 set (1-GiB page) but IA32_VMX_EPT_VPID_CAP[17] = 0";
        if (e & (0x3FFFFull << 12))
            return "PDPTE mapping a 1-GiB page: bits 29:12 are reserved";
    } else if (level == 2) {
        if (!(ctx->cap & EPTCAP_2M))
            return "PDE bit 7 set (2-MiB page) but IA32_VMX_EPT_VPID_CAP[16] = 0";
        if (e & (0x1FFull << 12))
            return "PDE mapping a 2-MiB page: bits 20:12 are reserved";
    }
    unsigned mt = (unsigned)((e & EPTE_MT_MASK) >> EPTE_MT_SHIFT);
    if (mt == 2 || mt == 3 || mt == 7)
        return "leaf memory type (bits 5:3) is 2, 3 or 7 (reserved)";
    return NULL;
}

static unsigned entry_perm(const struct ept_ctx *ctx, uint64_t e)
{
    unsigned p = 0;
    if (e & EPTE_R) p |= EPT_PERM_R;
    if (e & EPTE_W) p |= EPT_PERM_W;
    if (e & EPTE_X) p |= EPT_PERM_X;
    if (ctx->mbec && (e & EPTE_XU)) p |= EPT_PERM_XU;
    return p;
}

static enum ept_status stop(struct ept_result *res, enum ept_status st, unsigned level, uint64_t e,
                            uint64_t ehpa, const char *why)
{
    res->status = st;
    res->level = level;
    res->entry = e;
    res->entry_hpa = ehpa;
    res->why = why;
    return st;
}

enum ept_status ept_walk(const struct ept_ctx *ctx, const struct ept_mem_ops *mem, void *mem_ctx,
                         uint64_t gpa, unsigned acc, bool set_ad, struct ept_result *res)
{
    *res = (struct ept_result){ 0 };
    unsigned levels = walk_levels(ctx->eptp);
    if (levels != 4 && levels != 5)
        return stop(res, EPT_UNSUPPORTED, 0, 0, 0, "EPTP page-walk length is neither 4 nor 5");
    bool ad = (ctx->eptp & EPTP_AD) != 0;
    /* With EPT A/D flags on, accesses to guest paging structures are
     * treated as writes (SDM 29.3.3.2 and 29.3.5). */
    unsigned need = acc;
    if (ad && (acc & EPT_ACC_PAGING))
        need |= EPT_ACC_WRITE;
    unsigned width = 12 + 9 * levels;
    if (width < 64 && (gpa >> width))
        /* Beyond what the walk translates: no entry maps it. hvsim reports
         * a violation with no permissions (documented in docs/ept.md). */
        return stop(res, EPT_VIOLATION, levels, 0, 0, NULL);

    for (int attempt = 0; attempt < 8; attempt++) {
        uint64_t table = ctx->eptp & addr_mask(ctx->maxphyaddr);
        uint64_t ent[5], ehpa[5];
        unsigned n = 0, perm = EPT_PERM_R | EPT_PERM_W | EPT_PERM_X | (ctx->mbec ? EPT_PERM_XU : 0);
        unsigned level = levels;
        uint64_t e;
        for (;;) {
            unsigned shift = 12 + 9 * (level - 1);
            uint64_t epa = table + ((gpa >> shift) & 511) * 8;
            if (!mem->read64(mem_ctx, epa, &e)) {
                res->level = level;
                res->entry_hpa = epa;
                res->status = EPT_BUS_ERROR;
                return EPT_BUS_ERROR;
            }
            ent[n] = e;
            ehpa[n] = epa;
            n++;
            if (!entry_present(ctx, e)) {
                res->perm = 0;
                return stop(res, EPT_VIOLATION, level, e, epa, NULL);
            }
            const char *bad = ept_entry_misconfig(ctx, level, e);
            if (bad)
                return stop(res, EPT_MISCONFIG, level, e, epa, bad);
            perm &= entry_perm(ctx, e);
            if (is_leaf(level, e))
                break;
            table = e & addr_mask(ctx->maxphyaddr);
            level--;
        }
        uint64_t size = 1ull << (12 + 9 * (level - 1));
        res->perm = perm;
        res->level = level;
        res->entry = e;
        res->entry_hpa = ehpa[n - 1];
        res->page_size = size;
        res->page_base_gpa = gpa & ~(size - 1);
        res->page_base_hpa = e & addr_mask(ctx->maxphyaddr) & ~(size - 1);
        res->hpa = res->page_base_hpa | (gpa & (size - 1));
        res->memtype = (unsigned)((e & EPTE_MT_MASK) >> EPTE_MT_SHIFT);
        res->ipat = (e & EPTE_IPAT) != 0;

        bool ok = true;
        if ((need & EPT_ACC_READ) && !(perm & EPT_PERM_R)) ok = false;
        if ((need & EPT_ACC_WRITE) && !(perm & EPT_PERM_W)) ok = false;
        if (need & EPT_ACC_FETCH) {
            unsigned xbit = (ctx->mbec && (acc & EPT_ACC_USER)) ? EPT_PERM_XU : EPT_PERM_X;
            if (!(perm & xbit)) ok = false;
        }
        if (!ok) {
            res->status = EPT_VIOLATION;
            return EPT_VIOLATION;
        }

        if (ad && set_ad) {
            bool restart = false;
            for (unsigned i = 0; i < n && !restart; i++) {
                uint64_t want = ent[i] | EPTE_A;
                if (i == n - 1 && (need & EPT_ACC_WRITE))
                    want |= EPTE_D;
                if (want != ent[i]) {
                    if (!mem->cmpxchg64(mem_ctx, ehpa[i], ent[i], want))
                        restart = true;
                    else
                        ent[i] = want;
                }
            }
            if (restart)
                continue;
            res->entry = ent[n - 1];
        }
        res->dirty = !ad || (ent[n - 1] & EPTE_D);
        res->status = EPT_OK;
        return EPT_OK;
    }
    /* Only a concurrent writer could keep changing the entries. */
    res->status = EPT_BUS_ERROR;
    return EPT_BUS_ERROR;
}

uint64_t ept_violation_qual(const struct ept_ctx *ctx, const struct ept_result *res, const struct ept_qual_in *in)
{
    /* SDM 28.2.1, table "Exit Qualification for EPT Violations". */
    uint64_t q = 0;
    unsigned acc = in->acc;
    if ((ctx->eptp & EPTP_AD) && (acc & EPT_ACC_PAGING))
        acc |= EPT_ACC_READ | EPT_ACC_WRITE;   /* both bits 0 and 1 (SDM 29.3.3.2) */
    if (acc & EPT_ACC_READ) q |= 1ull << 0;
    if (acc & EPT_ACC_WRITE) q |= 1ull << 1;
    if (acc & EPT_ACC_FETCH) q |= 1ull << 2;
    if (res->perm & EPT_PERM_R) q |= 1ull << 3;
    if (res->perm & EPT_PERM_W) q |= 1ull << 4;
    if (res->perm & EPT_PERM_X) q |= 1ull << 5;
    if (ctx->mbec && (res->perm & EPT_PERM_XU)) q |= 1ull << 6;
    if (in->gla_valid) {
        q |= 1ull << 7;
        if (in->gla_translation) {
            q |= 1ull << 8;
            if (ctx->cap & EPTCAP_ADV_INFO) {
                if (in->guest_user) q |= 1ull << 9;
                if (in->guest_writable) q |= 1ull << 10;
                if (in->guest_nx) q |= 1ull << 11;
            }
        }
    }
    if (in->nmi_unblocked)
        q |= 1ull << 12;
    return q;
}
