/*
 * ept.h — the EPT translation of guest-physical addresses (SDM 3C 29.3, "The
 * Extended Page Table Mechanism (EPT)"), as pure functions over host-physical
 * memory.
 *
 * What the walk models:
 *  - 4-level and 5-level walks, as the EPTP says (whether the capability
 *    allows the length is VM entry's check, ept_eptp_invalid), 1-GiB and 2-MiB leaves where
 *    IA32_VMX_EPT_VPID_CAP[17]/[16] allow them (SDM 29.3.2);
 *  - permissions AND-ed down the walk: read (bit 0), write (bit 1), execute
 *    (bit 2; supervisor execute with mode-based execute control) and user
 *    execute (bit 10, mode-based execute control only) (SDM 29.3.3.2);
 *  - every EPT misconfiguration condition of SDM 29.3.3.1: write without
 *    read, execute-only without IA32_VMX_EPT_VPID_CAP[0], reserved bits
 *    (bits 51:MAXPHYADDR, bits 7:3 of non-leaf entries, bit 7 of a PML4E
 *    (PML5E), the low address bits of a large leaf, a large leaf the CPU
 *    does not support), a leaf memory type of 2, 3 or 7;
 *  - accessed and dirty flags (bits 8 and 9) when EPTP[6] = 1 (SDM 29.3.5),
 *    with guest paging-structure accesses treated as writes;
 *  - the EPT-violation exit qualification (SDM 28.2.1, table "Exit
 *    Qualification for EPT Violations").
 * Nothing here knows about Unicorn, the VMCS or caching: the caller gives
 * memory callbacks and decides what a violation does.
 * Execution context: any; no global state.
 */
#ifndef HVSIM_EPT_H
#define HVSIM_EPT_H

#include <stdbool.h>
#include <stdint.h>

/* EPT paging-structure entry bits (SDM 3C 29.3.2, tables "Format of an EPT
 * PML4 Entry" .. "Format of an EPT Page-Table Entry"). */
#define EPTE_R        (1ull << 0)
#define EPTE_W        (1ull << 1)
#define EPTE_X        (1ull << 2)    /* supervisor-mode execute with mode-based execute control */
#define EPTE_MT_SHIFT 3              /* leaf only: memory type, bits 5:3 */
#define EPTE_MT_MASK  (7ull << 3)
#define EPTE_IPAT     (1ull << 6)    /* leaf only: ignore PAT */
#define EPTE_PS       (1ull << 7)    /* PDPTE/PDE: maps a 1-GiB / 2-MiB page */
#define EPTE_A        (1ull << 8)
#define EPTE_D        (1ull << 9)    /* leaf only */
#define EPTE_XU       (1ull << 10)   /* user-mode execute, mode-based execute control only */

/* IA32_VMX_EPT_VPID_CAP bits the walk uses (SDM 3D A.10). */
#define EPTCAP_EXEC_ONLY   (1ull << 0)
#define EPTCAP_WALK4       (1ull << 6)
#define EPTCAP_WALK5       (1ull << 7)
#define EPTCAP_UC          (1ull << 8)
#define EPTCAP_WB          (1ull << 14)
#define EPTCAP_2M          (1ull << 16)
#define EPTCAP_1G          (1ull << 17)
#define EPTCAP_AD          (1ull << 21)
#define EPTCAP_ADV_INFO    (1ull << 22)

/* EPTP (SDM 3C 25.6.11, "Extended-Page-Table Pointer (EPTP)"). */
#define EPTP_MT_MASK   7ull
#define EPTP_WALK_MASK (7ull << 3)   /* page-walk length - 1 */
#define EPTP_AD        (1ull << 6)

/* Access kinds (a bit set; a read-modify-write is READ|WRITE). */
#define EPT_ACC_READ   1u
#define EPT_ACC_WRITE  2u
#define EPT_ACC_FETCH  4u
/* Modifiers. USER: the fetch is of a user-mode linear address (mode-based
 * execute control checks bit 10 instead of bit 2). PAGING: the access is to
 * a guest paging-structure entry (for EPT A/D: counts as a write, SDM
 * 29.3.5). */
#define EPT_ACC_USER   8u
#define EPT_ACC_PAGING 16u    /* not for the PAE PDPTE loads of MOV to CR: those are plain reads */

struct ept_ctx {
    uint64_t eptp;
    uint64_t cap;            /* IA32_VMX_EPT_VPID_CAP */
    unsigned maxphyaddr;
    bool mbec;               /* secondary control "mode-based execute control for EPT" */
};

/* Host-physical memory as the walk sees it (8-byte aligned quadwords).
 * cmpxchg64 is used only for A/D updates; it returns false when the
 * quadword no longer holds old (the walk then restarts). */
struct ept_mem_ops {
    bool (*read64)(void *ctx, uint64_t hpa, uint64_t *val);
    bool (*cmpxchg64)(void *ctx, uint64_t hpa, uint64_t old, uint64_t new_val);
};

enum ept_status {
    EPT_OK = 0,
    EPT_VIOLATION,           /* exit reason 48 */
    EPT_MISCONFIG,           /* exit reason 49 */
    EPT_BUS_ERROR,           /* an EPT entry is outside backed memory, or A/D updates kept failing
                              * (entries changing underneath): the caller stops loudly */
    EPT_UNSUPPORTED,         /* the EPTP names a walk the model does not do (VM entry refuses it) */
};

/* Effective permissions, as reported in exit-qualification bits 5:3 and 6. */
#define EPT_PERM_R   1u
#define EPT_PERM_W   2u
#define EPT_PERM_X   4u      /* execute (supervisor execute with MBEC) */
#define EPT_PERM_XU  8u      /* user execute (MBEC only) */

struct ept_result {
    enum ept_status status;
    uint64_t hpa;            /* host-physical address of the accessed byte (EPT_OK) */
    uint64_t page_base_gpa;  /* the guest-physical page the leaf maps */
    uint64_t page_base_hpa;
    uint64_t page_size;      /* 4 KiB, 2 MiB or 1 GiB */
    unsigned perm;           /* EPT_PERM_*: AND of every entry read (0 when one was not present) */
    unsigned memtype;        /* leaf bits 5:3 */
    bool ipat;               /* leaf bit 6 */
    bool dirty;              /* leaf D after the walk (true when A/D flags are off) */
    unsigned level;          /* level of the leaf, or of the entry that failed (5 = PML5E .. 1 = PTE) */
    uint64_t entry;          /* that entry */
    uint64_t entry_hpa;      /* and where it lives */
    const char *why;         /* EPT_MISCONFIG/EPT_UNSUPPORTED: which rule, in words */
};

/* Walk the EPT paging structures for gpa with access `acc` (EPT_ACC_*).
 * EPT_OK when every entry is present and well formed and the access is
 * permitted; EPT_VIOLATION when an entry is not present or the access is
 * not permitted (perm says what was allowed); EPT_MISCONFIG when an entry
 * is malformed (checked before permissions, at the first malformed entry).
 * When set_ad is true, EPTP[6] = 1 and the access is permitted, the
 * accessed flags of every entry used and the dirty flag of the leaf (for a
 * write, or any paging-structure access) are set. */
enum ept_status ept_walk(const struct ept_ctx *ctx, const struct ept_mem_ops *mem, void *mem_ctx,
                         uint64_t gpa, unsigned acc, bool set_ad, struct ept_result *res)
    __attribute__((warn_unused_result));

/* The reserved-bit and memory-type rules for one present entry at `level`:
 * NULL when it is well formed, else the rule broken, in words. */
const char *ept_entry_misconfig(const struct ept_ctx *ctx, unsigned level, uint64_t entry);

/* Is the EPTP one VM entry accepts (the controls checks of SDM 27.2.1.1)?
 * NULL if so, else the rule broken. */
const char *ept_eptp_invalid(uint64_t eptp, uint64_t cap, unsigned maxphyaddr);

/* The EPT-violation exit qualification (SDM 28.2.1). gla_valid: the access
 * has a guest-linear address (bit 7); gla_translation: the access was to the
 * translation of that address, not to a paging-structure entry (bit 8);
 * guest_us/rw/nx: the guest's own U/S, R/W and XD for the linear address
 * (bits 9-11, reported when IA32_VMX_EPT_VPID_CAP[22] = 1 and bits 7 and 8
 * are set); nmi_unblocked: the access came from an IRET that unblocked NMIs
 * (bit 12). */
struct ept_qual_in {
    unsigned acc;
    bool gla_valid, gla_translation;
    bool guest_user, guest_writable, guest_nx;
    bool nmi_unblocked;
};
uint64_t ept_violation_qual(const struct ept_ctx *ctx, const struct ept_result *res,
                            const struct ept_qual_in *in);

#endif
