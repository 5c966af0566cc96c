/* kms_itest_sim.c - the simulated TDX platform for kms_itest.sh: create it, export its root CA,
 * re-issue (possibly expired) collateral, and serve it as a PCCS until killed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "keygate/sim.h"

static volatile sig_atomic_t g_stop;
static void on_term(int sig)
{
    g_stop = 1;
}

static int fail(void)
{
    fprintf(stderr, "kms-itest-sim: %s\n", kg_error_message());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: kms-itest-sim init DIR | root-ca DIR OUT.pem | collateral DIR "
                        "OUT.json | refresh DIR "
                        "[--expired] | pccs DIR PORT PORTFILE\n");
        return 2;
    }
    const char *cmd = argv[1], *dir = argv[2];
    if (strcmp(cmd, "init") == 0)
        return kg_ok(kg_sim_init(dir, NULL)) ? 0 : fail();
    if (strcmp(cmd, "refresh") == 0) {
        bool expired = argc > 3 && strcmp(argv[3], "--expired") == 0;
        /* Expired: issued 40 days ago, valid for 30, so nextUpdate passed 10 days ago. */
        uint64_t now = (uint64_t)time(NULL) - (expired ? 40u * 86400u : 0u);
        return kg_ok(kg_sim_refresh_collateral(dir, now, 30)) ? 0 : fail();
    }
    if (strcmp(cmd, "collateral") == 0 && argc == 4) {
        kg_buf c;
        kg_buf_init(&c, 4u << 20);
        if (kg_failed(kg_sim_collateral(&c, dir)))
            return fail();
        FILE *f = fopen(argv[3], "w");
        int ok = f && fwrite(c.data, 1, c.len, f) == c.len;
        if (f)
            fclose(f);
        kg_buf_free(&c);
        return ok ? 0 : 1;
    }
    if (strcmp(cmd, "root-ca") == 0 && argc == 4) {
        kg_buf der;
        kg_buf_init(&der, 65536);
        if (kg_failed(kg_sim_root_ca_der(&der, dir)))
            return fail();
        const unsigned char *p = der.data;
        X509 *x = d2i_X509(NULL, &p, (long)der.len);
        FILE *f = fopen(argv[3], "w");
        int ok = x && f && PEM_write_X509(f, x) == 1;
        if (f)
            fclose(f);
        X509_free(x);
        kg_buf_free(&der);
        return ok ? 0 : 1;
    }
    if (strcmp(cmd, "pccs") == 0 && argc == 5) {
        kg_sim_pccs *p = NULL;
        if (kg_failed(
                kg_sim_pccs_start(&p, dir, "127.0.0.1", (uint16_t)strtoul(argv[3], NULL, 10))))
            return fail();
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", argv[4]);
        FILE *f = fopen(tmp, "w");
        if (f == NULL)
            return 1;
        fprintf(f, "%u\n", (unsigned)kg_sim_pccs_port(p));
        fclose(f);
        if (rename(tmp, argv[4]) != 0)
            return 1;
        signal(SIGTERM, on_term);
        signal(SIGINT, on_term);
        while (!g_stop)
            pause();
        kg_sim_pccs_free(p);
        return 0;
    }
    fprintf(stderr, "kms-itest-sim: unknown command '%s'\n", cmd);
    return 2;
}
