"""Each people-channel adapter against a local fake of its provider's documented API (127.0.0.1 only): request
shape and signature accepted, the documented error codes mapped to retry / pause / give up, and a burst larger
than the provider's rate limit spread over time rather than dropped."""

from __future__ import annotations

import base64
import email.policy
import hashlib
import hmac
import random
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message as EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from hypothesis import given
from hypothesis import strategies as st

from leadnet_shared.clock import FrozenClock
from notifier.channels import aliyun_sms, dingtalk
from notifier.channels.aliyun_sms import AliyunSms
from notifier.channels.base import Channel, Message, PermanentFailure, RateLimited, SendWindow, TransientFailure
from notifier.channels.dingtalk import DingTalkRobot
from notifier.channels.email import SmtpMail
from notifier.channels.sending import Outcome, RetryRule, attempt
from notifier.channels.wecom import WeComRobot, markdown_content

from .provider_fakes import FakeProvider, aliyun_sms_app, dingtalk_app, serving, wecom_app

T0 = datetime(2026, 12, 7, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
DIGEST = Message(
    "今日到期任务 D001（2 项）", ("callback 任务 T1 · 客户 C1", "promotion 任务 T2 · 客户 C2"), {"count": "2"}
)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


async def drain(
    channel: Channel, window: SendWindow, messages: list[Message], clock: FrozenClock, *, step: float = 1.0
) -> list[Outcome]:
    """What the dispatcher does, in memory: send what is due, keep the rest queued with its time, advance the
    clock; until every message is sent or failed."""
    queue = [(clock.now(), i, m, 0) for i, m in enumerate(messages)]
    outcomes: list[Outcome] = []
    rng = random.Random(7)
    for _ in range(10_000):
        if not queue:
            return outcomes
        queue.sort(key=lambda item: (item[0], item[1]))
        due, index, message, tries = queue[0]
        if due > clock.now():
            clock.set(due)
            continue
        queue.pop(0)
        outcome = await attempt(
            channel, window, message, now=clock.now(), attempts=tries, queued_at=T0, retry=RetryRule(), rng=rng
        )
        if outcome.status == "deferred":
            assert outcome.retry_at is not None
            queue.append((outcome.retry_at, index, message, tries + int(outcome.attempted)))
        else:
            outcomes.append(outcome)
        clock.advance(step / 100)
    raise AssertionError("the queue did not drain")


async def test_wecom_robot_burst_over_the_limit_is_spread_over_minutes_not_dropped(clock: FrozenClock) -> None:
    fake = FakeProvider(now=clock.now)
    async with serving(wecom_app(fake, key="k-1")) as url:
        robot = WeComRobot("wecom-d001", key="k-1", base_url=url)
        window = SendWindow(20, timedelta(minutes=1))
        outcomes = await drain(robot, window, [DIGEST] * 45, clock)
        await robot.aclose()
    assert [o.status for o in outcomes] == ["sent"] * 45
    assert len(fake.received) == 45 and fake.refused == []  # the window kept under the documented 20 a minute
    assert clock.now() - T0 >= timedelta(minutes=2)
    assert fake.received[0]["markdown"]["content"].startswith("### 今日到期任务 D001")


async def test_wecom_45009_pauses_the_channel_and_the_message_goes_out_after(clock: FrozenClock) -> None:
    # The robot's real allowance is smaller than configured (shared with another system): WeCom answers 45009.
    fake = FakeProvider(now=clock.now, per_minute=5)
    async with serving(wecom_app(fake, key="k-1")) as url:
        robot = WeComRobot("wecom-d001", key="k-1", base_url=url)
        outcomes = await drain(robot, SendWindow(20, timedelta(minutes=1)), [DIGEST] * 12, clock)
        await robot.aclose()
    assert [o.status for o in outcomes] == ["sent"] * 12
    assert len(fake.received) == 12
    assert fake.refused and set(fake.refused) == {"45009"}


async def test_wecom_errors_are_mapped(clock: FrozenClock) -> None:
    fake = FakeProvider(now=clock.now)
    async with serving(wecom_app(fake, key="k-1")) as url:
        wrong_key = WeComRobot("w", key="other", base_url=url)
        with pytest.raises(PermanentFailure) as refused:
            await wrong_key.send(DIGEST)
        assert refused.value.code == "93000"
        fake.fail_next = 1
        robot = WeComRobot("w", key="k-1", base_url=url)
        with pytest.raises(TransientFailure):
            await robot.send(DIGEST)
        await robot.send(DIGEST)  # the retry goes through
        for client in (wrong_key, robot):
            await client.aclose()
    unreachable = WeComRobot("w", key="k-1", base_url="http://127.0.0.1:9")
    with pytest.raises(TransientFailure):
        await unreachable.send(DIGEST)
    await unreachable.aclose()


def test_a_long_wecom_digest_is_cut_to_the_documented_4096_bytes() -> None:
    long = Message(
        "逾期任务汇总", tuple(f"callback 任务 T{i:05d} · 客户 C{i:05d} · 应于 12-07 10:00" for i in range(400))
    )
    content = markdown_content(long)
    assert len(content.encode()) <= 4096
    assert content.endswith("more)")


def test_dingtalk_sign_matches_the_documented_algorithm() -> None:
    # DingTalk's documented Python example: base64(hmac_sha256(secret, f"{timestamp}\n{secret}")), then urlencoded.
    secret, timestamp = "SEC0123456789abcdef", 1_700_000_000_000
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), digestmod=hashlib.sha256).digest()
    ).decode()
    assert dingtalk.sign(secret, timestamp) == expected


async def test_dingtalk_robot_signs_and_keeps_twenty_a_minute(clock: FrozenClock) -> None:
    fake = FakeProvider(now=clock.now)
    now_ms = lambda: int(clock.now().timestamp() * 1000)  # noqa: E731
    async with serving(dingtalk_app(fake, access_token="tok", secret="SECabc")) as url:
        robot = DingTalkRobot("dt", access_token="tok", secret="SECabc", base_url=url, now_ms=now_ms)
        outcomes = await drain(robot, SendWindow(20, timedelta(minutes=1)), [DIGEST] * 25, clock)
        bad = DingTalkRobot("dt", access_token="tok", secret="SECwrong", base_url=url, now_ms=now_ms)
        with pytest.raises(PermanentFailure) as refused:
            await bad.send(DIGEST)
        for client in (robot, bad):
            await client.aclose()
    assert [o.status for o in outcomes] == ["sent"] * 25 and fake.refused == []
    assert refused.value.code == "310000"
    assert fake.received[0]["markdown"]["title"] == DIGEST.title


async def test_dingtalk_410100_throttles_the_robot_for_ten_minutes(clock: FrozenClock) -> None:
    fake = FakeProvider(now=clock.now, per_minute=3)
    now_ms = lambda: int(clock.now().timestamp() * 1000)  # noqa: E731
    async with serving(dingtalk_app(fake, access_token="tok", secret="s")) as url:
        robot = DingTalkRobot("dt", access_token="tok", secret="s", base_url=url, now_ms=now_ms)
        for _ in range(3):
            await robot.send(DIGEST)
        with pytest.raises(RateLimited) as limited:
            await robot.send(DIGEST)
        await robot.aclose()
    assert limited.value.code == "410100" and limited.value.retry_after == dingtalk.THROTTLE_SECONDS


def test_aliyun_signature_matches_the_documented_example() -> None:
    # The worked example of Aliyun's RPC signature document (signature version 1.0, GET, secret "testsecret").
    params = {
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "Format": "XML",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "SignatureVersion": "1.0",
        "Timestamp": "2016-02-23T12:46:24Z",
        "Version": "2014-05-26",
    }
    assert aliyun_sms.signature(params, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


async def test_aliyun_sms_sends_a_signed_template_and_maps_its_codes(clock: FrozenClock) -> None:
    fake = FakeProvider(now=clock.now, per_minute=1)
    async with serving(aliyun_sms_app(fake, access_key_id="id1", access_key_secret="sec1")) as url:
        sms = AliyunSms(
            "sms",
            access_key_id="id1",
            access_key_secret="sec1",
            sign_name="某某汽车",
            template_code="SMS_000001",
            phone_numbers=["13800138000", "13900139000"],
            endpoint=url,
            now=clock.now,
        )
        outcomes = await drain(sms, SendWindow(1, timedelta(minutes=1)), [DIGEST] * 3, clock)
        assert [o.status for o in outcomes] == ["sent"] * 3 and fake.refused == []
        with pytest.raises(RateLimited) as limited:  # a second message within the minute
            await sms.send(DIGEST)
        assert limited.value.code == "isv.BUSINESS_LIMIT_CONTROL"
        forged = AliyunSms(
            "sms", access_key_id="id1", access_key_secret="other", sign_name="某某汽车",
            template_code="SMS_000001", phone_numbers=["13800138000"], endpoint=url, now=clock.now,
        )  # fmt: skip
        with pytest.raises(PermanentFailure) as refused:
            await forged.send(DIGEST)
        assert refused.value.code == "SignatureDoesNotMatch"
        for client in (sms, forged):
            await client.aclose()
    sent = fake.received[0]
    assert sent["PhoneNumbers"] == "13800138000,13900139000" and sent["SignName"] == "某某汽车"
    assert sent["TemplateParam"] == '{"count":"2"}'  # the template's parameters, never the digest's lines


class _Inbox:
    def __init__(self, refuse_with: int | None = None) -> None:
        self.mails: list[EmailMessage] = []
        self.refuse_with = refuse_with

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_with:
            code, self.refuse_with = self.refuse_with, None
            return f"{code} 4.7.0 Try again later"
        assert isinstance(envelope.content, bytes)
        self.mails.append(message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
async def smtp_server() -> AsyncIterator[tuple[_Inbox, int]]:
    inbox = _Inbox()
    with socket.socket() as probe:  # aiosmtpd's controller checks its server by connecting: it needs a real port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def test_email_digest_reaches_a_local_smtp_server_and_451_is_retried(
    smtp_server: tuple[_Inbox, int], clock: FrozenClock
) -> None:
    inbox, port = smtp_server
    mail = SmtpMail(
        "mail", host="127.0.0.1", port=port, sender="notifier@leadnet.example",
        recipients=["gm@d001.example"], security="none",
    )  # fmt: skip
    inbox.refuse_with = 451
    outcomes = await drain(mail, SendWindow(30, timedelta(minutes=1)), [DIGEST], clock)
    assert [o.status for o in outcomes] == ["sent"]
    assert len(inbox.mails) == 1
    received = inbox.mails[0]
    assert received["Subject"] == DIGEST.title and received["To"] == "gm@d001.example"
    body: Any = received.get_body()
    assert "callback 任务 T1" in body.get_content()


async def test_a_transient_failure_backs_off_and_gives_up_after_the_policy_period(clock: FrozenClock) -> None:
    fake = FakeProvider(now=clock.now, fail_next=1_000_000)
    async with serving(wecom_app(fake, key="k")) as url:
        robot = WeComRobot("w", key="k", base_url=url)
        rule = RetryRule(base=timedelta(seconds=5), cap=timedelta(minutes=15), give_up_after=timedelta(hours=24))
        window, rng, tries, retry_ats = SendWindow(20, timedelta(minutes=1)), random.Random(1), 0, []
        while True:
            outcome = await attempt(
                robot, window, DIGEST, now=clock.now(), attempts=tries, queued_at=T0, retry=rule, rng=rng
            )
            if outcome.status != "deferred":
                break
            assert outcome.retry_at is not None
            retry_ats.append(outcome.retry_at - clock.now())
            tries += int(outcome.attempted)
            clock.set(outcome.retry_at)
        await robot.aclose()
    assert outcome.status == "failed" and clock.now() - T0 >= timedelta(hours=24)
    assert retry_ats[0] <= timedelta(seconds=5) and max(retry_ats) <= timedelta(minutes=15)
    assert max(retry_ats[-5:]) >= timedelta(minutes=7, seconds=30)  # backed off to the cap, jittered


@given(
    limit=st.integers(min_value=1, max_value=25),
    gaps=st.lists(st.floats(min_value=0, max_value=90, allow_nan=False), min_size=1, max_size=80),
)
def test_a_send_window_never_allows_more_than_its_limit_in_any_minute(limit: int, gaps: list[float]) -> None:
    window, now, sent = SendWindow(limit, timedelta(minutes=1)), T0, []
    for gap in gaps:
        now += timedelta(seconds=gap)
        now += timedelta(seconds=window.wait(now))
        window.record(now)
        sent.append(now)
    for i, at in enumerate(sent):
        assert sum(1 for other in sent[i:] if other < at + timedelta(minutes=1)) <= limit
