#!/usr/bin/env python3
"""Make signed Amazon SNS HTTP/S test messages with a self-made key.

Usage (from any directory):
    python3 -m venv .venv && .venv/bin/pip install cryptography
    .venv/bin/python src/verify/providers/vectors/sns/make.py

What it does:
  1. If key.pem / cert.pem are missing beside this script, makes them with
         openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 36500 \
             -subj /CN=sns.amazonaws.com -keyout key.pem -out cert.pem
     (a self-signed RSA 2048 certificate, no CA; SNS's real certificates
     have CN sns.amazonaws.com too, but are issued by Amazon's CA).
  2. Builds each message's string to sign exactly as the SNS docs describe:
     for every signed field present, in this fixed (byte-sorted) order,
     "<Name>\n<value>\n"; the values are the JSON-decoded strings.
       Notification:             Message, MessageId, Subject (if present),
                                 Timestamp, TopicArn, Type
       SubscriptionConfirmation
       / UnsubscribeConfirmation: Message, MessageId, SubscribeURL,
                                 Timestamp, Token, TopicArn, Type
  3. Signs it with RSASSA-PKCS1-v1_5: SHA-1 for SignatureVersion "1",
     SHA-256 for SignatureVersion "2"; Signature = base64 of the result.
  4. Writes, for each example NAME:
       NAME.json     the exact HTTP body (SNS's pretty-printed layout)
       NAME.headers  the HTTP request headers SNS sends with it
       NAME.sts      the exact bytes that were signed
     plus notification-v1.tampered.json (Message changed, Signature kept).
  5. Checks every signature again with `openssl dgst -verify`.

Every value is fixed, so re-running gives byte-identical files as long as
key.pem is kept (PKCS#1 v1.5 signatures are deterministic).
"""
import base64
import hashlib
import json
import os
import subprocess
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = os.path.join(HERE, "key.pem")
CERT = os.path.join(HERE, "cert.pem")

NOTIFICATION_FIELDS = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
CONFIRMATION_FIELDS = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]

REGION = "us-east-1"
ACCOUNT = "123456789012"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:orders"
SUBSCRIPTION_ARN = TOPIC_ARN + ":2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"
TOKEN = (
    "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92"
    "768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582a"
    "fbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c"
    "03b0879594eeac82c01f235d0e717736"
)


def ensure_key():
    if os.path.exists(KEY) and os.path.exists(CERT):
        return
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
         "-days", "36500", "-subj", "/CN=sns.amazonaws.com",
         "-keyout", KEY, "-out", CERT],
        check=True, capture_output=True,
    )


def cert_url():
    # Real SNS URLs look like
    # https://sns.<region>.amazonaws.com/SimpleNotificationService-<32 hex>.pem;
    # the 32 hex digits here are the MD5 of this certificate's DER (made up).
    with open(CERT, "rb") as f:
        der = x509.load_pem_x509_certificate(f.read()).public_bytes(serialization.Encoding.DER)
    return f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-{hashlib.md5(der).hexdigest()}.pem"


def string_to_sign(msg):
    fields = NOTIFICATION_FIELDS if msg["Type"] == "Notification" else CONFIRMATION_FIELDS
    out = ""
    for name in fields:
        if name in msg:
            out += f"{name}\n{msg[name]}\n"
    return out.encode("utf-8")


def sign(sts, version):
    with open(KEY, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    algo = hashes.SHA1() if version == "1" else hashes.SHA256()
    return base64.b64encode(key.sign(sts, padding.PKCS1v15(), algo)).decode("ascii")


def sns_body(msg):
    # SNS's own layout: two-space indent, " : " between name and value.
    lines = [f"  {json.dumps(k)} : {json.dumps(v, ensure_ascii=False)}" for k, v in msg.items()]
    return ("{\n" + ",\n".join(lines) + "\n}").encode("utf-8")


def headers(msg, body, with_subscription):
    h = [
        "POST /sns HTTP/1.1",
        f"x-amz-sns-message-type: {msg['Type']}",
        f"x-amz-sns-message-id: {msg['MessageId']}",
        f"x-amz-sns-topic-arn: {msg['TopicArn']}",
    ]
    if with_subscription:
        h.append(f"x-amz-sns-subscription-arn: {SUBSCRIPTION_ARN}")
    h += [
        f"Content-Length: {len(body)}",
        "Content-Type: text/plain; charset=UTF-8",
        "Host: hooks.example.com",
        "Connection: Keep-Alive",
        "User-Agent: Amazon Simple Notification Service Agent",
    ]
    return ("\n".join(h) + "\n").encode("ascii")


def build(fields, version):
    """fields: the message without the signature fields, in SNS's key order."""
    msg = dict(fields)
    sts = string_to_sign(msg)
    # SNS puts the signature fields after Timestamp and before UnsubscribeURL.
    out = {}
    for k, v in msg.items():
        if k == "UnsubscribeURL":
            continue
        out[k] = v
    out["SignatureVersion"] = version
    out["Signature"] = sign(sts, version)
    out["SigningCertURL"] = cert_url()
    if "UnsubscribeURL" in msg:
        out["UnsubscribeURL"] = msg["UnsubscribeURL"]
    return out, sts


def write(name, msg, sts, with_subscription):
    body = sns_body(msg)
    for ext, data in ((".json", body), (".sts", sts), (".headers", headers(msg, body, with_subscription))):
        with open(os.path.join(HERE, name + ext), "wb") as f:
            f.write(data)
    return body


def openssl_verify(name, version, sts_path=None):
    pub = os.path.join(HERE, "pub.pem")
    subprocess.run(["openssl", "x509", "-in", CERT, "-pubkey", "-noout", "-out", pub], check=True)
    with open(os.path.join(HERE, name + ".json"), "rb") as f:
        msg = json.loads(f.read())
    sig = os.path.join(HERE, name + ".sig")
    with open(sig, "wb") as f:
        f.write(base64.b64decode(msg["Signature"]))
    digest = "-sha1" if version == "1" else "-sha256"
    r = subprocess.run(["openssl", "dgst", digest, "-verify", pub, "-signature", sig,
                        sts_path or os.path.join(HERE, name + ".sts")], capture_output=True, text=True)
    os.remove(sig)
    return r.stdout.strip()


def main():
    ensure_key()
    unsubscribe_url = (f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe"
                       f"&SubscriptionArn={SUBSCRIPTION_ARN}")
    subscribe_url = (f"https://sns.{REGION}.amazonaws.com/?Action=ConfirmSubscription"
                     f"&TopicArn={TOPIC_ARN}&Token={TOKEN}")

    examples = []

    # 1. Notification, SignatureVersion 1 (SHA1withRSA), with a Subject and a
    #    Message whose JSON form has escapes (\n, \", non-ASCII) so that a
    #    verifier must sign the decoded value, not the raw JSON text.
    n1, sts = build({
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC_ARN,
        "Subject": "Order paid",
        "Message": "{\"order_id\":\"ord_1001\",\"status\":\"paid\"}\nsecond line: caf\u00e9 \u2713",
        "Timestamp": "2026-11-30T12:00:00.000Z",
        "UnsubscribeURL": unsubscribe_url,
    }, "1")
    write("notification-v1", n1, sts, True)
    examples.append(("notification-v1", "1"))

    # 2. Notification, SignatureVersion 2 (SHA256withRSA), no Subject, with
    #    MessageAttributes (not signed).
    n2, sts = build({
        "Type": "Notification",
        "MessageId": "7f1c9a3e-5b2d-4c8e-9f0a-1d2e3f4a5b6c",
        "TopicArn": TOPIC_ARN,
        "Message": "{\"order_id\":\"ord_1002\",\"status\":\"shipped\"}",
        "Timestamp": "2026-11-30T12:00:05.123Z",
        "UnsubscribeURL": unsubscribe_url,
    }, "2")
    n2["MessageAttributes"] = {"source": {"Type": "String", "Value": "checkout"}}
    write("notification-v2", n2, sts, True)
    examples.append(("notification-v2", "2"))

    # 3. SubscriptionConfirmation, SignatureVersion 1. No x-amz-sns-subscription-arn
    #    header (the docs' example has none: the subscription is not confirmed yet).
    sc, sts = build({
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": TOKEN,
        "TopicArn": TOPIC_ARN,
        "Message": (f"You have chosen to subscribe to the topic {TOPIC_ARN}.\n"
                    "To confirm the subscription, visit the SubscribeURL included in this message."),
        "SubscribeURL": subscribe_url,
        "Timestamp": "2026-11-30T11:59:00.000Z",
    }, "1")
    write("subscription-confirmation-v1", sc, sts, False)
    examples.append(("subscription-confirmation-v1", "1"))

    # 4. (extra) UnsubscribeConfirmation, SignatureVersion 2: signed like a
    #    SubscriptionConfirmation (Token and SubscribeURL included).
    uc, sts = build({
        "Type": "UnsubscribeConfirmation",
        "MessageId": "47138184-6831-46b8-8f7c-afc488602d7d",
        "Token": TOKEN,
        "TopicArn": TOPIC_ARN,
        "Message": (f"You have chosen to deactivate subscription {SUBSCRIPTION_ARN}.\n"
                    "To cancel this operation and restore the subscription, visit the SubscribeURL included in this message."),
        "SubscribeURL": subscribe_url,
        "Timestamp": "2026-11-30T12:10:00.000Z",
    }, "2")
    write("unsubscribe-confirmation-v2", uc, sts, True)
    examples.append(("unsubscribe-confirmation-v2", "2"))

    # Tampered copy of example 1: Message changed, Signature kept.
    t = dict(n1)
    t["Message"] = t["Message"].replace("paid", "refunded")
    with open(os.path.join(HERE, "notification-v1.tampered.json"), "wb") as f:
        f.write(sns_body(t))

    ok = True
    for name, version in examples:
        res = openssl_verify(name, version)
        print(f"{name}: openssl dgst {'-sha1' if version == '1' else '-sha256'} -verify: {res}")
        ok &= res == "Verified OK"
    # The tampered body's own string to sign must not verify.
    tsts = os.path.join(HERE, "notification-v1.tampered.sts.tmp")
    with open(tsts, "wb") as f:
        f.write(string_to_sign(t))
    res = openssl_verify("notification-v1", "1", tsts)
    os.remove(tsts)
    print(f"notification-v1.tampered: {res}")
    ok &= res != "Verified OK"
    os.remove(os.path.join(HERE, "pub.pem"))
    print("SigningCertURL:", cert_url())
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
