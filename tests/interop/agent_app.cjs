// agent_app.cjs - an app run by `keygate sim run`: talks to keygate-agent only through the real
// npm @phala/dstack-sdk (pinned 0.5.8) and checks every answer. Not a ctest entry itself:
// agent_sdk_test.sh runs it inside simulated app VMs.
//
// Environment (from the driver):
//   KG_OUT                 directory for results (result.json, quote.hex, tls-*.pem)
//   KG_EXPECT_ROOT_K256    the KMS root secp256k1 public key (compressed hex)
//   KG_EXPECT_APP_ID       the app id (hex)
//   KG_EXPECT_COMPOSE_HASH sha256 of the app-compose.json bytes (hex)
//   KG_SECRET_NAME / KG_EXPECT_SECRET_SHA256  an encrypted env var and the hash of its value
//   KG_WITH_TLS            "1" to exercise getTlsKey (needs the KMS)
'use strict';
const fs = require('fs');
const path = require('path');
const assert = require('assert');
const crypto = require('crypto');
const { DstackClient } = require('@phala/dstack-sdk');
const { secp256k1 } = require('@noble/curves/secp256k1');
const { keccak_256 } = require('@noble/hashes/sha3');

const out = process.env.KG_OUT;
const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => Buffer.from(s.replace(/^0x/, ''), 'hex');

function recover(digest, sig65) {
  const s = secp256k1.Signature.fromCompact(sig65.slice(0, 64)).addRecoveryBit(sig65[64]);
  return Buffer.from(s.recoverPublicKey(digest).toRawBytes(true));
}

// TDX v4 quote: TD report at 48; RTMR0..3 at 48+328+48i; REPORTDATA at 568.
function quoteRegs(q) {
  const rtmrs = [0, 1, 2, 3].map((i) => hex(q.subarray(376 + 48 * i, 424 + 48 * i)));
  return { rtmrs, reportData: q.subarray(568, 632) };
}

async function main() {
  const result = {};
  const endpoint = process.env.DSTACK_SIMULATOR_ENDPOINT;
  assert.ok(endpoint && endpoint.startsWith('/'), 'DSTACK_SIMULATOR_ENDPOINT is a socket path');
  assert.strictEqual(fs.statSync(endpoint).mode & 0o777, 0o660, 'socket mode 0660');
  const client = new DstackClient();

  // Environment decrypted by the agent at boot (encryptEnvVars by the SDK on the driver side).
  if (process.env.KG_SECRET_NAME) {
    const v = process.env[process.env.KG_SECRET_NAME];
    assert.ok(v !== undefined, 'encrypted env var reached the app');
    assert.strictEqual(crypto.createHash('sha256').update(v).digest('hex'),
                       process.env.KG_EXPECT_SECRET_SHA256, 'env var value');
  }

  // getKey: the signature chain recovers, link by link, to the KMS root k256 key.
  const appId = unhex(process.env.KG_EXPECT_APP_ID);
  const k = await client.getKey('wallet/eth', 'ethereum');
  assert.strictEqual(k.key.length, 32);
  assert.strictEqual(k.signature_chain.length, 2);
  const pub = Buffer.from(secp256k1.getPublicKey(k.key, true));
  const appPub = recover(keccak_256(Buffer.from('ethereum:' + hex(pub))), k.signature_chain[0]);
  const root = recover(keccak_256(Buffer.concat([Buffer.from('dstack-kms-issued:'), appId, appPub])),
                       k.signature_chain[1]);
  assert.strictEqual(hex(root), process.env.KG_EXPECT_ROOT_K256.replace(/^0x/, ''),
                     'chain recovers to the KMS root key');
  result.get_key = hex(k.key);
  result.app_pubkey = hex(appPub);

  // getQuote: replayRtmrs() reproduces the quote's RTMRs; REPORTDATA is ours, zero-padded.
  const q = await client.getQuote('hello');
  const qb = unhex(q.quote);
  const regs = quoteRegs(qb);
  assert.deepStrictEqual(regs.reportData, Buffer.concat([Buffer.from('hello'), Buffer.alloc(59)]));
  assert.deepStrictEqual(q.replayRtmrs(), regs.rtmrs, 'replayRtmrs() equals the quote RTMRs');
  const events = JSON.parse(q.event_log).map((e) => e.event);
  for (const name of ['system-preparing', 'app-id', 'compose-hash', 'instance-id', 'boot-mr-done',
                      'os-image-hash', 'key-provider', 'system-ready'])
    assert.ok(events.includes(name), `event log has ${name}`);
  fs.writeFileSync(path.join(out, 'quote.hex'), q.quote);

  // info
  const info = await client.info();
  assert.strictEqual(info.app_id, process.env.KG_EXPECT_APP_ID.replace(/^0x/, ''));
  assert.strictEqual(info.compose_hash, process.env.KG_EXPECT_COMPOSE_HASH);
  assert.strictEqual(info.instance_id.length, 40);
  assert.strictEqual(info.tcb_info.rtmr3, regs.rtmrs[3]);
  assert.strictEqual(info.tcb_info.compose_hash, process.env.KG_EXPECT_COMPOSE_HASH);
  assert.strictEqual(JSON.parse(info.key_provider_info).name, 'kms');
  assert.strictEqual(info.os_image_hash.length, 64);
  // device_id = SHA-256(PPID) from the VM's own verified PCK certificate.
  assert.match(info.device_id, /^[0-9a-f]{64}$/);
  assert.notStrictEqual(info.device_id, '0'.repeat(64));
  assert.strictEqual(info.tcb_info.device_id, info.device_id);
  result.instance_id = info.instance_id;
  result.os_image_hash = info.os_image_hash;

  // emitEvent extends RTMR3 after boot; the replay still matches.
  await client.emitEvent('app-started', 'v1');
  const q2 = await client.getQuote('');
  const regs2 = quoteRegs(unhex(q2.quote));
  assert.notStrictEqual(regs2.rtmrs[3], regs.rtmrs[3], 'RTMR3 moved');
  assert.deepStrictEqual(q2.replayRtmrs(), regs2.rtmrs);
  const last = JSON.parse(q2.event_log).pop();
  assert.strictEqual(last.event, 'app-started');
  assert.strictEqual(last.event_payload, hex(Buffer.from('v1')));
  // The SDK's emitEvent ignores error replies (0.5.8), so a refused reserved name is invisible
  // to it: check that the register did not move.
  await client.emitEvent('system-ready', '');
  assert.deepStrictEqual(quoteRegs(unhex((await client.getQuote('')).quote)).rtmrs, regs2.rtmrs,
                         'a reserved event name does not extend RTMR3');

  // sign / verify (secp256k1: ECDSA over SHA-256; chain [sig, app link, KMS link]).
  const msg = Buffer.from('keygate interop');
  const s = await client.sign('secp256k1', msg);
  assert.strictEqual(s.signature.length, 64);
  assert.strictEqual(s.signature_chain.length, 3);
  const digest = crypto.createHash('sha256').update(msg).digest();
  assert.ok(secp256k1.verify(s.signature, digest, s.public_key), 'noble verifies the signature');
  const v = await client.verify('secp256k1', msg, s.signature, s.public_key);
  assert.strictEqual(v.valid, true);
  const bad = await client.verify('secp256k1', Buffer.from('other'), s.signature, s.public_key);
  assert.strictEqual(bad.valid, false);
  const signer = recover(keccak_256(Buffer.from('signing:' + hex(s.public_key))),
                         s.signature_chain[1]);
  assert.strictEqual(hex(signer), hex(appPub), 'sign chain link 1 recovers to the app key');
  const ed = await client.sign('ed25519', msg);
  assert.strictEqual((await client.verify('ed25519', msg, ed.signature, ed.public_key)).valid, true);

  // attest: an opaque hex blob to the SDK; keygate's is JSON {version, quote, event_log, vm_config}.
  const att = await client.attest('att');
  const blob = JSON.parse(Buffer.from(att.attestation, 'hex').toString());
  assert.strictEqual(blob.version, 1);
  assert.deepStrictEqual(quoteRegs(unhex(blob.quote)).reportData,
                         Buffer.concat([Buffer.from('att'), Buffer.alloc(61)]));
  assert.ok(Array.isArray(blob.event_log) && blob.event_log.length >= 9);

  const ver = await client.version();
  assert.ok(ver.version.length > 0);
  assert.ok(await client.isReachable());

  // getTlsKey: a fresh key certified by the KMS under the app CA; the driver runs openssl verify.
  if (process.env.KG_WITH_TLS === '1') {
    // KG_TLS_RA_TLS=1: also ask for the quote in the leaf (usage_ra_tls)
    const t = await client.getTlsKey({
      subject: 'app.keygate.test', altNames: ['app.keygate.test'], usageRaTls: process.env.KG_TLS_RA_TLS === '1',
    });
    assert.ok(t.key.includes('BEGIN PRIVATE KEY'));
    assert.ok(t.certificate_chain.length >= 3);
    assert.ok(t.asUint8Array().length > 32);
    fs.writeFileSync(path.join(out, 'tls-leaf.pem'), t.certificate_chain[0]);
    fs.writeFileSync(path.join(out, 'tls-app-ca.pem'), t.certificate_chain[1]);
    fs.writeFileSync(path.join(out, 'tls-root.pem'), t.certificate_chain[t.certificate_chain.length - 1]);
    const leafKey = crypto.createPublicKey(crypto.createPrivateKey(t.key)).export({ type: 'spki', format: 'der' });
    const certKey = new crypto.X509Certificate(t.certificate_chain[0]).publicKey.export({ type: 'spki', format: 'der' });
    assert.deepStrictEqual(leafKey, certKey, 'the TLS key is the certified key');
  }

  fs.writeFileSync(path.join(out, 'result.json'), JSON.stringify(result));
  console.log('agent_app: all SDK checks passed');
}

main().catch((e) => {
  console.error('agent_app: FAILED:', e && e.stack ? e.stack : e);
  process.exit(1);
});
