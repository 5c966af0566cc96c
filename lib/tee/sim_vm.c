/* sim_vm.c - the simulator backend of kg_tee: one simulated VM of a simulated platform, with
 * its own RTMR3 register (DIR/vms/<vm>/rtmr3) and runtime event log (…/eventlog.json). */
#include <stdlib.h>
#include <string.h>

#include "keygate/crypto.h"
#include "keygate/hash.h"
#include "tee/sim_internal.h"
#include "tee/tee_internal.h"

typedef struct sim_vm {
    char *platform_dir;
    char *rtmr3_path;
} sim_vm;

static kg_result sim_read_rtmr3(kg_tee *tee, uint8_t out[48])
{
    sim_vm *vm = tee->impl;
    kg_buf raw;
    kg_buf_init(&raw, 64);
    kg_result r = kg_file_read(&raw, vm->rtmr3_path, 64);
    if (kg_failed(r) && kg_error_code() == KG_ERR_NOT_FOUND) {
        kg_error_clear(); /* a fresh VM: the register starts at zero */
        memset(out, 0, 48);
        kg_buf_free(&raw);
        return KG_OK;
    }
    if (kg_ok(r) && raw.len != 48)
        r = kg_error_set(KG_ERR_IO, __FILE__, __LINE__, "'%s' holds %zu bytes, want 48",
                         vm->rtmr3_path, raw.len);
    if (kg_ok(r))
        memcpy(out, raw.data, 48);
    kg_buf_free(&raw);
    return r;
}

static kg_result sim_extend_rtmr3(kg_tee *tee, const uint8_t digest[48])
{
    sim_vm *vm = tee->impl;
    uint8_t reg[48];
    KG_GUARD(sim_read_rtmr3(tee, reg));
    KG_GUARD(kg_rtmr_extend(reg, digest));
    return kg_file_write_atomic(vm->rtmr3_path, reg, 48, 0600);
}

static kg_result sim_get_quote(kg_tee *tee, kg_buf *out, const uint8_t rd[64])
{
    sim_vm *vm = tee->impl;
    uint8_t reg[48];
    KG_GUARD(sim_read_rtmr3(tee, reg));
    KG_GUARD_CTX(kg_sim_quote(out, vm->platform_dir, reg, rd), "simulated quote");
    return KG_OK;
}

/* kg_tee_seal_key on the simulator (tee.h): the platform's secret and this VM's measurements. */
static kg_result sim_seal_key(kg_tee *tee, uint8_t out[KG_TEE_SEAL_KEY_LEN], const char *label)
{
    sim_vm *vm = tee->impl;
    kg_result rc = KG_ERROR;
    uint8_t secret[SIM_SEAL_SECRET_LEN];
    uint8_t info[5 * KG_RTMR_LEN + KG_TEE_MAX_SEAL_LABEL];
    kg_sim_profile prof;
    size_t label_len = strlen(label);
    KG_GUARD_C(kg_sim_profile_load(&prof, vm->platform_dir));
    memcpy(info, prof.mrtd, KG_RTMR_LEN);
    for (int i = 0; i < 3; i++)
        memcpy(info + (size_t)(i + 1) * KG_RTMR_LEN, prof.rtmr[i], KG_RTMR_LEN);
    KG_GUARD_C(sim_read_rtmr3(tee, info + 4 * KG_RTMR_LEN));
    memcpy(info + 5 * KG_RTMR_LEN, label, label_len);
    KG_GUARD_C(sim_seal_secret(secret, vm->platform_dir));
    KG_GUARD_C(kg_hkdf_sha256(out, KG_TEE_SEAL_KEY_LEN, secret, sizeof(secret),
                              "keygate-sim-seal-v1", 19, info, 5 * KG_RTMR_LEN + label_len));
    rc = KG_OK;
cleanup:
    kg_memzero(secret, sizeof(secret));
    return rc;
}

static void sim_free(kg_tee *tee)
{
    sim_vm *vm = tee->impl;
    if (vm == NULL)
        return;
    free(vm->platform_dir);
    free(vm->rtmr3_path);
    free(vm);
}

static const kg_tee_ops sim_ops = {"sim",    sim_get_quote, sim_read_rtmr3, sim_extend_rtmr3,
                                   sim_free, sim_seal_key};

static kg_result check_vm_name(const char *vm)
{
    size_t n = strlen(vm);
    KG_ENSURE(n > 0 && n <= 64 && strcmp(vm, ".") != 0 && strcmp(vm, "..") != 0, KG_ERR_USAGE,
              "VM name '%s' must be 1..64 characters of [A-Za-z0-9._-]", vm);
    for (size_t i = 0; i < n; i++) {
        char c = vm[i];
        KG_ENSURE((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-',
                  KG_ERR_USAGE, "VM name '%s' must be 1..64 characters of [A-Za-z0-9._-]", vm);
    }
    return KG_OK;
}

kg_result kg_tee_open_sim(kg_tee **out, const char *platform_dir, const char *vm_name)
{
    kg_result rc = KG_ERROR;
    kg_buf vmdir, log, reg, probe;
    kg_tee *t = NULL;
    sim_vm *vm = NULL;
    kg_buf_init(&vmdir, 4096);
    kg_buf_init(&log, 4096);
    kg_buf_init(&reg, 4096);
    kg_buf_init(&probe, 0);
    KG_GUARD_C(check_vm_name(vm_name));
    {
        sim_platform pf;
        KG_GUARD_C(sim_platform_load(&pf, platform_dir));
        kg_memzero(&pf, sizeof(pf));
    }
    KG_GUARD_C(kg_buf_printf(&vmdir, "%s/vms/%s", platform_dir, vm_name));
    KG_GUARD_C(kg_buf_terminate(&vmdir));
    KG_GUARD_C(kg_mkdir_p((char *)vmdir.data));
    KG_GUARD_C(kg_path_join(&log, (char *)vmdir.data, "eventlog.json"));
    KG_GUARD_C(kg_path_join(&reg, (char *)vmdir.data, "rtmr3"));
    KG_GUARD_C(kg_tee_alloc(&t, &sim_ops, (char *)log.data));
    vm = calloc(1, sizeof(*vm));
    KG_ENSURE_C(vm != NULL, KG_ERR_NOMEM, "out of memory");
    t->impl = vm;
    vm->platform_dir = strdup(platform_dir);
    vm->rtmr3_path = strdup((char *)reg.data);
    KG_ENSURE_C(vm->platform_dir != NULL && vm->rtmr3_path != NULL, KG_ERR_NOMEM, "out of memory");
    *out = t;
    t = NULL;
    rc = KG_OK;
cleanup:
    kg_tee_free(t);
    kg_buf_free(&vmdir);
    kg_buf_free(&log);
    kg_buf_free(&reg);
    kg_buf_free(&probe);
    return rc;
}
