"""The kit's periodic worker: liveness on the injected clock, jittered exponential backoff after failures, a log
that reports a failing step sparsely and its recovery once, and a prompt stop."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime

import pytest

from leadnet_shared.clock import FrozenClock
from leadnet_shared.workers import PeriodicWorker


class Flaky:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> float:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError("database is down")
        return 7.0


async def test_backoff_grows_jittered_and_progress_is_on_the_service_clock(caplog: pytest.LogCaptureFixture) -> None:
    clock = FrozenClock(datetime(2026, 12, 5, tzinfo=UTC))
    worker = PeriodicWorker("purge", Flaky(failures=9), clock=clock, max_backoff=60.0, rng=random.Random(1))
    with caplog.at_level(logging.INFO, logger="leadnet_shared.workers"):
        waits = [await worker.run_once() for _ in range(10)]
    for n, wait in enumerate(waits[:9], start=1):
        ceiling = min(60.0, 2.0 ** (n - 1))
        assert ceiling / 2 <= wait <= ceiling, (n, wait)
    assert len(set(waits[:9])) == 9  # jittered: replicas failing together do not retry together
    assert waits[9] == 7.0 and worker.consecutive_failures == 0
    assert worker.last_progress == clock.now()
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.args for r in failures] == [("purge", 1), ("purge", 2), ("purge", 4), ("purge", 8)]
    assert all(r.exc_info for r in failures)  # each reported one carries its stack trace
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == ["purge recovered after 9 failures"]


async def test_a_sleeping_worker_stops_within_the_stop_check() -> None:
    stopping = False
    steps = 0

    async def step() -> float:
        nonlocal steps
        steps += 1
        return 3600.0

    worker = PeriodicWorker("timer", step, clock=FrozenClock())
    task = asyncio.create_task(worker.run(stopping=lambda: stopping))
    await asyncio.sleep(0.05)
    stopping = True
    await asyncio.wait_for(task, timeout=1.0)
    assert steps == 1 and worker.last_progress is not None
