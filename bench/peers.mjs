// peers.mjs - times the npm DCAP verifiers (@phala/dcap-qvl in JS, @phala/dcap-qvl-web in WASM)
// on one quote: node peers.mjs TOOLS_DIR QUOTE COLLATERAL AT SECONDS -> one JSON line.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [toolsDir, quotePath, collPath, atStr, secStr] = process.argv.slice(2);
const quote = new Uint8Array(readFileSync(quotePath));
const collateral = JSON.parse(readFileSync(collPath, 'utf8'));
const at = Number(atStr);
const seconds = Number(secStr);

// Rates use the process's CPU time (user + system), as keygate-bench does, so that other load
// on the machine does not distort the comparison.
function cpuSeconds() {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
}

function time(fn) {
    fn(); // warm-up, and fail early if the peer rejects the quote
    let n = 0;
    const start = cpuSeconds();
    let elapsed = 0;
    do {
        fn();
        n++;
        elapsed = cpuSeconds() - start;
    } while (elapsed < seconds);
    return { ops_per_sec: n / elapsed, status: null };
}

const out = {};
try {
    const require = createRequire(join(toolsDir, 'package.json'));
    const { verify } = require('@phala/dcap-qvl/src/verify');
    const r = verify(quote, collateral, at);
    out['dcap-qvl'] = { ...time(() => verify(quote, collateral, at)), status: r.status };
} catch (e) {
    out['dcap-qvl'] = { error: String(e.message || e) };
}
try {
    const dir = join(toolsDir, 'node_modules', '@phala', 'dcap-qvl-web');
    const mod = await import(pathToFileURL(join(dir, 'dcap-qvl-web.js')).href);
    mod.initSync({ module: readFileSync(join(dir, 'dcap-qvl-web_bg.wasm')) });
    const r = mod.js_verify(quote, collateral, BigInt(at));
    out['dcap-qvl-web'] = { ...time(() => mod.js_verify(quote, collateral, BigInt(at))),
                            status: r.status };
} catch (e) {
    out['dcap-qvl-web'] = { error: String(e.message || e) };
}
console.log(JSON.stringify(out));
