#!/usr/bin/env bash
# decision_log_itest.sh - the verifiable decision log end to end (docs/design.md, "The decision
# log"): a devnet KMS releases keys to a few app boots (keygate sim run), then
#   1. `keygate audit verify --state DIR` passes: log key certified by kmsInfo's root key, every
#      checkpoint signed, every entry in the tree, rows equal entries, every allow replayed
#      against governance at its block (historical eth_call);
#   2. the public read API (GET /checkpoint, /log-key, /tile/...) serves the same tree, and
#      `--kms URL` rebuilds it from the entry bundles;
#   3. tampered copies fail, each with its violation: an edited audit row, deleted last
#      entries, a row added by hand, a checkpoint altered after signing, and an allow forged
#      with the node's own log key (so every signature holds) at a block before the app was
#      deployed: only the governance replay (historical eth_call) catches that one.
# Usage: decision_log_itest.sh BUILD_DIR     (exit 77: skipped)
set -euo pipefail
BUILD="$(cd "${1:?usage: decision_log_itest.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KG="$BUILD/bin/keygate"
[ -x "$SRC/tools/node_modules/.bin/anvil" ] || { echo "SKIP: tools not installed (scripts/setup)"; exit 77; }
[ -x "$BUILD/bin/keygate-kms" ] || { echo "SKIP: keygate-kms is not built yet"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 not installed"; exit 77; }

STATE="$(mktemp -d /tmp/kg-declog.XXXXXX)"
cleanup() {
  "$KG" devnet down --state "$STATE" >/dev/null 2>&1 || true
  if [ "${KEEP_TMP:-0}" = 1 ]; then echo "decision_log_itest: kept $STATE" >&2; else rm -rf "$STATE"; fi
}
trap cleanup EXIT
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() { echo "not ok - $*" >&2; [ -f "$STATE/logs/kms.log" ] && tail -20 "$STATE/logs/kms.log" >&2; exit 1; }

"$KG" devnet up --state "$STATE" >"$STATE/up.json" 2>"$STATE/up.err" || { cat "$STATE/up.err" >&2; die "devnet up"; }
mkdir -p "$STATE/t"
printf '{"manifest_version":2,"name":"declog","runner":"docker-compose","docker_compose_file":"services: {}"}' >"$STATE/t/compose.json"
"$KG" app deploy --state "$STATE" --tcb up-to-date --compose "$STATE/t/compose.json" >"$STATE/t/deploy.json" || die "app deploy"
APP="$(jq -r .app_id "$STATE/t/deploy.json")"
for i in 1 2 3; do
  "$KG" sim run --state "$STATE" --app "$APP" --compose "$STATE/t/compose.json" -- true \
    >"$STATE/t/run$i.out" 2>"$STATE/t/run$i.err" || { cat "$STATE/t/run$i.err" >&2; die "sim run $i"; }
done
ok "three app boots got their keys"
sleep 0.5 # the signer checkpoints at most every 100 ms

DB="$(jq -r .audit_db "$STATE/devnet.json")"
KMS_URL="$(jq -r .kms_url "$STATE/devnet.json")"
RPC="$(jq -r .rpc_url "$STATE/devnet.json")"
KC="$(jq -r .kms_contract "$STATE/devnet.json")"
"$KG" audit verify --state "$STATE" >"$STATE/t/verify.out" 2>&1 || { cat "$STATE/t/verify.out" >&2; die "audit verify of the live log"; }
grep -q "log key certified by the KMS root key: ok" "$STATE/t/verify.out" || die "no certification line: $(cat "$STATE/t/verify.out")"
grep -q "verdict: OK" "$STATE/t/verify.out" || die "no OK verdict"
ALLOWS="$(sqlite3 "$DB" "SELECT COUNT(*) FROM decisions WHERE decision = 'allow' AND method = 'GetAppKey';")"
[ "$ALLOWS" -ge 3 ] || die "expected 3 GetAppKey allows, found $ALLOWS"
ok "audit verify --state passes ($ALLOWS app releases, governance replayed at their blocks)"

curl -skf "$KMS_URL/checkpoint" >"$STATE/t/checkpoint" || die "GET /checkpoint"
NAME="$(head -1 "$STATE/t/checkpoint")"
case "$NAME" in keygate.kms/*) ;; *) die "checkpoint origin '$NAME'";; esac
grep -q "^— $NAME " "$STATE/t/checkpoint" || die "checkpoint not signed by $NAME"
curl -skf "$KMS_URL/tile/entries/000.p/$(sed -n 2p "$STATE/t/checkpoint")" >/dev/null || die "GET entry bundle"
"$KG" audit verify --state "$STATE" --kms "$KMS_URL" >"$STATE/t/verify-kms.out" 2>&1 ||
  { cat "$STATE/t/verify-kms.out" >&2; die "audit verify --kms"; }
grep -q "served log: .* entries rebuilt" "$STATE/t/verify-kms.out" || die "no remote rebuild"
ok "the public API serves the signed checkpoint and tiles; --kms rebuilds the same tree"

tamper() { # name, sql, expected violation text
  local copy="$STATE/t/$1.db"
  sqlite3 "$DB" ".backup '$copy'"
  sqlite3 "$copy" "$2"
  if "$KG" audit verify --db "$copy" --rpc-url "$RPC" --kms-contract "$KC" >"$STATE/t/$1.out" 2>&1; then
    cat "$STATE/t/$1.out" >&2; die "tampered copy '$1' verified"
  fi
  grep -q "$3" "$STATE/t/$1.out" || { cat "$STATE/t/$1.out" >&2; die "'$1': no violation '$3'"; }
  ok "tampered copy fails: $1 ($(grep -m1 VIOLATION "$STATE/t/$1.out"))"
}
tamper edited-row "UPDATE decisions SET compose_hash = '00' || substr(compose_hash, 3) WHERE id = (SELECT MAX(id) FROM decisions WHERE decision = 'allow');" "differs from the log in 'compose_hash'"
tamper deleted-last "DELETE FROM decisions WHERE id IN (SELECT decision_id FROM log_entries WHERE idx = (SELECT MAX(idx) FROM log_entries)); DELETE FROM log_entries WHERE idx = (SELECT MAX(idx) FROM log_entries);" "entries deleted"
tamper added-row "INSERT INTO decisions (time_ms, method, decision, reason) VALUES (1, 'GetAppKey', 'deny', 'never happened');" "is in no log entry"
tamper altered-checkpoint "UPDATE log_checkpoints SET note = replace(note, 'keygate', 'keygatf') WHERE id = (SELECT MAX(id) FROM log_checkpoints);" "checkpoint #"

# An allow the KMS never made, signed with the real log key, at the block before the app's
# deployment (governance did not allow its compose hash there).
FORGE="$BUILD/tests/kg-log-forge"
DEPLOY_BLOCK="$(jq -r .block "$STATE/t/deploy.json")"
[ "$DEPLOY_BLOCK" -gt 1 ] || die "deploy block '$DEPLOY_BLOCK'"
sqlite3 "$DB" ".backup '$STATE/t/forged.db'"
"$FORGE" "$STATE/t/forged.db" "$STATE/kms/state/log-ed25519.key" "$RPC" "$((DEPLOY_BLOCK - 1))" >/dev/null || die "kg-log-forge"
"$KG" audit verify --db "$STATE/t/forged.db" --rpc-url "$RPC" --kms-contract "$KC" --no-replay >/dev/null 2>&1 ||
  die "the forged log should verify without the governance replay (all signatures hold)"
if "$KG" audit verify --db "$STATE/t/forged.db" --rpc-url "$RPC" --kms-contract "$KC" >"$STATE/t/forged.out" 2>&1; then
  cat "$STATE/t/forged.out" >&2; die "a forged allow at block $((DEPLOY_BLOCK - 1)) verified"
fi
grep -q "governance did not allow it there" "$STATE/t/forged.out" || { cat "$STATE/t/forged.out" >&2; die "forged allow: no governance violation"; }
ok "an allow forged with the real log key at block $((DEPLOY_BLOCK - 1)) fails the governance replay ($(grep -m1 VIOLATION "$STATE/t/forged.out"))"

echo "decision_log_itest: $PASS checks passed"
