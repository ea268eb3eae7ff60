"""A real service process under SIGTERM: it finishes in-flight requests, flushes its outbox and exits in time."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from leadnet_shared.infra import free_port, wait_for_port
from leadnet_shared.settings import to_plain_url
from leadnet_shared.testing import Infra, fresh_database, new_topic_prefix
from tests.dealers import admit_dealers
from tests.test_end_to_end import RECORD

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


class TestGracefulShutdown:
    async def test_sigterm_finishes_the_request_in_flight_and_leaves_nothing_unpublished(
        self, infra: Infra, tmp_path: Path
    ) -> None:
        url = await fresh_database(infra.database_server_url, "lead_intake")
        await admit_dealers(url, "D002")  # no router runs to register it
        prefix = await new_topic_prefix(infra.bootstrap_servers)
        port = free_port()
        env = {
            **os.environ,
            "LEADNET_INTAKE_DATABASE_URL": url,
            "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
            "LEADNET_TOPIC_PREFIX": prefix,
            "LEADNET_JWKS_FILE": infra.jwks_file,
            "LEADNET_INTAKE_PORT": str(port),
            "LEADNET_INTAKE_WAIT_BUDGET_SECONDS": "3",
            "LEADNET_ENV": "test",
        }
        log_path = tmp_path / "intake.log"
        log = log_path.open("wb")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "lead_intake",
            "serve",
            env={**env, "LEADNET_LOG_JSON": "false"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            await asyncio.to_thread(wait_for_port, port, timeout=60)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                for _ in range(100):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                    await asyncio.sleep(0.2)
                assert (await client.get("/readyz?full")).json()["checks"] == {
                    "database": "ok",
                    "tasks": "ok",
                    "verdict_listener": "ok",
                    "broker": "ok",
                }
                # No router runs, so the request waits its whole 3 s budget: SIGTERM arrives while it is in flight.
                in_flight = asyncio.create_task(
                    client.post("/v1/leads", json=RECORD, headers=infra.auth("dealer", "D002"))
                )
                await asyncio.sleep(1.0)
                started = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                response = await in_flight
                assert response.status_code == 202
                assert response.json()["status"] == "pending"
            code = await asyncio.wait_for(proc.wait(), 30)
            # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why it stopped (143).
            assert code in (0, -signal.SIGTERM)
            assert time.monotonic() - started < 30  # within a Kubernetes-style grace period
            output = log_path.read_text(errors="replace")
            assert "intake stopped" in output  # the lifespan ran to its end: consumers stopped, outbox drained
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            log.close()
        conn = await asyncpg.connect(to_plain_url(url))
        try:
            assert await conn.fetchval("SELECT count(*) FROM leads") == 1
            assert await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
        finally:
            await conn.close()
