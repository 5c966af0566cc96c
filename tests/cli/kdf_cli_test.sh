#!/usr/bin/env bash
# kdf_cli_test.sh - `keygate kdf` end to end: every derived value equals tests/vectors/kdf.json,
# secrets stay out of the default output, and bad input gives the documented exit codes.
set -euo pipefail
keygate=$1
vectors=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

get() { node -e "const v=require(process.argv[1]); console.log(v.$1)" "$vectors/kdf.json"; }
app=$(get inputs.app_id)
inst=$(get inputs.instance_id)
ts=$(get inputs.env_pubkey_timestamp)
(umask 077; printf '{"ca_scalar":"%s","k256_scalar":"%s"}\n' "$(get inputs.root_ca_scalar)" \
  "$(get inputs.root_k256_scalar)" > "$tmp/root.json")

"$keygate" kdf --root-keys "$tmp/root.json" --app-id "$app" --instance-id "$inst" \
  --timestamp "$ts" --path "$(get inputs.get_key_path)" --purpose "$(get inputs.get_key_purpose)" \
  --secrets > "$tmp/out.json"

# Every expected value of the vector must appear under the same name.
node -e '
const v = require(process.argv[1]), out = require(process.argv[2]);
let bad = 0;
for (const [k, want] of Object.entries(v.expected)) {
  if (JSON.stringify(out[k]) !== JSON.stringify(want)) { console.error("mismatch " + k); bad++; }
}
if (out.root_k256_pubkey_compressed !== v.inputs.root_k256_pubkey_compressed) bad++;
process.exit(bad ? 1 : 0);
' "$vectors/kdf.json" "$tmp/out.json" || fail "derived values differ from kdf.json"

# Without --secrets no secret appears; the public values do.
"$keygate" kdf --root-keys "$tmp/root.json" --app-id "$app" --instance-id "$inst" \
  --timestamp "$ts" > "$tmp/pub.json"
for k in app_ca_scalar disk_crypt_key env_crypt_key k256_key get_key_key; do
  grep -q "$(get expected.$k)" "$tmp/pub.json" && fail "secret $k printed without --secrets"
done
grep -q "$(get expected.k256_signature)" "$tmp/pub.json" || fail "k256_signature missing"

# The environment variable source gives the same answer.
KEYGATE_ROOT_KEYS=$(cat "$tmp/root.json") "$keygate" kdf --app-id "$app" --instance-id "$inst" \
  --timestamp "$ts" > "$tmp/env.json"
cmp -s "$tmp/pub.json" "$tmp/env.json" || fail "env var source differs"

expect() { # expect <exit code> <stderr substring> -- command...
  local code=$1 msg=$2; shift 3
  set +e; "$@" > /dev/null 2> "$tmp/err"; local rc=$?; set -e
  [ "$rc" = "$code" ] || fail "exit $rc, want $code: $*"
  grep -qF -- "$msg" "$tmp/err" || fail "stderr lacks '$msg': $(cat "$tmp/err")"
}
expect 2 "--app-id is required" -- "$keygate" kdf --root-keys "$tmp/root.json"
expect 2 "--app-id must be 20 bytes of hex (40 digits), got '5fbd'" -- \
  "$keygate" kdf --root-keys "$tmp/root.json" --app-id 5fbd
expect 2 "give the root keys once" -- "$keygate" kdf --app-id "$app"
expect 1 "root keys: '$tmp/missing' does not exist" -- \
  "$keygate" kdf --root-keys "$tmp/missing" --app-id "$app"
# A root-keys file others could read is refused, as every key file (lib/util/fileio.c).
cp "$tmp/root.json" "$tmp/exposed.json"
chmod 640 "$tmp/exposed.json"
expect 1 "key file '$tmp/exposed.json' is accessible to group or others (mode 0640)" -- \
  "$keygate" kdf --root-keys "$tmp/exposed.json" --app-id "$app"
# '-' reads the keys from stdin.
"$keygate" kdf --root-keys - --app-id "$app" --instance-id "$inst" --timestamp "$ts" \
  < "$tmp/root.json" > "$tmp/stdin.json"
cmp -s "$tmp/pub.json" "$tmp/stdin.json" || fail "stdin source differs"
printf '{"ca_scalar":"00","k256_scalar":"00"}' > "$tmp/bad.json"
chmod 600 "$tmp/bad.json"
expect 1 "'ca_scalar' must be 64 hex digits" -- \
  "$keygate" kdf --root-keys "$tmp/bad.json" --app-id "$app"
zero=$(printf '0%.0s' {1..64})
expect 1 "root CA key: P-256 scalar out of range" -- \
  "$keygate" kdf --root-ca-scalar "$zero" --root-k256-scalar "$zero" --app-id "$app"
echo "kdf cli: ok"
