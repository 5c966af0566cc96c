#!/usr/bin/env python3
"""find_secrets.py - looks for key material in a memory image (a core file), the way an attacker
holding the file would: every encoding of each secret that code is likely to leave behind.

Usage: find_secrets.py IMAGE NAME=KIND:FILE [NAME=KIND:FILE ...]
  KIND k256hex  FILE holds the 32-byte scalar as hex (the KMS's root-k256.key)
  KIND p256pem  FILE is a PKCS#8 PEM P-256 private key (root-ca.key); its scalar is read with
                `openssl pkey -text`
Searched forms: the raw 32 bytes, byte-reversed (OpenSSL BIGNUM limbs on little-endian),
lowercase and uppercase hex, and for PEM keys the key-specific base64 of each PEM line (the
first 48 base64 characters are the PKCS#8 header every P-256 key shares, so they prove nothing).
Prints one line per hit ("NAME as FORM at offset N") and exits 1 if anything was found, 0 if not.
"""
import re
import subprocess
import sys


def scalar_of_pem(path):
    text = subprocess.run(["openssl", "pkey", "-in", path, "-text", "-noout"], check=True,
                          capture_output=True, text=True).stdout
    m = re.search(r"priv:\s*((?:[0-9a-fA-F]{2}:?\s*)+)pub:", text)
    if not m:
        sys.exit("find_secrets: no private scalar in 'openssl pkey -text' of " + path)
    raw = bytes.fromhex(re.sub(r"[^0-9a-fA-F]", "", m.group(1)))
    return raw[-32:].rjust(32, b"\0")


def pem_patterns(path):
    lines = [l for l in open(path).read().splitlines() if l and not l.startswith("-----")]
    # base64 of the DER from character 48 on encodes the private scalar (and then the public
    # key); look for it as it sits in the PEM text, line by line, 12+ characters at a time.
    pats, pos = [], 0
    for l in lines:
        start, end = max(pos, 48), min(pos + len(l), 48 + 43)  # the scalar's 43 characters
        if end - start >= 12:
            pats.append(l[start - pos:end - pos].encode())
        pos += len(l)
    return pats


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    data = open(sys.argv[1], "rb").read()
    hits = []
    for spec in sys.argv[2:]:
        name, _, rest = spec.partition("=")
        kind, _, path = rest.partition(":")
        if kind == "k256hex":
            s = bytes.fromhex(open(path).read().strip())
            extra = []
        elif kind == "p256pem":
            s = scalar_of_pem(path)
            extra = [("PEM base64", p) for p in pem_patterns(path)]
        else:
            sys.exit("find_secrets: unknown kind " + kind)
        if len(s) != 32:
            sys.exit("find_secrets: %s is not a 32-byte scalar" % name)
        forms = [("raw bytes", s), ("byte-reversed (BIGNUM limbs)", s[::-1]),
                 ("hex", s.hex().encode()), ("HEX", s.hex().upper().encode())] + extra
        for form, pat in forms:
            i = data.find(pat)
            while i >= 0:
                hits.append("%s as %s at offset %d" % (name, form, i))
                i = data.find(pat, i + 1)
    for h in hits:
        print(h)
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
