/* cmd_sim.c - `keygate sim`: create and drive a simulated TDX platform (init, quote, extend,
 * eventlog, info, refresh, pccs). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "keygate/bytes.h"
#include "keygate/hash.h"
#include "keygate/sim.h"
#include "keygate/tee.h"

static void sim_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: keygate sim <subcommand> [options]\n\n"
        "  init DIR [--image NAME] [--days N] [--tcb UpToDate|OutOfDate]\n"
        "                                       create a simulated TDX platform in DIR\n"
        "  quote --dir DIR --report-data HEX [--vm NAME]\n"
        "                                       print a quote (hex) for 64 bytes of report data\n"
        "  extend --dir DIR --vm NAME --event NAME [--payload HEX]\n"
        "                                       extend the VM's RTMR3 with a runtime event\n"
        "  eventlog --dir DIR [--vm NAME]       print the VM's runtime event log (JSON)\n"
        "  info --dir DIR                       print the measurement profile (JSON)\n"
        "  refresh --dir DIR [--days N]         re-issue the collateral from now\n"
        "  pccs --dir DIR --listen HOST:PORT    serve the collateral (Intel PCCS v4 API)\n"
        "  run --state DIR --app ID --compose FILE ... -- CMD\n"
        "                                       boot an app VM against the KMS and run CMD\n"
        "                                       beside the dstack API ('sim run --help')\n\n"
        "VM defaults to 'default'. Exit status: 0 ok, 1 failed, 2 usage error.\n");
}

typedef struct sim_args {
    const char *dir, *vm, *report_data, *event, *payload, *listen, *image, *tcb;
    unsigned long days;
} sim_args;

static int parse_args(sim_args *a, int argc, char **argv, int first)
{
    memset(a, 0, sizeof(*a));
    a->vm = "default";
    for (int i = first; i < argc; i++) {
        const char *k = argv[i];
        const char **slot = NULL;
        if (strcmp(k, "--dir") == 0)
            slot = &a->dir;
        else if (strcmp(k, "--vm") == 0)
            slot = &a->vm;
        else if (strcmp(k, "--report-data") == 0)
            slot = &a->report_data;
        else if (strcmp(k, "--event") == 0)
            slot = &a->event;
        else if (strcmp(k, "--payload") == 0)
            slot = &a->payload;
        else if (strcmp(k, "--listen") == 0)
            slot = &a->listen;
        else if (strcmp(k, "--image") == 0)
            slot = &a->image;
        else if (strcmp(k, "--tcb") == 0)
            slot = &a->tcb;
        else if (strcmp(k, "--days") == 0 && i + 1 < argc) {
            char *end = NULL;
            errno = 0;
            a->days = strtoul(argv[++i], &end, 10);
            if (errno != 0 || *end != '\0' || a->days == 0 || a->days > 3650) {
                fprintf(stderr, "keygate sim: --days '%s' is not 1..3650\n", argv[i]);
                return -1;
            }
            continue;
        } else if (a->dir == NULL && k[0] != '-') {
            a->dir = k; /* positional DIR (init) */
            continue;
        } else {
            fprintf(stderr, "keygate sim: unknown option '%s'\n", k);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "keygate sim: option '%s' needs a value\n", k);
            return -1;
        }
        *slot = argv[++i];
    }
    if (a->dir == NULL) {
        fprintf(stderr, "keygate sim: --dir DIR is required\n");
        return -1;
    }
    return 0;
}

static int print_hex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
    printf("\n");
    return KG_EXIT_OK;
}

static int do_quote(const sim_args *a)
{
    uint8_t rd[64] = {0};
    kg_tee *tee = NULL;
    kg_buf q;
    int rc;
    if (a->report_data == NULL) {
        fprintf(stderr, "keygate sim quote: --report-data HEX is required\n");
        return KG_EXIT_USAGE;
    }
    size_t n = 0;
    if (kg_failed(kg_hex_decode(rd, sizeof(rd), &n, a->report_data, strlen(a->report_data)))) {
        fprintf(stderr, "keygate sim quote: --report-data '%s': %s\n", a->report_data,
                kg_error_message());
        return KG_EXIT_USAGE;
    }
    kg_buf_init(&q, KG_MAX_TEE_QUOTE_LEN);
    if (kg_failed(kg_tee_open_sim(&tee, a->dir, a->vm)) || kg_failed(kg_tee_get_quote(tee, &q, rd)))
        rc = kg_cli_fail();
    else
        rc = print_hex(q.data, q.len);
    kg_buf_free(&q);
    kg_tee_free(tee);
    return rc;
}

static int do_extend(const sim_args *a)
{
    kg_tee *tee = NULL;
    kg_buf payload;
    int rc = KG_EXIT_OK;
    if (a->event == NULL) {
        fprintf(stderr, "keygate sim extend: --event NAME is required\n");
        return KG_EXIT_USAGE;
    }
    kg_buf_init(&payload, 64 * 1024);
    if (a->payload != NULL &&
        kg_failed(kg_hex_decode_buf(&payload, a->payload, strlen(a->payload)))) {
        fprintf(stderr, "keygate sim extend: --payload '%s': %s\n", a->payload, kg_error_message());
        kg_buf_free(&payload);
        return KG_EXIT_USAGE;
    }
    if (kg_failed(kg_tee_open_sim(&tee, a->dir, a->vm)) ||
        kg_failed(kg_tee_extend(tee, a->event, payload.data, payload.len)))
        rc = kg_cli_fail();
    kg_buf_free(&payload);
    kg_tee_free(tee);
    return rc;
}

static int do_eventlog(const sim_args *a)
{
    kg_tee *tee = NULL;
    kg_eventlog log;
    kg_buf js;
    int rc = KG_EXIT_OK;
    kg_eventlog_init(&log);
    kg_buf_init(&js, KG_MAX_EVENTLOG_JSON_LEN);
    if (kg_failed(kg_tee_open_sim(&tee, a->dir, a->vm)) ||
        kg_failed(kg_tee_read_eventlog(tee, &log)) || kg_failed(kg_eventlog_to_json(&js, &log)))
        rc = kg_cli_fail();
    else
        printf("%s\n", (char *)js.data);
    kg_buf_free(&js);
    kg_eventlog_free(&log);
    kg_tee_free(tee);
    return rc;
}

static void hex_field(char *out, size_t out_size, const uint8_t *v, size_t n)
{
    if (kg_failed(kg_hex_encode(out, out_size, v, n)))
        out[0] = '\0'; /* cannot happen: sizes are fixed below */
}

static int do_info(const sim_args *a)
{
    kg_sim_profile p;
    char h[97];
    if (kg_failed(kg_sim_profile_load(&p, a->dir)))
        return kg_cli_fail();
    printf("{\"image\":\"%s\"", p.image);
    hex_field(h, sizeof(h), p.mrtd, 48);
    printf(",\"mrtd\":\"%s\"", h);
    for (int i = 0; i < 3; i++) {
        hex_field(h, sizeof(h), p.rtmr[i], 48);
        printf(",\"rtmr%d\":\"%s\"", i, h);
    }
    hex_field(h, sizeof(h), p.os_image_hash, 32);
    printf(",\"os_image_hash\":\"%s\"}\n", h);
    return KG_EXIT_OK;
}

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int do_pccs(const sim_args *a)
{
    char host[256];
    unsigned long port = 0;
    const char *colon = a->listen ? strrchr(a->listen, ':') : NULL;
    char *end = NULL;
    if (colon == NULL || (size_t)(colon - a->listen) >= sizeof(host) || colon == a->listen) {
        fprintf(stderr, "keygate sim pccs: --listen HOST:PORT is required\n");
        return KG_EXIT_USAGE;
    }
    memcpy(host, a->listen, (size_t)(colon - a->listen));
    host[colon - a->listen] = '\0';
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || port > 65535) {
        fprintf(stderr, "keygate sim pccs: port '%s' is not 0..65535\n", colon + 1);
        return KG_EXIT_USAGE;
    }
    kg_sim_pccs *p = NULL;
    if (kg_failed(kg_sim_pccs_start(&p, a->dir, host, (uint16_t)port)))
        return kg_cli_fail();
    fprintf(stderr, "keygate sim pccs: serving %s on http://%s:%u/ (Ctrl-C stops)\n", a->dir, host,
            kg_sim_pccs_port(p));
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    while (!stop_flag)
        pause();
    kg_sim_pccs_free(p);
    return KG_EXIT_OK;
}

int kg_cmd_sim(int argc, char **argv)
{
    sim_args a;
    static const kg_cli_group group = {"sim", sim_usage};
    int st = kg_cli_group_help(&group, argc, argv);
    if (st != KG_CLI_CONTINUE)
        return st;
    const char *sub = argv[1];
    if (strcmp(sub, "run") == 0) /* cmd_sim_run.c: boot an app VM against the KMS */
        return kg_cmd_sim_run(argc - 1, argv + 1);
    if (parse_args(&a, argc, argv, 2) != 0) {
        sim_usage(stderr);
        return KG_EXIT_USAGE;
    }
    if (strcmp(sub, "init") == 0) {
        kg_sim_init_opts o = {a.image, 0, (uint32_t)a.days, a.tcb};
        if (kg_failed(kg_sim_init(a.dir, &o)))
            return kg_cli_fail();
        fprintf(stderr, "keygate sim: platform created in %s\n", a.dir);
        return do_info(&a);
    }
    if (strcmp(sub, "quote") == 0)
        return do_quote(&a);
    if (strcmp(sub, "extend") == 0)
        return do_extend(&a);
    if (strcmp(sub, "eventlog") == 0)
        return do_eventlog(&a);
    if (strcmp(sub, "info") == 0)
        return do_info(&a);
    if (strcmp(sub, "refresh") == 0)
        return kg_failed(kg_sim_refresh_collateral(a.dir, 0, (uint32_t)a.days)) ? kg_cli_fail()
                                                                                : KG_EXIT_OK;
    if (strcmp(sub, "pccs") == 0)
        return do_pccs(&a);
    return kg_cli_group_unknown(&group, sub);
}
