#!/usr/bin/env bash
# governance_governor_itest.sh - an OpenZeppelin 5 Governor + TimelockController + ERC20Votes token
# (scripts/deploy-governor, from the pinned npm sources) owns a time-locked app on a private
# anvil, and every governance step goes through the CLI: delegate, propose a compose hash
# (--via-governor prints the proposal id), vote, queue, wait out the timelock, execute. Each
# step refused too early says why and sends nothing; after execution the app's own upgrade
# notice still holds (the hash is pending, the KMS contract denies it until the notice ends),
# a Safe security council (the app's guardian) vetoes a second passed proposal, a defeated one
# cannot be queued, and `app status` shows the PolicyChanged events with the timelock as actor.
# Usage: governance_governor_itest.sh BUILD_DIR
set -euo pipefail
BUILD="$(cd "${1:?usage: governance_governor_itest.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KG="$BUILD/bin/keygate"
ANVIL="$SRC/tools/node_modules/.bin/anvil"
CAST="$SRC/tools/node_modules/.bin/cast"
[ -x "$ANVIL" ] && [ -d "$SRC/tools/node_modules/@openzeppelin/contracts/governance" ] &&
  [ -d "$SRC/tools/node_modules/@safe-global/safe-contracts" ] ||
  { echo "SKIP: tools not installed (scripts/setup)"; exit 77; }
. "$SRC/tests/support/devnet.sh"
kg_devnet_begin governor-itest
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() { echo "not ok - $*" >&2; exit 1; }

kg_devnet_chain
export ETH_RPC_URL="$RPC"
rpc() { curl -s -X POST -H 'Content-Type: application/json' \
  --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "$RPC"; }
mine() { local i; for ((i = 0; i < $1; i++)); do rpc evm_mine '[]' >/dev/null; done; }
later() { rpc evm_increaseTime "[$1]" >/dev/null; rpc evm_mine '[]' >/dev/null; } # later SECONDS
block() { rpc eth_blockNumber '[]' | jq -r .result; }

# anvil's well-known dev keys (public test keys): 0 deployer and proposer, 1-2 voters (600 and
# 400 tokens), 3-4 the security council (a 2-of-2 Safe), 5 a voter without tokens
DEPLOYER_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
KEYS=(0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
      0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
      0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6
      0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a
      0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba)
NAMES=(voter_a voter_b council1 council2 nobody)
for i in 0 1 2 3 4; do printf '%s\n' "${KEYS[$i]}" >"$TMP/${NAMES[$i]}.key"; chmod 600 "$TMP/${NAMES[$i]}.key"; done
addr() { "$CAST" wallet address --private-key "$1"; }
VOTER_A="$(addr "${KEYS[0]}")" VOTER_B="$(addr "${KEYS[1]}")" NOBODY="$(addr "${KEYS[4]}")"

kg_devnet_chain_state "$TMP/state"
S=(--state "$TMP/state")
NOTICE=604800 # the app's upgrade notice (7 days), guaranteed by the KMS contract's own notice
DELAY=3600    # the timelock's delay
OS="$(printf '%064x' 5)"
"$KG" kms allow "${S[@]}" --os-image "$OS" >/dev/null || die "kms allow --os-image"
"$KG" kms notice "${S[@]}" --period "$NOTICE" --guardian "$NOBODY" >/dev/null || die "kms notice"

DAO="$(KEYGATE_DEPLOYER_KEY=$DEPLOYER_KEY "$SRC/scripts/deploy-governor" --rpc-url "$RPC" \
  --holder "$VOTER_A=600" --holder "$VOTER_B=400" --timelock-delay "$DELAY" --voting-delay 1 \
  --voting-period 10 --quorum-percent 4 2>"$TMP/dao.log")" || { cat "$TMP/dao.log" >&2; die "deploy-governor"; }
GOV="$(jq -r .governor <<<"$DAO")" TIMELOCK="$(jq -r .timelock <<<"$DAO")" TOKEN="$(jq -r .token <<<"$DAO")"
[ "$("$CAST" call "$GOV" 'name()(string)')" = '"Keygate DAO"' ] || die "not the DAO's Governor"
COUNCIL="$(KEYGATE_DEPLOYER_KEY=$DEPLOYER_KEY "$SRC/scripts/deploy-safe" --rpc-url "$RPC" \
  --owner "$(addr "${KEYS[2]}")" --owner "$(addr "${KEYS[3]}")" --threshold 2 | jq -r .safe)" || die "deploy-safe"
ok "Governor $GOV (token $TOKEN, timelock $TIMELOCK, delay ${DELAY}s) and a 2-of-2 Safe council $COUNCIL deployed"

# tokens vote only once delegated, before the proposal's snapshot
kg_run 0 "" "$KG" governor delegate "${S[@]}" --governor "$GOV" --private-key-file "$TMP/voter_a.key"
jq -e --arg a "$VOTER_A" --arg t "$TOKEN" '.delegatee==$a and .token==$t and .delegatee_votes=="600000000000000000000"' "$TMP/out" >/dev/null ||
  die "delegate: $(cat "$TMP/out")"
kg_run 0 "" "$KG" governor delegate "${S[@]}" --governor "$GOV" --private-key-file "$TMP/voter_b.key"
ok "governor delegate: each holder's tokens count as its votes"

printf '{"services":{"app":{"image":"dao:1"}}}\n' >"$TMP/v1.json"
H2="$(printf '%064x' 2)" H3="$(printf '%064x' 3)" H4="$(printf '%064x' 4)"
"$KG" app deploy "${S[@]}" --tcb up-to-date --compose "$TMP/v1.json" --owner "$TIMELOCK" --timelock "$NOTICE" --guardian "$COUNCIL" \
  >"$TMP/deploy.json" 2>"$TMP/err" || die "app deploy --owner TIMELOCK: $(cat "$TMP/err")"
APP="$(jq -r .app_id "$TMP/deploy.json")"
[ "$("$CAST" call "$APP" 'owner()(address)')" = "$TIMELOCK" ] || die "the timelock does not own the app"
allowed() { # allowed HASH -> "true" or the KMS contract's reason
  "$CAST" call "$KMSC" 'isAppAllowed((address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,string[]))(bool,string)' \
    "($APP,0x$1,0x0000000000000000000000000000000000000000,0x$(printf '%064x' 9),0x$(printf '%064x' 8),0x$(printf '%064x' 7),0x$OS,UpToDate,[])" |
    tr '\n' ' '
}
allowed "$H2" | grep -q '^false "compose hash not allowed"' || die "v2 allowed before any vote: $(allowed "$H2")"
kg_run 1 "signer $VOTER_A is not the owner ($TIMELOCK) of app" "$KG" app propose "${S[@]}" --app "$APP" --hash "$H2" --private-key-file "$TMP/voter_a.key"
ok "the timelock owns a time-locked app ($APP, ${NOTICE}s notice, the council its guardian); a voter alone cannot propose"

# propose (any write with --via-governor): the proposal id is printed for the next commands
propose() { # propose HASH DESCRIPTION -> sets PID
  kg_run 0 "" "$KG" app propose "${S[@]}" --app "$APP" --hash "$1" --via-governor "$GOV" --description "$2"
  PID="$(jq -r .proposal_id "$TMP/out")"
  [[ "$PID" =~ ^[0-9]+$ ]] || die "no proposal id: $(cat "$TMP/out")"
  grep -qF "proposal $PID on Governor $GOV; next: keygate governor" "$TMP/err" || die "no next-step hint: $(cat "$TMP/err")"
  jq -e --arg t "$TIMELOCK" '.executor==$t and .executed==false and .state=="none"' "$TMP/out" >/dev/null ||
    die "propose output: $(cat "$TMP/out")"
}
G=(--governor "$GOV")
propose "$H2" "keygate: allow app v2"
[ "$("$CAST" call "$GOV" 'state(uint256)(uint8)' "$PID")" = 0 ] || die "not Pending on chain"
kg_run 0 "" "$KG" governor status "${S[@]}" "${G[@]}" --proposal "$PID" --json
jq -e --arg app "$APP" --arg d "$("$CAST" calldata 'proposeComposeHash(bytes32)' "0x$H2")" '.state=="Pending" and
  .actions==[{"target":$app,"value":"0","calldata":$d,"function":"proposeComposeHash(bytes32)"}] and
  .description=="keygate: allow app v2" and .clock_mode=="blocknumber" and .eta==null' "$TMP/out" >/dev/null ||
  die "status (pending): $(cat "$TMP/out")"
kg_run 0 "" "$KG" governor status "${S[@]}" "${G[@]}" --proposal "$("$CAST" to-hex "$PID")"
grep -q "state        Pending" "$TMP/out" && grep -q "proposeComposeHash(bytes32)" "$TMP/out" || die "status table: $(cat "$TMP/out")"
ok "--via-governor proposes and prints the proposal id; governor status reads its calls back from ProposalCreated (Pending)"

B="$(block)"
kg_run 1 "is Pending: voting opens after block" "$KG" governor vote "${S[@]}" "${G[@]}" --proposal "$PID" --support for --private-key-file "$TMP/voter_a.key"
kg_run 2 "--support 'maybe': say for, against or abstain" "$KG" governor vote "${S[@]}" "${G[@]}" --proposal "$PID" --support maybe
kg_run 2 "--proposal ID is required" "$KG" governor vote "${S[@]}" "${G[@]}" --support for
kg_run 2 "--via-governor does not apply" "$KG" governor vote "${S[@]}" "${G[@]}" --proposal "$PID" --support for --via-governor "$GOV"
kg_run 1 "proposal 12345 does not exist on Governor $GOV" "$KG" governor status "${S[@]}" "${G[@]}" --proposal 12345
kg_run 1 "--governor $APP is not a Governor" "$KG" governor status "${S[@]}" --governor "$APP" --proposal "$PID"
kg_run 1 "is Pending: voting opens after block" "$KG" governor queue "${S[@]}" "${G[@]}" --proposal "$PID"
[ "$(block)" = "$B" ] || die "a refused governor command changed the chain"
ok "too early or wrong: vote while Pending, bad --support, unknown proposal, not a Governor, queue early - nothing sent"

mine 2
kg_run 0 "" "$KG" governor vote "${S[@]}" "${G[@]}" --proposal "$PID" --support for --reason "v2 reviewed" --private-key-file "$TMP/voter_a.key"
jq -e --arg a "$VOTER_A" '.voter==$a and .weight=="600000000000000000000" and .votes.for=="600000000000000000000" and .tx' "$TMP/out" >/dev/null ||
  die "vote for: $(cat "$TMP/out")"
kg_run 1 "$VOTER_A has already voted on proposal $PID" "$KG" governor vote "${S[@]}" "${G[@]}" --proposal "$PID" --support against --private-key-file "$TMP/voter_a.key"
kg_run 1 "$NOBODY has no votes at the proposal's snapshot" "$KG" governor vote "${S[@]}" "${G[@]}" --proposal "$PID" --support for --private-key-file "$TMP/nobody.key"
kg_run 0 "" "$KG" governor vote "${S[@]}" "${G[@]}" --proposal "$PID" --support against --private-key-file "$TMP/voter_b.key"
kg_run 1 "is Active: voting is open until block" "$KG" governor queue "${S[@]}" "${G[@]}" --proposal "$PID"
ok "vote: 600 for (with a reason), 400 against; a second vote and a voter without tokens refused; no queue while Active"

mine 10
kg_run 0 "" "$KG" governor status "${S[@]}" "${G[@]}" --proposal "$PID" --json
jq -e '.state=="Succeeded" and .votes=={"for":"600000000000000000000","against":"400000000000000000000","abstain":"0"} and
  .quorum=="40000000000000000000" and .needs_queuing==true' "$TMP/out" >/dev/null || die "status (succeeded): $(cat "$TMP/out")"
kg_run 1 "is not queued: 'keygate governor queue' it first" "$KG" governor execute "${S[@]}" "${G[@]}" --proposal "$PID"
kg_run 0 "" "$KG" governor queue "${S[@]}" "${G[@]}" --proposal "$PID"
jq -e '.state=="Queued" and .eta > 0' "$TMP/out" >/dev/null || die "queue: $(cat "$TMP/out")"
ETA="$(jq .eta "$TMP/out")"
B="$(block)"
kg_run 1 "is queued: the timelock holds it until $ETA" "$KG" governor execute "${S[@]}" "${G[@]}" --proposal "$PID"
[ "$(block)" = "$B" ] || die "a refused execute changed the chain"
[ "$("$CAST" call "$APP" 'composeHashState(bytes32)(uint8)' "0x$H2")" = 0 ] || die "the app changed before execution"
ok "succeeded (60% for, quorum 40 tokens); execute refused before queue; queued with eta $ETA; the timelock holds it"

later "$DELAY"
kg_run 0 "" "$KG" governor execute "${S[@]}" "${G[@]}" --proposal "$PID"
jq -e '.state=="Executed" and .tx' "$TMP/out" >/dev/null || die "execute: $(cat "$TMP/out")"
[ "$("$CAST" call "$APP" 'composeHashState(bytes32)(uint8)' "0x$H2")" = 1 ] || die "v2 is not pending after execution"
allowed "$H2" | grep -q 'compose hash pending: notice period not over' || die "the KMS contract allows v2 before the app's notice: $(allowed "$H2")"
"$KG" app status "${S[@]}" --app "$APP" --json >"$TMP/status.json" || die "app status"
jq -e --arg h "$H2" --arg t "$TIMELOCK" '.pending_compose_hashes[0].compose_hash==$h and
  ([.history[] | select(.event=="PolicyChanged" and .policy=="compose-hash-proposal" and .value==$h and .enabled==true and .actor==$t)] | length)==1' \
  "$TMP/status.json" >/dev/null || die "app status after execution: $(cat "$TMP/status.json")"
ok "executed after the timelock: v2 is pending (the app's own notice holds), the KMS contract still denies it; PolicyChanged by the timelock"

AT="$("$CAST" call "$APP" 'composeHashActivatesAt(bytes32)(uint64)' "0x$H2" | cut -d' ' -f1)"
jq -e --argjson at "$AT" '.pending_compose_hashes[0].activates_at==$at' "$TMP/status.json" >/dev/null || die "app status activates_at"
at_time() { rpc evm_setNextBlockTimestamp "[$1]" >/dev/null; rpc evm_mine '[]' >/dev/null; } # the next block at time T
at_time $((AT - 60))
allowed "$H2" | grep -q 'compose hash pending' || die "v2 allowed a minute before its notice ended: $(allowed "$H2")"
at_time "$AT"
allowed "$H2" | grep -q '^true ""' || die "the KMS contract does not follow the DAO after the notice: $(allowed "$H2")"
ok "v2 is still pending a minute before the app's notice ends; from its end ($AT) the KMS contract allows it"

# a second passed proposal, vetoed by the council (the app's guardian) during the notice
propose "$H3" "keygate: allow app v3"
mine 2
kg_run 0 "" "$KG" governor vote "${S[@]}" "${G[@]}" --proposal "$PID" --support for --private-key-file "$TMP/voter_a.key"
kg_run 0 "" "$KG" governor vote "${S[@]}" "${G[@]}" --proposal "$PID" --support abstain --private-key-file "$TMP/voter_b.key"
mine 10
kg_run 0 "" "$KG" governor queue "${S[@]}" "${G[@]}" --proposal "$PID"
later "$DELAY"
kg_run 0 "" "$KG" governor execute "${S[@]}" "${G[@]}" --proposal "$PID"
[ "$("$CAST" call "$APP" 'composeHashState(bytes32)(uint8)' "0x$H3")" = 1 ] || die "v3 not pending"
kg_run 1 "is not the guardian ($COUNCIL) of app" "$KG" app veto "${S[@]}" --app "$APP" --hash "$H3" --via-safe "$TIMELOCK" --signer-key-file "$TMP/council1.key"
kg_run 0 "" "$KG" app veto "${S[@]}" --app "$APP" --hash "$H3" --via-safe "$COUNCIL" --signer-key-file "$TMP/council1.key" --signer-key-file "$TMP/council2.key"
jq -e '.executed==true and .state=="none"' "$TMP/out" >/dev/null || die "council veto: $(cat "$TMP/out")"
later $((NOTICE + 1))
allowed "$H3" | grep -q '^false "compose hash not allowed"' || die "a vetoed proposal activated: $(allowed "$H3")"
"$KG" app status "${S[@]}" --app "$APP" --json | jq -e --arg h "$H3" --arg c "$COUNCIL" \
  '([.history[] | select(.event=="PolicyChanged" and .policy=="compose-hash-proposal" and .value==$h and .enabled==false and .actor==$c)] | length)==1' >/dev/null ||
  die "the council's veto is not in the history"
ok "a second passed proposal (v3) is vetoed by the Safe council during the notice and never activates"

# a defeated proposal cannot be queued or executed
propose "$H4" "keygate: allow app v4"
mine 2
kg_run 0 "" "$KG" governor vote "${S[@]}" "${G[@]}" --proposal "$PID" --support against --private-key-file "$TMP/voter_a.key"
mine 10
kg_run 0 "" "$KG" governor status "${S[@]}" "${G[@]}" --proposal "$PID" --json
jq -e '.state=="Defeated"' "$TMP/out" >/dev/null || die "not defeated: $(cat "$TMP/out")"
kg_run 1 "proposal $PID is Defeated: it cannot be queued" "$KG" governor queue "${S[@]}" "${G[@]}" --proposal "$PID"
kg_run 1 "proposal $PID is Defeated: it cannot be executed" "$KG" governor execute "${S[@]}" "${G[@]}" --proposal "$PID"
[ "$("$CAST" call "$APP" 'composeHashState(bytes32)(uint8)' "0x$H4")" = 0 ] || die "a defeated proposal changed the app"
ok "a defeated proposal cannot be queued or executed; the app is unchanged"
echo "governance_governor_itest: $PASS checks passed"
