#!/usr/bin/env bash
# deploy-anvil.sh - integration test: deploy to a private anvil, register an app via the factory, allow/revoke a compose hash.
# Starts its own anvil on a free 127.0.0.1 port and stops it (and removes its files) on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/tools/node_modules/.bin"
CAST="$BIN/cast"
# anvil's first well-known development account; never a real key.
DEV_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
DEV_ADDR=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266

WORK="$(mktemp -d)"
ANVIL_PID=""
cleanup() {
  if [ -n "$ANVIL_PID" ]; then
    kill "$ANVIL_PID" 2>/dev/null || true
    wait "$ANVIL_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# anvil on a port of its own (port 0: no probe-then-bind race), waited for with a deadline
die() { fail "$@"; }
. "$ROOT/tests/integration/itest_services.sh"
kg_start_anvil "$BIN/anvil" "$WORK/anvil.log"
echo "anvil on $RPC (pid $ANVIL_PID)"

# 0. Usage errors exit 2, bad inputs exit 1, and nothing reaches stdout.
expect_exit() {
  local want="$1"
  shift
  set +e
  out="$("$@" 2>/dev/null)"
  rc=$?
  set -e
  [ "$rc" -eq "$want" ] && [ -z "$out" ] || fail "'$*' exited $rc (want $want), stdout '$out'"
}
expect_exit 2 env -u KEYGATE_DEPLOYER_KEY "$ROOT/scripts/deploy-contracts"
expect_exit 2 env -u KEYGATE_DEPLOYER_KEY "$ROOT/scripts/deploy-contracts" --rpc-url "$RPC"
expect_exit 2 "$ROOT/scripts/deploy-contracts" --rpc-url "$RPC" --private-key "$DEV_KEY" --bogus
expect_exit 1 "$ROOT/scripts/deploy-contracts" --rpc-url "$RPC" --private-key 0xnothex
expect_exit 1 "$ROOT/scripts/deploy-contracts" --rpc-url "$RPC" --private-key "$DEV_KEY" --owner 0x1234

# 1. Deploy the set; the script prints one JSON object.
KEYGATE_DEPLOYER_KEY="$DEV_KEY" "$ROOT/scripts/deploy-contracts" --rpc-url "$RPC" >"$WORK/deploy.json"
cat "$WORK/deploy.json"
field() { node -e 'process.stdout.write(String(require(process.argv[1])[process.argv[2]]))' "$WORK/deploy.json" "$1"; }
KMS="$(field kms)"
[ "$(field chainId)" = 31337 ] || fail "chainId"
[ "$(field owner)" = "$DEV_ADDR" ] || fail "owner is $(field owner)"

send() { "$CAST" send --rpc-url "$RPC" --private-key "$DEV_KEY" --json "$@"; }

OS=0x$(printf 'os-image' | sha256sum | cut -c1-64)
HASH=0x$(printf 'app-compose v1' | sha256sum | cut -c1-64)
DEV=0x$(printf 'device' | sha256sum | cut -c1-64)
ZERO=0x0000000000000000000000000000000000000000000000000000000000000000
send "$KMS" "addOsImageHash(bytes32)" "$OS" >/dev/null

# 2. Factory: deploy + register in one transaction; the app id comes from AppDeployedViaFactory.
send "$KMS" "deployAndRegisterApp(address,bool,bool,bool,bytes32,bytes32)" \
  "$DEV_ADDR" false false true "$ZERO" "$ZERO" >"$WORK/factory.json"
TOPIC="$("$CAST" keccak "AppDeployedViaFactory(address,address)")"
APP="$(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const log = r.logs.find((l) => l.topics[0] === process.argv[2]);
  if (!log) process.exit(1);
  process.stdout.write("0x" + log.topics[1].slice(26));' "$WORK/factory.json" "$TOPIC")" ||
  fail "no AppDeployedViaFactory event"
echo "app id $APP"
[ "$("$CAST" call --rpc-url "$RPC" "$KMS" "registeredApps(address)(bool)" "$APP")" = true ] || fail "app not registered"
[ "$("$CAST" call --rpc-url "$RPC" "$APP" "owner()(address)")" = "$DEV_ADDR" ] || fail "app owner"

SIG='isAppAllowed((address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,string[]))(bool,string)'
boot() { echo "($APP,$HASH,0x0000000000000000000000000000000000000000,$DEV,$ZERO,$ZERO,$OS,\"UpToDate\",[])"; }
decision() { "$CAST" call --rpc-url "$RPC" "$KMS" "$SIG" "$(boot)" | tr '\n' ' ' | sed 's/ $//'; }

got="$(decision)"
[ "$got" = 'false "compose hash not allowed"' ] || fail "before adding: $got"

# 3. Allow the compose hash: allowed from the next block on.
send "$APP" "addComposeHash(bytes32)" "$HASH" >/dev/null
got="$(decision)"
[ "$got" = 'true ""' ] || fail "after adding: $got"
ALLOWED_BLOCK="$("$CAST" block-number --rpc-url "$RPC")"

# 4. Revoke: denied at once.
send "$APP" "removeComposeHash(bytes32)" "$HASH" >/dev/null
got="$(decision)"
[ "$got" = 'false "compose hash not allowed"' ] || fail "after removal: $got"
# A query pinned to an earlier block answers as of that block (what a KMS audit replays).
got="$("$CAST" call --rpc-url "$RPC" --block "$ALLOWED_BLOCK" "$KMS" "$SIG" "$(boot)" | tr '\n' ' ' | sed 's/ $//')"
[ "$got" = 'true ""' ] || fail "at block $ALLOWED_BLOCK: $got"

# 5. An app with a one-hour notice: a proposed hash is pending until the chain's clock passes it.
send "$KMS" "deployAndRegisterAppWithNotice(address,bool,bool,bool,bytes32,bytes32,uint64,address)" \
  "$DEV_ADDR" false false true "$ZERO" "$ZERO" 3600 "$DEV_ADDR" >"$WORK/factory2.json"
APP="$(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const log = r.logs.find((l) => l.topics[0] === process.argv[2]);
  if (!log) process.exit(1);
  process.stdout.write("0x" + log.topics[1].slice(26));' "$WORK/factory2.json" "$TOPIC")" ||
  fail "no AppDeployedViaFactory event for the notice app"
send "$KMS" "addOsImageHash(bytes32)" "$OS" >/dev/null
send "$APP" "proposeComposeHash(bytes32)" "$HASH" >/dev/null
# The KMS's own governance notice (0 so far) is shorter than the app's: the app is denied.
got="$(decision)"
[ "$got" = "false \"KMS governance notice (0 s) is shorter than the app's notice (3600 s)\"" ] ||
  fail "notice app under a zero KMS notice: $got"
# Raising the KMS notice is immediate; the one-call additions are closed from then on.
send "$KMS" "setGovernanceNotice(uint64,address)" 3600 "$DEV_ADDR" >/dev/null
[ "$("$CAST" call --rpc-url "$RPC" "$KMS" "guaranteedNotice()(uint64)")" = 3600 ] || fail "KMS notice not raised"
if send "$KMS" "addOsImageHash(bytes32)" "$OS" >/dev/null 2>&1; then fail "addOsImageHash accepted under a KMS notice"; fi
got="$(decision)"
[ "$got" = 'false "compose hash pending: notice period not over"' ] || fail "notice app, pending: $got"
"$CAST" rpc --rpc-url "$RPC" evm_increaseTime 3600 >/dev/null
"$CAST" rpc --rpc-url "$RPC" evm_mine >/dev/null
got="$(decision)"
[ "$got" = 'true ""' ] || fail "notice app, after the notice period: $got"

# The KMS-level checks still come first.
send "$KMS" "removeOsImageHash(bytes32)" "$OS" >/dev/null
got="$(decision)"
[ "$got" = 'false "os image not allowed"' ] || fail "after os image removal: $got"

# A KMS OS image under the KMS notice: proposed, allowed once the chain's clock passed it.
OS2=0x$(printf 'os-image 2' | sha256sum | cut -c1-64)
send "$KMS" "proposeOsImageHash(bytes32)" "$OS2" >/dev/null
[ "$("$CAST" call --rpc-url "$RPC" "$KMS" "allowedOsImages(bytes32)(bool)" "$OS2")" = false ] || fail "proposed OS image allowed at once"
"$CAST" rpc --rpc-url "$RPC" evm_increaseTime 3600 >/dev/null
"$CAST" rpc --rpc-url "$RPC" evm_mine >/dev/null
[ "$("$CAST" call --rpc-url "$RPC" "$KMS" "allowedOsImages(bytes32)(bool)" "$OS2")" = true ] || fail "proposed OS image not allowed after the notice"

echo "PASS: deploy, factory registration, allow, revoke, historical query, notice period via isAppAllowed, KMS governance notice"
