/* collateral.c - parses Intel's signed collateral JSON: TCB Info v3 (SGX/TDX) and QE Identity
 * v2. */
#include <ctype.h>
#include <jansson.h>
#include <string.h>

#include "dcap_internal.h"
#include "keygate/bytes.h"

/*
 * Shapes (Intel PCS API v4, "TCB Info V3" and "Enclave Identity V2"); fields we do not use are
 * allowed but those we use must have exactly the expected type and size:
 *
 *   tcbInfo  {"id":"TDX"|"SGX","version":3,"issueDate","nextUpdate","fmspc":hex6,"pceId":hex2,
 *             "tcbType":0,"tcbEvaluationDataNumber":n,
 *             "tdxModule":{"mrsigner":hex48,"attributes":hex8,"attributesMask":hex8},      (TDX)
 *             "tdxModuleIdentities":[{"id":"TDX_xx","mrsigner","attributes","attributesMask",
 *                "tcbLevels":[{"tcb":{"isvsvn":n},"tcbDate","tcbStatus","advisoryIDs":[..]}]}],
 *             "tcbLevels":[{"tcb":{"sgxtcbcomponents":[16 x {"svn":n}],"pcesvn":n,
 *                "tdxtcbcomponents":[16 x {"svn":n}] (TDX)},"tcbDate","tcbStatus",
 *                "advisoryIDs":[..]}]}
 *   qeIdentity {"id":"QE"|"TD_QE","version":2,"issueDate","nextUpdate","miscselect":hex4,
 *             "miscselectMask":hex4,"attributes":hex16,"attributesMask":hex16,"mrsigner":hex32,
 *             "isvprodid":n,"tcbLevels":[{"tcb":{"isvsvn":n},"tcbDate","tcbStatus",
 *             "advisoryIDs":[..]}]}
 */

static const char *const STATUS_NAMES[] = {
    [KG_TCB_UP_TO_DATE] = "UpToDate",
    [KG_TCB_SW_HARDENING_NEEDED] = "SWHardeningNeeded",
    [KG_TCB_CONFIGURATION_NEEDED] = "ConfigurationNeeded",
    [KG_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED] = "ConfigurationAndSWHardeningNeeded",
    [KG_TCB_OUT_OF_DATE] = "OutOfDate",
    [KG_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED] = "OutOfDateConfigurationNeeded",
    [KG_TCB_REVOKED] = "Revoked",
    [KG_TCB_TD_RELAUNCH_ADVISED] = "TDRelaunchAdvised",
    [KG_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED] = "TDRelaunchAdvisedConfigurationNeeded",
};

const char *kg_tcb_status_name(kg_tcb_status s)
{
    return (size_t)s < sizeof(STATUS_NAMES) / sizeof(STATUS_NAMES[0]) ? STATUS_NAMES[s] : "?";
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

kg_result kg_parse_iso8601(int64_t *out, const char *s)
{
    unsigned y, mo, d, h, mi, se;
    size_t n = strlen(s);
    bool ok = n >= 20 && digits(s, 4, &y) && s[4] == '-' && digits(s + 5, 2, &mo) && s[7] == '-' &&
              digits(s + 8, 2, &d) && s[10] == 'T' && digits(s + 11, 2, &h) && s[13] == ':' &&
              digits(s + 14, 2, &mi) && s[16] == ':' && digits(s + 17, 2, &se);
    size_t i = 19;
    if (ok && s[i] == '.') { /* fractional seconds: digits, ignored (truncation is safe here:
                                 issue dates round down, so windows only shrink by < 1 s) */
        i++;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
    }
    ok = ok && i + 1 == n && s[i] == 'Z';
    ok = ok && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && se <= 60;
    KG_ENSURE(ok, KG_ERR_INPUT, "bad date '%.40s' (want YYYY-MM-DDTHH:MM:SSZ)", s);
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return KG_OK;
}

/* ---- typed field readers: each names the field it failed on -------------------------------- */

static kg_result get_str(const json_t *o, const char *key, const char **out)
{
    const json_t *v = json_object_get(o, key);
    KG_ENSURE(json_is_string(v), KG_ERR_INPUT, "'%s' missing or not a string", key);
    *out = json_string_value(v);
    return KG_OK;
}

static kg_result get_uint(const json_t *o, const char *key, uint32_t max, uint32_t *out)
{
    const json_t *v = json_object_get(o, key);
    KG_ENSURE(json_is_integer(v), KG_ERR_INPUT, "'%s' missing or not an integer", key);
    json_int_t x = json_integer_value(v);
    KG_ENSURE(x >= 0 && (uint64_t)x <= max, KG_ERR_INPUT, "'%s' = %lld out of range 0..%u", key,
              (long long)x, max);
    *out = (uint32_t)x;
    return KG_OK;
}

static kg_result get_hex(const json_t *o, const char *key, uint8_t *out, size_t n)
{
    const char *s = NULL;
    KG_GUARD(get_str(o, key, &s));
    KG_ENSURE(strlen(s) == 2 * n, KG_ERR_INPUT, "'%s' has %zu hex digits (want %zu)", key,
              strlen(s), 2 * n);
    KG_GUARD_CTX(kg_hex_decode_exact(out, n, s), "'%s'", key);
    return KG_OK;
}

static kg_result get_date(const json_t *o, const char *key, int64_t *out)
{
    const char *s = NULL;
    KG_GUARD(get_str(o, key, &s));
    KG_GUARD_CTX(kg_parse_iso8601(out, s), "'%s'", key);
    return KG_OK;
}

static kg_result parse_status(const json_t *level, bool module, kg_tcb_status *out)
{
    const char *s = NULL;
    KG_GUARD(get_str(level, "tcbStatus", &s));
    for (size_t i = 0; i < sizeof(STATUS_NAMES) / sizeof(STATUS_NAMES[0]); i++) {
        if (strcmp(s, STATUS_NAMES[i]) != 0)
            continue;
        /* QE / TDX module levels only know UpToDate, OutOfDate and Revoked (Intel QVL). */
        KG_ENSURE(!module || i == KG_TCB_UP_TO_DATE || i == KG_TCB_OUT_OF_DATE ||
                      i == KG_TCB_REVOKED,
                  KG_ERR_INPUT, "tcbStatus '%.40s' not valid here", s);
        *out = (kg_tcb_status)i;
        return KG_OK;
    }
    KG_BAIL(KG_ERR_INPUT, "unknown tcbStatus '%.40s'", s);
}

static kg_result parse_advisories(const json_t *level, kg_advisory_id *pool, size_t *n_pool,
                                  kg_advisories *out)
{
    out->first = (uint16_t)*n_pool;
    out->n = 0;
    const json_t *a = json_object_get(level, "advisoryIDs");
    if (!a)
        return KG_OK;
    KG_ENSURE(json_is_array(a), KG_ERR_INPUT, "'advisoryIDs' not an array");
    size_t n = json_array_size(a);
    KG_ENSURE(n <= KG_MAX_ADVISORY_IDS && *n_pool + n <= KG_MAX_ADVISORY_POOL, KG_ERR_TOO_LARGE,
              "too many advisoryIDs");
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(a, i);
        KG_ENSURE(json_is_string(e), KG_ERR_INPUT, "advisoryIDs[%zu] not a string", i);
        const char *s = json_string_value(e);
        size_t len = strlen(s);
        KG_ENSURE(len > 0 && len < KG_ADVISORY_ID_MAX, KG_ERR_INPUT,
                  "advisoryIDs[%zu] of %zu chars", i, len);
        for (size_t k = 0; k < len; k++)
            KG_ENSURE(isalnum((unsigned char)s[k]) || s[k] == '-' || s[k] == '_', KG_ERR_INPUT,
                      "advisoryIDs[%zu] has a bad character", i);
        memcpy(pool[*n_pool], s, len + 1);
        (*n_pool)++;
        out->n++;
    }
    return KG_OK;
}

static kg_result parse_components(const json_t *tcb, const char *key, uint8_t out[16])
{
    const json_t *a = json_object_get(tcb, key);
    KG_ENSURE(json_is_array(a) && json_array_size(a) == 16, KG_ERR_INPUT,
              "'%s' missing or not 16 components", key);
    for (size_t i = 0; i < 16; i++) {
        uint32_t svn;
        KG_GUARD_CTX(get_uint(json_array_get(a, i), "svn", 255, &svn), "%s[%zu]", key, i);
        out[i] = (uint8_t)svn;
    }
    return KG_OK;
}

/* tcbLevels of a QE identity or TDX module identity: [{"tcb":{"isvsvn":n},...}] */
static kg_result parse_isv_levels(const json_t *o, kg_module_tcb_level *levels, size_t max,
                                  size_t *n_levels, kg_advisory_id *pool, size_t *n_pool)
{
    const json_t *a = json_object_get(o, "tcbLevels");
    KG_ENSURE(json_is_array(a) && json_array_size(a) > 0, KG_ERR_INPUT,
              "'tcbLevels' missing or empty");
    size_t n = json_array_size(a);
    KG_ENSURE(n <= max, KG_ERR_TOO_LARGE, "%zu tcbLevels exceed the maximum %zu", n, max);
    for (size_t i = 0; i < n; i++) {
        const json_t *l = json_array_get(a, i);
        const json_t *tcb = json_object_get(l, "tcb");
        uint32_t svn;
        KG_ENSURE(json_is_object(tcb), KG_ERR_INPUT, "tcbLevels[%zu].tcb missing", i);
        KG_GUARD_CTX(get_uint(tcb, "isvsvn", 65535, &svn), "tcbLevels[%zu]", i);
        levels[i].isv_svn = (uint16_t)svn;
        KG_GUARD_CTX(parse_status(l, true, &levels[i].status), "tcbLevels[%zu]", i);
        KG_GUARD_CTX(parse_advisories(l, pool, n_pool, &levels[i].advisories), "tcbLevels[%zu]", i);
    }
    *n_levels = n;
    return KG_OK;
}

static kg_result parse_module_identity(const json_t *o, kg_tdx_module_identity *m,
                                       kg_tcb_info *info)
{
    const char *id = NULL;
    KG_GUARD(get_str(o, "id", &id));
    size_t len = strlen(id);
    KG_ENSURE(len > 0 && len < sizeof(m->id), KG_ERR_INPUT, "bad TDX module identity id");
    for (size_t i = 0; i <= len; i++)
        m->id[i] = (char)toupper((unsigned char)id[i]);
    KG_GUARD(get_hex(o, "mrsigner", m->mrsigner, 48));
    KG_GUARD(get_hex(o, "attributes", m->attributes, 8));
    KG_GUARD(get_hex(o, "attributesMask", m->attributes_mask, 8));
    return parse_isv_levels(o, m->levels, KG_MAX_QE_TCB_LEVELS, &m->n_levels, info->pool,
                            &info->n_pool);
}

static kg_result parse_tcb_level(const json_t *l, kg_tcb_level *lv, kg_tcb_info *info)
{
    const json_t *tcb = json_object_get(l, "tcb");
    KG_ENSURE(json_is_object(tcb), KG_ERR_INPUT, "'tcb' missing");
    KG_GUARD(parse_components(tcb, "sgxtcbcomponents", lv->sgx_svn));
    uint32_t pcesvn;
    KG_GUARD(get_uint(tcb, "pcesvn", 65535, &pcesvn));
    lv->pce_svn = (uint16_t)pcesvn;
    if (info->is_tdx) {
        KG_GUARD(parse_components(tcb, "tdxtcbcomponents", lv->tdx_svn));
        lv->has_tdx = true;
    }
    KG_GUARD(parse_status(l, false, &lv->status));
    return parse_advisories(l, info->pool, &info->n_pool, &lv->advisories);
}

static kg_result parse_tcb_info(kg_tcb_info *info, const json_t *o)
{
    KG_ENSURE(json_is_object(o), KG_ERR_INPUT, "not a JSON object");
    const char *id = NULL;
    uint32_t u;
    KG_GUARD(get_str(o, "id", &id));
    KG_ENSURE(strcmp(id, "TDX") == 0 || strcmp(id, "SGX") == 0, KG_ERR_INPUT,
              "unknown id '%.20s' (want TDX or SGX)", id);
    info->is_tdx = strcmp(id, "TDX") == 0;
    KG_GUARD(get_uint(o, "version", 1000, &info->version));
    KG_ENSURE(info->version == 3, KG_ERR_INPUT, "unsupported version %u (want 3)", info->version);
    KG_GUARD(get_date(o, "issueDate", &info->issue_date));
    KG_GUARD(get_date(o, "nextUpdate", &info->next_update));
    KG_GUARD(get_hex(o, "fmspc", info->fmspc, 6));
    KG_GUARD(get_hex(o, "pceId", info->pce_id, 2));
    KG_GUARD(get_uint(o, "tcbType", 0, &u));
    KG_GUARD(get_uint(o, "tcbEvaluationDataNumber", UINT32_MAX, &u));

    if (info->is_tdx) {
        const json_t *m = json_object_get(o, "tdxModule");
        KG_ENSURE(json_is_object(m), KG_ERR_INPUT, "'tdxModule' missing");
        KG_GUARD_CTX(get_hex(m, "mrsigner", info->module_mrsigner, 48), "tdxModule");
        KG_GUARD_CTX(get_hex(m, "attributes", info->module_attributes, 8), "tdxModule");
        KG_GUARD_CTX(get_hex(m, "attributesMask", info->module_attributes_mask, 8), "tdxModule");
        info->has_tdx_module = true;
        const json_t *ids = json_object_get(o, "tdxModuleIdentities");
        if (ids) {
            KG_ENSURE(json_is_array(ids), KG_ERR_INPUT, "'tdxModuleIdentities' not an array");
            size_t n = json_array_size(ids);
            KG_ENSURE(n <= KG_MAX_TDX_MODULE_IDS, KG_ERR_TOO_LARGE,
                      "%zu tdxModuleIdentities exceed the maximum", n);
            for (size_t i = 0; i < n; i++)
                KG_GUARD_CTX(
                    parse_module_identity(json_array_get(ids, i), &info->module_ids[i], info),
                    "tdxModuleIdentities[%zu]", i);
            info->n_module_ids = n;
            info->has_module_identities = true;
        }
    }

    const json_t *levels = json_object_get(o, "tcbLevels");
    KG_ENSURE(json_is_array(levels) && json_array_size(levels) > 0, KG_ERR_INPUT,
              "'tcbLevels' missing or empty");
    size_t n = json_array_size(levels);
    KG_ENSURE(n <= KG_MAX_TCB_LEVELS, KG_ERR_TOO_LARGE, "%zu tcbLevels exceed the maximum", n);
    for (size_t i = 0; i < n; i++)
        KG_GUARD_CTX(parse_tcb_level(json_array_get(levels, i), &info->levels[i], info),
                     "tcbLevels[%zu]", i);
    info->n_levels = n;
    return KG_OK;
}

kg_result kg_tcb_info_parse(kg_tcb_info *out, const char *json, size_t len)
{
    memset(out, 0, sizeof(*out));
    json_error_t err;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    KG_ENSURE(o != NULL, KG_ERR_INPUT, "tcb_info: invalid JSON: %s", err.text);
    kg_result rc = parse_tcb_info(out, o);
    json_decref(o);
    if (kg_failed(rc)) {
        memset(out, 0, sizeof(*out));
        return kg_error_context("tcb_info");
    }
    return KG_OK;
}

static kg_result parse_qe_identity(kg_qe_identity *q, const json_t *o)
{
    KG_ENSURE(json_is_object(o), KG_ERR_INPUT, "not a JSON object");
    const char *id = NULL;
    uint32_t u;
    KG_GUARD(get_str(o, "id", &id));
    KG_ENSURE(strcmp(id, "QE") == 0 || strcmp(id, "TD_QE") == 0, KG_ERR_INPUT,
              "unsupported id '%.20s' (want QE or TD_QE)", id);
    q->is_td_qe = strcmp(id, "TD_QE") == 0;
    KG_GUARD(get_uint(o, "version", 1000, &q->version));
    KG_ENSURE(q->version == 2, KG_ERR_INPUT, "unsupported version %u (want 2)", q->version);
    KG_GUARD(get_date(o, "issueDate", &q->issue_date));
    KG_GUARD(get_date(o, "nextUpdate", &q->next_update));
    uint8_t b4[4];
    /* miscselect is the 32-bit value written big-endian in hex, as Intel prints it */
    KG_GUARD(get_hex(o, "miscselect", b4, 4));
    q->miscselect = (uint32_t)b4[0] << 24 | (uint32_t)b4[1] << 16 | (uint32_t)b4[2] << 8 | b4[3];
    KG_GUARD(get_hex(o, "miscselectMask", b4, 4));
    q->miscselect_mask =
        (uint32_t)b4[0] << 24 | (uint32_t)b4[1] << 16 | (uint32_t)b4[2] << 8 | b4[3];
    KG_GUARD(get_hex(o, "attributes", q->attributes, 16));
    KG_GUARD(get_hex(o, "attributesMask", q->attributes_mask, 16));
    KG_GUARD(get_hex(o, "mrsigner", q->mrsigner, 32));
    KG_GUARD(get_uint(o, "isvprodid", 65535, &u));
    q->isv_prod_id = (uint16_t)u;
    return parse_isv_levels(o, q->levels, KG_MAX_QE_TCB_LEVELS, &q->n_levels, q->pool, &q->n_pool);
}

kg_result kg_qe_identity_parse(kg_qe_identity *out, const char *json, size_t len)
{
    memset(out, 0, sizeof(*out));
    json_error_t err;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    KG_ENSURE(o != NULL, KG_ERR_INPUT, "qe_identity: invalid JSON: %s", err.text);
    kg_result rc = parse_qe_identity(out, o);
    json_decref(o);
    if (kg_failed(rc)) {
        memset(out, 0, sizeof(*out));
        return kg_error_context("qe_identity");
    }
    return KG_OK;
}
