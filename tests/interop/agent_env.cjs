// agent_env.cjs - the developer side of encrypted environments, with the real SDK: fetch the
// app's env public key from the KMS (GetAppEnvEncryptPubKey), check its signature recovers the
// KMS root k256 key (verifyEnvEncryptPublicKey), and encrypt variables (encryptEnvVars).
// Usage: node agent_env.cjs KMS_URL ROOT_CA_PEM APP_ID ROOT_K256 OUT_FILE
//   the variable is KG_SECRET_NAME=KG_SECRET_VALUE from the environment (kept out of argv).
'use strict';
const fs = require('fs');
const https = require('https');
const assert = require('assert');
const { verifyEnvEncryptPublicKey } = require('@phala/dstack-sdk');
const { encryptEnvVars } = require('@phala/dstack-sdk/encrypt-env-vars');

const [url, caFile, appId, rootK256, outFile] = process.argv.slice(2);

function post(method, body) {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(`/prpc/${method}?json`, url), {
      method: 'POST', ca: fs.readFileSync(caFile),
      // The KMS is pinned by its root CA, not by a host name (its certificate names kms.keygate).
      checkServerIdentity: () => undefined,
      headers: { 'Content-Type': 'application/json' },
    }, (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(data))
                                                  : reject(new Error(`${res.statusCode} ${data}`))));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

(async () => {
  const r = await post('GetAppEnvEncryptPubKey', { app_id: appId });
  const pub = Buffer.from(r.public_key, 'hex');
  const signer = verifyEnvEncryptPublicKey(pub, Buffer.from(r.signature_v1, 'hex'), appId, r.timestamp);
  assert.strictEqual(signer, '0x' + rootK256.replace(/^0x/, ''), 'env key signature recovers the KMS root key');
  const enc = await encryptEnvVars([{ key: process.env.KG_SECRET_NAME, value: process.env.KG_SECRET_VALUE }],
                                   r.public_key);
  fs.writeFileSync(outFile, enc + '\n');
  console.log('agent_env: env public key verified, environment encrypted');
})().catch((e) => { console.error('agent_env: FAILED:', e); process.exit(1); });
