"""`python -m <service> serve|migrate`: how containers, Jobs and `leadnet up` start a service."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from leadnet_shared.logging import configure_logging
from leadnet_shared.settings import ServiceSettings


def main(
    *, package: str, settings_factory: Callable[[], ServiceSettings], app_path: str, argv: list[str] | None = None
) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {package}")
    parser.add_argument("command", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    settings = settings_factory()
    configure_logging(level=settings.log_level, json_lines=settings.log_json, service=settings.service)
    if args.command == "migrate":
        from leadnet_shared.migrate import upgrade

        upgrade(package, settings.async_dsn)
        return
    import uvicorn

    config: dict[str, Any] = {
        "host": settings.host,
        "port": settings.http_port,
        "factory": True,
        "log_config": None,
        "access_log": False,
        # Requests in flight get this much of the shutdown budget; the lifespan has the rest (ServiceSettings).
        "timeout_graceful_shutdown": max(1, math.ceil(settings.shutdown_http_seconds)),
        "loop": "uvloop",
        "http": "httptools",
        "workers": settings.workers,  # every worker runs the whole lifespan: relay, consumers, committer
    }
    uvicorn.run(app_path, **config)
