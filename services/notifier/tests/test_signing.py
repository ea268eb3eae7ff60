"""Signatures as Standard Webhooks defines them: the published test vector, and agreement with the reference
Python library (standardwebhooks) for any message, secret and rotation."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook as Reference
from standardwebhooks.webhooks import WebhookVerificationError

from notifier import signing

# The vector of the reference libraries' tests (standard-webhooks/standard-webhooks, libraries/go/webhook_test.go
# and libraries/javascript/src/webhook.test.ts, "sign" test).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_published_vector() -> None:
    assert signing.sign(VECTOR_SECRET, msg_id=VECTOR_ID, timestamp=VECTOR_TIMESTAMP, body=VECTOR_BODY) == (
        VECTOR_SIGNATURE
    )
    assert signing.verify(
        VECTOR_SECRET, msg_id=VECTOR_ID, timestamp=VECTOR_TIMESTAMP, body=VECTOR_BODY, header=VECTOR_SIGNATURE
    )
    # The reference tests' wrong signature (one character off) does not verify.
    wrong = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="
    assert not signing.verify(
        VECTOR_SECRET, msg_id=VECTOR_ID, timestamp=VECTOR_TIMESTAMP, body=VECTOR_BODY, header=wrong
    )


def test_a_new_secret_is_whsec_base64_of_24_bytes_and_the_reference_accepts_it() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 24
    assert secret != signing.new_secret()
    now = datetime.now(UTC)
    headers = signing.headers([secret], msg_id="msg_1", timestamp=int(now.timestamp()), body=b"{}")
    assert Reference(secret).verify(b"{}", headers) == {}


@settings(max_examples=60, deadline=None)
@given(
    key=st.binary(min_size=24, max_size=64),
    old_key=st.binary(min_size=24, max_size=64),
    msg_id=st.from_regex(r"msg_[A-Za-z0-9]{1,32}", fullmatch=True),
    body=st.dictionaries(st.text(max_size=10), st.integers(-(2**53), 2**53) | st.text(max_size=20), max_size=5),
)
def test_the_reference_library_verifies_every_signature_and_each_secret_of_a_rotation(
    key: bytes, old_key: bytes, msg_id: str, body: dict[str, object]
) -> None:
    import orjson

    secret = "whsec_" + base64.b64encode(key).decode()
    old = "whsec_" + base64.b64encode(old_key).decode()
    raw = orjson.dumps(body)
    now = datetime.now(UTC).replace(microsecond=0)
    ts = int(now.timestamp())
    assert signing.sign(secret, msg_id=msg_id, timestamp=ts, body=raw) == Reference(secret).sign(
        msg_id, now, raw.decode()
    )
    headers = signing.headers([secret, old], msg_id=msg_id, timestamp=ts, body=raw)
    for either in (secret, old):
        assert Reference(either).verify(raw, headers) == body
    if key != old_key:
        stranger = "whsec_" + base64.b64encode(bytes(b ^ 1 for b in key)).decode()
        try:
            Reference(stranger).verify(raw, headers)
        except WebhookVerificationError:
            pass
        else:
            raise AssertionError("a signature verified with a secret that did not sign")
