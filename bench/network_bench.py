"""Network evaluation benchmark: the quarterly evaluation of every owner's networks (lead_intake.network_evaluation)
against the plain aggregate of the same quarter's records per network, in the same run, on the same data.

The evaluation reads, per network, records, verified records, distinct business days and months (Asia/Shanghai)
with records, complete records and refused duplicates, joins the networks and plans, grades every network and
writes one row and one outbox event per owner. The baseline is `SELECT network_code, count(*), count(verified_at)
... GROUP BY network_code` over the same quarter: what the volume and authenticity counts alone cost. Each is run
three times (the evaluation in a transaction rolled back, so it evaluates every owner each time); medians printed.

    python bench/network_bench.py [--quick] [--networks 10000] [--records 10000000]

--quick: 1,000 networks, 300,000 records (under a minute). Uses DATABASE_URL when set, else starts an embedded
PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime

import asyncpg

from lead_intake.models import OUTBOX
from lead_intake.network_evaluation import evaluate_quarter
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.db import Database, make_engine
from leadnet_shared.outbox import Outbox
from leadnet_shared.settings import to_asyncpg_url, to_plain_url
from leadnet_shared.testing import bench_database_server, load_average, migrated_database

QUARTER = "2026Q3"
Q_START = datetime(2026, 7, 1, tzinfo=SHANGHAI).astimezone(UTC)
Q_END = datetime(2026, 10, 1, tzinfo=SHANGHAI).astimezone(UTC)
NETWORKS_PER_DEALER = 50
BASELINE_SQL = """
    SELECT network_code, count(*), count(verified_at) FROM leads
    WHERE network_code IS NOT NULL AND network_registered AND status <> 'rejected_duplicate'
      AND submitted_at >= $1 AND submitted_at < $2
    GROUP BY network_code
"""


def migrate(server_url: str) -> str:
    return migrated_database(server_url, "lead_intake", "bench_networks")


async def load(url: str, *, networks: int, records: int) -> float:
    """Networks (a tenth national, the rest 50 per dealer) and records spread over the quarter and a month either
    side, a third verified, 2 % refused duplicates; returns the seconds loading took."""
    began = time.perf_counter()
    conn = await asyncpg.connect(to_plain_url(url))
    try:
        await conn.execute(
            """
            INSERT INTO information_networks (code, name, kind, scope, owner, members, registered_by, created_at)
            SELECT 'NET-' || i, 'network ' || i, CASE WHEN i % 3 = 0 THEN 'temporary' ELSE 'fixed' END,
                   CASE WHEN i % 10 = 0 THEN 'national' ELSE 'regional' END,
                   CASE WHEN i % 10 = 0 THEN 'HQ' ELSE 'D' || lpad((i / $2)::text, 4, '0') END,
                   jsonb_build_array(jsonb_build_object('name', 'm', 'type',
                       (ARRAY['insurer','bank','fleet','info_agent','website','vehicle_broker'])[i % 6 + 1])),
                   'bench', CAST($3 AS timestamptz) - ((i % 200) + 1) * interval '1 day'
            FROM generate_series(0, $1 - 1) AS i
            """,
            networks,
            NETWORKS_PER_DEALER,
            Q_END,
        )
        chunk = 1_000_000
        for offset in range(0, records, chunk):
            n = min(chunk, records - offset)
            await conn.execute(
                """
                INSERT INTO leads (lead_id, entered_by, entered_by_role, caller_key, source, network_code, raw,
                                   normalized, status, submitted_at, verified_at, network_registered)
                SELECT md5(($1 + i)::text)::uuid::text, 'D0001', 'dealer', 'dealer:D0001', 'walk_in',
                       'NET-' || (hashint4($1 + i) & 2147483647) % $2, '{}'::jsonb,
                       CASE WHEN i % 4 = 0 THEN '{"usage": null}'::jsonb
                            ELSE '{"usage": {}, "purchase_intent": {}, "vehicles_in_use": [{}]}'::jsonb END,
                       CASE WHEN i % 50 = 0 THEN 'rejected_duplicate' ELSE 'accepted' END,
                       CAST($3 AS timestamptz) + ((($1 + i) % 150) - 30) * interval '1 day'
                           + (i % 86400) * interval '1 second',
                       CASE WHEN i % 3 = 0 THEN CAST($3 AS timestamptz) + interval '100 days' END, true
                FROM generate_series(0, $4 - 1) AS i
                """,
                offset,
                networks,
                Q_START,
                n,
            )
        await conn.execute("ANALYZE leads; ANALYZE information_networks")
    finally:
        await conn.close()
    return time.perf_counter() - began


async def baseline(url: str) -> tuple[float, int]:
    conn = await asyncpg.connect(to_plain_url(url))
    try:
        began = time.perf_counter()
        rows = await conn.fetch(BASELINE_SQL, Q_START, Q_END)
        return time.perf_counter() - began, len(rows)
    finally:
        await conn.close()


async def evaluation(db: Database) -> tuple[float, int]:
    now = datetime(2026, 10, 10, 1, tzinfo=SHANGHAI).astimezone(UTC)
    async with db.sessions() as session:
        transaction = await session.begin()
        began = time.perf_counter()
        run = await evaluate_quarter(session, Outbox(OUTBOX), quarter=QUARTER, now=now, trigger="timer")
        took = time.perf_counter() - began
        await transaction.rollback()
    return took, len(run.evaluated)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--networks", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=10_000_000)
    args = parser.parse_args()
    networks, records = (1_000, 300_000) if args.quick else (args.networks, args.records)
    db: Database | None = None
    with bench_database_server("network-bench") as server:
        try:
            url = migrate(server)
            print(f"load average before: {load_average()}")
            loaded = await load(url, networks=networks, records=records)
            print(f"loaded {networks:,} networks and {records:,} records in {loaded:.1f} s")
            db = Database(make_engine(to_asyncpg_url(url), pool_size=2, max_overflow=0))
            base_runs, eval_runs = [], []
            for _ in range(3):
                took, groups = await baseline(url)
                base_runs.append(took)
                took, owners = await evaluation(db)
                eval_runs.append(took)
            base, full = statistics.median(base_runs), statistics.median(eval_runs)
            print(f"baseline: plain aggregate per network over {QUARTER}: {base * 1000:,.0f} ms ({groups:,} networks)")
            print(
                f"evaluation of {QUARTER}: {full * 1000:,.0f} ms ({owners:,} owners, {networks:,} networks graded, "
                f"rows and events written, rolled back); ratio to the baseline: {full / base:.2f}x"
            )
            print(f"load average after: {load_average()}")
        finally:
            if db is not None:
                await db.engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
