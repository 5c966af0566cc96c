#!/usr/bin/env python3
"""find_secrets.py - looks for key material in a memory image (a core file), the way an attacker
holding the file would: every encoding of each secret that code is likely to leave behind.

Usage: find_secrets.py IMAGE NAME=KIND:FILE [NAME=KIND:FILE ...]
  IMAGE a file, or a directory: then every regular file under it, each hit prefixed "PATH: "
  (one process for a whole state_dir instead of one per file)
  KIND k256hex  FILE holds the 32-byte scalar as hex (the KMS's root-k256.key)
  KIND p256pem  FILE is a PKCS#8 PEM P-256 private key (root-ca.key); its scalar is read with
                `openssl pkey -text`
Searched forms: the raw 32 bytes, byte-reversed (OpenSSL BIGNUM limbs on little-endian),
lowercase and uppercase hex, and for PEM keys the key-specific base64 of each PEM line (the
first 48 base64 characters are the PKCS#8 header every P-256 key shares, so they prove nothing).
Prints one line per hit ("NAME as FORM at offset N") and exits 1 if anything was found, 0 if not,
2 if the search could not be made.
"""
import os
import re
import subprocess
import sys


def fail(msg):
    # 2, not 1: a caller must not read an unusable search as "nothing found"
    print("find_secrets: " + msg, file=sys.stderr)
    sys.exit(2)


def scalar_of_pem(path):
    text = subprocess.run(["openssl", "pkey", "-in", path, "-text", "-noout"], check=True,
                          capture_output=True, text=True).stdout
    m = re.search(r"priv:\s*((?:[0-9a-fA-F]{2}:?\s*)+)pub:", text)
    if not m:
        fail("no private scalar in 'openssl pkey -text' of " + path)
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


def patterns(specs):
    pats = []
    for spec in specs:
        name, _, rest = spec.partition("=")
        kind, _, path = rest.partition(":")
        if kind == "k256hex":
            s = bytes.fromhex(open(path).read().strip())
            extra = []
        elif kind == "p256pem":
            s = scalar_of_pem(path)
            extra = [("PEM base64", p) for p in pem_patterns(path)]
        else:
            fail("unknown kind " + kind)
        if len(s) != 32:
            fail("%s is not a 32-byte scalar" % name)
        forms = [("raw bytes", s), ("byte-reversed (BIGNUM limbs)", s[::-1]),
                 ("hex", s.hex().encode()), ("HEX", s.hex().upper().encode())] + extra
        pats += [(name, form, pat) for form, pat in forms]
    return pats


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    pats = patterns(sys.argv[2:])
    target = sys.argv[1]
    if os.path.isdir(target):
        images = sorted(os.path.join(d, f) for d, _, fs in os.walk(target) for f in fs)
        images = [(f + ": ", f) for f in images if os.path.isfile(f) and not os.path.islink(f)]
    else:
        images = [("", target)]
    hits = []
    for prefix, image in images:
        data = open(image, "rb").read()
        for name, form, pat in pats:
            i = data.find(pat)
            while i >= 0:
                hits.append("%s%s as %s at offset %d" % (prefix, name, form, i))
                i = data.find(pat, i + 1)
    for h in hits:
        print(h)
    return 1 if hits else 0


if __name__ == "__main__":
    try:
        rc = main()
    except (OSError, ValueError, subprocess.CalledProcessError) as e:
        fail(str(e))
    sys.exit(rc)
