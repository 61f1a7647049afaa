/*
 * scenario.c — loading scenario files: parse with libxml2 (no network, no
 * entity expansion), validate against the embedded schema, then read the
 * tree into struct scenario with hvsim's own checks (numbers in range,
 * known registers and trace fields, regular expressions that compile).
 * Every error is "FILE:LINE: reason".
 */
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cpu.h"
#include "numparse.h"
#include "entry_checks.h"
#include "svm.h"
#include "vmx.h"
#include "scenario.h"

#define NS "urn:hvsim:scenario:1"

struct loader {
    const char *name;            /* file name for messages */
    char *dir;                   /* directory of the scenario, for relative paths */
    char *err;
    size_t errlen;
    bool failed;
};

static void fail(struct loader *L, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct loader *L, int line, const char *fmt, ...)
{
    if (L->failed)
        return;                  /* keep the first error */
    L->failed = true;
    int n = line > 0 ? snprintf(L->err, L->errlen, "%s:%d: ", L->name, line)
                     : snprintf(L->err, L->errlen, "%s: ", L->name);
    if (n < 0 || (size_t)n >= L->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err + n, L->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

/* libxml2 structured errors (parser and schema validator) -> first error. */
static void xml_error(void *ctx, xmlErrorPtr e)
{
    struct loader *L = ctx;
    if (!e || e->level < XML_ERR_ERROR)
        return;
    char msg[400];
    snprintf(msg, sizeof(msg), "%s", e->message ? e->message : "XML error");
    size_t k = strlen(msg);
    while (k && (msg[k - 1] == '\n' || msg[k - 1] == ' '))
        msg[--k] = 0;
    /* Schema messages name the element as "{urn:hvsim:scenario:1}x": shorten. */
    char clean[400];
    size_t o = 0;
    for (size_t i = 0; msg[i] && o + 1 < sizeof(clean); i++) {
        if (!strncmp(msg + i, "{" NS "}", strlen("{" NS "}"))) {
            i += strlen("{" NS "}") - 1;
            continue;
        }
        clean[o++] = msg[i];
    }
    clean[o] = 0;
    fail(L, e->line, "%s", clean);
}

static char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* ---- attribute helpers ---- */

static char *attr(xmlNodePtr n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    if (!v)
        return NULL;
    char *s = xstrdup((const char *)v);
    xmlFree(v);
    return s;
}

static bool parse_num(const char *s, uint64_t *out, bool size)
{
    return size ? parse_size(s, out) : parse_number(s, out);
}

/* Read a numeric attribute; *present says whether it was there. */
static bool num_attr(struct loader *L, xmlNodePtr n, const char *name, uint64_t max, bool size, uint64_t *out,
                     bool *present)
{
    char *s = attr(n, name);
    if (present)
        *present = s != NULL;
    if (!s)
        return true;
    uint64_t v;
    bool ok = parse_num(s, &v, size);
    if (!ok || v > max) {
        fail(L, xmlGetLineNo(n), "%s=\"%s\" is not a %s between 0 and %llu", name, s,
             size ? "size" : "number", (unsigned long long)max);
        free(s);
        return false;
    }
    *out = v;
    free(s);
    return true;
}

static bool is(xmlNodePtr n, const char *local)
{
    return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, local);
}

static char *text_of(xmlNodePtr n)
{
    xmlChar *c = xmlNodeGetContent(n);
    char *s = xstrdup(c ? (const char *)c : "");
    xmlFree(c);
    return s;
}

static char *join_path(const char *dir, const char *rel)
{
    if (!rel)
        return NULL;
    if (rel[0] == '/' || !dir || !*dir)
        return xstrdup(rel);
    size_t dl = strlen(dir), n = dl + strlen(rel) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", dir, dir[dl - 1] == '/' ? "" : "/", rel);
    return p;
}

static char *read_small_file(struct loader *L, int line, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail(L, line, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    /* Only regular files: a FIFO or a device could block or never end. */
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        fail(L, line, "%s is not a regular file", path);
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            fail(L, line, "out of memory reading %s", path);
            return NULL;
        }
        size_t k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
        if (k == 0)
            break;
        if (n + 1 >= cap) {
            if (cap >= (16u << 20)) {
                fclose(f);
                free(buf);
                fail(L, line, "%s is larger than 16 MiB", path);
                return NULL;
            }
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    fclose(f);
    buf[n] = 0;
    return buf;
}

static const struct { const char *name; unsigned type; } event_types[] = {
    { "exception", TREC_EXCEPTION }, { "cr-write", TREC_CR_WRITE }, { "msr", TREC_MSR },
    { "io", TREC_IO }, { "console", TREC_CONSOLE }, { "halt", TREC_HALT },
    { "tlb-inval", TREC_TLB_INVAL }, { "insn", TREC_INSN }, { "triple-fault", TREC_TRIPLE_FAULT },
    { "unmodelled", TREC_UNMODELLED }, { "apic", TREC_APIC }, { "vmx", TREC_VMX },
    { "vm-entry", TREC_VM_ENTRY }, { "vm-exit", TREC_VM_EXIT }, { "tlb-fill", TREC_TLB_FILL },
    { "svm-exit", TREC_SVM_EXIT },
};

const char *scenario_event_name(unsigned type)
{
    for (unsigned i = 0; i < sizeof(event_types) / sizeof(event_types[0]); i++)
        if (event_types[i].type == type)
            return event_types[i].name;
    return "?";
}


/* ---- elements ---- */

static void load_machine(struct loader *L, xmlNodePtr n, struct scenario *s)
{
    uint64_t v;
    bool have;
    if (num_attr(L, n, "lps", 64, false, &v, &have) && have) {
        if (v == 0)
            fail(L, xmlGetLineNo(n), "lps=\"0\": a machine needs at least one logical processor");
        s->lps = (unsigned)v;
    }
    if (num_attr(L, n, "memory", 1ull << 40, true, &v, &have) && have) {
        if (v < (2ull << 20) || (v & 0xFFF))
            fail(L, xmlGetLineNo(n), "memory: at least 2M, in whole 4-KiB pages");
        s->memory = v;
    }
    num_attr(L, n, "seed", UINT64_MAX, false, &s->seed, &s->has_seed);
    num_attr(L, n, "max-insns", UINT64_MAX, false, &s->max_insns, NULL);
    num_attr(L, n, "max-cycles", UINT64_MAX, false, &s->max_cycles, NULL);
    num_attr(L, n, "quantum", 1ull << 32, false, &s->quantum, NULL);
    num_attr(L, n, "sched-seed", UINT64_MAX, false, &s->sched_seed, &s->has_sched_seed);
    s->cpu = attr(n, "cpu");
    char *tlb = attr(n, "tlb");
    if (tlb && !strcmp(tlb, "flush-always"))
        s->tlb_flush_always = true;
    else if (tlb && strcmp(tlb, "retain"))
        fail(L, xmlGetLineNo(n), "tlb=\"%s\": the translation-cache policy is \"retain\" or \"flush-always\"", tlb);
    free(tlb);
    if (s->cpu && !cpu_profile_find(s->cpu))
        fail(L, xmlGetLineNo(n), "cpu=\"%s\": no such CPU profile (hvsim run --cpu list)", s->cpu);
    /* VMX capability overrides, checked against the profile here so that a
     * bad one names its line (docs/vmx.md) */
    const struct cpu_profile *prof = s->cpu ? cpu_profile_find(s->cpu) : cpu_profile_default();
    const struct vmx_caps *base = prof ? vmx_caps_for_profile(cpu_profile_name(prof)) : NULL;
    struct vmx_caps caps;
    if (base)
        caps = *base;
    int last_line = 0;
    for (xmlNodePtr c = n->children; c && !L->failed; c = c->next) {
        if (!is(c, "vmx-cap"))
            continue;
        int line = last_line = xmlGetLineNo(c);
        if (!base) {
            fail(L, line, "<vmx-cap>: CPU profile %s has no VMX", prof ? cpu_profile_name(prof) : "?");
            return;
        }
        if (s->nvmx_caps == sizeof(s->vmx_caps) / sizeof(s->vmx_caps[0])) {
            fail(L, line, "more than %zu <vmx-cap> overrides", sizeof(s->vmx_caps) / sizeof(s->vmx_caps[0]));
            return;
        }
        uint64_t msr = 0, val = 0;
        bool have_val = false, absent = false;
        char *ab = attr(c, "absent");
        absent = ab && (!strcmp(ab, "true") || !strcmp(ab, "1"));
        free(ab);
        if (!num_attr(L, c, "msr", 0xFFFFFFFFu, false, &msr, NULL) ||
            !num_attr(L, c, "value", UINT64_MAX, false, &val, &have_val))
            return;
        if (absent == have_val) {
            fail(L, line, "<vmx-cap> needs exactly one of value=\"N\" or absent=\"true\"");
            return;
        }
        char why[300];
        if (!vmx_caps_override(&caps, (uint32_t)msr, !absent, val, why, sizeof(why))) {
            fail(L, line, "%s", why);
            return;
        }
        s->vmx_caps[s->nvmx_caps++] = (struct scn_vmx_cap){ (uint32_t)msr, !absent, val };
    }
    char why[300];
    if (!L->failed && s->nvmx_caps && !vmx_caps_consistent(&caps, why, sizeof(why)))
        fail(L, last_line, "after the <vmx-cap> overrides: %s", why);
    /* AMD-V capability overrides (docs/svm.md "Enabling"), checked here so
     * that a bad one names its line */
    const struct svm_caps *sbase = prof ? svm_caps_for_profile(cpu_profile_name(prof)) : NULL;
    struct svm_caps scaps = { 0 };
    if (sbase)
        scaps = *sbase;
    for (xmlNodePtr c = n->children; c && !L->failed; c = c->next) {
        if (!is(c, "svm-cap"))
            continue;
        int line = xmlGetLineNo(c);
        if (!sbase) {
            fail(L, line, "<svm-cap>: CPU profile %s has no SVM (AMD-V): use cpu=\"amd\"",
                 prof ? cpu_profile_name(prof) : "?");
            return;
        }
        if (s->nsvm_caps == sizeof(s->svm_caps) / sizeof(s->svm_caps[0])) {
            fail(L, line, "more than %zu <svm-cap> overrides", sizeof(s->svm_caps) / sizeof(s->svm_caps[0]));
            return;
        }
        char *name = attr(c, "name");
        uint64_t val = 0;
        if (!num_attr(L, c, "value", UINT64_MAX, false, &val, NULL)) {
            free(name);
            return;
        }
        char swhy[400];
        if (!svm_caps_override(&scaps, name ? name : "", val, swhy, sizeof(swhy))) {
            fail(L, line, "<svm-cap>: %s", swhy);
            free(name);
            return;
        }
        struct scn_svm_cap *sc = &s->svm_caps[s->nsvm_caps++];
        snprintf(sc->name, sizeof(sc->name), "%s", name);      /* the valid names fit */
        sc->value = val;
        free(name);
    }
}

static void load_payload(struct loader *L, xmlNodePtr n, struct scenario *s)
{
    char *elf = attr(n, "elf"), *path = attr(n, "path");
    if ((elf != NULL) == (path != NULL))
        fail(L, xmlGetLineNo(n), "<payload> needs exactly one of elf=\"NAME\" or path=\"FILE\"");
    s->payload_line = xmlGetLineNo(n);
    s->payload_elf = elf;
    if (path) {
        s->payload_path = join_path(L->dir, path);
        free(path);
    }
    s->cmdline = attr(n, "cmdline");
    char *boot = attr(n, "boot");
    s->multiboot = boot && !strcmp(boot, "multiboot");
    free(boot);
    for (xmlNodePtr c = n->children; c && !L->failed; c = c->next) {
        if (!is(c, "module"))
            continue;
        if (!s->multiboot) {
            fail(L, xmlGetLineNo(c), "<module> is for Multiboot kernels only (boot=\"multiboot\")");
            return;
        }
        struct scn_module *nm = realloc(s->mods, sizeof(*nm) * (s->nmods + 1));
        if (!nm) {
            fail(L, xmlGetLineNo(c), "out of memory");
            return;
        }
        s->mods = nm;
        char *p = attr(c, "path");
        s->mods[s->nmods].path = join_path(L->dir, p);
        s->mods[s->nmods].string = attr(c, "string");
        s->nmods++;
        free(p);
    }
}

/* glibc's regcomp builds a tree in which the operand of "+" is copied once
 * more and that of "{m,n}" max(m, n) times, nesting multiplying: "a{255}"
 * nested four deep, or "a" followed by 70 "+", needs more memory than any
 * machine has. Estimate that tree's size and refuse expensive patterns
 * (a scenario must never exhaust memory). */
#define SCN_REGEX_MAX_LEN 1024
#define SCN_REGEX_MAX_COST 20000

static uint64_t re_cost(const char **pp, unsigned depth, bool *bad)
{
    const char *p = *pp;
    uint64_t total = 0, branch = 0;
    while (*p && *p != ')' && !*bad) {
        if (*p == '|') {
            total += branch;
            branch = 0;
            p++;
            continue;
        }
        uint64_t atom = 1;
        if (*p == '(') {
            p++;
            if (depth >= 32) {
                *bad = true;
                break;
            }
            atom = re_cost(&p, depth + 1, bad) + 1;
            if (*p == ')')
                p++;
        } else if (*p == '[') {
            p++;
            if (*p == '^')
                p++;
            if (*p == ']')
                p++;
            while (*p && *p != ']') {
                if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
                    char c = p[1];
                    p += 2;
                    while (*p && !(*p == c && p[1] == ']'))
                        p++;
                    if (*p)
                        p += 2;
                } else {
                    p++;
                }
            }
            if (*p)
                p++;
        } else if (*p == '\\') {
            p++;
            if (*p)
                p++;
        } else {
            p++;
        }
        while (*p == '*' || *p == '+' || *p == '?' || *p == '{') {
            if (*p == '+') {
                atom *= 2;
                p++;
            } else if (*p != '{') {
                atom += 1;
                p++;
            } else {
                uint64_t m = 0, n = 0;
                bool comma = false;
                p++;
                while (*p >= '0' && *p <= '9' && m < 100000)
                    m = m * 10 + (uint64_t)(*p++ - '0');
                if (*p == ',') {
                    comma = true;
                    p++;
                    while (*p >= '0' && *p <= '9' && n < 100000)
                        n = n * 10 + (uint64_t)(*p++ - '0');
                }
                if (*p == '}')
                    p++;
                uint64_t mult = !comma ? m : n ? (n > m ? n : m) : m + 1;
                atom *= mult ? mult : 1;
            }
            if (atom > SCN_REGEX_MAX_COST) {
                *bad = true;
                break;
            }
        }
        branch += atom;
        if (branch + total > SCN_REGEX_MAX_COST)
            *bad = true;
    }
    *pp = p;
    return total + branch;
}

static bool regex_cost_ok(const char *re)
{
    if (strlen(re) > SCN_REGEX_MAX_LEN)
        return false;
    bool bad = false;
    const char *p = re;
    while (*p && !bad) {
        re_cost(&p, 0, &bad);
        if (*p == ')')
            p++;                                       /* unbalanced: regcomp reports it */
    }
    return !bad;
}

/* Compile a scenario regular expression, anchored (it must match the whole
 * line). On failure reports at `line` and returns false (re is then unset). */
static bool compile_anchored(struct loader *L, int line, const char *text, regex_t *re)
{
    if (!regex_cost_ok(text)) {
        fail(L, line, "regular expression too costly to compile (over %d characters, or repetitions "
             "such as {m,n} and + that nest or pile up: the matcher would expand it to more than %d "
             "nodes)", SCN_REGEX_MAX_LEN, SCN_REGEX_MAX_COST);
        return false;
    }
    size_t tl = strlen(text);
    char *anchored = malloc(tl + 5);
    if (!anchored) {
        fail(L, line, "out of memory");
        return false;
    }
    snprintf(anchored, tl + 5, "^(%s)$", text);
    int rc = regcomp(re, anchored, REG_EXTENDED | REG_NOSUB);
    free(anchored);
    if (rc) {
        char why[200];
        regerror(rc, re, why, sizeof(why));
        fail(L, line, "bad regular expression \"%s\": %s", text, why);
        return false;
    }
    return true;
}

static void load_console(struct loader *L, xmlNodePtr n, struct scenario *s)
{
    s->has_console = true;
    char *mode = attr(n, "mode");
    s->console_contains = mode && !strcmp(mode, "contains");
    free(mode);
    char *file = attr(n, "file");
    if (file) {
        s->console_file = join_path(L->dir, file);
        free(file);
        s->console_file_text = read_small_file(L, xmlGetLineNo(n), s->console_file);
    }
    for (xmlNodePtr c = n->children; c; c = c->next) {
        if (!is(c, "line") && !is(c, "match"))
            continue;
        struct scn_line *nl = realloc(s->lines, sizeof(*nl) * (s->nlines + 1));
        if (!nl) {
            fail(L, xmlGetLineNo(c), "out of memory");
            return;
        }
        s->lines = nl;
        struct scn_line *l = &s->lines[s->nlines];
        memset(l, 0, sizeof(*l));
        l->regex = is(c, "match");
        l->text = text_of(c);
        l->line = xmlGetLineNo(c);
        if (l->regex && !compile_anchored(L, l->line, l->text, &l->re)) {
            free(l->text);
            return;
        }
        s->nlines++;
    }
    if (s->console_file_text && s->nlines)
        fail(L, xmlGetLineNo(n), "<console> takes either file=\"...\" or <line>/<match> children, not both");
}

static void load_event(struct loader *L, xmlNodePtr n, struct scenario *s)
{
    struct scn_event *ne = realloc(s->events, sizeof(*ne) * (s->nevents + 1));
    if (!ne) {
        fail(L, xmlGetLineNo(n), "out of memory");
        return;
    }
    s->events = ne;
    struct scn_event *e = &s->events[s->nevents];
    memset(e, 0, sizeof(*e));
    e->absent = is(n, "absent");
    e->line = xmlGetLineNo(n);
    e->lp = -1;
    for (unsigned i = 0; i < s->nevents; i++)
        e->slot += !s->events[i].absent;
    s->nevents++;
    char *type = attr(n, "type");
    const char *tname = NULL;
    for (unsigned i = 0; type && i < sizeof(event_types) / sizeof(event_types[0]); i++)
        if (!strcmp(type, event_types[i].name)) {
            e->type = event_types[i].type;
            tname = event_types[i].name;
        }
    free(type);
    if (!tname) {
        fail(L, e->line, "unknown event type");
        return;
    }
    size_t o = (size_t)snprintf(e->text, sizeof(e->text), "%s", tname);
    bool has_ec_given = false, ec_given = false;
    for (xmlAttrPtr a = n->properties; a; a = a->next) {
        const char *an = (const char *)a->name;
        if (!strcmp(an, "type"))
            continue;
        char *val = attr(n, an);
        if (e->absent && !strcmp(an, "scope")) {
            e->between = val && !strcmp(val, "between");
            free(val);
            continue;
        }
        uint64_t v;
        if (e->type == TREC_VMX && !strcmp(an, "check")) {
            /* check="NAME": the VM-entry check a VMLAUNCH/VMRESUME failed
             * (docs/vmx.md); the VMX record carries its number as operand */
            int id = vmentry_check_by_name(val ? val : "");
            if (id < 0) {
                fail(L, e->line, "check=\"%s\" is not a VM-entry check (docs/vmx.md lists them)", val ? val : "");
                free(val);
                return;
            }
            if (o < sizeof(e->text))
                o += (size_t)snprintf(e->text + o, sizeof(e->text) - o, " check=%s", val);
            free(val);
            if (e->nfields == SCN_MAX_FIELDS) {
                fail(L, e->line, "more than %d fields in one pattern", SCN_MAX_FIELDS);
                return;
            }
            e->field[e->nfields] = trace_field_index(TREC_VMX, "operand");
            e->value[e->nfields++] = (uint64_t)id;
            continue;
        }
        if (!parse_num(val, &v, false)) {
            fail(L, e->line, "%s=\"%s\" is not a number (decimal, or hexadecimal with 0x)", an, val ? val : "");
            free(val);
            return;
        }
        if (o < sizeof(e->text))
            o += (size_t)snprintf(e->text + o, sizeof(e->text) - o, " %s=%s", an, val);
        free(val);
        if (!strcmp(an, "lp")) {
            if (v > 255) {
                fail(L, e->line, "lp=%llu is out of range (0..255)", (unsigned long long)v);
                return;
            }
            e->lp = (int)v;
            continue;
        }
        int fi = trace_field_index(e->type, an);
        if (fi < 0) {
            fail(L, e->line, "a %s record has no field \"%s\" (docs/scenario-schema.md lists the fields)", tname,
                 an);
            return;
        }
        if (e->nfields == SCN_MAX_FIELDS) {
            fail(L, e->line, "more than %d fields in one pattern", SCN_MAX_FIELDS);
            return;
        }
        ec_given |= e->type == TREC_EXCEPTION && !strcmp(an, "ec");
        has_ec_given |= e->type == TREC_EXCEPTION && !strcmp(an, "has_ec");
        e->field[e->nfields] = fi;
        e->value[e->nfields++] = v;
    }
    /* ec="N" means "an error code was pushed and it is N": an exception
     * without one (has_ec 0, ec field 0) must not match ec="0". */
    if (ec_given && !has_ec_given) {
        if (e->nfields == SCN_MAX_FIELDS) {
            fail(L, e->line, "more than %d fields in one pattern", SCN_MAX_FIELDS - 1);
            return;
        }
        e->field[e->nfields] = trace_field_index(TREC_EXCEPTION, "has_ec");
        e->value[e->nfields++] = 1;
    }
}

static void load_register(struct loader *L, xmlNodePtr n, struct scenario *s)
{
    struct scn_register *nr = realloc(s->regs, sizeof(*nr) * (s->nregs + 1));
    if (!nr) {
        fail(L, xmlGetLineNo(n), "out of memory");
        return;
    }
    s->regs = nr;
    struct scn_register *r = &s->regs[s->nregs++];
    memset(r, 0, sizeof(*r));
    r->line = xmlGetLineNo(n);
    char *name = attr(n, "name");
    r->reg = name ? cpu_reg_by_name(name) : -1;
    if (r->reg < 0)
        fail(L, r->line, "unknown register \"%s\" (rax..r15, rip, rflags, cr0, cr2, cr3, cr4, cr8, efer, xcr0)",
             name ? name : "");
    free(name);
    uint64_t v = 0;
    num_attr(L, n, "value", UINT64_MAX, false, &r->value, NULL);
    if (num_attr(L, n, "lp", 255, false, &v, NULL))
        r->lp = (unsigned)v;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void load_memory(struct loader *L, xmlNodePtr n, struct scenario *s)
{
    struct scn_memory *nm = realloc(s->mems, sizeof(*nm) * (s->nmems + 1));
    if (!nm) {
        fail(L, xmlGetLineNo(n), "out of memory");
        return;
    }
    s->mems = nm;
    struct scn_memory *m = &s->mems[s->nmems++];
    memset(m, 0, sizeof(*m));
    m->line = xmlGetLineNo(n);
    num_attr(L, n, "address", UINT64_MAX, false, &m->address, NULL);
    char *b = attr(n, "bytes");
    if (!b)
        return;
    size_t len = strlen(b);
    m->bytes = malloc(len / 2 + 1);
    for (size_t i = 0; m->bytes && i < len;) {
        if (b[i] == ' ') {
            i++;
            continue;
        }
        int hi = hexval(b[i]), lo = i + 1 < len ? hexval(b[i + 1]) : -1;
        if (hi < 0 || lo < 0) {
            fail(L, m->line, "bytes=\"%s\": expected pairs of hex digits", b);
            break;
        }
        m->bytes[m->n++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    free(b);
}

static void load_expect(struct loader *L, xmlNodePtr n, struct scenario *s)
{
    for (xmlNodePtr c = n->children; c && !L->failed; c = c->next) {
        if (is(c, "exit")) {
            uint64_t v;
            bool have;
            s->exit_line = xmlGetLineNo(c);
            if (num_attr(L, c, "status", 255, false, &v, &have) && have) {
                s->has_status = true;
                s->status = (int)v;
            }
            char *end = attr(c, "end");
            for (int i = TEND_EXIT_DEVICE; end && i <= TEND_INTERNAL; i++)
                if (!strcmp(end, trace_end_name((unsigned)i))) {
                    s->has_end = true;
                    s->end = i;
                }
            free(end);
        } else if (is(c, "console")) {
            load_console(L, c, s);
        } else if (is(c, "trace")) {
            for (xmlNodePtr e = c->children; e && !L->failed; e = e->next)
                if (is(e, "event") || is(e, "absent"))
                    load_event(L, e, s);
        } else if (is(c, "register")) {
            load_register(L, c, s);
        } else if (is(c, "memory")) {
            load_memory(L, c, s);
        }
    }
}

unsigned scenario_impl_bits(const char *list)
{
    static const struct { const char *name; unsigned bit; } names[] = {
        { "all", SCN_IMPL_ALL }, { "shim", SCN_IMPL_SHIM }, { "qemu", SCN_IMPL_QEMU }, { "bochs", SCN_IMPL_BOCHS },
    };
    unsigned bits = 0;
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ",");
        unsigned bit = 0;
        for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strlen(names[i].name) == n && !strncmp(p, names[i].name, n))
                bit = names[i].bit;
        if (!bit)
            return 0;
        bits |= bit;
        p += n + (p[n] == ',');
    }
    return bits;
}

/* <differential>: <differs> and <skip> children (docs/differential.md). */
static void load_differential(struct loader *L, xmlNodePtr n, struct scenario *s)
{
    for (xmlNodePtr c = n->children; c && !L->failed; c = c->next) {
        int line = xmlGetLineNo(c);
        if (is(c, "skip")) {
            struct scn_dskip *nk = realloc(s->dskips, sizeof(*nk) * (s->ndskips + 1));
            if (!nk) {
                fail(L, line, "out of memory");
                return;
            }
            s->dskips = nk;
            struct scn_dskip *k = &s->dskips[s->ndskips++];
            memset(k, 0, sizeof(*k));
            k->line = line;
            char *impl = attr(c, "impl");
            k->impls = scenario_impl_bits(impl);
            if (!k->impls)
                fail(L, line, "impl=\"%s\": expected all or a list of qemu, bochs, shim", impl ? impl : "");
            free(impl);
            k->reason = attr(c, "reason");
            k->ref = attr(c, "ref");
            if (!k->reason || !k->reason[0])
                fail(L, line, "<skip> needs a reason=\"...\" saying why the run cannot be compared");
            continue;
        }
        if (!is(c, "differs"))
            continue;
        struct scn_differs *nd = realloc(s->differs, sizeof(*nd) * (s->ndiffers + 1));
        if (!nd) {
            fail(L, line, "out of memory");
            return;
        }
        s->differs = nd;
        struct scn_differs *d = &s->differs[s->ndiffers++];
        memset(d, 0, sizeof(*d));
        d->line = line;
        char *impl = attr(c, "impl"), *follows = attr(c, "follows");
        d->impls = scenario_impl_bits(impl);
        if (!d->impls)
            fail(L, line, "impl=\"%s\": expected all or a list of qemu, bochs, shim", impl ? impl : "");
        free(impl);
        d->follows = !follows ? 0 : !strcmp(follows, "hvsim") ? SCN_FOLLOWS_HVSIM
                   : !strcmp(follows, "other") ? SCN_FOLLOWS_OTHER : !strcmp(follows, "either") ? SCN_FOLLOWS_EITHER : 0;
        if (!d->follows)
            fail(L, line, "follows=\"%s\": expected hvsim, other or either", follows ? follows : "");
        free(follows);
        d->reason = attr(c, "reason");
        d->ref = attr(c, "ref");
        if (!d->reason || !d->reason[0])
            fail(L, line, "<differs> needs a reason=\"...\" saying why the line differs");
        static const struct { const char *name; enum scn_differs_kind kind; } kinds[] = {
            { "match", SCN_DIFFERS_LINE }, { "extra", SCN_DIFFERS_EXTRA }, { "missing", SCN_DIFFERS_MISSING },
        };
        for (unsigned k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
            char *t = attr(c, kinds[k].name);
            if (!t)
                continue;
            if (d->re_text) {
                fail(L, line, "<differs> takes one of match=, extra= and missing=, not both %s= and %s=",
                     d->kind == SCN_DIFFERS_LINE ? "match" : d->kind == SCN_DIFFERS_EXTRA ? "extra" : "missing",
                     kinds[k].name);
                free(t);
                return;
            }
            d->re_text = t;
            d->kind = kinds[k].kind;
        }
        d->other_text = attr(c, "other");
        if (!d->re_text)
            fail(L, line, "<differs> needs match=\"REGEX\" (hvsim's line; other=\"REGEX\" may say what the other "
                 "implementation prints instead), extra=\"REGEX\" or missing=\"REGEX\"");
        else if (d->other_text && d->kind != SCN_DIFFERS_LINE)
            fail(L, line, "other= goes with match=, not with %s=", d->kind == SCN_DIFFERS_EXTRA ? "extra" : "missing");
        if (L->failed)
            return;
        d->has_re = compile_anchored(L, line, d->re_text, &d->re);
        if (d->other_text && !L->failed)
            d->has_other = compile_anchored(L, line, d->other_text, &d->other);
    }
}

static void load_tree(struct loader *L, xmlNodePtr root, struct scenario *s)
{
    char *name = attr(root, "name");
    if (name) {
        s->name = name;
    } else {
        const char *b = strrchr(L->name, '/');
        b = b ? b + 1 : L->name;
        s->name = xstrdup(b);
        char *dot = s->name ? strrchr(s->name, '.') : NULL;
        if (dot && !strcmp(dot, ".xml"))
            *dot = 0;
    }
    char *det = attr(root, "deterministic");
    s->deterministic = !det || (strcmp(det, "false") != 0 && strcmp(det, "0") != 0);
    free(det);
    bool have_payload = false;
    for (xmlNodePtr c = root->children; c && !L->failed; c = c->next) {
        if (is(c, "description")) {
            s->description = text_of(c);
        } else if (is(c, "evidence")) {
            char **ne = realloc(s->evidence, sizeof(char *) * (s->nevidence + 1));
            if (!ne)
                return;
            s->evidence = ne;
            s->evidence[s->nevidence++] = attr(c, "ref");
        } else if (is(c, "machine")) {
            load_machine(L, c, s);
        } else if (is(c, "payload")) {
            load_payload(L, c, s);
            have_payload = true;
        } else if (is(c, "expect")) {
            load_expect(L, c, s);
        } else if (is(c, "differential")) {
            load_differential(L, c, s);
        }
    }
    if (!have_payload)
        fail(L, xmlGetLineNo(root), "no <payload>");
    /* LP numbers in expectations must exist on the machine. */
    unsigned nlps = s->lps ? s->lps : 1;
    for (unsigned i = 0; i < s->nevents; i++)
        if (s->events[i].lp >= (int)nlps)
            fail(L, s->events[i].line, "lp=%d: the machine has %u logical processor(s) (<machine lps>)",
                 s->events[i].lp, nlps);
    for (unsigned i = 0; i < s->nregs; i++)
        if (s->regs[i].lp >= nlps)
            fail(L, s->regs[i].line, "lp=%u: the machine has %u logical processor(s) (<machine lps>)", s->regs[i].lp,
                 nlps);
}

static xmlSchemaPtr load_schema(struct loader *L)
{
    xmlSchemaParserCtxtPtr pc = xmlSchemaNewMemParserCtxt(hvsim_scenario_xsd, (int)strlen(hvsim_scenario_xsd));
    if (!pc) {
        fail(L, 0, "internal: cannot read the embedded schema");
        return NULL;
    }
    xmlSchemaPtr schema = xmlSchemaParse(pc);
    xmlSchemaFreeParserCtxt(pc);
    if (!schema)
        fail(L, 0, "internal: the embedded schema does not parse");
    return schema;
}

struct scenario *scenario_load_buffer(const char *buf, size_t len, const char *name, char *err, size_t errlen)
{
    struct loader L = { .name = name, .err = err, .errlen = errlen };
    const char *slash = strrchr(name, '/');
    if (slash == name) {
        L.dir = xstrdup("/");
    } else if (slash) {
        L.dir = malloc((size_t)(slash - name) + 1);
        if (L.dir) {
            memcpy(L.dir, name, (size_t)(slash - name));
            L.dir[slash - name] = 0;
        }
    } else {
        L.dir = xstrdup(".");
    }
    err[0] = 0;
    struct scenario *s = NULL;
    xmlDocPtr doc = NULL;
    xmlSchemaPtr schema = NULL;
    xmlSchemaValidCtxtPtr vc = NULL;
    if (len > (1u << 20)) {
        fail(&L, 0, "scenario file is larger than 1 MiB");
        goto out;
    }
    if (len == 0) {
        fail(&L, 0, "the file is empty (a scenario is an XML document, docs/scenario-schema.md)");
        goto out;
    }
    xmlSetStructuredErrorFunc(&L, xml_error);
    doc = xmlReadMemory(buf, (int)len, name, NULL, XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES);
    if (!doc) {
        fail(&L, 0, "not well-formed XML");
        goto out;
    }
    /* No DTDs: scenarios need no entities, and refusing them keeps entity
     * expansion (and its blow-ups) out of the loader entirely. */
    for (xmlNodePtr c = doc->children; c; c = c->next)
        if (c->type == XML_DTD_NODE) {
            fail(&L, xmlGetLineNo(c) > 0 ? xmlGetLineNo(c) : 1,
                 "<!DOCTYPE> is not allowed in a scenario (no DTDs or entities)");
            goto out;
        }
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (!root || strcmp((const char *)root->name, "scenario") || !root->ns ||
        strcmp((const char *)root->ns->href, NS)) {
        fail(&L, root ? xmlGetLineNo(root) : 1, "the root element must be <scenario xmlns=\"" NS "\">");
        goto out;
    }
    schema = load_schema(&L);
    if (!schema)
        goto out;
    vc = xmlSchemaNewValidCtxt(schema);
    if (!vc) {
        fail(&L, 0, "internal: cannot validate");
        goto out;
    }
    xmlSchemaSetValidStructuredErrors(vc, xml_error, &L);
    if (xmlSchemaValidateDoc(vc, doc) != 0) {
        fail(&L, 0, "does not follow the scenario schema");
        goto out;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        fail(&L, 0, "out of memory");
        goto out;
    }
    s->path = xstrdup(name);
    load_tree(&L, root, s);
out:
    xmlSetStructuredErrorFunc(NULL, NULL);
    if (vc)
        xmlSchemaFreeValidCtxt(vc);
    if (schema)
        xmlSchemaFree(schema);
    if (doc)
        xmlFreeDoc(doc);
    free(L.dir);
    if (L.failed) {
        scenario_free(s);
        return NULL;
    }
    return s;
}

struct scenario *scenario_load(const char *path, char *err, size_t errlen)
{
    struct loader L = { .name = path, .err = err, .errlen = errlen };
    err[0] = 0;
    char *text = read_small_file(&L, 0, path);
    if (!text)
        return NULL;
    struct scenario *s = scenario_load_buffer(text, strlen(text), path, err, errlen);
    free(text);
    return s;
}

void scenario_free(struct scenario *s)
{
    if (!s)
        return;
    free(s->path);
    free(s->name);
    free(s->description);
    for (unsigned i = 0; i < s->nevidence; i++)
        free(s->evidence[i]);
    free(s->evidence);
    free(s->cpu);
    free(s->payload_elf);
    free(s->payload_path);
    free(s->cmdline);
    for (unsigned i = 0; i < s->nmods; i++) {
        free(s->mods[i].path);
        free(s->mods[i].string);
    }
    free(s->mods);
    free(s->console_file_text);
    free(s->console_file);
    for (unsigned i = 0; i < s->nlines; i++) {
        if (s->lines[i].regex)
            regfree(&s->lines[i].re);
        free(s->lines[i].text);
    }
    free(s->lines);
    free(s->events);
    free(s->regs);
    for (unsigned i = 0; i < s->nmems; i++)
        free(s->mems[i].bytes);
    free(s->mems);
    for (unsigned i = 0; i < s->ndiffers; i++) {
        struct scn_differs *d = &s->differs[i];
        if (d->has_re)
            regfree(&d->re);
        if (d->has_other)
            regfree(&d->other);
        free(d->re_text);
        free(d->other_text);
        free(d->reason);
        free(d->ref);
    }
    free(s->differs);
    for (unsigned i = 0; i < s->ndskips; i++) {
        free(s->dskips[i].reason);
        free(s->dskips[i].ref);
    }
    free(s->dskips);
    free(s);
}
