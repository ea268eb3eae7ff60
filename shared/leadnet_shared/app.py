"""The service runtime and app factory: every service is built the same way.

The lifespan builds and disposes everything the app holds (engine, producer, relay, consumer loops, background
workers) in a typed `Runtime`; on shutdown (SIGTERM) the service stops being ready, lets the consumers finish their
batch and commit offsets, flushes its outbox, then closes.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, ORJSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, Histogram, generate_latest
from sqlalchemy import Table, text
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadnet_shared.access import WRITES, consumer_group_prefix, source_of
from leadnet_shared.auth import TokenVerifier
from leadnet_shared.clock import Clock, SystemClock
from leadnet_shared.consumer import BatchHandler, ConsumerLoop, Inbox, inbox_purge_step
from leadnet_shared.db import Database, make_engine
from leadnet_shared.events import DEAD_LETTERS
from leadnet_shared.http import DEFAULT_BODY_LIMIT, BodyLimit
from leadnet_shared.kafka import KafkaSecurity, broker_cluster_id, start_producer
from leadnet_shared.openapi import install_openapi
from leadnet_shared.outbox import Outbox, OutboxRelay
from leadnet_shared.problems import (
    PROBLEM_JSON,
    FieldProblem,
    MalformedJson,
    NotFound,
    ServiceError,
    Unavailable,
    ValidationFailed,
    pointer_from_loc,
)
from leadnet_shared.settings import ServiceSettings
from leadnet_shared.workers import PeriodicWorker, periodic

log = logging.getLogger(__name__)

REQUEST_SECONDS = Histogram(
    "leadnet_http_request_seconds",
    "HTTP request latency",
    ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def observe_request(service: str, method: str, route: str, status: int, started: float) -> None:
    """One request into the latency histogram, by route template and status (RequestTimer and the fast lanes)."""
    REQUEST_SECONDS.labels(service, method, route, str(status)).observe(time.perf_counter() - started)


@dataclass
class ConsumerSpec:
    """A consumer group of this service: its topics (logical names), its batch handler and the event types it
    handles."""

    name: str
    topics: list[str]
    handler: Callable[[Runtime], BatchHandler]  # batch-first: the consumer's only decision path
    types: frozenset[str]  # event types it handles; any other type is acknowledged, skipped
    max_records: int = 500
    # type -> the only CloudEvents `source` accepted for it (`leadnet_shared.access.trusted_sources`): consumers
    # that pay money set it, and an event of a handled type from another source is refused and dead-lettered.
    sources: Mapping[str, str] | None = None


Worker = Callable[["Runtime"], Coroutine[Any, Any, None]]

# A service's own readiness condition (e.g. intake's verdict listener): raises, with a message that names the
# problem, when the process should not get traffic. Registered in `Runtime.readiness_checks` by a startup hook.
ReadinessCheck = Callable[[], Awaitable[None]]

FastLane = Callable[[Request], Awaitable[Response | None]]
"""A hot route's handler called before FastAPI's layers: returns the response, raises what the route would raise
(rendered by the app's own exception handlers), or returns None *before reading the body* to hand the request to
the documented FastAPI route."""


@dataclass
class Runtime:
    """Everything a running service holds, available as `request.app.state.runtime`."""

    settings: ServiceSettings
    db: Database
    outbox: Outbox
    inbox: Inbox
    tables: tuple[Table, Table, Table]
    clock: Clock
    verifier: TokenVerifier | None = None
    relay: OutboxRelay | None = None
    consumers: list[ConsumerLoop] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    readiness_checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    periodic: list[PeriodicWorker] = field(default_factory=list)  # timers and purges (`workers.periodic`)
    producer: AIOKafkaProducer | None = None
    # The service's own state (intake's verdict waiter and rate limiters, the router's dealer cache): one typed
    # object per service, reached through `state_of`, instead of a dict of Any by name.
    service_state: object = None
    ready: bool = False
    stopping: bool = False


def problem_response(error: ServiceError, request: Request | None = None) -> JSONResponse:
    return JSONResponse(
        error.to_problem(instance=str(request.url.path) if request else None),
        status_code=error.status,
        media_type=PROBLEM_JSON,
        headers=error.headers or None,
    )


_PYDANTIC_CODES = {
    "missing": "missing_field",
    "extra_forbidden": "unknown_field",
    "literal_error": "invalid_enum",
    "enum": "invalid_enum",
    "string_too_long": "too_long",
    "string_too_short": "too_short",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "nul_character": "invalid_character",
    # Raised as `PydanticCustomError("invalid_phone", ...)` by a model that normalizes a phone while validating, so
    # a bad phone is reported with the body's other field problems, not in a second round.
    "invalid_phone": "invalid_phone",
    # Null given for a field that may be left out but not emptied (a PATCH's fields): the wrong type.
    "null_not_allowed": "invalid_type",
}


def field_problems_from_validation(errors: Sequence[Any]) -> list[FieldProblem]:
    problems = []
    for err in errors:
        loc = err.get("loc", ())
        code = _PYDANTIC_CODES.get(err.get("type", ""), "invalid_value")
        if err.get("type", "").endswith("_type") or err.get("type") in (
            "int_parsing",
            "float_parsing",
            "bool_parsing",
            "datetime_parsing",
        ):
            code = "invalid_type"
        problems.append(FieldProblem(pointer_from_loc(loc), code, str(err.get("msg", "invalid"))))
    return problems


def install_problem_handlers(app: FastAPI) -> None:
    """One place that renders every error as RFC 9457 problem details."""

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> Response:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem_response(MalformedJson("The request body is not valid JSON."), request)
        if any(e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",) for e in errors):
            # An empty body is not JSON: the same 400 intake's own parser gives, not a 422 about a field "body".
            return problem_response(MalformedJson("The request body is empty; a JSON document is required."), request)
        return problem_response(
            ValidationFailed(
                "The request has field problems; see errors.", errors=field_problems_from_validation(errors)
            ),
            request,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI wraps whatever its body parsing raised in a bare 400: the body limit's 413 stays itself, and
            # invalid UTF-8 or nesting too deep for the parser is malformed JSON like any other.
            cause = exc.__cause__
            if isinstance(cause, ServiceError):
                return problem_response(cause, request)
            if isinstance(cause, ValueError | RecursionError):
                return problem_response(MalformedJson("The request body is not valid JSON."), request)
        if exc.status_code == 404:
            return problem_response(NotFound("No such resource."), request)
        err = ServiceError(str(exc.detail), code="method_not_allowed" if exc.status_code == 405 else "http_error")
        err.status = exc.status_code
        err.title = "Method not allowed" if exc.status_code == 405 else "HTTP error"
        return problem_response(err, request)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Response:
        # The caller hung up before we read its body: nothing was saved and nobody is listening for an answer.
        return Response(status_code=499)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> Response:
        if exc.connection_invalidated:
            # The server dropped the connection (a restart, a failover; the pool does not ping before use):
            # nothing was committed, and the pool has already discarded it. Safe to retry, with the same key.
            log.warning("database connection lost on %s %s", request.method, request.url.path)
            return problem_response(
                Unavailable("The database connection was lost; retry the request.", headers={"Retry-After": "1"}),
                request,
            )
        return await _unhandled(request, exc)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(ServiceError("An internal error occurred; it has been logged."), request)


def shutdown_budget(settings: ServiceSettings) -> float:
    """Seconds the lifespan may spend stopping: the shutdown budget less uvicorn's wait for requests in flight."""
    return settings.shutdown_timeout_seconds - settings.shutdown_http_seconds


def create_service_app(
    *,
    settings: ServiceSettings,
    title: str,
    tables: tuple[Table, Table, Table],
    routers: Iterable[APIRouter],
    consumers: Sequence[ConsumerSpec] = (),
    workers: Sequence[Worker] = (),
    on_startup: Sequence[Callable[[Runtime], Awaitable[None]]] = (),
    on_shutdown: Sequence[Callable[[Runtime], Awaitable[None]]] = (),
    clock: Clock | None = None,
    verifier: TokenVerifier | None = None,
    run_relay: bool = True,
    fast_lanes: Mapping[tuple[str, str], FastLane] | None = None,
    max_body_bytes: int = DEFAULT_BODY_LIMIT,
    body_limits: Mapping[tuple[str, str], int] | None = None,
) -> FastAPI:
    """Build a service app; nothing connects until the lifespan starts. `fast_lanes` maps (method, path) of a hot
    route to a `FastLane` (see `ServiceApp`). A request body past `max_body_bytes`, or past its route's own limit in
    `body_limits` ((method, path) → bytes), is refused with 413 before it is parsed (`BodyLimit`)."""
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(
            make_engine(
                settings.async_dsn,
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                pre_ping=settings.db_pool_pre_ping,
                statement_timeout_ms=settings.db_statement_timeout_ms,
                lock_timeout_ms=settings.db_lock_timeout_ms,
                command_timeout=settings.db_command_timeout_seconds or None,
            )
        )
        outbox_table, inbox_table, _ = tables
        outbox = Outbox(
            outbox_table,
            topic_prefix=settings.topic_prefix,
            source=source_of(settings.service),
            writes=WRITES.get(settings.service),
        )
        security = KafkaSecurity.from_settings(settings)
        runtime = Runtime(
            settings=settings,
            db=db,
            outbox=outbox,
            inbox=Inbox(inbox_table),
            tables=tables,
            clock=clock,
            verifier=verifier or TokenVerifier.from_settings(settings),
        )
        app.state.runtime = runtime
        app.state.verifier = runtime.verifier
        producer = await start_producer(
            settings.kafka_bootstrap_servers,
            idempotence=settings.kafka_idempotence,
            client_id=f"leadnet-{settings.service}",
            security=security,
        )
        runtime.producer = producer
        if run_relay:
            runtime.relay = OutboxRelay(
                db=db,
                table=outbox_table,
                state_table=tables[2],
                producer=producer,
                service=settings.service,
                clock=clock,
                retention=timedelta(hours=settings.outbox_retention_hours),
                personal_data_retention=timedelta(minutes=settings.outbox_personal_data_retention_minutes),
            )
            await runtime.relay.reconcile_with_broker(
                await broker_cluster_id(settings.kafka_bootstrap_servers, security=security)
            )
            runtime.tasks.append(asyncio.create_task(runtime.relay.run(), name="outbox-relay"))
        for hook in on_startup:
            await hook(runtime)
        for spec in consumers:
            loop = ConsumerLoop(
                name=spec.name,
                service=settings.service,
                topics=[settings.topic(t) for t in spec.topics],
                handler=spec.handler(runtime),
                types=spec.types,
                db=db,
                inbox=runtime.inbox,
                outbox=runtime.outbox,
                bootstrap_servers=settings.kafka_bootstrap_servers,
                group_id=consumer_group_prefix(settings.service, settings.topic_prefix) + spec.name,
                dead_letter_topic=settings.topic(DEAD_LETTERS),
                max_attempts=settings.consumer_max_attempts,
                max_records=spec.max_records,
                clock=clock,
                kafka_options=security.options(),
                sources=spec.sources,
            )
            await loop.start()
            runtime.consumers.append(loop)
            runtime.tasks.append(asyncio.create_task(loop.run(), name=f"consumer-{spec.name}"))
        for worker in [*workers, *([periodic("inbox-purge", inbox_purge_step)] if consumers else [])]:
            runtime.tasks.append(asyncio.create_task(worker(runtime), name=getattr(worker, "__name__", "worker")))
        runtime.tasks.append(asyncio.create_task(_probe_broker(runtime), name="broker-probe"))
        runtime.ready = True
        log.info("%s started", settings.service)
        try:
            yield
        finally:
            # The lifespan's share of the shutdown budget (uvicorn spent the rest on requests in flight): every step
            # gets what is left, so the process is gone before the orchestrator's grace period ends.
            deadline = asyncio.get_running_loop().time() + shutdown_budget(settings)

            def left(cap: float) -> float:
                return max(0.0, min(cap, deadline - asyncio.get_running_loop().time()))

            runtime.ready = False
            runtime.stopping = True
            for loop in runtime.consumers:
                loop.stop()
            if runtime.relay is not None:
                runtime.relay.stop()
            _, pending = await asyncio.wait(runtime.tasks, timeout=left(10)) if runtime.tasks else (set(), set())
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if runtime.relay is not None:
                try:  # what the consumers' last batches wrote must still leave before we go
                    await asyncio.wait_for(runtime.relay.drain(within=left(5)), timeout=left(5) + 0.5)
                except Exception:
                    log.exception("outbox drain on shutdown failed; the next start publishes the rest")
            for shutdown_hook in on_shutdown:
                try:
                    await asyncio.wait_for(shutdown_hook(runtime), timeout=max(left(float("inf")), 0.5))
                except TimeoutError:
                    log.error(
                        "shutdown hook %s ran out of the shutdown budget", getattr(shutdown_hook, "__name__", "?")
                    )
            try:
                await asyncio.wait_for(producer.stop(), timeout=max(left(float("inf")), 1.0))
            except TimeoutError:
                log.error("the Kafka producer did not stop within the shutdown budget")
            await db.dispose()
            log.info("%s stopped", settings.service)

    app = ServiceApp(
        title=title,
        lifespan=lifespan,
        default_response_class=ORJSONResponse,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        # Metrics are Prometheus (leadnet_shared.metrics); FastAPI's OpenTelemetry hooks only cost a
        # provider lookup per request here.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_problem_handlers(app)
    install_openapi(app)
    install_ops_routes(app, settings)
    for router in routers:
        app.include_router(router)

    app.add_middleware(BodyLimit, default=max_body_bytes, limits=body_limits)
    app.add_middleware(RequestTimer, service=settings.service)  # added last: outermost, so it times the 413s too
    app.service = settings.service
    app.consumer_specs = list(consumers)
    app.fast_lanes = dict(fast_lanes or {})
    return app


class ServiceApp(FastAPI):
    """FastAPI with fast lanes for the few routes that carry the load.

    Under load, much of intake's CPU per record went to the layers between uvicorn and the endpoint (Starlette's
    middleware, route matching, dependency solving, exception wrappers: docs/performance.md, "Fast lanes"). A fast
    lane answers its (method, path) directly with the same endpoint code, renders errors with the same exception
    handlers and records the same latency metric; the FastAPI route stays for the OpenAPI document and for whatever
    the lane hands back (it returns None, e.g. for a header FastAPI must validate and word)."""

    service: str = "unknown"
    consumer_specs: list[ConsumerSpec] = []  # noqa: RUF012 - replaced per instance by create_service_app
    fast_lanes: dict[tuple[str, str], FastLane] = {}  # noqa: RUF012 - replaced per instance by create_service_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.fast_lanes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        if lane is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self  # what Starlette sets: `request.app` is how endpoints find the runtime
        start = time.perf_counter()
        request = Request(scope, receive, send)
        try:
            response = await lane(request)
        except Exception as exc:
            response = await self._render_error(request, exc)
        if response is None:
            await super().__call__(scope, receive, send)
            return
        try:
            await response(scope, receive, send)
        finally:
            observe_request(self.service, scope["method"], scope["path"], response.status_code, start)

    async def _render_error(self, request: Request, exc: Exception) -> Response:
        """The response the app's exception handlers give for `exc` (most specific class first), as on a route."""
        for cls in type(exc).__mro__:
            handler = self.exception_handlers.get(cls)
            if handler is not None:
                response = handler(request, exc)
                return await response if inspect.isawaitable(response) else response
        raise exc


class RequestTimer:
    """Request latency per route and status, as plain ASGI middleware.

    `@app.middleware("http")` runs every request through a task and memory streams of its own; on the intake hot
    path that cost a visible share of a core, while timing needs only the start and the status.
    """

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            observe_request(
                self.service, scope["method"], getattr(scope.get("route"), "path", "unmatched"), status, start
            )


def install_ops_routes(app: FastAPI, settings: ServiceSettings) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz(request: Request) -> Response:
        runtime: Runtime | None = getattr(request.app.state, "runtime", None)
        if runtime is None:
            return ORJSONResponse({"status": "starting"})
        # Liveness reflects progress: a consumer loop that died or stopped polling (e.g. wedged after a broker
        # restart), or a periodic worker whose step hangs, makes the process unhealthy so the orchestrator restarts
        # it instead of leaving it running.
        now = runtime.clock.now()
        stuck = [
            c.name for c in runtime.consumers if c.started.is_set() and (now - c.last_progress).total_seconds() > 120
        ]
        stuck += [w.name for w in runtime.periodic if w.wedged(now)]
        dead = [t.get_name() for t in runtime.tasks if t.done() and not runtime.stopping]
        if stuck or dead:
            return ORJSONResponse({"status": "unhealthy", "stuck": stuck, "dead": dead}, status_code=503)
        return ORJSONResponse({"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        """Ready for traffic: the database answers, every consumer and worker task is alive, and the service's own
        checks pass. The broker is not required (intake keeps saving into its outbox, reads need no broker, and a
        Kafka outage must not empty every Service): it is reported by `/readyz?full` and `leadnet_broker_up`."""
        runtime: Runtime | None = getattr(request.app.state, "runtime", None)
        checks: dict[str, str] = {}
        if runtime is None or not runtime.ready:
            return ORJSONResponse(
                {"status": "not_ready", "checks": {"lifecycle": "starting_or_stopping"}}, status_code=503
            )
        try:
            async with runtime.db.sessions() as session:
                await asyncio.wait_for(session.execute(text("SELECT 1")), timeout=2)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        ended = sorted(t.get_name() for t in runtime.tasks if t.done())
        checks["tasks"] = f"error: ended: {', '.join(ended)}" if ended else "ok"
        for name, check in runtime.readiness_checks.items():
            try:
                await asyncio.wait_for(check(), timeout=2)
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"error: {exc or type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        if "full" in request.query_params:
            checks["broker"] = await broker_check(runtime)
        return ORJSONResponse(
            {"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)


BROKER_UP = Gauge("leadnet_broker_up", "1 when the Kafka broker answered the last metadata request", ["service"])


async def broker_check(runtime: Runtime) -> str:
    """Whether the broker answers a metadata request (reported, never a condition of readiness)."""
    try:
        assert runtime.producer is not None
        await asyncio.wait_for(runtime.producer.client.fetch_all_metadata(), timeout=2)
    except Exception as exc:
        BROKER_UP.labels(runtime.settings.service).set(0)
        return f"error: {type(exc).__name__}"
    BROKER_UP.labels(runtime.settings.service).set(1)
    return "ok"


async def _probe_broker(runtime: Runtime, *, every: float = 15.0) -> None:
    """Keeps `leadnet_broker_up` current, for alerts (readiness does not depend on the broker)."""
    next_probe = 0.0
    while not runtime.stopping:  # a flag, not an event: looked at twice a second, so shutdown never waits on this
        if asyncio.get_running_loop().time() >= next_probe:
            next_probe = asyncio.get_running_loop().time() + every
            await broker_check(runtime)
        await asyncio.sleep(0.5)


StateT = TypeVar("StateT")


def state_of(runtime: Runtime, kind: type[StateT], *, create: Callable[[], StateT] | None = None) -> StateT:
    """The service's typed state; made by `create` on first use if given, else set by the service's startup."""
    if runtime.service_state is None and create is not None:
        runtime.service_state = create()
    state = runtime.service_state
    if not isinstance(state, kind):
        raise RuntimeError(f"the service state is {type(state).__name__}, not {kind.__name__}: is it started?")
    return state


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime
