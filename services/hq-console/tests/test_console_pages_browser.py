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
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from openpyxl import load_workbook

from hq_console.app import create_app
from hq_console.settings import ConsoleSettings
from hq_console.web.session import console_login_link
from leadnet_shared.events import (
    DealerUpserted,
    EntryPosted,
    EventData,
    LeadAccepted,
    LeadRejected,
    LeadVerified,
    MaskedCustomer,
    SalePendingConfirmation,
)
from leadnet_shared.testing import (
    Infra,
    envelope,
    eventually,
    fresh_database,
    new_topic_prefix,
    sale_event,
    service_settings,
)

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

    async def publish(self, data: EventData, *, key: str, at: datetime) -> None:
        """`data` onto its topic as its producer publishes it."""
        event = envelope(data, at=at, subject=key)
        await self.producer.send_and_wait(self.prefix + type(data).event_topic, event.to_bytes(), key=key.encode())


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
    context.set_default_timeout(8_000)
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


# ---- the seeded stream and its truth ----------------------------------------------------------------------------
# A past month, so the figures do not depend on the day the test runs: September 2026 against August.
SEPT = datetime(2026, 9, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
AUG = datetime(2026, 8, 12, 2, 0, tzinfo=UTC)
QUERY = "period=month&at=2026-09-15"
LEAKED_PHONE = "13912345678"
LEAKED_STREET = "幸福路88号"


@dataclass(frozen=True)
class SeedLead:
    lead_id: str
    customer_id: str
    region: str
    product_line: str
    source: str
    tier: str
    entered_by: str
    assigned: str
    at: datetime
    cross_region: bool = False
    existed: bool = False
    network: str | None = None
    verified: bool = False
    phone: str = "138****8000"
    address: str = "山东省潍坊市诸城市***"


LEADS = [
    SeedLead("L1", "C1", "370782", "heavy", "walk_in", "retail", "D001", "D001", SEPT, network="NET-1", verified=True),
    SeedLead(
        "L2",
        "C2",
        "370702",
        "heavy",
        "phone_inquiry",
        "general_big",
        "D002",
        "D001",
        SEPT + timedelta(hours=1),
        cross_region=True,
        network="NET-1",
        verified=True,
    ),
    SeedLead(
        "L3", "C3", "370102", "light", "walk_in", "retail", "D002", "D002", SEPT + timedelta(days=2), verified=True
    ),
    SeedLead(
        "L4", "C4", "130102", "light", "insurer", "gold_silver", "D003", "D003", SEPT + timedelta(days=3), existed=True
    ),
    # A producer that forgot to mask (a bug elsewhere): the console must not show it.
    SeedLead(
        "L5",
        "C5",
        "370782",
        "heavy",
        "bank",
        "retail",
        "D001",
        "D001",
        SEPT + timedelta(days=4),
        phone=LEAKED_PHONE,
        address=f"山东省潍坊市诸城市{LEAKED_STREET}",
    ),
    SeedLead("P1", "C6", "370782", "heavy", "walk_in", "retail", "D001", "D001", AUG, verified=True),
    SeedLead("P2", "C7", "370782", "heavy", "walk_in", "retail", "D001", "D001", AUG + timedelta(days=1)),
]
DUPLICATES = [("R1", "D002", SEPT + timedelta(days=5)), ("R2", "D002", SEPT + timedelta(days=6))]
# D001 sells to C1 on its own lead L1 in September; the ledger pays it a purchase reward the next day.
SALE = {"sale_id": "S1", "customer_id": "C1", "seller": "D001", "attributed_lead_id": "L1", "credited_dealer": "D001"}
REWARD = {"entry_id": "E1", "kind": "purchase_reward", "dealer": "D001", "amount_fen": 50_000, "lead_id": "L1"}
SOLD_AT = SEPT + timedelta(days=8)
DEALERS = {"D001": "潍坊重卡", "D002": "济南重卡", "D003": "石家庄重卡"}


def in_september(at: datetime) -> bool:
    return (at.year, at.month) == (2026, 9)


def truth(region: str = "") -> dict[str, int]:
    """The overview's figures for September, counted here from the seeded events (docs/console-kpis.md)."""
    sept = [lead for lead in LEADS if in_september(lead.at) and lead.region.startswith(region)]
    rejected = [d for d in DUPLICATES if not region]  # a refusal names no region: only the unfiltered view has it
    return {
        "records_received": len(sept) + len(rejected),
        "records_accepted": len(sept),
        "duplicates_refused": len(rejected),
        "cross_region": sum(lead.cross_region for lead in sept),
        "verified": sum(lead.verified for lead in sept),
        "sold": 1 if "370782".startswith(region) else 0,
        "rewards_fen": REWARD["amount_fen"] if "370782".startswith(region) else 0,
    }


async def seed(site: Site, leads: list[SeedLead]) -> None:
    for lead in leads:
        facts = {
            "lead_id": lead.lead_id,
            "customer_id": lead.customer_id,
            "entered_by": lead.entered_by,
            "assigned_dealer": lead.assigned,
            "authorized_dealer": lead.assigned,
            "cross_region": lead.cross_region,
            "tier": lead.tier,
            "region_code": lead.region,
            "product_line": lead.product_line,
            "source": lead.source,
            "network_code": lead.network,
            "lead_version": 1,
        }
        customer = MaskedCustomer(name="王*", phone=lead.phone, address=lead.address)
        accepted = LeadAccepted(**facts, accepted_at=lead.at, customer_existed=lead.existed, customer=customer)
        await site.publish(accepted, key=lead.customer_id, at=lead.at)
        if lead.verified:
            verified = LeadVerified(**facts, verified_at=lead.at + timedelta(hours=2))
            await site.publish(verified, key=lead.customer_id, at=lead.at)


async def seed_everything(site: Site) -> None:
    for code, name in DEALERS.items():
        dealer = DealerUpserted(
            code=code, name=name, territories=[], product_lines=["heavy", "light"], capability=100, updated_at=AUG
        )
        await site.publish(dealer, key=code, at=AUG)
    await seed(site, LEADS)
    for lead_id, dealer, at in DUPLICATES:
        rejected = LeadRejected(lead_id=lead_id, entered_by=dealer, reason="duplicate_lead", rejected_at=at)
        await site.publish(rejected, key=lead_id, at=at)
    sale = sale_event(**SALE, at=SOLD_AT, vehicles=(("LZZ1CLVB0NA000001", "heavy"),))
    await site.publish(sale, key=sale.customer_id, at=SOLD_AT)
    paid_at = SOLD_AT + timedelta(days=1)
    entry = EntryPosted(**REWARD, customer_id=sale.customer_id, sale_id=sale.sale_id, posted_at=paid_at)
    await site.publish(entry, key=sale.customer_id, at=paid_at)
    # a sale D002 reported that still waits for its supplier's confirmation at the end of September
    pending = SalePendingConfirmation(
        sale_id="S2",
        customer_id="C3",
        seller="D002",
        supplied_by="D001",
        confirmer="D001",
        region_code="370102",
        product_line="light",
        vehicle_count=1,
        sold_at=SEPT + timedelta(days=10),
        reported_at=SEPT + timedelta(days=10),
    )
    await site.publish(pending, key="C3", at=SEPT + timedelta(days=10))


async def figures(site: Site, client: httpx.AsyncClient, query: str = QUERY) -> dict[str, Any]:
    response = await client.get(f"{site.base}/v1/insights/kpis?{query}", headers=site.infra.auth("hq_analyst"))
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
async def seeded(site: Site) -> Site:
    await seed_everything(site)
    expected = truth()

    async def caught_up() -> bool:
        async with httpx.AsyncClient() as client:
            got = await figures(site, client)
        return all(got[name] == value for name, value in expected.items())

    await eventually(caught_up, within=30)
    return site


async def tile(page: Any, key: str) -> str:
    return str(await page.locator(f'[data-kpi="{key}"] .value').get_attribute("data-value"))


async def cell(page: Any, table: str, row: str, column: str) -> str:
    header = page.get_by_role("rowheader", name=row, exact=True)
    locator = page.locator(f"#table-{table} tbody tr").filter(has=header).locator(f'td[data-col="{column}"]')
    return str((await locator.inner_text()).strip())


# ---- the tests ------------------------------------------------------------------------------------------------


async def test_the_overview_shows_the_seeded_figures_and_the_previous_period(seeded: Site, page: Any) -> None:
    await page.goto(f"{seeded.base}/console/overview?{QUERY}")
    for key, value in truth().items():
        expected = str(value)
        assert await tile(page, key) == expected, key
    assert await tile(page, "records_accepted") == "5"
    change = await page.locator('[data-kpi="records_accepted"] .change').inner_text()
    assert "+150.0%" in change  # 5 against August's 2
    assert "¥500.00" in await page.locator('[data-kpi="rewards_fen"] .value').inner_text()
    # the number links to the masked list behind it
    await page.locator('[data-kpi="records_accepted"] .value').click()
    await page.wait_for_url("**/console/list?**")
    assert await page.locator("#table-records_accepted tbody tr").count() == 5
    await page.screenshot(path=str(shot("list")), full_page=True)


async def test_filters_change_the_numbers(seeded: Site, page: Any) -> None:
    await page.goto(f"{seeded.base}/console/overview?{QUERY}")
    # Filters apply with the button (not on change: a keyboard user moving through a menu must not reload the page).
    await page.locator('select[name="region"]').select_option("37")
    await page.get_by_role("button", name="应用").click()
    await page.wait_for_url("**region=37**")
    assert await tile(page, "records_accepted") == str(truth("37")["records_accepted"])
    await page.goto(f"{seeded.base}/console/overview?{QUERY}&region=3707")
    for key, value in truth("3707").items():
        assert await tile(page, key) == str(value), key
    await page.goto(f"{seeded.base}/console/overview?{QUERY}&source=walk_in")
    assert await tile(page, "records_accepted") == "2"  # L1 and L3


async def test_each_page_shows_its_figures(seeded: Site, page: Any) -> None:
    await page.goto(f"{seeded.base}/console/dealers?{QUERY}")
    assert await cell(page, "dealers", "D001", "records_received") == "2"
    assert await cell(page, "dealers", "D001", "sold") == "1"
    assert await cell(page, "dealers", "D001", "rewards_fen") == "¥500.00"
    assert await cell(page, "dealers", "D002", "records_received") == "4"  # L2, L3 and two duplicates

    await page.goto(f"{seeded.base}/console/regions?{QUERY}")
    shandong = sum(1 for lead in LEADS if in_september(lead.at) and lead.region.startswith("37"))
    assert await cell(page, "regions", "山东省", "records_received") == str(shandong)
    await page.locator('#table-regions th a:text-is("山东省")').click()  # province → city
    await page.wait_for_url("**region=37**")
    assert await cell(page, "regions", "潍坊市", "records_received") == "3"
    await page.locator('#table-regions th a:text-is("潍坊市")').click()  # city → county
    await page.wait_for_url("**region=3707**")
    assert await cell(page, "regions", "诸城市", "records_received") == "2"

    await page.goto(f"{seeded.base}/console/funnel?{QUERY}")
    assert await cell(page, "by_source", "到店", "received") == "2"
    assert await cell(page, "by_network", "NET-1", "verified") == "2"

    await page.goto(f"{seeded.base}/console/networks?{QUERY}")
    assert await cell(page, "networks", "NET-1", "records_accepted") == "2"

    await page.goto(f"{seeded.base}/console/customers?{QUERY}")
    new = len({lead.customer_id for lead in LEADS if in_september(lead.at) and not lead.existed})
    assert await tile(page, "new_customers") == str(new)


async def test_a_number_opens_the_list_of_as_many_rows(seeded: Site, page: Any) -> None:
    """Funnel stages after "received" and the dealers page's cells link to their masked lists (issue 20)."""
    for start, table, row, column, expected in (
        ("funnel", "by_network", "NET-1", "verified", "2"),
        ("funnel", "stages", "已核实", "count", "3"),
        ("dealers", "dealers", "D002", "sales_pending", "1"),
    ):
        await page.goto(f"{seeded.base}/console/{start}?{QUERY}")
        assert await cell(page, table, row, column) == expected
        header = page.get_by_role("rowheader", name=row, exact=True)
        link = page.locator(f"#table-{table} tbody tr").filter(has=header).locator(f'td[data-col="{column}"] a')
        await link.click()
        await page.wait_for_url("**/console/list?**")
        assert await page.locator("#content tbody tr").count() == int(expected)
        assert f"共 {expected} 条" in await page.locator("#content h2").inner_text()


async def test_an_export_downloads_and_parses(seeded: Site, page: Any) -> None:
    await page.goto(f"{seeded.base}/console/dealers?{QUERY}")
    async with page.expect_download() as info:
        await page.locator('a:text-is("导出 CSV")').first.click()
    download = await info.value
    text = (await download.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "经销商"
    by_dealer = {row[0]: row for row in rows[1:]}
    assert by_dealer["D001"][rows[0].index("成交")] == "1"

    async with page.expect_download() as info:
        await page.locator('a:text-is("导出 Excel")').first.click()
    book = load_workbook(io.BytesIO((await (await info.value).path()).read_bytes()))
    sheet = book.active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "经销商" and {row[0] for row in values[1:]} >= {"D001", "D002", "D003"}


async def test_no_page_or_json_shows_an_unmasked_phone_or_street(seeded: Site, page: Any) -> None:
    bodies = []
    for name in (*PAGES, "list"):
        query = f"{QUERY}&measure=records_accepted" if name == "list" else QUERY
        await page.goto(f"{seeded.base}/console/{name}?{query}")
        bodies.append(await page.content())
    async with httpx.AsyncClient() as client:
        auth = seeded.infra.auth("hq_analyst")
        for path in (
            "kpis",
            "funnel",
            "dealers",
            "regions",
            "networks",
            "customers",
            "records?metric=records_accepted&",
        ):
            joiner = "" if path.endswith("&") else "?"
            response = await client.get(f"{seeded.base}/v1/insights/{path}{joiner}{QUERY}", headers=auth)
            assert response.status_code == 200, (path, response.text)
            bodies.append(response.text)
    assert "139****5678" in bodies[-1]  # the leaked record is listed, masked
    for body in bodies:
        assert not UNMASKED_PHONE.search(body)
        assert LEAKED_STREET not in body


async def test_a_dealer_is_refused(seeded: Site, browser: Any) -> None:
    context = await browser.new_context(extra_http_headers=dict(seeded.infra.auth("dealer", "D001")))
    tab = await context.new_page()
    response = await tab.goto(f"{seeded.base}/console/overview")
    assert response is not None and response.status == 403
    await context.close()


async def test_a_new_event_appears_without_a_reload(seeded: Site, page: Any) -> None:
    await page.goto(f"{seeded.base}/console/overview?{QUERY}")
    await page.locator('#live-status[data-live="on"]').wait_for(timeout=10_000)
    marker = await page.evaluate("() => (window.leadnetMarker = Math.random())")
    before = int(await tile(page, "records_accepted"))
    late = SeedLead("L9", "C9", "370782", "heavy", "walk_in", "retail", "D001", "D001", SEPT + timedelta(days=12))
    await seed(seeded, [late])
    await page.locator(f'[data-kpi="records_accepted"] .value[data-value="{before + 1}"]').wait_for(timeout=15_000)
    assert await page.evaluate("() => window.leadnetMarker") == marker  # the same document: no reload


async def test_every_page_renders_and_is_screenshotted(seeded: Site, page: Any) -> None:
    for name in PAGES:
        await page.goto(f"{seeded.base}/console/{name}?{QUERY}")
        await page.wait_for_load_state("networkidle")
        assert await page.locator("h1").count() == 1
        if await page.locator(".chart").count():
            await page.locator(".chart").first.hover()  # a tooltip, drawn without inline styles (CSP)
        await page.screenshot(path=str(shot(name)), full_page=True)
    # a tablet in portrait reads the overview too
    await page.set_viewport_size({"width": 820, "height": 1180})
    await page.goto(f"{seeded.base}/console/overview?{QUERY}&lang=en")
    await page.screenshot(path=str(shot("overview-tablet-en")), full_page=True)
    await page.goto(f"{seeded.base}/console/overview?{QUERY}&lang=zh-CN")
    await page.set_viewport_size({"width": 1366, "height": 900})
    assert page.csp_errors == []
