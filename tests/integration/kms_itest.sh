#!/usr/bin/env bash
# kms_itest.sh - keygate-kms end to end (docs/protocol.md section 7, flows 1-5): a real anvil with the
# governance contracts deployed, the simulated TDX platform and its PCCS, the KMS as a process,
# and simulated app VMs presenting RA-TLS certificates. Every denial must carry its specific
# reason, be in the audit log, and return no key bytes.
# Usage: kms_itest.sh BUILD_DIR
set -euo pipefail

BUILD="$(cd "${1:?usage: kms_itest.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLIENT="$BUILD/tests/kms-itest-client"
SIM="$BUILD/tests/kms-itest-sim" # re-issues the simulated collateral already expired
die() {
  echo "not ok - $*" >&2
  [ -f "$TMP/kms.log" ] && { echo "--- kms.log (tail)" >&2; tail -20 "$TMP/kms.log" >&2; }
  exit 1
}
. "$SRC/tests/support/devnet.sh"
for tool in "$ANVIL" "$CAST" "$KMS" "$CLI" "$CLIENT" "$SIM" "$BUILD/tests/conn-flood"; do
  [ -x "$tool" ] || { echo "kms_itest: missing $tool (run scripts/setup and make build)" >&2; exit 1; }
done
kg_devnet_begin kms-itest

PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
send() { kg_send "$@"; }
block_of_last_tx() { printf '%d' "$(jq -r .blockNumber "$TMP/tx.json")"; }

# ---- chain: anvil + contracts; the simulated TDX platform + PCCS ---------------------------------
kg_devnet_chain
ok "contracts deployed (KMS contract $KMSC)"
kg_devnet_sim

# ---- KMS: config, bootstrap, registration on chain ---------------------------------------------
# request_timeout_ms 5 s: a handshake stalled after its ClientHello is checked against it below
KG_KMS_LIMITS='{"workers": 2, "request_timeout_ms": 5000}' kg_devnet_kms_config
# The state_dir starts as an earlier version left it, root keys in plain files (a copy in
# plain-keys lets the client check the derivations): the first start seals them and wipes the
# plain files (docs/design.md, "Sealed root keys").
kg_plain_root_keys "$TMP/plain-keys"
mkdir -m 700 "$TMP/state" && cp -p "$TMP/plain-keys/root-ca.key" "$TMP/plain-keys/root-k256.key" "$TMP/state/"
kg_devnet_bootstrap
grep -q "migrated: the plaintext root key files in $TMP/state are wiped" "$TMP/bootstrap.log" || die "no migration: $(cat "$TMP/bootstrap.log")"
[ "$(stat -c %a "$TMP/state/root-keys.sealed")" = 600 ] || die "root-keys.sealed is not mode 0600"
kg_assert_no_root_keys_in "$TMP/state" "$TMP/plain-keys"
ok "migration: plaintext root keys sealed (0600), the plain files wiped, no key bytes left in state_dir"
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z info keygate-kms: migrated: the plaintext root key files in ' "$TMP/bootstrap.log" ||
  die "bootstrap log line is not 'TIME info keygate-kms: ...': $(cat "$TMP/bootstrap.log")"
ok "bootstrap: root keys sealed, bootstrap info printed, logged as text"
kg_devnet_register_kms
ok "KMS registered on chain (OS image, aggregated MR, device, KMS info)"

for bad in "--log-format xml" "--log-format"; do
  set +e; "$KMS" --config "$TMP/kms.json" $bad --port-file "$TMP/bad.port" 2>"$TMP/err.txt"; RC=$?; set -e
  [ "$RC" = 2 ] && [ ! -e "$TMP/bad.port" ] && grep -q "log-format" "$TMP/err.txt" || die "keygate-kms $bad: rc=$RC $(cat "$TMP/err.txt")"
done
ok "keygate-kms --log-format with a bad or no value: exit 2, names the option, does not start"

# From here on the KMS logs JSON (--log-format json), checked line by line below.
start_kms() { KG_KMS_LOG_FORMAT=json kg_devnet_start_kms; }
stop_kms() { kill "$KMS_PID"; wait "$KMS_PID" 2>/dev/null || true; }
start_kms
grep -q "self-check: allowed" "$TMP/kms.log" || die "self-check did not pass at start: $(grep self-check "$TMP/kms.log")"
ok "KMS started; its self-check (isKmsAllowed on its own attestation) passed"

# call NAME ARGS... : runs the client; stdout in $TMP/out.json, status in $RC
call() { set +e; "$CLIENT" --kms "127.0.0.1:$KPORT" "$@" >"$TMP/out.json" 2>"$TMP/err.txt"; RC=$?; set -e; }
app() { # app VM APP_ID COMPOSE [extra...]
  local vm="$1" appid="$2" compose="$3"; shift 3
  call --method GetAppKey --body '{"api_version":1}' --sim "$TMP/sim" --vm "$vm" --app-id "$appid" \
    --compose-hash "$compose" --instance-id "$INST" "$@"
}
expect_denied() { # expect_denied REASON_SUBSTRING WHAT
  [ "$RC" = 1 ] || die "$2: expected a denial, got rc=$RC $(cat "$TMP/out.json" "$TMP/err.txt")"
  jq -e 'keys == ["error"]' "$TMP/out.json" >/dev/null || die "$2: reply has more than an error: $(cat "$TMP/out.json")"
  grep -q -- "$1" "$TMP/out.json" || die "$2: reason '$1' not in $(cat "$TMP/out.json")"
  ok "$2 denied: $(jq -r .error "$TMP/out.json")"
}

# ---- public methods ----------------------------------------------------------------------------
call --method GetMeta --cert none
[ "$RC" = 0 ] || die "GetMeta: $(cat "$TMP/out.json")"
[ "$(jq -r .k256_pubkey "$TMP/out.json")" = "$K256" ] || die "GetMeta k256_pubkey"
[ "$(jq -r .chain_id "$TMP/out.json")" = 31337 ] || die "GetMeta chain_id"
jq -e '.ca_cert | startswith("-----BEGIN CERTIFICATE-----")' "$TMP/out.json" >/dev/null || die "GetMeta ca_cert"
CA_CERT="$(jq -r .ca_cert "$TMP/out.json")"
ok "GetMeta: root CA, k256 pubkey, chain id, bootstrap info"
call --method KMS.GetTempCaCert --cert none
[ "$RC" = 0 ] && jq -e '.temp_ca_key | startswith("-----BEGIN PRIVATE KEY-----")' "$TMP/out.json" >/dev/null || die "GetTempCaCert"
ok "GetTempCaCert (KMS. prefix accepted)"
call --method GetAppEnvEncryptPubKey --cert none --body '{"app_id":"5fbdb2315678afecb367f032d93f642f64180aa3"}'
[ "$RC" = 0 ] && [ "$(jq -r '.public_key | length' "$TMP/out.json")" = 64 ] && [ "$(jq -r '.signature_v1 | length' "$TMP/out.json")" = 130 ] || die "GetAppEnvEncryptPubKey $(cat "$TMP/out.json")"
ok "GetAppEnvEncryptPubKey: public key, signature, signature_v1"

# ---- key release -------------------------------------------------------------------------------
INST=00112233445566778899aabbccddeeff00112233
H1=$(printf 'app-compose v1' | sha256sum | cut -c1-64)
H2=$(printf 'app-compose v2' | sha256sum | cut -c1-64)
call --method GetAppKey --cert none
expect_denied "no client certificate" "GetAppKey without a client certificate"
call --method GetAppKey --cert plain
expect_denied "unverified): RA-TLS certificate: certificate has no RA-TLS quote extension" "GetAppKey with a non-RA-TLS certificate"
app unreg 1111111111111111111111111111111111111111 "$H1"
expect_denied "not allowed by governance: app not registered" "unregistered app"

APP="$(kg_devnet_register_app "$H1")"
[ "${#APP}" = 40 ] || die "no app id from the factory"
ok "app deployed and registered via the factory: 0x$APP"

app v1 "$APP" "$H1" --check-keys "$TMP/plain-keys"
[ "$RC" = 0 ] || die "approved app v1: $(cat "$TMP/out.json" "$TMP/err.txt")"
grep -q "keys match the derivation" "$TMP/err.txt" || die "v1 keys not checked"
[ "$(jq -r .ca_cert "$TMP/out.json")" = "$CA_CERT" ] || die "GetAppKey ca_cert is not the root CA"
[ "$(jq -r .os_image_hash "$TMP/out.json")" = "$OSH" ] || die "GetAppKey os_image_hash"
V1_K256="$(jq -r .k256_key "$TMP/out.json")"
V1_DISK="$(jq -r .disk_crypt_key "$TMP/out.json")"
ok "approved app v1 gets keys matching the docs/protocol.md section 5 derivation"

call --method SignCert --sim "$TMP/sim" --vm v1 --app-id "$APP" --compose-hash "$H1" --instance-id "$INST" --csr
[ "$RC" = 0 ] && [ "$(jq '.certificate_chain | length' "$TMP/out.json")" = 3 ] || die "SignCert: $(cat "$TMP/out.json" "$TMP/err.txt")"
for i in 0 1 2; do jq -r ".certificate_chain[$i]" "$TMP/out.json" >"$TMP/chain$i.pem"; done
openssl verify -CAfile "$TMP/chain2.pem" -untrusted "$TMP/chain1.pem" "$TMP/chain0.pem" >/dev/null 2>&1 || die "SignCert chain does not verify to the root CA"
[ "$(cat "$TMP/chain2.pem")" = "$CA_CERT" ] || die "SignCert chain does not end in the KMS root CA"
openssl x509 -in "$TMP/chain0.pem" -noout -subject | grep -q "app.keygate.test" || die "SignCert leaf subject"
ok "SignCert: leaf for the attested key under the app CA under the root CA (openssl verify)"
call --method SignCert --cert plain --csr
expect_denied "unverified): RA-TLS certificate: certificate has no RA-TLS quote extension" "SignCert without attestation"

app v1-tampered "$APP" "$H1" --cert tampered
expect_denied "unverified): RA-TLS quote" "tampered quote in the certificate"
app v1-unbound "$APP" "$H1" --cert unbound
expect_denied "key is not bound to the quote (REPORTDATA mismatch)" "certificate whose key REPORTDATA does not bind"

app v2 "$APP" "$H2"
expect_denied "not allowed by governance: compose hash not allowed" "unapproved upgrade v2"
send "$APP" "addComposeHash(bytes32)" "0x$H2"
app v2 "$APP" "$H2" --check-keys "$TMP/plain-keys"
[ "$RC" = 0 ] || die "approved v2: $(cat "$TMP/out.json")"
[ "$(jq -r .k256_key "$TMP/out.json")" = "$V1_K256" ] && [ "$(jq -r .disk_crypt_key "$TMP/out.json")" = "$V1_DISK" ] || die "v2 keys differ from v1"
ok "approved upgrade v2 gets the same keys as v1 (continuity)"

send "$APP" "removeComposeHash(bytes32)" "0x$H1"
REVOKE_BLOCK="$(block_of_last_tx)"
app v1 "$APP" "$H1"
expect_denied "not allowed by governance: compose hash not allowed" "revoked v1"

# The KMS runs the same (simulated) OS image as the app: removing it disallows the KMS itself,
# which every release re-checks at its decision block, so this KMS cannot decide (503).
send "$KMSC" "removeOsImageHash(bytes32)" "0x$OSH"
app v2 "$APP" "$H2"
expect_denied "this KMS is not allowed at block [0-9]*: os image not allowed; ask another KMS" "disallowed OS image"
grep -q "HTTP 503" "$TMP/err.txt" || die "disallowed OS image of the KMS: not 503: $(cat "$TMP/err.txt")"
send "$KMSC" "addOsImageHash(bytes32)" "0x$OSH"
app v2 "$APP" "$H2"
[ "$RC" = 0 ] || die "v2 after the OS image is allowed again: $(cat "$TMP/out.json")"
ok "OS image allowed again: v2 released"

# ---- audit log -----------------------------------------------------------------------------------
"$CLI" audit list --db "$TMP/state/audit.db" --json >"$TMP/audit.json" || die "keygate audit list"
N_ALLOW="$(jq '[.[] | select(.decision=="allow" and .method!="self-check")] | length' "$TMP/audit.json")"
N_DENY="$(jq '[.[] | select(.decision=="deny")] | length' "$TMP/audit.json")"
[ "$N_ALLOW" -ge 3 ] && [ "$N_DENY" -ge 8 ] || die "audit log: $N_ALLOW allowed, $N_DENY denied"
jq -e --arg app "$APP" --argjson rb "$REVOKE_BLOCK" --arg h1 "$H1" \
  '[.[] | select(.decision=="deny" and .app_id==$app and .compose_hash==$h1 and .block_number >= $rb and (.reason|test("compose hash not allowed")))] | length == 1' \
  "$TMP/audit.json" >/dev/null || die "revocation denial not audited at a block >= $REVOKE_BLOCK"
jq -e '[.[] | select(.decision=="allow" and .method=="GetAppKey")][0] | (.block_hash|length)==66 and (.released|fromjson|.k256_pubkey|length)==66' "$TMP/audit.json" >/dev/null || die "allow record lacks block hash or fingerprints"
jq -e '[.[] | select(.reason|test("no client certificate"))] | length >= 1' "$TMP/audit.json" >/dev/null || die "missing-cert denial not audited"
if grep -rqa -e "$V1_K256" -e "$V1_DISK" "$TMP/state/"audit.db*; then die "key bytes found in the audit log"; fi
"$CLI" audit list --db "$TMP/state/audit.db" --limit 3 | grep -q "GetAppKey" || die "audit list table"
ok "audit log: $N_ALLOW releases and $N_DENY denials with boot info, block and reasons; no key bytes"

# ---- operational log (--log-format json): one JSON object per line, one line per request --------
jq -e . "$TMP/kms.log" >/dev/null || die "kms.log holds a line that is not JSON"
RFC3339='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$'
jq -se --arg t "$RFC3339" '[.[] | select(.msg=="request" and .method=="GetAppKey" and .decision=="allow")] |
  length >= 1 and all(.ts|test($t)) and all(.level=="info" and .prog=="keygate-kms" and .status==200 and
  (.request_id|type)=="number" and (.latency_ms|type)=="number" and (.peer|startswith("127.0.0.1:")))' \
  "$TMP/kms.log" >/dev/null || die "no complete GetAppKey allow line in kms.log: $(grep GetAppKey "$TMP/kms.log" | head -3)"
jq -se '[.[] | select(.msg=="request" and .method=="GetAppKey" and .decision=="deny" and .level=="warn"
  and .status==403 and (.reason|test("no client certificate")))] | length >= 1' "$TMP/kms.log" >/dev/null ||
  die "no GetAppKey deny line with its reason in kms.log"
jq -se '[.[] | select(.msg=="request") | .request_id] | length == (unique | length)' "$TMP/kms.log" >/dev/null ||
  die "request ids repeat"
if grep -qa -e "$V1_K256" -e "$V1_DISK" "$TMP/kms.log"; then die "key bytes found in the KMS log"; fi
# keygate audit list filters (SQL over the same rows): method, decision, time window
A="$CLI audit list --db $TMP/state/audit.db --json"
$A --method GetAppKey --decision deny >"$TMP/f.json" || die "audit list --method --decision"
[ "$(jq length "$TMP/f.json")" = "$(jq '[.[] | select(.method=="GetAppKey" and .decision=="deny")] | length' "$TMP/audit.json")" ] &&
  jq -e 'length >= 3 and all(.method=="GetAppKey" and .decision=="deny")' "$TMP/f.json" >/dev/null || die "audit list --method GetAppKey --decision deny: $(jq -c 'map([.id,.method,.decision])' "$TMP/f.json")"
MID_MS="$(jq '.[(length/2|floor)].time_ms' "$TMP/audit.json")"
MID_S=$((MID_MS / 1000))
SINCE="$(date -u -d "@$MID_S" +%Y-%m-%dT%H:%M:%SZ)"
$A --since "$SINCE" >"$TMP/f.json" || die "audit list --since $SINCE"
[ "$(jq length "$TMP/f.json")" = "$(jq --argjson t $((MID_S * 1000)) '[.[] | select(.time_ms >= $t)] | length' "$TMP/audit.json")" ] || die "audit list --since $SINCE"
$A --until "$MID_S" --decision allow >"$TMP/f.json" || die "audit list --until"
[ "$(jq length "$TMP/f.json")" = "$(jq --argjson t $((MID_S * 1000)) '[.[] | select(.time_ms < $t and .decision=="allow")] | length' "$TMP/audit.json")" ] || die "audit list --until $MID_S --decision allow"
SINCE_CET="$(TZ=Europe/Paris date -d "@$MID_S" +%Y-%m-%dT%H:%M:%S%:z)"
[ "$($A --since "$SINCE_CET" | jq length)" = "$($A --since "$SINCE" | jq length)" ] || die "audit list --since with an offset ($SINCE_CET) differs from UTC ($SINCE)"
for bad in "--decision maybe" "--since yesterday" "--since 2026-02-30T00:00:00Z" "--until 2026-12-03T10:00:00" "--since 200 --until 100"; do
  set +e; $A $bad >/dev/null 2>"$TMP/err.txt"; RC=$?; set -e
  [ "$RC" = 2 ] && grep -q "keygate audit list: --" "$TMP/err.txt" || die "audit list $bad: rc=$RC $(cat "$TMP/err.txt")"
done
ok "audit list filters: --method, --decision, --since/--until (RFC 3339 with Z or an offset, Unix seconds); bad values exit 2"
ok "log: GetAppKey lines with RFC 3339 time, level, request id, method, decision, status, latency, peer; denials with their reason; no key bytes"

# ---- the audit log cannot be written: no key leaves ---------------------------------------------
# A real fault, no hook in the KMS: another process holds the database's write lock longer than
# the KMS's busy timeout (5 s), so the commit of the release fails.
rm -f "$TMP/lock.ready"
python3 - "$TMP/state/audit.db" "$TMP/lock.ready" <<'PY' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
open(sys.argv[2], "w").write("locked")
time.sleep(8)
db.execute("ROLLBACK")
PY
LOCK_PID=$!
wait_file "$TMP/lock.ready" "$LOCK_PID"
app v2 "$APP" "$H2"
expect_denied "record store: audit: begin: database is locked; nothing released" "release whose audit commit fails"
wait "$LOCK_PID"
app v2 "$APP" "$H2"
[ "$RC" = 0 ] || die "v2 after the audit log recovers: $(cat "$TMP/out.json")"
# (grep reads the whole reply: grep -q would exit at the match and curl, still writing, fail on
# the closed pipe under pipefail)
curl -sk "https://127.0.0.1:$KPORT/metrics" | grep "^keygate_kms_audit_failures_total [1-9]" >/dev/null || die "audit failure not counted"
ok "audit commit failure (database locked by another writer): the key is not released (503, error only), counted in /metrics; released again once it recovers"

# ---- an anonymous flood does not drown the log ----------------------------------------------------
# 2000 requests without a certificate over 4 keep-alive connections (no handshake each: the flood
# outruns the audit rate by far). Rows and the database's size (pages in use, through the WAL) stay
# within what the rate allows, whatever the number of requests; the real decision stays findable.
db_bytes() { python3 -c 'import sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
print(c.execute("pragma page_count").fetchone()[0] * c.execute("pragma page_size").fetchone()[0])' "$TMP/state/audit.db"; }
ROWS0="$("$CLI" audit list --db "$TMP/state/audit.db" --json | jq length)"
BYTES0="$(db_bytes)"
for i in $(seq 500); do printf 'url = "https://127.0.0.1:%s/prpc/GetAppKey?json"\noutput = "/dev/null"\n' "$KPORT"; done >"$TMP/flood.curl"
START_S=$SECONDS
FLOODERS=()
for i in 1 2 3 4; do
  curl -sk -X POST -d '{}' -K "$TMP/flood.curl" &
  FLOODERS+=("$!")
done
wait "${FLOODERS[@]}"
ELAPSED=$((SECONDS - START_S + 1))
ROWS1="$("$CLI" audit list --db "$TMP/state/audit.db" --json | jq length)"
BYTES1="$(db_bytes)"
DROPPED="$(curl -sk "https://127.0.0.1:$KPORT/metrics" | awk '/^keygate_kms_unverified_denials_not_recorded_total/ {print $2}')"
# rows bounded by the rate (burst 200, 20/s); every refusal either written or counted
# (on a machine so loaded that the flood is slower than the rate, nothing need be dropped)
BOUND=$((200 + 20 * ELAPSED))
[ "$((ROWS1 - ROWS0))" -le "$BOUND" ] && [ "$((ROWS1 - ROWS0 + ${DROPPED:-0}))" -ge 2000 ] &&
  { [ "$BOUND" -ge 2000 ] || [ "${DROPPED:-0}" -gt 0 ]; } ||
  die "anonymous flood: $((ROWS1 - ROWS0)) rows written in ${ELAPSED}s, $DROPPED counted only"
# one such row (a refusal with its reason, its log leaf and hashes) takes about 0.5 KiB
[ "$((BYTES1 - BYTES0))" -le "$((BOUND * 2048))" ] ||
  die "anonymous flood: the database grew $((BYTES1 - BYTES0)) bytes for $((ROWS1 - ROWS0)) rows (bound $((BOUND * 2048)))"
app v2 "$APP" "$H2"
[ "$RC" = 0 ] || die "v2 after the flood: $(cat "$TMP/out.json")"
"$CLI" audit list --db "$TMP/state/audit.db" --json | jq -e '.[-1].method=="GetAppKey" and .[-1].decision=="allow"' >/dev/null ||
  die "the real decision after the flood is not the newest row"
ok "2000 anonymous requests in ${ELAPSED}s: $((ROWS1 - ROWS0)) rows written (rate-limited), $DROPPED refusals counted only; the database grew $((BYTES1 - BYTES0)) bytes (bound $((BOUND * 2048))); the next real release is recorded"

# ---- health and metrics --------------------------------------------------------------------------
curl -sk "https://127.0.0.1:$KPORT/health" | jq -e '.status=="ok" and .kms_allowed==true' >/dev/null || die "/health"
curl -sk "https://127.0.0.1:$KPORT/metrics" >"$TMP/metrics.txt" || die "/metrics: no answer"
grep -q "^keygate_kms_keys_released_total [1-9]" "$TMP/metrics.txt" || die "/metrics"
# the quotes of one platform share a PCK chain: after the first verified, collateral is found by it
grep -q "^keygate_kms_pccs_chain_hits_total [1-9]" "$TMP/metrics.txt" ||
  die "/metrics: no collateral found by PCK chain: $(grep pccs "$TMP/metrics.txt")"
[ "$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$KPORT/prpc/Nope?json")" = 404 ] || die "unknown method"
head -c 400000 /dev/zero | tr '\0' 'a' >"$TMP/big.txt"
[ "$(curl -sk -o /dev/null -w '%{http_code}' -X POST --data-binary @"$TMP/big.txt" "https://127.0.0.1:$KPORT/prpc/GetMeta?json" || true)" = 413 ] || die "oversized body not refused with 413"
IDLE="$(python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(30)
t = time.time()
s.recv(1)
print(round(time.time() - t))' "$KPORT")"
[ "$IDLE" -ge 1 ] && [ "$IDLE" -le 4 ] || die "a connection that never began TLS was closed after ${IDLE}s, want handshake_timeout_ms (2 s)"
curl -sk "https://127.0.0.1:$KPORT/metrics" | grep "^keygate_kms_handshake_timeouts_total [1-9]" >/dev/null || die "handshake timeout not counted"
ok "/health, /metrics (collateral found by PCK chain), unknown method 404, oversized body refused (413), a silent connection closed at the handshake deadline after ${IDLE}s (counted)"
# A client that sent its whole ClientHello may take longer to finish (a keygate client judges the
# KMS's attestation, with PCCS and chain calls, inside the handshake): request_timeout_ms, not 2 s.
"$BUILD/tests/conn-flood" --target "127.0.0.1:$KPORT" --conns 1 --mode hello --seconds 8 >"$TMP/hello.json" ||
  die "conn-flood --mode hello"
jq -e '.closed_by_server >= 1 and .lifetime_ms_min >= 4000 and .lifetime_ms_min <= 7000' "$TMP/hello.json" >/dev/null ||
  die "a handshake stalled after the ClientHello was not given request_timeout_ms (5 s): $(cat "$TMP/hello.json")"
ok "a handshake stalled after a whole ClientHello: closed after $(jq -r .lifetime_ms_min "$TMP/hello.json") ms (request_timeout_ms), not at the 2 s ClientHello deadline"

# ---- restart: same keys, audit history kept; /metrics moves to the admin listener ----------------
stop_kms
jq '.admin_listen = "127.0.0.1:0"' "$TMP/kms.json" >"$TMP/kms.json.new" && mv "$TMP/kms.json.new" "$TMP/kms.json"
LINES_BEFORE="$(wc -l <"$TMP/kms.log")"
start_kms
APORT="$(tail -n +"$((LINES_BEFORE + 1))" "$TMP/kms.log" |
  jq -r 'select(.msg|startswith("admin listening on http://127.0.0.1:")) | .msg | capture(":(?<p>[0-9]+) ").p')"
[ -n "$APORT" ] || die "no admin listener line in kms.log"
# (into a file first: grep -q would stop reading and, under pipefail, curl's EPIPE fail the check)
curl -sf "http://127.0.0.1:$APORT/metrics" >"$TMP/admin-metrics.txt" || die "admin /metrics: no answer"
grep -q "^keygate_kms_allowed 1" "$TMP/admin-metrics.txt" || die "admin /metrics: $(head -5 "$TMP/admin-metrics.txt")"
curl -sf "http://127.0.0.1:$APORT/health" | jq -e '.status=="ok"' >/dev/null || die "admin /health"
[ "$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$KPORT/metrics")" = 404 ] || die "/metrics still on the public port with admin_listen set"
[ "$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$KPORT/health")" = 200 ] || die "public /health gone with admin_listen set"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$APORT/metrics")" = 405 ] || die "admin listener accepts POST /metrics"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$APORT/metrics")" = 501 ] || die "admin listener accepts PUT"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$APORT/epoch/propose")" = 405 ] || die "admin listener proposes on GET"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$APORT/prpc/GetMeta")" = 404 ] || die "admin listener serves the RPC"
ok "admin_listen: /metrics and /health over plain HTTP on the admin port (GET only; POST only for /epoch/propose); /metrics no longer on the public port"

# The self-check every second for a few seconds: each run counted on /metrics, one audit row for
# the start only (the verdict does not change), so the audit log is not a self-check a minute.
stop_kms
jq '.self_check_interval_s = 1 | del(.admin_listen)' "$TMP/kms.json" >"$TMP/kms-sc.json"
N_SC="$("$CLI" audit list --db "$TMP/state/audit.db" --method self-check --json | jq length)"
KG_KMS_LOG_FORMAT=json kg_devnet_start_kms "$TMP/kms-sc.json"
sleep 3.5
curl -sk "https://127.0.0.1:$KPORT/metrics" >"$TMP/sc-metrics.txt" || die "/metrics with self-checks every second"
SC_RUNS="$(awk '$1=="keygate_kms_self_checks_total" {print $2}' "$TMP/sc-metrics.txt")"
N_SC2="$("$CLI" audit list --db "$TMP/state/audit.db" --method self-check --json | jq length)"
[ "${SC_RUNS:-0}" -ge 3 ] && [ "$N_SC2" = $((N_SC + 1)) ] ||
  die "self-checks every second: $SC_RUNS runs counted, $((N_SC2 - N_SC)) audit rows (want >= 3 runs, 1 row)"
stop_kms
start_kms
ok "self-check every second: $SC_RUNS runs counted on /metrics, 1 audit row (at start; the verdict did not change)"
app v2 "$APP" "$H2" --check-keys "$TMP/plain-keys"
[ "$RC" = 0 ] && [ "$(jq -r .k256_key "$TMP/out.json")" = "$V1_K256" ] || die "keys changed across a restart"
call --method GetMeta --cert none
[ "$(jq -r .k256_pubkey "$TMP/out.json")" = "$K256" ] || die "root key changed across a restart"
"$CLI" audit list --db "$TMP/state/audit.db" --json >"$TMP/audit2.json"
[ "$(jq length "$TMP/audit2.json")" -gt "$(jq length "$TMP/audit.json")" ] || die "audit history lost"
ok "restart keeps the root keys, app keys and the audit history"

# ---- replication: a second KMS node obtains the root keys (GetKmsKey) -----------------------------
app v2 "$APP" "$H2" --method GetKmsKey
expect_denied "the peer's measured identity is not a KMS of this deployment" "GetKmsKey from an app (not a KMS)"
jq --arg d "$TMP/state2" '.state_dir = $d | .tee.sim_vm = "kms2" | .log_format = "json"' "$TMP/kms.json" >"$TMP/kms2.json"
"$KMS" --config "$TMP/kms2.json" --onboard "localhost:$KPORT" --port-file "$TMP/kms2.port" 2>"$TMP/kms2.log" &
KMS2_PID=$!
PIDS+=("$KMS2_PID")
for ((i = 0; i < KG_ITEST_START_S * 20; i++)); do [ -s "$TMP/kms2.port" ] && break; kill -0 "$KMS2_PID" 2>/dev/null || break; sleep 0.05; done
[ -s "$TMP/kms2.port" ] || die "second KMS did not start: $(cat "$TMP/kms2.log")"
jq -se '[.[] | select(.msg|test("^onboarded root keys from .* [(]they match the KMS info on chain[)]$"))] | length == 1' "$TMP/kms2.log" >/dev/null ||
  die "second KMS did not onboard (or config log_format json not applied): $(cat "$TMP/kms2.log")"
[ "$(stat -c %a "$TMP/state2/root-keys.sealed")" = 600 ] || die "onboarded root-keys.sealed not 0600"
kg_assert_no_root_keys_in "$TMP/state2" "$TMP/plain-keys"
KPORT1="$KPORT"; KPORT="$(cat "$TMP/kms2.port")"
call --method GetMeta --cert none
[ "$(jq -r .k256_pubkey "$TMP/out.json")" = "$K256" ] && [ "$(jq -r .ca_cert "$TMP/out.json")" = "$CA_CERT" ] || die "second KMS has other root keys"
app v2 "$APP" "$H2" --check-keys "$TMP/plain-keys"
[ "$RC" = 0 ] && [ "$(jq -r .k256_key "$TMP/out.json")" = "$V1_K256" ] || die "second KMS derives other app keys: $(cat "$TMP/out.json")"
KPORT="$KPORT1"
kill "$KMS2_PID"; wait "$KMS2_PID" 2>/dev/null || true
"$CLI" audit list --db "$TMP/state/audit.db" --json | jq -e '[.[] | select(.method=="GetKmsKey" and .decision=="allow")] | length == 1' >/dev/null || die "GetKmsKey release not audited"
ok "replication: a second attested, allowed KMS onboards the same root keys and derives the same app keys"

# onboard_fails NAME SOURCE_PORT REASON WHAT: a replica in state NAME must refuse, exit non-zero
# with REASON, and leave no key file behind
onboard_fails() {
  jq --arg d "$TMP/$1" --arg vm "$1" '.state_dir = $d | .tee.sim_vm = $vm' "$TMP/kms.json" >"$TMP/$1.json"
  set +e; timeout 120 "$KMS" --config "$TMP/$1.json" --onboard "127.0.0.1:$2" --port-file "$TMP/$1.port" 2>"$TMP/$1.log"; RC=$?; set -e
  [ "$RC" != 0 ] || die "$4: the replica onboarded: $(cat "$TMP/$1.log")"
  grep -q -- "$3" "$TMP/$1.log" || die "$4: reason '$3' not in: $(cat "$TMP/$1.log")"
  for f in root-keys.sealed root-ca.key root-k256.key root-ca.pem temp-ca.key; do
    [ ! -e "$TMP/$1/$f" ] || die "$4: $f was written"
  done
  [ ! -s "$TMP/$1.port" ] || die "$4: the replica started serving"
  ok "$4: refused ($(grep -o 'keygate-kms: .*' "$TMP/$1.log" | tail -1 | cut -c1-160)...), no key file written"
}

# The replica verifies the source before sending anything: a source governance does not allow
# as a KMS gets no request at all (its audit log shows no new GetKmsKey).
N_KMSKEY="$("$CLI" audit list --db "$TMP/state/audit.db" --json | jq '[.[] | select(.method=="GetKmsKey")] | length')"
send "$KMSC" "removeKmsDevice(bytes32)" "0x$DEV"
onboard_fails state-r1 "$KPORT" "source KMS not allowed by governance: kms device not allowed" "replica onboarding from a source governance does not allow"
send "$KMSC" "addKmsDevice(bytes32)" "0x$DEV"
[ "$("$CLI" audit list --db "$TMP/state/audit.db" --json | jq '[.[] | select(.method=="GetKmsKey")] | length')" = "$N_KMSKEY" ] || die "the replica sent GetKmsKey to a source it had not verified"

# A second, independently bootstrapped KMS: attested and allowed by governance (same image,
# device and measurements), but its root keys are not the ones published in kmsInfo. Started
# without --bootstrap on its empty state_dir it refuses to make keys; bootstrapped, its own
# self-check finds its keys are not the published ones and it serves none, so a replica's
# onboarding fails at the source.
jq --arg d "$TMP/state-rogue" '.state_dir = $d | .tee.sim_vm = "kms-rogue" | .self_check_interval_s = 0' \
  "$TMP/kms.json" >"$TMP/kms-rogue.json"
set +e; "$KMS" --config "$TMP/kms-rogue.json" 2>"$TMP/kms-rogue-empty.log"; RC=$?; set -e
[ "$RC" != 0 ] && grep -q "state_dir '$TMP/state-rogue' holds no root keys" "$TMP/kms-rogue-empty.log" ||
  die "an empty state_dir without --bootstrap: rc=$RC $(cat "$TMP/kms-rogue-empty.log")"
ok "an empty state_dir without --bootstrap: the KMS refuses to start and names the path (no new keys)"
"$KMS" --config "$TMP/kms-rogue.json" --bootstrap >/dev/null 2>"$TMP/kms-rogue-boot.log" ||
  die "rogue bootstrap: $(cat "$TMP/kms-rogue-boot.log")"
"$KMS" --config "$TMP/kms-rogue.json" --port-file "$TMP/kms-rogue.port" 2>"$TMP/kms-rogue.log" &
ROGUE_PID=$!
PIDS+=("$ROGUE_PID")
wait_file "$TMP/kms-rogue.port" "$ROGUE_PID"
grep -q "self-check: root keys differ from the KMS info on chain (root k256 key differs, root CA key differs)" "$TMP/kms-rogue.log" ||
  die "rogue KMS self-check: $(cat "$TMP/kms-rogue.log")"
curl -sk -o "$TMP/rogue-health.json" -w '%{http_code}' "https://127.0.0.1:$(cat "$TMP/kms-rogue.port")/health" | grep -qx 503 ||
  die "rogue /health is not 503: $(cat "$TMP/rogue-health.json")"
ok "a KMS whose root keys are not the published ones: /health 503 with the reason, no key released"
onboard_fails state-r2 "$(cat "$TMP/kms-rogue.port")" "HTTP 503.*root keys differ from the KMS info on chain" "replica onboarding from an allowed KMS whose root keys are not the published ones"
kill "$ROGUE_PID"; wait "$ROGUE_PID" 2>/dev/null || true
"$CLI" audit list --db "$TMP/state-rogue/audit.db" --json | jq -e '[.[] | select(.method=="GetKmsKey" and .decision=="allow")] | length == 0' >/dev/null || die "the rogue KMS released its keys"

# ---- key files readable by others: refuse to start -----------------------------------------------
stop_kms
mkdir -m 700 "$TMP/state-perm" && cp -p "$TMP/plain-keys/root-ca.key" "$TMP/plain-keys/root-k256.key" "$TMP/state-perm/"
chmod 640 "$TMP/state-perm/root-k256.key"
jq --arg d "$TMP/state-perm" '.state_dir = $d' "$TMP/kms.json" >"$TMP/kms-perm.json"
set +e; "$KMS" --config "$TMP/kms-perm.json" --bootstrap >/dev/null 2>"$TMP/perm.txt"; RC=$?; set -e
[ "$RC" != 0 ] && grep -q "accessible to group or others" "$TMP/perm.txt" || die "group-readable key file accepted"
[ ! -e "$TMP/state-perm/root-keys.sealed" ] || die "a group-readable key file was sealed"
ok "a group-readable plaintext key file (an earlier version's) makes the KMS refuse to start; nothing sealed"

# ---- the sealed file: tampered, or opened in a VM with other measurements: refused -----------------
cp -p "$TMP/state/root-keys.sealed" "$TMP/sealed.orig"
# byte 200: the sealed keys' ciphertext (a 102-byte header, then one 79-byte epoch entry, the IV)
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[200]^=1; open(p,"wb").write(b)' "$TMP/state/root-keys.sealed"
set +e; "$KMS" --config "$TMP/kms.json" >/dev/null 2>"$TMP/tamper.txt"; RC=$?; set -e
[ "$RC" != 0 ] && grep -q "do not open in this VM" "$TMP/tamper.txt" && grep -q "sealed root keys do not open: wrong data-encryption key, or the file was altered\|TEE slot does not open" "$TMP/tamper.txt" ||
  die "a tampered sealed file: rc=$RC $(cat "$TMP/tamper.txt")"
cp -p "$TMP/sealed.orig" "$TMP/state/root-keys.sealed"
# is_dev is part of the measured KMS identity: a fresh VM of another KMS configuration has
# another RTMR3, so another sealing key
jq '.tee.sim_vm = "kms-other" | .is_dev = (.is_dev | not)' "$TMP/kms.json" >"$TMP/kms-other.json"
set +e; "$KMS" --config "$TMP/kms-other.json" >/dev/null 2>"$TMP/othervm.txt"; RC=$?; set -e
[ "$RC" != 0 ] && grep -q "the TEE slot does not open with this VM's sealing key" "$TMP/othervm.txt" &&
  grep -q -- "--onboard HOST:PORT.*--recover" "$TMP/othervm.txt" ||
  die "a VM with other measurements: rc=$RC $(cat "$TMP/othervm.txt")"
ok "a tampered sealed file, and a VM with other measurements, cannot unseal: the KMS says which and how to recover"

# ---- expired collateral --------------------------------------------------------------------------
# The PCCS serves the platform's files per request, so it keeps running (and keeps its port:
# a port given up here could be taken by a test running in parallel).
"$SIM" refresh "$TMP/sim" --expired || die "sim refresh --expired"
start_kms
app v2 "$APP" "$H2"
expect_denied "unverified): RA-TLS quote" "expired collateral"
grep -q "expired\|Expired\|nextUpdate" "$TMP/out.json" || die "expired collateral: reason does not say expired: $(cat "$TMP/out.json")"
# the stale answer counts as a failed fetch (retried only after a backoff, not per request)
APORT="$(grep -o 'admin listening on http://127.0.0.1:[0-9]*' "$TMP/kms.log" | tail -1 | sed 's/.*://')"
curl -sf "http://127.0.0.1:$APORT/metrics" | awk '$1 == "keygate_kms_pccs_fetches_total" && $2 >= 1 {f = 1}
  $1 == "keygate_kms_pccs_fetch_failures_total" && $2 >= 1 {g = 1}
  $1 == "keygate_kms_pccs_fetches_refused_total{limit=\"backoff\"}" {b = 1} END {exit !(f && g && b)}' ||
  die "expired collateral: no failed PCCS fetch counted on the admin /metrics (port '$APORT')"
stop_kms
"$CLI" sim refresh --dir "$TMP/sim" || die "sim refresh"
start_kms

# ---- periodic self-check: a KMS governance no longer allows refuses keys ------------------------
stop_kms
cp "$TMP/kms.json" "$TMP/kms-base.json"
jq '.self_check_interval_s = 1' "$TMP/kms-base.json" >"$TMP/kms.json"
start_kms
app v2 "$APP" "$H2"
[ "$RC" = 0 ] || die "v2 before the KMS is disallowed: $(cat "$TMP/out.json")"
send "$KMSC" "removeKmsDevice(bytes32)" "0x$DEV"
# The self-check runs every second; under load a round can take longer, so wait for its
# verdict (bounded) instead of sleeping a fixed time.
for ((i = 0; i < 60; i++)); do sleep 0.5; app v2 "$APP" "$H2"; [ "$RC" != 0 ] && break; done
# Refused from the next block on by the per-block standing check, before the periodic
# self-check turns /health to 503.
expect_denied "this KMS is not allowed .*kms device not allowed" "KMS whose device governance removed"
for ((i = 0; i < 60; i++)); do
  [ "$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$KPORT/health")" = 503 ] && break; sleep 0.5
done
[ "$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$KPORT/health")" = 503 ] || die "/health not 503 while refusing"
send "$KMSC" "addKmsDevice(bytes32)" "0x$DEV"
for ((i = 0; i < 60; i++)); do sleep 0.5; app v2 "$APP" "$H2"; [ "$RC" = 0 ] && break; done
[ "$RC" = 0 ] || die "v2 after the KMS device is allowed again: $(cat "$TMP/out.json")"
"$CLI" audit list --db "$TMP/state/audit.db" --json | jq -e '[.[] | select(.method=="self-check" and .decision=="deny" and (.reason|test("kms device not allowed")))] | length >= 1' >/dev/null || die "self-check denial not audited"
ok "periodic self-check: refuses keys (and /health 503) while governance disallows this KMS, recovers when allowed"
cp "$TMP/kms-base.json" "$TMP/kms.json"

# ---- webhook policy backend (dstack's POST /bootAuth/app) ----------------------------------------
stop_kms
printf '%s\n' "$H2" >"$TMP/webhook-allowed.txt"
python3 "$SRC/tests/integration/kms_webhook_auth.py" "$TMP/webhook.port" "$TMP/webhook-allowed.txt" &
PIDS+=($!)
wait_file "$TMP/webhook.port"
cp "$TMP/kms.json" "$TMP/kms-eth.json"
# another policy is another KMS identity (kms/identity.c): it starts in a fresh VM, and another
# deployment: the eth deployment's sealed file is refused there (its header names the chain and
# contract), so the webhook KMS gets the same root keys the way an older version's state came
jq --arg url "http://127.0.0.1:$(cat "$TMP/webhook.port")" --arg d "$TMP/state-webhook" \
  '.policy = {"backend": "webhook", "url": $url} | .tee.sim_vm = "kms-webhook" | .state_dir = $d' \
  "$TMP/kms-eth.json" >"$TMP/kms.json"
mkdir -m 700 "$TMP/state-webhook" && cp -p "$TMP/state/root-keys.sealed" "$TMP/state/root-ca.pem" "$TMP/state-webhook/"
set +e; timeout 120 "$KMS" --config "$TMP/kms.json" 2>"$TMP/otherdeploy.err"; RC=$?; set -e
[ "$RC" != 0 ] && grep -q "was sealed for another deployment (chain 31337 and another KMS contract)" "$TMP/otherdeploy.err" ||
  die "another deployment's sealed file: rc=$RC $(cat "$TMP/otherdeploy.err")"
ok "a sealed file of another deployment (chain and contract in its header) is refused"
rm "$TMP/state-webhook/root-keys.sealed"
cp -p "$TMP/plain-keys/root-ca.key" "$TMP/plain-keys/root-k256.key" "$TMP/state-webhook/"
start_kms
grep -q "self-check: allowed" "$TMP/kms.log" || die "webhook self-check"
app v2 "$APP" "$H2" --check-keys "$TMP/plain-keys"
[ "$RC" = 0 ] && [ "$(jq -r .gateway_app_id "$TMP/out.json")" = gw-from-webhook ] || die "webhook allow: $(cat "$TMP/out.json")"
app v1 "$APP" "$H1"
expect_denied "not allowed by governance: webhook: compose hash not listed" "webhook backend: unlisted compose hash"
"$CLI" audit list --db "$TMP/state-webhook/audit.db" --json | jq -e '.[-2].decision=="allow" and .[-2].block_number==null' >/dev/null || die "webhook decisions audited without a block"
ok "webhook backend: allow (same keys, gatewayAppId passed through) and deny, audited"
stop_kms
# The KMS measured its identity into its VM's RTMR3 (kms/identity.c); another identity cannot
# start in that VM, whose RTMR3 can only grow.
jq '.tee.sim_vm = "kms"' "$TMP/kms.json" >"$TMP/kms-samevm.json"
set +e
timeout 60 "$KMS" --config "$TMP/kms-samevm.json" --port-file "$TMP/samevm.port" 2>"$TMP/samevm.err"
RC=$?
set -e
[ "$RC" != 0 ] && [ ! -s "$TMP/samevm.port" ] && grep -q "RTMR3 already holds 6 events that are not this KMS's identity" "$TMP/samevm.err" ||
  die "a KMS of another identity started in a measured VM: rc=$RC $(cat "$TMP/samevm.err")"
ok "a KMS with another configuration refuses to start in a VM that measured another KMS identity"
cp "$TMP/kms-eth.json" "$TMP/kms.json"
start_kms

# ---- chain node down -----------------------------------------------------------------------------
# (the devnet's KMS config: two routes to the one anvil, a quorum of both)
app v2 "$APP" "$H2"
[ "$RC" = 0 ] || die "v2 before the chain goes down: $(cat "$TMP/out.json")"
kill "$ANVIL_PID"; wait "$ANVIL_PID" 2>/dev/null || true
app v2 "$APP" "$H2"
expect_denied "governance unavailable: chain view unavailable: 0 of 2 nodes answered their head" "chain node down"
grep -q "HTTP 503" "$TMP/err.txt" || die "chain node down: not answered 503 (unavailable): $(cat "$TMP/err.txt")"
"$CLI" audit list --db "$TMP/state/audit.db" --json | jq -e '.[-1].decision=="deny" and (.[-1].reason|test("governance unavailable"))' >/dev/null || die "chain-down denial not audited"
ok "chain-down denial recorded"

# ---- no secret in any log -------------------------------------------------------------------------
# Every log this test's KMS processes wrote (requests allowed and denied, onboarding, errors),
# searched for the secrets they handled: released app keys, both nodes' root keys (the k256
# scalar, the PEM body of the CA key) and decision-log seeds.
{
  echo "$V1_K256"
  echo "$V1_DISK"
  # both nodes' root keys are the ones seeded in plain-keys (sealed in their state_dirs)
  grep -ahEo '^[0-9a-f]{64}$' "$TMP/plain-keys/root-k256.key"
  grep -aE '^[A-Za-z0-9+/=]{40,}$' "$TMP/plain-keys/root-ca.key"
  for d in "$TMP/state" "$TMP/state2"; do
    grep -ahEo '^[0-9a-f]{64}$' "$d/log-ed25519.key" 2>/dev/null || true
  done
} >"$TMP/secrets.txt"
[ "$(wc -l <"$TMP/secrets.txt")" -ge 6 ] || die "too few secrets collected: $(cat "$TMP/secrets.txt" | wc -l)"
LOGS=("$TMP"/*.log)
if grep -aFf "$TMP/secrets.txt" "${LOGS[@]}" >"$TMP/leak.txt"; then
  die "secret bytes in a KMS log: $(cut -c1-120 "$TMP/leak.txt" | head -3)"
fi
ok "no released app key, root key or log key in any KMS log ($(cat "${LOGS[@]}" | wc -l) lines)"

echo "kms_itest: $PASS checks passed"
