#!/usr/bin/env bash
# quote_cli_test.sh - `keygate quote verify|parse` end to end on the real vectors: the JSON
# fields, exit codes (0 verified, 1 not verified, 2 usage), binary and hex input, --at, --root-ca.
set -euo pipefail
keygate=$1
vec=$2/dcap
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() { local want=$1; shift; set +e; "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?; set -e
  [ "$rc" = "$want" ] || { cat "$tmp/out" "$tmp/err" >&2; fail "exit $rc, want $want: $*"; }; }
field() { jq -r "$1" "$tmp/out"; }
AT=1751328000

expect_rc 0 "$keygate" quote verify "$vec/tdx_quote" --collateral "$vec/tdx_quote_collateral.json" --at $AT
[ "$(field .verified)" = true ] || fail "tdx verified"
[ "$(field .tee)" = tdx ] && [ "$(field .quote_version)" = 4 ] || fail "tdx tee/version"
[ "$(field .status)" = UpToDate ] && [ "$(field '.advisory_ids|length')" = 0 ] || fail "tdx status"
[ "$(field .fmspc)" = b0c06f000000 ] || fail "tdx fmspc"
# report_data is the 64 bytes at quote offset 568 (docs/protocol.md section 4); mrtd at 184
[ "$(field .report_data)" = "$(xxd -p -s 568 -l 64 "$vec/tdx_quote" | tr -d '\n')" ] || fail "report_data"
[ "$(field .mrtd)" = "$(xxd -p -s 184 -l 48 "$vec/tdx_quote" | tr -d '\n')" ] || fail "mrtd"
for k in rtmr0 rtmr1 rtmr2 rtmr3 td_attributes xfam mr_config_id mr_owner mr_owner_config ppid device_id; do
  [ "$(field ".$k")" != null ] || fail "missing $k"
done
# device_id = SHA-256(PPID) (docs/protocol.md section 2)
[ "$(field .device_id)" = "$(field .ppid | xxd -r -p | sha256sum | cut -d' ' -f1)" ] || fail "device_id"

expect_rc 0 "$keygate" quote verify "$vec/sgx_quote" --collateral "$vec/sgx_quote_collateral.json" --at $AT
[ "$(field .status)" = ConfigurationAndSWHardeningNeeded ] || fail "sgx status"
[ "$(jq -c .advisory_ids "$tmp/out")" = '["INTEL-SA-00289","INTEL-SA-00615"]' ] || fail "sgx advisories"

# the same quote as hex text
xxd -p "$vec/tdx_quote" > "$tmp/q.hex"
expect_rc 0 "$keygate" quote verify "$tmp/q.hex" --collateral "$vec/tdx_quote_collateral.json" --at $AT

# failures: JSON with the cause, exit 1
expect_rc 1 "$keygate" quote verify "$vec/tdx_quote" --collateral "$vec/tdx_quote_collateral.json" --at $((AT + 30*86400))
[ "$(field .verified)" = false ] && field .error | grep -q "expired" || fail "expired message"
[ "$(field .kind)" = expired ] || fail "expired kind"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other -days 1 \
  -keyout "$tmp/k.pem" -out "$tmp/root.pem" 2>/dev/null
expect_rc 1 "$keygate" quote verify "$vec/tdx_quote" --collateral "$vec/tdx_quote_collateral.json" --at $AT --root-ca "$tmp/root.pem"
field .error | grep -q "root_ca_crl: issued by 'Intel SGX Root CA', expected 'other'" || fail "wrong root message"
head -c 1000 "$vec/tdx_quote" > "$tmp/cut"
expect_rc 1 "$keygate" quote verify "$tmp/cut" --collateral "$vec/tdx_quote_collateral.json" --at $AT
field .error | grep -q "truncated" || fail "truncated message"

# usage errors: exit 2
expect_rc 2 "$keygate" quote verify "$vec/tdx_quote"
expect_rc 2 "$keygate" quote verify "$vec/tdx_quote" --collateral x --pccs http://127.0.0.1:9
expect_rc 2 "$keygate" quote verify "$vec/tdx_quote" --collateral x --at yesterday
expect_rc 2 "$keygate" quote frobnicate
expect_rc 2 "$keygate" quote parse

# parse without verifying
expect_rc 0 "$keygate" quote parse "$vec/quote-from-tappd.hex"
[ "$(field .parsed)" = true ] && [ "$(field .quote_version)" = 4 ] || fail "parse"
[ "$(field .report_data)" = "$(tr -d '\n' < "$vec/quote-from-tappd.hex" | cut -c $((568*2+1))-$((632*2)))" ] || fail "parse report_data"
expect_rc 1 "$keygate" quote parse "$tmp/cut"
[ "$(field .parsed)" = false ] || fail "parse failure json"
echo "quote_cli_test: ok"
