"""WeCom (企业微信) group robot: `POST {base}/cgi-bin/webhook/send?key=KEY` with `{"msgtype": "markdown",
"markdown": {"content": ...}}`; the answer is `{"errcode": 0, "errmsg": "ok"}` on success. The documented limit is
20 messages a minute per robot; beyond it WeCom answers errcode 45009 ("api freq out of limit").
"""

from __future__ import annotations

import httpx

from notifier.channels.base import JsonApiChannel, Message

# errcode meaning "too many": 45009 api freq out of limit; -1 system busy is worth a retry.
RATE_LIMIT_CODES = frozenset({"45009"})
RETRY_CODES = frozenset({"-1"})
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


class WeComRobot(JsonApiChannel):
    provider = "WeCom"
    rate_limit_codes = RATE_LIMIT_CODES
    retry_codes = RETRY_CODES
    # The robot's counter is per minute: a full minute is the most it can take to clear.
    rate_limit_pause = too_many_requests_pause = 60.0

    def __init__(
        self,
        channel_id: str,
        *,
        key: str,
        base_url: str = "https://qyapi.weixin.qq.com",
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(channel_id, timeout=timeout, client=client)
        self._key = key
        self._url = base_url.rstrip("/") + "/cgi-bin/webhook/send"

    async def send(self, message: Message) -> None:
        body = {"msgtype": "markdown", "markdown": {"content": markdown_content(message)}}
        await self._call("POST", self._url, params={"key": self._key}, json=body)
