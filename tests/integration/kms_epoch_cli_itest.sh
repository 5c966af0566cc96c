#!/usr/bin/env bash
# kms_epoch_cli_itest.sh - `keygate kms epoch` against a real KMS node and KeygateKms on anvil
# (contracts/README.md "Root-key epochs"): list reads epoch 0 from the contract; propose takes
# the node's POST /epoch/propose answer to proposeRootEpoch (refused for a wrong number, again
# for a pending one); under a governance notice the guardian vetoes, the same epoch is proposed
# again, activation waits for the notice, then kmsInfo is the new root and epoch 0 retiring;
# retire only a retiring epoch. Every refusal changes nothing on chain.
# Usage: kms_epoch_cli_itest.sh BUILD_DIR
set -euo pipefail
BUILD="$(cd "${1:?usage: kms_epoch_cli_itest.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
[ -x "$SRC/tools/node_modules/.bin/anvil" ] || { echo "SKIP: tools not installed (scripts/setup)"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: jq missing"; exit 77; }

. "$SRC/tests/support/devnet.sh"
kg_devnet_begin kms-epoch-cli
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() {
  echo "not ok - $*" >&2
  for f in "$TMP/kms.log" "$TMP/cli.err"; do [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done
  exit 1
}

kg_devnet_chain
kg_devnet_chain_state "$TMP/cli"
kg_devnet_sim
KG_KMS_EXTRA='"admin_listen": "127.0.0.1:0"' kg_devnet_kms_config
kg_devnet_bootstrap
kg_devnet_register_kms
kg_devnet_start_kms
APORT="$(grep -o 'admin listening on http://127\.0\.0\.1:[0-9]*' "$TMP/kms.log" | tail -1 | sed 's/.*://')"
[ -n "$APORT" ] || die "no admin listener line"
ADMIN="http://127.0.0.1:$APORT"
CA0="$(jq -r .ca_pubkey "$TMP/bootstrap.json")"

# ep ARGS...: keygate kms epoch ARGS on the devnet; stdout in $OUT, exit status in $RC.
ep() {
  set +e
  OUT="$("$CLI" kms epoch "$@" --state "$TMP/cli" 2>"$TMP/cli.err")"
  RC=$?
  set -e
}
expect_fail() { # expect_fail WANT_RC NEEDLE ARGS...
  local want="$1" needle="$2"
  shift 2
  ep "$@"
  [ "$RC" = "$want" ] && grep -qF -- "$needle" "$TMP/cli.err" || die "'$*': exit $RC, want $want with '$needle': $(cat "$TMP/cli.err")"
}
chain() { "$CAST" call --rpc-url "$RPC" "$KMSC" "$@"; }
list_is() { # list_is JQ_FILTER WHAT
  ep list
  [ "$RC" = 0 ] && jq -e "$1" <<<"$OUT" >/dev/null || die "$2: exit $RC: $OUT $(cat "$TMP/cli.err")"
}

# ---- list, and what is refused before anything is asked of the node ---------------------------------
list_is ".current == 0 and (.epochs|length) == 1 and .epochs[0] == {\"epoch\":0,\"status\":\"current\",\"k256_pubkey\":\"$K256\",\"ca_pubkey\":\"$CA0\"}" \
  "list before a rotation"
expect_fail 2 "give --admin URL and --epoch N" propose --epoch 1
expect_fail 2 "takes no --epoch or --admin" list --epoch 0
expect_fail 2 "is not an epoch number" activate --epoch -1
expect_fail 2 "unknown subcommand 'rotate'" rotate
expect_fail 1 "epoch 2 cannot be proposed: the current epoch is 0 (the next one is 1)" propose --admin "$ADMIN" --epoch 2
expect_fail 1 "epoch 1 is not proposed (none)" activate --epoch 1
expect_fail 1 "epoch 0 is current: only a retiring epoch can be retired" retire --epoch 0
curl -sf "$ADMIN/epochs" | jq -e '(.epochs|length) == 1' >/dev/null || die "a refused proposal reached the node"
ok "list: epoch 0 is kmsInfo's root; usage errors exit 2; a wrong number, an activation or retirement the state does not allow: exit 1, the node not asked"

# ---- under a notice: propose, veto, propose again, activate after the notice -------------------------
GUARDIAN_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d # anvil's 2nd dev account
GUARDIAN=0x70997970C51812dc3A010C7d01b50e0d17dc79C8
printf '%s\n' "$GUARDIAN_KEY" >"$TMP/guardian.key"
chmod 600 "$TMP/guardian.key"
"$CLI" kms notice --period 3600 --guardian "$GUARDIAN" --state "$TMP/cli" >/dev/null 2>"$TMP/cli.err" || die "kms notice"
ep propose --admin "$ADMIN/" --epoch 1
[ "$RC" = 0 ] || die "propose epoch 1: exit $RC $(cat "$TMP/cli.err")"
K1="$(jq -r .k256_pubkey <<<"$OUT")"
jq -e '.status == "proposed" and .activates_at > 0 and .tx != null' <<<"$OUT" >/dev/null || die "propose's answer: $OUT"
NODE="$(curl -sf "$ADMIN/epochs")"
jq -e --arg k "$K1" '.epochs[1] == {"epoch":1,"status":"proposed","k256_pubkey":$k}' <<<"$NODE" >/dev/null || die "the node's pending epoch is not what was proposed: $NODE"
list_is ".current == 0 and .epochs[1].status == \"proposed\" and .epochs[1].k256_pubkey == \"$K1\" and .epochs[1].attestation_hash == \"$(jq -r .attestation_hash <<<"$OUT")\"" \
  "list with a proposal"
expect_fail 1 "epoch 1 is already proposed" propose --admin "$ADMIN" --epoch 1
expect_fail 1 "epoch 1 can be activated from" activate --epoch 1
expect_fail 1 "is not the guardian ($GUARDIAN) of the KMS contract" veto --epoch 1
ok "propose: the node's epoch 1 on chain (its k256 key and attestation hash), activatable after the notice; again, or activated early, or vetoed by the owner: refused"

ep veto --epoch 1 --private-key-file "$TMP/guardian.key"
[ "$RC" = 0 ] && jq -e '.status == "none"' <<<"$OUT" >/dev/null || die "guardian veto: exit $RC $OUT $(cat "$TMP/cli.err")"
list_is '.current == 0 and (.epochs|length) == 1' "list after the veto"
ep propose --admin "$ADMIN" --epoch 1
[ "$RC" = 0 ] && [ "$(jq -r .k256_pubkey <<<"$OUT")" = "$K1" ] || die "proposed again: exit $RC $OUT $(cat "$TMP/cli.err")"
ok "the guardian vetoes epoch 1; proposed again, the node's same pending epoch"

"$CAST" rpc --rpc-url "$RPC" evm_increaseTime 3601 >/dev/null && "$CAST" rpc --rpc-url "$RPC" evm_mine >/dev/null
expect_fail 1 "too late to veto" veto --epoch 1 --private-key-file "$TMP/guardian.key"
ep activate --epoch 1
[ "$RC" = 0 ] && jq -e '.status == "current"' <<<"$OUT" >/dev/null || die "activate: exit $RC $OUT $(cat "$TMP/cli.err")"
[ "$(chain "currentRootEpoch()(uint32)")" = 1 ] || die "currentRootEpoch"
[ "$(chain "kmsInfo()(bytes,bytes,bytes,bytes)" | head -1)" = "0x$K1" ] || die "kmsInfo's k256 key is not epoch 1's"
list_is ".current == 1 and .epochs[0].status == \"retiring\" and .epochs[0].k256_pubkey == \"$K256\" and .epochs[1].status == \"current\"" \
  "list after the activation"
ok "after the notice: too late to veto; activated: epoch 1 current, kmsInfo its key, epoch 0 retiring"

expect_fail 1 "epoch 1 is current: only a retiring epoch can be retired" retire --epoch 1
ep retire --epoch 0
[ "$RC" = 0 ] && jq -e '.status == "retired"' <<<"$OUT" >/dev/null || die "retire: exit $RC $OUT $(cat "$TMP/cli.err")"
list_is ".current == 1 and .epochs[0].status == \"retired\" and .epochs[0].k256_pubkey == \"$K256\"" "list after the retirement"
ok "retire: only the retiring epoch 0, at once; its public key stays listed"
echo "1..$PASS"
