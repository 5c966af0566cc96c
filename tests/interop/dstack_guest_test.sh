#!/usr/bin/env bash
# dstack_guest_test.sh - a current dstack guest (v0.5.10 and later) boots against keygate-kms
# (issue 15): the KMS on the simulated TDX platform, governed by a dstack-style auth webhook
# (kms_webhook_auth.py, configured with a trailing slash), and the guest's exact sequence as
# dstack-util and cert-client perform it, sent with curl (no Content-Type, as reqwest sends it):
#   GetTempCaCert with body `null` and no client certificate (also GET, {} and an empty body);
#   the KMS's server certificate passes curl's host name check for a configured name and IP;
#   GetMeta with the auth server's kms_contract_address, chain_id, app_auth_implementation and
#   gateway_app_id; GetAppKey with a temp-CA-signed client certificate carrying .8 -> the same
#   keys as the legacy .1/.2 path gives the same app, tproxy_app_id = gateway_app_id = GetMeta's;
#   SignCert api_version 2 twice (without and with ext_quote) -> [leaf, app CA, root] chains
#   that `openssl verify` accepts, the leaf for the CSR's key with what was asked (subject,
#   client auth, .8 only with ext_quote; names, IP SANs, organization, server auth when asked);
#   refused: a CSR signed by another key, one whose quote binds another key, a non-TDX variant.
# The requests are made in a simulated app VM by kg-dstack-guest (dstack_guest_peer.c), and once
# more with the .8 attestation and the CSR v2 built by independent codecs (dstack_codec.mjs guest:
# scale-ts, node:crypto; the certificate by openssl).
# Usage: dstack_guest_test.sh BUILD_DIR
set -euo pipefail

BUILD="$(cd "${1:?usage: dstack_guest_test.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
GUEST="$BUILD/tests/kg-dstack-guest"
die() {
  echo "not ok - $*" >&2
  [ -f "$TMP/kms.log" ] && { echo "--- kms.log (tail)" >&2; tail -20 "$TMP/kms.log" >&2; }
  exit 1
}
. "$SRC/tests/support/devnet.sh"
for tool in "$KMS" "$CLI" "$GUEST"; do
  [ -x "$tool" ] || { echo "dstack_guest_test: missing $tool (make build)" >&2; exit 77; }
done
for cmd in curl jq node openssl python3; do
  command -v "$cmd" >/dev/null || { echo "dstack_guest_test: $cmd missing" >&2; exit 77; }
done
kg_devnet_begin dstack-guest

PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }

# ---- the simulated platform, its PCCS, the auth webhook, the KMS -------------------------------
kg_devnet_sim

APP=a1b2c3d4e5f60718293a4b5c6d7e8f9012345678
COMPOSE=$(printf 'dstack guest compose' | sha256sum | cut -c1-64)
printf '%s\n' "$COMPOSE" >"$TMP/allowed.txt"
python3 "$SRC/tests/integration/kms_webhook_auth.py" "$TMP/webhook.port" "$TMP/allowed.txt" &
PIDS+=("$!")
wait_file "$TMP/webhook.port"
WPORT="$(cat "$TMP/webhook.port")"

NAME=kms.dstack.test
KG_KMS_POLICY='{"backend": "webhook", "url": "http://127.0.0.1:'"$WPORT"'/", "timeout_ms": 2000}' \
  KG_KMS_EXTRA='"tls": {"server_names": ["'"$NAME"'", "127.0.0.1"]}' kg_devnet_kms_config
kg_devnet_bootstrap
kg_devnet_start_kms
grep -q "self-check: allowed" "$TMP/kms.log" || die "self-check (through the webhook URL with a trailing slash)"
ok "KMS up behind the auth webhook (policy.url ends in '/': no '//bootAuth' path)"

URL="https://127.0.0.1:$KPORT/prpc"
# rpc METHOD BODY OUT [curl args...]: POST as dstack's RaClient does (?json, no Content-Type);
# prints the HTTP status
rpc() {
  local m="$1" body="$2" out="$3"
  shift 3
  printf '%s' "$body" >"$TMP/body.json"
  curl -sk -o "$out" -w '%{http_code}' -X POST -H 'Content-Type:' --data-binary @"$TMP/body.json" "$@" "$URL/$m?json"
}

# ---- 1. GetTempCaCert: body null, no client certificate --------------------------------------
[ "$(rpc GetTempCaCert null "$TMP/tmpca.json")" = 200 ] || die "GetTempCaCert with body null: $(cat "$TMP/tmpca.json")"
jq -r .temp_ca_cert "$TMP/tmpca.json" >"$TMP/tmpca.pem"
jq -r .temp_ca_key "$TMP/tmpca.json" >"$TMP/tmpca.key"
jq -r .ca_cert "$TMP/tmpca.json" >"$TMP/root.pem"
openssl x509 -in "$TMP/tmpca.pem" -noout 2>/dev/null && openssl x509 -in "$TMP/root.pem" -noout 2>/dev/null ||
  die "GetTempCaCert: no temp CA / root CA certificate"
for body in '{}' ''; do
  [ "$(rpc GetTempCaCert "$body" "$TMP/o.json")" = 200 ] || die "GetTempCaCert with body '$body'"
done
for m in GetTempCaCert GetMeta; do
  [ "$(curl -sk -o "$TMP/o.json" -w '%{http_code}' "$URL/$m?json")" = 200 ] && jq -e .ca_cert "$TMP/o.json" >/dev/null ||
    die "GET $m: $(cat "$TMP/o.json")"
done
ok "GetTempCaCert: body null (no client certificate, no Content-Type), {}, empty and GET; GET GetMeta"

# ---- 2. the server certificate passes the guest's host name check ----------------------------
curl -s --cacert "$TMP/root.pem" --resolve "$NAME:$KPORT:127.0.0.1" -o "$TMP/meta.json" \
  "https://$NAME:$KPORT/prpc/GetMeta?json" || die "https://$NAME:$KPORT: host name check failed"
curl -s --cacert "$TMP/root.pem" -o /dev/null "https://127.0.0.1:$KPORT/prpc/GetMeta?json" ||
  die "https://127.0.0.1:$KPORT: the IP name is not in the server certificate"
set +e
curl -s --cacert "$TMP/root.pem" --resolve "other.test:$KPORT:127.0.0.1" -o /dev/null "https://other.test:$KPORT/prpc/GetMeta?json"
RC=$?
set -e
[ "$RC" = 60 ] || die "a name not in tls.server_names passed the host name check (curl $RC)"
ok "server certificate: verified under the root CA for $NAME and 127.0.0.1 (tls.server_names), not for another name"

# ---- 3. GetMeta as dstack's KMS fills it from the auth server's GET / --------------------------
jq -e '.kms_contract_address=="0x5fbdb2315678afecb367f032d93f642f64180aa3" and .chain_id==31337 and
       .app_auth_implementation=="0xe7f1725e7734ce288f8367e1bb143e90bb3f0512" and
       .gateway_app_id=="gw-from-webhook"' "$TMP/meta.json" >/dev/null || die "GetMeta webhook fields: $(jq -c 'del(.ca_cert,.bootstrap_info,.kms_compose)' "$TMP/meta.json")"
ok "GetMeta: kms_contract_address, chain_id, app_auth_implementation, gateway_app_id from the auth server"

# ---- 4. GetAppKey with a temp-CA-signed .8 client certificate ---------------------------------
"$GUEST" boot "$TMP/sim" app1 "$APP" "$COMPOSE" || die "boot app VM"
"$GUEST" cert "$TMP/sim" app1 v8 "$TMP/tmpca.pem" "$TMP/tmpca.key" "$TMP/v8.key" "$TMP/v8.pem" || die "v8 client cert"
openssl x509 -in "$TMP/v8.pem" -noout -text | grep -q '1.3.6.1.4.1.62397.1.8' || die "client cert has no .8"
openssl verify -CAfile "$TMP/tmpca.pem" "$TMP/v8.pem" >/dev/null || die "client cert not issued by the temp CA"
GAK='{"api_version":1,"vm_config":"{\"cpu_count\":1,\"memory_size\":2147483648}"}'
S=$(rpc GetAppKey "$GAK" "$TMP/keys_v8.json" --cert "$TMP/v8.pem" --key "$TMP/v8.key")
[ "$S" = 200 ] || die "GetAppKey (.8): HTTP $S $(cat "$TMP/keys_v8.json")"
jq -e '.tproxy_app_id=="gw-from-webhook" and .gateway_app_id=="gw-from-webhook" and
       (.disk_crypt_key|length)==64 and (.k256_key|length)==64' "$TMP/keys_v8.json" >/dev/null ||
  die "GetAppKey (.8) reply: $(jq -c 'del(.ca_cert)' "$TMP/keys_v8.json")"
"$GUEST" cert "$TMP/sim" app1 legacy - - "$TMP/legacy.key" "$TMP/legacy.pem" || die "legacy client cert"
S=$(rpc GetAppKey "$GAK" "$TMP/keys_legacy.json" --cert "$TMP/legacy.pem" --key "$TMP/legacy.key")
[ "$S" = 200 ] || die "GetAppKey (legacy): HTTP $S $(cat "$TMP/keys_legacy.json")"
P='{disk_crypt_key,env_crypt_key,k256_key,k256_signature,gateway_app_id,os_image_hash,ca_cert}'
[ "$(jq -cS "$P" "$TMP/keys_v8.json")" = "$(jq -cS "$P" "$TMP/keys_legacy.json")" ] ||
  die "the .8 path and the legacy path give the same app different keys"
ok "GetAppKey over a temp-CA .8 certificate: the legacy .1/.2 path's keys; tproxy_app_id = gateway_app_id = GetMeta's"

# ---- 4b. the same guest, its payloads built by independent codecs --------------------------------
# dstack_codec.mjs encodes the .8 attestation and the CertSigningRequestV2 with scale-ts from
# dstack's type definitions and signs with node:crypto; openssl makes the temp-CA certificate.
command -v node >/dev/null && [ -d "${NODE_PATH:-}/scale-ts" ] || die "node and tools/node_modules (scripts/setup) are needed"
mkdir -p "$TMP/npm"
node "$SRC/tests/interop/dstack_codec.mjs" guest "$CLI" "$TMP/sim" app1 "$TMP/npm" || die "npm guest payloads"
printf '1.3.6.1.4.1.62397.1.8=DER:%s\nextendedKeyUsage=clientAuth\n' "$(cat "$TMP/npm/ext8.hex")" >"$TMP/npm/ext.cnf"
openssl req -new -key "$TMP/npm/key.pem" -subj /CN=dstack-guest -out "$TMP/npm/req.pem" &&
  openssl x509 -req -in "$TMP/npm/req.pem" -CA "$TMP/tmpca.pem" -CAkey "$TMP/tmpca.key" -days 1 \
    -set_serial "0x$(openssl rand -hex 8)" -extfile "$TMP/npm/ext.cnf" -out "$TMP/npm/cert.pem" 2>"$TMP/npm/x509.err" ||
  die "openssl could not issue the npm guest's certificate: $(cat "$TMP/npm/x509.err")"
S=$(rpc GetAppKey "$GAK" "$TMP/keys_npm.json" --cert "$TMP/npm/cert.pem" --key "$TMP/npm/key.pem")
[ "$S" = 200 ] || die "GetAppKey (npm-built .8): HTTP $S $(cat "$TMP/keys_npm.json")"
[ "$(jq -cS "$P" "$TMP/keys_npm.json")" = "$(jq -cS "$P" "$TMP/keys_legacy.json")" ] ||
  die "the npm-built .8 certificate gets other keys than the legacy path"
S=$(rpc SignCert "$(cat "$TMP/npm/signcert.json")" "$TMP/npm/sign.json" --cert "$TMP/npm/cert.pem" --key "$TMP/npm/key.pem")
[ "$S" = 200 ] || die "SignCert v2 (npm-built): HTTP $S $(cat "$TMP/npm/sign.json")"
for i in 0 1; do jq -r ".certificate_chain[$i]" "$TMP/npm/sign.json" >"$TMP/npm/c.$i.pem"; done
openssl verify -CAfile "$TMP/root.pem" -untrusted "$TMP/npm/c.1.pem" "$TMP/npm/c.0.pem" >/dev/null ||
  die "SignCert v2 (npm-built): openssl verify refuses the chain"
[ "$(openssl pkey -in "$TMP/npm/key.pem" -pubout)" = "$(openssl x509 -in "$TMP/npm/c.0.pem" -noout -pubkey)" ] &&
  openssl x509 -in "$TMP/npm/c.0.pem" -noout -text | grep -q '1.3.6.1.4.1.62397.1.8' ||
  die "SignCert v2 (npm-built): the leaf is not for the CSR's key or lacks the .8 it asked for"
ok "a guest whose .8 and CSR v2 are built by scale-ts + node:crypto: the legacy path's keys, and a SignCert v2 chain openssl verify accepts"

# ---- 5. SignCert api_version 2, twice, as dstack-util asks -------------------------------------
# sign N EXT_QUOTE [SAN...]: a guest CSR sent over the .8 client connection; chain in $TMP/cN.*.pem
sign() {
  local n="$1" q="$2"
  shift 2
  "$GUEST" csr "$TMP/sim" app1 "$q" ok "$TMP/csr$n.key" "$TMP/csr$n.json" "$@" || die "CSR $n"
  S=$(rpc SignCert "$(cat "$TMP/csr$n.json")" "$TMP/sign$n.json" --cert "$TMP/v8.pem" --key "$TMP/v8.key")
  [ "$S" = 200 ] || die "SignCert v2 ($n): HTTP $S $(cat "$TMP/sign$n.json")"
  [ "$(jq '.certificate_chain|length' "$TMP/sign$n.json")" = 3 ] || die "SignCert v2 ($n): not 3 certificates"
  for i in 0 1 2; do jq -r ".certificate_chain[$i]" "$TMP/sign$n.json" >"$TMP/c$n.$i.pem"; done
  cmp -s "$TMP/c$n.2.pem" "$TMP/root.pem" || die "SignCert v2 ($n): the chain does not end in the root CA"
  openssl verify -CAfile "$TMP/root.pem" -untrusted "$TMP/c$n.1.pem" "$TMP/c$n.0.pem" >/dev/null ||
    die "SignCert v2 ($n): openssl verify refuses the chain"
  [ "$(openssl pkey -in "$TMP/csr$n.key" -pubout)" = "$(openssl x509 -in "$TMP/c$n.0.pem" -noout -pubkey)" ] ||
    die "SignCert v2 ($n): the leaf is not for the CSR's key"
  openssl x509 -in "$TMP/c$n.0.pem" -noout -text >"$TMP/c$n.txt"
  grep -q "CN *= *dstack-guest-agent" "$TMP/c$n.txt" || die "SignCert v2 ($n): subject"
  grep -q '1.3.6.1.4.1.62397.1.3' "$TMP/c$n.txt" || die "SignCert v2 ($n): no app id extension"
}
sign 1 0
sign 2 1
grep -q '1.3.6.1.4.1.62397.1.8' "$TMP/c1.txt" && die "ext_quote false, yet the leaf carries .8"
grep -q '1.3.6.1.4.1.62397.1.8' "$TMP/c2.txt" || die "ext_quote true, yet the leaf has no .8"
for n in 1 2; do
  grep -A1 'Extended Key Usage' "$TMP/c$n.txt" | tail -1 | grep -qx ' *TLS Web Client Authentication' ||
    die "SignCert v2 ($n): usage is not exactly client auth"
done
ok "SignCert v2 without and with ext_quote: [leaf, app CA, root] accepted by openssl verify; leaf for the CSR key, client auth, .8 only when asked"

sign 3 0 app.example 10.1.2.3 '*.w.example'
grep -q 'DNS:app.example' "$TMP/c3.txt" && grep -q 'IP Address:10.1.2.3' "$TMP/c3.txt" &&
  grep -q 'DNS:\*.w.example' "$TMP/c3.txt" && grep -q 'O *= *Org' "$TMP/c3.txt" &&
  grep -q 'TLS Web Server Authentication' "$TMP/c3.txt" || die "SignCert v2 names/usage: $(grep -A1 -E 'Alternative|Subject:|Key Usage' "$TMP/c3.txt")"
openssl verify -CAfile "$TMP/root.pem" -untrusted "$TMP/c3.1.pem" -purpose sslserver "$TMP/c3.0.pem" >/dev/null ||
  die "SignCert v2: the server-auth leaf does not verify for TLS servers"
ok "SignCert v2 honours subject alternative names (IP-looking as IP SANs), organization and server auth"

# ---- 6. refusals --------------------------------------------------------------------------------
refused() { # refused MODE STATUS TEXT
  "$GUEST" csr "$TMP/sim" app1 0 "$1" "$TMP/bad.key" "$TMP/bad.json" || die "CSR $1"
  S=$(rpc SignCert "$(cat "$TMP/bad.json")" "$TMP/badout.json" --cert "$TMP/v8.pem" --key "$TMP/v8.key")
  [ "$S" = "$2" ] && grep -q -- "$3" "$TMP/badout.json" && ! grep -q certificate_chain "$TMP/badout.json" ||
    die "SignCert v2 $1: HTTP $S $(cat "$TMP/badout.json") (wanted $2, '$3')"
}
refused othersig 403 "CSR signature does not verify"
refused unbound 403 "not bound"
refused variant 400 "DstackAmdSevSnp"
ok "SignCert v2 refused: a signature by another key (403), REPORTDATA binding another key (403), an SEV-SNP attestation (400)"

"$CLI" audit list --db "$TMP/state/audit.db" --json >"$TMP/audit.json" || die "audit list"
jq -e --arg app "$APP" '[.[] | select(.method=="SignCert" and .decision=="allow")] | length == 4' "$TMP/audit.json" >/dev/null &&
  jq -e '[.[] | select(.method=="SignCert" and .decision!="allow")] | length >= 3' "$TMP/audit.json" >/dev/null ||
  die "SignCert decisions not all in the audit log: $(jq -c '[.[] | {method, decision}]' "$TMP/audit.json")"
ok "every SignCert v2 decision, allowed and refused, is in the audit log"
echo "dstack_guest_test: all $PASS checks passed"
