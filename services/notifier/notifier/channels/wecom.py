"""WeCom (企业微信) group robot: `POST {base}/cgi-bin/webhook/send?key=KEY` with `{"msgtype": "markdown",
"markdown": {"content": ...}}`; the answer is `{"errcode": 0, "errmsg": "ok"}` on success. The documented limit is
20 messages a minute per robot; beyond it WeCom answers errcode 45009 ("api freq out of limit").
"""

from __future__ import annotations

from typing import Any

import httpx

from notifier.channels.base import Message, PermanentFailure, RateLimited, TransientFailure

# errcode meaning "too many": 45009 api freq out of limit; -1 system busy is worth a retry.
RATE_LIMIT_CODES = frozenset({45009})
RETRY_CODES = frozenset({-1})
# A markdown message is at most 4096 bytes (UTF-8); a longer digest is cut with a note rather than refused.
MAX_MARKDOWN_BYTES = 4096


def markdown_content(message: Message, *, limit: int = MAX_MARKDOWN_BYTES) -> str:
    content = message.markdown()
    if len(content.encode()) <= limit:
        return content
    kept: list[str] = []
    for line in message.lines:
        candidate = Message(message.title, (*kept, line, "…")).markdown()
        if len(candidate.encode()) > limit:
            break
        kept.append(line)
    return Message(message.title, (*kept, f"… ({len(message.lines) - len(kept)} more)")).markdown()


class WeComRobot:
    def __init__(
        self,
        channel_id: str,
        *,
        key: str,
        base_url: str = "https://qyapi.weixin.qq.com",
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._channel_id = channel_id
        self._key = key
        self._url = base_url.rstrip("/") + "/cgi-bin/webhook/send"
        self._client = client or httpx.AsyncClient(timeout=timeout)

    @property
    def channel_id(self) -> str:
        return self._channel_id

    async def send(self, message: Message) -> None:
        body = {"msgtype": "markdown", "markdown": {"content": markdown_content(message)}}
        try:
            response = await self._client.post(self._url, params={"key": self._key}, json=body)
        except httpx.HTTPError as exc:
            raise TransientFailure(f"WeCom unreachable: {type(exc).__name__}") from exc
        check_answer(response)

    async def aclose(self) -> None:
        await self._client.aclose()


def check_answer(response: httpx.Response) -> None:
    if response.status_code == 429:
        raise RateLimited("WeCom answered 429", code="429", retry_after=60.0)
    if response.status_code >= 500:
        raise TransientFailure(f"WeCom answered {response.status_code}", code=str(response.status_code))
    try:
        answer: Any = response.json()
        errcode = int(answer["errcode"])
    except (ValueError, KeyError, TypeError) as exc:
        raise TransientFailure(f"WeCom answered {response.status_code} without an errcode") from exc
    if errcode == 0:
        return
    detail = f"WeCom errcode {errcode}: {answer.get('errmsg', '')}"
    if errcode in RATE_LIMIT_CODES:
        # The robot's counter is per minute: a full minute is the most it can take to clear.
        raise RateLimited(detail, code=str(errcode), retry_after=60.0)
    if errcode in RETRY_CODES:
        raise TransientFailure(detail, code=str(errcode))
    raise PermanentFailure(detail, code=str(errcode))
