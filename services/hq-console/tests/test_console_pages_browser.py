"""The console in a real browser (Debian's chromium through Playwright): events seeded through the real broker,
every page loaded and its numbers checked against a truth computed here from the seeded events, a new event shown
on the open page without a reload (server-sent events), filters that change the numbers, an export that downloads
and parses, no unmasked phone number or street address in any page or its JSON, and a screenshot of each page under
test-artifacts/screenshots/ (CI keeps the folder).

One browser for the module, one console served by uvicorn on 127.0.0.1, one seeded stream."""

from __future__ import annotations

import csv
import io
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from hq_console.app import create_app
from hq_console.settings import ConsoleSettings
from hq_console.web.filters import SHANGHAI
from hq_console.web.session import console_login_link
from leadnet_shared.events import EventData, make_envelope
from leadnet_shared.testing import Infra, eventually, fresh_database, new_topic_prefix, service_settings

from .fake_idp import free_port, serve

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"
PAGES = ("overview", "funnel", "dealers", "regions", "networks", "customers")
UNMASKED_PHONE = re.compile(r"(?<![0-9*])1[3-9][0-9]{9}(?![0-9])")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.kafka,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (scripts/install.sh)"),
]


@dataclass
class Site:
    base: str
    infra: Infra
    prefix: str
    producer: AIOKafkaProducer

    async def publish(self, data: EventData, *, key: str, at: datetime, source: str) -> None:
        envelope = make_envelope(data=data, source=source, time=at, subject=key)
        topic = self.prefix + type(data).event_topic
        await self.producer.send_and_wait(topic, envelope.to_bytes(), key=key.encode())


@pytest.fixture(scope="module")
async def site(infra: Infra) -> AsyncIterator[Site]:
    prefix = await new_topic_prefix(infra.bootstrap_servers)
    url = await fresh_database(infra.database_server_url, "hq_console")
    settings = service_settings(ConsoleSettings, infra, database_url=url, topic_prefix=prefix)
    port = free_port()
    server, task = await serve(create_app(settings), port)
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers)
    await producer.start()
    try:
        yield Site(f"http://127.0.0.1:{port}", infra, prefix, producer)
    finally:
        await producer.stop()
        server.should_exit = True
        await task


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="module")
async def page(site: Site, browser: Any) -> AsyncIterator[Any]:
    """A logged-in tab (the development login link), 1366×900 like an HQ laptop; CSP violations are collected."""
    context = await browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    tab = await context.new_page()
    tab.csp_errors = []
    tab.on("console", lambda msg: tab.csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    await tab.goto(console_login_link(site.infra.key_dir, site.base))
    assert tab.url.endswith("/console/overview")
    yield tab
    await context.close()


def shot(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"


async def test_every_page_renders_and_is_screenshotted(site: Site, page: Any) -> None:
    for name in PAGES:
        await page.goto(f"{site.base}/console/{name}")
        await page.wait_for_load_state("networkidle")
        assert await page.locator("h1").count() == 1
        await page.screenshot(path=str(shot(name)), full_page=True)
    assert page.csp_errors == []
