#!/usr/bin/env bash
# kms_config_cli_test.sh - `keygate kms config`: kms/kms.example.json is exactly `--example`'s
# output (its loading by the strict parser is unit/kms_config_test); `--state DIR` fills a
# config from a devnet's devnet.json with the options applied, writes --out 0600, and refuses
# bad values with exit 2 and nothing written. (That `--state` equals the devnet KMS's own
# config is checked on a live devnet by integration/lifecycle.)
# Usage: kms_config_cli_test.sh KEYGATE_BINARY SOURCE_DIR
set -euo pipefail
KG="${1:?usage: kms_config_cli_test.sh KEYGATE SOURCE_DIR}"
SRC="${2:?usage: kms_config_cli_test.sh KEYGATE SOURCE_DIR}"
TMP="$(mktemp -d /tmp/kg-kmsconfig-test.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() { echo "not ok - $*" >&2; exit 1; }

"$KG" kms config --example >"$TMP/example.json" || die "kms config --example"
diff -u "$SRC/kms/kms.example.json" "$TMP/example.json" >&2 ||
  die "kms/kms.example.json differs from 'keygate kms config --example' (regenerate it)"
ok "kms/kms.example.json is 'keygate kms config --example'"

# a devnet's state as `keygate devnet up` records it (cli/devnet.h)
mkdir -p "$TMP/net"
jq -n --arg d "$TMP/net" '{version:1, rpc_url:"http://127.0.0.1:8545", chain_id:31337,
  kms_contract:"0x5FbDB2315678afecb367f032d93F642f64180aa3", pccs_url:"http://127.0.0.1:8081",
  sim_dir:($d+"/sim"), sim_root_ca:($d+"/sim/root_ca.pem"), kms_state_dir:($d+"/kms/state")}' >"$TMP/net/devnet.json"
chmod 600 "$TMP/net/devnet.json"
"$KG" kms config --state "$TMP/net" >"$TMP/a.json" || die "kms config --state"
jq -e --arg d "$TMP/net" '.state_dir==($d+"/kms/state") and .listen.port==0 and
  .policy.rpc_urls==["http://127.0.0.1:8545","http://localhost:8545"] and .policy.quorum==2 and
  .policy.kms_contract=="0x5FbDB2315678afecb367f032d93F642f64180aa3" and .policy.chain_id==31337 and
  .pccs_url=="http://127.0.0.1:8081" and .trust_root.kind=="sim" and .tee.sim_vm=="kms" and
  (has("admin_listen")|not)' "$TMP/a.json" >/dev/null || die "devnet config: $(cat "$TMP/a.json")"
ok "--state: the devnet's chain (two routes, quorum 2), KMS contract, PCCS and simulated platform"

"$KG" kms config --state "$TMP/net" --kms-state "$TMP/k2" --port 8012 --sim-vm kms2 \
  --kms-contract 0x1111111111111111111111111111111111111111 --rpc-url https://rpc.example.com \
  --admin-listen 127.0.0.1:9112 --log-format json --out "$TMP/k2.json" 2>"$TMP/err" || die "kms config with options: $(cat "$TMP/err")"
[ "$(stat -c %a "$TMP/k2.json")" = 600 ] || die "--out file is not mode 0600"
jq -e --arg d "$TMP/k2" '.state_dir==$d and .listen.port==8012 and .tee.sim_vm=="kms2" and
  .policy.rpc_urls==["https://rpc.example.com"] and .policy.quorum==1 and
  .policy.kms_contract=="0x1111111111111111111111111111111111111111" and
  .admin_listen=="127.0.0.1:9112" and .log_format=="json"' "$TMP/k2.json" >/dev/null || die "options not applied: $(cat "$TMP/k2.json")"
ok "--kms-state, --port, --sim-vm, --kms-contract, --rpc-url, --admin-listen, --log-format applied; --out is 0600"

# usage errors: exit 2, a message naming the value, no file
for bad in "--port 70000" "--kms-contract 0x12" "--admin-listen nowhere" "--sim-vm a/b" "--log-format xml" \
           "--rpc-url http://10.0.0.1:8545"; do
  set +e; "$KG" kms config --state "$TMP/net" $bad --out "$TMP/bad.json" 2>"$TMP/err"; RC=$?; set -e
  [ "$RC" = 2 ] && [ ! -e "$TMP/bad.json" ] && [ -s "$TMP/err" ] || die "kms config $bad: rc=$RC $(cat "$TMP/err")"
done
grep -q "plain http to another host" "$TMP/err" || die "remote http chain node: $(cat "$TMP/err")"
for args in "" "--example --state $TMP/net" "--example --port 1"; do
  set +e; "$KG" kms config $args >/dev/null 2>"$TMP/err"; RC=$?; set -e
  [ "$RC" = 2 ] && grep -q "give --state DIR" "$TMP/err" || die "kms config $args: rc=$RC $(cat "$TMP/err")"
done
set +e; "$KG" kms config --state "$TMP/none" >/dev/null 2>"$TMP/err"; RC=$?; set -e
[ "$RC" = 1 ] && grep -q "devnet up" "$TMP/err" || die "kms config without a devnet: rc=$RC $(cat "$TMP/err")"
ok "bad values exit 2 with the KMS parser's message and write nothing; no devnet: exit 1 with a hint"
echo "kms_config_cli_test: $PASS checks passed"
