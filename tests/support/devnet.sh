# devnet.sh - the one devnet setup of the shell tests and benchmarks (sourced): anvil on a port
# the kernel assigns, the governance contracts, the simulated TDX platform and its PCCS, a KMS
# config, a bootstrapped keygate-kms published and allowed on chain, apps registered, and every
# process stopped by one EXIT trap.
#
# Each step is the CLI's (`keygate devnet up` runs the same: sim init and pccs, the config of
# `kms config`, kms allow and publish): this file only sequences them, so that a test can run
# each with its own KMS config, faults or extra nodes. The CLI steps read the devnet state in $TMP/devnet.json, which the steps here
# fill as `devnet up` does. What is still the shell's own, and why: starting anvil (the CLI
# starts it only inside `devnet up`, which also persists its state; tests pass it arguments and
# kill it) and deploy-contracts (the same script the CLI runs); keygate-kms --bootstrap and the
# KMS process (the KMS's own, and tests need the pid); kg_send for the tests' own transactions.
#
# Before sourcing, the caller sets SRC (source tree) and BUILD (build directory; tests given only
# the CLI may leave it unset) and defines
# die MESSAGE (prints and exits non-zero). Then, in order, as far as it needs:
#   kg_devnet_begin NAME        TMP (a fresh /tmp/kg-NAME.XXXXXX), PIDS, the EXIT trap
#   kg_devnet_up [PREFIX...]    or all of it as users get it: `keygate devnet up --state $TMP`
#                               (its JSON in $TMP/up.json; run under PREFIX, e.g. setpriv),
#                               `devnet down` at exit
#   kg_devnet_chain             anvil + contracts: RPC, APORT, ANVIL_PID, DEPLOY (JSON), KMSC,
#                               OWNER and KEYGATE_DEPLOYER_KEY (anvil's public dev account);
#                               the devnet state $TMP/devnet.json the CLI steps below read
#   kg_send ARGS...             cast send as the deployer; the receipt in $TMP/tx.json
#   kg_run RC TEXT CMD...       runs CMD (stdout in $TMP/out, stderr in $TMP/err); dies unless it
#                               exits RC and, TEXT not empty, its stderr holds TEXT
#   kg_devnet_chain_state DIR   a chain-only state directory for the CLI (DIR/devnet.json, 0600,
#                               as `keygate devnet up` writes it: RPC, KMS contract, deployer)
#   kg_devnet_sim               keygate sim init $TMP/sim (its root CA: SIM_ROOT_CA) and sim
#                               pccs: PPORT, PCCS_PID (recorded in $TMP/devnet.json)
#   kg_devnet_kms_config [FILE] the KMS config (default $TMP/kms.json), see below
#   kg_devnet_bootstrap         --bootstrap into $TMP/bootstrap.json: K256, OSH, MRA, DEV
#   kg_devnet_register_kms      keygate kms allow --os-image/--mr/--device, then kms publish
#                               --bootstrap (the quote verified against the PCCS: setKmsInfo)
#   kg_devnet_start_kms [FILE]  KMS_PID, KPORT, KURL (stderr appended to $TMP/kms.log; KG_KMS_LOG_FORMAT
#                               = text/json is passed as --log-format)
#   kg_devnet_register_app HASH prints the id of a new app allowing compose hash HASH
#                               (keygate app deploy --hash)
#   kg_cli ARGS...              keygate ARGS --state $TMP: stdout in $TMP/cli.out, stderr
#                               appended to $TMP/cli.log; dies if it fails
#   kg_devnet_state KEY VALUE.. records string members in $TMP/devnet.json
# Further KMS nodes made from the devnet's KMS (KMS_CONFIG and KMS_STATE: its config and state
# dir, e.g. from devnet.json's kms_config and kms_state_dir):
#   kg_kms_node_config DIR [FILTER]  DIR/kms.json: KMS_CONFIG with state dir DIR/state, a VM of
#                               its own, port 0, self-check only at start, no admin listener
#                               (so /metrics is on its public port), then the jq FILTER
#   kg_kms_node_keys DIR        the devnet KMS's keys for it: KMS_STATE copied to DIR/state, not
#                               its audit log (two writers never share one)
#   kg_kms_start CONFIG PORTFILE LOG [ARGS...]  a KMS (KG_KMS_BIN, default keygate-kms) with ARGS,
#                               stderr appended to LOG: NODE_PID (in PIDS), NODE_PORT once it listens
# The KMS config: the one the devnet's own KMS runs on (`keygate kms config --state $TMP`: eth
# policy on two routes to the devnet's anvil, a quorum of both; the PCCS; the simulator's trust
# root and TEE, VM "kms"; 2 workers), with state dir $TMP/state and a self-check only at start
# (a test decides when it runs); then the test's variations: KG_KMS_POLICY replaces the policy
# and KG_KMS_LIMITS the limits (JSON objects), KG_KMS_EXTRA adds members (e.g. "tls": {...}).
# Processes a test starts itself go into PIDS too; kg_cleanup_extra, if defined, runs at exit
# before TMP is removed (KEEP_TMP=1 keeps it).

. "$SRC/tests/integration/itest_services.sh"

ANVIL="$SRC/tools/node_modules/.bin/anvil"
CAST="$SRC/tools/node_modules/.bin/cast"
KMS="${BUILD:-}/bin/keygate-kms"
CLI="${BUILD:-}/bin/keygate"

kg_devnet_cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KG_DEVNET_UP:-}" ]; then "$CLI" devnet down --state "$TMP" >/dev/null 2>&1 || true; fi
  if declare -F kg_cleanup_extra >/dev/null; then kg_cleanup_extra || true; fi
  if [ "${KEEP_TMP:-0}" = 1 ]; then echo "$KG_DEVNET_NAME: kept $TMP" >&2; else rm -rf "$TMP"; fi
}

kg_devnet_begin() {
  KG_DEVNET_NAME="$1"
  TMP="$(mktemp -d "/tmp/kg-$1.XXXXXX")"
  PIDS=()
  trap kg_devnet_cleanup EXIT
}

kg_devnet_up() {
  KG_DEVNET_UP=1
  "$@" "$CLI" devnet up --state "$TMP" >"$TMP/up.json" 2>"$TMP/up.err" || { cat "$TMP/up.err" >&2; die "devnet up"; }
}

# wait_file FILE [PID, default: the last started]: services bind port 0 and report the port
# they got; the wait ends early if the process exits.
wait_file() { kg_wait_file "$1" "${2:-$!}"; }

kg_devnet_chain() {
  kg_start_anvil "$ANVIL" "$TMP/anvil.log" "$@"
  PIDS+=("$ANVIL_PID")
  # anvil's well-known first dev account (a public test key, not a secret)
  export KEYGATE_DEPLOYER_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
  OWNER=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266
  DEPLOY="$("$SRC/scripts/deploy-contracts" --rpc-url "$RPC" 2>"$TMP/deploy.log")" ||
    { cat "$TMP/deploy.log" >&2; die "deploy-contracts"; }
  KMSC="$(jq -r .kms <<<"$DEPLOY")"
  kg_devnet_chain_state "$TMP"
}

kg_devnet_chain_state() {
  mkdir -p "$1"
  jq -n --arg rpc "$RPC" --arg kms "$KMSC" --arg key "$KEYGATE_DEPLOYER_KEY" \
    '{version:1, rpc_url:$rpc, chain_id:31337, kms_contract:$kms, private_key:$key}' >"$1/devnet.json"
  chmod 600 "$1/devnet.json"
}

# kg_devnet_state KEY VALUE...: records string members in $TMP/devnet.json (0600, made if absent),
# the devnet state the CLI's steps read (--state "$TMP"), as `keygate devnet up` keeps it.
kg_devnet_state() {
  local f="$TMP/devnet.json"
  local -a args=()
  [ -f "$f" ] || (umask 077 && echo '{"version": 1, "chain_id": 31337}' >"$f") || die "creating $f"
  while [ $# -ge 2 ]; do args+=(--arg "$1" "$2"); shift 2; done
  (umask 077 && jq '. + $ARGS.named' "${args[@]}" "$f" >"$f.new") && mv "$f.new" "$f" || die "updating $f"
}

# kg_cli ARGS...: a keygate step on this devnet (--state "$TMP"); stdout in $TMP/cli.out, stderr
# appended to $TMP/cli.log; dies with its stderr if it fails.
kg_cli() {
  local from=0
  [ ! -f "$TMP/cli.log" ] || from="$(wc -c <"$TMP/cli.log")"
  "$CLI" "$@" --state "$TMP" >"$TMP/cli.out" 2>>"$TMP/cli.log" ||
    { tail -c +"$((from + 1))" "$TMP/cli.log" >&2; die "keygate $*"; }
}

kg_send() { "$CAST" send --rpc-url "$RPC" --private-key "$KEYGATE_DEPLOYER_KEY" --json "$@" >"$TMP/tx.json" || die "cast send $*"; }

# Starts (or restarts, on the port it had) the simulated platform's PCCS.
kg_devnet_start_pccs() {
  local from=0
  [ ! -f "$TMP/pccs.log" ] || from="$(wc -c <"$TMP/pccs.log")"
  "$CLI" sim pccs --dir "$TMP/sim" --listen "127.0.0.1:${PPORT:-0}" 2>>"$TMP/pccs.log" &
  PCCS_PID=$!
  PIDS+=("$PCCS_PID")
  kg_wait_log "$TMP/pccs.log" "$from" ' on http://127\.0\.0\.1:[0-9]+' "$PCCS_PID" "keygate sim pccs"
  PPORT="${KG_LOG_MATCH##*:}"
}

kg_devnet_sim() {
  "$CLI" sim init "$TMP/sim" >"$TMP/sim-init.log" 2>&1 || { cat "$TMP/sim-init.log" >&2; die "sim init"; }
  SIM_ROOT_CA="$TMP/sim/root_ca.pem"
  PPORT=0
  kg_devnet_start_pccs
  kg_devnet_state sim_dir "$TMP/sim" sim_root_ca "$SIM_ROOT_CA" pccs_url "http://127.0.0.1:$PPORT"
}

kg_devnet_kms_config() {
  local out="${1:-$TMP/kms.json}"
  local -a chain=()
  # Without a chain (KMSC unset) the test's KG_KMS_POLICY replaces the eth policy, so the chain
  # the CLI's config names is a placeholder.
  [ -n "${KMSC:-}" ] || chain=(--rpc-url http://127.0.0.1:1 --kms-contract 0x0000000000000000000000000000000000000000)
  kg_cli kms config --kms-state "$TMP/state" "${chain[@]}"
  jq --argjson policy "${KG_KMS_POLICY:-null}" --argjson limits "${KG_KMS_LIMITS:-null}" \
    --argjson extra "{${KG_KMS_EXTRA:-}}" \
    '.self_check_interval_s = 0 | if $policy then .policy = $policy else . end |
     if $limits then .limits = $limits else . end | . + $extra' "$TMP/cli.out" >"$out" ||
    die "KMS config: KG_KMS_POLICY, KG_KMS_LIMITS or KG_KMS_EXTRA is not JSON"
}

kg_devnet_bootstrap() {
  "$KMS" --config "${1:-$TMP/kms.json}" --bootstrap >"$TMP/bootstrap.json" 2>"$TMP/bootstrap.log" ||
    { cat "$TMP/bootstrap.log" >&2; die "KMS bootstrap"; }
  K256="$(jq -r .k256_pubkey "$TMP/bootstrap.json")"
  OSH="$(jq -r .kms_boot_info.os_image_hash "$TMP/bootstrap.json")"
  MRA="$(jq -r .kms_boot_info.mr_aggregated "$TMP/bootstrap.json")"
  DEV="$(jq -r .kms_boot_info.device_id "$TMP/bootstrap.json")"
  [ "${#K256}" = 66 ] && [ "${#OSH}" = 64 ] ||
    { cat "$TMP/bootstrap.log" >&2; die "KMS bootstrap info incomplete: $(cat "$TMP/bootstrap.json")"; }
}

# Governance allows this KMS (its OS image, aggregated MR and device) and publishes its root keys
# (kmsInfo) after verifying its quote: a KMS serves nothing unless kmsInfo holds its own keys.
kg_devnet_register_kms() {
  kg_cli kms allow --os-image "$OSH"
  kg_cli kms allow --mr "$MRA"
  kg_cli kms allow --device "$DEV"
  kg_cli kms publish --bootstrap "$TMP/bootstrap.json"
}

kg_devnet_start_kms() {
  rm -f "$TMP/kms.port"
  # KG_KMS_WRAPPER: a command the KMS runs under (keygate-bench kms --callgrind: valgrind).
  local -a wrap=()
  [ -z "${KG_KMS_WRAPPER:-}" ] || read -r -a wrap <<<"$KG_KMS_WRAPPER"
  "${wrap[@]}" "$KMS" --config "${1:-$TMP/kms.json}" ${KG_KMS_LOG_FORMAT:+--log-format "$KG_KMS_LOG_FORMAT"} \
    --port-file "$TMP/kms.port" 2>>"$TMP/kms.log" &
  KMS_PID=$!
  PIDS+=("$KMS_PID")
  wait_file "$TMP/kms.port"
  KPORT="$(cat "$TMP/kms.port")"
  KURL="https://127.0.0.1:$KPORT"
}

# A new app allowing compose hash HASH (any device, any TCB status but Revoked, owned by the
# deployer): prints its id, 40 lower-case hex digits.
kg_devnet_register_app() {
  kg_cli app deploy --tcb not-revoked --hash "$1"
  jq -r .app_id "$TMP/cli.out" | tr 'A-F' 'a-f' | cut -c3-
}

kg_kms_node_config() {
  local dir="$1" filter="${2:-.}"
  mkdir -p "$dir"
  jq --arg s "$dir/state" --arg vm "${KG_DEVNET_NAME:-node}-${dir##*/}-$$" \
    ".state_dir = \$s | .tee.sim_vm = \$vm | .listen.port = 0 | .self_check_interval_s = 0 | del(.audit_db) | del(.admin_listen) | $filter" \
    "$KMS_CONFIG" >"$dir/kms.json" || die "KMS config for $dir"
}

kg_kms_node_keys() {
  cp -a "$KMS_STATE" "$1/state" || die "copying the KMS state to $1"
  rm -f "$1/state"/audit.db*
}

kg_kms_start() {
  local cfg="$1" port_file="$2" log="$3"
  shift 3
  rm -f "$port_file"
  "${KG_KMS_BIN:-$KMS}" --config "$cfg" --port-file "$port_file" "$@" 2>>"$log" &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  kg_wait_file "$port_file" "$NODE_PID" "keygate-kms ($cfg)"
  NODE_PORT="$(cat "$port_file")"
}

kg_run() {
  local want_rc="$1" want_msg="$2"
  shift 2
  set +e; "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?; set -e
  [ "$rc" = "$want_rc" ] || die "'$*': exit $rc, expected $want_rc; stderr: $(cat "$TMP/err")"
  [ -z "$want_msg" ] || grep -qF -- "$want_msg" "$TMP/err" || die "'$*': stderr lacks '$want_msg': $(cat "$TMP/err")"
}
