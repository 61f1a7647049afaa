/*
 * test_paging.c — the pure page walker (cpu/paging.c) against the rules of
 * the Intel SDM vol. 3A chapter 4:
 *   4.1.1  paging modes (table 4-1)     4.5  4-level paging, entry formats and
 *   4.3    32-bit paging, 4-MiB pages,        reserved bits (tables 4-14..4-20)
 *          PSE-36 (tables 4-4..4-6)     4.6.1 determination of access rights
 *   4.4    PAE paging: PDPTE registers        (U/S, R/W + CR0.WP, XD + EFER.NXE,
 *          (4.4.1, table 4-8), PDEs and       SMEP, SMAP)
 *          PTEs (tables 4-9..4-11)      4.7  #PF error code (figure 4-12)
 *                                       4.8  accessed and dirty flags
 * and the canonical-address rule of 3.3.7.1.
 *
 * The paging structures live in a fake physical memory (struct fakemem)
 * reached only through struct pg_mem_ops, which also lets the tests count
 * accesses, make entries "change underneath" a cmpxchg, and leave parts of
 * the physical address space unbacked.
 */
#include <stdint.h>

#include "harness.h"
#include "paging.h"

/* Control-register bits (SDM 3A 2.5; EFER: SDM 3A 2.2.1). */
#define CR0_PE   (1ull << 0)
#define CR0_WP   (1ull << 16)
#define CR0_PG   (1ull << 31)
#define CR4_PSE  (1ull << 4)
#define CR4_PAE  (1ull << 5)
#define CR4_PGE  (1ull << 7)
#define CR4_LA57 (1ull << 12)
#define CR4_SMEP (1ull << 20)
#define CR4_SMAP (1ull << 21)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

/* ---- fake physical memory: FM_PAGES backed 4-KiB pages at physical 0 ---- */

#define FM_PAGES 16
#define FM_SIZE  ((uint64_t)FM_PAGES * 4096)

struct fakemem {
    uint64_t pg[FM_PAGES][512];
    unsigned reads, cas_calls, cas_ok;
    /* Interference: on the interfere_at-th cmpxchg (1-based), store
     * interfere_val into the entry being exchanged before comparing, as a
     * concurrent writer would. interfere_always: flip an ignored bit on every
     * cmpxchg so that none can succeed. */
    unsigned interfere_at;
    uint64_t interfere_val;
    bool interfere_always;
};

static uint64_t *fm_slot(struct fakemem *m, uint64_t pa)
{
    return &m->pg[pa >> 12][(pa & 0xFFF) >> 3];
}

static bool fm_read64(void *ctx, uint64_t pa, uint64_t *v)
{
    struct fakemem *m = ctx;
    m->reads++;
    ck_assert_msg((pa & 7) == 0, "walker read a misaligned entry at %#llx", (unsigned long long)pa);
    if (pa >= FM_SIZE)
        return false;
    *v = *fm_slot(m, pa);
    return true;
}

static bool fm_cmpxchg64(void *ctx, uint64_t pa, uint64_t old, uint64_t nv)
{
    struct fakemem *m = ctx;
    m->cas_calls++;
    if (pa >= FM_SIZE)
        return false;
    uint64_t *e = fm_slot(m, pa);
    if (m->interfere_always)
        *e ^= 1ull << 9;                       /* bit 9: ignored by the processor */
    else if (m->interfere_at && m->cas_calls == m->interfere_at)
        *e = m->interfere_val;
    if (*e != old)
        return false;
    *e = nv;
    m->cas_ok++;
    return true;
}

static const struct pg_mem_ops fm_ops = { fm_read64, fm_cmpxchg64 };

/* ---- a standard translation for one linear address ----
 * CR3 -> PML4 at 0x1000 -> PDPT at 0x2000 -> PD at 0x3000 -> PT at 0x4000.
 * The linear address has a different index at every level. */
#define PML4_PA 0x1000ull
#define PDPT_PA 0x2000ull
#define PD_PA   0x3000ull
#define PT_PA   0x4000ull
#define LA      0x00007FABCDE12345ull         /* canonical, lower half */
#define FRAME4K 0x0000007654321000ull
#define FRAME2M 0x0000007654200000ull
#define FRAME1G 0x0000007640000000ull
#define FRAME_B 0x0000001234567000ull         /* a second 4-KiB frame */

static unsigned idx_of(uint64_t la, unsigned level) { return (unsigned)((la >> (12 + 9 * (level - 1))) & 511); }

/* Physical address of the entry used at `level` for LA. */
static uint64_t entry_pa(unsigned level)
{
    static const uint64_t table[5] = { 0, PT_PA, PD_PA, PDPT_PA, PML4_PA };
    return table[level] + 8ull * idx_of(LA, level);
}

/* Build the walk for LA. flags[0] = PML4E .. flags[3] = PTE (flag and extra
 * bits; the table address is added here). leaf: 1 = 4 KiB page, 2 = 2 MiB
 * (PS in the PDE), 3 = 1 GiB (PS in the PDPTE). */
static void build(struct fakemem *m, const uint64_t flags[4], unsigned leaf)
{
    memset(m, 0, sizeof(*m));
    *fm_slot(m, entry_pa(4)) = PDPT_PA | flags[0];
    if (leaf == 3) {
        *fm_slot(m, entry_pa(3)) = FRAME1G | flags[1] | PTE_PS;
        return;
    }
    *fm_slot(m, entry_pa(3)) = PD_PA | flags[1];
    if (leaf == 2) {
        *fm_slot(m, entry_pa(2)) = FRAME2M | flags[2] | PTE_PS;
        return;
    }
    *fm_slot(m, entry_pa(2)) = PT_PA | flags[2];
    *fm_slot(m, entry_pa(1)) = FRAME4K | flags[3];
}

/* Context options for a row. */
enum {
    O_NOWP  = 1 << 0,   /* CR0.WP = 0 */
    O_NONXE = 1 << 1,   /* IA32_EFER.NXE = 0 */
    O_SMEP  = 1 << 2,   /* CR4.SMEP = 1 */
    O_SMAP  = 1 << 3,   /* CR4.SMAP = 1 */
    O_AC    = 1 << 4,   /* RFLAGS.AC = 1 */
    O_IMPL  = 1 << 5,   /* implicit supervisor-mode access */
    O_NO1G  = 1 << 6,   /* CPUID.80000001H:EDX.Page1GB = 0 */
    O_PGE   = 1 << 7,   /* CR4.PGE = 1 */
    O_PSE   = 1 << 8,   /* CR4.PSE = 1 (32-bit paging: 4-MiB pages) */
};

static struct pg_ctx make_ctx(unsigned cpl, unsigned opt, unsigned maxpa)
{
    struct pg_ctx c = {
        .cr0 = CR0_PE | CR0_PG | ((opt & O_NOWP) ? 0 : CR0_WP),
        .cr3 = PML4_PA,
        .cr4 = CR4_PAE | ((opt & O_SMEP) ? CR4_SMEP : 0) | ((opt & O_SMAP) ? CR4_SMAP : 0) |
               ((opt & O_PGE) ? CR4_PGE : 0),
        .efer = EFER_LME | EFER_LMA | ((opt & O_NONXE) ? 0 : EFER_NXE),
        .cpl = cpl,
        .implicit_sv = (opt & O_IMPL) != 0,
        .rflags_ac = (opt & O_AC) != 0,
        .maxphyaddr = maxpa ? maxpa : 46,
        .has_1g_pages = !(opt & O_NO1G),
    };
    return c;
}

/* ---- the main table ---- */

#define P  PTE_P
#define W  PTE_RW
#define U  PTE_US
#define X  PTE_XD
#define FULL (P | W | U)
#define RD PG_ACC_READ
#define WR PG_ACC_WRITE
#define FE PG_ACC_FETCH
#define EC_P PF_EC_P
#define EC_W PF_EC_W
#define EC_U PF_EC_U
#define EC_R PF_EC_RSVD
#define EC_I PF_EC_I
#define BIT(n) (1ull << (n))

struct walk_row {
    const char *name;
    uint64_t e[4];            /* PML4E, PDPTE, PDE, PTE flag bits */
    unsigned leaf;
    enum pg_access acc;
    unsigned cpl;
    unsigned opt;
    unsigned maxpa;           /* 0: 46 */
    enum pg_status want;
    uint32_t ec;              /* PG_FAULT: expected error code */
    unsigned level;           /* PG_FAULT: expected fault level */
    uint64_t pa_or;           /* PG_OK: address bits the leaf adds to the frame */
};

#define OK(n, e0, e1, e2, e3, lf, acc, cpl, opt) { n, { e0, e1, e2, e3 }, lf, acc, cpl, opt, 0, PG_OK, 0, 0, 0 }
#define OKM(n, e0, e1, e2, e3, lf, acc, cpl, opt, mp, por) \
    { n, { e0, e1, e2, e3 }, lf, acc, cpl, opt, mp, PG_OK, 0, 0, por }
#define PF(n, e0, e1, e2, e3, lf, acc, cpl, opt, ec, lvl) \
    { n, { e0, e1, e2, e3 }, lf, acc, cpl, opt, 0, PG_FAULT, ec, lvl, 0 }
#define PFM(n, e0, e1, e2, e3, lf, acc, cpl, opt, mp, ec, lvl) \
    { n, { e0, e1, e2, e3 }, lf, acc, cpl, opt, mp, PG_FAULT, ec, lvl, 0 }

static const struct walk_row walk_rows[] = {
    /* -- successful translations of each page size (SDM 3A 4.5, figures 4-8..4-10) -- */
    OK("ok/4k/read/sv",             FULL, FULL, FULL, FULL, 1, RD, 0, 0),
    OK("ok/4k/write/user",          FULL, FULL, FULL, FULL, 1, WR, 3, 0),
    OK("ok/4k/fetch/user",          FULL, FULL, FULL, FULL, 1, FE, 3, 0),
    OK("ok/2m/write/sv",            FULL, FULL, FULL, 0,    2, WR, 0, 0),
    OK("ok/2m/fetch/user",          FULL, FULL, FULL, 0,    2, FE, 3, 0),
    OK("ok/1g/read/user",           FULL, FULL, 0,    0,    3, RD, 3, 0),
    OK("ok/1g/write/sv",            FULL, FULL, 0,    0,    3, WR, 0, 0),
    /* Ignored bits (tables 4-15..4-20): 11:9 and 62:52 everywhere (62:59 are
     * the protection key only with CR4.PKE/PKS), 6 and 8 in non-leaf entries. */
    OK("ok/ignored-bits/all-levels", FULL | BIT(6) | BIT(8) | 0xE00 | 0x7FF0000000000000ull,
       FULL | BIT(6) | BIT(8) | 0xE00, FULL | BIT(6) | BIT(8) | 0xE00 | 0x7FF0000000000000ull,
       FULL | 0xE00 | 0x7FF0000000000000ull, 1, WR, 3, 0),
    OK("ok/4k/pte-bit7-is-pat",     FULL, FULL, FULL, FULL | BIT(7), 1, RD, 0, 0),
    OK("ok/2m/pde-bit12-is-pat",    FULL, FULL, FULL | BIT(12), 0, 2, RD, 0, 0),
    OK("ok/1g/pdpte-bit12-is-pat",  FULL, FULL | BIT(12), 0, 0, 3, RD, 0, 0),
    OK("ok/pwt-pcd-ignored-for-rights", FULL | BIT(3) | BIT(4), FULL | BIT(3) | BIT(4), FULL | BIT(4),
       FULL | BIT(3), 1, WR, 3, 0),
    OKM("ok/maxphyaddr52/bit51-is-address", FULL, FULL, FULL, FULL | BIT(51), 1, RD, 0, 0, 52, BIT(51)),
    OKM("ok/maxphyaddr46/bit45-is-address", FULL, FULL, FULL, FULL | BIT(45), 1, RD, 0, 0, 46, BIT(45)),

    /* -- not present at each level (SDM 3A 4.7: P = 0; W, U, I describe the access) -- */
    PF("np/pml4e/read/sv",          0,     FULL, FULL, FULL, 1, RD, 0, 0, 0, 4),
    PF("np/pml4e/write/user",       W | U, FULL, FULL, FULL, 1, WR, 3, 0, EC_W | EC_U, 4),
    PF("np/pdpte/write/sv",         FULL, W | U, FULL, FULL, 1, WR, 0, 0, EC_W, 3),
    PF("np/pdpte/1g-leaf/read/user", FULL, 0,   0,    0,    3, RD, 3, 0, EC_U, 3),
    PF("np/pde/read/user",          FULL, FULL, 0,    FULL, 1, RD, 3, 0, EC_U, 2),
    PF("np/pde/2m-leaf/write/user", FULL, FULL, W | U, 0,   2, WR, 3, 0, EC_W | EC_U, 2),
    PF("np/pte/read/sv",            FULL, FULL, FULL, 0,    1, RD, 0, 0, 0, 1),
    PF("np/pte/write/user",         FULL, FULL, FULL, W | U, 1, WR, 3, 0, EC_W | EC_U, 1),
    PF("np/pte/fetch/sv/nxe1",      FULL, FULL, FULL, 0,    1, FE, 0, 0, EC_I, 1),
    PF("np/pte/fetch/user/nxe1",    FULL, FULL, FULL, 0,    1, FE, 3, 0, EC_U | EC_I, 1),
    PF("np/pte/fetch/sv/nxe0-smep0-no-I", FULL, FULL, FULL, 0, 1, FE, 0, O_NONXE, 0, 1),
    PF("np/pte/fetch/user/nxe0-smep0-no-I", FULL, FULL, FULL, 0, 1, FE, 3, O_NONXE, EC_U, 1),
    PF("np/pte/fetch/sv/nxe0-smep1-I", FULL, FULL, FULL, 0, 1, FE, 0, O_NONXE | O_SMEP, EC_I, 1),
    PF("np/pte/read/implicit-at-cpl3-is-supervisor", FULL, FULL, FULL, 0, 1, RD, 3, O_IMPL, 0, 1),
    PF("np/pte/write/implicit-at-cpl3-is-supervisor", FULL, FULL, FULL, 0, 1, WR, 3, O_IMPL, EC_W, 1),
    /* Reserved bits are only checked in present entries (SDM 3A 4.7: RSVD
     * is reported only when P = 1). */
    PF("np/pde/reserved-bits-ignored-when-not-present", FULL, FULL, BIT(51) | BIT(13) | PTE_PS | W, 0, 2,
       RD, 0, 0, 0, 2),
    PF("np/pte/xd-ignored-when-not-present-nxe0", FULL, FULL, FULL, X | W, 1, WR, 0, O_NONXE, EC_W, 1),

    /* -- reserved bits (SDM 3A 4.5 tables 4-15..4-20; error code P = 1, RSVD = 1) -- */
    PF("rsvd/maxphyaddr/pml4e-bit46",  FULL | BIT(46), FULL, FULL, FULL, 1, RD, 0, 0, EC_P | EC_R, 4),
    PF("rsvd/maxphyaddr/pdpte-bit51",  FULL, FULL | BIT(51), FULL, FULL, 1, RD, 0, 0, EC_P | EC_R, 3),
    PF("rsvd/maxphyaddr/pde-bit47",    FULL, FULL, FULL | BIT(47), FULL, 1, RD, 3, 0, EC_P | EC_R | EC_U, 2),
    PF("rsvd/maxphyaddr/pte-bit50/write", FULL, FULL, FULL, FULL | BIT(50), 1, WR, 0, 0,
       EC_P | EC_R | EC_W, 1),
    PF("rsvd/maxphyaddr/2m-pde-bit46", FULL, FULL, FULL | BIT(46), 0, 2, RD, 0, 0, EC_P | EC_R, 2),
    PF("rsvd/maxphyaddr/1g-pdpte-bit48", FULL, FULL | BIT(48), 0, 0, 3, RD, 0, 0, EC_P | EC_R, 3),
    PFM("rsvd/maxphyaddr39/pte-bit39", FULL, FULL, FULL, FULL | BIT(39), 1, RD, 0, 0, 39, EC_P | EC_R, 1),
    PF("rsvd/pml4e-ps",                FULL | PTE_PS, FULL, FULL, FULL, 1, RD, 0, 0, EC_P | EC_R, 4),
    PF("rsvd/pml4e-ps/user-fetch",     FULL | PTE_PS, FULL, FULL, FULL, 1, FE, 3, 0,
       EC_P | EC_R | EC_U | EC_I, 4),
    PF("rsvd/2m-pde-bit13",            FULL, FULL, FULL | BIT(13), 0, 2, RD, 0, 0, EC_P | EC_R, 2),
    PF("rsvd/2m-pde-bit16",            FULL, FULL, FULL | BIT(16), 0, 2, WR, 0, 0, EC_P | EC_R | EC_W, 2),
    PF("rsvd/2m-pde-bit20",            FULL, FULL, FULL | BIT(20), 0, 2, RD, 3, 0, EC_P | EC_R | EC_U, 2),
    PF("rsvd/1g-pdpte-bit13",          FULL, FULL | BIT(13), 0, 0, 3, RD, 0, 0, EC_P | EC_R, 3),
    PF("rsvd/1g-pdpte-bit21",          FULL, FULL | BIT(21), 0, 0, 3, RD, 0, 0, EC_P | EC_R, 3),
    PF("rsvd/1g-pdpte-bit29",          FULL, FULL | BIT(29), 0, 0, 3, WR, 0, 0, EC_P | EC_R | EC_W, 3),
    PF("rsvd/1g-pdpte-without-page1gb", FULL, FULL, 0, 0, 3, RD, 0, O_NO1G, EC_P | EC_R, 3),
    PF("rsvd/1g-pdpte-without-page1gb/fetch", FULL, FULL, 0, 0, 3, FE, 0, O_NO1G, EC_P | EC_R | EC_I, 3),
    PF("rsvd/xd-with-nxe0/pte/write",  FULL, FULL, FULL, FULL | X, 1, WR, 0, O_NONXE, EC_P | EC_R | EC_W, 1),
    PF("rsvd/xd-with-nxe0/pml4e",      FULL | X, FULL, FULL, FULL, 1, RD, 0, O_NONXE, EC_P | EC_R, 4),
    PF("rsvd/xd-with-nxe0/2m-pde",     FULL, FULL, FULL | X, 0, 2, RD, 3, O_NONXE, EC_P | EC_R | EC_U, 2),
    PF("rsvd/xd-with-nxe0/fetch-nxe0-smep0-no-I", FULL, FULL, FULL, FULL | X, 1, FE, 0, O_NONXE,
       EC_P | EC_R, 1),
    PF("rsvd/xd-with-nxe0/fetch-smep1-I", FULL, FULL, FULL, FULL | X, 1, FE, 0, O_NONXE | O_SMEP,
       EC_P | EC_R | EC_I, 1),
    /* The first problem on the way down ends the walk. */
    PF("rsvd/pdpte-before-not-present-pde", FULL, FULL | BIT(50), 0, 0, 1, RD, 0, 0, EC_P | EC_R, 3),
    /* A reserved-bit fault wins over a protection fault that would follow. */
    PF("rsvd/pte-with-supervisor-page-user-access", FULL, FULL, P | W, FULL | BIT(49), 1, RD, 3, 0,
       EC_P | EC_R | EC_U, 1),

    /* -- R/W and CR0.WP (SDM 3A 4.6.1 "Data writes") -- */
    PF("rw/sv/write/pte-ro/wp1",       FULL, FULL, FULL, P | U, 1, WR, 0, 0, EC_P | EC_W, 1),
    PF("rw/sv/write/pdpte-ro/wp1",     FULL, P | U, FULL, FULL, 1, WR, 0, 0, EC_P | EC_W, 1),
    PF("rw/sv/write/sv-page-ro/wp1",   P | W, P | W, P | W, P, 1, WR, 0, 0, EC_P | EC_W, 1),
    OK("rw/sv/write/sv-page-ro/wp0",   P | W, P | W, P | W, P, 1, WR, 0, O_NOWP),
    OK("rw/sv/write/user-page-ro/wp0", FULL, FULL, FULL, P | U, 1, WR, 0, O_NOWP),
    OK("rw/sv/read/ro/wp1",            P, P, P, P, 1, RD, 0, 0),
    PF("rw/user/write/pte-ro/wp0",     FULL, FULL, FULL, P | U, 1, WR, 3, O_NOWP, EC_P | EC_W | EC_U, 1),
    PF("rw/user/write/pml4e-ro/wp1",   P | U, FULL, FULL, FULL, 1, WR, 3, 0, EC_P | EC_W | EC_U, 1),
    OK("rw/user/read/ro",              P | U, P | U, P | U, P | U, 1, RD, 3, 0),
    PF("rw/2m/user/write/pde-ro",      FULL, FULL, P | U, 0, 2, WR, 3, 0, EC_P | EC_W | EC_U, 2),
    PF("rw/1g/sv/write/pml4e-ro/wp1",  P | U, FULL, 0, 0, 3, WR, 0, 0, EC_P | EC_W, 3),
    PF("rw/implicit-cpl3/write/ro/wp1", P | W, P | W, P | W, P, 1, WR, 3, O_IMPL, EC_P | EC_W, 1),
    OK("rw/implicit-cpl3/write/ro/wp0", P | W, P | W, P | W, P, 1, WR, 3, O_IMPL | O_NOWP),

    /* -- U/S (SDM 3A 4.6.1: user-mode accesses only to user-mode addresses) -- */
    PF("us/user/read/pte-sv",          FULL, FULL, FULL, P | W, 1, RD, 3, 0, EC_P | EC_U, 1),
    PF("us/user/read/pml4e-sv",        P | W, FULL, FULL, FULL, 1, RD, 3, 0, EC_P | EC_U, 1),
    PF("us/user/write/pde-sv",         FULL, FULL, P | W, FULL, 1, WR, 3, 0, EC_P | EC_W | EC_U, 1),
    PF("us/user/fetch/sv-page/nxe1",   FULL, P | W, FULL, FULL, 1, FE, 3, 0, EC_P | EC_U | EC_I, 1),
    PF("us/user/fetch/sv-page/nxe0",   FULL, P | W, FULL, FULL, 1, FE, 3, O_NONXE, EC_P | EC_U, 1),
    PF("us/1g/user/read/sv",           FULL, P | W, 0, 0, 3, RD, 3, 0, EC_P | EC_U, 3),
    OK("us/sv/read/user-page",         FULL, FULL, FULL, FULL, 1, RD, 0, 0),
    OK("us/sv/write/user-page",        FULL, FULL, FULL, FULL, 1, WR, 0, 0),
    OK("us/implicit-cpl3/read/sv-page", P | W, P | W, P | W, P | W, 1, RD, 3, O_IMPL),
    OK("us/implicit-cpl3/write/sv-page", P | W, P | W, P | W, P | W, 1, WR, 3, O_IMPL),

    /* -- XD with IA32_EFER.NXE (SDM 3A 4.6.1 "Instruction fetches") -- */
    PF("nx/sv/fetch/pte-xd",           FULL, FULL, FULL, FULL | X, 1, FE, 0, 0, EC_P | EC_I, 1),
    PF("nx/sv/fetch/pml4e-xd",         FULL | X, FULL, FULL, FULL, 1, FE, 0, 0, EC_P | EC_I, 1),
    PF("nx/user/fetch/pdpte-xd",       FULL, FULL | X, FULL, FULL, 1, FE, 3, 0, EC_P | EC_U | EC_I, 1),
    PF("nx/2m/sv/fetch/pde-xd",        FULL, FULL, FULL | X, 0, 2, FE, 0, 0, EC_P | EC_I, 2),
    PF("nx/1g/user/fetch/pdpte-xd",    FULL, FULL | X, 0, 0, 3, FE, 3, 0, EC_P | EC_U | EC_I, 3),
    OK("nx/sv/read/xd-page",           FULL | X, FULL, FULL, FULL | X, 1, RD, 0, 0),
    OK("nx/user/write/xd-page",        FULL, FULL, FULL | X, FULL, 1, WR, 3, 0),
    OK("nx/sv/fetch/no-xd",            FULL, FULL, FULL, FULL, 1, FE, 0, 0),

    /* -- SMEP (SDM 3A 4.6.1: CR4.SMEP = 1 forbids supervisor fetches from user-mode addresses) -- */
    PF("smep/sv/fetch/user-page",      FULL, FULL, FULL, FULL, 1, FE, 0, O_SMEP, EC_P | EC_I, 1),
    PF("smep/sv/fetch/user-page/nxe0-still-I", FULL, FULL, FULL, FULL, 1, FE, 0, O_SMEP | O_NONXE,
       EC_P | EC_I, 1),
    PF("smep/2m/sv/fetch/user-page",   FULL, FULL, FULL, 0, 2, FE, 0, O_SMEP, EC_P | EC_I, 2),
    OK("smep/sv/fetch/sv-at-pml4e-only", P | W, FULL, FULL, FULL, 1, FE, 0, O_SMEP),
    OK("smep/sv/fetch/sv-page",        P | W, P | W, P | W, P | W, 1, FE, 0, O_SMEP),
    OK("smep/user/fetch/user-page",    FULL, FULL, FULL, FULL, 1, FE, 3, O_SMEP),
    OK("smep/sv/read/user-page",       FULL, FULL, FULL, FULL, 1, RD, 0, O_SMEP),
    OK("smep/sv/write/user-page",      FULL, FULL, FULL, FULL, 1, WR, 0, O_SMEP),
    OK("smep-off/sv/fetch/user-page",  FULL, FULL, FULL, FULL, 1, FE, 0, 0),

    /* -- SMAP (SDM 3A 4.6.1 "Data reads"/"Data writes" with CR4.SMAP and RFLAGS.AC) -- */
    PF("smap/sv/read/user-page/ac0",   FULL, FULL, FULL, FULL, 1, RD, 0, O_SMAP, EC_P, 1),
    OK("smap/sv/read/user-page/ac1",   FULL, FULL, FULL, FULL, 1, RD, 0, O_SMAP | O_AC),
    PF("smap/sv/write/user-page/ac0",  FULL, FULL, FULL, FULL, 1, WR, 0, O_SMAP, EC_P | EC_W, 1),
    OK("smap/sv/write/user-page/ac1",  FULL, FULL, FULL, FULL, 1, WR, 0, O_SMAP | O_AC),
    PF("smap/sv/write/user-ro/ac1/wp1", FULL, FULL, FULL, P | U, 1, WR, 0, O_SMAP | O_AC, EC_P | EC_W, 1),
    OK("smap/sv/write/user-ro/ac1/wp0", FULL, FULL, FULL, P | U, 1, WR, 0, O_SMAP | O_AC | O_NOWP),
    PF("smap/sv/write/user-ro/ac0/wp0", FULL, FULL, FULL, P | U, 1, WR, 0, O_SMAP | O_NOWP, EC_P | EC_W, 1),
    PF("smap/implicit-cpl0/read/ac1-ignored", FULL, FULL, FULL, FULL, 1, RD, 0, O_SMAP | O_AC | O_IMPL,
       EC_P, 1),
    PF("smap/implicit-cpl3/read/ac1-ignored", FULL, FULL, FULL, FULL, 1, RD, 3, O_SMAP | O_AC | O_IMPL,
       EC_P, 1),
    PF("smap/implicit-cpl3/write/ac0", FULL, FULL, FULL, FULL, 1, WR, 3, O_SMAP | O_IMPL, EC_P | EC_W, 1),
    OK("smap/implicit/read/sv-page",   P | W, FULL, FULL, FULL, 1, RD, 3, O_SMAP | O_IMPL),
    OK("smap/user/read/user-page",     FULL, FULL, FULL, FULL, 1, RD, 3, O_SMAP),
    OK("smap/user/write/user-page",    FULL, FULL, FULL, FULL, 1, WR, 3, O_SMAP),
    OK("smap/sv/read/sv-page/ac0",     FULL, FULL, P | W, FULL, 1, RD, 0, O_SMAP),
    OK("smap/sv/fetch/user-page/smep0", FULL, FULL, FULL, FULL, 1, FE, 0, O_SMAP),
    PF("smap/1g/sv/read/user-page/ac0", FULL, FULL, 0, 0, 3, RD, 0, O_SMAP, EC_P, 3),
    PF("smap+smep/sv/fetch/user-page", FULL, FULL, FULL, FULL, 1, FE, 0, O_SMAP | O_SMEP | O_AC,
       EC_P | EC_I, 1),
};

static uint64_t leaf_size(unsigned leaf) { return 1ull << (12 + 9 * (leaf - 1)); }

START_TEST(walk_table)
{
    const struct walk_row *row = &walk_rows[_i];
    static struct fakemem m, before;
    build(&m, row->e, row->leaf);
    before = m;
    struct pg_ctx c = make_ctx(row->cpl, row->opt, row->maxpa);
    struct pg_result r;
    enum pg_status st = pg_walk(&c, &fm_ops, &m, LA, row->acc, true, &r);

    ck_assert_msg(st == row->want, "%s: pg_walk returned %d, expected %d (ec %#x)", row->name, st,
                  row->want, r.error_code);
    ck_assert_msg(r.status == st, "%s: res.status %d differs from the return value %d", row->name,
                  r.status, st);
    if (row->want == PG_FAULT) {
        ck_assert_msg(r.error_code == row->ec, "%s: error code %#x, expected %#x", row->name, r.error_code,
                      row->ec);
        ck_assert_msg(r.fault_level == row->level, "%s: fault level %u, expected %u", row->name,
                      r.fault_level, row->level);
        /* SDM 3A 4.8 leaves it open; paging.c documents that a faulting walk
         * writes nothing. */
        ck_assert_msg(memcmp(&m.pg, &before.pg, sizeof(m.pg)) == 0,
                      "%s: a faulting walk modified the paging structures", row->name);
        ck_assert_msg(m.cas_ok == 0, "%s: %u successful cmpxchg on a faulting walk", row->name, m.cas_ok);
        return;
    }

    uint64_t size = leaf_size(row->leaf);
    uint64_t frame = row->leaf == 1 ? FRAME4K : row->leaf == 2 ? FRAME2M : FRAME1G;
    uint64_t want_pa = (frame | row->pa_or) + (LA & (size - 1));
    ck_assert_msg(r.pa == want_pa, "%s: pa %#llx, expected %#llx", row->name, (unsigned long long)r.pa,
                  (unsigned long long)want_pa);
    ck_assert_msg(r.page_size == size, "%s: page size %#llx, expected %#llx", row->name,
                  (unsigned long long)r.page_size, (unsigned long long)size);
    ck_assert_msg(r.page_base_la == (LA & ~(size - 1)), "%s: page_base_la %#llx", row->name,
                  (unsigned long long)r.page_base_la);
    ck_assert_msg(r.page_base_pa == (frame | row->pa_or), "%s: page_base_pa %#llx", row->name,
                  (unsigned long long)r.page_base_pa);
    unsigned nlev = 5 - row->leaf;
    ck_assert_msg(r.levels == nlev, "%s: %u entries read, expected %u", row->name, r.levels, nlev);
    ck_assert_msg(r.leaf_entry_pa == entry_pa(row->leaf), "%s: leaf_entry_pa %#llx, expected %#llx",
                  row->name, (unsigned long long)r.leaf_entry_pa, (unsigned long long)entry_pa(row->leaf));

    /* Access-right summary of the translation (AND of U/S and R/W, OR of XD). */
    bool user = true, wr = true, nx = false;
    for (unsigned lv = 4; lv >= row->leaf; lv--) {
        uint64_t e = row->e[4 - lv];
        user = user && (e & U);
        wr = wr && (e & W);
        nx = nx || (e & X);
    }
    if (row->opt & O_NONXE)
        nx = false;
    ck_assert_msg(r.user == user, "%s: user %d, expected %d", row->name, r.user, user);
    ck_assert_msg(r.writable == wr, "%s: writable %d, expected %d", row->name, r.writable, wr);
    ck_assert_msg(r.nx == nx, "%s: nx %d, expected %d", row->name, r.nx, nx);

    /* SDM 3A 4.8: A set in every entry used; D set in the leaf on a write;
     * nothing else changes. */
    for (unsigned lv = 4; lv >= row->leaf; lv--) {
        uint64_t now = *fm_slot(&m, entry_pa(lv)), was = *fm_slot(&before, entry_pa(lv));
        uint64_t want = was | PTE_A;
        if (lv == row->leaf && row->acc == PG_ACC_WRITE)
            want |= PTE_D;
        ck_assert_msg(now == want, "%s: level-%u entry is %#llx after the walk, expected %#llx", row->name,
                      lv, (unsigned long long)now, (unsigned long long)want);
    }
    ck_assert_msg(r.leaf_entry == *fm_slot(&m, entry_pa(row->leaf)), "%s: leaf_entry %#llx is not the "
                  "entry as finally written", row->name, (unsigned long long)r.leaf_entry);
    ck_assert_msg(r.dirty == (row->acc == PG_ACC_WRITE), "%s: dirty %d", row->name, r.dirty);
    /* Only the entries of this walk were touched. */
    for (unsigned lv = 4; lv >= row->leaf; lv--)
        *fm_slot(&before, entry_pa(lv)) = *fm_slot(&m, entry_pa(lv));
    ck_assert_msg(memcmp(&m.pg, &before.pg, sizeof(m.pg)) == 0, "%s: the walk wrote outside its entries",
                  row->name);
}
END_TEST

/* ---- pg_check_perm against a reference written from SDM 3A 4.6.1 ---- */

static bool ref_allowed(bool sv, bool explicit_sv, bool ac, bool wp, bool smep, bool smap,
                        enum pg_access acc, bool user_page, bool writable, bool nx)
{
    if (!sv) {                                   /* user-mode access */
        if (!user_page)
            return false;
        if (acc == PG_ACC_WRITE)
            return writable;
        if (acc == PG_ACC_FETCH)
            return !nx;
        return true;
    }
    if (acc == PG_ACC_FETCH) {                   /* "Instruction fetches" */
        if (user_page && smep)
            return false;
        return !nx;
    }
    if (user_page && smap && !(ac && explicit_sv))
        return false;                            /* "Data reads/writes ... user-mode addresses" */
    if (acc == PG_ACC_WRITE && wp && !writable)
        return false;
    return true;
}

/* pae = 0 is 32-bit paging (CR4.PAE = 0, no LME): the same rules, no XD, and
 * the I/D bit only with SMEP (SDM 3A 4.7: "CR4.SMEP = 1; or CR4.PAE = 1 and
 * IA32_EFER.NXE = 1"), which NXE = 1 alone must not change. */
START_TEST(check_perm_exhaustive)
{
    unsigned n = 0;
    for (unsigned bits = 0; bits < (1u << 11); bits++)
        for (int acc = 0; acc < 3; acc++) {
            bool cpl3 = bits & 1, impl = bits & 2, ac = bits & 4, wp = bits & 8, smep = bits & 16,
                 smap = bits & 32, nxe = bits & 64, up = bits & 128, wr = bits & 256, nx = bits & 512,
                 pae = bits & 1024;
            if (nx && !(nxe && pae))
                continue;                        /* nx is "XD = 1 ... with NXE"; no XD without PAE */
            struct pg_ctx c = {
                .cr0 = CR0_PE | CR0_PG | (wp ? CR0_WP : 0), .cr3 = PML4_PA,
                .cr4 = (pae ? CR4_PAE : 0) | (smep ? CR4_SMEP : 0) | (smap ? CR4_SMAP : 0),
                .efer = (pae ? EFER_LME | EFER_LMA : 0) | (nxe ? EFER_NXE : 0),
                .cpl = cpl3 ? 3 : 0, .implicit_sv = impl, .rflags_ac = ac, .maxphyaddr = 46,
                .has_1g_pages = true,
            };
            bool sv = !cpl3 || impl;
            bool ok = ref_allowed(sv, !cpl3 && !impl, ac, wp, smep, smap, (enum pg_access)acc, up, wr, nx);
            uint32_t want = 0;
            if (!ok) {
                want = PF_EC_P | (acc == PG_ACC_WRITE ? PF_EC_W : 0) | (sv ? 0 : PF_EC_U) |
                       (acc == PG_ACC_FETCH && ((pae && nxe) || smep) ? PF_EC_I : 0);
            }
            uint32_t got = pg_check_perm(&c, (enum pg_access)acc, up, wr, nx);
            ck_assert_msg(got == want,
                          "combination pae=%d cpl=%d implicit=%d ac=%d wp=%d smep=%d smap=%d nxe=%d acc=%d "
                          "user_page=%d writable=%d nx=%d: got %#x, expected %#x",
                          pae, cpl3 ? 3 : 0, impl, ac, wp, smep, smap, nxe, acc, up, wr, nx, got, want);
            n++;
        }
    ck_assert_uint_eq(n, 3 * 768 + 3 * 512);
}
END_TEST

/* Without paging there is no page-level protection (SDM 3A 4.1.1): whatever
 * the context and the page properties, nothing faults. */
START_TEST(check_perm_paging_off)
{
    for (unsigned bits = 0; bits < (1u << 10); bits++)
        for (int acc = 0; acc < 3; acc++) {
            struct pg_ctx c = {
                .cr0 = CR0_PE | ((bits & 8) ? CR0_WP : 0), .cr3 = PML4_PA,
                .cr4 = CR4_PAE | ((bits & 16) ? CR4_SMEP : 0) | ((bits & 32) ? CR4_SMAP : 0),
                .efer = (bits & 64) ? EFER_NXE : 0, .cpl = (bits & 1) ? 3 : 0,
                .implicit_sv = bits & 2, .rflags_ac = bits & 4, .maxphyaddr = 46,
            };
            uint32_t got = pg_check_perm(&c, (enum pg_access)acc, bits & 128, bits & 256, bits & 512);
            ck_assert_msg(got == 0, "paging off, bits %#x acc %d: error code %#x", bits, acc, got);
        }
}
END_TEST

/* ---- accessed / dirty details (SDM 3A 4.8) ---- */

static const uint64_t std_flags[4] = { FULL, FULL, FULL, FULL };

START_TEST(ad_set_ad_false_writes_nothing)
{
    static struct fakemem m, before;
    build(&m, std_flags, 1);
    before = m;
    struct pg_ctx c = make_ctx(0, 0, 0);
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA, PG_ACC_WRITE, false, &r), PG_OK);
    ck_assert_msg(memcmp(&m.pg, &before.pg, sizeof(m.pg)) == 0, "set_ad=false modified memory");
    ck_assert_uint_eq(m.cas_calls, 0);
    ck_assert_msg(!r.dirty, "dirty reported for a page whose D flag is clear");
    ck_assert_uint_eq(r.leaf_entry & (PTE_A | PTE_D), 0);
}
END_TEST

START_TEST(ad_already_set_needs_no_cmpxchg)
{
    static struct fakemem m;
    const uint64_t f[4] = { FULL | PTE_A, FULL | PTE_A, FULL | PTE_A, FULL | PTE_A | PTE_D };
    build(&m, f, 1);
    struct pg_ctx c = make_ctx(3, 0, 0);
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA, PG_ACC_WRITE, true, &r), PG_OK);
    ck_assert_uint_eq(m.cas_calls, 0);
    ck_assert_uint_eq(m.reads, 4);
    ck_assert(r.dirty);
}
END_TEST

START_TEST(ad_read_of_dirty_page_reports_dirty)
{
    static struct fakemem m;
    const uint64_t f[4] = { FULL, FULL, FULL, FULL | PTE_D };
    build(&m, f, 1);
    struct pg_ctx c = make_ctx(0, 0, 0);
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA, PG_ACC_READ, true, &r), PG_OK);
    ck_assert(r.dirty);
    ck_assert_uint_eq(*fm_slot(&m, entry_pa(1)), FRAME4K | FULL | PTE_D | PTE_A);
}
END_TEST

/* D is set in the leaf only: a 2-MiB leaf PDE gets D, the PDPTE above only A. */
START_TEST(ad_write_2m_sets_d_in_pde_only)
{
    static struct fakemem m;
    const uint64_t f[4] = { FULL, FULL, FULL, 0 };
    build(&m, f, 2);
    struct pg_ctx c = make_ctx(0, 0, 0);
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA, PG_ACC_WRITE, true, &r), PG_OK);
    ck_assert_uint_eq(*fm_slot(&m, entry_pa(4)), PDPT_PA | FULL | PTE_A);
    ck_assert_uint_eq(*fm_slot(&m, entry_pa(3)), PD_PA | FULL | PTE_A);
    ck_assert_uint_eq(*fm_slot(&m, entry_pa(2)), FRAME2M | FULL | PTE_PS | PTE_A | PTE_D);
    ck_assert_uint_eq(m.cas_ok, 3);
}
END_TEST

/* A not-present PTE: the upper entries were read but get no A flag. */
START_TEST(ad_not_present_leaves_upper_levels_untouched)
{
    static struct fakemem m, before;
    const uint64_t f[4] = { FULL, FULL, FULL, 0 };
    build(&m, f, 1);
    before = m;
    struct pg_ctx c = make_ctx(0, 0, 0);
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA, PG_ACC_READ, true, &r), PG_FAULT);
    ck_assert_uint_eq(r.levels, 4);
    ck_assert_msg(memcmp(&m.pg, &before.pg, sizeof(m.pg)) == 0, "A flags set on a faulting walk");
}
END_TEST

/* G in the result only for a leaf with G while CR4.PGE = 1 (SDM 3A 4.10.2.4). */
struct global_row { const char *name; uint64_t pml4e_extra, leaf_extra; unsigned leaf; unsigned opt; bool want; };
static const struct global_row global_rows[] = {
    { "global/4k/g-leaf/pge1",     0,        PTE_G, 1, O_PGE, true },
    { "global/4k/g-leaf/pge0",     0,        PTE_G, 1, 0,     false },
    { "global/4k/g-nonleaf/pge1",  PTE_G,    0,     1, O_PGE, false },
    { "global/2m/g-leaf/pge1",     0,        PTE_G, 2, O_PGE, true },
    { "global/1g/g-leaf/pge1",     0,        PTE_G, 3, O_PGE, true },
    { "global/4k/none/pge1",       0,        0,     1, O_PGE, false },
};

START_TEST(global_flag)
{
    const struct global_row *row = &global_rows[_i];
    static struct fakemem m;
    uint64_t f[4] = { FULL | row->pml4e_extra, FULL, FULL, FULL };
    f[4 - row->leaf] |= row->leaf_extra;
    build(&m, f, row->leaf);
    struct pg_ctx c = make_ctx(0, row->opt, 0);
    struct pg_result r;
    ck_assert_msg(pg_walk(&c, &fm_ops, &m, LA, PG_ACC_READ, true, &r) == PG_OK, "%s: walk failed", row->name);
    ck_assert_msg(r.global == row->want, "%s: global %d, expected %d", row->name, r.global, row->want);
}
END_TEST

/* ---- entries changing underneath the A/D update ---- */

START_TEST(cmpxchg_failure_restarts_walk)
{
    static struct fakemem m;
    build(&m, std_flags, 1);
    /* cmpxchg #4 is the PTE's: a concurrent writer points it at FRAME_B. */
    m.interfere_at = 4;
    m.interfere_val = FRAME_B | FULL;
    struct pg_ctx c = make_ctx(0, 0, 0);
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA, PG_ACC_WRITE, true, &r), PG_OK);
    ck_assert_msg(r.pa == FRAME_B + (LA & 0xFFF), "restarted walk used the stale PTE: pa %#llx",
                  (unsigned long long)r.pa);
    ck_assert_uint_eq(*fm_slot(&m, entry_pa(1)), FRAME_B | FULL | PTE_A | PTE_D);
    ck_assert_uint_eq(r.leaf_entry, FRAME_B | FULL | PTE_A | PTE_D);
    ck_assert_uint_eq(m.reads, 8);             /* the whole walk was done twice */
    ck_assert_uint_eq(m.cas_calls, 5);         /* 4 in the first attempt, the PTE again */
}
END_TEST

START_TEST(cmpxchg_failure_restart_sees_not_present)
{
    static struct fakemem m;
    build(&m, std_flags, 1);
    m.interfere_at = 4;
    m.interfere_val = 0;                       /* the PTE was cleared meanwhile */
    struct pg_ctx c = make_ctx(3, 0, 0);
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA, PG_ACC_WRITE, true, &r), PG_FAULT);
    ck_assert_uint_eq(r.error_code, PF_EC_W | PF_EC_U);
    ck_assert_uint_eq(r.fault_level, 1);
    ck_assert_uint_eq(*fm_slot(&m, entry_pa(1)), 0);
}
END_TEST

START_TEST(cmpxchg_failure_restart_sees_read_only)
{
    static struct fakemem m;
    build(&m, std_flags, 1);
    m.interfere_at = 4;
    m.interfere_val = FRAME4K | P | U;         /* write permission revoked meanwhile */
    struct pg_ctx c = make_ctx(3, 0, 0);
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA, PG_ACC_WRITE, true, &r), PG_FAULT);
    ck_assert_uint_eq(r.error_code, PF_EC_P | PF_EC_W | PF_EC_U);
    ck_assert_uint_eq(*fm_slot(&m, entry_pa(1)), FRAME4K | P | U);
}
END_TEST

START_TEST(cmpxchg_always_failing_terminates)
{
    static struct fakemem m;
    build(&m, std_flags, 1);
    m.interfere_always = true;
    struct pg_ctx c = make_ctx(0, 0, 0);
    struct pg_result r;
    enum pg_status st = pg_walk(&c, &fm_ops, &m, LA, PG_ACC_READ, true, &r);
    ck_assert_msg(st != PG_OK, "a walk whose A update never succeeds reported success");
    ck_assert_msg(m.cas_calls >= 2 && m.cas_calls <= 64, "%u cmpxchg attempts", m.cas_calls);
}
END_TEST

/* ---- unbacked paging structures: PG_BUS_ERROR ---- */

struct bus_row { const char *name; uint64_t cr3; int level_to_break; uint64_t bad_table; unsigned leaf; unsigned want_level; };
static const struct bus_row bus_rows[] = {
    { "bus/pml4-outside-ram",  0x100000, 0, 0x100000, 1, 4 },
    { "bus/pdpt-outside-ram",  PML4_PA,  4, 0x200000, 1, 3 },
    { "bus/pd-outside-ram",    PML4_PA,  3, 0x300000, 1, 2 },
    { "bus/pt-outside-ram",    PML4_PA,  2, 0x400000, 1, 1 },
    { "bus/pd-outside-ram/2m", PML4_PA,  3, 0x7ff000, 2, 2 },
};

START_TEST(bus_error)
{
    const struct bus_row *row = &bus_rows[_i];
    static struct fakemem m, before;
    build(&m, std_flags, row->leaf);
    if (row->level_to_break) {
        uint64_t *e = fm_slot(&m, entry_pa((unsigned)row->level_to_break));
        *e = row->bad_table | (*e & 0xFFF);
    }
    before = m;
    struct pg_ctx c = make_ctx(0, 0, 0);
    c.cr3 = row->cr3;
    struct pg_result r;
    enum pg_status st = pg_walk(&c, &fm_ops, &m, LA, PG_ACC_WRITE, true, &r);
    ck_assert_msg(st == PG_BUS_ERROR, "%s: status %d", row->name, st);
    ck_assert_msg(r.status == PG_BUS_ERROR, "%s: res.status %d", row->name, r.status);
    ck_assert_msg(r.fault_level == row->want_level, "%s: fault level %u, expected %u", row->name,
                  r.fault_level, row->want_level);
    uint64_t want_bad = row->bad_table + 8ull * idx_of(LA, row->want_level);
    ck_assert_msg(r.bad_pa == want_bad, "%s: bad_pa %#llx, expected %#llx", row->name,
                  (unsigned long long)r.bad_pa, (unsigned long long)want_bad);
    ck_assert_msg(memcmp(&m.pg, &before.pg, sizeof(m.pg)) == 0, "%s: memory modified", row->name);
}
END_TEST

/* ---- paging modes (SDM 3A 4.1.1, table 4-1) ---- */

/* The walk column: the 4-level tables of build() read as a 32-bit page
 * directory hold no PDE for LA (PG_FAULT), and PAE walks use the PDPTE
 * registers, all not present in a context that never loaded them. */
struct mode_row { const char *name; uint64_t cr0, cr4, efer; enum pg_mode mode; enum pg_status walk; };
static const struct mode_row mode_rows[] = {
    { "mode/none/pg0",               CR0_PE,          CR4_PAE,            EFER_LME, PG_MODE_NONE,   PG_OK },
    { "mode/none/pg0-everything-else", CR0_PE,        CR4_PAE | CR4_LA57, EFER_LME | EFER_NXE, PG_MODE_NONE, PG_OK },
    { "mode/none/pg0-pae0-lme1",     CR0_PE,          0,                  EFER_LME, PG_MODE_NONE,   PG_OK },
    { "mode/32bit/pae0",             CR0_PE | CR0_PG, 0,                  0,        PG_MODE_32BIT,  PG_FAULT },
    { "mode/32bit/pae0-pse-pge-la57-nxe", CR0_PE | CR0_PG, CR4_PSE | CR4_PGE | CR4_LA57, EFER_NXE,
      PG_MODE_32BIT, PG_FAULT },
    { "mode/invalid/pae0-lme1",      CR0_PE | CR0_PG, 0,                  EFER_LME, PG_MODE_INVALID, PG_UNSUPPORTED },
    { "mode/invalid/pae0-lme1-lma1", CR0_PE | CR0_PG, CR4_PSE,            EFER_LME | EFER_LMA, PG_MODE_INVALID,
      PG_UNSUPPORTED },
    { "mode/pae/lme0",               CR0_PE | CR0_PG, CR4_PAE,            0,        PG_MODE_PAE,    PG_FAULT },
    { "mode/pae/lme0-la57",          CR0_PE | CR0_PG, CR4_PAE | CR4_LA57, 0,        PG_MODE_PAE,    PG_FAULT },
    { "mode/pae/lme0-nxe-pse",       CR0_PE | CR0_PG, CR4_PAE | CR4_PSE,  EFER_NXE, PG_MODE_PAE,    PG_FAULT },
    { "mode/4level",                 CR0_PE | CR0_PG, CR4_PAE,            EFER_LME | EFER_LMA, PG_MODE_4LEVEL, PG_OK },
    { "mode/5level",                 CR0_PE | CR0_PG, CR4_PAE | CR4_LA57, EFER_LME | EFER_LMA, PG_MODE_5LEVEL, PG_UNSUPPORTED },
};

START_TEST(paging_modes)
{
    const struct mode_row *row = &mode_rows[_i];
    ck_assert_msg(pg_mode_of(row->cr0, row->cr4, row->efer) == row->mode, "%s: mode %d, expected %d",
                  row->name, pg_mode_of(row->cr0, row->cr4, row->efer), row->mode);
    static struct fakemem m;
    build(&m, std_flags, 1);
    struct pg_ctx c = make_ctx(0, 0, 0);
    c.cr0 = row->cr0;
    c.cr4 = row->cr4;
    c.efer = row->efer;
    struct pg_result r;
    enum pg_status st = pg_walk(&c, &fm_ops, &m, LA, PG_ACC_WRITE, true, &r);
    ck_assert_msg(st == row->walk, "%s: walk status %d, expected %d", row->name, st, row->walk);
    ck_assert_msg(r.status == st, "%s: res.status %d", row->name, r.status);
    if (row->mode == PG_MODE_NONE) {
        /* Without paging, linear = physical and no structure is read. */
        ck_assert_msg(r.pa == LA, "%s: pa %#llx", row->name, (unsigned long long)r.pa);
        ck_assert_msg(r.page_base_pa == (LA & ~0xFFFull), "%s: page_base_pa", row->name);
        ck_assert_msg(r.writable && r.user && !r.nx, "%s: rights", row->name);
        ck_assert_msg(m.reads == 0, "%s: %u reads without paging", row->name, m.reads);
    }
    if (row->walk == PG_UNSUPPORTED)
        ck_assert_msg(m.reads == 0 && m.cas_calls == 0, "%s: unsupported mode touched memory", row->name);
    if (row->mode == PG_MODE_PAE) {
        /* Not-present PDPTE registers: #PF at level 3 before any memory read. */
        ck_assert_msg(r.fault_level == 3 && m.reads == 0, "%s: fault level %u after %u reads", row->name,
                      r.fault_level, m.reads);
    }
    if (row->walk == PG_FAULT)
        ck_assert_msg(m.cas_ok == 0, "%s: a faulting walk wrote", row->name);
}
END_TEST

/* CR3 bits outside the PML4 address (PWT, PCD, a PCID in 11:0, bit 63 of a
 * MOV to CR3) do not move the walk (SDM 3A 4.5, table 4-12 and 4-13). */
START_TEST(cr3_low_and_high_bits_ignored)
{
    static struct fakemem m;
    build(&m, std_flags, 1);
    struct pg_ctx c = make_ctx(0, 0, 0);
    c.cr3 = PML4_PA | 0x18 | 0x7A5 | (1ull << 63);
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA, PG_ACC_READ, true, &r), PG_OK);
    ck_assert_uint_eq(r.pa, FRAME4K + (LA & 0xFFF));
}
END_TEST

/* Upper-half linear addresses use bits 47:39 as the PML4 index. */
START_TEST(upper_half_address)
{
    static struct fakemem m;
    memset(&m, 0, sizeof(m));
    const uint64_t la = 0xFFFF800000201000ull;     /* PML4 256, PDPT 0, PD 1, PT 1 */
    *fm_slot(&m, PML4_PA + 256 * 8) = PDPT_PA | FULL;
    *fm_slot(&m, PDPT_PA + 0 * 8) = PD_PA | FULL;
    *fm_slot(&m, PD_PA + 1 * 8) = PT_PA | FULL;
    *fm_slot(&m, PT_PA + 1 * 8) = FRAME_B | FULL;
    struct pg_ctx c = make_ctx(0, 0, 0);
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, la + 0x123, PG_ACC_READ, true, &r), PG_OK);
    ck_assert_uint_eq(r.pa, FRAME_B + 0x123);
    ck_assert_uint_eq(r.page_base_la, la);
}
END_TEST

/* ---- canonical addresses (SDM 3A 3.3.7.1) ---- */

struct canon_row { const char *name; uint64_t la; unsigned width; bool want; };
static const struct canon_row canon_rows[] = {
    { "canon/48/zero",              0,                      48, true },
    { "canon/48/top-of-lower-half", 0x00007FFFFFFFFFFFull,  48, true },
    { "canon/48/first-hole",        0x0000800000000000ull,  48, false },
    { "canon/48/last-hole",         0xFFFF7FFFFFFFFFFFull,  48, false },
    { "canon/48/bottom-upper-half", 0xFFFF800000000000ull,  48, true },
    { "canon/48/all-ones",          0xFFFFFFFFFFFFFFFFull,  48, true },
    { "canon/48/bit63-only",        0x8000000000000000ull,  48, false },
    { "canon/48/bit48-only",        0x0001000000000000ull,  48, false },
    { "canon/48/bit47-and-63",      0x8000800000000000ull,  48, false },
    { "canon/57/top-of-lower-half", 0x00FFFFFFFFFFFFFFull,  57, true },
    { "canon/57/first-hole",        0x0100000000000000ull,  57, false },
    { "canon/57/bottom-upper-half", 0xFF00000000000000ull,  57, true },
    { "canon/57/48bit-hole-is-ok",  0x0000800000000000ull,  57, true },
    { "canon/57/48bit-upper-half-ok", 0xFFFF800000000000ull, 57, true },
    { "canon/57/fe-prefix",         0xFE00000000000000ull,  57, false },
};

START_TEST(canonical)
{
    const struct canon_row *row = &canon_rows[_i];
    ck_assert_msg(pg_canonical(row->la, row->width) == row->want, "%s: pg_canonical(%#llx, %u) = %d",
                  row->name, (unsigned long long)row->la, row->width, !row->want);
}
END_TEST

/* ==== legacy paging modes: 32-bit (SDM 3A 4.3) and PAE (SDM 3A 4.4) ==== */

/* 32-bit paging: CR3 -> page directory at PD32_PA -> page table at PT32_PA,
 * 4-byte entries. LA32's PDE is the low half of its quadword and its PTE the
 * high half, so A/D updates are checked on both halves. */
#define PD32_PA   0x5000ull
#define PT32_PA   0x6000ull
#define LA32      0x8E1A7123ull         /* PD index 0x238, PT index 0x1A7 */
#define FRAME4K32 0x76543000ull
#define FRAME4M   0x76400000ull
#define MIB4      0x400000ull

/* PAE paging: PDPTE register 3 -> PD at PD_PA -> PT at PT_PA. CR3 names a
 * PDPT in memory (32-byte aligned inside a page) that stays all zero in the
 * walk tests: the walker must use the registers, never the table. */
#define PDPT_PAE_PA 0x7FE0ull
#define LA_PAE    0xC5A7B123ull         /* PDPTE 3, PD index 0x02D, PT index 0x07B */
#define MIB2      0x200000ull

static uint64_t pde32_pa(void) { return PD32_PA + 4 * (LA32 >> 22); }
static uint64_t pte32_pa(void) { return PT32_PA + 4 * ((LA32 >> 12) & 0x3FF); }
static uint64_t pde_pae_pa(void) { return PD_PA + 8 * ((LA_PAE >> 21) & 511); }
static uint64_t pte_pae_pa(void) { return PT_PA + 8 * ((LA_PAE >> 12) & 511); }

/* A 4-byte entry is a half of the little-endian quadword the fake memory holds. */
static uint32_t fm_get32(struct fakemem *m, uint64_t pa)
{
    return (uint32_t)(*fm_slot(m, pa & ~7ull) >> (8 * (pa & 4)));
}

static void fm_put32(struct fakemem *m, uint64_t pa, uint32_t v)
{
    uint64_t *q = fm_slot(m, pa & ~7ull);
    unsigned sh = 8 * (unsigned)(pa & 4);
    *q = (*q & ~(0xFFFFFFFFull << sh)) | ((uint64_t)v << sh);
}

/* A context for a legacy mode: make_ctx's options without LME/LMA, CR4.PAE
 * only for PAE paging. IA32_EFER.NXE stays 1 unless O_NONXE (with 32-bit
 * paging it must change nothing). */
static struct pg_ctx make_lctx(enum pg_mode mode, unsigned cpl, unsigned opt, unsigned maxpa)
{
    struct pg_ctx c = make_ctx(cpl, opt, maxpa);
    c.efer &= ~(EFER_LME | EFER_LMA);
    if (opt & O_PSE)
        c.cr4 |= CR4_PSE;
    if (mode == PG_MODE_32BIT) {
        c.cr4 &= ~CR4_PAE;
        c.cr3 = PD32_PA;
    } else {
        c.cr3 = PDPT_PAE_PA;
    }
    return c;
}

/* leaf: 1 = 4-KiB page; 2 = 4-MiB page (the builder adds PS and the frame). */
static void build32(struct fakemem *m, uint32_t pde, uint32_t pte, unsigned leaf)
{
    memset(m, 0, sizeof(*m));
    if (leaf == 2) {
        fm_put32(m, pde32_pa(), (uint32_t)FRAME4M | pde | (uint32_t)PTE_PS);
        return;
    }
    fm_put32(m, pde32_pa(), (uint32_t)PT32_PA | pde);
    fm_put32(m, pte32_pa(), (uint32_t)FRAME4K32 | pte);
}

/* leaf: 1 = 4-KiB page; 2 = 2-MiB page. The PDPTE goes into register 3. */
static void build_pae(struct fakemem *m, struct pg_ctx *c, uint64_t pdpte, uint64_t pde, uint64_t pte,
                      unsigned leaf)
{
    memset(m, 0, sizeof(*m));
    c->pdpte[3] = PD_PA | pdpte;
    if (leaf == 2) {
        *fm_slot(m, pde_pae_pa()) = FRAME2M | pde | PTE_PS;
        return;
    }
    *fm_slot(m, pde_pae_pa()) = PT_PA | pde;
    *fm_slot(m, pte_pae_pa()) = FRAME4K | pte;
}

static uint64_t ent_get(struct fakemem *m, bool pae, uint64_t pa)
{
    return pae ? *fm_slot(m, pa) : fm_get32(m, pa);
}

static void ent_put(struct fakemem *m, bool pae, uint64_t pa, uint64_t v)
{
    if (pae)
        *fm_slot(m, pa) = v;
    else
        fm_put32(m, pa, (uint32_t)v);
}

struct leg_row {
    const char *name;
    uint64_t pdpte;           /* PAE: PDPTE register flag bits (PD_PA is added); 32-bit: unused */
    uint64_t pde, pte;        /* flag bits; the builder adds the table or frame address */
    unsigned leaf;            /* 1: 4 KiB; 2: 4 MiB (32-bit) or 2 MiB (PAE) */
    enum pg_access acc;
    unsigned cpl;
    unsigned opt;
    unsigned maxpa;           /* 0: 46 */
    enum pg_status want;
    uint32_t ec;              /* PG_FAULT: expected error code */
    unsigned level;           /* PG_FAULT: expected fault level (3 = PAE PDPTE register) */
    uint64_t pa_or;           /* PG_OK: address bits the leaf adds to the frame (PSE-36, MAXPHYADDR) */
};

#define T32_OK(n, pde, pte, lf, acc, cpl, opt) { n, 0, pde, pte, lf, acc, cpl, opt, 0, PG_OK, 0, 0, 0 }
#define T32_OKM(n, pde, pte, lf, acc, cpl, opt, mp, por) { n, 0, pde, pte, lf, acc, cpl, opt, mp, PG_OK, 0, 0, por }
#define T32_PF(n, pde, pte, lf, acc, cpl, opt, ec, lvl) \
    { n, 0, pde, pte, lf, acc, cpl, opt, 0, PG_FAULT, ec, lvl, 0 }
#define T32_PFM(n, pde, pte, lf, acc, cpl, opt, mp, ec, lvl) \
    { n, 0, pde, pte, lf, acc, cpl, opt, mp, PG_FAULT, ec, lvl, 0 }
#define PAE_OK(n, pdpte, pde, pte, lf, acc, cpl, opt) \
    { n, pdpte, pde, pte, lf, acc, cpl, opt, 0, PG_OK, 0, 0, 0 }
#define PAE_OKM(n, pdpte, pde, pte, lf, acc, cpl, opt, mp, por) \
    { n, pdpte, pde, pte, lf, acc, cpl, opt, mp, PG_OK, 0, 0, por }
#define PAE_PF(n, pdpte, pde, pte, lf, acc, cpl, opt, ec, lvl) \
    { n, pdpte, pde, pte, lf, acc, cpl, opt, 0, PG_FAULT, ec, lvl, 0 }
#define PAE_PFM(n, pdpte, pde, pte, lf, acc, cpl, opt, mp, ec, lvl) \
    { n, pdpte, pde, pte, lf, acc, cpl, opt, mp, PG_FAULT, ec, lvl, 0 }
#define PSE O_PSE

static const struct leg_row rows_32bit[] = {
    /* -- translations (SDM 3A 4.3, figures 4-2 and 4-3) -- */
    T32_OK("32/ok/4k/read/sv",              FULL, FULL, 1, RD, 0, 0),
    T32_OK("32/ok/4k/write/user",           FULL, FULL, 1, WR, 3, 0),
    T32_OK("32/ok/4k/fetch/user/nxe1",      FULL, FULL, 1, FE, 3, 0),
    T32_OK("32/ok/4k/fetch/sv/nxe1",        P | W, P | W, 1, FE, 0, 0),
    T32_OK("32/ok/4m/write/sv",             FULL, 0, 2, WR, 0, PSE),
    T32_OK("32/ok/4m/fetch/user",           FULL, 0, 2, FE, 3, PSE),
    /* CR4.PSE = 0: PS is ignored and the PDE references a page table (4.3). */
    T32_OK("32/ok/pse0/pde-ps-ignored",     FULL | PTE_PS, FULL, 1, WR, 3, 0),
    /* Ignored bits (tables 4-5, 4-6): 11:8 and 6 in a PDE referencing a page
     * table, 11:9 in a PTE; bit 7 of a PTE and bit 12 of a 4-MiB PDE are PAT. */
    T32_OK("32/ok/ignored-bits",            FULL | BIT(6) | BIT(8) | 0xE00, FULL | BIT(7) | 0xE00, 1, WR, 3, 0),
    T32_OK("32/ok/4m/pde-bit12-is-pat",     FULL | BIT(12) | 0xE00, 0, 2, RD, 0, PSE),
    T32_OK("32/ok/pwt-pcd-ignored-for-rights", FULL | BIT(3) | BIT(4), FULL | BIT(3), 1, WR, 3, 0),
    /* PSE-36 (table 4-4): PDE bits (M-20):13 are PA bits (M-1):32, M = min(MAXPHYADDR, 40). */
    T32_OKM("32/pse36/m46-is-m40/bits20-13", FULL | 0x1FE000, 0, 2, RD, 0, PSE, 46, 0xFF00000000ull),
    T32_OKM("32/pse36/m52-is-m40/bit13-is-pa32", FULL | BIT(13), 0, 2, WR, 3, PSE, 52, BIT(32)),
    T32_OKM("32/pse36/m40/bit20-is-pa39",   FULL | BIT(20), 0, 2, RD, 0, PSE, 40, BIT(39)),
    T32_OKM("32/pse36/m36/bit16-is-pa35",   FULL | BIT(16), 0, 2, RD, 0, PSE, 36, BIT(35)),
    T32_OKM("32/pse36/m39/bit19-is-pa38",   FULL | BIT(19), 0, 2, FE, 0, PSE, 39, BIT(38)),

    /* -- not present (SDM 3A 4.7: P = 0; W, U, I describe the access) -- */
    T32_PF("32/np/pde/read/sv",             0, FULL, 1, RD, 0, 0, 0, 2),
    T32_PF("32/np/pde/write/user",          W | U, FULL, 1, WR, 3, 0, EC_W | EC_U, 2),
    T32_PF("32/np/pde/4m/write/sv",         W | U, 0, 2, WR, 0, PSE, EC_W, 2),
    T32_PF("32/np/pte/read/user",           FULL, 0, 1, RD, 3, 0, EC_U, 1),
    T32_PF("32/np/pte/write/sv",            FULL, W | U, 1, WR, 0, 0, EC_W, 1),
    /* I/D: with 32-bit paging only CR4.SMEP sets it; IA32_EFER.NXE = 1 does not. */
    T32_PF("32/np/pte/fetch/sv/nxe1-smep0-no-I",   FULL, 0, 1, FE, 0, 0, 0, 1),
    T32_PF("32/np/pte/fetch/user/nxe1-smep0-no-I", FULL, 0, 1, FE, 3, 0, EC_U, 1),
    T32_PF("32/np/pde/fetch/sv/nxe1-smep0-no-I",   0, 0, 1, FE, 0, 0, 0, 2),
    T32_PF("32/np/pte/fetch/sv/smep1-I",           FULL, 0, 1, FE, 0, O_SMEP, EC_I, 1),
    T32_PF("32/np/pte/fetch/user/smep1-nxe0-I",    FULL, 0, 1, FE, 3, O_SMEP | O_NONXE, EC_U | EC_I, 1),
    T32_PF("32/np/pte/write/implicit-at-cpl3-is-supervisor", FULL, 0, 1, WR, 3, O_IMPL, EC_W, 1),
    T32_PF("32/np/pde/4m/reserved-bits-ignored-when-not-present", W | BIT(21), 0, 2, RD, 0, PSE, 0, 2),

    /* -- reserved bits: only 21:(M-19) of a 4-MiB PDE (table 4-4); P = RSVD = 1 -- */
    T32_PFM("32/rsvd/4m/m46/bit21",         FULL | BIT(21), 0, 2, RD, 0, PSE, 46, EC_P | EC_R, 2),
    T32_PFM("32/rsvd/4m/m40/bit21",         FULL | BIT(21), 0, 2, RD, 0, PSE, 40, EC_P | EC_R, 2),
    T32_PFM("32/rsvd/4m/m39/bit20",         FULL | BIT(20), 0, 2, RD, 0, PSE, 39, EC_P | EC_R, 2),
    T32_PFM("32/rsvd/4m/m36/bit17/write",   FULL | BIT(17), 0, 2, WR, 0, PSE, 36, EC_P | EC_R | EC_W, 2),
    T32_PFM("32/rsvd/4m/m36/bit20/user",    FULL | BIT(20), 0, 2, RD, 3, PSE, 36, EC_P | EC_R | EC_U, 2),
    T32_PF("32/rsvd/4m/fetch/nxe1-smep0-no-I", FULL | BIT(21), 0, 2, FE, 0, PSE, EC_P | EC_R, 2),
    T32_PF("32/rsvd/4m/fetch/smep1-I",      FULL | BIT(21), 0, 2, FE, 3, PSE | O_SMEP, EC_P | EC_R | EC_U | EC_I, 2),
    /* A reserved-bit fault wins over the protection fault that would follow. */
    T32_PF("32/rsvd/4m/wins-over-us",       P | W | BIT(21), 0, 2, RD, 3, PSE, EC_P | EC_R | EC_U, 2),

    /* -- R/W and CR0.WP (SDM 3A 4.6.1 "Data writes") -- */
    T32_PF("32/rw/sv/write/pte-ro/wp1",     FULL, P | U, 1, WR, 0, 0, EC_P | EC_W, 1),
    T32_OK("32/rw/sv/write/pte-ro/wp0",     FULL, P | U, 1, WR, 0, O_NOWP),
    T32_PF("32/rw/sv/write/pde-ro/wp1",     P | U, FULL, 1, WR, 0, 0, EC_P | EC_W, 1),
    T32_PF("32/rw/user/write/pte-ro/wp0",   FULL, P | U, 1, WR, 3, O_NOWP, EC_P | EC_W | EC_U, 1),
    T32_PF("32/rw/user/write/pde-ro",       P | U, FULL, 1, WR, 3, 0, EC_P | EC_W | EC_U, 1),
    T32_PF("32/rw/4m/user/write/ro",        P | U, 0, 2, WR, 3, PSE, EC_P | EC_W | EC_U, 2),
    T32_OK("32/rw/4m/sv/write/ro/wp0",      P, 0, 2, WR, 0, PSE | O_NOWP),
    T32_OK("32/rw/user/read/ro",            P | U, P | U, 1, RD, 3, 0),
    T32_PF("32/rw/implicit-cpl3/write/ro/wp1", P | W, P, 1, WR, 3, O_IMPL, EC_P | EC_W, 1),

    /* -- U/S (SDM 3A 4.6.1) -- */
    T32_PF("32/us/user/read/pte-sv",        FULL, P | W, 1, RD, 3, 0, EC_P | EC_U, 1),
    T32_PF("32/us/user/write/pde-sv",       P | W, FULL, 1, WR, 3, 0, EC_P | EC_W | EC_U, 1),
    T32_PF("32/us/user/fetch/sv-page/nxe1-no-I", FULL, P | W, 1, FE, 3, 0, EC_P | EC_U, 1),
    T32_PF("32/us/4m/user/read/sv",         P | W, 0, 2, RD, 3, PSE, EC_P | EC_U, 2),
    T32_OK("32/us/sv/write/user-page",      FULL, FULL, 1, WR, 0, 0),
    T32_OK("32/us/implicit-cpl3/read/sv-page", P | W, P | W, 1, RD, 3, O_IMPL),

    /* -- SMEP and SMAP apply in every paging mode (SDM 3A 4.6.1) -- */
    T32_PF("32/smep/sv/fetch/user-page",    FULL, FULL, 1, FE, 0, O_SMEP, EC_P | EC_I, 1),
    T32_PF("32/smep/sv/fetch/user-page/nxe0", FULL, FULL, 1, FE, 0, O_SMEP | O_NONXE, EC_P | EC_I, 1),
    T32_PF("32/smep/4m/sv/fetch/user-page", FULL, 0, 2, FE, 0, O_SMEP | PSE, EC_P | EC_I, 2),
    T32_OK("32/smep/sv/fetch/sv-at-pde-only", P | W, FULL, 1, FE, 0, O_SMEP),
    T32_OK("32/smep/user/fetch/user-page",  FULL, FULL, 1, FE, 3, O_SMEP),
    T32_OK("32/smep-off/sv/fetch/user-page", FULL, FULL, 1, FE, 0, 0),
    T32_PF("32/smap/sv/read/user-page/ac0", FULL, FULL, 1, RD, 0, O_SMAP, EC_P, 1),
    T32_OK("32/smap/sv/read/user-page/ac1", FULL, FULL, 1, RD, 0, O_SMAP | O_AC),
    T32_PF("32/smap/sv/write/user-page/ac0", FULL, FULL, 1, WR, 0, O_SMAP, EC_P | EC_W, 1),
    T32_PF("32/smap/implicit/read/ac1-ignored", FULL, FULL, 1, RD, 0, O_SMAP | O_AC | O_IMPL, EC_P, 1),
    T32_PF("32/smap/4m/sv/read/ac0",        FULL, 0, 2, RD, 0, O_SMAP | PSE, EC_P, 2),
    T32_OK("32/smap/sv/read/sv-page",       P | W, FULL, 1, RD, 0, O_SMAP),
};

static const struct leg_row rows_pae[] = {
    /* -- translations (SDM 3A 4.4.2, figures 4-5 and 4-6) -- */
    PAE_OK("pae/ok/4k/read/sv",             P, FULL, FULL, 1, RD, 0, 0),
    PAE_OK("pae/ok/4k/fetch/user",          P, FULL, FULL, 1, FE, 3, 0),
    PAE_OK("pae/ok/2m/write/sv/pse0",       P, FULL, 0, 2, WR, 0, 0),
    PAE_OK("pae/ok/2m/read/user/pse1",      P, FULL, 0, 2, RD, 3, PSE),
    /* PDPTEs have no R/W and no U/S (table 4-8; SDM 3A 4.6.1: they do not
     * determine access rights): a PDPTE with only P allows user writes. */
    PAE_OK("pae/ok/pdpte-p-only/user-write", P, FULL, FULL, 1, WR, 3, 0),
    PAE_OK("pae/ok/pdpte-pwt-pcd-ignored-bits", P | BIT(3) | BIT(4) | 0xE00, FULL, FULL, 1, WR, 3, 0),
    PAE_OK("pae/ok/ignored-bits",           P, FULL | BIT(6) | BIT(8) | 0xE00, FULL | BIT(7) | 0xE00, 1, WR, 3, 0),
    PAE_OK("pae/ok/2m/pde-bit12-is-pat",    P, FULL | BIT(12), 0, 2, RD, 0, 0),
    PAE_OKM("pae/ok/m52/pte-bit51-is-address", P, FULL, FULL | BIT(51), 1, RD, 0, 0, 52, BIT(51)),
    PAE_OKM("pae/ok/m40/2m-pde-bit39-is-address", P, FULL | BIT(39), 0, 2, RD, 0, 0, 40, BIT(39)),

    /* -- not present; the PDPTE register is level 3 (SDM 3A 4.4.2, 4.7) -- */
    PAE_PF("pae/np/pdpte/read/sv",          0, FULL, FULL, 1, RD, 0, 0, 0, 3),
    PAE_PF("pae/np/pdpte/write/user",       0, FULL, FULL, 1, WR, 3, 0, EC_W | EC_U, 3),
    PAE_PF("pae/np/pdpte/fetch/sv/nxe1-I",  0, FULL, FULL, 1, FE, 0, 0, EC_I, 3),
    PAE_PF("pae/np/pdpte/fetch/sv/nxe0-no-I", 0, FULL, FULL, 1, FE, 0, O_NONXE, 0, 3),
    PAE_PF("pae/np/pdpte/reserved-bits-ignored-when-not-present", BIT(1) | BIT(5) | BIT(63), FULL, FULL, 1,
           RD, 0, 0, 0, 3),
    PAE_PF("pae/np/pde/write/sv",           P, W | U, FULL, 1, WR, 0, 0, EC_W, 2),
    PAE_PF("pae/np/pde/2m/read/user",       P, W | U, 0, 2, RD, 3, 0, EC_U, 2),
    PAE_PF("pae/np/pte/read/user",          P, FULL, 0, 1, RD, 3, 0, EC_U, 1),
    PAE_PF("pae/np/pte/fetch/sv/nxe1-I",    P, FULL, 0, 1, FE, 0, 0, EC_I, 1),
    PAE_PF("pae/np/pte/fetch/sv/nxe0-smep0-no-I", P, FULL, 0, 1, FE, 0, O_NONXE, 0, 1),
    PAE_PF("pae/np/pte/fetch/sv/nxe0-smep1-I", P, FULL, 0, 1, FE, 0, O_NONXE | O_SMEP, EC_I, 1),
    PAE_PF("pae/np/pte/xd-ignored-when-not-present-nxe0", P, FULL, X | W, 1, WR, 0, O_NONXE, EC_W, 1),

    /* -- reserved bits (tables 4-9..4-11): 62:M (no ignored high bits as in
     *    4-level paging), XD without NXE, 20:13 of a 2-MiB PDE -- */
    PAE_PF("pae/rsvd/pte-bit62",            P, FULL, FULL | BIT(62), 1, RD, 0, 0, EC_P | EC_R, 1),
    PAE_PF("pae/rsvd/pte-bit52",            P, FULL, FULL | BIT(52), 1, RD, 0, 0, EC_P | EC_R, 1),
    PAE_PF("pae/rsvd/pde-bit57",            P, FULL | BIT(57), FULL, 1, RD, 0, 0, EC_P | EC_R, 2),
    PAE_PF("pae/rsvd/m46/pte-bit46/write/user", P, FULL, FULL | BIT(46), 1, WR, 3, 0, EC_P | EC_R | EC_W | EC_U, 1),
    PAE_PFM("pae/rsvd/m39/2m-pde-bit39",    P, FULL | BIT(39), 0, 2, RD, 0, 0, 39, EC_P | EC_R, 2),
    PAE_PF("pae/rsvd/2m-pde-bit13",         P, FULL | BIT(13), 0, 2, RD, 0, 0, EC_P | EC_R, 2),
    PAE_PF("pae/rsvd/2m-pde-bit20/write",   P, FULL | BIT(20), 0, 2, WR, 0, 0, EC_P | EC_R | EC_W, 2),
    PAE_PF("pae/rsvd/xd-nxe0/pte",          P, FULL, FULL | X, 1, RD, 0, O_NONXE, EC_P | EC_R, 1),
    PAE_PF("pae/rsvd/xd-nxe0/pde/fetch-no-I", P, FULL | X, FULL, 1, FE, 0, O_NONXE, EC_P | EC_R, 2),
    PAE_PF("pae/rsvd/xd-nxe0/pde/fetch-smep1-I", P, FULL | X, FULL, 1, FE, 0, O_NONXE | O_SMEP,
           EC_P | EC_R | EC_I, 2),
    PAE_PF("pae/rsvd/pte-bit55/user-fetch/nxe1-I", P, FULL, FULL | BIT(55), 1, FE, 3, 0,
           EC_P | EC_R | EC_U | EC_I, 1),
    PAE_PF("pae/rsvd/pde-before-not-present-pte", P, FULL | BIT(60), 0, 1, RD, 0, 0, EC_P | EC_R, 2),
    PAE_PF("pae/rsvd/wins-over-us",         P, P | W, FULL | BIT(58), 1, RD, 3, 0, EC_P | EC_R | EC_U, 1),
    /* A PDPTE register with a reserved bit cannot exist (loading it is #GP,
     * SDM 3A 4.4.1): pg_walk refuses loudly rather than invent a fault. */
    { "pae/pdpte-register/bit5/unsupported",  P | BIT(5), FULL, FULL, 1, RD, 0, 0, 0, PG_UNSUPPORTED, 0, 0, 0 },
    { "pae/pdpte-register/xd-nxe1/unsupported", P | X, FULL, FULL, 1, RD, 0, 0, 0, PG_UNSUPPORTED, 0, 0, 0 },

    /* -- XD with IA32_EFER.NXE (SDM 3A 4.6.1 "Instruction fetches") -- */
    PAE_PF("pae/nx/sv/fetch/pte-xd",        P, FULL, FULL | X, 1, FE, 0, 0, EC_P | EC_I, 1),
    PAE_PF("pae/nx/user/fetch/pde-xd",      P, FULL | X, FULL, 1, FE, 3, 0, EC_P | EC_U | EC_I, 1),
    PAE_PF("pae/nx/2m/sv/fetch/pde-xd",     P, FULL | X, 0, 2, FE, 0, 0, EC_P | EC_I, 2),
    PAE_OK("pae/nx/sv/read/xd-page",        P, FULL | X, FULL | X, 1, RD, 0, 0),
    PAE_OK("pae/nx/user/write/xd-page",     P, FULL, FULL | X, 1, WR, 3, 0),

    /* -- R/W and CR0.WP -- */
    PAE_PF("pae/rw/sv/write/pte-ro/wp1",    P, FULL, P | U, 1, WR, 0, 0, EC_P | EC_W, 1),
    PAE_OK("pae/rw/sv/write/pte-ro/wp0",    P, FULL, P | U, 1, WR, 0, O_NOWP),
    PAE_PF("pae/rw/sv/write/pde-ro/wp1",    P, P | U, FULL, 1, WR, 0, 0, EC_P | EC_W, 1),
    PAE_PF("pae/rw/user/write/pte-ro/wp0",  P, FULL, P | U, 1, WR, 3, O_NOWP, EC_P | EC_W | EC_U, 1),
    PAE_PF("pae/rw/2m/user/write/ro",       P, P | U, 0, 2, WR, 3, 0, EC_P | EC_W | EC_U, 2),
    PAE_OK("pae/rw/2m/sv/write/ro/wp0",     P, P, 0, 2, WR, 0, O_NOWP),

    /* -- U/S -- */
    PAE_PF("pae/us/user/read/pte-sv",       P, FULL, P | W, 1, RD, 3, 0, EC_P | EC_U, 1),
    PAE_PF("pae/us/user/write/pde-sv",      P, P | W, FULL, 1, WR, 3, 0, EC_P | EC_W | EC_U, 1),
    PAE_PF("pae/us/user/fetch/sv-page/nxe1-I", P, P | W, FULL, 1, FE, 3, 0, EC_P | EC_U | EC_I, 1),
    PAE_PF("pae/us/user/fetch/sv-page/nxe0-no-I", P, P | W, FULL, 1, FE, 3, O_NONXE, EC_P | EC_U, 1),
    PAE_OK("pae/us/implicit-cpl3/write/sv-page", P, P | W, P | W, 1, WR, 3, O_IMPL),

    /* -- SMEP and SMAP -- */
    PAE_PF("pae/smep/sv/fetch/user-page",   P, FULL, FULL, 1, FE, 0, O_SMEP, EC_P | EC_I, 1),
    PAE_PF("pae/smep/2m/sv/fetch/user-page/nxe0", P, FULL, 0, 2, FE, 0, O_SMEP | O_NONXE, EC_P | EC_I, 2),
    PAE_OK("pae/smep/sv/fetch/sv-at-pde-only", P, P | W, FULL, 1, FE, 0, O_SMEP),
    PAE_PF("pae/smap/sv/read/user-page/ac0", P, FULL, FULL, 1, RD, 0, O_SMAP, EC_P, 1),
    PAE_OK("pae/smap/sv/write/user-page/ac1", P, FULL, FULL, 1, WR, 0, O_SMAP | O_AC),
    PAE_PF("pae/smap/implicit/write/ac1-ignored", P, FULL, FULL, 1, WR, 0, O_SMAP | O_AC | O_IMPL, EC_P | EC_W, 1),
    PAE_PF("pae/smap/2m/sv/read/ac0",       P, FULL, 0, 2, RD, 0, O_SMAP, EC_P, 2),
};

static void check_legacy_row(const struct leg_row *row, enum pg_mode mode)
{
    static struct fakemem m, before;
    const bool pae = mode == PG_MODE_PAE;
    struct pg_ctx c = make_lctx(mode, row->cpl, row->opt, row->maxpa);
    const uint64_t la = pae ? LA_PAE : LA32;
    const uint64_t pde_pa = pae ? pde_pae_pa() : pde32_pa(), pte_pa = pae ? pte_pae_pa() : pte32_pa();
    if (pae)
        build_pae(&m, &c, row->pdpte, row->pde, row->pte, row->leaf);
    else
        build32(&m, (uint32_t)row->pde, (uint32_t)row->pte, row->leaf);
    before = m;
    struct pg_result r;
    enum pg_status st = pg_walk(&c, &fm_ops, &m, la, row->acc, true, &r);

    ck_assert_msg(st == row->want, "%s: pg_walk returned %d, expected %d (ec %#x, level %u)", row->name, st,
                  row->want, r.error_code, r.fault_level);
    ck_assert_msg(r.status == st, "%s: res.status %d differs from the return value %d", row->name, r.status, st);
    if (row->want != PG_OK) {
        if (row->want == PG_FAULT) {
            ck_assert_msg(r.error_code == row->ec, "%s: error code %#x, expected %#x", row->name,
                          r.error_code, row->ec);
            ck_assert_msg(r.fault_level == row->level, "%s: fault level %u, expected %u", row->name,
                          r.fault_level, row->level);
        }
        ck_assert_msg(memcmp(&m.pg, &before.pg, sizeof(m.pg)) == 0,
                      "%s: a failing walk modified the paging structures", row->name);
        ck_assert_msg(m.cas_ok == 0, "%s: %u successful cmpxchg on a failing walk", row->name, m.cas_ok);
        if (pae && row->level == 3)
            ck_assert_msg(m.reads == 0, "%s: %u reads before the PDPTE register fault", row->name, m.reads);
        return;
    }

    uint64_t size = row->leaf == 1 ? 4096 : pae ? MIB2 : MIB4;
    uint64_t frame = (row->leaf == 1 ? (pae ? FRAME4K : FRAME4K32) : (pae ? FRAME2M : FRAME4M)) | row->pa_or;
    uint64_t want_pa = frame + (la & (size - 1));
    ck_assert_msg(r.pa == want_pa, "%s: pa %#llx, expected %#llx", row->name, (unsigned long long)r.pa,
                  (unsigned long long)want_pa);
    ck_assert_msg(r.page_size == size, "%s: page size %#llx, expected %#llx", row->name,
                  (unsigned long long)r.page_size, (unsigned long long)size);
    ck_assert_msg(r.page_base_la == (la & ~(size - 1)), "%s: page_base_la %#llx", row->name,
                  (unsigned long long)r.page_base_la);
    ck_assert_msg(r.page_base_pa == frame, "%s: page_base_pa %#llx, expected %#llx", row->name,
                  (unsigned long long)r.page_base_pa, (unsigned long long)frame);
    /* Entries read from memory: the PDE and, for 4-KiB pages, the PTE. A PAE
     * PDPTE is a register (SDM 3A 4.4.1): the PDPT in memory is not read. */
    unsigned nlev = 3 - row->leaf;
    ck_assert_msg(r.levels == nlev, "%s: %u entries read, expected %u", row->name, r.levels, nlev);
    ck_assert_msg(m.reads == nlev, "%s: %u memory reads, expected %u", row->name, m.reads, nlev);
    uint64_t leaf_pa = row->leaf == 1 ? pte_pa : pde_pa;
    ck_assert_msg(r.leaf_entry_pa == leaf_pa, "%s: leaf_entry_pa %#llx, expected %#llx", row->name,
                  (unsigned long long)r.leaf_entry_pa, (unsigned long long)leaf_pa);

    /* Access rights: AND of U/S and R/W, OR of XD (PAE with NXE only) over
     * the PDE and PTE; the PDPTE takes no part (SDM 3A 4.6.1). */
    bool nxe = pae && !(row->opt & O_NONXE);
    bool leaf4k = row->leaf == 1;
    bool user = (row->pde & U) && (!leaf4k || (row->pte & U));
    bool wr = (row->pde & W) && (!leaf4k || (row->pte & W));
    bool nx = nxe && ((row->pde & X) || (leaf4k && (row->pte & X)));
    ck_assert_msg(r.user == user, "%s: user %d, expected %d", row->name, r.user, user);
    ck_assert_msg(r.writable == wr, "%s: writable %d, expected %d", row->name, r.writable, wr);
    ck_assert_msg(r.nx == nx, "%s: nx %d, expected %d", row->name, r.nx, nx);
    bool uu = !leaf4k || (row->pde & U), uw = !leaf4k || (row->pde & W), un = leaf4k && nxe && (row->pde & X);
    ck_assert_msg(r.upper_user == uu && r.upper_writable == uw && r.upper_nx == un,
                  "%s: upper rights %d%d%d, expected %d%d%d", row->name, r.upper_user, r.upper_writable,
                  r.upper_nx, uu, uw, un);

    /* SDM 3A 4.8: A in the PDE and PTE, D in the leaf on a write; the PDPTE
     * register has no A flag; nothing else changes, in particular not the
     * other half of a 4-byte entry's quadword. */
    uint64_t used[2] = { pde_pa, pte_pa };
    for (unsigned i = 0; i < nlev; i++) {
        uint64_t now = ent_get(&m, pae, used[i]), was = ent_get(&before, pae, used[i]);
        uint64_t want = was | PTE_A;
        if (i == nlev - 1 && row->acc == PG_ACC_WRITE)
            want |= PTE_D;
        ck_assert_msg(now == want, "%s: entry at %#llx is %#llx after the walk, expected %#llx", row->name,
                      (unsigned long long)used[i], (unsigned long long)now, (unsigned long long)want);
        ent_put(&before, pae, used[i], now);
    }
    ck_assert_msg(r.leaf_entry == ent_get(&m, pae, leaf_pa), "%s: leaf_entry %#llx is not the entry as "
                  "finally written", row->name, (unsigned long long)r.leaf_entry);
    ck_assert_msg(r.dirty == (row->acc == PG_ACC_WRITE), "%s: dirty %d", row->name, r.dirty);
    ck_assert_msg(memcmp(&m.pg, &before.pg, sizeof(m.pg)) == 0, "%s: the walk wrote outside its entries",
                  row->name);
}

START_TEST(walk_32bit) { check_legacy_row(&rows_32bit[_i], PG_MODE_32BIT); }
END_TEST

START_TEST(walk_pae) { check_legacy_row(&rows_pae[_i], PG_MODE_PAE); }
END_TEST

/* G in the result only for a leaf with G while CR4.PGE = 1 (SDM 3A 4.10.2.4;
 * bit 8 of a 32-bit or PAE PDE that references a page table is ignored). */
struct lglobal_row { const char *name; enum pg_mode mode; unsigned leaf; uint64_t pde_extra, pte_extra; unsigned opt;
                     bool want; };
static const struct lglobal_row lglobal_rows[] = {
    { "global/32/4k/g-pte/pge1",        PG_MODE_32BIT, 1, 0,     PTE_G, O_PGE,       true },
    { "global/32/4k/g-pte/pge0",        PG_MODE_32BIT, 1, 0,     PTE_G, 0,           false },
    { "global/32/4k/g-pde-only/pge1",   PG_MODE_32BIT, 1, PTE_G, 0,     O_PGE,       false },
    { "global/32/4m/g/pge1",            PG_MODE_32BIT, 2, PTE_G, 0,     O_PGE | PSE, true },
    { "global/32/4m/g/pge0",            PG_MODE_32BIT, 2, PTE_G, 0,     PSE,         false },
    { "global/32/4m/none/pge1",         PG_MODE_32BIT, 2, 0,     0,     O_PGE | PSE, false },
    { "global/pae/4k/g-pte/pge1",       PG_MODE_PAE,   1, 0,     PTE_G, O_PGE,       true },
    { "global/pae/4k/g-pte/pge0",       PG_MODE_PAE,   1, 0,     PTE_G, 0,           false },
    { "global/pae/4k/g-pde-only/pge1",  PG_MODE_PAE,   1, PTE_G, 0,     O_PGE,       false },
    { "global/pae/2m/g/pge1",           PG_MODE_PAE,   2, PTE_G, 0,     O_PGE,       true },
    { "global/pae/2m/none/pge1",        PG_MODE_PAE,   2, 0,     0,     O_PGE,       false },
};

START_TEST(legacy_global)
{
    const struct lglobal_row *row = &lglobal_rows[_i];
    static struct fakemem m;
    struct pg_ctx c = make_lctx(row->mode, 0, row->opt, 0);
    if (row->mode == PG_MODE_PAE)
        build_pae(&m, &c, P, FULL | row->pde_extra, FULL | row->pte_extra, row->leaf);
    else
        build32(&m, (uint32_t)(FULL | row->pde_extra), (uint32_t)(FULL | row->pte_extra), row->leaf);
    struct pg_result r;
    uint64_t la = row->mode == PG_MODE_PAE ? LA_PAE : LA32;
    ck_assert_msg(pg_walk(&c, &fm_ops, &m, la, PG_ACC_READ, true, &r) == PG_OK, "%s: walk failed", row->name);
    ck_assert_msg(r.global == row->want, "%s: global %d, expected %d", row->name, r.global, row->want);
}
END_TEST

/* Bits 31:30 of the linear address select the PDPTE register (SDM 3A 4.4.2). */
START_TEST(pae_pdpte_register_selected_by_la_31_30)
{
    static struct fakemem m;
    memset(&m, 0, sizeof(m));
    struct pg_ctx c = make_lctx(PG_MODE_PAE, 0, 0, 0);
    static const uint64_t pd[4] = { 0x8000, 0x9000, 0xA000, 0xB000 };
    for (unsigned i = 0; i < 4; i++) {
        c.pdpte[i] = pd[i] | P;
        *fm_slot(&m, pd[i] + 8 * 5) = ((uint64_t)(i + 1) << 32) | FULL | PTE_PS;   /* PD index 5: 2 MiB */
    }
    for (unsigned i = 0; i < 4; i++) {
        uint64_t la = ((uint64_t)i << 30) | (5ull << 21) | 0x12345;
        struct pg_result r;
        ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, la, PG_ACC_READ, false, &r), PG_OK);
        ck_assert_msg(r.pa == (((uint64_t)(i + 1) << 32) | 0x12345), "PDPTE %u: pa %#llx", i,
                      (unsigned long long)r.pa);
    }
    /* Only the register of the address's quarter matters. */
    c.pdpte[2] = 0;
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, (2ull << 30) | (5ull << 21), PG_ACC_READ, false, &r), PG_FAULT);
    ck_assert_uint_eq(r.fault_level, 3);
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, (3ull << 30) | (5ull << 21), PG_ACC_READ, false, &r), PG_OK);
}
END_TEST

/* The walk uses the PDPTE registers, never the PDPT in memory, whatever it
 * holds now (SDM 3A 4.4.1: they are loaded only at the events listed there). */
START_TEST(pae_walk_ignores_pdpt_in_memory)
{
    static struct fakemem m;
    struct pg_ctx c = make_lctx(PG_MODE_PAE, 0, 0, 0);
    build_pae(&m, &c, P, FULL, FULL, 1);
    /* The table at CR3 names the same PD for every quarter ... */
    for (unsigned i = 0; i < 4; i++)
        *fm_slot(&m, PDPT_PAE_PA + 8 * i) = PD_PA | P;
    c.pdpte[3] = 0;                           /* ... but register 3 is not present. */
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA_PAE, PG_ACC_READ, true, &r), PG_FAULT);
    ck_assert_uint_eq(r.fault_level, 3);
    ck_assert_uint_eq(r.error_code, 0);
    ck_assert_uint_eq(r.levels, 0);
    ck_assert_uint_eq(m.reads, 0);
    /* With the registers loaded from that table, the walk succeeds. */
    ck_assert_int_eq(pg_load_pdptes(&c, &fm_ops, &m, c.pdpte), PG_OK);
    ck_assert_uint_eq(c.pdpte[3], PD_PA | P);
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA_PAE, PG_ACC_READ, true, &r), PG_OK);
    ck_assert_uint_eq(r.pa, FRAME4K + (LA_PAE & 0xFFF));
}
END_TEST

/* Linear addresses are 32 bits wide outside IA-32e mode: bits 63:32 of la do
 * not move a 32-bit or PAE walk; CR3 bits other than the table address
 * (SDM 3A tables 4-3, 4-7) do not either. */
START_TEST(legacy_la_and_cr3_high_bits_ignored)
{
    static struct fakemem m;
    struct pg_ctx c = make_lctx(PG_MODE_32BIT, 0, 0, 0);
    build32(&m, FULL, FULL, 1);
    c.cr3 = PD32_PA | 0xFFF | (0xABull << 32);
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA32 | (0xFFFF0001ull << 32), PG_ACC_READ, true, &r), PG_OK);
    ck_assert_uint_eq(r.pa, FRAME4K32 + (LA32 & 0xFFF));
    ck_assert_uint_eq(r.page_base_la, LA32 & ~0xFFFull);

    c = make_lctx(PG_MODE_PAE, 0, 0, 0);
    build_pae(&m, &c, P, FULL, FULL, 2);
    c.cr3 = 0xFFFFFFFFFFFFFFFFull;            /* not read by a PAE walk at all */
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA_PAE | (1ull << 32) | (1ull << 63), PG_ACC_READ, true, &r),
                     PG_OK);
    ck_assert_uint_eq(r.pa, FRAME2M + (LA_PAE & (MIB2 - 1)));
    ck_assert_uint_eq(r.page_base_la, LA_PAE & ~(MIB2 - 1));
}
END_TEST

/* ---- 4-byte entries: A/D updates leave the other half of the quadword alone ---- */

#define NEIGHBOUR_A 0xDEADB0E7u               /* an arbitrary 32-bit neighbour entry */
#define NEIGHBOUR_B 0x0BADF00Du

/* Set the 4-byte entries next to LA32's PDE (its high half) and PTE (low half). */
static void set_neighbours32(struct fakemem *m, uint32_t a, uint32_t b)
{
    fm_put32(m, pde32_pa() ^ 4, a);
    fm_put32(m, pte32_pa() ^ 4, b);
}

START_TEST(ad32_neighbours_untouched)
{
    static struct fakemem m;
    build32(&m, FULL, FULL, 1);
    set_neighbours32(&m, NEIGHBOUR_A, NEIGHBOUR_B);
    struct pg_ctx c = make_lctx(PG_MODE_32BIT, 3, 0, 0);
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA32, PG_ACC_WRITE, true, &r), PG_OK);
    ck_assert_uint_eq(fm_get32(&m, pde32_pa()), PT32_PA | FULL | PTE_A);
    ck_assert_uint_eq(fm_get32(&m, pte32_pa()), FRAME4K32 | FULL | PTE_A | PTE_D);
    ck_assert_uint_eq(fm_get32(&m, pde32_pa() ^ 4), NEIGHBOUR_A);
    ck_assert_uint_eq(fm_get32(&m, pte32_pa() ^ 4), NEIGHBOUR_B);
    ck_assert_uint_eq(m.cas_ok, 2);
    ck_assert_uint_eq(r.leaf_entry, FRAME4K32 | FULL | PTE_A | PTE_D);
    ck_assert(r.dirty);
}
END_TEST

/* The neighbour of the PTE changes between the read and the exchange (a
 * concurrent writer): the exchange fails, the walk restarts, and the
 * neighbour keeps its new value. */
START_TEST(ad32_neighbour_change_restarts_and_survives)
{
    static struct fakemem m;
    build32(&m, FULL, FULL, 1);
    set_neighbours32(&m, NEIGHBOUR_A, NEIGHBOUR_B);
    uint64_t pte_q = *fm_slot(&m, pte32_pa() & ~7ull);
    m.interfere_at = 2;                        /* cmpxchg #2 is the PTE's */
    m.interfere_val = (pte_q & 0xFFFFFFFF00000000ull) | NEIGHBOUR_A;   /* low half = the neighbour */
    struct pg_ctx c = make_lctx(PG_MODE_32BIT, 0, 0, 0);
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA32, PG_ACC_WRITE, true, &r), PG_OK);
    ck_assert_uint_eq(fm_get32(&m, pte32_pa() ^ 4), NEIGHBOUR_A);
    ck_assert_uint_eq(fm_get32(&m, pte32_pa()), FRAME4K32 | FULL | PTE_A | PTE_D);
    ck_assert_uint_eq(fm_get32(&m, pde32_pa() ^ 4), NEIGHBOUR_A);
    ck_assert_uint_eq(m.reads, 4);             /* the walk was done twice */
    ck_assert_uint_eq(m.cas_calls, 3);         /* PDE, PTE (failed), PTE again */
}
END_TEST

/* The PTE itself is cleared meanwhile: the restarted walk faults, and
 * neither the PTE nor its neighbour is written. */
START_TEST(ad32_entry_cleared_meanwhile)
{
    static struct fakemem m;
    build32(&m, FULL, FULL, 1);
    set_neighbours32(&m, NEIGHBOUR_A, NEIGHBOUR_B);
    m.interfere_at = 2;
    m.interfere_val = NEIGHBOUR_B;             /* high half (the PTE) = 0, low half kept */
    struct pg_ctx c = make_lctx(PG_MODE_32BIT, 3, 0, 0);
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA32, PG_ACC_WRITE, true, &r), PG_FAULT);
    ck_assert_uint_eq(r.error_code, PF_EC_W | PF_EC_U);
    ck_assert_uint_eq(r.fault_level, 1);
    ck_assert_uint_eq(fm_get32(&m, pte32_pa()), 0);
    ck_assert_uint_eq(fm_get32(&m, pte32_pa() ^ 4), NEIGHBOUR_B);
}
END_TEST

/* The PDE and the PTE share a quadword (a page directory that is also the
 * page table): the second exchange sees the first one's write, fails, and the
 * restarted walk finishes; both entries end up with their flags. */
START_TEST(ad32_pde_and_pte_in_one_quadword)
{
    static struct fakemem m;
    memset(&m, 0, sizeof(m));
    const uint64_t la = (0x10ull << 22) | (0x11ull << 12) | 0x5A5;   /* PD index 0x10, PT index 0x11 */
    fm_put32(&m, PD32_PA + 4 * 0x10, (uint32_t)PD32_PA | FULL);      /* the PD is its own page table */
    fm_put32(&m, PD32_PA + 4 * 0x11, (uint32_t)FRAME4K32 | FULL);
    struct pg_ctx c = make_lctx(PG_MODE_32BIT, 0, 0, 0);
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, la, PG_ACC_WRITE, true, &r), PG_OK);
    ck_assert_uint_eq(r.pa, FRAME4K32 + 0x5A5);
    ck_assert_uint_eq(fm_get32(&m, PD32_PA + 4 * 0x10), PD32_PA | FULL | PTE_A);
    ck_assert_uint_eq(fm_get32(&m, PD32_PA + 4 * 0x11), FRAME4K32 | FULL | PTE_A | PTE_D);
    ck_assert_uint_eq(r.leaf_entry, FRAME4K32 | FULL | PTE_A | PTE_D);
}
END_TEST

START_TEST(ad32_4m_write_sets_d_in_pde)
{
    static struct fakemem m;
    build32(&m, FULL, 0, 2);
    fm_put32(&m, pde32_pa() ^ 4, NEIGHBOUR_A);
    struct pg_ctx c = make_lctx(PG_MODE_32BIT, 0, PSE, 0);
    struct pg_result r;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA32, PG_ACC_WRITE, true, &r), PG_OK);
    ck_assert_uint_eq(fm_get32(&m, pde32_pa()), FRAME4M | FULL | PTE_PS | PTE_A | PTE_D);
    ck_assert_uint_eq(fm_get32(&m, pde32_pa() ^ 4), NEIGHBOUR_A);
    ck_assert_uint_eq(m.cas_ok, 1);
}
END_TEST

START_TEST(ad_legacy_set_ad_false_and_already_set)
{
    static struct fakemem m, before;
    struct pg_ctx c = make_lctx(PG_MODE_32BIT, 0, 0, 0);
    struct pg_result r;
    build32(&m, FULL, FULL, 1);
    before = m;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA32, PG_ACC_WRITE, false, &r), PG_OK);
    ck_assert_msg(memcmp(&m.pg, &before.pg, sizeof(m.pg)) == 0, "32-bit: set_ad=false modified memory");
    ck_assert_uint_eq(m.cas_calls, 0);
    ck_assert(!r.dirty);

    build32(&m, FULL | (uint32_t)PTE_A, FULL | (uint32_t)(PTE_A | PTE_D), 1);
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA32, PG_ACC_WRITE, true, &r), PG_OK);
    ck_assert_uint_eq(m.cas_calls, 0);
    ck_assert(r.dirty);

    c = make_lctx(PG_MODE_PAE, 0, 0, 0);
    build_pae(&m, &c, P, FULL, FULL, 1);
    before = m;
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA_PAE, PG_ACC_WRITE, false, &r), PG_OK);
    ck_assert_msg(memcmp(&m.pg, &before.pg, sizeof(m.pg)) == 0, "PAE: set_ad=false modified memory");
    ck_assert_uint_eq(m.cas_calls, 0);

    build_pae(&m, &c, P, FULL | PTE_A, FULL | PTE_A | PTE_D, 1);
    ck_assert_int_eq(pg_walk(&c, &fm_ops, &m, LA_PAE, PG_ACC_WRITE, true, &r), PG_OK);
    ck_assert_uint_eq(m.cas_calls, 0);
}
END_TEST

/* ---- unbacked legacy paging structures: PG_BUS_ERROR ---- */

struct lbus_row { const char *name; enum pg_mode mode; uint64_t cr3, pd, pt; unsigned want_level; uint64_t want_bad; };
static const struct lbus_row lbus_rows[] = {
    { "bus/32/pd-outside-ram", PG_MODE_32BIT, 0x100000, 0, 0, 2, 0x100000 + 4 * 0x238 },
    { "bus/32/pt-outside-ram", PG_MODE_32BIT, PD32_PA, 0, 0x400000, 1, 0x400000 + 4 * 0x1A7 },
    { "bus/pae/pd-outside-ram", PG_MODE_PAE, PDPT_PAE_PA, 0x300000, 0, 2, 0x300000 + 8 * 0x2D },
    { "bus/pae/pt-outside-ram", PG_MODE_PAE, PDPT_PAE_PA, 0, 0x400000, 1, 0x400000 + 8 * 0x7B },
};

START_TEST(legacy_bus_error)
{
    const struct lbus_row *row = &lbus_rows[_i];
    static struct fakemem m, before;
    struct pg_ctx c = make_lctx(row->mode, 0, 0, 0);
    uint64_t la;
    if (row->mode == PG_MODE_PAE) {
        build_pae(&m, &c, P, FULL, FULL, 1);
        if (row->pd)
            c.pdpte[3] = row->pd | P;
        if (row->pt)
            *fm_slot(&m, pde_pae_pa()) = row->pt | FULL;
        la = LA_PAE;
    } else {
        build32(&m, FULL, FULL, 1);
        if (row->pt)
            fm_put32(&m, pde32_pa(), (uint32_t)row->pt | FULL);
        la = LA32;
    }
    c.cr3 = row->cr3;
    before = m;
    struct pg_result r;
    enum pg_status st = pg_walk(&c, &fm_ops, &m, la, PG_ACC_WRITE, true, &r);
    ck_assert_msg(st == PG_BUS_ERROR && r.status == PG_BUS_ERROR, "%s: status %d", row->name, st);
    ck_assert_msg(r.fault_level == row->want_level, "%s: fault level %u, expected %u", row->name,
                  r.fault_level, row->want_level);
    ck_assert_msg(r.bad_pa == row->want_bad, "%s: bad_pa %#llx, expected %#llx", row->name,
                  (unsigned long long)r.bad_pa, (unsigned long long)row->want_bad);
    ck_assert_msg(memcmp(&m.pg, &before.pg, sizeof(m.pg)) == 0, "%s: memory modified", row->name);
}
END_TEST

/* ---- loading the PDPTE registers (SDM 3A 4.4.1, tables 4-7 and 4-8) ---- */

struct pdpte_row {
    const char *name;
    uint64_t cr3;
    uint64_t e[4];            /* the PDPT in memory at CR3[31:5] */
    unsigned maxpa;           /* 0: 46 */
    unsigned opt;
    enum pg_status want;
};
#define PDP(n) (0x8000ull + 0x1000ull * (n))   /* some page-directory addresses */
static const struct pdpte_row pdpte_rows[] = {
    { "pdpte/ok/all-present", PDPT_PAE_PA, { PDP(0) | P, PDP(1) | P, PDP(2) | P, PDP(3) | P }, 0, 0, PG_OK },
    { "pdpte/ok/none-present", PDPT_PAE_PA, { 0, 0, 0, 0 }, 0, 0, PG_OK },
    /* CR3 bits 4:0 and 63:32 are not part of the table address (table 4-7). */
    { "pdpte/ok/cr3-bits-4-0-and-63-32-ignored", PDPT_PAE_PA | 0x1F | (0x5ull << 32),
      { PDP(0) | P, 0, PDP(2) | P, 0 }, 0, 0, PG_OK },
    { "pdpte/ok/pdpt-at-page-start", 0x7000, { PDP(3) | P, PDP(2) | P, PDP(1) | P, PDP(0) | P }, 0, 0, PG_OK },
    { "pdpte/ok/pwt-pcd-and-ignored-11-9", PDPT_PAE_PA, { PDP(0) | P | BIT(3) | BIT(4) | 0xE00, 0, 0, 0 }, 0, 0,
      PG_OK },
    /* Only present entries are checked. */
    { "pdpte/ok/not-present-with-reserved-bits", PDPT_PAE_PA,
      { PDP(0) | P, BIT(1) | BIT(2) | 0x1E0 | BIT(50) | BIT(63), 0xFFFFFFFFFFFFFFFEull, 0 }, 0, 0, PG_OK },
    { "pdpte/ok/m52/bit51-is-address", PDPT_PAE_PA, { PDP(0) | P | BIT(51), 0, 0, 0 }, 52, 0, PG_OK },
    { "pdpte/ok/m46/bit45-is-address", PDPT_PAE_PA, { 0, 0, 0, PDP(0) | P | BIT(45) }, 46, 0, PG_OK },
    /* Reserved: 2:1, 8:5, 63:M (bit 63 too, whatever NXE says; no ignored bits 62:52). */
    { "pdpte/rsvd/bit1-rw",   PDPT_PAE_PA, { PDP(0) | P | BIT(1), 0, 0, 0 }, 0, 0, PG_PDPTE_RSVD },
    { "pdpte/rsvd/bit2-us",   PDPT_PAE_PA, { 0, PDP(0) | P | BIT(2), 0, 0 }, 0, 0, PG_PDPTE_RSVD },
    { "pdpte/rsvd/bit5-a",    PDPT_PAE_PA, { 0, 0, PDP(0) | P | BIT(5), 0 }, 0, 0, PG_PDPTE_RSVD },
    { "pdpte/rsvd/bit6",      PDPT_PAE_PA, { 0, 0, 0, PDP(0) | P | BIT(6) }, 0, 0, PG_PDPTE_RSVD },
    { "pdpte/rsvd/bit7-ps",   PDPT_PAE_PA, { PDP(0) | P | BIT(7), 0, 0, 0 }, 0, 0, PG_PDPTE_RSVD },
    { "pdpte/rsvd/bit8",      PDPT_PAE_PA, { PDP(0) | P | BIT(8), 0, 0, 0 }, 0, 0, PG_PDPTE_RSVD },
    { "pdpte/rsvd/m46/bit46", PDPT_PAE_PA, { PDP(0) | P, 0, 0, PDP(1) | P | BIT(46) }, 46, 0, PG_PDPTE_RSVD },
    { "pdpte/rsvd/m36/bit36", PDPT_PAE_PA, { PDP(0) | P | BIT(36), 0, 0, 0 }, 36, 0, PG_PDPTE_RSVD },
    { "pdpte/rsvd/bit52",     PDPT_PAE_PA, { PDP(0) | P | BIT(52), 0, 0, 0 }, 0, 0, PG_PDPTE_RSVD },
    { "pdpte/rsvd/bit62",     PDPT_PAE_PA, { PDP(0) | P | BIT(62), 0, 0, 0 }, 0, 0, PG_PDPTE_RSVD },
    { "pdpte/rsvd/bit63-xd/nxe1", PDPT_PAE_PA, { PDP(0) | P | BIT(63), 0, 0, 0 }, 0, 0, PG_PDPTE_RSVD },
    { "pdpte/rsvd/bit63-xd/nxe0", PDPT_PAE_PA, { PDP(0) | P | BIT(63), 0, 0, 0 }, 0, O_NONXE, PG_PDPTE_RSVD },
    /* The table is not in backed memory. */
    { "pdpte/bus/outside-ram", 0x100000, { 0, 0, 0, 0 }, 0, 0, PG_BUS_ERROR },
};

START_TEST(pdpte_load)
{
    const struct pdpte_row *row = &pdpte_rows[_i];
    static struct fakemem m, before;
    memset(&m, 0, sizeof(m));
    uint64_t base = row->cr3 & 0xFFFFFFE0ull;
    if (base < FM_SIZE) {
        for (unsigned i = 0; i < 4; i++)
            *fm_slot(&m, base + 8 * i) = row->e[i];
        /* The quadwords around the table are not part of it. */
        if (base >= 8)
            *fm_slot(&m, base - 8) = BIT(1) | P;
        *fm_slot(&m, base + 32) = BIT(1) | P;
    }
    before = m;
    struct pg_ctx c = make_lctx(PG_MODE_PAE, 0, row->opt, row->maxpa);
    c.cr3 = row->cr3;
    uint64_t out[4] = { 0x5A5A5A5A5A5A5A5Aull, 1, 2, 3 };
    enum pg_status st = pg_load_pdptes(&c, &fm_ops, &m, out);
    ck_assert_msg(st == row->want, "%s: status %d (%s), expected %d", row->name, st, pg_strerror(st), row->want);
    ck_assert_msg(memcmp(&m.pg, &before.pg, sizeof(m.pg)) == 0 && m.cas_calls == 0, "%s: memory written",
                  row->name);
    if (st == PG_OK) {
        for (unsigned i = 0; i < 4; i++)
            ck_assert_msg(out[i] == row->e[i], "%s: PDPTE %u is %#llx, expected %#llx", row->name, i,
                          (unsigned long long)out[i], (unsigned long long)row->e[i]);
        ck_assert_msg(m.reads == 4, "%s: %u reads", row->name, m.reads);
    } else {
        /* "The PDPTEs are not loaded" (SDM 3A 4.4.1). */
        ck_assert_msg(out[0] == 0x5A5A5A5A5A5A5A5Aull && out[1] == 1 && out[2] == 2 && out[3] == 3,
                      "%s: the PDPTE registers changed on a failed load", row->name);
    }
}
END_TEST

/* ---- paging off: linear = physical (SDM 3A 4.1.1) ---- */

struct none_row { const char *name; uint64_t cr0, cr4, efer, la; enum pg_access acc; unsigned cpl; unsigned opt; };
static const struct none_row none_rows[] = {
    { "none/real-mode/read",               0,               0, 0, 0x12345, RD, 0, 0 },
    { "none/real-mode/fetch-at-0",         0,               0, 0, 0, FE, 0, 0 },
    { "none/protected/user-write-wp1",     CR0_PE | CR0_WP, 0, 0, 0xFFFFFFFF, WR, 3, 0 },
    { "none/smep-smap-nxe/sv-fetch",       CR0_PE,          CR4_SMEP | CR4_SMAP | CR4_PAE | CR4_PSE | CR4_PGE,
      EFER_NXE, 0x80001000, FE, 0, 0 },
    { "none/smap/sv-read/ac0",             CR0_PE | CR0_WP, CR4_SMAP, 0, 0xC0000FFF, RD, 0, 0 },
    { "none/smap/implicit-cpl3-write",     CR0_PE | CR0_WP, CR4_SMAP, 0, 0x00400000, WR, 3, O_IMPL },
    { "none/pae0-lme1-is-not-invalid-without-pg", CR0_PE, 0, EFER_LME, 0x7000, WR, 0, 0 },
};

START_TEST(paging_off_identity)
{
    const struct none_row *row = &none_rows[_i];
    static struct fakemem m;
    build(&m, std_flags, 1);
    struct pg_ctx c = make_ctx(row->cpl, row->opt, 0);
    c.cr0 = row->cr0;
    c.cr4 = row->cr4;
    c.efer = row->efer;
    ck_assert_msg(pg_mode_of(c.cr0, c.cr4, c.efer) == PG_MODE_NONE, "%s: mode", row->name);
    struct pg_result r;
    enum pg_status st = pg_walk(&c, &fm_ops, &m, row->la, row->acc, true, &r);
    ck_assert_msg(st == PG_OK && r.status == PG_OK, "%s: status %d, ec %#x", row->name, st, r.error_code);
    ck_assert_msg(r.pa == row->la, "%s: pa %#llx", row->name, (unsigned long long)r.pa);
    ck_assert_msg(r.page_size == 4096 && r.page_base_la == (row->la & ~0xFFFull) &&
                  r.page_base_pa == (row->la & ~0xFFFull), "%s: page %#llx/%#llx/%#llx", row->name,
                  (unsigned long long)r.page_size, (unsigned long long)r.page_base_la,
                  (unsigned long long)r.page_base_pa);
    ck_assert_msg(r.user && r.writable && !r.nx && !r.global, "%s: rights %d%d%d%d", row->name, r.user,
                  r.writable, r.nx, r.global);
    ck_assert_msg(r.dirty, "%s: dirty must be true (no flag to set)", row->name);
    ck_assert_msg(r.levels == 0 && r.error_code == 0 && r.fault_level == 0, "%s: walk details", row->name);
    ck_assert_msg(m.reads == 0 && m.cas_calls == 0, "%s: memory touched", row->name);
}
END_TEST

/* ---- pg_rsvd_mask follows the paging mode of the context ---- */

struct rsvd_row { const char *name; enum pg_mode mode; unsigned opt, maxpa, level; uint64_t entry, want; };
static const struct rsvd_row rsvd_rows[] = {
    { "rsvdmask/32/pte",               PG_MODE_32BIT, PSE, 46, 1, FULL | PTE_PS, 0 },
    { "rsvdmask/32/pde-table",         PG_MODE_32BIT, PSE, 46, 2, FULL, 0 },
    { "rsvdmask/32/pde-4m/m46",        PG_MODE_32BIT, PSE, 46, 2, FULL | PTE_PS, BIT(21) },
    { "rsvdmask/32/pde-4m/m36",        PG_MODE_32BIT, PSE, 36, 2, FULL | PTE_PS, 0x3E0000 },
    { "rsvdmask/32/pde-ps/pse0",       PG_MODE_32BIT, 0,   46, 2, FULL | PTE_PS, 0 },
    { "rsvdmask/pae/pdpte/m46",        PG_MODE_PAE,   0,   46, 3, P, 0xFFFFC00000000000ull | 0x1E6 },
    { "rsvdmask/pae/pte/m46/nxe1",     PG_MODE_PAE,   0,   46, 1, FULL, 0x7FFFC00000000000ull },
    { "rsvdmask/pae/pte/m40/nxe0",     PG_MODE_PAE,   O_NONXE, 40, 1, FULL, 0xFFFFFF0000000000ull },
    { "rsvdmask/pae/pde-2m/m46",       PG_MODE_PAE,   0,   46, 2, FULL | PTE_PS, 0x7FFFC00000000000ull | 0x1FE000 },
    { "rsvdmask/4level/pte/m46/nxe1",  PG_MODE_4LEVEL, 0,  46, 1, FULL, 0x000FC00000000000ull },
};

START_TEST(rsvd_mask_by_mode)
{
    const struct rsvd_row *row = &rsvd_rows[_i];
    struct pg_ctx c = row->mode == PG_MODE_4LEVEL ? make_ctx(0, row->opt, row->maxpa)
                                                  : make_lctx(row->mode, 0, row->opt, row->maxpa);
    uint64_t got = pg_rsvd_mask(&c, row->level, row->entry);
    ck_assert_msg(got == row->want, "%s: mask %#llx, expected %#llx", row->name, (unsigned long long)got,
                  (unsigned long long)row->want);
}
END_TEST

START_TEST(strerror_names_every_status)
{
    static const enum pg_status all[] = { PG_OK, PG_FAULT, PG_BUS_ERROR, PG_UNSUPPORTED, PG_PDPTE_RSVD };
    for (int i = 0; i < NROWS(all); i++) {
        const char *s = pg_strerror(all[i]);
        ck_assert_msg(s && *s && !strstr(s, "unknown"), "status %d has no name", all[i]);
        for (int j = 0; j < i; j++)
            ck_assert_msg(strcmp(s, pg_strerror(all[j])) != 0, "statuses %d and %d share a name", all[i], all[j]);
    }
    ck_assert_msg(strstr(pg_strerror((enum pg_status)99), "unknown") != NULL, "out-of-range status");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("paging");
    TCase *t = harness_tcase("walk");
    ADD_ROWS(t, walk_table, walk_rows);
    ADD_ROWS(t, global_flag, global_rows);
    tcase_add_test(t, cr3_low_and_high_bits_ignored);
    tcase_add_test(t, upper_half_address);
    suite_add_tcase(s, t);

    t = harness_tcase("perm");
    tcase_add_test(t, check_perm_exhaustive);
    tcase_add_test(t, check_perm_paging_off);
    suite_add_tcase(s, t);

    t = harness_tcase("walk32");
    ADD_ROWS(t, walk_32bit, rows_32bit);
    suite_add_tcase(s, t);

    t = harness_tcase("walk_pae");
    ADD_ROWS(t, walk_pae, rows_pae);
    tcase_add_test(t, pae_pdpte_register_selected_by_la_31_30);
    tcase_add_test(t, pae_walk_ignores_pdpt_in_memory);
    ADD_ROWS(t, pdpte_load, pdpte_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("legacy");
    ADD_ROWS(t, legacy_global, lglobal_rows);
    tcase_add_test(t, legacy_la_and_cr3_high_bits_ignored);
    ADD_ROWS(t, legacy_bus_error, lbus_rows);
    ADD_ROWS(t, paging_off_identity, none_rows);
    ADD_ROWS(t, rsvd_mask_by_mode, rsvd_rows);
    tcase_add_test(t, strerror_names_every_status);
    tcase_add_test(t, ad32_neighbours_untouched);
    tcase_add_test(t, ad32_neighbour_change_restarts_and_survives);
    tcase_add_test(t, ad32_entry_cleared_meanwhile);
    tcase_add_test(t, ad32_pde_and_pte_in_one_quadword);
    tcase_add_test(t, ad32_4m_write_sets_d_in_pde);
    tcase_add_test(t, ad_legacy_set_ad_false_and_already_set);
    suite_add_tcase(s, t);

    t = harness_tcase("accessed_dirty");
    tcase_add_test(t, ad_set_ad_false_writes_nothing);
    tcase_add_test(t, ad_already_set_needs_no_cmpxchg);
    tcase_add_test(t, ad_read_of_dirty_page_reports_dirty);
    tcase_add_test(t, ad_write_2m_sets_d_in_pde_only);
    tcase_add_test(t, ad_not_present_leaves_upper_levels_untouched);
    tcase_add_test(t, cmpxchg_failure_restarts_walk);
    tcase_add_test(t, cmpxchg_failure_restart_sees_not_present);
    tcase_add_test(t, cmpxchg_failure_restart_sees_read_only);
    tcase_add_test(t, cmpxchg_always_failing_terminates);
    suite_add_tcase(s, t);

    t = harness_tcase("bus_error");
    ADD_ROWS(t, bus_error, bus_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("modes");
    ADD_ROWS(t, paging_modes, mode_rows);
    ADD_ROWS(t, canonical, canon_rows);
    suite_add_tcase(s, t);
    return harness_run(s);
}
