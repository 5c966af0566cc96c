// dcap_peers.mjs - verdicts of the npm DCAP verifiers on one quote, for dcap_qvl_test.sh:
// node dcap_peers.mjs QUOTE COLLATERAL TIME [ROOT_CA_DER]
// prints {"js":{"ok":bool,"status":..,"advisory_ids":[..]|"error":..},"wasm":{...}|null}
// (the WebAssembly build takes no custom root: with ROOT_CA_DER only the JS peer runs).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [quotePath, collPath, timeStr, rootPath] = process.argv.slice(2);
const require = createRequire(join(process.env.NODE_PATH || '.', 'x.js'));
const quote = new Uint8Array(readFileSync(quotePath));
const collateral = JSON.parse(readFileSync(collPath, 'utf8'));
const t = Number(timeStr);

function verdict(fn) {
    try {
        const r = fn();
        return { ok: true, status: r.status, advisory_ids: [...(r.advisory_ids || [])] };
    } catch (e) {
        return { ok: false, error: String(e && e.message ? e.message : e) };
    }
}

const out = {};
const { QuoteVerifier } = require('@phala/dcap-qvl/src/verify');
const js = rootPath ? QuoteVerifier.newWithRootCa(Buffer.from(readFileSync(rootPath)))
                    : QuoteVerifier.newProd();
out.js = verdict(() => js.verify(quote, collateral, t));
if (!rootPath) {
    const dir = join(process.env.NODE_PATH || '.', '@phala', 'dcap-qvl-web');
    const mod = await import(pathToFileURL(join(dir, 'dcap-qvl-web.js')).href);
    mod.initSync({ module: readFileSync(join(dir, 'dcap-qvl-web_bg.wasm')) });
    out.wasm = verdict(() => mod.js_verify(quote, collateral, BigInt(t)));
} else {
    out.wasm = null;
}
console.log(JSON.stringify(out));
