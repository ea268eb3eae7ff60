"""Who is looking at the console: the session cookie, the development one-time login link, OpenID Connect.

The session is a signed cookie (HMAC-SHA256 over its JSON), not a row: any replica behind the ingress reads it with
the shared secret, and nothing has to be cleaned up. It carries the caller's role, dealer, position and regions as
the identity provider stated them, a CSRF token for the console's forms, and an expiry; it is HttpOnly (scripts
never read it), SameSite=Lax (a cross-site form cannot send it; Lax and not Strict so the identity provider's
redirect back still lands logged in) and Secure outside development.

Development: `leadnet up` prints a link with a short-lived token signed by the local key, for the audience
`leadnet-console-login` only (it is no API token); the console accepts each such token once.

Production: OpenID Connect authorization code flow with PKCE (S256) against the configured issuer. The browser's
state, nonce and code verifier travel in a signed, short-lived cookie bound to this browser, so a callback with a
state this browser did not start is refused (login CSRF). The caller's rights come from the access token, checked by
the same verifier as every API token (the identity provider issues the leadnet claims); the ID token's issuer,
audience and nonce are checked against the flow that asked for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from hq_console.repository import sessions
from leadnet_shared.auth import Principal, Role, TokenVerifier, ensure_keys, mint_token, verify_bearer
from leadnet_shared.problems import Unauthenticated

SESSION_COOKIE = "leadnet_console"
FLOW_COOKIE = "leadnet_console_oidc"
LOGIN_AUDIENCE = "leadnet-console-login"
LOGIN_TTL_SECONDS = 600  # the printed link works for ten minutes, once
FLOW_TTL_SECONDS = 600  # time a person has at the identity provider's login page
SESSION_TTL_SECONDS = 8 * 3600  # a working day; then log in again


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signed, expiring JSON values for cookies (the session, the OIDC flow)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def dumps(self, value: dict[str, Any], *, purpose: str, ttl_seconds: int) -> str:
        body = _b64(json.dumps({**value, "_p": purpose, "_exp": int(time.time()) + ttl_seconds}).encode())
        return f"{body}.{self._mac(body)}"

    def loads(self, token: str | None, *, purpose: str) -> dict[str, Any] | None:
        """The value, or None when it is missing, tampered with, for another purpose or expired."""
        if not token or "." not in token:
            return None
        body, mac = token.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            value = json.loads(_unb64(body))
        except ValueError:
            return None
        if not isinstance(value, dict) or value.get("_p") != purpose or int(value.get("_exp", 0)) < time.time():
            return None
        return value

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    principal: Principal
    csrf: str


def session_value(principal: Principal) -> dict[str, Any]:
    """The session cookie's content: the caller's fields (regions as a JSON list) and its forms' CSRF token."""
    return {**asdict(principal), "regions": list(principal.regions), "csrf": secrets.token_urlsafe(24)}


def session_from(value: dict[str, Any] | None) -> ConsoleSession | None:
    if value is None or value.get("role") not in ("dealer", "hq_admin", "hq_analyst"):
        return None
    principal = Principal(
        sub=str(value["sub"]),
        role=value["role"],
        dealer=value.get("dealer"),
        position=value.get("position"),
        regions=tuple(value.get("regions") or ()),
    )
    return ConsoleSession(principal=principal, csrf=str(value["csrf"]))


class OneTimeLogins:
    """Login-link tokens already used, kept until they would have expired anyway (a link works once)."""

    def __init__(self) -> None:
        self._used: OrderedDict[str, float] = OrderedDict()

    def claim(self, token: str, expires_at: float) -> bool:
        now = time.time()
        while self._used and next(iter(self._used.values())) < now:
            self._used.popitem(last=False)
        key = hashlib.sha256(token.encode()).hexdigest()
        if key in self._used:
            return False
        self._used[key] = expires_at
        return True


async def principal_from_login_link(login_verifier: TokenVerifier, logins: OneTimeLogins, token: str) -> Principal:
    """The person a development login link names; refused when it is forged, expired or used before."""
    principal = await verify_bearer(login_verifier, token)
    expires = float(jwt.decode(token, options={"verify_signature": False})["exp"])
    if not logins.claim(token, expires):
        raise Unauthenticated("This login link was used already; run `leadnet console-link` for a new one.")
    return principal


# ---- OpenID Connect ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str | None
    redirect_url: str
    scopes: str = "openid profile"


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge), RFC 7636."""
    verifier = secrets.token_urlsafe(48)
    challenge = _b64(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge


class OidcClient:
    """The authorization code flow with PKCE against one issuer (its discovery document, fetched once)."""

    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self._discovery: dict[str, Any] | None = None
        self._jwks: jwt.PyJWKSet | None = None

    async def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            async with httpx.AsyncClient(timeout=10) as client:
                url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
                response = await client.get(url)
                response.raise_for_status()
                self._discovery = response.json()
        return self._discovery

    async def start(self) -> tuple[str, dict[str, str]]:
        """The identity provider's authorization URL and the flow to remember in this browser."""
        meta = await self.discovery()
        code_verifier, challenge = pkce_pair()
        flow = {"state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(24), "verifier": code_verifier}
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.config.client_id,
                "redirect_uri": self.config.redirect_url,
                "scope": self.config.scopes,
                "state": flow["state"],
                "nonce": flow["nonce"],
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{meta['authorization_endpoint']}?{query}", flow

    async def finish(self, *, code: str, flow: dict[str, Any], verifier: TokenVerifier) -> Principal:
        """Exchange the code (with the PKCE verifier), check the ID token, and read the caller's rights."""
        meta = await self.discovery()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.config.redirect_url,
            "client_id": self.config.client_id,
            "code_verifier": str(flow["verifier"]),
        }
        # A confidential client authenticates with HTTP Basic (client_secret_basic); a public one by PKCE alone.
        secret = self.config.client_secret
        auth = httpx.BasicAuth(self.config.client_id, secret) if secret else httpx.USE_CLIENT_DEFAULT
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(meta["token_endpoint"], data=form, auth=auth)
            if response.status_code != 200:
                raise Unauthenticated("The identity provider refused the authorization code.")
            tokens = response.json()
            if self._jwks is None:
                keys = await client.get(meta["jwks_uri"])
                keys.raise_for_status()
                self._jwks = jwt.PyJWKSet.from_dict(keys.json())
        id_token, access_token = tokens.get("id_token"), tokens.get("access_token")
        if not isinstance(id_token, str) or not isinstance(access_token, str):
            raise Unauthenticated("The identity provider sent no ID token or access token.")
        self._check_id_token(id_token, nonce=str(flow["nonce"]))
        return await verify_bearer(verifier, access_token)

    def _check_id_token(self, id_token: str, *, nonce: str) -> None:
        assert self._jwks is not None
        kid = jwt.get_unverified_header(id_token).get("kid")
        keys = [k for k in self._jwks.keys if kid is None or k.key_id == kid]
        if not keys:
            raise Unauthenticated("The ID token is signed by an unknown key.")
        try:
            claims = jwt.decode(
                id_token,
                key=keys[0].key,
                algorithms=["RS256", "ES256", "EdDSA"],
                audience=self.config.client_id,
                issuer=(self._discovery or {}).get("issuer", self.config.issuer),
                leeway=60,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated("The ID token is invalid.") from exc
        if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise Unauthenticated("The ID token answers another login.")


def console_login_link(
    key_dir: Path,
    base_url: str,
    *,
    role: Role = "hq_analyst",
    regions: list[str] | None = None,
    sub: str | None = None,
) -> str:
    """The one-time development login link (`leadnet up`, `leadnet console-link`): a ten-minute token for the login
    audience only, signed with the local key, so a link copied from a terminal is no API token."""
    private_path, jwks_path = ensure_keys(key_dir)
    kid = json.loads(jwks_path.read_text())["keys"][0]["kid"]
    token = mint_token(
        private_key_pem=private_path.read_bytes(),
        kid=kid,
        role=role,
        sub=sub or f"{role}:console",
        ttl_seconds=LOGIN_TTL_SECONDS,
        audience=LOGIN_AUDIENCE,
        regions=regions,
    )
    return f"{base_url.rstrip('/')}/console/login?{urlencode({'token': token})}"


async def shared_session_secret(db: AsyncSession) -> bytes:
    """The session-signing secret every replica reads from the console's database (made once, by whichever
    replica comes first); deleting the row signs everybody out."""
    return (await sessions.shared_secret(db, secrets.token_urlsafe(48))).encode()
