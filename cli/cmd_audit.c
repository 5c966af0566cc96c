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
            "Usage: keygate audit list [--state DIR | --db FILE] [--app ID] [--json] "
            "[--limit N]\n\n"
            "Lists the KMS's key-release decisions, oldest first (the newest N with "
            "--limit).\n"
            "  --state DIR  a devnet's state directory (default ./%s): its KMS's log\n"
            "  --db FILE    the KMS audit database (config key 'audit_db')\n"
            "  --app ID     only decisions about this app (0x-address)\n"
            "  --json       one JSON array with every field (for scripts)\n"
            "  --limit N    only the newest N decisions\n\n"
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

int kg_cmd_audit(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        audit_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? KG_EXIT_USAGE : KG_EXIT_OK;
    }
    if (strcmp(argv[1], "verify") == 0)
        return kg_cmd_audit_verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "list") != 0) {
        fprintf(stderr, "keygate audit: unknown subcommand '%s'\n", argv[1]);
        audit_usage(stderr);
        return KG_EXIT_USAGE;
    }
    const char *db = NULL, *state = NULL, *app = NULL;
    bool as_json = false;
    unsigned long limit = 0;
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"state", required_argument, NULL, 's'},
                                         {"app", required_argument, NULL, 'a'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"limit", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 's': state = optarg; break;
        case 'a': app = optarg; break;
        case 'j': as_json = true; break;
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
    if (optind != argc - 1 || (db != NULL && state != NULL)) {
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
        kg_failed(kg_audit_list(&rows, audit, app != NULL ? 0 : (uint32_t)limit))) {
        kg_audit_free(audit);
        json_decref(doc);
        return kg_cli_fail();
    }
    json_decref(doc);
    if (app != NULL) {
        json_t *kept = json_array();
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row)
        {
            const char *id = json_string_value(json_object_get(row, "app_id"));
            if (id != NULL && strcmp(id, app_hex) == 0)
                json_array_append(kept, row);
        }
        while (limit > 0 && json_array_size(kept) > limit)
            json_array_remove(kept, 0);
        json_decref(rows);
        rows = kept;
    }
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
