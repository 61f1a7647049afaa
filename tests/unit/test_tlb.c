/*
 * test_tlb.c — the tagged translation cache (cpu/tlb.c) against the Intel
 * SDM rules for caching and invalidating translations:
 *   3A 4.10.2    TLBs: entries hold pieces of a page ("page fragments"); a
 *                processor may drop any entry at any time (4.10.2.2)
 *   3A 4.10.4.1  operations that invalidate TLBs: INVLPG (the current PCID,
 *                and global entries of every PCID), INVPCID types 0-3, MOV to
 *                CR3 with and without the PCID no-flush bit 63, MOV to CR4
 *   3C 29.4.1    VPIDs; 29.4.2 linear, guest-physical and combined mappings
 *   3C 29.4.3.1  operations that invalidate mappings independent of VMX
 *                (current VPID; combined mappings for all EP4TAs) and VM
 *                entry/exit with "enable VPID" = 0 (VPID 0000H)
 *   3C 29.4.3.3  INVVPID types 0-3 (all-context: every VPID but 0000H) and
 *                INVEPT single-context / all-context (all VPIDs and PCIDs)
 *
 * The operations are expressed as struct tlb_sel values the way a caller
 * of tlb.h would build them; each row of the main table lists exactly the
 * entries of one fixed fixture that the operation removes. The remaining
 * tests cover the data structure itself: lookup at every address inside a
 * piece, replacement, one piece per linear page, tlb_remove, the per-tag
 * separation, deletion from the open-addressing table under load, and the
 * two capacity limits (TLB_MAX_PER_TAG, TLB_MAX_TAGS).
 */
#include <stdint.h>

#include "harness.h"
#include "tlb.h"

static void tlb_release(void *p) { tlb_destroy(p); }

static struct tlb *new_tlb(void)
{
    struct tlb *t = tlb_create();
    ck_assert_ptr_nonnull(t);
    return harness_own(tlb_release, t);
}

static bool entry_eq(const struct tlb_entry *a, const struct tlb_entry *b)
{
    return a->la == b->la && a->pa == b->pa && a->gpa == b->gpa && a->guest_la == b->guest_la &&
           a->size_log2 == b->size_log2 && a->guest_size_log2 == b->guest_size_log2 && a->flags == b->flags;
}

#define ALL_SLAT (TLB_SLAT_R | TLB_SLAT_W | TLB_SLAT_X | TLB_SLAT_XU | TLB_SLAT_D)
#define ULL(x) ((unsigned long long)(x))

/* A whole page (guest page = piece). */
static struct tlb_entry page(uint64_t la, unsigned size_log2, uint64_t pa, uint16_t flags)
{
    return (struct tlb_entry){ .la = la, .pa = pa, .gpa = pa, .guest_la = la, .size_log2 = (uint8_t)size_log2,
                               .guest_size_log2 = (uint8_t)size_log2, .flags = flags };
}

/* A piece of a larger guest page. */
static struct tlb_entry piece(uint64_t la, unsigned size_log2, uint64_t guest_la, unsigned guest_size_log2,
                              uint64_t pa)
{
    return (struct tlb_entry){ .la = la, .pa = pa, .gpa = pa, .guest_la = guest_la,
                               .size_log2 = (uint8_t)size_log2, .guest_size_log2 = (uint8_t)guest_size_log2,
                               .flags = TLB_WRITABLE | ALL_SLAT };
}

/* Expect exactly *want at la under tag (want NULL: nothing). */
static void expect_at(const char *row, struct tlb *t, const struct tlb_tag *tag, uint64_t la,
                      const struct tlb_entry *want)
{
    struct tlb_entry got;
    memset(&got, 0xA5, sizeof(got));
    bool found = tlb_lookup(t, tag, la, &got);
    if (!want) {
        ck_assert_msg(!found, "%s: la %#llx (vpid %u pcid %u eptrta %#llx) still maps the piece at %#llx", row,
                      ULL(la), tag->vpid, tag->pcid, ULL(tag->eptrta), ULL(got.la));
        return;
    }
    ck_assert_msg(found, "%s: la %#llx (vpid %u pcid %u eptrta %#llx) maps nothing, expected the piece at %#llx",
                  row, ULL(la), tag->vpid, tag->pcid, ULL(tag->eptrta), ULL(want->la));
    ck_assert_msg(entry_eq(&got, want),
                  "%s: la %#llx found la %#llx pa %#llx size %u flags %#x, expected la %#llx pa %#llx size %u "
                  "flags %#x", row, ULL(la), ULL(got.la), ULL(got.pa), got.size_log2, got.flags, ULL(want->la),
                  ULL(want->pa), want->size_log2, want->flags);
}

/* ==== the invalidation table ==== */

#define EPT_A 0x0000000012345000ull   /* two EPT PML4 addresses (EPTP bits 51:12) */
#define EPT_B 0x000FFFFABCDE0000ull
#define EPT_C 0x0000000000777000ull   /* nothing is cached under it */

/* Tags of the fixture. */
enum { T_A, T_B, T_C, T_D, T_E, T_F, T_G, T_H, NTAGS };
static const struct tlb_tag fx_tags[NTAGS] = {
    [T_A] = { .vpid = 0, .pcid = 0, .eptrta = TLB_NO_EPT },  /* outside VMX, PCID 000H */
    [T_B] = { .vpid = 0, .pcid = 5, .eptrta = TLB_NO_EPT },  /* outside VMX, PCID 5 */
    [T_C] = { .vpid = 1, .pcid = 0, .eptrta = EPT_A },       /* guest VPID 1 under EPTP A */
    [T_D] = { .vpid = 1, .pcid = 5, .eptrta = EPT_A },
    [T_E] = { .vpid = 1, .pcid = 0, .eptrta = EPT_B },       /* same VPID, other EPTP */
    [T_F] = { .vpid = 2, .pcid = 5, .eptrta = EPT_B },
    [T_G] = { .vpid = 2, .pcid = 0, .eptrta = TLB_NO_EPT },  /* VPID 2 without EPT */
    [T_H] = { .vpid = 0, .pcid = 0, .eptrta = EPT_A },       /* EPT without VPID */
};
static const char tag_letter[NTAGS] = "ABCDEFGH";

/* Linear addresses of the fixture. The 4-KiB pages share one 2-MiB region,
 * apart from the other pieces. */
#define LA_4K   0x0000000000401000ull
#define LA_G4K  0x0000000000402000ull
#define LA_2M   0x0000000000600000ull
#define LA_G2M  0xFFFFFFFF80000000ull
#define GP_1G   0x0000000040000000ull   /* a 1-GiB guest page, cached as its first and last 2 MiB */
#define GP_2M   0x0000000000800000ull   /* a 2-MiB guest page, cached as its first and last 4 KiB */
#define GP_4M   0x0000000000C00000ull   /* a 4-MiB guest page (32-bit paging), its upper 2 MiB cached */

/* The fixture's entries; the suffix G marks global ones. */
enum {
    A_4K, A_G4K, A_2M, A_G2M, A_1G_LO, A_1G_HI, A_G2MS_LO, A_G2MS_HI,
    B_4K, B_G4K, B_2MS_LO, B_2MS_HI, B_G1G_LO, B_G1G_HI, B_4MS_HI,
    C_4K, C_G4K, C_2M, C_1G_LO, C_1G_HI,
    D_4K, D_G2M, D_G2MS_LO, D_G2MS_HI,
    E_4K, E_G4K, E_1G_LO, E_1G_HI,
    F_4K, F_2M, F_G4K,
    G_4K, G_G4K,
    H_4K, H_G4K, H_2MS_LO, H_2MS_HI,
    NFX
};
_Static_assert(NFX <= 64, "fixture masks are 64 bits");

struct fx {
    const char *name;
    int tag;
    uint64_t la;
    uint8_t size_log2;
    uint64_t guest_la;
    uint8_t guest_size_log2;
    bool global;
};
#define W4K(id, tg, la, g) [id] = { #id, tg, la, 12, la, 12, g }
#define W2M(id, tg, la, g) [id] = { #id, tg, la, 21, la, 21, g }
#define PC(id, tg, la, sz, gla, gsz, g) [id] = { #id, tg, la, sz, gla, gsz, g }
static const struct fx fixture[NFX] = {
    W4K(A_4K, T_A, LA_4K, false),         W4K(A_G4K, T_A, LA_G4K, true),
    W2M(A_2M, T_A, LA_2M, false),         W2M(A_G2M, T_A, LA_G2M, true),
    PC(A_1G_LO, T_A, GP_1G, 21, GP_1G, 30, false),
    PC(A_1G_HI, T_A, GP_1G + 0x3FE00000, 21, GP_1G, 30, false),
    PC(A_G2MS_LO, T_A, GP_2M, 12, GP_2M, 21, true),
    PC(A_G2MS_HI, T_A, GP_2M + 0x1FF000, 12, GP_2M, 21, true),

    W4K(B_4K, T_B, LA_4K, false),         W4K(B_G4K, T_B, LA_G4K, true),
    PC(B_2MS_LO, T_B, GP_2M, 12, GP_2M, 21, false),
    PC(B_2MS_HI, T_B, GP_2M + 0x1FF000, 12, GP_2M, 21, false),
    PC(B_G1G_LO, T_B, GP_1G, 21, GP_1G, 30, true),
    PC(B_G1G_HI, T_B, GP_1G + 0x3FE00000, 21, GP_1G, 30, true),
    PC(B_4MS_HI, T_B, GP_4M + 0x200000, 21, GP_4M, 22, false),

    W4K(C_4K, T_C, LA_4K, false),         W4K(C_G4K, T_C, LA_G4K, true),
    W2M(C_2M, T_C, LA_2M, false),
    PC(C_1G_LO, T_C, GP_1G, 21, GP_1G, 30, false),
    PC(C_1G_HI, T_C, GP_1G + 0x3FE00000, 21, GP_1G, 30, false),

    W4K(D_4K, T_D, LA_4K, false),         W2M(D_G2M, T_D, LA_G2M, true),
    PC(D_G2MS_LO, T_D, GP_2M, 12, GP_2M, 21, true),
    PC(D_G2MS_HI, T_D, GP_2M + 0x1FF000, 12, GP_2M, 21, true),

    W4K(E_4K, T_E, LA_4K, false),         W4K(E_G4K, T_E, LA_G4K, true),
    PC(E_1G_LO, T_E, GP_1G, 21, GP_1G, 30, false),
    PC(E_1G_HI, T_E, GP_1G + 0x3FE00000, 21, GP_1G, 30, false),

    W4K(F_4K, T_F, LA_4K, false),         W2M(F_2M, T_F, LA_2M, false),
    W4K(F_G4K, T_F, LA_G4K, true),

    W4K(G_4K, T_G, LA_4K, false),         W4K(G_G4K, T_G, LA_G4K, true),

    W4K(H_4K, T_H, LA_4K, false),         W4K(H_G4K, T_H, LA_G4K, true),
    PC(H_2MS_LO, T_H, GP_2M, 12, GP_2M, 21, false),
    PC(H_2MS_HI, T_H, GP_2M + 0x1FF000, 12, GP_2M, 21, false),
};

/* The entry fixture[i] caches: distinct addresses and flags per entry. */
static struct tlb_entry fx_entry(int i)
{
    const struct fx *f = &fixture[i];
    uint64_t gpa = 0x0000000020000000ull + (uint64_t)i * 0x200000;
    bool ept = fx_tags[f->tag].eptrta != TLB_NO_EPT;
    uint16_t fl = TLB_USER | ALL_SLAT | (i & 1 ? TLB_WRITABLE | TLB_DIRTY : 0) | (i & 2 ? TLB_NX : 0) |
                  (f->global ? TLB_GLOBAL : 0);
    if (ept && (i & 4))
        fl &= (uint16_t)~(TLB_SLAT_W | TLB_SLAT_D);
    return (struct tlb_entry){ .la = f->la, .pa = ept ? 0x0000001000000000ull + (uint64_t)i * 0x200000 : gpa,
                               .gpa = gpa, .guest_la = f->guest_la, .size_log2 = f->size_log2,
                               .guest_size_log2 = f->guest_size_log2, .flags = fl };
}

#define M(id) (1ull << (id))
#define ALL_A (M(A_4K) | M(A_G4K) | M(A_2M) | M(A_G2M) | M(A_1G_LO) | M(A_1G_HI) | M(A_G2MS_LO) | M(A_G2MS_HI))
#define ALL_B (M(B_4K) | M(B_G4K) | M(B_2MS_LO) | M(B_2MS_HI) | M(B_G1G_LO) | M(B_G1G_HI) | M(B_4MS_HI))
#define ALL_C (M(C_4K) | M(C_G4K) | M(C_2M) | M(C_1G_LO) | M(C_1G_HI))
#define ALL_D (M(D_4K) | M(D_G2M) | M(D_G2MS_LO) | M(D_G2MS_HI))
#define ALL_E (M(E_4K) | M(E_G4K) | M(E_1G_LO) | M(E_1G_HI))
#define ALL_F (M(F_4K) | M(F_2M) | M(F_G4K))
#define ALL_G (M(G_4K) | M(G_G4K))
#define ALL_H (M(H_4K) | M(H_G4K) | M(H_2MS_LO) | M(H_2MS_HI))
/* the non-global entries of some tags */
#define NG_A (M(A_4K) | M(A_2M) | M(A_1G_LO) | M(A_1G_HI))
#define NG_B (M(B_4K) | M(B_2MS_LO) | M(B_2MS_HI) | M(B_4MS_HI))
#define NG_C (M(C_4K) | M(C_2M) | M(C_1G_LO) | M(C_1G_HI))
#define NG_E (M(E_4K) | M(E_1G_LO) | M(E_1G_HI))
#define NG_H (M(H_4K) | M(H_2MS_LO) | M(H_2MS_HI))

/* Selection fields, spelled out in the rows. */
#define V(n)    .vpid = (n)
#define ANYV    .vpid = TLB_ANY_VPID
#define P(n)    .pcid = (n)
#define ANYP    .pcid = TLB_ANY_PCID
#define E(x)    .eptrta = (x)
#define ANYE    .eptrta = TLB_ANY_EPTRTA
#define AT(x)   .has_la = true, .la = (x)
#define KEEPG   .keep_global = true
#define ONLYG   .only_global = true
#define BUT0    .except_vpid0 = true
#define ANYEPT  .eptrta = TLB_ANY_EPTRTA, .any_ept = true

/* An operation made of one selection, of none (nothing invalidated), and
 * INVLPG, which is two (SDM 3A 4.10.4.1: the entries for the page of the
 * current PCID, and the global entries for it whatever their PCID; SDM 3C
 * 29.4.3.1: of the current VPID, combined mappings for all EP4TAs). */
#define ONE(...)          1, { { __VA_ARGS__ } }
#define NONE              0, { { V(0) } }
#define INVLPG(v, p, la)  2, { { V(v), P(p), ANYE, AT(la) }, { V(v), ANYP, ANYE, AT(la), ONLYG } }

struct inv_row {
    const char *name;         /* SDM operation / context / what it hits */
    int line;
    unsigned nsel;
    struct tlb_sel sel[2];
    uint64_t removed;         /* M() of exactly the fixture entries it removes */
};
#define R(name, ...) { name, __LINE__, __VA_ARGS__ }

static const struct inv_row inv_rows[] = {
    /* -- INVLPG outside VMX non-root operation (VPID 0) (SDM 3A 4.10.4.1; 3C 29.4.3.1: combined
     *    mappings of VPID 0 for all EP4TAs, so tag H too) -- */
    R("3A-4.10.4.1/invlpg/vpid0-pcid0/4k-page", INVLPG(0, 0, LA_4K + 0x123), M(A_4K) | M(H_4K)),
    R("3A-4.10.4.1/invlpg/vpid0-pcid5/4k-page-last-byte", INVLPG(0, 5, LA_4K + 0xFFF), M(B_4K)),
    R("3A-4.10.4.1/invlpg/vpid0-pcid0/global-4k-of-every-pcid", INVLPG(0, 0, LA_G4K),
      M(A_G4K) | M(H_G4K) | M(B_G4K)),
    R("3A-4.10.4.1/invlpg/vpid0-pcid0/2m-page-last-byte", INVLPG(0, 0, LA_2M + 0x1FFFFF), M(A_2M)),
    R("3A-4.10.4.1/invlpg/vpid0-pcid5/global-2m-of-pcid0", INVLPG(0, 5, LA_G2M + 0x123456), M(A_G2M)),
    R("3A-4.10.4.1/invlpg/vpid0-pcid0/1g-guest-page-uncached-middle", INVLPG(0, 0, 0x55555000),
      M(A_1G_LO) | M(A_1G_HI) | M(B_G1G_LO) | M(B_G1G_HI)),
    R("3A-4.10.4.1/invlpg/vpid0-pcid5/1g-guest-page-last-byte", INVLPG(0, 5, GP_1G + 0x3FFFFFFF),
      M(B_G1G_LO) | M(B_G1G_HI)),
    R("3A-4.10.4.1/invlpg/vpid0-pcid0/just-below-1g-guest-page", INVLPG(0, 0, GP_1G - 1), 0),
    R("3A-4.10.4.1/invlpg/vpid0-pcid0/just-above-1g-guest-page", INVLPG(0, 0, GP_1G + 0x40000000), 0),
    R("3A-4.10.4.1/invlpg/vpid0-pcid0/2m-guest-page-uncached-middle", INVLPG(0, 0, GP_2M + 0x100000),
      M(A_G2MS_LO) | M(A_G2MS_HI) | M(H_2MS_LO) | M(H_2MS_HI)),
    R("3A-4.10.4.1/invlpg/vpid0-pcid5/2m-guest-page-first-byte", INVLPG(0, 5, GP_2M),
      M(B_2MS_LO) | M(B_2MS_HI) | M(A_G2MS_LO) | M(A_G2MS_HI)),
    R("3A-4.10.4.1/invlpg/vpid0-pcid0/just-above-2m-guest-page", INVLPG(0, 0, GP_2M + 0x200000), 0),
    R("3A-4.10.4.1/invlpg/vpid0-pcid5/4m-guest-page-uncached-lower-half", INVLPG(0, 5, GP_4M), M(B_4MS_HI)),
    R("3A-4.10.4.1/invlpg/vpid0-pcid5/just-above-4m-guest-page", INVLPG(0, 5, GP_4M + 0x400000), 0),
    R("3A-4.10.4.1/invlpg/vpid0-pcid0/4m-guest-page-of-pcid5-not-global", INVLPG(0, 0, GP_4M + 0x100000), 0),
    /* -- INVLPG in VMX non-root operation: current VPID, all EP4TAs (SDM 3C 29.4.3.1) -- */
    R("3C-29.4.3.1/invlpg/vpid1-pcid0/4k-every-eptrta", INVLPG(1, 0, LA_4K), M(C_4K) | M(E_4K)),
    R("3C-29.4.3.1/invlpg/vpid1-pcid0/1g-guest-page-every-eptrta", INVLPG(1, 0, 0x60000000),
      M(C_1G_LO) | M(C_1G_HI) | M(E_1G_LO) | M(E_1G_HI)),
    R("3C-29.4.3.1/invlpg/vpid1-pcid5/1g-guest-page-of-pcid0-not-global", INVLPG(1, 5, 0x60000000), 0),
    R("3C-29.4.3.1/invlpg/vpid1-pcid0/global-pieces-of-pcid5", INVLPG(1, 0, GP_2M + 0x12345),
      M(D_G2MS_LO) | M(D_G2MS_HI)),
    R("3C-29.4.3.1/invlpg/vpid2-pcid0/global-4k-of-every-pcid", INVLPG(2, 0, LA_G4K + 0xFFF),
      M(G_G4K) | M(F_G4K)),
    R("3C-29.4.3.1/invlpg/vpid2-pcid5/2m-page", INVLPG(2, 5, LA_2M + 0xABCDE), M(F_2M)),

    /* -- INVPCID (SDM 3A 4.10.4.1; current VPID, all EP4TAs per 3C 29.4.3.1).
     *    type 0: one address of one PCID, globals kept; type 1: one PCID, globals kept;
     *    type 2: every PCID, globals too; type 3: every PCID, globals kept -- */
    R("3A-4.10.4.1/invpcid-0/vpid0-pcid5/4k", ONE(V(0), P(5), ANYE, AT(LA_4K), KEEPG), M(B_4K)),
    R("3A-4.10.4.1/invpcid-0/vpid0-pcid5/global-kept", ONE(V(0), P(5), ANYE, AT(LA_G4K), KEEPG), 0),
    R("3A-4.10.4.1/invpcid-0/vpid0-pcid0/1g-guest-page", ONE(V(0), P(0), ANYE, AT(GP_1G + 0x3FE00000), KEEPG),
      M(A_1G_LO) | M(A_1G_HI)),
    R("3A-4.10.4.1/invpcid-0/vpid0-pcid0/2m-guest-page-non-global-only",
      ONE(V(0), P(0), ANYE, AT(GP_2M + 0x1FF000), KEEPG), M(H_2MS_LO) | M(H_2MS_HI)),
    R("3A-4.10.4.1/invpcid-0/vpid2-pcid5/2m", ONE(V(2), P(5), ANYE, AT(LA_2M), KEEPG), M(F_2M)),
    R("3A-4.10.4.1/invpcid-1/vpid0-pcid5", ONE(V(0), P(5), ANYE, KEEPG), NG_B),
    R("3A-4.10.4.1/invpcid-1/vpid0-pcid0", ONE(V(0), P(0), ANYE, KEEPG), NG_A | NG_H),
    R("3A-4.10.4.1/invpcid-1/vpid1-pcid5", ONE(V(1), P(5), ANYE, KEEPG), M(D_4K)),
    R("3A-4.10.4.1/invpcid-2/vpid0", ONE(V(0), ANYP, ANYE), ALL_A | ALL_B | ALL_H),
    R("3A-4.10.4.1/invpcid-2/vpid2", ONE(V(2), ANYP, ANYE), ALL_F | ALL_G),
    R("3A-4.10.4.1/invpcid-3/vpid0", ONE(V(0), ANYP, ANYE, KEEPG), NG_A | NG_B | NG_H),
    R("3A-4.10.4.1/invpcid-3/vpid1", ONE(V(1), ANYP, ANYE, KEEPG), NG_C | M(D_4K) | NG_E),

    /* -- MOV to CR3 and CR4 (SDM 3A 4.10.4.1) -- */
    R("3A-4.10.4.1/mov-cr3/pcide0/pcid-000h-non-global", ONE(V(0), P(0), ANYE, KEEPG), NG_A | NG_H),
    R("3A-4.10.4.1/mov-cr3/pcide1-bit63-0/pcid5-non-global", ONE(V(0), P(5), ANYE, KEEPG), NG_B),
    R("3A-4.10.4.1/mov-cr3/pcide1-bit63-1/nothing", NONE, 0),
    R("3C-29.4.3.1/mov-cr3/vpid1-pcid0-every-eptrta", ONE(V(1), P(0), ANYE, KEEPG), NG_C | NG_E),
    R("3A-4.10.4.1/mov-cr4/pge-changed/every-pcid-and-global", ONE(V(0), ANYP, ANYE), ALL_A | ALL_B | ALL_H),

    /* -- INVVPID (SDM 3C 29.4.3.3): every PCID, combined mappings for every EP4TA.
     *    type 0: one address, globals too; type 1: one VPID; type 2: every VPID but 0000H;
     *    type 3: one VPID, globals kept -- */
    R("3C-29.4.3.3/invvpid-0/vpid1/global-4k", ONE(V(1), ANYP, ANYE, AT(LA_G4K)), M(C_G4K) | M(E_G4K)),
    R("3C-29.4.3.3/invvpid-0/vpid1/1g-guest-page-last-byte", ONE(V(1), ANYP, ANYE, AT(GP_1G + 0x3FFFFFFF)),
      M(C_1G_LO) | M(C_1G_HI) | M(E_1G_LO) | M(E_1G_HI)),
    R("3C-29.4.3.3/invvpid-0/vpid1/just-above-1g-guest-page", ONE(V(1), ANYP, ANYE, AT(GP_1G + 0x40000000)), 0),
    R("3C-29.4.3.3/invvpid-0/vpid1/2m-guest-page-last-byte", ONE(V(1), ANYP, ANYE, AT(GP_2M + 0x1FFFFF)),
      M(D_G2MS_LO) | M(D_G2MS_HI)),
    R("3C-29.4.3.3/invvpid-0/vpid2/4k-every-pcid", ONE(V(2), ANYP, ANYE, AT(LA_4K)), M(F_4K) | M(G_4K)),
    R("3C-29.4.3.3/invvpid-1/vpid1", ONE(V(1), ANYP, ANYE), ALL_C | ALL_D | ALL_E),
    R("3C-29.4.3.3/invvpid-1/vpid2", ONE(V(2), ANYP, ANYE), ALL_F | ALL_G),
    R("3C-29.4.3.3/invvpid-1/vpid3-nothing-cached", ONE(V(3), ANYP, ANYE), 0),
    R("3C-29.4.3.3/invvpid-2/every-vpid-but-0000h", ONE(ANYV, BUT0, ANYP, ANYE),
      ALL_C | ALL_D | ALL_E | ALL_F | ALL_G),
    R("3C-29.4.3.3/invvpid-3/vpid1-retaining-globals", ONE(V(1), ANYP, ANYE, KEEPG), NG_C | M(D_4K) | NG_E),
    R("3C-29.4.3.3/invvpid-3/vpid2-retaining-globals", ONE(V(2), ANYP, ANYE, KEEPG),
      M(F_4K) | M(F_2M) | M(G_4K)),

    /* -- INVEPT (SDM 3C 29.4.3.3): single-context: one EP4TA, every VPID and PCID;
     *    all-context: every EP4TA; linear mappings (no EPT) stay -- */
    R("3C-29.4.3.3/invept-1/eptrta-a", ONE(ANYV, ANYP, E(EPT_A)), ALL_C | ALL_D | ALL_H),
    R("3C-29.4.3.3/invept-1/eptrta-b", ONE(ANYV, ANYP, E(EPT_B)), ALL_E | ALL_F),
    R("3C-29.4.3.3/invept-1/eptrta-nothing-cached", ONE(ANYV, ANYP, E(EPT_C)), 0),
    R("3C-29.4.3.3/invept-2/every-eptrta", ONE(ANYV, ANYP, ANYEPT), ALL_C | ALL_D | ALL_E | ALL_F | ALL_H),

    /* -- VM entry and VM exit with "enable VPID" = 0: VPID 0000H, every PCID and EP4TA
     *    (SDM 3C 29.4.3.1) -- */
    R("3C-29.4.3.1/vm-entry/enable-vpid-0", ONE(V(0), ANYP, ANYE), ALL_A | ALL_B | ALL_H),
    R("3C-29.4.3.1/vm-exit/enable-vpid-0", ONE(V(0), ANYP, ANYE), ALL_A | ALL_B | ALL_H),
};

static void insert_fixture(struct tlb *t)
{
    for (int i = 0; i < NFX; i++) {
        struct tlb_entry e = fx_entry(i);
        tlb_insert(t, &fx_tags[fixture[i].tag], &e);
    }
}

/* Every fixture entry is cached iff its bit is clear in removed. */
static void expect_fixture(const char *row, struct tlb *t, uint64_t removed)
{
    char what[300];
    for (int i = 0; i < NFX; i++) {
        const struct fx *f = &fixture[i];
        struct tlb_entry e = fx_entry(i);
        bool keep = !(removed & M(i));
        snprintf(what, sizeof(what), "%s: %s (tag %c, %s)", row, f->name, tag_letter[f->tag],
                 keep ? "must survive" : "must be removed");
        uint64_t last = f->la + (1ull << f->size_log2) - 1;
        expect_at(what, t, &fx_tags[f->tag], f->la, keep ? &e : NULL);
        expect_at(what, t, &fx_tags[f->tag], last, keep ? &e : NULL);
    }
    unsigned want = (unsigned)(NFX - __builtin_popcountll(removed));
    ck_assert_msg(tlb_count(t) == want, "%s: tlb_count %u, expected %u", row, tlb_count(t), want);
}

START_TEST(invalidate_table)
{
    const struct inv_row *r = &inv_rows[_i];
    char row[200];
    snprintf(row, sizeof(row), "%s (test_tlb.c:%d)", r->name, r->line);
    struct tlb *t = new_tlb();
    insert_fixture(t);
    expect_fixture(row, t, 0);

    unsigned n = 0;
    for (unsigned k = 0; k < r->nsel; k++)
        n += tlb_invalidate(t, &r->sel[k]);
    expect_fixture(row, t, r->removed);
    ck_assert_msg(n == (unsigned)__builtin_popcountll(r->removed), "%s: tlb_invalidate returned %u in all, %d removed",
                  row, n, __builtin_popcountll(r->removed));
    /* a removed entry's tag is one tlb_tag_matches admits */
    for (int i = 0; i < NFX; i++) {
        if (!(r->removed & M(i)))
            continue;
        bool any = false;
        for (unsigned k = 0; k < r->nsel; k++)
            any |= tlb_tag_matches(&fx_tags[fixture[i].tag], &r->sel[k]);
        ck_assert_msg(any, "%s: %s removed but no selection matches its tag", row, fixture[i].name);
    }
    /* the same operation again finds nothing more */
    n = 0;
    for (unsigned k = 0; k < r->nsel; k++)
        n += tlb_invalidate(t, &r->sel[k]);
    ck_assert_msg(n == 0, "%s: repeating the invalidation removed %u more", row, n);
    expect_fixture(row, t, r->removed);
}
END_TEST

/* ==== tlb_tag_matches ==== */

struct tagm_row {
    const char *name;
    int line;
    struct tlb_tag tag;
    struct tlb_sel sel;
    bool want;
};
#define TM(name, want, v, p, e, ...) { name, __LINE__, { v, p, e }, { __VA_ARGS__ }, want }
static const struct tagm_row tagm_rows[] = {
    TM("vpid/equal", true, 7, 3, EPT_A, V(7), ANYP, ANYE),
    TM("vpid/different", false, 7, 3, EPT_A, V(8), ANYP, ANYE),
    TM("vpid/ffff", true, 0xFFFF, 0, 0, V(0xFFFF), ANYP, ANYE),
    TM("vpid/any-but-0000h/vpid0", false, 0, 3, EPT_A, ANYV, BUT0, ANYP, ANYE),
    TM("vpid/any-but-0000h/vpid1", true, 1, 3, EPT_A, ANYV, BUT0, ANYP, ANYE),
    TM("pcid/equal", true, 7, 0xFFF, 0, V(7), P(0xFFF), ANYE),
    TM("pcid/different", false, 7, 3, 0, ANYV, P(4), ANYE),
    TM("eptrta/equal", true, 7, 3, EPT_B, ANYV, ANYP, E(EPT_B)),
    TM("eptrta/different", false, 7, 3, EPT_B, ANYV, ANYP, E(EPT_A)),
    TM("eptrta/no-ept/linear-tag", true, 7, 3, TLB_NO_EPT, ANYV, ANYP, E(TLB_NO_EPT)),
    TM("eptrta/no-ept/combined-tag", false, 7, 3, EPT_A, ANYV, ANYP, E(TLB_NO_EPT)),
    TM("eptrta/any-ept/linear-tag", false, 7, 3, TLB_NO_EPT, ANYV, ANYP, ANYEPT),
    TM("eptrta/any-ept/combined-tag", true, 7, 3, EPT_A, ANYV, ANYP, ANYEPT),
    TM("everything/any", true, 0, 0, TLB_NO_EPT, ANYV, ANYP, ANYE),
    /* an unset field is 0, which selects VPID 0 / PCID 0 / no EPT, not "any" */
    TM("zero-sel/vpid1-not-selected", false, 1, 0, TLB_NO_EPT, .has_la = false),
    TM("zero-sel/vpid0-pcid0-no-ept", true, 0, 0, TLB_NO_EPT, .has_la = false),
};

START_TEST(tag_matches)
{
    const struct tagm_row *r = &tagm_rows[_i];
    ck_assert_msg(tlb_tag_matches(&r->tag, &r->sel) == r->want, "%s (test_tlb.c:%d): tlb_tag_matches is %d",
                  r->name, r->line, !r->want);
}
END_TEST

/* ==== lookup: every address inside a piece, nothing outside (SDM 3A 4.10.2.1) ==== */

static const struct tlb_tag T0 = { 0, 0, TLB_NO_EPT };
#define LK_X 0x00007F0000123000ull    /* a 4-KiB page */
#define LK_Y 0x00007F0000400000ull    /* a 2-MiB page */
#define LK_Z 0xFFFFFFFFFFFFF000ull    /* the last 4-KiB page of the address space */
#define LK_W 0x0000000000000000ull    /* the first one */
enum { LK_NONE, LK_IS_X, LK_IS_Y, LK_IS_Z, LK_IS_W };

static struct tlb_entry lk_entry(int which)
{
    switch (which) {
    case LK_IS_X: return page(LK_X, 12, 0x0000000123456000ull, TLB_USER | TLB_WRITABLE | ALL_SLAT);
    case LK_IS_Y: return page(LK_Y, 21, 0x0000000ABCC00000ull, TLB_NX | TLB_GLOBAL | ALL_SLAT);
    case LK_IS_Z: return page(LK_Z, 12, 0x0000000000FFF000ull, TLB_GLOBAL | TLB_DIRTY | ALL_SLAT);
    default:      return page(LK_W, 12, 0x0000000000007000ull, TLB_USER | ALL_SLAT);
    }
}

struct lk_row { const char *name; int line; uint64_t la; int want; };
#define LK(name, la, want) { name, __LINE__, la, want }
static const struct lk_row lk_rows[] = {
    LK("4k/first-byte", LK_X, LK_IS_X),
    LK("4k/middle", LK_X + 0x7FF, LK_IS_X),
    LK("4k/last-byte", LK_X + 0xFFF, LK_IS_X),
    LK("4k/byte-before", LK_X - 1, LK_NONE),
    LK("4k/byte-after", LK_X + 0x1000, LK_NONE),
    LK("4k/base-of-its-2m-region", LK_X & ~0x1FFFFFull, LK_NONE),
    LK("4k/same-low-bits-bit40-set", LK_X + (1ull << 40), LK_NONE),
    LK("2m/first-byte", LK_Y, LK_IS_Y),
    LK("2m/second-4k", LK_Y + 0x1000, LK_IS_Y),
    LK("2m/middle", LK_Y + 0x12345, LK_IS_Y),
    LK("2m/last-byte", LK_Y + 0x1FFFFF, LK_IS_Y),
    LK("2m/byte-before", LK_Y - 1, LK_NONE),
    LK("2m/byte-after", LK_Y + 0x200000, LK_NONE),
    LK("2m/same-low-bits-bit32-set", LK_Y + (1ull << 32), LK_NONE),
    LK("top-4k/last-byte-of-address-space", 0xFFFFFFFFFFFFFFFFull, LK_IS_Z),
    LK("top-4k/first-byte", LK_Z, LK_IS_Z),
    LK("top-4k/byte-before", LK_Z - 1, LK_NONE),
    LK("la-0/first-byte", 0, LK_IS_W),
    LK("la-0/last-byte", 0xFFF, LK_IS_W),
    LK("la-0/byte-after", 0x1000, LK_NONE),
};

START_TEST(lookup_inside_pieces)
{
    const struct lk_row *r = &lk_rows[_i];
    char row[160];
    snprintf(row, sizeof(row), "lookup/%s (test_tlb.c:%d)", r->name, r->line);
    struct tlb *t = new_tlb();
    for (int w = LK_IS_X; w <= LK_IS_W; w++) {
        struct tlb_entry e = lk_entry(w);
        tlb_insert(t, &T0, &e);
    }
    ck_assert_uint_eq(tlb_count(t), 4);
    struct tlb_entry want = lk_entry(r->want);
    expect_at(row, t, &T0, r->la, r->want == LK_NONE ? NULL : &want);
    /* another tag sees none of them */
    const struct tlb_tag other = { 0, 1, TLB_NO_EPT };
    expect_at(row, t, &other, r->la, NULL);
}
END_TEST

/* ==== insert: replacement and one piece per linear page ==== */

/* Inserting the same piece again replaces it, whatever changed. */
struct rep_row { const char *name; int line; struct tlb_entry first, second; };
static const struct rep_row rep_rows[] = {
    { "4k/new-pa-and-flags", __LINE__,
        { 0x401000, 0x5000, 0x5000, 0x401000, 12, 12, TLB_USER | ALL_SLAT },
        { 0x401000, 0x9000, 0x9000, 0x401000, 12, 12, TLB_WRITABLE | TLB_DIRTY | ALL_SLAT } },
    { "4k/new-gpa-and-ept-rights", __LINE__,
        { 0x401000, 0x5000, 0x7000, 0x401000, 12, 12, TLB_SLAT_R },
        { 0x401000, 0x5000, 0x8000, 0x401000, 12, 12, TLB_SLAT_R | TLB_SLAT_X } },
    { "2m/new-pa-and-global", __LINE__,
        { 0x600000, 0x200000, 0x200000, 0x600000, 21, 21, ALL_SLAT },
        { 0x600000, 0xA00000, 0xA00000, 0x600000, 21, 21, TLB_GLOBAL | ALL_SLAT } },
    { "2m/whole-page-becomes-piece-of-1g", __LINE__,
        { 0x40000000, 0x200000, 0x200000, 0x40000000, 21, 21, ALL_SLAT },
        { 0x40000000, 0x400000, 0x400000, 0x40000000, 21, 30, ALL_SLAT } },
    { "2m/piece-of-1g-becomes-whole-page", __LINE__,
        { 0x40000000, 0x200000, 0x200000, 0x40000000, 21, 30, ALL_SLAT },
        { 0x40000000, 0x400000, 0x400000, 0x40000000, 21, 21, ALL_SLAT } },
    { "4k/piece-of-2m-becomes-whole-page", __LINE__,
        { 0x801000, 0x3000, 0x3000, 0x800000, 12, 21, ALL_SLAT },
        { 0x801000, 0x4000, 0x4000, 0x801000, 12, 12, ALL_SLAT } },
};

START_TEST(insert_replaces)
{
    const struct rep_row *r = &rep_rows[_i];
    char row[160];
    snprintf(row, sizeof(row), "replace/%s (test_tlb.c:%d)", r->name, r->line);
    struct tlb *t = new_tlb();
    struct tlb_entry other = page(0x7000000000ull, 12, 0x1000, ALL_SLAT);
    tlb_insert(t, &T0, &other);
    tlb_insert(t, &T0, &r->first);
    expect_at(row, t, &T0, r->first.la, &r->first);
    tlb_insert(t, &T0, &r->second);
    ck_assert_msg(tlb_count(t) == 2, "%s: tlb_count %u, expected 2", row, tlb_count(t));
    uint64_t size = 1ull << r->second.size_log2;
    expect_at(row, t, &T0, r->second.la, &r->second);
    expect_at(row, t, &T0, r->second.la + size - 1, &r->second);
    expect_at(row, t, &T0, other.la, &other);

    /* INVLPG (as INVVPID type 0 for VPID 0) of an address of the old guest
     * page outside the new one leaves it; one inside the new guest page
     * removes it: the replacement's own guest page counts. */
    uint64_t old_end = r->first.guest_la + (1ull << r->first.guest_size_log2);
    uint64_t new_end = r->second.guest_la + (1ull << r->second.guest_size_log2);
    uint64_t la_out = old_end > new_end ? old_end - 1 : new_end;   /* outside the new guest page */
    struct tlb_sel s = { V(0), ANYP, ANYE, AT(la_out) };
    ck_assert_msg(tlb_invalidate(t, &s) == 0, "%s: invalidating %#llx removed the replacement", row, ULL(la_out));
    expect_at(row, t, &T0, r->second.la, &r->second);
    s.la = new_end - 1;
    ck_assert_msg(tlb_invalidate(t, &s) == 1, "%s: invalidating %#llx, the new guest page's last byte, did "
                  "not remove it", row, ULL(s.la));
    expect_at(row, t, &T0, r->second.la, NULL);
    expect_at(row, t, &T0, other.la, &other);
    ck_assert_uint_eq(tlb_count(t), 1);
}
END_TEST

/* A 2-MiB piece replaces the 4-KiB pieces inside it and a 4-KiB piece the
 * 2-MiB piece around it: one piece per linear address. */
struct over_row { const char *name; int line; uint64_t base; };
static const struct over_row over_rows[] = {
    { "2m-region/low", __LINE__, 0x0000000040000000ull },
    { "2m-region/at-la-0", __LINE__, 0 },
    { "2m-region/upper-half", __LINE__, 0xFFFF800000200000ull },
    { "2m-region/last-of-address-space", __LINE__, 0xFFFFFFFFFFE00000ull },
};

START_TEST(pieces_overlap)
{
    const struct over_row *r = &over_rows[_i];
    char row[160];
    snprintf(row, sizeof(row), "overlap/%s (test_tlb.c:%d)", r->name, r->line);
    struct tlb *t = new_tlb();
    uint64_t y = r->base;
    struct tlb_entry in_lo = page(y, 12, 0x11000, ALL_SLAT);
    struct tlb_entry in_hi = page(y + 0x1FF000, 12, 0x12000, ALL_SLAT);
    struct tlb_entry in_mid = piece(y + 0x80000, 12, y, 21, 0x13000);
    struct tlb_entry below = page(y - 0x1000, 12, 0x14000, ALL_SLAT);
    struct tlb_entry above = page(y + 0x200000, 12, 0x15000, ALL_SLAT);
    struct tlb_entry *small4k[] = { &in_lo, &in_hi, &in_mid, &below, &above };
    for (int i = 0; i < NROWS(small4k); i++)
        tlb_insert(t, &T0, small4k[i]);
    ck_assert_uint_eq(tlb_count(t), 5);

    struct tlb_entry big = page(y, 21, 0x800000, TLB_GLOBAL | ALL_SLAT);
    tlb_insert(t, &T0, &big);
    ck_assert_msg(tlb_count(t) == 3, "%s: tlb_count %u after the 2-MiB insert, expected 3", row, tlb_count(t));
    expect_at(row, t, &T0, y, &big);
    expect_at(row, t, &T0, y + 0x80000, &big);
    expect_at(row, t, &T0, y + 0x1FF000, &big);
    expect_at(row, t, &T0, y - 0x1000, &below);
    expect_at(row, t, &T0, y + 0x200000, &above);

    struct tlb_entry small = page(y + 0x5000, 12, 0x16000, ALL_SLAT);
    tlb_insert(t, &T0, &small);
    ck_assert_msg(tlb_count(t) == 3, "%s: tlb_count %u after the 4-KiB insert, expected 3", row, tlb_count(t));
    expect_at(row, t, &T0, y + 0x5000, &small);
    expect_at(row, t, &T0, y, NULL);
    expect_at(row, t, &T0, y + 0x1FF000, NULL);
    expect_at(row, t, &T0, y - 0x1000, &below);
    expect_at(row, t, &T0, y + 0x200000, &above);

    /* the 2-MiB region's pieces do not touch another tag */
    const struct tlb_tag t1 = { 1, 0, TLB_NO_EPT };
    tlb_insert(t, &t1, &in_hi);
    tlb_insert(t, &T0, &big);
    expect_at(row, t, &t1, y + 0x1FF000, &in_hi);
    ck_assert_uint_eq(tlb_count(t), 4);
}
END_TEST

/* ==== tlb_remove: the piece mapping la, in that tag only ==== */

static const struct tlb_tag RM_T = { 3, 7, EPT_A }, RM_OTHER = { 3, 7, EPT_B }, RM_NEVER = { 9, 9, 0 };
enum { RM_4K, RM_2M, RM_1G_LO, RM_1G_HI, RM_OTHER_4K, NRM };

static struct tlb_entry rm_entry(int i)
{
    switch (i) {
    case RM_4K:    return page(0x00401000, 12, 0x1000, ALL_SLAT);
    case RM_2M:    return page(0x00600000, 21, 0x200000, ALL_SLAT);
    case RM_1G_LO: return piece(0x40000000, 21, 0x40000000, 30, 0x400000);
    case RM_1G_HI: return piece(0x7FE00000, 21, 0x40000000, 30, 0x600000);
    default:       return page(0x00401000, 12, 0x2000, ALL_SLAT);
    }
}
static const struct tlb_tag *rm_tag(int i) { return i == RM_OTHER_4K ? &RM_OTHER : &RM_T; }

struct rm_row { const char *name; int line; const struct tlb_tag *tag; uint64_t la; unsigned removed; };
#define RM(name, tg, la, rm) { name, __LINE__, tg, la, rm }
static const struct rm_row rm_rows[] = {
    RM("4k/first-byte", &RM_T, 0x00401000, 1u << RM_4K),
    RM("4k/last-byte", &RM_T, 0x00401FFF, 1u << RM_4K),
    RM("2m/first-byte", &RM_T, 0x00600000, 1u << RM_2M),
    RM("2m/last-byte", &RM_T, 0x007FFFFF, 1u << RM_2M),
    RM("piece-of-1g/only-that-piece", &RM_T, 0x40012345, 1u << RM_1G_LO),
    RM("piece-of-1g/last-byte", &RM_T, 0x7FFFFFFF, 1u << RM_1G_HI),
    RM("piece-of-1g/uncached-part-of-guest-page", &RM_T, 0x50000000, 0),
    RM("4k/next-page-is-empty", &RM_T, 0x00402000, 0),
    RM("other-tag/same-la", &RM_OTHER, 0x00401800, 1u << RM_OTHER_4K),
    RM("other-tag/la-it-lacks", &RM_OTHER, 0x00600000, 0),
    RM("tag-never-used", &RM_NEVER, 0x00401000, 0),
};

START_TEST(remove_table)
{
    const struct rm_row *r = &rm_rows[_i];
    char row[160];
    snprintf(row, sizeof(row), "remove/%s (test_tlb.c:%d)", r->name, r->line);
    struct tlb *t = new_tlb();
    for (int i = 0; i < NRM; i++) {
        struct tlb_entry e = rm_entry(i);
        tlb_insert(t, rm_tag(i), &e);
    }
    tlb_remove(t, r->tag, r->la);
    for (int i = 0; i < NRM; i++) {
        struct tlb_entry e = rm_entry(i);
        expect_at(row, t, rm_tag(i), e.la, (r->removed & (1u << i)) ? NULL : &e);
    }
    unsigned want = NRM - (unsigned)__builtin_popcount(r->removed);
    ck_assert_msg(tlb_count(t) == want, "%s: tlb_count %u, expected %u", row, tlb_count(t), want);
}
END_TEST

/* ==== lookups are per tag ==== */

static const struct tlb_tag sep_tags[] = {
    { 0, 0, TLB_NO_EPT }, { 1, 0, TLB_NO_EPT }, { 0, 1, TLB_NO_EPT }, { 1, 1, TLB_NO_EPT },
    { 0, 0, EPT_A },      { 0, 0, EPT_A + 0x1000 }, { 0, 0, EPT_A | (1ull << 51) },
    { 0xFFFF, 0xFFF, EPT_B }, { 0x100, 0, TLB_NO_EPT }, { 0, 0x100, TLB_NO_EPT },
};

START_TEST(lookup_per_tag)
{
    struct tlb *t = new_tlb();
    const uint64_t la = 0x00007FFF12345000ull;
    for (int i = 0; i < NROWS(sep_tags); i++) {
        struct tlb_entry e = page(la, 12, 0x100000ull * (uint64_t)(i + 1), ALL_SLAT);
        tlb_insert(t, &sep_tags[i], &e);
    }
    ck_assert_uint_eq(tlb_count(t), NROWS(sep_tags));
    for (int i = 0; i < NROWS(sep_tags); i++) {
        char row[80];
        snprintf(row, sizeof(row), "per-tag/tag %d", i);
        struct tlb_entry e = page(la, 12, 0x100000ull * (uint64_t)(i + 1), ALL_SLAT);
        expect_at(row, t, &sep_tags[i], la + 0x321, &e);
    }
    const struct tlb_tag absent[] = { { 2, 0, 0 }, { 0, 2, 0 }, { 0, 0, EPT_B }, { 0x1FF, 0, 0 } };
    for (int i = 0; i < NROWS(absent); i++)
        expect_at("per-tag/absent tag", t, &absent[i], la, NULL);

    /* removing through one exact tag leaves the others */
    for (int i = 0; i < NROWS(sep_tags); i += 2) {
        struct tlb_sel s = { V(sep_tags[i].vpid), P(sep_tags[i].pcid), E(sep_tags[i].eptrta) };
        ck_assert_msg(tlb_invalidate(t, &s) == 1, "per-tag: invalidating tag %d removed other than 1", i);
    }
    for (int i = 0; i < NROWS(sep_tags); i++) {
        char row[80];
        snprintf(row, sizeof(row), "per-tag/after invalidation, tag %d", i);
        struct tlb_entry e = page(la, 12, 0x100000ull * (uint64_t)(i + 1), ALL_SLAT);
        expect_at(row, t, &sep_tags[i], la, (i & 1) ? &e : NULL);
    }
    ck_assert_uint_eq(tlb_count(t), NROWS(sep_tags) / 2);
}
END_TEST

/* ==== deletion under load (backward-shift deletion in the hash table) ==== */

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* — seeded, so every run is the same */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

#define STRESS_N 20000

struct stress {
    uint64_t la[STRESS_N], pa[STRESS_N];
    unsigned order[STRESS_N];
    bool gone[STRESS_N];
};

/* Every live entry is found at a random offset, no removed one is; extra:
 * entries cached besides the random ones. */
static void stress_check(const char *phase, struct tlb *t, const struct tlb_tag *tag, const struct stress *s,
                         unsigned extra)
{
    unsigned live = 0;
    for (unsigned i = 0; i < STRESS_N; i++) {
        struct tlb_entry got;
        bool found = tlb_lookup(t, tag, s->la[i] + (i & 0xFFF), &got);
        if (s->gone[i]) {
            ck_assert_msg(!found, "%s: entry %u (la %#llx) was removed but is still found", phase, i,
                          ULL(s->la[i]));
            continue;
        }
        live++;
        ck_assert_msg(found, "%s: entry %u (la %#llx) is lost", phase, i, ULL(s->la[i]));
        ck_assert_msg(got.la == s->la[i] && got.pa == s->pa[i],
                      "%s: entry %u (la %#llx) found la %#llx pa %#llx, expected pa %#llx", phase, i,
                      ULL(s->la[i]), ULL(got.la), ULL(got.pa), ULL(s->pa[i]));
    }
    ck_assert_msg(tlb_count(t) == live + extra, "%s: tlb_count %u, expected %u", phase, tlb_count(t),
                  live + extra);
}

/* Rows: the seed, and whether the tag also holds a piece of a larger guest
 * page (tlb_invalidate then takes its other path). */
struct stress_row { const char *name; uint64_t seed; bool split; unsigned n; };
static const struct stress_row stress_rows[] = {
    { "20000-whole-pages/seed-1", 0x9E3779B97F4A7C15ull, false, STRESS_N },
    { "20000-whole-pages/seed-2", 0x0123456789ABCDEFull, false, STRESS_N },
    { "2000-with-a-split-page", 0xDEADBEEFCAFEF00Dull, true, 2000 },
};

START_TEST(many_inserts_and_removes)
{
    const struct stress_row *r = &stress_rows[_i];
    struct stress *s = harness_own(harness_free, calloc(1, sizeof(*s)));
    ck_assert_ptr_nonnull(s);
    struct tlb *t = new_tlb();
    const struct tlb_tag tag = { 4, 9, EPT_B }, bystander = { 4, 10, EPT_B };
    uint64_t seed = r->seed;
    unsigned n = r->n;
    for (unsigned i = n; i < STRESS_N; i++)
        s->gone[i] = true;     /* rows with fewer entries: the rest never exist */

    /* one entry in another tag, and (split rows) a piece of a 1-GiB guest page
     * far above the random pages, in the same tag */
    struct tlb_entry by = page(0x1000, 12, 0xB000, ALL_SLAT);
    tlb_insert(t, &bystander, &by);
    struct tlb_entry sp = piece(0x7F0000200000ull, 21, 0x7F0000000000ull, 30, 0xC00000);
    if (r->split)
        tlb_insert(t, &tag, &sp);

    for (unsigned i = 0; i < n; i++) {
        struct tlb_entry got;
        uint64_t la;
        do   /* distinct 4-KiB pages below 2^47, away from the split page */
            la = rng_next(&seed) & 0x00003FFFFFFFF000ull;
        while (tlb_lookup(t, &tag, la, &got));
        s->la[i] = la;
        s->pa[i] = (rng_next(&seed) & 0x000000FFFFFFF000ull) | 0x1000;
        struct tlb_entry e = page(la, 12, s->pa[i], ALL_SLAT);
        tlb_insert(t, &tag, &e);
    }
    unsigned extra = 1 + r->split;
    ck_assert_uint_eq(tlb_count(t), n + extra);
    stress_check("after inserting", t, &tag, s, extra);

    /* remove half, in a seeded random order, alternately with tlb_remove and
     * with a one-address invalidation at a random offset in the page */
    for (unsigned i = 0; i < n; i++)
        s->order[i] = i;
    for (unsigned i = n - 1; i > 0; i--) {
        unsigned j = (unsigned)(rng_next(&seed) % (i + 1));
        unsigned x = s->order[i];
        s->order[i] = s->order[j];
        s->order[j] = x;
    }
    for (unsigned k = 0; k < n / 2; k++) {
        unsigned i = s->order[k];
        uint64_t at = s->la[i] + (rng_next(&seed) & 0xFFF);
        if (k & 1) {
            tlb_remove(t, &tag, at);
        } else {
            struct tlb_sel sel = { V(tag.vpid), P(tag.pcid), E(tag.eptrta), AT(at) };
            unsigned got = tlb_invalidate(t, &sel);
            ck_assert_msg(got == 1, "invalidating entry %u (la %#llx) removed %u", i, ULL(s->la[i]), got);
        }
        s->gone[i] = true;
        if (k == n / 4)
            stress_check("after removing a quarter", t, &tag, s, extra);
    }
    stress_check("after removing half", t, &tag, s, extra);

    /* removing them again changes nothing; the survivors come back in the holes */
    for (unsigned k = 0; k < n / 2; k += 7)
        tlb_remove(t, &tag, s->la[s->order[k]]);
    stress_check("after removing again", t, &tag, s, extra);
    for (unsigned k = 0; k < n / 2; k += 3) {
        unsigned i = s->order[k];
        s->pa[i] ^= 0x0000000100000000ull;
        struct tlb_entry e = page(s->la[i], 12, s->pa[i], ALL_SLAT);
        tlb_insert(t, &tag, &e);
        s->gone[i] = false;
    }
    stress_check("after reinserting a third of them", t, &tag, s, extra);
    if (r->split)
        expect_at("stress/split piece", t, &tag, sp.la, &sp);
    expect_at("stress/bystander", t, &bystander, by.la, &by);
}
END_TEST

/* Emptying a tag (a VM entry or exit without VPID, MOV CR3 without PCID)
 * clears the entries one by one when few were inserted since it was last
 * emptied, the whole table otherwise: rows on both sides of that limit
 * (16), after the table has grown large, with entries removed on the way
 * (their neighbours moved back in their probe sequences), twice over. */
struct empty_row { const char *name; unsigned n, removed; };
static const struct empty_row empty_rows[] = {
    { "3-entries", 3, 0 },
    { "16-entries-5-removed", 16, 5 },
    { "16-entries", 16, 0 },
    { "17-entries", 17, 0 },
    { "60-entries-30-removed", 60, 30 },
};

START_TEST(empty_tag_few_or_many)
{
    const struct empty_row *r = &empty_rows[_i];
    struct tlb *t = new_tlb();
    const struct tlb_tag tag = { 0, 0, 0 }, bystander = { 0, 1, 0 };
    struct tlb_entry by = page(0x5000, 12, 0x9000, ALL_SLAT);
    tlb_insert(t, &bystander, &by);
    uint64_t seed = 0x243F6A8885A308D3ull;
    /* grow the table first, then empty it */
    for (unsigned i = 0; i < 1000; i++) {
        struct tlb_entry e = page((rng_next(&seed) & 0x00003FFFFFFFF000ull), 12, 0x1000, ALL_SLAT);
        tlb_insert(t, &tag, &e);
    }
    struct tlb_sel all = { V(0), P(0), ANYE };
    tlb_invalidate(t, &all);
    ck_assert_uint_eq(tlb_count(t), 1);
    for (int round = 0; round < 2; round++) {
        uint64_t la[64];
        /* pages close together collide in the table's probe sequences */
        for (unsigned i = 0; i < r->n; i++) {
            la[i] = 0x7F0000000000ull + (uint64_t)i * 0x1000 * (1 + (i % 3) * 64);
            struct tlb_entry e = page(la[i], 12, 0x100000 + i * 0x1000ull, ALL_SLAT);
            tlb_insert(t, &tag, &e);
        }
        for (unsigned k = 0; k < r->removed; k++)
            tlb_remove(t, &tag, la[(k * 7) % r->n]);
        tlb_invalidate(t, &all);
        ck_assert_msg(tlb_count(t) == 1, "%s round %d: %u entries left, expected the bystander only", r->name,
                      round, tlb_count(t));
        /* one new entry, so that lookups look into the table */
        struct tlb_entry other = page(0x6000000000ull, 12, 0x8000, ALL_SLAT);
        tlb_insert(t, &tag, &other);
        for (unsigned i = 0; i < r->n; i++) {
            struct tlb_entry got;
            ck_assert_msg(!tlb_lookup(t, &tag, la[i], &got), "%s round %d: la %#llx still cached", r->name, round,
                          ULL(la[i]));
        }
        expect_at("empty/bystander", t, &bystander, by.la, &by);
        /* the emptied table takes entries again */
        struct tlb_entry again = page(la[0], 12, 0x4242000, ALL_SLAT);
        tlb_insert(t, &tag, &again);
        expect_at("empty/again", t, &tag, la[0], &again);
        tlb_remove(t, &tag, la[0]);
        tlb_remove(t, &tag, other.la);
    }
}
END_TEST

/* ==== capacity: TLB_MAX_PER_TAG and TLB_MAX_TAGS (SDM 3A 4.10.2.2 lets a
 * processor drop entries at any time; tlb.h makes the choice deterministic) ==== */

START_TEST(per_tag_limit_starts_tag_over)
{
    struct tlb *t = new_tlb();
    const struct tlb_tag full = { 1, 1, EPT_A }, other = { 1, 2, EPT_A };
    struct tlb_entry o = page(0x5000, 12, 0x5000, ALL_SLAT);
    tlb_insert(t, &other, &o);
    for (unsigned i = 0; i < TLB_MAX_PER_TAG; i++) {
        struct tlb_entry e = page((uint64_t)i << 12, 12, ((uint64_t)i << 12) + 0x100000000ull, ALL_SLAT);
        tlb_insert(t, &full, &e);
    }
    ck_assert_uint_eq(tlb_count(t), TLB_MAX_PER_TAG + 1);
    for (unsigned i = 0; i < TLB_MAX_PER_TAG; i += 4099) {
        struct tlb_entry e = page((uint64_t)i << 12, 12, ((uint64_t)i << 12) + 0x100000000ull, ALL_SLAT);
        expect_at("per-tag limit/full", t, &full, e.la, &e);
    }
    uint64_t last_la = (uint64_t)(TLB_MAX_PER_TAG - 1) << 12;
    struct tlb_entry last = page(last_la, 12, last_la + 0x100000000ull, ALL_SLAT);
    expect_at("per-tag limit/full, last", t, &full, last.la, &last);

    /* one more: the tag starts over with just the new entry */
    struct tlb_entry extra = page(0x0000000100000000ull, 21, 0x40000000, TLB_GLOBAL | ALL_SLAT);
    tlb_insert(t, &full, &extra);
    ck_assert_msg(tlb_count(t) == 2, "per-tag limit: tlb_count %u after overflowing, expected 2", tlb_count(t));
    expect_at("per-tag limit/after", t, &full, extra.la + 0x1234, &extra);
    expect_at("per-tag limit/after, first", t, &full, 0, NULL);
    expect_at("per-tag limit/after, last", t, &full, last.la, NULL);
    expect_at("per-tag limit/after, other tag", t, &other, o.la, &o);
    /* and fills again normally */
    struct tlb_entry again = page(0x3000, 12, 0x3000, ALL_SLAT);
    tlb_insert(t, &full, &again);
    ck_assert_uint_eq(tlb_count(t), 3);
    expect_at("per-tag limit/refill", t, &full, again.la, &again);
}
END_TEST

static struct tlb_tag lru_tag(unsigned i)
{
    return (struct tlb_tag){ .vpid = (uint16_t)(i + 1), .pcid = (uint16_t)(i & 7),
                             .eptrta = (i & 1) ? EPT_A + ((uint64_t)i << 12) : TLB_NO_EPT };
}
static struct tlb_entry lru_entry(unsigned i)
{
    return page(0x10000000ull + ((uint64_t)i << 12), 12, 0x200000000ull + ((uint64_t)i << 12), ALL_SLAT);
}

/* present[i]: whether tag i still holds its entry */
static void lru_expect(const char *phase, struct tlb *t, unsigned ntags, const bool *present)
{
    for (unsigned i = 0; i < ntags; i++) {
        char row[120];
        snprintf(row, sizeof(row), "%s: tag %u", phase, i);
        struct tlb_tag tag = lru_tag(i);
        struct tlb_entry e = lru_entry(i);
        expect_at(row, t, &tag, e.la, present[i] ? &e : NULL);
    }
}

START_TEST(tag_limit_drops_least_recently_used)
{
    struct tlb *t = new_tlb();
    bool present[TLB_MAX_TAGS + 1] = { 0 };
    for (unsigned i = 0; i < TLB_MAX_TAGS; i++) {
        struct tlb_tag tag = lru_tag(i);
        struct tlb_entry e = lru_entry(i);
        tlb_insert(t, &tag, &e);
        present[i] = true;
    }
    ck_assert_uint_eq(tlb_count(t), TLB_MAX_TAGS);
    lru_expect("32 tags", t, TLB_MAX_TAGS, present);   /* uses tags 0..31 in order */

    /* use tag 0 (an insert) and tag 1 (a lookup): tag 2 is now the least recently used */
    struct tlb_tag t0 = lru_tag(0), t1 = lru_tag(1);
    struct tlb_entry e0b = page(0x20000000, 21, 0x40000000, ALL_SLAT), got;
    tlb_insert(t, &t0, &e0b);
    ck_assert(tlb_lookup(t, &t1, lru_entry(1).la, &got));
    ck_assert_uint_eq(tlb_count(t), TLB_MAX_TAGS + 1);

    struct tlb_tag t32 = lru_tag(TLB_MAX_TAGS);
    struct tlb_entry e32 = lru_entry(TLB_MAX_TAGS);
    tlb_insert(t, &t32, &e32);
    present[2] = false;
    present[TLB_MAX_TAGS] = true;
    ck_assert_msg(tlb_count(t) == TLB_MAX_TAGS + 1, "33rd tag: tlb_count %u, expected %u", tlb_count(t),
                  TLB_MAX_TAGS + 1);
    expect_at("33rd tag: tag 0's second entry", t, &t0, e0b.la, &e0b);
    lru_expect("33rd tag evicts tag 2", t, TLB_MAX_TAGS + 1, present);

    /* lru_expect used 0, 1, 3..32 in order: bringing tag 2 back drops tag 0,
     * both of its entries */
    struct tlb_tag t2 = lru_tag(2);
    struct tlb_entry e2 = lru_entry(2);
    tlb_insert(t, &t2, &e2);
    present[2] = true;
    present[0] = false;
    ck_assert_msg(tlb_count(t) == TLB_MAX_TAGS, "tag 2 back: tlb_count %u, expected %u", tlb_count(t),
                  TLB_MAX_TAGS);
    lru_expect("tag 2 back evicts tag 0", t, TLB_MAX_TAGS + 1, present);
    expect_at("tag 2 back: tag 0's second entry", t, &t0, e0b.la, NULL);
}
END_TEST

/* ==== tlb_count ==== */

START_TEST(count_all_tags)
{
    tlb_destroy(NULL);
    struct tlb *t = new_tlb();
    ck_assert_uint_eq(tlb_count(t), 0);
    struct tlb_entry got;
    ck_assert(!tlb_lookup(t, &T0, 0, &got));
    tlb_remove(t, &T0, 0);
    ck_assert_uint_eq(tlb_count(t), 0);
    insert_fixture(t);
    ck_assert_uint_eq(tlb_count(t), NFX);
    struct tlb_entry e = fx_entry(C_2M);
    e.pa += 0x200000;
    tlb_insert(t, &fx_tags[T_C], &e);                     /* replacement */
    ck_assert_uint_eq(tlb_count(t), NFX);
    tlb_remove(t, &fx_tags[T_C], LA_G2M);                 /* nothing there in tag C */
    ck_assert_uint_eq(tlb_count(t), NFX);
    tlb_remove(t, &fx_tags[T_D], LA_G2M + 0x1000);
    ck_assert_uint_eq(tlb_count(t), NFX - 1);
    const struct tlb_sel all = { ANYV, ANYP, ANYE };
    ck_assert_uint_eq(tlb_invalidate(t, &all), NFX - 1);
    ck_assert_uint_eq(tlb_count(t), 0);
    ck_assert_uint_eq(tlb_invalidate(t, &all), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tlb");
    TCase *t = harness_tcase("invalidate");
    ADD_ROWS(t, invalidate_table, inv_rows);
    ADD_ROWS(t, tag_matches, tagm_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("cache");
    ADD_ROWS(t, lookup_inside_pieces, lk_rows);
    ADD_ROWS(t, insert_replaces, rep_rows);
    ADD_ROWS(t, pieces_overlap, over_rows);
    ADD_ROWS(t, remove_table, rm_rows);
    tcase_add_test(t, lookup_per_tag);
    tcase_add_test(t, count_all_tags);
    suite_add_tcase(s, t);

    t = harness_tcase("capacity");
    ADD_ROWS(t, many_inserts_and_removes, stress_rows);
    ADD_ROWS(t, empty_tag_few_or_many, empty_rows);
    tcase_add_test(t, per_tag_limit_starts_tag_over);
    tcase_add_test(t, tag_limit_drops_least_recently_used);
    suite_add_tcase(s, t);
    return harness_run(s);
}
