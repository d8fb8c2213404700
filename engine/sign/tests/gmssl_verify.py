#!/usr/bin/env python3
"""Independent SM2/SM3 check of certflow-sign with PyPI's gmssl (pure Python).

Used by tests/gmssl.rs; needs `pip install gmssl`.

    gmssl_verify.py verify DIR
        DIR holds public_key.hex (04||x||y or x||y), message.bin,
        signature_raw.hex (r||s), signature_der.hex, tampered.bin (the message
        with one byte changed) and bad_signature_raw.hex (one signature byte
        changed). Prints a JSON object of booleans: whether gmssl's
        verify_with_sm3 accepts raw, der, tampered_message and bad_signature.

    gmssl_verify.py sign DIR
        Makes a key with gmssl, signs DIR/message.bin with sign_with_sm3 and
        prints {"public_key": "04..", "signature": "<r||s hex>"}.

gmssl's verify_with_sm3/sign_with_sm3 compute Z with the GB/T 35276 default
user id 1234567812345678 (hard-coded in CryptSM2._sm3_z), the same as
certflow-sign. Exit status 3 when gmssl is not installed.
"""

import json
import os
import secrets
import sys

try:
    from gmssl import sm2
except ImportError:
    print("gmssl is not installed (pip install gmssl)", file=sys.stderr)
    sys.exit(3)


def crypt_for(public_key_hex):
    """A CryptSM2 for the public key x||y (hex, 128 digits).

    CryptSM2.__init__ removes a leading '04' with str.lstrip("04"), which also
    eats leading '0' and '4' digits of x; so the key is set after construction.
    """
    key = public_key_hex.strip().lower()
    if len(key) == 130 and key.startswith("04"):
        key = key[2:]
    if len(key) != 128:
        raise SystemExit("public key must be 64 or 65 bytes of hex")
    crypt = sm2.CryptSM2(public_key="00" * 64, private_key="")
    crypt.public_key = key
    return crypt


def read(directory, name, binary=False):
    with open(os.path.join(directory, name), "rb" if binary else "r") as f:
        return f.read() if binary else f.read().strip()


def verify(directory):
    public_key = read(directory, "public_key.hex")
    message = read(directory, "message.bin", binary=True)
    tampered = read(directory, "tampered.bin", binary=True)
    raw = read(directory, "signature_raw.hex")
    der = read(directory, "signature_der.hex")
    bad = read(directory, "bad_signature_raw.hex")
    plain = crypt_for(public_key)
    asn1 = crypt_for(public_key)
    asn1.asn1 = True
    result = {
        "raw": bool(plain.verify_with_sm3(raw, message)),
        "der": bool(asn1.verify_with_sm3(der, message)),
        "tampered_message": bool(plain.verify_with_sm3(raw, tampered)),
        "bad_signature": bool(plain.verify_with_sm3(bad, message)),
    }
    print(json.dumps(result))


def sign(directory):
    message = read(directory, "message.bin", binary=True)
    table = sm2.default_ecc_table
    n = int(table["n"], 16)
    d = secrets.randbelow(n - 2) + 1
    private_key = "%064x" % d
    helper = sm2.CryptSM2(public_key="00" * 64, private_key=private_key)
    public_key = helper._kg(d, table["g"])
    crypt = crypt_for(public_key)
    crypt.private_key = private_key
    signature = crypt.sign_with_sm3(message)
    if not crypt.verify_with_sm3(signature, message):
        raise SystemExit("gmssl does not verify its own signature")
    print(json.dumps({"public_key": "04" + public_key, "signature": signature}))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("verify", "sign"):
        raise SystemExit(__doc__)
    {"verify": verify, "sign": sign}[sys.argv[1]](sys.argv[2])
