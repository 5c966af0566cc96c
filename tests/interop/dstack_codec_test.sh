#!/usr/bin/env bash
# dstack_codec_test.sh - dstack's VersionedAttestation (V0 SCALE, V1 msgpack) and
# CertSigningRequestV2 agree between keygate and independent npm codecs (scale-ts,
# @msgpack/msgpack) with types transcribed from dstack's source: what the Node peer encodes,
# keygate decodes to the same fields and event digests (V1 and V2 computed by node:crypto); what
# keygate encodes, the Node peer decodes to the same fixture.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
peer=$build/tests/kg-dstack-codec
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v node >/dev/null || { echo "node missing"; exit 77; }
command -v jq >/dev/null || { echo "jq missing"; exit 77; }
[ -d "${NODE_PATH:-}/scale-ts" ] && [ -d "${NODE_PATH:-}/@msgpack/msgpack" ] ||
  { echo "tools not installed (scripts/setup)"; exit 77; }
[ -x "$peer" ] || { echo "kg-dstack-codec not built"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
same() { [ "$(jq -S . "$1")" = "$(jq -S . "$2")" ] || fail "$3: $(diff <(jq -S . "$1") <(jq -S . "$2"))"; }

NODE_PATH=$NODE_PATH node "$here/dstack_codec.mjs" encode "$tmp"

# npm -> keygate
for w in v0 v1; do
  "$peer" attestation "$tmp/att_$w.bin" >"$tmp/kg_$w.json" || fail "keygate refused the npm $w attestation"
  same "$tmp/kg_$w.json" "$tmp/att_$w.json" "npm $w attestation decoded by keygate"
  echo "ok - npm-encoded $w attestation: keygate reads the same fields and digests"
done
"$peer" csr "$tmp/csr_v2.bin" >"$tmp/kg_csr.json" || fail "keygate refused the npm CSR v2"
same "$tmp/kg_csr.json" "$tmp/csr_v2.json" "npm CSR v2 decoded by keygate"
echo "ok - npm-encoded CertSigningRequestV2 (V1 attestation, a V2 event): keygate reads the same"

# keygate -> npm
for w in v0 v1; do
  "$peer" encode "$w" "$tmp/kgenc_$w.bin"
  NODE_PATH=$NODE_PATH node "$here/dstack_codec.mjs" decode "$tmp/kgenc_$w.bin" >"$tmp/npm_$w.json" ||
    fail "the npm codecs refused keygate's $w encoding"
  "$peer" attestation "$tmp/kgenc_$w.bin" >"$tmp/kgself_$w.json"
  same "$tmp/npm_$w.json" "$tmp/kgself_$w.json" "keygate's $w encoding read by the npm codecs"
  # the fixture is the one the npm peer encodes (all V1 events)
  proj='{quote,report_data,config_hex,runtime_events}'
  [ "$(jq -cS "$proj" "$tmp/npm_$w.json")" = "$(jq -cS "$proj" "$tmp/att_v0.json")" ] ||
    fail "keygate's $w encoding is not the fixture"
  echo "ok - keygate-encoded $w attestation: the npm codecs read the fixture"
done

# byte-exact: keygate's V0 encoding is the npm SCALE encoding except the TDX log's digests
# (keygate writes them, dstack's certificates strip them): both decode identically above
cmp -s "$tmp/kgenc_v0.bin" "$tmp/att_v0.bin" && echo "ok - V0 byte-identical" || echo "   (V0 bytes differ only in stated TDX digests)"

# truncated and wrong-variant inputs are refused by keygate
head -c -1 "$tmp/att_v0.bin" >"$tmp/cut.bin"
"$peer" attestation "$tmp/cut.bin" 2>/dev/null && fail "a truncated V0 attestation was accepted"
printf '\x00\x03' >"$tmp/snp.bin"
"$peer" attestation "$tmp/snp.bin" 2>"$tmp/err" && fail "an SEV-SNP attestation was accepted"
grep -q "DstackAmdSevSnp is not supported" "$tmp/err" || fail "SEV-SNP refusal: $(cat "$tmp/err")"
echo "ok - truncated and non-TDX attestations refused"
