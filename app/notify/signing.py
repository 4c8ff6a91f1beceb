"""Signatures: the unsubscribe link's token (the app's secret key) and the webhooks' HMAC."""

from __future__ import annotations

import hashlib
import hmac
import secrets

_UNSUBSCRIBE = b"usage-metrics unsubscribe "
SIGNATURE_HEADER = "X-Usage-Metrics-Signature"


def unsubscribe_token(secret_key: str, subscription_id: int) -> str:
    """`<id>.<hmac>`: ends that subscription alone, and cannot be made for another."""
    return f"{subscription_id}.{_mac(secret_key, subscription_id)}"


def unsubscribed_id(secret_key: str, token: str) -> int | None:
    """The subscription a token was made for; None when it was not made with our key."""
    number, _, mac = token.partition(".")
    if not (number.isascii() and number.isdigit()) or len(number) > 19:
        return None
    subscription_id = int(number)
    if not hmac.compare_digest(mac.encode(), _mac(secret_key, subscription_id).encode()):
        return None
    return subscription_id


def _mac(secret_key: str, subscription_id: int) -> str:
    message = _UNSUBSCRIBE + str(subscription_id).encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()[:32]


def new_webhook_secret() -> str:
    return secrets.token_hex(32)


def body_signature(secret: str, body: bytes) -> str:
    """The value of X-Usage-Metrics-Signature: `sha256=` and the body's HMAC-SHA256 in hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
