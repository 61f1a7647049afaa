/*
 * paging.h — the x86 linear-address translation model (SDM vol. 3A ch. 4).
 *
 * A pure function over guest-physical memory: it walks the paging structures
 * named by CR3, applies every permission rule of SDM 3A 4.6 (P, R/W with
 * CR0.WP, U/S, XD with EFER.NXE, SMEP, SMAP with RFLAGS.AC), checks reserved
 * bits (SDM 3A 4.5, table 4-20 and friends), sets accessed/dirty flags
 * (SDM 3A 4.8) and builds the exact #PF error code (SDM 3A 4.7).
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

/* Paging modes (SDM 3A 4.1.1). Only 4-level paging is walked today; the other
 * values exist so that callers can name the mode and get a loud refusal. */
enum pg_mode {
    PG_MODE_NONE = 0,   /* CR0.PG = 0: linear = physical */
    PG_MODE_32BIT,      /* CR4.PAE = 0 (not modelled yet) */
    PG_MODE_PAE,        /* CR4.PAE = 1, IA32_EFER.LME = 0 (not modelled yet) */
    PG_MODE_4LEVEL,     /* CR4.PAE = 1, IA32_EFER.LME = 1, CR4.LA57 = 0 */
    PG_MODE_5LEVEL,     /* CR4.LA57 = 1 (not modelled yet) */
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
#define PF_EC_I     (1u << 4)   /* instruction fetch (only when NXE or SMEP is 1) */
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

/* Inputs that decide the outcome of a walk. */
struct pg_ctx {
    uint64_t cr0, cr3, cr4, efer;
    unsigned cpl;            /* current privilege level */
    bool implicit_sv;        /* implicit supervisor access (GDT, IDT, TSS, ...) */
    bool rflags_ac;          /* RFLAGS.AC, for SMAP */
    unsigned maxphyaddr;     /* CPUID.80000008H:EAX[7:0] */
    bool has_1g_pages;       /* CPUID.80000001H:EDX.Page1GB */
};

/* Guest-physical memory as the walker sees it. read64 returns false when the
 * address is not backed (the walk then ends with PG_BUS_ERROR);
 * cmpxchg64 writes new if the entry still holds old (A/D updates, SDM 3A 4.8)
 * and returns false when the entry changed underneath (the walk restarts). */
struct pg_mem_ops {
    bool (*read64)(void *ctx, uint64_t pa, uint64_t *val);
    bool (*cmpxchg64)(void *ctx, uint64_t pa, uint64_t old, uint64_t new_val);
};

enum pg_status {
    PG_OK = 0,          /* translated */
    PG_FAULT,           /* #PF: error_code and fault_level are valid */
    PG_BUS_ERROR,       /* a paging-structure entry is outside backed memory */
    PG_UNSUPPORTED,     /* the paging mode is not modelled: caller must fail loudly */
};

struct pg_result {
    enum pg_status status;
    uint64_t pa;             /* physical address of the accessed byte */
    uint64_t page_base_la;   /* linear base of the whole page (4K/2M/1G aligned) */
    uint64_t page_base_pa;
    uint64_t page_size;      /* 4096, 2 MiB or 1 GiB */
    bool user;               /* U/S = 1 at every level (a user-mode page) */
    bool writable;           /* R/W = 1 at every level */
    bool nx;                 /* XD = 1 at some level (with NXE) */
    bool global;             /* G in the leaf (with CR4.PGE) */
    bool upper_user;         /* U/S = 1 in every non-leaf entry */
    bool upper_writable;     /* R/W = 1 in every non-leaf entry */
    bool upper_nx;           /* XD = 1 in some non-leaf entry (with NXE) */
    bool dirty;              /* D in the leaf after the walk */
    uint64_t leaf_entry;     /* the leaf entry as finally seen */
    uint64_t leaf_entry_pa;  /* where it lives */
    unsigned levels;         /* number of entries read */
    unsigned fault_level;    /* 4 = PML4E .. 1 = PTE, for PG_FAULT/PG_BUS_ERROR */
    uint32_t error_code;     /* #PF error code (SDM 3A 4.7) for PG_FAULT */
    uint64_t bad_pa;         /* for PG_BUS_ERROR: the unbacked entry address */
};

enum pg_mode pg_mode_of(uint64_t cr0, uint64_t cr4, uint64_t efer);

/* True if la is canonical for the given linear-address width (48 or 57). */
bool pg_canonical(uint64_t la, unsigned width);

/* Is the access allowed for the given page properties and context? Returns 0
 * when allowed, or the #PF error code bits (P set) of the protection fault.
 * This is the single home of the permission rules of SDM 3A 4.6; the walker
 * and the translation cache both use it. */
uint32_t pg_check_perm(const struct pg_ctx *ctx, enum pg_access acc, bool user_page,
                       bool writable, bool nx);

/* Reserved bits of a present entry at `level` (4 = PML4E .. 1 = PTE),
 * SDM 3A 4.5 tables 4-15..4-20: any of them set is a reserved-bit fault. */
uint64_t pg_rsvd_mask(const struct pg_ctx *ctx, unsigned level, uint64_t entry);

/* Walk the paging structures for linear address la. When set_ad is true and
 * the access is permitted, accessed flags are set in every entry used and the
 * dirty flag in the leaf for writes. */
enum pg_status pg_walk(const struct pg_ctx *ctx, const struct pg_mem_ops *mem, void *mem_ctx,
                       uint64_t la, enum pg_access acc, bool set_ad, struct pg_result *res)
    __attribute__((warn_unused_result));

#endif
