"""What every channel to people shares: the message (a digest, masked data only), the errors an adapter raises
and the per-channel send window that keeps a provider's documented rate limit.

An adapter is a real client of one provider's documented API (`wecom.py`, `dingtalk.py`, `aliyun_sms.py`,
`email.py`). It never sleeps or retries itself: it raises `RateLimited` or `TransientFailure` and the dispatcher
(`notifier/people_dispatch.py`) keeps the message queued in the database until it may be sent again, so a burst is
spread over time instead of dropped, and nothing is lost across restarts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

import httpx


@dataclass(frozen=True, slots=True)
class Message:
    """One digest for one group of people: a title and one line per item (ids and masked data only).

    `params` are the few named values an SMS template takes (a text message cannot carry a whole digest)."""

    title: str
    lines: tuple[str, ...] = ()
    params: dict[str, str] = field(default_factory=dict)

    def markdown(self) -> str:
        return "\n".join([f"### {self.title}", *(f"- {line}" for line in self.lines)])

    def text(self) -> str:
        return "\n".join([self.title, *self.lines])


class DeliveryError(Exception):
    """A send that did not reach the provider's acceptance. `permanent` errors (a bad key, a rejected template) are
    not retried; the rest are."""

    permanent: bool = False

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.code = code


class TransientFailure(DeliveryError):
    """The provider was unreachable or answered a server error: try again later."""


class PermanentFailure(DeliveryError):
    """The provider refused the request as such (bad credentials, unknown template): resending cannot help."""

    permanent = True


class RateLimited(DeliveryError):
    """The provider says too many messages (WeCom errcode 45009, DingTalk 410100, Aliyun
    isv.BUSINESS_LIMIT_CONTROL, SMTP 421/451): the channel pauses for `retry_after` seconds."""

    def __init__(self, detail: str, *, code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after = retry_after


class Channel(Protocol):
    """A configured way to reach a group of people."""

    @property
    def channel_id(self) -> str: ...

    async def send(self, message: Message) -> None: ...

    async def aclose(self) -> None: ...


class JsonApiChannel:
    """What the adapters of the providers that answer JSON with a result code share (WeCom, DingTalk, Aliyun SMS):
    the channel's id and HTTP client, and the reading of an answer: unreachable or a server error is transient, the
    code that means success returns, a rate-limit code pauses the channel, a retry code is transient, and any other
    code is permanent. A subclass names its provider's codes and builds its request."""

    provider: ClassVar[str]  # the provider's name in an error's detail
    code_field: ClassVar[str] = "errcode"
    code_words: ClassVar[tuple[str, str]] = ("an errcode", "errcode ")  # the code in an error's detail
    message_field: ClassVar[str] = "errmsg"
    ok_code: ClassVar[str] = "0"
    rate_limit_codes: ClassVar[frozenset[str]]
    retry_codes: ClassVar[frozenset[str]]
    rate_limit_pause: ClassVar[float]  # seconds the channel pauses after a rate-limit code
    too_many_requests_pause: ClassVar[float | None] = None  # a provider that answers HTTP 429: its pause

    def __init__(self, channel_id: str, *, timeout: float, client: httpx.AsyncClient | None) -> None:
        self._channel_id = channel_id
        self._client = client or httpx.AsyncClient(timeout=timeout)

    @property
    def channel_id(self) -> str:
        return self._channel_id

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, url: str, **request: Any) -> None:
        """Send one request and read its answer; raises the `DeliveryError` the answer means."""
        try:
            response = await self._client.request(method, url, **request)
        except httpx.HTTPError as exc:
            raise TransientFailure(f"{self.provider} unreachable: {type(exc).__name__}") from exc
        status = response.status_code
        if status == 429 and self.too_many_requests_pause is not None:
            raise RateLimited(f"{self.provider} answered 429", code="429", retry_after=self.too_many_requests_pause)
        if status >= 500:
            raise TransientFailure(f"{self.provider} answered {status}", code=str(status))
        try:
            answer: Any = response.json()
            code = self._code(answer[self.code_field])
        except (ValueError, KeyError, TypeError) as exc:
            raise TransientFailure(f"{self.provider} answered {status} without {self.code_words[0]}") from exc
        if code == self.ok_code:
            return
        detail = f"{self.provider} {self.code_words[1]}{code}: {answer.get(self.message_field, '')}"
        if code in self.rate_limit_codes:
            raise RateLimited(detail, code=code, retry_after=self.rate_limit_pause)
        if code in self.retry_codes:
            raise TransientFailure(detail, code=code)
        raise PermanentFailure(detail, code=code)

    def _code(self, value: Any) -> str:
        return str(int(value))  # a numeric errcode, as the robots send it


class SendWindow:
    """At most `limit` sends in any `period` (a sliding window, as the providers count: WeCom and DingTalk robots
    take 20 a minute). `wait(now)` says how long until the next send is allowed; `record(now)` notes a send. Seeded
    from the sends the database remembers, so a restart does not grant a fresh allowance."""

    def __init__(self, limit: int, period: timedelta, sent: Iterable[datetime] = ()) -> None:
        if limit < 1:
            raise ValueError("a send window allows at least one message")
        self.limit = limit
        self.period = period
        self._sent: deque[datetime] = deque(sorted(sent)[-limit:])
        self._paused_until: datetime | None = None

    def pause_until(self, until: datetime) -> None:
        """The provider said stop (DingTalk throttles a robot for 10 minutes after the 21st message a minute)."""
        if self._paused_until is None or until > self._paused_until:
            self._paused_until = until

    def wait(self, now: datetime) -> float:
        waits = [0.0]
        if self._paused_until is not None:
            waits.append((self._paused_until - now).total_seconds())
        while self._sent and self._sent[0] <= now - self.period:
            self._sent.popleft()
        if len(self._sent) >= self.limit:
            waits.append((self._sent[0] + self.period - now).total_seconds())
        return max(waits)

    def record(self, now: datetime) -> None:
        self._sent.append(now)
        while len(self._sent) > self.limit:
            self._sent.popleft()
