"""Verify a webhook from the notifier (Standard Webhooks, https://www.standardwebhooks.com): the signature is
`v1,` + base64(HMAC-SHA256(key, f"{webhook-id}.{webhook-timestamp}.{raw body}")), the key being the base64 part of
the `whsec_…` secret. Several space-separated signatures may come (during a secret rotation both secrets sign): one
that verifies is enough. Check the raw bytes as received, before any JSON parsing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

TOLERANCE_SECONDS = 300  # a message older or newer than this is refused: a replayed capture cannot be reused


class WebhookVerificationError(Exception):
    """The message is not from the notifier (or too old): answer 400 and do not act on it."""


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"missing header {name}")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> dict[str, Any]:
    """The message's JSON (`{"type", "timestamp", "data"}`) if its signature is the secret's and its timestamp
    recent; `WebhookVerificationError` otherwise. Deduplicate on the `webhook-id` header: delivery is at least
    once, and a replay keeps the id."""
    msg_id = _header(headers, "webhook-id")
    raw_timestamp = _header(headers, "webhook-timestamp")
    try:
        timestamp = int(raw_timestamp)
    except ValueError as exc:
        raise WebhookVerificationError("webhook-timestamp is not a number") from exc
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is too far from now")
    expected = sign(secret, msg_id, timestamp, body)
    given = [part for part in _header(headers, "webhook-signature").split() if part.startswith("v1,")]
    if not any(hmac.compare_digest(expected, part) for part in given):
        raise WebhookVerificationError("no signature matches the secret")
    message: dict[str, Any] = json.loads(body)
    return message
