"""Local fakes of the people-channel providers, speaking each one's documented API on 127.0.0.1 (no traffic leaves
the machine): they check the request's shape and signature, count messages per sliding minute on a clock the
test controls, and answer the documented success and error codes (WeCom errcode 45009, DingTalk 410100, Aliyun
isv.BUSINESS_LIMIT_CONTROL). `fail_next` makes the next answers a server error, for retry tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from leadnet_shared.testing import serving_on_loopback


@dataclass
class FakeProvider:
    """What a fake received and how it behaves; `now` is the test's clock."""

    now: Callable[[], datetime]
    per_minute: int = 20
    fail_next: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    _window: deque[datetime] = field(default_factory=deque)

    def over_limit(self) -> bool:
        now = self.now()
        while self._window and self._window[0] <= now - timedelta(minutes=1):
            self._window.popleft()
        if len(self._window) >= self.per_minute:
            return True
        self._window.append(now)
        return False

    def answer(
        self,
        received: dict[str, Any],
        limited: dict[str, Any],
        ok: Callable[[int], dict[str, Any]] = lambda count: {"errcode": 0, "errmsg": "ok"},
    ) -> Response:
        """The answer to a valid request: the provider's rate-limit error (`limited`, its code noted in `refused`)
        past the minute's allowance, else its success (`ok` of how many it has received)."""
        if self.over_limit():
            self.refused.append(str(limited.get("errcode", limited.get("Code"))))
            return JSONResponse(limited)
        self.received.append(received)
        return JSONResponse(ok(len(self.received)))

    def failing(self) -> bool:
        if self.fail_next > 0:
            self.fail_next -= 1
            return True
        return False


def wecom_app(fake: FakeProvider, *, key: str) -> Starlette:
    async def send(request: Request) -> Response:
        if fake.failing():
            return Response(status_code=502)
        if request.query_params.get("key") != key:
            return JSONResponse({"errcode": 93000, "errmsg": "invalid webhook url"})
        body = orjson.loads(await request.body())
        if body.get("msgtype") != "markdown" or not isinstance(body.get("markdown", {}).get("content"), str):
            return JSONResponse({"errcode": 40008, "errmsg": "invalid message type"})
        if len(body["markdown"]["content"].encode()) > 4096:
            return JSONResponse({"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"})
        return fake.answer(body, {"errcode": 45009, "errmsg": "api freq out of limit"})

    return Starlette(routes=[Route("/cgi-bin/webhook/send", send, methods=["POST"])])


def dingtalk_app(fake: FakeProvider, *, access_token: str, secret: str) -> Starlette:
    async def send(request: Request) -> Response:
        if fake.failing():
            return Response(status_code=503)
        query = request.query_params
        if query.get("access_token") != access_token:
            return JSONResponse({"errcode": 300001, "errmsg": "token is not exist"})
        timestamp = query.get("timestamp", "")
        expected = base64.b64encode(
            hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
        ).decode()
        if not timestamp.isdigit() or not hmac.compare_digest(query.get("sign", ""), expected):
            return JSONResponse({"errcode": 310000, "errmsg": "sign not match"})
        if abs(int(timestamp) - int(fake.now().timestamp() * 1000)) > 3_600_000:
            return JSONResponse({"errcode": 310000, "errmsg": "timestamp expired"})
        body = orjson.loads(await request.body())
        markdown = body.get("markdown", {})
        if body.get("msgtype") != "markdown" or not markdown.get("title") or not markdown.get("text"):
            return JSONResponse({"errcode": 40035, "errmsg": "missing parameter"})
        return fake.answer(body, {"errcode": 410100, "errmsg": "send too fast, exceed 20 times per minute"})

    return Starlette(routes=[Route("/robot/send", send, methods=["POST"])])


def _pe(value: str) -> str:
    return quote(value, safe="-_.~")


def aliyun_sms_app(fake: FakeProvider, *, access_key_id: str, access_key_secret: str) -> Starlette:
    """Checks the RPC signature from the raw query string, as Aliyun does (the signature is over the parameters
    as sent, so the fake recomputes it independently of the client's code)."""

    async def root(request: Request) -> Response:
        if fake.failing():
            return Response(status_code=500)
        params = dict(parse_qsl(request.url.query, keep_blank_values=True))
        given = params.pop("Signature", "")
        canonical = "&".join(f"{_pe(k)}={_pe(params[k])}" for k in sorted(params))
        string_to_sign = f"GET&%2F&{_pe(canonical)}"
        expected = base64.b64encode(
            hmac.new(f"{access_key_secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
        ).decode()
        request_id = "FAKE-REQUEST"
        if params.get("AccessKeyId") != access_key_id:
            return JSONResponse({"Code": "InvalidAccessKeyId.NotFound", "RequestId": request_id}, status_code=404)
        if not hmac.compare_digest(given, expected):
            return JSONResponse(
                {
                    "Code": "SignatureDoesNotMatch",
                    "Message": "Specified signature is not matched.",
                    "RequestId": request_id,
                },
                status_code=400,
            )
        required = {"Action": "SendSms", "Version": "2017-05-25", "SignatureMethod": "HMAC-SHA1", "Format": "JSON"}
        if any(params.get(k) != v for k, v in required.items()) or not params.get("SignatureNonce"):
            return JSONResponse({"Code": "MissingParameter", "RequestId": request_id}, status_code=400)
        if not params.get("TemplateCode", "").startswith("SMS_"):
            return JSONResponse({"Code": "isv.SMS_TEMPLATE_ILLEGAL", "Message": "模板不合法", "RequestId": request_id})
        try:
            orjson.loads(params.get("TemplateParam", ""))
        except orjson.JSONDecodeError:
            return JSONResponse({"Code": "isv.INVALID_JSON_PARAM", "RequestId": request_id})
        return fake.answer(
            params,
            {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1"},
            lambda count: {"Code": "OK", "Message": "OK", "BizId": f"biz{count}", "RequestId": request_id},
        )

    return Starlette(routes=[Route("/", root, methods=["GET"])])


# A fake on a real uvicorn server on 127.0.0.1 (this loop): `async with serving(app) as base_url`.
serving = serving_on_loopback
