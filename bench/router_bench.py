"""Routing decisions against a large customer registry: decisions/s and p99 decision latency of route_lead.

Seeds N customers with COPY (default 1,000,000; `--quick`: 20,000) into a database built by the router's real
migrations, then decides M submissions (half new customers, half existing ones entered by another dealer) through
route_lead in-process, one transaction each, sequentially (latency) and 8 at a time (throughput); then more
submissions through route_leads in batches of 100 and 500 (as the consumer loop delivers a poll), one batch per
transaction, one batch at a time and 4 at a time: decisions/s, batch commit latency (p50/p99) and the latency per
decision (batch latency / batch size). The baseline,
measured in the same run on the same database and session machinery, is a bare primary-key lookup of a customer
in its own transaction. Prints the query plans of the registry's lookups to show they use indexes.

    python bench/router_bench.py [--quick] [--customers N] [--decisions M] [--batch-decisions B]

Uses DATABASE_URL when set (a server URL), else starts an embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text

from dedup_router.batch_routing import route_leads
from dedup_router.dealer_index import DealerIndexCache, bump_dealers_version
from dedup_router.models import OUTBOX, Dealer
from dedup_router.possible_duplicates import NAME_COUNTY, _digest, name_pinyin
from dedup_router.routing import route_lead
from leadnet_shared.db import Database, make_engine
from leadnet_shared.events import LeadSubmitted
from leadnet_shared.infra import EmbeddedPostgres
from leadnet_shared.migrate import upgrade
from leadnet_shared.outbox import Outbox
from leadnet_shared.settings import database_url_for, to_asyncpg_url, to_plain_url

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志强海燕红梅春"
CITIES = range(1, 18)  # 3701..3717: Shandong's cities
COUNTIES = range(1, 21)


def region(i: int) -> str:
    return f"37{CITIES[i % len(CITIES)]:02d}{COUNTIES[(i // len(CITIES)) % len(COUNTIES)]:02d}"


def person(i: int) -> str:
    rng = random.Random(i)
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


@cache
def _pinyin(name: str) -> str:
    return str(name_pinyin(name))


def name_county_key(name: str, region_code: str) -> str:
    # The same digest as possible_duplicates.duplicate_keys, with the pinyin cached across a million rows.
    return str(_digest(NAME_COUNTY, region_code, _pinyin(name)))


def dealers() -> list[Dealer]:
    rows = []
    for city in CITIES:
        prefix = f"37{city:02d}"
        rows.append(Dealer(code=f"T{city:02d}A", name="t", territories=[prefix], product_lines=["tractor"],
                           capability=80, status="active", updated_at=T0))
        rows.append(Dealer(code=f"T{city:02d}B", name="t", territories=[prefix], product_lines=["tractor", "dump"],
                           capability=40, status="active", updated_at=T0))
    rows.append(Dealer(code="P37", name="p", territories=["37"], product_lines=["cargo"], capability=50,
                       status="active", updated_at=T0))
    return rows


async def seed(url: str, n: int) -> float:
    conn = await asyncpg.connect(to_plain_url(url))
    start = time.perf_counter()
    try:
        chunk = 100_000
        for base in range(0, n, chunk):
            records = []
            for i in range(base, min(n, base + chunk)):
                name, reg = person(i), region(i)
                records.append((str(uuid.UUID(int=i + 1)), f"+86138{i:08d}", name, "山东省某市某县某路", reg, "retail",
                                "new", None, None, None, None, name_county_key(name, reg), None, "tractor", T0, T0))
            await conn.copy_records_to_table(
                "customers", records=records,
                columns=["customer_id", "phone", "name", "address", "region_code", "tier", "nature",
                         "assigned_dealer", "authorized_dealer", "protected_by", "protection_until",
                         "name_county_key", "fleet_city_key", "product_line", "created_at", "updated_at"])
        await conn.execute("ANALYZE customers")
    finally:
        await conn.close()
    return time.perf_counter() - start


def submission(i: int, *, existing: int | None, rng: random.Random) -> LeadSubmitted:
    idx = existing if existing is not None else 10_000_000 + i
    phone = f"+86138{idx:08d}" if existing is not None else f"+86139{i:08d}"
    dealer = rng.choice([f"T{c:02d}{x}" for c in CITIES for x in "AB"])
    return LeadSubmitted(
        lead_id=str(uuid.uuid4()), entered_by=dealer, entered_by_role="dealer",
        submitted_at=T0 + timedelta(seconds=i), source="walk_in",
        record={"customer": {"name": person(idx), "phone": phone, "address": "山东省某市某县某路",
                             "region_code": region(idx), "tier": rng.choice(["retail", "retail", "general_big"]),
                             "nature": "new"},
                "vehicles_in_use": [{"brand": "欧曼", "model": "EST 6", "quantity": rng.choice((1, 2, 3))}],
                "purchase_intent": {"product_line": "tractor", "horizon": "within_2_weeks"},
                "product_line": "tractor"},
    )


async def timed(ops: list[Callable[[], Awaitable[Any]]], *, concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    queue = list(reversed(ops))

    async def worker() -> None:
        while queue:
            op = queue.pop()
            start = time.perf_counter()
            await op()
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000 if len(values) > 1 else 0.0


async def explain(db: Database) -> None:
    queries = {
        "customer by phone": "SELECT * FROM customers WHERE phone = '+8613800001234' FOR UPDATE",
        "possible duplicates": "SELECT customer_id FROM customers WHERE (name_county_key = 'x' OR fleet_city_key = 'y')"
                               " AND customer_id <> 'z' ORDER BY customer_id LIMIT 50",
        "open leads of a customer": "SELECT lead_id FROM leads WHERE customer_id = 'c' AND entrant_key = 'T01A' "
                                    "AND status = 'open'",
        "HQ queue page": "SELECT * FROM customers WHERE assigned_dealer IS NULL ORDER BY customer_id LIMIT 51",
        "due protections": "SELECT * FROM customers WHERE protection_until IS NOT NULL AND protection_until <= now() "
                           "ORDER BY protection_until LIMIT 200",
    }
    async with db.sessions() as session:
        for label, sql in queries.items():
            plan = (await session.execute(text("EXPLAIN " + sql))).scalars().all()
            print(f"  plan[{label}]: " + " | ".join(line.strip() for line in plan[:6]))


async def main(args: argparse.Namespace) -> None:
    server = os.environ.get("DATABASE_URL")
    pg = None
    if not server:
        pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="router-bench-")) / "pg").start()
        server = pg.url
    url = database_url_for(server, f"router_bench_{uuid.uuid4().hex[:8]}")
    try:
        thread = threading.Thread(target=upgrade, args=("dedup_router", url))
        thread.start()
        thread.join()
        seconds = await seed(url, args.customers)
        print(f"seeded {args.customers:,} customers with COPY in {seconds:.1f} s")
        db = Database(make_engine(to_asyncpg_url(url), pool_size=10, max_overflow=0))
        outbox, cache_ = Outbox(OUTBOX), DealerIndexCache()
        async with db.transaction() as session:
            session.add_all(dealers())
            await bump_dealers_version(session)
        await explain(db)

        rng = random.Random(7)
        subs = [submission(i, existing=rng.randrange(args.customers) if i % 2 else None, rng=rng)
                for i in range(args.decisions)]

        def route_op(s: LeadSubmitted) -> Callable[[], Awaitable[Any]]:
            async def op() -> None:
                async with db.transaction() as session:
                    await route_lead(session, outbox, submitted=s, now=s.submitted_at, prefix="", dealers=cache_)
            return op

        def batch_op(batch: list[LeadSubmitted]) -> Callable[[], Awaitable[Any]]:
            async def op() -> None:
                async with db.transaction() as session:
                    await route_leads(session, outbox, submissions=batch, now=batch[-1].submitted_at, prefix="",
                                      dealers=cache_)
            return op

        def pk_op(i: int) -> Callable[[], Awaitable[Any]]:
            cid = str(uuid.UUID(int=i + 1))

            async def op() -> None:
                async with db.transaction() as session:
                    (await session.execute(text("SELECT * FROM customers WHERE customer_id = :c"), {"c": cid})).one()
            return op

        def write_op(i: int) -> Callable[[], Awaitable[Any]]:
            async def op() -> None:  # the cost of any durable commit: one row, one WAL flush
                async with db.transaction() as session:
                    await session.execute(text("INSERT INTO kit_state (key, value) VALUES (:k, '1')"),
                                          {"k": f"bench-{uuid.uuid4().hex}"})
            return op

        half = len(subs) // 2
        write_seq, write_seq_s = await timed([write_op(i) for i in range(half)], concurrency=1)
        base_seq, base_seq_s = await timed([pk_op(rng.randrange(args.customers)) for _ in range(half)], concurrency=1)
        route_seq, route_seq_s = await timed([route_op(s) for s in subs[:half]], concurrency=1)
        base_par, base_par_s = await timed([pk_op(rng.randrange(args.customers)) for _ in range(half)], concurrency=8)
        route_par, route_par_s = await timed([route_op(s) for s in subs[half:]], concurrency=8)
        batch_runs = []
        offset = len(subs)
        for size, concurrency in ((100, 1), (500, 1), (100, 4), (500, 4)):
            bsubs = [submission(offset + i, existing=rng.randrange(args.customers) if i % 2 else None, rng=rng)
                     for i in range(args.batch_decisions)]
            offset += len(bsubs)
            batches = [bsubs[i:i + size] for i in range(0, len(bsubs), size)]
            lat, secs = await timed([batch_op(b) for b in batches], concurrency=concurrency)
            batch_runs.append((size, concurrency, len(bsubs), lat, secs))
        async with db.sessions() as session:
            decided = (await session.execute(text("SELECT count(*) FROM leads"))).scalar_one()
            rejected = (await session.execute(
                text("SELECT count(*) FROM outbox WHERE event_type = 'leadnet.lead.rejected'"))).scalar_one()
        await db.dispose()

        print(f"decisions: {len(subs) + sum(r[2] for r in batch_runs):,} ({decided:,} saved, {rejected:,} duplicates) "
              f"over {args.customers:,} customers")
        for label, lat, secs in (("baseline pk lookup, 1 at a time", base_seq, base_seq_s),
                                 ("baseline 1-row commit, 1 at a time", write_seq, write_seq_s),
                                 ("route_lead,       1 at a time", route_seq, route_seq_s),
                                 ("baseline pk lookup, 8 at a time", base_par, base_par_s),
                                 ("route_lead,       8 at a time", route_par, route_par_s)):
            print(f"  {label:36}: {len(lat) / secs:6.0f} ops/s  p50 {pct(lat, 50):6.2f} ms  p99 {pct(lat, 99):6.2f} ms")
        seq_rate = len(route_seq) / route_seq_s
        for size, concurrency, n, lat, secs in batch_runs:
            label = f"route_leads batch {size}, {concurrency} at a time"
            print(f"  {label:36}: {n / secs:6.0f} decisions/s  batch p50 {pct(lat, 50):7.2f} ms  "
                  f"p99 {pct(lat, 99):7.2f} ms  per decision p50 {pct(lat, 50) / size:5.2f} ms  "
                  f"p99 {pct(lat, 99) / size:5.2f} ms  ({len(lat)} batches)")
        for size, concurrency, n, _lat, secs in batch_runs:
            print(f"ratio route_leads batch {size} ({concurrency} at a time) / route_lead 1 at a time: "
                  f"throughput {(n / secs) / seq_rate:.1f}x")
        for label, route, route_s, base, base_s in (
                ("pk lookup, 1 at a time", route_seq, route_seq_s, base_seq, base_seq_s),
                ("1-row commit, 1 at a time", route_seq, route_seq_s, write_seq, write_seq_s),
                ("pk lookup, 8 at a time", route_par, route_par_s, base_par, base_par_s)):
            ratio = (len(route) / route_s) / (len(base) / base_s)
            print(f"ratio route_lead / baseline {label}: throughput {ratio:.3f}, "
                  f"p99 {pct(route, 99) / pct(base, 99):.1f}x")
    finally:
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 customers, fewer decisions (< 1 min)")
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--decisions", type=int, default=None)
    parser.add_argument("--batch-decisions", type=int, default=None, help="per batch configuration")
    ns = parser.parse_args()
    ns.customers = ns.customers or (20_000 if ns.quick else 1_000_000)
    ns.decisions = ns.decisions or (400 if ns.quick else 6_000)
    ns.batch_decisions = ns.batch_decisions or (1_000 if ns.quick else 5_000)
    asyncio.run(main(ns))
