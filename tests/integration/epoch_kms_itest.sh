#!/usr/bin/env bash
# epoch_kms_itest.sh - the KMS side of root-key epochs (docs/design.md, "Root-key epochs") on a
# devnet: a replica with an admin listener proposes epoch 1 (POST /epoch/propose): generated in
# its TEE, attested with the epoch REPORTDATA (recomputed here from the public values), the
# attestation hash keccak256(quote), the proposer identity the devnet allows; a wrong number or
# body refused; asked again, the same pending epoch; sealed, so a restart still holds it. The
# app keys of epoch 0 are unchanged meanwhile.
# Usage: epoch_kms_itest.sh BUILD_DIR
set -euo pipefail
BUILD="$(cd "${1:?usage: epoch_kms_itest.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KG="$BUILD/bin/keygate"
KMS="$BUILD/bin/keygate-kms"
CAST="$SRC/tools/node_modules/.bin/cast"
[ -x "$SRC/tools/node_modules/.bin/anvil" ] && [ -x "$CAST" ] || { echo "SKIP: tools not installed (scripts/setup)"; exit 77; }
command -v python3 >/dev/null && command -v jq >/dev/null || { echo "SKIP: python3/jq missing"; exit 77; }

. "$SRC/tests/support/devnet.sh"
kg_devnet_begin epoch-kms
W="$TMP/w"
mkdir -p "$W"
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() {
  echo "not ok - $*" >&2
  for f in "$TMP/up.err" "$W"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done
  exit 1
}

kg_devnet_up
DN="$TMP/devnet.json"
RPC="$(jq -r .rpc_url "$DN")"
KMSC="$(jq -r .kms_contract "$DN")"
KURL="$(jq -r .kms_url "$TMP/up.json")"
OSH="$(jq -r .os_image_hash "$TMP/up.json")"

# ---- a replica with an admin listener (onboarded from the devnet's KMS) ---------------------------
"$KG" kms config --state "$TMP" --kms-state "$TMP/kms2" --sim-vm kms2 --admin-listen 127.0.0.1:0 \
  --log-format json --out "$W/kms2.json" || die "kms config"
R_PID=""
start_replica() { # start_replica [--onboard SRC]
  : >"$W/kms2.port"
  "$KMS" --config "$W/kms2.json" "$@" --port-file "$W/kms2.port" 2>>"$W/kms2.log" &
  R_PID=$!
  PIDS+=("$R_PID")
  kg_wait_file "$W/kms2.port" "$R_PID" "replica KMS"
  APORT="$(jq -r 'select(.msg|startswith("admin listening on http://127.0.0.1:")) | .msg | capture(":(?<p>[0-9]+) ").p' "$W/kms2.log" | tail -1)"
  [ -n "$APORT" ] || die "no admin listener line"
  ADMIN="http://127.0.0.1:$APORT"
}
stop_replica() { kill "$R_PID"; wait "$R_PID" 2>/dev/null || true; }
start_replica --onboard "${KURL#https://}"
curl -sf "$ADMIN/epochs" >"$W/epochs0.json" || die "GET /epochs"
jq -e '.current == 0 and (.epochs|length) == 1 and .epochs[0].epoch == 0 and .epochs[0].status == "current"' \
  "$W/epochs0.json" >/dev/null || die "GET /epochs before a rotation: $(cat "$W/epochs0.json")"
[ "$(jq -r '.epochs[0].k256_pubkey' "$W/epochs0.json")" = "$(jq -r .k256_pubkey "$TMP/up.json")" ] ||
  die "epoch 0 is not the devnet's root key"
ok "a replica onboarded; GET /epochs: epoch 0, current, the key kmsInfo publishes"

# ---- refusals: nothing generated --------------------------------------------------------------------
post() { # post BODY -> $W/post.json, $CODE
  CODE="$(curl -s -o "$W/post.json" -w '%{http_code}' -X POST --data "$1" "$ADMIN/epoch/propose")"
}
post '{"epoch": 2}'
[ "$CODE" = 400 ] && jq -e '.error | contains("epoch 2 is not the next epoch: the current epoch is 0, so propose 1")' "$W/post.json" >/dev/null ||
  die "epoch 2 proposed: $CODE $(cat "$W/post.json")"
post '{"epoch": 1, "x": 1}'
[ "$CODE" = 400 ] && jq -e '.error | contains("want {\"epoch\": N}")' "$W/post.json" >/dev/null || die "extra member: $CODE $(cat "$W/post.json")"
post 'epoch=1'
[ "$CODE" = 400 ] && jq -e '.error | contains("body is not JSON")' "$W/post.json" >/dev/null || die "not JSON: $CODE"
curl -sf "$ADMIN/epochs" | jq -e '(.epochs|length) == 1' >/dev/null || die "a refused proposal left an epoch"
ok "POST /epoch/propose: a number that is not current + 1, an extra member, a body that is not JSON: 400, nothing generated"

# ---- epoch 1 proposed --------------------------------------------------------------------------------
post '{"epoch": 1}'
[ "$CODE" = 200 ] || die "propose epoch 1: $CODE $(cat "$W/post.json")"
cp "$W/post.json" "$W/p1.json"
P="$W/p1.json"
CA="$(jq -r .ca_pubkey "$P")"; K1="$(jq -r .k256_pubkey "$P")"; Q="$(jq -r .quote "$P")"
[ "${#K1}" = 66 ] && [ "$K1" != "$(jq -r .k256_pubkey "$TMP/up.json")" ] || die "epoch 1's k256 key: $K1"
# REPORTDATA = SHA-512("keygate-root-epoch:" || chain_id u64 || contract || epoch u32 || SHA-256(ca) || k256)
python3 - "$P" "$KMSC" <<'EOF' || die "epoch 1's REPORTDATA is not the binding"
import hashlib, json, sys
p = json.load(open(sys.argv[1]))
ca, k = bytes.fromhex(p["ca_pubkey"]), bytes.fromhex(p["k256_pubkey"])
want = hashlib.sha512(b"keygate-root-epoch:" + (31337).to_bytes(8, "big") + bytes.fromhex(sys.argv[2][2:])
                      + (1).to_bytes(4, "big") + hashlib.sha256(ca).digest() + k).digest()
quote = bytes.fromhex(p["quote"])
got = quote[48 + 520:48 + 520 + 64]  # TDX quote v4: header, then the TD report's REPORTDATA
sys.exit(0 if got == want else 1)
EOF
[ "$(jq -r .attestation_hash "$P")" = "$("$CAST" keccak "0x$Q")" ] || die "attestation_hash is not keccak256(quote)"
[ "$(jq -r .os_image_hash "$P")" = "0x$OSH" ] || die "proposer os_image_hash $(jq -r .os_image_hash "$P") (want 0x$OSH)"
MRA="$(jq -r .mr_aggregated "$P")"; DEV="$(jq -r .device_id "$P")"
[ "$("$CAST" call --rpc-url "$RPC" "$KMSC" "kmsAllowedAggregatedMrs(bytes32)(bool)" "$MRA")" = true ] ||
  die "the proposer's mr_aggregated $MRA is not the one the devnet allows"
[ "$("$CAST" call --rpc-url "$RPC" "$KMSC" "kmsAllowedDeviceIds(bytes32)(bool)" "$DEV")" = true ] ||
  die "the proposer's device_id $DEV is not the one the devnet allows"
jq -e '.eventlog | fromjson | length > 0' "$P" >/dev/null || die "eventlog is not the event log JSON"
ok "epoch 1 proposed: new keys, REPORTDATA binds chain, contract, epoch and both keys; attestation_hash = keccak256(quote); the proposer's os image, MR and device"

post '{"epoch": 1}'
[ "$CODE" = 200 ] && [ "$(jq -r .k256_pubkey "$W/post.json")" = "$K1" ] && [ "$(jq -r .quote "$W/post.json")" = "$Q" ] ||
  die "asked again: another epoch 1"
post '{"epoch": 2}'
[ "$CODE" = 403 ] && jq -e '.error | contains("epoch 1 is already proposed by this node")' "$W/post.json" >/dev/null ||
  die "a second pending epoch: $CODE $(cat "$W/post.json")"
curl -sf "$ADMIN/epochs" >"$W/epochs1.json"
jq -e --arg k "$K1" '.current == 0 and (.epochs|length) == 2 and .epochs[1] == {"epoch":1,"status":"proposed","k256_pubkey":$k}' \
  "$W/epochs1.json" >/dev/null || die "GET /epochs with a proposal: $(cat "$W/epochs1.json")"
ok "asked again: the same pending epoch 1 (same keys and quote); epoch 2 refused while 1 is pending; GET /epochs lists it as proposed"

# ---- sealed: a restart in the same VM still holds it ---------------------------------------------------
stop_replica
start_replica
curl -sf "$ADMIN/epochs" | jq -e --arg k "$K1" '.current == 0 and .epochs[1].k256_pubkey == $k and .epochs[1].status == "proposed"' >/dev/null ||
  die "after a restart: $(curl -s "$ADMIN/epochs")"
grep -q "root keys sealed in $TMP/kms2/root-keys.sealed (this VM's sealing key); 2 epochs" "$W/kms2.log" || die "no sealing line for 2 epochs"
post '{"epoch": 1}'
[ "$(jq -r .quote "$W/post.json")" = "$Q" ] || die "the proposal's attestation was not kept"
[ -f "$TMP/kms2/root-ca-epoch-1.pem" ] && openssl x509 -in "$TMP/kms2/root-ca-epoch-1.pem" -noout -pubkey |
  openssl pkey -pubin -outform DER | xxd -p | tr -d '\n' | grep -qx "$CA" || die "epoch 1's root CA certificate"
ok "restarted: epoch 1 still proposed with its attestation (sealed, 2 epochs); its root CA certificate certifies its CA key"
echo "1..$PASS"
