/* dstack_codec_peer.c - keygate's side of the dstack codec interop test: decodes a
 * VersionedAttestation or a CertSigningRequestV2 file into JSON, and encodes the fixed fixture
 * the Node peer (dstack_codec.mjs) encodes too.
 *   kg-dstack-codec attestation FILE      JSON of the decoded attestation
 *   kg-dstack-codec csr FILE              JSON of the decoded CSR (fields and attestation)
 *   kg-dstack-codec encode v0|v1 OUT      the fixture as VersionedAttestation bytes */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/ratls.h"

static int read_all(kg_buf *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    uint8_t chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (kg_failed(kg_buf_append(b, chunk, n))) {
            fclose(f);
            return -1;
        }
    fclose(f);
    return 0;
}

static void hex(const uint8_t *p, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
    putchar('"');
}

static void print_attestation(const kg_ratls_attestation *a)
{
    printf("{\"wire\":%d,\"quote\":", (int)a->wire);
    hex(a->quote.data, a->quote.len);
    printf(",\"report_data\":");
    hex(a->report_data, 64);
    printf(",\"config_hex\":");
    hex(a->config.data, a->config.len);
    printf(",\"n_platform_events\":%zu,\"runtime_events\":[", a->n_platform_events);
    for (size_t i = 0; i < a->runtime_events.count; i++) {
        const kg_event *e = &a->runtime_events.events[i];
        printf("%s{\"event_hex\":", i ? "," : "");
        hex((const uint8_t *)e->name, strlen(e->name));
        printf(",\"payload\":");
        hex(e->payload, e->payload_len);
        printf(",\"v2\":%s,\"digest\":", e->v2 ? "true" : "false");
        hex(e->digest, KG_RTMR_LEN);
        putchar('}');
    }
    printf("]}");
}

/* The fixture both peers encode (dstack_codec.mjs: FIXTURE). */
static kg_result fixture(kg_eventlog *log)
{
    uint8_t app_id[20], compose[32];
    memset(app_id, 0xbb, 20);
    memset(compose, 0xcc, 32);
    KG_GUARD(kg_eventlog_append(log, "system-preparing", NULL, 0));
    KG_GUARD(kg_eventlog_append(log, "app-id", app_id, 20));
    KG_GUARD(kg_eventlog_append(log, "compose-hash", compose, 32));
    return kg_eventlog_append(log, "system-ready", NULL, 0);
}

int main(int argc, char **argv)
{
    kg_buf in;
    kg_buf_init(&in, KG_CSR_V2_MAX_LEN);
    if (argc == 3 && strcmp(argv[1], "attestation") == 0) {
        kg_ratls_attestation a;
        if (read_all(&in, argv[2]) != 0 ||
            kg_failed(kg_ratls_attestation_parse(&a, in.data, in.len))) {
            fprintf(stderr, "attestation: %s\n", kg_error_message());
            return 1;
        }
        print_attestation(&a);
        putchar('\n');
        kg_ratls_attestation_free(&a);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "csr") == 0) {
        kg_csr_v2 *c = calloc(1, sizeof(*c));
        if (c == NULL || read_all(&in, argv[2]) != 0 ||
            kg_failed(kg_csr_v2_parse(c, in.data, in.len))) {
            fprintf(stderr, "csr: %s\n", kg_error_message());
            return 1;
        }
        printf("{\"confirm\":\"%s\",\"pubkey\":", c->confirm);
        hex(c->pubkey, c->pubkey_len);
        printf(",\"org_name\":");
        if (c->has_org_name)
            hex((const uint8_t *)c->org_name, strlen(c->org_name));
        else
            printf("null");
        printf(",\"subject_hex\":");
        hex((const uint8_t *)c->subject, strlen(c->subject));
        printf(",\"sans_hex\":[");
        for (size_t i = 0; i < c->n_sans; i++) {
            printf("%s", i ? "," : "");
            hex((const uint8_t *)c->sans[i], strlen(c->sans[i]));
        }
        printf("],\"usage_server_auth\":%s,\"usage_client_auth\":%s,\"ext_quote\":%s,"
               "\"ext_app_info\":%s,\"not_before\":",
               c->usage_server_auth ? "true" : "false", c->usage_client_auth ? "true" : "false",
               c->ext_quote ? "true" : "false", c->ext_app_info ? "true" : "false");
        if (c->has_not_before)
            printf("\"%llu\"", (unsigned long long)c->not_before);
        else
            printf("null");
        printf(",\"not_after\":");
        if (c->has_not_after)
            printf("\"%llu\"", (unsigned long long)c->not_after);
        else
            printf("null");
        printf(",\"attestation\":");
        print_attestation(&c->attestation);
        printf("}\n");
        kg_csr_v2_free(c);
        free(c);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "encode") == 0) {
        kg_eventlog log;
        kg_buf out;
        uint8_t quote[300], rd[64];
        for (size_t i = 0; i < sizeof(quote); i++)
            quote[i] = (uint8_t)(i * 7 + 3);
        memset(rd, 0x5a, 64);
        kg_eventlog_init(&log);
        kg_buf_init(&out, 1 << 20);
        bool v1 = strcmp(argv[2], "v1") == 0;
        if (kg_failed(fixture(&log)) ||
            kg_failed(kg_ratls_attestation_encode(
                &out, v1 ? KG_RATLS_ATTESTATION_V1 : KG_RATLS_ATTESTATION_V0, quote, sizeof(quote),
                &log, rd, "{\"vm\":\"cfg\"}"))) {
            fprintf(stderr, "encode: %s\n", kg_error_message());
            return 1;
        }
        FILE *f = fopen(argv[3], "wb");
        if (f == NULL || fwrite(out.data, 1, out.len, f) != out.len || fclose(f) != 0)
            return 1;
        return 0;
    }
    fprintf(stderr, "usage: kg-dstack-codec attestation|csr FILE | encode v0|v1 OUT\n");
    return 2;
}
