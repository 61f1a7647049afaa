/*
 * tlb.c — the tagged translation cache (tlb.h): one open-addressing hash
 * table per tag, keyed by the linear base of the cached piece.
 */
#include <stdlib.h>
#include <string.h>

#include "tlb.h"

struct slot {
    uint64_t key;             /* la | 1 for a 2-MiB piece; 0: empty (la 0 as 4 KiB is key 2) */
    struct tlb_entry e;
};

struct tagtab {
    bool used;
    struct tlb_tag tag;
    uint64_t last_use;
    struct slot *slots;
    unsigned cap, n;          /* cap: a power of two */
    unsigned nsplit;          /* entries that are pieces of a larger guest page */
    unsigned n4k;             /* entries of 4 KiB */
    unsigned nglobal;         /* global entries */
    uint64_t rec[16];         /* keys inserted since the table was last emptied (tab_clear), */
    unsigned nrec;            /* ... how many, */
    bool rec_over;            /* ... more than fit */
};

struct tlb {
    struct tagtab tags[TLB_MAX_TAGS];
    uint64_t gen;             /* changes with every insertion, removal and invalidation */
    uint64_t tick;
    unsigned last;            /* the tag found last (looked at first) */
};

static uint64_t key_of(uint64_t la, unsigned size_log2)
{
    /* bit 1 marks a used key, bit 0 a 2-MiB piece (la is 4-KiB aligned) */
    return la | 2 | (size_log2 == 21 ? 1 : 0);
}

static unsigned hash(uint64_t key, unsigned cap)
{
    return (unsigned)(((key >> 12) * 0x9E3779B97F4A7C15ull) >> 40) & (cap - 1);
}

uint64_t tlb_generation(const struct tlb *t)
{
    return t->gen;
}

struct tlb *tlb_create(void)
{
    return calloc(1, sizeof(struct tlb));
}

void tlb_destroy(struct tlb *t)
{
    if (!t)
        return;
    for (unsigned i = 0; i < TLB_MAX_TAGS; i++)
        free(t->tags[i].slots);
    free(t);
}

static bool same_tag(const struct tlb_tag *a, const struct tlb_tag *b)
{
    return a->vpid == b->vpid && a->pcid == b->pcid && a->eptrta == b->eptrta;
}

static struct slot *probe(struct tagtab *tt, uint64_t key);

static void tab_clear(struct tagtab *tt)
{
    if (tt->cap && tt->cap <= 65536) {
        /* tables are kept: VM entries and exits without VPID empty VPID 0's
         * tables thousands of times a second, MOV CR3 a context's; freeing
         * and regrowing them made the heap shrink and grow (brk) and every
         * regrown page fault in again */
        if (tt->n && !tt->rec_over) {
            /* every entry is one of the keys recorded: find them all
             * first (clearing one slot could hide another), then clear */
            struct slot *at[16];
            unsigned k = 0;
            for (unsigned j = 0; j < tt->nrec; j++) {
                struct slot *sl = probe(tt, tt->rec[j]);
                if (sl)
                    at[k++] = sl;
            }
            for (unsigned j = 0; j < k; j++)
                at[j]->key = 0;
        } else if (tt->n) {
            memset(tt->slots, 0, sizeof(*tt->slots) * tt->cap);
        }
        tt->n = tt->nsplit = tt->n4k = tt->nglobal = 0;
        tt->nrec = 0;
        tt->rec_over = false;
        return;
    }
    free(tt->slots);
    tt->slots = NULL;
    tt->cap = tt->n = tt->nsplit = tt->n4k = tt->nglobal = 0;
    tt->nrec = 0;
    tt->rec_over = false;
}

static struct tagtab *find_tag(struct tlb *t, const struct tlb_tag *tag, bool create)
{
    struct tagtab *hit = &t->tags[t->last];
    if (hit->used && same_tag(&hit->tag, tag)) {
        hit->last_use = ++t->tick;
        return hit;
    }
    struct tagtab *lru = NULL;
    for (unsigned i = 0; i < TLB_MAX_TAGS; i++) {
        struct tagtab *tt = &t->tags[i];
        if (tt->used && same_tag(&tt->tag, tag)) {
            tt->last_use = ++t->tick;
            t->last = i;
            return tt;
        }
        if (!lru || (!tt->used && lru->used) || (tt->used == lru->used && tt->last_use < lru->last_use))
            lru = tt;
    }
    if (!create)
        return NULL;
    /* a free tag, or the least recently used one loses its entries */
    tab_clear(lru);
    lru->used = true;
    lru->tag = *tag;
    lru->last_use = ++t->tick;
    t->last = (unsigned)(lru - t->tags);
    return lru;
}

static struct slot *probe(struct tagtab *tt, uint64_t key)
{
    if (!tt->cap)
        return NULL;
    for (unsigned i = hash(key, tt->cap), k = 0; k < tt->cap; i = (i + 1) & (tt->cap - 1), k++) {
        if (tt->slots[i].key == key)
            return &tt->slots[i];
        if (!tt->slots[i].key)
            return NULL;
    }
    return NULL;
}

static bool put(struct tagtab *tt, uint64_t key, const struct tlb_entry *e)
{
    if ((tt->n + 1) * 4 > tt->cap * 3) {
        unsigned ncap = tt->cap ? tt->cap * 2 : 64;
        struct slot *ns = calloc(ncap, sizeof(*ns));
        if (!ns)
            return false;
        for (unsigned i = 0; i < tt->cap; i++)
            if (tt->slots[i].key) {
                unsigned j = hash(tt->slots[i].key, ncap);
                while (ns[j].key)
                    j = (j + 1) & (ncap - 1);
                ns[j] = tt->slots[i];
            }
        free(tt->slots);
        tt->slots = ns;
        tt->cap = ncap;
    }
    unsigned i = hash(key, tt->cap);
    while (tt->slots[i].key && tt->slots[i].key != key)
        i = (i + 1) & (tt->cap - 1);
    if (!tt->slots[i].key) {
        tt->n++;
        if (tt->nrec < sizeof(tt->rec) / sizeof(tt->rec[0]))
            tt->rec[tt->nrec++] = key;
        else
            tt->rec_over = true;
    } else {
        if (tt->slots[i].e.guest_size_log2 > tt->slots[i].e.size_log2)
            tt->nsplit--;
        if (tt->slots[i].e.size_log2 == 12)
            tt->n4k--;
        if (tt->slots[i].e.flags & TLB_GLOBAL)
            tt->nglobal--;
    }
    tt->slots[i].key = key;
    tt->slots[i].e = *e;
    if (e->guest_size_log2 > e->size_log2)
        tt->nsplit++;
    if (e->size_log2 == 12)
        tt->n4k++;
    if (e->flags & TLB_GLOBAL)
        tt->nglobal++;
    return true;
}

/* Backward-shift deletion keeps every probe sequence unbroken. */
static void del(struct tagtab *tt, struct slot *s)
{
    unsigned i = (unsigned)(s - tt->slots);
    if (s->e.guest_size_log2 > s->e.size_log2)
        tt->nsplit--;
    if (s->e.size_log2 == 12)
        tt->n4k--;
    if (s->e.flags & TLB_GLOBAL)
        tt->nglobal--;
    tt->slots[i].key = 0;
    tt->n--;
    for (unsigned j = (i + 1) & (tt->cap - 1); tt->slots[j].key; j = (j + 1) & (tt->cap - 1)) {
        unsigned h = hash(tt->slots[j].key, tt->cap);
        /* can the entry at j move to the hole at i? (h not in (i, j]) */
        bool between = i <= j ? (h > i && h <= j) : (h > i || h <= j);
        if (!between) {
            tt->slots[i] = tt->slots[j];
            tt->slots[j].key = 0;
            i = j;
        }
    }
}

bool tlb_lookup(struct tlb *t, const struct tlb_tag *tag, uint64_t la, struct tlb_entry *out)
{
    struct tagtab *tt = find_tag(t, tag, false);
    if (!tt || !tt->n)
        return false;
    struct slot *s = probe(tt, key_of(la & ~0xFFFull, 12));
    if (!s)
        s = probe(tt, key_of(la & ~0x1FFFFFull, 21));
    if (!s)
        return false;
    *out = s->e;
    return true;
}

void tlb_insert(struct tlb *t, const struct tlb_tag *tag, const struct tlb_entry *e)
{
    t->gen++;
    struct tagtab *tt = find_tag(t, tag, true);
    if (tt->n >= TLB_MAX_PER_TAG)
        tab_clear(tt);                 /* full: this tag starts over (allowed, SDM 3A 4.10.2.2) */
    /* one piece per linear page: a 4-KiB piece inside a cached 2-MiB one (or
     * the reverse) replaces it */
    struct slot *s = probe(tt, key_of(e->la & ~0x1FFFFFull, 21));
    if (s)
        del(tt, s);
    if (e->size_log2 == 21 && tt->n4k) {
        if (tt->cap < 512) {
            /* a small table: look at every slot (a deletion may shift an
             * unvisited entry back, so start over after one) */
            for (unsigned k = 0; k < tt->cap;) {
                struct slot *q = &tt->slots[k];
                if (q->key && !(q->key & 1) && (q->key & ~0xFFFull & ~0x1FFFFFull) == e->la) {
                    del(tt, q);
                    k = 0;
                } else {
                    k++;
                }
            }
        } else {
            /* by offset: e->la + 2 MiB wraps to 0 for the last 2 MiB of the address space */
            for (uint64_t off = 0; off < (2u << 20) && tt->n4k; off += 4096) {
                struct slot *q = probe(tt, key_of(e->la + off, 12));
                if (q)
                    del(tt, q);
            }
        }
    }
    if (!put(tt, key_of(e->la, e->size_log2), e))
        tab_clear(tt);                 /* out of host memory: forget this tag's entries */
}

void tlb_remove(struct tlb *t, const struct tlb_tag *tag, uint64_t la)
{
    t->gen++;
    struct tagtab *tt = find_tag(t, tag, false);
    if (!tt)
        return;
    struct slot *s = probe(tt, key_of(la & ~0xFFFull, 12));
    if (s)
        del(tt, s);
    s = probe(tt, key_of(la & ~0x1FFFFFull, 21));
    if (s)
        del(tt, s);
}

bool tlb_tag_matches(const struct tlb_tag *tag, const struct tlb_sel *sel)
{
    if (sel->vpid != TLB_ANY_VPID && tag->vpid != (uint16_t)sel->vpid)
        return false;
    if (sel->except_vpid0 && tag->vpid == 0)
        return false;
    if (sel->pcid != TLB_ANY_PCID && tag->pcid != (uint16_t)sel->pcid)
        return false;
    if (sel->eptrta != TLB_ANY_EPTRTA && tag->eptrta != sel->eptrta)
        return false;
    if (sel->any_ept && tag->eptrta == TLB_NO_EPT)
        return false;
    return true;
}

static bool entry_matches(const struct tlb_entry *e, const struct tlb_sel *sel)
{
    bool g = (e->flags & TLB_GLOBAL) != 0;
    if ((sel->keep_global && g) || (sel->only_global && !g))
        return false;
    if (sel->has_la) {
        uint64_t size = 1ull << e->guest_size_log2;
        if (sel->la - e->guest_la >= size)
            return false;
    }
    return true;
}

unsigned tlb_invalidate(struct tlb *t, const struct tlb_sel *sel)
{
    t->gen++;
    unsigned removed = 0;
    for (unsigned i = 0; i < TLB_MAX_TAGS; i++) {
        struct tagtab *tt = &t->tags[i];
        if (!tt->used || !tt->n || !tlb_tag_matches(&tt->tag, sel))
            continue;
        if (!sel->has_la && !sel->only_global && (!sel->keep_global || !tt->nglobal)) {
            removed += tt->n;                  /* everything goes (no global entry to keep) */
            tab_clear(tt);
            continue;
        }
        if (!sel->has_la && sel->only_global && !tt->nglobal)
            continue;
        if (sel->has_la && !tt->nsplit) {
            /* every entry is a whole guest page: only the pieces at la */
            uint64_t keys[2] = { key_of(sel->la & ~0xFFFull, 12), key_of(sel->la & ~0x1FFFFFull, 21) };
            for (unsigned k = 0; k < 2; k++) {
                struct slot *q = probe(tt, keys[k]);
                if (q && entry_matches(&q->e, sel)) {
                    del(tt, q);
                    removed++;
                }
            }
            continue;
        }
        /* otherwise rebuild with the survivors */
        struct slot *old = tt->slots;
        unsigned ocap = tt->cap;
        tt->slots = NULL;
        tt->cap = tt->n = tt->nsplit = tt->n4k = tt->nglobal = 0;
        for (unsigned k = 0; k < ocap; k++)
            if (old[k].key) {
                if (entry_matches(&old[k].e, sel))
                    removed++;
                else if (!put(tt, old[k].key, &old[k].e))
                    break;
            }
        free(old);
    }
    return removed;
}

unsigned tlb_count(const struct tlb *t)
{
    unsigned n = 0;
    for (unsigned i = 0; i < TLB_MAX_TAGS; i++)
        if (t->tags[i].used)
            n += t->tags[i].n;
    return n;
}
