/*
 * test_npt.c — AMD-V nested paging (vmx_model/npt.c, docs/svm.md "Nested
 * paging"), table-driven, against the AMD APM vol. 2:
 *   15.25.5  nested table walk: the host's 4-level long-mode format from
 *            nCR3, every nested access a user access, the host's EFER.NXE
 *   15.25.6  #NPF: EXITINFO1 = the #PF error code (5.8: P, W, U, RSVD, I/D)
 *            | bit 32 (final guest-physical address) or bit 33 (guest
 *            page-table access)
 *   5.3.3    long-mode entry formats: reserved bits 51:MAXPHYADDR, NX when
 *            EFER.NXE = 0, PS in a PML4E, 20:13 of a 2-MiB and 29:13 of a
 *            1-GiB page; PAT (bit 12) of a large page is no address bit
 *   5.4.2    accessed and dirty flags
 * and the rules npt.c adds: guest page-table accesses (CPU_SLAT_PAGING) are
 * nested-translated as user writes (kvm-unit-tests npt_rw_pfwalk: 0x200000007),
 * CPU_SLAT_PROBE walks change nothing, and a nested entry outside RAM stops
 * the run (CPU_SLAT_STOP) unless the walk is a probe (CPU_SLAT_FAULT).
 *
 * Each row gets a fresh machine (cpu_harness.h, profile amd-server,
 * MAXPHYADDR 48, or intel-minimal for MAXPHYADDR 39: npt.c takes only
 * physical memory and cpu_maxphyaddr from the cpu_t) whose RAM holds the
 * nested tables NPML4 -> NPDPT -> NPD -> NPT for GPA. Every row checks the
 * status; an OK row the whole struct cpu_slat, the A/D flags written (and
 * nothing else: the four table pages are compared, neighbour entries
 * included) and that npt_fault_info finds no fault; a FAULT row that memory
 * is untouched and the exact EXITINFO1 for each kind of fault (final
 * address, page-table access, PDPTE load without a linear address).
 * Failure messages name the row and its line in this file.
 */
#include <stdint.h>

#include "cpu_harness.h"
#include "npt.h"

/* Nested tables (host-physical, in the harness's 32 MiB of RAM). */
#define NPML4    0x800000ull
#define NPDPT    0x801000ull
#define NPD      0x802000ull
#define NPT      0x803000ull
#define UNBACKED 0x40000000ull               /* 1 GiB: no RAM there */

/* The translated guest-physical address: a different index at every level
 * (PML4 0xD5, PDPT 0xF3, PD 0xF0, PT 0x123) and offsets in every page size. */
#define GPA      0x00006ABCDE123456ull
/* Frames of the leaves: below 2^39 (valid for MAXPHYADDR 39 too) and outside
 * RAM (the walk never reads the page it maps). */
#define FRAME4K  0x0000007654321000ull
#define FRAME2M  0x0000007654200000ull
#define FRAME1G  0x0000007640000000ull

#define BIT(n)   (1ull << (n))
#define P        PTE_P
#define RW       PTE_RW
#define US       PTE_US
#define A        PTE_A
#define D        PTE_D
#define XD       PTE_XD
#define F        (P | RW | US)               /* a fully permissive entry */

/* Accesses (CPU_SLAT_*), as cpu/mem.c makes them. */
#define RD       CPU_SLAT_READ
#define WR       CPU_SLAT_WRITE
#define FE       CPU_SLAT_FETCH
#define UFE      (CPU_SLAT_FETCH | CPU_SLAT_USER)
#define PGR      (CPU_SLAT_PAGING | CPU_SLAT_READ)    /* guest walk reads an entry */
#define PGW      (CPU_SLAT_PAGING | CPU_SLAT_WRITE)   /* guest walk sets A/D in an entry */
#define PR       CPU_SLAT_PROBE

/* Effective permissions (struct cpu_slat.perm). */
#define P_R      CPU_SLAT_PERM_R
#define P_W      CPU_SLAT_PERM_W
#define P_X      (CPU_SLAT_PERM_X | CPU_SLAT_PERM_XU)  /* NX decides both: every access is a user access */
#define P_RWX    (P_R | P_W | P_X)

/* EXITINFO1 bits 32 and 33 (APM 15.25.6). */
#define FINAL    BIT(32)
#define GPT      BIT(33)

/* Host EFER at VMRUN: SCE, LME, LMA, SVME, with or without NXE. Only NXE
 * may matter to the nested walk. */
#define HOST_EFER     0x1501ull
#define HOST_EFER_NXE 0x1D01ull

/* Row options. */
enum {
    O_NXE   = 1 << 0,      /* host EFER.NXE = 1 */
    O_MP39  = 1 << 1,      /* profile intel-minimal: MAXPHYADDR 39 (else amd-server, 48) */
    O_NCR3F = 1 << 2,      /* nCR3 with PWT and PCD set (not address bits) */
};

#define ULL(x) ((unsigned long long)(x))

/* ---- the machine and its nested tables ---- */

struct nm {
    struct tm t;
    char row[200];         /* "name (test_npt.c:line)" */
};

static void nm_create(struct nm *x, const char *name, int line, unsigned opt)
{
    static const uint8_t hlt[] = { 0xF4 };
    snprintf(x->row, sizeof(x->row), "%s (test_npt.c:%d)", name, line);
    const char *pname = (opt & O_MP39) ? "intel-minimal" : "amd-server";
    const struct cpu_profile *p = cpu_profile_find(pname);
    ck_assert_msg(p != NULL, "%s: no CPU profile %s", x->row, pname);
    tm_create_with(&x->t, hlt, sizeof(hlt), p, 0);
    unsigned want = (opt & O_MP39) ? 39 : 48;
    ck_assert_msg(cpu_maxphyaddr(x->t.cpu) == want, "%s: MAXPHYADDR %u, expected %u", x->row,
                  cpu_maxphyaddr(x->t.cpu), want);
    uint64_t v;
    ck_assert_msg(!cpu_phys_read(x->t.cpu, UNBACKED, &v, 8), "%s: RAM at %#llx", x->row, ULL(UNBACKED));
}

static unsigned idx_of(uint64_t gpa, unsigned level) { return (unsigned)((gpa >> (12 + 9 * (level - 1))) & 511); }

static const uint64_t table_of[5] = { 0, NPT, NPD, NPDPT, NPML4 };   /* by level: 4 = PML4 .. 1 = PT */

/* Host-physical address of the nested entry used at `level` for GPA. */
static uint64_t entry_pa(unsigned level) { return table_of[level] + 8ull * idx_of(GPA, level); }

static void put64(struct nm *x, uint64_t pa, uint64_t v)
{
    ck_assert_msg(cpu_phys_write(x->t.cpu, pa, &v, 8), "%s: no RAM at %#llx", x->row, ULL(pa));
}

static uint64_t leaf_size(unsigned leaf) { return 1ull << (12 + 9 * (leaf - 1)); }
static uint64_t leaf_frame(unsigned leaf) { return leaf == 1 ? FRAME4K : leaf == 2 ? FRAME2M : FRAME1G; }

/* The entry build() stores at `level`: e[0] = PML4E .. e[3] = PTE flag bits;
 * the next table's address (or the frame and PS for the leaf) is added. */
static uint64_t built_entry(const uint64_t e[4], unsigned leaf, unsigned level)
{
    if (level == leaf)
        return leaf_frame(leaf) | e[4 - level] | (leaf > 1 ? PTE_PS : 0);
    return table_of[level - 1] | e[4 - level];
}

/* The walk for GPA, leaf 1 = 4 KiB, 2 = 2 MiB (PS in the PDE), 3 = 1 GiB
 * (PS in the PDPTE), and beside every entry on the path a present neighbour
 * (index + 1) that the walk must neither use nor touch. */
static void build(struct nm *x, const uint64_t e[4], unsigned leaf)
{
    for (unsigned level = 4; level >= leaf; level--) {
        put64(x, entry_pa(level), built_entry(e, leaf, level));
        uint64_t nb = table_of[level] + 8ull * ((idx_of(GPA, level) + 1) & 511);
        put64(x, nb, (FRAME4K + 0x1000ull * level) | F);
    }
}

/* The four table pages. */
struct tables { uint64_t q[4][512]; };

static void snap(struct nm *x, struct tables *s)
{
    for (unsigned level = 1; level <= 4; level++)
        ck_assert_msg(cpu_phys_read(x->t.cpu, table_of[level], s->q[level - 1], 4096), "%s: tables", x->row);
}

static uint64_t *slot(struct tables *s, unsigned level)
{
    return &s->q[level - 1][idx_of(GPA, level)];
}

static void tables_equal(struct nm *x, const struct tables *got, const struct tables *want, const char *when)
{
    for (unsigned level = 1; level <= 4; level++)
        for (unsigned i = 0; i < 512; i++)
            ck_assert_msg(got->q[level - 1][i] == want->q[level - 1][i],
                          "%s: %s: level-%u entry %u is %#llx, expected %#llx", x->row, when, level, i,
                          ULL(got->q[level - 1][i]), ULL(want->q[level - 1][i]));
}

static struct npt make_npt(unsigned opt)
{
    return (struct npt){ .ncr3 = NPML4 | ((opt & O_NCR3F) ? 0x18 : 0),
                         .host_efer = (opt & O_NXE) ? HOST_EFER_NXE : HOST_EFER };
}

/* The three kinds of fault npt_fault_info distinguishes (cpu/mem.c): the
 * translation of a linear address, a guest paging-structure entry of a
 * linear address, and a PDPTE load by MOV to CR (no linear address). */
struct fault_kind { const char *name; bool gla_valid, gla_translation; uint64_t bits; };
static const struct fault_kind kinds[] = {
    { "final address", true, true, FINAL },
    { "guest page-table entry", true, false, GPT },
    { "PDPTE load", false, false, GPT },
};

static struct cpu_slat_fault make_fault(unsigned acc, const struct fault_kind *k)
{
    return (struct cpu_slat_fault){ .gpa = GPA, .acc = acc & ~CPU_SLAT_PROBE, .gla_valid = k->gla_valid,
                                    .gla = 0x7FFF12345000ull, .gla_translation = k->gla_translation };
}

/* ---- the walk table ---- */

struct walk_row {
    const char *name;
    int line;
    uint64_t e[4];         /* PML4E, PDPTE, PDE, PTE flag bits (entries below the leaf unused) */
    unsigned leaf;         /* 1: 4 KiB, 2: 2 MiB, 3: 1 GiB */
    unsigned acc;          /* CPU_SLAT_* */
    unsigned opt;          /* O_* */
    int want;              /* CPU_SLAT_OK or CPU_SLAT_FAULT */
    uint64_t info1;        /* FAULT: EXITINFO1, bit 33 for CPU_SLAT_PAGING rows, else bit 32 */
    unsigned perm;         /* OK: CPU_SLAT_PERM_* */
    bool dirty;            /* OK: D in the leaf after the walk */
    uint64_t pa_or;        /* OK: address bits the leaf adds to the frame */
};

#define W(n, lf, e0, e1, e2, e3, a, o, ...) \
    { .name = n, .line = __LINE__, .e = { e0, e1, e2, e3 }, .leaf = lf, .acc = a, .opt = o, __VA_ARGS__ }
#define OK(pm, d)  .want = CPU_SLAT_OK, .perm = (pm), .dirty = (d)
#define NPF(i1)    .want = CPU_SLAT_FAULT, .info1 = (i1)
#define N          O_NXE

static const struct walk_row walk_rows[] = {
    /* -- translations of each page size (15.25.5; 5.3.3) -- */
    W("ok/4k/read",                         1, F, F, F, F, RD, N, OK(P_RWX, false)),
    W("ok/4k/write",                        1, F, F, F, F, WR, N, OK(P_RWX, true)),
    W("ok/4k/fetch",                        1, F, F, F, F, FE, N, OK(P_RWX, false)),
    W("ok/4k/fetch-user-address",           1, F, F, F, F, UFE, N, OK(P_RWX, false)),
    W("ok/4k/read/nxe0",                    1, F, F, F, F, RD, 0, OK(P_RWX, false)),
    W("ok/2m/read",                         2, F, F, F, 0, RD, N, OK(P_RWX, false)),
    W("ok/2m/write",                        2, F, F, F, 0, WR, N, OK(P_RWX, true)),
    W("ok/2m/fetch",                        2, F, F, F, 0, FE, N, OK(P_RWX, false)),
    W("ok/1g/read",                         3, F, F, 0, 0, RD, N, OK(P_RWX, false)),
    W("ok/1g/write",                        3, F, F, 0, 0, WR, N, OK(P_RWX, true)),
    W("ok/1g/fetch",                        3, F, F, 0, 0, FE, 0, OK(P_RWX, false)),
    /* PAT: bit 7 of a PTE, bit 12 of a large page; never an address bit. */
    W("ok/4k/pte-bit7-pat",                 1, F, F, F, F | BIT(7), RD, N, OK(P_RWX, false)),
    W("ok/2m/bit12-pat",                    2, F, F, F | BIT(12), 0, RD, N, OK(P_RWX, false)),
    W("ok/1g/bit12-pat",                    3, F, F | BIT(12), 0, 0, WR, N, OK(P_RWX, true)),
    /* Address bits up to MAXPHYADDR - 1 (48 on amd-server, 39 on intel-minimal). */
    W("ok/addr/4k/bit47",                   1, F, F, F, F | BIT(47), RD, N, OK(P_RWX, false), .pa_or = BIT(47)),
    W("ok/addr/2m/bit22",                   2, F, F, F | BIT(22), 0, RD, N, OK(P_RWX, false), .pa_or = BIT(22)),
    W("ok/addr/2m/bit47",                   2, F, F, F | BIT(47), 0, RD, N, OK(P_RWX, false), .pa_or = BIT(47)),
    W("ok/addr/1g/bit31",                   3, F, F | BIT(31), 0, 0, RD, N, OK(P_RWX, false), .pa_or = BIT(31)),
    W("ok/addr/1g/bit47",                   3, F, F | BIT(47), 0, 0, RD, N, OK(P_RWX, false), .pa_or = BIT(47)),
    W("ok/addr/mp39/4k/bit38",              1, F, F, F, F | BIT(38), RD, N | O_MP39, OK(P_RWX, false),
      .pa_or = BIT(38)),
    /* Ignored bits: 11:9 and 62:52 everywhere, 6 (D) and 8 (G) in non-leaf
     * entries below the PML4 (KVM 5ecad245de2a: AMD ignores bit 8 in PDPEs
     * and PDEs), PWT/PCD of nCR3. */
    W("ok/ignored/11:9,62:52/every-level",  1, F | 0x7FF0000000000E00ull, F | 0x7FF0000000000E00ull,
      F | 0x7FF0000000000E00ull, F | 0x7FF0000000000E00ull, WR, N, OK(P_RWX, true)),
    W("ok/ignored/non-leaf-bit6",           1, F | BIT(6), F | BIT(6), F | BIT(6), F, RD, N, OK(P_RWX, false)),
    W("ok/ignored/pdpte-pde-bit8",          1, F, F | BIT(8), F | BIT(8), F, RD, N, OK(P_RWX, false)),
    W("ok/ignored/leaf-g",                  2, F, F, F | PTE_G, 0, RD, N, OK(P_RWX, false)),
    W("ok/ncr3-pwt-pcd",                    1, F, F, F, F, RD, N | O_NCR3F, OK(P_RWX, false)),

    /* -- not present at each level: P = 0 in the error code, U always, W
     *    for writes, I/D for fetches only with the host's EFER.NXE -- */
    W("np/pml4e/read",                      1, 0, F, F, F, RD, N, NPF(0x100000004)),
    W("np/pml4e/write",                     1, 0, F, F, F, WR, N, NPF(0x100000006)),
    W("np/pml4e/fetch",                     1, 0, F, F, F, FE, N, NPF(0x100000014)),
    W("np/pml4e/fetch/nxe0",                1, 0, F, F, F, FE, 0, NPF(0x100000004)),
    W("np/pdpte/read",                      1, F, 0, F, F, RD, N, NPF(0x100000004)),
    W("np/pdpte/write",                     1, F, 0, F, F, WR, N, NPF(0x100000006)),
    W("np/pdpte/fetch",                     1, F, 0, F, F, FE, N, NPF(0x100000014)),
    W("np/pdpte/fetch/nxe0",                1, F, 0, F, F, FE, 0, NPF(0x100000004)),
    W("np/pde/read",                        1, F, F, 0, F, RD, N, NPF(0x100000004)),
    W("np/pde/write",                       1, F, F, 0, F, WR, N, NPF(0x100000006)),
    W("np/pde/fetch",                       1, F, F, 0, F, FE, N, NPF(0x100000014)),
    W("np/pde/fetch/nxe0",                  1, F, F, 0, F, FE, 0, NPF(0x100000004)),
    W("np/pte/read",                        1, F, F, F, 0, RD, N, NPF(0x100000004)),
    W("np/pte/write",                       1, F, F, F, 0, WR, N, NPF(0x100000006)),
    W("np/pte/fetch",                       1, F, F, F, 0, FE, N, NPF(0x100000014)),
    W("np/pte/fetch-user-address",          1, F, F, F, 0, UFE, N, NPF(0x100000014)),
    W("np/pte/fetch/nxe0",                  1, F, F, F, 0, FE, 0, NPF(0x100000004)),
    /* P = 0: every other bit is ignored (no RSVD), also PS and bits above MAXPHYADDR. */
    W("np/pml4e/garbage",                   1, ~P, F, F, F, WR, N, NPF(0x100000006)),
    W("np/pte/garbage",                     1, F, F, F, ~P, RD, N, NPF(0x100000004)),
    W("np/pte/garbage/nxe0",                1, F, F, F, ~P, FE, 0, NPF(0x100000004)),

    /* -- R/W = 0 at each level: writes fault (P|W|U), reads do not -- */
    W("rw/pml4e/write",                     1, P | US, F, F, F, WR, N, NPF(0x100000007)),
    W("rw/pdpte/write",                     1, F, P | US, F, F, WR, N, NPF(0x100000007)),
    W("rw/pde/write",                       1, F, F, P | US, F, WR, N, NPF(0x100000007)),
    W("rw/pte/write",                       1, F, F, F, P | US, WR, N, NPF(0x100000007)),
    W("rw/2m/write",                        2, F, F, P | US, 0, WR, N, NPF(0x100000007)),
    W("rw/1g/write",                        3, F, P | US, 0, 0, WR, N, NPF(0x100000007)),
    W("rw/pml4e/read",                      1, P | US, F, F, F, RD, N, OK(P_R | P_X, false)),
    W("rw/pdpte/read",                      1, F, P | US, F, F, RD, N, OK(P_R | P_X, false)),
    W("rw/pde/read",                        1, F, F, P | US, F, RD, N, OK(P_R | P_X, false)),
    W("rw/pte/read",                        1, F, F, F, P | US, RD, N, OK(P_R | P_X, false)),
    W("rw/pte/fetch",                       1, F, F, F, P | US, FE, N, OK(P_R | P_X, false)),
    W("rw/1g/read",                         3, P | US, F, 0, 0, RD, N, OK(P_R | P_X, false)),

    /* -- U/S = 0 at any level: nested accesses are user accesses (15.25.5) -- */
    W("us/pml4e/read",                      1, P | RW, F, F, F, RD, N, NPF(0x100000005)),
    W("us/pdpte/read",                      1, F, P | RW, F, F, RD, N, NPF(0x100000005)),
    W("us/pde/read",                        1, F, F, P | RW, F, RD, N, NPF(0x100000005)),
    W("us/pte/read",                        1, F, F, F, P | RW, RD, N, NPF(0x100000005)),
    W("us/pte/write",                       1, F, F, F, P | RW, WR, N, NPF(0x100000007)),
    W("us/pde/fetch",                       1, F, F, P | RW, F, FE, N, NPF(0x100000015)),
    W("us/pde/fetch/nxe0",                  1, F, F, P | RW, F, FE, 0, NPF(0x100000005)),
    W("us/2m/read",                         2, F, F, P | RW, 0, RD, N, NPF(0x100000005)),
    W("us/1g/write",                        3, F, P | RW, 0, 0, WR, N, NPF(0x100000007)),

    /* -- NX with the host's EFER.NXE = 1: fetches fault (P|U|I/D) -- */
    W("nx/nxe1/pml4e/fetch",                1, F | XD, F, F, F, FE, N, NPF(0x100000015)),
    W("nx/nxe1/pdpte/fetch",                1, F, F | XD, F, F, FE, N, NPF(0x100000015)),
    W("nx/nxe1/pde/fetch",                  1, F, F, F | XD, F, FE, N, NPF(0x100000015)),
    W("nx/nxe1/pte/fetch",                  1, F, F, F, F | XD, FE, N, NPF(0x100000015)),
    W("nx/nxe1/pte/fetch-user-address",     1, F, F, F, F | XD, UFE, N, NPF(0x100000015)),
    W("nx/nxe1/2m/fetch",                   2, F, F, F | XD, 0, FE, N, NPF(0x100000015)),
    W("nx/nxe1/1g/fetch",                   3, F, F | XD, 0, 0, FE, N, NPF(0x100000015)),
    W("nx/nxe1/pde/read",                   1, F, F, F | XD, F, RD, N, OK(P_R | P_W, false)),
    W("nx/nxe1/pml4e/write",                1, F | XD, F, F, F, WR, N, OK(P_R | P_W, true)),
    /* ... and with EFER.NXE = 0 bit 63 is reserved (5.3.3): RSVD for any access. */
    W("nx/nxe0/pml4e/fetch",                1, F | XD, F, F, F, FE, 0, NPF(0x10000000D)),
    W("nx/nxe0/pdpte/fetch",                1, F, F | XD, F, F, FE, 0, NPF(0x10000000D)),
    W("nx/nxe0/pde/fetch",                  1, F, F, F | XD, F, FE, 0, NPF(0x10000000D)),
    W("nx/nxe0/pte/fetch",                  1, F, F, F, F | XD, FE, 0, NPF(0x10000000D)),
    W("nx/nxe0/2m/fetch",                   2, F, F, F | XD, 0, FE, 0, NPF(0x10000000D)),
    W("nx/nxe0/1g/fetch",                   3, F, F | XD, 0, 0, FE, 0, NPF(0x10000000D)),
    W("nx/nxe0/pte/read",                   1, F, F, F, F | XD, RD, 0, NPF(0x10000000D)),
    W("nx/nxe0/pde/write",                  1, F, F, F | XD, F, WR, 0, NPF(0x10000000F)),

    /* -- reserved bits (5.3.3): RSVD with P, plus W / I/D of the access -- */
    W("rsvd/maxpa48/pml4e-bit48",           1, F | BIT(48), F, F, F, RD, N, NPF(0x10000000D)),
    W("rsvd/maxpa48/pml4e-bit51",           1, F | BIT(51), F, F, F, WR, N, NPF(0x10000000F)),
    W("rsvd/maxpa48/pdpte-bit48",           1, F, F | BIT(48), F, F, FE, N, NPF(0x10000001D)),
    W("rsvd/maxpa48/pde-bit50",             1, F, F, F | BIT(50), F, RD, N, NPF(0x10000000D)),
    W("rsvd/maxpa48/pte-bit48",             1, F, F, F, F | BIT(48), RD, N, NPF(0x10000000D)),
    W("rsvd/maxpa48/pte-bit49/write",       1, F, F, F, F | BIT(49), WR, N, NPF(0x10000000F)),
    W("rsvd/maxpa48/2m-bit48",              2, F, F, F | BIT(48), 0, RD, N, NPF(0x10000000D)),
    W("rsvd/maxpa48/1g-bit51",              3, F, F | BIT(51), 0, 0, FE, 0, NPF(0x10000000D)),
    W("rsvd/maxpa39/pml4e-bit39",           1, F | BIT(39), F, F, F, RD, N | O_MP39, NPF(0x10000000D)),
    W("rsvd/maxpa39/pdpte-bit40",           1, F, F | BIT(40), F, F, RD, N | O_MP39, NPF(0x10000000D)),
    W("rsvd/maxpa39/pde-bit45",             1, F, F, F | BIT(45), F, WR, N | O_MP39, NPF(0x10000000F)),
    W("rsvd/maxpa39/pte-bit39",             1, F, F, F, F | BIT(39), RD, N | O_MP39, NPF(0x10000000D)),
    W("rsvd/maxpa39/2m-bit47",              2, F, F, F | BIT(47), 0, RD, N | O_MP39, NPF(0x10000000D)),
    W("rsvd/pml4e-ps",                      1, F | PTE_PS, F, F, F, RD, N, NPF(0x10000000D)),
    W("rsvd/pml4e-ps/fetch",                1, F | PTE_PS, F, F, F, FE, N, NPF(0x10000001D)),
    W("rsvd/2m-bit13",                      2, F, F, F | BIT(13), 0, RD, N, NPF(0x10000000D)),
    W("rsvd/2m-bit20",                      2, F, F, F | BIT(20), 0, WR, N, NPF(0x10000000F)),
    W("rsvd/1g-bit13",                      3, F, F | BIT(13), 0, 0, RD, N, NPF(0x10000000D)),
    W("rsvd/1g-bit21",                      3, F, F | BIT(21), 0, 0, RD, N, NPF(0x10000000D)),
    W("rsvd/1g-bit29",                      3, F, F | BIT(29), 0, 0, FE, N, NPF(0x10000001D)),
    /* AMD reserves bit 8 of a PML4E (APM 5.3.3, PML4E bits 8:7 MBZ; KVM
     * 5ecad245de2a keeps it reserved there, on AMD only). */
    W("rsvd/amd/pml4e-bit8",                1, F | BIT(8), F, F, F, RD, N, NPF(0x10000000D)),
    /* The walk stops at the first problem; rights are decided at the end. */
    W("rsvd/order/pte-rsvd-beats-supervisor-pml4e", 1, P | RW, F, F, F | BIT(48), RD, N, NPF(0x10000000D)),
    W("rsvd/order/pdpte-rsvd-above-np-pde", 1, F, F | BIT(48), 0, F, RD, N, NPF(0x10000000D)),
    W("np/order/np-pte-beats-supervisor-pml4e", 1, P | RW, F, F, 0, RD, N, NPF(0x100000004)),
    W("np/order/np-pte-beats-read-only-pde/write", 1, F, F, P | US, 0, WR, N, NPF(0x100000006)),

    /* -- guest paging-structure accesses are user writes (npt.c pg_acc):
     *    a read-only or supervisor nested page faults even for a read -- */
    W("paging/np/pml4e",                    1, 0, F, F, F, PGR, N, NPF(0x200000006)),
    W("paging/np/pdpte",                    1, F, 0, F, F, PGR, N, NPF(0x200000006)),
    W("paging/np/pde",                      1, F, F, 0, F, PGR, N, NPF(0x200000006)),
    W("paging/np/pte",                      1, F, F, F, 0, PGR, N, NPF(0x200000006)),
    W("paging/np/pte/a-d-update",           1, F, F, F, 0, PGW, N, NPF(0x200000006)),
    W("paging/ro/pml4e",                    1, P | US, F, F, F, PGR, N, NPF(0x200000007)),
    W("paging/ro/pdpte",                    1, F, P | US, F, F, PGR, N, NPF(0x200000007)),
    W("paging/ro/pde",                      1, F, F, P | US, F, PGR, N, NPF(0x200000007)),
    W("paging/ro/pte",                      1, F, F, F, P | US, PGR, N, NPF(0x200000007)),
    W("paging/ro/pte/nxe0",                 1, F, F, F, P | US, PGR, 0, NPF(0x200000007)),
    W("paging/ro/2m",                       2, F, F, P | US, 0, PGR, N, NPF(0x200000007)),
    W("paging/ro/1g",                       3, F, P | US, 0, 0, PGR, N, NPF(0x200000007)),
    W("paging/ro/pte/a-d-update",           1, F, F, F, P | US, PGW, N, NPF(0x200000007)),
    W("paging/us/pde",                      1, F, F, P | RW, F, PGR, N, NPF(0x200000007)),
    W("paging/rsvd/pte-bit48",              1, F, F, F, F | BIT(48), PGR, N, NPF(0x20000000F)),
    W("paging/writable/read-sets-d",        1, F, F, F, F, PGR, N, OK(P_RWX, true)),
    W("paging/writable/2m",                 2, F, F, F, 0, PGR, N, OK(P_RWX, true)),
    W("paging/nx-is-no-fetch",              1, F, F, F, F | XD, PGR, N, OK(P_R | P_W, true)),
    W("paging/probe/ro-pte",                1, F, F, F, P | US, PGR | PR, N, NPF(0x200000007)),
    W("paging/probe/writable: no D",        1, F, F, F, F, PGR | PR, N, OK(P_RWX, false)),
    W("paging/control/plain-read-of-ro-pte", 1, F, F, F, P | US, RD, N, OK(P_R | P_X, false)),

    /* -- accessed and dirty flags (5.4.2): every row compares the table
     *    pages; these vary the flags already set -- */
    W("ad/read/a-already-set",              1, F | A, F | A, F | A, F | A, RD, N, OK(P_RWX, false)),
    W("ad/read/a-and-d-already-set",        1, F | A, F | A, F | A, F | A | D, RD, N, OK(P_RWX, true)),
    W("ad/read/a-set-above-only",           1, F | A, F | A, F, F, RD, N, OK(P_RWX, false)),
    W("ad/write/a-set-d-clear",             1, F | A, F | A, F | A, F | A, WR, N, OK(P_RWX, true)),
    W("ad/write/2m/d-only-in-leaf",         2, F, F, F, 0, WR, N, OK(P_RWX, true)),
    W("ad/read/1g/d-already-set",           3, F, F | A | D, 0, 0, RD, N, OK(P_RWX, true)),
    W("ad/probe/read",                      1, F, F, F, F, RD | PR, N, OK(P_RWX, false)),
    W("ad/probe/write: no D",               1, F, F, F, F, WR | PR, N, OK(P_RWX, false)),
    W("ad/probe/write/d-already-set",       1, F, F, F, F | D, WR | PR, N, OK(P_RWX, true)),
    W("ad/probe/fetch/2m",                  2, F, F, F, 0, FE | PR, N, OK(P_RWX, false)),
    W("ad/probe/1g/write",                  3, F, F, 0, 0, WR | PR, N, OK(P_RWX, false)),
    W("ad/probe/fault/np-pde",              1, F, F, 0, F, RD | PR, N, NPF(0x100000004)),
    W("ad/probe/fault/ro-pte/write",        1, F, F, F, P | US, WR | PR, N, NPF(0x100000007)),
    W("ad/probe/fault/nx-pte/fetch",        1, F, F, F, F | XD, FE | PR, N, NPF(0x100000015)),
};

START_TEST(walk)
{
    const struct walk_row *row = &walk_rows[_i];
    static struct nm x;
    static struct tables before, after, want;
    nm_create(&x, row->name, row->line, row->opt);
    build(&x, row->e, row->leaf);
    struct npt n = make_npt(row->opt);
    snap(&x, &before);

    struct cpu_slat out;
    memset(&out, 0xA5, sizeof(out));           /* every field must be written ... */
    out.walked = false;                         /* ... walked too */
    int st = npt_translate(&n, x.t.cpu, GPA, row->acc, &out);
    ck_assert_msg(st == row->want, "%s: npt_translate returned %d, expected %d", x.row, st, row->want);
    ck_assert_msg(out.walked, "%s: walked not set", x.row);
    ck_assert_msg(tm_count(&x.t, CPU_EV_UNMODELLED, NULL) == 0, "%s: unmodelled: %s", x.row, x.t.unmodelled_text);
    snap(&x, &after);

    if (st == CPU_SLAT_OK) {
        uint64_t size = leaf_size(row->leaf), base = leaf_frame(row->leaf) | row->pa_or;
        ck_assert_msg(out.page_size == size, "%s: page size %#llx, expected %#llx", x.row, ULL(out.page_size),
                      ULL(size));
        ck_assert_msg(out.page_base_gpa == (GPA & ~(size - 1)), "%s: page_base_gpa %#llx", x.row,
                      ULL(out.page_base_gpa));
        ck_assert_msg(out.page_base_hpa == base, "%s: page_base_hpa %#llx, expected %#llx", x.row,
                      ULL(out.page_base_hpa), ULL(base));
        ck_assert_msg(out.hpa == (base | (GPA & (size - 1))), "%s: hpa %#llx, expected %#llx", x.row, ULL(out.hpa),
                      ULL(base | (GPA & (size - 1))));
        ck_assert_msg(out.perm == row->perm, "%s: perm %#x, expected %#x", x.row, out.perm, row->perm);
        ck_assert_msg(out.dirty == row->dirty, "%s: dirty %d, expected %d", x.row, out.dirty, row->dirty);
        /* A in every entry of the path, D in the leaf for writes (and guest
         * page-table accesses, which are writes); nothing for a probe. */
        want = before;
        if (!(row->acc & CPU_SLAT_PROBE))
            for (unsigned level = 4; level >= row->leaf; level--) {
                *slot(&want, level) |= A;
                if (level == row->leaf && (row->acc & (CPU_SLAT_WRITE | CPU_SLAT_PAGING)))
                    *slot(&want, level) |= D;
            }
        tables_equal(&x, &after, &want, "after the walk");
        /* The access succeeds now: no fault to report. */
        for (unsigned k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
            struct cpu_slat_fault f = make_fault(row->acc, &kinds[k]);
            uint64_t info1 = 0xDEAD;
            ck_assert_msg(!npt_fault_info(&n, x.t.cpu, &f, &info1), "%s: npt_fault_info (%s) found a fault %#llx",
                          x.row, kinds[k].name, ULL(info1));
        }
        snap(&x, &before);
        tables_equal(&x, &before, &after, "after npt_fault_info");
        return;
    }

    tables_equal(&x, &after, &before, "after a faulting walk");
    uint64_t natural = (row->acc & CPU_SLAT_PAGING) ? GPT : FINAL;
    ck_assert_msg((row->info1 >> 32) == (natural >> 32), "%s: row's EXITINFO1 %#llx has the wrong kind bit", x.row,
                  ULL(row->info1));
    for (unsigned k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        struct cpu_slat_fault f = make_fault(row->acc, &kinds[k]);
        uint64_t info1 = 0xDEAD, exp = (row->info1 & 0xFFFFFFFFull) | kinds[k].bits;
        ck_assert_msg(npt_fault_info(&n, x.t.cpu, &f, &info1), "%s: npt_fault_info (%s) found no fault", x.row,
                      kinds[k].name);
        ck_assert_msg(info1 == exp, "%s: EXITINFO1 (%s) %#llx, expected %#llx", x.row, kinds[k].name, ULL(info1),
                      ULL(exp));
    }
    snap(&x, &after);
    tables_equal(&x, &after, &before, "after npt_fault_info");
    ck_assert_msg(tm_count(&x.t, CPU_EV_UNMODELLED, NULL) == 0, "%s: unmodelled: %s", x.row, x.t.unmodelled_text);
}
END_TEST

/* ---- nested entries outside RAM: the run stops (the model does not
 * guess), a probe just fails ---- */

struct bus_row {
    const char *name;
    int line;
    unsigned level;        /* the table read from UNBACKED: 4 = nCR3 -> PML4 .. 1 = PDE -> PT */
    unsigned acc;
    int want;
};

#define B(n, lv, a, w) { n, __LINE__, lv, a, w }

static const struct bus_row bus_rows[] = {
    B("bus/ncr3/read",                      4, RD, CPU_SLAT_STOP),
    B("bus/ncr3/probe",                     4, RD | PR, CPU_SLAT_FAULT),
    B("bus/pml4e/write",                    3, WR, CPU_SLAT_STOP),
    B("bus/pml4e/probe-fetch",              3, FE | PR, CPU_SLAT_FAULT),
    B("bus/pdpte/guest-page-table",         2, PGR, CPU_SLAT_STOP),
    B("bus/pdpte/probe-guest-page-table",   2, PGR | PR, CPU_SLAT_FAULT),
    B("bus/pde/fetch",                      1, FE, CPU_SLAT_STOP),
    B("bus/pde/probe-write",                1, WR | PR, CPU_SLAT_FAULT),
};

START_TEST(bus)
{
    const struct bus_row *row = &bus_rows[_i];
    static struct nm x;
    static struct tables before, after;
    static const uint64_t e[4] = { F, F, F, F };
    nm_create(&x, row->name, row->line, O_NXE);
    build(&x, e, 1);
    struct npt n = make_npt(O_NXE);
    if (row->level == 4)
        n.ncr3 = UNBACKED;
    else
        put64(&x, entry_pa(row->level + 1), UNBACKED | F);
    snap(&x, &before);
    struct cpu_slat out;
    memset(&out, 0, sizeof(out));
    int st = npt_translate(&n, x.t.cpu, GPA, row->acc, &out);
    ck_assert_msg(st == row->want, "%s: npt_translate returned %d, expected %d", x.row, st, row->want);
    ck_assert_msg(out.walked, "%s: walked not set", x.row);
    unsigned nev = tm_count(&x.t, CPU_EV_UNMODELLED, NULL);
    if (st == CPU_SLAT_STOP) {
        ck_assert_msg(nev == 1, "%s: %u unmodelled events, expected 1", x.row, nev);
        char bad[64];
        snprintf(bad, sizeof(bad), "%#llx", ULL(UNBACKED + 8ull * idx_of(GPA, row->level)));
        ck_assert_msg_contains(x.row, x.t.unmodelled_text, "not RAM");
        ck_assert_msg_contains(x.row, x.t.unmodelled_text, "0x6abcde123456");
        ck_assert_msg_contains(x.row, x.t.unmodelled_text, bad);
        ck_assert_msg_contains(x.row, cpu_message(x.t.cpu), "not RAM");
    } else {
        ck_assert_msg(nev == 0, "%s: a probe reported something unmodelled: %s", x.row, x.t.unmodelled_text);
    }
    snap(&x, &after);
    tables_equal(&x, &after, &before, "after the walk");
    /* Not a #NPF: there is no error code to report. */
    struct cpu_slat_fault f = make_fault(row->acc, &kinds[0]);
    uint64_t info1 = 0xDEAD;
    ck_assert_msg(!npt_fault_info(&n, x.t.cpu, &f, &info1), "%s: npt_fault_info reported %#llx", x.row, ULL(info1));
}
END_TEST

/* ---- npt_fault_info walks again: a fault that no longer happens is not
 * reported (svm.c then stops the run), a changed one is reported as it is
 * now ---- */

struct recur_row {
    const char *name;
    int line;
    uint64_t e[4];         /* entries at the fault */
    unsigned acc;
    uint64_t info1;        /* EXITINFO1 at the fault (final-address kind) */
    unsigned level;        /* then the entry at this level ... */
    uint64_t now;          /* ... holds these flag bits */
    bool recurs;
    uint64_t info1_now;    /* EXITINFO1 reported after the change */
};

#define RR(n, e0, e1, e2, e3, a, i1, lv, nw, rc, i1n) { n, __LINE__, { e0, e1, e2, e3 }, a, i1, lv, nw, rc, i1n }

static const struct recur_row recur_rows[] = {
    RR("recur/np-pte-made-present",         F, F, F, 0, RD, 0x100000004, 1, F, false, 0),
    RR("recur/np-pml4e-made-present/fetch", 0, F, F, F, FE, 0x100000014, 4, F, false, 0),
    RR("recur/ro-pde-made-writable",        F, F, P | US, F, WR, 0x100000007, 2, F, false, 0),
    RR("recur/supervisor-pdpte-made-user",  F, P | RW, F, F, RD, 0x100000005, 3, F, false, 0),
    RR("recur/nx-pte-cleared",              F, F, F, F | XD, FE, 0x100000015, 1, F, false, 0),
    RR("recur/guest-pt/ro-pte-made-writable", F, F, F, P | US, PGR, 0x200000007, 1, F, false, 0),
    RR("recur/np-pte-now-reserved",         F, F, F, 0, RD, 0x100000004, 1, F | BIT(48), true, 0x10000000D),
    RR("recur/ro-pte-now-np",               F, F, F, P | US, WR, 0x100000007, 1, 0, true, 0x100000006),
    RR("recur/unchanged",                   F, F, P | US, F, WR, 0x100000007, 2, P | US, true, 0x100000007),
};

START_TEST(recur)
{
    const struct recur_row *row = &recur_rows[_i];
    static struct nm x;
    nm_create(&x, row->name, row->line, O_NXE);
    build(&x, row->e, 1);
    struct npt n = make_npt(O_NXE);
    struct cpu_slat out;
    int st = npt_translate(&n, x.t.cpu, GPA, row->acc, &out);
    ck_assert_msg(st == CPU_SLAT_FAULT, "%s: npt_translate returned %d, expected a fault", x.row, st);
    struct cpu_slat_fault f = make_fault(row->acc, &kinds[0]);
    uint64_t info1 = 0, natural = (row->acc & CPU_SLAT_PAGING) ? GPT : FINAL;
    ck_assert_msg(npt_fault_info(&n, x.t.cpu, &f, &info1), "%s: no fault at first", x.row);
    ck_assert_msg(info1 == ((row->info1 & 0xFFFFFFFFull) | FINAL), "%s: EXITINFO1 %#llx, expected %#llx", x.row,
                  ULL(info1), ULL((row->info1 & 0xFFFFFFFFull) | FINAL));
    ck_assert_msg((row->info1 & (FINAL | GPT)) == natural, "%s: the row's kind bit", x.row);

    uint64_t e[4];
    memcpy(e, row->e, sizeof(e));
    e[4 - row->level] = row->now;
    put64(&x, entry_pa(row->level), built_entry(e, 1, row->level));
    info1 = 0xDEAD;
    bool got = npt_fault_info(&n, x.t.cpu, &f, &info1);
    ck_assert_msg(got == row->recurs, "%s: npt_fault_info returned %d (EXITINFO1 %#llx), expected %d", x.row, got,
                  ULL(info1), row->recurs);
    if (got)
        ck_assert_msg(info1 == ((row->info1_now & 0xFFFFFFFFull) | FINAL), "%s: EXITINFO1 now %#llx, expected %#llx",
                      x.row, ULL(info1), ULL((row->info1_now & 0xFFFFFFFFull) | FINAL));
    else
        ck_assert_msg(npt_translate(&n, x.t.cpu, GPA, row->acc, &out) == CPU_SLAT_OK,
                      "%s: npt_fault_info saw no fault but the walk still fails", x.row);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("npt");
    TCase *t = harness_tcase("walk");
    ADD_ROWS(t, walk, walk_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("bus");
    ADD_ROWS(t, bus, bus_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("recur");
    ADD_ROWS(t, recur, recur_rows);
    suite_add_tcase(s, t);
    return harness_run(s);
}
