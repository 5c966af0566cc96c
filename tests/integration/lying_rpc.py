#!/usr/bin/env python3
"""lying_rpc.py - a JSON-RPC HTTP proxy in front of a real node (anvil) that can lie.

Used by chain_quorum_itest.sh to play the chain node the KMS must not believe alone
(docs/design.md, "Trusting the chain"). Python 3 standard library only.

    lying_rpc.py --upstream http://127.0.0.1:PORT --port-file FILE [--mode-file FILE]
                 [--flip-selector 0xSEL ...] [--log FILE]

It binds 127.0.0.1 port 0 and writes the port it got to --port-file (atomically). The mode is
read from --mode-file on every request (missing or empty file: honest), so one proxy serves
several cases:

    honest        forwards every request unchanged
    flip-call     eth_call answers of the --flip-selector functions (isAppAllowed /
                  isKmsAllowed) are rewritten to the ABI encoding of (true, ""): the liar approves
                  (without selectors: any answer shaped like (bool, string))
    deny-call     the same calls answered (false, "lying node says no")
    wrong-hash    block hashes in eth_getBlockByNumber / eth_getBlockByHash results are replaced
                  by other ones, consistently (a node on another fork): asking for a block or an
                  eth_call by such a hash is mapped back, so the node stays self-consistent
    stale N       the node's view is N blocks behind the real head: "latest" is head - N, newer
                  blocks do not exist for it (null), eth_call above its view fails
    frozen B      a stuck node: its view ends at block B whatever the real head is
    slow S        sleeps S seconds (float) before answering anything
    down          answers HTTP 503 to everything

Batch requests (a JSON array) are forwarded upstream as one batch, each element rewritten the
same way as a single request, and answered in the same order.
"""
import argparse
import hashlib
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOCK = threading.Lock()
FAKE_TO_REAL = {}  # wrong-hash: the hash we made up -> the real one
STATS = {}


def log(msg):
    if ARGS.log:
        with LOCK, open(ARGS.log, "a") as f:
            f.write("%.3f %s\n" % (time.time(), msg))


def read_mode():
    try:
        with open(ARGS.mode_file) as f:
            words = f.read().split()
    except (OSError, TypeError):
        words = []
    if not words:
        return ("honest", None)
    name, arg = words[0], (words[1] if len(words) > 1 else None)
    if name in ("stale", "frozen"):
        return (name, int(arg or "0", 0))
    if name == "slow":
        return (name, float(arg or "1"))
    if name in ("honest", "flip-call", "deny-call", "wrong-hash", "down"):
        return (name, None)
    log("unknown mode %r: acting honest" % name)
    return ("honest", None)


def upstream(payload):
    """POSTs payload (a dict or a list) to the real node; returns the decoded reply."""
    data = json.dumps(payload).encode()
    req = urllib.request.Request(ARGS.upstream, data=data,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def call1(method, params):
    reply = upstream({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    if "error" in reply:
        raise RuntimeError("upstream %s: %s" % (method, reply["error"]))
    return reply.get("result")


# ---- ABI ------------------------------------------------------------------------------------

def abi_bool_string(ok, text):
    b = text.encode()
    padded = b + b"\0" * ((32 - len(b) % 32) % 32)
    return "0x" + ((1 if ok else 0).to_bytes(32, "big") + (64).to_bytes(32, "big") +
                   len(b).to_bytes(32, "big") + padded).hex()


def looks_bool_string(result):
    """True for an ABI (bool, string) answer: word0 in {0,1}, word1 == 0x40, length fits."""
    if not isinstance(result, str) or not result.startswith("0x"):
        return False
    raw = result[2:]
    if len(raw) < 192 or len(raw) % 64:
        return False
    w = [int(raw[i:i + 64], 16) for i in range(0, 192, 64)]
    return w[0] in (0, 1) and w[1] == 64 and 96 + w[2] <= len(raw) // 2


def is_policy_call(req):
    try:
        data = req["params"][0].get("data") or req["params"][0].get("input") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        return False
    sels = [s.lower().removeprefix("0x") for s in (ARGS.flip_selector or [])]
    if sels:
        return data.lower().removeprefix("0x")[:8] in sels
    return None  # decide on the answer's shape


# ---- views of a node that is behind --------------------------------------------------------

def real_head():
    return int(call1("eth_blockNumber", []), 16)


def view_top(mode):
    name, arg = mode
    if name == "stale":
        return max(0, real_head() - arg)
    if name == "frozen":
        return arg
    return None


def block_number_of(tag):
    """The number a block parameter names (tag, number or EIP-1898 object), or None."""
    if isinstance(tag, dict):
        if "blockNumber" in tag:
            return int(tag["blockNumber"], 16)
        if "blockHash" in tag:
            blk = call1("eth_getBlockByHash", [tag["blockHash"], False])
            return int(blk["number"], 16) if blk else None
        return None
    if isinstance(tag, str) and tag.startswith("0x"):
        return int(tag, 16)
    return None


def err(req, code, message):
    return {"jsonrpc": "2.0", "id": req.get("id"), "error": {"code": code, "message": message}}


def fake_hash(real):
    h = "0x" + hashlib.sha256(b"another fork:" + real.encode()).hexdigest()
    with LOCK:
        FAKE_TO_REAL[h] = real
    return h


def unfake(h):
    with LOCK:
        return FAKE_TO_REAL.get(h.lower() if isinstance(h, str) else h, h)


def pre(req, mode):
    """Returns (request to forward, None) or (None, the reply to give without forwarding)."""
    name, _ = mode
    m = req.get("method")
    params = list(req.get("params") or [])
    if name == "wrong-hash":
        if m == "eth_getBlockByHash" and params:
            params[0] = unfake(params[0])
        elif m == "eth_call" and len(params) > 1 and isinstance(params[1], dict) \
                and "blockHash" in params[1]:
            params[1] = dict(params[1], blockHash=unfake(params[1]["blockHash"]))
        return dict(req, params=params), None
    top = view_top(mode)
    if top is None:
        return req, None
    # a node that is behind: nothing above `top` exists for it
    if m == "eth_blockNumber":
        return None, {"jsonrpc": "2.0", "id": req.get("id"), "result": hex(top)}
    if m == "eth_getBlockByNumber" and params:
        tag = params[0]
        if tag in ("latest", "pending", "safe", "finalized"):
            params[0] = hex(top)
        elif block_number_of(tag) is not None and block_number_of(tag) > top:
            return None, {"jsonrpc": "2.0", "id": req.get("id"), "result": None}
        return dict(req, params=params), None
    if m == "eth_getBlockByHash" and params:
        n = block_number_of({"blockHash": params[0]})
        if n is not None and n > top:
            return None, {"jsonrpc": "2.0", "id": req.get("id"), "result": None}
        return req, None
    if m in ("eth_call", "eth_getBalance", "eth_getCode", "eth_getStorageAt",
             "eth_getTransactionCount") and params:
        tag = params[-1] if len(params) > 1 else "latest"
        if tag in ("latest", "pending", "safe", "finalized"):
            if len(params) > 1:
                params[-1] = hex(top)
            else:
                params.append(hex(top))
            return dict(req, params=params), None
        n = block_number_of(tag)
        if n is not None and n > top:
            return None, err(req, -32000, "header not found")
        return req, None
    return req, None


def post(req, reply, mode):
    name, _ = mode
    if not isinstance(reply, dict) or "result" not in reply:
        return reply
    m = req.get("method")
    res = reply["result"]
    if name in ("flip-call", "deny-call") and m == "eth_call":
        policy = is_policy_call(req)
        if policy is None:
            policy = looks_bool_string(res)
        if policy:
            lie = abi_bool_string(True, "") if name == "flip-call" else \
                abi_bool_string(False, "lying node says no")
            if lie != res:
                log("%s: eth_call answer rewritten" % name)
            return dict(reply, result=lie)
    if name == "wrong-hash" and m in ("eth_getBlockByNumber", "eth_getBlockByHash") \
            and isinstance(res, dict) and res.get("hash"):
        res = dict(res, hash=fake_hash(res["hash"]))
        if res.get("parentHash"):
            res["parentHash"] = fake_hash(res["parentHash"])
        return dict(reply, result=res)
    return reply


def handle(payload, mode):
    batch = isinstance(payload, list)
    reqs = payload if batch else [payload]
    out = [None] * len(reqs)
    fwd, where = [], []
    for i, r in enumerate(reqs):
        if not isinstance(r, dict):
            out[i] = err({}, -32600, "invalid request")
            continue
        try:
            f, direct = pre(r, mode)
        except Exception as e:  # the upstream failed while we looked: answer as a node would
            f, direct = None, err(r, -32603, "proxy: %s" % e)
        if direct is not None:
            out[i] = direct
        else:
            fwd.append(f)
            where.append(i)
    if fwd:
        replies = upstream(fwd if batch else fwd[0])
        if not batch:
            replies = [replies]
        by_id = {}
        for rep in replies if isinstance(replies, list) else [replies]:
            if isinstance(rep, dict):
                by_id.setdefault(json.dumps(rep.get("id")), []).append(rep)
        for k, i in enumerate(where):
            key = json.dumps(fwd[k].get("id"))
            lst = by_id.get(key)
            rep = lst.pop(0) if lst else err(fwd[k], -32603, "proxy: no reply for this id")
            out[i] = post(reqs[i], rep, mode)
    return out if batch else out[0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        mode = read_mode()
        try:
            payload = json.loads(body)
            methods = [r.get("method") for r in payload] if isinstance(payload, list) \
                else [payload.get("method")]
        except (ValueError, AttributeError):
            payload, methods = None, ["?"]
        with LOCK:
            for m in methods:
                STATS[m] = STATS.get(m, 0) + 1
        log("%s %s" % (" ".join(str(x) for x in mode if x is not None), ",".join(map(str, methods))))
        if mode[0] == "slow":
            time.sleep(mode[1])
        if mode[0] == "down":
            return self.reply(503, b'{"error":"node down"}')
        if payload is None:
            return self.reply(200, json.dumps(err({}, -32700, "parse error")).encode())
        try:
            answer = handle(payload, mode)
        except (urllib.error.URLError, OSError, ValueError) as e:
            return self.reply(502, json.dumps({"error": "upstream: %s" % e}).encode())
        self.reply(200, json.dumps(answer).encode())

    def reply(self, status, data):
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on us (a slow node): nothing to answer

    def log_message(self, *a):
        pass


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--upstream", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--mode-file")
    p.add_argument("--flip-selector", action="append")
    p.add_argument("--log")
    ARGS = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(tmp, ARGS.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
