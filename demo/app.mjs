// app.mjs - the demo's app: what code inside a keygate app VM sees, through the real
// @phala/dstack-sdk (tools/node_modules). Prints one JSON line on stdout for the demo script to
// compare across versions, and a human-readable story on stderr. Never prints key material:
// only the address the app key controls and a fingerprint.
import { createRequire } from 'node:module';
import crypto from 'node:crypto';

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

const result = {
  app_id: info.app_id,
  compose_hash: info.compose_hash,
  instance_id: info.instance_id,
  wallet_address: address,
  key_fingerprint: crypto.createHash('sha256').update(wallet.key).digest('hex').slice(0, 16),
  signature_chain_len: wallet.signature_chain.length,
  env_secret_sha256: secret === undefined ? null
    : crypto.createHash('sha256').update(secret).digest('hex'),
};
console.error(`    [app] I am app ${info.app_id}, compose hash ${info.compose_hash.slice(0, 16)}...`);
console.error(`    [app] my wallet (derived from the app key the KMS released): ${address}`);
console.error(`    [app] encrypted env var DEMO_SECRET ${secret === undefined ? 'is NOT set'
  : `decrypted inside the VM (${secret.length} chars)`}`);
console.log(JSON.stringify(result));
