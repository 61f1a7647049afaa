/*
 * trace_dump.c — `hvsim trace dump`: one text line per record, instruction
 * records disassembled with Capstone. The format is for people (and for
 * diffing), not a contract; docs/trace-format.md shows examples.
 */
#include <capstone/capstone.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "svm.h"
#include "svm_exits.h"
#include "trace.h"

static const char *vector_name(unsigned v)
{
    static const char *const n[32] = {
        "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP", "#SS",
        "#GP", "#PF", "15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
    };
    return v < 32 && n[v] ? n[v] : "INT";
}

static void quoted(char *out, size_t n, const uint8_t *s, unsigned len)
{
    size_t o = 0;
    if (n < 4)
        return;
    out[o++] = '"';
    for (unsigned i = 0; i < len && o + 6 < n; i++) {
        uint8_t c = s[i];
        if (c == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
        else if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
        else if (c >= 32 && c < 127) out[o++] = (char)c;
        else o += (size_t)snprintf(out + o, n - o, "\\x%02x", c);
    }
    out[o++] = '"';
    out[o] = 0;
}

static int field(const struct trace_record *r, const char *name, uint64_t *v)
{
    int i = trace_field_index(r->type, name);
    if (i < 0)
        return 0;
    *v = r->field[i];
    return 1;
}

#define F(name) ({ uint64_t _v = 0; field(rec, name, &_v); _v; })

void trace_format_record(const struct trace_record *rec, char *buf, size_t n)
{
    char q[TRACE_MAX_VAR * 4 + 4];
    int o = snprintf(buf, n, "%12" PRIu64 " lp%-2u ", rec->cycle, rec->lp);
    if (o < 0 || (size_t)o >= n)
        return;
    char *p = buf + o;
    size_t left = n - (size_t)o;
    switch (rec->type) {
    case TREC_EXCEPTION: {
        unsigned v = (unsigned)F("vector");
        static const char *const types[] = { "fault/trap", "INT n", "INT3/INTO", "external", "NMI", "INT1" };
        unsigned t = (unsigned)F("class");
        int k = snprintf(p, left, "exception %-4s vector=%u (%s) rip=%#" PRIx64, vector_name(v), v,
                         t < 6 ? types[t] : "?", F("rip"));
        if (F("has_ec") && k > 0 && (size_t)k < left)
            k += snprintf(p + k, left - (size_t)k, " ec=%#" PRIx64, F("ec"));
        if (v == 14 && k > 0 && (size_t)k < left)
            snprintf(p + k, left - (size_t)k, " cr2=%#" PRIx64, F("cr2"));
        break;
    }
    case TREC_CR_WRITE:
        snprintf(p, left, "cr-write   cr%" PRIu64 " %#" PRIx64 " -> %#" PRIx64 " rip=%#" PRIx64, F("cr"), F("old"),
                 F("new"), F("rip"));
        break;
    case TREC_MSR: {
        static const char *const res[] = { "ok", "#GP", "#GP (not modelled)" };
        unsigned r = (unsigned)F("result");
        snprintf(p, left, "%-10s msr=%#" PRIx64 " value=%#" PRIx64 " %s rip=%#" PRIx64,
                 F("write") ? "wrmsr" : "rdmsr", F("msr"), F("value"), r < 3 ? res[r] : "?", F("rip"));
        break;
    }
    case TREC_IO:
        snprintf(p, left, "%-10s port=%#" PRIx64 " size=%" PRIu64 " value=%#" PRIx64 " rip=%#" PRIx64,
                 F("dir") ? "out" : "in", F("port"), F("size"), F("value"), F("rip"));
        break;
    case TREC_CONSOLE:
        quoted(q, sizeof(q), rec->var, rec->nvar);
        snprintf(p, left, "console    port=%#" PRIx64 " %s", F("port"), q);
        break;
    case TREC_HALT:
        snprintf(p, left, "halt       rip=%#" PRIx64 " if=%" PRIu64, F("rip"), F("if"));
        break;
    case TREC_TLB_INVAL: {
        static const char *const k[] = { "?", "mov-cr3", "invlpg", "invpcid", "paging-bits", "invept", "invvpid",
                                         "vm-entry", "vm-exit" };
        unsigned kind = (unsigned)F("kind");
        snprintf(p, left, "tlb-inval  %s a=%#" PRIx64 " b=%#" PRIx64 " c=%#" PRIx64 " rip=%#" PRIx64,
                 kind < 9 ? k[kind] : "?", F("a"), F("b"), F("c"), F("rip"));
        break;
    }
    case TREC_TLB_FILL:
        snprintf(p, left, "tlb-fill   la=%#" PRIx64 " pa=%#" PRIx64 " gpa=%#" PRIx64 " vpid=%" PRIu64 " pcid=%" PRIu64
                 " size=%s flags=%#" PRIx64 " rip=%#" PRIx64, F("la"), F("pa"), F("gpa"), F("vpid"), F("pcid"),
                 F("size") == 21 ? "2M" : "4K", F("flags"), F("rip"));
        break;
    case TREC_INSN: {
        csh cs;
        cs_insn *ci = NULL;
        size_t cnt = 0;
        if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) == CS_ERR_OK) {
            cnt = cs_disasm(cs, rec->var, rec->nvar, F("rip"), 1, &ci);
            if (cnt)
                snprintf(p, left, "insn       #%" PRIu64 " %#" PRIx64 ": %s %s", F("index"), F("rip"),
                         ci[0].mnemonic, ci[0].op_str);
            cs_free(ci, cnt);
            cs_close(&cs);
        }
        if (!cnt)
            snprintf(p, left, "insn       #%" PRIu64 " %#" PRIx64 ": (undecodable)", F("index"), F("rip"));
        break;
    }
    case TREC_TRIPLE_FAULT:
        snprintf(p, left, "triple-fault delivering %s, then %s (ec=%#" PRIx64 ") rip=%#" PRIx64,
                 vector_name((unsigned)F("first")), vector_name((unsigned)F("second")), F("ec"), F("rip"));
        break;
    case TREC_UNMODELLED:
        quoted(q, sizeof(q), rec->var, rec->nvar);
        snprintf(p, left, "unmodelled rip=%#" PRIx64 " %s", F("rip"), q);
        break;
    case TREC_APIC: {
        static const char *const k[] = { "read", "write", "ipi", "timer", "eoi", "init", "sipi" };
        unsigned kind = (unsigned)F("kind");
        snprintf(p, left, "apic       %s reg=%#" PRIx64 " value=%#" PRIx64 " rip=%#" PRIx64, kind < 7 ? k[kind] : "?",
                 F("reg"), F("value"), F("rip"));
        break;
    }
    case TREC_VMX: {
        static const char *const outcomes[] = { "succeed", "fail-invalid", "fail-valid", "fault" };
        unsigned oc = (unsigned)F("outcome");
        char res[48];
        if (oc == 2)
            snprintf(res, sizeof(res), "fail-valid(%" PRIu64 ")", F("error"));
        else if (oc == 3)
            snprintf(res, sizeof(res), "fault(%s)", vector_name((unsigned)F("vector")));
        else
            snprintf(res, sizeof(res), "%s", oc < 4 ? outcomes[oc] : "?");
        snprintf(p, left, "vmx        %s %s operand=%#" PRIx64 " value=%#" PRIx64 " rip=%#" PRIx64,
                 cpu_virt_insn_name((unsigned)F("insn")), res, F("operand"), F("value"), F("rip"));
        break;
    }
    case TREC_VM_ENTRY:
        snprintf(p, left, "vm-entry   guest rip=%#" PRIx64, F("rip"));
        break;
    case TREC_VM_EXIT:
        snprintf(p, left, "vm-exit    reason=%" PRIu64 "%s qual=%#" PRIx64 " len=%" PRIu64 " info=%#" PRIx64
                 " guest rip=%#" PRIx64, F("reason") & 0xFFFF, (F("reason") >> 31) ? " (VM-entry failure)" : "",
                 F("qual"), F("len"), F("info"), F("rip"));
        break;
    case TREC_SVM_EXIT: {
        /* AMD APM vol. 2 appendix C: EXITCODE -1 is VMEXIT_INVALID */
        char chk[64] = "";
        if (F("check") != 0xFFFFFFFFu)
            snprintf(chk, sizeof(chk), " check=%" PRIu64 " (%s)", F("check"), svm_check_name((enum svm_check)F("check")));
        char nb[32];
        const char *name = svm_exit_name(F("code"), nb, sizeof(nb));
        snprintf(p, left, "svm-exit   code=%#" PRIx64 "%s%s%s info1=%#" PRIx64 " info2=%#" PRIx64 " intinfo=%#" PRIx64
                 "%s %srip=%#" PRIx64, F("code"), name ? " (" : "", name ? name : "", name ? ")" : "", F("info1"),
                 F("info2"), F("intinfo"), chk, F("code") == SVM_EXIT_INVALID ? "" : "guest ", F("rip"));
        break;
    }
    case TREC_END:
        quoted(q, sizeof(q), rec->var, rec->nvar);
        snprintf(p, left, "end        %s status=%" PRIu64 " insns=%" PRIu64 " records=%" PRIu64 " %s",
                 trace_end_name((unsigned)F("reason")), F("status"), F("insns"), F("records"), q);
        break;
    default:
        snprintf(p, left, "type-%u", rec->type);
        break;
    }
}

int trace_dump(const char *path, FILE *out, FILE *err)
{
    char msg[512];
    trace_reader_t *r;
    if (trace_open(path, &r, msg, sizeof(msg)) != TRACE_OK) {
        fprintf(err, "hvsim: trace dump: %s\n", msg);
        return 1;
    }
    const struct trace_config *c = trace_reader_config(r);
    fprintf(out, "# hvsim trace v%u, hvsim %s, profile %s, %u LP(s), seed %" PRIu64 ", memory %" PRIu64
            " MiB, payload %s%s\n", c->version, c->hvsim_version, c->profile, c->nlps, c->seed,
            c->mem_size >> 20, c->payload, (c->flags & TRACE_F_INSNS) ? ", instructions traced" : "");
    if (c->sched_seed)
        fprintf(out, "# quantum %" PRIu64 " varied by schedule seed %" PRIu64 "\n", c->quantum, c->sched_seed);
    struct trace_record *rec = malloc(sizeof(*rec));
    char *line = malloc(TRACE_MAX_VAR * 4 + 256);
    int rc = 0;
    if (!rec || !line) {
        fprintf(err, "hvsim: trace dump: out of memory\n");
        rc = 1;
    }
    while (!rc) {
        int k = trace_next(r, rec, msg, sizeof(msg));
        if (k < 0) {
            fprintf(err, "hvsim: trace dump: %s: %s\n", path, msg);
            rc = 1;
            break;
        }
        trace_format_record(rec, line, TRACE_MAX_VAR * 4 + 256);
        fprintf(out, "%s\n", line);
        if (k == 0)
            break;
    }
    free(rec);
    free(line);
    trace_close(r);
    return rc;
}
