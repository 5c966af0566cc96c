/* ratls.c - `keygate-bench ratls`: simulated quotes, RA-TLS certificate creation and
 * verification, and mutually attested TLS handshakes per second (one core, CPU time). */
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "keygate/crypto.h"
#include "keygate/ratls.h"
#include "keygate/sim.h"
#include "keygate/tee.h"

#define DIE(msg)                                                                                   \
    do {                                                                                           \
        fprintf(stderr, "keygate-bench ratls: %s: %s\n", msg, kg_error_message());                 \
        exit(1);                                                                                   \
    } while (0)

typedef struct side {
    SSL_CTX *ctx;
    int fd;
    bool server;
    const kg_ratls_policy *pol;
    bool ok;
} side;

static void *handshake(void *arg)
{
    side *s = arg;
    SSL *ssl = SSL_new(s->ctx);
    kg_ratls_identity id;
    SSL_set_fd(ssl, s->fd);
    int r = s->server ? SSL_accept(ssl) : SSL_connect(ssl);
    s->ok = r == 1 && kg_ok(kg_ratls_peer_identity(&id, ssl, s->pol));

    if (r == 1)
        SSL_shutdown(ssl);
    SSL_free(ssl);
    close(s->fd);
    return NULL;
}

int kg_bench_ratls(int argc, char **argv)
{
    unsigned long iters = 100;
    if (argc > 2 && strcmp(argv[1], "--iters") == 0) {
        char *end = NULL;
        iters = strtoul(argv[2], &end, 10);
        if (*end != '\0' || iters == 0 || iters > 100000) {
            fprintf(stderr, "keygate-bench ratls: bad --iters '%s'\n", argv[2]);
            return 2;
        }
    } else if (argc > 1) {
        fprintf(stderr, "Usage: keygate-bench ratls [--iters N]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/kg-bench-ratls-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    char plat[64];
    snprintf(plat, sizeof(plat), "%s/p", dir);
    if (kg_failed(kg_sim_init(plat, NULL)))
        DIE("sim init");
    kg_tee *a = NULL, *b = NULL;
    kg_buf root, coll, q, der_a, der_b;
    kg_buf_init(&root, 65536);
    kg_buf_init(&coll, KG_MAX_COLLATERAL_LEN);
    kg_buf_init(&q, KG_MAX_TEE_QUOTE_LEN);
    kg_buf_init(&der_a, KG_MAX_RATLS_CERT_LEN);
    kg_buf_init(&der_b, KG_MAX_RATLS_CERT_LEN);
    kg_dcap_verifier *v = NULL;
    if (kg_failed(kg_tee_open_sim(&a, plat, "a")) || kg_failed(kg_tee_open_sim(&b, plat, "b")) ||
        kg_failed(kg_sim_root_ca_der(&root, plat)) || kg_failed(kg_sim_collateral(&coll, plat)) ||
        kg_failed(kg_dcap_verifier_new(&v, root.data, root.len)))
        DIE("setup");
    uint8_t app[20] = {1};
    if (kg_failed(kg_tee_extend(a, KG_EVENT_APP_ID, app, 20)) ||
        kg_failed(kg_tee_extend(b, KG_EVENT_APP_ID, app, 20)))
        DIE("extend");
    kg_ratls_policy pol = {
        .verifier = v, .collateral_json = (char *)coll.data, .collateral_len = coll.len};

    /* 1. simulated quotes (reads platform files, signs with the attestation key) */
    uint8_t rd[64] = {0};
    double t0 = kg_bench_cpu();
    for (unsigned long i = 0; i < iters; i++) {
        q.len = 0;
        if (kg_failed(kg_tee_get_quote(a, &q, rd)))
            DIE("quote");
    }
    double quote_s = kg_bench_cpu() - t0;

    /* 2. RA-TLS certificate creation (fresh key, quote, event log, X.509 signing) */
    kg_p256_key *ka = NULL, *kb = NULL;
    t0 = kg_bench_cpu();
    for (unsigned long i = 0; i < iters; i++) {
        kg_p256_free(ka);
        ka = NULL;
        der_a.len = 0;
        if (kg_failed(kg_p256_generate(&ka)) || kg_failed(kg_ratls_cert_new(&der_a, a, ka, NULL)))
            DIE("cert");
    }
    double cert_s = kg_bench_cpu() - t0;
    if (kg_failed(kg_p256_generate(&kb)) || kg_failed(kg_ratls_cert_new(&der_b, b, kb, NULL)))
        DIE("cert");

    /* 3. verification of an RA-TLS certificate into a boot identity (verifier caches warm) */
    kg_ratls_identity id;
    t0 = kg_bench_cpu();
    for (unsigned long i = 0; i < iters; i++)
        if (kg_failed(kg_ratls_verify_cert(&id, der_a.data, der_a.len, &pol)))
            DIE("verify");
    double verify_s = kg_bench_cpu() - t0;

    /* 4. mutual RA-TLS handshakes over a socketpair, both sides verifying (wall clock) */
    SSL_CTX *sc = NULL, *cc = NULL;
    if (kg_failed(kg_ratls_ssl_ctx_new(&sc, true, ka, der_a.data, der_a.len, NULL, true)) ||
        kg_failed(kg_ratls_ssl_ctx_new(&cc, false, kb, der_b.data, der_b.len, NULL, true)))
        DIE("ctx");
    unsigned long hs = iters < 50 ? iters : 50;
    double w0 = kg_bench_now();
    for (unsigned long i = 0; i < hs; i++) {
        int fds[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
            DIE("socketpair");
        side srv = {sc, fds[0], true, &pol, false}, cli = {cc, fds[1], false, &pol, false};
        pthread_t th;
        pthread_create(&th, NULL, handshake, &srv);
        handshake(&cli);
        pthread_join(th, NULL);
        if (!srv.ok || !cli.ok)
            DIE("handshake");
    }
    double hs_s = kg_bench_now() - w0;

    printf("{\"benchmark\":\"ratls\",\"iters\":%lu,\"sim_quotes_per_cpu_s\":%.1f,"
           "\"ratls_certs_per_cpu_s\":%.1f,\"ratls_verifies_per_cpu_s\":%.1f,"
           "\"mutual_handshakes_per_s\":%.1f,\"quote_bytes\":%zu,\"cert_bytes\":%zu}\n",
           iters, iters / quote_s, iters / cert_s, iters / verify_s, hs / hs_s, q.len, der_a.len);
    SSL_CTX_free(sc);
    SSL_CTX_free(cc);
    kg_p256_free(ka);
    kg_p256_free(kb);
    kg_dcap_verifier_free(v);
    kg_tee_free(a);
    kg_tee_free(b);
    kg_buf_free(&root);
    kg_buf_free(&coll);
    kg_buf_free(&q);
    kg_buf_free(&der_a);
    kg_buf_free(&der_b);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
