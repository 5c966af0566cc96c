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
#      deployed: only the governance replay (historical eth_call) catches that one;
#   4. checkpoints on chain (`keygate kms checkpoint`, KeygateKms.publishCheckpoint signed by the
#      root key): verify checks them against the log with consistency proofs, so a copy rolled
#      back to before the last published checkpoint (entries, rows, hashes and checkpoints all
#      removed: consistent on its own) fails as a rollback, and one rolled back and re-grown with
#      an allow forged with the real log key (governance allowed it at its block) fails as a
#      fork; neither is visible without the chain.
# Usage: decision_log_itest.sh BUILD_DIR     (exit 77: skipped)
set -euo pipefail
BUILD="$(cd "${1:?usage: decision_log_itest.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KG="$BUILD/bin/keygate"
[ -x "$SRC/tools/node_modules/.bin/anvil" ] || { echo "SKIP: tools not installed (scripts/setup)"; exit 77; }
[ -x "$BUILD/bin/keygate-kms" ] || { echo "SKIP: keygate-kms is not built yet"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 not installed"; exit 77; }

. "$SRC/tests/support/devnet.sh"
kg_devnet_begin declog
STATE="$TMP"
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() { echo "not ok - $*" >&2; [ -f "$STATE/logs/kms.log" ] && tail -20 "$STATE/logs/kms.log" >&2; exit 1; }

kg_devnet_up
mkdir -p "$STATE/t"
printf '{"manifest_version":2,"name":"declog","runner":"docker-compose","docker_compose_file":"services: {}"}' >"$STATE/t/compose.json"
"$KG" app deploy --state "$STATE" --tcb up-to-date --compose "$STATE/t/compose.json" >"$STATE/t/deploy.json" || die "app deploy"
APP="$(jq -r .app_id "$STATE/t/deploy.json")"
publish() { # publishes the KMS's latest checkpoint on chain; prints its size
  sleep 0.5 # the signer checkpoints at most every 100 ms
  "$KG" kms checkpoint --state "$STATE" >"$STATE/t/publish.json" 2>"$STATE/t/publish.err" ||
    { cat "$STATE/t/publish.err" >&2; die "kms checkpoint"; }
  jq -r .tree_size "$STATE/t/publish.json"
}
for i in 1 2 3; do
  "$KG" sim run --state "$STATE" --app "$APP" --compose "$STATE/t/compose.json" -- true \
    >"$STATE/t/run$i.out" 2>"$STATE/t/run$i.err" || { cat "$STATE/t/run$i.err" >&2; die "sim run $i"; }
  [ "$i" = 1 ] && FIRST_SIZE="$(publish)"
done
ok "three app boots got their keys"
LAST_SIZE="$(publish)"
jq -e '.tx and (.tree_size > .previous_size)' "$STATE/t/publish.json" >/dev/null || die "no new checkpoint published: $(cat "$STATE/t/publish.json")"
[ "$(publish)" = "$LAST_SIZE" ] && jq -e '.unchanged == true' "$STATE/t/publish.json" >/dev/null ||
  die "publishing again: $(cat "$STATE/t/publish.json")"
ok "checkpoints of sizes $FIRST_SIZE and $LAST_SIZE published on chain (the log key registered with the first); again: unchanged"

DB="$(jq -r .audit_db "$STATE/devnet.json")"
KMS_URL="$(jq -r .kms_url "$STATE/devnet.json")"
RPC="$(jq -r .rpc_url "$STATE/devnet.json")"
KC="$(jq -r .kms_contract "$STATE/devnet.json")"
"$KG" audit verify --state "$STATE" >"$STATE/t/verify.out" 2>&1 || { cat "$STATE/t/verify.out" >&2; die "audit verify of the live log"; }
grep -q "log key certified by the KMS root key: ok" "$STATE/t/verify.out" || die "no certification line: $(cat "$STATE/t/verify.out")"
grep -q "verdict: OK" "$STATE/t/verify.out" || die "no OK verdict"
grep -q "on-chain checkpoints: 2 published (latest: size $LAST_SIZE at block .*): consistent" "$STATE/t/verify.out" ||
  die "on-chain checkpoints not checked: $(cat "$STATE/t/verify.out")"
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
"$KG" audit verify --kms "$KMS_URL" --rpc-url "$RPC" --kms-contract "$KC" >"$STATE/t/verify-kms-only.out" 2>&1 ||
  { cat "$STATE/t/verify-kms-only.out" >&2; die "audit verify --kms without a database"; }
grep -q "on-chain checkpoints: 2 published .* against the served checkpoint .*: consistent" "$STATE/t/verify-kms-only.out" ||
  die "--kms: on-chain checkpoints not checked: $(cat "$STATE/t/verify-kms-only.out")"
ok "the public API serves the signed checkpoint and tiles; --kms rebuilds the same tree, consistent with the chain's checkpoints"

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

# Rollbacks and forks against the checkpoints on chain. rollback_sql K: the log cut to its first
# K entries, consistently (rows, stored hashes and checkpoints beyond K removed).
rollback_sql() {
  echo "DELETE FROM decisions WHERE id IN (SELECT decision_id FROM log_entries WHERE idx >= $1);
        DELETE FROM log_entries WHERE idx >= $1; DELETE FROM log_hashes WHERE ((idx + 1) << level) > $1;
        DELETE FROM log_checkpoints WHERE size > $1;"
}
ROOT_K256="$(jq -r .k256_pubkey "$STATE/devnet.json")"
sqlite3 "$DB" ".backup '$STATE/t/rollback.db'"
sqlite3 "$STATE/t/rollback.db" "$(rollback_sql $((LAST_SIZE - 2)))"
"$KG" audit verify --db "$STATE/t/rollback.db" --root-k256 "${ROOT_K256#0x}" >"$STATE/t/rollback-alone.out" 2>&1 ||
  { cat "$STATE/t/rollback-alone.out" >&2; die "the rolled-back copy should verify on its own"; }
if "$KG" audit verify --db "$STATE/t/rollback.db" --rpc-url "$RPC" --kms-contract "$KC" >"$STATE/t/rollback.out" 2>&1; then
  cat "$STATE/t/rollback.out" >&2; die "a log rolled back behind its on-chain checkpoint verified"
fi
grep -q "VIOLATION \[entry $((LAST_SIZE - 2))\]: on-chain checkpoint 1 (block [0-9]*) covers $LAST_SIZE entries but the log's head has $((LAST_SIZE - 2)).*(a rollback)" "$STATE/t/rollback.out" ||
  { cat "$STATE/t/rollback.out" >&2; die "rollback: no violation at entry $((LAST_SIZE - 2))"; }
ok "a log rolled back to $((LAST_SIZE - 2)) entries (consistent on its own) fails against the chain ($(grep -m1 VIOLATION "$STATE/t/rollback.out"))"

sqlite3 "$DB" ".backup '$STATE/t/fork.db'"
sqlite3 "$STATE/t/fork.db" "$(rollback_sql $((LAST_SIZE - 1)))"
BLOCK_NOW="$("$SRC/tools/node_modules/.bin/cast" block-number --rpc-url "$RPC")" # the app is allowed there
"$FORGE" "$STATE/t/fork.db" "$STATE/kms/state/log-ed25519.key" "$RPC" "$BLOCK_NOW" >/dev/null || die "kg-log-forge (fork)"
"$KG" audit verify --db "$STATE/t/fork.db" --root-k256 "${ROOT_K256#0x}" >"$STATE/t/fork-alone.out" 2>&1 ||
  { cat "$STATE/t/fork-alone.out" >&2; die "the forked copy should verify on its own"; }
if "$KG" audit verify --db "$STATE/t/fork.db" --rpc-url "$RPC" --kms-contract "$KC" >"$STATE/t/fork.out" 2>&1; then
  cat "$STATE/t/fork.out" >&2; die "a forked log verified against its on-chain checkpoint"
fi
grep -q "VIOLATION \[entry $((LAST_SIZE - 1))\]: on-chain checkpoint 1 (block [0-9]*, size $LAST_SIZE) has another root than the log's head of the same size (a fork)" "$STATE/t/fork.out" ||
  { cat "$STATE/t/fork.out" >&2; die "fork: no violation at entry $((LAST_SIZE - 1))"; }
grep -q "governance did not allow" "$STATE/t/fork.out" && die "fork: the forged allow should pass the governance replay"
ok "a log whose last entry was replaced by an allow forged with the real log key fails against the chain ($(grep -m1 VIOLATION "$STATE/t/fork.out"))"

echo "decision_log_itest: $PASS checks passed"
