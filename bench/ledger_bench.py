"""rewards-ledger benchmark: balanced postings per second through the real consumer path, a few hot dealers.

Each worker plays one consumer-loop instance: it hands batches of events (a poll) to the kit's consumer code
(inbox claim + savepoint per event, one transaction per batch) running the ledger's real handlers, which store
the fact, settle the record and append balanced postings (plus their outbox events). All records are entered by
4 dealers, so every posting credits one of 4 hot payable accounts: there is no balance row to contend on, balances
are SUMs over the append-only lines. Baseline in the same run: bare single-row INSERT commits on the same server.

    python bench/ledger_bench.py [--quick] [--workers 4] [--batch 100]

Uses DATABASE_URL when set, else starts an embedded PostgreSQL (fsync on, synchronous_commit on).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import asyncpg

from leadnet_shared.infra import EmbeddedPostgres
from leadnet_shared.migrate import upgrade
from leadnet_shared.settings import database_url_for, to_plain_url
from rewards_ledger.testing import LedgerHarness, lead_verified, sale_attributed

HOT_DEALERS = ("D001", "D002", "D003", "D004")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def baseline(url: str, *, seconds: float, connections: int) -> float:
    """Bare single-row INSERT, one commit each: what the server's WAL flush allows."""
    conns = [await asyncpg.connect(to_plain_url(url)) for _ in range(connections)]
    await conns[0].execute("CREATE TABLE IF NOT EXISTS bench_baseline (id bigserial PRIMARY KEY, v text)")
    done = 0
    deadline = time.perf_counter() + seconds

    async def one(conn: asyncpg.Connection) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await conn.execute("INSERT INTO bench_baseline (v) VALUES ($1)", "x")
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(one(c) for c in conns))
    elapsed = time.perf_counter() - start
    for c in conns:
        await c.close()
    return done / elapsed


async def ledger_run(url: str, *, workers: int, batch: int, seconds: float, with_sales: bool) -> dict[str, float]:
    """Workers deliver batches of verifications (and sales) until time is up; postings counted in the database."""
    harness = LedgerHarness.open(url, pool_size=workers + 2)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            events = []
            for _ in range(batch // (2 if with_sales else 1)):
                n += 1
                lead, customer = f"L{w}-{n}-{uuid.uuid4().hex[:6]}", f"C{w}-{n}"
                entrant = HOT_DEALERS[n % len(HOT_DEALERS)]
                events.append(lead_verified(lead_id=lead, customer_id=customer, entered_by=entrant,
                                            authorized="D900"))
                if with_sales:
                    events.append(sale_attributed(sale_id=f"S{lead}", customer_id=customer, lead_id=lead,
                                                  seller="D900", supplied_by=None, vehicles=[(f"V{n}", "tractor")],
                                                  entered_by=entrant))
            t = time.perf_counter()
            await harness.deliver(events)
            latencies.append(time.perf_counter() - t)

    async with harness.db.sessions() as s:
        from sqlalchemy import text

        before = int((await s.execute(text("SELECT count(*) FROM postings"))).scalar_one())
    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(workers)))
    elapsed = time.perf_counter() - start
    async with harness.db.sessions() as s:
        from sqlalchemy import text

        after = int((await s.execute(text("SELECT count(*) FROM postings"))).scalar_one())
        t = time.perf_counter()
        await s.execute(text("SELECT -sum(amount_fen) FROM lines WHERE account = 'dealer:D001:payable'"))
        balance_ms = (time.perf_counter() - t) * 1000
        hot_rows = int((await s.execute(text(
            "SELECT count(*) FROM lines WHERE account = 'dealer:D001:payable'"))).scalar_one())
        dead = int((await s.execute(text(
            "SELECT count(*) FROM outbox WHERE event_type = 'leadnet.event.dead_lettered'"))).scalar_one())
        unbalanced = int((await s.execute(text(
            "SELECT count(*) FROM (SELECT entry_id FROM lines GROUP BY entry_id HAVING sum(amount_fen) <> 0) x"
        ))).scalar_one())
    await harness.close()
    assert dead == 0 and unbalanced == 0, (dead, unbalanced)
    return {"postings_per_s": (after - before) / elapsed, "postings": after - before,
            "txn_p50_ms": pct(latencies, 0.5), "txn_p99_ms": pct(latencies, 0.99),
            "txn_mean_ms": statistics.fmean(latencies) * 1000, "balance_sum_ms": balance_ms,
            "hot_account_lines": hot_rows}


def migrate(server_url: str) -> str:
    url = database_url_for(server_url, f"bench_ledger_{uuid.uuid4().hex[:8]}")
    error: list[BaseException] = []

    def run() -> None:
        try:
            upgrade("rewards_ledger", url)
        except BaseException as exc:
            error.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if error:
        raise error[0]
    return url


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    seconds = 5.0 if args.quick else 20.0
    pg = None
    server = os.environ.get("DATABASE_URL")
    if not server:
        pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="ledger-bench-")) / "pg").start()
        server = pg.url
    try:
        url = migrate(server)
        base1 = await baseline(url, seconds=seconds / 2, connections=1)
        base_n = await baseline(url, seconds=seconds / 2, connections=args.workers * 4)
        print(f"baseline: bare single-row INSERT commits/s: {base1:,.0f} (1 conn), "
              f"{base_n:,.0f} ({args.workers * 4} conns)")
        for with_sales, label in ((False, "verifications (info fee)"), (True, "verifications + sales (info fee "
                                                                           "+ purchase reward)")):
            r = await ledger_run(url, workers=args.workers, batch=args.batch, seconds=seconds, with_sales=with_sales)
            print(f"ledger, {label}, {args.workers} workers x batches of {args.batch} events, "
                  f"{len(HOT_DEALERS)} hot dealers: {r['postings_per_s']:,.0f} balanced postings/s "
                  f"({r['postings']:,} postings); batch transaction p50 {r['txn_p50_ms']:.1f} ms, "
                  f"p99 {r['txn_p99_ms']:.1f} ms; ratio to bare single-row commits (1 conn): "
                  f"{r['postings_per_s'] / base1:.2f}x")
            print(f"  balance of a hot dealer by SUM over {r['hot_account_lines']:,} lines: "
                  f"{r['balance_sum_ms']:.1f} ms")
    finally:
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
