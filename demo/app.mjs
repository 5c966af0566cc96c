// app.mjs - the demo's app: what code inside a keygate app VM sees, through the real
// @phala/dstack-sdk (tools/node_modules). Prints one JSON line on stdout for the demo script to
// compare across versions, and a human-readable story on stderr. Never prints key material:
// only the address the app key controls and a fingerprint.
import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import http from 'node:http';

const require = createRequire(new URL('../tools/package.json', import.meta.url));
const { DstackClient } = require('@phala/dstack-sdk');
const { secp256k1 } = require('@noble/curves/secp256k1');
const { keccak_256 } = require('@noble/hashes/sha3');

const hex = (b) => Buffer.from(b).toString('hex');

const client = new DstackClient(); // DSTACK_SIMULATOR_ENDPOINT, set by `keygate sim run`
const info = await client.info();
// An app-level key: HKDF of the app key the KMS released (docs/protocol.md section 6). Same app id,
// same key -- whatever code version asks, as long as governance allows it.
const wallet = await client.getKey('demo/wallet', 'ethereum');
const pub = secp256k1.getPublicKey(wallet.key, false);
const address = '0x' + hex(keccak_256(pub.slice(1))).slice(-40);
const secret = process.env.DEMO_SECRET;

// keygate's addition (agent/API.md, "Root-key epochs"): during a root-key migration window the
// agent also serves this app's keys under each retiring epoch. The SDK has no parameter for it,
// so the app asks the socket itself: the same GetKey with "root_epoch".
const getKeyOfEpoch = (path, purpose, epoch) => new Promise((resolve, reject) => {
  const body = JSON.stringify({ path, purpose, algorithm: 'secp256k1', root_epoch: epoch });
  const req = http.request({ socketPath: process.env.DSTACK_SIMULATOR_ENDPOINT, path: '/GetKey',
    method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': body.length } },
  (res) => {
    let text = '';
    res.on('data', (c) => { text += c; });
    res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text))
      : reject(new Error(`GetKey root_epoch ${epoch}: ${text}`))));
  });
  req.on('error', reject);
  req.end(body);
});
const addressOf = (key) => '0x' + hex(keccak_256(secp256k1.getPublicKey(key, false).slice(1))).slice(-40);
const previousWallets = {};
for (const epoch of info.previous_root_epochs ?? []) {
  previousWallets[epoch] = addressOf((await getKeyOfEpoch('demo/wallet', 'ethereum', epoch)).key);
}

const result = {
  app_id: info.app_id,
  compose_hash: info.compose_hash,
  instance_id: info.instance_id,
  wallet_address: address,
  key_fingerprint: crypto.createHash('sha256').update(wallet.key).digest('hex').slice(0, 16),
  signature_chain_len: wallet.signature_chain.length,
  env_secret_sha256: secret === undefined ? null
    : crypto.createHash('sha256').update(secret).digest('hex'),
  root_epoch: info.root_epoch ?? 0,
  previous_wallets: previousWallets,
};
console.error(`    [app] I am app ${info.app_id}, compose hash ${info.compose_hash.slice(0, 16)}...`);
console.error(`    [app] my wallet (derived from the app key the KMS released): ${address}`);
console.error(`    [app] encrypted env var DEMO_SECRET ${secret === undefined ? 'is NOT set'
  : `decrypted inside the VM (${secret.length} chars)`}`);
for (const [epoch, addr] of Object.entries(previousWallets)) {
  console.error(`    [app] root epoch ${epoch} is retiring: my wallet under it was ${addr}; move what it holds`);
}
console.log(JSON.stringify(result));
