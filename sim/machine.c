/*
 * machine.c — the machine: RAM, LPs, devices and the run loop.
 *
 * Scheduling (determinism): the runnable LP with the smallest virtual clock
 * runs next for `quantum` instructions (checked at translation-block
 * boundaries); equal clocks run in the order their events were queued
 * (sim/evq.c), LPs in index order at the start. Nothing here reads host
 * time except the optional progress line, which goes to stderr only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "boot.h"
#include "elf.h"
#include "evq.h"
#include "machine.h"
#include "multiboot.h"
#include "physmem.h"
#include "platform.h"
#include "svm.h"
#include "vmx.h"

/* Event kinds on the machine's queue. */
enum { EVK_LP_RUN = 1 };

#define PORT_DEBUGCON 0xE9
#define PORT_EXIT     0xF4
#define PORT_COM1     0x3F8

/* 16550 transmit side (registers per the National PC16550D data sheet):
 * output is instant (LSR always says THR empty and transmitter empty),
 * nothing is ever received, and no interrupt is ever raised: IER is kept
 * and read back, IIR always says "none pending". */
struct uart {
    uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
};

struct machine {
    struct machine_config cfg;
    physmem_t *mem;
    cpu_t *lp[MACHINE_MAX_LPS];
    vmx_t *vmx[MACHINE_MAX_LPS];                /* VT-x of each LP (NULL: the profile has no VMX) */
    svm_t *svm[MACHINE_MAX_LPS];                /* AMD-V of each LP (NULL: the profile has no SVM) */
    unsigned nlps;
    evq_t *evq;
    trace_writer_t *trace;
    struct uart com1;
    struct platform dev;               /* PICs, fw_cfg, shutdown and POST ports (platform.c) */
    struct mb_layout mb;               /* what machine_load_multiboot placed and recorded */
    bool exit_requested;
    bool exit_shutdown_port;           /* the end came through port 0x8900, not 0xF4 */
    uint32_t exit_value;
    unsigned exit_lp;
    char payload_name[64];
    uint8_t payload_sha[32];
    struct boot_layout boot;
    bool booted;
    uint64_t sched_state;              /* splitmix64 state for schedule exploration */
    uint64_t lp_event[MACHINE_MAX_LPS];  /* the LP's queued run/wake event (evq handle), 0: none */
    int running;                       /* LP inside cpu_run, -1: none */
};

/* Queue LP i to run at virtual time t (replacing what it had queued). */
static void schedule(machine_t *m, unsigned i, uint64_t t)
{
    if (m->lp_event[i])
        evq_cancel(m->evq, m->lp_event[i]);
    m->lp_event[i] = evq_push(m->evq, t, EVK_LP_RUN, i, 0);
}

/* A halted LP: queue its wake-up if something will wake it. */
static void schedule_wake(machine_t *m, unsigned i)
{
    cpu_t *c = m->lp[i];
    uint64_t w = cpu_next_wake(c);
    if (w == ~0ull)
        return;
    schedule(m, i, w > cpu_cycles(c) ? w : cpu_cycles(c));
}

/* ---- platform callbacks for the CPUs ---- */

static void plat_span(void *ctx, uint64_t pa, struct cpu_phys_span *out)
{
    machine_t *m = ctx;
    pmem_span(m->mem, pa, out);
}

static void console_byte(machine_t *m, cpu_t *cpu, uint16_t port, uint8_t b)
{
    if (m->cfg.console) {
        fputc(b, m->cfg.console);
        if (b == '\n')
            fflush(m->cfg.console);
    }
    trace_console(m->trace, cpu_lp_index(cpu), cpu_cycles(cpu), port, b);
}

static enum cpu_io_result uart_out(machine_t *m, cpu_t *cpu, unsigned reg, uint8_t v)
{
    struct uart *u = &m->com1;
    bool dlab = u->lcr & 0x80;
    switch (reg) {
    case 0:
        if (dlab)
            u->dll = v;
        else
            console_byte(m, cpu, PORT_COM1, v);
        break;
    case 1:
        if (dlab)
            u->dlm = v;
        else
            u->ier = v & 0x0F;
        break;
    case 2: u->fcr = v & 0xC9; break;      /* FCR: bits 1-2 (FIFO resets) self-clear */
    case 3: u->lcr = v; break;
    case 4: u->mcr = v & 0x1F; break;
    case 7: u->scr = v; break;
    default: break;                         /* LSR/MSR: writes ignored by the chip */
    }
    return CPU_IO_OK;
}

static uint8_t uart_in(machine_t *m, unsigned reg)
{
    struct uart *u = &m->com1;
    bool dlab = u->lcr & 0x80;
    switch (reg) {
    case 0: return dlab ? u->dll : 0;       /* no receive data */
    case 1: return dlab ? u->dlm : u->ier;
    case 2: return (u->fcr & 1) ? 0xC1 : 0x01;   /* no interrupt pending; FIFOs as enabled */
    case 3: return u->lcr;
    case 4: return u->mcr;
    case 5: return 0x60;                    /* THR empty, transmitter empty: output is instant */
    case 6:
        /* MSR: in loopback (MCR bit 4) the modem inputs follow the outputs:
         * CTS = RTS, DSR = DTR, RI = OUT1, DCD = OUT2 (PC16550D "Modem
         * Control Register", bit 4); otherwise DCD, DSR and CTS asserted.
         * The delta bits 3:0 stay 0. */
        if (u->mcr & 0x10)
            return (uint8_t)(((u->mcr & 0x02) << 3) | ((u->mcr & 0x01) << 5) | ((u->mcr & 0x0C) << 4));
        return 0xB0;
    default: return u->scr;
    }
}

static enum cpu_io_result plat_out(void *ctx, cpu_t *cpu, uint16_t port, unsigned size, uint32_t val)
{
    machine_t *m = ctx;
    if (port == PORT_DEBUGCON) {
        for (unsigned i = 0; i < size; i++)
            console_byte(m, cpu, PORT_DEBUGCON, (uint8_t)(val >> (8 * i)));
        return CPU_IO_OK;
    }
    if (port == PORT_EXIT) {
        /* isa-debug-exit: the run ends with status (value << 1) | 1. */
        m->exit_requested = true;
        m->exit_value = size == 4 ? val : size == 2 ? (val & 0xFFFF) : (val & 0xFF);
        m->exit_lp = cpu_lp_index(cpu);
        return CPU_IO_STOP;
    }
    if (port >= PORT_COM1 && port < PORT_COM1 + 8) {
        for (unsigned i = 0; i < size && port + i < PORT_COM1 + 8; i++)
            uart_out(m, cpu, port + i - PORT_COM1, (uint8_t)(val >> (8 * i)));
        return CPU_IO_OK;
    }
    enum cpu_io_result r = platform_out(&m->dev, port, size, val);
    if (r == CPU_IO_STOP) {
        /* The Bochs shutdown port: an exit-device end with status 1, as if
         * 0 had been written to port 0xF4 (docs/exit-status.md). */
        m->exit_requested = true;
        m->exit_value = 0;
        m->exit_lp = cpu_lp_index(cpu);
        m->exit_shutdown_port = true;
    }
    return r;
}

static enum cpu_io_result plat_in(void *ctx, cpu_t *cpu, uint16_t port, unsigned size, uint32_t *val)
{
    machine_t *m = ctx;
    (void)cpu;
    if (port == PORT_DEBUGCON) {
        *val = size == 1 ? 0xE9 : 0xFFFFFFFFu;  /* Bochs/QEMU: reading 0xE9 returns 0xE9 */
        return CPU_IO_OK;
    }
    if (port == PORT_EXIT) {
        *val = 0;
        return CPU_IO_OK;
    }
    if (port >= PORT_COM1 && port < PORT_COM1 + 8) {
        uint32_t v = 0;
        for (unsigned i = 0; i < size && port + i < PORT_COM1 + 8; i++)
            v |= (uint32_t)uart_in(m, port + i - PORT_COM1) << (8 * i);
        *val = v;
        return CPU_IO_OK;
    }
    return platform_in(&m->dev, port, size, val);
}

enum cpu_io_result machine_port_in(machine_t *m, unsigned lp, uint16_t port, unsigned size, uint32_t *val)
{
    *val = 0;
    if (lp >= m->nlps || (size != 1 && size != 2 && size != 4))
        return CPU_IO_UNMODELLED;
    return plat_in(m, m->lp[lp], port, size, val);
}

enum cpu_io_result machine_port_out(machine_t *m, unsigned lp, uint16_t port, unsigned size, uint32_t val)
{
    if (lp >= m->nlps || (size != 1 && size != 2 && size != 4))
        return CPU_IO_UNMODELLED;
    return plat_out(m, m->lp[lp], port, size, val);
}

/* IPI routing between the LPs' local APICs (SDM 3A 10.6.1: destination
 * shorthands, physical and logical destinations; lowest priority goes to
 * the matching LP with the lowest processor priority, ties to the lowest
 * LP number, a deterministic choice among those the SDM allows). */
static void plat_ipi(void *ctx, cpu_t *from, const struct cpu_ipi *msg)
{
    machine_t *m = ctx;
    unsigned src = cpu_lp_index(from);
    bool hit[MACHINE_MAX_LPS] = { false };
    for (unsigned j = 0; j < m->nlps; j++) {
        switch (msg->shorthand) {
        case 1: hit[j] = j == src; break;
        case 2: hit[j] = true; break;
        case 3: hit[j] = j != src; break;
        default: hit[j] = cpu_apic_ipi_matches(m->lp[j], msg); break;
        }
    }
    if (msg->mode == 1 && msg->shorthand != 1) {
        int best = -1;
        uint32_t bp = 0;
        for (unsigned j = 0; j < m->nlps; j++)
            if (hit[j]) {
                uint32_t p = cpu_apic_priority(m->lp[j]);
                if (best < 0 || p < bp) {
                    best = (int)j;
                    bp = p;
                }
                hit[j] = false;
            }
        if (best >= 0)
            hit[best] = true;
    }
    for (unsigned j = 0; j < m->nlps; j++) {
        if (!hit[j])
            continue;
        cpu_apic_ipi_deliver(m->lp[j], msg);
        if ((int)j != m->running && cpu_halted(m->lp[j]))
            schedule_wake(m, j);
    }
}

static void plat_event(void *ctx, cpu_t *cpu, const struct cpu_event *ev)
{
    machine_t *m = ctx;
    if (ev->kind == CPU_EV_NOTE) {
        if (m->cfg.notes && ev->text)
            fprintf(m->cfg.notes, "hvsim: lp%u: %s\n", cpu_lp_index(cpu), ev->text);
        return;
    }
    trace_event(m->trace, cpu_lp_index(cpu), ev);
}

/* ---- life cycle ---- */

bool machine_create(const struct machine_config *cfg, machine_t **out, char *msg, size_t n)
{
    *out = NULL;
    if (cfg->nlps == 0 || cfg->nlps > MACHINE_MAX_LPS) {
        snprintf(msg, n, "--lps must be between 1 and %d (got %u)", MACHINE_MAX_LPS, cfg->nlps);
        return false;
    }
    machine_t *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(msg, n, "out of memory");
        return false;
    }
    m->cfg = *cfg;
    if (!m->cfg.quantum)
        m->cfg.quantum = MACHINE_DEFAULT_QUANTUM;
    m->sched_state = cfg->sched_seed;
    if (!m->cfg.profile)
        m->cfg.profile = cpu_profile_default();
    pmem_err pe = pmem_create(cfg->mem_size, &m->mem);
    if (pe != PMEM_OK) {
        snprintf(msg, n, "--mem %llu: %s", (unsigned long long)cfg->mem_size, pmem_strerror(pe));
        free(m);
        return false;
    }
    m->evq = evq_create();
    platform_init(&m->dev, cfg->mem_size, cfg->nlps);
    struct cpu_platform plat = { m, plat_span, plat_in, plat_out, plat_event, plat_ipi };
    m->running = -1;
    for (unsigned i = 0; i < cfg->nlps; i++) {
        struct cpu_config cc = { .profile = m->cfg.profile, .lp_index = i, .lp_count = cfg->nlps, .seed = cfg->seed,
                                 .trace_insns = cfg->trace_insns, .tlb_flush_always = cfg->tlb_flush_always };
        cpu_err e = cpu_create(&cc, &plat, &m->lp[i]);
        if (e != CPU_OK) {
            snprintf(msg, n, "cannot create logical processor %u: %s", i, cpu_strerror(e));
            m->nlps = i;
            machine_destroy(m);
            return false;
        }
        const struct vmx_caps *vc = vmx_caps_for_profile(cpu_profile_name(m->cfg.profile));
        struct vmx_caps mine;
        if (vc) {
            mine = *vc;
            for (unsigned k = 0; k < cfg->nvmx_caps && k < 32; k++) {
                char why[300];
                if (!vmx_caps_override(&mine, cfg->vmx_caps[k].msr, cfg->vmx_caps[k].present, cfg->vmx_caps[k].value,
                                       why, sizeof(why))) {
                    snprintf(msg, n, "VMX capability override: %s", why);
                    m->nlps = i + 1;
                    machine_destroy(m);
                    return false;
                }
            }
            char why[300];
            if (cfg->nvmx_caps && !vmx_caps_consistent(&mine, why, sizeof(why))) {
                snprintf(msg, n, "VMX capability overrides: %s", why);
                m->nlps = i + 1;
                machine_destroy(m);
                return false;
            }
            vc = &mine;
        } else if (cfg->nvmx_caps) {
            snprintf(msg, n, "VMX capability overrides given, but CPU profile %s has no VMX",
                     cpu_profile_name(m->cfg.profile));
            m->nlps = i + 1;
            machine_destroy(m);
            return false;
        }
        if (vc && !(m->vmx[i] = vmx_attach(m->lp[i], vc))) {
            snprintf(msg, n, "cannot create logical processor %u: out of memory for its VMX state", i);
            m->nlps = i + 1;
            machine_destroy(m);
            return false;
        }
        const struct svm_caps *sc = vc ? NULL : svm_caps_for_profile(cpu_profile_name(m->cfg.profile));
        struct svm_caps smine;
        if (sc) {
            smine = *sc;
            for (unsigned k = 0; k < cfg->nsvm_caps && k < 32; k++) {
                char why[400];
                if (!svm_caps_override(&smine, cfg->svm_caps[k].name, cfg->svm_caps[k].value, why, sizeof(why))) {
                    snprintf(msg, n, "AMD-V capability override: %s", why);
                    m->nlps = i + 1;
                    machine_destroy(m);
                    return false;
                }
            }
            sc = &smine;
        } else if (cfg->nsvm_caps) {
            snprintf(msg, n, "AMD-V capability overrides given, but CPU profile %s has no SVM (try --cpu amd)",
                     cpu_profile_name(m->cfg.profile));
            m->nlps = i + 1;
            machine_destroy(m);
            return false;
        }
        if (sc && !(m->svm[i] = svm_attach(m->lp[i], sc))) {
            snprintf(msg, n, "cannot create logical processor %u: out of memory for its SVM state", i);
            m->nlps = i + 1;
            machine_destroy(m);
            return false;
        }
    }
    m->nlps = cfg->nlps;
    *out = m;
    return true;
}

void machine_destroy(machine_t *m)
{
    if (!m)
        return;
    for (unsigned i = 0; i < m->nlps; i++) {
        vmx_detach(m->vmx[i]);
        svm_detach(m->svm[i]);
        cpu_destroy(m->lp[i]);
    }
    if (m->trace)
        trace_abort(m->trace);
    evq_destroy(m->evq);
    pmem_destroy(m->mem);
    free(m);
}

cpu_t *machine_cpu(machine_t *m, unsigned lp) { return lp < m->nlps ? m->lp[lp] : NULL; }
struct physmem *machine_physmem(machine_t *m) { return m->mem; }

static uint8_t *read_file(const char *path, size_t *size, char *msg, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, n, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(msg, n, "%s: not a regular file", path);
        fclose(f);
        return NULL;
    }
    if ((uint64_t)st.st_size > (1ull << 32)) {
        snprintf(msg, n, "%s: %lld bytes is larger than any payload hvsim accepts (4 GiB)", path,
                 (long long)st.st_size);
        fclose(f);
        return NULL;
    }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        snprintf(msg, n, "%s: out of memory", path);
        fclose(f);
        return NULL;
    }
    size_t got = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    if (got != (size_t)st.st_size) {
        snprintf(msg, n, "%s: short read", path);
        free(buf);
        return NULL;
    }
    *size = got;
    return buf;
}

bool machine_load_elf(machine_t *m, const char *path, char *msg, size_t n)
{
    size_t size;
    char why[400];
    uint8_t *data = read_file(path, &size, msg, n);
    if (!data)
        return false;
    struct elf_image img;
    if (!elf_parse(data, size, pmem_size(m->mem), &img, why, sizeof(why))) {
        snprintf(msg, n, "%s: %s", path, why);
        free(data);
        return false;
    }
    struct boot_params bp = { m->nlps, m->cfg.cmdline, 2000000000ull };
    if (!boot_prepare(m->mem, &img, data, size, &bp, &m->boot, why, sizeof(why))) {
        snprintf(msg, n, "%s: %s", path, why);
        free(data);
        return false;
    }
    struct sha256 s;
    sha256_init(&s);
    sha256_update(&s, data, size);
    sha256_final(&s, m->payload_sha);
    free(data);
    const char *base = strrchr(path, '/');
    snprintf(m->payload_name, sizeof(m->payload_name), "%s", base ? base + 1 : path);
    for (unsigned i = 0; i < m->nlps; i++)
        boot_cpu_state(m->lp[i], &m->boot, i, m->nlps);
    m->booted = true;
    return true;
}

/* Multiboot v1 (docs/multiboot.md): the kernel and modules are read whole;
 * the bootstrap processor gets the MB 3.2 entry state, every other LP the
 * parking state (HLT with IF = 0 in hvsim's firmware area). */
bool machine_load_multiboot(machine_t *m, const struct mb_options *o, char *msg, size_t n)
{
    if (o->nmods > MB_MAX_MODULES) {
        snprintf(msg, n, "--module: %u modules given, at most %d", o->nmods, MB_MAX_MODULES);
        return false;
    }
    struct mb_input in = { .kernel = { .name = o->kernel }, .append = o->append, .nmods = o->nmods };
    uint8_t *kdata = read_file(o->kernel, &in.kernel.size, msg, n);
    if (!kdata)
        return false;
    in.kernel.data = kdata;
    bool ok = true;
    unsigned loaded = 0;
    for (; loaded < o->nmods && ok; loaded++) {
        struct mb_blob *b = &in.mods[loaded];
        b->name = o->mods[loaded].path;
        b->string = o->mods[loaded].string;
        b->data = read_file(b->name, &b->size, msg, n);
        ok = b->data != NULL;
    }
    if (ok)
        ok = mb_prepare(m->mem, &in, &m->mb, msg, n);
    if (ok) {
        struct sha256 s;
        sha256_init(&s);
        sha256_update(&s, kdata, in.kernel.size);
        sha256_final(&s, m->payload_sha);
        const char *base = strrchr(o->kernel, '/');
        snprintf(m->payload_name, sizeof(m->payload_name), "%s", base ? base + 1 : o->kernel);
        /* The BSP enters the kernel; the APs wait for INIT-SIPI-SIPI as on
         * hardware after firmware handed over (docs/multiboot.md). */
        mb_cpu_state(m->lp[0], &m->mb.bsp);
        for (unsigned i = 1; i < m->nlps; i++)
            cpu_init_wait_for_sipi(m->lp[i]);
        m->booted = true;
    }
    for (unsigned i = 0; i < loaded; i++)
        free((void *)in.mods[i].data);
    free(kdata);
    return ok;
}

const struct mb_layout *machine_multiboot_layout(const machine_t *m)
{
    return m->booted && m->mb.info ? &m->mb : NULL;
}

/* ---- running ---- */

static uint64_t total_insns(machine_t *m)
{
    uint64_t t = 0;
    for (unsigned i = 0; i < m->nlps; i++)
        t += cpu_insns(m->lp[i]);
    return t;
}

static uint64_t max_cycles(machine_t *m)
{
    uint64_t c = 0;
    for (unsigned i = 0; i < m->nlps; i++)
        if (cpu_cycles(m->lp[i]) > c)
            c = cpu_cycles(m->lp[i]);
    return c;
}

static void end(machine_t *m, struct machine_result *r, enum machine_end e, int status, unsigned lp,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void end(machine_t *m, struct machine_result *r, enum machine_end e, int status, unsigned lp,
                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
    va_end(ap);
    r->end = e;
    r->status = status;
    r->lp = lp;
    r->insns = total_insns(m);
    r->cycles = max_cycles(m);
    for (unsigned i = 0; i < m->nlps; i++) {
        struct cpu_stats st;
        cpu_get_stats(m->lp[i], &st);
        r->unmodelled_msrs += st.unmodelled_msrs;
    }
}

static void progress(machine_t *m, time_t *last)
{
    if (!m->cfg.progress)
        return;
    time_t now = time(NULL);                /* host time: progress display only */
    if (now - *last < 2)
        return;
    *last = now;
    fprintf(m->cfg.progress, "hvsim: %llu instructions, %llu cycles on the slowest LP...\r",
            (unsigned long long)total_insns(m), (unsigned long long)max_cycles(m));
    fflush(m->cfg.progress);
}

static const enum trace_end_reason tend_of[MEND_INTERNAL + 1] = {
    [MEND_EXIT_DEVICE] = TEND_EXIT_DEVICE, [MEND_TRIPLE_FAULT] = TEND_TRIPLE_FAULT,
    [MEND_HALTED] = TEND_HALTED, [MEND_INSN_LIMIT] = TEND_INSN_LIMIT,
    [MEND_CYCLE_LIMIT] = TEND_CYCLE_LIMIT, [MEND_UNMODELLED] = TEND_UNMODELLED,
    [MEND_INTERNAL] = TEND_INTERNAL,
};

unsigned machine_end_trace_reason(enum machine_end e)
{
    return (unsigned)e <= MEND_INTERNAL ? tend_of[e] : TEND_INTERNAL;
}

void machine_run(machine_t *m, struct machine_result *r)
{
    memset(r, 0, sizeof(*r));
    if (!m->booted) {
        end(m, r, MEND_INTERNAL, EXIT_STATUS_INTERNAL, 0, "no payload loaded");
        return;
    }
    if (m->cfg.trace_path) {
        struct trace_config tc = { .version = TRACE_FORMAT_VERSION, .flags = m->cfg.trace_insns ? TRACE_F_INSNS : 0,
                                   .seed = m->cfg.seed, .nlps = m->nlps, .cost_model = CPU_COST_MODEL_VERSION,
                                   .mem_size = pmem_size(m->mem), .quantum = m->cfg.quantum,
                                   .sched_seed = m->cfg.sched_seed };
        snprintf(tc.hvsim_version, sizeof(tc.hvsim_version), "%s", HVSIM_VERSION);
        snprintf(tc.profile, sizeof(tc.profile), "%s", cpu_profile_name(m->cfg.profile));
        memcpy(tc.payload, m->payload_name, sizeof(tc.payload));
        memcpy(tc.payload_sha256, m->payload_sha, 32);
        if (trace_create(m->cfg.trace_path, &tc, &m->trace) != TRACE_OK) {
            end(m, r, MEND_INTERNAL, EXIT_STATUS_USAGE, 0, "cannot write trace %s: %s", m->cfg.trace_path,
                strerror(errno));
            return;
        }
    }
    time_t last = time(NULL);
    /* Scheduling on the event queue: every runnable LP has one "run" event
     * at its current clock; the earliest runs next (equal clocks: the one
     * queued first). Halted LPs have no event; timed wake-ups (devices,
     * timers) will be events on the same queue. */
    for (unsigned i = 0; i < m->nlps; i++)
        if (!cpu_halted(m->lp[i]))
            schedule(m, i, cpu_cycles(m->lp[i]));
    for (;;) {
        struct evq_event ev;
        if (!evq_pop(m->evq, &ev)) {
            end(m, r, MEND_HALTED, EXIT_STATUS_HALTED, 0,
                "all %u logical processor(s) halted with nothing to wake them", m->nlps);
            break;
        }
        int pick = (int)ev.target;
        cpu_t *c = m->lp[pick];
        m->lp_event[pick] = 0;
        if (cpu_halted(c) && ev.time > cpu_cycles(c))
            cpu_advance_cycles(c, ev.time);     /* a halted LP's clock catches up when it wakes */
        uint64_t budget = m->cfg.quantum;
        if (m->cfg.sched_seed) {
            /* Schedule exploration: a deterministic pseudo-random quantum in
             * [q/2, 3q/2) from the seed (splitmix64). */
            uint64_t z = (m->sched_state += 0x9E3779B97F4A7C15ull);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            z ^= z >> 31;
            budget = m->cfg.quantum / 2 + z % (m->cfg.quantum ? m->cfg.quantum : 1) + 1;
        }
        if (m->cfg.max_insns) {
            uint64_t done = total_insns(m);
            if (done >= m->cfg.max_insns) {
                end(m, r, MEND_INSN_LIMIT, EXIT_STATUS_INSN_LIMIT, (unsigned)pick,
                    "instruction limit reached (%llu instructions)", (unsigned long long)done);
                break;
            }
            if (m->cfg.max_insns - done < budget)
                budget = m->cfg.max_insns - done;
        }
        m->running = pick;
        enum cpu_stop st = cpu_run(c, budget);
        m->running = -1;
        if (m->cfg.max_cycles && cpu_cycles(c) >= m->cfg.max_cycles && st == CPU_STOP_BUDGET) {
            end(m, r, MEND_CYCLE_LIMIT, EXIT_STATUS_CYCLE_LIMIT, (unsigned)pick,
                "cycle limit reached (LP %d at cycle %llu)", pick, (unsigned long long)cpu_cycles(c));
            break;
        }
        switch (st) {
        case CPU_STOP_BUDGET:
            schedule(m, (unsigned)pick, cpu_cycles(c));
            progress(m, &last);
            continue;
        case CPU_STOP_HALTED:
            schedule_wake(m, (unsigned)pick);
            progress(m, &last);
            continue;
        case CPU_STOP_PLATFORM:
            if (m->exit_shutdown_port)
                end(m, r, MEND_EXIT_DEVICE, 1, m->exit_lp, "the payload wrote \"Shutdown\" to port 0x8900");
            else
                end(m, r, MEND_EXIT_DEVICE, (int)(((m->exit_value << 1) | 1) & 0xFF), m->exit_lp,
                    "the payload wrote %u to the exit port (0xF4)", m->exit_value);
            break;
        case CPU_STOP_SHUTDOWN:
            if (cpu_shutdown_reason(c))
                end(m, r, MEND_TRIPLE_FAULT, EXIT_STATUS_TRIPLE_FAULT, (unsigned)pick, "shutdown of LP %d: %s", pick,
                    cpu_shutdown_reason(c));
            else
                end(m, r, MEND_TRIPLE_FAULT, EXIT_STATUS_TRIPLE_FAULT, (unsigned)pick,
                    "triple fault on LP %d at RIP %#llx (shutdown)", pick, (unsigned long long)cpu_get(c, CPU_RIP));
            break;
        case CPU_STOP_UNMODELLED:
            end(m, r, MEND_UNMODELLED, EXIT_STATUS_UNMODELLED, (unsigned)pick, "not modelled (LP %d): %s",
                pick, cpu_message(c));
            break;
        case CPU_STOP_INTERNAL:
        default:
            end(m, r, MEND_INTERNAL, EXIT_STATUS_INTERNAL, (unsigned)pick, "internal error (LP %d): %s",
                pick, cpu_message(c));
            break;
        }
        break;
    }
    if (m->cfg.progress)
        fprintf(m->cfg.progress, "%*s\r", 70, "");
    if (m->cfg.console)
        fflush(m->cfg.console);
    if (m->trace) {
        trace_err te = trace_finish(m->trace, tend_of[r->end], (uint32_t)r->status, r->insns, r->cycles,
                                    r->reason);
        m->trace = NULL;
        if (te != TRACE_OK && r->end != MEND_INTERNAL)
            snprintf(r->reason + strlen(r->reason), sizeof(r->reason) - strlen(r->reason),
                     " (and writing the trace failed: %s)", trace_strerror(te));
    }
}
