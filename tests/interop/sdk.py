"""Signs and verifies webhook deliveries with the providers' own Python SDKs,
for hookgate's interop test (tests/it/interop.rs).

    sdk.py sign PROVIDER SECRET URL ID < payload        -> {"headers": {...}, "query": ..., "body": ...}
    sdk.py verify PROVIDER KEY URL < delivery.json      -> exit 0 if the SDK accepts it

"body" is there only where the SDK signs inside the body (Adyen). KEY is
what the SDK verifies with: the secret, or a public key (Telnyx).

A delivery is {"headers": {...}, "body": "...", "query": "..." or null}.
"""

import datetime
import json
import sys
import time
import urllib.parse

import Adyen.util
import gocardless_pro.errors
import gocardless_pro.webhooks
import polar.v2026_10.webhooks
import polar.webhooks
import stripe
import telnyx.lib.webhook_verification
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook
from svix.webhooks import Webhook as SvixWebhook
from twilio.request_validator import RequestValidator


def sign(provider, secret, url, event_id, body):
    now = int(time.time())
    if provider == "stripe":
        header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=now)
        return {"Stripe-Signature": header}, None
    if provider == "standard-webhooks":
        stamp = datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc)
        signature = Webhook(secret).sign(event_id, stamp, body)
        return {"webhook-id": event_id, "webhook-timestamp": str(now), "webhook-signature": signature}, None
    if provider == "svix":
        # What Clerk, Resend and every Svix customer send: svix-* names only.
        stamp = datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc)
        signature = SvixWebhook(secret).sign(event_id, stamp, body)
        return {"svix-id": event_id, "svix-timestamp": str(now), "svix-signature": signature}, None
    if provider == "slack":
        signature = SignatureVerifier(secret).generate_signature(timestamp=str(now), body=body)
        return {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": signature}, None
    if provider == "twilio":
        validator = RequestValidator(secret)
        headers = {"I-Twilio-Idempotency-Token": event_id}
        if body.lstrip().startswith("{"):
            query = "bodySHA256=" + validator.compute_hash(body)
            headers["X-Twilio-Signature"] = validator.compute_signature(url + "?" + query, {})
            headers["Content-Type"] = "application/json"
            return headers, query
        params = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
        headers["X-Twilio-Signature"] = validator.compute_signature(url, params)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return headers, None
    raise SystemExit(f"unknown provider {provider}")


def sign_in_body(provider, secret, event_id):
    """The delivery of a provider whose SDK signs inside the body."""
    if provider == "adyen":
        item = {
            "pspReference": event_id,
            "merchantAccountCode": "HookgateTest",
            "merchantReference": "order/1001:a\\b",
            "amount": {"currency": "EUR", "value": 1130},
            "eventCode": "AUTHORISATION",
            "success": "true",
            "eventDate": "2026-11-30T12:00:00+01:00",
        }
        item["additionalData"] = {"hmacSignature": Adyen.util.generate_notification_sig(item, secret).decode()}
        return json.dumps({"live": "false", "notificationItems": [{"NotificationRequestItem": item}]})
    return None


def verify(provider, secret, url, delivery):
    headers = {k.lower(): v for k, v in delivery["headers"].items()}
    body = delivery["body"]
    query = delivery.get("query")
    try:
        if provider == "stripe":
            stripe.WebhookSignature.verify_header(body, headers["stripe-signature"], secret, tolerance=300)
        elif provider == "standard-webhooks":
            Webhook(secret).verify(body, headers)
        elif provider == "svix":
            SvixWebhook(secret).verify(body, headers)
        elif provider == "slack":
            ok = SignatureVerifier(secret).is_valid(
                body=body,
                timestamp=headers["x-slack-request-timestamp"],
                signature=headers["x-slack-signature"],
            )
            if not ok:
                return False
        elif provider == "twilio":
            validator = RequestValidator(secret)
            if query:
                return validator.validate(url + "?" + query, body, headers["x-twilio-signature"])
            params = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
            return validator.validate(url, params, headers["x-twilio-signature"])
        elif provider == "adyen":
            items = json.loads(body)["notificationItems"]
            if not items:
                return False
            # The SDK checks one item at a time, as Adyen signs them.
            return all(
                Adyen.util.is_valid_hmac_notification(item["NotificationRequestItem"], secret) for item in items
            )
        elif provider == "gocardless":
            gocardless_pro.webhooks.parse(body, secret, headers["webhook-signature"])
        elif provider == "polar":
            try:
                polar.v2026_10.webhooks.validate_event(body, headers, secret)
            except polar.webhooks.PolarWebhookUnknownTypeError:
                pass  # the signature verified; the test's event is of no Polar type
        elif provider == "telnyx":
            telnyx.lib.webhook_verification.verify_webhook_signature(body.encode(), headers, secret)
        else:
            raise SystemExit(f"unknown provider {provider}")
    except (KeyError, ValueError, stripe.SignatureVerificationError, Exception) as err:  # noqa: BLE001
        print(f"rejected: {type(err).__name__}: {err}", file=sys.stderr)
        return False
    return True


def main():
    command, provider, secret, url = sys.argv[1:5]
    if command == "sign":
        payload = sys.stdin.read()
        body = sign_in_body(provider, secret, sys.argv[5])
        if body is not None:
            json.dump({"headers": {"Content-Type": "application/json"}, "query": None, "body": body}, sys.stdout)
            return
        headers, query = sign(provider, secret, url, sys.argv[5], payload)
        json.dump({"headers": headers, "query": query}, sys.stdout)
    elif command == "verify":
        sys.exit(0 if verify(provider, secret, url, json.load(sys.stdin)) else 1)
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
