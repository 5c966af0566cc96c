#!/usr/bin/env bash
# governance_cli_test.sh - `keygate app` and `keygate kms` against a private anvil with the
# contracts deployed: deploy, allow, revoke, status/history, time-locked propose and guardian
# veto, KMS allow-lists; and every error (unknown app, bad hash, wrong key, chain down, usage)
# is clear, exits with the documented status and changes nothing on chain.
# Usage: governance_cli_test.sh KEYGATE_BINARY SOURCE_DIR
set -euo pipefail
KG="${1:?usage: governance_cli_test.sh KEYGATE SOURCE_DIR}"
SRC="${2:?usage: governance_cli_test.sh KEYGATE SOURCE_DIR}"
ANVIL="$SRC/tools/node_modules/.bin/anvil"
[ -x "$ANVIL" ] || { echo "SKIP: anvil not installed (scripts/setup)"; exit 77; }

. "$SRC/tests/support/devnet.sh"
kg_devnet_begin gov-test
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() { echo "not ok - $*" >&2; exit 1; }

# the chain: anvil on a port of its own and the contracts (tests/support/devnet.sh)
kg_devnet_chain
# anvil's well-known dev accounts 0 (owner) and 1 (guardian / stranger): public test keys
OWNER_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
OTHER_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
OTHER=0x70997970C51812dc3A010C7d01b50e0d17dc79C8
kg_devnet_chain_state "$TMP/state"
S=(--state "$TMP/state")
block() { curl -s -X POST -H 'Content-Type: application/json' \
  --data '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}' "$RPC" | jq -r .result; }

# run EXPECTED_RC MESSAGE_SUBSTRING CMD...: exit status and stderr text must both match

# ---- compose hash ---------------------------------------------------------------------------
printf '{"services":{"app":{"image":"demo:1"}}}\n' >"$TMP/v1.json"
printf '{"services":{"app":{"image":"demo:2"}}}\n' >"$TMP/v2.json"
H1="$(sha256sum "$TMP/v1.json" | cut -c1-64)"
H2="$(sha256sum "$TMP/v2.json" | cut -c1-64)"
[ "$("$KG" app compose-hash "$TMP/v1.json")" = "$H1" ] || die "compose-hash is not SHA-256 of the raw bytes"
[ "$("$KG" app compose-hash --json "$TMP/v2.json" | jq -r .compose_hash)" = "$H2" ] || die "compose-hash --json"
kg_run 1 "'$TMP/missing.json' does not exist" "$KG" app compose-hash "$TMP/missing.json"
ok "compose-hash = SHA-256 of the file's bytes"

# ---- deploy, allow, revoke, status ------------------------------------------------------------
CAST="$SRC/tools/node_modules/.bin/cast"
# The TCB policy is never chosen silently: without --tcb (or with an unknown one) nothing is sent.
B="$(block)"
kg_run 2 "--tcb POLICY is required: up-to-date (only platforms whose TCB status is UpToDate) or not-revoked" \
  "$KG" app deploy "${S[@]}" --compose "$TMP/v1.json"
kg_run 2 "--tcb 'uptodate' is not a TCB policy: give up-to-date or not-revoked" \
  "$KG" app deploy "${S[@]}" --tcb uptodate --compose "$TMP/v1.json"
[ "$(block)" = "$B" ] || die "a deploy without a TCB policy sent a transaction"
"$KG" app deploy "${S[@]}" --tcb not-revoked --compose "$TMP/v1.json" >"$TMP/deploy.json" || die "app deploy"
APP="$(jq -r .app_id "$TMP/deploy.json")"
[ "$(jq -r .compose_hash "$TMP/deploy.json")" = "$H1" ] && [[ "$APP" =~ ^0x[0-9a-fA-F]{40}$ ]] || die "deploy output: $(cat "$TMP/deploy.json")"
# what was printed is what the contract holds, and what status reads back
[ "$(jq -r .tcb_policy "$TMP/deploy.json")" = "not-revoked" ] || die "deploy output lacks tcb_policy: $(cat "$TMP/deploy.json")"
[ "$("$CAST" call --rpc-url "$RPC" "$APP" 'requireTcbUpToDate()(bool)')" = "false" ] || die "--tcb not-revoked: the contract requires UpToDate"
"$KG" app status "${S[@]}" --app "$APP" --json | jq -e '.settings.require_tcb_up_to_date == false' >/dev/null || die "status: TCB policy"
ok "app deploy -> app id $APP; --tcb required (exit 2, nothing sent without it); not-revoked is what the contract holds"
# --hash HEX: a compose hash computed elsewhere (the tests' devnet deploys apps by hash); exactly
# one of --compose and --hash, a malformed hash refused before anything is sent
B="$(block)"
kg_run 2 "give exactly one of --compose FILE and --hash HEX" "$KG" app deploy "${S[@]}" --tcb not-revoked --compose "$TMP/v1.json" --hash "$H2"
kg_run 2 "give exactly one of --compose FILE and --hash HEX" "$KG" app deploy "${S[@]}" --tcb not-revoked
kg_run 2 "--hash '${H2:0:62}' is not a 32-byte hash" "$KG" app deploy "${S[@]}" --tcb not-revoked --hash "${H2:0:62}"
[ "$(block)" = "$B" ] || die "a refused deploy --hash sent a transaction"
"$KG" app deploy "${S[@]}" --tcb not-revoked --hash "$H2" >"$TMP/deploy-h.json" || die "app deploy --hash"
APPH="$(jq -r .app_id "$TMP/deploy-h.json")"
[ "$(jq -r .compose_hash "$TMP/deploy-h.json")" = "$H2" ] && [ "$APPH" != "$APP" ] || die "deploy --hash output: $(cat "$TMP/deploy-h.json")"
[ "$("$CAST" call --rpc-url "$RPC" "$APPH" 'allowedComposeHashes(bytes32)(bool)' "0x$H2")" = true ] &&
  [ "$("$CAST" call --rpc-url "$RPC" "$APPH" 'allowedComposeHashes(bytes32)(bool)' "0x$H1")" = false ] || die "deploy --hash: the new app does not allow exactly H2"
ok "app deploy --hash HEX: a new app allowing that hash; with --compose too, neither, or a short hash: exit 2, nothing sent"
"$KG" app allow "${S[@]}" --app "$APP" --compose "$TMP/v2.json" | jq -e '.state=="allowed"' >/dev/null || die "allow v2"
B="$(block)"
"$KG" app allow "${S[@]}" --app "$APP" --hash "$H2" | jq -e '.unchanged==true' >/dev/null || die "allow twice"
[ "$(block)" = "$B" ] || die "allowing an allowed hash sent a transaction"
"$KG" app revoke "${S[@]}" --app "$APP" --hash "0x$H1" | jq -e '.state=="none"' >/dev/null || die "revoke v1"
"$KG" app status "${S[@]}" --app "$APP" --json >"$TMP/status.json" || die "status"
jq -e --arg h2 "$H2" '.allowed_compose_hashes == [$h2] and .registered and .owner=="0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"' "$TMP/status.json" >/dev/null || die "status: $(cat "$TMP/status.json")"
jq -e --arg h1 "$H1" --arg h2 "$H2" '[.history[] | select(.event|startswith("ComposeHash")) | [.event,.value]] ==
  [["ComposeHashAdded",$h1],["ComposeHashAdded",$h2],["ComposeHashRemoved",$h1]]' "$TMP/status.json" >/dev/null ||
  die "history: $(jq -c .history "$TMP/status.json")"
"$KG" app status "${S[@]}" --app "$APP" | grep -q "ComposeHashRemoved *$H1" || die "status table"
LAST="$(jq '[.history[].block] | max' "$TMP/status.json")"
"$KG" app status "${S[@]}" --app "$APP" --json --from-block "$LAST" | jq -e '[.history[].event] == ["ComposeHashRemoved","PolicyChanged"]' >/dev/null ||
  die "--from-block does not limit the history"
ok "allow (idempotent), revoke, status with allowed hashes and event history"

# PolicyChanged (dstack's event and tags, keygate's own tags): in the history next to keygate's
# events, with the tag name, value, on/off and the actor; the table shows them too
OWNER=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266
jq -e --arg h1 "$H1" --arg h2 "$H2" --arg o "$OWNER" --arg k "$KMSC" '[.history[] | select(.event=="PolicyChanged" and .policy=="compose-hash") |
  [.value,.enabled,.actor]] == [[$h1,true,$k],[$h2,true,$o],[$h1,false,$o]]' "$TMP/status.json" >/dev/null ||
  die "PolicyChanged compose-hash history: $(jq -c '[.history[] | select(.event=="PolicyChanged")]' "$TMP/status.json")"
jq -e '[.history[] | select(.event=="PolicyChanged") | .policy] | index("allow-any-device") != null' "$TMP/status.json" >/dev/null ||
  die "initial allow-any-device PolicyChanged missing"
"$KG" app status "${S[@]}" --app "$APP" | grep -q "PolicyChanged *compose-hash off $H1 by $OWNER" || die "status table lacks PolicyChanged"
"$KG" app tcb "${S[@]}" --app "$APP" --deny-advisory INTEL-SA-00837 >/dev/null || die "tcb --deny-advisory"
"$KG" app tcb "${S[@]}" --app "$APP" --out-of-date-grace 86400 >/dev/null || die "tcb --out-of-date-grace"
"$KG" app status "${S[@]}" --app "$APP" --json >"$TMP/pc.json" || die "status"
ADV="$(printf 'INTEL-SA-00837' | "$SRC/tools/node_modules/.bin/cast" keccak | cut -c3-)"
UNTIL="$("$SRC/tools/node_modules/.bin/cast" call --rpc-url "$RPC" "$APP" 'outOfDateGraceUntil()(uint64)' | cut -d' ' -f1)"
jq -e --arg adv "$ADV" --argjson until "$UNTIL" '[.history[] | select(.event=="PolicyChanged")] as $p |
  ($p | map(select(.policy=="advisory-deny" and .value==$adv and .enabled)) | length)==1 and
  ($p | map(select(.policy=="tcb-out-of-date-grace" and .number==$until and .enabled)) | length)==1' "$TMP/pc.json" >/dev/null ||
  die "advisory-deny / tcb-out-of-date-grace PolicyChanged: $(jq -c '[.history[] | select(.event=="PolicyChanged")]' "$TMP/pc.json")"
"$KG" app tcb "${S[@]}" --app "$APP" --undeny-advisory INTEL-SA-00837 >/dev/null || die "tcb --undeny-advisory"
"$KG" app tcb "${S[@]}" --app "$APP" --out-of-date-grace 0 >/dev/null || die "tcb --out-of-date-grace 0"
"$KG" app status "${S[@]}" --app "$APP" --json >"$TMP/status.json" || die "status"
ok "app status: PolicyChanged events with their tags (compose-hash, allow-any-device, advisory-deny, tcb-out-of-date-grace), value, on/off and actor, in --json and the table"

# ---- errors change nothing ------------------------------------------------------------------
B="$(block)"
cp "$TMP/status.json" "$TMP/before.json"
kg_run 2 "--hash 'abc' is not a 32-byte hash" "$KG" app allow "${S[@]}" --app "$APP" --hash abc
kg_run 2 "give exactly one of --compose FILE and --hash HEX" "$KG" app allow "${S[@]}" --app "$APP" --hash "$H1" --compose "$TMP/v1.json"
kg_run 2 "--app ID is required" "$KG" app revoke "${S[@]}" --hash "$H1"
kg_run 2 "--app 'xyz' is not an address" "$KG" app allow "${S[@]}" --app xyz --hash "$H1"
kg_run 2 "unknown or incomplete option '--bogus'" "$KG" app allow "${S[@]}" --bogus
kg_run 1 "unknown app '0x1111111111111111111111111111111111111111': no contract at that address" \
  "$KG" app allow "${S[@]}" --app 0x1111111111111111111111111111111111111111 --hash "$H1"
kg_run 1 "unknown app '$KMSC': not registered with the KMS contract" "$KG" app allow "${S[@]}" --app "$KMSC" --hash "$H1"
kg_run 1 "signer $OTHER is not the owner (0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266) of app" \
  env KEYGATE_PRIVATE_KEY=$OTHER_KEY "$KG" app revoke "${S[@]}" --app "$APP" --hash "$H2"
(umask 077; echo "$OTHER_KEY" >"$TMP/other.key")
kg_run 1 "is not the owner" "$KG" app allow "${S[@]}" --app "$APP" --hash "$H1" --private-key-file "$TMP/other.key"
chmod 644 "$TMP/other.key"
kg_run 1 "is accessible to group or others (mode 0644)" "$KG" app allow "${S[@]}" --app "$APP" --hash "$H1" --private-key-file "$TMP/other.key"
kg_run 1 "\$KEYGATE_PRIVATE_KEY is not a 32-byte hex private key" env KEYGATE_PRIVATE_KEY=0x1234 "$KG" app allow "${S[@]}" --app "$APP" --hash "$H1"
grep -q 1234 "$TMP/err" && die "a bad key was echoed in an error"
kg_run 1 "chain unreachable: chain node http://127.0.0.1:1: eth_chainId" "$KG" app status --rpc-url http://127.0.0.1:1 --app "$APP"
kg_run 1 "no devnet in '$TMP/nope'" "$KG" app status --state "$TMP/nope" --app "$APP"
kg_run 2 "has no upgrade notice: use 'keygate app allow'" "$KG" app propose "${S[@]}" --app "$APP" --hash "$H1"
[ "$(block)" = "$B" ] || die "a failed command changed the chain (block $B -> $(block))"
"$KG" app status "${S[@]}" --app "$APP" --json >"$TMP/after.json"
cmp -s "$TMP/before.json" "$TMP/after.json" || die "a failed command changed the app's state"
ok "errors: bad hash, usage, unknown app, wrong key (env and file), key file mode, chain down - exact messages, no transaction"

# ---- time-locked app: propose, veto --------------------------------------------------------------
"$KG" app deploy "${S[@]}" --tcb up-to-date --compose "$TMP/v1.json" --timelock 3600 --guardian "$OTHER" >"$TMP/tl.json" || die "deploy --timelock"
TAPP="$(jq -r .app_id "$TMP/tl.json")"
[ "$(jq -r .tcb_policy "$TMP/tl.json")" = "up-to-date" ] || die "deploy --tcb up-to-date output: $(cat "$TMP/tl.json")"
[ "$("$CAST" call --rpc-url "$RPC" "$TAPP" 'requireTcbUpToDate()(bool)')" = "true" ] || die "--tcb up-to-date: the contract does not require UpToDate"
jq -e '.notice_period==3600 and (.warnings|length)==1' "$TMP/tl.json" >/dev/null || die "timelock deploy output (with the KMS notice warning)"
kg_run 2 "--timelock SECONDS and --guardian ADDR go together" "$KG" app deploy "${S[@]}" --tcb up-to-date --compose "$TMP/v1.json" --timelock 60
kg_run 1 "has a 3600 s upgrade notice: use 'keygate app propose'" "$KG" app allow "${S[@]}" --app "$TAPP" --hash "$H2"
"$KG" app propose "${S[@]}" --app "$TAPP" --hash "$H2" >"$TMP/p.json" || die "propose"
jq -e '.state=="pending" and .activates_at > now' "$TMP/p.json" >/dev/null || die "propose output $(cat "$TMP/p.json")"
"$KG" app status "${S[@]}" --app "$TAPP" --json | jq -e --arg h "$H2" '.pending_compose_hashes[0].compose_hash==$h and (.allowed_compose_hashes|length)==1' >/dev/null || die "pending not shown"
kg_run 1 "is not the guardian ($OTHER) of app" "$KG" app veto "${S[@]}" --app "$TAPP" --hash "$H2"
KEYGATE_PRIVATE_KEY=$OTHER_KEY "$KG" app veto "${S[@]}" --app "$TAPP" --hash "$H2" | jq -e '.state=="none"' >/dev/null || die "veto"
kg_run 1 "is not a pending proposal" env KEYGATE_PRIVATE_KEY=$OTHER_KEY "$KG" app veto "${S[@]}" --app "$TAPP" --hash "$H2"
"$KG" app status "${S[@]}" --app "$TAPP" --json | jq -e '[.history[].event] | index("ComposeHashVetoed") != null and (.|length) > 0' >/dev/null || die "veto not in history"
# a proposal nobody vetoes becomes allowed once the notice period is over
"$KG" app propose "${S[@]}" --app "$TAPP" --compose "$TMP/v2.json" | jq -e '.state=="pending"' >/dev/null || die "re-propose"
rpc() { curl -s -X POST -H 'Content-Type: application/json' --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "$RPC" >/dev/null; }
rpc evm_increaseTime '[3601]'
rpc evm_mine '[]'
"$KG" app status "${S[@]}" --app "$TAPP" --json | jq -e --arg h1 "$H1" --arg h2 "$H2" \
  '(.allowed_compose_hashes|sort)==([$h1,$h2]|sort) and .pending_compose_hashes==[]' >/dev/null || die "proposal not allowed after the notice period"
ok "time-locked app: allow refused, propose -> pending, only the guardian vetoes, allowed after the notice period"

# guardian escape (contracts/README.md): the owner replaces a guardian that vetoes everything;
# the guardian cannot veto it, the period stays, the new guardian is in office after 2 x notice
NEWG=0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC # anvil's dev account 2
NEWG_KEY=0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
B="$(block)"
kg_run 2 "--escape-guardian ADDR goes alone" "$KG" app notice "${S[@]}" --app "$TAPP" --escape-guardian "$NEWG" --period 60 --guardian "$NEWG"
kg_run 1 "is not the owner" env KEYGATE_PRIVATE_KEY=$OTHER_KEY "$KG" app notice "${S[@]}" --app "$TAPP" --escape-guardian "$OTHER"
[ "$(block)" = "$B" ] || die "a refused escape changed the chain"
"$KG" app notice "${S[@]}" --app "$TAPP" --escape-guardian "$NEWG" | jq -e '.action=="escape-guardian"' >/dev/null || die "app notice --escape-guardian"
"$KG" app notice "${S[@]}" --app "$TAPP" >"$TMP/n.json" || die "app notice"
jq -e --arg o "$OTHER" --arg g "$NEWG" '.period==3600 and .guardian==$o and .pending.escape==true and .pending.guardian==$g and .pending.period==3600' \
  "$TMP/n.json" >/dev/null || die "pending escape not shown: $(cat "$TMP/n.json")"
kg_run 1 "AppGuardianEscapeNotVetoable" env KEYGATE_PRIVATE_KEY=$OTHER_KEY "$KG" app veto "${S[@]}" --app "$TAPP" --notice-change
rpc evm_increaseTime '[7201]'
rpc evm_mine '[]'
"$KG" app notice "${S[@]}" --app "$TAPP" | jq -e --arg g "$NEWG" '.period==3600 and .guardian==$g and .pending==null' >/dev/null ||
  die "escape not in force after twice the notice: $("$KG" app notice "${S[@]}" --app "$TAPP")"
ok "app notice --escape-guardian: owner only, shown as a pending escape, the guardian's veto refused, in force after twice the notice with the period unchanged"

# ---- KMS allow-lists ---------------------------------------------------------------------------
MR="$(printf 'kms mr' | sha256sum | cut -c1-64)"
"$KG" kms allow "${S[@]}" --mr "$MR" | jq -e '.action=="allow" and .tx' >/dev/null || die "kms allow --mr"
"$KG" kms allow "${S[@]}" --os-image "$H1" >/dev/null || die "kms allow --os-image"
"$KG" kms status "${S[@]}" --json | jq -e --arg mr "$MR" --arg os "$H1" '.allowed_mr==[$mr] and .allowed_os_image==[$os]' >/dev/null || die "kms status"
"$KG" kms revoke "${S[@]}" --mr "$MR" >/dev/null || die "kms revoke"
"$KG" kms status "${S[@]}" --json | jq -e '.allowed_mr==[]' >/dev/null || die "kms revoke not effective"
B="$(block)"
kg_run 2 "give exactly one of --mr, --device, --os-image" "$KG" kms allow "${S[@]}" --mr "$MR" --device "$MR"
kg_run 1 "is not the owner" env KEYGATE_PRIVATE_KEY=$OTHER_KEY "$KG" kms allow "${S[@]}" --device "$MR"
[ "$(block)" = "$B" ] || die "a failed kms command changed the chain"
ok "kms allow/revoke/status of MRs and OS images; non-owner refused"

# ---- KMS governance notice -------------------------------------------------------------------
KIMPL="$(jq -r .kmsImplementation <<<"$DEPLOY")"
"$KG" kms notice "${S[@]}" | jq -e '.period==0 and .guaranteed==0' >/dev/null || die "kms notice (default 0)"
"$KG" app status "${S[@]}" --app "$TAPP" --json 2>"$TMP/err" >"$TMP/st.json" || die "status of the time-locked app"
jq -e '.kms_governance_notice==0 and (.warnings|length)==1' "$TMP/st.json" >/dev/null || die "no KMS notice warning: $(cat "$TMP/st.json")"
grep -qF "governance notice (0 s) is shorter than this app's notice (3600 s)" "$TMP/err" || die "warning text: $(cat "$TMP/err")"
"$KG" app status "${S[@]}" --app "$TAPP" 2>/dev/null | grep -q "WARNING: the KMS contract's governance notice" || die "status table lacks the warning"
"$KG" app status "${S[@]}" --app "$APP" --json 2>"$TMP/err" | jq -e '.warnings==[]' >/dev/null || die "warning for an app without notice"
[ -s "$TMP/err" ] && die "warning on stderr for an app without notice: $(cat "$TMP/err")"
B="$(block)"
kg_run 2 "--period SECONDS and --guardian ADDR go together" "$KG" kms notice "${S[@]}" --period 60
kg_run 2 "--period '99999999999' is not a number of seconds" "$KG" kms notice "${S[@]}" --period 99999999999 --guardian "$OTHER"
kg_run 2 "has no governance notice: use 'keygate kms allow --os-image'" "$KG" kms propose "${S[@]}" --os-image "$H2"
kg_run 2 "give exactly one of --mr, --device, --os-image" "$KG" kms allow "${S[@]}" --upgrade "$KIMPL"
kg_run 1 "is not the owner" env KEYGATE_PRIVATE_KEY=$OTHER_KEY "$KG" kms notice "${S[@]}" --period 3600 --guardian "$OTHER"
[ "$(block)" = "$B" ] || die "a failed kms notice command changed the chain"
# raising the notice applies at once; the time-locked app is no longer warned about
"$KG" kms notice "${S[@]}" --period 3600 --guardian "$OTHER" | jq -e --arg g "$OTHER" '.period==3600 and .guardian==$g and .guaranteed==3600 and .action=="set"' >/dev/null || die "kms notice --period"
"$KG" app status "${S[@]}" --app "$TAPP" --json 2>"$TMP/err" | jq -e '.kms_governance_notice==3600 and .warnings==[]' >/dev/null || die "warning after the KMS notice was raised"
ok "kms notice: default 0, app status warns while it is shorter than the app's notice, an increase applies at once"

B="$(block)"
kg_run 1 "has a 3600 s governance notice: use 'keygate kms propose --os-image'" "$KG" kms allow "${S[@]}" --os-image "$H2"
kg_run 1 "is not a pending proposal" env KEYGATE_PRIVATE_KEY=$OTHER_KEY "$KG" kms veto "${S[@]}" --os-image "$H2"
[ "$(block)" = "$B" ] || die "a refused kms allow/veto changed the chain"
"$KG" kms propose "${S[@]}" --os-image "$H2" | jq -e '.state=="pending" and .activates_at > 0' >/dev/null || die "kms propose --os-image"
"$KG" kms status "${S[@]}" --json | jq -e --arg h "$H2" '.pending_os_image[0].value==$h and (.allowed_os_image|index($h))==null' >/dev/null || die "pending OS image not in kms status"
kg_run 1 "is already pending" "$KG" kms propose "${S[@]}" --os-image "$H2"
kg_run 1 "is not the guardian ($OTHER) of the KMS contract" "$KG" kms veto "${S[@]}" --os-image "$H2"
KEYGATE_PRIVATE_KEY=$OTHER_KEY "$KG" kms veto "${S[@]}" --os-image "$H2" | jq -e '.state=="none"' >/dev/null || die "kms veto --os-image"
"$KG" kms propose "${S[@]}" --mr "$MR" | jq -e '.state=="pending"' >/dev/null || die "kms propose --mr"
rpc evm_increaseTime '[3601]'
rpc evm_mine '[]'
"$KG" kms status "${S[@]}" --json | jq -e --arg mr "$MR" '.allowed_mr==[$mr] and .pending_mr==[]' >/dev/null || die "proposed MR not allowed after the notice"
"$KG" kms revoke "${S[@]}" --mr "$MR" | jq -e '.state=="none"' >/dev/null || die "kms revoke under a notice is not immediate"
ok "kms propose/veto of OS images and MRs: allow refused under a notice, guardian-only veto, allowed after the notice, revoke immediate"

"$KG" kms notice "${S[@]}" --period 0 --guardian "$OTHER" | jq -e '.period==3600 and .pending.period==0' >/dev/null || die "a notice decrease did not wait"
KEYGATE_PRIVATE_KEY=$OTHER_KEY "$KG" kms veto "${S[@]}" --notice-change | jq -e '.period==3600 and .pending==null' >/dev/null || die "veto --notice-change"
kg_run 1 "no pending change of the KMS governance notice" env KEYGATE_PRIVATE_KEY=$OTHER_KEY "$KG" kms veto "${S[@]}" --notice-change
"$KG" kms propose "${S[@]}" --upgrade "$KIMPL" | jq -e '.action=="propose" and .activates_at > 0' >/dev/null || die "kms propose --upgrade"
"$KG" kms status "${S[@]}" --json | jq -e --arg i "$KIMPL" '.governance_notice.pending_upgrade.implementation==$i' >/dev/null || die "pending upgrade not in kms status"
kg_run 1 "no pending upgrade of the KMS contract to" env KEYGATE_PRIVATE_KEY=$OTHER_KEY "$KG" kms veto "${S[@]}" --upgrade "$APP"
KEYGATE_PRIVATE_KEY=$OTHER_KEY "$KG" kms veto "${S[@]}" --upgrade "$KIMPL" | jq -e '.action=="veto"' >/dev/null || die "kms veto --upgrade"
"$KG" kms notice "${S[@]}" | jq -e '.pending_upgrade==null' >/dev/null || die "vetoed upgrade still pending"
ok "kms notice decrease waits and is vetoed; kms upgrade proposal shown and vetoed"

B="$(block)"
kg_run 2 "--escape-guardian ADDR goes alone" "$KG" kms notice "${S[@]}" --escape-guardian "$NEWG" --period 60 --guardian "$NEWG"
kg_run 1 "is not the owner" env KEYGATE_PRIVATE_KEY=$OTHER_KEY "$KG" kms notice "${S[@]}" --escape-guardian "$OTHER"
[ "$(block)" = "$B" ] || die "a refused kms escape changed the chain"
"$KG" kms notice "${S[@]}" --escape-guardian "$NEWG" >"$TMP/kn.json" || die "kms notice --escape-guardian"
jq -e --arg g "$NEWG" '.action=="escape-guardian" and .period==3600 and .guaranteed==3600 and .pending.escape==true and .pending.guardian==$g and .pending.period==3600' \
  "$TMP/kn.json" >/dev/null || die "kms escape output: $(cat "$TMP/kn.json")"
kg_run 1 "the pending change is a guardian escape, which the guardian cannot veto" env KEYGATE_PRIVATE_KEY=$OTHER_KEY "$KG" kms veto "${S[@]}" --notice-change
"$KG" kms status "${S[@]}" | grep -q "guardian escape: the guardian cannot veto it" || die "kms status table lacks the pending escape"
rpc evm_increaseTime '[7201]'
rpc evm_mine '[]'
"$KG" kms notice "${S[@]}" | jq -e --arg g "$NEWG" '.period==3600 and .guardian==$g and .pending==null' >/dev/null || die "kms escape not in force after twice the notice"
ok "kms notice --escape-guardian: owner only, the guardian's veto refused, in force after twice the notice, guarantee unchanged"

# ---- usage and state errors of the other devnet-aware commands ---------------------------------
kg_run 2 "unknown subcommand 'sideways'" "$KG" devnet sideways --state "$TMP/state"
kg_run 2 "unexpected argument 'extra'" "$KG" devnet status --state "$TMP/state" extra
kg_run 1 "no devnet state in '$TMP/nope'" "$KG" devnet down --state "$TMP/nope"
kg_run 1 "no devnet in '$TMP/nope'" "$KG" devnet status --state "$TMP/nope"
kg_run 2 "--app 'xyz' is not an app id" "$KG" audit list --state "$TMP/state" --app xyz
kg_run 2 "give --db FILE or --state DIR (not both)" "$KG" audit list --state "$TMP/state" --db "$TMP/x.db"
kg_run 1 "has no KMS audit log yet" "$KG" audit list --state "$TMP/state"
kg_run 2 "--app ID and one FILE.env are required" "$KG" env encrypt --state "$TMP/state" "$TMP/v1.json"
printf 'GOOD=1\nnot a line\n' >"$TMP/bad.env"
kg_run 1 "bad.env:2: expected KEY=VALUE" "$KG" env encrypt --state "$TMP/state" --app "$APP" "$TMP/bad.env"
printf 'A=1\n' >"$TMP/ok.env"
kg_run 2 "no KMS: give --kms-url URL and --kms-contract ADDR, or --state DIR" "$KG" env encrypt --state "$TMP/state" --app "$APP" "$TMP/ok.env"
kg_run 2 "--governor GOV is required" "$KG" governor status "${S[@]}" --proposal 1
kg_run 2 "--proposal 'x1' is not a number" "$KG" governor queue "${S[@]}" --governor "$KMSC" --proposal x1
kg_run 2 "unknown subcommand 'propose'" "$KG" governor propose "${S[@]}"
kg_run 1 "--governor $KMSC is not a Governor" "$KG" governor status "${S[@]}" --governor "$KMSC" --proposal 1
ok "devnet, audit, env and governor: usage errors exit 2, missing state and bad input exit 1 with the value quoted"

# ---- chain writes not mined in time: the hash at once, exit 3, keygate tx status -------------------
# anvil stops mining (evm_setAutomine false) so a write stays pending; anvil_mine mines it.
rpcr() { curl -s -X POST -H 'Content-Type: application/json' --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "$RPC"; }
printf '{"services":{"app":{"image":"demo:3"}}}\n' >"$TMP/v3.json"
H3="$(sha256sum "$TMP/v3.json" | cut -c1-64)"
rpc evm_setAutomine '[false]'
B="$(block)"
kg_run 3 "was sent and is not mined yet: it may still be mined and take effect" \
  "$KG" app allow "${S[@]}" --app "$APP" --hash "$H3" --wait 1
TX="$(jq -r .tx "$TMP/out")"
[[ "$TX" =~ ^0x[0-9a-f]{64}$ ]] && jq -e --arg rpc "$RPC" '.state=="pending" and .rpc_url==$rpc' "$TMP/out" >/dev/null ||
  die "exit 3 output: $(cat "$TMP/out")"
[ "$(head -1 "$TMP/err")" = "keygate: sent transaction $TX; waiting up to 1 s for it to be mined" ] ||
  die "the hash is not the first thing printed: $(cat "$TMP/err")"
grep -qF "not mined within 1 s" "$TMP/err" && grep -qF "Check it with: keygate tx status $TX --rpc-url $RPC" "$TMP/err" ||
  die "exit 3 does not say how to check: $(cat "$TMP/err")"
[ "$(block)" = "$B" ] || die "a block was mined while automine was off"
kg_run 3 "" "$KG" tx status "$TX" --rpc-url "$RPC"
grep -qF "$TX: pending (from $OWNER, nonce " "$TMP/out" || die "tx status pending: $(cat "$TMP/out")"
kg_run 3 "" "$KG" tx status "$TX" --state "$TMP/state" --json
jq -e --arg o "$OWNER" '.state=="pending" and .from==$o' "$TMP/out" >/dev/null || die "tx status --json pending: $(cat "$TMP/out")"
rpc anvil_mine '["0x1"]'
kg_run 0 "" "$KG" tx status "$TX" --rpc-url "$RPC"
grep -qF "$TX: mined in block $((B + 1)) (1 confirmation), status success" "$TMP/out" || die "tx status mined: $(cat "$TMP/out")"
"$KG" app status "${S[@]}" --app "$APP" --json | jq -e --arg h "$H3" '.allowed_compose_hashes | index($h) != null' >/dev/null ||
  die "the pending allow did not take effect once mined"
ok "a write not mined within --wait prints its hash at once, exits 3 with how to check; tx status: pending (3), then mined/success (0)"

# --wait 0 sends and returns at once. A transaction that passed its simulation but reverts when
# mined exits 1 with the contract's reason: the guardian's veto of a pending proposal, mined in a
# block whose timestamp (evm_setNextBlockTimestamp) is past the notice, when it is allowed.
pending_nonce() { rpcr eth_getTransactionCount "[\"$1\",\"pending\"]" | jq -r .result; }
kg_run 3 "sent, not waited for (--wait 0)" "$KG" app propose "${S[@]}" --app "$TAPP" --hash "$H3" --wait 0
TXA="$(jq -r .tx "$TMP/out")"
rpc anvil_mine '["0x1"]'
AT="$("$KG" app status "${S[@]}" --app "$TAPP" --json | jq --arg h "$H3" '.pending_compose_hashes[] | select(.compose_hash==$h) | .activates_at')"
[ -n "$AT" ] || die "the --wait 0 proposal did not become pending once mined"
# TAPP's guardian is NEWG since the escape above.
N="$(pending_nonce "$NEWG")"
B="$(block)"
( set +e; KEYGATE_PRIVATE_KEY=$NEWG_KEY "$KG" app veto "${S[@]}" --app "$TAPP" --hash "$H3" --wait 120 \
    >"$TMP/veto.out" 2>"$TMP/veto.err"; echo $? >"$TMP/veto.rc" ) &
BG_PID=$!
PIDS+=("$BG_PID")
for _ in $(seq 1200); do [ "$(pending_nonce "$NEWG")" != "$N" ] && break; sleep 0.1; done
[ "$(pending_nonce "$NEWG")" != "$N" ] || die "the veto was not sent: $(cat "$TMP/veto.err")"
rpc evm_setNextBlockTimestamp "[$((AT + 1))]"
rpc anvil_mine '["0x1"]'
wait "$BG_PID"
BG_PID=""
[ "$(cat "$TMP/veto.rc")" = 1 ] && grep -qF "reverted in block $((B + 1)): custom error AppComposeHashNotPending" "$TMP/veto.err" ||
  die "a veto reverted when mined: exit $(cat "$TMP/veto.rc"): $(cat "$TMP/veto.err")"
TXB="$(sed -n 's/^keygate: sent transaction \(0x[0-9a-f]*\);.*/\1/p' "$TMP/veto.err")"
kg_run 0 "" "$KG" tx status "$TXA" --state "$TMP/state"
kg_run 1 "" "$KG" tx status "$TXB" --state "$TMP/state"
grep -qF "$TXB: mined in block $((B + 1)) (1 confirmation), status reverted" "$TMP/out" || die "tx status reverted: $(cat "$TMP/out")"
kg_run 1 "" "$KG" tx status "0x$(printf '%064d' 7)" --state "$TMP/state"
grep -qF "unknown to the chain node" "$TMP/out" || die "tx status unknown: $(cat "$TMP/out")"
rpc evm_setAutomine '[true]'
ok "--wait 0 exits 3 at once; a transaction reverted when mined exits 1 with the contract's reason; tx status reverted (1), unknown (1)"

kg_run 2 "--wait 'soon' is not a number of seconds (0..86400)" "$KG" app allow "${S[@]}" --app "$APP" --hash "$H3" --wait soon
kg_run 2 "--wait goes with a write that is sent, not with --calldata" "$KG" app allow "${S[@]}" --app "$APP" --hash "$H2" --wait 5 --calldata
kg_run 2 "is not a 32-byte hash" "$KG" tx status 0x1234 --state "$TMP/state"
kg_run 2 "give one transaction HASH" "$KG" tx status --state "$TMP/state"
kg_run 2 "unknown subcommand 'wait'" "$KG" tx wait "$TX"
kg_run 2 "unknown or incomplete option '--hash'" "$KG" tx status --hash "$TX" --state "$TMP/state"
ok "usage errors of --wait and tx status exit 2"

# ---- allow-lists from contract state, app list ------------------------------------------------------
# A hash allowed long before the history window is still listed: the lists come from the contract's
# state (composeHashPage), the history only from the blocks read, whose range is stated.
"$KG" app tcb "${S[@]}" --app "$APP" --deny-advisory INTEL-SA-00837 >/dev/null || die "tcb --deny-advisory"
"$KG" app tcb "${S[@]}" --app "$APP" --allow-advisory INTEL-SA-00615 >/dev/null || die "tcb --allow-advisory"
"$KG" app device "${S[@]}" --app "$APP" --add "0x$(printf '%064d' 42)" >/dev/null || die "device --add"
HEAD="$(( $(block) ))"
"$KG" app status "${S[@]}" --app "$APP" --json --from-block "$HEAD" --log-window 1 >"$TMP/win.json" || die "status --from-block HEAD"
jq -e --arg h2 "$H2" --arg h3 "$H3" --argjson head "$HEAD" '.lists_from=="contract" and
  (.allowed_compose_hashes|sort)==([$h2,$h3]|sort) and [.history[].event]==["DeviceAdded","PolicyChanged"] and .history_from_block==$head and
  .history_to_block==$head and .history_complete==false and (.history_note|test("history before block")) and
  .log_window==1 and .allowed_devices==["'"$(printf '%064d' 42)"'"] and
  .denied_advisories==["INTEL-SA-00837"] and .allowed_advisories==["INTEL-SA-00615"]' "$TMP/win.json" >/dev/null ||
  die "allow-lists from state outside the history window: $(cat "$TMP/win.json")"
"$KG" app status "${S[@]}" --app "$APP" --from-block "$HEAD" >"$TMP/win.txt" || die "status table"
grep -qF "allowed compose hashes (contract state, block $HEAD)" "$TMP/win.txt" && grep -qF "$H2" "$TMP/win.txt" &&
  grep -qF "history (blocks $HEAD..$HEAD)" "$TMP/win.txt" && grep -qF "INTEL-SA-00615" "$TMP/win.txt" ||
  die "status table: $(cat "$TMP/win.txt")"
# the whole history read one block per request gives the same lists, and a complete history
"$KG" app status "${S[@]}" --app "$APP" --json --log-window 1 >"$TMP/all.json" || die "status --log-window 1"
jq -e --slurpfile w "$TMP/win.json" '.history_complete and .log_requests > 1 and
  .allowed_compose_hashes==$w[0].allowed_compose_hashes' "$TMP/all.json" >/dev/null || die "full history: $(jq -c 'del(.history)' "$TMP/all.json")"
kg_run 2 "--log-window '0' is not a number of blocks" "$KG" app status "${S[@]}" --app "$APP" --log-window 0
kg_run 2 "--from-block 'x' is not a block number" "$KG" app status "${S[@]}" --app "$APP" --from-block x
kg_run 2 "is after the chain's head" "$KG" app status "${S[@]}" --app "$APP" --from-block 99999999
ok "app status: allow-lists, devices and advisories from contract state beyond the history window; history range stated"
"$KG" kms status "${S[@]}" --json --from-block "$HEAD" >"$TMP/kst.json" || die "kms status --from-block HEAD"
jq -e --arg os "$H1" '.lists_from=="contract" and (.allowed_os_image | index($os) != null) and .allowed_mr==[]' "$TMP/kst.json" >/dev/null ||
  die "kms status: OS image allowed before the window: $(cat "$TMP/kst.json")"
ok "kms status: allow-lists from the KMS contract's state beyond the history window"

# app list: every app this test deployed, from the KMS contract's state
"$KG" app list "${S[@]}" --json >"$TMP/list.json" || die "app list"
jq -e --arg a "$APP" --arg t "$TAPP" --arg o "$OWNER" --slurpfile st "$TMP/all.json" '.apps_from=="contract" and
  ([.apps[].app_id] | index($a) != null and index($t) != null) and
  (.apps[] | select(.app_id==$a) | .owner==$o and .owner_is_contract==false and .notice_period==0 and
     .allowed_compose_hashes==($st[0].allowed_compose_hashes|length) and .pending_compose_hashes==0) and
  (.apps[] | select(.app_id==$t) | .notice_period==3600 and .lists_from=="contract")' "$TMP/list.json" >/dev/null ||
  die "app list: $(cat "$TMP/list.json")"
N_APPS="$(jq '.apps|length' "$TMP/list.json")"
[ "$N_APPS" = "$("$CAST" call --rpc-url "$RPC" "$KMSC" 'registeredAppCount()(uint256)')" ] || die "app list count"
"$KG" app list --rpc-url "$RPC" --kms-contract "$KMSC" >"$TMP/list.txt" || die "app list --rpc-url"
grep -qF "$N_APPS registered apps (contract state" "$TMP/list.txt" && grep -q "^  $TAPP .* 3600 s " "$TMP/list.txt" ||
  die "app list table: $(cat "$TMP/list.txt")"
# anyone can register any address: one that is no app contract is listed with the reason
"$CAST" send --rpc-url "$RPC" --private-key "$OTHER_KEY" "$KMSC" 'registerApp(address)' "$OTHER" >/dev/null || die "registerApp"
"$KG" app list "${S[@]}" --json | jq -e --arg x "$OTHER" '.apps[-1].app_id==$x and (.apps[-1].error|test("no contract at that address"))' >/dev/null ||
  die "app list: a registered address without code"
kg_run 2 "app list: needs the KMS contract" "$KG" app list --rpc-url "$RPC"
kg_run 2 "app list: takes no --app" "$KG" app list "${S[@]}" --app "$APP"
kg_run 2 "--kms-contract 'nope'" "$KG" app list --rpc-url "$RPC" --kms-contract nope
kg_run 1 "chain unreachable" "$KG" app list --rpc-url http://127.0.0.1:1 --kms-contract "$KMSC"
ok "app list: registered apps with owner, notice and compose hash counts from the KMS contract's state; bad input exits 2, no chain 1"

# An app contract upgraded from a version without enumeration holds hashes it does not list: status
# still shows them (from the history) and says so, and `app index` indexes them. Simulated by
# emptying the set (keygate.storage.AppIndex, contracts/README.md "Enumeration"): its length slot
# and the hash's position in it.
"$KG" app deploy "${S[@]}" --tcb not-revoked --compose "$TMP/v2.json" >"$TMP/old.json" || die "deploy"
OLD="$(jq -r .app_id "$TMP/old.json")"
ZERO="0x$(printf '%064d' 0)"
SET=0x53da038e42b9757f115b490b96840ce9178f6995802cac95cbdc519260482900
POS="$("$CAST" index bytes32 "0x$H2" 0x53da038e42b9757f115b490b96840ce9178f6995802cac95cbdc519260482901)"
rpc anvil_setStorageAt "[\"$OLD\",\"$SET\",\"$ZERO\"]"
rpc anvil_setStorageAt "[\"$OLD\",\"$POS\",\"$ZERO\"]"
[ "$("$CAST" call --rpc-url "$RPC" "$OLD" 'composeHashCount()(uint256)')" = "0" ] || die "set length not emptied"
"$KG" app status "${S[@]}" --app "$OLD" --json 2>"$TMP/err" >"$TMP/old-st.json" || die "status of the old app"
jq -e --arg h2 "$H2" '.allowed_compose_hashes==[$h2] and (.warnings[0]|test("missing from its enumeration"))' "$TMP/old-st.json" >/dev/null ||
  die "unindexed hash: $(cat "$TMP/old-st.json")"
grep -qF "indexExistingEntries" "$TMP/err" || die "no warning on stderr: $(cat "$TMP/err")"
# anyone may index: the stranger's key sends it; a second run finds nothing and sends nothing
env KEYGATE_PRIVATE_KEY=$OTHER_KEY "$KG" app index "${S[@]}" --app "$OLD" >"$TMP/idx.json" 2>/dev/null || die "app index"
jq -e '.action=="index" and .compose_hashes==1 and .devices==0 and .tx' "$TMP/idx.json" >/dev/null || die "app index: $(cat "$TMP/idx.json")"
[ "$("$CAST" call --rpc-url "$RPC" "$OLD" 'composeHashCount()(uint256)')" = "1" ] || die "not indexed"
"$KG" app status "${S[@]}" --app "$OLD" --json --from-block "$(($(block)))" 2>"$TMP/err" |
  jq -e --arg h2 "$H2" '.allowed_compose_hashes==[$h2] and .warnings==[]' >/dev/null || die "status after app index"
B="$(block)"
"$KG" app index "${S[@]}" --app "$OLD" 2>/dev/null | jq -e '.unchanged==true' >/dev/null || die "app index twice"
[ "$(block)" = "$B" ] || die "app index with nothing to index sent a transaction"
kg_run 2 "--app ID is required" "$KG" app index "${S[@]}"
kg_run 1 "unknown app '$OTHER': no contract at that address" "$KG" app index "${S[@]}" --app "$OTHER"
ok "app status: hashes an upgraded contract holds but does not list are shown from the history, with a warning; app index (anyone) indexes them, once"

# The same for the KMS contract: its registry and OS image set emptied (keygate.storage.KmsIndex:
# the apps' length slot and positions, then the OS images'), `kms index` restores them from the
# history, by any key; app list and kms status read them again from state.
KSET=0xaabbec8b6b00d3d22fc7d7f16fd6c20c820782a5ef3ee6d9bbb420900caeca00
"$KG" app list "${S[@]}" --json | jq -r '.apps[].app_id' >"$TMP/apps.txt"
while read -r a; do # the position of app a: keccak256(bytes32(a) . (KSET + 1))
  POS="$("$CAST" index bytes32 "0x000000000000000000000000${a#0x}" 0xaabbec8b6b00d3d22fc7d7f16fd6c20c820782a5ef3ee6d9bbb420900caeca01)"
  rpc anvil_setStorageAt "[\"$KMSC\",\"$POS\",\"$ZERO\"]"
done <"$TMP/apps.txt"
rpc anvil_setStorageAt "[\"$KMSC\",\"$KSET\",\"$ZERO\"]"
rpc anvil_setStorageAt "[\"$KMSC\",\"$("$CAST" index bytes32 "0x$H1" 0xaabbec8b6b00d3d22fc7d7f16fd6c20c820782a5ef3ee6d9bbb420900caeca03)\",\"$ZERO\"]"
rpc anvil_setStorageAt "[\"$KMSC\",\"0xaabbec8b6b00d3d22fc7d7f16fd6c20c820782a5ef3ee6d9bbb420900caeca02\",\"$ZERO\"]"
"$KG" app list "${S[@]}" --json | jq -e '.apps==[]' >/dev/null || die "registry not emptied"
env KEYGATE_PRIVATE_KEY=$OTHER_KEY "$KG" kms index "${S[@]}" >"$TMP/kidx.json" 2>/dev/null || die "kms index"
jq -e --argjson n "$(wc -l <"$TMP/apps.txt")" '.action=="index" and .apps==$n and .os_images==1 and .tx' "$TMP/kidx.json" >/dev/null ||
  die "kms index: $(cat "$TMP/kidx.json")"
"$KG" app list "${S[@]}" --json | jq -r '.apps[].app_id' | diff - "$TMP/apps.txt" >/dev/null || die "app list after kms index"
"$KG" kms status "${S[@]}" --json --from-block "$(($(block)))" | jq -e --arg os "$H1" '.allowed_os_image | index($os) != null' >/dev/null ||
  die "kms status after kms index"
B="$(block)"
"$KG" kms index "${S[@]}" 2>/dev/null | jq -e '.unchanged==true' >/dev/null || die "kms index twice"
[ "$(block)" = "$B" ] || die "kms index with nothing to index sent a transaction"
kg_run 2 "unknown or incomplete option '--app'" "$KG" kms index "${S[@]}" --app "$APP"
kg_run 2 "--log-window '0' is not a number of blocks" "$KG" kms index "${S[@]}" --log-window 0
ok "kms index (anyone): a KMS contract's emptied registry and OS image set rebuilt from its history, once; app list and kms status read them again"

echo "governance_cli_test: $PASS checks passed"
