/*
 * evq.h — a deterministic event queue on virtual time: events fire in
 * (time, insertion order). Used by the machine for timed wake-ups of
 * logical processors and by devices.
 */
#ifndef HVSIM_SIM_EVQ_H
#define HVSIM_SIM_EVQ_H

#include <stdbool.h>
#include <stdint.h>

struct evq_event {
    uint64_t time;      /* virtual cycle */
    uint64_t seq;       /* insertion order: breaks ties deterministically */
    uint32_t kind;      /* owner-defined */
    uint32_t target;    /* owner-defined (e.g. LP index) */
    uint64_t data;
};

typedef struct evq evq_t;

evq_t *evq_create(void);
void evq_destroy(evq_t *q);
/* Returns the event's sequence number (its handle), 0 on allocation failure. */
uint64_t evq_push(evq_t *q, uint64_t time, uint32_t kind, uint32_t target, uint64_t data);
bool evq_peek(const evq_t *q, struct evq_event *out);
bool evq_pop(evq_t *q, struct evq_event *out);
bool evq_cancel(evq_t *q, uint64_t seq);
unsigned evq_count(const evq_t *q);

#endif
