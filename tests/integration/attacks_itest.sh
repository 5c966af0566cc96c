#!/usr/bin/env bash
# attacks_itest.sh - the breaks of issue 11, each mounted on a devnet as an attacker would, each
# expected to fail now:
#   1. an impostor KMS whose certificate the public temporary CA signed (and, as on a KMS that
#      predates the fix, one under a root-issued intermediate): the agent refuses it, the app
#      never starts, no key file is written;
#   2. certificates forged under the KMS root with the temporary CA: `openssl verify` refuses;
#      every CA the KMS issues is path-length constrained;
#   3. the relabelled event log from an app VM that extended a victim's identity after boot
#      (mounted directly, and by a real app process the agent ran as root), and the same
#      identity appended plainly: refused, audited with the claimed app id;
#   4. a blank VM asking GetKmsKey for the root keys: refused.
# Usage: attacks_itest.sh BUILD_DIR
set -euo pipefail
BUILD="$(cd "${1:?usage: attacks_itest.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KG="$BUILD/bin/keygate"
ATTACK="$BUILD/tests/attack-client"
[ -x "$SRC/tools/node_modules/.bin/anvil" ] || { echo "SKIP: tools not installed (scripts/setup)"; exit 77; }
for tool in "$KG" "$BUILD/bin/keygate-kms" "$ATTACK"; do
  [ -x "$tool" ] || { echo "attacks_itest: missing $tool (make build)" >&2; exit 1; }
done

STATE="$(mktemp -d /tmp/kg-attacks.XXXXXX)"
W="$STATE/work"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  "$KG" devnet down --state "$STATE" >/dev/null 2>&1 || true
  if [ "${KEEP_TMP:-0}" = 1 ]; then echo "attacks_itest: kept $STATE" >&2; else rm -rf "$STATE"; fi
}
trap cleanup EXIT
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() {
  echo "not ok - $*" >&2
  for f in "$STATE"/logs/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done
  exit 1
}

# ---- a devnet with a victim app -----------------------------------------------------------------
"$KG" devnet up --state "$STATE" >"$STATE/up.json" 2>"$STATE/up.err" || { cat "$STATE/up.err" >&2; die "devnet up"; }
mkdir -p "$W"
KMS_URL="$(jq -r .kms_url "$STATE/up.json")"
KMS_ADDR="${KMS_URL#https://}"
ROOT_CA="$(jq -r .kms_ca_cert "$STATE/devnet.json")"
SIM="$(jq -r .sim_dir "$STATE/devnet.json")"
KMS_STATE="$(jq -r .kms_state_dir "$STATE/devnet.json")"
[ -f "$ROOT_CA" ] && [ -d "$SIM" ] && [ -f "$KMS_STATE/root-ca.key" ] || die "devnet.json lacks kms_ca_cert/sim_dir/kms_state_dir"
printf '{"manifest_version":2,"name":"victim","runner":"docker-compose","docker_compose_file":"services: {}"}' >"$W/victim.json"
printf '{"manifest_version":2,"name":"attacker","runner":"docker-compose","docker_compose_file":"services: {}"}' >"$W/attacker.json"
"$KG" app deploy --state "$STATE" --tcb up-to-date --compose "$W/victim.json" >"$W/victim-deploy.json" || die "deploy victim"
"$KG" app deploy --state "$STATE" --tcb up-to-date --compose "$W/attacker.json" >"$W/attacker-deploy.json" || die "deploy attacker"
VICTIM="$(jq -r .app_id "$W/victim-deploy.json" | sed 's/^0x//' | tr 'A-F' 'a-f')"
ATTACKER="$(jq -r .app_id "$W/attacker-deploy.json" | sed 's/^0x//' | tr 'A-F' 'a-f')"
HV="$(jq -r .compose_hash "$W/victim-deploy.json")"
HA="$(jq -r .compose_hash "$W/attacker-deploy.json")"
ok "devnet up; victim app $VICTIM and attacker app $ATTACKER registered"

# The victim boots normally: the honest path still works.
"$KG" sim run --state "$STATE" --app "$VICTIM" --compose "$W/victim.json" -- true 2>"$W/victim.err" ||
  die "the victim app does not boot: $(cat "$W/victim.err")"
ok "the victim app boots against the real KMS (attestation checked, isKmsAllowed on chain)"

# ---- 1. impostor KMS ------------------------------------------------------------------------------
curl -sk -X POST "$KMS_URL/prpc/GetTempCaCert?json" -d '{}' >"$W/temp.json"
jq -r .temp_ca_cert "$W/temp.json" >"$W/temp-ca.pem"
jq -r .temp_ca_key "$W/temp.json" >"$W/temp-ca.key"
grep -q "BEGIN" "$W/temp-ca.key" || die "GetTempCaCert gave no key"
openssl verify -CAfile "$W/temp-ca.pem" "$W/temp-ca.pem" >/dev/null 2>&1 || die "the temporary CA is not self-signed"
if openssl verify -CAfile "$ROOT_CA" "$W/temp-ca.pem" >/dev/null 2>&1; then die "the temporary CA chains to the KMS root"; fi
ok "the temporary CA (its key public by design) is self-signed, outside the root's trust"

# mint LEAF_NAME ISSUER_CERT ISSUER_KEY [ca]: a P-256 certificate claiming usage kms:rpc
mint() {
  local name="$1" icert="$2" ikey="$3" ca="${4:-}"
  openssl ecparam -name prime256v1 -genkey -noout -out "$W/$name.key" 2>/dev/null
  {
    echo "subjectAltName=DNS:kms.keygate"
    echo "1.3.6.1.4.1.62397.1.4=DER:04:07:6b:6d:73:3a:72:70:63" # OCTET STRING "kms:rpc"
    if [ -n "$ca" ]; then echo "basicConstraints=critical,CA:TRUE"; echo "keyUsage=critical,keyCertSign";
    else echo "basicConstraints=critical,CA:FALSE"; echo "extendedKeyUsage=serverAuth"; fi
  } >"$W/$name.ext"
  openssl req -new -key "$W/$name.key" -subj "/CN=keygate KMS" -out "$W/$name.csr" 2>/dev/null
  openssl x509 -req -in "$W/$name.csr" -CA "$icert" -CAkey "$ikey" -CAcreateserial -days 2 \
    -extfile "$W/$name.ext" -out "$W/$name.pem" 2>/dev/null || die "minting $name"
}
mint impostor "$W/temp-ca.pem" "$W/temp-ca.key"
if openssl verify -CAfile "$ROOT_CA" -untrusted "$W/temp-ca.pem" "$W/impostor.pem" >/dev/null 2>&1; then
  die "a temp-CA-issued certificate verifies under the KMS root"
fi
ok "a kms:rpc certificate minted with the temporary CA does not verify under the KMS root (openssl verify)"

# An impostor KMS: answers GetTempCaCert with the real temporary CA and GetAppKey with keys the
# attacker chose (the real root CA as ca_cert, so only cryptography can tell).
cat >"$W/impostor.py" <<'PY'
import json, ssl, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
chain, key, temp, root, portfile = sys.argv[1:6]
temp_reply = open(temp).read()
root_pem = open(root).read()
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "GetTempCaCert" in self.path:
            body = temp_reply
        else:
            body = json.dumps({"ca_cert": root_pem, "disk_crypt_key": "11" * 32,
                               "env_crypt_key": "22" * 32, "k256_key": "33" * 32,
                               "k256_signature": "44" * 65, "gateway_app_id": "",
                               "os_image_hash": "55" * 32})
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.end_headers(); self.wfile.write(body.encode())
    def log_message(self, *a): pass
srv = HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(chain, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(portfile, "w").write(str(srv.server_address[1]))
srv.serve_forever()
PY
# impostor NAME CHAIN_PEM KEY: starts it, boots the victim against it; the agent must refuse
impostor() {
  local name="$1" chain="$2" key="$3"
  rm -f "$W/$name.port"
  python3 "$W/impostor.py" "$chain" "$key" "$W/temp.json" "$ROOT_CA" "$W/$name.port" 2>"$W/$name.log" &
  PIDS+=("$!")
  for _ in $(seq 100); do [ -s "$W/$name.port" ] && break; sleep 0.1; done
  [ -s "$W/$name.port" ] || die "impostor $name did not start: $(cat "$W/$name.log")"
  set +e
  "$KG" sim run --state "$STATE" --app "$VICTIM" --compose "$W/victim.json" \
    --kms "https://127.0.0.1:$(cat "$W/$name.port")" --disk-key-out "$W/$name.disk" \
    -- touch "$W/$name.ran" 2>"$W/$name.err"
  RC=$?
  set -e
  [ "$RC" = 1 ] || die "impostor $name: agent exit $RC: $(cat "$W/$name.err")"
  [ ! -e "$W/$name.ran" ] && [ ! -e "$W/$name.disk" ] || die "impostor $name: the app ran or a key was written"
}
cat "$W/impostor.pem" "$W/temp-ca.pem" >"$W/impostor-chain.pem"
impostor impostor "$W/impostor-chain.pem" "$W/impostor.key"
grep -q "SSL certificate problem" "$W/impostor.err" || die "impostor: not refused at the handshake: $(cat "$W/impostor.err")"
ok "impostor KMS with a temp-CA-issued kms:rpc certificate: agent refuses ($(grep -o 'SSL certificate problem[^;]*' "$W/impostor.err" | head -1)); the app never starts"

# As against a KMS that predates the fix, whose temporary CA was issued by the root: an
# intermediate under the real root key (taken from the KMS's state) mints the leaf.
mint oldtemp "$ROOT_CA" "$KMS_STATE/root-ca.key" ca
mint impostor2 "$W/oldtemp.pem" "$W/oldtemp.key"
openssl verify -CAfile "$ROOT_CA" -untrusted "$W/oldtemp.pem" "$W/impostor2.pem" >/dev/null 2>&1 ||
  die "the old-style chain should verify with openssl (that was the break)"
cat "$W/impostor2.pem" "$W/oldtemp.pem" >"$W/impostor2-chain.pem"
impostor impostor2 "$W/impostor2-chain.pem" "$W/impostor2.key"
grep -q "server certificate is not issued directly by the pinned KMS root CA (chain of 3)" "$W/impostor2.err" ||
  die "impostor2: not refused at the handshake: $(cat "$W/impostor2.err")"
ok "impostor KMS under a root-issued intermediate (a pre-fix temporary CA): refused, the leaf must be issued by the root itself"

# ---- 2. forged certificates under the root -------------------------------------------------------
openssl ecparam -name prime256v1 -genkey -noout -out "$W/app.key" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n1.3.6.1.4.1.62397.1.3=DER:04:14:%s\n' \
  "$(echo "$VICTIM" | sed 's/../&:/g; s/:$//')" >"$W/app.ext"
openssl req -new -key "$W/app.key" -subj "/CN=victim.app" -out "$W/app.csr" 2>/dev/null
openssl x509 -req -in "$W/app.csr" -CA "$W/temp-ca.pem" -CAkey "$W/temp-ca.key" -CAcreateserial -days 2 \
  -extfile "$W/app.ext" -out "$W/forged-app.pem" 2>/dev/null || die "minting the forged app cert"
if openssl verify -CAfile "$ROOT_CA" -untrusted "$W/temp-ca.pem" "$W/forged-app.pem" >/dev/null 2>&1; then
  die "a forged app certificate verifies under the KMS root"
fi
openssl x509 -in "$ROOT_CA" -noout -text | grep -q "CA:TRUE, pathlen:1" || die "the root CA has no path length 1"
ok "a forged app certificate (victim's app id, temp CA) fails openssl verify; the root CA is pathlen:1"

# ---- 3. the relabelling attack from an app VM -----------------------------------------------------
run_attack() { # run_attack NAME ARGS...; sets RC, output in $W/NAME.out
  local name="$1"; shift
  set +e
  "$ATTACK" --kms "$KMS_ADDR" --sim "$SIM" "$@" >"$W/$name.out" 2>&1
  RC=$?
  set -e
}
run_attack relabel --attack relabel --vm "attacker-relabel-$$" --app-id "$ATTACKER" --compose-hash "$HA" \
  --victim-app-id "$VICTIM" --victim-compose-hash "$HV"
[ "$RC" = 1 ] || die "relabel attack: exit $RC (0 = keys released): $(cat "$W/relabel.out")"
grep -q "RTMR3 event of type 0x0000000d" "$W/relabel.out" || die "relabel attack: unexpected refusal: $(cat "$W/relabel.out")"
ok "relabelled event log (victim's identity extended after boot): refused: $(grep -o 'RTMR3 event of type[^"]*' "$W/relabel.out" | head -1 | cut -c1-90)"
run_attack append --attack append --vm "attacker-append-$$" --app-id "$ATTACKER" --compose-hash "$HA" \
  --victim-app-id "$VICTIM" --victim-compose-hash "$HV"
[ "$RC" = 1 ] || die "append attack: exit $RC: $(cat "$W/append.out")"
grep -q "reserved event 'app-id' after system-ready" "$W/append.out" || die "append attack: unexpected refusal: $(cat "$W/append.out")"
ok "victim identity appended after system-ready: refused (a log that says two things)"
# Through a real app process: the attacker's app, booted by the agent and given root in its VM
# (--app-user root: what an app had before the agent dropped privileges), relabels the agent's
# whole boot log, extends the victim's identity and asks the KMS itself.
cat >"$W/inapp.sh" <<SH
#!/bin/sh
vm="\$(ls -t "$SIM/vms" | grep '^app-$(echo "$ATTACKER" | cut -c1-8)-' | head -1)"
exec "$ATTACK" --kms "$KMS_ADDR" --sim "$SIM" --attack inapp --vm "\$vm" \
  --victim-app-id "$VICTIM" --victim-compose-hash "$HV" >"$W/inapp.out" 2>&1
SH
set +e
"$KG" sim run --state "$STATE" --app "$ATTACKER" --compose "$W/attacker.json" --app-user root \
  -- sh "$W/inapp.sh" 2>"$W/inapp.err"
RC=$?
set -e
[ "$RC" = 1 ] || die "in-app relabel attack: exit $RC: $(cat "$W/inapp.out" "$W/inapp.err")"
grep -q "HTTP 403" "$W/inapp.out" && grep -q "RTMR3 event of type 0x0000000d" "$W/inapp.out" ||
  die "in-app relabel attack: unexpected answer: $(cat "$W/inapp.out")"
ok "a real app process (root in its VM) relabelling the agent's boot log and extending the victim's identity: refused"
"$KG" audit list --state "$STATE" --json >"$W/audit.json" || die "audit list"
jq -e --arg v "$VICTIM" '[.[] | select(.decision=="deny" and (.app_id|ascii_downcase|ltrimstr("0x"))==$v and (.reason|test("claimed")))] | length >= 3' \
  "$W/audit.json" >/dev/null || die "the refusals are not audited with the claimed app id: $(jq -c '.[-3:]' "$W/audit.json")"
ok "the three refusals are in the audit log under the claimed (victim's) app id, marked unverified"

# ---- 4. a blank VM asks for the root keys ----------------------------------------------------------
run_attack blank --attack blank --vm "blank-$$"
[ "$RC" = 1 ] || die "blank VM GetKmsKey: exit $RC: $(cat "$W/blank.out")"
grep -q "GetKmsKey denied" "$W/blank.out" || die "blank VM: unexpected answer: $(cat "$W/blank.out")"
ok "a blank VM (usage kms:rpc written in its own certificate) asking GetKmsKey: refused ($(grep -o 'GetKmsKey denied[^"]*' "$W/blank.out" | cut -c1-100))"

echo "attacks_itest: $PASS passed"
