#!/usr/bin/env bash
# epoch_kms_itest.sh - the KMS side of root-key epochs (docs/design.md, "Root-key epochs") on a
# devnet: a replica with an admin listener proposes epoch 1 (POST /epoch/propose): generated in
# its TEE, attested with the epoch REPORTDATA (recomputed here from the public values), the
# attestation hash keccak256(quote), the proposer identity the devnet allows; a wrong number or
# body refused; asked again, the same pending epoch; sealed, so a restart still holds it. The
# app keys of epoch 0 are unchanged meanwhile, and a node onboarded from the proposer leaves the
# proposal out until it is on chain. With a KMS contract that has root epochs: the proposal
# published, activated after the notice: the proposer releases epoch 1's keys with epoch 0's in
# previous_keys (the very keys of before), a node without epoch 1 refuses (unavailable, naming
# it), a node onboarded mid-window adopts both; epoch 0 retired: wiped (table, sealed file, a
# decision-log entry), never released again; keygate audit verify accepts the log. Last, epoch 2
# published with another quote than its proposer's: a node onboarding refuses it (bad attestation).
# Usage: epoch_kms_itest.sh BUILD_DIR
set -euo pipefail
BUILD="$(cd "${1:?usage: epoch_kms_itest.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KG="$BUILD/bin/keygate"
KMS="$BUILD/bin/keygate-kms"
CAST="$SRC/tools/node_modules/.bin/cast"
[ -x "$SRC/tools/node_modules/.bin/anvil" ] && [ -x "$CAST" ] || { echo "SKIP: tools not installed (scripts/setup)"; exit 77; }
command -v python3 >/dev/null && command -v jq >/dev/null || { echo "SKIP: python3/jq missing"; exit 77; }

. "$SRC/tests/support/devnet.sh"
kg_devnet_begin epoch-kms
W="$TMP/w"
mkdir -p "$W"
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() {
  echo "not ok - $*" >&2
  for f in "$TMP/up.err" "$W"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done
  exit 1
}

kg_devnet_up
DN="$TMP/devnet.json"
RPC="$(jq -r .rpc_url "$DN")"
KMSC="$(jq -r .kms_contract "$DN")"
KURL="$(jq -r .kms_url "$TMP/up.json")"
OSH="$(jq -r .os_image_hash "$TMP/up.json")"

# ---- a replica with an admin listener (onboarded from the devnet's KMS) ---------------------------
"$KG" kms config --state "$TMP" --kms-state "$TMP/kms2" --sim-vm kms2 --admin-listen 127.0.0.1:0 \
  --log-format json --out "$W/kms2.json" || die "kms config"
R_PID=""
start_replica() { # start_replica [--onboard SRC]
  : >"$W/kms2.port"
  "$KMS" --config "$W/kms2.json" "$@" --port-file "$W/kms2.port" 2>>"$W/kms2.log" &
  R_PID=$!
  PIDS+=("$R_PID")
  kg_wait_file "$W/kms2.port" "$R_PID" "replica KMS"
  APORT="$(jq -r 'select(.msg|startswith("admin listening on http://127.0.0.1:")) | .msg | capture(":(?<p>[0-9]+) ").p' "$W/kms2.log" | tail -1)"
  [ -n "$APORT" ] || die "no admin listener line"
  ADMIN="http://127.0.0.1:$APORT"
}
stop_replica() { kill "$R_PID"; wait "$R_PID" 2>/dev/null || true; }
start_replica --onboard "${KURL#https://}"
curl -sf "$ADMIN/epochs" >"$W/epochs0.json" || die "GET /epochs"
jq -e '.current == 0 and (.epochs|length) == 1 and .epochs[0].epoch == 0 and .epochs[0].status == "current"' \
  "$W/epochs0.json" >/dev/null || die "GET /epochs before a rotation: $(cat "$W/epochs0.json")"
[ "$(jq -r '.epochs[0].k256_pubkey' "$W/epochs0.json")" = "$(jq -r .k256_pubkey "$TMP/up.json")" ] ||
  die "epoch 0 is not the devnet's root key"
ok "a replica onboarded; GET /epochs: epoch 0, current, the key kmsInfo publishes"

# ---- refusals: nothing generated --------------------------------------------------------------------
post() { # post BODY -> $W/post.json, $CODE
  CODE="$(curl -s -o "$W/post.json" -w '%{http_code}' -X POST --data "$1" "$ADMIN/epoch/propose")"
}
post '{"epoch": 2}'
[ "$CODE" = 400 ] && jq -e '.error | contains("epoch 2 is not the next epoch: the current epoch on chain is 0, so propose 1")' "$W/post.json" >/dev/null ||
  die "epoch 2 proposed: $CODE $(cat "$W/post.json")"
post '{"epoch": 1, "x": 1}'
[ "$CODE" = 400 ] && jq -e '.error | contains("want {\"epoch\": N}")' "$W/post.json" >/dev/null || die "extra member: $CODE $(cat "$W/post.json")"
post 'epoch=1'
[ "$CODE" = 400 ] && jq -e '.error | contains("body is not JSON")' "$W/post.json" >/dev/null || die "not JSON: $CODE"
curl -sf "$ADMIN/epochs" | jq -e '(.epochs|length) == 1' >/dev/null || die "a refused proposal left an epoch"
ok "POST /epoch/propose: a number that is not current + 1, an extra member, a body that is not JSON: 400, nothing generated"

# ---- epoch 1 proposed --------------------------------------------------------------------------------
post '{"epoch": 1}'
[ "$CODE" = 200 ] || die "propose epoch 1: $CODE $(cat "$W/post.json")"
cp "$W/post.json" "$W/p1.json"
P="$W/p1.json"
CA="$(jq -r .ca_pubkey "$P")"; K1="$(jq -r .k256_pubkey "$P")"; Q="$(jq -r .quote "$P")"
[ "${#K1}" = 66 ] && [ "$K1" != "$(jq -r .k256_pubkey "$TMP/up.json")" ] || die "epoch 1's k256 key: $K1"
# REPORTDATA = SHA-512("keygate-root-epoch:" || chain_id u64 || contract || epoch u32 || SHA-256(ca) || k256)
python3 - "$P" "$KMSC" <<'EOF' || die "epoch 1's REPORTDATA is not the binding"
import hashlib, json, sys
p = json.load(open(sys.argv[1]))
ca, k = bytes.fromhex(p["ca_pubkey"]), bytes.fromhex(p["k256_pubkey"])
want = hashlib.sha512(b"keygate-root-epoch:" + (31337).to_bytes(8, "big") + bytes.fromhex(sys.argv[2][2:])
                      + (1).to_bytes(4, "big") + hashlib.sha256(ca).digest() + k).digest()
quote = bytes.fromhex(p["quote"])
got = quote[48 + 520:48 + 520 + 64]  # TDX quote v4: header, then the TD report's REPORTDATA
sys.exit(0 if got == want else 1)
EOF
[ "$(jq -r .attestation_hash "$P")" = "$("$CAST" keccak "0x$Q")" ] || die "attestation_hash is not keccak256(quote)"
[ "$(jq -r .os_image_hash "$P")" = "0x$OSH" ] || die "proposer os_image_hash $(jq -r .os_image_hash "$P") (want 0x$OSH)"
MRA="$(jq -r .mr_aggregated "$P")"; DEV="$(jq -r .device_id "$P")"
[ "$("$CAST" call --rpc-url "$RPC" "$KMSC" "kmsAllowedAggregatedMrs(bytes32)(bool)" "$MRA")" = true ] ||
  die "the proposer's mr_aggregated $MRA is not the one the devnet allows"
[ "$("$CAST" call --rpc-url "$RPC" "$KMSC" "kmsAllowedDeviceIds(bytes32)(bool)" "$DEV")" = true ] ||
  die "the proposer's device_id $DEV is not the one the devnet allows"
jq -e '.eventlog | fromjson | length > 0' "$P" >/dev/null || die "eventlog is not the event log JSON"
ok "epoch 1 proposed: new keys, REPORTDATA binds chain, contract, epoch and both keys; attestation_hash = keccak256(quote); the proposer's os image, MR and device"

post '{"epoch": 1}'
[ "$CODE" = 200 ] && [ "$(jq -r .k256_pubkey "$W/post.json")" = "$K1" ] && [ "$(jq -r .quote "$W/post.json")" = "$Q" ] ||
  die "asked again: another epoch 1"
post '{"epoch": 2}'
[ "$CODE" = 400 ] && jq -e '.error | contains("epoch 2 is not the next epoch")' "$W/post.json" >/dev/null ||
  die "a second pending epoch: $CODE $(cat "$W/post.json")"
curl -sf "$ADMIN/epochs" >"$W/epochs1.json"
jq -e --arg k "$K1" '.current == 0 and (.epochs|length) == 2 and .epochs[1] == {"epoch":1,"status":"proposed","k256_pubkey":$k}' \
  "$W/epochs1.json" >/dev/null || die "GET /epochs with a proposal: $(cat "$W/epochs1.json")"
ok "asked again: the same pending epoch 1 (same keys and quote); epoch 2 refused (not the chain's next); GET /epochs lists it as proposed"

# ---- sealed: a restart in the same VM still holds it ---------------------------------------------------
stop_replica
start_replica
curl -sf "$ADMIN/epochs" | jq -e --arg k "$K1" '.current == 0 and .epochs[1].k256_pubkey == $k and .epochs[1].status == "proposed"' >/dev/null ||
  die "after a restart: $(curl -s "$ADMIN/epochs")"
grep -q "root keys sealed in $TMP/kms2/root-keys.sealed (this VM's sealing key); 2 epochs" "$W/kms2.log" || die "no sealing line for 2 epochs"
post '{"epoch": 1}'
[ "$(jq -r .quote "$W/post.json")" = "$Q" ] || die "the proposal's attestation was not kept"
[ -f "$TMP/kms2/root-ca-epoch-1.pem" ] && openssl x509 -in "$TMP/kms2/root-ca-epoch-1.pem" -noout -pubkey |
  openssl pkey -pubin -outform DER | xxd -p | tr -d '\n' | grep -qx "$CA" || die "epoch 1's root CA certificate"
ok "restarted: epoch 1 still proposed with its attestation (sealed, 2 epochs); its root CA certificate certifies its CA key"
# ---- an app's keys (epoch 0) from the replica: as from the devnet's KMS ------------------------------
KMSC_ADDR="$KMSC"
export KEYGATE_DEPLOYER_KEY; KEYGATE_DEPLOYER_KEY="$(jq -r .private_key "$DN")"
OWNER=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266
CLIENT="$BUILD/tests/kms-itest-client"
INST=00112233445566778899aabbccddeeff00112233
H1=$(printf 'epoch app' | sha256sum | cut -c1-64)
APP="$(kg_devnet_register_app "$H1")"
[ "${#APP}" = 40 ] || die "no app id from the factory"
appkey() { # appkey PORT OUT: GetAppKey as the app's VM
  set +e
  "$CLIENT" --kms "127.0.0.1:$1" --method GetAppKey --body '{"api_version":1}' --sim "$TMP/sim" \
    --vm app1 --app-id "$APP" --compose-hash "$H1" --instance-id "$INST" >"$2" 2>"$W/client.err"
  RC=$?
  set -e
}
DEVPORT="${KURL##*:}"
R_PORT="$(cat "$W/kms2.port")"
appkey "$DEVPORT" "$W/k0-dev.json"
[ "$RC" = 0 ] || die "GetAppKey from the devnet KMS: $(cat "$W/k0-dev.json" "$W/client.err")"
appkey "$R_PORT" "$W/k0.json"
[ "$RC" = 0 ] || die "GetAppKey from the replica: $(cat "$W/k0.json" "$W/client.err")"
for f in disk_crypt_key env_crypt_key k256_key k256_signature ca_cert; do
  [ "$(jq -r ".$f" "$W/k0.json")" = "$(jq -r ".$f" "$W/k0-dev.json")" ] || die "$f differs between the nodes"
done
jq -e '.root_epoch == 0 and (has("previous_keys") | not)' "$W/k0.json" >/dev/null || die "epoch 0 release: $(jq -c 'del(.disk_crypt_key,.env_crypt_key,.k256_key)' "$W/k0.json")"
"$KG" audit list --db "$TMP/kms2/audit.db" --method GetAppKey --json >"$W/audit0.json"
jq -e 'last | .decision == "allow" and (.released | test("root_epoch") | not)' "$W/audit0.json" >/dev/null ||
  die "an epoch-0 release record names epochs: $(jq -c 'last | .released' "$W/audit0.json")"
ok "with epoch 1 only proposed: the replica releases epoch 0's keys (root_epoch 0, no previous_keys), the devnet KMS's; the record is as before epochs"

# ---- a third node onboarded from the proposer: the proposal is not on chain, so left out ---------------
start_node() { # start_node NAME: a fresh node (state and VM of its own) onboarded from the replica
  "$KG" kms config --state "$TMP" --kms-state "$TMP/$1" --sim-vm "$1" --log-format json --out "$W/$1.json" || die "kms config $1"
  "$KMS" --config "$W/$1.json" --onboard "127.0.0.1:$(cat "$W/kms2.port")" --port-file "$W/$1.port" 2>>"$W/$1.log" &
  T_PID=$!
  PIDS+=("$T_PID")
  kg_wait_file "$W/$1.port" "$T_PID" "KMS $1"
}
start_node kms3
grep -q "root epoch 1 from 127.0.0.1:$R_PORT not adopted: a proposal" "$W/kms3.log" || die "the third node: $(grep onboard "$W/kms3.log")"
kill "$T_PID"; wait "$T_PID" 2>/dev/null || true
ok "a node onboarded from the proposer adopts epoch 0 and leaves the proposal out (not on chain)"

if ! "$CAST" call --rpc-url "$RPC" "$KMSC" "currentRootEpoch()(uint32)" >/dev/null 2>&1; then
  echo "# the KMS contract has no root epochs: the rotation on chain is not exercised"
  echo "1..$PASS"
  exit 0
fi

# ---- the rotation on chain: published, activated after the notice --------------------------------------
EV_HEX="$(jq -j .eventlog "$P" | xxd -p | tr -d '\n')"
kg_send "$KMSC" "proposeRootEpoch(uint32,bytes,bytes,bytes32,bytes32,bytes32,bytes32,bytes,bytes)" 1 "0x$CA" \
  "0x$K1" "$(jq -r .attestation_hash "$P")" "$MRA" "$DEV" "0x$OSH" "0x$Q" "0x$EV_HEX"
NOTICE="$("$CAST" call --rpc-url "$RPC" "$KMSC" "guaranteedNotice()(uint64)" | awk '{print $1}')"
"$CAST" rpc --rpc-url "$RPC" evm_increaseTime $((NOTICE + 1)) >/dev/null && "$CAST" rpc --rpc-url "$RPC" evm_mine >/dev/null
kg_send "$KMSC" "activateRootEpoch(uint32)" 1
[ "$("$CAST" call --rpc-url "$RPC" "$KMSC" "currentRootEpoch()(uint32)")" = 1 ] || die "epoch 1 not current on chain"
appkey "$R_PORT" "$W/k1.json"
[ "$RC" = 0 ] || die "GetAppKey in the window: $(cat "$W/k1.json" "$W/client.err")"
jq -e '.root_epoch == 1 and (.previous_keys | length) == 1 and .previous_keys[0].root_epoch == 0' "$W/k1.json" >/dev/null ||
  die "window release: $(jq -c '{root_epoch, previous_keys: [.previous_keys[]?.root_epoch]}' "$W/k1.json")"
for f in disk_crypt_key env_crypt_key k256_key k256_signature; do
  [ "$(jq -r ".previous_keys[0].$f" "$W/k1.json")" = "$(jq -r ".$f" "$W/k0.json")" ] || die "previous_keys[0].$f is not epoch 0's"
  [ "$(jq -r ".$f" "$W/k1.json")" != "$(jq -r ".$f" "$W/k0.json")" ] || die "$f did not change with the epoch"
done
[ "$(jq -r .ca_cert "$W/k1.json")" = "$(cat "$TMP/kms2/root-ca-epoch-1.pem")" ] || die "ca_cert is not epoch 1's root CA"
curl -sf "$ADMIN/epochs" | jq -e '.current == 1 and .epochs[0].status == "retiring" and .epochs[1].status == "current"' >/dev/null ||
  die "GET /epochs in the window: $(curl -s "$ADMIN/epochs")"
"$KG" audit list --db "$TMP/kms2/audit.db" --method GetAppKey --json |
  jq -e 'last | .released | fromjson | .root_epoch == 1 and .previous[0].root_epoch == 0' >/dev/null || die "the window release record names no epochs"
ok "epoch 1 published and activated: the proposer releases epoch 1's keys and, in previous_keys, epoch 0's (the very keys of before); the record names both"

appkey "$DEVPORT" "$W/k1-dev.json"
[ "$RC" != 0 ] && grep -q "unavailable: .*root epoch 1 is current on chain and this node does not hold it" "$W/k1-dev.json" ||
  die "a node without epoch 1 answered: rc=$RC $(cat "$W/k1-dev.json" "$W/client.err")"
ok "the devnet KMS, which lacks epoch 1, refuses (unavailable, naming epoch 1)"

start_node kms4
grep -q "onboarding: 2 root epochs from 127.0.0.1:$R_PORT adopted (current: 1)" "$W/kms4.log" || die "mid-window onboarding: $(grep onboard "$W/kms4.log")"
appkey "$(cat "$W/kms4.port")" "$W/k1-third.json"
[ "$RC" = 0 ] && [ "$(jq -S 'del(.receipt)' "$W/k1-third.json")" = "$(jq -S 'del(.receipt)' "$W/k1.json")" ] || die "the mid-window node's release differs"
kill "$T_PID"; wait "$T_PID" 2>/dev/null || true
ok "a node onboarded mid-window adopts both epochs (each checked on chain, epoch 1's attestation verified) and releases the same"

# the devnet's KMS, restarted with --onboard: its own sealed file opens but lacks epoch 1
kill "$(awk '{print $1}' "$TMP/run/kms.pid")" 2>/dev/null || true
sleep 1
"$KMS" --config "$(jq -r .kms_config "$DN")" --onboard "127.0.0.1:$R_PORT" --port-file "$W/kms1.port" 2>>"$W/kms1.log" &
T_PID=$!
PIDS+=("$T_PID")
kg_wait_file "$W/kms1.port" "$T_PID" "the devnet KMS, restarted"
grep -q "the sealed root keys lack root epoch 1, current on chain; onboarding" "$W/kms1.log" || die "restart with --onboard: $(grep -i onboard "$W/kms1.log")"
appkey "$(cat "$W/kms1.port")" "$W/k1-first.json"
[ "$RC" = 0 ] && [ "$(jq -r .k256_key "$W/k1-first.json")" = "$(jq -r .k256_key "$W/k1.json")" ] || die "the restarted devnet KMS: $(cat "$W/client.err")"
kill "$T_PID"; wait "$T_PID" 2>/dev/null || true
ok "the node that lacked epoch 1, restarted with --onboard: its sealed keys lack the current epoch, so it fetches both and releases epoch 1's keys"

# ---- epoch 0 retired ------------------------------------------------------------------------------------
kg_send "$KMSC" "retireRootEpoch(uint32)" 0
appkey "$R_PORT" "$W/k2.json"
[ "$RC" = 0 ] && jq -e '.root_epoch == 1 and (has("previous_keys") | not)' "$W/k2.json" >/dev/null || die "after retirement: $(cat "$W/client.err")"
[ "$(jq -r .k256_key "$W/k2.json")" = "$(jq -r .k256_key "$W/k1.json")" ] || die "epoch 1's keys changed"
curl -sf "$ADMIN/epochs" | jq -e '.current == 1 and (.epochs | length) == 1' >/dev/null || die "GET /epochs after retirement: $(curl -s "$ADMIN/epochs")"
grep -q "root epoch 0 is retired on chain: its root keys are wiped from this node" "$W/kms2.log" || die "no wipe line"
"$KG" audit list --db "$TMP/kms2/audit.db" --method root-epoch-retired --json | jq -e 'length == 1' >/dev/null || die "the retirement is not in the log"
stop_replica
start_replica
curl -sf "$ADMIN/epochs" | jq -e '.current == 1 and (.epochs | length) == 1' >/dev/null || die "epoch 0 back after a restart"
appkey "$(cat "$W/kms2.port")" "$W/k3.json"
[ "$RC" = 0 ] && [ "$(jq -r .k256_key "$W/k3.json")" = "$(jq -r .k256_key "$W/k1.json")" ] && jq -e 'has("previous_keys") | not' "$W/k3.json" >/dev/null ||
  die "after a restart: $(cat "$W/client.err")"
ok "epoch 0 retired: wiped from the table and the sealed file (a restart holds epoch 1 only), recorded in the log; only epoch 1 is released"

# The log's stored checkpoints come at most every 100 ms (kms/log.c; a receipt's own checkpoint is
# not stored): wait, bounded, for one that covers the last entry before verifying the whole log.
for _ in $(seq 40); do
  "$KG" audit verify --db "$TMP/kms2/audit.db" --rpc-url "$RPC" --kms-contract "$KMSC" >"$W/verify.txt" 2>&1 && break
  sleep 0.25
done
"$KG" audit verify --db "$TMP/kms2/audit.db" --rpc-url "$RPC" --kms-contract "$KMSC" >"$W/verify.txt" 2>&1 ||
  die "audit verify: $(grep -i violation "$W/verify.txt" | head -5)"
grep -q "log key certified by the KMS root key: ok\|log key certified by the root key of root epoch 0" "$W/verify.txt" || die "log key check: $(head -8 "$W/verify.txt")"
ok "keygate audit verify: releases under epoch 0, in the window and under epoch 1 each match the chain's epochs at their block"

# ---- a bad attestation on chain: nodes refuse the epoch ---------------------------------------------------
# The contract checks attestationHash = keccak256(quote) and the proposer's claimed identity, not
# the quote: that is every adopting node's job. Epoch 2, generated by the replica, is published
# with epoch 1's quote (a real quote of an allowed KMS, binding other keys) and activated; a node
# onboarding from the replica must refuse it, and write no keys.
post '{"epoch": 2}'
[ "$CODE" = 200 ] || die "propose epoch 2: $CODE $(cat "$W/post.json")"
CA2="$(jq -r .ca_pubkey "$W/post.json")"; K2="$(jq -r .k256_pubkey "$W/post.json")"
[ "$(jq -r .quote "$W/post.json")" != "$Q" ] || die "epoch 2's quote is epoch 1's"
kg_send "$KMSC" "proposeRootEpoch(uint32,bytes,bytes,bytes32,bytes32,bytes32,bytes32,bytes,bytes)" 2 "0x$CA2" \
  "0x$K2" "$("$CAST" keccak "0x$Q")" "$MRA" "$DEV" "0x$OSH" "0x$Q" "0x$EV_HEX"
"$CAST" rpc --rpc-url "$RPC" evm_increaseTime $((NOTICE + 1)) >/dev/null && "$CAST" rpc --rpc-url "$RPC" evm_mine >/dev/null
kg_send "$KMSC" "activateRootEpoch(uint32)" 2
"$KG" kms config --state "$TMP" --kms-state "$TMP/kms5" --sim-vm kms5 --log-format json --out "$W/kms5.json" || die "kms config kms5"
set +e
timeout 60 "$KMS" --config "$W/kms5.json" --onboard "127.0.0.1:$(cat "$W/kms2.port")" --port-file "$W/kms5.port" 2>>"$W/kms5.log"
RC=$?
set -e
[ "$RC" != 0 ] && [ "$RC" != 124 ] || die "a node onboarding epoch 2 (bad attestation) started: rc=$RC"
grep -q "keccak256 of its quote is not the attestationHash on chain" "$W/kms5.log" || die "the refusal: $(tail -3 "$W/kms5.log")"
[ ! -e "$TMP/kms5/state/root-keys.sealed" ] || die "a refused onboarding wrote root keys"
ok "an epoch published with another quote than its proposer's (activated on chain): a node onboarding refuses it, naming the check, and writes no keys"
echo "1..$PASS"
