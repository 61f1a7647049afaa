/*
 * tlb.h — the architectural translation cache: linear mappings and combined
 * (linear -> guest-physical -> host-physical) mappings as SDM 3A 4.10
 * ("Caching Translation Information") and SDM 3C 29.4 ("Caching Translation
 * Information" with VPIDs and EPT) describe them, tagged by VPID, PCID and
 * EPTRTA (the EPT PML4 address of the EPTP they were made with; 0 for
 * mappings made without EPT).
 *
 * This is the model's TLB: an entry stays until an invalidation the SDM
 * says removes it (or until the cache is full, which the SDM also allows;
 * see docs/ept.md "Translation caching"). The engine's shadow tables
 * (view.c) are only a mirror of it, which may be dropped and refilled from
 * it at any time without a page walk.
 *
 * Pure data structure: no Unicorn, no guest memory. Deterministic: nothing
 * depends on host addresses or hash iteration order except which entries a
 * full cache drops, and that depends only on the sequence of operations.
 */
#ifndef HVSIM_CPU_TLB_H
#define HVSIM_CPU_TLB_H

#include <stdbool.h>
#include <stdint.h>

struct tlb_tag {
    uint16_t vpid;            /* 0 outside VMX non-root operation and without "enable VPID" */
    uint16_t pcid;            /* CR3[11:0] with CR4.PCIDE, else 0 */
    uint64_t eptrta;          /* EPTP bits 51:12, 0 without EPT */
};

/* Entry flags: the guest's rights (AND over its paging levels), its leaf D
 * and G, and the EPT permissions and D of the combined mapping (all EPT
 * bits set for a mapping made without EPT). */
#define TLB_USER      (1u << 0)
#define TLB_WRITABLE  (1u << 1)
#define TLB_NX        (1u << 2)
#define TLB_GLOBAL    (1u << 3)
#define TLB_DIRTY     (1u << 4)
#define TLB_SLAT_R    (1u << 5)
#define TLB_SLAT_W    (1u << 6)
#define TLB_SLAT_X    (1u << 7)
#define TLB_SLAT_XU   (1u << 8)
#define TLB_SLAT_D    (1u << 9)

struct tlb_entry {
    uint64_t la;              /* linear base of the cached piece (4 KiB or 2 MiB aligned) */
    uint64_t pa;              /* host-physical base */
    uint64_t gpa;             /* guest-physical base (= pa without EPT) */
    uint64_t guest_la;        /* linear base of the guest's page (INVLPG of any address in it drops the piece) */
    uint8_t size_log2;        /* 12 or 21: the piece */
    uint8_t guest_size_log2;  /* 12, 21, 22 or 30: the guest's page */
    uint16_t flags;           /* TLB_* */
};

/* Which entries an invalidation removes. Fields left at their "any" value
 * match everything. */
#define TLB_ANY_VPID   (-1)
#define TLB_ANY_PCID   (-1)
#define TLB_ANY_EPTRTA (~0ull)
#define TLB_NO_EPT     0ull
struct tlb_sel {
    int vpid;                 /* a VPID, or TLB_ANY_VPID */
    bool except_vpid0;        /* INVVPID all-context: every VPID but 0 */
    int pcid;                 /* a PCID, or TLB_ANY_PCID */
    uint64_t eptrta;          /* an EPTRTA, TLB_NO_EPT, or TLB_ANY_EPTRTA */
    bool any_ept;             /* INVEPT all-context: every EPTRTA but TLB_NO_EPT */
    bool has_la;              /* only entries whose guest page contains la */
    uint64_t la;
    bool keep_global;         /* leave global entries */
    bool only_global;         /* remove global entries only */
};

struct tlb;
struct tlb *tlb_create(void);
void tlb_destroy(struct tlb *t);
/* Entries per tag before the cache drops that tag's entries (deterministic). */
#define TLB_MAX_PER_TAG 65536u
/* Tags held at once; the least recently selected one is dropped beyond. */
#define TLB_MAX_TAGS 32u

/* The entry of tag that maps la, if any. */
bool tlb_lookup(struct tlb *t, const struct tlb_tag *tag, uint64_t la, struct tlb_entry *out);
/* Cache e under tag (replacing what mapped the same piece). */
void tlb_insert(struct tlb *t, const struct tlb_tag *tag, const struct tlb_entry *e);
/* Remove the entry of tag that maps la (a fault on a cached entry). */
void tlb_remove(struct tlb *t, const struct tlb_tag *tag, uint64_t la);
/* Remove every entry sel matches; returns how many. */
unsigned tlb_invalidate(struct tlb *t, const struct tlb_sel *sel);
/* Number of entries cached (all tags). */
unsigned tlb_count(const struct tlb *t);
/* A number that changes whenever an entry may have been added, changed or
 * removed (for memos of lookups: mem_code_cached). */
uint64_t tlb_generation(const struct tlb *t);
/* Whether any entry of a tag sel matches might be affected (a tag exists). */
bool tlb_tag_matches(const struct tlb_tag *tag, const struct tlb_sel *sel);

#endif
