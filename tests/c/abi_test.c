/* Exercises the AgDiag C ABI as a C caller would: analyze, findings, fix script, error paths.
 * Usage: abi_test <examples/snapshots directory>. Prints "N passed, N failed"; exit 1 on failure.
 * Run under valgrind by tests/c_abi.rs: every allocation is freed on every path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agdiag.h"

static int passed = 0, failed = 0;

#define CHECK(cond, what)                                                   \
    do {                                                                    \
        if (cond) { passed++; }                                             \
        else { failed++; fprintf(stderr, "FAIL %s:%d %s\n", __FILE__, __LINE__, what); } \
    } while (0)

static char *read_file(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    if (buf) buf[n] = '\0';
    fclose(f);
    return buf;
}

static void analyze_example(const char *dir, const char *name, int expect_errors) {
    char *json = read_file(dir, name);
    AgdiagReport *report = NULL;
    char *findings = NULL, *script = NULL, *subset = NULL, *snapshot = NULL, *conn = NULL, *html = NULL;
    CHECK(json != NULL, name);
    if (!json) goto cleanup;

    report = agdiag_analyze(json, "{\"generated_at\":\"2026-11-22T10:20:00Z\"}");
    CHECK(report != NULL, "agdiag_analyze returns a report");
    CHECK(agdiag_last_error() == NULL, "no last error after success");
    if (!report) goto cleanup;

    findings = agdiag_report_findings_json(report);
    CHECK(findings && strstr(findings, "\"format\": \"agdiag.findings/1\""), "findings JSON has its format");
    CHECK(findings && (strstr(findings, "\"severity\": \"error\"") != NULL) == expect_errors, "error findings as expected");

    script = agdiag_report_fix_script(report, NULL);
    CHECK(script && strncmp(script, "--- YOU MUST EXECUTE THE FOLLOWING SCRIPT IN SQLCMD MODE.", 57) == 0, "script header");
    CHECK(script && strstr(script, ":on error exit") != NULL, "script stops on error");
    CHECK(script && (strstr(script, ":Connect ") != NULL) == expect_errors, ":Connect blocks as expected");

    subset = agdiag_report_fix_script(report, "{\"findings\":[\"no-such-finding\"]}");
    CHECK(subset && strstr(subset, "Nothing to fix") != NULL, "script for an unknown id is empty");

    snapshot = agdiag_report_snapshot_json(report);
    CHECK(snapshot && strstr(snapshot, "agdiag.snapshot/1") != NULL, "snapshot round trip");

    conn = agdiag_check_connection_string("Server=tcp:AG1-LISTENER,1433;Database=SalesDB;ApplicationIntent=ReadOnly;MultiSubnetFailover=True", report);
    CHECK(conn && conn[0] == '[', "connection string check returns a JSON array");

    html = agdiag_report_html(report, "{\"title\": \"AG1 <ticket>\"}");
    CHECK(html && strncmp(html, "<!DOCTYPE html>", 15) == 0, "HTML report is a page");
    CHECK(html && strstr(html, "<title>AG1 &lt;ticket&gt;</title>") != NULL, "HTML title is escaped");
    CHECK(html && strstr(html, "data-replica=\"SQL3\"") != NULL, "HTML draws every replica");

cleanup:
    agdiag_string_free(html);
    agdiag_string_free(conn);
    agdiag_string_free(snapshot);
    agdiag_string_free(subset);
    agdiag_string_free(script);
    agdiag_string_free(findings);
    agdiag_report_free(report);
    free(json);
}

/* The timeline of the failover example: entries in UTC order and its two failovers. */
static void timeline_example(const char *dir) {
    char *json = read_file(dir, "failover-3-replica.json");
    AgdiagReport *report = NULL;
    char *timeline = NULL, *findings = NULL;
    CHECK(json != NULL, "failover-3-replica.json");
    if (!json) goto cleanup;
    report = agdiag_analyze(json, NULL);
    CHECK(report != NULL, "the failover example analyzes");
    if (!report) goto cleanup;

    timeline = agdiag_report_timeline_json(report);
    CHECK(timeline && strstr(timeline, "\"until\": \"2026-11-22T10:15:00.000Z\"") != NULL, "window ends at collected_at");
    CHECK(timeline && strstr(timeline, "\"kind\": \"lease_expired\"") != NULL, "lease expiration in the timeline");
    CHECK(timeline && strstr(timeline, "\"cause\": \"lease_expired\"") != NULL, "the failover's cause");
    CHECK(timeline && strstr(timeline, "\"kind\": \"planned\"") != NULL, "the planned failback");

    findings = agdiag_report_findings_json(report);
    CHECK(findings && strstr(findings, "\"timeline\": {") != NULL, "findings JSON carries the timeline");
    CHECK(findings && strstr(findings, "history.failover@SQL2/AG1") != NULL, "history.failover finding");

cleanup:
    agdiag_string_free(findings);
    agdiag_string_free(timeline);
    agdiag_report_free(report);
    free(json);
}

static void error_paths(void) {
    const char *err;
    AgdiagReport *r;
    char *s;

    r = agdiag_analyze(NULL, NULL);
    err = agdiag_last_error();
    CHECK(r == NULL && err && strstr(err, "snapshot_json is NULL"), "NULL snapshot is rejected by name");

    r = agdiag_analyze("{\"format\": ", NULL);
    err = agdiag_last_error();
    CHECK(r == NULL && err && strstr(err, "line 1 column"), "invalid JSON names the position");

    r = agdiag_analyze("{\"format\":\"agdiag.snapshot/9\",\"instances\":[]}", NULL);
    err = agdiag_last_error();
    CHECK(r == NULL && err && strstr(err, "agdiag.snapshot/9"), "wrong format is named");

    r = agdiag_analyze("\xff\xfe not utf-8", NULL);
    err = agdiag_last_error();
    CHECK(r == NULL && err && strstr(err, "UTF-8"), "invalid UTF-8 is rejected");

    r = agdiag_analyze("{\"format\":\"agdiag.snapshot/1\",\"instances\":[]}", "{\"bogus\":1}");
    err = agdiag_last_error();
    CHECK(r == NULL && err && strstr(err, "bogus"), "unknown option is named");

    s = agdiag_report_findings_json(NULL);
    CHECK(s == NULL && agdiag_last_error() != NULL, "NULL report is rejected");
    s = agdiag_report_fix_script(NULL, NULL);
    CHECK(s == NULL, "NULL report for the script is rejected");
    s = agdiag_report_timeline_json(NULL);
    err = agdiag_last_error();
    CHECK(s == NULL && err && strstr(err, "report is NULL"), "NULL report for the timeline is rejected");
    s = agdiag_report_html(NULL, NULL);
    err = agdiag_last_error();
    CHECK(s == NULL && err && strstr(err, "report is NULL"), "NULL report for the HTML is rejected");

    s = agdiag_explain_error_json(1418);
    CHECK(s != NULL || agdiag_last_error() != NULL, "explain answers or says why");
    agdiag_string_free(s);
    s = agdiag_explain_error_json(-5);
    CHECK(s == NULL && agdiag_last_error() != NULL, "unknown error number is reported");

    s = agdiag_checks_json();
    CHECK(s && s[0] == '[' && strstr(s, "hadr.disabled"), "check catalog");
    agdiag_string_free(s);

    CHECK(strlen(agdiag_version()) > 0, "version");

    /* Freeing NULL is always allowed. */
    agdiag_report_free(NULL);
    agdiag_string_free(NULL);
    passed++;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s <examples/snapshots dir>\n", argv[0]);
        return 2;
    }
    analyze_example(argv[1], "healthy-3-replica.json", 0);
    analyze_example(argv[1], "broken-3-replica.json", 1);
    timeline_example(argv[1]);
    error_paths();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
