#!/usr/bin/env bash
# receipt_itest.sh - release receipts end to end (docs/design.md, "Receipts") on a devnet:
#   1. an app boot (keygate sim run) gets its keys with a receipt, verifies it, keeps it in its
#      state directory and serves it to the app (GetKeyReceipt over the dstack socket); the
#      receipt's entry is the KMS's log entry at its leaf index, byte for byte;
#   2. a test-only KMS build (kms-tamper-receipt, KG_TEST_TAMPER_RECEIPT; never installed) on a
#      copy of the KMS state corrupts each part of the receipt in turn: the entry, the proof, the
#      tree size, the checkpoint's signature, the log key's certificate, and a receipt that
#      verifies but is another decision's, and a log key whose attestation (GET /log-key) does not
#      verify. Each boot fails closed with the reason, the app never
#      runs and no keys file is left; a tampered SignCert receipt makes GetTlsKey fail (no
#      certificate reaches the app), and an honest one (section 1) lets it through.
# Usage: receipt_itest.sh BUILD_DIR     (exit 77: skipped)
set -euo pipefail
BUILD="$(cd "${1:?usage: receipt_itest.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KG="$BUILD/bin/keygate"
TAMPER="$BUILD/tests/kms-tamper-receipt"
[ -x "$SRC/tools/node_modules/.bin/anvil" ] || { echo "SKIP: tools not installed (scripts/setup)"; exit 77; }
[ -x "$BUILD/bin/keygate-kms" ] && [ -x "$TAMPER" ] || { echo "SKIP: KMS builds missing"; exit 77; }
for cmd in sqlite3 jq curl; do command -v "$cmd" >/dev/null || { echo "SKIP: $cmd missing"; exit 77; }; done

. "$SRC/tests/support/devnet.sh"
kg_devnet_begin receipt
STATE="$TMP"
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() { echo "not ok - $*" >&2; [ -f "$STATE/logs/kms.log" ] && tail -20 "$STATE/logs/kms.log" >&2; exit 1; }

kg_devnet_up
# the agent runs the app as an unprivileged user: it must reach its output directory
chmod 0711 "$STATE"
T="$STATE/t"
mkdir -p "$T/out"
chmod 0711 "$T"
chmod 0777 "$T/out"
printf '{"manifest_version":2,"name":"receipts","runner":"docker-compose","docker_compose_file":"services: {}"}' >"$T/compose.json"
"$KG" app deploy --state "$STATE" --tcb up-to-date --compose "$T/compose.json" >"$T/deploy.json" || die "app deploy"
APP="$(jq -r .app_id "$T/deploy.json")"
DB="$(jq -r .audit_db "$STATE/devnet.json")"

# ---- 1. a receipt verified, kept and served ------------------------------------------------------
"$KG" sim run --state "$STATE" --app "$APP" --compose "$T/compose.json" -- sh -c \
  'curl -sS --unix-socket "$DSTACK_SIMULATOR_ENDPOINT" -X POST -d "{}" http://localhost/GetKeyReceipt >"$0" &&
   curl -sS --unix-socket "$DSTACK_SIMULATOR_ENDPOINT" -X POST -d "{\"subject\":\"r.test\"}" http://localhost/GetTlsKey >"$1"' \
  "$T/out/receipt.json" "$T/out/tls.json" >"$T/run.out" 2>"$T/run.err" || { cat "$T/run.err" >&2; die "sim run with the receipt"; }
jq -e .receipt "$T/out/receipt.json" >/dev/null || die "GetKeyReceipt: $(cat "$T/out/receipt.json")"
KEPT="$(find "$STATE" -name key-receipt.json | head -1)"
[ -n "$KEPT" ] || die "no key-receipt.json in the app's state"
[ "$(jq -cS . "$KEPT")" = "$(jq -cS .receipt "$T/out/receipt.json")" ] || die "the served receipt is not the kept one"
LEAF="$(jq -r .leaf_index "$KEPT")"
ENTRY="$(sqlite3 "$DB" "SELECT lower(hex(entry)) FROM log_entries WHERE idx = $LEAF;")"
[ "$ENTRY" = "$(jq -r .entry "$KEPT")" ] || die "the receipt's entry is not log entry $LEAF"
METHOD="$(sqlite3 "$DB" "SELECT d.method || ' ' || d.decision || ' ' || d.app_id FROM decisions d JOIN log_entries l ON l.decision_id = d.id WHERE l.idx = $LEAF;")"
APP_HEX="$(echo "${APP#0x}" | tr 'A-F' 'a-f')"
[ "$METHOD" = "GetAppKey allow $APP_HEX" ] || die "log entry $LEAF is '$METHOD'"
NAME="$(jq -r .log_key.name "$KEPT")"
jq -r .checkpoint "$KEPT" | grep -q "^— $NAME " || die "the checkpoint is not signed by $NAME"
jq -e '.certificate_chain | length >= 3' "$T/out/tls.json" >/dev/null || die "GetTlsKey with a SignCert receipt: $(cat "$T/out/tls.json")"
ok "the boot verified its receipt (leaf $LEAF of $(jq -r .tree_size "$KEPT"), $(jq '.inclusion_proof | length' "$KEPT") proof hashes), kept it and GetKeyReceipt serves it"

# ---- 2. a KMS that corrupts receipts ------------------------------------------------------------
KMS_CONFIG="$(jq -r .kms_config "$STATE/devnet.json")"
KMS_STATE="$(jq -r .kms_state_dir "$STATE/devnet.json")"
kg_kms_node_config "$T/tamper"
kg_kms_node_keys "$T/tamper"
echo none >"$T/mode"
KG_KMS_BIN="$TAMPER" KG_TEST_TAMPER_RECEIPT="$T/mode" kg_kms_start "$T/tamper/kms.json" "$T/tport" "$T/tkms.log"
TURL="https://127.0.0.1:$NODE_PORT"

boot_at_tamper() { # MODE: a boot against the tampering KMS; RC and $T/<mode>.err
  echo "$1" >"$T/mode"
  rm -f "$T/out/ran" "$T/keys-$1.json"
  set +e
  "$KG" sim run --state "$STATE" --app "$APP" --compose "$T/compose.json" --kms "$TURL" \
    --keys-out "$T/keys-$1.json" -- touch "$T/out/ran" >/dev/null 2>"$T/$1.err"
  RC=$?
  set -e
}
boot_at_tamper none
[ "$RC" = 0 ] && [ -f "$T/out/ran" ] || { cat "$T/none.err" >&2; die "an honest receipt from the test KMS build was refused"; }
ok "the test KMS build answers with receipts that verify when told to break nothing"

refused() { # MODE, expected text
  boot_at_tamper "$1"
  [ "$RC" = 1 ] || { cat "$T/$1.err" >&2; die "receipt tampered ($1): sim run exit $RC, want 1"; }
  [ ! -e "$T/out/ran" ] || die "receipt tampered ($1): the app ran"
  [ ! -e "$T/keys-$1.json" ] || die "receipt tampered ($1): a keys file was left"
  grep -q "receipt does not verify; its keys are not used" "$T/$1.err" && grep -q "$2" "$T/$1.err" ||
    { cat "$T/$1.err" >&2; die "receipt tampered ($1): no '$2'"; }
  ok "a receipt with $1 tampered is refused: $(grep -o "$2[^;]*" "$T/$1.err" | head -1 | cut -c1-100)"
}
refused entry "is not leaf"
refused proof "is not leaf"
refused size "the receipt says"
refused checkpoint "receipt: checkpoint"
refused cert "is not certified by the KMS root key"
refused other-leaf "receipt: the entry"
refused attestation "the log key's attestation"

# SignCert's receipt: the boot's GetAppKey verifies, the app's GetTlsKey gets an error, no certificate
echo signcert-entry >"$T/mode"
rm -f "$T/out/tls-bad.json"
"$KG" sim run --state "$STATE" --app "$APP" --compose "$T/compose.json" --kms "$TURL" -- sh -c \
  'curl -sS --unix-socket "$DSTACK_SIMULATOR_ENDPOINT" -X POST -d "{\"subject\":\"r.test\"}" http://localhost/GetTlsKey >"$0"' \
  "$T/out/tls-bad.json" >/dev/null 2>"$T/signcert.err" || { cat "$T/signcert.err" >&2; die "sim run for the SignCert receipt"; }
jq -e 'has("certificate_chain") | not' "$T/out/tls-bad.json" >/dev/null &&
  grep -q "the certificate's receipt does not verify" "$T/out/tls-bad.json" ||
  die "a tampered SignCert receipt: GetTlsKey answered $(cut -c1-300 "$T/out/tls-bad.json")"
ok "a SignCert receipt with its entry tampered: GetTlsKey refuses the certificate"

echo "receipt_itest: $PASS checks passed"
