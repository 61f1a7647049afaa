/* test_docs.c — the tables in docs/ that restate data tables must say the
 * same as the tables (cpu/cost.def, sim/trace_records.def): counts and
 * numbers come from the tables, and the docs may not drift. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

static char *slurp(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", HVSIM_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(s, 1, (size_t)n, f), n);
    s[n] = 0;
    fclose(f);
    return s;
}

static const struct { const char *name; unsigned cycles; const char *desc; } cost_rows[] = {
#define X(name, cycles, desc) { #name, cycles, desc },
#include "cost.def"
#undef X
};

START_TEST(cost_model_table_matches_cost_def)
{
    char *doc = slurp("docs/cost-model.md");
    unsigned rows = 0;
    for (char *line = strtok(doc, "\n"); line; line = strtok(NULL, "\n")) {
        char name[64], desc[256];
        unsigned cycles;
        if (sscanf(line, "| %63[A-Z_0-9] | %u | %255[^|]|", name, &cycles, desc) != 3)
            continue;
        size_t dl = strlen(desc);
        while (dl && desc[dl - 1] == ' ')
            desc[--dl] = 0;
        ck_assert_msg(rows < sizeof(cost_rows) / sizeof(cost_rows[0]), "docs list more rows than cost.def");
        ck_assert_msg(!strcmp(name, cost_rows[rows].name), "row %u: docs say %s, cost.def says %s", rows, name,
                      cost_rows[rows].name);
        ck_assert_msg(cycles == cost_rows[rows].cycles, "%s: docs say %u cycles, cost.def %u", name, cycles,
                      cost_rows[rows].cycles);
        ck_assert_msg(!strcmp(desc, cost_rows[rows].desc), "%s: description differs", name);
        rows++;
    }
    ck_assert_msg(rows == sizeof(cost_rows) / sizeof(cost_rows[0]), "docs list %u of %zu cost rows", rows,
                  sizeof(cost_rows) / sizeof(cost_rows[0]));
    free(doc);
}
END_TEST

static const struct { const char *name; unsigned code; int var; const char *fields; } rec_rows[] = {
#define X(name, code, var, fields) { #name, code, var, fields },
#include "trace_records.def"
#undef X
};

START_TEST(trace_format_table_matches_records_def)
{
    char *doc = slurp("docs/trace-format.md");
    unsigned rows = 0;
    for (char *line = strtok(doc, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned code;
        char name[64], var[8], fields[256];
        if (sscanf(line, "| %u | %63[A-Z_] | %7[a-z] | %255[^|]|", &code, name, var, fields) != 4)
            continue;
        size_t fl = strlen(fields);
        while (fl && fields[fl - 1] == ' ')
            fields[--fl] = 0;
        ck_assert_msg(rows < sizeof(rec_rows) / sizeof(rec_rows[0]), "docs list more record types");
        ck_assert_msg(code == rec_rows[rows].code && !strcmp(name, rec_rows[rows].name),
                      "row %u: docs say %u %s, trace_records.def says %u %s", rows, code, name,
                      rec_rows[rows].code, rec_rows[rows].name);
        ck_assert_msg(!strcmp(var, rec_rows[rows].var ? "yes" : "no"), "%s: var column differs", name);
        ck_assert_msg(!strcmp(fields, rec_rows[rows].fields), "%s: docs fields '%s', def '%s'", name, fields,
                      rec_rows[rows].fields);
        rows++;
    }
    ck_assert_msg(rows == sizeof(rec_rows) / sizeof(rec_rows[0]), "docs list %u of %zu record types", rows,
                  sizeof(rec_rows) / sizeof(rec_rows[0]));
    free(doc);
}
END_TEST

/* docs/scenario-schema.md lists each event type with the trace record's
 * fields (without padding): the same names, in the same order, for every
 * record type but END. */
START_TEST(scenario_schema_fields_match_records_def)
{
    char *doc = slurp("docs/scenario-schema.md");
    char *table = strstr(doc, "| `type` | fields |");
    ck_assert_msg(table != NULL, "docs/scenario-schema.md has no event type table");
    unsigned rows = 0;
    for (char *line = strtok(table, "\n"); line && line[0] == '|'; line = strtok(NULL, "\n")) {
        char type[64], fields[256];
        if (sscanf(line, "| `%63[a-z-]` | `%255[^`]` |", type, fields) != 2)
            continue;
        char upper[64];
        size_t i = 0;
        for (; type[i] && i + 1 < sizeof(upper); i++)
            upper[i] = type[i] == '-' ? '_' : (char)(type[i] - 'a' + 'A');
        upper[i] = 0;
        int found = -1;
        for (unsigned k = 0; k < sizeof(rec_rows) / sizeof(rec_rows[0]); k++)
            if (!strcmp(rec_rows[k].name, upper))
                found = (int)k;
        ck_assert_msg(found >= 0, "docs list event type '%s': no such record type", type);
        /* "rip:8 vector:1 _:1 ..." -> "rip vector ..." */
        char want[256] = "";
        char def[256];
        snprintf(def, sizeof(def), "%s", rec_rows[found].fields);
        char *save = NULL;
        for (char *f = strtok_r(def, " ", &save); f; f = strtok_r(NULL, " ", &save)) {
            char *colon = strchr(f, ':');
            if (colon)
                *colon = 0;
            if (!strcmp(f, "_"))
                continue;
            if (want[0])
                strcat(want, " ");
            strcat(want, f);
        }
        ck_assert_msg(!strcmp(fields, want), "%s: docs say fields '%s', trace_records.def '%s'", type, fields, want);
        rows++;
    }
    ck_assert_msg(rows == sizeof(rec_rows) / sizeof(rec_rows[0]) - 1, "docs list %u event types, expected %zu", rows,
                  sizeof(rec_rows) / sizeof(rec_rows[0]) - 1);
    free(doc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("docs");
    TCase *t = tcase_create("tables");
    tcase_add_test(t, cost_model_table_matches_cost_def);
    tcase_add_test(t, trace_format_table_matches_records_def);
    tcase_add_test(t, scenario_schema_fields_match_records_def);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
