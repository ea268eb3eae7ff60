"""rewards-ledger benchmark: balanced postings per second through the real consumer path, a few hot dealers.

Each consumer replica is its own process (as deployed), handing one poll at a time to the kit's consumer code in one
transaction, exactly as `ConsumerLoop.process` does. Production uses the batch path (one inbox claim, then the
ledger's batch handler: facts stored in bulk, each record settled once, postings + lines + outbox rows appended in
bulk); the one-by-one path (inbox claim + savepoint + handler per event) is measured too, for comparison. Polls are
serialized envelopes as they come off the topic (made from templates, so making them costs the bench little). All
records are entered by 4 dealers, so every posting credits one of 4 hot payable accounts: there is no balance row to
contend on, balances are SUMs over the append-only lines. Baseline in the same run: bare single-row INSERT commits
on the same server. The machine may be loaded by other processes: the load average is printed before and after.

    python bench/ledger_bench.py [--quick] [--replicas 2] [--batch 200]

Uses DATABASE_URL when set, else starts an embedded PostgreSQL (fsync on, synchronous_commit on).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import asyncpg

from leadnet_shared.settings import to_plain_url
from leadnet_shared.testing import bench_database_server, load_average, migrated_database

# The harness is test support (tests/ledger_harness.py), kept out of the production package: run as a script, the
# bench finds it from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.ledger_harness import LedgerHarness, lead_verified, sale_attributed

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


def templates(with_sales: bool) -> list[bytes]:
    """A record's events with placeholders for its ids (and the event ids), serialized once."""
    events = [lead_verified(lead_id="LEAD________", customer_id="CUST________", entered_by="DLR_", authorized="D900")]
    if with_sales:
        events.append(
            sale_attributed(
                sale_id="SALE________",
                customer_id="CUST________",
                lead_id="LEAD________",
                seller="D900",
                supplied_by=None,
                vehicles=[("VIN_________", "tractor")],
                entered_by="DLR_",
            )
        )
    return [e.model_copy(update={"id": f"EVID_{i + 1}".ljust(36, "_")}).to_bytes() for i, e in enumerate(events)]


def make_poll(templates_: list[bytes], *, tag: str, first: int, size: int) -> list[bytes]:
    out = []
    for n in range(first, first + size // len(templates_)):
        ident = f"{tag}-{n}".encode()  # tag: the run and the replica
        dealer = HOT_DEALERS[n % len(HOT_DEALERS)].encode()
        for i, template in enumerate(templates_):
            event_id = f"{uuid.uuid4()}".encode()
            out.append(
                template.replace(b"LEAD________", b"L" + ident)
                .replace(b"CUST________", b"C" + ident)
                .replace(b"SALE________", b"S" + ident)
                .replace(b"VIN_________", b"V" + ident)
                .replace(b"DLR_", dealer)
                .replace(f"EVID_{i + 1}______________________________".encode(), event_id)
            )
    return out


def replica(
    url: str, tag: str, batch: int, seconds: float, with_sales: bool, batch_path: bool, start_at: float
) -> tuple[list[float], int]:
    """One consumer replica (a process): polls until time is up; its poll latencies (incl. commit), fallbacks."""

    async def run() -> tuple[list[float], int]:
        harness = LedgerHarness.open(url, pool_size=2, batch=batch_path)
        shapes = templates(with_sales)
        latencies: list[float] = []
        n = 0
        polls = [make_poll(shapes, tag=tag, first=0, size=batch)]
        await asyncio.sleep(max(0.0, start_at - time.time()))
        deadline = time.perf_counter() + seconds
        try:
            while time.perf_counter() < deadline:
                n += batch
                values = polls.pop() if polls else make_poll(shapes, tag=tag, first=n, size=batch)
                t = time.perf_counter()
                await harness.deliver_raw(values)
                latencies.append(time.perf_counter() - t)
        finally:
            await harness.close()
        return latencies, harness.fallbacks

    return asyncio.run(run())


async def ledger_run(
    url: str, *, replicas: int, batch: int, seconds: float, with_sales: bool, batch_path: bool
) -> dict[str, float]:
    """Replicas deliver polls of verifications (and sales) until time is up; postings counted in the database."""
    conn = await asyncpg.connect(to_plain_url(url))
    before = int(await conn.fetchval("SELECT count(*) FROM postings"))
    start_at = time.time() + 3.0  # every replica connected and warm before the clock starts
    tag = uuid.uuid4().hex[:4]
    with ProcessPoolExecutor(replicas, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [
            asyncio.wrap_future(
                pool.submit(replica, url, f"{tag}{r}", batch, seconds, with_sales, batch_path, start_at)
            )
            for r in range(replicas)
        ]
        results = await asyncio.gather(*futures)
    elapsed = sum(sum(lat) for lat, _ in results) / replicas  # busy time of a replica, start to last commit
    latencies = [x for lat, _ in results for x in lat]
    fallbacks = sum(f for _, f in results)
    after = int(await conn.fetchval("SELECT count(*) FROM postings"))
    t = time.perf_counter()
    await conn.fetchval("SELECT -sum(amount_fen) FROM lines WHERE account = 'dealer:D001:payable'")
    balance_ms = (time.perf_counter() - t) * 1000
    hot_rows = int(await conn.fetchval("SELECT count(*) FROM lines WHERE account = 'dealer:D001:payable'"))
    dead = int(await conn.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'leadnet.event.dead_lettered'"))
    unbalanced = int(
        await conn.fetchval(
            "SELECT count(*) FROM (SELECT entry_id FROM lines GROUP BY entry_id HAVING sum(amount_fen) <> 0) x"
        )
    )
    await conn.close()
    assert dead == 0 and unbalanced == 0 and fallbacks == 0, (dead, unbalanced, fallbacks)
    return {
        "postings_per_s": (after - before) / elapsed,
        "postings": after - before,
        "txn_p50_ms": pct(latencies, 0.5),
        "txn_p99_ms": pct(latencies, 0.99),
        "txn_mean_ms": statistics.fmean(latencies) * 1000,
        "balance_sum_ms": balance_ms,
        "hot_account_lines": hot_rows,
    }


def migrate(server_url: str) -> str:
    return migrated_database(server_url, "rewards_ledger", "bench_ledger")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--replicas", type=int, default=2, help=f"consumer processes (the machine has {os.cpu_count()} cpus)"
    )
    parser.add_argument("--batch", type=int, default=200, help="events per poll")
    args = parser.parse_args()
    seconds = 5.0 if args.quick else 20.0
    with bench_database_server("ledger-bench") as server:
        url = migrate(server)
        print(f"load average before: {load_average()}")
        base1 = await baseline(url, seconds=seconds / 2, connections=1)
        base_n = await baseline(url, seconds=seconds / 2, connections=args.replicas * 4)
        print(
            f"baseline: bare single-row INSERT commits/s: {base1:,.0f} (1 conn), "
            f"{base_n:,.0f} ({args.replicas * 4} conns)"
        )
        runs = [
            (True, False, "batch path, verifications (info fee)"),
            (True, True, "batch path, verifications + sales (info fee + purchase reward)"),
            (False, False, "one-by-one path, verifications (info fee)"),
        ]
        for batch_path, with_sales, label in runs:
            r = await ledger_run(
                url,
                replicas=args.replicas,
                batch=args.batch,
                with_sales=with_sales,
                seconds=seconds if batch_path else seconds / 2,
                batch_path=batch_path,
            )
            print(
                f"ledger, {label}, {args.replicas} replicas x polls of {args.batch} events, "
                f"{len(HOT_DEALERS)} hot dealers: {r['postings_per_s']:,.0f} balanced postings/s "
                f"({r['postings']:,} postings); poll transaction incl. commit p50 {r['txn_p50_ms']:.1f} ms, "
                f"p99 {r['txn_p99_ms']:.1f} ms; ratio to bare single-row commits (1 conn): "
                f"{r['postings_per_s'] / base1:.2f}x"
            )
            print(
                f"  balance of a hot dealer by SUM over {r['hot_account_lines']:,} lines: {r['balance_sum_ms']:.1f} ms"
            )
        print(f"load average after: {load_average()}")


if __name__ == "__main__":
    asyncio.run(main())
