/*
 * check_cmd.c — `hvsim check`: find scenarios, run each in its own process
 * (up to -j at a time), print one line per scenario in a stable order and a
 * summary, explain each failure, write JUnit XML, split suites into shards,
 * and in --determinism mode run every scenario twice and compare the trace
 * digests. Host time is used only for the JUnit "time" attributes and the
 * per-scenario watchdog, never inside a run.
 */
#include <dirent.h>
#include <errno.h>
#include <libxml/xmlwriter.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_cmd.h"
#include "scenario.h"

struct item {
    char *path;
    struct scn_result res;
    char load_error[600];
    bool crashed;
    int signal;
    double seconds;
    bool done;
    bool determinism_fail;
    char digest2[65];
};

struct list {
    struct item *v;
    unsigned n, cap;
};

static int cmp_items(const void *a, const void *b)
{
    return strcmp(((const struct item *)a)->path, ((const struct item *)b)->path);
}

static bool push(struct list *l, const char *path)
{
    if (l->n == l->cap) {
        unsigned nc = l->cap ? l->cap * 2 : 64;
        struct item *nv = realloc(l->v, sizeof(*nv) * nc);
        if (!nv)
            return false;
        l->v = nv;
        l->cap = nc;
    }
    memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
    l->v[l->n].path = strdup(path);
    return l->v[l->n++].path != NULL;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Collect *.xml under path (recursively; symlinked directories are not
 * followed, so loops cannot occur). */
static int collect(struct list *l, const char *path, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "hvsim: check: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (S_ISREG(st.st_mode))
        return push(l, path) ? 0 : -1;
    if (!S_ISDIR(st.st_mode) || depth > 32)
        return 0;
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "hvsim: check: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL && rc == 0) {
        if (e->d_name[0] == '.')
            continue;
        size_t n = strlen(path) + strlen(e->d_name) + 2;
        char *p = malloc(n);
        if (!p) {
            rc = -1;
            break;
        }
        snprintf(p, n, "%s%s%s", path, ends_with(path, "/") ? "" : "/", e->d_name);
        struct stat es;
        if (lstat(p, &es) == 0) {
            if (S_ISDIR(es.st_mode))
                rc = collect(l, p, depth + 1);
            else if (S_ISREG(es.st_mode) && ends_with(e->d_name, ".xml"))
                rc = push(l, p) ? 0 : -1;
        }
        free(p);
    }
    closedir(d);
    return rc;
}

/* ---- the child: load, run (twice with --determinism), report ---- */

struct report {
    struct scn_result res;
    char load_error[600];
    bool determinism_fail;
    char digest2[65];
};

static void child(const struct item *it, const struct check_options *o, int fd)
{
    struct report rep;
    memset(&rep, 0, sizeof(rep));
    if (o->timeout)
        alarm(o->timeout);
    struct scenario *s = scenario_load(it->path, rep.load_error, sizeof(rep.load_error));
    if (s) {
        char keep[4096];
        struct scn_options so = { .payload_dir = o->payload_dir };
        if (o->keep_traces) {
            /* DIR/<path with '/' as '_'>.hvt: unique per scenario */
            char flat[2048];
            const char *p = it->path;
            while (p[0] == '.' && p[1] == '/')
                p += 2;
            snprintf(flat, sizeof(flat), "%s", p);
            for (char *q = flat; *q; q++)
                if (*q == '/')
                    *q = '_';
            snprintf(keep, sizeof(keep), "%s/%s.hvt", o->keep_traces, flat);
            so.trace_path = keep;
        }
        scenario_run(s, &so, &rep.res);
        if (o->determinism && s->deterministic && !rep.res.setup_error) {
            struct scn_result second;
            struct scn_options so2 = { .payload_dir = o->payload_dir };
            scenario_run(s, &so2, &second);
            snprintf(rep.digest2, sizeof(rep.digest2), "%s", second.digest);
            if (strcmp(rep.res.digest, second.digest) != 0)
                rep.determinism_fail = true;
        }
        scenario_free(s);
    }
    ssize_t w = write(fd, &rep, sizeof(rep));
    _exit(w == (ssize_t)sizeof(rep) ? 0 : 3);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

struct running {
    pid_t pid;
    int fd;
    unsigned idx;
    double start;
};

/* Read a finished child's report; st is its wait status. */
static void collect_child(struct item *it, struct running *r, int st)
{
    struct report rep;
    size_t got = 0;
    while (got < sizeof(rep)) {
        ssize_t k = read(r->fd, (char *)&rep + got, sizeof(rep) - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(r->fd);
    it->seconds = now() - r->start;
    it->done = true;
    if (got != sizeof(rep)) {
        it->crashed = true;
        it->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
        return;
    }
    it->res = rep.res;
    memcpy(it->load_error, rep.load_error, sizeof(it->load_error));
    it->determinism_fail = rep.determinism_fail;
    memcpy(it->digest2, rep.digest2, sizeof(it->digest2));
}

static bool passed(const struct item *it)
{
    return it->done && !it->crashed && !it->load_error[0] && it->res.pass && !it->determinism_fail;
}

/* ERROR: the scenario could not run (load error, missing payload, crash);
 * FAIL: it ran and an expectation did not hold. */
static bool errored(const struct item *it)
{
    return it->crashed || it->load_error[0] || it->res.setup_error;
}

static void print_item(const struct item *it, unsigned i, unsigned n, bool verbose)
{
    const char *verdict = passed(it) ? "ok   " : errored(it) ? "ERROR" : "FAIL ";
    int w = n >= 1000 ? 4 : n >= 100 ? 3 : n >= 10 ? 2 : 1;
    printf("%s %*u/%u %s", verdict, w, i + 1, n, it->path);
    if (passed(it)) {
        printf("  (%llu insns, %llu cycles)\n", (unsigned long long)it->res.insns,
               (unsigned long long)it->res.cycles);
        if (verbose)
            printf("      ended: %s\n", it->res.end_text);
        return;
    }
    putchar('\n');
    if (it->crashed) {
        printf("      hvsim crashed while running it (signal %d%s)\n", it->signal,
               it->signal == SIGALRM ? ": the --timeout expired" : "");
    } else if (it->load_error[0]) {
        printf("      %s\n", it->load_error);
    } else if (!it->res.pass) {
        printf("      %s\n", it->res.message);
        if (it->res.excerpt[0])
            printf("      %s", it->res.excerpt);
    } else if (it->determinism_fail) {
        printf("      nondeterministic: two runs gave different traces (%s vs %s)\n", it->res.digest, it->digest2);
    }
    fflush(stdout);
}

/* The summary table: one row per directory, in the sorted order. */
static void print_summary(const struct item *v, unsigned n, bool determinism)
{
    printf("\n%-40s %6s %6s %6s %6s\n", "directory", "total", "passed", "failed", "errors");
    unsigned t[3] = { 0, 0, 0 };
    for (unsigned i = 0; i < n;) {
        const char *sl = strrchr(v[i].path, '/');
        size_t dl = sl ? (size_t)(sl - v[i].path) : 0;
        unsigned c[3] = { 0, 0, 0 }, j = i;
        for (; j < n; j++) {
            const char *sj = strrchr(v[j].path, '/');
            size_t djl = sj ? (size_t)(sj - v[j].path) : 0;
            if (djl != dl || strncmp(v[j].path, v[i].path, dl) != 0)
                break;
            c[passed(&v[j]) ? 0 : errored(&v[j]) ? 2 : 1]++;
        }
        printf("%-40.*s %6u %6u %6u %6u\n", dl ? (int)dl : 1, dl ? v[i].path : ".", j - i, c[0], c[1], c[2]);
        for (int k = 0; k < 3; k++)
            t[k] += c[k];
        i = j;
    }
    printf("%-40s %6u %6u %6u %6u\n", "all", n, t[0], t[1], t[2]);
    printf("\n%u scenario(s): %u passed, %u failed, %u could not run%s\n", n, t[0], t[1], t[2],
           determinism ? " (each run twice, trace digests compared)" : "");
}

static void write_junit(const char *path, struct item *v, unsigned n)
{
    xmlTextWriterPtr w = xmlNewTextWriterFilename(path, 0);
    if (!w) {
        fprintf(stderr, "hvsim: check: cannot write %s\n", path);
        return;
    }
    unsigned failures = 0, errors = 0;
    double total = 0;
    for (unsigned i = 0; i < n; i++) {
        failures += !passed(&v[i]) && !errored(&v[i]);
        errors += errored(&v[i]);
        total += v[i].seconds;
    }
    char buf[64];
    xmlTextWriterSetIndent(w, 1);
    xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL);
    xmlTextWriterStartElement(w, BAD_CAST "testsuites");
    xmlTextWriterStartElement(w, BAD_CAST "testsuite");
    xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST "hvsim");
    snprintf(buf, sizeof(buf), "%u", n);
    xmlTextWriterWriteAttribute(w, BAD_CAST "tests", BAD_CAST buf);
    snprintf(buf, sizeof(buf), "%u", failures);
    xmlTextWriterWriteAttribute(w, BAD_CAST "failures", BAD_CAST buf);
    snprintf(buf, sizeof(buf), "%u", errors);
    xmlTextWriterWriteAttribute(w, BAD_CAST "errors", BAD_CAST buf);
    snprintf(buf, sizeof(buf), "%.3f", total);
    xmlTextWriterWriteAttribute(w, BAD_CAST "time", BAD_CAST buf);
    for (unsigned i = 0; i < n; i++) {
        const struct item *it = &v[i];
        char cls[512], name[512];
        snprintf(cls, sizeof(cls), "%s", it->path);
        char *slash = strrchr(cls, '/');
        snprintf(name, sizeof(name), "%s", slash ? slash + 1 : cls);
        if (slash)
            *slash = 0;
        else
            snprintf(cls, sizeof(cls), "scenarios");
        xmlTextWriterStartElement(w, BAD_CAST "testcase");
        xmlTextWriterWriteAttribute(w, BAD_CAST "classname", BAD_CAST cls);
        xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST name);
        snprintf(buf, sizeof(buf), "%.3f", it->seconds);
        xmlTextWriterWriteAttribute(w, BAD_CAST "time", BAD_CAST buf);
        if (!passed(it)) {
            char msg[1200];
            if (it->crashed)
                snprintf(msg, sizeof(msg), "hvsim crashed (signal %d)", it->signal);
            else if (it->load_error[0])
                snprintf(msg, sizeof(msg), "%s", it->load_error);
            else if (!it->res.pass)
                snprintf(msg, sizeof(msg), "%s", it->res.message);
            else
                snprintf(msg, sizeof(msg), "nondeterministic: trace digests differ");
            xmlTextWriterStartElement(w, BAD_CAST (errored(it) ? "error" : "failure"));
            xmlTextWriterWriteAttribute(w, BAD_CAST "message", BAD_CAST msg);
            if (it->res.excerpt[0])
                xmlTextWriterWriteString(w, BAD_CAST it->res.excerpt);
            xmlTextWriterEndElement(w);
        }
        if (it->res.end_text[0]) {
            xmlTextWriterStartElement(w, BAD_CAST "system-out");
            xmlTextWriterWriteString(w, BAD_CAST it->res.end_text);
            xmlTextWriterEndElement(w);
        }
        xmlTextWriterEndElement(w);
    }
    xmlTextWriterEndDocument(w);
    xmlFreeTextWriter(w);
}

int check_run(char **paths, unsigned npaths, const struct check_options *o)
{
    struct list all = { 0 };
    for (unsigned i = 0; i < npaths; i++)
        if (collect(&all, paths[i], 0) != 0)
            return 64;
    if (all.n)
        qsort(all.v, all.n, sizeof(all.v[0]), cmp_items);
    /* Shard I/N (1-based): every N-th scenario of the sorted list. */
    struct list l = { 0 };
    for (unsigned i = 0; i < all.n; i++) {
        if (o->shard_count == 0 || i % o->shard_count == o->shard_index - 1)
            push(&l, all.v[i].path);
        free(all.v[i].path);
    }
    free(all.v);
    if (l.n == 0) {
        fprintf(stderr, "hvsim: check: no scenario (*.xml) found%s\n", o->shard_count ? " in this shard" : "");
        free(l.v);
        return o->shard_count ? 0 : 1;
    }
    if (o->list_only) {
        for (unsigned i = 0; i < l.n; i++)
            printf("%s\n", l.v[i].path);
        for (unsigned i = 0; i < l.n; i++)
            free(l.v[i].path);
        free(l.v);
        return 0;
    }
    unsigned jobs = o->jobs ? o->jobs : 1;
    struct running *run = calloc(jobs, sizeof(*run));
    unsigned next = 0, active = 0, printed = 0;
    fflush(stdout);
    while (printed < l.n) {
        while (active < jobs && next < l.n) {
            int p[2];
            if (pipe(p) != 0) {
                perror("hvsim: check: pipe");
                return 12;
            }
            pid_t pid = fork();
            if (pid < 0) {
                perror("hvsim: check: fork");
                return 12;
            }
            if (pid == 0) {
                close(p[0]);
                child(&l.v[next], o, p[1]);
            }
            close(p[1]);
            for (unsigned k = 0; k < jobs; k++)
                if (run[k].pid == 0) {
                    run[k] = (struct running){ pid, p[0], next, now() };
                    break;
                }
            next++;
            active++;
        }
        /* Wait for any child, then collect it. The report is small and
         * written once at the end, so the pipe never fills before exit. */
        int st;
        pid_t done = wait(&st);
        for (unsigned k = 0; k < jobs && done > 0; k++) {
            if (run[k].pid == done) {
                collect_child(&l.v[run[k].idx], &run[k], st);
                run[k].pid = 0;
                active--;
            }
        }
        /* Print finished scenarios in order. */
        while (printed < l.n && l.v[printed].done) {
            print_item(&l.v[printed], printed, l.n, o->verbose);
            printed++;
        }
    }
    unsigned ok = 0;
    for (unsigned i = 0; i < l.n; i++)
        ok += passed(&l.v[i]);
    print_summary(l.v, l.n, o->determinism);
    if (o->junit)
        write_junit(o->junit, l.v, l.n);
    for (unsigned i = 0; i < l.n; i++)
        free(l.v[i].path);
    free(l.v);
    free(run);
    return ok == l.n ? 0 : 1;
}
