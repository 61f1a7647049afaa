/*
 * test_paging.c — the pure 4-level page walker (cpu/paging.c) against the
 * rules of the Intel SDM vol. 3A chapter 4:
 *   4.1.1  paging modes                 4.5  4-level paging, entry formats and
 *   4.6.1  determination of access            reserved bits (tables 4-14..4-20)
 *          rights (U/S, R/W + CR0.WP,   4.7  #PF error code (figure 4-12)
 *          XD + EFER.NXE, SMEP, SMAP)   4.8  accessed and dirty flags
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

START_TEST(check_perm_exhaustive)
{
    unsigned n = 0;
    for (unsigned bits = 0; bits < (1u << 10); bits++)
        for (int acc = 0; acc < 3; acc++) {
            bool cpl3 = bits & 1, impl = bits & 2, ac = bits & 4, wp = bits & 8, smep = bits & 16,
                 smap = bits & 32, nxe = bits & 64, up = bits & 128, wr = bits & 256, nx = bits & 512;
            if (nx && !nxe)
                continue;                        /* nx is "XD = 1 ... with NXE" */
            struct pg_ctx c = {
                .cr0 = CR0_PE | CR0_PG | (wp ? CR0_WP : 0), .cr3 = PML4_PA,
                .cr4 = CR4_PAE | (smep ? CR4_SMEP : 0) | (smap ? CR4_SMAP : 0),
                .efer = EFER_LME | EFER_LMA | (nxe ? EFER_NXE : 0),
                .cpl = cpl3 ? 3 : 0, .implicit_sv = impl, .rflags_ac = ac, .maxphyaddr = 46,
                .has_1g_pages = true,
            };
            bool sv = !cpl3 || impl;
            bool ok = ref_allowed(sv, !cpl3 && !impl, ac, wp, smep, smap, (enum pg_access)acc, up, wr, nx);
            uint32_t want = 0;
            if (!ok) {
                want = PF_EC_P | (acc == PG_ACC_WRITE ? PF_EC_W : 0) | (sv ? 0 : PF_EC_U) |
                       (acc == PG_ACC_FETCH && (nxe || smep) ? PF_EC_I : 0);
            }
            uint32_t got = pg_check_perm(&c, (enum pg_access)acc, up, wr, nx);
            ck_assert_msg(got == want,
                          "combination cpl=%d implicit=%d ac=%d wp=%d smep=%d smap=%d nxe=%d acc=%d "
                          "user_page=%d writable=%d nx=%d: got %#x, expected %#x",
                          cpl3 ? 3 : 0, impl, ac, wp, smep, smap, nxe, acc, up, wr, nx, got, want);
            n++;
        }
    ck_assert_uint_eq(n, 3 * 768);
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

struct mode_row { const char *name; uint64_t cr0, cr4, efer; enum pg_mode mode; enum pg_status walk; };
static const struct mode_row mode_rows[] = {
    { "mode/none/pg0",               CR0_PE,          CR4_PAE,            EFER_LME, PG_MODE_NONE,   PG_OK },
    { "mode/none/pg0-everything-else", CR0_PE,        CR4_PAE | CR4_LA57, EFER_LME | EFER_NXE, PG_MODE_NONE, PG_OK },
    { "mode/32bit/pae0",             CR0_PE | CR0_PG, 0,                  0,        PG_MODE_32BIT,  PG_UNSUPPORTED },
    { "mode/32bit/pae0-lme1",        CR0_PE | CR0_PG, 0,                  EFER_LME, PG_MODE_32BIT,  PG_UNSUPPORTED },
    { "mode/pae/lme0",               CR0_PE | CR0_PG, CR4_PAE,            0,        PG_MODE_PAE,    PG_UNSUPPORTED },
    { "mode/pae/lme0-la57",          CR0_PE | CR0_PG, CR4_PAE | CR4_LA57, 0,        PG_MODE_PAE,    PG_UNSUPPORTED },
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
