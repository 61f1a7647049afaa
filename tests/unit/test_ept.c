/*
 * test_ept.c — the pure EPT walk (ept_model/ept.c) against the Intel SDM
 * vol. 3C (2024 numbering, as in ept.c):
 *   29.3.2   EPT translation mechanism: 4- and 5-level walks, entry formats
 *            (PML5E/PML4E, PDPTE, PDE, PTE tables), reserved bits, 1-GiB and
 *            2-MiB pages, presence (bits 2:0, or bit 10 with mode-based
 *            execute control)
 *   29.3.3.1 EPT misconfigurations      29.3.3.2 EPT violations
 *   29.3.5   accessed and dirty flags for EPT
 *   28.2.1   exit qualification for EPT violations (table "Exit
 *            Qualification for EPT Violations")
 *   27.2.1.1 VM-entry checks of the EPTP     25.6.11 EPTP format
 *   A.10     IA32_VMX_EPT_VPID_CAP
 *
 * The EPT paging structures live in a fake host-physical memory (struct
 * fakemem) reached only through struct ept_mem_ops, which also lets the tests
 * count accesses, make entries "change underneath" a cmpxchg, and leave parts
 * of the host-physical address space unbacked.
 */
#include <stdint.h>

#include "ept.h"
#include "harness.h"

/* ---- fake host-physical memory: FM_PAGES backed 4-KiB pages at 0 ---- */

#define FM_PAGES 8
#define FM_SIZE  ((uint64_t)FM_PAGES * 4096)

struct fakemem {
    uint64_t pg[FM_PAGES][512];
    unsigned reads, cas_calls, cas_ok;
    /* Interference: on the interfere_at-th cmpxchg (1-based), store
     * interfere_val into the entry before comparing, as a concurrent writer
     * would. interfere_always: flip ignored bit 11 on every cmpxchg, so that
     * none can succeed. */
    unsigned interfere_at;
    uint64_t interfere_val;
    bool interfere_always;
};

static uint64_t *fm_slot(struct fakemem *m, uint64_t hpa)
{
    return &m->pg[hpa >> 12][(hpa & 0xFFF) >> 3];
}

static bool fm_read64(void *ctx, uint64_t hpa, uint64_t *v)
{
    struct fakemem *m = ctx;
    m->reads++;
    ck_assert_msg((hpa & 7) == 0, "walk read a misaligned entry at %#llx", (unsigned long long)hpa);
    if (hpa >= FM_SIZE)
        return false;
    *v = *fm_slot(m, hpa);
    return true;
}

static bool fm_cmpxchg64(void *ctx, uint64_t hpa, uint64_t old, uint64_t nv)
{
    struct fakemem *m = ctx;
    m->cas_calls++;
    ck_assert_msg(hpa < FM_SIZE && (hpa & 7) == 0, "cmpxchg at %#llx", (unsigned long long)hpa);
    uint64_t *e = fm_slot(m, hpa);
    if (m->interfere_always)
        *e ^= 1ull << 11;                      /* bit 11: ignored in every EPT entry */
    else if (m->interfere_at && m->cas_calls == m->interfere_at)
        *e = m->interfere_val;
    if (*e != old)
        return false;
    *e = nv;
    m->cas_ok++;
    return true;
}

static const struct ept_mem_ops fm_ops = { fm_read64, fm_cmpxchg64 };

/* ---- a standard translation for one guest-physical address ----
 * EPTP -> PML4 at 0x2000 -> PDPT at 0x3000 -> PD at 0x4000 -> PT at 0x5000;
 * for 5-level walks a PML5 at 0x1000 points to the same PML4. GPA has a
 * different index at every level (PML4 0xD5, PDPT 0xF3, PD 0xF0, PT 0x123). */
#define PML5_PA 0x1000ull
#define PML4_PA 0x2000ull
#define PDPT_PA 0x3000ull
#define PD_PA   0x4000ull
#define PT_PA   0x5000ull
#define GPA     0x00006ABCDE123456ull
#define GPA5    (GPA | (0xA5ull << 48))       /* bits 56:48 select PML5E 0xA5 */
#define FRAME4K 0x0000007654321000ull          /* below 2^39: valid for MAXPHYADDR 39 too */
#define FRAME2M 0x0000007654200000ull
#define FRAME1G 0x0000007640000000ull

#define BIT(n)  (1ull << (n))
#define R       EPTE_R
#define W       EPTE_W
#define X       EPTE_X
#define XU      EPTE_XU
#define PS      EPTE_PS
#define F       (R | W | X)                    /* a fully permissive entry */
#define FX      (F | XU)                       /* ... also user-executable (MBEC) */
#define MT(t)   ((uint64_t)(t) << EPTE_MT_SHIFT)
#define WB      MT(6)
#define FL      (F | WB)                       /* a fully permissive leaf, write-back */
#define FXL     (FX | WB)
#define P_R     EPT_PERM_R
#define P_W     EPT_PERM_W
#define P_X     EPT_PERM_X
#define P_XU    EPT_PERM_XU
#define P_RWX   (P_R | P_W | P_X)
#define RD      EPT_ACC_READ
#define WR      EPT_ACC_WRITE
#define FE      EPT_ACC_FETCH
#define US      EPT_ACC_USER
#define PG      EPT_ACC_PAGING
#define OK      EPT_OK
#define VI      EPT_VIOLATION
#define MC      EPT_MISCONFIG

static unsigned idx_of(uint64_t gpa, unsigned level) { return (unsigned)((gpa >> (12 + 9 * (level - 1))) & 511); }

/* Host-physical address of the entry used at `level` for GPA/GPA5. */
static uint64_t entry_pa(unsigned level)
{
    static const uint64_t table[6] = { 0, PT_PA, PD_PA, PDPT_PA, PML4_PA, PML5_PA };
    return table[level] + 8ull * idx_of(GPA5, level);
}

/* Build the walk for GPA. e[0] = PML4E .. e[3] = PTE (flags and extra bits;
 * the address of the next table or of the frame is added here). leaf: 1 =
 * 4-KiB page, 2 = 2-MiB (PS in the PDE), 3 = 1-GiB (PS in the PDPTE). */
static void build(struct fakemem *m, const uint64_t e[4], unsigned leaf)
{
    memset(m, 0, sizeof(*m));
    *fm_slot(m, entry_pa(4)) = PDPT_PA | e[0];
    if (leaf == 3) {
        *fm_slot(m, entry_pa(3)) = FRAME1G | e[1] | PS;
        return;
    }
    *fm_slot(m, entry_pa(3)) = PD_PA | e[1];
    if (leaf == 2) {
        *fm_slot(m, entry_pa(2)) = FRAME2M | e[2] | PS;
        return;
    }
    *fm_slot(m, entry_pa(2)) = PT_PA | e[2];
    *fm_slot(m, entry_pa(1)) = FRAME4K | e[3];
}

static const uint64_t std_flags[4] = { F, F, F, FL };

/* Context options of a row. The default capability set has everything the
 * walk looks at (execute-only, 4/5-level walks, UC/WB, 2-MiB and 1-GiB
 * pages, A/D flags, advanced EPT-violation information). */
enum {
    O_NOXO = 1 << 0,   /* IA32_VMX_EPT_VPID_CAP[0] = 0: no execute-only */
    O_NO2M = 1 << 1,   /* IA32_VMX_EPT_VPID_CAP[16] = 0 */
    O_NO1G = 1 << 2,   /* IA32_VMX_EPT_VPID_CAP[17] = 0 */
    O_MBEC = 1 << 3,   /* "mode-based execute control for EPT" = 1 */
    O_AD   = 1 << 4,   /* EPTP[6] = 1 */
    O_5LVL = 1 << 5,   /* EPTP[5:3] = 4: 5-level walk from PML5_PA */
    O_NOADV = 1 << 6,  /* IA32_VMX_EPT_VPID_CAP[22] = 0 */
};

#define CAP_ALL (EPTCAP_EXEC_ONLY | EPTCAP_WALK4 | EPTCAP_WALK5 | EPTCAP_UC | EPTCAP_WB | EPTCAP_2M | \
                 EPTCAP_1G | EPTCAP_AD | EPTCAP_ADV_INFO)
#define EPTP4   (PML4_PA | 6 | (3ull << 3))   /* WB, 4-level */
#define EPTP5   (PML5_PA | 6 | (4ull << 3))   /* WB, 5-level */

static struct ept_ctx make_ctx(unsigned opt, unsigned maxpa)
{
    uint64_t cap = CAP_ALL;
    if (opt & O_NOXO) cap &= ~EPTCAP_EXEC_ONLY;
    if (opt & O_NO2M) cap &= ~EPTCAP_2M;
    if (opt & O_NO1G) cap &= ~EPTCAP_1G;
    if (opt & O_NOADV) cap &= ~EPTCAP_ADV_INFO;
    struct ept_ctx c = {
        .eptp = ((opt & O_5LVL) ? EPTP5 : EPTP4) | ((opt & O_AD) ? EPTP_AD : 0),
        .cap = cap,
        .maxphyaddr = maxpa ? maxpa : 46,
        .mbec = (opt & O_MBEC) != 0,
    };
    return c;
}

static uint64_t leaf_size(unsigned leaf) { return 1ull << (12 + 9 * (leaf - 1)); }
static uint64_t leaf_frame(unsigned leaf) { return leaf == 1 ? FRAME4K : leaf == 2 ? FRAME2M : FRAME1G; }

/* The entry as build() stored it. */
static uint64_t built_entry(const uint64_t e[4], unsigned leaf, unsigned level)
{
    if (level == leaf)
        return leaf_frame(leaf) | e[4 - level] | (leaf > 1 ? PS : 0);
    static const uint64_t next[5] = { 0, 0, PT_PA, PD_PA, PDPT_PA };
    return next[level] | e[4 - level];
}

#define ULL(x) ((unsigned long long)(x))

/* ---- the main walk table ---- */

struct walk_row {
    const char *name;
    uint64_t e[4];            /* PML4E, PDPTE, PDE, PTE flag bits */
    unsigned leaf;
    unsigned acc;
    unsigned opt;
    unsigned maxpa;           /* 0: 46 */
    enum ept_status want;
    unsigned level;           /* leaf level (OK, violation at the leaf) or level of the failing entry */
    unsigned perm;            /* EPT_PERM_* (OK and EPT_VIOLATION) */
    uint64_t pa_or;           /* leaf reached: address bits the leaf adds to the frame */
};

#define ROW(n, e0, e1, e2, e3, lf, acc, opt, mp, st, lv, pm, por) \
    { n, { e0, e1, e2, e3 }, lf, acc, opt, mp, st, lv, pm, por }

static const struct walk_row walk_rows[] = {
    /* -- translations of each page size (29.3.2; 1-GiB and 2-MiB pages need
     *    IA32_VMX_EPT_VPID_CAP[17]/[16], A.10) -- */
    ROW("ok/4k/read",                    F, F, F, FL, 1, RD, 0, 0, OK, 1, P_RWX, 0),
    ROW("ok/4k/write",                   F, F, F, FL, 1, WR, 0, 0, OK, 1, P_RWX, 0),
    ROW("ok/4k/fetch",                   F, F, F, FL, 1, FE, 0, 0, OK, 1, P_RWX, 0),
    ROW("ok/4k/read-modify-write",       F, F, F, FL, 1, RD | WR, 0, 0, OK, 1, P_RWX, 0),
    ROW("ok/2m/write/cap16",             F, F, FL, 0, 2, WR, 0, 0, OK, 2, P_RWX, 0),
    ROW("ok/2m/fetch/cap16-without-cap17", F, F, FL, 0, 2, FE, O_NO1G, 0, OK, 2, P_RWX, 0),
    ROW("ok/1g/read/cap17",              F, FL, 0, 0, 3, RD, 0, 0, OK, 3, P_RWX, 0),
    ROW("ok/1g/write/cap17-without-cap16", F, FL, 0, 0, 3, WR, O_NO2M, 0, OK, 3, P_RWX, 0),
    ROW("large/2m/without-cap16: PDE bit 7 reserved (29.3.2)", F, F, FL, 0, 2, RD, O_NO2M, 0, MC, 2, 0, 0),
    ROW("large/1g/without-cap17: PDPTE bit 7 reserved (29.3.2)", F, FL, 0, 0, 3, RD, O_NO1G, 0, MC, 3, 0, 0),
    ROW("large/4k-walk-unaffected-without-cap16-17", F, F, F, FL, 1, WR, O_NO2M | O_NO1G, 0, OK, 1, P_RWX, 0),
    /* PTE bit 7 is ignored (table "Format of an EPT PTE"); bit 6 is IPAT. */
    ROW("ok/pte-bit7-ignored",           F, F, F, FL | BIT(7), 1, RD, 0, 0, OK, 1, P_RWX, 0),
    ROW("ok/pte-ipat",                   F, F, F, FL | EPTE_IPAT, 1, RD, 0, 0, OK, 1, P_RWX, 0),
    ROW("ok/2m-ipat-uc",                 F, F, F | EPTE_IPAT | MT(0), 0, 2, RD, 0, 0, OK, 2, P_RWX, 0),
    /* Ignored bits: 63:52, 11, 10 without MBEC, 9 (non-leaf; D of a leaf only
     * with EPTP[6] = 1), 8 (A only with EPTP[6] = 1). */
    ROW("ok/ignored-bits/63:52,11:8/all-levels", F | 0xFFF0000000000F00ull, F | 0xFFF0000000000F00ull,
        F | 0xFFF0000000000F00ull, FL | 0xFFF0000000000F00ull, 1, WR, 0, 0, OK, 1, P_RWX, 0),
    ROW("ok/ignored-bits/1g-leaf",       F, FL | 0xFFF0000000000F00ull, 0, 0, 3, WR, 0, 0, OK, 3, P_RWX, 0),

    /* -- reserved bits 51:MAXPHYADDR at each level (29.3.2 tables; misconfig 29.3.3.1) -- */
    ROW("rsvd/51:N/n46/pml4e-bit46",     F | BIT(46), F, F, FL, 1, RD, 0, 46, MC, 4, 0, 0),
    ROW("rsvd/51:N/n46/pml4e-bit51",     F | BIT(51), F, F, FL, 1, RD, 0, 46, MC, 4, 0, 0),
    ROW("rsvd/51:N/n46/pdpte-bit47",     F, F | BIT(47), F, FL, 1, WR, 0, 46, MC, 3, 0, 0),
    ROW("rsvd/51:N/n46/pde-bit50",       F, F, F | BIT(50), FL, 1, FE, 0, 46, MC, 2, 0, 0),
    ROW("rsvd/51:N/n46/pte-bit46",       F, F, F, FL | BIT(46), 1, RD, 0, 46, MC, 1, 0, 0),
    ROW("rsvd/51:N/n46/pte-bit51",       F, F, F, FL | BIT(51), 1, RD, 0, 46, MC, 1, 0, 0),
    ROW("rsvd/51:N/n46/2m-pde-bit46",    F, F, FL | BIT(46), 0, 2, RD, 0, 46, MC, 2, 0, 0),
    ROW("rsvd/51:N/n46/1g-pdpte-bit49",  F, FL | BIT(49), 0, 0, 3, RD, 0, 46, MC, 3, 0, 0),
    ROW("rsvd/51:N/n39/pml4e-bit39",     F | BIT(39), F, F, FL, 1, RD, 0, 39, MC, 4, 0, 0),
    ROW("rsvd/51:N/n39/pdpte-bit39",     F, F | BIT(39), F, FL, 1, RD, 0, 39, MC, 3, 0, 0),
    ROW("rsvd/51:N/n39/pde-bit45",       F, F, F | BIT(45), FL, 1, RD, 0, 39, MC, 2, 0, 0),
    ROW("rsvd/51:N/n39/pte-bit39",       F, F, F, FL | BIT(39), 1, RD, 0, 39, MC, 1, 0, 0),
    ROW("rsvd/51:N/n39/2m-pde-bit40",    F, F, FL | BIT(40), 0, 2, RD, 0, 39, MC, 2, 0, 0),
    ROW("rsvd/51:N/n39/1g-pdpte-bit39",  F, FL | BIT(39), 0, 0, 3, RD, 0, 39, MC, 3, 0, 0),
    /* ... and the other side: bits N-1:12 are address bits. */
    ROW("addr/n46/pte-bit45",            F, F, F, FL | BIT(45), 1, RD, 0, 46, OK, 1, P_RWX, BIT(45)),
    ROW("addr/n46/2m-pde-bit45",         F, F, FL | BIT(45), 0, 2, RD, 0, 46, OK, 2, P_RWX, BIT(45)),
    ROW("addr/n46/1g-pdpte-bit45",       F, FL | BIT(45), 0, 0, 3, RD, 0, 46, OK, 3, P_RWX, BIT(45)),
    ROW("addr/n39/pte-bit38",            F, F, F, FL | BIT(38), 1, RD, 0, 39, OK, 1, P_RWX, BIT(38)),
    ROW("addr/n52/pte-bit51",            F, F, F, FL | BIT(51), 1, RD, 0, 52, OK, 1, P_RWX, BIT(51)),
    ROW("addr/2m-pde-bit22",             F, F, FL | BIT(22), 0, 2, RD, 0, 0, OK, 2, P_RWX, BIT(22)),
    ROW("addr/1g-pdpte-bit31",           F, FL | BIT(31), 0, 0, 3, RD, 0, 0, OK, 3, P_RWX, BIT(31)),

    /* -- reserved bits of the entry formats (29.3.2) -- */
    ROW("rsvd/pml4e-bit3 (7:3)",         F | BIT(3), F, F, FL, 1, RD, 0, 0, MC, 4, 0, 0),
    ROW("rsvd/pml4e-bit4 (7:3)",         F | BIT(4), F, F, FL, 1, RD, 0, 0, MC, 4, 0, 0),
    ROW("rsvd/pml4e-bit5 (7:3)",         F | BIT(5), F, F, FL, 1, RD, 0, 0, MC, 4, 0, 0),
    ROW("rsvd/pml4e-bit6 (7:3)",         F | BIT(6), F, F, FL, 1, RD, 0, 0, MC, 4, 0, 0),
    ROW("rsvd/pml4e-bit7 (7:3)",         F | BIT(7), F, F, FL, 1, RD, 0, 0, MC, 4, 0, 0),
    ROW("rsvd/pml4e-memtype-wb (7:3)",   F | WB, F, F, FL, 1, RD, 0, 0, MC, 4, 0, 0),
    ROW("rsvd/pdpte-table-bit3 (6:3)",   F, F | BIT(3), F, FL, 1, RD, 0, 0, MC, 3, 0, 0),
    ROW("rsvd/pdpte-table-bit6 (6:3)",   F, F | BIT(6), F, FL, 1, RD, 0, 0, MC, 3, 0, 0),
    ROW("rsvd/pdpte-table-memtype-wb (6:3)", F, F | WB, F, FL, 1, RD, 0, 0, MC, 3, 0, 0),
    ROW("rsvd/pde-table-bit4 (6:3)",     F, F, F | BIT(4), FL, 1, RD, 0, 0, MC, 2, 0, 0),
    ROW("rsvd/pde-table-bit5 (6:3)",     F, F, F | BIT(5), FL, 1, RD, 0, 0, MC, 2, 0, 0),
    ROW("rsvd/pde-table-ipat (6:3)",     F, F, F | EPTE_IPAT, FL, 1, RD, 0, 0, MC, 2, 0, 0),
    ROW("rsvd/1g-bit12 (29:12)",         F, FL | BIT(12), 0, 0, 3, RD, 0, 0, MC, 3, 0, 0),
    ROW("rsvd/1g-bit20 (29:12)",         F, FL | BIT(20), 0, 0, 3, RD, 0, 0, MC, 3, 0, 0),
    ROW("rsvd/1g-bit29 (29:12)",         F, FL | BIT(29), 0, 0, 3, RD, 0, 0, MC, 3, 0, 0),
    ROW("rsvd/2m-bit12 (20:12)",         F, F, FL | BIT(12), 0, 2, RD, 0, 0, MC, 2, 0, 0),
    ROW("rsvd/2m-bit16 (20:12)",         F, F, FL | BIT(16), 0, 2, WR, 0, 0, MC, 2, 0, 0),
    ROW("rsvd/2m-bit20 (20:12)",         F, F, FL | BIT(20), 0, 2, FE, 0, 0, MC, 2, 0, 0),

    /* -- misconfiguration vs violation order (29.3.3: a violation needs "no
     *    EPT misconfiguration"; the walk stops at the first problem) -- */
    ROW("order/misconfig-at-pte-beats-read-only-pml4e", R | X, F, F, FL | BIT(51), 1, WR, 0, 0, MC, 1, 0, 0),
    ROW("order/misconfig-at-pte-beats-execute-only-pde", F, F, X, F | MT(2), 1, RD, 0, 0, MC, 1, 0, 0),
    ROW("order/reserved-pdpte-above-not-present-pde", F, F | BIT(50), 0, 0, 1, RD, 0, 0, MC, 3, 0, 0),
    ROW("order/not-present-pdpte-hides-write-only-pde", F, 0, W, FL, 1, RD, 0, 0, VI, 3, 0, 0),

    /* -- not present: bits 2:0 = 000b, every other bit ignored (29.3.2) -- */
    ROW("np/pml4e-garbage",              ~7ull, F, F, FL, 1, RD, 0, 0, VI, 4, 0, 0),
    ROW("np/pdpte-garbage",              F, ~7ull, F, FL, 1, WR, 0, 0, VI, 3, 0, 0),
    ROW("np/pde-garbage",                F, F, ~7ull, FL, 1, FE, 0, 0, VI, 2, 0, 0),
    ROW("np/pte-garbage",                F, F, F, ~7ull, 1, RD, 0, 0, VI, 1, 0, 0),
    ROW("np/pte-garbage/n39",            F, F, F, ~7ull, 1, RD, 0, 39, VI, 1, 0, 0),
    ROW("np/pte-garbage/no-exec-only-cap", F, F, F, ~7ull, 1, RD, O_NOXO, 0, VI, 1, 0, 0),
    ROW("np/mbec/pte-garbage-without-bit10", FX, FX, FX, ~7ull & ~XU, 1, FE | US, O_MBEC, 0, VI, 1, 0, 0),
    ROW("np/mbec/bit10-makes-garbage-present: misconfig", FX, FX, FX, ~7ull, 1, FE | US, O_MBEC, 0, MC, 1,
        0, 0),

    /* -- permissions AND-ed down the walk (29.3.3.2) -- */
    ROW("and/write/pdpte-not-writable",  F, R | X, F, FL, 1, WR, 0, 0, VI, 1, P_R | P_X, 0),
    ROW("and/fetch/pml4e-not-executable", R | W, F, F, FL, 1, FE, 0, 0, VI, 1, P_R | P_W, 0),
    ROW("and/read/pde-execute-only",     F, F, X, FL, 1, RD, 0, 0, VI, 1, P_X, 0),
    ROW("and/rmw/read-only-pte",         F, F, F, R | WB, 1, RD | WR, 0, 0, VI, 1, P_R, 0),
    ROW("and/write/2m/pde-not-writable", F, F, R | X | WB, 0, 2, WR, 0, 0, VI, 2, P_R | P_X, 0),
    ROW("and/fetch/1g/pml4e-read-only",  R, FL, 0, 0, 3, FE, 0, 0, VI, 3, P_R, 0),
    ROW("and/read/1g/pml4e-rx-pdpte-rw", R | X, R | W | WB, 0, 0, 3, RD, 0, 0, OK, 3, P_R, 0),

    /* -- execute-only (29.3.3.1 needs IA32_VMX_EPT_VPID_CAP[0]) -- */
    ROW("xo/cap0/fetch-from-execute-only-pte", F, F, F, X | WB, 1, FE, 0, 0, OK, 1, P_X, 0),
    ROW("xo/cap0/read-from-execute-only-pte", F, F, F, X | WB, 1, RD, 0, 0, VI, 1, P_X, 0),
    ROW("xo/cap0/execute-only-2m",       F, F, X | WB, 0, 2, FE, 0, 0, OK, 2, P_X, 0),
    ROW("xo/no-cap0/execute-only-pte",   F, F, F, X | WB, 1, FE, O_NOXO, 0, MC, 1, 0, 0),
    ROW("xo/no-cap0/execute-only-pml4e", X, F, F, FL, 1, FE, O_NOXO, 0, MC, 4, 0, 0),
    ROW("xo/no-cap0/execute-only-1g",    F, X | WB, 0, 0, 3, FE, O_NOXO, 0, MC, 3, 0, 0),

    /* -- mode-based execute control (29.3.2, 29.3.3.2): bit 2 governs
     *    supervisor-mode fetches, bit 10 user-mode fetches -- */
    ROW("mbec/user-fetch/bit10-everywhere", FX, FX, FX, FXL, 1, FE | US, O_MBEC, 0, OK, 1, P_RWX | P_XU, 0),
    ROW("mbec/user-fetch/pte-bit10-clear", FX, FX, FX, FL, 1, FE | US, O_MBEC, 0, VI, 1, P_RWX, 0),
    ROW("mbec/user-fetch/pde-bit10-clear", FX, FX, F, FXL, 1, FE | US, O_MBEC, 0, VI, 1, P_RWX, 0),
    ROW("mbec/user-fetch/bit2-clear-everywhere", R | W | XU, R | W | XU, R | W | XU, R | W | XU | WB, 1,
        FE | US, O_MBEC, 0, OK, 1, P_R | P_W | P_XU, 0),
    ROW("mbec/sv-fetch/uses-bit2",       FX, FX, FX, FL, 1, FE, O_MBEC, 0, OK, 1, P_RWX, 0),
    ROW("mbec/sv-fetch/pte-bit2-clear",  FX, FX, FX, R | W | XU | WB, 1, FE, O_MBEC, 0, VI, 1,
        P_R | P_W | P_XU, 0),
    ROW("mbec/user-read/bit10-irrelevant", F, F, F, FL, 1, RD | US, O_MBEC, 0, OK, 1, P_RWX, 0),
    ROW("mbec/user-fetch/2m/pde-bit10",  FX, FX, FXL, 0, 2, FE | US, O_MBEC, 0, OK, 2, P_RWX | P_XU, 0),
    /* Present through bit 10 alone (29.3.2 with MBEC). The last row is
     * ept.c's reading: bits 2:0 = 000b with bit 10 = 1 is "execute-only" and
     * needs IA32_VMX_EPT_VPID_CAP[0]; the misconfiguration list of 29.3.3.1
     * itself names only bits 2:0 = 100b. */
    ROW("mbec/bit10-alone/pte/user-fetch", FX, FX, FX, XU | WB, 1, FE | US, O_MBEC, 0, OK, 1, P_XU, 0),
    ROW("mbec/bit10-alone/pte/read",     FX, FX, FX, XU | WB, 1, RD, O_MBEC, 0, VI, 1, P_XU, 0),
    ROW("mbec/bit10-alone/pte/sv-fetch", FX, FX, FX, XU | WB, 1, FE, O_MBEC, 0, VI, 1, P_XU, 0),
    ROW("mbec/bit10-alone/pml4e/user-fetch", XU, FX, FX, FXL, 1, FE | US, O_MBEC, 0, OK, 1, P_XU, 0),
    ROW("mbec/bit10-alone/pte/no-exec-only-cap", FX, FX, FX, XU | WB, 1, FE | US, O_MBEC | O_NOXO, 0, MC,
        1, 0, 0),
    /* Without MBEC bit 10 is ignored: not a presence bit, not a permission. */
    ROW("no-mbec/bit10-alone-is-not-present", F, F, F, XU | WB, 1, FE | US, 0, 0, VI, 1, 0, 0),
    ROW("no-mbec/user-fetch-uses-bit2",  F, F, F, FL, 1, FE | US, 0, 0, OK, 1, P_RWX, 0),
    ROW("no-mbec/bit10-does-not-allow-fetch", F, F, F, R | W | XU | WB, 1, FE | US, 0, 0, VI, 1, P_R | P_W,
        0),

    /* -- guest paging-structure accesses are writes when EPTP[6] = 1 (29.3.3.2) -- */
    ROW("paging/ad1/read-only-pte",      F, F, F, R | X | WB, 1, RD | PG, O_AD, 0, VI, 1, P_R | P_X, 0),
    ROW("paging/ad1/read-only-pdpte",    F, R, F, FL, 1, RD | PG, O_AD, 0, VI, 1, P_R, 0),
    ROW("paging/ad1/read-only-2m",       F, F, R | WB, 0, 2, RD | PG, O_AD, 0, VI, 2, P_R, 0),
    ROW("paging/ad1/writable",           F, F, F, R | W | WB, 1, RD | PG, O_AD, 0, OK, 1, P_R | P_W, 0),
    ROW("paging/ad0/read-only-pte",      F, F, F, R | X | WB, 1, RD | PG, 0, 0, OK, 1, P_R | P_X, 0),
    ROW("paging/ad0/read-only-pdpte",    F, R, F, FL, 1, RD | PG, 0, 0, OK, 1, P_R, 0),
    ROW("paging/ad1/plain-read-of-read-only-page", F, F, F, R | WB, 1, RD, O_AD, 0, OK, 1, P_R, 0),
};

START_TEST(walk_table)
{
    const struct walk_row *row = &walk_rows[_i];
    static struct fakemem m, before;
    build(&m, row->e, row->leaf);
    before = m;
    struct ept_ctx c = make_ctx(row->opt, row->maxpa);
    struct ept_result r;
    enum ept_status st = ept_walk(&c, &fm_ops, &m, GPA, row->acc, true, &r);

    ck_assert_msg(st == row->want, "%s: ept_walk returned %d, expected %d (level %u, why %s)", row->name, st,
                  row->want, r.level, r.why ? r.why : "-");
    ck_assert_msg(r.status == st, "%s: res.status %d differs from the return value %d", row->name, r.status, st);
    ck_assert_msg(r.level == row->level, "%s: level %u, expected %u", row->name, r.level, row->level);
    ck_assert_msg(m.reads == 5 - row->level, "%s: %u entries read, expected %u", row->name, m.reads,
                  5 - row->level);
    uint64_t at = built_entry(row->e, row->leaf, row->level);
    ck_assert_msg(r.entry_hpa == entry_pa(row->level), "%s: entry_hpa %#llx, expected %#llx", row->name,
                  ULL(r.entry_hpa), ULL(entry_pa(row->level)));
    if (st == EPT_MISCONFIG) {
        ck_assert_msg(r.why != NULL && *r.why, "%s: a misconfiguration must name its rule", row->name);
        ck_assert_msg(r.entry == at, "%s: entry %#llx, expected %#llx", row->name, ULL(r.entry), ULL(at));
        ck_assert_msg(memcmp(&m.pg, &before.pg, sizeof(m.pg)) == 0 && m.cas_calls == 0,
                      "%s: a misconfigured walk wrote memory", row->name);
        return;
    }
    ck_assert_msg(r.why == NULL, "%s: why \"%s\" set without a misconfiguration", row->name, r.why);
    ck_assert_msg(r.perm == row->perm, "%s: perm %#x, expected %#x", row->name, r.perm, row->perm);
    if (st == EPT_VIOLATION)
        ck_assert_msg(memcmp(&m.pg, &before.pg, sizeof(m.pg)) == 0 && m.cas_calls == 0,
                      "%s: a violation wrote memory", row->name);
    bool leaf_reached = row->level == row->leaf && row->perm != 0;
    if (!leaf_reached) {                       /* not present above or at the leaf */
        ck_assert_msg(r.entry == at, "%s: entry %#llx, expected %#llx", row->name, ULL(r.entry), ULL(at));
        ck_assert_msg(r.page_size == 0, "%s: page_size %#llx for a walk that reached no leaf", row->name,
                      ULL(r.page_size));
        return;
    }
    uint64_t size = leaf_size(row->leaf), base = leaf_frame(row->leaf) | row->pa_or;
    ck_assert_msg(r.page_size == size, "%s: page size %#llx, expected %#llx", row->name, ULL(r.page_size),
                  ULL(size));
    ck_assert_msg(r.page_base_gpa == (GPA & ~(size - 1)), "%s: page_base_gpa %#llx", row->name,
                  ULL(r.page_base_gpa));
    ck_assert_msg(r.page_base_hpa == base, "%s: page_base_hpa %#llx, expected %#llx", row->name,
                  ULL(r.page_base_hpa), ULL(base));
    ck_assert_msg(r.hpa == (base | (GPA & (size - 1))), "%s: hpa %#llx, expected %#llx", row->name, ULL(r.hpa),
                  ULL(base | (GPA & (size - 1))));
    uint64_t le = row->e[4 - row->leaf];
    ck_assert_msg(r.memtype == ((le >> 3) & 7), "%s: memtype %u", row->name, r.memtype);
    ck_assert_msg(r.ipat == ((le & EPTE_IPAT) != 0), "%s: ipat %d", row->name, r.ipat);
    if (!(row->opt & O_AD)) {
        ck_assert_msg(r.entry == at, "%s: entry %#llx, expected %#llx", row->name, ULL(r.entry), ULL(at));
        ck_assert_msg(memcmp(&m.pg, &before.pg, sizeof(m.pg)) == 0 && m.cas_calls == 0,
                      "%s: EPTP[6] = 0 but the walk wrote memory", row->name);
        ck_assert_msg(st != EPT_OK || r.dirty, "%s: dirty must be true without A/D flags", row->name);
    }
}
END_TEST

/* ---- every R/W/X value (bits 2:0) at each level, the other levels fully
 * permissive; read, write and fetch for each (29.3.2 presence, 29.3.3.1
 * misconfigurations, 29.3.3.2 violations) ---- */

struct perm_row {
    const char *name;
    unsigned level;           /* the entry carrying the value; 4 = PML4E .. 1 = PTE */
    uint64_t rwx;
    unsigned opt;
    enum ept_status want[3];  /* read, write, fetch */
    unsigned perm;            /* AND of bits 2:0 (EPT_VIOLATION, OK) */
    unsigned at;              /* level reported */
    uint64_t size;            /* page size reported (0: no leaf reached) */
};

#define PM(n, lv, rwx, opt, r, w, x, pm, at, sz) { n, lv, rwx, opt, { r, w, x }, pm, at, sz }

static const struct perm_row perm_rows[] = {
    /* -- IA32_VMX_EPT_VPID_CAP[0] = 1 -- */
    PM("perm/xo1/pml4e/---/not present (29.3.2)", 4, 0, 0, VI, VI, VI, 0, 4, 0),
    PM("perm/xo1/pml4e/r--/read-only (29.3.3.2)", 4, R, 0, OK, VI, VI, P_R, 1, 4096),
    PM("perm/xo1/pml4e/-w-/write-only: misconfig (29.3.3.1)", 4, W, 0, MC, MC, MC, 0, 4, 0),
    PM("perm/xo1/pml4e/rw-/read/write (29.3.3.2)", 4, R | W, 0, OK, OK, VI, P_R | P_W, 1, 4096),
    PM("perm/xo1/pml4e/--x/execute-only (29.3.3.1)", 4, X, 0, VI, VI, OK, P_X, 1, 4096),
    PM("perm/xo1/pml4e/r-x/read/execute (29.3.3.2)", 4, R | X, 0, OK, VI, OK, P_R | P_X, 1, 4096),
    PM("perm/xo1/pml4e/-wx/write/execute: misconfig (29.3.3.1)", 4, W | X, 0, MC, MC, MC, 0, 4, 0),
    PM("perm/xo1/pml4e/rwx/read/write/execute (29.3.3.2)", 4, R | W | X, 0, OK, OK, OK, P_RWX, 1, 4096),
    PM("perm/xo1/pdpte/---/not present (29.3.2)", 3, 0, 0, VI, VI, VI, 0, 3, 0),
    PM("perm/xo1/pdpte/r--/read-only (29.3.3.2)", 3, R, 0, OK, VI, VI, P_R, 1, 4096),
    PM("perm/xo1/pdpte/-w-/write-only: misconfig (29.3.3.1)", 3, W, 0, MC, MC, MC, 0, 3, 0),
    PM("perm/xo1/pdpte/rw-/read/write (29.3.3.2)", 3, R | W, 0, OK, OK, VI, P_R | P_W, 1, 4096),
    PM("perm/xo1/pdpte/--x/execute-only (29.3.3.1)", 3, X, 0, VI, VI, OK, P_X, 1, 4096),
    PM("perm/xo1/pdpte/r-x/read/execute (29.3.3.2)", 3, R | X, 0, OK, VI, OK, P_R | P_X, 1, 4096),
    PM("perm/xo1/pdpte/-wx/write/execute: misconfig (29.3.3.1)", 3, W | X, 0, MC, MC, MC, 0, 3, 0),
    PM("perm/xo1/pdpte/rwx/read/write/execute (29.3.3.2)", 3, R | W | X, 0, OK, OK, OK, P_RWX, 1, 4096),
    PM("perm/xo1/pde/---/not present (29.3.2)", 2, 0, 0, VI, VI, VI, 0, 2, 0),
    PM("perm/xo1/pde/r--/read-only (29.3.3.2)", 2, R, 0, OK, VI, VI, P_R, 1, 4096),
    PM("perm/xo1/pde/-w-/write-only: misconfig (29.3.3.1)", 2, W, 0, MC, MC, MC, 0, 2, 0),
    PM("perm/xo1/pde/rw-/read/write (29.3.3.2)", 2, R | W, 0, OK, OK, VI, P_R | P_W, 1, 4096),
    PM("perm/xo1/pde/--x/execute-only (29.3.3.1)", 2, X, 0, VI, VI, OK, P_X, 1, 4096),
    PM("perm/xo1/pde/r-x/read/execute (29.3.3.2)", 2, R | X, 0, OK, VI, OK, P_R | P_X, 1, 4096),
    PM("perm/xo1/pde/-wx/write/execute: misconfig (29.3.3.1)", 2, W | X, 0, MC, MC, MC, 0, 2, 0),
    PM("perm/xo1/pde/rwx/read/write/execute (29.3.3.2)", 2, R | W | X, 0, OK, OK, OK, P_RWX, 1, 4096),
    PM("perm/xo1/pte/---/not present (29.3.2)", 1, 0, 0, VI, VI, VI, 0, 1, 0),
    PM("perm/xo1/pte/r--/read-only (29.3.3.2)", 1, R, 0, OK, VI, VI, P_R, 1, 4096),
    PM("perm/xo1/pte/-w-/write-only: misconfig (29.3.3.1)", 1, W, 0, MC, MC, MC, 0, 1, 0),
    PM("perm/xo1/pte/rw-/read/write (29.3.3.2)", 1, R | W, 0, OK, OK, VI, P_R | P_W, 1, 4096),
    PM("perm/xo1/pte/--x/execute-only (29.3.3.1)", 1, X, 0, VI, VI, OK, P_X, 1, 4096),
    PM("perm/xo1/pte/r-x/read/execute (29.3.3.2)", 1, R | X, 0, OK, VI, OK, P_R | P_X, 1, 4096),
    PM("perm/xo1/pte/-wx/write/execute: misconfig (29.3.3.1)", 1, W | X, 0, MC, MC, MC, 0, 1, 0),
    PM("perm/xo1/pte/rwx/read/write/execute (29.3.3.2)", 1, R | W | X, 0, OK, OK, OK, P_RWX, 1, 4096),
    /* -- IA32_VMX_EPT_VPID_CAP[0] = 0: only 100b (execute-only) changes -- */
    PM("perm/xo0/pml4e/---/not present (29.3.2)", 4, 0, O_NOXO, VI, VI, VI, 0, 4, 0),
    PM("perm/xo0/pml4e/r--/read-only (29.3.3.2)", 4, R, O_NOXO, OK, VI, VI, P_R, 1, 4096),
    PM("perm/xo0/pml4e/-w-/write-only: misconfig (29.3.3.1)", 4, W, O_NOXO, MC, MC, MC, 0, 4, 0),
    PM("perm/xo0/pml4e/rw-/read/write (29.3.3.2)", 4, R | W, O_NOXO, OK, OK, VI, P_R | P_W, 1, 4096),
    PM("perm/xo0/pml4e/--x/execute-only unsupported: misconfig (29.3.3.1)", 4, X, O_NOXO, MC, MC, MC, 0, 4, 0),
    PM("perm/xo0/pml4e/r-x/read/execute (29.3.3.2)", 4, R | X, O_NOXO, OK, VI, OK, P_R | P_X, 1, 4096),
    PM("perm/xo0/pml4e/-wx/write/execute: misconfig (29.3.3.1)", 4, W | X, O_NOXO, MC, MC, MC, 0, 4, 0),
    PM("perm/xo0/pml4e/rwx/read/write/execute (29.3.3.2)", 4, R | W | X, O_NOXO, OK, OK, OK, P_RWX, 1, 4096),
    PM("perm/xo0/pdpte/---/not present (29.3.2)", 3, 0, O_NOXO, VI, VI, VI, 0, 3, 0),
    PM("perm/xo0/pdpte/r--/read-only (29.3.3.2)", 3, R, O_NOXO, OK, VI, VI, P_R, 1, 4096),
    PM("perm/xo0/pdpte/-w-/write-only: misconfig (29.3.3.1)", 3, W, O_NOXO, MC, MC, MC, 0, 3, 0),
    PM("perm/xo0/pdpte/rw-/read/write (29.3.3.2)", 3, R | W, O_NOXO, OK, OK, VI, P_R | P_W, 1, 4096),
    PM("perm/xo0/pdpte/--x/execute-only unsupported: misconfig (29.3.3.1)", 3, X, O_NOXO, MC, MC, MC, 0, 3, 0),
    PM("perm/xo0/pdpte/r-x/read/execute (29.3.3.2)", 3, R | X, O_NOXO, OK, VI, OK, P_R | P_X, 1, 4096),
    PM("perm/xo0/pdpte/-wx/write/execute: misconfig (29.3.3.1)", 3, W | X, O_NOXO, MC, MC, MC, 0, 3, 0),
    PM("perm/xo0/pdpte/rwx/read/write/execute (29.3.3.2)", 3, R | W | X, O_NOXO, OK, OK, OK, P_RWX, 1, 4096),
    PM("perm/xo0/pde/---/not present (29.3.2)", 2, 0, O_NOXO, VI, VI, VI, 0, 2, 0),
    PM("perm/xo0/pde/r--/read-only (29.3.3.2)", 2, R, O_NOXO, OK, VI, VI, P_R, 1, 4096),
    PM("perm/xo0/pde/-w-/write-only: misconfig (29.3.3.1)", 2, W, O_NOXO, MC, MC, MC, 0, 2, 0),
    PM("perm/xo0/pde/rw-/read/write (29.3.3.2)", 2, R | W, O_NOXO, OK, OK, VI, P_R | P_W, 1, 4096),
    PM("perm/xo0/pde/--x/execute-only unsupported: misconfig (29.3.3.1)", 2, X, O_NOXO, MC, MC, MC, 0, 2, 0),
    PM("perm/xo0/pde/r-x/read/execute (29.3.3.2)", 2, R | X, O_NOXO, OK, VI, OK, P_R | P_X, 1, 4096),
    PM("perm/xo0/pde/-wx/write/execute: misconfig (29.3.3.1)", 2, W | X, O_NOXO, MC, MC, MC, 0, 2, 0),
    PM("perm/xo0/pde/rwx/read/write/execute (29.3.3.2)", 2, R | W | X, O_NOXO, OK, OK, OK, P_RWX, 1, 4096),
    PM("perm/xo0/pte/---/not present (29.3.2)", 1, 0, O_NOXO, VI, VI, VI, 0, 1, 0),
    PM("perm/xo0/pte/r--/read-only (29.3.3.2)", 1, R, O_NOXO, OK, VI, VI, P_R, 1, 4096),
    PM("perm/xo0/pte/-w-/write-only: misconfig (29.3.3.1)", 1, W, O_NOXO, MC, MC, MC, 0, 1, 0),
    PM("perm/xo0/pte/rw-/read/write (29.3.3.2)", 1, R | W, O_NOXO, OK, OK, VI, P_R | P_W, 1, 4096),
    PM("perm/xo0/pte/--x/execute-only unsupported: misconfig (29.3.3.1)", 1, X, O_NOXO, MC, MC, MC, 0, 1, 0),
    PM("perm/xo0/pte/r-x/read/execute (29.3.3.2)", 1, R | X, O_NOXO, OK, VI, OK, P_R | P_X, 1, 4096),
    PM("perm/xo0/pte/-wx/write/execute: misconfig (29.3.3.1)", 1, W | X, O_NOXO, MC, MC, MC, 0, 1, 0),
    PM("perm/xo0/pte/rwx/read/write/execute (29.3.3.2)", 1, R | W | X, O_NOXO, OK, OK, OK, P_RWX, 1, 4096),
};

START_TEST(perm_matrix)
{
    const struct perm_row *row = &perm_rows[_i];
    static const unsigned accs[3] = { RD, WR, FE };
    static const char *const acc_names[3] = { "read", "write", "fetch" };
    uint64_t e[4] = { F, F, F, FL };
    e[4 - row->level] = row->rwx | (row->level == 1 ? WB : 0);
    for (int a = 0; a < 3; a++) {
        static struct fakemem m;
        build(&m, e, 1);
        struct ept_ctx c = make_ctx(row->opt, 0);
        struct ept_result r;
        enum ept_status st = ept_walk(&c, &fm_ops, &m, GPA, accs[a], true, &r);
        ck_assert_msg(st == row->want[a] && r.status == st, "%s/%s: status %d, expected %d", row->name,
                      acc_names[a], st, row->want[a]);
        ck_assert_msg(r.level == row->at, "%s/%s: level %u, expected %u", row->name, acc_names[a], r.level,
                      row->at);
        ck_assert_msg(r.page_size == row->size, "%s/%s: page size %#llx, expected %#llx", row->name,
                      acc_names[a], ULL(r.page_size), ULL(row->size));
        if (st != EPT_MISCONFIG)
            ck_assert_msg(r.perm == row->perm, "%s/%s: perm %#x, expected %#x", row->name, acc_names[a],
                          r.perm, row->perm);
        else
            ck_assert_msg(r.why != NULL, "%s/%s: misconfiguration without a rule", row->name, acc_names[a]);
        if (row->size)
            ck_assert_msg(r.hpa == (FRAME4K | (GPA & 0xFFF)), "%s/%s: hpa %#llx", row->name, acc_names[a],
                          ULL(r.hpa));
    }
}
END_TEST

/* ---- leaf memory types (29.3.3.1: 2, 3 and 7 are reserved in the entry
 * that maps the page; 29.3.7) at each page size ---- */

struct mt_row { const char *name; unsigned mt; enum ept_status want; };
static const struct mt_row mt_rows[] = {
    { "memtype/0-uc",             0, OK },
    { "memtype/1-wc",             1, OK },
    { "memtype/2-reserved",       2, MC },
    { "memtype/3-reserved",       3, MC },
    { "memtype/4-wt",             4, OK },
    { "memtype/5-wp",             5, OK },
    { "memtype/6-wb",             6, OK },
    { "memtype/7-reserved",       7, MC },
};

START_TEST(leaf_memtype)
{
    const struct mt_row *row = &mt_rows[_i];
    for (unsigned leaf = 1; leaf <= 3; leaf++) {
        static struct fakemem m;
        uint64_t e[4] = { F, F, F, F };
        e[4 - leaf] = F | MT(row->mt) | EPTE_IPAT;
        build(&m, e, leaf);
        struct ept_ctx c = make_ctx(0, 0);
        struct ept_result r;
        enum ept_status st = ept_walk(&c, &fm_ops, &m, GPA, RD, false, &r);
        ck_assert_msg(st == row->want, "%s/%llu-byte leaf: status %d, expected %d", row->name,
                      ULL(leaf_size(leaf)), st, row->want);
        ck_assert_msg(r.level == leaf, "%s/leaf %u: level %u", row->name, leaf, r.level);
        if (st == EPT_OK)
            ck_assert_msg(r.memtype == row->mt && r.ipat, "%s/leaf %u: memtype %u ipat %d", row->name, leaf,
                          r.memtype, r.ipat);
    }
}
END_TEST

/* ---- ept_entry_misconfig, one bit at a time: every bit 63:3 of each entry
 * kind, reserved exactly where the format tables of 29.3.2 say so (plus
 * 51:MAXPHYADDR everywhere). Bits 2:0 are the permissions (perm_matrix),
 * bit 7 of a PDPTE/PDE selects the kind, bits 5:3 of a leaf are the memory
 * type (leaf_memtype). ---- */

#define RANGE(hi, lo) ((~0ull >> (63 - (hi))) & ~((1ull << (lo)) - 1))

struct sweep_row {
    const char *name;
    unsigned level;
    uint64_t base;            /* a well-formed entry of that kind */
    uint64_t rsvd;            /* reserved bits besides 51:MAXPHYADDR */
    uint64_t skip;            /* bits not swept here */
};
static const struct sweep_row sweep_rows[] = {
    { "sweep/pml5e (7:3)",            5, F,           RANGE(7, 3),   RANGE(2, 0) },
    { "sweep/pml4e (7:3)",            4, F,           RANGE(7, 3),   RANGE(2, 0) },
    { "sweep/pdpte-table (6:3)",      3, F,           RANGE(6, 3),   RANGE(2, 0) | BIT(7) },
    { "sweep/pdpte-1g (29:12)",       3, F | PS | WB, RANGE(29, 12), RANGE(5, 0) | BIT(7) },
    { "sweep/pde-table (6:3)",        2, F,           RANGE(6, 3),   RANGE(2, 0) | BIT(7) },
    { "sweep/pde-2m (20:12)",         2, F | PS | WB, RANGE(20, 12), RANGE(5, 0) | BIT(7) },
    { "sweep/pte (7 ignored)",        1, F | WB,      0,             RANGE(5, 0) },
};

START_TEST(reserved_bit_sweep)
{
    const struct sweep_row *row = &sweep_rows[_i];
    static const unsigned widths[] = { 36, 39, 46, 52 };
    for (int w = 0; w < NROWS(widths); w++) {
        struct ept_ctx c = make_ctx(0, widths[w]);
        uint64_t rsvd = row->rsvd | (widths[w] < 52 ? RANGE(51, widths[w]) : 0);
        ck_assert_msg(ept_entry_misconfig(&c, row->level, row->base) == NULL, "%s: base entry %#llx rejected",
                      row->name, ULL(row->base));
        for (unsigned b = 0; b < 64; b++) {
            if (row->skip & BIT(b))
                continue;
            const char *why = ept_entry_misconfig(&c, row->level, row->base | BIT(b));
            bool want = (rsvd & BIT(b)) != 0;
            ck_assert_msg((why != NULL) == want, "%s, MAXPHYADDR %u, bit %u: %s, expected %s", row->name,
                          widths[w], b, why ? why : "accepted", want ? "reserved" : "accepted");
        }
    }
}
END_TEST

/* ---- 5-level walks (29.3.2: EPTP[5:3] = 4, PML5 index = GPA bits 56:48)
 * and guest-physical addresses beyond the walk ---- */

struct walk5_row {
    const char *name;
    uint64_t pml5e;           /* flags (PML4_PA is added) */
    uint64_t gpa;
    unsigned acc, opt, maxpa;
    enum ept_status want;
    unsigned level, perm, reads;
};
static const struct walk5_row walk5_rows[] = {
    { "5lvl/ok/pml5-index-from-bits-56:48", F, GPA5, WR, O_5LVL, 0, OK, 1, P_RWX, 5 },
    { "5lvl/ok/pml5e-read-only/read", R, GPA5, RD, O_5LVL, 0, OK, 1, P_R, 5 },
    { "5lvl/pml5e-read-only/write", R, GPA5, WR, O_5LVL, 0, VI, 1, P_R, 5 },
    { "5lvl/pml5e-not-present", 0, GPA5, RD, O_5LVL, 0, VI, 5, 0, 1 },
    { "5lvl/pml5e-garbage-not-present", ~7ull, GPA5, RD, O_5LVL, 0, VI, 5, 0, 1 },
    { "5lvl/bits-56:48-zero-select-empty-pml5e-0", F, GPA, RD, O_5LVL, 0, VI, 5, 0, 1 },
    { "5lvl/pml5e-bit7-reserved (7:3)", F | BIT(7), GPA5, RD, O_5LVL, 0, MC, 5, 0, 1 },
    { "5lvl/pml5e-bit3-reserved (7:3)", F | BIT(3), GPA5, RD, O_5LVL, 0, MC, 5, 0, 1 },
    { "5lvl/pml5e-bit46-reserved (51:N, N=46)", F | BIT(46), GPA5, RD, O_5LVL, 46, MC, 5, 0, 1 },
    { "5lvl/pml5e-bit39-reserved (51:N, N=39)", F | BIT(39), GPA5, RD, O_5LVL, 39, MC, 5, 0, 1 },
    { "5lvl/pml5e-write-only", W, GPA5, RD, O_5LVL, 0, MC, 5, 0, 1 },
    { "5lvl/pml5e-execute-only/no-cap0", X, GPA5, FE, O_5LVL | O_NOXO, 0, MC, 5, 0, 1 },
    { "5lvl/gpa-bit57-beyond-57-bit-walk", F, GPA5 | BIT(57), RD, O_5LVL, 0, VI, 5, 0, 0 },
    { "5lvl/gpa-bit63-beyond-57-bit-walk", F, GPA5 | BIT(63), RD, O_5LVL, 0, VI, 5, 0, 0 },
    /* Beyond the walk no entry maps the GPA: ept.c reports a violation with
     * no permissions at the top level and reads nothing (hvsim's choice). */
    { "4lvl/gpa-bit48-beyond-48-bit-walk", F, GPA | BIT(48), RD, 0, 0, VI, 4, 0, 0 },
    { "4lvl/gpa-bits-56:48-beyond-48-bit-walk", F, GPA5, RD, 0, 52, VI, 4, 0, 0 },
    { "4lvl/gpa-bit63-beyond-48-bit-walk", F, GPA | BIT(63), WR, 0, 0, VI, 4, 0, 0 },
};

START_TEST(walk_5level)
{
    const struct walk5_row *row = &walk5_rows[_i];
    static struct fakemem m;
    build(&m, std_flags, 1);
    *fm_slot(&m, entry_pa(5)) = PML4_PA | row->pml5e;
    struct ept_ctx c = make_ctx(row->opt, row->maxpa);
    struct ept_result r;
    enum ept_status st = ept_walk(&c, &fm_ops, &m, row->gpa, row->acc, false, &r);
    ck_assert_msg(st == row->want && r.status == st, "%s: status %d, expected %d (why %s)", row->name, st,
                  row->want, r.why ? r.why : "-");
    ck_assert_msg(r.level == row->level, "%s: level %u, expected %u", row->name, r.level, row->level);
    ck_assert_msg(m.reads == row->reads, "%s: %u entries read, expected %u", row->name, m.reads, row->reads);
    if (st != EPT_MISCONFIG)
        ck_assert_msg(r.perm == row->perm, "%s: perm %#x, expected %#x", row->name, r.perm, row->perm);
    if (row->level == 5 && row->reads == 1)
        ck_assert_msg(r.entry_hpa == PML5_PA + 8ull * ((row->gpa >> 48) & 511), "%s: entry_hpa %#llx",
                      row->name, ULL(r.entry_hpa));
    if (st == EPT_OK) {
        ck_assert_msg(r.hpa == (FRAME4K | (row->gpa & 0xFFF)), "%s: hpa %#llx", row->name, ULL(r.hpa));
        ck_assert_msg(r.page_base_gpa == (row->gpa & ~0xFFFull), "%s: page_base_gpa %#llx", row->name,
                      ULL(r.page_base_gpa));
    }
}
END_TEST

/* EPTP[5:3] other than 3 or 4: VM entry refuses it (ept_eptp_invalid); the
 * walk says so instead of guessing. */
START_TEST(walk_length_unsupported)
{
    for (uint64_t wl = 0; wl < 8; wl++) {
        if (wl == 3 || wl == 4)
            continue;
        static struct fakemem m;
        build(&m, std_flags, 1);
        struct ept_ctx c = make_ctx(0, 0);
        c.eptp = PML4_PA | 6 | (wl << 3);
        struct ept_result r;
        enum ept_status st = ept_walk(&c, &fm_ops, &m, GPA, RD, true, &r);
        ck_assert_msg(st == EPT_UNSUPPORTED && r.status == st && r.why != NULL,
                      "EPTP[5:3] = %llu: status %d", ULL(wl), st);
        ck_assert_msg(m.reads == 0, "EPTP[5:3] = %llu: %u reads", ULL(wl), m.reads);
    }
}
END_TEST

/* ---- hpa and page_base_* for each page size: the offset within the page
 * comes from the GPA, the rest from the leaf (29.3.2) ---- */

struct hpa_row {
    const char *name;
    unsigned leaf;
    uint64_t gpa, hpa, base_gpa, base_hpa, size;
};
static const struct hpa_row hpa_rows[] = {
    { "hpa/4k/offset-0x456",   1, 0x6ABCDE123456ull, 0x7654321456ull, 0x6ABCDE123000ull, 0x7654321000ull, 0x1000 },
    { "hpa/4k/offset-0",       1, 0x6ABCDE123000ull, 0x7654321000ull, 0x6ABCDE123000ull, 0x7654321000ull, 0x1000 },
    { "hpa/4k/offset-0xfff",   1, 0x6ABCDE123FFFull, 0x7654321FFFull, 0x6ABCDE123000ull, 0x7654321000ull, 0x1000 },
    { "hpa/2m/offset-0x123456", 2, 0x6ABCDE123456ull, 0x7654323456ull, 0x6ABCDE000000ull, 0x7654200000ull,
      0x200000 },
    { "hpa/2m/offset-0x1fffff", 2, 0x6ABCDE1FFFFFull, 0x76543FFFFFull, 0x6ABCDE000000ull, 0x7654200000ull,
      0x200000 },
    { "hpa/2m/offset-0",       2, 0x6ABCDE000000ull, 0x7654200000ull, 0x6ABCDE000000ull, 0x7654200000ull,
      0x200000 },
    { "hpa/1g/offset-0x1e123456", 3, 0x6ABCDE123456ull, 0x765E123456ull, 0x6ABCC0000000ull, 0x7640000000ull,
      0x40000000 },
    { "hpa/1g/offset-0x3fffffff", 3, 0x6ABCFFFFFFFFull, 0x767FFFFFFFull, 0x6ABCC0000000ull, 0x7640000000ull,
      0x40000000 },
    { "hpa/1g/offset-0",       3, 0x6ABCC0000000ull, 0x7640000000ull, 0x6ABCC0000000ull, 0x7640000000ull,
      0x40000000 },
};

START_TEST(hpa_of_each_page_size)
{
    const struct hpa_row *row = &hpa_rows[_i];
    static struct fakemem m;
    uint64_t e[4] = { F, F, F, FL };
    e[4 - row->leaf] = FL;
    build(&m, e, row->leaf);
    struct ept_ctx c = make_ctx(0, 0);
    struct ept_result r;
    ck_assert_msg(ept_walk(&c, &fm_ops, &m, row->gpa, RD, false, &r) == EPT_OK, "%s: status %d", row->name,
                  r.status);
    ck_assert_msg(r.hpa == row->hpa, "%s: hpa %#llx, expected %#llx", row->name, ULL(r.hpa), ULL(row->hpa));
    ck_assert_msg(r.page_base_gpa == row->base_gpa, "%s: page_base_gpa %#llx, expected %#llx", row->name,
                  ULL(r.page_base_gpa), ULL(row->base_gpa));
    ck_assert_msg(r.page_base_hpa == row->base_hpa, "%s: page_base_hpa %#llx, expected %#llx", row->name,
                  ULL(r.page_base_hpa), ULL(row->base_hpa));
    ck_assert_msg(r.page_size == row->size, "%s: page_size %#llx, expected %#llx", row->name, ULL(r.page_size),
                  ULL(row->size));
    ck_assert_msg(r.level == row->leaf, "%s: level %u", row->name, r.level);
}
END_TEST

/* ---- accessed and dirty flags (29.3.5) ---- */

#define A EPTE_A
#define D EPTE_D

struct ad_row {
    const char *name;
    unsigned leaf, acc, opt;
    bool set_ad;
    uint64_t e[4];            /* entry flags before the walk */
    enum ept_status want;
    uint64_t add[4];          /* bits each entry gains (PML4E .. PTE) */
    bool dirty;               /* EPT_OK: res.dirty */
    unsigned cas;             /* cmpxchg calls */
};

static const struct ad_row ad_rows[] = {
    /* A in every entry used; D in the leaf for a write. */
    { "ad/4k/read",  1, RD, O_AD, true, { F, F, F, FL }, OK, { A, A, A, A }, false, 4 },
    { "ad/4k/fetch", 1, FE, O_AD, true, { F, F, F, FL }, OK, { A, A, A, A }, false, 4 },
    { "ad/4k/write", 1, WR, O_AD, true, { F, F, F, FL }, OK, { A, A, A, A | D }, true, 4 },
    { "ad/4k/rmw",   1, RD | WR, O_AD, true, { F, F, F, FL }, OK, { A, A, A, A | D }, true, 4 },
    { "ad/2m/write/d-in-pde-only", 2, WR, O_AD, true, { F, F, FL, 0 }, OK, { A, A, A | D, 0 }, true, 3 },
    { "ad/2m/read",  2, RD, O_AD, true, { F, F, FL, 0 }, OK, { A, A, A, 0 }, false, 3 },
    { "ad/1g/write/d-in-pdpte-only", 3, WR, O_AD, true, { F, FL, 0, 0 }, OK, { A, A | D, 0, 0 }, true, 2 },
    { "ad/1g/fetch", 3, FE, O_AD, true, { F, FL, 0, 0 }, OK, { A, A, 0, 0 }, false, 2 },
    /* Guest paging-structure accesses are writes for A/D (29.3.5). */
    { "ad/4k/paging-read-sets-d", 1, RD | PG, O_AD, true, { F, F, F, FL }, OK, { A, A, A, A | D }, true, 4 },
    { "ad/2m/paging-read-sets-d", 2, RD | PG, O_AD, true, { F, F, FL, 0 }, OK, { A, A, A | D, 0 }, true, 3 },
    { "ad/1g/paging-write-sets-d", 3, WR | PG, O_AD, true, { F, FL, 0, 0 }, OK, { A, A | D, 0, 0 }, true, 2 },
    /* Flags already set: no write at all; only what is missing is added. */
    { "ad/all-set/no-cmpxchg", 1, WR, O_AD, true, { F | A, F | A, F | A, FL | A | D }, OK, { 0, 0, 0, 0 },
      true, 0 },
    { "ad/a-set/write-adds-d-only", 1, WR, O_AD, true, { F | A, F | A, F | A, FL | A }, OK, { 0, 0, 0, D },
      true, 1 },
    { "ad/read-of-dirty-page-reports-dirty", 1, RD, O_AD, true, { F, F, F, FL | D }, OK, { A, A, A, A }, true,
      4 },
    /* Bit 9 of a non-leaf entry is ignored, not a dirty flag: left alone. */
    { "ad/non-leaf-bit9-untouched", 1, WR, O_AD, true, { F | D, F | D, F | D, FL }, OK, { A, A, A, A | D },
      true, 4 },
    /* EPTP[6] = 0: bits 8 and 9 are ignored, nothing is written, and dirty is true. */
    { "ad/eptp6-clear/write", 1, WR, 0, true, { F, F, F, FL }, OK, { 0, 0, 0, 0 }, true, 0 },
    { "ad/eptp6-clear/paging-read", 1, RD | PG, 0, true, { F, F, F, FL }, OK, { 0, 0, 0, 0 }, true, 0 },
    { "ad/eptp6-clear/2m-write", 2, WR, 0, true, { F, F, FL, 0 }, OK, { 0, 0, 0, 0 }, true, 0 },
    /* set_ad = false: the caller only probes; dirty is the leaf's D. */
    { "ad/set-ad-false/write", 1, WR, O_AD, false, { F, F, F, FL }, OK, { 0, 0, 0, 0 }, false, 0 },
    { "ad/set-ad-false/dirty-page", 1, WR, O_AD, false, { F, F, F, FL | D }, OK, { 0, 0, 0, 0 }, true, 0 },
    /* A violation or misconfiguration writes nothing. */
    { "ad/violation/write-to-read-only-pte", 1, WR, O_AD, true, { F, F, F, R | WB }, VI, { 0, 0, 0, 0 },
      false, 0 },
    { "ad/violation/not-present-pte", 1, RD, O_AD, true, { F, F, F, 0 }, VI, { 0, 0, 0, 0 }, false, 0 },
    { "ad/violation/not-present-pde", 1, RD, O_AD, true, { F, F, 0, FL }, VI, { 0, 0, 0, 0 }, false, 0 },
    { "ad/violation/fetch-from-nx-2m", 2, FE, O_AD, true, { F, F, R | W | WB, 0 }, VI, { 0, 0, 0, 0 }, false,
      0 },
    { "ad/misconfig/reserved-pte", 1, RD, O_AD, true, { F, F, F, FL | BIT(50) }, MC, { 0, 0, 0, 0 }, false, 0 },
    /* Paging-structure accesses need write permission with EPTP[6] = 1 (29.3.3.2). */
    { "ad/paging-read/read-only-pte/eptp6-set", 1, RD | PG, O_AD, true, { F, F, F, R | X | WB }, VI,
      { 0, 0, 0, 0 }, false, 0 },
    { "ad/paging-read/read-only-pml4e/eptp6-set", 1, RD | PG, O_AD, true, { R | X, F, F, FL }, VI,
      { 0, 0, 0, 0 }, false, 0 },
    { "ad/paging-read/read-only-pte/eptp6-clear", 1, RD | PG, 0, true, { F, F, F, R | X | WB }, OK,
      { 0, 0, 0, 0 }, true, 0 },
};

START_TEST(accessed_dirty)
{
    const struct ad_row *row = &ad_rows[_i];
    static struct fakemem m, before;
    build(&m, row->e, row->leaf);
    before = m;
    struct ept_ctx c = make_ctx(row->opt, 0);
    struct ept_result r;
    enum ept_status st = ept_walk(&c, &fm_ops, &m, GPA, row->acc, row->set_ad, &r);
    ck_assert_msg(st == row->want && r.status == st, "%s: status %d, expected %d", row->name, st, row->want);
    for (unsigned lv = 4; lv >= 1; lv--) {
        uint64_t was = *fm_slot(&before, entry_pa(lv)), now = *fm_slot(&m, entry_pa(lv));
        uint64_t want = was | row->add[4 - lv];
        ck_assert_msg(now == want, "%s: level-%u entry %#llx after the walk, expected %#llx", row->name, lv,
                      ULL(now), ULL(want));
        *fm_slot(&before, entry_pa(lv)) = now;
    }
    ck_assert_msg(memcmp(&m.pg, &before.pg, sizeof(m.pg)) == 0, "%s: the walk wrote outside its entries",
                  row->name);
    ck_assert_msg(m.cas_calls == row->cas, "%s: %u cmpxchg calls, expected %u", row->name, m.cas_calls,
                  row->cas);
    if (st == EPT_OK) {
        ck_assert_msg(r.dirty == row->dirty, "%s: dirty %d, expected %d", row->name, r.dirty, row->dirty);
        ck_assert_msg(r.entry == *fm_slot(&m, entry_pa(row->leaf)), "%s: res.entry %#llx is not the leaf as "
                      "finally written", row->name, ULL(r.entry));
    }
}
END_TEST

/* A cmpxchg that fails (the entry changed underneath) restarts the walk from
 * the EPTP; what the restarted walk reads decides. */
START_TEST(cmpxchg_failure_restarts_walk)
{
    static struct fakemem m;
    build(&m, std_flags, 1);
    uint64_t pdpte = *fm_slot(&m, entry_pa(3));
    m.interfere_at = 2;                        /* the PDPTE's A update; bit 52 is ignored */
    m.interfere_val = pdpte | BIT(52);
    struct ept_ctx c = make_ctx(O_AD, 0);
    struct ept_result r;
    ck_assert_int_eq(ept_walk(&c, &fm_ops, &m, GPA, WR, true, &r), EPT_OK);
    ck_assert_uint_eq(m.reads, 8);             /* two walks of four entries */
    ck_assert_uint_eq(m.cas_calls, 5);         /* PML4E, PDPTE (fails); PDPTE, PDE, PTE */
    ck_assert_uint_eq(*fm_slot(&m, entry_pa(4)), PDPT_PA | F | A);
    ck_assert_uint_eq(*fm_slot(&m, entry_pa(3)), pdpte | BIT(52) | A);
    ck_assert_uint_eq(*fm_slot(&m, entry_pa(2)), PT_PA | F | A);
    ck_assert_uint_eq(*fm_slot(&m, entry_pa(1)), FRAME4K | FL | A | D);
    ck_assert(r.dirty);
    ck_assert_uint_eq(r.entry, FRAME4K | FL | A | D);
}
END_TEST

START_TEST(cmpxchg_failure_restart_sees_not_present)
{
    static struct fakemem m;
    build(&m, std_flags, 1);
    m.interfere_at = 3;                        /* the PDE is cleared before its A update */
    m.interfere_val = 0;
    struct ept_ctx c = make_ctx(O_AD, 0);
    struct ept_result r;
    ck_assert_int_eq(ept_walk(&c, &fm_ops, &m, GPA, RD, true, &r), EPT_VIOLATION);
    ck_assert_uint_eq(r.level, 2);
    ck_assert_uint_eq(r.perm, 0);
    ck_assert_uint_eq(r.entry_hpa, entry_pa(2));
    ck_assert_uint_eq(*fm_slot(&m, entry_pa(1)), FRAME4K | FL);   /* the PTE was not reached again */
}
END_TEST

START_TEST(cmpxchg_failure_restart_sees_read_only)
{
    static struct fakemem m;
    build(&m, std_flags, 1);
    m.interfere_at = 4;                        /* the PTE becomes read-only before its A/D update */
    m.interfere_val = FRAME4K | R | WB;
    struct ept_ctx c = make_ctx(O_AD, 0);
    struct ept_result r;
    ck_assert_int_eq(ept_walk(&c, &fm_ops, &m, GPA, WR, true, &r), EPT_VIOLATION);
    ck_assert_uint_eq(r.level, 1);
    ck_assert_uint_eq(r.perm, P_R);
    ck_assert_uint_eq(*fm_slot(&m, entry_pa(1)), FRAME4K | R | WB);
    ck_assert_uint_eq(m.cas_calls, 4);         /* none on the restarted walk */
}
END_TEST

/* An entry that keeps changing cannot hang the walk: ept.c gives up after 8
 * attempts and reports EPT_BUS_ERROR (the caller stops loudly). */
START_TEST(cmpxchg_always_failing_terminates)
{
    static struct fakemem m;
    build(&m, std_flags, 1);
    m.interfere_always = true;
    struct ept_ctx c = make_ctx(O_AD, 0);
    struct ept_result r;
    ck_assert_int_eq(ept_walk(&c, &fm_ops, &m, GPA, RD, true, &r), EPT_BUS_ERROR);
    ck_assert_uint_eq(r.status, EPT_BUS_ERROR);
    ck_assert_uint_eq(m.cas_calls, 8);
    ck_assert_uint_eq(m.cas_ok, 0);
    ck_assert_uint_eq(m.reads, 32);
}
END_TEST

/* ---- an EPT paging structure outside backed memory: EPT_BUS_ERROR naming
 * the entry that could not be read ---- */

struct bus_row { const char *name; unsigned level; uint64_t table; unsigned opt; };
static const struct bus_row bus_rows[] = {
    { "bus/pml5-outside-memory",  5, 0x0000001000000000ull, O_5LVL },
    { "bus/pml4-outside-memory",  4, 0x0000000000100000ull, 0 },
    { "bus/pdpt-outside-memory",  3, 0x00000000FFFFF000ull, 0 },
    { "bus/pd-outside-memory",    2, 0x0000200000000000ull, 0 },
    { "bus/pt-outside-memory",    1, FM_SIZE, 0 },
};

START_TEST(bus_error)
{
    const struct bus_row *row = &bus_rows[_i];
    static struct fakemem m;
    build(&m, std_flags, 1);
    *fm_slot(&m, entry_pa(5)) = PML4_PA | F;
    struct ept_ctx c = make_ctx(row->opt, 0);
    unsigned top = (row->opt & O_5LVL) ? 5 : 4;
    if (row->level == top)
        c.eptp = (c.eptp & 0xFFF) | row->table;
    else
        *fm_slot(&m, entry_pa(row->level + 1)) = row->table | F;
    struct ept_result r;
    enum ept_status st = ept_walk(&c, &fm_ops, &m, GPA5 & ((top == 5) ? ~0ull : RANGE(47, 0)), RD, true, &r);
    uint64_t want = row->table + 8ull * idx_of(GPA5, row->level);
    ck_assert_msg(st == EPT_BUS_ERROR && r.status == st, "%s: status %d", row->name, st);
    ck_assert_msg(r.entry_hpa == want, "%s: entry_hpa %#llx, expected %#llx", row->name, ULL(r.entry_hpa),
                  ULL(want));
    ck_assert_msg(r.level == row->level, "%s: level %u, expected %u", row->name, r.level, row->level);
    ck_assert_msg(m.reads == top - row->level + 1, "%s: %u reads", row->name, m.reads);
    ck_assert_msg(m.cas_calls == 0, "%s: cmpxchg on a failed walk", row->name);
}
END_TEST

/* ---- ept_eptp_invalid: the EPTP checks of VM entry (27.2.1.1, EPTP format
 * 25.6.11, capabilities A.10), each rule from both sides ---- */

#define EPTP_OKBASE (0x12345000ull | 6 | (3ull << 3))   /* WB, 4-level */
#define CAP_EPTP (EPTCAP_UC | EPTCAP_WB | EPTCAP_WALK4 | EPTCAP_WALK5 | EPTCAP_AD)

struct eptp_row {
    const char *name;
    uint64_t eptp, cap;
    unsigned maxpa;
    const char *want;         /* NULL: valid; else a word the message must contain */
};
static const struct eptp_row eptp_rows[] = {
    { "eptp/valid/wb-4level",                   EPTP_OKBASE, CAP_EPTP, 46, NULL },
    { "eptp/mt/wb-with-cap14",                  0x1000 | 6 | (3 << 3), EPTCAP_WB | EPTCAP_WALK4, 46, NULL },
    { "eptp/mt/wb-without-cap14",               0x1000 | 6 | (3 << 3), EPTCAP_UC | EPTCAP_WALK4, 46, "2:0" },
    { "eptp/mt/uc-with-cap8",                   0x1000 | 0 | (3 << 3), EPTCAP_UC | EPTCAP_WALK4, 46, NULL },
    { "eptp/mt/uc-without-cap8",                0x1000 | 0 | (3 << 3), EPTCAP_WB | EPTCAP_WALK4, 46, "2:0" },
    { "eptp/mt/1-wc-invalid",                   0x1000 | 1 | (3 << 3), CAP_EPTP, 46, "2:0" },
    { "eptp/mt/2-invalid",                      0x1000 | 2 | (3 << 3), CAP_EPTP, 46, "2:0" },
    { "eptp/mt/3-invalid",                      0x1000 | 3 | (3 << 3), CAP_EPTP, 46, "2:0" },
    { "eptp/mt/4-wt-invalid",                   0x1000 | 4 | (3 << 3), CAP_EPTP, 46, "2:0" },
    { "eptp/mt/5-wp-invalid",                   0x1000 | 5 | (3 << 3), CAP_EPTP, 46, "2:0" },
    { "eptp/mt/7-invalid",                      0x1000 | 7 | (3 << 3), CAP_EPTP, 46, "2:0" },
    { "eptp/walk/4-with-cap6",                  0x1000 | 6 | (3 << 3), EPTCAP_WB | EPTCAP_WALK4, 46, NULL },
    { "eptp/walk/4-without-cap6",               0x1000 | 6 | (3 << 3), EPTCAP_WB | EPTCAP_WALK5, 46, "5:3" },
    { "eptp/walk/5-with-cap7",                  0x1000 | 6 | (4 << 3), EPTCAP_WB | EPTCAP_WALK5, 46, NULL },
    { "eptp/walk/5-without-cap7",               0x1000 | 6 | (4 << 3), EPTCAP_WB | EPTCAP_WALK4, 46, "5:3" },
    { "eptp/walk/1-invalid",                    0x1000 | 6 | (0 << 3), CAP_EPTP, 46, "5:3" },
    { "eptp/walk/2-invalid",                    0x1000 | 6 | (1 << 3), CAP_EPTP, 46, "5:3" },
    { "eptp/walk/3-invalid",                    0x1000 | 6 | (2 << 3), CAP_EPTP, 46, "5:3" },
    { "eptp/walk/6-invalid",                    0x1000 | 6 | (5 << 3), CAP_EPTP, 46, "5:3" },
    { "eptp/walk/7-invalid",                    0x1000 | 6 | (6 << 3), CAP_EPTP, 46, "5:3" },
    { "eptp/walk/8-invalid",                    0x1000 | 6 | (7 << 3), CAP_EPTP, 46, "5:3" },
    { "eptp/ad/bit6-with-cap21",                EPTP_OKBASE | BIT(6), CAP_EPTP, 46, NULL },
    { "eptp/ad/bit6-without-cap21",             EPTP_OKBASE | BIT(6), CAP_EPTP & ~EPTCAP_AD, 46, "bit 6" },
    { "eptp/ad/bit6-clear-without-cap21",       EPTP_OKBASE, CAP_EPTP & ~EPTCAP_AD, 46, NULL },
    /* Bit 7 is reserved here; later SDMs give it to CET supervisor shadow
     * stacks, which hvsim does not model. */
    { "eptp/rsvd/bit7",                         EPTP_OKBASE | BIT(7), CAP_EPTP, 46, "11:7" },
    { "eptp/rsvd/bit8",                         EPTP_OKBASE | BIT(8), CAP_EPTP, 46, "11:7" },
    { "eptp/rsvd/bit9",                         EPTP_OKBASE | BIT(9), CAP_EPTP, 46, "11:7" },
    { "eptp/rsvd/bit10",                        EPTP_OKBASE | BIT(10), CAP_EPTP, 46, "11:7" },
    { "eptp/rsvd/bit11",                        EPTP_OKBASE | BIT(11), CAP_EPTP, 46, "11:7" },
    { "eptp/addr/n46/bit45-ok",                 EPTP_OKBASE | BIT(45), CAP_EPTP, 46, NULL },
    { "eptp/addr/n46/bit46",                    EPTP_OKBASE | BIT(46), CAP_EPTP, 46, "physical-address width" },
    { "eptp/addr/n46/bit51",                    EPTP_OKBASE | BIT(51), CAP_EPTP, 46, "physical-address width" },
    { "eptp/addr/n46/bit52",                    EPTP_OKBASE | BIT(52), CAP_EPTP, 46, "physical-address width" },
    { "eptp/addr/n46/bit63",                    EPTP_OKBASE | BIT(63), CAP_EPTP, 46, "physical-address width" },
    { "eptp/addr/n39/bit38-ok",                 EPTP_OKBASE | BIT(38), CAP_EPTP, 39, NULL },
    { "eptp/addr/n39/bit39",                    EPTP_OKBASE | BIT(39), CAP_EPTP, 39, "physical-address width" },
    { "eptp/addr/n52/bit51-ok",                 EPTP_OKBASE | BIT(51), CAP_EPTP, 52, NULL },
    { "eptp/addr/n52/bit52",                    EPTP_OKBASE | BIT(52), CAP_EPTP, 52, "physical-address width" },
};

START_TEST(eptp_checks)
{
    const struct eptp_row *row = &eptp_rows[_i];
    const char *why = ept_eptp_invalid(row->eptp, row->cap, row->maxpa);
    if (!row->want) {
        ck_assert_msg(why == NULL, "%s: rejected: %s", row->name, why);
        return;
    }
    ck_assert_msg(why != NULL, "%s: accepted, expected a failure about %s", row->name, row->want);
    ck_assert_msg_contains(row->name, why, row->want);
}
END_TEST

/* ---- ept_violation_qual: table "Exit Qualification for EPT Violations"
 * (28.2.1), every bit 12:0 ---- */

#define Q(n) (1ull << (n))

struct qual_row {
    const char *name;
    unsigned opt;             /* O_AD, O_MBEC, O_NOADV */
    unsigned perm;            /* res.perm from the walk */
    struct ept_qual_in in;
    uint64_t want;
};

#define QI(acc, gv, gt, u, w, nx, nmi) { acc, gv, gt, u, w, nx, nmi }

static const struct qual_row qual_rows[] = {
    /* bits 2:0: the access */
    { "qual/bit0/read",                  0, 0, QI(RD, 0, 0, 0, 0, 0, 0), Q(0) },
    { "qual/bit1/write",                 0, 0, QI(WR, 0, 0, 0, 0, 0, 0), Q(1) },
    { "qual/bit2/fetch",                 0, 0, QI(FE, 0, 0, 0, 0, 0, 0), Q(2) },
    { "qual/bit2/user-fetch-mbec",       O_MBEC, 0, QI(FE | US, 0, 0, 0, 0, 0, 0), Q(2) },
    { "qual/bits1:0/read-modify-write",  0, 0, QI(RD | WR, 0, 0, 0, 0, 0, 0), Q(0) | Q(1) },
    /* A guest paging-structure access with EPTP[6] = 1 sets bits 0 and 1 (note to bit 0). */
    { "qual/bits1:0/paging-read/eptp6-set", O_AD, P_R, QI(RD | PG, 1, 0, 0, 0, 0, 0), Q(0) | Q(1) | Q(3) | Q(7) },
    { "qual/bit0/paging-read/eptp6-clear", 0, 0, QI(RD | PG, 1, 0, 0, 0, 0, 0), Q(0) | Q(7) },
    { "qual/bit1/paging-ad-write/eptp6-clear", 0, P_R, QI(WR | PG, 1, 0, 0, 0, 0, 0), Q(1) | Q(3) | Q(7) },
    { "qual/bit0/plain-read/eptp6-set",  O_AD, 0, QI(RD, 0, 0, 0, 0, 0, 0), Q(0) },
    /* bits 6:3: the permissions of the walk */
    { "qual/bit3/readable",              0, P_R, QI(WR, 0, 0, 0, 0, 0, 0), Q(1) | Q(3) },
    { "qual/bit4/writable",              0, P_R | P_W, QI(FE, 0, 0, 0, 0, 0, 0), Q(2) | Q(3) | Q(4) },
    { "qual/bit5/executable",            0, P_X, QI(RD, 0, 0, 0, 0, 0, 0), Q(0) | Q(5) },
    { "qual/bits5:3/not-present-is-0",   0, 0, QI(RD, 0, 0, 0, 0, 0, 0), Q(0) },
    { "qual/bit5/mbec-supervisor-executable", O_MBEC, P_R | P_X, QI(FE | US, 0, 0, 0, 0, 0, 0),
      Q(2) | Q(3) | Q(5) },
    { "qual/bit6/mbec-user-executable",  O_MBEC, P_R | P_XU, QI(FE, 0, 0, 0, 0, 0, 0), Q(2) | Q(3) | Q(6) },
    { "qual/bit6/clear-without-mbec",    0, P_R | P_XU, QI(WR, 0, 0, 0, 0, 0, 0), Q(1) | Q(3) },
    { "qual/bits6:3/all",                O_MBEC, P_RWX | P_XU, QI(RD, 0, 0, 0, 0, 0, 0),
      Q(0) | Q(3) | Q(4) | Q(5) | Q(6) },
    /* bits 8:7: guest linear address */
    { "qual/bit7/gla-valid-paging-entry", 0, 0, QI(RD, 1, 0, 0, 0, 0, 0), Q(0) | Q(7) },
    { "qual/bits8:7/translation",        0, 0, QI(RD, 1, 1, 0, 0, 0, 0), Q(0) | Q(7) | Q(8) },
    { "qual/bit8/clear-when-bit7-clear", 0, 0, QI(RD, 0, 1, 0, 0, 0, 0), Q(0) },
    /* bits 11:9: only with IA32_VMX_EPT_VPID_CAP[22] and bits 7 and 8 set */
    { "qual/bit9/user-linear-address",   0, 0, QI(RD, 1, 1, 1, 0, 0, 0), Q(0) | Q(7) | Q(8) | Q(9) },
    { "qual/bit10/writable-linear-address", 0, 0, QI(WR, 1, 1, 0, 1, 0, 0), Q(1) | Q(7) | Q(8) | Q(10) },
    { "qual/bit11/execute-disable",      0, 0, QI(RD, 1, 1, 0, 0, 1, 0), Q(0) | Q(7) | Q(8) | Q(11) },
    { "qual/bits11:9/all",               0, 0, QI(RD, 1, 1, 1, 1, 1, 0), Q(0) | Q(7) | Q(8) | Q(9) | Q(10) | Q(11) },
    { "qual/bits11:9/no-cap22",          O_NOADV, 0, QI(RD, 1, 1, 1, 1, 1, 0), Q(0) | Q(7) | Q(8) },
    { "qual/bits11:9/bit8-clear",        0, 0, QI(RD, 1, 0, 1, 1, 1, 0), Q(0) | Q(7) },
    { "qual/bits11:9/bit7-clear",        0, 0, QI(RD, 0, 0, 1, 1, 1, 0), Q(0) },
    { "qual/bits11:9/bit7-clear-bit8-asked", 0, 0, QI(RD, 0, 1, 1, 1, 1, 0), Q(0) },
    /* bit 12: NMI unblocking due to IRET */
    { "qual/bit12/nmi-unblocked",        0, 0, QI(RD, 0, 0, 0, 0, 0, 1), Q(0) | Q(12) },
    { "qual/bit12/with-everything",      O_MBEC | O_AD, P_RWX | P_XU, QI(FE | US, 1, 1, 1, 1, 1, 1),
      Q(2) | Q(3) | Q(4) | Q(5) | Q(6) | Q(7) | Q(8) | Q(9) | Q(10) | Q(11) | Q(12) },
};

START_TEST(violation_qual)
{
    const struct qual_row *row = &qual_rows[_i];
    struct ept_ctx c = make_ctx(row->opt, 0);
    struct ept_result r = { .status = EPT_VIOLATION, .perm = row->perm };
    uint64_t q = ept_violation_qual(&c, &r, &row->in);
    ck_assert_msg(q == row->want, "%s: qualification %#llx, expected %#llx", row->name, ULL(q), ULL(row->want));
}
END_TEST

/* The walk and the qualification together: a not-present PTE under fully
 * permissive upper levels reports no permissions (bits 5:3 = 0); a
 * read-only EPT page holding a guest page table with EPTP[6] = 1 reports
 * bits 0, 1 and 3. */
START_TEST(qual_from_walk)
{
    static struct fakemem m;
    struct ept_result r;
    struct ept_qual_in in = { .acc = WR, .gla_valid = true, .gla_translation = true, .guest_writable = true };
    const uint64_t np[4] = { F, F, F, 0 };
    build(&m, np, 1);
    struct ept_ctx c = make_ctx(0, 0);
    ck_assert_int_eq(ept_walk(&c, &fm_ops, &m, GPA, WR, true, &r), EPT_VIOLATION);
    ck_assert_uint_eq(ept_violation_qual(&c, &r, &in), Q(1) | Q(7) | Q(8) | Q(10));

    const uint64_t ro[4] = { F, F, F, R | WB };
    build(&m, ro, 1);
    c = make_ctx(O_AD, 0);
    ck_assert_int_eq(ept_walk(&c, &fm_ops, &m, GPA, RD | PG, true, &r), EPT_VIOLATION);
    in = (struct ept_qual_in){ .acc = RD | PG, .gla_valid = true, .gla_translation = false };
    ck_assert_uint_eq(ept_violation_qual(&c, &r, &in), Q(0) | Q(1) | Q(3) | Q(7));

    const uint64_t xo[4] = { FX, FX, R | XU, FXL };
    build(&m, xo, 1);
    c = make_ctx(O_MBEC, 0);
    ck_assert_int_eq(ept_walk(&c, &fm_ops, &m, GPA, FE, true, &r), EPT_VIOLATION);
    in = (struct ept_qual_in){ .acc = FE, .gla_valid = true, .gla_translation = true };
    ck_assert_uint_eq(r.perm, P_R | P_XU);
    ck_assert_uint_eq(ept_violation_qual(&c, &r, &in), Q(2) | Q(3) | Q(6) | Q(7) | Q(8));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ept");
    TCase *t = harness_tcase("walk");
    ADD_ROWS(t, walk_table, walk_rows);
    ADD_ROWS(t, perm_matrix, perm_rows);
    ADD_ROWS(t, leaf_memtype, mt_rows);
    ADD_ROWS(t, reserved_bit_sweep, sweep_rows);
    ADD_ROWS(t, walk_5level, walk5_rows);
    tcase_add_test(t, walk_length_unsupported);
    ADD_ROWS(t, hpa_of_each_page_size, hpa_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("accessed_dirty");
    ADD_ROWS(t, accessed_dirty, ad_rows);
    tcase_add_test(t, cmpxchg_failure_restarts_walk);
    tcase_add_test(t, cmpxchg_failure_restart_sees_not_present);
    tcase_add_test(t, cmpxchg_failure_restart_sees_read_only);
    tcase_add_test(t, cmpxchg_always_failing_terminates);
    suite_add_tcase(s, t);

    t = harness_tcase("bus_error");
    ADD_ROWS(t, bus_error, bus_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("eptp");
    ADD_ROWS(t, eptp_checks, eptp_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("qualification");
    ADD_ROWS(t, violation_qual, qual_rows);
    tcase_add_test(t, qual_from_walk);
    suite_add_tcase(s, t);
    return harness_run(s);
}
