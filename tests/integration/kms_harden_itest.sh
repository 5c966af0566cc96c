#!/usr/bin/env bash
# kms_harden_itest.sh - keygate-kms's memory, attacked as an attacker on the same machine would
# (issue #11 item 6): a devnet KMS that has released a key once (keygate devnet up, app deploy,
# sim run), then
#   1. its core limit is 0 (/proc/<pid>/limits): a crash writes no core file;
#   2. /proc/<pid>/mem and ptrace are closed to another uid and, the real point, to a process
#      of the KMS's own uid without CAP_SYS_PTRACE (PR_SET_DUMPABLE 0); a control process of
#      that uid started the same way is readable, so the check can tell;
#   3. a core taken with gdb's gcore (which leaves out MADV_DONTDUMP mappings unless told
#      otherwise) holds neither root secret (root k256 scalar, root CA P-256 scalar) in any
#      encoding; the same core with the excluded mappings included does hold them (so they are
#      in the secure heap and the search finds them), and the temporary CA key, which is not
#      secret and lives on the ordinary heap, is found in the default core.
# Usage: kms_harden_itest.sh BUILD_DIR     (exit 77: skipped, e.g. gdb not installed)
set -euo pipefail
BUILD="$(cd "${1:?usage: kms_harden_itest.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KG="$BUILD/bin/keygate"
FIND="$SRC/tests/integration/find_secrets.py"
command -v gdb >/dev/null || { echo "SKIP: gdb is not installed (scripts/setup installs it)"; exit 77; }
[ -x "$SRC/tools/node_modules/.bin/anvil" ] || { echo "SKIP: tools not installed (scripts/setup)"; exit 77; }
[ -x "$BUILD/bin/keygate-kms" ] || { echo "SKIP: keygate-kms is not built yet"; exit 77; }

. "$SRC/tests/support/devnet.sh"
kg_devnet_begin harden
STATE="$TMP"
CTRL_PID=
kg_cleanup_extra() { [ -z "$CTRL_PID" ] || kill "$CTRL_PID" 2>/dev/null; }
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() { echo "not ok - $*" >&2; [ -f "$STATE/logs/kms.log" ] && tail -20 "$STATE/logs/kms.log" >&2; exit 1; }

# As root, the same-uid attacker is root without CAP_SYS_PTRACE. The kernel also refuses a
# caller whose capabilities are not a superset of the target's, so the KMS (and the control
# process) run without CAP_SYS_PTRACE too: then PR_SET_DUMPABLE is what stands in the way.
if [ "$(id -u)" = 0 ]; then SAME=(setpriv --bounding-set=-sys_ptrace --inh-caps=-sys_ptrace --); else SAME=(env); fi

# ---- a KMS that has released a key --------------------------------------------------------------
# Known root keys: an earlier version's plain files, sealed (and wiped) by the KMS at bootstrap;
# the copy in plain-keys is what the core is searched for.
kg_plain_root_keys "$STATE/plain-keys"
mkdir -p -m 700 "$STATE/kms/state"
cp -p "$STATE/plain-keys/root-ca.key" "$STATE/plain-keys/root-k256.key" "$STATE/kms/state/"
kg_devnet_up "${SAME[@]}"
KMS_PID="$(awk '{print $1}' "$STATE/run/kms.pid")"
[ -n "$KMS_PID" ] && kill -0 "$KMS_PID" || die "no KMS process (run/kms.pid)"
KEYS="$STATE/plain-keys"
[ -s "$STATE/kms/state/root-keys.sealed" ] || die "no sealed root keys in $STATE/kms/state"
kg_assert_no_root_keys_in "$STATE/kms/state" "$KEYS"
mkdir -p "$STATE/t"
printf '{"manifest_version":2,"name":"harden","runner":"docker-compose","docker_compose_file":"services: {}"}' >"$STATE/t/compose.json"
"$KG" app deploy --state "$STATE" --tcb up-to-date --compose "$STATE/t/compose.json" >"$STATE/t/deploy.json" || die "app deploy"
APP="$(jq -r .app_id "$STATE/t/deploy.json")"
"$KG" sim run --state "$STATE" --app "$APP" --compose "$STATE/t/compose.json"  \
  -- sh -c 'grep "Max core file size" /proc/$PPID/limits' >"$STATE/t/run.out" 2>"$STATE/t/run.err" ||
  { cat "$STATE/t/run.err" >&2; die "sim run (the KMS should have released the app's keys)"; }
ok "devnet KMS (pid $KMS_PID) released an app key to a simulated VM"
grep -Eq 'Max core file size +0 +0 ' "$STATE/t/run.out" || die "agent (keygate sim run) core limit: $(cat "$STATE/t/run.out")"
ok "the agent that got those keys runs with a core limit of 0 too"

# ---- 1. no core file ------------------------------------------------------------------------------
grep -Eq 'Max core file size +0 +0 ' "/proc/$KMS_PID/limits" ||
  die "core limit is not 0: $(grep 'core' "/proc/$KMS_PID/limits")"
ok "/proc/$KMS_PID/limits: core file size 0 (soft and hard)"
grep -q "could not be locked" "$STATE/logs/kms.log" && echo "# note: $(grep -m1 'could not be locked' "$STATE/logs/kms.log")"
VMLCK="$(awk '/^VmLck/ {print $2}' "/proc/$KMS_PID/status")"
echo "# KMS VmLck: ${VMLCK} kB (the secure heap, locked on fault)"

# ---- 2. /proc/<pid>/mem and ptrace ----------------------------------------------------------------
# open_mem PID [launcher...]: opens /proc/PID/mem for reading (dd count=0 reads nothing)
open_mem() { local pid="$1"; shift; "$@" dd if="/proc/$pid/mem" of=/dev/null bs=1 count=0 2>&1; }
if [ "$(id -u)" = 0 ]; then
  # another uid: nobody
  NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
  out="$(open_mem "$KMS_PID" "${NOBODY[@]}")" && die "uid 65534 opened /proc/$KMS_PID/mem"
  ok "uid 65534 cannot open /proc/$KMS_PID/mem ($(tail -1 <<<"$out"))"
  who="uid 0 without CAP_SYS_PTRACE" # the KMS's own uid, as a compromised same-uid process
else
  who="the KMS's own uid $(id -u)"
fi
# control: a process of the same uid and capabilities as the KMS, not hardened
"${SAME[@]}" sleep 300 &
CTRL_PID=$!
# Until setpriv has dropped CAP_SYS_PTRACE and exec'd sleep, the control still holds it and so is
# closed to the capability-less opener: under load the open could race ahead of the exec.
for _ in $(seq 100); do [ "$(cat "/proc/$CTRL_PID/comm" 2>/dev/null)" = sleep ] && break; sleep 0.05; done
[ "$(cat "/proc/$CTRL_PID/comm" 2>/dev/null)" = sleep ] || die "control: the sleep process did not start"
out="$(open_mem "$CTRL_PID" "${SAME[@]}")" ||
  die "control: $who cannot open /proc/$CTRL_PID/mem of an ordinary process either ($out; yama ptrace_scope $(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo n/a)): the check below would prove nothing"
out="$(open_mem "$KMS_PID" "${SAME[@]}")" && die "$who opened /proc/$KMS_PID/mem"
ok "$who cannot open /proc/$KMS_PID/mem ($(tail -1 <<<"$out")), while it can open an ordinary process's"
out="$("${SAME[@]}" gdb -batch -nx -p "$KMS_PID" -ex 'info registers rip' 2>&1 || true)"
grep -q "ptrace: Operation not permitted" <<<"$out" || die "$who attached gdb to the KMS: $out"
ok "$who cannot attach gdb (ptrace: Operation not permitted)"
kill "$CTRL_PID" 2>/dev/null; CTRL_PID=

# ---- 3. the core holds no root secret ------------------------------------------------------------
gcore_to() { # gcore_to FILE on|off
  gdb -batch -nx -p "$KMS_PID" -ex "set dump-excluded-mappings $2" -ex "gcore $1" >"$1.log" 2>&1
  [ -s "$1" ] || die "gcore failed: $(tail -5 "$1.log")"
}
gcore_to "$STATE/t/core" off
kill -0 "$KMS_PID" || die "the KMS died while gcore ran"
set +e
HITS="$(python3 "$FIND" "$STATE/t/core" root-k256=k256hex:"$KEYS/root-k256.key" root-ca=p256pem:"$KEYS/root-ca.key")"
RC=$?
set -e
[ "$RC" = 0 ] || die "root key material in the core ($(stat -c %s "$STATE/t/core") bytes):
$HITS"
ok "gcore of the KMS ($(stat -c %s "$STATE/t/core") bytes): neither root scalar in it (raw, byte-reversed, hex, HEX, PEM base64)"
RC=0; python3 "$FIND" "$STATE/t/core" temp-ca=p256pem:"$STATE/kms/state/temp-ca.key" >/dev/null || RC=$?
[ "$RC" = 1 ] || die "control: the temporary CA key (ordinary heap) is not in the core either (find_secrets: $RC); is the core complete?"
ok "control: the temporary CA key (not secret, ordinary heap) is found in that core"
rm -f "$STATE/t/core"
gcore_to "$STATE/t/core-all" on
RC=0; python3 "$FIND" "$STATE/t/core-all" root-k256=k256hex:"$KEYS/root-k256.key" root-ca=p256pem:"$KEYS/root-ca.key" >"$STATE/t/all.hits" || RC=$?
[ "$RC" = 1 ] || die "control: the root scalars are not found even with the excluded (MADV_DONTDUMP) mappings dumped (find_secrets: $RC)"
ok "control: with 'set dump-excluded-mappings on' the root scalars are found ($(wc -l <"$STATE/t/all.hits") hits): they live only in the MADV_DONTDUMP secure heap"
rm -f "$STATE/t/core-all"
kill -0 "$KMS_PID" || die "the KMS died"
echo "kms_harden_itest: $PASS passed"
