#!/usr/bin/env python3
"""Make a signed PayPal webhook test delivery with a self-made key.

Usage:
    python3 -m venv .venv && .venv/bin/pip install cryptography
    .venv/bin/python src/verify/providers/vectors/paypal/make.py

What it does:
  1. If key.pem / cert.pem are missing beside this script, makes them with
         openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 36500 \
             -subj /CN=messageverificationcerts.sandbox.paypal.com \
             -keyout key.pem -out cert.pem
     (self-signed, no CA; the CN is the one PayPal's sandbox signing
     certificate carries, which PayPal's Java and Python SDKs check for).
  2. Signs, as PayPal does (SHA256withRSA = RSASSA-PKCS1-v1_5 with SHA-256),
     the UTF-8 string
         <PAYPAL-TRANSMISSION-ID>|<PAYPAL-TRANSMISSION-TIME>|<webhook id>|<crc32>
     where <crc32> is the CRC-32 (IEEE, zlib's) of the raw body bytes as an
     UNSIGNED decimal integer; PAYPAL-TRANSMISSION-SIG = base64 of the result.
  3. Writes:
       delivery.json        the exact HTTP body (compact JSON, as PayPal sends)
       delivery.headers     the request headers
       delivery.signed.txt  the exact signed string (no trailing newline)
       webhook_id.txt       the webhook id used (the "secret" side input)
       tampered.json        body with the amount changed: different CRC, must fail
       crc-forged.json      a DIFFERENT body (amount and event id changed) with
                            the same CRC-32 as delivery.json: it verifies with
                            delivery.headers unchanged, because the signature
                            covers only the CRC-32 of the body
  4. Checks the signature with `openssl dgst -sha256 -verify`.
"""
import base64
import json
import os
import subprocess
import sys
import zlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = os.path.join(HERE, "key.pem")
CERT = os.path.join(HERE, "cert.pem")

WEBHOOK_ID = "8PT597110X687430LKGECATA"
TRANSMISSION_ID = "0b1c7bd0-af12-11f0-9a3e-0b7d2c9e4f11"
TRANSMISSION_TIME = "2026-11-30T12:00:01Z"
# Real PayPal URLs look like
# https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-<8 hex>
# (sandbox: api.sandbox.paypal.com); this one is made up.
CERT_URL = "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-0d15ea5e"


def ensure_key():
    if os.path.exists(KEY) and os.path.exists(CERT):
        return
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
         "-days", "36500", "-subj", "/CN=messageverificationcerts.sandbox.paypal.com",
         "-keyout", KEY, "-out", CERT],
        check=True, capture_output=True,
    )


def crc32(body: bytes) -> int:
    return zlib.crc32(body) & 0xFFFFFFFF  # unsigned, as PayPal's samples and SDKs use


def signed_string(tid, ttime, webhook_id, body: bytes) -> bytes:
    return f"{tid}|{ttime}|{webhook_id}|{crc32(body)}".encode("utf-8")


def sign(data: bytes) -> str:
    with open(KEY, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    return base64.b64encode(key.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def event(event_id, value):
    # Shape of a PAYMENT.CAPTURE.COMPLETED event (Payments v2 capture).
    return {
        "id": event_id,
        "event_version": "1.0",
        "create_time": "2026-11-30T12:00:00.512Z",
        "resource_type": "capture",
        "resource_version": "2.0",
        "event_type": "PAYMENT.CAPTURE.COMPLETED",
        "summary": f"Payment completed for $ {value} USD",
        "resource": {
            "id": "42311647XV020574X",
            "amount": {"currency_code": "USD", "value": value},
            "final_capture": True,
            "seller_protection": {"status": "ELIGIBLE",
                                  "dispute_categories": ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"]},
            "status": "COMPLETED",
            "supplementary_data": {"related_ids": {"order_id": "5O190127TN364715T"}},
            "custom_id": "order-1001",
            "create_time": "2026-11-30T11:59:58Z",
            "update_time": "2026-11-30T11:59:58Z",
            "links": [
                {"href": "https://api.sandbox.paypal.com/v2/payments/captures/42311647XV020574X",
                 "rel": "self", "method": "GET"},
                {"href": "https://api.sandbox.paypal.com/v2/payments/captures/42311647XV020574X/refund",
                 "rel": "refund", "method": "POST"},
            ],
        },
        "links": [
            {"href": f"https://api.sandbox.paypal.com/v1/notifications/webhooks-events/{event_id}",
             "rel": "self", "method": "GET"},
            {"href": f"https://api.sandbox.paypal.com/v1/notifications/webhooks-events/{event_id}/resend",
             "rel": "resend", "method": "POST"},
        ],
    }


def compact(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def forge_same_crc(original: bytes, forged_prefix_obj) -> bytes:
    """Return a JSON body, built from forged_prefix_obj plus a filler string,
    whose CRC-32 equals that of `original`. CRC-32 is affine over GF(2):
    flipping bit 0 of a filler byte ('b'<->'c', 'd'<->'e', ...) xors a fixed
    32-bit delta into the CRC, so choosing which of 64 filler bytes to flip is
    a linear system (Gaussian elimination)."""
    target = crc32(original)
    filler_len = 64
    obj = dict(forged_prefix_obj)
    obj["x"] = "b" * filler_len
    base = compact(obj)
    start = base.rindex(b'"' + b"b" * filler_len + b'"') + 1
    base_crc = crc32(base)
    deltas = []
    for i in range(filler_len):
        b = bytearray(base)
        b[start + i] ^= 1
        deltas.append(crc32(bytes(b)) ^ base_crc)
    need = base_crc ^ target
    # Gaussian elimination over GF(2): rows are (delta, bitmask of positions).
    rows = [(d, 1 << i) for i, d in enumerate(deltas)]
    pivots = {}
    for d, m in rows:
        for bit in range(31, -1, -1):
            if not (d >> bit) & 1:
                continue
            if bit in pivots:
                pd, pm = pivots[bit]
                d ^= pd
                m ^= pm
            else:
                pivots[bit] = (d, m)
                break
    mask = 0
    for bit in range(31, -1, -1):
        if (need >> bit) & 1:
            if bit not in pivots:
                raise RuntimeError("no solution; lengthen the filler")
            pd, pm = pivots[bit]
            need ^= pd
            mask ^= pm
    out = bytearray(base)
    for i in range(filler_len):
        if (mask >> i) & 1:
            out[start + i] ^= 1
    out = bytes(out)
    assert crc32(out) == target
    json.loads(out)  # still valid JSON
    return out


def main():
    ensure_key()
    body = compact(event("WH-58D329510W468432D-8HN650336L201105X", "30.00"))
    sts = signed_string(TRANSMISSION_ID, TRANSMISSION_TIME, WEBHOOK_ID, body)
    sig = sign(sts)
    headers = "\n".join([
        "POST /paypal HTTP/1.1",
        "Host: hooks.example.com",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "PAYPAL-AUTH-ALGO: SHA256withRSA",
        f"PAYPAL-CERT-URL: {CERT_URL}",
        f"PAYPAL-TRANSMISSION-ID: {TRANSMISSION_ID}",
        f"PAYPAL-TRANSMISSION-SIG: {sig}",
        f"PAYPAL-TRANSMISSION-TIME: {TRANSMISSION_TIME}",
    ]) + "\n"
    files = {
        "delivery.json": body,
        "delivery.headers": headers.encode("ascii"),
        "delivery.signed.txt": sts,
        "webhook_id.txt": WEBHOOK_ID.encode("ascii"),
        "tampered.json": compact(event("WH-58D329510W468432D-8HN650336L201105X", "3000.00")),
        "crc-forged.json": forge_same_crc(body, event("WH-FORGED00000000000-000000000000000000", "3000.00")),
    }
    for name, data in files.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)

    pub = os.path.join(HERE, "pub.tmp.pem")
    sigf = os.path.join(HERE, "sig.tmp.bin")
    msgf = os.path.join(HERE, "msg.tmp.txt")
    subprocess.run(["openssl", "x509", "-in", CERT, "-pubkey", "-noout", "-out", pub], check=True)
    with open(sigf, "wb") as f:
        f.write(base64.b64decode(sig))
    ok = True
    for name, want in (("delivery.json", True), ("tampered.json", False), ("crc-forged.json", True)):
        with open(os.path.join(HERE, name), "rb") as f:
            b = f.read()
        with open(msgf, "wb") as f:
            f.write(signed_string(TRANSMISSION_ID, TRANSMISSION_TIME, WEBHOOK_ID, b))
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature", sigf, msgf],
                           capture_output=True, text=True).stdout.strip()
        print(f"{name}: crc32={crc32(b)} openssl: {r}")
        ok &= (r == "Verified OK") == want
    for p in (pub, sigf, msgf):
        os.remove(p)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
