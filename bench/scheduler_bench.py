"""followup-scheduler firing benchmark: 10 million pending tasks, lateness at 2,000 fires/s, a 100,000-task drain.

    python bench/scheduler_bench.py            # 10,000,000 pending tasks (a few minutes to seed)
    python bench/scheduler_bench.py --quick    # 100,000 pending, smaller phases (< 1 min)
    python bench/scheduler_bench.py --plans-only   # only the plan phase below

Uses DATABASE_URL (a PostgreSQL server) when set, else an embedded PostgreSQL in a temporary directory. "Fired"
means committed: the task claimed and its `task.due` event in the outbox in one transaction (the relay's publish
to Kafka is the outbox's own concern and not measured here). Goals (issue 5): p99 lateness <= 500 ms (stretch
200 ms) at 2,000 fires/s; drain >= 5,000 tasks/s. Baselines measured in the same run on the same database:
  - bare claim: `UPDATE ... WHERE task_id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n) RETURNING` with no outbox
    (the floor: what claiming alone costs);
  - ORM worker: the previous implementation (ORM objects, pydantic envelopes, outbox rows from Python).

Plans (issue 18): a dealer with 100,000 open callback tasks (due over the next year, tiers and horizons mixed)
drafts next month's callback plan by the rules, saves it, submits it and has it approved along its chain (the lines
plan their tasks); both timed next to reading those 100,000 open tasks in one query, in the same run. The ratios
(draft / read, approve / read) are the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import select

from followup_scheduler.firing import timer_tick
from followup_scheduler.models import INBOX, KIT_STATE, OUTBOX, Task
from followup_scheduler.settings import SchedulerSettings
from followup_scheduler.tasks import task_event
from leadnet_shared.app import Runtime
from leadnet_shared.clock import SystemClock
from leadnet_shared.consumer import Inbox
from leadnet_shared.db import Database, make_engine
from leadnet_shared.events import TaskDue
from leadnet_shared.migrate import upgrade
from leadnet_shared.outbox import Outbox, Outgoing
from leadnet_shared.settings import database_url_for, to_plain_url
from leadnet_shared.testing import bench_database_server

# The tasks' columns and rows are test support (tests/scheduler_harness.py): run as a script, the bench finds them
# from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.scheduler_harness import TASK_COLUMNS, open_callback_row

BATCH = 1000


def rss_mb() -> tuple[float, float]:
    """Resident set size now and at peak (VmHWM), in MiB, of this process (which runs the firing worker)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def rows(count: int, due: Callable[[int], datetime], reason: str) -> Iterator[tuple[Any, ...]]:
    planned = datetime.now(UTC)
    run = uuid.uuid4().hex[:8]  # ids unique per call, built by formatting (uuid4() per row makes seeding CPU-bound)
    dealers = [f"D{d:03d}" for d in range(500)]
    for i in range(count):
        yield open_callback_row(
            f"{run}-0000-4000-8000-{i:012x}",
            f"{run}-0001-4000-8000-{i:012x}",
            f"{run}-0002-4000-8000-{i:012x}",
            dealers[i % 500],
            due=due(i),
            reason=reason,
            planned=planned,
        )


async def copy_tasks(
    conn: asyncpg.Connection, count: int, due: Callable[[int], datetime], reason: str = "bench", chunk: int = 200_000
) -> None:
    source = rows(count, due, reason)
    while True:
        block = [row for _, row in zip(range(chunk), source, strict=False)]
        if not block:
            return
        await conn.copy_records_to_table("tasks", columns=TASK_COLUMNS, records=block)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


Claim = Callable[[Database, Outbox, datetime], Awaitable[int]]


async def run_worker(
    db: Database, claim: Claim, *, until_count: int, deadline: float, commits: dict[datetime, float]
) -> int:
    """The firing loop of `run_timers` (claim, commit, sleep until the next due) with commit times recorded."""
    outbox = Outbox(OUTBOX)
    total = 0
    while total < until_count and time.monotonic() < deadline:
        now = datetime.now(UTC)
        fired = await claim(db, outbox, now)
        commits[now] = time.time()
        total += fired
        if fired < BATCH:
            async with db.sessions() as session:
                from followup_scheduler.tasks import next_due_at

                upcoming = await next_due_at(session)
            wait = 0.1 if upcoming is None else min(0.1, max(0.0, (upcoming - datetime.now(UTC)).total_seconds()))
            await asyncio.sleep(wait)
    return total


def set_based(runtime: Runtime) -> Claim:
    async def claim(db: Database, outbox: Outbox, now: datetime) -> int:
        return await timer_tick(runtime, now=now, batch=BATCH)

    return claim


async def bare_claim(db: Database, outbox: Outbox, now: datetime) -> int:
    from sqlalchemy import text

    async with db.transaction() as session:
        result = await session.execute(
            text(
                "UPDATE tasks SET fired_at = :now WHERE task_id IN (SELECT task_id FROM tasks WHERE fired_at IS NULL "
                "AND status = 'open' AND due_at <= :now ORDER BY due_at LIMIT :n FOR UPDATE SKIP LOCKED) "
                "RETURNING task_id"
            ),
            {"now": now, "n": BATCH},
        )
        return len(result.all())


async def orm_worker(db: Database, outbox: Outbox, now: datetime) -> int:
    """The previous implementation: ORM rows, a pydantic envelope per task, outbox rows from Python."""
    async with db.transaction() as session:
        tasks = (
            (
                await session.execute(
                    select(Task)
                    .where(Task.fired_at.is_(None), Task.status == "open", Task.due_at <= now)
                    .order_by(Task.due_at, Task.tie_break)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        events = []
        for task in tasks:
            task.fired_at = now
            events.append(
                Outgoing(
                    task_event(task, lead=None, event=TaskDue, occurred_at=now),
                    key=task.customer_id,
                    subject=task.customer_id,
                )
            )
        await outbox.publish_many(session, events, time=now)
        return len(tasks)


async def lateness_of(conn: asyncpg.Connection, commits: dict[datetime, float], marker: str) -> list[float]:
    fired = await conn.fetch("SELECT fired_at, due_at FROM tasks WHERE reason = $1 AND fired_at IS NOT NULL", marker)
    return [commits[row["fired_at"]] - row["due_at"].timestamp() for row in fired if row["fired_at"] in commits]


async def drain(conn: asyncpg.Connection, db: Database, claim: Claim, *, count: int, marker: str) -> float:
    """Seconds from the due second until the last of `count` tasks due at that same second has fired."""
    # Due once the COPY is surely done (tasks exist before they fall due), so the clock starts at the due second.
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3 + count / 20_000)
    await copy_tasks(conn, count, lambda i: due, marker)
    if datetime.now(UTC) > due:
        print("  warning: the burst was seeded after its due second; the drain time includes the overrun")
    commits: dict[datetime, float] = {}
    await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
    fired = await run_worker(db, claim, until_count=count, deadline=time.monotonic() + 600, commits=commits)
    assert fired >= count, f"drain fired {fired} of {count}"
    return max(commits.values()) - due.timestamp()


async def main(args: argparse.Namespace) -> None:
    pending, spread_rate, spread_seconds, burst = (
        (100_000, 2000, 10, 20_000) if args.quick else (args.pending, 2000, 30, 100_000)
    )
    with bench_database_server("scheduler-bench") as server:
        name = f"scheduler_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(to_plain_url(database_url_for(server, "postgres")))
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        url = database_url_for(server, name)
        thread = threading.Thread(target=upgrade, args=("followup_scheduler", url))
        thread.start()
        thread.join()
        conn = await asyncpg.connect(to_plain_url(url))
        settings = SchedulerSettings(service_database_url=url, fire_batch_size=BATCH)
        db = Database(make_engine(settings.async_dsn, pool_size=4))
        runtime = Runtime(
            settings=settings,
            db=db,
            outbox=Outbox(OUTBOX),
            inbox=Inbox(INBOX),
            tables=(OUTBOX, INBOX, KIT_STATE),
            clock=SystemClock(),
        )

        if args.plans_only:
            await plan_phase(conn, runtime)
            await conn.close()
            await db.dispose()
            return
        print(f"seeding {pending:,} pending tasks (COPY, due over the next 30 days) ...", flush=True)
        started = time.perf_counter()
        horizon = datetime.now(UTC) + timedelta(days=1)
        # A bulk load builds the secondary indexes once at the end instead of row by row (as a restore would).
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tasks' AND indexname <> 'pk_tasks'"
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        await copy_tasks(conn, pending, lambda i: horizon + timedelta(seconds=(i * 2593) % (29 * 86400)))
        copied = time.perf_counter() - started
        for index in indexes:
            await conn.execute(index["indexdef"])
        await conn.execute("ANALYZE tasks")
        seeded = time.perf_counter() - started
        print(f"  COPY {copied:.1f}s, then {len(indexes)} indexes rebuilt in {seeded - copied:.1f}s")
        # Settle the bulk load (visibility map, a checkpoint of the WAL it wrote) so the measurement that follows
        # is of firing, not of the database catching up on a 10-million-row import.
        settle = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE) tasks")
        await conn.execute("CHECKPOINT")
        print(f"  vacuum + checkpoint after the load: {time.perf_counter() - settle:.1f}s (not counted as seeding)")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('tasks'))")
        print(f"  seeded in {seeded:.1f}s ({pending / seeded:,.0f} rows/s); table with indexes {size}")

        # Lateness at a steady 2,000 fires/s: tasks due every 0.5 ms over `spread_seconds`.
        count = spread_rate * spread_seconds
        start = datetime.now(UTC) + timedelta(seconds=3 + count / 20_000)
        await copy_tasks(conn, count, lambda i: start + timedelta(seconds=i / spread_rate), "steady")
        if datetime.now(UTC) > start:
            print("  warning: the steady tasks were seeded after the first fell due; lateness includes the overrun")
        commits: dict[datetime, float] = {}
        print(f"steady load: {count:,} tasks due at {spread_rate:,}/s for {spread_seconds}s ...", flush=True)
        await run_worker(
            db, set_based(runtime), until_count=count, deadline=time.monotonic() + spread_seconds + 60, commits=commits
        )
        late = await lateness_of(conn, commits, "steady")
        assert len(late) == count, f"{len(late)} of {count} fired"
        p50, p99, worst = percentile(late, 0.5), percentile(late, 0.99), max(late)
        print(
            f"  lateness p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {worst * 1000:.0f} ms "
            f"(goal p99 <= 500 ms, stretch 200 ms)"
        )

        results: dict[str, float] = {}
        for label, claim in (
            ("set-based worker (UPDATE..RETURNING -> INSERT outbox, one statement)", set_based(runtime)),
            ("baseline: bare UPDATE..RETURNING claim, no outbox", bare_claim),
            ("baseline: previous ORM worker (objects + pydantic + outbox)", orm_worker),
        ):
            marker = f"drain-{len(results)}"
            seconds = await drain(conn, db, claim, count=burst, marker=marker)
            results[label] = burst / seconds
            print(
                f"drain {burst:,} due at the same second: {seconds:.2f}s = {burst / seconds:,.0f} tasks/s  [{label}]",
                flush=True,
            )
        ours = next(iter(results.values()))
        for label, rate in list(results.items())[1:]:
            print(f"  ratio set-based / {label.split(': ', 1)[1]}: {ours / rate:.2f}x")
        now_rss, peak = rss_mb()
        print(
            f"worker process memory: RSS {now_rss:.0f} MiB, peak {peak:.0f} MiB "
            f"(pending tasks live in PostgreSQL; the worker holds one batch)"
        )
        print(
            f"summary: pending={pending:,} seed_s={seeded:.1f} p99_ms={p99 * 1000:.0f} "
            f"drain_per_s={ours:,.0f} median_lateness_ms={statistics.median(late) * 1000:.0f}"
        )
        await plan_phase(conn, runtime)
        await conn.close()
        await db.dispose()


PLAN_DEALER, PLAN_TASKS = "PLAN01", 100_000


async def seed_plan_dealer(conn: asyncpg.Connection, count: int) -> None:
    """`count` open callback tasks of one dealer, each with its lead, due over the next 360 days."""
    now = datetime.now(UTC)
    tiers, horizons = ("gold_silver", "general_big", "retail", "retail"), ("within_2_months", "uncertain", "none", None)
    leads, tasks = [], []
    for i in range(count):
        lead, customer = f"pl{i:010d}-lead", f"pl{i:010d}-cust"
        tier, horizon = tiers[i % 4], horizons[(i // 4) % 4]
        due = now + timedelta(seconds=(i * 7919) % (360 * 86400))
        leads.append(
            (lead, customer, PLAN_DEALER, PLAN_DEALER, False, True, tier, "new", horizon, "open", now, i % 7 == 0)
        )
        tasks.append(
            (
                f"pl{i:010d}-task",
                lead,
                customer,
                PLAN_DEALER,
                "callback",
                due,
                due + timedelta(days=1),
                due + timedelta(days=2),
                "open",
                "bench-plan",
                tier,
                0,
                0,
                now,
            )
        )
    await conn.copy_records_to_table(
        "leads",
        columns=[
            "lead_id",
            "customer_id",
            "assigned_dealer",
            "authorized_dealer",
            "cross_region",
            "reward_eligible",
            "tier",
            "nature",
            "horizon",
            "status",
            "routed_at",
            "unreachable_streak",
        ],
        records=[(*row[:-1], 1 if row[-1] else 0) for row in leads],
    )
    await conn.copy_records_to_table("tasks", columns=TASK_COLUMNS, records=tasks)
    await conn.execute("ANALYZE tasks")
    await conn.execute("ANALYZE leads")


async def plan_phase(conn: asyncpg.Connection, runtime: Runtime) -> None:
    """Draft and approve a month's callback plan for a dealer with 100,000 open tasks vs one read of those tasks."""
    from sqlalchemy import text

    from followup_scheduler.models import Plan
    from followup_scheduler.plan_approval import chain_for
    from followup_scheduler.work_plans import LineIn, act_on_plan, draft_plan, save_plan, submit_plan
    from leadnet_shared.auth import Principal

    print(f"plans: seeding a dealer with {PLAN_TASKS:,} open callback tasks ...", flush=True)
    await seed_plan_dealer(conn, PLAN_TASKS)
    today = datetime.now(UTC).date()
    ahead = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    month = f"{ahead.year:04d}-{ahead.month:02d}"
    async with runtime.db.transaction() as session:
        session.add(Plan(dealer=PLAN_DEALER, month=month, sales_plan=100, updated_at=datetime.now(UTC), updated_by="b"))
    maker = Principal(sub="bench", role="dealer", dealer=PLAN_DEALER)  # no position: every dealer stage

    started = time.perf_counter()
    async with runtime.db.sessions() as session:
        read = (
            await session.execute(
                text("SELECT * FROM tasks WHERE dealer = :d AND status IN ('open', 'overdue')"), {"d": PLAN_DEALER}
            )
        ).all()
    read_s = time.perf_counter() - started
    assert len(read) == PLAN_TASKS

    started = time.perf_counter()
    async with runtime.db.sessions() as session:
        draft = await draft_plan(session, dealer=PLAN_DEALER, kind="callback", period=month, now=datetime.now(UTC))
    draft_s = time.perf_counter() - started

    now = datetime.now(UTC)
    started = time.perf_counter()
    async with runtime.db.transaction() as session:
        lines = [LineIn(customer_id=line.customer_id, target_date=line.target_date) for line in draft.lines]
        await save_plan(
            session, dealer=PLAN_DEALER, kind="callback", period=month, lines=lines, principal=maker, now=now
        )
        await submit_plan(
            session, runtime.outbox, dealer=PLAN_DEALER, kind="callback", period=month, principal=maker, now=now
        )
    save_s = time.perf_counter() - started
    started = time.perf_counter()
    hq = Principal(sub="bench-hq", role="hq_admin", dealer=None)  # no position: every HQ stage
    stages = chain_for(("gold_silver", "general_big", "retail"))
    for stage in stages:  # the mixed tiers' whole chain: dealer review and approval, then HQ's
        async with runtime.db.transaction() as session:
            plan = await act_on_plan(
                session,
                runtime.outbox,
                dealer=PLAN_DEALER,
                kind="callback",
                period=month,
                action=stage.action,
                reason=None,
                principal=maker if stage.side == "dealer" else hq,
                now=now,
            )
    approve_s = time.perf_counter() - started
    assert plan.status == "approved", plan.status
    planned = await conn.fetchval("SELECT count(*) FROM tasks WHERE plan_id = $1", plan.plan_id)
    print(
        f"  read {PLAN_TASKS:,} open tasks in one query: {read_s * 1000:.0f} ms\n"
        f"  draft {month}: {len(draft.lines):,} lines (quota {draft.quota}) in {draft_s * 1000:.0f} ms "
        f"= {draft_s / read_s:.1f}x the read\n"
        f"  save + submit: {save_s * 1000:.0f} ms; {len(stages)} approval steps (lines plan {planned:,} tasks): "
        f"{approve_s * 1000:.0f} ms = {approve_s / read_s:.1f}x the read"
    )
    print(
        f"summary-plans: open_tasks={PLAN_TASKS} lines={len(draft.lines)} read_ms={read_s * 1000:.0f} "
        f"draft_ms={draft_s * 1000:.0f} save_submit_ms={save_s * 1000:.0f} approve_ms={approve_s * 1000:.0f} "
        f"draft_ratio={draft_s / read_s:.2f} approve_ratio={approve_s / read_s:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100k pending tasks, shorter phases (CI size)")
    parser.add_argument("--pending", type=int, default=10_000_000)
    parser.add_argument("--plans-only", action="store_true", help="only the plan phase (a dealer with 100k tasks)")
    asyncio.run(main(parser.parse_args()))
