# kms_scale.sh - grows kms_env.sh's environment before the KMS starts (sourced after devnet.sh):
# many registered apps, many allowed compose hashes on the bench app, a big decision log.
# Everything on chain is real transactions from anvil's unlocked dev account: JSON-RPC batches
# of eth_sendTransaction with explicit nonces, automine off, one block mined per batch (anvil
# runs with a block gas limit that holds a batch), so 10,000 factory deployments take seconds
# rather than the ~10,000 blocks and cast invocations of one transaction at a time.

KG_SCALE_BATCH=1000

# kg_scale_count CONTRACT SIG: a uint256 view's value (cast adds " [1e4]" to big numbers)
kg_scale_count() {
  local v
  v="$("$CAST" call --rpc-url "$RPC" "$1" "$2(uint256)")" || die "calling $2 on $1"
  echo "${v%% *}"
}

kg_scale_rpc() {
  curl -sf -H 'content-type: application/json' --data-binary "$2" "$RPC" >"$1" || die "JSON-RPC to $RPC failed"
}

# kg_scale_send TO PREFIX FIRST COUNT: COUNT transactions to TO from OWNER, the i-th with calldata
# PREFIX followed by the 32-byte word FIRST+i; all mined, all succeeded.
kg_scale_send() {
  local to="$1" prefix="$2" first="$3" count="$4" nonce b e i last
  nonce="$("$CAST" nonce --rpc-url "$RPC" "$OWNER")" || die "nonce of $OWNER"
  kg_scale_rpc "$TMP/scale.out" '{"jsonrpc":"2.0","id":1,"method":"evm_setAutomine","params":[false]}'
  for ((b = 0; b < count; b += KG_SCALE_BATCH)); do
    e=$((b + KG_SCALE_BATCH < count ? b + KG_SCALE_BATCH : count))
    {
      printf '['
      for ((i = b; i < e; i++)); do
        [ "$i" = "$b" ] || printf ','
        printf '{"jsonrpc":"2.0","id":%d,"method":"eth_sendTransaction","params":[{"from":"%s","to":"%s","data":"%s%064x","gas":"0x100000","nonce":"0x%x"}]}' \
          "$i" "$OWNER" "$to" "$prefix" $((first + i)) $((nonce + i))
      done
      printf ']'
    } >"$TMP/scale.batch"
    kg_scale_rpc "$TMP/scale.out" "@$TMP/scale.batch"
    jq -e 'all(.[]; has("result"))' "$TMP/scale.out" >/dev/null ||
      die "sending to $to: $(jq -c '[.[] | select(has("result") | not)][0]' "$TMP/scale.out")"
    last="$(jq -r '.[-1].result' "$TMP/scale.out")"
    kg_scale_rpc "$TMP/scale.out" '{"jsonrpc":"2.0","id":1,"method":"evm_mine","params":[]}'
    # the last of a batch carries the highest nonce: mined and successful, so were the others
    # (a failed one would have shown in the pool or in the counts the caller checks)
    kg_scale_rpc "$TMP/scale.out" '{"jsonrpc":"2.0","id":1,"method":"eth_getTransactionReceipt","params":["'"$last"'"]}'
    [ "$(jq -r .result.status "$TMP/scale.out")" = 0x1 ] ||
      die "batch to $to: transaction $last not mined or reverted"
  done
  kg_scale_rpc "$TMP/scale.out" '{"jsonrpc":"2.0","id":1,"method":"evm_setAutomine","params":[true]}'
}

# kg_scale_apps N: N more apps deployed and registered by the KMS contract's factory, each with
# its own compose hash.
kg_scale_apps() {
  local n="$1" cd before after
  [ "$n" -gt 0 ] || return 0
  cd="$("$CAST" calldata "deployAndRegisterApp(address,bool,bool,bool,bytes32,bytes32)" "$OWNER" \
    false false true 0x$(printf '%064x' 0) 0x$(printf '%064x' 0))"
  before="$(kg_scale_count "$KMSC" "registeredAppCount()")"
  kg_scale_send "$KMSC" "${cd:0:$((${#cd} - 64))}" $((0x5ca1e0000)) "$n"
  after="$(kg_scale_count "$KMSC" "registeredAppCount()")"
  [ "$after" = $((before + n)) ] || die "registered apps: $after, expected $((before + n))"
}

# kg_scale_app HASH N: prints the id of a new app whose N allowed compose hashes include HASH,
# added as the middle one (neither the first added nor the last).
kg_scale_app() {
  local hash="$1" n="$2" app cd prefix half count
  [ "$n" -gt 1 ] || { kg_devnet_register_app "$hash"; return; }
  app="$(kg_devnet_register_app "$(printf '%064x' $((0xc0de0000)))")"
  cd="$("$CAST" calldata "addComposeHash(bytes32)" 0x$(printf '%064x' 0))"
  prefix="${cd:0:$((${#cd} - 64))}"
  half=$(((n - 1) / 2))
  kg_scale_send "$app" "$prefix" $((0xc0de0001)) "$half"
  kg_send "$app" "addComposeHash(bytes32)" "0x$hash"
  kg_scale_send "$app" "$prefix" $((0xc0de0001 + half)) $((n - 2 - half))
  count="$(kg_scale_count "$app" "composeHashCount()")"
  [ "$count" = "$n" ] || die "bench app: $count compose hashes, expected $n"
  echo "$app"
}

# kg_scale_log N: the KMS's audit database filled to N decisions (before the KMS opens it).
kg_scale_log() {
  [ "$1" -gt 0 ] || return 0
  mkdir -p "$TMP/state"
  "$BUILD/bin/keygate-bench" audit-fill --db "$TMP/state/audit.db" --entries "$1" >"$TMP/fill.json" ||
    die "audit-fill"
}
