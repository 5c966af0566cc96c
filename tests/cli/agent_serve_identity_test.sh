#!/usr/bin/env bash
# agent_serve_identity_test.sh - `keygate-agent serve` answers for the app --app-id names and no
# other (issue 17, item 6): keys released to another app (the keys file's app_id, written by
# boot --keys-out), a VM whose boot measured another app id or compose hash into RTMR3, and, with
# the KMS root key given, keys whose k256_signature is for another app are all refused before
# any socket exists or the app runs; the matching case still serves.
# Usage: agent_serve_identity_test.sh BUILD_DIR
set -euo pipefail
BUILD="$(cd "${1:?usage: agent_serve_identity_test.sh BUILD_DIR}" && pwd)"
KG="$BUILD/bin/keygate"
AGENT="$BUILD/bin/keygate-agent"
TMP="$(mktemp -d /tmp/kg-serve-id.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
[ "$(id -u)" != 0 ] || chmod 0711 "$TMP"
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
die() { echo "not ok - $*" >&2; exit 1; }

A=abababababababababababababababababababab
B=cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd
printf '{"ca_scalar":"%s","k256_scalar":"%s"}' "$(printf '11%.0s' {1..32})" "$(printf '22%.0s' {1..32})" >"$TMP/root.json"
chmod 600 "$TMP/root.json"
"$KG" kdf --root-keys "$TMP/root.json" --app-id "$A" --secrets >"$TMP/kdf.json"
ROOT_K256="$(jq -r .root_k256_pubkey_compressed "$TMP/kdf.json")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=test-root -days 1 \
  -keyout "$TMP/ca.key" -out "$TMP/ca.pem" 2>/dev/null
# keys of app A, as boot --keys-out writes them (with app_id) and as older files are (without)
jq --rawfile ca "$TMP/ca.pem" '{ca_cert: $ca, disk_crypt_key, env_crypt_key, k256_key, k256_signature, app_id}' \
  "$TMP/kdf.json" >"$TMP/keys-a.json"
jq 'del(.app_id)' "$TMP/keys-a.json" >"$TMP/keys-old.json"
chmod 600 "$TMP/keys-a.json" "$TMP/keys-old.json"
"$KG" sim init "$TMP/sim" >/dev/null
printf '{"name":"v1"}' >"$TMP/c1.json"
printf '{"name":"v2"}' >"$TMP/c2.json"
# VM "booted": RTMR3 holds app A and compose c1 (the events boot extends, in its order)
"$KG" sim extend --dir "$TMP/sim" --vm booted --event system-preparing >/dev/null
"$KG" sim extend --dir "$TMP/sim" --vm booted --event app-id --payload "$A" >/dev/null
"$KG" sim extend --dir "$TMP/sim" --vm booted --event compose-hash --payload "$(sha256sum "$TMP/c1.json" | cut -c1-64)" >/dev/null

# serve EXPECTED_RC MESSAGE VM KEYS APP COMPOSE [extra flags]: the app (touch RAN) must run only
# on success, and no socket may be left either way
serve() {
  local want_rc="$1" want_msg="$2" vm="$3" keys="$4" app="$5" compose="$6"; shift 6
  rm -f "$TMP/RAN"
  set +e
  "$AGENT" serve --tee "sim:$TMP/sim:$vm" --keys "$keys" --app-id "$app" --compose "$compose" \
    --socket "$TMP/dstack.sock" --app-user "$(id -u)" "$@" -- /bin/sh -c "touch '$TMP/RAN'" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  set -e
  [ "$rc" = "$want_rc" ] || die "serve $vm $app: exit $rc, expected $want_rc: $(cat "$TMP/err")"
  [ -z "$want_msg" ] || grep -qF -- "$want_msg" "$TMP/err" || die "serve $vm $app: stderr lacks '$want_msg': $(cat "$TMP/err")"
  [ ! -e "$TMP/dstack.sock" ] || die "serve $vm $app left a socket"
  if [ "$want_rc" = 0 ]; then [ -e "$TMP/RAN" ] || die "serve $vm $app: the app did not run"
  else [ ! -e "$TMP/RAN" ] || die "serve $vm $app: the app ran although serve was refused"; fi
}

serve 2 "--app-id $B is not the app the keys file was released to ($A)" fresh "$TMP/keys-a.json" "$B" "$TMP/c1.json"
ok "keys file of app A under --app-id B: exit 2, both ids named, no socket, the app not run"
serve 2 "--app-id $B is not the app this VM booted: RTMR3 measured app-id $A" booted "$TMP/keys-old.json" "$B" "$TMP/c1.json"
ok "a VM that booted app A (RTMR3), keys file without app_id, --app-id B: exit 2"
serve 2 "--compose is not the compose file this VM booted" booted "$TMP/keys-a.json" "$A" "$TMP/c2.json"
ok "a VM that booted compose c1, --compose c2: exit 2"
serve 1 "k256_signature is not the KMS root key's signature for app $B" fresh "$TMP/keys-old.json" "$B" "$TMP/c1.json" \
  --kms-ca "$TMP/ca.pem" --kms-k256 "$ROOT_K256" --kms https://127.0.0.1:9
ok "with the KMS root key: keys signed for app A under --app-id B fail the signature (exit 1)"
serve 0 "" booted "$TMP/keys-a.json" "$A" "$TMP/c1.json"
serve 0 "" fresh "$TMP/keys-old.json" "$A" "$TMP/c2.json" --kms-ca "$TMP/ca.pem" --kms-k256 "$ROOT_K256" --kms https://127.0.0.1:9
ok "matching app id, compose and signature: serve runs the app"

# Root-key epochs (docs/design.md, "Root-key epochs"): keys of epoch 1 with epoch 0's beside them.
# Without the chain nothing can vouch for epoch 0's root key: serve keeps only the current keys
# and says so; without --kms-ca (no trust given) the keys file is taken as it is.
printf '{"ca_scalar":"%s","k256_scalar":"%s"}' "$(printf '33%.0s' {1..32})" "$(printf '44%.0s' {1..32})" >"$TMP/root1.json"
chmod 600 "$TMP/root1.json"
"$KG" kdf --root-keys "$TMP/root1.json" --app-id "$A" --secrets >"$TMP/kdf1.json"
ROOT1_K256="$(jq -r .root_k256_pubkey_compressed "$TMP/kdf1.json")"
jq --rawfile ca "$TMP/ca.pem" --slurpfile e0 "$TMP/kdf.json" '{ca_cert: $ca, disk_crypt_key, env_crypt_key, k256_key,
  k256_signature, app_id, root_epoch: 1, previous_keys: [$e0[0] | {root_epoch: 0, disk_crypt_key, env_crypt_key,
  k256_key, k256_signature}]}' "$TMP/kdf1.json" >"$TMP/keys-epochs.json"
jq '.previous_keys[0].root_epoch = 1' "$TMP/keys-epochs.json" >"$TMP/keys-same-epoch.json"
chmod 600 "$TMP/keys-epochs.json" "$TMP/keys-same-epoch.json"
info_epochs() { # info_epochs [flags]: Info's root_epoch and previous_root_epochs as the app sees them
  rm -f "$TMP/info.json"
  "$AGENT" serve --tee "sim:$TMP/sim:fresh" --keys "$TMP/keys-epochs.json" --app-id "$A" --compose "$TMP/c1.json" \
    --socket "$TMP/dstack.sock" --app-user "$(id -u)" "$@" -- /bin/sh -c \
    "curl -s -m 10 --unix-socket '$TMP/dstack.sock' -X POST -d '{}' http://dstack/Info >'$TMP/info.json'" 2>"$TMP/err" ||
    die "serve with epochs $*: $(cat "$TMP/err")"
  jq -c '[.root_epoch, .previous_root_epochs]' "$TMP/info.json"
}
[ "$(info_epochs --kms-ca "$TMP/ca.pem" --kms-k256 "$ROOT1_K256" --kms https://127.0.0.1:9)" = '[1,[]]' ] ||
  die "epochs with a pinned key only: $(cat "$TMP/info.json")"
grep -qF "keys of 1 previous root epoch(s); without the chain (--rpc-url, --kms-contract) they cannot be verified and are not kept" "$TMP/err" ||
  die "serve did not say why epoch 0's keys were dropped: $(cat "$TMP/err")"
[ "$(info_epochs)" = '[1,[0]]' ] || die "epochs without a trust: $(cat "$TMP/info.json")"
ok "keys of epoch 1 with epoch 0's: a pinned key alone keeps epoch 1's only (and says why); no trust: the file as it is"
serve 1 "previous_keys[0] is epoch 1, the current epoch itself" fresh "$TMP/keys-same-epoch.json" "$A" "$TMP/c1.json"
ok "a keys file whose previous epoch is the current one is refused"
# --config is read through the one file helper (fileio.h): a missing file and one over its cap
# (64 KiB) are usage errors naming the file, before anything is served.
set +e
"$AGENT" serve --config "$TMP/no-such.json" -- /bin/true 2>"$TMP/err"
RC1=$?
head -c 70000 /dev/zero | tr '\0' ' ' >"$TMP/big.json"
"$AGENT" serve --config "$TMP/big.json" -- /bin/true 2>"$TMP/err2"
RC2=$?
set -e
[ "$RC1" = 2 ] && grep -qF "config: '$TMP/no-such.json' does not exist" "$TMP/err" ||
  die "a missing --config: exit $RC1: $(cat "$TMP/err")"
[ "$RC2" = 2 ] && grep -qF "'$TMP/big.json' is larger than 65536 bytes" "$TMP/err2" ||
  die "an oversized --config: exit $RC2: $(cat "$TMP/err2")"
ok "keygate-agent --config: a missing file and one over 64 KiB are refused (exit 2), naming the file"
echo "1..$PASS"
