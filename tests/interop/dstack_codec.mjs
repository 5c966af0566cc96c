// dstack_codec.mjs - the independent peer of the dstack codec interop test: dstack's
// VersionedAttestation (V0 SCALE, V1 msgpack) and CertSigningRequestV2 built with the npm codecs
// scale-ts and @msgpack/msgpack from type definitions transcribed from dstack's source
// (Dstack-TEE/dstack 312dc605: dstack-attest/src/attestation.rs, v1.rs; cc-eventlog/src/
// runtime_events.rs, tdx.rs; ra-tls/src/cert.rs). Digests are computed here with node:crypto.
//   node dstack_codec.mjs encode OUTDIR   writes att_v0.bin, att_v1.bin, csr_v2.bin and the
//                                         expected decodings (*.json, keygate's peer shape)
//   node dstack_codec.mjs decode FILE     decodes VersionedAttestation bytes into that shape
//   node dstack_codec.mjs guest KEYGATE SIM VM OUTDIR
//                                         what a guest sends, built here: a fresh P-256 key
//                                         (key.pem), a quote of the simulated VM binding it
//                                         (keygate sim quote: the TEE), its V0 attestation as the
//                                         .8 extension's DER (ext8.hex, for openssl) and a
//                                         SignCert v2 body (signcert.json) signed by node:crypto
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

// the pinned packages in tools/node_modules (NODE_PATH), which ESM imports do not search
const require = createRequire(join(process.env.NODE_PATH || '.', 'x.js'));
const { Bytes, Enum, Option, Struct, Vector, bool, str, u32, u64 } = require('scale-ts');
const { decode: mpDecode, encode: mpEncode } = require('@msgpack/msgpack');

const DSTACK_TYPE = 0x08000001;

// ---- SCALE types (declaration order is the wire order; enum index = variant position) ----
const TdxEvent = Struct({ imr: u32, event_type: u32, digest: Bytes(), event: str, event_payload: Bytes() });
const RuntimeEvent = Struct({ event: str, payload: Bytes() });
const TdxQuote = Struct({ quote: Bytes(), event_log: Vector(TdxEvent) });
// AttestationQuote: DstackTdx, DstackGcpTdx, DstackNitroEnclave, DstackAmdSevSnp, DstackAwsNitroTpm
const AttestationQuote = Enum({ DstackTdx: TdxQuote });
const Attestation = Struct({
  quote: AttestationQuote, runtime_events: Vector(RuntimeEvent), report_data: Bytes(64), config: str,
});
const VersionedAttestation = Enum({ V0: Attestation }); // LegacyVersionedAttestation
const CertConfigV2 = Struct({
  org_name: Option(str), subject: str, subject_alt_names: Vector(str), usage_server_auth: bool,
  usage_client_auth: bool, ext_quote: bool, ext_app_info: bool, not_before: Option(u64),
  not_after: Option(u64),
});
// CertSigningRequestV2 minus its last field (the attestation takes the remaining bytes)
const CsrHead = Struct({ confirm: str, pubkey: Bytes(), config: CertConfigV2 });

const hex = (b) => Buffer.from(b).toString('hex');
const u8 = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
function digestV1(name, payload) {
  const t = Buffer.alloc(4); t.writeUInt32LE(DSTACK_TYPE);
  return createHash('sha384').update(Buffer.concat([t, Buffer.from(':' + name + ':'), Buffer.from(payload)])).digest();
}
function digestV2(name, payload) {
  // RFC 8785 for these ASCII keys and values: sorted keys, no spaces
  return createHash('sha384').update(JSON.stringify({ name, payload: hex(payload), type: DSTACK_TYPE })).digest();
}

// The fixture keygate's peer encodes too (dstack_codec_peer.c: fixture)
const QUOTE = Uint8Array.from({ length: 300 }, (_, i) => (i * 7 + 3) & 0xff);
const RD = new Uint8Array(64).fill(0x5a);
const FIXTURE = [
  { event: 'system-preparing', payload: new Uint8Array(0), v2: false },
  { event: 'app-id', payload: new Uint8Array(20).fill(0xbb), v2: false },
  { event: 'compose-hash', payload: new Uint8Array(32).fill(0xcc), v2: false },
  { event: 'system-ready', payload: new Uint8Array(0), v2: false },
];
const CONFIG = '{"vm":"cfg"}';

function shape(wire, quote, rd, config, events, nPlatform) {
  return {
    wire, quote: hex(quote), report_data: hex(rd), config_hex: hex(Buffer.from(config)),
    n_platform_events: nPlatform,
    runtime_events: events.map((e) => ({
      event_hex: hex(Buffer.from(e.event)), payload: hex(e.payload), v2: e.v2,
      digest: hex(e.v2 ? digestV2(e.event, e.payload) : digestV1(e.event, e.payload)),
    })),
  };
}

function encodeV0(quote, events, rd, config) {
  return VersionedAttestation.enc({
    tag: 'V0',
    value: {
      quote: {
        tag: 'DstackTdx',
        value: {
          quote,
          event_log: events.map((e) => ({
            imr: 3, event_type: DSTACK_TYPE, digest: new Uint8Array(0), event: e.event,
            event_payload: e.payload,
          })),
        },
      },
      runtime_events: events.map((e) => ({ event: e.event, payload: e.payload })),
      report_data: rd, config,
    },
  });
}

function encodeV1(quote, events, rd, config) {
  // rmp-serde to_vec_named: structs as maps in declaration order; plain Vec<u8> (quote,
  // report_data) as arrays of integers; serde_human_bytes fields as bin; version omitted for V1
  const tdxEvent = (e) => {
    const d = e.v2 ? digestV2(e.event, e.payload) : digestV1(e.event, e.payload);
    const m = { imr: 3, event_type: DSTACK_TYPE, digest: Uint8Array.from(d), event: e.event, event_payload: e.payload };
    if (e.v2) {
      m.version = 2;
      m.preimage = hex(Buffer.from(JSON.stringify({ name: e.event, payload: hex(e.payload), type: DSTACK_TYPE })));
    }
    return m;
  };
  const rtEvent = (e) => (e.v2 ? { event: e.event, payload: e.payload, version: 2 } : { event: e.event, payload: e.payload });
  return mpEncode({
    version: 1,
    platform: { kind: 'tdx', data: { quote: Array.from(quote), event_log: events.map(tdxEvent) } },
    stack: { kind: 'dstack', data: { report_data: Array.from(rd), runtime_events: events.map(rtEvent), config } },
  });
}

function decodeAny(bytes) {
  if (bytes[0] === 0x00) {
    const v = VersionedAttestation.dec(bytes);
    if (VersionedAttestation.enc(v).length !== bytes.length) throw new Error('trailing bytes');
    const a = v.value;
    const events = a.runtime_events.map((e) => ({ event: e.event, payload: e.payload, v2: false }));
    return shape(0, a.quote.value.quote, a.report_data, a.config, events, a.quote.value.event_log.length);
  }
  const m = mpDecode(bytes);
  if (m.version !== 1 || m.platform.kind !== 'tdx' || m.stack.kind !== 'dstack') throw new Error('not a dstack TDX V1 attestation');
  const events = m.stack.data.runtime_events.map((e) => ({ event: e.event, payload: Uint8Array.from(e.payload), v2: e.version === 2 }));
  for (const [i, e] of m.platform.data.event_log.entries()) {
    // the TDX log's stated digests must be the runtime events' (our encoder writes them)
    const r = events[i];
    const want = r.v2 ? digestV2(r.event, r.payload) : digestV1(r.event, r.payload);
    if (hex(e.digest) !== hex(want)) throw new Error(`TDX event ${i}: digest differs`);
  }
  return shape(1, Uint8Array.from(m.platform.data.quote), Uint8Array.from(m.stack.data.report_data),
    m.stack.data.config, events, m.platform.data.event_log.length);
}

const [mode, arg] = process.argv.slice(2);
if (mode === 'encode') {
  const withV2 = FIXTURE.map((e) => (e.event === 'compose-hash' ? { ...e, v2: true } : e));
  const v0 = encodeV0(QUOTE, FIXTURE, RD, CONFIG);
  const v1 = encodeV1(QUOTE, withV2, RD, CONFIG);
  writeFileSync(`${arg}/att_v0.bin`, v0);
  writeFileSync(`${arg}/att_v0.json`, JSON.stringify(shape(0, QUOTE, RD, CONFIG, FIXTURE, FIXTURE.length)));
  writeFileSync(`${arg}/att_v1.bin`, v1);
  writeFileSync(`${arg}/att_v1.json`, JSON.stringify(shape(1, QUOTE, RD, CONFIG, withV2, withV2.length)));
  const pubkey = u8('3059301306072a8648ce3d020106082a8648ce3d03010703420004' + 'ab'.repeat(64));
  const head = CsrHead.enc({
    confirm: 'please sign cert:', pubkey,
    config: {
      org_name: 'Org', subject: 'app.example', subject_alt_names: ['app.example', 'b.example'],
      usage_server_auth: true, usage_client_auth: false, ext_quote: true, ext_app_info: false,
      not_before: undefined, not_after: 4102444800n,
    },
  });
  writeFileSync(`${arg}/csr_v2.bin`, Buffer.concat([head, v1]));
  writeFileSync(`${arg}/csr_v2.json`, JSON.stringify({
    confirm: 'please sign cert:', pubkey: hex(pubkey), org_name: hex(Buffer.from('Org')),
    subject_hex: hex(Buffer.from('app.example')),
    sans_hex: [hex(Buffer.from('app.example')), hex(Buffer.from('b.example'))],
    usage_server_auth: true, usage_client_auth: false, ext_quote: true, ext_app_info: false,
    not_before: null, not_after: '4102444800',
    attestation: shape(1, QUOTE, RD, CONFIG, withV2, withV2.length),
  }));
} else if (mode === 'decode') {
  process.stdout.write(JSON.stringify(decodeAny(Uint8Array.from(readFileSync(arg)))) + '\n');
} else if (mode === 'guest') {
  const [kg, sim, vm, outdir] = process.argv.slice(3);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  // dstack's ra-tls: report_data = SHA-512("ratls-cert:" || SubjectPublicKeyInfo DER)
  const rd = createHash('sha512').update(Buffer.concat([Buffer.from('ratls-cert:'), spki])).digest();
  const run = (...a) => execFileSync(kg, ['sim', ...a, '--dir', sim, '--vm', vm]).toString().trim();
  const quote = u8(run('quote', '--report-data', hex(rd)));
  const events = JSON.parse(run('eventlog')).filter((e) => e.imr === 3)
    .map((e) => ({ event: e.event, payload: u8(e.event_payload), v2: false }));
  const att = encodeV0(quote, events, rd, '');
  // extnValue: DER OCTET STRING wrapping the attestation (dstack's ra-tls cert.rs)
  const n = att.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  writeFileSync(`${outdir}/ext8.hex`, hex(Buffer.concat([Buffer.from([0x04, ...len]), att])));
  writeFileSync(`${outdir}/key.pem`, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  // SignCert v2 as dstack-util asks (subject dstack-guest-agent, client auth, ext_quote)
  const csr = Buffer.concat([CsrHead.enc({
    confirm: 'please sign cert:', pubkey: Uint8Array.from(spki),
    config: {
      org_name: undefined, subject: 'dstack-guest-agent', subject_alt_names: [], usage_server_auth: false,
      usage_client_auth: true, ext_quote: true, ext_app_info: false, not_before: undefined, not_after: undefined,
    },
  }), att]);
  const sig = sign('sha256', csr, privateKey); // DER ECDSA, as ring's ASN.1 form
  writeFileSync(`${outdir}/signcert.json`, JSON.stringify({
    api_version: 2, csr: hex(csr), signature: hex(sig), vm_config: '{"cpu_count":1,"memory_size":2147483648}',
  }));
} else {
  console.error('usage: dstack_codec.mjs encode OUTDIR | decode FILE | guest KEYGATE SIM VM OUTDIR');
  process.exit(2);
}
