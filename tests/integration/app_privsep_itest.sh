#!/usr/bin/env bash
# app_privsep_itest.sh - the app does not get the agent's privileges (issue #11 item 3): a devnet,
# then `keygate sim run` (the agent, as root) starts a real app that behaves as an attacker
# would: it prints its uid, tries to extend RTMR3 by writing its VM's rtmr3 and eventlog.json,
# to read the platform's signing keys, the agent's instance seed and the KMS's root keys, and
# to read the agent's memory; and it uses the dstack API socket as an app should (curl POST
# /Info and /GetQuote). Asserts: uid is not 0, every attack fails with "Permission denied", the
# API answers, only fds 0-2 are inherited, no_new_privs is set. Then: --app-user root runs the
# app as root with a warning, and an unknown --app-user fails before any key is fetched.
# The test directory is made traversable (0711) so that only the modes the agent and the
# simulator give their own files and directories stand in the way.
# Usage: app_privsep_itest.sh BUILD_DIR     (exit 77: skipped, e.g. not run as root)
set -euo pipefail
BUILD="$(cd "${1:?usage: app_privsep_itest.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KG="$BUILD/bin/keygate"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (the agent drops privileges only when it has them)"; exit 77; }
[ -x "$SRC/tools/node_modules/.bin/anvil" ] || { echo "SKIP: tools not installed (scripts/setup)"; exit 77; }
[ -x "$BUILD/bin/keygate-kms" ] || { echo "SKIP: keygate-kms is not built yet"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }

. "$SRC/tests/support/devnet.sh"
kg_devnet_begin privsep
STATE="$TMP"
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() { echo "not ok - $*" >&2; exit 1; }

kg_devnet_up
chmod 0711 "$STATE"
T="$STATE/t"
mkdir -p "$T/out"
chmod 0755 "$T"
chmod 0777 "$T/out" # the app's results
printf '{"manifest_version":2,"name":"privsep","runner":"docker-compose","docker_compose_file":"services: {}"}' >"$T/compose.json"
"$KG" app deploy --state "$STATE" --tcb up-to-date --compose "$T/compose.json" >"$T/deploy.json" || die "app deploy"
APP="$(jq -r .app_id "$T/deploy.json")"
APP_HEX="${APP#0x}"
SIM="$(jq -r .sim_dir "$STATE/devnet.json")"
ok "devnet up, app $APP deployed"

# The app. try NAME CMD...: runs CMD, records "NAME ok" or "NAME denied: <error>" in attacks.
cat >"$T/app.sh" <<'APP'
#!/bin/sh
out="$KG_OUT"
id -u >"$out/uid"
ls /proc/self/fd | sort -n | tr '\n' ' ' >"$out/fds"
grep '^NoNewPrivs' /proc/self/status >"$out/nnp"
try() {
  name="$1"; shift
  if err="$("$@" 2>&1 >/dev/null)"; then echo "$name ok" >>"$out/attacks"
  else echo "$name denied: $(echo "$err" | tail -1)" >>"$out/attacks"; fi
}
# its VM: vms/app-<app id[0:8]>-<agent pid>-<agent start time>; the app knows all but the
# second, so it tries the last two minutes (a wrong guess would say "No such file")
now=$(date +%s)
t=$((now - 120))
while [ "$t" -le "$now" ]; do
  d="$KG_SIM/vms/app-$(echo "$KG_APP_HEX" | cut -c1-8)-$PPID-$t"
  try "guess $t" sh -c "printf x >>'$d/rtmr3'"
  try "elog $t" sh -c "printf x >>'$d/eventlog.json'"
  t=$((t + 1))
done
try rtmr3-kms sh -c "printf x >>'$KG_SIM/vms/kms/rtmr3'"
try ls-vms ls "$KG_SIM/vms"
try attestation.key cat "$KG_SIM/attestation.key"
try pck.key cat "$KG_SIM/pck.key"
try instance-seed cat "$KG_STATE/apps/$KG_APP_HEX/instance-seed"
try kms-root-key cat "$KG_STATE/kms/state/root-keys.sealed"
try agent-mem dd if=/proc/$PPID/mem of=/dev/null bs=1 count=0
curl -sf --unix-socket "$DSTACK_SIMULATOR_ENDPOINT" -X POST http://localhost/Info -d '{}' >"$out/info.json"
curl -sf --unix-socket "$DSTACK_SIMULATOR_ENDPOINT" -X POST http://localhost/GetQuote \
  -d '{"report_data":"00"}' >"$out/quote.json"
echo done >"$out/done"
APP
chmod 0755 "$T/app.sh"

set +e
(cd "$T" && KG_OUT="$T/out" KG_SIM="$SIM" KG_STATE="$STATE" KG_APP_HEX="$APP_HEX" \
  "$KG" sim run --state "$STATE" --app "$APP" --compose "$T/compose.json" -- "$T/app.sh" \
  >"$T/run.out" 2>"$T/run.err")
RC=$?
set -e
[ "$RC" = 0 ] && [ -f "$T/out/done" ] || die "sim run: rc=$RC $(cat "$T/run.err")"
VM="$(cd "$SIM/vms" && ls -d "app-${APP_HEX:0:8}-"*)"
[ -f "$SIM/vms/$VM/rtmr3" ] || die "no rtmr3 for the app's VM $VM"
UID_APP="$(cat "$T/out/uid")"
[ "$UID_APP" != 0 ] || die "the app ran as root"
WANT_UID="$(id -u keygate-app 2>/dev/null || id -u nobody 2>/dev/null || echo 65534)"
[ "$UID_APP" = "$WANT_UID" ] || die "the app ran as uid $UID_APP, expected the default app user's $WANT_UID"
ok "the app runs as uid $UID_APP ($(id -nu "$UID_APP" 2>/dev/null || echo '?')), not root"
grep -q "NoNewPrivs:.*1" "$T/out/nnp" || die "no_new_privs not set: $(cat "$T/out/nnp")"
[ "$(cat "$T/out/fds")" = "0 1 2 3 " ] || die "the app inherited fds: $(cat "$T/out/fds") (want 0 1 2 and ls's own 3)"
ok "only fds 0-2 inherited; no_new_privs set"

T_VM="${VM##*-}"
line="$(grep "^guess $T_VM " "$T/out/attacks")" || die "the app did not try its own VM's rtmr3 ($VM)"
grep -q "Permission denied" <<<"$line" || die "writing its VM's rtmr3: $line"
grep -q "ok$" "$T/out/attacks" && die "an attack succeeded: $(grep 'ok$' "$T/out/attacks")"
line2="$(grep "^elog $T_VM " "$T/out/attacks")" && grep -q "Permission denied" <<<"$line2" || die "writing its VM's event log: $line2"
ok "writing its VM's rtmr3 and eventlog.json ($VM) is refused: ${line#* denied: }"
for a in rtmr3-kms ls-vms attestation.key pck.key instance-seed kms-root-key agent-mem; do
  line="$(grep "^$a " "$T/out/attacks")" || die "attack $a not tried"
  grep -q "Permission denied" <<<"$line" || die "attack $a: $line"
done
ok "refused: the KMS VM's rtmr3, listing vms/, the platform's attestation and PCK keys, the instance seed, the KMS root key, the agent's memory"
# the files themselves, not only their directories, keep the app out
for f in "$SIM/vms/$VM/rtmr3" "$SIM/vms/$VM/eventlog.json" "$SIM/attestation.key" "$SIM/pck.key" \
  "$SIM/root_ca.key" "$SIM/platform_ca.key" "$SIM/tcb_signing.key" "$STATE/apps/$APP_HEX/instance-seed"; do
  [ -e "$f" ] || die "missing $f"
  m="$(stat -c %a "$f")"
  [ "$m" = 600 ] || die "$f has mode $m (want 600)"
done
for d in "$SIM" "$SIM/vms" "$SIM/vms/$VM" "$STATE/apps" "$STATE/apps/$APP_HEX"; do
  m="$(stat -c %a "$d")"
  [ "$m" = 700 ] || die "$d has mode $m (want 700)"
done
ok "the simulated TEE's register, event log and signing keys and the agent's state are 0600 in 0700 directories"

jq -e --arg a "${APP_HEX,,}" '(.app_id|ascii_downcase|ltrimstr("0x")) == $a' "$T/out/info.json" >/dev/null ||
  die "Info over the socket: $(cat "$T/out/info.json")"
jq -e '(.quote|length) > 1000' "$T/out/quote.json" >/dev/null || die "GetQuote over the socket: $(head -c 300 "$T/out/quote.json")"
ok "the app still reaches the API socket: Info names the app, GetQuote returns a quote"

# --app-user root: allowed when asked, with a warning
"$KG" sim run --state "$STATE" --app "$APP" --compose "$T/compose.json" --app-user root -- id -u \
  >"$T/root.out" 2>"$T/root.err" || die "sim run --app-user root: $(cat "$T/root.err")"
[ "$(cat "$T/root.out")" = 0 ] || die "--app-user root: uid $(cat "$T/root.out")"
grep -q "warning: the app runs as root.*forge the measurements" "$T/root.err" || die "--app-user root: no warning: $(cat "$T/root.err")"
ok "--app-user root runs the app as root, warning that it can forge measurements"

# an unknown user: refused before any key is fetched, the command never runs
set +e
"$KG" sim run --state "$STATE" --app "$APP" --compose "$T/compose.json" --app-user no-such-user-kg \
  -- touch "$T/out/ran" >/dev/null 2>"$T/bad.err"
RC=$?
set -e
[ "$RC" = 1 ] && grep -q "no user 'no-such-user-kg'" "$T/bad.err" && [ ! -e "$T/out/ran" ] ||
  die "unknown --app-user: rc=$RC $(cat "$T/bad.err")"
grep -q "GetAppKey" "$T/bad.err" && die "unknown --app-user: a key was requested first"
ok "an unknown --app-user fails before any key is fetched: $(head -c 120 "$T/bad.err")"
echo "app_privsep_itest: $PASS passed"
