#!/usr/bin/env bash
# seal_recovery_itest.sh - the disaster-recovery drill of sealed root keys (docs/design.md,
# "Sealed root keys"): a devnet KMS whose contract names 2-of-3 recovery holders releases an
# app's keys; then every node is lost (KMS stopped, the platform's seal secret and the KMS VM
# deleted: no VM can open the TEE slot again). A fresh node with only the sealed file and the
# public root CA certificate refuses to start; with --recover and no share it times out, with ONE
# holder's share it keeps waiting (until SIGTERM) and recovers nothing; with two holders' shares
# (each verified the fresh node's attestation and governance standing first) it recovers, seals
# for itself and releases the same app keys.
# No file in any state_dir ever holds the root keys (scanned for them in every encoding).
# Usage: seal_recovery_itest.sh BUILD_DIR
set -euo pipefail
BUILD="$(cd "${1:?usage: seal_recovery_itest.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KG="$BUILD/bin/keygate"
KMS="$BUILD/bin/keygate-kms"
CAST="$SRC/tools/node_modules/.bin/cast"
[ -x "$SRC/tools/node_modules/.bin/anvil" ] && [ -x "$CAST" ] || { echo "SKIP: tools not installed (scripts/setup)"; exit 77; }
command -v python3 >/dev/null && command -v openssl >/dev/null || { echo "SKIP: python3/openssl missing"; exit 77; }

. "$SRC/tests/support/devnet.sh"
kg_devnet_begin seal-drill
STATE="$TMP"
W="$STATE/w"
mkdir -p "$W"
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() {
  echo "not ok - $*" >&2
  for f in "$STATE"/logs/kms.log "$STATE/up.err" "$W"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -12 "$f" >&2; }; done
  exit 1
}

# ---- a devnet KMS (root keys known to the test: seeded as an earlier version's plain files) -----
kg_plain_root_keys "$STATE/plain-keys"
mkdir -p -m 700 "$STATE/kms/state"
cp -p "$STATE/plain-keys/root-ca.key" "$STATE/plain-keys/root-k256.key" "$STATE/kms/state/"
kg_devnet_up
DN="$STATE/devnet.json"
RPC="$(jq -r .rpc_url "$DN")"
CFG="$(jq -r .kms_config "$DN")"; KSTATE="$(jq -r .kms_state_dir "$DN")"; SIMDIR="$(jq -r .sim_dir "$DN")"
SIMROOT="$(jq -r .sim_root_ca "$DN")"; PCCS="$(jq -r .pccs_url "$DN")"
kg_assert_no_root_keys_in "$KSTATE" "$STATE/plain-keys"
ok "devnet up: the KMS sealed its root keys (TEE slot only: no holders yet); none in state_dir"

# ---- 2-of-3 recovery holders on chain (the devnet's KMS notice is 30 days: propose, let it pass) -
HOLDERS=""
for i in 1 2 3; do
  "$KG" recovery keygen --out "$W/h$i.key" >"$W/h$i.pub" || die "recovery keygen"
  [ "$(stat -c %a "$W/h$i.key")" = 600 ] || die "holder key not 0600"
  HOLDERS="${HOLDERS:+$HOLDERS,}$(cat "$W/h$i.pub")"
done
# named with the CLI (keygate kms recovery-holders), holders as keygen printed them: a key, or
# the file holding it
"$KG" kms recovery-holders list --state "$STATE" --json | jq -e '.holders == [] and .threshold == 0 and .pending == null' >/dev/null ||
  die "recovery-holders list before any: $("$KG" kms recovery-holders list --state "$STATE" --json)"
set +e; "$KG" kms recovery-holders set --state "$STATE" --holder "$W/h1.pub" --threshold 1 >/dev/null 2>"$W/set.log"; RC=$?; set -e
[ "$RC" = 1 ] && grep -q "has a 2592000 s governance notice: use 'keygate kms recovery-holders propose'" "$W/set.log" ||
  die "recovery-holders set under a notice: rc=$RC $(cat "$W/set.log")"
# a proposal the guardian (the devnet key) vetoes
"$KG" kms recovery-holders propose --state "$STATE" --holder "$W/h1.pub" --threshold 1 >"$W/p1.json" ||
  die "recovery-holders propose (to veto)"
jq -e --arg h1 "$(cat "$W/h1.pub")" '.action == "propose" and .state.holders == [] and .state.pending.holders == [$h1] and .state.pending.activates_at > 0' "$W/p1.json" >/dev/null ||
  die "recovery-holders propose: $(cat "$W/p1.json")"
"$KG" kms recovery-holders veto --state "$STATE" | jq -e '.action == "veto" and .state.pending == null' >/dev/null ||
  die "recovery-holders veto"
set +e; "$KG" kms recovery-holders veto --state "$STATE" >/dev/null 2>"$W/veto2.log"; RC=$?; set -e
[ "$RC" = 1 ] && grep -q "no recovery holder change is pending" "$W/veto2.log" || die "a second veto: rc=$RC $(cat "$W/veto2.log")"
"$KG" kms recovery-holders propose --state "$STATE" --holder "$W/h1.pub" --holder "$(cat "$W/h2.pub")" --holder "$W/h3.pub" \
  --threshold 2 >"$W/p2.json" || die "recovery-holders propose"
"$KG" kms recovery-holders list --state "$STATE" >"$W/list.txt"
grep -q "^recovery holders: none (no recovery)" "$W/list.txt" && grep -q "^pending, in force from [0-9]* (unless vetoed): 2 of 3" "$W/list.txt" ||
  die "recovery-holders list while pending: $(cat "$W/list.txt")"
"$CAST" rpc --rpc-url "$RPC" evm_increaseTime 2592001 >/dev/null && "$CAST" rpc --rpc-url "$RPC" evm_mine >/dev/null
"$KG" kms recovery-holders list --state "$STATE" --json >"$W/holders.json"
jq -e --arg h1 "$(cat "$W/h1.pub")" --arg h2 "$(cat "$W/h2.pub")" --arg h3 "$(cat "$W/h3.pub")" \
  '.holders == [$h1, $h2, $h3] and .threshold == 2 and .pending == null' "$W/holders.json" >/dev/null ||
  die "holders not in force: $(cat "$W/holders.json")"
ok "three holder keys made; 2-of-3 named on chain with keygate kms recovery-holders (set refused under the notice, a proposal vetoed, then proposed and in force after the notice period)"

# ---- the KMS restarts: seals anew, now with a recovery slot; an app gets its keys ----------------
kill "$(awk '{print $1}' "$STATE/run/kms.pid")"
start_kms() { # start_kms NAME CONFIG [args]: sets KPID, KPORT
  kg_kms_start "$2" "$W/$1.port" "$W/$1.log" "${@:3}"
  KPID=$NODE_PID
  KPORT=$NODE_PORT
}
sleep 1
start_kms k1 "$CFG"
grep -q "resealing for the recovery holders now named on chain\|root keys sealed in .*this VM's sealing key and recovery holders" "$W/k1.log" ||
  die "the KMS did not reseal for the holders: $(cat "$W/k1.log")"
printf '{"manifest_version":2,"name":"drill","runner":"docker-compose","docker_compose_file":"services: {}"}' >"$W/compose.json"
"$KG" app deploy --state "$STATE" --tcb up-to-date --compose "$W/compose.json" >"$W/deploy.json" 2>"$W/deploy.log" || die "app deploy"
APP="$(jq -r .app_id "$W/deploy.json")"
APP_CMD='curl -s -m 10 --unix-socket "$DSTACK_SIMULATOR_ENDPOINT" -X POST -d "{}" http://dstack/Info >/dev/null 2>&1; exit 0'
boot() { # boot N: the app's keys from the KMS on KPORT into $W/keys.N
  timeout -k 5 90 "$KG" sim run --state "$STATE" --app "$APP" --compose "$W/compose.json" \
    --kms "https://127.0.0.1:$KPORT" --keys-out "$W/keys.$1" -- sh -c "$APP_CMD" >"$W/boot.$1.log" 2>&1 ||
    die "app boot $1: $(tail -3 "$W/boot.$1.log")"
}
boot 1
jq -e '.k256_key | length > 0' "$W/keys.1" >/dev/null || die "no keys in keys.1: $(head -c 300 "$W/keys.1")"
ok "KMS resealed with a 2-of-3 recovery slot; app $APP got its keys"

# ---- lose every node: the KMS, its VM and the platform's seal secret ------------------------------
kill "$KPID"; wait "$KPID" 2>/dev/null || true
rm -f "$SIMDIR/seal.secret"
rm -rf "$SIMDIR/vms/kms"
NEW="$STATE/new-node"
mkdir -m 700 "$NEW"
cp -p "$KSTATE/root-keys.sealed" "$KSTATE/root-ca.pem" "$NEW/" # the backup: ciphertext and a certificate
jq --arg d "$NEW" '.state_dir = $d | .tee.sim_vm = "kms-new"' "$CFG" >"$W/new.json"
set +e; timeout 120 "$KMS" --config "$W/new.json" 2>"$W/plain-start.log"; RC=$?; set -e
[ "$RC" != 0 ] && grep -q "do not open in this VM" "$W/plain-start.log" && grep -q -- "--recover" "$W/plain-start.log" ||
  die "a fresh node opened the sealed file without recovery: rc=$RC"
ok "all nodes lost: a fresh node cannot unseal ($(grep -o 'the TEE slot does not open[^(]*' "$W/plain-start.log" | head -1)) and names --onboard/--recover"

# decrypt NAME HOLDER: the holder verifies the waiting node's request and boxes its share
decrypt() {
  "$KG" recovery decrypt-share --key "$W/h$2.key" --sealed "$NEW/root-keys.sealed" \
    --request "$NEW/recovery/request.json" --rpc-url "$RPC" --pccs "$PCCS" --tee-root-ca "$SIMROOT" \
    --out "$W/$1" 2>"$W/$1.log" || die "decrypt-share $1: $(cat "$W/$1.log")"
}
wait_request() { kg_wait_file "$NEW/recovery/request.json" "$KPID" "recovery request"; }

# ---- no holder by the deadline; one holder is not enough ----------------------------------------
set +e; "$KMS" --config "$W/new.json" --recover --recover-timeout 1 2>"$W/r0.log"; RC=$?; set -e
[ "$RC" = 1 ] && grep -q "recovery: 0 of the 2 shares needed arrived in 1 s; nothing recovered" "$W/r0.log" ||
  die "no share by the deadline: rc=$RC $(tail -3 "$W/r0.log")"
[ ! -e "$NEW/recovery/request.json" ] || die "the timed-out recovery left its request behind"
"$KMS" --config "$W/new.json" --recover 2>"$W/r1.log" &
KPID=$!
PIDS+=("$KPID")
wait_request
decrypt one.share 1
"$KG" kms recover --state-dir "$NEW" "$W/one.share" 2>"$W/deliver1.log" || die "kms recover: $(cat "$W/deliver1.log")"
# The node takes a share within its 200 ms poll; with 1 of 2 it must go on waiting, not serve.
for _ in $(seq 100); do grep -q "share x = 1 accepted (1 of 2)" "$W/r1.log" && break; sleep 0.1; done
grep -q "share x = 1 accepted (1 of 2)" "$W/r1.log" || die "the node did not take the share: $(tail -3 "$W/r1.log")"
sleep 1
kill -0 "$KPID" 2>/dev/null && [ ! -e "$W/new.port" ] || die "one share: the node stopped waiting: $(tail -3 "$W/r1.log")"
kill -TERM "$KPID"
set +e; wait "$KPID"; RC=$?; set -e
[ "$RC" = 1 ] && grep -q "recovery: stopped by signal 15 with 1 of the 2 shares needed; nothing recovered" "$W/r1.log" ||
  die "one holder's share, then SIGTERM: rc=$RC $(tail -3 "$W/r1.log")"
[ -z "$(ls -A "$NEW/recovery")" ] || die "the stopped recovery left files behind: $(ls -A "$NEW/recovery")"
kg_assert_no_root_keys_in "$NEW" "$STATE/plain-keys"
ok "no share by --recover-timeout, and one holder's share until SIGTERM: the node recovers nothing, says so, removes the request"

# ---- two holders: recovered, resealed, the same app keys ------------------------------------------
rm -f "$W/new.port"
"$KMS" --config "$W/new.json" --recover --recover-timeout 600 --port-file "$W/new.port" 2>"$W/r2.log" &
KPID=$!
PIDS+=("$KPID")
wait_request
set +e; "$KG" kms recover --state-dir "$NEW" "$W/one.share" 2>"$W/stale.log"; RC=$?; set -e
[ "$RC" = 1 ] && grep -q "a share for another recovery request" "$W/stale.log" || die "a share boxed to the previous request was delivered: rc=$RC $(cat "$W/stale.log")"
decrypt s1.share 1
decrypt s3.share 3
"$KG" kms recover --state-dir "$NEW" "$W/s1.share" "$W/s3.share" 2>"$W/deliver2.log" || die "kms recover: $(cat "$W/deliver2.log")"
kg_wait_file "$W/new.port" "$KPID" "recovered KMS"
KPORT="$(cat "$W/new.port")"
grep -q "root keys recovered from 2 holders' shares (they match the KMS info on chain)" "$W/r2.log" || die "no recovery line in the log"
grep -q "root keys sealed in $NEW/root-keys.sealed (this VM's sealing key and recovery holders)" "$W/r2.log" || die "the recovered node did not seal for itself"
boot 2
# each release carries its own receipt (another log entry): the keys are what must be equal
keys_of() { jq -S 'del(.receipt)' "$1"; }
[ "$(jq -r '.receipt.leaf_index' "$W/keys.2")" != null ] || die "keys.2 has no receipt"
cmp -s <(keys_of "$W/keys.1") <(keys_of "$W/keys.2") || die "the recovered node gave other app keys"
ok "two holders' shares (each checked the node's attestation and isKmsAllowed): recovered, resealed, the same app keys"

# ---- the recovered node restarts on its own; nothing in clear anywhere --------------------------
kill "$KPID"; wait "$KPID" 2>/dev/null || true
[ ! -e "$NEW/recovery/request.json" ] || die "the recovery request was left behind"
start_kms again "$W/new.json"
boot 3
cmp -s <(keys_of "$W/keys.1") <(keys_of "$W/keys.3") || die "after a restart: other app keys"
for d in "$KSTATE" "$NEW" "$SIMDIR"; do kg_assert_no_root_keys_in "$d" "$STATE/plain-keys"; done
ok "the recovered node restarts from its own seal; no root key bytes in any state_dir or the platform"
echo "seal_recovery_itest: $PASS passed"
