#!/usr/bin/env bash
# kms_env.sh - sets up what `keygate-bench kms` measures against: anvil with the contracts, the
# simulated TDX platform and PCCS, a bootstrapped keygate-kms registered on chain, and one app
# allowed to get its keys. Prints one JSON line {kms_port, kms_pid, sim_dir, app_id,
# compose_hash, instance_id, state_dir}, then stays until SIGTERM and tears everything down
# (tests/support/devnet.sh, the tests' devnet).
# Usage: kms_env.sh BUILD_DIR [WORKERS] [RPC_NODES]
# RPC_NODES (1 or 2): chain nodes the KMS asks per decision, with a quorum of all of them; 2 are
# two routes (127.0.0.1 and localhost) to the one anvil, which measures the quorum path's cost.
set -euo pipefail
BUILD="$(cd "$1" && pwd)"
WORKERS="${2:-8}"
RPC_NODES="${3:-1}"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "kms_env: $*" >&2; exit 1; }
. "$SRC/tests/support/devnet.sh"
kg_devnet_begin kms-bench
trap 'exit 0' TERM INT

kg_devnet_chain
kg_devnet_sim
case "$RPC_NODES" in
  1) RPC_URLS="[\"$RPC\"]" ;;
  2) RPC_URLS="[\"$RPC\", \"http://localhost:$APORT\"]" ;;
  *) die "RPC_NODES must be 1 or 2" ;;
esac
KG_KMS_POLICY='{"backend": "eth", "rpc_urls": '"$RPC_URLS"', "kms_contract": "'"$KMSC"'", "chain_id": 31337}' \
  KG_KMS_LIMITS='{"workers": '"$WORKERS"', "max_connections": 1024}' kg_devnet_kms_config
kg_devnet_bootstrap
kg_devnet_register_kms
H1=$(printf 'bench app' | sha256sum | cut -c1-64)
APP="$(kg_devnet_register_app "$H1")"
kg_devnet_start_kms
printf '{"kms_port":%s,"kms_pid":%s,"sim_dir":"%s","app_id":"%s","compose_hash":"%s","instance_id":"00112233445566778899aabbccddeeff00112233","state_dir":"%s"}\n' \
  "$KPORT" "$KMS_PID" "$TMP/sim" "$APP" "$H1" "$TMP/state"
while true; do sleep 1; done
