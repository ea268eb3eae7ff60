"""DingTalk (钉钉) custom robot: `POST {base}/robot/send?access_token=T&timestamp=MS&sign=S` with
`{"msgtype": "markdown", "markdown": {"title", "text"}}`. With the "加签" security setting, `sign` is
urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}"))), `timestamp` in milliseconds and within an
hour of DingTalk's clock. The answer is `{"errcode": 0, "errmsg": "ok"}`. The documented limit is 20 messages a
minute per robot; beyond it DingTalk answers errcode 410100 ("send too fast") and throttles the robot for
10 minutes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable

import httpx

from notifier.channels.base import JsonApiChannel, Message

THROTTLE_SECONDS = 600.0


def sign(secret: str, timestamp_ms: int) -> str:
    """The `sign` query value before URL encoding (httpx encodes query values)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class DingTalkRobot(JsonApiChannel):
    provider = "DingTalk"
    rate_limit_codes = frozenset({"410100", "130101"})
    retry_codes = frozenset({"-1"})
    rate_limit_pause = THROTTLE_SECONDS

    def __init__(
        self,
        channel_id: str,
        *,
        access_token: str,
        secret: str | None,
        base_url: str = "https://oapi.dingtalk.com",
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        super().__init__(channel_id, timeout=timeout, client=client)
        self._token = access_token
        self._secret = secret
        self._url = base_url.rstrip("/") + "/robot/send"
        self._now_ms = now_ms

    async def send(self, message: Message) -> None:
        params: dict[str, str | int] = {"access_token": self._token}
        if self._secret:
            timestamp = self._now_ms()
            params |= {"timestamp": timestamp, "sign": sign(self._secret, timestamp)}
        body = {"msgtype": "markdown", "markdown": {"title": message.title, "text": message.markdown()}}
        await self._call("POST", self._url, params=params, json=body)
