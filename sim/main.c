/*
 * main.c — the hvsim command line: run, trace dump/digest, cost-model,
 * version. Bad arguments get a one-line message naming the argument and
 * exit status 64 (docs/exit-status.md).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_cmd.h"
#include "differential.h"
#include "numparse.h"
#include "machine.h"
#include "scenario.h"
#include "svm.h"
#include "trace.h"

static const char usage_main[] =
    "usage: hvsim <command> [options]\n"
    "\n"
    "hvsim is a deterministic, instruction-level x64 virtualization simulator.\n"
    "\n"
    "commands:\n"
    "  run [options] FILE.elf    boot an ELF64 payload (docs/boot-protocol.md)\n"
    "  run --multiboot KERNEL    boot a Multiboot v1 kernel (docs/multiboot.md)\n"
    "  run [options] FILE.xml    run one scenario and check its expectations\n"
    "  check [options] PATH...   run every scenario under PATH (docs/scenario-schema.md)\n"
    "  differential PATH...      compare transcripts with QEMU and Bochs (docs/differential.md)\n"
    "  trace dump FILE           print a trace, one line per record\n"
    "  trace digest FILE         check a trace and print its SHA-256\n"
    "  cpu-list                  list the CPU profiles (same as run --cpu list)\n"
    "  cost-model                print the cycle costs the virtual clock uses\n"
    "  version                   print the version\n"
    "\n"
    "Run 'hvsim <command> --help' for the options of a command.\n";

static const char usage_run[] =
    "usage: hvsim run [options] FILE.elf\n"
    "       hvsim run [options] --multiboot KERNEL [--append STR] [--module FILE[,STRING]]...\n"
    "       hvsim run [--trace FILE [--trace-insns]] [--quiet] SCENARIO.xml\n"
    "\n"
    "Boot FILE.elf in 64-bit mode (docs/boot-protocol.md), send its console output\n"
    "(port 0xE9 and COM1) to stdout, and exit with the payload's status: a value v\n"
    "written to port 0xF4 exits with (v << 1) | 1; other ends of the run exit with\n"
    "an even status and a one-line reason on stderr (docs/exit-status.md).\n"
    "\n"
    "With --multiboot, boot KERNEL (a 32-bit ELF or an a.out-kludge image with a\n"
    "Multiboot v1 header) in 32-bit protected mode as a Multiboot loader would,\n"
    "with its modules; the other processors stay parked (docs/multiboot.md).\n"
    "\n"
    "Given a scenario (docs/scenario-schema.md), run it as `hvsim check` would,\n"
    "show its console output, and exit 0 if every expectation holds, 1 if one\n"
    "fails (it is named, with the trace records around it), 64 if it cannot run.\n"
    "\n"
    "options:\n"
    "  --lps N            logical processors (default 1, at most 64)\n"
    "  --mem SIZE         RAM, e.g. 256M, 4G, 64G (default 256M; untouched memory is free)\n"
    "  --cpu NAME         CPU profile: intel (default), amd, or a name from --cpu list\n"
    "  --seed N           seed for RDRAND/RDSEED (default 0)\n"
    "  --trace FILE       record a trace (docs/trace-format.md)\n"
    "  --trace-insns      also record every retired instruction (slow)\n"
    "  --max-insns N      stop after N instructions (status 6)\n"
    "  --max-cycles N     stop when an LP's clock reaches N cycles (status 8)\n"
    "  --quantum N        instructions per LP turn (default 10000)\n"
    "  --sched-seed S     vary each turn's length in [q/2, 3q/2) pseudo-randomly from seed S,\n"
    "                     to explore other interleavings (still deterministic per seed)\n"
    "  --cmdline STR      command line passed in the boot information block\n"
    "  --multiboot KERNEL boot KERNEL by Multiboot v1 instead of FILE.elf\n"
    "  --append STR       Multiboot: the kernel's command line is \"KERNEL STR\"\n"
    "  --module FILE[,STRING]\n"
    "                     Multiboot: load FILE as the next boot module (repeatable, at most\n"
    "                     64); its string is STRING, or FILE when there is no comma\n"
    "  --vmx-cap MSR=VALUE|MSR=absent\n"
    "                     override a VMX capability MSR of the profile (0x480..0x493,\n"
    "                     repeatable, docs/vmx.md), e.g. --vmx-cap 0x48b=absent\n"
    "  --svm-cap NAME=VALUE\n"
    "                     override an AMD-V capability of the profile (CPUID Fn8000_000A;\n"
    "                     repeatable, docs/svm.md): revision (EAX, 0..0xff), asids (EBX,\n"
    "                     2..65536) or features (EDX: only bits of what hvsim models, so\n"
    "                     features can be taken away), e.g. --cpu amd --svm-cap features=0x9\n"
    "  --tlb retain|flush-always\n"
    "                     translation-cache policy (docs/ept.md): retain (default) keeps a\n"
    "                     cached translation until an invalidation removes it, so a missing\n"
    "                     INVEPT/INVVPID shows; flush-always empties the cache at every VM\n"
    "                     entry and exit and INVEPT/INVVPID\n"
    "  --quiet            do not print the payload's console output\n"
    "  --no-progress      no progress line on stderr (default: shown on a terminal)\n"
    "  -h, --help         this text\n";

static const char usage_check[] =
    "usage: hvsim check [options] PATH...\n"
    "\n"
    "Run every scenario file (*.xml) under the given files and directories, in\n"
    "sorted order, each in its own process; print one line per scenario, the\n"
    "first failed expectation of each failure with the trace records around it,\n"
    "and a summary. Exit status 0 when all pass, 1 otherwise, 64 on bad usage.\n"
    "\n"
    "options:\n"
    "  -j N               run N scenarios at a time (default: 1)\n"
    "  --junit FILE       also write the results as JUnit XML\n"
    "  --shard I/N        run only every N-th scenario starting at the I-th (1-based),\n"
    "                     so that N CI jobs share a suite\n"
    "  --determinism      run each scenario twice and require identical traces\n"
    "  --payload-dir DIR  where built payloads (NAME.elf) are (default: the payloads/\n"
    "                     directory next to the hvsim binary)\n"
    "  --keep-traces DIR  keep each scenario's trace as DIR/PATH.hvt (the\n"
    "                     scenario's path with '/' written as '_')\n"
    "  --timeout SEC      stop a scenario that runs longer than SEC host seconds (default 600)\n"
    "  --list             only list the scenarios that would run\n"
    "  -v, --verbose      also say how each passing run ended\n"
    "  -h, --help         this text\n";

static const char usage_trace[] =
    "usage: hvsim trace dump FILE\n"
    "       hvsim trace digest FILE\n"
    "\n"
    "dump    print every record of a trace as text; instruction records are\n"
    "        disassembled. A corrupted or truncated file is reported with the\n"
    "        offset of the first bad record (exit status 1).\n"
    "digest  validate the whole trace and print its SHA-256 (for determinism\n"
    "        checks: the same run twice gives the same digest).\n";

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hvsim: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'hvsim --help')\n");
    return EXIT_STATUS_USAGE;
}

/* The payloads/ directory next to this executable (the build tree layout). */
static char *default_payload_dir(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 16);
    if (n <= 0)
        return strdup("payloads");
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    size_t len = strlen(exe) + 16;
    char *d = malloc(len);
    if (d)
        snprintf(d, len, "%s/payloads", exe);
    return d;
}

static void list_profiles(FILE *f)
{
    fprintf(f, "CPU profiles (--cpu NAME; 'intel' and 'amd' name each vendor's default):\n");
    for (unsigned i = 0; cpu_profile_at(i); i++) {
        const struct cpu_profile *p = cpu_profile_at(i);
        fprintf(f, "  %-14s %s  %s\n", cpu_profile_name(p), cpu_profile_vendor(p), cpu_profile_description(p));
    }
}

static int cmd_run(int argc, char **argv)
{
    struct machine_config cfg = { .nlps = 1, .mem_size = MACHINE_DEFAULT_MEM, .quantum = MACHINE_DEFAULT_QUANTUM,
                                  .console = stdout, .progress = isatty(2) ? stderr : NULL, .notes = stderr };
    enum { O_LPS = 256, O_MEM, O_CPU, O_SEED, O_TRACE, O_TINSNS, O_MAXI, O_MAXC, O_QUANTUM, O_CMDLINE,
           O_QUIET, O_NOPROG, O_SCHED, O_MULTIBOOT, O_APPEND, O_MODULE, O_VMXCAP, O_SVMCAP, O_TLB };
    static const struct option opts[] = {
        { "lps", required_argument, 0, O_LPS }, { "mem", required_argument, 0, O_MEM },
        { "cpu", required_argument, 0, O_CPU }, { "seed", required_argument, 0, O_SEED },
        { "trace", required_argument, 0, O_TRACE }, { "trace-insns", no_argument, 0, O_TINSNS },
        { "max-insns", required_argument, 0, O_MAXI }, { "max-cycles", required_argument, 0, O_MAXC },
        { "quantum", required_argument, 0, O_QUANTUM }, { "cmdline", required_argument, 0, O_CMDLINE },
        { "quiet", no_argument, 0, O_QUIET }, { "no-progress", no_argument, 0, O_NOPROG },
        { "sched-seed", required_argument, 0, O_SCHED }, { "multiboot", required_argument, 0, O_MULTIBOOT },
        { "append", required_argument, 0, O_APPEND }, { "module", required_argument, 0, O_MODULE },
        { "vmx-cap", required_argument, 0, O_VMXCAP }, { "svm-cap", required_argument, 0, O_SVMCAP },
        { "tlb", required_argument, 0, O_TLB },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    static struct mb_options mb;        /* static: 64 module slots */
    memset(&mb, 0, sizeof(mb));
    optind = 1;
    opterr = 0;
    int c;
    uint64_t v;
    const char *machine_opt = NULL;      /* a machine option given (not allowed with a scenario) */
    int li = -1;
    while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        if ((c == O_LPS || c == O_MEM || c == O_CPU || c == O_SEED || c == O_MAXI || c == O_MAXC ||
             c == O_QUANTUM || c == O_CMDLINE || c == O_SCHED || c == O_VMXCAP || c == O_SVMCAP || c == O_TLB) &&
            li >= 0)
            machine_opt = opts[li].name;
        switch (c) {
        case 'h':
            fputs(usage_run, stdout);
            return 0;
        case O_LPS:
            if (!parse_number(optarg, &v) || v == 0 || v > MACHINE_MAX_LPS)
                return bad_usage("--lps: '%s' is not a number of logical processors between 1 and 64", optarg);
            cfg.nlps = (unsigned)v;
            break;
        case O_MEM:
            if (!parse_size(optarg, &cfg.mem_size) || cfg.mem_size < (2ull << 20) || (cfg.mem_size & 0xFFF))
                return bad_usage("--mem: '%s' is not a memory size of at least 2M in whole 4K pages (e.g. 512M)", optarg);
            break;
        case O_CPU:
            if (!strcmp(optarg, "list")) {
                list_profiles(stdout);
                return 0;
            }
            cfg.profile = cpu_profile_find(optarg);
            if (!cfg.profile)
                return bad_usage("--cpu: no CPU profile named '%s' (try --cpu list)", optarg);
            break;
        case O_SEED:
            if (!parse_number(optarg, &cfg.seed))
                return bad_usage("--seed: '%s' is not an unsigned number", optarg);
            break;
        case O_TRACE:
            cfg.trace_path = optarg;
            break;
        case O_TINSNS:
            cfg.trace_insns = true;
            break;
        case O_MAXI:
            if (!parse_number(optarg, &cfg.max_insns) || !cfg.max_insns)
                return bad_usage("--max-insns: '%s' is not a positive number", optarg);
            break;
        case O_MAXC:
            if (!parse_number(optarg, &cfg.max_cycles) || !cfg.max_cycles)
                return bad_usage("--max-cycles: '%s' is not a positive number", optarg);
            break;
        case O_QUANTUM:
            if (!parse_number(optarg, &cfg.quantum) || !cfg.quantum)
                return bad_usage("--quantum: '%s' is not a positive number", optarg);
            break;
        case O_CMDLINE:
            cfg.cmdline = optarg;
            break;
        case O_SCHED:
            if (!parse_number(optarg, &cfg.sched_seed))
                return bad_usage("--sched-seed: '%s' is not an unsigned number", optarg);
            break;
        case O_MULTIBOOT:
            mb.kernel = optarg;
            break;
        case O_APPEND:
            mb.append = optarg;
            break;
        case O_MODULE: {
            if (mb.nmods == MB_MAX_MODULES)
                return bad_usage("--module: more than %d modules", MB_MAX_MODULES);
            /* FILE[,STRING]: the first comma ends the file name; the string
             * is the rest, verbatim (docs/multiboot.md "Modules"). */
            char *comma = strchr(optarg, ',');
            if (comma == optarg)
                return bad_usage("--module: no file name before the comma in '%s'", optarg);
            if (comma)
                *comma = 0;
            mb.mods[mb.nmods].path = optarg;
            mb.mods[mb.nmods].string = comma ? comma + 1 : NULL;
            mb.nmods++;
            break;
        }
        case O_VMXCAP: {
            /* MSR=VALUE or MSR=absent */
            const char *eq = strchr(optarg, '=');
            uint64_t msr, val = 0;
            bool absent = eq && !strcmp(eq + 1, "absent");
            char name[32];
            size_t nl = eq ? (size_t)(eq - optarg) : 0;
            if (!eq || nl == 0 || nl >= sizeof(name))
                return bad_usage("--vmx-cap: expected MSR=VALUE or MSR=absent, got '%s'", optarg);
            memcpy(name, optarg, nl);
            name[nl] = 0;
            if (!parse_number(name, &msr) || msr > 0xFFFFFFFFu)
                return bad_usage("--vmx-cap: '%s' is not an MSR number", name);
            if (!absent && !parse_number(eq + 1, &val))
                return bad_usage("--vmx-cap: '%s' is not a number (or 'absent')", eq + 1);
            if (cfg.nvmx_caps >= sizeof(cfg.vmx_caps) / sizeof(cfg.vmx_caps[0]))
                return bad_usage("--vmx-cap: at most %zu overrides", sizeof(cfg.vmx_caps) / sizeof(cfg.vmx_caps[0]));
            cfg.vmx_caps[cfg.nvmx_caps++] = (struct machine_vmx_cap){ (uint32_t)msr, !absent, val };
            break;
        }
        case O_SVMCAP: {
            /* NAME=VALUE; the value is checked here (it does not depend on
             * the profile), the profile when the machine is made */
            const char *eq = strchr(optarg, '=');
            uint64_t val;
            if (!eq || eq == optarg)
                return bad_usage("--svm-cap: expected NAME=VALUE (revision, asids or features), got '%s'", optarg);
            if (!parse_number(eq + 1, &val))
                return bad_usage("--svm-cap %s: '%s' is not a number", optarg, eq + 1);
            char *name = strndup(optarg, (size_t)(eq - optarg));
            struct svm_caps scratch = { 0 };
            char why[400];
            if (!name)
                snprintf(why, sizeof(why), "out of memory");
            bool ok = name && svm_caps_override(&scratch, name, val, why, sizeof(why));
            struct machine_svm_cap sc = { .value = val };
            if (ok)
                snprintf(sc.name, sizeof(sc.name), "%s", name);     /* the valid names fit */
            free(name);
            if (!ok)
                return bad_usage("--svm-cap: %s", why);
            if (cfg.nsvm_caps >= sizeof(cfg.svm_caps) / sizeof(cfg.svm_caps[0]))
                return bad_usage("--svm-cap: at most %zu overrides", sizeof(cfg.svm_caps) / sizeof(cfg.svm_caps[0]));
            cfg.svm_caps[cfg.nsvm_caps++] = sc;
            break;
        }
        case O_TLB:
            if (!strcmp(optarg, "flush-always"))
                cfg.tlb_flush_always = true;
            else if (!strcmp(optarg, "retain"))
                cfg.tlb_flush_always = false;
            else
                return bad_usage("--tlb: expected 'retain' or 'flush-always', got '%s'", optarg);
            break;
        case O_QUIET:
            cfg.console = NULL;
            break;
        case O_NOPROG:
            cfg.progress = NULL;
            break;
        default:
            return bad_usage("run: unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (mb.kernel) {
        if (optind < argc)
            return bad_usage("run: --multiboot names the kernel; '%s' is one file too many", argv[optind]);
        if (cfg.cmdline)
            return bad_usage("--cmdline belongs to the native boot protocol; with --multiboot use --append%s", "");
    } else {
        if (mb.append || mb.nmods)
            return bad_usage("%s needs --multiboot KERNEL", mb.append ? "--append" : "--module");
        if (optind != argc - 1)
            return bad_usage("run: %s", optind >= argc ? "name one ELF64 payload file" : "more than one payload file given");
    }
    size_t alen = mb.kernel ? 0 : strlen(argv[optind]);
    if (alen > 4 && !strcmp(argv[optind] + alen - 4, ".xml")) {
        /* A scenario: its <machine> and <payload> elements set the machine. */
        if (machine_opt)
            return bad_usage("run: %s is a scenario; its <machine> element sets the machine, so drop the "
                             "machine options (such as --%s)", argv[optind], machine_opt);
        char err[700];
        struct scenario *scn = scenario_load(argv[optind], err, sizeof(err));
        if (!scn) {
            fprintf(stderr, "hvsim: %s\n", err);
            return EXIT_STATUS_USAGE;
        }
        char *pd = default_payload_dir();
        struct scn_options so = { .payload_dir = pd, .trace_path = cfg.trace_path, .trace_insns = cfg.trace_insns,
                                  .echo_console = cfg.console != NULL, .progress = cfg.progress };
        struct scn_result res;
        scenario_run(scn, &so, &res);
        free(pd);
        int rc;
        if (res.setup_error) {
            fprintf(stderr, "hvsim: %s\n", res.message);
            rc = EXIT_STATUS_USAGE;
        } else if (res.pass) {
            fprintf(stderr, "hvsim: scenario %s: PASS (%s)\n", scn->name, res.end_text);
            rc = 0;
        } else {
            fprintf(stderr, "hvsim: scenario %s: FAIL: %s\n%s", scn->name, res.message, res.excerpt);
            rc = 1;
        }
        scenario_free(scn);
        return rc;
    }
    if (cfg.trace_insns && !cfg.trace_path)
        return bad_usage("--trace-insns needs --trace FILE%s", "");
    char msg[600];
    machine_t *m;
    if (!machine_create(&cfg, &m, msg, sizeof(msg))) {
        fprintf(stderr, "hvsim: %s\n", msg);
        return EXIT_STATUS_USAGE;
    }
    if (mb.kernel ? !machine_load_multiboot(m, &mb, msg, sizeof(msg)) : !machine_load_elf(m, argv[optind], msg, sizeof(msg))) {
        fprintf(stderr, "hvsim: %s\n", msg);
        machine_destroy(m);
        return EXIT_STATUS_USAGE;
    }
    struct machine_result r;
    machine_run(m, &r);
    if (r.end != MEND_EXIT_DEVICE)
        fprintf(stderr, "hvsim: %s\n", r.reason);
    if (r.unmodelled_msrs)
        fprintf(stderr, "hvsim: note: %llu RDMSR/WRMSR of MSRs hvsim does not model raised #GP(0) "
                "(MSR records with result \"not modelled\" in the trace)\n",
                (unsigned long long)r.unmodelled_msrs);
    machine_destroy(m);
    return r.status;
}

static int cmd_trace(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage_trace, stdout);
        return 0;
    }
    if (argc != 3)
        return bad_usage("trace: expected 'dump FILE' or 'digest FILE'%s", "");
    if (!strcmp(argv[1], "dump"))
        return trace_dump(argv[2], stdout, stderr);
    if (!strcmp(argv[1], "digest")) {
        char msg[512];
        trace_reader_t *r;
        if (trace_open(argv[2], &r, msg, sizeof(msg)) != TRACE_OK) {
            fprintf(stderr, "hvsim: trace digest: %s\n", msg);
            return 1;
        }
        struct trace_record *rec = malloc(sizeof(*rec));
        int k = 1;
        while (rec && (k = trace_next(r, rec, msg, sizeof(msg))) > 0)
            ;
        free(rec);
        trace_close(r);
        if (k < 0) {
            fprintf(stderr, "hvsim: trace digest: %s: %s\n", argv[2], msg);
            return 1;
        }
        char hex[65];
        if (!sha256_file(argv[2], hex)) {
            fprintf(stderr, "hvsim: trace digest: %s: %s\n", argv[2], strerror(errno));
            return 1;
        }
        printf("%s  %s\n", hex, argv[2]);
        return 0;
    }
    return bad_usage("trace: unknown subcommand '%s' (dump or digest)", argv[1]);
}

static int cmd_check(int argc, char **argv)
{
    struct check_options o = { .jobs = 1, .timeout = 600 };
    char *pd = NULL;
    enum { O_JUNIT = 256, O_SHARD, O_DET, O_PDIR, O_KEEP, O_TIMEOUT, O_LIST };
    static const struct option opts[] = {
        { "junit", required_argument, 0, O_JUNIT }, { "shard", required_argument, 0, O_SHARD },
        { "determinism", no_argument, 0, O_DET }, { "payload-dir", required_argument, 0, O_PDIR },
        { "keep-traces", required_argument, 0, O_KEEP }, { "timeout", required_argument, 0, O_TIMEOUT },
        { "list", no_argument, 0, O_LIST }, { "verbose", no_argument, 0, 'v' }, { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    optind = 1;
    opterr = 0;
    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, "hvj:", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(usage_check, stdout);
            return 0;
        case 'v':
            o.verbose = true;
            break;
        case 'j':
            if (!parse_number(optarg, &v) || v == 0 || v > 256)
                return bad_usage("-j: '%s' is not a number of jobs between 1 and 256", optarg);
            o.jobs = (unsigned)v;
            break;
        case O_JUNIT:
            o.junit = optarg;
            break;
        case O_SHARD: {
            unsigned i, n;
            char extra;
            if (sscanf(optarg, "%u/%u%c", &i, &n, &extra) != 2 || n == 0 || i == 0 || i > n)
                return bad_usage("--shard: '%s' is not I/N with 1 <= I <= N (e.g. 2/4)", optarg);
            o.shard_index = i;
            o.shard_count = n;
            break;
        }
        case O_DET:
            o.determinism = true;
            break;
        case O_PDIR:
            o.payload_dir = optarg;
            break;
        case O_KEEP:
            o.keep_traces = optarg;
            break;
        case O_TIMEOUT:
            if (!parse_number(optarg, &v) || v > 86400)
                return bad_usage("--timeout: '%s' is not a number of seconds (0 = none)", optarg);
            o.timeout = (unsigned)v;
            break;
        case O_LIST:
            o.list_only = true;
            break;
        default:
            return bad_usage("check: unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return bad_usage("check: name at least one scenario file or directory%s", "");
    if (!o.payload_dir)
        o.payload_dir = pd = default_payload_dir();
    int rc = check_run(argv + optind, (unsigned)(argc - optind), &o);
    free(pd);
    return rc;
}

static int cmd_cost_model(void)
{
    static const struct { const char *name; unsigned cycles; const char *desc; } rows[] = {
#define X(name, cycles, desc) { #name, cycles, desc },
#include "../cpu/cost.def"
#undef X
    };
    printf("%-14s %7s  %s\n", "event", "cycles", "what");
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        printf("%-14s %7u  %s\n", rows[i].name, rows[i].cycles, rows[i].desc);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_STATUS_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("hvsim %s\n", HVSIM_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "trace"))
        return cmd_trace(argc - 1, argv + 1);
    if (!strcmp(cmd, "check"))
        return cmd_check(argc - 1, argv + 1);
    if (!strcmp(cmd, "differential"))
        return differential_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "cpu-list")) {
        list_profiles(stdout);
        return 0;
    }
    if (!strcmp(cmd, "cost-model"))
        return cmd_cost_model();
    return bad_usage("unknown command '%s'", cmd);
}
