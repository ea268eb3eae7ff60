"""hq-console benchmark: how fast the console ingests the public topics, next to the kit's bare consumer on the same
topic in the same run, and how long the overview takes the server with many leads' events ingested.

1. Ingest. A stream of public events, each lead's life as the producers publish it (lead.accepted, callback
   scheduled and completed, verified, sometimes a promotion, a sale and a ledger posting), is put on one topic of
   the real broker. Two consumer groups read it, one after the other, through the kit's consumer loop: the
   **bare** consumer (the kit's inbox claim and offset commit, a handler that does nothing) and the **console**
   (the same loop with `hq_console.facts`). Rate = events / (last poll's start - first poll's start), from the
   inbox's `processed_at`, so neither pays for its group join; the HTTP side is idle.
2. Overview. The fact tables are filled with `--leads` leads' facts (tasks, sales, ledger entries in the same
   proportions) by SQL, analysed, and the overview's JSON (`/v1/insights/kpis` for a month, a quarter with a
   region, the trend, the funnel by source, the dealers page) is requested in-process (httpx over ASGI: the
   server's time, no network); median and max of 5 calls each.

    python bench/console_bench.py [--quick] [--events 40000] [--leads 10000000]

Uses DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS when set, else starts an embedded PostgreSQL and broker.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncSession

from hq_console.app import create_app
from hq_console.models import INBOX, KIT_STATE, OUTBOX
from hq_console.settings import ConsoleSettings
from leadnet_shared.app import ConsumerSpec, Runtime, create_service_app
from leadnet_shared.auth import ensure_keys, mint_from_dir
from leadnet_shared.consumer import ALL_TYPES, BatchHandler
from leadnet_shared.events import LEADS, Envelope
from leadnet_shared.infra import local_servers
from leadnet_shared.kafka import ensure_topics
from leadnet_shared.masking import _region_names
from leadnet_shared.migrate import upgrade
from leadnet_shared.settings import database_url_for, to_plain_url
from leadnet_shared.testing import settings_on

NOW = datetime.now(UTC)
DEALERS = [f"D{n:03d}" for n in range(1, 51)]


def counties(limit: int = 300) -> list[str]:
    return [code for code in sorted(_region_names()) if not code.endswith("00")][:limit]


def lead_events(n: int, rnd: random.Random, regions: list[str]) -> list[tuple[str, bytes]]:
    """One lead's public events as (key, message), serialized as the relay would."""
    lead, customer = f"BL{n}", f"BC{n}"
    at = NOW - timedelta(days=rnd.uniform(1, 60))
    facts = {
        "lead_id": lead,
        "customer_id": customer,
        "entered_by": rnd.choice(DEALERS),
        "assigned_dealer": rnd.choice(DEALERS),
        "region_code": rnd.choice(regions),
        "product_line": rnd.choice(("tractor", "dump", "mixer", "cargo")),
        "tier": rnd.choice(("retail", "general_big", "gold_silver")),
        "source": rnd.choice(("walk_in", "phone", "insurer", "bank")),
        "network_code": rnd.choice(("N1", "N2", "N3", None)),
        "cross_region": rnd.random() < 0.3,
        "lead_version": 1,
    }
    out: list[tuple[str, str, dict[str, Any], datetime]] = [
        (
            "leadnet.lead.accepted",
            "/leadnet/router",
            facts
            | {
                "accepted_at": at.isoformat(),
                "customer": {"name": "王*", "phone": "139****0000", "address": "山东省***"},
            },
            at,
        )
    ]
    task = {
        "task_id": f"BT{n}",
        "lead_id": lead,
        "customer_id": customer,
        "dealer": facts["assigned_dealer"],
        "kind": "callback",
        "due_at": (at + timedelta(days=5)).isoformat(),
    }
    out.append(
        (
            "leadnet.task.scheduled",
            "/leadnet/scheduler",
            task | {"status": "open", "occurred_at": (at + timedelta(minutes=1)).isoformat()},
            at,
        )
    )
    done = at + timedelta(days=rnd.uniform(1, 7))
    out.append(
        (
            "leadnet.task.completed",
            "/leadnet/scheduler",
            task | {"status": "done", "outcome": "within_1_month", "occurred_at": done.isoformat()},
            done,
        )
    )
    if rnd.random() < 0.5:
        out.append(("leadnet.lead.verified", "/leadnet/scheduler", facts | {"verified_at": done.isoformat()}, done))
    if rnd.random() < 0.3:
        promo = task | {"task_id": f"BP{n}", "kind": "promotion", "status": "open", "occurred_at": done.isoformat()}
        out.append(("leadnet.task.scheduled", "/leadnet/scheduler", promo, done))
    if rnd.random() < 0.2:
        sold = done + timedelta(days=3)
        out.append(
            (
                "leadnet.sale.attributed",
                "/leadnet/router",
                {
                    "sale_id": f"BS{n}",
                    "customer_id": customer,
                    "seller": facts["assigned_dealer"],
                    "attributed_lead_id": lead,
                    "lead_entered_by": facts["entered_by"],
                    "lead_tier": facts["tier"],
                    "credited_dealer": facts["assigned_dealer"],
                    "sold_at": sold.isoformat(),
                    "vehicles": [{"vin": f"VIN{n}", "product_line": facts["product_line"]}],
                },
                sold,
            )
        )
        out.append(
            (
                "leadnet.ledger.entry_posted",
                "/leadnet/ledger",
                {
                    "entry_id": f"BE{n}",
                    "kind": "purchase_reward",
                    "dealer": facts["entered_by"],
                    "amount_fen": 10_000,
                    "lead_id": lead,
                    "customer_id": customer,
                    "sale_id": f"BS{n}",
                    "posted_at": sold.isoformat(),
                },
                sold,
            )
        )
    messages = []
    for event_type, source, data, when in out:
        envelope = Envelope.model_construct(
            id=str(uuid.uuid4()),
            type=event_type,
            source=source,
            time=when,
            subject=customer,
            dataschema=f"/schemas/{event_type}/v1",
            data=data,
            specversion="1.0",
            datacontenttype="application/json",
        )
        messages.append((customer, envelope.to_bytes()))
    return messages


async def produce(bootstrap: str, topic: str, events: int) -> int:
    rnd, regions = random.Random(1), counties()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    sent, n = 0, 0
    try:
        while sent < events:
            for key, value in lead_events(n, rnd, regions):
                await producer.send(topic, value, key=key.encode())
                sent += 1
            n += 1
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def settings_for(url: str, bootstrap: str, prefix: str, jwks: Path) -> ConsoleSettings:
    settings: ConsoleSettings = settings_on(
        ConsoleSettings, database_url=url, bootstrap=bootstrap, topic_prefix=prefix, jwks_file=jwks, log_level="WARNING"
    )
    return settings


def bare_app(settings: ConsoleSettings, batch: int) -> Any:
    """The kit's consumer loop with a handler that does nothing: the floor every consumer pays."""

    def handler(runtime: Runtime) -> BatchHandler:
        async def nothing(session: AsyncSession, envelopes: list[Envelope]) -> None:
            return None

        return nothing

    return create_service_app(
        settings=settings,
        title="bare consumer",
        tables=(OUTBOX, INBOX, KIT_STATE),
        routers=[],
        consumers=[ConsumerSpec(name="bare", topics=[LEADS], handler=handler, types=ALL_TYPES, max_records=batch)],
    )


async def consume_all(app: Any, url: str, events: int, *, within: float) -> tuple[float, int]:
    """Run the app until its inbox holds every event; events/s between the first and the last poll."""
    connection = await asyncpg.connect(to_plain_url(url))
    try:
        async with app.router.lifespan_context(app):
            deadline = time.monotonic() + within
            while await connection.fetchval("SELECT count(*) FROM inbox") < events:
                if time.monotonic() > deadline:
                    raise TimeoutError("the consumer did not finish in time")
                await asyncio.sleep(0.2)
        first, last, polls = await connection.fetchrow(
            "SELECT min(processed_at), max(processed_at), count(DISTINCT processed_at) FROM inbox"
        )
        first_poll = await connection.fetchval("SELECT count(*) FROM inbox WHERE processed_at = $1", first)
        return (events - first_poll) / max((last - first).total_seconds(), 1e-6), polls
    finally:
        await connection.close()


FILL_SQL = """
INSERT INTO leads (lead_id, customer_id, entered_by, assigned_dealer, region_code, product_line, tier, source,
    network_code, cross_region, customer_existed, status, status_at, received_at, accepted_at, rejected_at,
    reject_reason, verified_at, verified_by, promoted_at, sold_at, lead_version, updated_at)
SELECT 'F' || g, 'FC' || g, 'D' || lpad((1 + g % 50)::text, 3, '0'), 'D' || lpad((1 + (g * 7) % 50)::text, 3, '0'),
    ($3::text[])[1 + g % array_length($3::text[], 1)], (ARRAY['tractor','dump','mixer','cargo'])[1 + g % 4],
    (ARRAY['retail','retail','general_big','gold_silver'])[1 + (g / 3) % 4],
    (ARRAY['walk_in','phone','insurer','bank'])[1 + (g / 5) % 4],
    'N' || (g % 40), g % 10 < 3, g % 20 = 0, CASE WHEN g % 7 = 0 THEN 'rejected' ELSE 'accepted' END, t,
    t, CASE WHEN g % 7 = 0 THEN NULL ELSE t END, CASE WHEN g % 7 = 0 THEN t END,
    CASE WHEN g % 7 = 0 THEN 'duplicate_lead' END, CASE WHEN g % 7 <> 0 AND g % 2 = 0 THEN t + interval '3 days' END,
    'callback', CASE WHEN g % 7 <> 0 AND g % 3 = 0 THEN t + interval '1 day' END,
    CASE WHEN g % 7 <> 0 AND g % 5 = 0 THEN t + interval '9 days' END, 1, t
FROM (SELECT g, $2::timestamptz - (g % 525600) * interval '1 minute' - (g / 525600) * interval '1 second' AS t
      FROM generate_series($1::bigint, $4::bigint) AS g) AS s
"""
FILL_TASKS_SQL = """
INSERT INTO tasks (task_id, kind, dealer, lead_id, customer_id, region_code, product_line, tier, source, network_code,
    entered_by, status, status_at, due_at, scheduled_at, completed_at, closed_at, close_reason, overdue_at, updated_at)
SELECT 'FT' || substr(lead_id, 2) || k, CASE WHEN k = 1 THEN 'callback' ELSE 'promotion' END, assigned_dealer, lead_id,
    customer_id, region_code, product_line, tier, source, network_code, entered_by,
    CASE WHEN (hashtext(lead_id) + k) % 10 < 6 THEN 'done' ELSE 'open' END, received_at,
    received_at + interval '5 days', received_at + interval '1 minute',
    CASE WHEN (hashtext(lead_id) + k) % 10 < 6 THEN received_at + interval '4 days' END,
    CASE WHEN (hashtext(lead_id) + k) % 10 < 6 THEN received_at + interval '4 days' END,
    CASE WHEN (hashtext(lead_id) + k) % 10 < 6 THEN 'completed' END,
    CASE WHEN (hashtext(lead_id) + k) % 10 BETWEEN 6 AND 8 THEN received_at + interval '6 days' END, received_at
FROM leads, generate_series(1, 2) AS k
WHERE lead_id LIKE 'F%' AND accepted_at IS NOT NULL AND (k = 1 OR promoted_at IS NOT NULL)
"""
FILL_SALES_SQL = """
INSERT INTO sales (sale_id, customer_id, lead_id, seller, credited_dealer, cross_region, vehicles, region_code,
    product_line, tier, source, network_code, entered_by, sold_at, updated_at)
SELECT 'FS' || lead_id, customer_id, lead_id, assigned_dealer, assigned_dealer, cross_region, 1, region_code,
    product_line, tier, source, network_code, entered_by, sold_at, sold_at
FROM leads WHERE lead_id LIKE 'F%' AND sold_at IS NOT NULL
"""
FILL_LEDGER_SQL = """
INSERT INTO ledger_entries (entry_id, kind, dealer, amount_fen, lead_id, customer_id, region_code, product_line, tier,
    source, network_code, entered_by, posted_at)
SELECT 'FE' || lead_id, 'info_fee', entered_by, 200, lead_id, customer_id, region_code, product_line, tier, source,
    network_code, entered_by, verified_at
FROM leads WHERE lead_id LIKE 'F%' AND verified_at IS NOT NULL AND cross_region
"""


async def fill(url: str, leads: int) -> float:
    """`leads` leads' facts by SQL, in chunks (seconds taken)."""
    started = time.perf_counter()
    connection = await asyncpg.connect(to_plain_url(url))
    try:
        regions = counties()
        chunk = 500_000
        for first in range(1, leads + 1, chunk):
            await connection.execute(FILL_SQL, first, NOW, regions, min(leads, first + chunk - 1))
        for sql in (FILL_TASKS_SQL, FILL_SALES_SQL, FILL_LEDGER_SQL):
            await connection.execute(sql)
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return time.perf_counter() - started


async def overview_times(app: Any, token: str) -> dict[str, tuple[float, float]]:
    headers = {"Authorization": f"Bearer {token}"}
    requests = {
        "kpis, this month": ("/v1/insights/kpis", {"period": "month"}),
        "kpis, this quarter, province 37": ("/v1/insights/kpis", {"period": "quarter", "region": "37"}),
        "kpis, this month, one dealer": ("/v1/insights/kpis", {"period": "month", "dealer": "D007"}),
        "trend, this quarter": ("/v1/insights/trend", {"period": "quarter"}),
        "funnel by source, this month": ("/v1/insights/funnel", {"period": "month", "by": "source"}),
        "dealers, this month": ("/v1/insights/dealers", {"period": "month"}),
        "regions, this month": ("/v1/insights/regions", {"period": "month"}),
    }
    out = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=300) as client:
            for label, (path, params) in requests.items():
                times = []
                for _ in range(5):
                    started = time.perf_counter()
                    answer = await client.get(path, params=params, headers=headers)
                    times.append(time.perf_counter() - started)
                    answer.raise_for_status()
                out[label] = (statistics.median(times) * 1000, max(times) * 1000)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int, default=None, help="events ingested (default 40,000; quick 8,000)")
    parser.add_argument("--leads", type=int, default=None, help="leads for the overview (default 10M; quick 100k)")
    parser.add_argument("--batch", type=int, default=500, help="events per poll (the console's max_records)")
    parser.add_argument("--broker", default="auto", help="embedded | apache | auto (when none is given)")
    args = parser.parse_args()
    events = args.events or (8_000 if args.quick else 40_000)
    leads = args.leads or (100_000 if args.quick else 10_000_000)
    tmp = Path(tempfile.mkdtemp(prefix="console-bench-"))
    try:
        _, jwks = ensure_keys(tmp / "keys")
        token = mint_from_dir(tmp / "keys", role="hq_analyst", ttl_seconds=3600)
        with local_servers(tmp, broker=args.broker) as servers:
            print(
                f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cpus); "
                f"broker {servers.broker_kind}"
            )
            prefix = f"b{uuid.uuid4().hex[:8]}."
            await ensure_topics(servers.bootstrap_servers, prefix=prefix)
            urls = {}
            for name in ("bare", "console"):
                urls[name] = database_url_for(servers.database_url, f"bench_console_{name}_{uuid.uuid4().hex[:6]}")
                await asyncio.to_thread(upgrade, "hq_console", urls[name])
            sent = await produce(servers.bootstrap_servers, prefix + LEADS, events)
            print(f"events on {prefix + LEADS}: {sent:,} (each lead's life: accepted, tasks, verified, sale, posting)")
            settings = {name: settings_for(url, servers.bootstrap_servers, prefix, jwks) for name, url in urls.items()}
            bare_rate, bare_polls = await consume_all(
                bare_app(settings["bare"], args.batch), urls["bare"], sent, within=600
            )
            console: Any = create_app(settings["console"])
            console.consumer_specs[0].max_records = args.batch  # the spec the lifespan starts the loop from
            console_rate, console_polls = await consume_all(console, urls["console"], sent, within=1200)
            print(
                f"bare kit consumer (inbox claim + commit, no handler): {bare_rate:,.0f} events/s ({bare_polls} polls)"
            )
            print(
                f"hq-console consumer (facts ingest):                  {console_rate:,.0f} events/s "
                f"({console_polls} polls); ratio console/bare {console_rate / bare_rate:.2f}"
            )
            seconds = await fill(urls["console"], leads)
            print(f"overview: {leads:,} leads' facts filled in {seconds:,.0f} s (tasks, sales, ledger alongside)")
            for label, (median, worst) in (
                await overview_times(create_app(settings["console"], consume=False), token)
            ).items():
                print(f"  {label:<34} server time median {median:8.1f} ms, max {worst:8.1f} ms (5 calls)")
            print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
