/*
 * scenario_run.c — running one scenario and checking its expectations in
 * order: how the run ended, the console transcript, events in the trace,
 * final registers, memory. The first expectation that fails is reported
 * with the trace records around it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine.h"
#include "multiboot.h"
#include "physmem.h"
#include "scenario.h"

#define FAILF(r, ...) snprintf((r)->message, sizeof((r)->message), __VA_ARGS__)

/* ---- console ---- */

/* Next line of text (without the newline); NULL at the end. */
static const char *next_line(const char **p, size_t *len)
{
    if (!**p)
        return NULL;
    const char *s = *p, *nl = strchr(s, '\n');
    *len = nl ? (size_t)(nl - s) : strlen(s);
    *p = nl ? nl + 1 : s + *len;
    return s;
}

static bool line_matches(const struct scn_line *l, const char *s, size_t n)
{
    if (!l->regex)
        return strlen(l->text) == n && !strncmp(l->text, s, n);
    char *tmp = malloc(n + 1);
    if (!tmp)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    bool ok = regexec(&l->re, tmp, 0, NULL, 0) == 0;      /* anchored at load */
    free(tmp);
    return ok;
}

static bool check_console(const struct scenario *s, const char *out, struct scn_result *r)
{
    if (s->console_file_text) {
        const char *a = s->console_file_text, *b = out;
        for (unsigned ln = 1;; ln++) {
            size_t na = 0, nb = 0;
            const char *la = next_line(&a, &na), *lb = next_line(&b, &nb);
            if (!la && !lb)
                return true;
            if (!la || !lb || na != nb || strncmp(la, lb, na)) {
                FAILF(r, "console line %u differs from %s:\n  expected: %.*s\n  actual:   %.*s", ln,
                      s->console_file, la ? (int)na : 5, la ? la : "(end)", lb ? (int)nb : 5, lb ? lb : "(end)");
                return false;
            }
        }
    }
    const char *p = out;
    unsigned want = 0, ln = 0;
    size_t n;
    const char *line;
    while ((line = next_line(&p, &n)) != NULL) {
        ln++;
        if (want < s->nlines && line_matches(&s->lines[want], line, n)) {
            want++;
            continue;
        }
        if (!s->console_contains) {
            if (want < s->nlines)
                FAILF(r, "console line %u is \"%.*s\", expected %s\"%s\" (line %d)", ln, (int)n, line,
                      s->lines[want].regex ? "a match of " : "", s->lines[want].text, s->lines[want].line);
            else
                FAILF(r, "console line %u is \"%.*s\", expected the end of the transcript", ln, (int)n, line);
            return false;
        }
    }
    if (want < s->nlines) {
        FAILF(r, "console: no line %s \"%s\" (scenario line %d)%s", s->lines[want].regex ? "matching" : "equal to",
              s->lines[want].text, s->lines[want].line, s->console_contains ? " in the rest of the transcript" : "");
        return false;
    }
    return true;
}

/* ---- trace events ---- */

/* A vm-exit pattern also matches an AMD-V exit (SVM_EXIT, trace format 6)
 * with the meaning it had when format 5 wrote AMD-V exits as VM_EXIT
 * records: reason = EXITCODE bits 31:0, len = 0, qual = EXITINFO1, info =
 * the failed VMRUN check or EXITINTINFO bits 31:0 (docs/scenario-schema.md). */
static bool svm_as_vm_exit(const struct scn_event *e, const struct trace_record *rec)
{
    static int idx[5] = { -2 };
    if (idx[0] == -2) {
        static const char *const names[5] = { "rip", "code", "info1", "intinfo", "check" };
        for (int i = 0; i < 5; i++)
            idx[i] = trace_field_index(TREC_SVM_EXIT, names[i]);
    }
    for (int i = 0; i < 5; i++)
        if (idx[i] < 0 || (unsigned)idx[i] >= rec->nfields)
            return false;
    uint64_t check = rec->field[idx[4]];
    uint64_t v[5] = { rec->field[idx[0]], rec->field[idx[1]] & 0xFFFFFFFFu, 0, rec->field[idx[2]],
                      check != 0xFFFFFFFFu ? check : rec->field[idx[3]] & 0xFFFFFFFFu };
    for (unsigned i = 0; i < e->nfields; i++) {
        int f = e->field[i];                 /* VM_EXIT order: rip reason len qual info */
        if (f < 0 || f >= 5 || v[f] != e->value[i])
            return false;
    }
    return true;
}

static bool event_matches(const struct scn_event *e, const struct trace_record *rec)
{
    if (e->lp >= 0 && rec->lp != (unsigned)e->lp)
        return false;
    if (e->type == TREC_VM_EXIT && rec->type == TREC_SVM_EXIT)
        return svm_as_vm_exit(e, rec);
    if (rec->type != e->type)
        return false;
    for (unsigned i = 0; i < e->nfields; i++)
        if ((unsigned)e->field[i] >= rec->nfields || rec->field[e->field[i]] != e->value[i])
            return false;
    return true;
}

/* The last RING formatted records, for failure excerpts. */
#define RING 10
#define RING_W 200
struct ring {
    char line[RING][RING_W];
    unsigned n;
};

static void ring_push(struct ring *g, const char *line)
{
    snprintf(g->line[g->n++ % RING], RING_W, "%s", line);
}

static void ring_dump(const struct ring *g, const char *title, struct scn_result *r)
{
    size_t o = strlen(r->excerpt);
    o += (size_t)snprintf(r->excerpt + o, sizeof(r->excerpt) - o, "%s\n", title);
    for (unsigned i = g->n > RING ? g->n - RING : 0; i < g->n && o < sizeof(r->excerpt); i++)
        o += (size_t)snprintf(r->excerpt + o, sizeof(r->excerpt) - o, "    %s\n", g->line[i % RING]);
}

/* One pass over the trace. <event>s must match in file order; an <absent>
 * must match nothing in its scope: the whole trace, or (scope="between")
 * the records after the match of the <event> before it and before the match
 * of the <event> after it. A record that matches the next <event> ends the
 * span and does not belong to it. */
static bool check_trace(const struct scenario *s, const char *path, struct scn_result *r)
{
    char msg[512];
    trace_reader_t *tr;
    if (trace_open(path, &tr, msg, sizeof(msg)) != TRACE_OK) {
        FAILF(r, "cannot read the run's trace: %s", msg);
        return false;
    }
    struct trace_record *rec = malloc(sizeof(*rec));
    struct ring *all = calloc(1, sizeof(*all)), *typed = calloc(1, sizeof(*typed)), *hist = calloc(1, sizeof(*hist));
    char *line = malloc(TRACE_MAX_VAR * 4 + 256);
    if (!rec || !all || !typed || !hist || !line) {
        FAILF(r, "out of memory checking the trace");
        free(rec), free(all), free(typed), free(hist), free(line);
        trace_close(tr);
        return false;
    }
    unsigned matched = 0, next = 0;      /* <event>s matched; index of the next one to match */
    while (next < s->nevents && s->events[next].absent)
        next++;
    bool ok = true;
    int k;
    while (ok && (k = trace_next(tr, rec, msg, sizeof(msg))) > 0) {
        trace_format_record(rec, line, TRACE_MAX_VAR * 4 + 256);
        ring_push(all, line);
        ring_push(hist, line);
        if (next < s->nevents && rec->type == s->events[next].type)
            ring_push(typed, line);
        if (next < s->nevents && event_matches(&s->events[next], rec)) {
            matched++;
            next++;
            while (next < s->nevents && s->events[next].absent)
                next++;
            all->n = typed->n = 0;           /* excerpts show what followed the last match */
            continue;
        }
        for (unsigned i = 0; i < s->nevents; i++) {
            const struct scn_event *e = &s->events[i];
            if (!e->absent || (e->between && e->slot != matched) || !event_matches(e, rec))
                continue;
            FAILF(r, "trace: an event matching <absent %s%s> (line %d) occurred:\n  %.400s", e->text,
                  e->between ? " scope=between" : "", e->line, line);
            ring_dump(all, "trace records up to it:", r);
            ok = false;
            break;
        }
    }
    if (ok && k < 0) {
        FAILF(r, "the run's trace is invalid: %s", msg);
        ok = false;
    }
    if (ok && next < s->nevents) {
        const struct scn_event *e = &s->events[next];
        FAILF(r, "trace: no event matching <event %s> (line %d)%s", e->text, e->line,
              matched ? " after the previous expected event" : "");
        const char *where = matched ? "after the last expected event" : "in the trace";
        char title[200];
        if (!all->n) {
            snprintf(title, sizeof(title), "the last expected event matched the trace's last record; up to it:");
            ring_dump(hist, title, r);
        } else if (typed->n) {
            snprintf(title, sizeof(title), "%s records %s (none matches):", scenario_event_name(e->type), where);
            ring_dump(typed, title, r);
        } else {
            snprintf(title, sizeof(title), "no %s record %s; the last records:", scenario_event_name(e->type), where);
            ring_dump(all, title, r);
        }
        ok = false;
    }
    free(rec);
    free(all);
    free(typed);
    free(hist);
    free(line);
    trace_close(tr);
    return ok;
}

void scenario_machine_config(const struct scenario *s, struct machine_config *mc)
{
    *mc = (struct machine_config){
        .nlps = s->lps ? s->lps : 1,
        .mem_size = s->memory ? s->memory : MACHINE_DEFAULT_MEM,
        .profile = s->cpu ? cpu_profile_find(s->cpu) : NULL,
        .seed = s->seed,
        .max_insns = s->max_insns ? s->max_insns : 500000000ull,   /* a scenario never runs away */
        .max_cycles = s->max_cycles,
        .quantum = s->quantum ? s->quantum : MACHINE_DEFAULT_QUANTUM,
        .sched_seed = s->sched_seed,
        .cmdline = s->multiboot ? NULL : s->cmdline,
        .tlb_flush_always = s->tlb_flush_always,
    };
    for (unsigned i = 0; i < s->nvmx_caps && i < sizeof(mc->vmx_caps) / sizeof(mc->vmx_caps[0]); i++)
        mc->vmx_caps[mc->nvmx_caps++] = (struct machine_vmx_cap){ s->vmx_caps[i].msr, s->vmx_caps[i].present,
                                                                  s->vmx_caps[i].value };
    _Static_assert(sizeof(mc->svm_caps[0].name) == sizeof(s->svm_caps[0].name), "AMD-V capability names");
    for (unsigned i = 0; i < s->nsvm_caps && i < sizeof(mc->svm_caps) / sizeof(mc->svm_caps[0]); i++) {
        struct machine_svm_cap *c = &mc->svm_caps[mc->nsvm_caps++];
        memcpy(c->name, s->svm_caps[i].name, sizeof(c->name));
        c->value = s->svm_caps[i].value;
    }
}

void scenario_run(const struct scenario *s, const struct scn_options *o, struct scn_result *r)
{
    memset(r, 0, sizeof(*r));
    r->end = 0;
    char *payload = NULL;
    if (s->payload_path) {
        payload = strdup(s->payload_path);
    } else {
        size_t n = strlen(o->payload_dir ? o->payload_dir : ".") + strlen(s->payload_elf) + 8;
        payload = malloc(n);
        if (payload)
            snprintf(payload, n, "%s/%s.elf", o->payload_dir ? o->payload_dir : ".", s->payload_elf);
    }
    if (!payload || access(payload, R_OK) != 0) {
        r->setup_error = true;
        FAILF(r, "%s:%d: payload %s: %s", s->path, s->payload_line, payload ? payload : "?",
              s->payload_elf ? "no such built payload (is --payload-dir the build directory's payloads/?)"
                             : strerror(errno));
        free(payload);
        return;
    }
    char tmp_trace[] = "/tmp/hvsim-scenario-XXXXXX";
    const char *trace_path = o->trace_path;
    if (!trace_path) {
        int fd = mkstemp(tmp_trace);
        if (fd < 0) {
            r->setup_error = true;
            FAILF(r, "cannot create a temporary trace file: %s", strerror(errno));
            free(payload);
            return;
        }
        close(fd);
        trace_path = tmp_trace;
    }
    char *out = NULL;
    size_t outlen = 0;
    FILE *con = open_memstream(&out, &outlen);
    struct machine_config mc;
    scenario_machine_config(s, &mc);
    mc.trace_path = trace_path;
    mc.trace_insns = o->trace_insns;
    mc.progress = o->progress;
    mc.console = con;
    char err[600];
    machine_t *m = NULL;
    struct machine_result mr;
    bool ran = false;
    struct mb_options mbo = { .kernel = payload, .append = s->cmdline, .nmods = s->nmods };
    for (unsigned i = 0; i < s->nmods && i < MB_MAX_MODULES; i++) {
        mbo.mods[i].path = s->mods[i].path;
        mbo.mods[i].string = s->mods[i].string;
    }
    bool loaded = machine_create(&mc, &m, err, sizeof(err)) &&
                  (s->multiboot ? machine_load_multiboot(m, &mbo, err, sizeof(err))
                                : machine_load_elf(m, payload, err, sizeof(err)));
    if (!loaded) {
        r->setup_error = true;
        FAILF(r, "%s:%d: %s", s->path, s->payload_line, err);
    } else {
        machine_run(m, &mr);
        ran = true;
    }
    fclose(con);
    if (o->echo_console && out)
        fwrite(out, 1, outlen, stdout);
    if (ran) {
        r->status = mr.status;
        r->end = (int)machine_end_trace_reason(mr.end);
        r->insns = mr.insns;
        r->cycles = mr.cycles;
        snprintf(r->end_text, sizeof(r->end_text), "%s", mr.reason);
        bool ok = true;
        if (s->has_status && mr.status != s->status) {
            FAILF(r, "exit status %d, expected %d (line %d; the run ended: %s)", mr.status, s->status, s->exit_line,
                  mr.reason);
            ok = false;
        }
        if (ok && s->has_end && r->end != s->end) {
            FAILF(r, "the run ended with %s, expected %s (line %d; %s)", trace_end_name(r->end), trace_end_name(s->end),
                  s->exit_line, mr.reason);
            ok = false;
        }
        if (ok && !s->has_status && !s->has_end && mr.end != MEND_EXIT_DEVICE) {
            FAILF(r, "the run ended with %s: %s", trace_end_name(r->end), mr.reason);
            ok = false;
        }
        if (ok && s->has_console)
            ok = check_console(s, out ? out : "", r);
        if (ok && s->nevents)
            ok = check_trace(s, trace_path, r);
        for (unsigned i = 0; ok && i < s->nregs; i++) {
            const struct scn_register *g = &s->regs[i];
            cpu_t *c = machine_cpu(m, g->lp);
            if (!c) {
                FAILF(r, "register check (line %d): no LP %u", g->line, g->lp);
                ok = false;
                break;
            }
            uint64_t v = cpu_get(c, (enum cpu_reg)g->reg);
            if (v != g->value) {
                FAILF(r, "LP %u %s = %#llx, expected %#llx (line %d)", g->lp, cpu_reg_name((enum cpu_reg)g->reg),
                      (unsigned long long)v, (unsigned long long)g->value, g->line);
                ok = false;
            }
        }
        for (unsigned i = 0; ok && i < s->nmems; i++) {
            const struct scn_memory *mm = &s->mems[i];
            uint8_t *got = malloc(mm->n ? mm->n : 1);
            if (!got || !pmem_read(machine_physmem(m), mm->address, got, mm->n)) {
                FAILF(r, "memory check (line %d): [%#llx, +%zu) is not RAM", mm->line,
                      (unsigned long long)mm->address, mm->n);
                ok = false;
            } else {
                for (size_t b = 0; b < mm->n; b++)
                    if (got[b] != mm->bytes[b]) {
                        FAILF(r, "memory at %#llx = %02x, expected %02x (line %d)",
                              (unsigned long long)(mm->address + b), got[b], mm->bytes[b], mm->line);
                        ok = false;
                        break;
                    }
            }
            free(got);
        }
        if (!sha256_file(trace_path, r->digest))
            r->digest[0] = 0;
        r->pass = ok;
    }
    machine_destroy(m);
    free(out);
    free(payload);
    if (!o->trace_path)
        unlink(tmp_trace);
}
