/* gen.c - writes a keygate decision log for the Go interop check (tlog_go_test.sh): an audit
 * database of N decisions, its signed checkpoint, every C2SP tile and entry bundle of the tree
 * as files under DIR/tile/..., the verifier key, and inclusion and consistency proofs made by
 * lib/log (proofs.txt: "inclusion INDEX HASH..." / "consistency M ROOT_M HASH..." in hex).
 * Usage: kg-tlog-gen DIR N */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "keygate/audit.h"
#include "keygate/fileio.h"
#include "keygate/tlog.h"

#define NAME "keygate.interop/log"

static int fail(const char *what)
{
    fprintf(stderr, "kg-tlog-gen: %s: %s\n", what, kg_error_message());
    return 1;
}

static void hex(FILE *f, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", b[i]);
}

static int write_file(const char *dir, const char *rel, const uint8_t *d, size_t n)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(path, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(d, 1, n, f) != n) {
        perror(path);
        if (f)
            fclose(f);
        return 1;
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return fprintf(stderr, "usage: kg-tlog-gen DIR N\n"), 2;
    const char *dir = argv[1];
    uint64_t n = strtoull(argv[2], NULL, 10);
    char db[1024];
    snprintf(db, sizeof(db), "%s/audit.db", dir);
    uint8_t seed[32], pub[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i * 7 + 1);
    if (kg_failed(kg_ed25519_public(pub, seed)))
        return fail("key");
    kg_audit *a = NULL;
    if (kg_failed(kg_audit_open(&a, db, false)))
        return fail("open");
    kg_boot_identity id;
    memset(&id, 0, sizeof(id));
    id.has_app_id = true;
    memset(id.app_id, 0xab, sizeof(id.app_id));
    snprintf(id.tcb_status, sizeof(id.tcb_status), "UpToDate");
    uint64_t mid = n / 3 + 1;
    uint8_t root_mid[32];
    for (uint64_t i = 0; i < n; i++) {
        kg_audit_record r = {.method = "GetAppKey",
                             .allowed = i % 2 == 0,
                             .reason = "interop",
                             .identity = &id,
                             .block_number = (int64_t)i};
        if (kg_failed(kg_audit_append(a, &r, NULL)))
            return fail("append");
        if (i + 1 == mid) {
            uint64_t s;
            if (kg_failed(kg_audit_log_head(a, &s, root_mid)))
                return fail("head");
        }
    }
    kg_buf note, vkey, tile;
    kg_buf_init(&note, KG_NOTE_MAX);
    kg_buf_init(&vkey, 1024);
    kg_buf_init(&tile, 1 << 24);
    uint64_t size = 0;
    if (kg_failed(kg_audit_checkpoint(a, NAME, seed, &note, &size)) ||
        kg_failed(kg_note_vkey(&vkey, NAME, pub)))
        return fail("checkpoint");
    if (write_file(dir, "checkpoint", note.data, note.len) ||
        write_file(dir, "vkey", vkey.data, vkey.len))
        return 1;
    /* every tile of the tree: levels 0.. while any hash exists there, and the entry bundles */
    for (uint32_t level = 0; level < 8; level++) {
        for (uint64_t t = 0;; t++) {
            uint32_t w = kg_tlog_tile_width(level, t, size);
            if (w == 0)
                break;
            for (int entries = 0; entries <= (level == 0); entries++) {
                kg_tlog_tile tt = {.entries = entries, .level = level, .index = t, .width = w};
                char p[KG_TLOG_MAX_PATH];
                tile.len = 0;
                if (kg_failed(kg_tlog_tile_path(p, sizeof(p), &tt)) ||
                    kg_failed(kg_audit_log_tile(a, &tile, &tt, size)))
                    return fail("tile");
                if (write_file(dir, p, tile.data, tile.len))
                    return 1;
            }
        }
    }
    char pp[1024];
    snprintf(pp, sizeof(pp), "%s/proofs.txt", dir);
    FILE *f = fopen(pp, "w");
    if (f == NULL)
        return perror(pp), 1;
    kg_tlog_proof *p = malloc(sizeof(*p));
    for (uint64_t i = 0; i < size; i += (size / 50) + 1) {
        if (kg_failed(kg_tlog_inclusion_proof(p, i, size, kg_audit_log_hash, a)))
            return fail("inclusion proof");
        fprintf(f, "inclusion %llu", (unsigned long long)i);
        for (size_t j = 0; j < p->n; j++) {
            fputc(' ', f);
            hex(f, p->hash[j], 32);
        }
        fputc('\n', f);
    }
    if (kg_failed(kg_tlog_consistency_proof(p, mid, size, kg_audit_log_hash, a)))
        return fail("consistency proof");
    fprintf(f, "consistency %llu ", (unsigned long long)mid);
    hex(f, root_mid, 32);
    for (size_t j = 0; j < p->n; j++) {
        fputc(' ', f);
        hex(f, p->hash[j], 32);
    }
    fputc('\n', f);
    fclose(f);
    free(p);
    kg_buf_free(&note);
    kg_buf_free(&vkey);
    kg_buf_free(&tile);
    kg_audit_free(a);
    return 0;
}
