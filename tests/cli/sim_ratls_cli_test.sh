#!/usr/bin/env bash
# sim_ratls_cli_test.sh - `keygate sim` and `keygate ratls` end to end: a simulated platform's
# quotes verify under its root and not Intel's, key files are 0600, an RA-TLS certificate made
# from a simulated VM inspects to the measured identity, and the PCCS answers Intel's v4 API.
set -euo pipefail
keygate=$1
tmp=$(mktemp -d)
pccs_pid=
trap '[ -n "$pccs_pid" ] && kill "$pccs_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() { local want=$1; shift; set +e; "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?; set -e
  [ "$rc" = "$want" ] || { cat "$tmp/out" "$tmp/err" >&2; fail "exit $rc, want $want: $*"; }; }

p=$tmp/plat
"$keygate" sim init "$p" > "$tmp/info.json" 2>/dev/null
for k in root_ca platform_ca pck tcb_signing attestation; do
  [ "$(stat -c %a "$p/$k.key")" = 600 ] || fail "$k.key is not mode 0600"
done
expect_rc 2 "$keygate" sim init "$p"
grep -q "already holds a simulated platform" "$tmp/err" || fail "second init message"

# quotes: verified under the simulator root only
rd=$(printf 'ab%.0s' $(seq 64))
"$keygate" sim quote --dir "$p" --report-data "$rd" > "$tmp/q.hex"
expect_rc 0 "$keygate" quote verify "$tmp/q.hex" --collateral "$p/collateral.json" --root-ca "$p/root_ca.pem"
grep -q '"verified":true' "$tmp/out" || fail "sim quote did not verify"
grep -q "\"report_data\":\"$rd\"" "$tmp/out" || fail "report data not in quote"
expect_rc 1 "$keygate" quote verify "$tmp/q.hex" --collateral "$p/collateral.json"
expect_rc 2 "$keygate" sim quote --dir "$p" --report-data zz

# runtime events and the event log
app=1111111111111111111111111111111111111111
"$keygate" sim extend --dir "$p" --vm kms --event app-id --payload "$app"
"$keygate" sim eventlog --dir "$p" --vm kms > "$tmp/log.json"
grep -q "\"event\":\"app-id\",\"event_payload\":\"$app\"" "$tmp/log.json" || fail "event log"
expect_rc 1 "$keygate" sim extend --dir "$p" --vm kms --event "a:b"

# RA-TLS certificate from the VM, inspected against the simulator root
"$keygate" ratls new --tee "sim:$p:kms" --cert "$tmp/c.pem" --key "$tmp/k.pem" --usage kms:rpc --app-id "$app"
[ "$(stat -c %a "$tmp/k.pem")" = 600 ] || fail "RA-TLS key is not mode 0600"
expect_rc 0 "$keygate" ratls inspect "$tmp/c.pem" --collateral "$p/collateral.json" --root-ca "$p/root_ca.pem"
osh=$(sed -n 's/.*"os_image_hash":"\([0-9a-f]*\)".*/\1/p' "$tmp/info.json")
grep -q "\"os_image_hash\":\"$osh\"" "$tmp/out" || fail "os_image_hash differs from the profile"
grep -q "\"app_id\":\"$app\"" "$tmp/out" || fail "app id"
grep -q '"usage":"kms:rpc"' "$tmp/out" || fail "usage"
expect_rc 1 "$keygate" ratls inspect "$tmp/c.pem" --collateral "$p/collateral.json"
grep -q '"verified":false' "$tmp/out" || fail "Intel root must refuse"
expect_rc 1 "$keygate" ratls inspect "$tmp/c.pem" --collateral "$p/collateral.json" --root-ca "$p/root_ca.pem" --at $(( $(date +%s) + 40*86400 ))
grep -q '"kind":"expired"' "$tmp/out" || fail "expired collateral must be refused"
expect_rc 2 "$keygate" ratls inspect "$tmp/c.pem"

# the same VM's evidence as dstack's attestation extension .8 (V0 SCALE and V1 msgpack): no
# .1/.2, and it inspects to the same identity
for f in dstack dstack-msgpack; do
  "$keygate" ratls new --tee "sim:$p:kms" --cert "$tmp/c8-$f.pem" --key "$tmp/k8-$f.pem" --format "$f"
  openssl x509 -in "$tmp/c8-$f.pem" -noout -text > "$tmp/c8.txt"
  grep -q '1.3.6.1.4.1.62397.1.8:' "$tmp/c8.txt" || fail "--format $f: no .8 extension"
  ! grep -qE '1.3.6.1.4.1.62397.1.[12]:' "$tmp/c8.txt" || fail "--format $f: .1/.2 present"
  expect_rc 0 "$keygate" ratls inspect "$tmp/c8-$f.pem" --collateral "$p/collateral.json" --root-ca "$p/root_ca.pem"
  grep -q "\"os_image_hash\":\"$osh\"" "$tmp/out" && grep -q "\"app_id\":\"$app\"" "$tmp/out" ||
    fail "--format $f: identity differs: $(cat "$tmp/out")"
done
expect_rc 2 "$keygate" ratls new --tee "sim:$p:kms" --cert "$tmp/x.pem" --key "$tmp/x.key" --format v9
grep -q "RA-TLS format 'v9' is none of legacy, dstack, dstack-msgpack" "$tmp/err" || fail "--format v9 message"

# PCCS over Intel's v4 API
"$keygate" sim pccs --dir "$p" --listen 127.0.0.1:0 2> "$tmp/pccs.log" &
pccs_pid=$!
# up to 90 s (a loaded machine can be slow to start it), ending early if it exited
for _ in $(seq 1800); do grep -q "serving" "$tmp/pccs.log" 2>/dev/null && break; kill -0 "$pccs_pid" 2>/dev/null || break; sleep 0.05; done
port=$(sed -n 's/.*http:\/\/127.0.0.1:\([0-9]*\)\/.*/\1/p' "$tmp/pccs.log")
[ -n "$port" ] || fail "PCCS did not start: $(cat "$tmp/pccs.log")"
fmspc=$(sed -n 's/.*\\"fmspc\\":\\"\([0-9A-F]*\)\\".*/\1/p' "$p/collateral.json")
curl -sf -D "$tmp/h" "http://127.0.0.1:$port/tdx/certification/v4/tcb?fmspc=$fmspc" > "$tmp/tcb.json" || fail "tcb"
grep -qi '^TCB-Info-Issuer-Chain: -----BEGIN%20CERTIFICATE' "$tmp/h" || fail "tcb issuer chain header"
grep -q '^{"tcbInfo":{"id":"TDX","version":3' "$tmp/tcb.json" || fail "tcb body"
curl -sf "http://127.0.0.1:$port/sgx/certification/v4/rootcacrl" | grep -qE '^[0-9a-f]+$' || fail "rootcacrl"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/tdx/certification/v4/tcb?fmspc=000000000000")
[ "$code" = 404 ] || fail "unknown fmspc answered $code"
# the DCAP PCCS client and RA-TLS inspection fetch their collateral from it
expect_rc 0 "$keygate" quote verify "$tmp/q.hex" --pccs "http://127.0.0.1:$port" --root-ca "$p/root_ca.pem"
grep -q '"verified":true' "$tmp/out" || fail "quote verify --pccs"
expect_rc 0 "$keygate" ratls inspect "$tmp/c.pem" --pccs "http://127.0.0.1:$port" --root-ca "$p/root_ca.pem"
grep -q "\"app_id\":\"$app\"" "$tmp/out" || fail "ratls inspect --pccs"
echo "sim_ratls_cli_test: ok"
