"""Periodic workers (timers, purges), one way: a step that says how long to wait before the next one, run until
the service stops, with liveness (when it last made progress), jittered exponential backoff after a failure and
logs that report a failing step once, then sparsely, then its recovery, instead of one stack trace per second.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter

from leadnet_shared.clock import Clock

if TYPE_CHECKING:
    from leadnet_shared.app import Runtime

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[float]]
"""One pass of the worker; returns the seconds to wait before the next pass (0: a backlog, go on at once)."""

STOP_CHECK_SECONDS = 0.5  # how soon a sleeping worker notices the service stopping
WORKER_FAILURES = Counter("leadnet_worker_failures_total", "Failed passes of a periodic worker", ["service", "worker"])
WEDGED_AFTER_SECONDS = 300.0  # a step running this much longer than expected is hung (liveness fails)


class PeriodicWorker:
    def __init__(
        self,
        name: str,
        step: Step,
        *,
        clock: Clock,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        max_backoff: float = 60.0,
        rng: random.Random | None = None,
        service: str = "leadnet",
    ) -> None:
        self.name = name
        self.failures = WORKER_FAILURES.labels(service, name)
        self.step = step
        self.clock = clock
        # Timers that wait for business time sleep on the service clock (a test advances it); the rest sleep in
        # real time, so that a frozen test clock does not turn their poll into a busy loop.
        self.sleep = sleep or asyncio.sleep
        self.max_backoff = max_backoff
        self.rng = rng or random.Random()
        self.last_progress: datetime | None = None
        self.consecutive_failures = 0
        # When the next pass should have finished by: set before each wait, so a step that hangs (a lost connection
        # awaited for ever) shows as overdue, while a step that fails and backs off does not (restarting the process
        # would not heal a database outage).
        self.expected_by: datetime | None = None

    def backoff(self) -> float:
        """After the n-th failure in a row: 2^(n-1) seconds up to `max_backoff`, jittered down by up to half so
        that replicas failing together do not retry together."""
        # The exponent is capped: 2.0 ** 1024 overflows, which after ~17 hours of failures at a 60 s ceiling
        # would crash the worker instead of letting it retry.
        ceiling = min(self.max_backoff, 2.0 ** min(self.consecutive_failures - 1, 30))
        return ceiling * self.rng.uniform(0.5, 1.0)

    async def run_once(self) -> float:
        """One pass; the wait before the next (the step's, or the backoff after a failure)."""
        try:
            wait = await self.step()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.consecutive_failures += 1
            self.failures.inc()
            n = self.consecutive_failures
            if n & (n - 1) == 0:  # the 1st, 2nd, 4th, 8th... failure in a row: a trace, not a flood
                log.exception("%s failed (%d in a row); retrying with backoff", self.name, n)
            return self.backoff()
        if self.consecutive_failures:
            log.info("%s recovered after %d failures", self.name, self.consecutive_failures)
            self.consecutive_failures = 0
        self.last_progress = self.clock.now()
        return max(0.0, wait)

    def wedged(self, now: datetime) -> bool:
        """Liveness: the current pass is overdue by more than `WEDGED_AFTER_SECONDS`."""
        return self.expected_by is not None and now > self.expected_by + timedelta(seconds=WEDGED_AFTER_SECONDS)

    async def run(self, *, stopping: Callable[[], bool]) -> None:
        while not stopping():
            self.expected_by = self.clock.now()
            wait = await self.run_once()
            self.expected_by = self.clock.now() + timedelta(seconds=wait)
            while wait > 0 and not stopping():
                pause = min(wait, STOP_CHECK_SECONDS)
                await self.sleep(pause)
                wait -= pause


def periodic(
    name: str, make_step: Callable[[Runtime], Step], *, on_service_clock: bool = False, max_backoff: float = 60.0
) -> Callable[[Runtime], Coroutine[Any, Any, None]]:
    """A `create_service_app` worker running `make_step(runtime)` until the service stops; the worker is listed in
    `runtime.periodic` (its `last_progress` is its liveness)."""

    async def worker(runtime: Runtime) -> None:
        runner = PeriodicWorker(
            name,
            make_step(runtime),
            clock=runtime.clock,
            sleep=runtime.clock.sleep if on_service_clock else None,
            max_backoff=max_backoff,
            service=runtime.settings.service,
        )
        runtime.periodic.append(runner)
        await runner.run(stopping=lambda: runtime.stopping)

    worker.__name__ = name
    return worker
