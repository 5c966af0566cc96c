/* agent_api_test.c - the agent's app API (agent/API.md): GetKey against the KDF vectors, Sign and
 * Verify, request validation with exact errors, and the unix socket's path and mode handling. */
#include "test_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "keygate/agent.h"
#include "keygate/hash.h"

/* ---- fixture: an agent over the kdf.json app key, with no TEE behind it ---------------------- */

static kg_result no_quote(void *ctx, const uint8_t rd[KG_REPORT_DATA_LEN], kg_buf *q, kg_buf *l)
{
    KG_BAIL(KG_ERR_NOT_FOUND, "no TEE in this test");
}

static kg_result no_event(void *ctx, const char *name, const uint8_t *p, size_t n)
{
    KG_BAIL(KG_ERR_NOT_FOUND, "no TEE in this test");
}

typedef struct fixture {
    kg_agent *agent;
    json_t *vec;
} fixture;

static void hex_into(uint8_t *out, size_t n, const char *hex)
{
    KG_ASSERT_OK(kg_hex_decode_exact(out, n, hex));
}

static const char *vstr(json_t *vec, const char *group, const char *name)
{
    const char *s = json_string_value(json_object_get(json_object_get(vec, group), name));
    assert_non_null(s);
    return s;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->vec = kg_test_load_json("kdf.json");
    kg_agent_keys keys = {0};
    hex_into(keys.k256_key, 32, vstr(f->vec, "expected", "k256_key"));
    hex_into(keys.k256_signature, 65, vstr(f->vec, "expected", "k256_signature"));
    kg_agent_identity id = {.app_compose = "{\"name\":\"demo\"}", .vm_config = "{}"};
    hex_into(id.app_id, 20, vstr(f->vec, "inputs", "app_id"));
    kg_agent_platform plat = {.quote = no_quote, .emit_event = no_event};
    KG_ASSERT_OK(kg_agent_new(&f->agent, &keys, &id, &plat));
    kg_agent_keys_wipe(&keys);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    kg_agent_free(f->agent);
    json_decref(f->vec);
    free(f);
    return 0;
}

/* Calls the API and parses the JSON reply; *status receives the HTTP status. */
static json_t *call(fixture *f, const char *method, const char *body, int *status)
{
    kg_buf out;
    kg_buf_init(&out, 1 << 20);
    KG_ASSERT_OK(
        kg_agent_handle(f->agent, method, (const uint8_t *)body, strlen(body), status, &out));
    json_error_t e;
    json_t *j = json_loadb((const char *)out.data, out.len, 0, &e);
    if (j == NULL)
        fail_msg("reply is not JSON: %.*s", (int)out.len, out.data);
    for (size_t i = 0; i < out.len; i++)
        assert_true(out.data[i] < 0x80); /* the SDK's unix client needs ASCII (API.md) */
    kg_buf_free(&out);
    return j;
}

static void expect_error(fixture *f, const char *method, const char *body, int want_status,
                         const char *needle)
{
    int status = 0;
    json_t *j = call(f, method, body, &status);
    const char *err = json_string_value(json_object_get(j, "error"));
    if (err == NULL || strstr(err, needle) == NULL || status != want_status)
        fail_msg("%s %s: got %d '%s', want %d containing '%s'", method, body, status,
                 err ? err : "(no error)", want_status, needle);
    json_decref(j);
}

static void bytes_of(uint8_t *out, size_t n, json_t *v)
{
    assert_true(json_is_string(v));
    hex_into(out, n, json_string_value(v));
}

/* ---- GetKey ---------------------------------------------------------------------------------- */

static void get_key_matches_vectors(void **state)
{
    fixture *f = *state;
    int status;
    char body[256];
    snprintf(body, sizeof(body), "{\"path\":\"%s\",\"purpose\":\"%s\",\"algorithm\":\"secp256k1\"}",
             vstr(f->vec, "inputs", "get_key_path"), vstr(f->vec, "inputs", "get_key_purpose"));
    json_t *j = call(f, "GetKey", body, &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(j, "key")),
                        vstr(f->vec, "expected", "get_key_key"));
    json_t *chain = json_object_get(j, "signature_chain");
    json_t *want = json_object_get(json_object_get(f->vec, "expected"), "get_key_signature_chain");
    assert_int_equal(json_array_size(chain), 2);
    for (size_t i = 0; i < 2; i++)
        assert_string_equal(json_string_value(json_array_get(chain, i)),
                            json_string_value(json_array_get(want, i)));
    json_decref(j);

    /* "k256", "" and the prpc path form name the same derivation. */
    snprintf(body, sizeof(body), "{\"path\":\"%s\",\"purpose\":\"%s\",\"algorithm\":\"\"}",
             vstr(f->vec, "inputs", "get_key_path"), vstr(f->vec, "inputs", "get_key_purpose"));
    j = call(f, "prpc/GetKey?json", body, &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(j, "key")),
                        vstr(f->vec, "expected", "get_key_key"));
    json_decref(j);
}

static void get_key_chain_recovers_to_app_key(void **state)
{
    fixture *f = *state;
    int status;
    json_t *j = call(f, "GetKey", "{\"path\":\"a/b\",\"purpose\":\"test\"}", &status);
    assert_int_equal(status, 200);
    uint8_t key[32], pub[33], sig[65], rec[33], digest[32], app_pub[33];
    bytes_of(key, 32, json_object_get(j, "key"));
    bytes_of(sig, 65, json_array_get(json_object_get(j, "signature_chain"), 0));
    KG_ASSERT_OK(kg_k256_public(pub, key));
    char msg[128] = "test:";
    KG_ASSERT_OK(kg_hex_encode(msg + 5, sizeof(msg) - 5, pub, 33));
    kg_keccak256(digest, msg, strlen(msg));
    KG_ASSERT_OK(kg_k256_recover(rec, sig, digest));
    hex_into(app_pub, 33, vstr(f->vec, "expected", "k256_pubkey_compressed"));
    assert_memory_equal(rec, app_pub, 33);
    json_decref(j);

    /* Different paths, different keys; the same path, the same key. */
    json_t *j2 = call(f, "GetKey", "{\"path\":\"a/c\",\"purpose\":\"test\"}", &status);
    json_t *j3 = call(f, "GetKey", "{\"path\":\"a/b\",\"purpose\":\"other\"}", &status);
    assert_string_not_equal(json_string_value(json_object_get(j2, "key")),
                            json_string_value(json_object_get(j3, "key")));
    char hex[65];
    KG_ASSERT_OK(kg_hex_encode(hex, sizeof(hex), key, 32));
    assert_string_equal(hex, json_string_value(json_object_get(j3, "key")));
    json_decref(j2);
    json_decref(j3);
}

static void get_key_ed25519(void **state)
{
    fixture *f = *state;
    int status;
    json_t *j =
        call(f, "GetKey", "{\"path\":\"p\",\"purpose\":\"x\",\"algorithm\":\"ed25519\"}", &status);
    assert_int_equal(status, 200);
    /* Same seed as the secp256k1 derivation of the same path (dstack). */
    json_t *k = call(f, "GetKey", "{\"path\":\"p\",\"purpose\":\"x\"}", &status);
    assert_string_equal(json_string_value(json_object_get(j, "key")),
                        json_string_value(json_object_get(k, "key")));
    assert_string_not_equal(
        json_string_value(json_array_get(json_object_get(j, "signature_chain"), 0)),
        json_string_value(json_array_get(json_object_get(k, "signature_chain"), 0)));
    json_decref(j);
    json_decref(k);
}

/* ---- Sign / Verify --------------------------------------------------------------------------- */

static void sign_then_verify(fixture *f, const char *alg, const char *data_hex)
{
    int status;
    char body[512];
    snprintf(body, sizeof(body), "{\"algorithm\":\"%s\",\"data\":\"%s\"}", alg, data_hex);
    json_t *s = call(f, "Sign", body, &status);
    assert_int_equal(status, 200);
    const char *sig = json_string_value(json_object_get(s, "signature"));
    const char *pub = json_string_value(json_object_get(s, "public_key"));
    assert_non_null(sig);
    assert_int_equal(json_array_size(json_object_get(s, "signature_chain")), 3);
    assert_string_equal(json_string_value(json_array_get(json_object_get(s, "signature_chain"), 0)),
                        sig);

    snprintf(body, sizeof(body),
             "{\"algorithm\":\"%s\",\"data\":\"%s\",\"signature\":\"%s\",\"public_key\":\"%s\"}",
             alg, data_hex, sig, pub);
    json_t *v = call(f, "Verify", body, &status);
    assert_int_equal(status, 200);
    assert_true(json_is_true(json_object_get(v, "valid")));
    json_decref(v);

    /* One flipped data bit: a well-formed answer, false. */
    char other[80];
    snprintf(other, sizeof(other), "%s", data_hex);
    other[0] = other[0] == '0' ? '1' : '0';
    snprintf(body, sizeof(body),
             "{\"algorithm\":\"%s\",\"data\":\"%s\",\"signature\":\"%s\",\"public_key\":\"%s\"}",
             alg, other, sig, pub);
    v = call(f, "Verify", body, &status);
    assert_int_equal(status, 200);
    assert_true(json_is_false(json_object_get(v, "valid")));
    json_decref(v);
    json_decref(s);
}

static void sign_and_verify(void **state)
{
    fixture *f = *state;
    sign_then_verify(f, "secp256k1", "68656c6c6f");
    sign_then_verify(f, "k256", "68656c6c6f");
    sign_then_verify(f, "ed25519", "68656c6c6f");
    sign_then_verify(f, "secp256k1_prehashed",
                     "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
}

static void secp256k1_sign_is_sha256_prehash(void **state)
{
    /* Sign("secp256k1", m) == Sign("secp256k1_prehashed", sha256(m)) (RFC 6979 both). */
    fixture *f = *state;
    int status;
    json_t *a = call(f, "Sign", "{\"algorithm\":\"secp256k1\",\"data\":\"68656c6c6f\"}", &status);
    json_t *b = call(f, "Sign",
                     "{\"algorithm\":\"secp256k1_prehashed\",\"data\":"
                     "\"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\"}",
                     &status);
    assert_string_equal(json_string_value(json_object_get(a, "signature")),
                        json_string_value(json_object_get(b, "signature")));
    json_decref(a);
    json_decref(b);
}

static void verify_rejects_high_s(void **state)
{
    fixture *f = *state;
    int status;
    json_t *s = call(f, "Sign", "{\"algorithm\":\"secp256k1\",\"data\":\"00\"}", &status);
    uint8_t sig[64];
    bytes_of(sig, 64, json_object_get(s, "signature"));
    /* s' = n - s: the same signature in its malleable high-S form. */
    static const uint8_t n[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
                                  0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int d = n[i] - sig[32 + i] - borrow;
        borrow = d < 0;
        sig[32 + i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
    char sig_hex[129], body[512];
    KG_ASSERT_OK(kg_hex_encode(sig_hex, sizeof(sig_hex), sig, 64));
    snprintf(
        body, sizeof(body),
        "{\"algorithm\":\"secp256k1\",\"data\":\"00\",\"signature\":\"%s\",\"public_key\":\"%s\"}",
        sig_hex, json_string_value(json_object_get(s, "public_key")));
    json_t *v = call(f, "Verify", body, &status);
    assert_int_equal(status, 200);
    assert_true(json_is_false(json_object_get(v, "valid")));
    json_decref(v);
    json_decref(s);
}

/* ---- request validation ---------------------------------------------------------------------- */

static void bad_requests(void **state)
{
    fixture *f = *state;
    expect_error(f, "GetKey", "{\"path\":", 400, "request body is not valid JSON");
    expect_error(f, "GetKey", "[1]", 400, "request body must be a JSON object");
    expect_error(f, "GetKey", "{\"path\":1}", 400, "field 'path' must be a string");
    expect_error(f, "GetKey", "{\"path\":\"a\",\"path\":\"b\"}", 400, "not valid JSON");
    expect_error(f, "GetKey", "{\"algorithm\":\"rsa\"}", 400, "unsupported algorithm 'rsa'");
    expect_error(f, "Nope", "{}", 404, "no such method 'Nope'");
    expect_error(f, "", "{}", 404, "no such method");
    expect_error(f, "Sign", "{\"algorithm\":\"secp256k1\",\"data\":\"abc\"}", 400, "field 'data'");
    expect_error(f, "Sign", "{\"algorithm\":\"secp256k1_prehashed\",\"data\":\"00\"}", 400,
                 "pre-hashed signing requires a 32-byte digest, but received 1 bytes");
    expect_error(f, "Verify",
                 "{\"algorithm\":\"secp256k1\",\"data\":\"00\",\"signature\":\"00\","
                 "\"public_key\":\"02\"}",
                 400, "invalid secp256k1 public key");
    expect_error(f, "Verify",
                 "{\"algorithm\":\"ed25519\",\"data\":\"00\",\"signature\":\"00\","
                 "\"public_key\":\"00\"}",
                 400, "invalid ed25519 public key: 1 bytes, want 32");
    expect_error(f, "GetQuote",
                 "{\"report_data\":\"" /* 65 bytes */
                 "0000000000000000000000000000000000000000000000000000000000000000"
                 "000000000000000000000000000000000000000000000000000000000000000000\"}",
                 400, "field 'report_data'");
    expect_error(f, "GetQuote", "{}", 404, "no TEE in this test");
    expect_error(f, "GetTlsKey", "{\"alt_names\":\"x\"}", 400,
                 "field 'alt_names' must be an array");
    expect_error(f, "GetTlsKey", "{}", 404, "GetTlsKey needs a KMS");
    expect_error(f, "GetTlsKey", "{\"not_before\":5,\"not_after\":4}", 400,
                 "not_before must be earlier than not_after");

    char *big = malloc(KG_AGENT_MAX_BODY + 2);
    memset(big, ' ', KG_AGENT_MAX_BODY + 1);
    big[KG_AGENT_MAX_BODY + 1] = 0;
    expect_error(f, "GetKey", big, 400, "more than 65536");
    free(big);
}

/* ---- the KMS's outcomes through GetTlsKey --------------------------------------------------- */

/* The outcome kg_agent_kms_rpc_attested records for each KMS answer (boot.c): a refusal (HTTP
 * 4xx), a KMS that could not decide (HTTP 503), no KMS reachable. */
static kg_err g_kms_outcome;

static kg_result kms_says(void *ctx, const kg_p256_key *key, const kg_agent_cert_request *req,
                          kg_pem_chain *chain)
{
    KG_BAIL(g_kms_outcome, "KMS SignCert at https://kms.test: %s", kg_err_name(g_kms_outcome));
}

/* One status table (kg_err_http_status) for the KMS and the agent: a refusal stays final (403),
 * a KMS or chain that could not decide is 503 (the app may retry), and the body is still the
 * JSON {"error"} dstack clients read. */
static void kms_outcomes_keep_their_status(void **state)
{
    fixture *f = *state;
    kg_agent *a = NULL;
    kg_agent_keys keys = {0};
    kg_agent_identity id = {.app_compose = "{}"};
    kg_agent_platform plat = {.quote = no_quote, .emit_event = no_event, .sign_cert = kms_says};
    KG_ASSERT_OK(kg_agent_new(&a, &keys, &id, &plat));
    kg_agent *keep = f->agent;
    f->agent = a;
    g_kms_outcome = KG_ERR_DENIED;
    expect_error(f, "GetTlsKey", "{\"subject\":\"a.test\"}", 403,
                 "SignCert at https://kms.test: denied");
    g_kms_outcome = KG_ERR_UNAVAILABLE;
    expect_error(f, "GetTlsKey", "{}", 503, "SignCert at https://kms.test: unavailable");
    g_kms_outcome = KG_ERR_NETWORK;
    expect_error(f, "GetTlsKey", "{}", 503, "SignCert at https://kms.test: network");
    f->agent = keep;
    kg_agent_free(a);
}

static void emit_event_names(void **state)
{
    fixture *f = *state;
    expect_error(f, "EmitEvent", "{\"event\":\"\",\"payload\":\"00\"}", 400, "event name is empty");
    expect_error(f, "EmitEvent", "{\"event\":\"a:b\",\"payload\":\"00\"}", 400,
                 "without spaces or ':'");
    expect_error(f, "EmitEvent", "{\"event\":\"app-id\",\"payload\":\"00\"}", 403,
                 "event name 'app-id' is reserved for the boot flow");
    expect_error(f, "EmitEvent", "{\"event\":\"system-ready\"}", 403, "reserved");
    expect_error(f, "EmitEvent", "{\"event\":\"ok\",\"payload\":\"zz\"}", 400, "field 'payload'");
    expect_error(f, "EmitEvent", "{\"event\":\"ok\",\"payload\":\"00\"}", 404,
                 "no TEE in this test");
}

static void version(void **state)
{
    fixture *f = *state;
    int status;
    json_t *j = call(f, "Version", "", &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(j, "version")), KG_VERSION);
    json_decref(j);
}

/* ---- the unix socket ------------------------------------------------------------------------- */

static void tmp_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "/tmp/kg-agent-test-%d-%s", (int)getpid(), name);
    unlink(out);
}

static void *serve(void *arg)
{
    if (kg_failed(kg_agent_server_run(arg)))
        return (void *)1;
    return NULL;
}

/* One HTTP exchange over the socket the way the SDK's unix client does it; returns the reply. */
static void http_post(char *reply, size_t cap, const char *path, const char *method,
                      const char *body)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "POST /%s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, strlen(body), body);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t got = 0;
    ssize_t r;
    /* The server must close after replying: the SDK waits for that. */
    while (got + 1 < cap && (r = read(fd, reply + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    reply[got] = 0;
    close(fd);
}

static void socket_serves_and_closes(void **state)
{
    fixture *f = *state;
    char path[108], reply[4096];
    tmp_path(path, sizeof(path), "serve.sock");
    kg_agent_server *srv = NULL;
    KG_ASSERT_OK(kg_agent_server_new(&srv, f->agent, path, 0));
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0660);

    /* A second server on the same live socket is refused, and the first keeps its socket. */
    kg_agent_server *dup = NULL;
    KG_ASSERT_ERR(kg_agent_server_new(&dup, f->agent, path, 0), KG_ERR_IO,
                  "is in use by another server");

    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, serve, srv), 0);
    http_post(reply, sizeof(reply), path, "Version", "{}");
    assert_non_null(strstr(reply, "HTTP/1.1 200"));
    assert_non_null(strstr(reply, "Content-Length: "));
    assert_non_null(strstr(reply, "Connection: close"));
    assert_non_null(strstr(reply, "\"version\":\"" KG_VERSION "\""));
    http_post(reply, sizeof(reply), path, "Nope", "{}");
    assert_non_null(strstr(reply, "HTTP/1.1 404"));
    assert_non_null(strstr(reply, "{\"error\":\"no such method 'Nope'\"}"));
    http_post(reply, sizeof(reply), path, "GetKey", "{\"path\":");
    assert_non_null(strstr(reply, "HTTP/1.1 400"));
    kg_agent_server_stop(srv);
    assert_int_equal(pthread_join(th, NULL), 0);
    kg_agent_server_free(srv);
    assert_int_equal(lstat(path, &st), -1); /* removed on free */
}

static void socket_path_handling(void **state)
{
    fixture *f = *state;
    char path[108];
    kg_agent_server *srv = NULL;
    struct stat st;

    /* A regular file at the path is never replaced. */
    tmp_path(path, sizeof(path), "file");
    FILE *fp = fopen(path, "w");
    fputs("precious", fp);
    fclose(fp);
    KG_ASSERT_ERR(kg_agent_server_new(&srv, f->agent, path, 0), KG_ERR_IO,
                  "exists and is not a socket; refusing to replace it");
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    unlink(path);

    /* A stale socket (nobody listening) is replaced. */
    tmp_path(path, sizeof(path), "stale.sock");
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    KG_ASSERT_OK(kg_agent_server_new(&srv, f->agent, path, 0600));
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    kg_agent_server_free(srv);
    srv = NULL;

    /* Wider than 0660, too long, missing directory: usage and I/O errors. */
    KG_ASSERT_ERR(kg_agent_server_new(&srv, f->agent, path, 0666), KG_ERR_USAGE,
                  "socket mode 0666 is wider than 0660");
    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = 0;
    KG_ASSERT_ERR(kg_agent_server_new(&srv, f->agent, longp, 0), KG_ERR_USAGE,
                  "is longer than 107 bytes");
    KG_ASSERT_ERR(kg_agent_server_new(&srv, f->agent, "/nonexistent-dir-kg/x.sock", 0), KG_ERR_IO,
                  "binding '/nonexistent-dir-kg/x.sock'");
    assert_null(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(get_key_matches_vectors, setup, teardown),
        cmocka_unit_test_setup_teardown(get_key_chain_recovers_to_app_key, setup, teardown),
        cmocka_unit_test_setup_teardown(get_key_ed25519, setup, teardown),
        cmocka_unit_test_setup_teardown(sign_and_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(secp256k1_sign_is_sha256_prehash, setup, teardown),
        cmocka_unit_test_setup_teardown(verify_rejects_high_s, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(emit_event_names, setup, teardown),
        cmocka_unit_test_setup_teardown(kms_outcomes_keep_their_status, setup, teardown),
        cmocka_unit_test_setup_teardown(version, setup, teardown),
        cmocka_unit_test_setup_teardown(socket_serves_and_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(socket_path_handling, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
