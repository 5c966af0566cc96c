#!/usr/bin/env bash
# kms_env.sh - sets up what `keygate-bench kms` measures against: anvil with the contracts, the
# simulated TDX platform and PCCS, a bootstrapped keygate-kms registered on chain, and one app
# allowed to get its keys. Prints one JSON line {kms_port, kms_pid, sim_dir, app_id,
# compose_hash, instance_id, state_dir}, then stays until SIGTERM and tears everything down.
# Usage: kms_env.sh BUILD_DIR [WORKERS] [RPC_NODES]
# RPC_NODES (1 or 2): chain nodes the KMS asks per decision, with a quorum of all of them; 2 are
# two routes (127.0.0.1 and localhost) to the one anvil, which measures the quorum path's cost.
set -euo pipefail
BUILD="$(cd "$1" && pwd)"
WORKERS="${2:-8}"
RPC_NODES="${3:-1}"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ANVIL="$SRC/tools/node_modules/.bin/anvil"
CAST="$SRC/tools/node_modules/.bin/cast"
KMS="$BUILD/bin/keygate-kms"
SIM="$BUILD/tests/kms-itest-sim"
TMP="$(mktemp -d /tmp/kg-kms-bench.XXXXXX)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 0' TERM INT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_file() { for _ in $(seq 1 200); do [ -s "$1" ] && return 0; sleep 0.05; done; echo "kms_env: timeout on $1" >&2; exit 1; }
log() { echo "kms_env: $*" >&2; }

APORT="$(free_port)"; RPC="http://127.0.0.1:$APORT"
"$ANVIL" --port "$APORT" --silent >/dev/null 2>&1 & PIDS+=($!)
for _ in $(seq 1 100); do "$CAST" block-number --rpc-url "$RPC" >/dev/null 2>&1 && break; sleep 0.1; done
export KEYGATE_DEPLOYER_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
OWNER=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266
KMSC="$("$SRC/scripts/deploy-contracts" --rpc-url "$RPC" 2>/dev/null | jq -r .kms)"
send() { "$CAST" send --rpc-url "$RPC" --private-key "$KEYGATE_DEPLOYER_KEY" --json "$@" >"$TMP/tx.json"; }

"$SIM" init "$TMP/sim" >&2
"$SIM" root-ca "$TMP/sim" "$TMP/sim-root.pem"
PPORT="$(free_port)"
"$SIM" pccs "$TMP/sim" "$PPORT" "$TMP/pccs.port" & PIDS+=($!)
wait_file "$TMP/pccs.port"
case "$RPC_NODES" in
  1) RPC_URLS="[\"$RPC\"]" ;;
  2) RPC_URLS="[\"$RPC\", \"http://localhost:$APORT\"]" ;;
  *) echo "kms_env: RPC_NODES must be 1 or 2" >&2; exit 2 ;;
esac
cat >"$TMP/kms.json" <<JSON
{"listen": {"address": "127.0.0.1", "port": 0}, "state_dir": "$TMP/state",
 "policy": {"backend": "eth", "rpc_urls": $RPC_URLS, "kms_contract": "$KMSC", "chain_id": 31337},
 "pccs_url": "http://127.0.0.1:$PPORT",
 "trust_root": {"kind": "sim", "sim_ca_file": "$TMP/sim-root.pem"},
 "tee": {"backend": "sim", "sim_dir": "$TMP/sim"},
 "limits": {"workers": $WORKERS, "max_connections": 1024}, "self_check_interval_s": 0}
JSON
"$KMS" --config "$TMP/kms.json" --bootstrap >"$TMP/bootstrap.json"
send "$KMSC" "addOsImageHash(bytes32)" "0x$(jq -r .kms_boot_info.os_image_hash "$TMP/bootstrap.json")"
send "$KMSC" "addKmsAggregatedMr(bytes32)" "0x$(jq -r .kms_boot_info.mr_aggregated "$TMP/bootstrap.json")"
send "$KMSC" "addKmsDevice(bytes32)" "0x$(jq -r .kms_boot_info.device_id "$TMP/bootstrap.json")"
# the root keys published on chain: a KMS serves nothing unless kmsInfo holds its own keys
send "$KMSC" "setKmsInfo((bytes,bytes,bytes,bytes))" \
  "(0x$(jq -r .k256_pubkey "$TMP/bootstrap.json"),0x$(jq -r .ca_pubkey "$TMP/bootstrap.json"),0x$(jq -r .quote "$TMP/bootstrap.json"),0x$(jq -r .eventlog "$TMP/bootstrap.json"))"
H1=$(printf 'bench app' | sha256sum | cut -c1-64)
send "$KMSC" "deployAndRegisterApp(address,bool,bool,bool,bytes32,bytes32)" "$OWNER" false false true \
  0x0000000000000000000000000000000000000000000000000000000000000000 "0x$H1"
APP="$(jq -r '.logs[] | select(.topics[0]=="0xfd86d7f6962eba3b7a3bf9129c06c0b2f885e1c61ef2c9f0dbb856be0deefdee") | .topics[1]' "$TMP/tx.json" | cut -c27-66)"
"$KMS" --config "$TMP/kms.json" --port-file "$TMP/kms.port" 2>"$TMP/kms.log" & KMS_PID=$!; PIDS+=($KMS_PID)
wait_file "$TMP/kms.port"
printf '{"kms_port":%s,"kms_pid":%s,"sim_dir":"%s","app_id":"%s","compose_hash":"%s","instance_id":"00112233445566778899aabbccddeeff00112233","state_dir":"%s"}\n' \
  "$(cat "$TMP/kms.port")" "$KMS_PID" "$TMP/sim" "$APP" "$H1" "$TMP/state"
while true; do sleep 1; done
