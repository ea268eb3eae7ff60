"""Who gets into the console pages, and how: the development login link (once, short-lived, a session cookie
that scripts cannot read), OpenID Connect with PKCE against a local identity provider, CSRF on the logout form,
security headers without inline scripts, and dealers refused."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from hq_console.app import create_app
from hq_console.settings import ConsoleSettings
from hq_console.web.session import SESSION_COOKIE, console_login_link
from leadnet_shared.testing import Infra, fresh_database, running, service_settings

from .fake_idp import FakeIdp, serve

pytestmark = [pytest.mark.postgres]


@pytest.fixture
async def idp(infra: Infra) -> AsyncIterator[FakeIdp]:
    fake = FakeIdp(infra.key_dir)
    server, task = await serve(fake.app(), fake.port)
    yield fake
    server.should_exit = True
    await task


@pytest.fixture
async def console(infra: Infra, idp: FakeIdp, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("LEADNET_CONSOLE_OIDC_ISSUER", idp.issuer)
    monkeypatch.setenv("LEADNET_CONSOLE_OIDC_REDIRECT_URL", "http://test/console/auth/callback")
    url = await fresh_database(infra.database_server_url, "hq_console")
    settings = service_settings(ConsoleSettings, infra, database_url=url, topic_prefix="unused.")
    async with running(create_app(settings, consume=False)) as client:
        yield client


def link_path(infra: Infra, **kwargs: object) -> str:
    parts = urlsplit(console_login_link(infra.key_dir, "http://test", **kwargs))  # type: ignore[arg-type]
    return f"{parts.path}?{parts.query}"


async def test_a_page_without_a_session_goes_to_the_login_page(console: httpx.AsyncClient) -> None:
    response = await console.get("/console/overview")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"
    assert (await console.get("/console/stream")).status_code == 401  # an EventSource stops instead of looping
    login = await console.get("/console/login")
    assert login.status_code == 200
    assert "登录总部控制台" in login.text  # Simplified Chinese by default


async def test_the_development_link_logs_in_once_with_an_httponly_samesite_cookie(
    console: httpx.AsyncClient, infra: Infra
) -> None:
    path = link_path(infra)
    response = await console.get(path)
    assert response.status_code == 303 and response.headers["location"] == "/console/overview"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    page = await console.get("/console/overview")
    assert page.status_code == 200

    console.cookies.clear()
    again = await console.get(path)
    assert again.status_code == 401 and SESSION_COOKIE not in again.headers.get("set-cookie", "")


async def test_a_login_link_is_no_api_token_and_an_api_token_is_no_login_link(
    console: httpx.AsyncClient, infra: Infra
) -> None:
    token = parse_qs(urlsplit(link_path(infra)).query)["token"][0]
    as_bearer = await console.get("/console/overview", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401
    api_token = infra.token("hq_analyst")
    as_link = await console.get(f"/console/login?token={api_token}")
    assert as_link.status_code == 401


async def test_dealers_are_refused_by_token_and_by_login(console: httpx.AsyncClient, infra: Infra) -> None:
    response = await console.get("/console/overview", headers=infra.auth("dealer", "D001"))
    assert response.status_code == 403
    assert (
        await console.get("/console/funnel/export?table=x", headers=infra.auth("dealer", "D001"))
    ).status_code == 403
    assert (await console.get("/console/stream", headers=infra.auth("dealer", "D001"))).status_code == 403
    assert (await console.get("/console/overview", headers=infra.auth("hq_admin"))).status_code == 200


async def test_openid_connect_with_pkce_logs_in_and_binds_the_flow_to_the_browser(
    console: httpx.AsyncClient, idp: FakeIdp
) -> None:
    start = await console.get("/console/auth/start")
    assert start.status_code == 303
    authorize = urlsplit(start.headers["location"])
    query = parse_qs(authorize.query)
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == ["leadnet-console"]
    async with httpx.AsyncClient() as browser:
        at_idp = await browser.get(start.headers["location"])
    assert at_idp.status_code == 302
    callback = urlsplit(at_idp.headers["location"])

    # The same callback in a browser that did not start the flow (no flow cookie): refused.
    async with httpx.AsyncClient(transport=console._transport, base_url="http://test") as stranger:
        assert (await stranger.get(f"{callback.path}?{callback.query}")).status_code == 400

    done = await console.get(f"{callback.path}?{callback.query}")
    assert done.status_code == 303 and done.headers["location"] == "/console/overview"
    assert idp.token_requests[-1]["code_verifier"]  # PKCE: the verifier went to the token endpoint
    assert (await console.get("/console/overview")).status_code == 200


async def test_openid_connect_refuses_a_dealer(console: httpx.AsyncClient, idp: FakeIdp) -> None:
    idp.person = {"sub": "dealer-1", "role": "dealer", "dealer": "D001"}
    start = await console.get("/console/auth/start")
    async with httpx.AsyncClient() as browser:
        at_idp = await browser.get(start.headers["location"])
    callback = urlsplit(at_idp.headers["location"])
    done = await console.get(f"{callback.path}?{callback.query}")
    assert done.status_code == 403
    assert SESSION_COOKIE not in done.headers.get("set-cookie", "")


async def test_logout_needs_the_csrf_token_of_the_session(console: httpx.AsyncClient, infra: Infra) -> None:
    await console.get(link_path(infra))
    page = await console.get("/console/overview")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    forged = await console.post("/console/logout", data={"csrf": "forged"})
    assert forged.status_code == 403
    other_origin = await console.post(
        "/console/logout", data={"csrf": csrf.group(1)}, headers={"Origin": "http://evil.example"}
    )
    assert other_origin.status_code == 403
    done = await console.post("/console/logout", data={"csrf": csrf.group(1)})
    assert done.status_code == 303
    assert (await console.get("/console/overview")).status_code == 303


async def test_pages_carry_security_headers_and_no_inline_script(console: httpx.AsyncClient, infra: Infra) -> None:
    page = await console.get("/console/overview", headers=infra.auth("hq_analyst"))
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    # Every <script> loads a file of this service; the only inline ones are data blocks (type application/json).
    for tag in re.findall(r"<script[^>]*>", page.text):
        assert 'src="/console/static/' in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"\son[a-z]+\s*=", page.text), "inline event handler"
    assert "http://" not in page.text.replace("http://test", "") and "https://" not in page.text


async def test_static_files_are_served_by_the_console_itself(console: httpx.AsyncClient) -> None:
    for name in ("vendor/echarts.min.js", "vendor/htmx.min.js", "console.js", "console.css"):
        response = await console.get(f"/console/static/{name}?v=1")
        assert response.status_code == 200, name
        assert "immutable" in response.headers["cache-control"]
    assert (await console.get("/console/static/../pages.py")).status_code == 404
    assert (await console.get("/console/static/vendor/vendor.toml")).status_code == 404


async def test_english_is_switchable_and_remembered(console: httpx.AsyncClient, infra: Infra) -> None:
    auth = infra.auth("hq_analyst")
    english = await console.get("/console/overview?lang=en", headers=auth)
    assert "Overview" in english.text and 'lang="en"' in english.text
    again = await console.get("/console/overview", headers=auth)
    assert 'lang="en"' in again.text
    chinese = await console.get("/console/overview?lang=zh-CN", headers=auth)
    assert "总览" in chinese.text


async def test_a_session_works_on_every_replica(infra: Infra) -> None:
    """Two consoles on one database (two replicas) sign sessions with the same secret, kept in that database."""
    url = await fresh_database(infra.database_server_url, "hq_console")
    settings = service_settings(ConsoleSettings, infra, database_url=url, topic_prefix="unused.")
    async with running(create_app(settings, consume=False)) as first:
        await first.get(link_path(infra))
        cookie = first.cookies[SESSION_COOKIE]
    async with running(create_app(settings, consume=False)) as second:
        second.cookies.set(SESSION_COOKIE, cookie, path="/console")
        assert (await second.get("/console/overview")).status_code == 200


async def test_a_regional_manager_picks_only_their_regions(console: httpx.AsyncClient, infra: Infra) -> None:
    auth = infra.auth("hq_analyst", position="regional_manager", regions=["37"])
    page = await console.get("/console/overview", headers=auth)
    assert page.status_code == 200
    regions = re.search(r'<select name="region">(.*?)</select>', page.text, re.S)
    assert regions is not None
    assert 'value="37"' in regions.group(1) and 'value="13"' not in regions.group(1)
