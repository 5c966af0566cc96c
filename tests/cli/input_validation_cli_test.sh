#!/usr/bin/env bash
# input_validation_cli_test.sh - inputs the CLI used to accept and must refuse (issue 17, item 6),
# each with a clear message, the documented exit status and nothing changed on chain:
#   a compose file that is not one JSON object (app compose-hash, app deploy: exit 2);
#   env encrypt to an address that is no app registered with the KMS contract (exit 1, no file);
#   --private-key 0x... (not an abbreviation of --private-key-file: exit 2) and a key given as
#   the key file's path: the key is never printed; abbreviated options in general (exit 2).
# Usage: input_validation_cli_test.sh KEYGATE_BINARY SOURCE_DIR
set -euo pipefail
KG="${1:?usage: input_validation_cli_test.sh KEYGATE SOURCE_DIR}"
SRC="${2:?usage: input_validation_cli_test.sh KEYGATE SOURCE_DIR}"
ANVIL="$SRC/tools/node_modules/.bin/anvil"
[ -x "$ANVIL" ] || { echo "SKIP: anvil not installed (scripts/setup)"; exit 77; }

. "$SRC/tests/support/devnet.sh"
kg_devnet_begin input-test
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() { echo "not ok - $*" >&2; exit 1; }

kg_devnet_chain
# anvil's well-known dev account 0: a public test key
OWNER_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
OWNER=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266
kg_devnet_chain_state "$TMP/state"
S=(--state "$TMP/state")
rpc() { curl -s -X POST -H 'Content-Type: application/json' \
  --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "$RPC" | jq -r .result; }
chain_state() { echo "$(rpc eth_blockNumber '[]') $(rpc eth_getTransactionCount "[\"$OWNER\",\"latest\"]")"; }

# run EXPECTED_RC MESSAGE_SUBSTRING CMD...: exit status and stderr text must both match
BEFORE="$(chain_state)"

# ---- a compose file that is not JSON ---------------------------------------------------------
printf 'services:\n  app:\n    image: demo:1\n' >"$TMP/compose.yaml"
printf '["not", "an", "object"]' >"$TMP/array.json"
printf '{"name":"a","name":"b"}' >"$TMP/dup.json"
printf '{"name":"ok"}' >"$TMP/ok.json"
kg_run 2 "compose file '$TMP/compose.yaml' is not JSON (line 1" "$KG" app compose-hash "$TMP/compose.yaml"
[ ! -s "$TMP/out" ] || die "compose-hash printed a hash for a YAML file"
kg_run 2 "compose file '$TMP/array.json' is JSON but not an object" "$KG" app compose-hash "$TMP/array.json"
kg_run 2 "duplicate object key" "$KG" app compose-hash "$TMP/dup.json"
[ "$("$KG" app compose-hash "$TMP/ok.json")" = "$(sha256sum "$TMP/ok.json" | cut -c1-64)" ] ||
  die "compose-hash of a JSON object is not SHA-256 of its raw bytes"
ok "app compose-hash: YAML, a JSON array, duplicate keys refused (exit 2, the path quoted); a JSON object still hashes its raw bytes"
kg_run 2 "compose file '$TMP/compose.yaml' is not JSON" "$KG" app deploy "${S[@]}" --tcb up-to-date --compose "$TMP/compose.yaml"
kg_run 2 "is JSON but not an object" "$KG" app deploy "${S[@]}" --tcb up-to-date --compose "$TMP/array.json"
[ "$(chain_state)" = "$BEFORE" ] || die "a refused deploy changed the chain ($BEFORE -> $(chain_state))"
ok "app deploy of a non-JSON compose file: exit 2, nothing sent (same block, same nonce)"

# ---- env encrypt to an address that is no registered app -------------------------------------
printf 'A=1\n' >"$TMP/app.env"
NOAPP=0x1111111111111111111111111111111111111111
# The KMS URL is dead on purpose: the registration check comes first and needs only the chain.
kg_run 1 "--app '$NOAPP' is not an app registered with the KMS contract" \
  "$KG" env encrypt "${S[@]}" --kms-url http://127.0.0.1:9 --app "$NOAPP" --out "$TMP/app.env.enc" "$TMP/app.env"
[ ! -e "$TMP/app.env.enc" ] || die "env encrypt wrote a file for an unregistered app"
kg_run 1 "is not an app registered" \
  "$KG" env encrypt "${S[@]}" --kms-url http://127.0.0.1:9 --app "$KMSC" "$TMP/app.env"
ok "env encrypt to an unregistered address (or the KMS contract itself): exit 1, registeredApps named, no file"
printf 'A=1\nB=$HOME\n' >"$TMP/interp.env"
kg_run 1 "interp.env:2: value of B: variable interpolation" \
  "$KG" env encrypt "${S[@]}" --kms-url http://127.0.0.1:9 --app "$NOAPP" "$TMP/interp.env"
ok "env encrypt: a .env Compose would interpolate is refused by line before anything else"

# ---- keys on the command line -----------------------------------------------------------------
APP=0x2222222222222222222222222222222222222222
no_key() { ! grep -qi "${OWNER_KEY#0x}" "$TMP/out" "$TMP/err" || die "'$1' printed the private key: $(cat "$TMP/err")"; }
kg_run 2 "unknown or incomplete option '--private-key' (options are not abbreviated: did you mean '--private-key-file'?)" \
  "$KG" app allow "${S[@]}" --app "$APP" --hash "$(printf '%064d' 0)" --private-key "$OWNER_KEY"
no_key "--private-key KEY"
grep -qF 'keys are never taken on the command line' "$TMP/err" || die "--private-key: no advice"
kg_run 2 "unknown or incomplete option '--private-key'" \
  "$KG" app allow "${S[@]}" --app "$APP" --hash "$(printf '%064d' 0)" --private-key="$OWNER_KEY"
no_key "--private-key=KEY"
kg_run 2 "unknown or incomplete option '--priv'" "$KG" kms allow "${S[@]}" --os-image "$(printf '%064d' 0)" --priv "$OWNER_KEY"
no_key "--priv KEY"
kg_run 2 "unknown or incomplete option '--private-key'" "$KG" governor status --governor "$APP" --proposal 1 --private-key "$OWNER_KEY"
no_key "governor --private-key KEY"
kg_run 2 "looks like a private key, not a file" \
  "$KG" app allow "${S[@]}" --app "$APP" --hash "$(printf '%064d' 0)" --private-key-file "$OWNER_KEY"
no_key "--private-key-file KEY"
kg_run 2 "looks like a private key, not a file" \
  "$KG" app allow "${S[@]}" --app "$APP" --hash "$(printf '%064d' 0)" --private-key-file "${OWNER_KEY#0x}"
no_key "--private-key-file KEY (no 0x)"
[ "$(chain_state)" = "$BEFORE" ] || die "a refused command changed the chain"
ok "--private-key KEY / =KEY / --priv: exit 2, not read as --private-key-file; a key given as the file: exit 2; never printed"
kg_run 2 "unknown or incomplete option '--stat' (options are not abbreviated: did you mean '--state'?)" \
  "$KG" app status --stat "$TMP/state" --app "$APP"
kg_run 2 "unknown or incomplete option '--ap'" "$KG" env encrypt --ap "$APP" "$TMP/app.env"
ok "abbreviated long options are refused everywhere (exit 2, the full name suggested)"
echo "1..$PASS"
