#!/usr/bin/env bash
# dashboard_itest.sh - `keygate dashboard` on a devnet after an app's lifecycle (README "The
# dashboard"): an app deployed with compose hash A, one boot released a key, B allowed, A revoked,
# a boot of A refused, an advisory id that is HTML denied on chain; later a time-locked app
# with a proposal in force, one vetoed and one pending, an app owned by a Safe, an advisory id
# that is not UTF-8, and a checkpoint of the log on chain. Then
#   1. the JSON endpoints say what the CLI says: the app (owner, notice, guardian), A revoked and
#      B allowed with block, time and transaction, the KMS allow-lists, node health and
#      self-check, the decisions (releases and denials) and `audit verify`'s OK;
#   2. the server is read-only and local: only GET/HEAD, a foreign Host header refused (DNS
#      rebinding), unknown paths 404, the page's files served with a strict CSP;
#   3. a tampered copy of the log (a decision added by hand, its reason HTML) fails verification
#      on the dashboard serving it, with the violation listed;
#   4. the page in a real browser (chromium driven by playwright-core, dashboard_browser.js): the
#      verdict, the app's timeline, the decision counts, each filter, the tampered log's failed
#      verification, hostile strings shown as text only, nothing fetched from elsewhere;
#      screenshots of each state in BUILD/dashboard-screenshots.
# Usage: dashboard_itest.sh BUILD_DIR     (exit 77: skipped)
set -euo pipefail
BUILD="$(cd "${1:?usage: dashboard_itest.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KG="$BUILD/bin/keygate"
[ -x "$SRC/tools/node_modules/.bin/anvil" ] || { echo "SKIP: tools not installed (scripts/setup)"; exit 77; }
[ -x "$BUILD/bin/keygate-kms" ] || { echo "SKIP: keygate-kms is not built yet"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 not installed"; exit 77; }
[ -f "$SRC/tools/node_modules/uplot/dist/uPlot.iife.min.js" ] || { echo "SKIP: uPlot not installed (scripts/setup)"; exit 77; }

. "$SRC/tests/support/devnet.sh"
kg_devnet_begin dashboard
STATE="$TMP"
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() { echo "not ok - $*" >&2; for f in "$STATE"/t/dash*.err; do [ -f "$f" ] && tail -5 "$f" >&2; done; exit 1; }

# A dashboard on a free port: dash NAME ARGS... sets DURL_<NAME>.
dash() {
  local name="$1"
  shift
  "$KG" dashboard --port-file "$STATE/t/dash-$name.port" "$@" >"$STATE/t/dash-$name.out" 2>"$STATE/t/dash-$name.err" &
  PIDS+=("$!")
  wait_file "$STATE/t/dash-$name.port"
  local url
  url="$(head -1 "$STATE/t/dash-$name.out")"
  [ "$url" = "http://127.0.0.1:$(cat "$STATE/t/dash-$name.port")/" ] || die "dashboard $name printed '$url'"
  printf -v "DURL_$name" '%s' "$url"
}
get() { curl -sf --max-time 60 "$1" || die "GET $1"; }

kg_devnet_up
mkdir -p "$STATE/t"
printf '{"manifest_version":2,"name":"dash-a","runner":"docker-compose","docker_compose_file":"services: {}"}' >"$STATE/t/a.json"
printf '{"manifest_version":2,"name":"dash-b","runner":"docker-compose","docker_compose_file":"services: {}"}' >"$STATE/t/b.json"
HOSTILE_ADVISORY='<img src=x onerror="window.__pwned=1">INTEL-SA-<b>'
"$KG" app deploy --state "$STATE" --tcb up-to-date --compose "$STATE/t/a.json" >"$STATE/t/deploy.json" || die "app deploy"
APP="$(jq -r .app_id "$STATE/t/deploy.json")"
HA="$("$KG" app compose-hash "$STATE/t/a.json")"
HB="$("$KG" app compose-hash "$STATE/t/b.json")"
"$KG" sim run --state "$STATE" --app "$APP" --compose "$STATE/t/a.json" -- true >/dev/null 2>"$STATE/t/run1.err" ||
  { cat "$STATE/t/run1.err" >&2; die "sim run of A"; }
"$KG" app allow --state "$STATE" --app "$APP" --compose "$STATE/t/b.json" >/dev/null || die "app allow B"
"$KG" app revoke --state "$STATE" --app "$APP" --compose "$STATE/t/a.json" >"$STATE/t/revoke.json" || die "app revoke A"
REVOKE_BLOCK="$(jq -r .block "$STATE/t/revoke.json")"
REVOKE_TX="$(jq -r .tx "$STATE/t/revoke.json")"
if "$KG" sim run --state "$STATE" --app "$APP" --compose "$STATE/t/a.json" -- true >/dev/null 2>"$STATE/t/run2.err"; then
  die "a boot of the revoked compose hash got its key"
fi
"$KG" app tcb --state "$STATE" --app "$APP" --deny-advisory "$HOSTILE_ADVISORY" >/dev/null || die "app tcb --deny-advisory"
ok "lifecycle: app $APP, A released then revoked (block $REVOKE_BLOCK), B allowed, a boot of A refused, an HTML advisory id denied"

dash live --state "$STATE"
U="$DURL_live"
get "${U}api/apps" >"$STATE/t/apps.json"
jq -e --arg app "$APP" --arg ha "$HA" --arg hb "$HB" --arg rb "$REVOKE_BLOCK" --arg rtx "$REVOKE_TX" '
  (.apps | length) == 1 and (.errors | length) == 0 and
  (.apps[0] | .app_id == $app and .owner == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" and
     .owner_is_contract == false and .settings.notice_period == 0 and
     .allowed_compose_hashes == [$hb] and .pending_compose_hashes == [] and
     ([.history[] | select(.event == "ComposeHashRemoved" and .value == $ha and
        .block == ($rb | tonumber) and .tx == $rtx and (.time | type) == "number")] | length) == 1 and
     ([.history[] | select(.event == "ComposeHashAdded" and .value == $hb)] | length) == 1)' \
  "$STATE/t/apps.json" >/dev/null || die "apps: $(cat "$STATE/t/apps.json")"
"$KG" app status --state "$STATE" --app "$APP" --json >"$STATE/t/status.json" || die "app status"
jq -e --slurpfile s "$STATE/t/status.json" '.apps[0] | del(.history[].time) == $s[0]' "$STATE/t/apps.json" >/dev/null ||
  die "the dashboard's app differs from 'keygate app status --json'"
jq -e --arg adv "$HOSTILE_ADVISORY" '[.apps[0].history[] | select(.event == "AdvisoryDenySet" and .advisory_id == $adv and .value == true)] | length == 1' \
  "$STATE/t/apps.json" >/dev/null || die "the advisory id is not in the history as written on chain"
ok "/api/apps: the app as 'app status --json' shows it, A revoked at block $REVOKE_BLOCK ($REVOKE_TX) with its time, B allowed, the advisory id verbatim"

get "${U}api/kms" >"$STATE/t/kms.json"
"$KG" kms status --state "$STATE" --json >"$STATE/t/kms-status.json" || die "kms status"
MRA="$(jq -r .kms_mr_aggregated "$STATE/devnet.json")"
jq -e --slurpfile s "$STATE/t/kms-status.json" --arg mr "$MRA" '
  (.status | del(.chain_view)) == ($s[0] | del(.chain_view)) and (.status.allowed_mr | index($mr)) != null and
  (.nodes | length) == 1 and .nodes[0].health.kms_allowed == true and
  .nodes[0].health.self_check_reason == "allowed" and (.checkpoints | type) == "array"' \
  "$STATE/t/kms.json" >/dev/null || die "kms: $(cat "$STATE/t/kms.json")"
ok "/api/kms: 'kms status --json', the node's health and self-check"

get "${U}api/decisions" >"$STATE/t/decisions.json"
jq -e --arg app "${APP#0x}" '
  [.decisions[] | select(.method == "GetAppKey" and (.app_id | ascii_downcase) == ($app | ascii_downcase))] as $d |
  ([$d[] | select(.decision == "allow")] | length) == 1 and
  ([$d[] | select(.decision == "deny" and (.reason | test("compose hash not allowed")))] | length) == 1 and
  ([.decisions[] | select(.method == "self-check" and .decision == "allow")] | length) >= 1' \
  "$STATE/t/decisions.json" >/dev/null || die "decisions: $(cat "$STATE/t/decisions.json")"
get "${U}api/verify" >"$STATE/t/verify.json"
jq -e '.ok == true and .violation_count == 0 and (.report | index("log key certified by the KMS root key: ok")) != null' \
  "$STATE/t/verify.json" >/dev/null || die "verify: $(cat "$STATE/t/verify.json")"
get "${U}api/overview" | jq -e --arg rpc "$(jq -r .rpc_url "$STATE/devnet.json")" '.rpc_url == $rpc and .chain_id == 31337 and .head.number > 0' >/dev/null ||
  die "overview"
ok "/api/decisions: one release and one denial ('compose hash not allowed') of the app, the KMS self-check; /api/verify: OK"

code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code -H 'Host: attacker.example' "${U}api/apps")" = 403 ] || die "a foreign Host header was served"
[ "$(code -H "Host: localhost:$(cat "$STATE/t/dash-live.port")" "${U}api/overview")" = 200 ] || die "localhost:PORT refused"
[ "$(code -X POST "${U}api/apps")" != 200 ] || die "POST accepted"
[ "$(code "${U}nope")" = 404 ] || die "unknown path not 404"
curl -sf -D "$STATE/t/headers" -o "$STATE/t/index.html" "$U" || die "GET /"
grep -qi "^content-security-policy: default-src 'none'; script-src 'self';" "$STATE/t/headers" || die "no strict CSP: $(cat "$STATE/t/headers")"
grep -q 'dashboard.js' "$STATE/t/index.html" || die "the page does not load its script"
for f in dashboard.js dashboard.css uPlot.iife.min.js uPlot.min.css; do
  [ "$(code "${U}$f")" = 200 ] || die "$f not served"
done
ok "read-only and local: POST refused, foreign Host 403, unknown path 404; the page, its script and uPlot served with a strict CSP"

# A tampered copy: a decision added by hand (in no log entry), its reason HTML.
DB="$(jq -r .audit_db "$STATE/devnet.json")"
sqlite3 "$DB" ".backup '$STATE/t/tampered.db'"
HOSTILE_REASON='<script>window.__pwned=2</script><img src=x onerror="window.__pwned=3">'
sqlite3 "$STATE/t/tampered.db" "INSERT INTO decisions (time_ms, method, decision, reason, app_id) VALUES ($(date +%s)000, 'GetAppKey', 'deny', '$HOSTILE_REASON', '$(tr 'A-F' 'a-f' <<<"${APP#0x}")');"
dash tampered --state "$STATE" --db "$STATE/t/tampered.db"
get "${DURL_tampered}api/verify" >"$STATE/t/verify-tampered.json"
jq -e '.ok == false and .violation_count >= 1 and ([.violations[].message | select(test("is in no log entry"))] | length) >= 1' \
  "$STATE/t/verify-tampered.json" >/dev/null || die "tampered verify: $(cat "$STATE/t/verify-tampered.json")"
get "${DURL_tampered}api/decisions" | jq -e --arg r "$HOSTILE_REASON" '[.decisions[] | select(.reason == $r)] | length == 1' >/dev/null ||
  die "the hand-added decision is not served verbatim"
ok "a tampered copy of the log fails verification on its dashboard ($(jq -r '.violations[0].message' "$STATE/t/verify-tampered.json"))"

# An auditor's dashboard: no devnet state and no database, only the chain and the KMS's URL; the
# decisions come from its served log (the same rows as the database's), verified from there.
cd "$STATE/t" # no ./.keygate here: nothing but the options
dash remote --rpc-url "$(jq -r .rpc_url "$STATE/devnet.json")" --kms-contract "$(jq -r .kms_contract "$STATE/devnet.json")" \
  --kms-url "$(jq -r .kms_url "$STATE/devnet.json")"
get "${DURL_remote}api/decisions" >"$STATE/t/decisions-remote.json"
get "${DURL_remote}api/verify" >"$STATE/t/verify-remote.json"
jq -e --slurpfile db "$STATE/t/decisions.json" --arg k "$(jq -r .kms_url "$STATE/devnet.json")" \
  '.decisions == $db[0].decisions and .source == $k' "$STATE/t/decisions-remote.json" >/dev/null ||
  die "the served log's decisions differ from the database's: $(cat "$STATE/t/decisions-remote.json")"
jq -e '.ok == true and ([.report[] | select(test("^served log: [0-9]+ entries rebuilt"))] | length) == 1' \
  "$STATE/t/verify-remote.json" >/dev/null || die "remote verify: $(cat "$STATE/t/verify-remote.json")"
ok "--rpc-url/--kms-contract/--kms-url alone: the decisions read from the KMS's served log equal the database's rows; verified from the served log"

# A time-locked app (notice 1 h, a guardian): C proposed and, the notice over, in force; D
# proposed and vetoed by the guardian; E proposed and pending. The log's checkpoint on chain.
GUARDIAN=0x70997970C51812dc3A010C7d01b50e0d17dc79C8 # anvil's public dev account 1
GUARDIAN_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
for x in c d e; do
  printf '{"manifest_version":2,"name":"dash-%s","runner":"docker-compose","docker_compose_file":"services: {}"}' "$x" >"$STATE/t/$x.json"
done
HC="$("$KG" app compose-hash "$STATE/t/c.json")"
HD="$("$KG" app compose-hash "$STATE/t/d.json")"
HE="$("$KG" app compose-hash "$STATE/t/e.json")"
"$KG" kms checkpoint --state "$STATE" >"$STATE/t/checkpoint.json" 2>"$STATE/t/checkpoint.err" ||
  { cat "$STATE/t/checkpoint.err" >&2; die "kms checkpoint"; }
"$KG" app deploy --state "$STATE" --tcb up-to-date --compose "$STATE/t/a.json" --timelock 3600 --guardian "$GUARDIAN" \
  >"$STATE/t/deploy-tl.json" 2>/dev/null || die "app deploy --timelock"
TAPP="$(jq -r .app_id "$STATE/t/deploy-tl.json")"
"$KG" app propose --state "$STATE" --app "$TAPP" --compose "$STATE/t/c.json" >/dev/null || die "propose C"
"$KG" app propose --state "$STATE" --app "$TAPP" --compose "$STATE/t/d.json" >/dev/null || die "propose D"
KEYGATE_PRIVATE_KEY="$GUARDIAN_KEY" "$KG" app veto --state "$STATE" --app "$TAPP" --compose "$STATE/t/d.json" >/dev/null || die "veto D"
RPC="$(jq -r .rpc_url "$STATE/devnet.json")"
"$CAST" rpc --rpc-url "$RPC" evm_increaseTime 3601 >/dev/null && "$CAST" rpc --rpc-url "$RPC" evm_mine >/dev/null || die "anvil: time"
"$KG" app propose --state "$STATE" --app "$TAPP" --compose "$STATE/t/e.json" >/dev/null || die "propose E"
# An app owned by a Safe multisig (a contract), and an advisory id that is not UTF-8.
SAFE="$(KEYGATE_DEPLOYER_KEY="$(jq -r .private_key "$STATE/devnet.json")" "$SRC/scripts/deploy-safe" --rpc-url "$RPC" \
  --owner "$(jq -r .deployer "$STATE/devnet.json")" --threshold 1 2>"$STATE/t/safe.err" | jq -r .safe)" ||
  { cat "$STATE/t/safe.err" >&2; die "deploy-safe"; }
"$KG" app deploy --state "$STATE" --tcb up-to-date --compose "$STATE/t/b.json" --owner "$SAFE" >"$STATE/t/deploy-safe.json" || die "app deploy --owner SAFE"
SAPP="$(jq -r .app_id "$STATE/t/deploy-safe.json")"
"$KG" app tcb --state "$STATE" --app "$TAPP" --deny-advisory $'bad\xffid\x01' >/dev/null || die "app tcb --deny-advisory (not UTF-8)"
"$KG" app status --state "$STATE" --app "$TAPP" | grep -qF 'AdvisoryDenySet        bad\xffid\x01 on' || die "app status: the advisory id is not escaped"
get "${U}api/apps" >"$STATE/t/apps2.json"
jq -e --arg app "$SAPP" --arg safe "$SAFE" '[.apps[] | select(.app_id == $app and .owner == $safe and .owner_is_contract == true)] | length == 1' \
  "$STATE/t/apps2.json" >/dev/null || die "the Safe-owned app: $(jq -c --arg app "$SAPP" '.apps[] | select(.app_id == $app)' "$STATE/t/apps2.json")"
jq -e --arg app "$TAPP" '[.apps[] | select(.app_id == $app) | .history[] | select(.advisory_id == "bad\\xffid\\x01")] | length == 1' \
  "$STATE/t/apps2.json" >/dev/null || die "the advisory id that is not UTF-8 is not served escaped"
jq -e --arg app "$TAPP" --arg g "$GUARDIAN" --arg hc "$HC" --arg hd "$HD" --arg he "$HE" --arg ha "$HA" '
  [.apps[] | select(.app_id == $app)][0] |
  .settings.notice_period == 3600 and .settings.guardian == $g and
  (.allowed_compose_hashes | sort) == ([$ha, $hc] | sort) and
  [.pending_compose_hashes[].compose_hash] == [$he] and
  ([.history[] | select(.event == "ComposeHashVetoed" and .value == $hd and .guardian == $g)] | length) == 1' \
  "$STATE/t/apps2.json" >/dev/null || die "time-locked app: $(jq -c --arg app "$TAPP" '.apps[] | select(.app_id == $app)' "$STATE/t/apps2.json")"
get "${U}api/kms" | jq -e --slurpfile c "$STATE/t/checkpoint.json" '[.checkpoints[] | select(.size == $c[0].tree_size and .tx == $c[0].tx)] | length == 1' >/dev/null ||
  die "the published checkpoint is not listed"
ok "time-locked app $TAPP: C in force after the notice, D vetoed by the guardian, E pending; an app owned by a Safe (a contract); an advisory id that is not UTF-8 escaped; the checkpoint on chain listed"

# The page in a real browser (dashboard_browser.js): what a user sees on both dashboards.
CHROMIUM="$(command -v chromium || true)"
[ -n "$CHROMIUM" ] || die "chromium not installed (scripts/setup installs it)"
[ -f "$SRC/tools/node_modules/playwright-core/package.json" ] || die "playwright-core not installed (scripts/setup)"
! grep -nE 'innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function' "$SRC/cli/dashboard/dashboard.js" ||
  die "dashboard.js puts markup or code into the page"
SHOTS="$BUILD/dashboard-screenshots"
jq -n --slurpfile d "$STATE/t/decisions.json" --arg tools "$SRC/tools" --arg chromium "$CHROMIUM" \
  --arg live "$DURL_live" --arg tampered "$DURL_tampered" --arg shots "$SHOTS" --arg app "$APP" \
  --arg ha "$HA" --arg hb "$HB" --arg adv "$HOSTILE_ADVISORY" --arg reason "$HOSTILE_REASON" \
  --arg tapp "$TAPP" --arg hc "$HC" --arg hd "$HD" --arg he "$HE" --arg guardian "$GUARDIAN" --arg sapp "$SAPP" '
  $d[0].decisions as $all | [$all[] | select(.app_id == ($app[2:] | ascii_downcase))] as $mine |
  {tools: $tools, chromium: $chromium, live: $live, tampered: $tampered, screenshots: $shots,
   app: $app, hash_a: $ha, hash_b: $hb, hostile_advisory: $adv, hostile_reason: $reason,
   timelocked: $tapp, hash_c: $hc, hash_d: $hd, hash_e: $he, guardian: $guardian, safe_owned: $sapp,
   allowed: ([$all[] | select(.decision == "allow")] | length),
   denied: ([$all[] | select(.decision == "deny")] | length),
   app_allowed: ([$mine[] | select(.decision == "allow")] | length),
   app_denied: ([$mine[] | select(.decision == "deny")] | length),
   deny_reason: ([$mine[] | select(.decision == "deny")][0].reason)}' >"$STATE/t/expect.json"
node "$SRC/tests/integration/dashboard_browser.js" "$STATE/t/expect.json" >"$STATE/t/browser.out" 2>&1 ||
  { cat "$STATE/t/browser.out" >&2; die "the page in chromium"; }
while read -r line; do PASS=$((PASS + 1)); echo "ok $PASS - ${line#ok * - }"; done < <(grep '^ok ' "$STATE/t/browser.out")
ok "screenshots in $SHOTS: $(cd "$SHOTS" && echo *.png)"

echo "dashboard_itest: $PASS checks passed"
