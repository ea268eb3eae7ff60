"""The console's routes under `/console/`: pages, drill-down lists, exports, the live stream, static files, login.

Who may look: HQ roles (hq_admin, hq_analyst) see everything, masked; HQ regional staff (a `regions` claim) see
their regions only; a dealer is refused (403). A person comes in through a session cookie (the development login
link or OpenID Connect) or, for scripts, a bearer token like every other API.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import io
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from openpyxl import Workbook

from hq_console import periods
from hq_console.repository import facts
from hq_console.web import views
from hq_console.web.filters import PERIODS, Filters
from hq_console.web.i18n import LANGUAGE_COOKIE, LANGUAGES, Translator, pick_language
from hq_console.web.session import (
    FLOW_COOKIE,
    FLOW_TTL_SECONDS,
    SESSION_COOKIE,
    SESSION_TTL_SECONDS,
    ConsoleSession,
    OidcClient,
    OidcConfig,
    OneTimeLogins,
    Signer,
    principal_from_login_link,
    session_from,
    session_value,
    shared_session_secret,
)
from hq_console.web.viewmodel import Column, PageView, Table, Tile
from leadnet_shared.app import Runtime, runtime_of, state_of
from leadnet_shared.auth import Principal, TokenVerifier, verify_bearer
from leadnet_shared.problems import ServiceError
from leadnet_shared.spreadsheets import spreadsheet_cell

PREFIX = "/console"
STATIC_DIR = Path(str(resources.files("hq_console.web") / "static"))
PAGES = ("overview", "funnel", "dealers", "regions", "networks", "customers")
STREAM_POLL_SECONDS = 1.0
STREAM_KEEPALIVE_SECONDS = 15.0

router = APIRouter(prefix=PREFIX, include_in_schema=False)

# CSP: scripts, styles, images, fonts and connections from this origin only; no inline script or handler, no
# eval, no framing. ECharts draws on canvas, HTMX swaps HTML; neither needs more.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def security_headers(production: bool) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        # The login link's token is in a URL once: no page passes its URL on to another site.
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }
    if production:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


# ---- the web state a running console holds ------------------------------------------------------------------


@dataclass
class WebState:
    signer: Signer | None  # from LEADNET_CONSOLE_SESSION_SECRET, else read from the database on first use
    logins: OneTimeLogins
    login_verifier: TokenVerifier | None  # development login links; None in production
    oidc: OidcClient | None
    production: bool
    watermark: Watermark


def web_state(runtime: Runtime) -> WebState:
    return state_of(runtime, WebState, create=lambda: _new_web_state(runtime))


async def signer_of(runtime: Runtime) -> Signer:
    """The session signer: the configured secret, else one the console keeps in its own database, so every
    replica signs and reads the same cookies without another Secret to deploy."""
    state = web_state(runtime)
    if state.signer is None:
        async with runtime.db.transaction() as db:
            state.signer = Signer(await shared_session_secret(db))
    return state.signer


def _new_web_state(runtime: Runtime) -> WebState:
    from hq_console.web.config import WebConfig

    config = WebConfig()
    production = runtime.settings.env == "production"
    secret = config.session_secret.get_secret_value().encode() if config.session_secret else None
    oidc = None
    if config.oidc_issuer:
        oidc = OidcClient(
            OidcConfig(
                issuer=config.oidc_issuer,
                client_id=config.oidc_client_id,
                client_secret=config.oidc_client_secret.get_secret_value() if config.oidc_client_secret else None,
                redirect_url=config.oidc_redirect_url,
                scopes=config.oidc_scopes,
            )
        )
    login_verifier = None
    if not production and runtime.verifier is not None:
        login_verifier = config.login_verifier(runtime.settings)
    return WebState(
        signer=Signer(secret) if secret else None,
        logins=OneTimeLogins(),
        login_verifier=login_verifier,
        oidc=oidc,
        production=production,
        watermark=Watermark(runtime),
    )


# ---- templates ------------------------------------------------------------------------------------------------


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("hq_console.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = static_url
    env.globals["periods"] = PERIODS
    env.globals["url_prefix"] = PREFIX
    env.globals["fmt"] = fmt_number
    # What only some pages set: the live stream's URL and the page navigation.
    env.globals["stream_url"] = None
    env.globals["nav"] = None
    return env


@cache
def _static_version(name: str) -> str:
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    """A static file's URL with its content hash, so browsers cache it for a year and still get a new release."""
    return f"{PREFIX}/static/{name}?v={_static_version(name)}"


def fmt_number(value: Any, money: bool = False, percent: bool = False) -> str:
    if value is None:
        return "–"
    if percent:
        return f"{float(value) * 100:.1f}%"
    if money:
        return f"¥{int(value) / 100:,.2f}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{int(value):,}"


class Page:
    """Everything a template needs about the request: language, session, filters, URLs."""

    def __init__(self, request: Request, session: ConsoleSession | None, filters: Filters | None = None) -> None:
        self.request = request
        self.session = session
        self.filters = filters
        self.lang = pick_language(request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE))
        self.t = Translator(self.lang)

    @property
    def other_lang(self) -> str:
        return next(lang for lang in LANGUAGES if lang != self.lang)

    @property
    def lang_query(self) -> str:
        """This page's query string in the other language (the language switch's link)."""
        params = dict(self.request.query_params)
        params["lang"] = self.other_lang
        return urlencode(params)

    def render(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        """The template with this page (`page.cell`, `page.lang_query`, ...) and the page's own `context`."""
        body = (
            environment()
            .get_template(template)
            .render(_=self.t, page=self, lang=self.lang, session=self.session, filters=self.filters, **context)
        )
        response = HTMLResponse(body, status_code=status)
        self.finish(response)
        return response

    def finish(self, response: Response) -> None:
        production = runtime_of(self.request).settings.env == "production"
        response.headers.update(security_headers(production))
        response.headers["Cache-Control"] = "no-store"
        if self.request.query_params.get("lang") in LANGUAGES:
            response.set_cookie(
                LANGUAGE_COOKIE, self.lang, max_age=365 * 86400, httponly=True, samesite="lax", secure=production
            )

    def cell(self, value: Any, column: Column) -> str:
        if value is None or value == "":
            return "–"
        if column.percent and isinstance(value, int | float):
            return f"{value * 100:.1f}%"
        if column.numeric or column.money:
            return fmt_number(value, column.money)
        if isinstance(value, datetime):
            return value.astimezone(periods.zone()).strftime("%Y-%m-%d %H:%M")
        if isinstance(value, bool):
            return self.t("value.yes" if value else "value.no")
        return str(value)

    def change_text(self, tile: Tile) -> str:
        change = tile.change
        previous = fmt_number(tile.previous, tile.money, tile.percent)
        if change is None:
            return self.t("kpi.no_previous", previous=previous)
        sign = "+" if change > 0 else ""
        amount = f"{sign}{change * 100:.1f} pp" if tile.percent else f"{sign}{change * 100:.1f}%"
        return self.t("kpi.change", change=amount, previous=previous)

    def export_href(self, table: Table, fmt: str) -> str:
        params = dict(self.request.query_params)
        params.pop("lang", None)
        params["table"] = table.id
        params["format"] = fmt
        return f"{self.request.url.path.rstrip('/')}/export?{urlencode(params)}"


def nav_for(current: str, filters: Filters) -> list[dict[str, Any]]:
    query = filters.query()
    return [{"href": f"{PREFIX}/{name}?{query}", "label": f"nav.{name}", "current": name == current} for name in PAGES]


# ---- who is asking ---------------------------------------------------------------------------------------------


class NeedsLogin(Exception):
    pass


class Refused(Exception):
    pass


async def caller(request: Request) -> ConsoleSession:
    """The session (or bearer token) of an HQ person; raises NeedsLogin or Refused."""
    runtime = runtime_of(request)
    header = request.headers.get("authorization")
    if header and header.lower().startswith("bearer ") and runtime.verifier is not None:
        try:
            principal = await verify_bearer(runtime.verifier, header[7:].strip())
        except ServiceError as exc:
            raise NeedsLogin from exc
        session = ConsoleSession(principal=principal, csrf="")
    else:
        signer = await signer_of(runtime)
        found = session_from(signer.loads(request.cookies.get(SESSION_COOKIE), purpose="session"))
        if found is None:
            raise NeedsLogin
        session = found
    if not session.principal.is_hq:
        raise Refused
    return session


def refused(request: Request, exc: Exception) -> Response:
    page = Page(request, None)
    if isinstance(exc, NeedsLogin):
        # Scripts, HTMX refreshes and the live stream get a 401 (a browser's EventSource stops on it instead of
        # following a redirect to an HTML page and reconnecting for ever); a person is sent to the login page.
        if (
            request.headers.get("authorization")
            or request.headers.get("hx-request")
            or request.url.path.endswith("/stream")
        ):
            return page.render("error.html", status=401, title="error.unauthenticated", message="error.login_again")
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        page.finish(response)
        return response
    return page.render("error.html", status=403, title="error.forbidden", message="error.dealers_refused")


def filters_of(request: Request) -> Filters:
    now = runtime_of(request).clock.now()
    return Filters.parse(dict(request.query_params), today=periods.today(now))


PageHandler = Callable[[Request, ConsoleSession], Awaitable[Response]]


def for_hq(handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
    """A page for HQ people: anybody else is sent to log in, or refused, before `handler` runs."""

    async def page(request: Request) -> Response:
        try:
            session = await caller(request)
        except (NeedsLogin, Refused) as exc:
            return refused(request, exc)
        return await handler(request, session)

    # FastAPI reads the route's name and description from these (not functools.wraps: FastAPI would then take the
    # handler's own parameters for query parameters).
    page.__name__, page.__qualname__, page.__doc__ = handler.__name__, handler.__qualname__, handler.__doc__
    return page


# ---- pages -----------------------------------------------------------------------------------------------------


@router.get("")
@router.get("/")
async def root() -> Response:
    return RedirectResponse(f"{PREFIX}/overview", status_code=303)


async def build_view(request: Request, name: str, session: ConsoleSession, filters: Filters) -> PageView:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as db:
        return await views.build(name, db, session.principal, filters, Page(request, session).t, runtime.clock.now())


def _page_route(name: str) -> None:
    async def page(request: Request, session: ConsoleSession) -> Response:
        filters = filters_of(request)
        view = await build_view(request, name, session, filters)
        ctx = Page(request, session, filters)
        runtime = runtime_of(request)
        async with runtime.db.transaction() as db:
            options = await views.filter_options(db, session.principal, filters, ctx.t)
        return ctx.render(
            "page.html",
            view=view,
            nav=nav_for(name, filters),
            filter_options=options,
            stream_url=f"{PREFIX}/stream",
        )

    async def export(request: Request, session: ConsoleSession) -> Response:
        view = await build_view(request, name, session, filters_of(request))
        return export_response(request, session, view.table(request.query_params.get("table", "")), name)

    router.add_api_route(f"/{name}", for_hq(page), methods=["GET"], name=f"console_{name}")
    router.add_api_route(f"/{name}/export", for_hq(export), methods=["GET"], name=f"console_{name}_export")


for _name in PAGES:
    _page_route(_name)


async def _list(
    request: Request, session: ConsoleSession, filters: Filters, t: Translator, *, limit: int = views.LIST_PAGE
) -> tuple[Table, str | None, int | None] | None:
    """The page of the list `?measure=` names (None: no such list)."""
    measure = request.query_params.get("measure", "")
    if measure not in views.MEASURES:
        return None
    runtime = runtime_of(request)
    async with runtime.db.transaction() as db:
        return await views.drill_list(
            db, session.principal, filters, measure, request.query_params, t, runtime.clock.now(), limit=limit
        )


@router.get("/list")
@for_hq
async def drill_list(request: Request, session: ConsoleSession) -> Response:
    """The masked list behind a number: `?measure=` and the page's filters (plus the cell's own dimension)."""
    filters = filters_of(request)
    ctx = Page(request, session, filters)
    found = await _list(request, session, filters, ctx.t)
    if found is None:
        return ctx.render("error.html", status=404, title="error.not_found", message="error.no_such_list")
    table, next_cursor, total = found
    next_href = None
    if next_cursor:
        params = dict(request.query_params)
        params["cursor"] = next_cursor
        next_href = f"{PREFIX}/list?{urlencode(params)}"
    back = request.query_params.get("from_page", "overview")
    back_page = back if back in PAGES else "overview"
    return ctx.render(
        "list.html",
        table=table,
        total=total if total is not None else len(table.rows),
        measure=table.id,
        next_href=next_href,
        back_href=f"{PREFIX}/{back_page}?{filters.query()}",
        nav=nav_for(back_page, filters),
    )


@router.get("/list/export")
@for_hq
async def drill_list_export(request: Request, session: ConsoleSession) -> Response:
    found = await _list(request, session, filters_of(request), Page(request, session).t, limit=views.EXPORT_LIMIT)
    if found is None:
        return Response(status_code=404)
    return export_response(request, session, found[0], f"list-{found[0].id}")


# ---- export ----------------------------------------------------------------------------------------------------


def export_rows(table: Table, t: Translator) -> tuple[list[str], list[list[Any]]]:
    header = [t(col.label) for col in table.columns]
    rows = []
    for row in table.rows:
        cells: list[Any] = []
        for col in table.columns:
            value = row.get(col.key)
            if isinstance(value, datetime):
                value = value.astimezone(periods.zone()).strftime("%Y-%m-%d %H:%M")
            elif col.money and isinstance(value, int):
                value = value / 100  # yuan in a spreadsheet; the API keeps fen
            cells.append(spreadsheet_cell(value))
        rows.append(cells)
    return header, rows


def export_response(request: Request, session: ConsoleSession, table: Table | None, stem: str) -> Response:
    page = Page(request, session)
    if table is None:
        return page.render("error.html", status=404, title="error.not_found", message="error.no_such_table")
    header, rows = export_rows(table, page.t)
    fmt = request.query_params.get("format", "csv")
    filename = f"{stem}-{table.id}"
    if fmt == "xlsx":
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = table.id[:31]
        sheet.append(header)
        for line in rows:
            sheet.append(line)
        buffer = io.BytesIO()
        book.save(buffer)
        response: Response = Response(
            buffer.getvalue(),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
        )
    else:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(header)
        writer.writerows(rows)
        # A BOM so that Excel on a Chinese Windows reads the file as UTF-8 and not as GBK.
        response = Response(
            "\ufeff" + text.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )
    page.finish(response)
    return response


# ---- live updates ----------------------------------------------------------------------------------------------


class Watermark:
    """How far the console's history has got, read by one poller per process however many pages are open (a page
    waits on it, not on the database). The mark is read from the database, not from this process's consumer, so a
    page served by one replica hears about events another replica ingested."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.version = 0
        self.listeners = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def wait(self, seen: int, patience: float) -> int:
        """The version after `seen` (returns at once if it moved on already), or `seen` after `patience` s."""
        self.listeners += 1
        try:
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._poll())
                self.runtime.tasks.append(self._task)  # cancelled with the service's other tasks at shutdown
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(patience):
                        await self._changed.wait_for(lambda: self.version != seen)
                return self.version
        finally:
            self.listeners -= 1

    async def _poll(self) -> None:
        last = await _watermark(self.runtime)
        while not self.runtime.stopping and self.listeners > 0:
            await asyncio.sleep(STREAM_POLL_SECONDS)
            mark = await _watermark(self.runtime)
            if mark != last:
                last = mark
                async with self._changed:
                    self.version += 1
                    self._changed.notify_all()


@router.get("/stream")
@for_hq
async def stream(request: Request, session: ConsoleSession) -> Response:
    """Server-sent events: `update` whenever the console's history moved on (a new event ingested), so an open
    page re-fetches its numbers without a reload; a comment every 15 s keeps proxies from closing the stream."""
    runtime = runtime_of(request)
    watermark = web_state(runtime).watermark

    async def events() -> AsyncIterator[bytes]:
        seen = watermark.version
        yield b"retry: 3000\n\n"
        while not runtime.stopping:
            if await request.is_disconnected():
                return
            version = await watermark.wait(seen, STREAM_KEEPALIVE_SECONDS)
            if version != seen:
                seen = version
                yield f"event: update\ndata: {version}\n\n".encode()
            else:
                yield b": keepalive\n\n"

    response = StreamingResponse(events(), media_type="text/event-stream")
    response.headers.update(security_headers(runtime.settings.env == "production"))
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # an nginx ingress would hold the stream in its buffer
    return response


async def _watermark(runtime: Runtime) -> str:
    async with runtime.db.transaction() as db:
        return await facts.watermark(db)


# ---- static files ---------------------------------------------------------------------------------------------

_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".woff2": "font/woff2"}


@cache
def static_files() -> dict[str, Path]:
    """The files the console serves, listed once: a request can name nothing else (no path tricks, no stat)."""
    return {
        path.relative_to(STATIC_DIR).as_posix(): path
        for path in STATIC_DIR.rglob("*")
        if path.is_file() and path.suffix in _STATIC_TYPES
    }


@router.get("/static/{name:path}")
async def static(name: str, request: Request) -> Response:
    path = static_files().get(name)
    if path is None:
        return Response(status_code=404)
    response = FileResponse(path, media_type=_STATIC_TYPES[path.suffix])
    response.headers["Cache-Control"] = (
        "public, max-age=31536000, immutable" if request.query_params.get("v") else "no-cache"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


# ---- login -----------------------------------------------------------------------------------------------------


async def _start_session(request: Request, principal: Principal) -> Response:
    state = web_state(runtime_of(request))
    signer = await signer_of(runtime_of(request))
    page = Page(request, None)
    if not principal.is_hq:
        return page.render("error.html", status=403, title="error.forbidden", message="error.dealers_refused")
    response = RedirectResponse(f"{PREFIX}/overview", status_code=303)
    cookie = signer.dumps(session_value(principal), purpose="session", ttl_seconds=SESSION_TTL_SECONDS)
    _set_signed_cookie(response, SESSION_COOKIE, cookie, max_age=SESSION_TTL_SECONDS, secure=state.production)
    response.delete_cookie(FLOW_COOKIE, path=PREFIX)
    page.finish(response)
    return response


def _set_signed_cookie(response: Response, name: str, value: str, *, max_age: int, secure: bool) -> None:
    """A signed console cookie (session or login flow): not for scripts, sent on top-level navigation, console only."""
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax", secure=secure, path=PREFIX)


@router.get("/login")
async def login(request: Request) -> Response:
    """With `?token=` (the development link `leadnet up` prints): start a session, once per link. Without it: the
    login page (a button to the identity provider when one is configured)."""
    runtime = runtime_of(request)
    state = web_state(runtime)
    page = Page(request, None)
    token = request.query_params.get("token")
    if token:
        if state.login_verifier is None:
            return page.render("login.html", status=401, message="login.link_disabled", oidc=state.oidc is not None)
        try:
            principal = await principal_from_login_link(state.login_verifier, state.logins, token)
        except ServiceError:
            return page.render("login.html", status=401, message="login.link_invalid", oidc=state.oidc is not None)
        return await _start_session(request, principal)
    return page.render("login.html", oidc=state.oidc is not None)


@router.get("/auth/start")
async def auth_start(request: Request) -> Response:
    state = web_state(runtime_of(request))
    page = Page(request, None)
    if state.oidc is None:
        return page.render("login.html", status=404, message="login.no_provider", oidc=False)
    url, flow = await state.oidc.start()
    response = RedirectResponse(url, status_code=303)
    signed = (await signer_of(runtime_of(request))).dumps(flow, purpose="oidc", ttl_seconds=FLOW_TTL_SECONDS)
    _set_signed_cookie(response, FLOW_COOKIE, signed, max_age=FLOW_TTL_SECONDS, secure=state.production)
    page.finish(response)
    return response


@router.get("/auth/callback")
async def auth_callback(request: Request) -> Response:
    runtime = runtime_of(request)
    state = web_state(runtime)
    page = Page(request, None)
    flow = (await signer_of(runtime)).loads(request.cookies.get(FLOW_COOKIE), purpose="oidc")
    code, returned_state = request.query_params.get("code"), request.query_params.get("state")
    if state.oidc is None or runtime.verifier is None:
        return page.render("login.html", status=404, message="login.no_provider", oidc=False)
    if flow is None or not code or not returned_state or not secrets.compare_digest(returned_state, flow["state"]):
        return page.render("login.html", status=400, message="login.flow_invalid", oidc=True)
    try:
        principal = await state.oidc.finish(code=code, flow=flow, verifier=runtime.verifier)
    except ServiceError:
        return page.render("login.html", status=401, message="login.flow_invalid", oidc=True)
    return await _start_session(request, principal)


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Ends the session; the form carries the session's CSRF token, and a request from another origin is refused."""
    page = Page(request, None)
    signer = await signer_of(runtime_of(request))
    session = session_from(signer.loads(request.cookies.get(SESSION_COOKIE), purpose="session"))
    # A urlencoded form of one field, parsed here rather than through python-multipart for this alone.
    form = {k: v[0] for k, v in parse_qs((await request.body())[:4096].decode(errors="replace")).items()}
    origin = request.headers.get("origin")
    same_origin = origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"
    if session is None or not same_origin or not secrets.compare_digest(str(form.get("csrf", "")), session.csrf):
        return page.render("error.html", status=403, title="error.forbidden", message="error.csrf")
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    page.finish(response)
    return response
