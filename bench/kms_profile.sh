#!/usr/bin/env bash
# kms_profile.sh - where a key release's instructions go: runs `keygate-bench kms --callgrind` (the
# KMS under valgrind's callgrind, one dump per thread of the load only) and prints a Markdown table
# of inclusive instructions per release by component, as kms/README.md shows it.
# Usage: bench/kms_profile.sh BUILD_DIR [CLIENTS (4)] [SECONDS (20)] [keygate-bench kms options...]
# (e.g. --scale: the KMS grown to 10,000 apps, 1,000 compose hashes, a 1,000,000-entry log)
# Instruction counts do not depend on the machine's load (CPU time does), so runs compare.
set -euo pipefail
BUILD="$(cd "$1" && pwd)"
CLIENTS="${2:-4}"
SECONDS_="${3:-20}"
shift $(($# < 3 ? $# : 3))
command -v callgrind_annotate >/dev/null || { echo "kms_profile: valgrind is not installed" >&2; exit 1; }
DIR="$(mktemp -d /tmp/kg-kms-profile.XXXXXX)"
trap 'rm -rf "$DIR"' EXIT
LINE="$("$BUILD/bin/keygate-bench" kms --callgrind "$DIR" --clients "$CLIENTS" --duration "$SECONDS_" "$@")"
echo "$LINE" >&2
RELEASES="$(jq -r .releases <<<"$LINE")"

# Inclusive Ir of every function, summed over the thread dumps of the load (part 1).
for f in "$DIR"/kms.callgrind.1-*; do
  callgrind_annotate --inclusive=yes --threshold=100 "$f" 2>/dev/null
done | awk '
  /=>|<=/ { next }
  # each function once: the line naming its object file (callgrind_annotate may add a second,
  # by source path)
  /^ *[0-9,]+ \(.* \[[^]]*\]$/ {
    ir = $1; gsub(",", "", ir)
    name = $0; sub(/^ *[0-9,]+ \( *[0-9.]+%\) +/, "", name); sub(/ \[.*$/, "", name)
    sub(/^.*:/, "", name)
    sum[name] += ir
  }
  /PROGRAM TOTALS/ { ir = $1; gsub(",", "", ir); total += ir }
  END {
    for (n in sum) printf "%s %.0f\n", n, sum[n]
    printf "TOTAL %.0f\n", total
  }' >"$DIR/inclusive.txt"
# The checkpoint signer thread runs every 100 ms whatever the load: not part of a release.
SIGNER=0
for f in "$DIR"/kms.callgrind.1-*; do
  grep -q signer_main "$f" && SIGNER=$((SIGNER + $(sed -n 's/^totals: //p' "$f")))
done

ir() { awk -v n="$1" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }' "$DIR/inclusive.txt"; }
TOTAL=$(($(ir TOTAL) - SIGNER))
row() { # label, instructions
  awk -v l="$1" -v v="$2" -v r="$RELEASES" -v t="$TOTAL" \
    'BEGIN { printf "| %s | %.0f | %.1f%% |\n", l, v / r, 100 * v / t }'
}
HANDSHAKE=$(ir SSL_do_handshake)
# The certificate's own fields: extensions, self-signature (and a DER decode when the caller
# had no decoded certificate: kg_ratls_parse_cert wraps kg_ratls_parse_x509).
DECODE=$(ir kg_ratls_parse_cert)
X509ONLY=$(ir kg_ratls_parse_x509)
[ "$X509ONLY" -le "$DECODE" ] || DECODE=$X509ONLY
FIELDS=$(ir kg_ratls_parse_x509_fields) # a handshake's certificate: no self-signature check
[ "$FIELDS" -le "$DECODE" ] || DECODE=$FIELDS
# RA-TLS verifies the quote it parsed for the binding check (kg_dcap_verify_parsed); callers
# holding only bytes go through kg_dcap_verify, which wraps it.
QUOTE=$(ir kg_dcap_verify_parsed)
[ "$(ir kg_dcap_verify)" -le "$QUOTE" ] || QUOTE=$(ir kg_dcap_verify)
EVLOG=$(($(ir kg_eventlog_parse) + $(ir kg_eventlog_replay)))
POLICY=$(ir kms_policy_ask)
DERIVE=$(ir kg_kdf_app_keys)
KNOWN=$(ir kg_kdf_app_keys_known) # what kg_kdf_app_keys wraps; the KMS calls it directly
[ "$KNOWN" -le "$DERIVE" ] || DERIVE=$KNOWN
RECORD=$(ir kg_kms_record_release)
echo "| component (inclusive) | instructions per release | share |"
echo "|---|--:|--:|"
row "TLS 1.3 handshake (SSL_do_handshake)" "$HANDSHAKE"
row "client certificate: extensions, self-signature if checked (kg_ratls_parse_x509)" "$DECODE"
row "quote verification, warm (kg_dcap_verify_parsed)" "$QUOTE"
row "event log parse and replay" "$EVLOG"
row "governance policy (kms_policy_ask)" "$POLICY"
row "key derivation (kg_kdf_app_keys_known)" "$DERIVE"
row "decision record: log append and commit" "$RECORD"
row "everything else (accept, HTTP, JSON, allocation)" \
  "$((TOTAL - HANDSHAKE - DECODE - QUOTE - EVLOG - POLICY - DERIVE - RECORD))"
row "**total**" "$TOTAL"
echo
echo "$RELEASES releases; the log's checkpoint signer (every 100 ms, not per release): $(jq -r .log_signer_instructions_per_s <<<"$LINE") instructions/s"
