/* attack_client.c - the attacks of issue 11 on a real keygate-kms, written as an attacker would
 * run them from inside an app VM of the simulated platform (attacks_itest.sh drives it).
 *
 *   relabel  the app booted honestly as ATTACKER (identity events in RTMR3), then extended the
 *            victim's app-id and compose-hash after boot; it presents a log in which its own
 *            identity events carry another event type, so a verifier that only checks dstack
 *            events would skip them and read the victim's identity. The log replays to RTMR3.
 *   append   the same extension after boot, presented honestly: the victim's identity follows
 *            the attacker's (and system-ready), so the log says two things.
 *   inapp    run as the app inside an app VM the real agent booted (VM NAME): the agent's whole
 *            boot log (through system-ready) is relabelled, the victim's identity extended.
 *   blank    a blank VM (nothing measured in RTMR3) asks GetKmsKey for the root keys.
 *
 * Prints the HTTP status and body; exits 0 if the KMS released anything (the attack worked),
 * 1 if it refused, 3 if the attack could not be mounted. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/eventlog.h"
#include "kms_test_client.h"
#include "keygate/kms_x509.h"
#include "keygate/ratls.h"
#include "keygate/tee.h"

#define NOT_DSTACK_TYPE 0x0000000du /* EV_IPL: any type other than the dstack one will do */

static kg_result extend_boot(kg_tee *tee, const uint8_t app[20], const uint8_t compose[32])
{
    KG_GUARD(kg_tee_extend(tee, KG_EVENT_SYSTEM_PREPARING, NULL, 0));
    KG_GUARD(kg_tee_extend(tee, KG_EVENT_APP_ID, app, 20));
    KG_GUARD(kg_tee_extend(tee, KG_EVENT_COMPOSE_HASH, compose, 32));
    KG_GUARD(kg_tee_extend(tee, KG_EVENT_INSTANCE_ID, NULL, 0));
    KG_GUARD(kg_tee_extend(tee, KG_EVENT_BOOT_MR_DONE, NULL, 0));
    return KG_OK;
}

/* Mounts the attack in a fresh VM and builds the RA-TLS client identity it presents. */
static kg_result mount(kg_kms_client_identity *id, const char *variant, const char *sim,
                       const char *vm, const uint8_t att[20], const uint8_t att_compose[32],
                       const uint8_t victim[20], const uint8_t victim_compose[32])
{
    kg_result rc = KG_ERROR;
    kg_tee *tee = NULL;
    kg_eventlog log;
    kg_eventlog_init(&log);
    kg_buf quote, evjson;
    kg_buf_init(&quote, KG_MAX_TEE_QUOTE_LEN);
    kg_buf_init(&evjson, KG_MAX_EVENTLOG_JSON_LEN);
    uint8_t rd[64];
    memset(id, 0, sizeof(*id));
    KG_GUARD_C(kg_tee_open_sim(&tee, sim, vm));
    size_t booted = 0; /* events the real agent extended before the attack (inapp) */
    if (strcmp(variant, "inapp") == 0) {
        KG_GUARD_C(kg_tee_read_eventlog(tee, &log));
        booted = log.count;
        kg_eventlog_free(&log);
        KG_ENSURE_C(booted > 0, KG_ERR_USAGE, "VM '%s' was not booted by an agent", vm);
        KG_GUARD_C(kg_tee_extend(tee, KG_EVENT_APP_ID, victim, 20));
        KG_GUARD_C(kg_tee_extend(tee, KG_EVENT_COMPOSE_HASH, victim_compose, 32));
    } else if (strcmp(variant, "blank") != 0) {
        /* What the honest agent measured for the attacker's own app ... */
        KG_GUARD_C(extend_boot(tee, att, att_compose));
        if (strcmp(variant, "append") == 0)
            KG_GUARD_C(kg_tee_extend(tee, KG_EVENT_SYSTEM_READY, NULL, 0));
        /* ... and what the app, root in its VM, extended after boot. */
        KG_GUARD_C(kg_tee_extend(tee, KG_EVENT_APP_ID, victim, 20));
        KG_GUARD_C(kg_tee_extend(tee, KG_EVENT_COMPOSE_HASH, victim_compose, 32));
    }
    KG_GUARD_C(kg_p256_generate(&id->key));
    KG_GUARD_C(kg_ratls_key_report_data(rd, id->key));
    KG_GUARD_C(kg_tee_get_quote(tee, &quote, rd));
    KG_GUARD_C(kg_tee_read_eventlog(tee, &log));
    size_t relabel = strcmp(variant, "relabel") == 0 ? 5 : booted;
    if (relabel > 0)
        for (size_t i = 0, n = 0; i < log.count && n < relabel; i++)
            if (log.events[i].imr == KG_EVENT_IMR_RUNTIME) {
                log.events[i].event_type = NOT_DSTACK_TYPE; /* digest kept: replay matches */
                n++;
            }
    KG_GUARD_C(kg_eventlog_to_json(&evjson, &log));
    kg_kms_cert_spec spec = {.common_name = "keygate app",
                             .client_auth = true,
                             .days = 30,
                             .usage = strcmp(variant, "blank") == 0 ? "kms:rpc" : "app:custom",
                             .app_id = strcmp(variant, "blank") == 0 ? NULL : victim,
                             .quote = quote.data,
                             .quote_len = quote.len,
                             .eventlog = evjson.data,
                             .eventlog_len = evjson.len};
    KG_GUARD_C(kg_kms_x509_issue(&id->cert, kg_p256_evp(id->key), &spec, NULL, NULL));
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        kg_kms_client_identity_free(id);
    kg_tee_free(tee);
    kg_eventlog_free(&log);
    kg_buf_free(&quote);
    kg_buf_free(&evjson);
    return rc;
}

int main(int argc, char **argv)
{
    const char *kms = NULL, *variant = NULL, *sim = NULL, *vm = NULL;
    const char *att_hex = NULL, *att_compose_hex = NULL, *victim_hex = NULL, *vcompose_hex = NULL;
    static const struct option opts[] = {{"kms", required_argument, NULL, 'k'},
                                         {"attack", required_argument, NULL, 'x'},
                                         {"sim", required_argument, NULL, 's'},
                                         {"vm", required_argument, NULL, 'v'},
                                         {"app-id", required_argument, NULL, 'a'},
                                         {"compose-hash", required_argument, NULL, 'c'},
                                         {"victim-app-id", required_argument, NULL, 'V'},
                                         {"victim-compose-hash", required_argument, NULL, 'C'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k': kms = optarg; break;
        case 'x': variant = optarg; break;
        case 's': sim = optarg; break;
        case 'v': vm = optarg; break;
        case 'a': att_hex = optarg; break;
        case 'c': att_compose_hex = optarg; break;
        case 'V': victim_hex = optarg; break;
        case 'C': vcompose_hex = optarg; break;
        default: return 2;
        }
    }
    uint8_t att[20] = {0}, att_compose[32] = {0}, victim[20] = {0}, vcompose[32] = {0};
    bool is = false, needs_att = false, needs_victim = false;
    if (variant != NULL) {
        needs_att = strcmp(variant, "relabel") == 0 || strcmp(variant, "append") == 0;
        needs_victim = needs_att || strcmp(variant, "inapp") == 0;
        is = needs_victim || strcmp(variant, "blank") == 0;
    }
    bool keys = needs_victim; /* GetAppKey for an app identity; blank asks GetKmsKey */
    bool bad = kms == NULL || !is || sim == NULL || vm == NULL || strrchr(kms, ':') == NULL ||
               (needs_att && (att_hex == NULL || att_compose_hex == NULL)) ||
               (needs_victim && (victim_hex == NULL || vcompose_hex == NULL));
    bad = bad || (att_hex && kg_failed(kg_hex_decode_exact(att, 20, att_hex))) ||
          (att_compose_hex && kg_failed(kg_hex_decode_exact(att_compose, 32, att_compose_hex))) ||
          (victim_hex && kg_failed(kg_hex_decode_exact(victim, 20, victim_hex))) ||
          (vcompose_hex && kg_failed(kg_hex_decode_exact(vcompose, 32, vcompose_hex)));
    if (bad) {
        fprintf(stderr, "usage: attack-client --kms HOST:PORT --attack relabel|append|inapp|blank "
                        "--sim DIR --vm NAME [--app-id HEX --compose-hash HEX] [--victim-app-id "
                        "HEX --victim-compose-hash HEX]\n");
        return 2;
    }
    char host[64];
    const char *colon = strrchr(kms, ':');
    if ((size_t)(colon - kms) >= sizeof(host))
        return 2;
    memcpy(host, kms, (size_t)(colon - kms));
    host[colon - kms] = 0;
    uint16_t port = (uint16_t)strtoul(colon + 1, NULL, 10);

    kg_kms_client_identity id = {0};
    SSL_CTX *ctx = NULL;
    kg_buf resp;
    kg_buf_init(&resp, 4u << 20);
    int status = 0, exit_code = 3;
    const char *method = keys ? "GetAppKey" : "GetKmsKey";
    const char *body = keys ? "{\"api_version\":1,\"vm_config\":\"\"}" : "{}";
    if (kg_ok(mount(&id, variant, sim, vm, att, att_compose, victim, vcompose)) &&
        kg_ok(kg_kms_client_ctx_new(&ctx, &id)) &&
        kg_ok(kg_kms_client_call(ctx, host, port, method, body, &status, &resp))) {
        printf("HTTP %d\n%s\n", status, resp.data ? (const char *)resp.data : "");
        exit_code = status == 200 ? 0 : 1;
    } else {
        fprintf(stderr, "attack-client: %s\n", kg_error_message());
    }
    SSL_CTX_free(ctx);
    kg_kms_client_identity_free(&id);
    kg_buf_free(&resp);
    return exit_code;
}
