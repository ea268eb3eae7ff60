"""A local OpenID Connect provider for the console's login tests (127.0.0.1 only): discovery, an authorization
endpoint that logs the configured person in at once, a token endpoint that checks the PKCE verifier (S256), and
the key set. Access tokens carry the leadnet claims, signed with the test session's key, as a real provider
configured for leadnet would issue them."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from leadnet_shared.settings import DEFAULT_AUDIENCE, DEFAULT_ISSUER


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class FakeIdp:
    key_dir: Path
    client_id: str = "leadnet-console"
    # The person the next authorization logs in: leadnet claims of the access token.
    person: dict[str, Any] = field(default_factory=lambda: {"sub": "analyst-1", "role": "hq_analyst"})
    port: int = field(default_factory=free_port)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _sign(self, claims: dict[str, Any]) -> str:
        jwks = json.loads((self.key_dir / "jwks.json").read_text())
        private = (self.key_dir / "jwt-private.pem").read_bytes()
        return jwt.encode(claims, private, algorithm="RS256", headers={"kid": jwks["keys"][0]["kid"]})

    def app(self) -> Starlette:
        async def discovery(_: Request) -> Response:
            return JSONResponse(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks",
                    "response_types_supported": ["code"],
                    "code_challenge_methods_supported": ["S256"],
                }
            )

        async def authorize(request: Request) -> Response:
            q = request.query_params
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "challenge": q["code_challenge"],
                "nonce": q.get("nonce"),
                "redirect_uri": q["redirect_uri"],
                "client_id": q["client_id"],
            }
            query = urlencode({"code": code, "state": q.get("state", "")})
            return RedirectResponse(f"{q['redirect_uri']}?{query}", status_code=302)

        async def token(request: Request) -> Response:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            self.token_requests.append(form)
            grant = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if grant is None or digest != grant["challenge"] or form.get("redirect_uri") != grant["redirect_uri"]:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            now = int(time.time())
            access = {**self.person, "iss": DEFAULT_ISSUER, "aud": DEFAULT_AUDIENCE, "iat": now, "exp": now + 600}
            id_claims = {
                "iss": self.issuer,
                "aud": grant["client_id"],
                "sub": self.person["sub"],
                "nonce": grant["nonce"],
                "iat": now,
                "exp": now + 600,
            }
            return JSONResponse(
                {"access_token": self._sign(access), "id_token": self._sign(id_claims), "token_type": "Bearer"}
            )

        async def keys(_: Request) -> Response:
            return JSONResponse(json.loads((self.key_dir / "jwks.json").read_text()))

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/authorize", authorize),
                Route("/token", token, methods=["POST"]),
                Route("/jwks", keys),
            ]
        )


async def serve(app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """Serve an ASGI app on 127.0.0.1:port in this event loop; stop with `server.should_exit = True`."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    return server, task
