#!/usr/bin/env python3
"""kms_webhook_auth.py - a minimal dstack-style auth webhook for kms_itest.sh: POST /bootAuth/kms
allows any KMS with tcbStatus UpToDate; POST /bootAuth/app allows the compose hashes listed in
the file given as argv[2] (one hex per line, re-read per request); GET / describes the
deployment as dstack's auth-eth does (AuthApiInfoResponse). Any other path, "//bootAuth/app"
included, is 404. Writes its port to argv[1]."""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, obj):
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path != "/":
            self.send_response(404)
            self.end_headers()
            return
        self.reply({"status": "ok", "kmsContractAddr": "0x5fbdb2315678afecb367f032d93f642f64180aa3",
                    "gatewayAppId": "gw-from-webhook", "chainId": 31337,
                    "appImplementation": "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512",
                    "ethRpcUrl": ""})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        if self.path == "/bootAuth/kms":
            ok = body.get("tcbStatus") == "UpToDate"
            reply = {"isAllowed": ok, "reason": "" if ok else "tcb", "gatewayAppId": ""}
        elif self.path == "/bootAuth/app":
            with open(sys.argv[2]) as f:
                allowed = {line.strip() for line in f if line.strip()}
            ok = body.get("composeHash") in allowed
            reply = {"isAllowed": ok, "reason": "" if ok else "webhook: compose hash not listed",
                     "gatewayAppId": "gw-from-webhook"}
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.reply(reply)


server = HTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
