#!/usr/bin/env bash
# governance_dao_itest.sh - a real Safe 1.4.1 (npm artifacts, scripts/deploy-safe) owns an app on a
# private anvil: keygate's Safe transaction hash equals the Safe's own getTransactionHash, one
# owner's signature is not enough (printed for the next owner, nothing executed), a second
# owner adds theirs and the Safe executes, an outsider's key and the former EOA owner are
# refused, --calldata prints the call, the TCB policy is governed through the Safe, and the
# KMS contract's isAppAllowed (what the KMS asks) follows each decision.
# Usage: governance_dao_itest.sh BUILD_DIR
set -euo pipefail
BUILD="$(cd "${1:?usage: governance_dao_itest.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KG="$BUILD/bin/keygate"
ANVIL="$SRC/tools/node_modules/.bin/anvil"
CAST="$SRC/tools/node_modules/.bin/cast"
[ -x "$ANVIL" ] && [ -d "$SRC/tools/node_modules/@safe-global/safe-contracts" ] ||
  { echo "SKIP: tools not installed (scripts/setup)"; exit 77; }
. "$SRC/tests/support/devnet.sh"
kg_devnet_begin dao-itest
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() { echo "not ok - $*" >&2; exit 1; }

kg_devnet_chain
export ETH_RPC_URL="$RPC"
# anvil's well-known dev keys (public test keys): 0 deployer, 2-4 Safe owners, 5 outsider
DEPLOYER_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
OWNER_KEYS=(0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
            0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6
            0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a)
OUTSIDER_KEY=0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba
for i in 0 1 2; do printf '%s\n' "${OWNER_KEYS[$i]}" >"$TMP/owner$i.key"; chmod 600 "$TMP/owner$i.key"; done
printf '%s\n' "$OUTSIDER_KEY" >"$TMP/outsider.key"; chmod 600 "$TMP/outsider.key"
kg_devnet_chain_state "$TMP/state"
S=(--state "$TMP/state")

OWNERS=()
for k in "${OWNER_KEYS[@]}"; do OWNERS+=(--owner "$("$CAST" wallet address --private-key "$k")"); done
SAFE_JSON="$(KEYGATE_DEPLOYER_KEY=$DEPLOYER_KEY "$SRC/scripts/deploy-safe" --rpc-url "$RPC" "${OWNERS[@]}" --threshold 2)" ||
  die "deploy-safe"
SAFE="$(jq -r .safe <<<"$SAFE_JSON")"
[ "$("$CAST" call "$SAFE" 'VERSION()(string)')" = '"1.4.1"' ] || die "not a Safe 1.4.1"
ok "a 2-of-3 Safe 1.4.1 deployed from the npm artifacts: $SAFE"

printf '{"services":{"app":{"image":"dao:1"}}}\n' >"$TMP/v1.json"
H2="$(printf '%064x' 2)"
OS="$(printf '%064x' 5)"
"$KG" kms allow "${S[@]}" --os-image "$OS" >/dev/null || die "kms allow os image"
"$KG" app deploy "${S[@]}" --tcb up-to-date --compose "$TMP/v1.json" --owner "$SAFE" >"$TMP/deploy.json" || die "app deploy --owner SAFE"
APP="$(jq -r .app_id "$TMP/deploy.json")"
[ "$("$CAST" call "$APP" 'owner()(address)')" = "$SAFE" ] || die "the Safe does not own the app"
allowed() { # allowed HASH [ADVISORY] -> "true" or the reason
  local adv="[]"; [ -n "${2:-}" ] && adv="[\"$2\"]"
  "$CAST" call "$KMSC" 'isAppAllowed((address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,string[]))(bool,string)' \
    "($APP,0x$1,0x0000000000000000000000000000000000000000,0x$(printf '%064x' 9),0x$(printf '%064x' 8),0x$(printf '%064x' 7),0x$OS,UpToDate,$adv)" |
    tr '\n' ' '
}
allowed "$H2" | grep -q '^false "compose hash not allowed"' || die "H2 allowed before the Safe acted: $(allowed "$H2")"
ok "app deployed with the Safe as owner; the KMS contract denies v2"

# one owner: not enough; the signature is printed for the next owner and nothing executes
NONCE="$("$CAST" call "$SAFE" 'nonce()(uint256)')"
kg_run 1 "1 of 2 signatures for Safe" "$KG" app allow "${S[@]}" --app "$APP" --hash "$H2" --via-safe "$SAFE" --signer-key-file "$TMP/owner0.key"
jq -e '.executed==false and (.signatures|length)==1 and .threshold==2' "$TMP/out" >/dev/null || die "partial signatures not printed: $(cat "$TMP/out")"
SIG0="$(jq -r '.signatures[0].signature' "$TMP/out")"
KG_HASH="$(jq -r .safe_tx_hash "$TMP/out")"
DATA="$("$CAST" calldata 'addComposeHash(bytes32)' "0x$H2")"
SAFE_HASH="$("$CAST" call "$SAFE" 'getTransactionHash(address,uint256,bytes,uint8,uint256,uint256,uint256,address,address,uint256)(bytes32)' \
  "$APP" 0 "$DATA" 0 0 0 0 0x0000000000000000000000000000000000000000 0x0000000000000000000000000000000000000000 "$NONCE")"
[ "$KG_HASH" = "$SAFE_HASH" ] || die "keygate's Safe tx hash $KG_HASH != the Safe's $SAFE_HASH"
[ "$("$CAST" call "$SAFE" 'nonce()(uint256)')" = "$NONCE" ] || die "the Safe nonce moved"
ok "one signature: not executed, signature printed; keygate's EIP-712 hash = the Safe's getTransactionHash ($SAFE_HASH)"

kg_run 1 "is not an owner of Safe" "$KG" app allow "${S[@]}" --app "$APP" --hash "$H2" --via-safe "$SAFE" --signer-key-file "$TMP/outsider.key" --safe-signature "$SIG0"
kg_run 1 "is not the owner ($SAFE) of app" "$KG" app allow "${S[@]}" --app "$APP" --hash "$H2"
kg_run 2 "give at most one of --via-safe, --via-governor and --calldata" "$KG" app allow "${S[@]}" --app "$APP" --hash "$H2" --via-safe "$SAFE" --calldata
ok "an outsider's key, the EOA signer and contradictory options are refused; nothing sent"

kg_run 0 "" "$KG" app allow "${S[@]}" --app "$APP" --hash "$H2" --via-safe "$SAFE" --signer-key-file "$TMP/owner2.key" --safe-signature "$SIG0"
jq -e '.executed==true and .state=="allowed" and (.signatures|length)==2' "$TMP/out" >/dev/null || die "not executed: $(cat "$TMP/out")"
allowed "$H2" | grep -q '^true ""' || die "the KMS contract does not follow the Safe: $(allowed "$H2")"
ok "a second owner adds theirs: the Safe executes, v2 is allowed, the KMS contract follows"

kg_run 0 "" "$KG" app revoke "${S[@]}" --app "$APP" --hash "$H2" --calldata
jq -e --arg d "$("$CAST" calldata 'removeComposeHash(bytes32)' "0x$H2")" '.calldata.data==$d and .calldata.value=="0" and .executed==false' "$TMP/out" >/dev/null ||
  die "--calldata output: $(cat "$TMP/out")"
allowed "$H2" | grep -q '^true' || die "--calldata changed something"
ok "--calldata prints {to, data, value} and sends nothing"

kg_run 0 "" "$KG" app tcb "${S[@]}" --app "$APP" --deny-advisory INTEL-SA-00837 --via-safe "$SAFE" --signer-key-file "$TMP/owner0.key" --signer-key-file "$TMP/owner1.key"
allowed "$H2" INTEL-SA-00837 | grep -q 'advisory denied: INTEL-SA-00837' || die "advisory deny-list: $(allowed "$H2" INTEL-SA-00837)"
allowed "$H2" INTEL-SA-00615 | grep -q '^true' || die "other advisories still allowed"
kg_run 0 "" "$KG" app device "${S[@]}" --app "$APP" --any-device off --via-safe "$SAFE" --signer-key-file "$TMP/owner0.key" --signer-key-file "$TMP/owner1.key"
allowed "$H2" | grep -q 'device not allowed' || die "device list: $(allowed "$H2")"
ok "TCB policy (advisory deny-list) and device list governed through the Safe; the KMS contract follows"

# two-step ownership: the Safe hands the app to owner 0's EOA, who accepts
NEW="$("$CAST" wallet address --private-key "${OWNER_KEYS[0]}")"
kg_run 0 "" "$KG" app owner "${S[@]}" --app "$APP" --transfer "$NEW" --via-safe "$SAFE" --signer-key-file "$TMP/owner0.key" --signer-key-file "$TMP/owner1.key"
kg_run 1 "is not the pending owner" "$KG" app owner "${S[@]}" --app "$APP" --accept --private-key-file "$TMP/owner1.key"
kg_run 0 "" "$KG" app owner "${S[@]}" --app "$APP" --accept --private-key-file "$TMP/owner0.key"
[ "$("$CAST" call "$APP" 'owner()(address)')" = "$NEW" ] || die "ownership not transferred"
kg_run 2 "add --yes" "$KG" app disable-upgrades "${S[@]}" --app "$APP" --private-key-file "$TMP/owner0.key"
ok "two-step ownership transfer from the Safe; only the pending owner accepts; disable-upgrades asks for --yes"
echo "governance_dao_itest: $PASS checks passed"
