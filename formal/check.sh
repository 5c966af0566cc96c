#!/usr/bin/env bash
# check.sh - model-checks formal/keygate.pml with SPIN (docs/formal.md).
#   Every property on the correct model must hold (no errors); every seeded flaw (a MUTANT_*
#   define) must make its targeted property fail; the configuration rows must come out as
#   stated. Prints a table (property / variant, result, states, time) and
#   exits 1 on any unexpected result, 77 when spin is not installed (CTest: skipped).
#   FORMAL_WORK=DIR keeps the generated verifiers there (default: a temporary directory).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
model="$here/keygate.pml"

if ! command -v spin >/dev/null 2>&1; then
  echo "check.sh: spin is not installed (Debian package 'spin'; scripts/setup installs it): skipped"
  exit 77
fi
CC="${CC:-gcc}"
command -v "$CC" >/dev/null 2>&1 || { echo "check.sh: no C compiler ($CC): skipped"; exit 77; }

work="${FORMAL_WORK:-}"
if [ -z "$work" ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"

# rows: kind | property | expected (pass|FAIL) | defines
# kind: model (the correct model), witness (a release does happen: the properties are not
# vacuous), config (another policy setting), mutant (a seeded flaw).
rows=(
  "model|p1|pass|-DSCENARIO_APP"
  "model|p2|pass|-DSCENARIO_ROOT"
  "model|p3|pass|-DSCENARIO_APP"
  "model|p3|pass|-DSCENARIO_ROOT"
  "model|p4|pass|-DSCENARIO_APP"
  "model|p5|pass|-DSCENARIO_APP"
  "witness|w_app|FAIL|-DSCENARIO_APP"
  "witness|w_root|FAIL|-DSCENARIO_ROOT"
  "witness|w_run|FAIL|-DSCENARIO_APP"
  "config|p1|pass|-DSCENARIO_APP -DNODES=3 -DQUORUM=2"
  "config|p2|pass|-DSCENARIO_ROOT -DNODES=3 -DQUORUM=2"
  "config|p4|pass|-DSCENARIO_APP -DMAXAGE=1"
  "config|p1|pass|-DSCENARIO_APP -DVM_ROUNDS=2"
  "config|p1|FAIL|-DSCENARIO_APP -DNODES=2 -DQUORUM=1"
  "mutant|p1|FAIL|-DSCENARIO_APP -DMUTANT_SKIP_QUORUM"
  "mutant|p2|FAIL|-DSCENARIO_ROOT -DMUTANT_SKIP_QUORUM"
  "mutant|p3|FAIL|-DSCENARIO_APP -DMUTANT_RELEASE_BEFORE_RECORD"
  "mutant|p3|FAIL|-DSCENARIO_APP -DMUTANT_IGNORE_RECORD_FAILURE"
  "mutant|p1|FAIL|-DSCENARIO_APP -DMUTANT_ACCEPT_UNTYPED_EVENTS"
  "mutant|p1|FAIL|-DSCENARIO_APP -DMUTANT_LAX_EVENT_ORDER"
  "mutant|p1|FAIL|-DSCENARIO_APP -DMUTANT_SKIP_BINDING"
  "mutant|p2|FAIL|-DSCENARIO_ROOT -DMUTANT_SKIP_BINDING"
  "mutant|p1|FAIL|-DSCENARIO_APP -DMUTANT_SKIP_DCAP"
  "mutant|p2|FAIL|-DSCENARIO_ROOT -DMUTANT_NO_KMS_IDENTITY"
  "mutant|p1|FAIL|-DSCENARIO_APP -DMUTANT_SKIP_STANDING"
  "mutant|p4|FAIL|-DSCENARIO_APP -DMUTANT_STALE_BLOCK"
  "mutant|p5|FAIL|-DSCENARIO_APP -DMUTANT_AGENT_TRUSTS_ANY_SERVER"
  "mutant|p2|FAIL|-DSCENARIO_ROOT -DMUTANT_PLAINTEXT_ROOT_KEYS"
)

# A mutant differs from the model by its define only, so its failure is its flaw's.
printf '%-7s %-6s %-52s %-8s %-6s %12s %8s\n' kind prop variant expected result states search
printf '%s\n' "$(printf '%.0s-' {1..110})"
bad=0
total_start=$(date +%s.%N)
for row in "${rows[@]}"; do
  IFS='|' read -r kind prop expect defs <<<"$row"
  # A row expected to pass searches everything: optimise. One expected to fail stops at its
  # first counterexample: compile fast. A binary already built with -O2 serves either.
  key="$(printf '%s' "$defs" | tr -c 'A-Za-z0-9=' '_')"
  opt="-O0"
  [ "$expect" = pass ] && opt="-O2"
  [ -x "$work/$key-O2/pan" ] && opt="-O2"
  dir="$work/$key$opt"
  if [ ! -x "$dir/pan" ]; then
    mkdir -p "$dir"
    # shellcheck disable=SC2086
    (cd "$dir" && spin $defs -a "$model" >spin.log 2>&1 &&
       "$CC" $opt -w -o pan pan.c >cc.log 2>&1) || {
      echo "check.sh: could not build the verifier for '$defs' (see $dir)"; cat "$dir"/*.log; exit 1; }
  fi
  t0=$(date +%s.%N)
  out="$(cd "$dir" && ./pan -a -N "$prop" -m100000 2>&1)" || true
  t1=$(date +%s.%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  errors=$(printf '%s\n' "$out" | sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' | tail -1)
  states=$(printf '%s\n' "$out" | awk '/states, stored/ { print $1; exit }')
  if [ -z "$errors" ]; then
    result="ERROR"
  elif [ "$errors" = 0 ]; then
    result="pass"
  else
    result="FAIL"
  fi
  if printf '%s\n' "$out" | grep -q "search not completed\|max search depth too small"; then
    result="INCOMPLETE"
  fi
  mark=""
  if [ "$result" != "$expect" ]; then
    mark="  <-- unexpected"
    bad=1
    printf '%s\n' "$out" | tail -20 >&2
  fi
  variant="${defs//-D/}"
  printf '%-7s %-6s %-52s %-8s %-6s %12s %7ss%s\n' "$kind" "$prop" "$variant" "$expect" "$result" \
    "${states:-?}" "$secs" "$mark"
done
total_end=$(date +%s.%N)
printf '%s\n' "$(printf '%.0s-' {1..110})"
awk -v a="$total_start" -v b="$total_end" 'BEGIN { printf "total %.1f s (searches and builds)\n", b - a }'
if [ "$bad" -ne 0 ]; then
  echo "check.sh: unexpected results (marked above)"
  exit 1
fi
echo "check.sh: every property holds on the model; every seeded flaw is caught"
