#!/usr/bin/env bash
# agent_sdk_test.sh - keygate-agent end to end with the real npm @phala/dstack-sdk (issue 7):
# a devnet (anvil + governance contracts, the simulated TDX platform and its PCCS, keygate-kms),
# then simulated app VMs booted by `keygate sim run` whose app is agent_app.cjs, an SDK client.
# Checks: getKey chain to the KMS root, getQuote + replayRtmrs, info, emitEvent, sign/verify,
# getTlsKey verified by `openssl verify`, encryptEnvVars decrypted at boot,
# verifyEnvEncryptPublicKey on GetAppEnvEncryptPubKey; same app twice -> same keys, the second
# boot in dstack's format (--ratls-format dstack: .8 client certificate, getTlsKey through
# SignCert v2) included; another app -> other keys; an unapproved compose hash and a dead KMS ->
# exit 1, no command, no keys.
# Usage: agent_sdk_test.sh BUILD_DIR
set -euo pipefail

BUILD="$(cd "${1:?usage: agent_sdk_test.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$SRC/tests/interop"
export NODE_PATH="$SRC/tools/node_modules"
die() {
  echo "not ok - $*" >&2
  [ -f "$TMP/kms.log" ] && { echo "--- kms.log (tail)" >&2; tail -20 "$TMP/kms.log" >&2; }
  exit 1
}
. "$SRC/tests/support/devnet.sh"
for tool in "$ANVIL" "$CAST" "$KMS" "$CLI"; do
  [ -x "$tool" ] || { echo "agent_sdk_test: missing $tool (run scripts/setup and make build)" >&2; exit 1; }
done

kg_devnet_begin agent-sdk
# Run as root, the agent starts the app as an unprivileged user (keygate-app or nobody, see
# agent/README.md): it must traverse TMP (not list it) to reach its output directories.
[ "$(id -u)" != 0 ] || chmod 0711 "$TMP"

PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---- devnet: chain, simulated platform + PCCS, KMS ---------------------------------------------
kg_devnet_chain
kg_devnet_sim
kg_devnet_kms_config
# Root keys known to the test (an earlier version's plain files, sealed at bootstrap): KMS B
# below gets the same ones in a VM of other measurements, where this sealed file cannot open.
kg_plain_root_keys "$TMP/plain-keys"
mkdir -m 700 "$TMP/state" && cp -p "$TMP/plain-keys/root-ca.key" "$TMP/plain-keys/root-k256.key" "$TMP/state/"
kg_devnet_bootstrap
kg_devnet_register_kms
kg_devnet_start_kms
cp "$TMP/state/root-ca.pem" "$TMP/kms-ca.pem"
grep -q "BEGIN CERTIFICATE" "$TMP/kms-ca.pem" || die "no KMS root CA"
ok "devnet up: contracts, simulated platform + PCCS, KMS at $KURL"

# ---- apps on chain -----------------------------------------------------------------------------
printf '{"manifest_version":2,"name":"sdk-interop","runner":"docker-compose","docker_compose_file":"services: {}"}' >"$TMP/compose-v1.json"
printf '{"manifest_version":2,"name":"sdk-interop","runner":"docker-compose","docker_compose_file":"services: {x: {}}"}' >"$TMP/compose-v2.json"
H1="$(sha256sum "$TMP/compose-v1.json" | cut -c1-64)"
APP="$(kg_devnet_register_app "$H1")"
APP2="$(kg_devnet_register_app "$H1")"
[ "${#APP}" = 40 ] && [ "${#APP2}" = 40 ] && [ "$APP" != "$APP2" ] || die "factory app ids: '$APP' '$APP2'"
ok "two apps registered with compose hash $H1"

# ---- encrypted environment through the SDK ------------------------------------------------------
SECRET="s3cret-$RANDOM-$RANDOM"
KG_SECRET_NAME=KG_TEST_SECRET KG_SECRET_VALUE="$SECRET" \
  node "$HERE/agent_env.cjs" "$KURL" "$TMP/kms-ca.pem" "$APP" "$K256" "$TMP/env.hex" || die "agent_env"
ok "verifyEnvEncryptPublicKey recovers the KMS root key; encryptEnvVars wrote the env file"

# ---- boot app VMs with keygate sim run ----------------------------------------------------------
ENV_CHECK=1 # run_app checks the decrypted variable unless ENV_CHECK is empty
run_app() { # run_app OUTDIR APP COMPOSE [extra sim-run flags...]; sets RC
  local outdir="$1" app="$2" compose="$3"; shift 3
  mkdir -p "$outdir"
  [ "$(id -u)" != 0 ] || chmod 0777 "$outdir" # the unprivileged app writes its results here
  set +e
  KG_OUT="$outdir" KG_EXPECT_ROOT_K256="$K256" KG_EXPECT_APP_ID="$app" \
  KG_EXPECT_COMPOSE_HASH="$(sha256sum "$compose" | cut -c1-64)" KG_WITH_TLS=1 \
  KG_SECRET_NAME="${ENV_CHECK:+KG_TEST_SECRET}" KG_EXPECT_SECRET_SHA256="$(printf '%s' "$SECRET" | sha256sum | cut -c1-64)" \
    "$CLI" sim run --state "$TMP/vmstate" --app "$app" --compose "$compose" --platform "$TMP/sim" \
      --kms-ca "$TMP/kms-ca.pem" --pccs "http://127.0.0.1:$PPORT" --tee-root-ca "$SIM_ROOT_CA" \
      --rpc-url "$RPC" --kms-contract "$KMSC" \
      "$@" -- node "$HERE/agent_app.cjs" >"$outdir/stdout" 2>"$outdir/stderr"
  RC=$?
  set -e
}

mkdir -p "$TMP/run1"
run_app "$TMP/run1" "$APP" "$TMP/compose-v1.json" --kms "$KURL" --env-file "$TMP/env.hex" \
  --disk-key-out "$TMP/run1/disk.key" --keys-out "$TMP/run1/keys.json" --env-out "$TMP/run1/app.env"
[ "$RC" = 0 ] || die "app v1 run: rc=$RC $(cat "$TMP/run1/stderr")"
grep -q "all SDK checks passed" "$TMP/run1/stdout" || die "agent_app did not finish"
ok "KMS attestation verified by the agent (RA-TLS server certificate, DCAP under the simulator root)"
ok "SDK: getKey chain -> KMS root, getQuote + replayRtmrs, info, emitEvent, sign/verify, getTlsKey, env decrypted"
[ "$(stat -c %a "$TMP/run1/disk.key")" = 600 ] && [ "$(stat -c %s "$TMP/run1/disk.key")" = 32 ] || die "disk key file"
ok "disk key handed out as a 32-byte file with mode 0600"
[ "$(stat -c %a "$TMP/run1/keys.json")" = 600 ] && [ "$(stat -c %a "$TMP/run1/app.env")" = 600 ] || die "keys/env files not 0600"
grep -qx "KG_TEST_SECRET=$SECRET" "$TMP/run1/app.env" || die "env file lacks the decrypted variable"
ok "--keys-out and --env-out: mode 0600, the decrypted variable as KEY=VALUE"

# The boot/serve split of a VM image: keygate-agent serve over the keys file boot wrote.
set +e
jq -n --arg tee "sim:$TMP/sim:serve-vm" --arg keys "$TMP/run1/keys.json" --arg app "$APP" \
  --arg compose "$TMP/compose-v1.json" --arg sock "$TMP/serve.sock" \
  '{tee: $tee, keys: $keys, app_id: $app, compose: $compose, socket: $sock}' >"$TMP/serve.json"
KG_OUT="$TMP/run1" "$BUILD/bin/keygate-agent" serve --config "$TMP/serve.json" -- node -e '
const { DstackClient } = require("@phala/dstack-sdk");
new DstackClient().getKey("wallet/eth", "ethereum").then((k) => {
  require("fs").writeFileSync(process.env.KG_OUT + "/serve-key", Buffer.from(k.key).toString("hex"));
});' >"$TMP/serve.out" 2>&1
RC=$?
set -e
[ "$RC" = 0 ] || die "keygate-agent serve: rc=$RC $(cat "$TMP/serve.out")"
[ "$(cat "$TMP/run1/serve-key")" = "$(jq -r .get_key "$TMP/run1/result.json")" ] || die "serve: different GetKey"
[ ! -e "$TMP/serve.sock" ] || die "serve left its socket behind"
ok "keygate-agent serve --config over the keys file answers getKey identically, removes its socket"

openssl verify -CAfile "$TMP/kms-ca.pem" -untrusted "$TMP/run1/tls-app-ca.pem" "$TMP/run1/tls-leaf.pem" >/dev/null ||
  die "getTlsKey chain does not verify to the KMS root CA"
cmp -s <(openssl x509 -in "$TMP/run1/tls-root.pem" -outform der) <(openssl x509 -in "$TMP/kms-ca.pem" -outform der) ||
  die "getTlsKey chain does not end in the KMS root CA"
ok "getTlsKey chain verifies with openssl verify to the KMS root CA"

"$CLI" quote verify "$TMP/run1/quote.hex" --root-ca "$SIM_ROOT_CA" \
  --pccs "http://127.0.0.1:$PPORT" >"$TMP/qv.txt" 2>&1 || die "quote from getQuote does not verify: $(cat "$TMP/qv.txt")"
ok "quote from getQuote verifies (full DCAP under the simulator root): $(jq -r .status "$TMP/qv.txt" 2>/dev/null)"

# The second boot speaks dstack's current format (guests since v0.5.10): the agent's client
# certificate carries the attestation extension .8, and getTlsKey goes through SignCert
# api_version 2 (a SCALE CertSigningRequestV2 embedding a quote that binds the TLS key).
KG_TLS_RA_TLS=1 run_app "$TMP/run2" "$APP" "$TMP/compose-v1.json" --kms "$KURL" --env-file "$TMP/env.hex" \
  --disk-key-out "$TMP/run2/disk.key" --ratls-format dstack
[ "$RC" = 0 ] || die "app v1 second boot (dstack format): $(cat "$TMP/run2/stderr")"
[ "$(jq -r .get_key "$TMP/run1/result.json")" = "$(jq -r .get_key "$TMP/run2/result.json")" ] || die "second boot: different GetKey"
[ "$(jq -r .app_pubkey "$TMP/run1/result.json")" = "$(jq -r .app_pubkey "$TMP/run2/result.json")" ] || die "second boot: different app key"
[ "$(jq -r .instance_id "$TMP/run1/result.json")" = "$(jq -r .instance_id "$TMP/run2/result.json")" ] || die "second boot: different instance id"
cmp -s "$TMP/run1/disk.key" "$TMP/run2/disk.key" || die "second boot: different disk key"
ok "same app, second boot with --ratls-format dstack (.8 client certificate): the legacy boot's keys, instance id and disk key"
openssl verify -CAfile "$TMP/kms-ca.pem" -untrusted "$TMP/run2/tls-app-ca.pem" "$TMP/run2/tls-leaf.pem" >/dev/null ||
  die "getTlsKey chain (dstack format) does not verify to the KMS root CA"
openssl x509 -in "$TMP/run2/tls-leaf.pem" -noout -text >"$TMP/run2/leaf.txt"
# only SignCert v2 carries what the app asked for: its DNS name and, with usage_ra_tls, the .8
# attestation of the CSR (a v1 leaf has neither)
grep -q 'DNS:app.keygate.test' "$TMP/run2/leaf.txt" && grep -q '1.3.6.1.4.1.62397.1.8:' "$TMP/run2/leaf.txt" ||
  die "getTlsKey leaf (dstack format) lacks the requested name or the .8 attestation: $(grep -A1 -E 'Alternative|62397' "$TMP/run2/leaf.txt")"
! grep -q 'DNS:app.keygate.test' <(openssl x509 -in "$TMP/run1/tls-leaf.pem" -noout -text) ||
  die "the legacy getTlsKey leaf was expected from SignCert v1 (no names)"
"$CLI" ratls inspect "$TMP/run2/tls-leaf.pem" --pccs "http://127.0.0.1:$PPORT" --root-ca "$SIM_ROOT_CA" >"$TMP/run2/inspect.json" ||
  die "the getTlsKey leaf's .8 attestation does not verify: $(cat "$TMP/run2/inspect.json")"
jq -e --arg app "$APP" '.app_id == $app' "$TMP/run2/inspect.json" >/dev/null || die "the getTlsKey leaf's attestation names another app"
ok "getTlsKey through SignCert v2: openssl verify accepts [leaf, app CA, root]; the leaf has the asked name and a .8 attestation of this app that verifies"

ENV_CHECK=
run_app "$TMP/run3" "$APP2" "$TMP/compose-v1.json" --kms "$KURL"
[ "$RC" = 0 ] || die "second app: $(cat "$TMP/run3/stderr")"
[ "$(jq -r .get_key "$TMP/run1/result.json")" != "$(jq -r .get_key "$TMP/run3/result.json")" ] || die "another app got the same key"
[ "$(jq -r .app_pubkey "$TMP/run1/result.json")" != "$(jq -r .app_pubkey "$TMP/run3/result.json")" ] || die "another app got the same app key"
ok "another app: different keys"

# ---- refusals and failures: exit 1, reason on stderr, the command never runs ---------------------
set +e
"$CLI" sim run --state "$TMP/vmstate" --app "$APP" --compose "$TMP/compose-v2.json" --platform "$TMP/sim" \
  --kms "$KURL" --kms-ca "$TMP/kms-ca.pem" --kms-k256 "$K256" --disk-key-out "$TMP/v2.key" -- touch "$TMP/v2-ran" 2>"$TMP/v2.err"
RC=$?
set -e
[ "$RC" = 1 ] || die "unapproved compose: rc=$RC"
grep -q "compose hash not allowed" "$TMP/v2.err" || die "unapproved compose: reason missing: $(cat "$TMP/v2.err")"
[ ! -e "$TMP/v2-ran" ] && [ ! -e "$TMP/v2.key" ] || die "unapproved compose: command ran or disk key written"
ok "unapproved compose hash: denied with the KMS's reason, no command, no disk key"

# A KMS whose quote does not verify under the trust root is not trusted, whatever it answers.
set +e
"$CLI" sim run --state "$TMP/vmstate" --app "$APP" --compose "$TMP/compose-v1.json" --platform "$TMP/sim" \
  --kms "$KURL" --kms-ca "$TMP/kms-ca.pem" --pccs "http://127.0.0.1:$PPORT" --tee-root-ca "$TMP/kms-ca.pem" \
  --rpc-url "$RPC" --kms-contract "$KMSC" \
  --disk-key-out "$TMP/unattested.key" -- touch "$TMP/unattested-ran" 2>"$TMP/unattested.err"
RC=$?
set -e
[ "$RC" = 1 ] || die "unattested KMS: rc=$RC"
grep -q "at $KURL: attestation" "$TMP/unattested.err" || die "unattested KMS: reason missing: $(cat "$TMP/unattested.err")"
[ ! -e "$TMP/unattested-ran" ] && [ ! -e "$TMP/unattested.key" ] || die "unattested KMS: command ran or key written"
ok "a KMS whose attestation does not verify under the trust root is refused: $(head -c 160 "$TMP/unattested.err")"

DEAD="https://127.0.0.1:$(free_port)"
run_app "$TMP/run4" "$APP" "$TMP/compose-v1.json" --kms "$DEAD" --kms "$KURL"
[ "$RC" = 0 ] || die "failover: $(cat "$TMP/run4/stderr")"
grep -q "trying the next KMS" "$TMP/run4/stderr" || die "failover not reported"
ok "an unreachable first KMS: the next KMS URL is tried"

# A KMS that cannot decide answers 503 and the agent moves on; a refusal (403) would stop it.
# KMS B holds the same root keys but runs another configuration in a fresh VM: its measured
# identity is not allowed on chain, so its self-check fails and it serves no keys.
cp -r "$TMP/state" "$TMP/state-b"
rm "$TMP/state-b/root-keys.sealed" # sealed to KMS A's VM: B seals the plain keys for its own
cp -p "$TMP/plain-keys/root-ca.key" "$TMP/plain-keys/root-k256.key" "$TMP/state-b/"
jq --arg d "$TMP/state-b" '.state_dir = $d | .tee.sim_vm = "kms-b" | .is_dev = (.is_dev | not)' \
  "$TMP/kms.json" >"$TMP/kms-b.json"
"$KMS" --config "$TMP/kms-b.json" --port-file "$TMP/kms-b.port" 2>"$TMP/kms-b.log" &
PIDS+=("$!")
wait_file "$TMP/kms-b.port"
KURL_B="https://127.0.0.1:$(cat "$TMP/kms-b.port")"
set +e
"$CLI" sim run --state "$TMP/vmstate" --app "$APP" --compose "$TMP/compose-v1.json" --platform "$TMP/sim" \
  --kms "$KURL_B" --kms-ca "$TMP/kms-ca.pem" --kms-k256 "$K256" -- true 2>"$TMP/b-only.err"
RC=$?
set -e
[ "$RC" = 1 ] && grep -q "GetAppKey unavailable: this KMS is not allowed by governance" "$TMP/b-only.err" &&
  grep -q "HTTP 503" "$TMP/b-only.err" || die "KMS B alone: rc=$RC $(cat "$TMP/b-only.err")"
ENV_CHECK= run_app "$TMP/run5" "$APP" "$TMP/compose-v1.json" --kms "$KURL_B" --kms "$KURL"
[ "$RC" = 0 ] || die "failover from an unavailable KMS: $(cat "$TMP/run5/stderr")"
grep -q "not a KMS governance allows: aggregated mr not allowed; trying the next KMS" "$TMP/run5/stderr" ||
  die "failover from a disallowed KMS not reported: $(cat "$TMP/run5/stderr")"
ok "a KMS that cannot decide answers 503 (self-check failed) and, with attestation on, is refused before any request (isKmsAllowed): the next KMS releases the keys"

kill -9 "$KMS_PID"; wait "$KMS_PID" 2>/dev/null || true
set +e
"$CLI" sim run --state "$TMP/vmstate" --app "$APP" --compose "$TMP/compose-v1.json" --platform "$TMP/sim" \
  --kms "$KURL" --kms-ca "$TMP/kms-ca.pem" --kms-k256 "$K256" --disk-key-out "$TMP/dead.key" -- touch "$TMP/dead-ran" 2>"$TMP/dead.err"
RC=$?
set -e
[ "$RC" = 1 ] || die "killed KMS: rc=$RC"
grep -q "KMS GetTempCaCert at $KURL" "$TMP/dead.err" || die "killed KMS: reason missing: $(cat "$TMP/dead.err")"
[ ! -e "$TMP/dead-ran" ] && [ ! -e "$TMP/dead.key" ] || die "killed KMS: command ran or key written"
ok "killed KMS: clean failure after the identity events, no command, no partial keys"

echo "agent_sdk_test: $PASS passed"
