"""followup-scheduler taking in routed leads: how fast a backlog of `lead.accepted` events (what a bulk import
leaves behind) becomes followed leads with their first tasks, with the batch handler and, as the baseline in the
same run, one event at a time (the kit's per-event path with a savepoint each).

    python bench/scheduler_leads_bench.py [--events 20000] [--quick]

Real PostgreSQL (embedded unless DATABASE_URL is set) and a real broker (the embedded one unless
KAFKA_BOOTSTRAP_SERVERS is set). The events are published first; the clock starts when the first lead is in the
scheduler's table (its consumer has joined the group) and stops when every lead is. Three of four leads have a
dealer (they get a task), one waits in the HQ queue.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from followup_scheduler.app import create_app
from followup_scheduler.settings import SchedulerSettings
from leadnet_shared.auth import ensure_keys
from leadnet_shared.events import LEADS
from leadnet_shared.infra import LocalServers, local_servers
from leadnet_shared.kafka import ensure_topics
from leadnet_shared.migrate import upgrade
from leadnet_shared.settings import database_url_for
from leadnet_shared.testing import running, settings_on

# The event is test support (tests/scheduler_harness.py): run as a script, the bench finds it from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.scheduler_harness import accepted_lead


async def take_in(*, events: int, server_url: str, bootstrap: str, jwks: Path, batch: bool) -> float:
    """Seconds for a fresh scheduler to take in `events` routed leads waiting in its topic."""
    prefix = f"slb{uuid.uuid4().hex[:8]}."
    await ensure_topics(bootstrap, prefix=prefix, partitions=3)
    url = database_url_for(server_url, f"scheduler_leads_{uuid.uuid4().hex[:8]}")
    await asyncio.to_thread(upgrade, "followup_scheduler", url)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    now = datetime.now(UTC)
    try:
        for i in range(events):
            customer_id = str(uuid.uuid4())
            envelope = accepted_lead(
                str(uuid.uuid4()),
                customer_id,
                None if i % 4 == 0 else "D001",
                tier="retail",
                horizon=("within_2_weeks", "within_2_months", None)[i % 3],
                at=now,
                source="/bench",
            )
            await producer.send(prefix + LEADS, envelope.to_bytes(), key=customer_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
    settings = settings_on(
        SchedulerSettings,
        database_url=url,
        bootstrap=bootstrap,
        topic_prefix=prefix,
        jwks_file=jwks,
        log_level="WARNING",
    )
    app = create_app(settings, run_timer_worker=False, lead_batches=batch)
    started: float | None = None
    async with running(app):
        db = app.state.runtime.db
        while True:
            async with db.sessions() as session:
                count = (await session.execute(text("SELECT count(*) FROM leads"))).scalar_one()
            if count and started is None:
                started = time.perf_counter()  # from the first lead in: joining the consumer group is not counted
            if count >= events:
                break
            await asyncio.sleep(0.05)
        assert started is not None
        elapsed = time.perf_counter() - started
        async with db.sessions() as session:
            tasks = (await session.execute(text("SELECT count(*) FROM tasks"))).scalar_one()
    assigned = sum(1 for i in range(events) if i % 4 != 0)
    assert tasks == assigned, f"{tasks} tasks for {assigned} leads with a dealer"
    return elapsed


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="scheduler-leads-bench-"))
    try:
        with local_servers(tmp, broker=os.environ.get("LEADNET_BENCH_BROKER", "embedded")) as servers:
            await compare(events=args.events, servers=servers, jwks=ensure_keys(tmp / "keys")[1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def compare(*, events: int, servers: LocalServers, jwks: Path) -> None:
    rates = {}
    for label, batch in (("batch handler", True), ("one event at a time (baseline)", False)):
        seconds = await take_in(
            events=events, server_url=servers.database_url, bootstrap=servers.bootstrap_servers, jwks=jwks, batch=batch
        )
        rates[label] = events / seconds
        print(
            f"{events:,} lead.accepted taken in: {seconds:.1f} s = {rates[label]:,.0f} leads/s  [{label}]", flush=True
        )
    batch_rate, base_rate = rates.values()
    print(f"ratio batch / one at a time: {batch_rate / base_rate:.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="2,000 events")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.events = 2_000
    asyncio.run(main(arguments))
