/* sealed_fuzz.c - libFuzzer harness for the sealed root-key file (sealed.h), which the KMS reads
 * from a disk the host controls: the parser, then the TEE slot and a holder's share opened with
 * the fixed test keys the seeds were sealed with, so mutations reach the AEAD and share paths. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/epoch.h"
#include "keygate/sealed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Test keys of the seed corpus (not secrets): TEE key 0x11.., holder secrets 0x21.., 0x22... */
#define TEE_KEY_BYTE 0x11
#define HOLDER_BYTE 0x21

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t tee_key[32], holder[32];
    memset(tee_key, TEE_KEY_BYTE, sizeof(tee_key));
    memset(holder, HOLDER_BYTE, sizeof(holder));
    kg_sealed_file *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return 0;
    if (kg_ok(kg_sealed_parse(f, data, size))) {
        kg_root_keys root[KG_SEALED_MAX_EPOCHS];
        kg_shamir_share share;
        /* A parsed file has 1..n holders with 1 <= t <= n and at least one slot. */
        if (!f->has_tee && !f->has_recovery)
            abort();
        if (f->has_recovery && (f->threshold < 1 || f->threshold > f->n || f->n > 16))
            abort();
        /* 1..8 epochs, increasing, exactly one Current, every attestation inside the input */
        if (f->n_epochs < 1 || f->n_epochs > KG_SEALED_MAX_EPOCHS || f->current >= f->n_epochs ||
            f->epochs[f->current].status != KG_EPOCH_CURRENT)
            abort();
        for (size_t i = 0; i < f->n_epochs; i++) {
            const kg_sealed_epoch *e = &f->epochs[i];
            if ((i > 0 && e->epoch <= f->epochs[i - 1].epoch) ||
                (e->status == KG_EPOCH_CURRENT && i != f->current) ||
                e->quote_off + e->quote_len > size || e->eventlog_off + e->eventlog_len > size)
                abort();
        }
        if (kg_ok(kg_sealed_open_tee(root, f, tee_key)))
            for (size_t i = 0; i < KG_SEALED_MAX_EPOCHS; i++)
                kg_kdf_root_keys_wipe(&root[i]);
        if (kg_ok(kg_sealed_holder_share(&share, f, holder)) && (share.x < 1 || share.x > f->n))
            abort();
    }
    free(f);
    kg_error_clear();
    return 0;
}
