#!/usr/bin/env bash
# kms_env.sh - sets up what `keygate-bench kms` measures against: anvil with the contracts, the
# simulated TDX platform and PCCS, a bootstrapped keygate-kms registered on chain, and one app
# allowed to get its keys. Prints one JSON line {kms_port, kms_pid, anvil_pid, anvil_log, sim_dir,
# app_id, compose_hash, instance_id, state_dir, apps, compose_hashes, log_entries, setup_s}
# (anvil_log: anvil's output, one line per JSON-RPC method it served), then stays
# until SIGTERM and tears everything down (tests/support/devnet.sh, the tests' devnet).
# Usage: kms_env.sh BUILD_DIR [WORKERS] [RPC_NODES] [APPS] [HASHES] [LOG_ENTRIES] [HEAD_TXS]
# APPS, HASHES, LOG_ENTRIES (default 0, 1, 0; kms_scale.sh): apps registered besides the bench
# app, compose hashes the bench app allows (its own one in the middle), decisions in the KMS's
# log before it starts.
# HEAD_TXS (default 500): transactions in the head block the KMS starts on (0: an empty block).
# The KMS reads the head per decision, so this is the chain's block size as the KMS sees it.
# KG_BENCH_HEAD_MAX_AGE_MS (environment, optional): the KMS's policy.head_max_age_ms.
# RPC_NODES (1 or 2): chain nodes the KMS asks per decision, with a quorum of all of them; 2 are
# two routes (127.0.0.1 and localhost) to the one anvil, which measures the quorum path's cost.
set -euo pipefail
BUILD="$(cd "$1" && pwd)"
WORKERS="${2:-8}"
RPC_NODES="${3:-1}"
APPS="${4:-0}"
HASHES="${5:-1}"
LOG_ENTRIES="${6:-0}"
HEAD_TXS="${7:-500}"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "kms_env: $*" >&2; exit 1; }
. "$SRC/tests/support/devnet.sh"
. "$SRC/bench/kms_scale.sh"
kg_devnet_begin kms-bench
trap 'exit 0' TERM INT

T0=$(date +%s.%N)
# a block holds a whole kms_scale.sh batch (1,000 factory deployments of ~370,000 gas)
kg_devnet_chain --gas-limit 1000000000
kg_devnet_sim
case "$RPC_NODES" in
  1) RPC_URLS="[\"$RPC\"]" ;;
  2) RPC_URLS="[\"$RPC\", \"http://localhost:$APORT\"]" ;;
  *) die "RPC_NODES must be 1 or 2" ;;
esac
KG_KMS_POLICY='{"backend": "eth", "rpc_urls": '"$RPC_URLS"', "kms_contract": "'"$KMSC"'", "chain_id": 31337'"${KG_BENCH_HEAD_MAX_AGE_MS:+, \"head_max_age_ms\": $KG_BENCH_HEAD_MAX_AGE_MS}"'}' \
  KG_KMS_LIMITS='{"workers": '"$WORKERS"', "max_connections": 1024}' kg_devnet_kms_config
kg_devnet_bootstrap
kg_devnet_register_kms
H1=$(printf 'bench app' | sha256sum | cut -c1-64)
kg_scale_apps "$APPS"
APP="$(kg_scale_app "$H1" "$HASHES")"
kg_scale_log "$LOG_ENTRIES"
# The head the KMS starts on: one block of HEAD_TXS plain transfers carrying a word of calldata
# (what a busy block's hashes cost the KMS), or an empty block.
if [ "$HEAD_TXS" -gt 0 ]; then
  kg_scale_send 0x000000000000000000000000000000000000dEaD 0x 0 "$HEAD_TXS"
else
  kg_scale_rpc "$TMP/scale.out" '{"jsonrpc":"2.0","id":1,"method":"evm_mine","params":[]}'
fi
kg_devnet_start_kms
printf '{"kms_port":%s,"kms_pid":%s,"anvil_pid":%s,"anvil_log":"%s","sim_dir":"%s","app_id":"%s","compose_hash":"%s","instance_id":"00112233445566778899aabbccddeeff00112233","state_dir":"%s","apps":%s,"compose_hashes":%s,"log_entries":%s,"setup_s":%s}\n' \
  "$KPORT" "$KMS_PID" "$ANVIL_PID" "$TMP/anvil.log" "$TMP/sim" "$APP" "$H1" "$TMP/state" $((APPS + 1)) "$HASHES" "$LOG_ENTRIES" \
  "$(echo "$(date +%s.%N) - $T0" | bc)"
while true; do sleep 1; done
