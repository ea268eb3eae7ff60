"""Structured logs (structlog over the standard library): JSON lines with ids, never phone numbers or names; a
redaction processor masks what slips through anyway (`leadnet_shared.redaction`)."""

from __future__ import annotations

import logging
import sys

import structlog

from leadnet_shared.redaction import redact_personal_data


def configure_logging(*, level: str = "INFO", json_lines: bool = True, service: str = "leadnet") -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        # `exc_info` arrives as the (type, value, traceback) tuple: rendered as is, JSON would get its repr and lose
        # the stack trace of every unhandled error; format_exc_info turns it into the `exception` text first, and
        # the redaction then masks personal data in the message, the fields and that text alike.
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_personal_data,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    structlog.contextvars.bind_contextvars(service=service)
    # Access logs would repeat every request line; metrics cover that.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
