/*
 * evq.c — binary min-heap ordered by (time, seq). seq grows monotonically,
 * so two events at the same time fire in the order they were pushed and no
 * host-dependent value (pointer, hash) ever decides the order.
 */
#include <stdlib.h>

#include "evq.h"

struct evq {
    struct evq_event *h;
    unsigned n, cap;
    uint64_t next_seq;
};

evq_t *evq_create(void)
{
    evq_t *q = calloc(1, sizeof(*q));
    if (q)
        q->next_seq = 1;
    return q;
}

void evq_destroy(evq_t *q)
{
    if (q) {
        free(q->h);
        free(q);
    }
}

static bool before(const struct evq_event *a, const struct evq_event *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static void swap(struct evq_event *a, struct evq_event *b)
{
    struct evq_event t = *a;
    *a = *b;
    *b = t;
}

static void sift_up(evq_t *q, unsigned i)
{
    while (i > 0) {
        unsigned p = (i - 1) / 2;
        if (!before(&q->h[i], &q->h[p]))
            break;
        swap(&q->h[i], &q->h[p]);
        i = p;
    }
}

static void sift_down(evq_t *q, unsigned i)
{
    for (;;) {
        unsigned l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->n && before(&q->h[l], &q->h[m]))
            m = l;
        if (r < q->n && before(&q->h[r], &q->h[m]))
            m = r;
        if (m == i)
            return;
        swap(&q->h[i], &q->h[m]);
        i = m;
    }
}

uint64_t evq_push(evq_t *q, uint64_t time, uint32_t kind, uint32_t target, uint64_t data)
{
    if (q->n == q->cap) {
        unsigned nc = q->cap ? q->cap * 2 : 16;
        struct evq_event *nh = realloc(q->h, sizeof(*nh) * nc);
        if (!nh)
            return 0;
        q->h = nh;
        q->cap = nc;
    }
    struct evq_event e = { time, q->next_seq++, kind, target, data };
    q->h[q->n] = e;
    sift_up(q, q->n++);
    return e.seq;
}

bool evq_peek(const evq_t *q, struct evq_event *out)
{
    if (!q->n)
        return false;
    *out = q->h[0];
    return true;
}

bool evq_pop(evq_t *q, struct evq_event *out)
{
    if (!q->n)
        return false;
    if (out)
        *out = q->h[0];
    q->h[0] = q->h[--q->n];
    if (q->n)
        sift_down(q, 0);
    return true;
}

bool evq_cancel(evq_t *q, uint64_t seq)
{
    for (unsigned i = 0; i < q->n; i++) {
        if (q->h[i].seq == seq) {
            q->h[i] = q->h[--q->n];
            if (i < q->n) {
                sift_up(q, i);
                sift_down(q, i);
            }
            return true;
        }
    }
    return false;
}

unsigned evq_count(const evq_t *q) { return q->n; }
