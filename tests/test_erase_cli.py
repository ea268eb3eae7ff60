"""`leadnet erase-customer`: the command an operator runs for an erasure request, against a router serving HTTP."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import uvicorn
from sqlalchemy import text
from typer.testing import CliRunner

from dedup_router.app import create_app
from dedup_router.settings import RouterSettings
from leadnet.cli import app as cli
from leadnet_shared.testing import Infra, eventually, fresh_database, new_topic_prefix, running, service_settings

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _started(server: uvicorn.Server) -> Any:
    async def started() -> bool:
        return bool(server.started)

    return started


async def test_the_command_erases_a_customer_and_says_so_for_an_unknown_one(infra: Infra) -> None:
    url = await fresh_database(infra.database_server_url, "dedup_router")
    settings = service_settings(
        RouterSettings, infra, database_url=url, topic_prefix=await new_topic_prefix(infra.bootstrap_servers)
    )
    router = create_app(settings)
    async with running(router):  # lifespan once; the HTTP server below serves the same app without its own
        async with router.state.runtime.db.transaction() as session:
            await session.execute(
                text(
                    "INSERT INTO customers (customer_id, phone, name, address, region_code, tier, nature) "
                    "VALUES ('C-erase', '+8613800138000', '张三丰', '山东省潍坊市诸城市密州街道幸福路18号', "
                    "'370782', 'retail', 'new')"
                )
            )
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(router, host="127.0.0.1", port=port, lifespan="off", log_level="error"))
        serving = asyncio.create_task(server.serve())
        try:
            await eventually(_started(server))
            base = f"http://127.0.0.1:{port}"

            def run(*args: str) -> tuple[int, str]:
                result = CliRunner().invoke(cli, ["erase-customer", *args, "--url", base])
                return result.exit_code, result.output

            code, out = await asyncio.to_thread(run, "C-erase", "--token", infra.token("hq_admin"))
            assert (code, out.strip()) == (0, "customer C-erase erased")
            code, out = await asyncio.to_thread(run, "no-such-customer", "--token", infra.token("hq_admin"))
            assert code == 1 and "not_found" in out
            code, out = await asyncio.to_thread(run, "C-erase", "--token", infra.token("dealer", "D001"))
            assert code == 1 and "403" in out
        finally:
            server.should_exit = True
            await serving
        async with router.state.runtime.db.sessions() as session:
            left = await session.execute(text("SELECT count(*) FROM customers"))
            assert left.scalar_one() == 0
