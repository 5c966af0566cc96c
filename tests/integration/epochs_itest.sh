#!/usr/bin/env bash
# epochs_itest.sh - the compromise drill of root-key epochs (docs/design.md, "Root-key epochs") on
# a devnet: an app boots under epoch 0 with an encrypted env and a disk key; epoch 1 is proposed
# from the KMS node's admin endpoint and on chain (a proposal with a tampered attestation or an
# unallowed proposer is refused by the contract), activated after the notice; the app then gets
# epoch 1's keys with epoch 0's beside them (verified by the agent against the chain), its old
# env still opens, a replica joining mid-window serves both epochs; the app migrates (env
# re-encrypted to the new env key, a "disk" re-keyed from the old disk key to the new one); epoch
# 0 is retired: from then on no node releases anything of epoch 0, the old env no longer opens,
# the old disk key file is gone, and the decision log records the retirement.
# Usage: epochs_itest.sh BUILD_DIR
set -euo pipefail
BUILD="$(cd "${1:?usage: epochs_itest.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KG="$BUILD/bin/keygate"
CAST="$SRC/tools/node_modules/.bin/cast"
[ -x "$SRC/tools/node_modules/.bin/anvil" ] && [ -x "$CAST" ] || { echo "SKIP: tools not installed (scripts/setup)"; exit 77; }
command -v openssl >/dev/null && command -v jq >/dev/null && command -v curl >/dev/null ||
  { echo "SKIP: openssl/jq/curl missing"; exit 77; }

. "$SRC/tests/support/devnet.sh"
kg_devnet_begin epochs
STATE="$TMP"
W="$STATE/w"
mkdir -p "$W"
PASS=0
T0=$SECONDS
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $* ($((SECONDS - T0)) s)"; }
die() {
  echo "not ok - $*" >&2
  for f in "$STATE"/logs/kms.log "$STATE/up.err" "$W"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -8 "$f" >&2; }; done
  exit 1
}

# ---- a devnet, an app under epoch 0 ---------------------------------------------------------------
kg_devnet_up
echo "# devnet up: $((SECONDS - T0)) s"
DN="$STATE/devnet.json"
RPC="$(jq -r .rpc_url "$DN")"; KMSC="$(jq -r .kms_contract "$DN")"; PK="$(jq -r .private_key "$DN")"
CFG="$(jq -r .kms_config "$DN")"; KURL="$(jq -r .kms_url "$DN")"
ADMIN="$(jq -r .kms_admin_url "$DN")" # the node's admin listener (loopback): proposals start there
printf '{"manifest_version":2,"name":"epochs","runner":"docker-compose","docker_compose_file":"services: {}"}' >"$W/compose.json"
"$KG" app deploy --state "$STATE" --tcb up-to-date --compose "$W/compose.json" >"$W/deploy.json" 2>"$W/deploy.log" || die "app deploy"
APP="$(jq -r .app_id "$W/deploy.json")"
printf 'DRILL_SECRET=before rotation\n' >"$W/app.env"
"$KG" env encrypt --state "$STATE" --kms-url "$KURL" --app "$APP" --out "$W/env0.enc" "$W/app.env" 2>"$W/env0.log" || die "env encrypt (epoch 0)"

# The app: prints the agent's Info and GetKey answers (current epoch and epoch 0) and its env.
API='curl -s -m 10 --unix-socket "$DSTACK_SIMULATOR_ENDPOINT" -X POST http://dstack'
APP_CMD="printf 'INFO=%s\\n' \"\$($API/Info -d '{}')\"
printf 'KEY=%s\\n' \"\$($API/GetKey -d '{\"path\":\"w\",\"purpose\":\"p\"}')\"
printf 'KEY0=%s\\n' \"\$($API/GetKey -d '{\"path\":\"w\",\"purpose\":\"p\",\"root_epoch\":0}')\"
printf 'SECRET=%s\\n' \"\$DRILL_SECRET\""
# boot NAME ENVFILE [KMS_URL]: the app's keys into $W/keys.NAME, its disk key into $W/disk.NAME
# (and disk.NAME.epoch-M), its output in $W/boot.NAME.log; RC is the boot's exit status.
boot() {
  set +e
  timeout -k 5 90 "$KG" sim run --state "$STATE" --app "$APP" --compose "$W/compose.json" \
    --kms "${3:-$KURL}" --env-file "$2" --keys-out "$W/keys.$1" --disk-key-out "$W/disk/key" \
    -- sh -c "$APP_CMD" >"$W/boot.$1.log" 2>&1
  RC=$?
  set -e
}
line() { sed -n "s/^$2=//p" "$W/boot.$1.log" | head -1; } # line NAME KEY: the app's output line
mkdir -m 700 "$W/disk"
boot e0 "$W/env0.enc"
[ "$RC" = 0 ] || die "boot under epoch 0: $(tail -3 "$W/boot.e0.log")"
[ "$(line e0 SECRET)" = "before rotation" ] || die "epoch 0: env not decrypted"
# A KMS that does not release epochs yet (no "root_epoch" in GetAppKey) cannot run this drill.
jq -e 'has("root_epoch")' "$W/keys.e0" >/dev/null || { echo "SKIP: the KMS does not release root-key epochs (no root_epoch)"; exit 77; }
jq -e '.root_epoch == 0 and (.previous_keys == null)' "$W/keys.e0" >/dev/null || die "epoch 0 reply: $(jq -c '{root_epoch,previous_keys}' "$W/keys.e0")"
cp "$W/disk/key" "$W/disk0.key"
line e0 INFO | jq -e '.root_epoch == 0 and .previous_root_epochs == []' >/dev/null || die "Info under epoch 0: $(line e0 INFO)"
line e0 KEY0 | jq -e --argjson k "$(line e0 KEY)" '. == $k' >/dev/null || die "GetKey root_epoch 0 is not the current key under epoch 0"
K256_0="$(jq -r .k256_key "$W/keys.e0")"
# The app's "disk": data sealed under the epoch-0 disk key (openssl stands in for LUKS here; the
# key file is 32 raw bytes, so its hex is the passphrase: openssl reads a file's first line only).
pw() { echo "pass:$(xxd -p -c 256 "$1")"; }
printf 'the app data' | openssl enc -aes-256-cbc -pbkdf2 -pass "$(pw "$W/disk0.key")" -out "$W/disk.img"
echo "# $((SECONDS - T0)) s"; ok "app $APP booted under epoch 0: env decrypted, disk key written, Info says epoch 0"

# ---- proposals the contract refuses ----------------------------------------------------------------
curl -sf -m 30 -X POST "$ADMIN/epoch/propose" -d '{"epoch":1}' >"$W/proposal.json" 2>"$W/proposal.log" ||
  die "the node's proposal of epoch 1 ($ADMIN/epoch/propose): $(cat "$W/proposal.log")"
P() { jq -r ".$1" "$W/proposal.json"; }
propose_raw() { # propose_raw QUOTE_HEX ATT_HASH MR: proposeRootEpoch with the node's keys
  "$CAST" send -q --rpc-url "$RPC" --private-key "$PK" "$KMSC" \
    "proposeRootEpoch(uint32,bytes,bytes,bytes32,bytes32,bytes32,bytes32,bytes,bytes)" 1 \
    "0x$(P ca_pubkey)" "0x$(P k256_pubkey)" "$2" "$3" "$(P device_id)" "$(P os_image_hash)" \
    "0x$1" "0x$(printf '%s' "$(P eventlog)" | od -An -tx1 | tr -d ' \n')" >"$W/raw.log" 2>&1
}
Q="$(P quote)"
BADQ="${Q:0:200}$(printf '%02x' $(((16#${Q:200:2} + 1) % 256)))${Q:202}"
if propose_raw "$BADQ" "$(P attestation_hash)" "$(P mr_aggregated)"; then die "a proposal whose quote is not its attestation hash was accepted"; fi
if propose_raw "$Q" "$(P attestation_hash)" "0x$(printf '%064d' 7)"; then die "a proposal by an unallowed proposer was accepted"; fi
"$CAST" call --rpc-url "$RPC" "$KMSC" "rootEpoch(uint32)(uint8,bytes,bytes,uint64,bytes32)" 1 | head -1 | grep -qx 0 ||
  die "a refused proposal left epoch 1 on chain"
ok "the contract refuses a tampered attestation and an unallowed proposer; nothing proposed"

# ---- rotate: propose, wait out the notice, activate ------------------------------------------------
"$KG" kms epoch propose --state "$STATE" --epoch 1 >"$W/propose.json" 2>"$W/propose.log" || die "kms epoch propose: $(cat "$W/propose.log")"
set +e; "$KG" kms epoch activate --state "$STATE" --epoch 1 >/dev/null 2>"$W/early.log"; RC=$?; set -e
[ "$RC" = 1 ] || die "activation before the notice: rc=$RC $(cat "$W/early.log")"
"$CAST" rpc --rpc-url "$RPC" evm_increaseTime 2592001 >/dev/null && "$CAST" rpc --rpc-url "$RPC" evm_mine >/dev/null
"$KG" kms epoch activate --state "$STATE" --epoch 1 >"$W/activate.json" 2>"$W/activate.log" || die "kms epoch activate: $(cat "$W/activate.log")"
"$KG" kms epoch list --state "$STATE" >"$W/list1.json" || die "kms epoch list"
jq -e '.current == 1 and ([.epochs[] | select(.epoch == 0 and .status == "retiring")] | length) == 1' "$W/list1.json" >/dev/null ||
  die "after activation: $(cat "$W/list1.json")"
# A node serves TLS and certifies its log key under the root that was current when it started
# (kms/README.md, "Root-key epochs"): after an activation the operator restarts each node, and
# agents, which pin kmsInfo's root, connect again. Restarted before it answered anything after
# the activation, the node must still start on epoch 1: it asks the chain at start, not only its
# sealed file (down/up resumes the same chain and keys).
"$KG" devnet down --state "$STATE" >/dev/null 2>"$W/down.log" || die "devnet down: $(tail -3 "$W/down.log")"
"$KG" devnet up --state "$STATE" >"$W/up2.json" 2>"$W/up2.log" || die "devnet up after activation: $(tail -3 "$W/up2.log")"
KURL="$(jq -r .kms_url "$DN")"
# The operator re-encrypts the env to epoch 1's env key at once (GetAppEnvEncryptPubKey: the
# current epoch's key, signed by its root as kmsInfo now publishes it).
printf 'DRILL_SECRET=after rotation\n' >"$W/app1.env"
"$KG" env encrypt --state "$STATE" --kms-url "$KURL" --app "$APP" --out "$W/env1.enc" "$W/app1.env" 2>"$W/env1.log" ||
  die "env encrypt (epoch 1): $(cat "$W/env1.log")"
ok "epoch 1 proposed from the node (attested), refused before the notice, activated after it; epoch 0 retiring; the node restarted on epoch 1"

# ---- the migration window: both epochs, verified by the agent --------------------------------------
boot w1 "$W/env0.enc"
[ "$RC" = 0 ] || die "boot in the window: $(tail -3 "$W/boot.w1.log")"
jq -e '.root_epoch == 1 and (.previous_keys | length) == 1 and .previous_keys[0].root_epoch == 0' "$W/keys.w1" >/dev/null ||
  die "window reply: $(jq -c '{root_epoch, previous: [.previous_keys[]?.root_epoch]}' "$W/keys.w1")"
[ "$(jq -r .previous_keys[0].k256_key "$W/keys.w1")" = "$K256_0" ] || die "epoch 0's keys in the window differ from those released before the rotation"
[ "$(jq -r .k256_key "$W/keys.w1")" != "$K256_0" ] || die "epoch 1 released epoch 0's app key"
[ "$(line w1 SECRET)" = "before rotation" ] || die "the env of epoch 0 did not open in the window"
grep -q "encrypted to root epoch 0's env key: re-encrypt it" "$W/boot.w1.log" || die "the agent did not say the env must be re-encrypted"
line w1 INFO | jq -e '.root_epoch == 1 and .previous_root_epochs == [0]' >/dev/null || die "Info in the window: $(line w1 INFO)"
line w1 KEY0 | jq -e --argjson k "$(line e0 KEY)" '. == $k' >/dev/null || die "GetKey root_epoch 0 in the window is not the epoch-0 key"
line w1 KEY | jq -e --argjson k "$(line e0 KEY)" '.key != $k.key' >/dev/null || die "GetKey gives the epoch-0 key as current"
cmp -s "$W/disk/key.epoch-0" "$W/disk0.key" || die "disk key of epoch 0 not written beside the current one"
[ "$(stat -c %a "$W/disk/key.epoch-0")" = 600 ] || die "epoch-0 disk key file not 0600"
ok "window: epoch 1's keys, epoch 0's beside them (GetKey root_epoch 0, Info, key.epoch-0); the old env opens with a warning"

# ---- a replica joining mid-window gets both epochs -------------------------------------------------
jq --arg d "$W/replica" '.state_dir = $d | .tee.sim_vm = "kms-replica" | del(.admin_listen)' "$CFG" >"$W/replica.json"
mkdir -m 700 "$W/replica"
"$BUILD/bin/keygate-kms" --config "$W/replica.json" --onboard "${KURL#https://}" --port-file "$W/replica.port" 2>"$W/replica.log" &
RPID=$!
PIDS+=("$RPID")
kg_wait_file "$W/replica.port" "$RPID" "replica KMS"
boot r1 "$W/env0.enc" "https://127.0.0.1:$(cat "$W/replica.port")"
[ "$RC" = 0 ] || die "boot from the replica: $(tail -3 "$W/boot.r1.log")"
for f in k256_key env_crypt_key disk_crypt_key root_epoch previous_keys; do
  [ "$(jq -c ".$f" "$W/keys.r1")" = "$(jq -c ".$f" "$W/keys.w1")" ] || die "the replica released another $f"
done
ok "a replica onboarded mid-window serves both epochs: the same keys as the first node"

# ---- migrate: env re-encrypted to epoch 1, the disk re-keyed ---------------------------------------
openssl enc -d -aes-256-cbc -pbkdf2 -pass "$(pw "$W/disk/key.epoch-0")" -in "$W/disk.img" >"$W/disk.plain" ||
  die "the disk does not open with key.epoch-0"
openssl enc -aes-256-cbc -pbkdf2 -pass "$(pw "$W/disk/key")" -in "$W/disk.plain" -out "$W/disk.img" ||
  die "re-keying the disk"
rm -f "$W/disk.plain"
boot m1 "$W/env1.enc"
[ "$RC" = 0 ] && [ "$(line m1 SECRET)" = "after rotation" ] || die "boot with the re-encrypted env: $(tail -3 "$W/boot.m1.log")"
! grep -q "re-encrypt it" "$W/boot.m1.log" || die "the re-encrypted env is still reported as epoch 0's"
ok "migrated: the env re-encrypted to epoch 1's env key, the disk re-keyed with key.epoch-0 -> key"

# ---- retire epoch 0 ---------------------------------------------------------------------------------
"$KG" kms epoch retire --state "$STATE" --epoch 0 >"$W/retire.json" 2>"$W/retire.log" || die "kms epoch retire: $(cat "$W/retire.log")"
boot x1 "$W/env1.enc"
[ "$RC" = 0 ] || die "boot after retirement: $(tail -3 "$W/boot.x1.log")"
jq -e '.root_epoch == 1 and .previous_keys == null' "$W/keys.x1" >/dev/null || die "after retirement the KMS still releases: $(jq -c '[.previous_keys[]?.root_epoch]' "$W/keys.x1")"
[ ! -e "$W/disk/key.epoch-0" ] || die "the retired epoch's disk key file is still there"
line x1 INFO | jq -e '.root_epoch == 1 and .previous_root_epochs == []' >/dev/null || die "Info after retirement: $(line x1 INFO)"
line x1 KEY0 | jq -e '.error | test("no keys of root epoch 0")' >/dev/null || die "GetKey root_epoch 0 after retirement: $(line x1 KEY0)"
openssl enc -d -aes-256-cbc -pbkdf2 -pass "$(pw "$W/disk/key")" -in "$W/disk.img" | grep -qx 'the app data' || die "the re-keyed disk does not open with the current key"
boot x0 "$W/env0.enc"
[ "$RC" != 0 ] && grep -q "decrypting the app environment" "$W/boot.x0.log" || die "the epoch-0 env still opens after retirement: rc=$RC"
boot xr "$W/env1.enc" "https://127.0.0.1:$(cat "$W/replica.port")"
[ "$RC" = 0 ] && jq -e '.previous_keys == null' "$W/keys.xr" >/dev/null || die "the replica still releases epoch 0 after retirement"
"$KG" audit list --state "$STATE" --json >"$W/audit.json" || die "audit list"
jq -e '[.[] | select((.method // "" | test("(?i)epoch|retire")) or (.reason // "" | test("(?i)retired")))] | length >= 1' "$W/audit.json" >/dev/null ||
  die "the decision log does not record the retirement"
ok "epoch 0 retired: no node releases it, the old env no longer opens, key.epoch-0 removed, the log records it"
echo "epochs_itest: $PASS passed in $((SECONDS - T0)) s"
