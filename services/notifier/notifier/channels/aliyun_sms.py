"""Aliyun SMS (阿里云短信服务) `SendSms`, API version 2017-05-25, as an RPC call signed with signature version 1.0:

- the request's parameters (common ones and SendSms's, not `Signature`) sorted by name, names and values
  percent-encoded (RFC 3986: space as %20, `*` as %2A, `~` kept), joined with `&` = the canonicalized query;
- StringToSign = `GET&%2F&` + percentEncode(canonicalized query);
- Signature = base64(HMAC-SHA1(key = AccessKeySecret + "&", StringToSign)).

The answer is JSON `{"Code": "OK", "Message": "OK", "BizId", "RequestId"}`; any other `Code` is an error, among
them `isv.BUSINESS_LIMIT_CONTROL` (the per-number frequency limit) and `Throttling.User`. A text message carries a
template's few parameters, never the digest's lines: the template says how many items wait, where to look.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from notifier.channels.base import JsonApiChannel, Message

RATE_LIMIT_CODES = frozenset({"isv.BUSINESS_LIMIT_CONTROL", "Throttling.User", "Throttling"})
RETRY_CODES = frozenset({"isp.SYSTEM_ERROR", "isp.RAM_PERMISSION_DENY", "ServiceUnavailable"})
# The per-number control resets within the hour at the latest (1 a minute, 5 an hour by default).
LIMIT_PAUSE_SECONDS = 60.0


def percent_encode(value: str) -> str:
    return quote(value, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(params[k])}" for k in sorted(params))


def signature(params: Mapping[str, str], access_key_secret: str, method: str = "GET") -> str:
    string_to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"
    digest = hmac.new(f"{access_key_secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliyunSms(JsonApiChannel):
    provider = "Aliyun SMS"
    code_field, message_field, ok_code, code_words = "Code", "Message", "OK", ("a Code", "")
    rate_limit_codes = RATE_LIMIT_CODES
    retry_codes = RETRY_CODES
    rate_limit_pause = LIMIT_PAUSE_SECONDS

    def __init__(
        self,
        channel_id: str,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        template_code: str,
        phone_numbers: Sequence[str],
        endpoint: str = "https://dysmsapi.aliyuncs.com",
        region_id: str = "cn-hangzhou",
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        nonce: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        if not phone_numbers:
            raise ValueError("an SMS channel needs at least one phone number")
        super().__init__(channel_id, timeout=timeout, client=client)
        self._key_id = access_key_id
        self._secret = access_key_secret
        self._sign_name = sign_name
        self._template = template_code
        # SendSms takes up to 1000 numbers, comma-separated, in one request.
        self._numbers = ",".join(phone_numbers)
        self._endpoint = endpoint.rstrip("/") + "/"
        self._region = region_id
        self._now = now
        self._nonce = nonce

    def signed_params(self, message: Message) -> dict[str, str]:
        params = {
            "AccessKeyId": self._key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "PhoneNumbers": self._numbers,
            "RegionId": self._region,
            "SignName": self._sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": self._nonce(),
            "SignatureVersion": "1.0",
            "TemplateCode": self._template,
            "TemplateParam": orjson.dumps(message.params).decode(),
            "Timestamp": self._now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        return params | {"Signature": signature(params, self._secret)}

    async def send(self, message: Message) -> None:
        await self._call("GET", self._endpoint + "?" + canonical_query(self.signed_params(message)))

    def _code(self, value: Any) -> str:
        return str(value)
