"""Log lines are JSON an operator can act on: an unhandled error's line carries its stack trace."""

from __future__ import annotations

import logging

import httpx
import orjson
import pytest
from fastapi import FastAPI

from leadnet_shared.app import install_problem_handlers
from leadnet_shared.logging import configure_logging


async def test_an_unhandled_error_is_logged_with_its_stack_trace(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(service="logtest")  # its handler writes to the sys.stderr capsys put in place
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("the ledger exploded")

    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/boom")
    finally:
        logging.getLogger().handlers.clear()

    assert response.status_code == 500
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    [line] = [entry for entry in lines if entry["event"].startswith("unhandled error on GET /boom")]
    assert "exc_info" not in line  # not the tuple's repr
    assert "Traceback (most recent call last)" in line["exception"]
    assert "in boom" in line["exception"]
    assert "RuntimeError: the ledger exploded" in line["exception"]
    assert line["service"] == "logtest"
