/*
 * paging.h — the x86 linear-address translation model (SDM vol. 3A ch. 4).
 *
 * A pure function over guest-physical memory: it walks the paging structures
 * named by CR3 (or, with PAE paging, by the PDPTE registers), applies every
 * permission rule of SDM 3A 4.6 (P, R/W with CR0.WP, U/S, XD with EFER.NXE,
 * SMEP, SMAP with RFLAGS.AC), checks reserved bits (SDM 3A 4.3 tables 4-4..4-6,
 * 4.4 tables 4-8..4-11, 4.5 tables 4-15..4-20), sets accessed/dirty flags
 * (SDM 3A 4.8) and builds the exact #PF error code (SDM 3A 4.7).
 * Modes walked: no paging, 32-bit, PAE and 4-level paging (SDM 3A 4.1.1).
 *
 * It knows nothing about Unicorn or about how translations are cached: the
 * caller supplies memory access callbacks (so that guest-physical reads can
 * later go through EPT/NPT) and decides what to do with the result.
 * Execution context: any; no global state.
 */
#ifndef HVSIM_CPU_PAGING_H
#define HVSIM_CPU_PAGING_H

#include <stdbool.h>
#include <stdint.h>

/* Paging modes (SDM 3A 4.1.1, table 4-1). pg_walk refuses PG_MODE_5LEVEL and
 * PG_MODE_INVALID with PG_UNSUPPORTED; the others are walked. */
enum pg_mode {
    PG_MODE_NONE = 0,   /* CR0.PG = 0: linear = physical */
    PG_MODE_32BIT,      /* CR0.PG = 1, CR4.PAE = 0, IA32_EFER.LME = 0 (SDM 3A 4.3) */
    PG_MODE_PAE,        /* CR0.PG = 1, CR4.PAE = 1, IA32_EFER.LME = 0 (SDM 3A 4.4) */
    PG_MODE_4LEVEL,     /* CR0.PG = 1, CR4.PAE = 1, IA32_EFER.LME = 1, CR4.LA57 = 0 */
    PG_MODE_5LEVEL,     /* ... CR4.LA57 = 1 (not modelled yet) */
    PG_MODE_INVALID,    /* CR0.PG = 1, CR4.PAE = 0, IA32_EFER.LME = 1: unreachable, MOV to
                         * CR0 and MOV to CR4 #GP instead (SDM 3A 4.1.2) */
};

enum pg_access {
    PG_ACC_READ  = 0,
    PG_ACC_WRITE = 1,
    PG_ACC_FETCH = 2,
};

/* #PF error code bits (SDM 3A 4.7, figure 4-12). */
#define PF_EC_P     (1u << 0)   /* 0: not-present page; 1: protection violation */
#define PF_EC_W     (1u << 1)   /* access was a write */
#define PF_EC_U     (1u << 2)   /* access was a user-mode access */
#define PF_EC_RSVD  (1u << 3)   /* reserved bit set in a paging-structure entry */
#define PF_EC_I     (1u << 4)   /* instruction fetch, only when CR4.SMEP = 1 or when
                                 * CR4.PAE = 1 and IA32_EFER.NXE = 1 */
#define PF_EC_PK    (1u << 5)   /* protection key (not modelled) */

/* Paging-structure entry bits (SDM 3A 4.5, tables 4-15 .. 4-20).
 *
 *  63  62:59  58:52   51:M   M-1:12            11:9  8  7   6  5  4   3   2   1   0
 * +---+------+-------+------+-----------------+----+--+---+--+--+---+---+---+---+--+
 * |XD | PKEY | avail | rsvd | address         |avl |G |PS |D |A |PCD|PWT|U/S|R/W|P |
 * +---+------+-------+------+-----------------+----+--+---+--+--+---+---+---+---+--+
 * (PS is PAT in a 4-KiB PTE; G and D are ignored in non-leaf entries.) */
#define PTE_P    (1ull << 0)
#define PTE_RW   (1ull << 1)
#define PTE_US   (1ull << 2)
#define PTE_PWT  (1ull << 3)
#define PTE_PCD  (1ull << 4)
#define PTE_A    (1ull << 5)
#define PTE_D    (1ull << 6)
#define PTE_PS   (1ull << 7)
#define PTE_G    (1ull << 8)
#define PTE_XD   (1ull << 63)

/* 32-bit paging entries are 4 bytes (SDM 3A 4.3, tables 4-4..4-6): bits 11:0
 * as above (bit 8 G and bit 6 D only in leaves; PS in a PDE only with
 * CR4.PSE = 1, else ignored; bit 7 of a PTE is PAT). A PDE that maps a 4-MiB
 * page (CR4.PSE = 1, PS = 1) carries PSE-36 address bits:
 *
 *  31          22  21        20:13            12   11:0
 * +--------------+----+--------------------+-----+-------+
 * | PA bits 31:22| rsv| PA bits 39:32      | PAT | flags |
 * +--------------+----+--------------------+-----+-------+
 * with M = min(MAXPHYADDR, 40): PDE bits (M-20):13 are PA bits (M-1):32 and
 * bits 21:(M-19) are reserved. 4-KiB PTEs and PDEs that reference a page
 * table have no reserved bits.
 *
 * PAE paging (SDM 3A 4.4): entries are 8 bytes as in the 4-level diagram,
 * but bits 62:M are reserved in PDEs and PTEs (there are no ignored bits
 * 62:52), and the four PDPTEs are registers (table 4-8):
 *
 *  63:M   M-1:12               11:9   8:5   4   3    2:1   0
 * +------+--------------------+-----+-----+---+---+------+---+
 * | rsvd | page directory PA  | ign | rsvd|PCD|PWT| rsvd | P |
 * +------+--------------------+-----+-----+---+---+------+---+
 * (no R/W, U/S, A or XD: PDPTEs take no part in access rights, SDM 3A 4.6.1,
 * and get no accessed flag, SDM 3A 4.8). */
#define PDPTE_PAE_RSVD_LOW  0x1E6ull       /* bits 8:5 and 2:1 */

/* Inputs that decide the outcome of a walk. A context built with a
 * designated initializer is valid (fields not named are zero: no PDPTE
 * register is present); one filled field by field must set pdpte[] too. */
struct pg_ctx {
    uint64_t cr0, cr3, cr4, efer;
    unsigned cpl;            /* current privilege level */
    bool implicit_sv;        /* implicit supervisor access (GDT, IDT, TSS, ...) */
    bool rflags_ac;          /* RFLAGS.AC, for SMAP */
    unsigned maxphyaddr;     /* CPUID.80000008H:EAX[7:0] */
    bool has_1g_pages;       /* CPUID.80000001H:EDX.Page1GB */
    bool amd;                /* AMD64 entry formats: bit 8 of a PML4E is reserved (APM vol. 2
                              * 5.3.3, PML4E bits 8:7 MBZ; Intel ignores it) */
    uint64_t pdpte[4];       /* PAE paging only: the PDPTE registers as last loaded by
                              * pg_load_pdptes (SDM 3A 4.4.1); pg_walk never reads
                              * the PDPT in memory */
};

/* Guest-physical memory as the walker sees it: little-endian quadwords at
 * 8-byte aligned addresses. read64 returns false when the address is not
 * backed (the walk then ends with PG_BUS_ERROR); cmpxchg64 writes new if the
 * quadword still holds old (A/D updates, SDM 3A 4.8) and returns false when
 * it changed underneath (the walk restarts).
 * A 4-byte entry of 32-bit paging is read as the aligned quadword holding it
 * and updated by a cmpxchg64 of that quadword whose other half is the value
 * read: the neighbouring entry is never written with anything but what it
 * held, and if it changed meanwhile the exchange fails and the walk restarts. */
struct pg_mem_ops {
    bool (*read64)(void *ctx, uint64_t pa, uint64_t *val);
    bool (*cmpxchg64)(void *ctx, uint64_t pa, uint64_t old, uint64_t new_val);
};

enum pg_status {
    PG_OK = 0,          /* translated */
    PG_FAULT,           /* #PF: error_code and fault_level are valid */
    PG_BUS_ERROR,       /* a paging-structure entry is outside backed memory */
    PG_UNSUPPORTED,     /* pg_walk: the paging mode is not modelled (5-level, invalid),
                         * or a present PDPTE register holds reserved bits, which
                         * pg_load_pdptes never accepts: caller must fail loudly */
    PG_PDPTE_RSVD,      /* pg_load_pdptes: a present PDPTE has a reserved bit set; the
                         * MOV to CR0/CR3/CR4 raises #GP(0) (SDM 3A 4.4.1) */
    PG_SLAT,            /* never from pg_walk: the caller's second-level translation
                         * (EPT) refused a guest-physical access of the walk or the
                         * translated address (cpu/mem.c cpu_walk) */
};

struct pg_result {
    enum pg_status status;
    uint64_t pa;             /* physical address of the accessed byte */
    uint64_t page_base_la;   /* linear base of the whole page (4K/2M/4M/1G aligned) */
    uint64_t page_base_pa;
    uint64_t page_size;      /* 4096, 2 MiB (PAE, 4-level), 4 MiB (32-bit) or 1 GiB */
    bool user;               /* U/S = 1 at every level (a user-mode page) */
    bool writable;           /* R/W = 1 at every level */
    bool nx;                 /* XD = 1 at some level (with NXE) */
    bool global;             /* G in the leaf (with CR4.PGE) */
    bool upper_user;         /* U/S = 1 in every non-leaf entry (PAE PDPTEs have none) */
    bool upper_writable;     /* R/W = 1 in every non-leaf entry */
    bool upper_nx;           /* XD = 1 in some non-leaf entry (with NXE) */
    bool dirty;              /* D in the leaf after the walk; true without paging (no
                              * flag to set: writes need no further walk) */
    uint64_t leaf_entry;     /* the leaf entry as finally seen (32-bit paging: zero-extended) */
    uint64_t leaf_entry_pa;  /* where it lives (4-byte aligned with 32-bit paging) */
    unsigned levels;         /* number of entries read from memory (a PAE PDPTE is not) */
    unsigned fault_level;    /* 4 = PML4E, 3 = PDPTE (4-level or PAE), 2 = PDE, 1 = PTE,
                              * for PG_FAULT/PG_BUS_ERROR */
    uint32_t error_code;     /* #PF error code (SDM 3A 4.7) for PG_FAULT */
    uint64_t bad_pa;         /* for PG_BUS_ERROR: the unbacked entry address */
};

enum pg_mode pg_mode_of(uint64_t cr0, uint64_t cr4, uint64_t efer);

/* A name for a status, for messages. */
const char *pg_strerror(enum pg_status st);

/* True if la is canonical for the given linear-address width (48 or 57). */
bool pg_canonical(uint64_t la, unsigned width);

/* Is the access allowed for the given page properties and context? Returns 0
 * when allowed, or the #PF error code bits (P set) of the protection fault.
 * This is the single home of the permission rules of SDM 3A 4.6; the walker
 * and the translation cache both use it. */
uint32_t pg_check_perm(const struct pg_ctx *ctx, enum pg_access acc, bool user_page,
                       bool writable, bool nx);

/* Reserved bits of a present entry at `level` (4 = PML4E .. 1 = PTE) in the
 * paging mode of ctx: any of them set is a reserved-bit fault. 32-bit paging:
 * SDM 3A 4.3 tables 4-4..4-6 (entry zero-extended); PAE paging: 4.4 tables
 * 4-8..4-11 (level 3 = a PDPTE register); otherwise 4-level: 4.5 tables
 * 4-15..4-20. */
uint64_t pg_rsvd_mask(const struct pg_ctx *ctx, unsigned level, uint64_t entry);

/* Walk the paging structures for linear address la. When set_ad is true and
 * the access is permitted, accessed flags are set in every entry used and the
 * dirty flag in the leaf for writes. With 32-bit and PAE paging only bits
 * 31:0 of la are translated (linear addresses are 32 bits wide outside
 * IA-32e mode) and page_base_la is a 32-bit address; without paging la is
 * returned unchanged as the physical address. */
enum pg_status pg_walk(const struct pg_ctx *ctx, const struct pg_mem_ops *mem, void *mem_ctx,
                       uint64_t la, enum pg_access acc, bool set_ad, struct pg_result *res)
    __attribute__((warn_unused_result));

/* Load the four PDPTE registers of PAE paging from the 32-byte table at
 * CR3[31:5] (SDM 3A 4.4.1, table 4-7). Uses only ctx->cr3 (the new value on a
 * MOV to CR3) and ctx->maxphyaddr. The processor does this on MOV to CR3
 * while PAE paging is in use, and on MOV to CR0/CR4 that modifies CR0.CD,
 * CR0.NW, CR0.PG, CR4.PAE, CR4.PGE, CR4.PSE or CR4.SMEP when PAE paging is in
 * use afterwards. Returns PG_OK (pdpte_out holds the four entries),
 * PG_PDPTE_RSVD (a present entry has a bit of table 4-8's reserved bits set:
 * #GP(0)) or PG_BUS_ERROR (the table is not in backed memory); on failure
 * pdpte_out is left untouched ("the PDPTEs are not loaded"). */
enum pg_status pg_load_pdptes(const struct pg_ctx *ctx, const struct pg_mem_ops *mem, void *mem_ctx,
                              uint64_t pdpte_out[4]) __attribute__((warn_unused_result));

#endif
