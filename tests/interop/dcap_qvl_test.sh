#!/usr/bin/env bash
# dcap_qvl_test.sh - keygate's DCAP verifier agrees with the npm peers @phala/dcap-qvl (JS) and
# @phala/dcap-qvl-web (Rust/WASM) on the shared vectors: same verdict, TCB status and advisory
# ids when valid; all reject expired, premature and corrupted inputs; and the JS peer accepts the
# simulator's quotes under the simulator root exactly as keygate does.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
vec=$here/../vectors/dcap
keygate=$build/bin/keygate
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v node >/dev/null || { echo "node missing"; exit 77; }
[ -d "${NODE_PATH:-}/@phala/dcap-qvl" ] || { echo "tools not installed (scripts/setup)"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
pass=0

# compare NAME QUOTE COLLATERAL TIME EXPECT(ok|fail) [ROOT_DER ROOT_FOR_KEYGATE]
compare() {
  local name=$1 quote=$2 coll=$3 t=$4 expect=$5 root_der=${6:-} root_kg=${7:-}
  local kg_args=()
  [ -n "$root_kg" ] && kg_args=(--root-ca "$root_kg")
  set +e
  "$keygate" quote verify "$quote" --collateral "$coll" --at "$t" "${kg_args[@]}" >"$tmp/kg.json" 2>/dev/null
  local rc=$?
  set -e
  node "$here/dcap_peers.mjs" "$quote" "$coll" "$t" $root_der >"$tmp/peers.json"
  local kg_ok; kg_ok=$(jq -r .verified "$tmp/kg.json")
  if ! { [ "$kg_ok" = true ] && [ "$rc" = 0 ]; } && ! { [ "$kg_ok" = false ] && [ "$rc" = 1 ]; }; then
    fail "$name: keygate rc $rc with verified=$kg_ok"
  fi
  for peer in js wasm; do
    [ "$(jq -r ".$peer" "$tmp/peers.json")" = null ] && continue
    # keygate-strict: keygate refuses what a peer may let pass (noted, not a disagreement)
    if [ "$expect" = strict ]; then
      echo "   ($peer: $(jq -c ".$peer" "$tmp/peers.json"))"
      continue
    fi
    local p_ok; p_ok=$(jq -r ".$peer.ok" "$tmp/peers.json")
    [ "$p_ok" = "$kg_ok" ] || fail "$name: keygate verified=$kg_ok, $peer ok=$p_ok ($(cat "$tmp/kg.json" "$tmp/peers.json"))"
    if [ "$kg_ok" = true ]; then
      [ "$(jq -r .status "$tmp/kg.json")" = "$(jq -r ".$peer.status" "$tmp/peers.json")" ] \
        || fail "$name: status differs: $(cat "$tmp/kg.json" "$tmp/peers.json")"
      [ "$(jq -c '.advisory_ids|sort' "$tmp/kg.json")" = "$(jq -c ".$peer.advisory_ids|sort" "$tmp/peers.json")" ] \
        || fail "$name: advisory ids differ: $(cat "$tmp/kg.json" "$tmp/peers.json")"
    fi
  done
  [ "$kg_ok" = "$([ "$expect" = ok ] && echo true || echo false)" ] || fail "$name: expected $expect, got verified=$kg_ok: $(cat "$tmp/kg.json")"
  echo "ok - $name: verified=$kg_ok $(jq -r '.status // .error' "$tmp/kg.json")"
  pass=$((pass + 1))
}

AT=1751328000
compare "tdx vector" "$vec/tdx_quote" "$vec/tdx_quote_collateral.json" $AT ok
compare "sgx vector" "$vec/sgx_quote" "$vec/sgx_quote_collateral.json" $AT ok
compare "tdx expired collateral" "$vec/tdx_quote" "$vec/tdx_quote_collateral.json" $((AT + 60*86400)) fail
compare "sgx before issue" "$vec/sgx_quote" "$vec/sgx_quote_collateral.json" 1700000000 fail
compare "tdx swapped collateral" "$vec/tdx_quote" "$vec/sgx_quote_collateral.json" $AT fail

# corrupted quotes: report data, QE report, quote signature, PCK certificate body
for off in 600 1000 640 2003; do
  cp "$vec/tdx_quote" "$tmp/q"
  byte=$(od -An -tu1 -j "$off" -N1 "$tmp/q" | tr -d ' ')
  printf "$(printf '\\%03o' $(( byte ^ 1 )))" | dd of="$tmp/q" bs=1 seek="$off" conv=notrunc status=none
  compare "tdx quote byte $off flipped" "$tmp/q" "$vec/tdx_quote_collateral.json" $AT fail
done
# a character that is not base64 inside the PEM chain: keygate's strict PEM refuses it (the
# chain text is covered by no signature, so lenient parsers skip such bytes)
cp "$vec/tdx_quote" "$tmp/q"
printf '.' | dd of="$tmp/q" bs=1 seek=2000 conv=notrunc status=none
compare "tdx PEM chain with a stray character" "$tmp/q" "$vec/tdx_quote_collateral.json" $AT strict

# a tampered signed TCB info text
sed 's/UpToDate/OutOfDate/' "$vec/tdx_quote_collateral.json" > "$tmp/c.json"
compare "tdx tcb_info tampered" "$vec/tdx_quote" "$tmp/c.json" $AT fail

# the simulator's platform: its own root, accepted by keygate and the JS peer alike
"$keygate" sim init "$tmp/sim" >/dev/null 2>&1
"$keygate" sim quote --dir "$tmp/sim" --report-data "$(printf 'cd%.0s' $(seq 64))" > "$tmp/sim.hex"
xxd -r -p "$tmp/sim.hex" > "$tmp/sim.bin"
openssl x509 -in "$tmp/sim/root_ca.pem" -outform der -out "$tmp/sim_root.der"
now=$(( $(date +%s) + 60 ))
compare "simulated TDX quote, simulator root" "$tmp/sim.bin" "$tmp/sim/collateral.json" $now ok \
  "$tmp/sim_root.der" "$tmp/sim/root_ca.pem"
compare "simulated TDX quote, Intel root" "$tmp/sim.bin" "$tmp/sim/collateral.json" $now fail

echo "$pass passed, 0 failed"
