# itest_services.sh - sourced by the shell integration/interop tests: start services on ports the
# kernel assigns (port 0) and wait for them with deadlines that hold on a loaded machine.
#
# Why: picking a "free" port first and binding it later races with every other process on the
# host (ctest -j2, other test runs): the port can be taken in between, and a test then talks to
# someone else's anvil. With port 0 the service binds once and reports the port it got.
# The caller defines die MESSAGE (prints and exits non-zero).

# Seconds a service gets to come up; generous because a loaded 2-core machine can be slow, and
# a wait ends as soon as the service is ready or its process has exited.
KG_ITEST_START_S="${KG_ITEST_START_S:-90}"

# kg_wait_file FILE PID [WHAT]: waits until FILE is non-empty; dies early if PID exits.
kg_wait_file() {
  local file="$1" pid="$2" what="${3:-$1}" i
  for ((i = 0; i < KG_ITEST_START_S * 20; i++)); do
    [ -s "$file" ] && return 0
    kill -0 "$pid" 2>/dev/null || { [ -s "$file" ] && return 0; die "$what: process $pid exited before writing $file"; }
    sleep 0.05
  done
  die "$what: timed out after ${KG_ITEST_START_S}s waiting for $file"
}

# kg_wait_log LOG FROM REGEX PID WHAT: waits until LOG, from byte FROM on (a log appended to across
# restarts), has a match of REGEX (grep -E), then sets KG_LOG_MATCH to it; dies early if PID
# exits (with the log's tail). Services that bind port 0 say there which port they got.
kg_wait_log() {
  local log="$1" from="$2" re="$3" pid="$4" what="$5" i
  KG_LOG_MATCH=
  for ((i = 0; i < KG_ITEST_START_S * 20; i++)); do
    KG_LOG_MATCH="$(tail -c +"$((from + 1))" "$log" 2>/dev/null | grep -m1 -oE -- "$re" || true)"
    [ -z "$KG_LOG_MATCH" ] || return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill "$pid" 2>/dev/null || true
  tail -20 "$log" >&2
  die "$what did not start (log above)"
}

# kg_start_anvil ANVIL LOG [extra anvil args...]: starts anvil on 127.0.0.1, port 0; sets
# ANVIL_PID, APORT and RPC once it listens (anvil prints "Listening on HOST:PORT" after binding
# and serves from then on). The caller kills ANVIL_PID (add it to its cleanup list).
kg_start_anvil() {
  local anvil="$1" log="$2"
  shift 2
  "$anvil" --host 127.0.0.1 --port 0 "$@" >"$log" 2>&1 &
  ANVIL_PID=$!
  kg_wait_log "$log" 0 'Listening on 127\.0\.0\.1:[0-9]+' "$ANVIL_PID" anvil
  APORT="${KG_LOG_MATCH##*:}"
  RPC="http://127.0.0.1:$APORT"
}

# kg_plain_root_keys DIR: writes root keys as an earlier keygate kept them in state_dir
# (root-ca.key PKCS#8 PEM, root-k256.key hex, 0600), so a test knows the keys a KMS will migrate
# into its sealed file (docs/design.md, "Sealed root keys"). The test keeps its own copy.
kg_plain_root_keys() {
  local dir="$1"
  mkdir -p "$dir"
  (umask 077
   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/root-ca.key" 2>/dev/null
   openssl rand -hex 32 >"$dir/root-k256.key") || die "kg_plain_root_keys $dir"
}

# kg_assert_no_root_keys_in DIR KEYDIR: no file under DIR holds the root keys of KEYDIR (as
# kg_plain_root_keys wrote them) in any encoding find_secrets.py knows (raw, reversed, hex,
# PEM base64), and no plaintext key file is there.
kg_assert_no_root_keys_in() {
  local dir="$1" keys="$2" hits rc=0
  [ ! -e "$dir/root-ca.key" ] && [ ! -e "$dir/root-k256.key" ] || die "plaintext root key file in $dir"
  [ -d "$dir" ] || die "kg_assert_no_root_keys_in: no directory $dir"
  hits="$(python3 "$SRC/tests/integration/find_secrets.py" "$dir" \
    root-k256=k256hex:"$keys/root-k256.key" root-ca=p256pem:"$keys/root-ca.key")" || rc=$?
  [ "$rc" != 1 ] || die "root key material at rest in $dir: $hits"
  [ "$rc" = 0 ] || die "kg_assert_no_root_keys_in $dir: find_secrets.py failed ($rc)"
}
