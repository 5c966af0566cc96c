/* cmd_audit.c - `keygate audit list`: reads the KMS decision log (SQLite) for operators;
 * `keygate audit verify` (cmd_audit_verify.c) checks it as an auditor. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit_verify.h"
#include "cli.h"
#include "devnet.h"
#include "keygate/audit.h"

static void audit_usage(FILE *out)
{
    fprintf(out,
            "Usage: keygate audit list [--state DIR | --db FILE] [--app ID] [--method NAME]\n"
            "                          [--decision allow|deny] [--since T] [--until T]\n"
            "                          [--json] [--limit N]\n\n"
            "Lists the KMS's key-release decisions, oldest first (the newest N with "
            "--limit).\n"
            "  --state DIR      a devnet's state directory (default ./%s): its KMS's log\n"
            "  --db FILE        the KMS audit database (config key 'audit_db')\n"
            "  --app ID         only decisions about this app (0x-address)\n"
            "  --method NAME    only this method (GetAppKey, SignCert, GetKmsKey, self-check)\n"
            "  --decision D     only 'allow' or only 'deny' decisions\n"
            "  --since T        only decisions at or after T, --until T only before T; T is\n"
            "                   RFC 3339 (2026-12-03T16:40:00Z, 2026-12-03T17:40:00+01:00) or\n"
            "                   Unix seconds\n"
            "  --json           one JSON array with every field (for scripts)\n"
            "  --limit N        only the newest N decisions (of those the filters keep)\n\n"
            "       keygate audit verify [...]  checks the verifiable log (see 'keygate audit "
            "verify --help')\n",
            KG_DEVNET_DEFAULT_DIR);
}

/* A column as printable text: rows written by older versions (or by hand) may hold anything. */
static const char *str_or(const json_t *row, const char *key, const char *dflt)
{
    static _Thread_local char buf[8][KG_AUDIT_MAX_FIELD + 1];
    static _Thread_local unsigned next;
    const char *s = json_string_value(json_object_get(row, key));
    if (s == NULL)
        return dflt;
    char *out = buf[next++ % 8];
    (void)kg_text_escape(out, sizeof(buf[0]), s, json_string_length(json_object_get(row, key)));
    return out;
}

/* T of --since/--until as Unix milliseconds: Unix seconds (digits only) or RFC 3339 with a
 * 'T', optional fractional seconds and 'Z' or a +HH:MM / -HH:MM offset. */
static kg_result parse_time(int64_t *ms, const char *flag, const char *text)
{
    size_t n = strlen(text);
    if (n > 0 && strspn(text, "0123456789") == n) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        KG_ENSURE(errno == 0 && v <= (unsigned long long)(INT64_MAX / 1000), KG_ERR_USAGE,
                  "%s '%s' is out of range", flag, text);
        *ms = (int64_t)v * 1000;
        return KG_OK;
    }
    /* YYYY-MM-DDTHH:MM:SS: digits where the layout has them, its separators elsewhere */
    static const char layout[] = "dddd-dd-ddTdd:dd:dd";
    bool shaped = n >= 19;
    for (size_t i = 0; shaped && i < 19; i++)
        shaped = layout[i] == 'd' ? (text[i] >= '0' && text[i] <= '9')
                                  : (text[i] == layout[i] || (i == 10 && text[i] == 't'));
    KG_ENSURE(shaped, KG_ERR_USAGE,
              "%s '%s' is neither RFC 3339 (2026-12-03T16:40:00Z) nor Unix seconds", flag, text);
#define DIGITS2(i) ((text[i] - '0') * 10 + (text[(i) + 1] - '0'))
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = DIGITS2(0) * 100 + DIGITS2(2) - 1900;
    tm.tm_mon = DIGITS2(5) - 1;
    tm.tm_mday = DIGITS2(8);
    tm.tm_hour = DIGITS2(11);
    tm.tm_min = DIGITS2(14);
    tm.tm_sec = DIGITS2(17);
#undef DIGITS2
    const char *p = text + 19;
    int frac_ms = 0, digits = 0;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        KG_ENSURE(digits > 0, KG_ERR_USAGE, "%s '%s': no digits after '.'", flag, text);
        for (; digits < 3; digits++)
            frac_ms *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':' &&
               strspn(p + 1, "0123456789") == 2 && strspn(p + 4, "0123456789") == 2) {
        int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');
        KG_ENSURE(hh < 24 && mm < 60, KG_ERR_USAGE, "%s '%s': bad UTC offset", flag, text);
        offset_s = (p[0] == '-' ? -1 : 1) * (int64_t)(hh * 3600 + mm * 60);
        p += 6;
    } else {
        KG_BAIL(KG_ERR_USAGE, "%s '%s': RFC 3339 needs 'Z' or an offset like +01:00", flag, text);
    }
    KG_ENSURE(*p == '\0', KG_ERR_USAGE, "%s '%s': unexpected '%s'", flag, text, p);
    /* timegm would move 2026-02-31 to March: refuse what does not exist */
    struct tm want = tm;
    time_t t = timegm(&tm);
    KG_ENSURE(t != (time_t)-1 && tm.tm_mday == want.tm_mday && tm.tm_mon == want.tm_mon &&
                  tm.tm_hour == want.tm_hour && tm.tm_min == want.tm_min && want.tm_sec < 60,
              KG_ERR_USAGE, "%s '%s' is not a date and time that exists", flag, text);
    *ms = ((int64_t)t - offset_s) * 1000 + frac_ms;
    return KG_OK;
}

static void print_table(const json_t *rows)
{
    printf("%-6s %-24s %-14s %-8s %-42s %-66s %-10s %s\n", "ID", "TIME (UTC)", "METHOD", "DECISION",
           "APP", "COMPOSE HASH", "BLOCK", "REASON");
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row)
    {
        json_int_t ms = json_integer_value(json_object_get(row, "time_ms"));
        time_t secs = (time_t)(ms / 1000);
        struct tm tm;
        char when[32] = "?";
        if (gmtime_r(&secs, &tm) != NULL)
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        const json_t *block = json_object_get(row, "block_number");
        char blockbuf[24] = "-";
        if (json_is_integer(block))
            snprintf(blockbuf, sizeof(blockbuf), "%lld", (long long)json_integer_value(block));
        printf("%-6lld %-24s %-14s %-8s %-42s %-66s %-10s %s\n",
               (long long)json_integer_value(json_object_get(row, "id")), when,
               str_or(row, "method", "?"), str_or(row, "decision", "?"), str_or(row, "app_id", "-"),
               str_or(row, "compose_hash", "-"), blockbuf, str_or(row, "reason", ""));
    }
}

/* keygate audit list (argv[0] is "list") */
static int cmd_list(int argc, char **argv)
{
    const char *db = NULL, *state = NULL, *app = NULL, *since = NULL, *until = NULL;
    kg_audit_filter filter;
    memset(&filter, 0, sizeof(filter));
    bool as_json = false;
    unsigned long limit = 0;
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"state", required_argument, NULL, 's'},
                                         {"app", required_argument, NULL, 'a'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"limit", required_argument, NULL, 'n'},
                                         {"method", required_argument, NULL, 'm'},
                                         {"decision", required_argument, NULL, 'D'},
                                         {"since", required_argument, NULL, 'S'},
                                         {"until", required_argument, NULL, 'U'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 's': state = optarg; break;
        case 'a': app = optarg; break;
        case 'j': as_json = true; break;
        case 'm': filter.method = optarg; break;
        case 'D':
            if (strcmp(optarg, "allow") != 0 && strcmp(optarg, "deny") != 0) {
                fprintf(stderr, "keygate audit list: --decision '%s' is not 'allow' or 'deny'\n",
                        optarg);
                return KG_EXIT_USAGE;
            }
            filter.decision = optarg;
            break;
        case 'S': since = optarg; break;
        case 'U': until = optarg; break;
        case 'n': {
            char *end = NULL;
            errno = 0;
            limit = strtoul(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || limit > UINT32_MAX) {
                fprintf(stderr, "keygate audit: --limit '%s' is not a count\n", optarg);
                return KG_EXIT_USAGE;
            }
            break;
        }
        case 'h': audit_usage(stdout); return KG_EXIT_OK;
        default: audit_usage(stderr); return KG_EXIT_USAGE;
        }
    }
    if (optind != argc || (db != NULL && state != NULL)) {
        fprintf(stderr, "keygate audit list: give --db FILE or --state DIR (not both)\n");
        return KG_EXIT_USAGE;
    }
    /* --app: the log stores app ids as 40 lowercase hex digits without 0x */
    char app_hex[41] = "";
    if (app != NULL) {
        uint8_t a[20];
        if (kg_failed(kg_hex_decode_exact(a, 20, app)) ||
            kg_failed(kg_hex_encode(app_hex, sizeof(app_hex), a, 20))) {
            fprintf(stderr, "keygate audit list: --app '%s' is not an app id (20-byte hex)\n", app);
            return KG_EXIT_USAGE;
        }
    }
    if (since != NULL) {
        if (kg_failed(parse_time(&filter.since_ms, "--since", since))) {
            fprintf(stderr, "keygate audit list: %s\n", kg_error_message());
            return KG_EXIT_USAGE;
        }
        filter.has_since = true;
    }
    if (until != NULL) {
        if (kg_failed(parse_time(&filter.until_ms, "--until", until))) {
            fprintf(stderr, "keygate audit list: %s\n", kg_error_message());
            return KG_EXIT_USAGE;
        }
        filter.has_until = true;
    }
    if (filter.has_since && filter.has_until && filter.until_ms <= filter.since_ms) {
        fprintf(stderr, "keygate audit list: --until '%s' is not after --since '%s'\n", until,
                since);
        return KG_EXIT_USAGE;
    }
    filter.app_id = app != NULL ? app_hex : NULL;
    filter.limit = (uint32_t)limit;
    char dir[PATH_MAX];
    json_t *doc = NULL;
    if (db == NULL) {
        if (kg_failed(kg_devnet_dir(dir, state)) || kg_failed(kg_devnet_load(&doc, dir)))
            return kg_cli_fail();
        db = kg_devnet_str(doc, "audit_db");
        if (db == NULL) {
            json_decref(doc);
            fprintf(stderr, "keygate audit list: devnet in '%s' has no KMS audit log yet\n", dir);
            return KG_EXIT_FAILED;
        }
    }
    kg_audit *audit = NULL;
    json_t *rows = NULL;
    if (kg_failed(kg_audit_open(&audit, db, true)) ||
        kg_failed(kg_audit_query(&rows, audit, &filter))) {
        kg_audit_free(audit);
        json_decref(doc);
        return kg_cli_fail();
    }
    json_decref(doc);
    kg_audit_free(audit);
    if (as_json) {
        char *text = json_dumps(rows, JSON_COMPACT);
        if (text != NULL)
            printf("%s\n", text);
        free(text);
    } else {
        print_table(rows);
    }
    json_decref(rows);
    return KG_EXIT_OK;
}

int kg_cmd_audit(int argc, char **argv)
{
    static const kg_cli_group group = {"audit", audit_usage};
    static const kg_cli_command subs[] = {{"list", cmd_list, NULL},
                                          {"verify", kg_cmd_audit_verify, NULL}};
    return kg_cli_group_run(&group, subs, KG_CLI_N(subs), argc, argv);
}
