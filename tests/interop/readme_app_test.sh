#!/usr/bin/env bash
# readme_app_test.sh - the README's app, exactly as README.md shows it ("Your app": the block
# after the readme-app marker), in a fresh directory with the README's offline setup (a
# node_modules link to the pinned tools/node_modules), run by node as an ES module under the
# real agent (keygate-agent serve on a simulated VM, keys from `keygate kdf`): the import
# resolves, getKey answers, and the key is the one the KDF derives. Also: without that
# node_modules the same import fails even with NODE_PATH set (why the README says to link it).
# Usage: readme_app_test.sh BUILD_DIR
set -euo pipefail
BUILD="$(cd "${1:?usage: readme_app_test.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KG="$BUILD/bin/keygate"
AGENT="$BUILD/bin/keygate-agent"
[ -d "$SRC/tools/node_modules/@phala/dstack-sdk" ] || { echo "skip: tools/node_modules not set up (scripts/setup)"; exit 77; }
command -v node >/dev/null || { echo "skip: no node"; exit 77; }
TMP="$(mktemp -d /tmp/kg-readme-app.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
# Run as root, the agent starts the app as an unprivileged user: it must reach the app's dir.
[ "$(id -u)" != 0 ] || chmod 0711 "$TMP"
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() { echo "not ok - $*" >&2; exit 1; }

# ---- the README's app block, verbatim ----------------------------------------------------------
awk '/^<!-- readme-app: app.mjs/ {m = 1; next} m && /^```js$/ {b = 1; next} b && /^```$/ {exit} b {print}' \
  "$SRC/README.md" >"$TMP/app.mjs"
grep -qx "import { DstackClient } from '@phala/dstack-sdk';" "$TMP/app.mjs" ||
  die "README.md's app block (after '<!-- readme-app: app.mjs') lacks the plain ESM import: $(cat "$TMP/app.mjs")"
link="$(grep -o 'ln -s /path/to/keygate/tools/node_modules node_modules' "$SRC/README.md" | head -1)"
[ -n "$link" ] || die "README.md no longer shows the offline node_modules link"
APPDIR="$TMP/myapp"
mkdir "$APPDIR" && cp "$TMP/app.mjs" "$APPDIR/app.mjs" && chmod 0755 "$APPDIR" && chmod 0644 "$APPDIR/app.mjs"
(cd "$APPDIR" && eval "${link//\/path\/to\/keygate/$SRC}")
ok "fresh app directory: README's app.mjs and its node_modules link to the pinned tools/node_modules"

# ---- keys for a simulated VM: `keygate kdf` from fixed test root keys ------------------------
APP=abababababababababababababababababababab
printf '{"ca_scalar":"%s","k256_scalar":"%s"}' "$(printf '11%.0s' {1..32})" "$(printf '22%.0s' {1..32})" >"$TMP/root.json"
chmod 600 "$TMP/root.json"
"$KG" kdf --root-keys "$TMP/root.json" --app-id "$APP" --secrets --path wallet/eth --purpose ethereum >"$TMP/kdf.json"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=test-root -days 1 \
  -keyout "$TMP/ca.key" -out "$TMP/ca.pem" 2>/dev/null
jq --rawfile ca "$TMP/ca.pem" '{ca_cert: $ca, disk_crypt_key, env_crypt_key, k256_key, k256_signature, app_id}' \
  "$TMP/kdf.json" >"$TMP/keys.json"
chmod 600 "$TMP/keys.json"
"$KG" sim init "$TMP/sim" >/dev/null
printf '{"name":"readme-app"}' >"$TMP/compose.json"

# ---- run it as the README says: node app.mjs, from the app's directory -----------------------
set +e
(cd "$APPDIR" && env -u NODE_PATH "$AGENT" serve --tee "sim:$TMP/sim:vm1" --keys "$TMP/keys.json" \
   --app-id "$APP" --compose "$TMP/compose.json" --socket "$TMP/dstack.sock" -- node app.mjs) \
  >"$TMP/out" 2>"$TMP/err"
rc=$?
set -e
[ "$rc" = 0 ] || die "node app.mjs under keygate-agent serve: exit $rc: $(cat "$TMP/err")"
got="$(jq -r .key <"$TMP/out")"
[ "$got" = "$(jq -r .get_key_key "$TMP/kdf.json")" ] || die "getKey gave '$got', the KDF says $(jq -r .get_key_key "$TMP/kdf.json")"
ok "node app.mjs (ESM import, NODE_PATH unset) under keygate-agent: getKey('wallet/eth', 'ethereum') = the KDF's key"

# ---- and why the link is needed ----------------------------------------------------------------
mkdir "$TMP/nolink" && cp "$TMP/app.mjs" "$TMP/nolink/"
set +e
(cd "$TMP/nolink" && NODE_PATH="$SRC/tools/node_modules" node app.mjs) >/dev/null 2>"$TMP/err2"
rc=$?
set -e
[ "$rc" != 0 ] && grep -q "ERR_MODULE_NOT_FOUND" "$TMP/err2" ||
  die "without node_modules the import was expected to fail (rc=$rc): $(cat "$TMP/err2")"
ok "without the node_modules link the same import fails (ERR_MODULE_NOT_FOUND) even with NODE_PATH"
echo "1..$PASS"
