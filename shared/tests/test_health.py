"""Liveness reflects progress: a consumer that stopped polling (e.g. wedged after a broker restart) or a worker
that died makes /healthz fail, so the orchestrator restarts the process instead of leaving it running."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import httpx
from fastapi import FastAPI

from leadnet_shared.app import install_ops_routes, install_problem_handlers
from leadnet_shared.clock import FrozenClock
from leadnet_shared.workers import WEDGED_AFTER_SECONDS, PeriodicWorker


def _app(runtime: Any) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_ops_routes(app, settings=None)  # type: ignore[arg-type]
    app.state.runtime = runtime
    return app


async def _probe(runtime: Any, path: str = "/healthz") -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(runtime)), base_url="http://t") as client:
        return await client.get(path)


def _runtime(
    *,
    clock: FrozenClock | None = None,
    consumers: list[SimpleNamespace] | None = None,
    tasks: list[asyncio.Task[None]] | None = None,
    stopping: bool = False,
    **more: Any,
) -> SimpleNamespace:
    """The parts of a service's runtime the probes read, running and healthy unless told otherwise."""
    more.setdefault("periodic", [])
    return SimpleNamespace(
        clock=clock or FrozenClock(), consumers=consumers or [], tasks=tasks or [], stopping=stopping, **more
    )


def _consumer(clock: FrozenClock, *, idle_for: timedelta) -> SimpleNamespace:
    started = asyncio.Event()
    started.set()
    return SimpleNamespace(name="verdicts", started=started, last_progress=clock.now() - idle_for)


class TestLiveness:
    async def test_a_consumer_polling_recently_is_alive(self) -> None:
        clock = FrozenClock()
        response = await _probe(_runtime(clock=clock, consumers=[_consumer(clock, idle_for=timedelta(seconds=5))]))
        assert response.status_code == 200

    async def test_a_consumer_stuck_for_minutes_fails_liveness(self) -> None:
        clock = FrozenClock()
        response = await _probe(_runtime(clock=clock, consumers=[_consumer(clock, idle_for=timedelta(minutes=3))]))
        assert response.status_code == 503
        assert response.json()["stuck"] == ["verdicts"]

    async def test_a_worker_that_died_fails_liveness(self) -> None:
        async def crash() -> None:
            raise RuntimeError("timer loop crashed")

        task = asyncio.create_task(crash(), name="timers")
        await asyncio.gather(task, return_exceptions=True)
        response = await _probe(_runtime(tasks=[task]))
        assert response.status_code == 503
        assert response.json()["dead"] == ["timers"]

    async def test_a_periodic_worker_whose_step_hangs_fails_liveness_and_one_backing_off_does_not(self) -> None:
        clock = FrozenClock()
        release = asyncio.Event()

        async def hanging() -> float:
            await release.wait()
            return 60.0

        async def failing() -> float:
            raise ConnectionError("database down")

        async def no_sleep(_: float) -> None:
            await asyncio.sleep(0)

        hung = PeriodicWorker("purge", hanging, clock=clock, sleep=no_sleep)
        backing_off = PeriodicWorker("timers", failing, clock=clock, sleep=no_sleep, max_backoff=1.0)
        stop = False
        tasks = [asyncio.create_task(w.run(stopping=lambda: stop)) for w in (hung, backing_off)]
        try:
            await asyncio.sleep(0.05)
            runtime = _runtime(clock=clock, periodic=[hung, backing_off])
            assert (await _probe(runtime)).status_code == 200
            clock.advance(timedelta(seconds=WEDGED_AFTER_SECONDS + 1))
            await asyncio.sleep(0.05)  # the failing worker retries on its (instant) backoff and stays expected
            response = await _probe(runtime)
            assert response.status_code == 503
            assert response.json()["stuck"] == ["purge"]
            release.set()
            await asyncio.sleep(0.05)
            assert (await _probe(runtime)).status_code == 200  # the step returned: it waits 60 s, on time
            assert backing_off.consecutive_failures > 1  # it kept retrying all along
        finally:
            stop = True
            release.set()
            await asyncio.gather(*tasks)

    def test_backoff_stays_at_its_ceiling_after_any_number_of_failures(self) -> None:
        async def step() -> float:
            return 0.0

        worker = PeriodicWorker("timers", step, clock=FrozenClock(), max_backoff=60.0)
        for failures, ceiling in [(1, 1.0), (3, 4.0), (7, 60.0), (1025, 60.0), (10**6, 60.0)]:
            worker.consecutive_failures = failures  # 2.0 ** 1024 overflowed: the worker died after ~17 h down
            assert ceiling / 2 <= worker.backoff() <= ceiling

    async def test_not_ready_while_starting_or_stopping(self) -> None:
        response = await _probe(_runtime(stopping=True, ready=False), "/readyz")
        assert response.status_code == 503
