/*
 * trace.c — writer and validating reader for the trace format
 * (docs/trace-format.md). Record layouts come from trace_records.def.
 *
 * File: a 256-byte header, then records of a 16-byte header
 *   { u8 type, u8 lp, u16 payload length, u32 zero, u64 cycle }
 * followed by the payload. The last record is END, which carries the number
 * of records before it and the CRC-32 of every byte before it; a reader
 * accepts a file only if all of that checks out.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

/* ---- layouts from the .def table ---- */

struct rec_desc {
    const char *name;
    unsigned code;
    bool var;
    const char *fields;
};

static const struct rec_desc rec_descs[] = {
#define X(name, code, var, fields) { #name, code, var, fields },
#include "trace_records.def"
#undef X
};
#define NDESC (sizeof(rec_descs) / sizeof(rec_descs[0]))

struct layout {
    unsigned nfields;                 /* named (non-padding) fields */
    const char *name[TRACE_MAX_FIELDS];
    unsigned name_len[TRACE_MAX_FIELDS];
    unsigned off[TRACE_MAX_FIELDS];
    unsigned width[TRACE_MAX_FIELDS];
    unsigned fixed;                   /* bytes of fixed payload */
    bool var;
};

static const struct rec_desc *desc_of(unsigned type)
{
    for (unsigned i = 0; i < NDESC; i++)
        if (rec_descs[i].code == type)
            return &rec_descs[i];
    return NULL;
}

static bool layout_of(unsigned type, struct layout *l)
{
    const struct rec_desc *d = desc_of(type);
    if (!d)
        return false;
    memset(l, 0, sizeof(*l));
    l->var = d->var;
    const char *p = d->fields;
    unsigned off = 0;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *name = p;
        while (*p && *p != ':')
            p++;
        unsigned nlen = (unsigned)(p - name);
        unsigned w = (unsigned)(p[1] - '0');
        p += 2;
        if (!(nlen == 1 && name[0] == '_')) {
            l->name[l->nfields] = name;
            l->name_len[l->nfields] = nlen;
            l->off[l->nfields] = off;
            l->width[l->nfields] = w;
            l->nfields++;
        }
        off += w;
    }
    l->fixed = off;
    return true;
}

const char *trace_end_name(unsigned reason)
{
    switch (reason) {
    case TEND_EXIT_DEVICE: return "exit-device";
    case TEND_TRIPLE_FAULT: return "triple-fault";
    case TEND_HALTED: return "halted";
    case TEND_INSN_LIMIT: return "instruction-limit";
    case TEND_CYCLE_LIMIT: return "cycle-limit";
    case TEND_UNMODELLED: return "unmodelled";
    case TEND_INTERNAL: return "internal-error";
    }
    return "?";
}

const char *trace_type_name(unsigned type)
{
    const struct rec_desc *d = desc_of(type);
    return d ? d->name : NULL;
}

unsigned trace_type_fields(unsigned type, const char *names[TRACE_MAX_FIELDS])
{
    struct layout l;
    if (!layout_of(type, &l))
        return 0;
    for (unsigned i = 0; i < l.nfields; i++)
        names[i] = l.name[i];        /* not NUL-terminated at the name's end: see trace_field_index */
    return l.nfields;
}

int trace_field_index(unsigned type, const char *name)
{
    struct layout l;
    if (!layout_of(type, &l))
        return -1;
    size_t n = strlen(name);
    for (unsigned i = 0; i < l.nfields; i++)
        if (l.name_len[i] == n && !strncmp(l.name[i], name, n))
            return (int)i;
    return -1;
}

const char *trace_strerror(trace_err e)
{
    switch (e) {
    case TRACE_OK: return "success";
    case TRACE_ERR_IO: return "input/output error";
    case TRACE_ERR_FORMAT: return "not a valid hvsim trace";
    case TRACE_ERR_NOMEM: return "out of memory";
    }
    return "unknown error";
}

static void put_le(uint8_t *p, uint64_t v, unsigned w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* (a host in the file's byte order: one copy per field) */
    if (w == 8) {
        memcpy(p, &v, 8);
        return;
    }
    if (w == 4) {
        uint32_t x = (uint32_t)v;
        memcpy(p, &x, 4);
        return;
    }
#endif
    for (unsigned i = 0; i < w; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned w)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < w; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ---- header ---- */

static void header_encode(const struct trace_config *c, uint8_t h[TRACE_HEADER_SIZE])
{
    memset(h, 0, TRACE_HEADER_SIZE);
    memcpy(h, "HVSIMTRC", 8);
    put_le(h + 8, TRACE_FORMAT_VERSION, 2);
    put_le(h + 10, TRACE_HEADER_SIZE, 2);
    put_le(h + 12, c->flags, 4);
    put_le(h + 16, c->seed, 8);
    put_le(h + 24, c->nlps, 4);
    put_le(h + 28, c->cost_model, 4);
    put_le(h + 32, c->mem_size, 8);
    put_le(h + 40, c->quantum, 8);
    memcpy(h + 48, c->hvsim_version, 31);
    memcpy(h + 80, c->profile, 31);
    memcpy(h + 112, c->payload, 63);
    memcpy(h + 176, c->payload_sha256, 32);
    put_le(h + 208, c->sched_seed, 8);
}

static bool header_decode(const uint8_t h[TRACE_HEADER_SIZE], struct trace_config *c, char *msg, size_t n)
{
    if (memcmp(h, "HVSIMTRC", 8) != 0) {
        snprintf(msg, n, "not an hvsim trace (bad magic)");
        return false;
    }
    memset(c, 0, sizeof(*c));
    c->version = (uint16_t)get_le(h + 8, 2);
    if (c->version < 1 || c->version > TRACE_FORMAT_VERSION) {
        snprintf(msg, n, "trace format version %u is not supported (this hvsim reads versions 1 to %u)",
                 c->version, TRACE_FORMAT_VERSION);
        return false;
    }
    if (get_le(h + 10, 2) != TRACE_HEADER_SIZE) {
        snprintf(msg, n, "header length %llu is not %u", (unsigned long long)get_le(h + 10, 2),
                 TRACE_HEADER_SIZE);
        return false;
    }
    c->flags = (uint32_t)get_le(h + 12, 4);
    c->seed = get_le(h + 16, 8);
    c->nlps = (uint32_t)get_le(h + 24, 4);
    c->cost_model = (uint32_t)get_le(h + 28, 4);
    c->mem_size = get_le(h + 32, 8);
    c->quantum = get_le(h + 40, 8);
    memcpy(c->hvsim_version, h + 48, 31);
    memcpy(c->profile, h + 80, 31);
    memcpy(c->payload, h + 112, 63);
    memcpy(c->payload_sha256, h + 176, 32);
    c->sched_seed = get_le(h + 208, 8);
    if (c->nlps == 0 || c->nlps > 256) {
        snprintf(msg, n, "header names %u logical processors (1..256 expected)", c->nlps);
        return false;
    }
    for (int i = 216; i < TRACE_HEADER_SIZE; i++)
        if (h[i]) {
            snprintf(msg, n, "non-zero reserved header byte at offset %d", i);
            return false;
        }
    return true;
}

/* ---- writer ---- */

#define WBUF_SIZE 65536

struct trace_writer {
    FILE *f;
    size_t wn;                   /* bytes pending in wbuf */
    uint8_t wbuf[WBUF_SIZE];
    struct layout lay[32];       /* layouts by record type, parsed once */
    uint32_t crc;
    uint64_t records;
    trace_err err;
    /* pending console text, coalesced into one record */
    bool con_pending;
    uint8_t con_lp;
    uint16_t con_port;
    uint64_t con_cycle;
    uint16_t con_n;
    uint8_t con_buf[256];
    uint64_t last_cycle[256];    /* cycle of the last record written per LP */
};

static void w_flush(trace_writer_t *w)
{
    if (!w->wn)
        return;
    w->crc = crc32_update(w->crc, w->wbuf, w->wn);
    if (!w->err && fwrite(w->wbuf, 1, w->wn, w->f) != w->wn)
        w->err = TRACE_ERR_IO;
    w->wn = 0;
}

static void w_bytes(trace_writer_t *w, const void *p, size_t n)
{
    if (w->wn + n > WBUF_SIZE)
        w_flush(w);
    if (n > WBUF_SIZE) {
        w->crc = crc32_update(w->crc, p, n);
        if (!w->err && fwrite(p, 1, n, w->f) != n)
            w->err = TRACE_ERR_IO;
        return;
    }
    memcpy(w->wbuf + w->wn, p, n);
    w->wn += n;
}

static void w_record(trace_writer_t *w, unsigned type, unsigned lp, uint64_t cycle,
                     const uint64_t *vals, unsigned nvals, const void *var, size_t nvar)
{
    if (type >= 32 || !w->lay[type].fixed)
        return;
    const struct layout *l = &w->lay[type];
    if (nvar > TRACE_MAX_VAR)
        nvar = TRACE_MAX_VAR;
    size_t len = l->fixed + (l->var ? nvar : 0);
    /* header and fixed fields, made in place in the write buffer (every
     * layout's fixed part is far smaller than the buffer) */
    size_t n = TRACE_REC_HDR + l->fixed;
    if (w->wn + n > WBUF_SIZE)
        w_flush(w);
    uint8_t *buf = w->wbuf + w->wn;
    memset(buf, 0, n);
    buf[0] = (uint8_t)type;
    buf[1] = (uint8_t)lp;
    put_le(buf + 2, len, 2);
    put_le(buf + 8, cycle, 8);
    for (unsigned i = 0; i < l->nfields && i < nvals; i++)
        put_le(buf + TRACE_REC_HDR + l->off[i], vals[i], l->width[i]);
    w->wn += n;
    if (l->var && nvar)
        w_bytes(w, var, nvar);
    w->records++;
    if (type != TREC_END && cycle > w->last_cycle[lp & 255])
        w->last_cycle[lp & 255] = cycle;
}

static void flush_console(trace_writer_t *w)
{
    if (!w->con_pending)
        return;
    /* Port and instruction records of the same LP may have been written
     * while the line was pending: the line is stamped no earlier than them. */
    uint64_t cycle = w->con_cycle > w->last_cycle[w->con_lp] ? w->con_cycle : w->last_cycle[w->con_lp];
    uint64_t v[1] = { w->con_port };
    w_record(w, TREC_CONSOLE, w->con_lp, cycle, v, 1, w->con_buf, w->con_n);
    w->con_pending = false;
    w->con_n = 0;
}

trace_err trace_create(const char *path, const struct trace_config *cfg, trace_writer_t **out)
{
    *out = NULL;
    trace_writer_t *w = calloc(1, sizeof(*w));
    if (!w)
        return TRACE_ERR_NOMEM;
    w->f = fopen(path, "wb");
    if (!w->f) {
        free(w);
        return TRACE_ERR_IO;
    }
    for (unsigned i = 0; i < NDESC; i++)
        if (rec_descs[i].code < 32)
            layout_of(rec_descs[i].code, &w->lay[rec_descs[i].code]);
    uint8_t h[TRACE_HEADER_SIZE];
    header_encode(cfg, h);
    w_bytes(w, h, sizeof(h));
    *out = w;
    return w->err;
}

void trace_console(trace_writer_t *w, unsigned lp, uint64_t cycle, uint16_t port, uint8_t byte)
{
    if (!w)
        return;
    if (w->con_pending && (w->con_lp != lp || w->con_port != port || w->con_n == sizeof(w->con_buf)))
        flush_console(w);
    if (!w->con_pending) {
        w->con_pending = true;
        w->con_lp = (uint8_t)lp;
        w->con_port = port;
        w->con_cycle = cycle;
        w->con_n = 0;
    }
    w->con_buf[w->con_n++] = byte;
    w->con_cycle = cycle;           /* the record carries the cycle of its last byte */
    if (byte == '\n')
        flush_console(w);
}

void trace_event(trace_writer_t *w, unsigned lp, const struct cpu_event *ev)
{
    if (!w)
        return;
    /* Port writes that feed the console do not break a console line; any
     * other event does (so records stay in cycle order per LP). */
    if (ev->kind != CPU_EV_IO && ev->kind != CPU_EV_INSN)
        flush_console(w);
    uint64_t v[8];
    switch (ev->kind) {
    case CPU_EV_EXCEPTION:
        v[0] = ev->rip; v[1] = ev->a & 0xFF; v[2] = (ev->a >> 8) & 0xFF; v[3] = (ev->a >> 16) & 1;
        v[4] = ev->b; v[5] = ev->c; v[6] = ev->d;
        w_record(w, TREC_EXCEPTION, lp, ev->cycle, v, 7, NULL, 0);
        break;
    case CPU_EV_CR_WRITE:
        v[0] = ev->rip; v[1] = ev->a; v[2] = ev->b; v[3] = ev->c;
        w_record(w, TREC_CR_WRITE, lp, ev->cycle, v, 4, NULL, 0);
        break;
    case CPU_EV_MSR:
        v[0] = ev->rip; v[1] = ev->a; v[2] = ev->c; v[3] = ev->d; v[4] = ev->b;
        w_record(w, TREC_MSR, lp, ev->cycle, v, 5, NULL, 0);
        break;
    case CPU_EV_IO:
        v[0] = ev->rip; v[1] = ev->a; v[2] = ev->c; v[3] = ev->d; v[4] = ev->b;
        w_record(w, TREC_IO, lp, ev->cycle, v, 5, NULL, 0);
        break;
    case CPU_EV_HALT:
        v[0] = ev->rip; v[1] = ev->a; v[2] = ev->b;
        w_record(w, TREC_HALT, lp, ev->cycle, v, 3, NULL, 0);
        break;
    case CPU_EV_TLB_INVAL:
        v[0] = ev->rip; v[1] = ev->a; v[2] = ev->b; v[3] = ev->c; v[4] = ev->d;
        w_record(w, TREC_TLB_INVAL, lp, ev->cycle, v, 5, NULL, 0);
        break;
    case CPU_EV_INSN:
        v[0] = ev->rip; v[1] = ev->a;
        w_record(w, TREC_INSN, lp, ev->cycle, v, 2, ev->bytes, ev->nbytes);
        break;
    case CPU_EV_TRIPLE_FAULT:
        v[0] = ev->rip; v[1] = ev->a; v[2] = ev->b; v[3] = ev->c;
        w_record(w, TREC_TRIPLE_FAULT, lp, ev->cycle, v, 4, NULL, 0);
        break;
    case CPU_EV_APIC:
        v[0] = ev->rip; v[1] = ev->a; v[2] = ev->b; v[3] = ev->c;
        w_record(w, TREC_APIC, lp, ev->cycle, v, 4, NULL, 0);
        break;
    case CPU_EV_VIRT:
        v[0] = ev->rip; v[1] = ev->a; v[2] = ev->b; v[3] = ev->c; v[4] = ev->d; v[5] = ev->e; v[6] = ev->f;
        w_record(w, TREC_VMX, lp, ev->cycle, v, 7, NULL, 0);
        break;
    case CPU_EV_VM_ENTRY:
        v[0] = ev->rip;
        w_record(w, TREC_VM_ENTRY, lp, ev->cycle, v, 1, NULL, 0);
        break;
    case CPU_EV_VM_EXIT:
        v[0] = ev->rip; v[1] = ev->a; v[2] = ev->c; v[3] = ev->b; v[4] = ev->d;
        w_record(w, TREC_VM_EXIT, lp, ev->cycle, v, 5, NULL, 0);
        break;
    case CPU_EV_SVM_EXIT:
        v[0] = ev->rip; v[1] = ev->a; v[2] = ev->b; v[3] = ev->c; v[4] = ev->d; v[5] = ev->e;
        w_record(w, TREC_SVM_EXIT, lp, ev->cycle, v, 6, NULL, 0);
        break;
    case CPU_EV_TLB_FILL:
        v[0] = ev->rip; v[1] = ev->a; v[2] = ev->b; v[3] = ev->c; v[4] = ev->d & 0xFFFF;
        v[5] = (ev->d >> 16) & 0xFFFF; v[6] = (ev->d >> 32) & 0xFF; v[7] = (ev->d >> 40) & 0xFFFF;
        w_record(w, TREC_TLB_FILL, lp, ev->cycle, v, 8, NULL, 0);
        break;
    case CPU_EV_NOTE:
        break;                                  /* for the user, not the trace */
    case CPU_EV_UNMODELLED:
        v[0] = ev->rip;
        w_record(w, TREC_UNMODELLED, lp, ev->cycle, v, 1, ev->text, ev->text ? strlen(ev->text) : 0);
        break;
    }
}

trace_err trace_finish(trace_writer_t *w, enum trace_end_reason reason, uint32_t status,
                       uint64_t insns, uint64_t cycles, const char *text)
{
    if (!w)
        return TRACE_OK;
    flush_console(w);
    w_flush(w);
    uint64_t v[6] = { reason, status, insns, cycles, w->records, w->crc };
    w_record(w, TREC_END, 0, cycles, v, 6, text, text ? strlen(text) : 0);
    w_flush(w);
    trace_err e = w->err;
    if (fclose(w->f) != 0 && !e)
        e = TRACE_ERR_IO;
    free(w);
    return e;
}

void trace_abort(trace_writer_t *w)
{
    if (!w)
        return;
    w_flush(w);
    fclose(w->f);
    free(w);
}

/* ---- reader ---- */

struct trace_reader {
    FILE *f;
    struct trace_config cfg;
    uint32_t crc;
    uint64_t records;
    uint64_t offset;
    uint64_t last_cycle[256];
    bool done;
};

trace_err trace_open(const char *path, trace_reader_t **out, char *msg, size_t msglen)
{
    *out = NULL;
    trace_reader_t *r = calloc(1, sizeof(*r));
    if (!r)
        return TRACE_ERR_NOMEM;
    r->f = fopen(path, "rb");
    if (!r->f) {
        snprintf(msg, msglen, "%s: %s", path, strerror(errno));
        free(r);
        return TRACE_ERR_IO;
    }
    uint8_t h[TRACE_HEADER_SIZE];
    size_t n = fread(h, 1, sizeof(h), r->f);
    if (n != sizeof(h)) {
        snprintf(msg, msglen, "%s: truncated header (%zu of %d bytes)", path, n, TRACE_HEADER_SIZE);
        fclose(r->f);
        free(r);
        return TRACE_ERR_FORMAT;
    }
    char why[200];
    if (!header_decode(h, &r->cfg, why, sizeof(why))) {
        snprintf(msg, msglen, "%s: %s", path, why);
        fclose(r->f);
        free(r);
        return TRACE_ERR_FORMAT;
    }
    r->crc = crc32_update(0, h, sizeof(h));
    r->offset = sizeof(h);
    *out = r;
    return TRACE_OK;
}

const struct trace_config *trace_reader_config(const trace_reader_t *r) { return &r->cfg; }

int trace_next(trace_reader_t *r, struct trace_record *rec, char *msg, size_t msglen)
{
    if (r->done) {
        snprintf(msg, msglen, "read past the END record");
        return -1;
    }
    uint8_t hdr[TRACE_REC_HDR];
    uint64_t at = r->offset;
    size_t n = fread(hdr, 1, sizeof(hdr), r->f);
    if (n == 0) {
        snprintf(msg, msglen, "truncated: the trace ends at offset %llu without an END record "
                 "(the run was interrupted, or the file was cut)", (unsigned long long)at);
        return -1;
    }
    if (n != sizeof(hdr)) {
        snprintf(msg, msglen, "truncated record header at offset %llu", (unsigned long long)at);
        return -1;
    }
    unsigned type = hdr[0], lp = hdr[1];
    unsigned len = (unsigned)get_le(hdr + 2, 2);
    struct layout l;
    if (!layout_of(type, &l) || (r->cfg.version < 2 && type == TREC_APIC) ||
        (r->cfg.version < 3 && type == TREC_VMX) ||
        (r->cfg.version < 4 && (type == TREC_VM_ENTRY || type == TREC_VM_EXIT)) ||
        (r->cfg.version < 5 && type == TREC_TLB_FILL) || (r->cfg.version < 6 && type == TREC_SVM_EXIT)) {
        snprintf(msg, msglen, "corrupted: unknown record type %u at offset %llu (format version %u)", type,
                 (unsigned long long)at, r->cfg.version);
        return -1;
    }
    if (get_le(hdr + 4, 4) != 0) {
        snprintf(msg, msglen, "corrupted: reserved bytes of the record at offset %llu are not zero",
                 (unsigned long long)at);
        return -1;
    }
    if (len < l.fixed || (!l.var && len != l.fixed) || len - l.fixed > TRACE_MAX_VAR) {
        snprintf(msg, msglen, "corrupted: %s record at offset %llu has length %u", trace_type_name(type),
                 (unsigned long long)at, len);
        return -1;
    }
    if (type != TREC_END && lp >= r->cfg.nlps) {
        snprintf(msg, msglen, "corrupted: record at offset %llu names LP %u of %u", (unsigned long long)at,
                 lp, r->cfg.nlps);
        return -1;
    }
    uint8_t payload[64 + TRACE_MAX_VAR];
    if (fread(payload, 1, len, r->f) != len) {
        snprintf(msg, msglen, "truncated: %s record at offset %llu is cut short", trace_type_name(type),
                 (unsigned long long)at);
        return -1;
    }
    memset(rec, 0, offsetof(struct trace_record, var));
    rec->type = (uint8_t)type;
    rec->lp = (uint8_t)lp;
    rec->cycle = get_le(hdr + 8, 8);
    rec->offset = at;
    rec->nfields = l.nfields;
    for (unsigned i = 0; i < l.nfields; i++)
        rec->field[i] = get_le(payload + l.off[i], l.width[i]);
    rec->nvar = (uint16_t)(len - l.fixed);
    memcpy(rec->var, payload + l.fixed, rec->nvar);
    r->offset += sizeof(hdr) + len;
    if (type == TREC_END) {
        uint64_t nrec = rec->field[trace_field_index(TREC_END, "records")];
        uint32_t crc = (uint32_t)rec->field[trace_field_index(TREC_END, "crc")];
        if (nrec != r->records || crc != r->crc) {
            snprintf(msg, msglen, "corrupted: END record at offset %llu says %llu records and CRC %08x, "
                     "the file has %llu records and CRC %08x", (unsigned long long)at,
                     (unsigned long long)nrec, crc, (unsigned long long)r->records, r->crc);
            return -1;
        }
        int c = fgetc(r->f);
        if (c != EOF) {
            snprintf(msg, msglen, "corrupted: data after the END record at offset %llu",
                     (unsigned long long)r->offset);
            return -1;
        }
        r->done = true;
        return 0;
    }
    if (rec->cycle < r->last_cycle[lp]) {
        snprintf(msg, msglen, "corrupted: record at offset %llu goes back in time on LP %u", (unsigned long long)at, lp);
        return -1;
    }
    r->last_cycle[lp] = rec->cycle;
    r->crc = crc32_update(r->crc, hdr, sizeof(hdr));
    r->crc = crc32_update(r->crc, payload, len);
    r->records++;
    return 1;
}

void trace_close(trace_reader_t *r)
{
    if (!r)
        return;
    fclose(r->f);
    free(r);
}
