"""Routing decisions against a large customer registry: decisions/s and p99 decision latency of route_leads.

Seeds N customers with COPY (default 1,000,000; `--quick`: 20,000; 10,000,000 takes ~6 min) into a database built
by the router's real migrations: `--seed-workers` processes generate and COPY the rows with the random-order
indexes dropped, which are rebuilt afterwards (then VACUUM ANALYZE, as autovacuum would leave a settled registry).
A third of the customers have a fleet key, and few fleets per city exist, so a fleet key is shared by ~N/100
customers: the possible-duplicate lookups meet the common-key case. Prints the plans of the registry's lookups
(EXPLAIN ANALYZE for the statements route_leads runs) and the latency of those lookups, one key and a batch of
500 at a time. Then decides M submissions (half new customers, half existing ones entered by another dealer)
through route_leads in-process in batches of one (as the consumer's poison-event fallback delivers them), one
transaction each, sequentially (latency) and 8 at a time (throughput); then more submissions in batches of 100
and 500 (as the consumer loop delivers a poll), one batch per transaction, one batch at a time and 4 at a time:
decisions/s, batch commit latency (p50/p99), the latency per decision (batch latency / batch size) and the bench
process's CPU per decision (a steadier figure on a shared machine). The baseline, measured in the same run on the
same database and session machinery, is a bare primary-key lookup of a customer in its own transaction.

    python bench/router_bench.py [--quick] [--customers N] [--decisions M] [--batch-decisions B]
                                 [--seed-workers W] [--lookups L]

Uses DATABASE_URL when set (a server URL), else starts an embedded PostgreSQL (its data directory is removed at
the end).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from types import SimpleNamespace
from typing import Any

import asyncpg
from sqlalchemy import text

from dedup_router.batch_routing import CANDIDATES_SQL, LOCK_CUSTOMERS_SQL, route_leads
from dedup_router.dealer_index import DealerIndexCache, bump_dealers_version
from dedup_router.models import OUTBOX, Dealer
from dedup_router.possible_duplicates import NAME_COUNTY, _digest, duplicate_keys, name_pinyin
from leadnet_shared.db import Database, make_engine
from leadnet_shared.events import LeadSubmitted
from leadnet_shared.outbox import Outbox
from leadnet_shared.settings import to_asyncpg_url, to_plain_url
from leadnet_shared.testing import bench_database_server, migrated_database

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志强海燕红梅春"
CITIES = range(1, 18)  # 3701..3717: Shandong's cities
COUNTIES = range(1, 21)


def region(i: int) -> str:
    return f"37{CITIES[i % len(CITIES)]:02d}{COUNTIES[(i // len(CITIES)) % len(COUNTIES)]:02d}"


def person(i: int) -> str:
    # Deterministic per index and cheap (a seeded Random per row cost ~10 s per million rows).
    h = (i * 2654435761 + 97) % 4294967296
    given = GIVEN[h % len(GIVEN)] + (GIVEN[(h // 64) % len(GIVEN)] if (h // 4096) % 2 else "")
    return SURNAMES[(h // 8192) % len(SURNAMES)] + given


def fleet_quantity(i: int) -> int | None:
    """A third of the registry has a keyed fleet (2 or 3 of one model): a few keys shared by ~N/100 customers."""
    return None if i % 3 else 2 + (i // 3) % 2


@cache
def fleet_key(region_code: str, quantity: int) -> str | None:
    vehicles = [SimpleNamespace(brand="欧曼", model="EST 6", quantity=quantity)]
    return duplicate_keys(name=None, region_code=region_code, vehicles=vehicles).fleet_city


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
        rows.append(
            Dealer(
                code=f"T{city:02d}A",
                name="t",
                territories=[prefix],
                product_lines=["tractor"],
                capability=80,
                status="active",
                updated_at=T0,
            )
        )
        rows.append(
            Dealer(
                code=f"T{city:02d}B",
                name="t",
                territories=[prefix],
                product_lines=["tractor", "dump"],
                capability=40,
                status="active",
                updated_at=T0,
            )
        )
    rows.append(
        Dealer(
            code="P37",
            name="p",
            territories=["37"],
            product_lines=["cargo"],
            capability=50,
            status="active",
            updated_at=T0,
        )
    )
    return rows


COLUMNS = [
    "customer_id",
    "phone",
    "name",
    "address",
    "region_code",
    "tier",
    "nature",
    "assigned_dealer",
    "authorized_dealer",
    "protected_by",
    "protection_until",
    "name_county_key",
    "fleet_city_key",
    "product_line",
    "created_at",
    "updated_at",
]


async def _copy_range(url: str, start: int, stop: int) -> None:
    conn = await asyncpg.connect(to_plain_url(url))
    try:
        chunk = 50_000
        for base in range(start, stop, chunk):
            records = []
            for i in range(base, min(stop, base + chunk)):
                name, reg, qty = person(i), region(i), fleet_quantity(i)
                records.append(
                    (
                        str(uuid.UUID(int=i + 1)),
                        f"+86138{i:08d}",
                        name,
                        "山东省某市某县某路",
                        reg,
                        "retail",
                        "new",
                        None,
                        None,
                        None,
                        None,
                        name_county_key(name, reg),
                        fleet_key(reg, qty) if qty else None,
                        "tractor",
                        T0,
                        T0,
                    )
                )
            # asyncpg's COPY is binary already; generating the rows is the costly part, hence several processes.
            await conn.copy_records_to_table("customers", records=records, columns=COLUMNS)
    finally:
        await conn.close()


def _copy_worker(url: str, start: int, stop: int) -> None:
    asyncio.run(_copy_range(url, start, stop))


async def seed(url: str, n: int, workers: int) -> tuple[float, float]:
    """COPY n customers with the secondary indexes dropped, then rebuild them: (copy seconds, index seconds)."""
    conn = await asyncpg.connect(to_plain_url(url))
    try:
        # Keys, unique phone and primary key stay (ids and phones are seeded in ascending order: appends only);
        # the random-order indexes are built once at the end instead of row by row.
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'customers' AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = 'customers'::regclass)"
        )
        for row in indexes:
            await conn.execute(f'DROP INDEX "{row["indexname"]}"')
        start = time.perf_counter()
        bounds = [n * k // workers for k in range(workers + 1)]
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=_copy_worker, args=(url, lo, hi)) for lo, hi in itertools.pairwise(bounds)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
            if proc.exitcode != 0:
                raise RuntimeError(f"seeding worker failed with exit code {proc.exitcode}")
        copied = time.perf_counter() - start
        start = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for row in indexes:
            await conn.execute(row["indexdef"])
        # As autovacuum would leave a settled registry: visibility map set, so key lookups are index-only.
        await conn.execute("VACUUM ANALYZE customers")
        return copied, time.perf_counter() - start
    finally:
        await conn.close()


def submission(i: int, *, existing: int | None, rng: random.Random) -> LeadSubmitted:
    idx = existing if existing is not None else 10_000_000 + i
    phone = f"+86138{idx:08d}" if existing is not None else f"+86139{i:08d}"
    dealer = rng.choice([f"T{c:02d}{x}" for c in CITIES for x in "AB"])
    return LeadSubmitted(
        lead_id=str(uuid.uuid4()),
        entered_by=dealer,
        entered_by_role="dealer",
        submitted_at=T0 + timedelta(seconds=i),
        source="walk_in",
        record={
            "customer": {
                "name": person(idx),
                "phone": phone,
                "address": "山东省某市某县某路",
                "region_code": region(idx),
                "tier": rng.choice(["retail", "retail", "general_big"]),
                "nature": "new",
            },
            "vehicles_in_use": [{"brand": "欧曼", "model": "EST 6", "quantity": rng.choice((1, 2, 3))}],
            "purchase_intent": {"product_line": "tractor", "horizon": "within_2_weeks"},
            "product_line": "tractor",
        },
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


async def explain(db: Database, n: int) -> None:
    name, reg = person(n // 2), region(n // 2)
    fleet = fleet_key(region(0), 2)
    params: dict[str, dict[str, Any]] = {
        "customers by phone, batch (route_leads)": {
            "phones": [f"+86138{i:08d}" for i in range(0, n, max(1, n // 500))]
        },
        "candidates per key, batch (route_leads)": {"names": [name_county_key(name, reg)], "fleets": [fleet], "n": 51},
    }
    statements = {
        "customers by phone, batch (route_leads)": LOCK_CUSTOMERS_SQL.text,
        "candidates per key, batch (route_leads)": CANDIDATES_SQL.text,
    }
    queries = {
        "open leads of a customer": "SELECT lead_id FROM leads WHERE customer_id = 'c' AND entrant_key = 'T01A' "
        "AND status = 'open'",
        "HQ queue page": "SELECT * FROM customers WHERE assigned_dealer IS NULL ORDER BY customer_id LIMIT 51",
        "due protections": "SELECT * FROM customers WHERE protection_until IS NOT NULL AND protection_until <= now() "
        "ORDER BY protection_until LIMIT 200",
    }
    async with db.sessions() as session:
        for label, sql in statements.items():
            plan = (
                (await session.execute(text("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql), params[label]))
                .scalars()
                .all()
            )
            print(f"  plan[{label}]: " + " | ".join(line.strip()[:160] for line in plan))
        for label, sql in queries.items():
            plan = (await session.execute(text("EXPLAIN " + sql))).scalars().all()
            print(f"  plan[{label}]: " + " | ".join(line.strip() for line in plan[:6]))


async def lookups(db: Database, n: int, reps: int) -> None:
    """Latency of the registry reads a decision makes, one key at a time and 500 keys at a time (as a batch)."""
    rng = random.Random(11)

    def one_phone() -> dict[str, Any]:
        return {"phones": [f"+86138{rng.randrange(n):08d}"]}

    def batch_phones() -> dict[str, Any]:
        return {"phones": sorted(f"+86138{rng.randrange(n):08d}" for _ in range(500))}

    def keys(count: int) -> dict[str, Any]:
        picks = [rng.randrange(n) for _ in range(count)]
        return {
            "names": sorted({name_county_key(person(i), region(i)) for i in picks}),
            "fleets": sorted({fleet_key(region(i), 2 + i % 2) for i in picks})
            if count > 1
            else [fleet_key(region(picks[0]), 2)],
            "n": 51,
        }

    def one_name() -> dict[str, Any]:
        return {**keys(1), "fleets": []}

    def one_fleet() -> dict[str, Any]:
        return {**keys(1), "names": []}

    cases = (
        ("customer by phone (FOR UPDATE)", LOCK_CUSTOMERS_SQL, one_phone),
        ("500 customers by phone (FOR UPDATE)", LOCK_CUSTOMERS_SQL, batch_phones),
        ("candidates by name-pinyin+county", CANDIDATES_SQL, one_name),
        ("candidates by fleet+city", CANDIDATES_SQL, one_fleet),
        ("candidates for 500 records", CANDIDATES_SQL, lambda: keys(500)),
    )
    for label, sql, make in cases:
        times = []
        rows = 0
        for _ in range(reps if "500" not in label else max(20, reps // 20)):
            args = make()
            async with db.sessions() as session, session.begin():
                start = time.perf_counter()
                rows += len((await session.execute(sql, args)).all())
                times.append(time.perf_counter() - start)
                await session.rollback()
        print(
            f"  lookup {label:38}: p50 {pct(times, 50):7.2f} ms  p99 {pct(times, 99):7.2f} ms  "
            f"({len(times)} runs, {rows / len(times):.0f} rows each)"
        )


async def main(args: argparse.Namespace) -> None:
    with bench_database_server("router-bench") as server:  # a 10M registry is several GB: deleted after
        url = migrated_database(server, "dedup_router", "router_bench")
        copied, indexed = await seed(url, args.customers, args.seed_workers)
        print(
            f"seeded {args.customers:,} customers with COPY in {copied:.1f} s ({args.seed_workers} processes), "
            f"secondary indexes rebuilt and VACUUM ANALYZE in {indexed:.1f} s"
        )
        db = Database(make_engine(to_asyncpg_url(url), pool_size=10, max_overflow=0))
        outbox, cache_ = Outbox(OUTBOX), DealerIndexCache()
        async with db.transaction() as session:
            session.add_all(dealers())
            await bump_dealers_version(session)
        await explain(db, args.customers)
        await lookups(db, args.customers, args.lookups)

        rng = random.Random(7)
        subs = [
            submission(i, existing=rng.randrange(args.customers) if i % 2 else None, rng=rng)
            for i in range(args.decisions)
        ]

        def route_op(s: LeadSubmitted) -> Callable[[], Awaitable[Any]]:
            async def op() -> None:
                async with db.transaction() as session:
                    await route_leads(session, outbox, submissions=[s], now=s.submitted_at, dealers=cache_)

            return op

        def batch_op(batch: list[LeadSubmitted]) -> Callable[[], Awaitable[Any]]:
            async def op() -> None:
                async with db.transaction() as session:
                    await route_leads(session, outbox, submissions=batch, now=batch[-1].submitted_at, dealers=cache_)

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
                    await session.execute(
                        text("INSERT INTO kit_state (key, value) VALUES (:k, '1')"), {"k": f"bench-{uuid.uuid4().hex}"}
                    )

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
            bsubs = [
                submission(offset + i, existing=rng.randrange(args.customers) if i % 2 else None, rng=rng)
                for i in range(args.batch_decisions)
            ]
            offset += len(bsubs)
            batches = [bsubs[i : i + size] for i in range(0, len(bsubs), size)]
            cpu = time.process_time()
            lat, secs = await timed([batch_op(b) for b in batches], concurrency=concurrency)
            batch_runs.append((size, concurrency, len(bsubs), lat, secs, time.process_time() - cpu))
        async with db.sessions() as session:
            decided = (await session.execute(text("SELECT count(*) FROM leads"))).scalar_one()
            rejected = (
                await session.execute(text("SELECT count(*) FROM outbox WHERE event_type = 'leadnet.lead.rejected'"))
            ).scalar_one()
        await db.dispose()

        print(
            f"decisions: {len(subs) + sum(r[2] for r in batch_runs):,} ({decided:,} saved, {rejected:,} duplicates) "
            f"over {args.customers:,} customers"
        )
        for label, lat, secs in (
            ("baseline pk lookup, 1 at a time", base_seq, base_seq_s),
            ("baseline 1-row commit, 1 at a time", write_seq, write_seq_s),
            ("route_leads of 1, 1 at a time", route_seq, route_seq_s),
            ("baseline pk lookup, 8 at a time", base_par, base_par_s),
            ("route_leads of 1, 8 at a time", route_par, route_par_s),
        ):
            print(f"  {label:36}: {len(lat) / secs:6.0f} ops/s  p50 {pct(lat, 50):6.2f} ms  p99 {pct(lat, 99):6.2f} ms")
        seq_rate = len(route_seq) / route_seq_s
        for size, concurrency, n, lat, secs, cpu in batch_runs:
            label = f"route_leads batch {size}, {concurrency} at a time"
            # The router's own CPU per decision: what a shared machine's other load does not change much.
            print(
                f"  {label:36}: {n / secs:6.0f} decisions/s  batch p50 {pct(lat, 50):7.2f} ms  "
                f"p99 {pct(lat, 99):7.2f} ms  per decision p50 {pct(lat, 50) / size:5.2f} ms  "
                f"p99 {pct(lat, 99) / size:5.2f} ms  router CPU {cpu / n * 1000:5.3f} ms/decision "
                f"({len(lat)} batches)"
            )
        for size, concurrency, n, _lat, secs, _cpu in batch_runs:
            print(
                f"ratio route_leads batch {size} ({concurrency} at a time) / batches of 1, 1 at a time: "
                f"throughput {(n / secs) / seq_rate:.1f}x"
            )
        for label, route, route_s, base, base_s in (
            ("pk lookup, 1 at a time", route_seq, route_seq_s, base_seq, base_seq_s),
            ("1-row commit, 1 at a time", route_seq, route_seq_s, write_seq, write_seq_s),
            ("pk lookup, 8 at a time", route_par, route_par_s, base_par, base_par_s),
        ):
            ratio = (len(route) / route_s) / (len(base) / base_s)
            print(
                f"ratio route_leads of 1 / baseline {label}: throughput {ratio:.3f}, "
                f"p99 {pct(route, 99) / pct(base, 99):.1f}x"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 customers, fewer decisions (< 1 min)")
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--decisions", type=int, default=None)
    parser.add_argument("--batch-decisions", type=int, default=None, help="per batch configuration")
    parser.add_argument("--seed-workers", type=int, default=2, help="processes generating and COPYing customers")
    parser.add_argument("--lookups", type=int, default=2000, help="single-key registry lookups timed per kind")
    ns = parser.parse_args()
    ns.customers = ns.customers or (20_000 if ns.quick else 1_000_000)
    ns.decisions = ns.decisions or (400 if ns.quick else 6_000)
    ns.batch_decisions = ns.batch_decisions or (1_000 if ns.quick else 5_000)
    asyncio.run(main(ns))
