#!/usr/bin/env bash
# chain_quorum_itest.sh - issue 14 item 4: the KMS trusts no single chain node and not its own
# disk, tried against real nodes. A devnet (its anvil, its KMS) plus:
#   - three JSON-RPC proxies in front of the devnet's anvil (lying_rpc.py), each switchable at
#     run time: honest, flip-call (approves), wrong-hash (another fork), frozen/stale, slow;
#   - a real `anvil --fork-url` fork on which governance was "changed" (a reorged fork);
#   - extra keygate-kms nodes made from copies of the devnet KMS's state dir and config (same
#     root keys, same measured identity in a fresh simulated VM, so governance allows them),
#     each with its own policy.rpc_urls / quorum / freshness;
# and GetAppKey driven by `keygate sim run` (exit 0: keys released; 1: refused, the KMS's
# reason on stderr). Cases (docs/design.md, "Trusting the chain"):
#   1. one liar (flip-call) among three, quorum 2 and quorum 3, asked for code governance does
#      not allow: 403 "chain nodes disagree" in both, audited, counted; the liar cannot make an
#      allowed version fail to match either; a silent liar (down) with quorum 2: the honest
#      quorum decides;
#   2. a node on another fork (wrong-hash proxy; a real anvil fork that allowed v2): 403
#      "chain nodes disagree";
#   3. a slow node, quorum 2 of 3: decisions complete with the honest quorum, and /metrics show
#      one time-out per head resolution (the node sits out the later steps) and decisions that
#      arrive together sharing resolutions; with quorum 3 it is an outage (503 "chain view
#      unavailable");
#   4. a stuck node (frozen before a revocation): with quorum 2 the revocation holds; with
#      quorum 3 the decision block is the stuck node's, which max_block_age_s refuses (503
#      "chain view is stale"); a node whose view falls back further than reorg_allowance: 403
#      "chain went backwards";
#   5. identity continuity: an empty state_dir without --bootstrap is an error naming the path;
#      a state_dir holding another KMS's root keys: /health 503 "root keys differ from the KMS
#      info on chain", releases refused; kmsInfo changed on chain while running: the next
#      self-check turns /health 503 (and the KMS whose keys are now published turns healthy);
#   6. plain http:// to a non-loopback chain node: the KMS refuses to start (config error).
# Every case is asserted and the test goes on to the next one; it fails at the end if any did
# not hold. Figures (boot wall time with 1 and 3 nodes) are printed.
# Usage: chain_quorum_itest.sh BUILD_DIR
set -euo pipefail
BUILD="$(cd "${1:?usage: chain_quorum_itest.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KG="$BUILD/bin/keygate"
KMSBIN="$BUILD/bin/keygate-kms"
ANVIL="$SRC/tools/node_modules/.bin/anvil"
CAST="$SRC/tools/node_modules/.bin/cast"
LIAR="$SRC/tests/integration/lying_rpc.py"
[ -x "$ANVIL" ] && [ -x "$CAST" ] || { echo "SKIP: tools not installed (scripts/setup)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }
CLIENT="$BUILD/tests/kms-itest-client"
for tool in "$KG" "$KMSBIN" "$CLIENT"; do
  [ -x "$tool" ] || { echo "chain_quorum_itest: missing $tool (make build)" >&2; exit 1; }
done

. "$SRC/tests/support/devnet.sh"
kg_devnet_begin quorum
STATE="$TMP"
W="$STATE/q"
mkdir -p "$W"
PASS=0
FAILED=()
T0=$(date +%s)
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
fail() { FAILED+=("$*"); echo "not ok - $*"; }
die() {
  echo "not ok - $*" >&2
  for f in "$STATE"/logs/kms.log "$W"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done
  exit 1
}
ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- the devnet and an app ------------------------------------------------------------------------
kg_devnet_up
DN="$STATE/devnet.json"
RPC="$(jq -r .rpc_url "$DN")"
KMS_CONFIG="$(jq -r .kms_config "$DN")"
KMS_STATE="$(jq -r .kms_state_dir "$DN")"
KMS_CA="$(jq -r .kms_ca_cert "$DN")"
K256="$(jq -r .k256_pubkey "$DN")"
KMSC="$(jq -r .kms_contract "$DN")"
DEPLOYER_KEY="$(jq -r .private_key "$DN")"
[ -f "$KMS_CONFIG" ] && [ -f "$KMS_STATE/root-keys.sealed" ] && [ "${#K256}" = 66 ] || die "devnet.json lacks kms_config/kms_state_dir/k256_pubkey"
printf '{"manifest_version":2,"name":"quorum","runner":"docker-compose","docker_compose_file":"services: {}"}' >"$W/v1.json"
printf '{"manifest_version":2,"name":"quorum","runner":"docker-compose","docker_compose_file":"services: {v: 2}"}' >"$W/v2.json"
"$KG" app deploy --state "$STATE" --tcb up-to-date --compose "$W/v1.json" >"$W/deploy.json" || die "app deploy"
APP="$(jq -r .app_id "$W/deploy.json")"
H1="$(jq -r .compose_hash "$W/deploy.json")"
APP_HEX="$(echo "$APP" | sed 's/^0x//' | tr 'A-F' 'a-f')"
SIM="$(jq -r .sim_dir "$DN")"
H2="$("$KG" app compose-hash "$W/v2.json")"
[ "${#H2}" = 64 ] || die "compose-hash v2: '$H2'"
cast_rpc() { "$CAST" rpc --rpc-url "${2:-$RPC}" "$1" >/dev/null || die "cast rpc $1"; }
head_number() { "$CAST" block-number --rpc-url "${1:-$RPC}"; }
block_ts() { printf '%d' "$("$CAST" rpc --rpc-url "$RPC" eth_getBlockByNumber "$(printf '0x%x' "$1")" false | jq -r .timestamp)"; }
# mine: a new block, so that every case is decided afresh (the KMS caches answers per block)
mine() { cast_rpc evm_mine; }
FROZEN_AT="$(head_number)" # the block the "stuck node" of case 4 will never get past
ok "devnet up; app $APP registered with v1 ($(echo "$H1" | cut -c1-12)...) allowed, v2 ($(echo "$H2" | cut -c1-12)...) not; head $FROZEN_AT"

# ---- three lying-capable proxies in front of the devnet's anvil ---------------------------------
SEL_APP="$("$CAST" sig 'isAppAllowed((address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,string[]))')"
SEL_KMS="$("$CAST" sig 'isKmsAllowed((address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,string[]))')"
declare -A PURL
start_proxy() { # start_proxy NAME UPSTREAM
  local n="$1" up="$2"
  rm -f "$W/$n.port"
  : >"$W/$n.mode"
  python3 "$LIAR" --upstream "$up" --port-file "$W/$n.port" --mode-file "$W/$n.mode" \
    --flip-selector "$SEL_APP" --flip-selector "$SEL_KMS" --log "$W/$n.requests" 2>"$W/$n.log" &
  PIDS+=("$!")
  kg_wait_file "$W/$n.port" "$!" "proxy $n"
  PURL[$n]="http://127.0.0.1:$(cat "$W/$n.port")"
}
mode() { echo "${*:2}" >"$W/$1.mode"; } # mode PROXY MODE [ARG]
start_proxy p1 "$RPC"
start_proxy p2 "$RPC"
start_proxy p3 "$RPC"
[ "$("$CAST" chain-id --rpc-url "${PURL[p3]}")" = 31337 ] || die "proxy p3 does not forward"
ok "three JSON-RPC proxies in front of the devnet's anvil: ${PURL[p1]} ${PURL[p2]} ${PURL[p3]}"

# ---- extra KMS nodes: the devnet KMS's keys and config, their own state dir, VM and chain view ---
declare -A KPORT KPID KDIR
# A node is made with kg_kms_node_config "$W/NAME" FILTER (its chain view) and kg_kms_node_keys
# "$W/NAME" (devnet.sh).
start_kms() { # start_kms NAME: KPORT[NAME], KPID[NAME]; startup time in START_MS
  local t
  t=$(ms)
  kg_kms_start "$W/$1/kms.json" "$W/$1/port" "$W/$1.log"
  START_MS=$(($(ms) - t))
  KPID[$1]=$NODE_PID
  KPORT[$1]=$NODE_PORT
  KDIR[$1]="$W/$1/state"
}
urls() { local out="" u; for u in "$@"; do out="$out\"${PURL[$u]}\","; done; echo "[${out%,}]"; }
P3URLS="$(urls p1 p2 p3)"
mine # a fresh head: the nodes with a freshness limit pass their start self-check
kg_kms_node_config "$W/k1" ".policy.rpc_urls = $(urls p1) | .policy.quorum = 1 | .policy.max_block_age_s = 0 | .policy.reorg_allowance = 2"
# k2 has workers for four decisions at once and room for two head resolutions in a request (case 3)
kg_kms_node_config "$W/k2" ".policy.rpc_urls = $P3URLS | .policy.quorum = 2 | .policy.max_block_age_s = 0 | .policy.timeout_ms = 2000 | .limits.workers = 8 | .limits.request_timeout_ms = 15000"
kg_kms_node_config "$W/k3" ".policy.rpc_urls = $P3URLS | .policy.quorum = 3 | .policy.max_block_age_s = 15 | .policy.timeout_ms = 2000"
kg_kms_node_config "$W/k4" ".policy.rpc_urls = $P3URLS | .policy.quorum = 3 | .policy.max_block_age_s = 0"
for n in k1 k2 k3 k4; do
  kg_kms_node_keys "$W/$n"
  start_kms "$n"
  curl -sk "https://127.0.0.1:${KPORT[$n]}/health" >"$W/$n.health" || true
  jq -e '.status == "ok"' "$W/$n.health" >/dev/null || die "KMS $n is not healthy at start: $(cat "$W/$n.health")"
done
ok "KMS nodes k1 (1 node), k2 (3 nodes, quorum 2), k3 (3 nodes, quorum 3, max_block_age_s 15), k4 (quorum 3, freshness off) start from copies of the devnet KMS and pass their self-check"

# The app: one call to the agent's API, then exit 0. With `-- true` the app can exit before the
# agent's API thread enters its event loop, and the agent's stop request (event_base_loopbreak,
# lib/agent/run.c) is then lost: `sim run` waits forever for that thread. A call answered means
# the loop runs, so the stop is seen. Whatever the call gives, the app exits 0.
APP_CMD='curl -s -m 10 --unix-socket "$DSTACK_SIMULATOR_ENDPOINT" -X POST -d "{}" http://dstack/Info >/dev/null 2>&1; exit 0'
# boot NODE COMPOSE [sim run options]: an app VM asks NODE for v1/v2's keys; RC, BOOT_MS, $W/boot.err
BOOTN=0
boot() {
  local n="$1" compose="$2" t
  shift 2
  BOOTN=$((BOOTN + 1))
  t=$(ms)
  set +e
  timeout -k 5 60 "$KG" sim run --state "$STATE" --app "$APP" --compose "$compose" --kms "https://127.0.0.1:${KPORT[$n]}" \
    --kms-ca "$KMS_CA" --kms-k256 "$K256" --disk-key-out "$W/disk.$BOOTN" "$@" -- sh -c "$APP_CMD" >"$W/boot.out" 2>"$W/boot.err"
  RC=$?
  set -e
  BOOT_MS=$(($(ms) - t))
  ERR="$(tr '\n' ' ' <"$W/boot.err" | cut -c1-400)"
  [ "$RC" != 124 ] && [ "$RC" != 137 ] || ERR="keygate sim run did not exit within 60 s (killed): $ERR"
}
# the KMS's reason in sim run's message "KMS GetAppKey at URL: REASON (HTTP NNN)"
reason_of() { grep -o 'KMS GetAppKey at https://[^ ]*: .*' "$1" | head -1 | sed 's/^KMS GetAppKey at [^ ]* //; s/ (HTTP [0-9]*)$//' | cut -c1-260; }
# the newest GetAppKey row of NODE's audit log
last_row() { "$KG" audit list --db "${KDIR[$1]}/audit.db" --json | jq -c '[.[] | select(.method == "GetAppKey")] | max_by(.id)'; }
# released NODE WHAT: the boot got keys and the KMS recorded a release
released() {
  local n="$1" what="$2" row
  if [ "$RC" != 0 ] || [ ! -s "$W/disk.$BOOTN" ]; then fail "$what: expected keys, got exit $RC: $ERR"; return 1; fi
  row="$(last_row "$n")"
  if ! echo "$row" | jq -e '.decision == "allow"' >/dev/null; then fail "$what: released but not audited as allow: $row"; return 1; fi
  ok "$what: keys released (${BOOT_MS} ms), audited at block $(echo "$row" | jq -r .block_number)"
}
# refused NODE STATUS REASON WHAT: exit 1, no key, HTTP STATUS with REASON (a substring), and the
# newest audit row of NODE is that denial
refused() {
  local n="$1" status="$2" reason="$3" what="$4" row
  if [ "$RC" = 0 ] || [ -e "$W/disk.$BOOTN" ]; then fail "$what: KEYS RELEASED (exit $RC) - expected HTTP $status '$reason'"; return 1; fi
  if [ "$RC" != 1 ] || ! grep -qF -- "$reason" "$W/boot.err" || ! grep -qF "(HTTP $status)" "$W/boot.err"; then
    fail "$what: expected HTTP $status '$reason', got exit $RC: $ERR"
    return 1
  fi
  row="$(last_row "$n")"
  if ! echo "$row" | jq -e --arg r "$reason" '.decision == "deny" and (.reason | contains($r))' >/dev/null; then
    fail "$what: refused but the audit log's newest row is not that denial: $row"
    return 1
  fi
  ok "$what: refused, HTTP $status: $(reason_of "$W/boot.err") [audited]"
}
# direct NODE COMPOSE_HASH: GetAppKey from a fresh app VM by the test client, which (unlike the
# agent) does not judge the KMS: what the KMS itself answers. RC, $W/direct.out, $W/direct.err
direct() {
  BOOTN=$((BOOTN + 1))
  set +e
  "$CLIENT" --kms "127.0.0.1:${KPORT[$1]}" --method GetAppKey --body '{"api_version":1}' --sim "$SIM" \
    --vm "direct-$BOOTN-$$" --app-id "$APP_HEX" --compose-hash "$2" >"$W/direct.out" 2>"$W/direct.err"
  RC=$?
  set -e
}
# direct_refused NODE STATUS REASON WHAT
direct_refused() {
  local n="$1" status="$2" reason="$3" what="$4" row
  if [ "$RC" = 0 ] || ! grep -qx "HTTP $status" "$W/direct.err" || ! jq -e --arg r "$reason" 'keys == ["error"] and (.error | contains($r))' "$W/direct.out" >/dev/null; then
    fail "$what: expected HTTP $status '$reason', got exit $RC $(cat "$W/direct.err" "$W/direct.out" | tr '\n' ' ' | cut -c1-300)"
    return 1
  fi
  row="$(last_row "$n")"
  if ! echo "$row" | jq -e --arg r "$reason" '.decision == "deny" and (.reason | contains($r))' >/dev/null; then
    fail "$what: refused but the audit log's newest row is not that denial: $row"
    return 1
  fi
  ok "$what: refused, HTTP $status: $(jq -r .error "$W/direct.out" | cut -c1-260) [audited]"
}
metric() { curl -sk "https://127.0.0.1:${KPORT[$1]}/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
disagreements() { curl -sk "https://127.0.0.1:${KPORT[$1]}/metrics" | awk '$1 == "keygate_kms_chain_disagreements_total" {print $2}'; }
health() { curl -sk -o "$W/health.json" -w '%{http_code}' "https://127.0.0.1:${KPORT[$1]}/health" || true; }

# ---- 0. honest baseline and figures: boot wall time with 1 node and with 3 ------------------------
declare -A LAT
for n in k1 k2 k3; do
  total=0
  for i in 1 2 3 4 5; do
    mine
    boot "$n" "$W/v1.json"
    [ "$RC" = 0 ] || die "baseline: $n did not release v1: $ERR"
    total=$((total + BOOT_MS))
  done
  LAT[$n]=$((total / 5))
done
# the KMS's own time per call (GetTempCaCert + GetAppKey per boot), from its /metrics histogram
declare -A KMS_MS
for n in k1 k2 k3; do
  KMS_MS[$n]="$(curl -sk "https://127.0.0.1:${KPORT[$n]}/metrics" | awk '$1 == "keygate_kms_rpc_duration_seconds_sum" {s = $2} $1 == "keygate_kms_rpc_duration_seconds_count" {c = $2} END {if (c > 0) printf "%.1f", 2000 * s / c}')"
done
ok "baseline, all nodes honest: v1 released by k1, k2 and k3; boot wall time (fresh block each, mean of 5) k1 (1 node) ${LAT[k1]} ms, k2 (3 nodes, q2) ${LAT[k2]} ms, k3 (3 nodes, q3) ${LAT[k3]} ms; KMS time per boot (its /metrics) ${KMS_MS[k1]} / ${KMS_MS[k2]} / ${KMS_MS[k3]} ms"
mine
boot k2 "$W/v2.json"
refused k2 403 "not allowed by governance: compose hash not allowed" "honest nodes, v2 (not allowed), quorum 2" || true

# ---- 1. one liar among three ----------------------------------------------------------------------
mode p3 flip-call
D0="$(disagreements k2)"
mine
boot k2 "$W/v2.json"
refused k2 403 "chain nodes disagree: " "liar p3 approves v2 (not allowed), quorum 2 of 3 (the two honest nodes agree on 'no')" || true
grep -q "flip-call: eth_call answer rewritten" "$W/p3.requests" || fail "the liar never rewrote an answer (case 1 proves nothing)"
mine
boot k3 "$W/v2.json"
refused k3 403 "chain nodes disagree: " "liar p3 approves v2 (not allowed), quorum 3 of 3" || true
D1="$(disagreements k2)"
if [ -n "$D1" ] && [ "$D1" -gt "${D0:-0}" ]; then ok "k2 counts it: keygate_kms_chain_disagreements_total $D0 -> $D1"
else fail "k2's keygate_kms_chain_disagreements_total did not grow ($D0 -> $D1)"; fi
# The liar saying "allowed" about the allowed v1 says what the honest nodes say, (true, ""):
# nothing to disagree about, and the release is the right answer.
mine
boot k2 "$W/v1.json"
released k2 "liar p3 approving v1, which governance does allow (same answer as the honest nodes), quorum 2" || true
# The liar saying "no" to v1: a disagreement again (fail closed; a liar can refuse, never release).
mode p3 deny-call
mine
boot k2 "$W/v1.json"
refused k2 403 "chain nodes disagree: " "liar p3 refusing v1 (allowed), quorum 2" || true
# The liar silent: the honest quorum decides, and says no to v2.
mode p3 down
mine
boot k2 "$W/v2.json"
refused k2 403 "not allowed by governance: compose hash not allowed" "liar p3 down, v2, quorum 2: the honest quorum decides" || true
mine
boot k3 "$W/v2.json"
refused k3 503 "chain view unavailable" "liar p3 down, v2, quorum 3: fewer than quorum answers" || true
mode p3 honest

# ---- 2. a node on another fork ---------------------------------------------------------------------
mode p3 wrong-hash
mine
boot k2 "$W/v1.json"
refused k2 403 "chain nodes disagree: " "p3 reports other block hashes (another fork), v1, quorum 2" || true
mine
boot k3 "$W/v1.json"
refused k3 403 "chain nodes disagree: " "p3 reports other block hashes (another fork), v1, quorum 3" || true
mode p3 honest
# A real fork: anvil --fork-url at the current head. k7 (p1, p2 and the fork, quorum 2) starts
# while the fork still agrees with the chain; then, on the fork only, the app's owner "allows" v2
# (a governance decision the real chain never made) and both grow to the same height.
REAL_RPC="$RPC"
kg_start_anvil "$ANVIL" "$W/fork-anvil.log" --fork-url "$RPC" # sets RPC to the fork's
PIDS+=("$ANVIL_PID")
RPC="$REAL_RPC"
FORK_RPC="http://127.0.0.1:$APORT"
[ "$("$CAST" chain-id --rpc-url "$FORK_RPC")" = 31337 ] || die "the fork is not chain 31337"
kg_kms_node_config "$W/k7" ".policy.rpc_urls = [\"${PURL[p1]}\", \"${PURL[p2]}\", \"$FORK_RPC\"] | .policy.quorum = 2 | .policy.max_block_age_s = 0"
kg_kms_node_keys "$W/k7"
start_kms k7
[ "$(health k7)" = 200 ] || die "k7 (the fork still agreeing) is not healthy at start: $(cat "$W/health.json")"
"$CAST" send --rpc-url "$FORK_RPC" --private-key "$DEPLOYER_KEY" --json "$APP" "addComposeHash(bytes32)" "0x$H2" \
  >"$W/fork-allow.json" 2>"$W/fork-allow.err" || die "allowing v2 on the fork: $(cat "$W/fork-allow.err")"
while [ "$(head_number)" -lt "$(head_number "$FORK_RPC")" ]; do mine; done
while [ "$(head_number "$FORK_RPC")" -lt "$(head_number)" ]; do cast_rpc evm_mine "$FORK_RPC"; done
[ "$(head_number)" = "$(head_number "$FORK_RPC")" ] || die "the fork and the chain are not at the same height"
boot k7 "$W/v2.json"
refused k7 403 "chain nodes disagree: " "a real anvil fork where v2 was allowed, at the chain's height $(head_number), v2, quorum 2 of 3" || true
mine
cast_rpc evm_mine "$FORK_RPC"
boot k7 "$W/v1.json"
refused k7 403 "chain nodes disagree: " "the same fork one block later, v1 (allowed on both), quorum 2 of 3" || true
kill "$ANVIL_PID" "${KPID[k7]}" 2>/dev/null || true

# ---- 3. a slow node ---------------------------------------------------------------------------------
# Counted, not timed: the KMS's /metrics count decision blocks resolved (head resolutions) and
# chain node requests not answered (errors: here each one a policy.timeout_ms time-out). A node
# that did not answer a resolution's heads sits out the later steps of the decisions using it
# (kms/chain.c), so a stalled node costs each resolution exactly one time-out, however many
# steps and decisions use it, and decisions that arrive together share resolutions.
TIMEOUT_MS="$(jq -r .policy.timeout_ms "$W/k2/kms.json")"
mode p3 slow 10
mine
R0="$(metric k2 keygate_kms_head_resolutions_total)"
E0="$(metric k2 keygate_kms_chain_node_errors_total)"
boot k2 "$W/v1.json"
SLOW_MS=$BOOT_MS
released k2 "p3 answers after 10 s, v1, quorum 2 of 3 (policy.timeout_ms $TIMEOUT_MS)" || true
R=$(($(metric k2 keygate_kms_head_resolutions_total) - R0))
E=$(($(metric k2 keygate_kms_chain_node_errors_total) - E0))
if [ "$RC" = 0 ] && [ "$R" -ge 1 ] && [ "$E" = "$R" ]; then
  ok "one slow node, one boot: $R head resolution(s), $E chain node time-out(s), one per resolution (p3 sat out every later step)"
else
  fail "one slow node, one boot (exit $RC): $R head resolution(s) but $E chain node errors; expected one time-out per resolution"
fi
# Decisions that arrive together while the slow node stalls a resolution share the next one: a
# decision waits out the resolution in flight and joins the one after it (one for all), so four
# decisions cost at most two resolutions (plus any self-check's), each one time-out.
mine
R0="$(metric k2 keygate_kms_head_resolutions_total)"
E0="$(metric k2 keygate_kms_chain_node_errors_total)"
S0="$(metric k2 keygate_kms_self_checks_total)"
PIDS_D=()
for i in 1 2 3 4; do
  "$CLIENT" --kms "127.0.0.1:${KPORT[k2]}" --method GetAppKey --body '{"api_version":1}' --sim "$SIM" \
    --vm "together-$i-$$" --app-id "$APP_HEX" --compose-hash "$H1" >"$W/together.$i.out" 2>"$W/together.$i.err" &
  PIDS_D+=("$!")
done
GOT=0
for p in "${PIDS_D[@]}"; do wait "$p" && GOT=$((GOT + 1)); done
R=$(($(metric k2 keygate_kms_head_resolutions_total) - R0))
E=$(($(metric k2 keygate_kms_chain_node_errors_total) - E0))
S=$(($(metric k2 keygate_kms_self_checks_total) - S0))
if [ "$GOT" = 4 ] && [ "$R" -ge 1 ] && [ "$R" -le $((2 + S)) ] && [ "$E" = "$R" ]; then
  ok "four decisions together with p3 stalled: all released, $R head resolution(s) ($S self-check(s) meanwhile), $E time-out(s)"
else
  fail "four decisions together with p3 stalled: $GOT of 4 released, $R head resolutions (at most 2 + $S self-checks), $E chain node errors (expected $R): $(cat "$W"/together.*.err | tr '\n' ' ' | cut -c1-300)"
fi
mine
boot k3 "$W/v1.json"
refused k3 503 "chain view unavailable" "p3 slow, quorum 3 of 3: fewer than quorum answers in time (${BOOT_MS} ms)" || true
# Informational: a KMS with quorum 2 of 3 started while one node is down.
mode p3 down
kg_kms_node_config "$W/k9" ".policy.rpc_urls = $P3URLS | .policy.quorum = 2 | .policy.max_block_age_s = 0 | .policy.timeout_ms = 2000"
kg_kms_node_keys "$W/k9"
"$KMSBIN" --config "$W/k9/kms.json" --port-file "$W/k9/port" 2>"$W/k9.log" &
K9=$!
PIDS+=("$K9")
for ((i = 0; i < 100; i++)); do [ -s "$W/k9/port" ] || ! kill -0 "$K9" 2>/dev/null && break; sleep 0.1; done
if [ -s "$W/k9/port" ]; then
  echo "# note: a KMS with quorum 2 of 3 starts while one of its nodes is down"
else
  echo "# note: a KMS with quorum 2 of 3 does not start while one of its nodes is down: $(tail -1 "$W/k9.log" | cut -c1-200)"
fi
kill "$K9" 2>/dev/null || true
mode p3 honest

# ---- 4. a stuck node, a revocation, and a view that falls back -------------------------------------
# p3 is stuck at FROZEN_AT (before everything above); k3 refuses decisions at blocks older than
# 15 s, so the stuck block must be at least that old.
AGE=$(($(date +%s) - $(block_ts "$FROZEN_AT")))
[ "$AGE" -gt 17 ] || sleep $((18 - AGE))
mode p3 frozen "$FROZEN_AT"
"$KG" app revoke --state "$STATE" --app "$APP" --hash "$H1" >"$W/revoke.json" 2>"$W/revoke.err" || die "revoke v1: $(cat "$W/revoke.err")"
REVOKED_AT="$(jq -r .block "$W/revoke.json")"
boot k2 "$W/v1.json"
refused k2 403 "not allowed by governance: compose hash not allowed" "v1 revoked at block $REVOKED_AT, p3 stuck at block $FROZEN_AT, quorum 2 of 3: the revocation holds" || true
boot k3 "$W/v1.json"
refused k3 503 "chain view is stale" "v1 revoked, p3 stuck at block $FROZEN_AT, quorum 3 of 3, max_block_age_s 15" || true
boot k4 "$W/v1.json"
if [ "$RC" = 0 ]; then
  echo "# note: k4 (quorum 3 of 3, policy.max_block_age_s 0) decided at the stuck node's block $FROZEN_AT and released revoked v1: with freshness off, k = n follows its slowest node (docs/design.md)"
else
  echo "# note: k4 (quorum 3, freshness off) with a stuck node: exit $RC: $ERR"
fi
mode p3 honest
# k1 (one node, p1, reorg_allowance 2) decides at the head; then p1's view falls 5 blocks back
mine
boot k1 "$W/v1.json"
refused k1 403 "not allowed by governance: compose hash not allowed" "k1 at the head (v1 revoked)" || true
mode p1 stale 5
boot k1 "$W/v1.json"
refused k1 403 "chain went backwards" "k1's only node falls 5 blocks back (policy.reorg_allowance 2)" || true
mode p1 honest

# ---- 5. identity continuity -------------------------------------------------------------------------
# 5a. an empty state_dir without --bootstrap
kg_kms_node_config "$W/empty" ".policy.rpc_urls = $(urls p1) | .policy.quorum = 1"
mkdir -m 700 "$W/empty/state"
set +e
timeout 60 "$KMSBIN" --config "$W/empty/kms.json" --port-file "$W/empty/port" >"$W/empty.out" 2>"$W/empty.log"
ERC=$?
set -e
if [ "$ERC" = 0 ] || [ "$ERC" = 124 ] || [ -s "$W/empty/port" ]; then
  fail "an empty state_dir without --bootstrap: the KMS started (exit $ERC): $(tail -3 "$W/empty.log")"
elif ! grep -qF "holds no root keys" "$W/empty.log" || ! grep -qF "$W/empty/state" "$W/empty.log"; then
  fail "an empty state_dir: exit $ERC but the message does not say 'holds no root keys' with the path: $(tail -3 "$W/empty.log")"
elif [ -e "$W/empty/state/root-keys.sealed" ] || [ -e "$W/empty/state/root-ca.key" ] || [ -e "$W/empty/state/root-k256.key" ]; then
  fail "an empty state_dir: keys were written into it"
else
  ok "an empty state_dir without --bootstrap: exit $ERC, no keys made: $(grep -o "state_dir '[^']*' holds no root keys" "$W/empty.log" | head -1)"
fi
# 5b. a state_dir holding another KMS's root keys (bootstrapped into a fresh state dir)
kg_kms_node_config "$W/k6" ".policy.rpc_urls = [\"$RPC\"] | .policy.quorum = 1 | .policy.max_block_age_s = 0 | .self_check_interval_s = 1"
"$KMSBIN" --config "$W/k6/kms.json" --bootstrap >"$W/k6-boot.json" 2>"$W/k6-boot.log" || die "bootstrapping another KMS: $(tail -3 "$W/k6-boot.log")"
K6_K256="$(jq -r .k256_pubkey "$W/k6-boot.json")"
[ "${#K6_K256}" = 66 ] && [ "$K6_K256" != "$K256" ] || die "the other KMS's bootstrap: $(head -c 300 "$W/k6-boot.json")"
start_kms k6
code="$(health k6)"
if [ "$code" = 503 ] && grep -qF "root keys differ from the KMS info on chain" "$W/health.json"; then
  ok "a state_dir with another KMS's root keys: /health 503: $(jq -r .self_check_reason "$W/health.json")"
else
  fail "a state_dir with another KMS's root keys: /health $code $(cat "$W/health.json")"
fi
direct k6 "$H1"
direct_refused k6 503 "root keys differ from the KMS info on chain" "a state_dir with another KMS's root keys, GetAppKey for v1 (allowed)" || true
boot k6 "$W/v1.json" --kms-ca "${KDIR[k6]}/root-ca.pem" --kms-k256 "$K6_K256"
if [ "$RC" = 1 ] && [ ! -e "$W/disk.$BOOTN" ]; then
  ok "... and an agent pinning that KMS's root refuses it before asking: $(echo "$ERR" | sed 's/^keygate sim run: //' | cut -c1-160)"
else
  fail "a state_dir with another KMS's root keys: the agent's boot exit $RC: $ERR"
fi
# 5c. kmsInfo changed on chain while running: k5 (the devnet's keys, self-check every second)
kg_kms_node_config "$W/k5" ".policy.rpc_urls = [\"$RPC\"] | .policy.quorum = 1 | .policy.max_block_age_s = 0 | .self_check_interval_s = 1"
kg_kms_node_keys "$W/k5"
start_kms k5
[ "$(health k5)" = 200 ] || die "k5 is not healthy at start: $(cat "$W/health.json")"
publish() { # publish BOOTSTRAP_JSON: setKmsInfo with its keys, quote and event log
  "$CAST" send --rpc-url "$RPC" --private-key "$DEPLOYER_KEY" --json "$KMSC" "setKmsInfo((bytes,bytes,bytes,bytes))" \
    "(0x$(jq -r .k256_pubkey "$1"),0x$(jq -r .ca_pubkey "$1"),0x$(jq -r .quote "$1"),0x$(jq -r .eventlog "$1"))" \
    >"$W/publish.json" 2>"$W/publish.err" || die "setKmsInfo: $(cat "$W/publish.err")"
}
wait_health() { # wait_health NODE CODE [SECONDS]: polls /health until it answers CODE
  local i
  for ((i = 0; i < ${3:-15} * 10; i++)); do
    [ "$(health "$1")" = "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
publish "$W/k6-boot.json"
t=$(ms)
if wait_health k5 503 && grep -qF "root keys differ from the KMS info on chain" "$W/health.json"; then
  ok "kmsInfo replaced on chain by other keys: k5's next self-check turns /health 503 after $(($(ms) - t)) ms: $(jq -r .self_check_reason "$W/health.json")"
else
  fail "kmsInfo replaced on chain: k5's /health stays $(health k5): $(cat "$W/health.json")"
fi
direct k5 "$H1"
direct_refused k5 503 "root keys differ from the KMS info on chain" "k5 after kmsInfo changed, GetAppKey for v1" || true
if wait_health k6 200; then
  ok "... and k6, whose keys are now the published ones, turns healthy"
  "$KG" app allow --state "$STATE" --app "$APP" --hash "$H2" >/dev/null 2>"$W/allow.err" || die "allow v2: $(cat "$W/allow.err")"
  boot k6 "$W/v2.json" --kms-ca "${KDIR[k6]}/root-ca.pem" --kms-k256 "$K6_K256"
  released k6 "k6 (its keys now on chain) releases v2, now allowed, to an agent that checks kmsInfo" || true
else
  fail "k6 stays unhealthy after its keys were published: $(cat "$W/health.json")"
fi
publish "$KMS_STATE/bootstrap.json"
wait_health k5 200 || fail "k5 does not recover after the devnet's kmsInfo is restored: $(cat "$W/health.json")"

# ---- 6. transport -----------------------------------------------------------------------------------
kg_kms_node_config "$W/http" ".policy.rpc_urls = [\"http://192.0.2.1:8545\"] | .policy.quorum = 1"
kg_kms_node_keys "$W/http"
set +e
timeout 60 "$KMSBIN" --config "$W/http/kms.json" --port-file "$W/http/port" >/dev/null 2>"$W/http.log"
HRC=$?
set -e
if [ "$HRC" != 0 ] && [ "$HRC" != 124 ] && [ ! -s "$W/http/port" ] && grep -qF "is plain http to another host" "$W/http.log"; then
  ok "plain http:// to a non-loopback chain node: the KMS refuses to start (exit $HRC): $(grep -o "config: .*another host" "$W/http.log" | head -1)"
else
  fail "plain http:// to a non-loopback chain node: exit $HRC: $(tail -3 "$W/http.log")"
fi

# ---- 7. confirmations: a revocation is effective `confirmations` blocks later -----------------------
# v2 is allowed now (5c); kmsInfo was changed and restored within the last blocks, so the node
# deciding at head - 2 starts once those are 2 blocks deep.
mine
mine
kg_kms_node_config "$W/k8" ".policy.rpc_urls = $(urls p1 p2) | .policy.quorum = 2 | .policy.max_block_age_s = 0 | .policy.confirmations = 2"
kg_kms_node_keys "$W/k8"
start_kms k8
[ "$(health k8)" = 200 ] || die "k8 is not healthy at start: $(cat "$W/health.json")"
"$KG" app revoke --state "$STATE" --app "$APP" --hash "$H2" >"$W/revoke2.json" 2>"$W/revoke.err" || die "revoke v2: $(cat "$W/revoke.err")"
R2="$(jq -r .block "$W/revoke2.json")"
boot k8 "$W/v2.json"
released k8 "v2 revoked at block $R2, confirmations 2: still released at block $((R2 - 2)) (head $(head_number))" || true
mine
boot k8 "$W/v2.json"
released k8 "... one block later, still released at block $((R2 - 1))" || true
mine
boot k8 "$W/v2.json"
refused k8 403 "not allowed by governance: compose hash not allowed" "... two blocks later the revocation is effective (revocation latency = confirmations x block time)" || true

echo "# figures: boot wall time (sim run, GetAppKey, fresh block): 1 node ${LAT[k1]} ms, 3 nodes quorum 2 ${LAT[k2]} ms, 3 nodes quorum 3 ${LAT[k3]} ms; with one node 10 s slow (timeout_ms $TIMEOUT_MS) ${SLOW_MS} ms"
echo "chain_quorum_itest: $PASS passed, ${#FAILED[@]} failed, $(($(date +%s) - T0)) s"
if [ "${#FAILED[@]}" -gt 0 ]; then
  printf 'FAILED: %s\n' "${FAILED[@]}"
  exit 1
fi
