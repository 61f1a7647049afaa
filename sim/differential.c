/*
 * differential.c — `hvsim differential`: run scenario payloads on hvsim and
 * on independent implementations (QEMU TCG through the boot shim's
 * Multiboot path, Bochs through the shim's boot sector, and hvsim itself
 * booting the shim), compare the console transcripts line by line with
 * hvsim's, apply each scenario's <differential> annotations, and report
 * (docs/differential.md).
 *
 * Execution context: the parent process plans the runs, starts up to -j of
 * them at a time (each in its own process group, killed whole at the
 * --timeout) and compares; hvsim runs happen in forked children through
 * machine_*, QEMU and Bochs are exec'd. Runs with the same inputs on the
 * same implementation (several scenarios share a payload and machine) are
 * made once. Host time is used only for the watchdog and the figures
 * printed, never in anything compared.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../tests/differential/shim_abi.h"
#include "differential.h"
#include "machine.h"
#include "numparse.h"

/* ---- the implementations ---- */

enum impl { IMPL_HVSIM, IMPL_SHIM, IMPL_QEMU, IMPL_BOCHS, IMPL_N };

/* One row per implementation: its name on the command line and in
 * annotations (impl="..."), its annotation bit, what it is. */
static const struct impl_row {
    const char *name;
    unsigned bit;
    const char *what;
} impl_rows[IMPL_N] = {
    [IMPL_HVSIM] = { "hvsim", 0, "hvsim, the scenario's own boot (the reference)" },
    [IMPL_SHIM] = { "shim", SCN_IMPL_SHIM, "hvsim booting the boot shim by Multiboot (checks the shim)" },
    [IMPL_QEMU] = { "qemu", SCN_IMPL_QEMU, "QEMU TCG: -kernel shim.bin -initrd payload" },
    [IMPL_BOCHS] = { "bochs", SCN_IMPL_BOCHS, "Bochs: a disk image with the boot sector, shim and payload" },
};

static const char usage[] =
    "usage: hvsim differential [options] PATH...\n"
    "\n"
    "Run the payload of every scenario (*.xml) under the given files and\n"
    "directories on hvsim and on independent implementations, and compare each\n"
    "console transcript (ports 0xE9 and COM1, then one [end] line saying how the\n"
    "run ended) with hvsim's, line by line. A scenario's <differential> element\n"
    "names lines that legitimately differ and runs to skip (docs/differential.md).\n"
    "Prints one line per scenario (same, differs as documented, DIFFERS with the\n"
    "first differing line of each side, skipped: reason) and a summary.\n"
    "Exit status 0 when nothing differs undocumented, 1 otherwise, 64 on bad usage,\n"
    "12 when the host refuses memory or a work directory ($TMPDIR, default /tmp).\n"
    "\n"
    "options:\n"
    "  --impl LIST        implementations to compare with hvsim, comma-separated:\n"
    "                     shim, qemu, bochs (default: all three)\n"
    "  -j N               runs at a time (default 1)\n"
    "  --timeout SEC      stop a run after SEC host seconds, its process group killed\n"
    "                     (default 60); its transcript then ends with [end] timeout\n"
    "  --keep DIR         keep every transcript as DIR/SCENARIO.IMPL.txt\n"
    "  --keep-work        leave the work directory (each run's raw output, bochsrc,\n"
    "                     disk image, logs; made in $TMPDIR, default /tmp) in place\n"
    "                     and print its path\n"
    "  --payload-dir DIR  built payloads (default: payloads/ next to the hvsim binary)\n"
    "  --shim-dir DIR     shim.bin and bootsect.bin (default: differential/ next to it)\n"
    "  --qemu PROG        QEMU binary (default: qemu-system-x86_64 in PATH)\n"
    "  --bochs PROG       Bochs binary (default: bochs in PATH)\n"
    "  -v, --verbose      also list every documented difference and each run's time\n"
    "  -h, --help         this text\n";

struct diff_options {
    unsigned impls;              /* bit per enum impl (IMPL_HVSIM always) */
    unsigned jobs, timeout;
    const char *keep;
    bool keep_work;              /* leave the work directory (raw outputs) in place */
    bool verbose;
    char *payload_dir, *shim_dir;
    const char *qemu, *bochs;    /* resolved paths */
};

/* ---- normalising and comparing (pure) ---- */

void diff_normalise(char *text)
{
    char *w = text;
    for (const char *r = text; *r;) {
        if (*r == '\r') {
            r++;
        } else if (*r == 0x1B && r[1] == '[') {
            r += 2;                                /* CSI: parameters, then a final byte 0x40..0x7E */
            while (*r && !(*r >= 0x40 && *r <= 0x7E))
                r++;
            if (*r)
                r++;
        } else if (*r == 0x1B) {
            r += r[1] ? 2 : 1;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
}

struct lines {
    char **v;
    unsigned n;
};

/* Split into lines (a last line without '\n' counts). */
static bool split_lines(const char *text, struct lines *l)
{
    l->v = NULL;
    l->n = 0;
    unsigned cap = 0;
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (l->n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nv = realloc(l->v, sizeof(char *) * cap);
            if (!nv)
                return false;
            l->v = nv;
        }
        l->v[l->n] = strndup(p, len);
        if (!l->v[l->n])
            return false;
        l->n++;
        p = nl ? nl + 1 : p + len;
    }
    return true;
}

static void free_lines(struct lines *l)
{
    for (unsigned i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static bool re_ok(const regex_t *re, const char *s)
{
    return regexec(re, s, 0, NULL, 0) == 0;
}

/* Set aside the lines of l that a <differs> of `kind` for impl covers. */
static void set_aside(const struct scenario *s, unsigned impl, enum scn_differs_kind kind, struct lines *l,
                      struct diff_verdict *v)
{
    unsigned keep = 0;
    for (unsigned i = 0; i < l->n; i++) {
        bool aside = false;
        for (unsigned k = 0; s && k < s->ndiffers && !aside; k++) {
            const struct scn_differs *d = &s->differs[k];
            if ((d->impls & impl) && d->kind == kind && d->has_re && re_ok(&d->re, l->v[i])) {
                aside = true;
                v->documented++;
                v->used |= k < 32 ? 1u << k : 0;
            }
        }
        if (aside)
            free(l->v[i]);
        else
            l->v[keep++] = l->v[i];
    }
    l->n = keep;
}

/*
 * Line by line: first the lines an extra= (the other side) or missing=
 * (hvsim's side) annotation covers are set aside; then line i of each side
 * is compared. A pair that differs is documented when a match= annotation
 * for this implementation matches hvsim's line and, if it has other=, the
 * other line matches that (a missing line never does).
 */
void diff_compare(const struct scenario *s, unsigned impl, const char *hvsim, const char *other,
                  struct diff_verdict *v)
{
    memset(v, 0, sizeof(*v));
    struct lines h, o;
    if (!split_lines(hvsim, &h) || !split_lines(other, &o)) {
        v->kind = DIFF_DIFFERS;
        snprintf(v->hvsim, sizeof(v->hvsim), "(out of memory)");
        free_lines(&h);
        free_lines(&o);
        return;
    }
    set_aside(s, impl, SCN_DIFFERS_EXTRA, &o, v);
    set_aside(s, impl, SCN_DIFFERS_MISSING, &h, v);
    unsigned nd = s ? s->ndiffers : 0;
    unsigned n = h.n > o.n ? h.n : o.n;
    for (unsigned i = 0; i < n && v->kind != DIFF_DIFFERS; i++) {
        const char *a = i < h.n ? h.v[i] : NULL, *b = i < o.n ? o.v[i] : NULL;
        if (a && b && !strcmp(a, b))
            continue;
        bool covered = false;
        for (unsigned k = 0; k < nd && !covered && a; k++) {
            const struct scn_differs *d = &s->differs[k];
            if (!(d->impls & impl) || d->kind != SCN_DIFFERS_LINE || !d->has_re || !re_ok(&d->re, a))
                continue;
            if (d->has_other && (!b || !re_ok(&d->other, b)))
                continue;
            covered = true;
            v->used |= k < 32 ? 1u << k : 0;
        }
        if (covered) {
            v->documented++;
            continue;
        }
        v->kind = DIFF_DIFFERS;
        v->line = i + 1;
        snprintf(v->hvsim, sizeof(v->hvsim), "%s", a ? a : "(end of transcript)");
        snprintf(v->other, sizeof(v->other), "%s", b ? b : "(end of transcript)");
    }
    if (v->kind != DIFF_DIFFERS)
        v->kind = v->documented ? DIFF_DOCUMENTED : DIFF_SAME;
    free_lines(&h);
    free_lines(&o);
}

/* ---- the shim and the Bochs disk image (pure) ---- */

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static void put_le16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

bool diff_shim_entry(const uint8_t *img, size_t len, uint32_t *entry)
{
    /* MB 3.1.1: the header is in the first 8192 bytes, 4-byte aligned. */
    for (size_t off = 0; off + 32 <= len && off < 8192; off += 4) {
        uint32_t magic = le32(img + off), flags = le32(img + off + 4), sum = le32(img + off + 8);
        if (magic != 0x1BADB002 || (uint32_t)(magic + flags + sum) != 0)
            continue;
        if (!(flags & 0x10000))
            return false;
        *entry = le32(img + off + 28);
        return true;
    }
    return false;
}

#define DISK_HEADS 16
#define DISK_SPT 63

bool diff_disk_image(const struct diff_disk *d, uint8_t **img, size_t *len, unsigned *cylinders, char *err,
                     size_t errlen)
{
    *img = NULL;
    if (d->bootsect_len != BOOT_SECTOR || d->bootsect[510] != 0x55 || d->bootsect[511] != 0xAA) {
        snprintf(err, errlen, "the boot sector is not 512 bytes ending in 55 AA");
        return false;
    }
    size_t plen = strlen(d->params);
    if (plen + 1 > SHIM_PARAM_MAX) {
        snprintf(err, errlen, "the parameter string is %zu bytes (at most %d)", plen, SHIM_PARAM_MAX - 1);
        return false;
    }
    size_t shim_pad = (d->shim_len + BOOT_SECTOR - 1) / BOOT_SECTOR * BOOT_SECTOR;
    size_t mod_off = SHIM_PARAM_MAX + shim_pad;
    size_t load = mod_off + d->payload_len;
    if (load > BOOT_LOAD_MAX) {
        snprintf(err, errlen, "shim and payload are %zu bytes; the boot sector loads at most %d", load,
                 BOOT_LOAD_MAX);
        return false;
    }
    if (d->mem < (2ull << 20) || d->mem > (4ull << 30)) {
        snprintf(err, errlen, "RAM of %llu bytes: the boot sector describes 2 MiB to 4 GiB",
                 (unsigned long long)d->mem);
        return false;
    }
    size_t sectors = (load + BOOT_SECTOR - 1) / BOOT_SECTOR;
    size_t cyl_bytes = (size_t)DISK_HEADS * DISK_SPT * BOOT_SECTOR;
    size_t total = BOOT_SECTOR + sectors * BOOT_SECTOR;
    unsigned cyl = (unsigned)((total + cyl_bytes - 1) / cyl_bytes);
    total = cyl * cyl_bytes;
    uint8_t *b = calloc(1, total);
    if (!b) {
        snprintf(err, errlen, "out of memory for a %zu-byte disk image", total);
        return false;
    }
    memcpy(b, d->bootsect, BOOT_SECTOR);
    put_le16(b + BOOT_F_SECTORS, (uint32_t)sectors);
    put_le32(b + BOOT_F_SHIM_SIZE, (uint32_t)d->shim_len);
    put_le32(b + BOOT_F_SHIM_ENTRY, d->shim_entry);
    put_le32(b + BOOT_F_MOD_OFFSET, (uint32_t)mod_off);
    put_le32(b + BOOT_F_MOD_SIZE, (uint32_t)d->payload_len);
    put_le32(b + BOOT_F_MEM_UPPER, (uint32_t)(d->mem / 1024 - 1024));
    memcpy(b + BOOT_SECTOR, d->params, plen + 1);
    memcpy(b + BOOT_SECTOR + SHIM_PARAM_MAX, d->shim, d->shim_len);
    memcpy(b + BOOT_SECTOR + mod_off, d->payload, d->payload_len);
    *img = b;
    *len = total;
    *cylinders = cyl;
    return true;
}

/* ---- Bochs's output (pure) ---- */

/* "(N)" followed by what at q, N decimal. */
static bool bochs_marker(const char *q, const char *what)
{
    const char *d = q + 1;
    while (*d >= '0' && *d <= '9')
        d++;
    return d != q + 1 && !strncmp(d, what, strlen(what));
}

/* A breakpoint report "(N) Breakpoint " anywhere in s. */
static bool bochs_find_breakpoint(const char *s)
{
    for (const char *q = strchr(s, '('); q; q = strchr(q + 1, '('))
        if (bochs_marker(q, ") Breakpoint "))
            return true;
    return false;
}

char *diff_bochs_console(const char *out, unsigned ncpus, bool *exited, unsigned *value)
{
    *exited = false;
    *value = 0;
    const char *p = strstr(out, "Next at t=0\n");
    if (!p)
        return strdup("");
    p = strchr(p, '\n') + 1;
    for (unsigned i = 0; i < ncpus && *p == '('; i++) {      /* "(i) [0x...] f000:fff0 ...": one per CPU */
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + strlen(p);
    }
    /* Where the debugger took over: the breakpoint report "(N) Breakpoint
     * K, 0x... in ?? ()", or (a panic such as a triple fault stopped the
     * simulation) the current instruction "(N).[TICKS] [0x...] ...". At a
     * line start unless the payload's last line had no newline.
     * A "(N).[TICKS]" line that a breakpoint report still follows did not
     * stop the simulation: Bochs's register dump at a triple fault prints
     * it, and in VMX non-root operation a triple fault is a VM exit (SDM 3C
     * 26.2, exit reason 2) after which the payload goes on. Such a line is
     * left out of the console and the search goes on. */
    char *con = malloc(strlen(p) + 1);
    if (!con)
        return NULL;
    size_t n = 0;
    const char *seg = p, *end = NULL;
    for (const char *q = strchr(p, '('); q && !end; q = strchr(q + 1, '(')) {
        if (!bochs_marker(q, ") Breakpoint ") && !bochs_marker(q, ").["))
            continue;
        const char *nl = strchr(q, '\n');
        if (bochs_marker(q, ").[") && nl && bochs_find_breakpoint(nl)) {
            memcpy(con + n, seg, (size_t)(q - seg));
            n += (size_t)(q - seg);
            seg = nl + 1;
            q = nl;
            continue;
        }
        end = q;
    }
    size_t tail = end ? (size_t)(end - seg) : strlen(seg);
    memcpy(con + n, seg, tail);
    con[n + tail] = 0;
    if (end && strstr(end, ") Breakpoint ") == strchr(end, ')')) {
        const char *rax = strstr(end, "rax: ");
        if (rax && strlen(rax) >= 5 + 17) {
            *exited = true;
            *value = (unsigned)strtoul(rax + 5 + 15, NULL, 16) & 0xFF;
        }
    }
    return con;
}

/* ---- planning ---- */

/* One process: an implementation on one set of inputs. Several scenarios
 * may share it (same key). */
struct run {
    enum impl impl;
    char *key;                   /* inputs that decide the transcript */
    const struct scenario *s;    /* the first scenario that asked for it */
    char *payload;               /* the payload or kernel file */
    char dir[512];               /* its work directory */
    unsigned ncpus;
    pid_t pid;
    double start, seconds;
    bool started, done, timed_out;
    int wstatus;
    char *transcript;            /* normalised console + "[end] ..." */
    char error[600];             /* could not start or collect: the reason */
};

struct item {
    char *path;
    struct scenario *s;
    char load_error[700];
    int run[IMPL_N];             /* index into runs, -1: none */
    char skip[IMPL_N][400];      /* why not compared */
    struct diff_verdict verdict[IMPL_N];
};

struct plan {
    struct item *items;
    unsigned nitems;
    struct run *runs;
    unsigned nruns;
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* *.xml under path, recursively (symlinked directories not followed). */
static int collect(const char *path, char ***v, unsigned *n, unsigned *cap, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "hvsim: differential: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (S_ISREG(st.st_mode) || (S_ISDIR(st.st_mode) && depth <= 32)) {
        if (S_ISREG(st.st_mode)) {
            if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 64;
                char **nv = realloc(*v, sizeof(char *) * *cap);
                if (!nv)
                    return -1;
                *v = nv;
            }
            (*v)[(*n)++] = strdup(path);
            return 0;
        }
        DIR *d = opendir(path);
        if (!d) {
            fprintf(stderr, "hvsim: differential: %s: %s\n", path, strerror(errno));
            return -1;
        }
        struct dirent *e;
        int rc = 0;
        while ((e = readdir(d)) != NULL && rc == 0) {
            if (e->d_name[0] == '.')
                continue;
            char p[4096];
            snprintf(p, sizeof(p), "%s%s%s", path, ends_with(path, "/") ? "" : "/", e->d_name);
            struct stat es;
            if (lstat(p, &es) != 0)
                continue;
            if (S_ISDIR(es.st_mode) || (S_ISREG(es.st_mode) && ends_with(e->d_name, ".xml")))
                rc = collect(p, v, n, cap, depth + 1);
        }
        closedir(d);
        return rc;
    }
    return 0;
}

/* A program in PATH (or a path with '/'), or NULL. */
static char *find_program(const char *name)
{
    if (strchr(name, '/'))
        return access(name, X_OK) == 0 ? strdup(name) : NULL;
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        char cand[4096];
        snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, p, name);
        if (n && access(cand, X_OK) == 0)
            return strdup(cand);
        p += n + (p[n] == ':');
    }
    return NULL;
}

static char *payload_of(const struct scenario *s, const struct diff_options *o)
{
    if (s->payload_path)
        return strdup(s->payload_path);
    size_t n = strlen(o->payload_dir) + strlen(s->payload_elf) + 8;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s.elf", o->payload_dir, s->payload_elf);
    return p;
}

/* The shim's parameter string for a scenario (shim_abi.h). */
static void shim_params(const struct scenario *s, char *buf, size_t n)
{
    unsigned lps = s->lps ? s->lps : 1;
    uint64_t mem = s->memory ? s->memory : MACHINE_DEFAULT_MEM;
    int k = snprintf(buf, n, SHIM_PARAM_MAGIC " lps=%u mem=%llu", lps, (unsigned long long)mem);
    if (s->cmdline && k > 0 && (size_t)k < n)
        snprintf(buf + k, n - (size_t)k, " cmdline=%s", s->cmdline);
}

/* Why an implementation cannot run this scenario at all, or NULL. */
static const char *cannot_run(const struct scenario *s, enum impl impl)
{
    uint64_t mem = s->memory ? s->memory : MACHINE_DEFAULT_MEM;
    if (impl == IMPL_HVSIM)
        return NULL;
    if (s->multiboot && impl != IMPL_QEMU)
        return "a Multiboot kernel: only QEMU's -kernel boots it directly (the shim and the Bochs boot sector "
               "carry ELF64 payloads)";
    if (!s->multiboot && s->cmdline && strlen(s->cmdline) + 64 > SHIM_PARAM_MAX)
        return "the command line does not fit the shim's parameter string";
    if (impl == IMPL_QEMU || impl == IMPL_BOCHS) {
        if (mem & ((1u << 20) - 1))
            return "RAM is not a whole number of MiB (QEMU -m and Bochs megs:)";
        if (mem > (3ull << 30))
            return "RAM above 3 GiB: QEMU and Bochs put the PCI hole below 4 GiB, the shim's memory map would be "
                   "wrong";
    }
    if (impl == IMPL_BOCHS && s->cmdline && strchr(s->cmdline, '\n'))
        return "a command line with a newline";
    return NULL;
}

static const char *impl_cpu(const struct scenario *s, enum impl impl)
{
    bool amd = s->cpu && cpu_profile_find(s->cpu) &&
               !strcmp(cpu_profile_vendor(cpu_profile_find(s->cpu)), "AuthenticAMD");
    if (impl == IMPL_QEMU)
        return amd ? "max,vendor=AuthenticAMD" : "max,vendor=GenuineIntel";
    return amd ? "ryzen" : "corei7_skylake_x";
}

static int add_run(struct plan *p, enum impl impl, const struct scenario *s, char *payload, const char *key)
{
    for (unsigned i = 0; i < p->nruns; i++)
        if (p->runs[i].impl == impl && !strcmp(p->runs[i].key, key)) {
            free(payload);
            return (int)i;
        }
    struct run *nr = realloc(p->runs, sizeof(*nr) * (p->nruns + 1));
    if (!nr) {
        free(payload);
        return -1;
    }
    p->runs = nr;
    struct run *r = &p->runs[p->nruns];
    memset(r, 0, sizeof(*r));
    r->impl = impl;
    r->key = strdup(key);
    r->s = s;
    r->payload = payload;
    r->ncpus = s->lps ? s->lps : 1;
    return (int)p->nruns++;
}

/* The run an implementation needs for item it (shared where the inputs
 * agree), or a skip reason. */
static void plan_item(struct plan *p, struct item *it, const struct diff_options *o)
{
    const struct scenario *s = it->s;
    for (int i = 0; i < IMPL_N; i++)
        it->run[i] = -1;
    for (enum impl impl = 0; impl < IMPL_N; impl++) {
        if (!(o->impls & (1u << impl)))
            continue;
        const char *why = cannot_run(s, impl);
        for (unsigned k = 0; !why && k < s->ndskips; k++)
            if (s->dskips[k].impls & impl_rows[impl].bit) {
                snprintf(it->skip[impl], sizeof(it->skip[impl]), "%s (line %d)", s->dskips[k].reason,
                         s->dskips[k].line);
                break;
            }
        if (why)
            snprintf(it->skip[impl], sizeof(it->skip[impl]), "%s", why);
        if (it->skip[impl][0])
            continue;
        char *payload = payload_of(s, o);
        if (!payload || access(payload, R_OK) != 0) {
            snprintf(it->skip[impl], sizeof(it->skip[impl]), "%s:%d: payload %s: %s", s->path, s->payload_line,
                     payload ? payload : "?", s->payload_elf ? "not built" : strerror(errno));
            free(payload);
            continue;
        }
        if (impl == IMPL_QEMU || impl == IMPL_BOCHS) {
            char *abs = realpath(payload, NULL);        /* they run in the work directory */
            if (abs) {
                free(payload);
                payload = abs;
            }
        }
        /* hvsim runs depend on every machine setting: one per scenario.
         * QEMU and Bochs see only the payload, LPs, RAM, command line and
         * CPU vendor (and modules for Multiboot kernels). */
        char key[8192];
        if (impl == IMPL_HVSIM || impl == IMPL_SHIM) {
            snprintf(key, sizeof(key), "%s", s->path);
        } else {
            char params[SHIM_PARAM_MAX + 64];
            shim_params(s, params, sizeof(params));
            int k = snprintf(key, sizeof(key), "%s|%s|%s|%d", payload, params, impl_cpu(s, impl), s->multiboot);
            for (unsigned m = 0; m < s->nmods && k > 0 && (size_t)k < sizeof(key); m++)
                k += snprintf(key + k, sizeof(key) - (size_t)k, "|%s,%s", s->mods[m].path,
                              s->mods[m].string ? s->mods[m].string : "");
        }
        it->run[impl] = add_run(p, impl, s, payload, key);
    }
}

/* ---- running ---- */

static bool write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
    uint8_t *b = malloc(cap + 1);
    while (b) {
        size_t k = fread(b + n, 1, cap - n, f);
        n += k;
        if (n < cap)
            break;
        if (cap >= (64u << 20))
            break;                                     /* a runaway transcript: keep the first 64 MiB */
        cap *= 2;
        uint8_t *nb = realloc(b, cap + 1);
        if (!nb)
            free(b);
        b = nb;
    }
    fclose(f);
    if (b) {
        b[n] = 0;
        *len = n;
    }
    return b;
}

/* The child of an hvsim run (the payload's own boot, or the shim): run the
 * machine, console to DIR/console, "[end] ..." to DIR/end. */
static void hvsim_child(const struct run *r, const struct diff_options *o)
{
    const struct scenario *s = r->s;
    char path[700], err[700];
    snprintf(path, sizeof(path), "%s/console", r->dir);
    FILE *con = fopen(path, "wb");
    if (!con)
        _exit(3);
    setvbuf(con, NULL, _IOFBF, 1 << 16);
    struct machine_config mc;
    scenario_machine_config(s, &mc);
    mc.console = con;
    static struct mb_options mb;
    memset(&mb, 0, sizeof(mb));
    char params[SHIM_PARAM_MAX + 64], shim[700];
    if (r->impl == IMPL_SHIM) {
        shim_params(s, params, sizeof(params));
        snprintf(shim, sizeof(shim), "%s/shim.bin", o->shim_dir);
        mc.cmdline = NULL;
        mb.kernel = shim;
        mb.nmods = 1;
        mb.mods[0].path = r->payload;
        mb.mods[0].string = params;
    } else if (s->multiboot) {
        mb.kernel = r->payload;
        mb.append = s->cmdline;
        mb.nmods = s->nmods;
        for (unsigned i = 0; i < s->nmods && i < MB_MAX_MODULES; i++) {
            mb.mods[i].path = s->mods[i].path;
            mb.mods[i].string = s->mods[i].string;
        }
    }
    machine_t *m = NULL;
    struct machine_result res;
    const char *end = NULL;
    char endline[700];
    if (!machine_create(&mc, &m, err, sizeof(err)) ||
        (mb.kernel ? !machine_load_multiboot(m, &mb, err, sizeof(err))
                   : !machine_load_elf(m, r->payload, err, sizeof(err)))) {
        snprintf(endline, sizeof(endline), "[end] cannot boot: %.600s\n", err);
        end = endline;
    } else {
        machine_run(m, &res);
        if (res.end == MEND_EXIT_DEVICE)
            snprintf(endline, sizeof(endline), "[end] exit-device %d\n", res.status >> 1);
        else
            snprintf(endline, sizeof(endline), "[end] %s\n", trace_end_name(machine_end_trace_reason(res.end)));
        end = endline;
    }
    machine_destroy(m);
    fclose(con);
    snprintf(path, sizeof(path), "%s/end", r->dir);
    _exit(write_file(path, end, strlen(end)) ? 0 : 3);
}

/* QEMU's -initrd list: entries separated by ',', a literal ',' doubled. */
static void qemu_escape(char *dst, size_t n, const char *src)
{
    size_t o = 0;
    for (; *src && o + 2 < n; src++) {
        if (*src == ',')
            dst[o++] = ',';
        dst[o++] = *src;
    }
    dst[o] = 0;
}

#define MAX_ARGS 40

/* Write a QEMU run's files and its argument vector into argv/store. */
static bool qemu_prepare(struct run *r, const struct diff_options *o, char **argv, char store[][8192])
{
    const struct scenario *s = r->s;
    uint64_t mem = s->memory ? s->memory : MACHINE_DEFAULT_MEM;
    unsigned a = 0, k = 0;
#define ARG(...) (snprintf(store[k], sizeof(store[k]), __VA_ARGS__), argv[a++] = store[k++])
    ARG("%s", o->qemu);
    ARG("-accel");
    ARG("tcg,thread=single");           /* one host thread: LPs interleave the same way on a busy host */
    ARG("-cpu");
    ARG("%s", impl_cpu(s, IMPL_QEMU));
    ARG("-smp");
    ARG("%u", r->ncpus);
    ARG("-m");
    ARG("%lluM", (unsigned long long)(mem >> 20));
    ARG("-display");
    ARG("none");
    ARG("-nodefaults");
    ARG("-no-reboot");
    ARG("-chardev");
    ARG("stdio,id=con,mux=on,signal=off");
    ARG("-serial");
    ARG("chardev:con");
    ARG("-device");
    ARG("isa-debugcon,iobase=0xe9,chardev=con");
    ARG("-device");
    ARG("isa-debug-exit,iobase=0xf4,iosize=0x04");
    /* The payload under a fixed name in the work directory: QEMU cuts
     * -initrd entries at spaces and commas. */
    char link[700];
    if (s->multiboot) {
        ARG("-kernel");
        ARG("%s", r->payload);
        if (s->cmdline) {
            ARG("-append");
            ARG("%s", s->cmdline);
        }
        if (s->nmods) {
            /* "FILE STRING,FILE STRING": QEMU keeps the whole entry as the
             * module's string, file name included (docs/multiboot.md). */
            static char list[8192];
            size_t off = 0;
            list[0] = 0;
            for (unsigned i = 0; i < s->nmods && off < sizeof(list); i++) {
                snprintf(link, sizeof(link), "%s/mod%u", r->dir, i);
                char *abs = realpath(s->mods[i].path, NULL);
                if (!abs || symlink(abs, link) != 0) {
                    snprintf(r->error, sizeof(r->error), "module %s: %s", s->mods[i].path, strerror(errno));
                    free(abs);
                    return false;
                }
                free(abs);
                char esc[4096];
                qemu_escape(esc, sizeof(esc), s->mods[i].string ? s->mods[i].string : s->mods[i].path);
                off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s %s", i ? "," : "", link, esc);
            }
            ARG("-initrd");
            ARG("%s", list);
        }
    } else {
        snprintf(link, sizeof(link), "%s/payload.elf", r->dir);
        char *abs = realpath(r->payload, NULL);
        if (!abs || symlink(abs, link) != 0) {
            snprintf(r->error, sizeof(r->error), "%s: %s", r->payload, strerror(errno));
            free(abs);
            return false;
        }
        free(abs);
        char params[SHIM_PARAM_MAX + 64], esc[2 * SHIM_PARAM_MAX + 128];
        shim_params(s, params, sizeof(params));
        qemu_escape(esc, sizeof(esc), params);
        ARG("-kernel");
        ARG("%s/shim.bin", o->shim_dir);
        ARG("-initrd");
        ARG("%.600s %.7000s", link, esc);
    }
    argv[a] = NULL;
#undef ARG
    return true;
}

/* Physical addresses of every "OUT imm8, AL" to port 0xF4 (E6 F4) in the
 * payload's executable segments: where Bochs's debugger stops the run
 * (Bochs has no exit device). A match inside another instruction is never
 * reached and does no harm. */
static unsigned exit_points(const uint8_t *f, size_t len, uint64_t *pa, unsigned max)
{
    if (len < 64 || memcmp(f, "\x7f" "ELF\x02\x01", 6))
        return 0;
    uint64_t phoff;
    uint16_t phentsize, phnum;
    memcpy(&phoff, f + 32, 8);
    memcpy(&phentsize, f + 54, 2);
    memcpy(&phnum, f + 56, 2);
    unsigned n = 0;
    for (unsigned i = 0; i < phnum && phentsize >= 56; i++) {
        const uint8_t *ph = f + phoff + (size_t)i * phentsize;
        if (phoff + (size_t)(i + 1) * phentsize > len)
            break;
        uint32_t type, flags;
        uint64_t off, paddr, filesz;
        memcpy(&type, ph, 4);
        memcpy(&flags, ph + 4, 4);
        memcpy(&off, ph + 8, 8);
        memcpy(&paddr, ph + 24, 8);
        memcpy(&filesz, ph + 32, 8);
        if (type != 1 || !(flags & 1) || off + filesz > len)
            continue;
        for (uint64_t b = 0; b + 1 < filesz; b++)
            if (f[off + b] == 0xE6 && f[off + b + 1] == 0xF4) {
                if (n == max)
                    return max + 1;
                pa[n++] = paddr + b;
            }
    }
    return n;
}

static bool bochs_prepare(struct run *r, const struct diff_options *o, char **argv, char store[][8192])
{
    const struct scenario *s = r->s;
    uint64_t mem = s->memory ? s->memory : MACHINE_DEFAULT_MEM;
    char path[700];
    size_t blen = 0, slen = 0, plen = 0;
    snprintf(path, sizeof(path), "%s/bootsect.bin", o->shim_dir);
    uint8_t *boot = read_file(path, &blen);
    snprintf(path, sizeof(path), "%s/shim.bin", o->shim_dir);
    uint8_t *shim = read_file(path, &slen);
    uint8_t *pay = read_file(r->payload, &plen);
    char params[SHIM_PARAM_MAX + 64];
    shim_params(s, params, sizeof(params));
    struct diff_disk d = { boot, blen, shim, slen, 0, pay, plen, params, mem };
    uint8_t *img = NULL;
    size_t ilen = 0;
    unsigned cyl = 0;
    /* Bochs has 16 physical breakpoints; each exit point takes two, on the
     * OUT and on the instruction after it (OUT imm8 is 2 bytes; AL still
     * holds the value there). With more than one CPU Bochs's debugger can
     * run an OUT without stopping: scenarios/cpu/cpuid-amd (2 LPs, ryzen)
     * never stopped on the OUT, always on the next instruction. Its check
     * (dbg_is_begin_instr_bpoint) is skipped while guard_found.icount is 0
     * at an unchanged time tick, which is likely where a CPU's time slice
     * begins. The second breakpoint of a false match (E6 F4 inside another
     * instruction) could sit on a real instruction and end the run early;
     * that would show as a difference, and no payload has such a match. */
    enum { PAY_EXITS = 6, ALL_EXITS = 8 };
    uint64_t pts[ALL_EXITS], bp[2 * ALL_EXITS];
    unsigned npay = pay ? exit_points(pay, plen, pts, PAY_EXITS) : 0, npts = npay <= PAY_EXITS ? npay : 0, nbp = 0;
    /* and the shim's own (its errors exit too), at SHIM_LOAD_ADDR + offset */
    for (size_t i = 0; shim && npts && i + 1 < slen && npts < ALL_EXITS; i++)
        if (shim[i] == 0xE6 && shim[i + 1] == 0xF4)
            pts[npts++] = SHIM_LOAD_ADDR + i;
    for (unsigned i = 0; i < npts; i++) {
        bp[nbp++] = pts[i];
        bp[nbp++] = pts[i] + 2;
    }
    bool ok = false;
    if (!boot || !shim || !pay)
        snprintf(r->error, sizeof(r->error), "cannot read %s", !boot ? "bootsect.bin" : !shim ? "shim.bin" : r->payload);
    else if (!diff_shim_entry(shim, slen, &d.shim_entry))
        snprintf(r->error, sizeof(r->error), "%s/shim.bin has no Multiboot header with address fields", o->shim_dir);
    else if (npay == 0 || npay > PAY_EXITS)
        snprintf(r->error, sizeof(r->error), "%s: %s OUT to port 0xF4 (E6 F4) in its executable segments", r->payload,
                 npay ? "more than 6 places with an" : "no");
    else if (!diff_disk_image(&d, &img, &ilen, &cyl, r->error, sizeof(r->error)))
        ;
    else
        ok = true;
    free(boot);
    free(shim);
    free(pay);
    if (!ok)
        return false;
    snprintf(path, sizeof(path), "%s/disk.img", r->dir);
    ok = write_file(path, img, ilen);
    free(img);
    /* bochsrc: no sound, no GUI beyond the term library (TERM=dumb), port
     * 0xE9 to stdout, COM1 off (its 16550 transmits on virtual time and
     * would interleave differently), virtual time decoupled from the host
     * clock, #GP for MSRs Bochs does not implement (as the SDM says). */
    char rc[4096];
    int n = snprintf(rc, sizeof(rc),
                     "megs: %llu\n"
                     "romimage: file=/usr/share/bochs/BIOS-bochs-latest\n"
                     "vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest\n"
                     "ata0-master: type=disk, path=%s/disk.img, mode=flat, cylinders=%u, heads=%d, spt=%d\n"
                     "boot: disk\n"
                     "display_library: term\n"
                     "port_e9_hack: enabled=1\n"
                     "com1: enabled=0\n"
                     "log: %s/bochs.log\n"
                     "clock: sync=none, time0=946684800\n"
                     "cpu: model=%s, count=%u, reset_on_triple_fault=0, ignore_bad_msrs=0\n"
                     "sound: driver=dummy\n"
                     "speaker: enabled=0\n",
                     (unsigned long long)(mem >> 20), r->dir, cyl, DISK_HEADS, DISK_SPT, r->dir,
                     impl_cpu(s, IMPL_BOCHS), r->ncpus);
    snprintf(path, sizeof(path), "%s/bochsrc", r->dir);
    ok = ok && n > 0 && write_file(path, rc, (size_t)n);
    /* Debugger commands: a physical breakpoint on each exit point, run,
     * then print the registers and quit. */
    n = 0;
    for (unsigned i = 0; i < nbp; i++)
        n += snprintf(rc + n, sizeof(rc) - (size_t)n, "pb 0x%llx\n", (unsigned long long)bp[i]);
    n += snprintf(rc + n, sizeof(rc) - (size_t)n, "c\nr\nq\n");
    snprintf(path, sizeof(path), "%s/cmds", r->dir);
    ok = ok && write_file(path, rc, (size_t)n);
    if (!ok) {
        snprintf(r->error, sizeof(r->error), "cannot write the Bochs files in %s: %s", r->dir, strerror(errno));
        return false;
    }
    unsigned a = 0;
    snprintf(store[0], sizeof(store[0]), "%s", o->bochs);
    argv[a++] = store[0];
    argv[a++] = "-q";
    argv[a++] = "-f";
    snprintf(store[1], sizeof(store[1]), "%s/bochsrc", r->dir);
    argv[a++] = store[1];
    argv[a++] = "-rc";
    snprintf(store[2], sizeof(store[2]), "%s/cmds", r->dir);
    argv[a++] = store[2];
    argv[a] = NULL;
    return true;
}

/* Start run r: a forked hvsim child, or QEMU/Bochs exec'd, each the leader
 * of a new process group with stdout and stderr in the work directory. */
static void start_run(struct run *r, const struct diff_options *o)
{
    static char store[MAX_ARGS][8192];
    char *argv[MAX_ARGS + 1];
    r->started = true;
    r->start = now();
    bool ext = r->impl == IMPL_QEMU || r->impl == IMPL_BOCHS;
    if (ext && !(r->impl == IMPL_QEMU ? qemu_prepare(r, o, argv, store) : bochs_prepare(r, o, argv, store))) {
        r->done = true;
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(r->error, sizeof(r->error), "fork: %s", strerror(errno));
        r->done = true;
        return;
    }
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGINT, SIG_DFL);
        char path[700];
        snprintf(path, sizeof(path), "%s/stdout", r->dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        snprintf(path, sizeof(path), "%s/stderr", r->dir);
        int fe = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fi = open("/dev/null", O_RDONLY);
        if (fd < 0 || fe < 0 || fi < 0)
            _exit(126);
        dup2(fi, 0);
        dup2(fd, 1);
        dup2(fe, 2);
        if (!ext)
            hvsim_child(r, o);
        if (chdir(r->dir) != 0)
            _exit(126);
        setenv("TERM", "dumb", 1);                /* Bochs's term display: no escape sequences */
        execv(argv[0], argv);
        _exit(127);
    }
    setpgid(pid, pid);
    r->pid = pid;
}

/* Turn a finished run's files into its normalised transcript. */
static void finish_run(struct run *r)
{
    char path[700];
    size_t n = 0;
    char *con = NULL, end[300] = "";
    r->seconds = now() - r->start;
    if (r->impl == IMPL_HVSIM || r->impl == IMPL_SHIM) {
        snprintf(path, sizeof(path), "%s/console", r->dir);
        con = (char *)read_file(path, &n);
        snprintf(path, sizeof(path), "%s/end", r->dir);
        char *e = (char *)read_file(path, &n);
        if (r->timed_out)
            snprintf(end, sizeof(end), "[end] timeout\n");
        else if (e && e[0])
            snprintf(end, sizeof(end), "%s", e);
        else
            snprintf(end, sizeof(end), "[end] crashed (wait status %#x)\n", (unsigned)r->wstatus);
        free(e);
    } else {
        snprintf(path, sizeof(path), "%s/stdout", r->dir);
        char *out = (char *)read_file(path, &n);
        if (r->impl == IMPL_BOCHS && out) {
            bool exited;
            unsigned v;
            diff_normalise(out);
            con = diff_bochs_console(out, r->ncpus, &exited, &v);
            free(out);
            /* With reset_on_triple_fault=0 a triple fault is a panic that
             * stops the simulation; the log says which. */
            snprintf(path, sizeof(path), "%s/bochs.log", r->dir);
            char *log = (char *)read_file(path, &n);
            if (exited)
                snprintf(end, sizeof(end), "[end] exit-device %u\n", v);
            else if (log && strstr(log, ">>PANIC<< exception(): 3rd"))
                snprintf(end, sizeof(end), "[end] triple-fault\n");
            free(log);
        } else {
            con = out;
        }
        /* QEMU's own errors also exit with 1, like isa-debug-exit with 0:
         * they are the stderr lines "qemu...: ..." that are not warnings. */
        char qemu_error[256] = "";
        snprintf(path, sizeof(path), "%s/stderr", r->dir);
        char *err = r->impl == IMPL_QEMU ? (char *)read_file(path, &n) : NULL;
        for (char *l = err; l && *l && !qemu_error[0];) {
            char *nl = strchr(l, '\n');
            if (nl)
                *nl = 0;
            if (!strncmp(l, "qemu", 4) && !strstr(l, "warning:"))
                snprintf(qemu_error, sizeof(qemu_error), "%s", l);
            l = nl ? nl + 1 : l + strlen(l);
        }
        free(err);
        if (end[0]) {
            /* set by Bochs above */
        } else if (r->timed_out) {
            snprintf(end, sizeof(end), "[end] timeout\n");
        } else if (WIFEXITED(r->wstatus) && r->impl == IMPL_QEMU) {
            int st = WEXITSTATUS(r->wstatus);
            /* isa-debug-exit: (v << 1) | 1. With -no-reboot a reset ends
             * QEMU with 0; the one a payload causes is a triple fault. */
            if (qemu_error[0])
                snprintf(end, sizeof(end), "[end] qemu failed: %.250s\n", qemu_error);
            else if (st & 1)
                snprintf(end, sizeof(end), "[end] exit-device %d\n", st >> 1);
            else if (st == 0)
                snprintf(end, sizeof(end), "[end] triple-fault\n");
            else
                snprintf(end, sizeof(end), "[end] qemu failed (exit status %d)\n", st);
        } else {
            snprintf(end, sizeof(end), "[end] %s ended without reaching the exit device (wait status %#x)\n",
                     impl_rows[r->impl].name, (unsigned)r->wstatus);
        }
    }
    if (!con)
        con = strdup("");
    diff_normalise(con);
    size_t cl = strlen(con);
    bool nl = cl == 0 || con[cl - 1] == '\n';
    size_t tl = cl + strlen(end) + 2;
    r->transcript = malloc(tl);
    if (r->transcript)
        snprintf(r->transcript, tl, "%s%s%s", con, nl ? "" : "\n", end);
    free(con);
}

/* Run every planned run, -j at a time, with the watchdog. */
static void run_all(struct plan *p, const struct diff_options *o, const char *work)
{
    unsigned next = 0, active = 0, finished = 0;
    bool tty = isatty(2);
    for (unsigned i = 0; i < p->nruns; i++)
        snprintf(p->runs[i].dir, sizeof(p->runs[i].dir), "%s/r%u-%s", work, i, impl_rows[p->runs[i].impl].name);
    while (finished < p->nruns) {
        while (active < o->jobs && next < p->nruns) {
            struct run *r = &p->runs[next++];
            if (mkdir(r->dir, 0755) != 0) {
                snprintf(r->error, sizeof(r->error), "mkdir %s: %s", r->dir, strerror(errno));
                r->started = r->done = true;
            } else {
                start_run(r, o);
            }
            if (r->done)
                finished++;
            else
                active++;
        }
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0) {
            struct timespec t = { 0, 20 * 1000 * 1000 };
            nanosleep(&t, NULL);
            double t_now = now();
            for (unsigned i = 0; i < p->nruns; i++) {
                struct run *r = &p->runs[i];
                if (r->started && !r->done && r->pid > 0 && !r->timed_out && o->timeout &&
                    t_now - r->start > o->timeout) {
                    r->timed_out = true;
                    kill(-r->pid, SIGKILL);
                }
            }
            continue;
        }
        for (unsigned i = 0; i < p->nruns; i++) {
            struct run *r = &p->runs[i];
            if (r->pid != pid || r->done)
                continue;
            kill(-r->pid, SIGKILL);                  /* anything the run left behind in its group */
            r->wstatus = st;
            r->done = true;
            finish_run(r);
            active--;
            finished++;
            if (tty)
                fprintf(stderr, "\rhvsim: differential: %u/%u runs done ", finished, p->nruns);
        }
    }
    if (tty)
        fprintf(stderr, "\r%60s\r", "");
}

/* ---- reporting ---- */

static void keep_transcripts(const struct plan *p, const char *dir)
{
    mkdir(dir, 0755);
    for (unsigned i = 0; i < p->nitems; i++) {
        const struct item *it = &p->items[i];
        for (int impl = 0; impl < IMPL_N; impl++) {
            if (it->run[impl] < 0 || !p->runs[it->run[impl]].transcript)
                continue;
            char flat[1024], path[2048];
            snprintf(flat, sizeof(flat), "%s", it->path);
            for (char *c = flat; *c; c++)
                if (*c == '/')
                    *c = '_';
            snprintf(path, sizeof(path), "%s/%s.%s.txt", dir, flat, impl_rows[impl].name);
            const char *t = p->runs[it->run[impl]].transcript;
            if (!write_file(path, t, strlen(t)))
                fprintf(stderr, "hvsim: differential: cannot write %s: %s\n", path, strerror(errno));
        }
    }
}

enum { C_SAME, C_DOC, C_DIFFERS, C_SKIPPED, C_N };

static void report(struct plan *p, const struct diff_options *o, unsigned counts[IMPL_N][C_N], unsigned *errors)
{
    for (unsigned i = 0; i < p->nitems; i++) {
        struct item *it = &p->items[i];
        if (!it->s) {
            printf("ERROR    %s\n         %s\n", it->path, it->load_error);
            (*errors)++;
            continue;
        }
        if (it->skip[IMPL_HVSIM][0]) {                 /* hvsim itself cannot run it (payload not built) */
            printf("ERROR    %s\n         %s\n", it->path, it->skip[IMPL_HVSIM]);
            (*errors)++;
            continue;
        }
        const struct run *ref = it->run[IMPL_HVSIM] >= 0 ? &p->runs[it->run[IMPL_HVSIM]] : NULL;
        int worst = -1;
        char cols[IMPL_N][480];
        for (int impl = IMPL_SHIM; impl < IMPL_N; impl++) {
            cols[impl][0] = 0;
            if (!(o->impls & (1u << impl)))
                continue;
            const struct run *r = it->run[impl] >= 0 ? &p->runs[it->run[impl]] : NULL;
            if (!it->skip[impl][0] && (!ref || !ref->transcript))
                snprintf(it->skip[impl], sizeof(it->skip[impl]), "hvsim's own run failed: %.300s",
                         ref && ref->error[0] ? ref->error : it->skip[IMPL_HVSIM]);
            if (!it->skip[impl][0] && r && r->error[0])
                snprintf(it->skip[impl], sizeof(it->skip[impl]), "could not run: %.300s", r->error);
            if (it->skip[impl][0] || !r || !r->transcript) {
                counts[impl][C_SKIPPED]++;
                snprintf(cols[impl], sizeof(cols[impl]), "skipped: %s", it->skip[impl][0] ? it->skip[impl] : "no transcript");
                worst = worst < 0 ? -2 : worst;
                continue;
            }
            struct diff_verdict *v = &it->verdict[impl];
            diff_compare(it->s, impl_rows[impl].bit, ref->transcript, r->transcript, v);
            counts[impl][v->kind == DIFF_SAME ? C_SAME : v->kind == DIFF_DOCUMENTED ? C_DOC : C_DIFFERS]++;
            if ((int)v->kind > worst)
                worst = (int)v->kind;
            snprintf(cols[impl], sizeof(cols[impl]), "%s",
                     v->kind == DIFF_SAME ? "same" : v->kind == DIFF_DOCUMENTED ? "differs as documented" : "DIFFERS");
            if (v->kind == DIFF_DOCUMENTED)
                snprintf(cols[impl] + strlen(cols[impl]), sizeof(cols[impl]) - strlen(cols[impl]), " (%u line%s)",
                         v->documented, v->documented == 1 ? "" : "s");
        }
        const char *tag = worst == DIFF_DIFFERS ? "DIFFERS " : worst == DIFF_DOCUMENTED ? "doc     "
                        : worst == DIFF_SAME ? "same    " : "skipped ";
        printf("%s %s\n", tag, it->path);
        for (int impl = IMPL_SHIM; impl < IMPL_N; impl++) {
            if (!cols[impl][0])
                continue;
            const struct run *r = it->run[impl] >= 0 ? &p->runs[it->run[impl]] : NULL;
            printf("         %-6s %s", impl_rows[impl].name, cols[impl]);
            if (o->verbose && r && r->done)
                printf("  [%.1f s]", r->seconds);
            putchar('\n');
            const struct diff_verdict *v = &it->verdict[impl];
            if (it->skip[impl][0] || !r || !r->transcript)
                continue;
            if (v->kind == DIFF_DIFFERS) {
                printf("                line %u: hvsim: %s\n", v->line, v->hvsim);
                printf("                %*s %s: %s\n", (int)strlen("line ") + (v->line >= 100 ? 3 : v->line >= 10 ? 2 : 1),
                       "", impl_rows[impl].name, v->other);
            }
            if (o->verbose)
                for (unsigned k = 0; k < it->s->ndiffers && k < 32; k++)
                    if (v->used & (1u << k))
                        printf("                documented (line %d, follows %s, %s): %s\n", it->s->differs[k].line,
                               it->s->differs[k].follows == SCN_FOLLOWS_HVSIM ? "hvsim"
                               : it->s->differs[k].follows == SCN_FOLLOWS_OTHER ? "other" : "either",
                               it->s->differs[k].ref, it->s->differs[k].reason);
        }
    }
    fflush(stdout);
}

static void summary(const struct diff_options *o, unsigned counts[IMPL_N][C_N], unsigned nitems, unsigned errors,
                    unsigned nruns, const unsigned runs_of[IMPL_N], double seconds)
{
    printf("\n%-8s %6s %12s %8s %8s\n", "impl", "same", "documented", "DIFFERS", "skipped");
    for (int impl = IMPL_SHIM; impl < IMPL_N; impl++)
        if (o->impls & (1u << impl))
            printf("%-8s %6u %12u %8u %8u\n", impl_rows[impl].name, counts[impl][C_SAME], counts[impl][C_DOC],
                   counts[impl][C_DIFFERS], counts[impl][C_SKIPPED]);
    printf("\n%u scenario(s), %u could not load or run on hvsim; %u run(s) (", nitems, errors, nruns);
    for (int impl = 0; impl < IMPL_N; impl++)
        if (o->impls & (1u << impl))
            printf("%s%s %u", impl ? ", " : "", impl_rows[impl].name, runs_of[impl]);
    printf(") in %.0f s\n", seconds);
}

/* ---- the command ---- */

static char *dir_next_to_exe(const char *sub)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 64);
    if (n <= 0)
        return strdup(sub);
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    size_t len = strlen(exe) + strlen(sub) + 2;
    char *d = malloc(len);
    if (d)
        snprintf(d, len, "%s/%s", exe, sub);
    return d;
}

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hvsim: differential: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'hvsim differential --help')\n");
    return EXIT_STATUS_USAGE;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[4096];
            snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(p);
            else
                unlink(p);
        }
        closedir(d);
    }
    rmdir(path);
}

int differential_main(int argc, char **argv)
{
    struct diff_options o = { .impls = 1u << IMPL_HVSIM | 1u << IMPL_SHIM | 1u << IMPL_QEMU | 1u << IMPL_BOCHS,
                              .jobs = 1, .timeout = 60 };
    const char *qemu = "qemu-system-x86_64", *bochs = "bochs";
    enum { O_IMPL = 256, O_TIMEOUT, O_KEEP, O_KEEPW, O_PDIR, O_SDIR, O_QEMU, O_BOCHS };
    static const struct option opts[] = {
        { "impl", required_argument, 0, O_IMPL }, { "timeout", required_argument, 0, O_TIMEOUT },
        { "keep", required_argument, 0, O_KEEP }, { "keep-work", no_argument, 0, O_KEEPW },
        { "payload-dir", required_argument, 0, O_PDIR },
        { "shim-dir", required_argument, 0, O_SDIR }, { "qemu", required_argument, 0, O_QEMU },
        { "bochs", required_argument, 0, O_BOCHS }, { "verbose", no_argument, 0, 'v' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    optind = 1;
    opterr = 0;
    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, "hvj:", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(usage, stdout);
            return 0;
        case 'v':
            o.verbose = true;
            break;
        case 'j':
            if (!parse_number(optarg, &v) || v == 0 || v > 64)
                return bad("-j: '%s' is not a number of jobs between 1 and 64", optarg);
            o.jobs = (unsigned)v;
            break;
        case O_IMPL: {
            o.impls = 1u << IMPL_HVSIM;
            char *list = strdup(optarg);
            for (char *save = NULL, *w = strtok_r(list, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
                int found = -1;
                for (int i = IMPL_SHIM; i < IMPL_N; i++)
                    if (!strcmp(w, impl_rows[i].name))
                        found = i;
                if (found < 0) {
                    int rc = bad("--impl: '%s' is not shim, qemu or bochs", w);
                    free(list);
                    return rc;
                }
                o.impls |= 1u << found;
            }
            free(list);
            break;
        }
        case O_TIMEOUT:
            if (!parse_number(optarg, &v) || v > 86400)
                return bad("--timeout: '%s' is not a number of seconds (0 = none)", optarg);
            o.timeout = (unsigned)v;
            break;
        case O_KEEP:
            o.keep = optarg;
            break;
        case O_KEEPW:
            o.keep_work = true;
            break;
        case O_PDIR:
            o.payload_dir = strdup(optarg);
            break;
        case O_SDIR:
            o.shim_dir = strdup(optarg);
            break;
        case O_QEMU:
            qemu = optarg;
            break;
        case O_BOCHS:
            bochs = optarg;
            break;
        default:
            return bad("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return bad("name at least one scenario file or directory");
    if (!o.payload_dir)
        o.payload_dir = dir_next_to_exe("payloads");
    if (!o.shim_dir)
        o.shim_dir = dir_next_to_exe("differential");
    /* Absolute: QEMU and Bochs run in the work directory. */
    char *abs;
    if ((abs = realpath(o.payload_dir, NULL)) != NULL) {
        free(o.payload_dir);
        o.payload_dir = abs;
    }
    if ((abs = realpath(o.shim_dir, NULL)) != NULL) {
        free(o.shim_dir);
        o.shim_dir = abs;
    }

    /* What is there to compare with: say plainly what is missing. */
    char *qpath = NULL, *bpath = NULL;
    if (o.impls & (1u << IMPL_QEMU) && !(qpath = find_program(qemu))) {
        printf("hvsim: differential: %s not found: QEMU is skipped (make bench-deps installs qemu-system-x86)\n", qemu);
        o.impls &= ~(1u << IMPL_QEMU);
    }
    if (o.impls & (1u << IMPL_BOCHS) && !(bpath = find_program(bochs))) {
        printf("hvsim: differential: %s not found: Bochs is skipped (make bench-deps installs bochs)\n", bochs);
        o.impls &= ~(1u << IMPL_BOCHS);
    }
    if (o.impls & (1u << IMPL_BOCHS) && access("/usr/share/bochs/BIOS-bochs-latest", R_OK) != 0) {
        printf("hvsim: differential: /usr/share/bochs/BIOS-bochs-latest not found: Bochs is skipped (bochsbios)\n");
        o.impls &= ~(1u << IMPL_BOCHS);
    }
    o.qemu = qpath;
    o.bochs = bpath;
    char probe[4200];
    snprintf(probe, sizeof(probe), "%s/shim.bin", o.shim_dir);
    if ((o.impls & ~(1u << IMPL_HVSIM)) && access(probe, R_OK) != 0) {
        printf("hvsim: differential: %s not found (built by CMake from tests/differential/): only hvsim runs\n", probe);
        o.impls = 1u << IMPL_HVSIM;
    }
    snprintf(probe, sizeof(probe), "%s/bootsect.bin", o.shim_dir);
    if ((o.impls & (1u << IMPL_BOCHS)) && access(probe, R_OK) != 0) {
        printf("hvsim: differential: %s not found: Bochs is skipped\n", probe);
        o.impls &= ~(1u << IMPL_BOCHS);
    }

    /* one way out, which frees what was made (also on the host's refusals:
     * the sanitizer build counts a leak as a failure) */
    int status = 0;
    char **paths = NULL;
    unsigned npaths = 0, cap = 0;
    struct plan p = { 0 };
    char work[440];
    for (int i = optind; i < argc; i++)
        if (collect(argv[i], &paths, &npaths, &cap, 0) != 0) {
            status = EXIT_STATUS_USAGE;
            goto out;
        }
    if (npaths == 0) {
        fprintf(stderr, "hvsim: differential: no scenario (*.xml) found\n");
        status = 1;
        goto out;
    }
    qsort(paths, npaths, sizeof(char *), cmp_str);

    p.items = calloc(npaths, sizeof(struct item));
    if (!p.items) {
        status = 12;
        goto out;
    }
    p.nitems = npaths;
    for (unsigned i = 0; i < npaths; i++) {
        struct item *it = &p.items[i];
        it->path = paths[i];
        for (int k = 0; k < IMPL_N; k++)
            it->run[k] = -1;
        it->s = scenario_load(it->path, it->load_error, sizeof(it->load_error));
        if (it->s)
            plan_item(&p, it, &o);
    }
    /* the work directory: in $TMPDIR when it is set, else /tmp (each run's
     * directory name, 512 bytes at most, is made from it) */
    const char *tmpdir = getenv("TMPDIR");
    if (!tmpdir || !*tmpdir)
        tmpdir = "/tmp";
    if (strlen(tmpdir) > 400) {
        fprintf(stderr, "hvsim: differential: TMPDIR is %zu characters long; at most 400 are supported\n",
                strlen(tmpdir));
        status = 12;
        goto out;
    }
    snprintf(work, sizeof(work), "%s/hvsim-differential-XXXXXX", tmpdir);
    if (!mkdtemp(work)) {
        fprintf(stderr, "hvsim: differential: cannot create a work directory %s: %s\n", work, strerror(errno));
        status = 12;
        goto out;
    }
    printf("hvsim differential: %u scenario(s), %u run(s) (hvsim", npaths, p.nruns);
    for (int i = IMPL_SHIM; i < IMPL_N; i++)
        if (o.impls & (1u << i))
            printf(", %s", impl_rows[i].name);
    printf("), -j %u, timeout %u s\n\n", o.jobs, o.timeout);
    fflush(stdout);
    double t0 = now();
    run_all(&p, &o, work);
    double seconds = now() - t0;
    if (o.keep)
        keep_transcripts(&p, o.keep);
    unsigned counts[IMPL_N][C_N], errors = 0;
    memset(counts, 0, sizeof(counts));
    report(&p, &o, counts, &errors);
    unsigned runs_of[IMPL_N] = { 0 };
    for (unsigned i = 0; i < p.nruns; i++)
        runs_of[p.runs[i].impl]++;
    summary(&o, counts, npaths, errors, p.nruns, runs_of, seconds);
    unsigned differs = 0;
    for (int i = 0; i < IMPL_N; i++)
        differs += counts[i][C_DIFFERS];
    if (o.keep_work)
        printf("work directory kept: %s\n", work);
    else
        remove_tree(work);
    status = differs || errors ? 1 : 0;
out:
    /* the items own the paths once they exist */
    for (unsigned i = 0; i < npaths; i++) {
        if (p.items) {
            scenario_free(p.items[i].s);
            free(p.items[i].path);
        } else {
            free(paths[i]);
        }
    }
    for (unsigned i = 0; i < p.nruns; i++) {
        free(p.runs[i].key);
        free(p.runs[i].payload);
        free(p.runs[i].transcript);
    }
    free(p.items);
    free(p.runs);
    free(paths);
    free(qpath);
    free(bpath);
    free(o.payload_dir);
    free(o.shim_dir);
    return status;
}
