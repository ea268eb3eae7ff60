"""Authentication: verify bearer JWTs against a JWKS (any OAuth2 provider that issues these claims will do), and
mint development tokens with a locally generated key (`leadnet token`).

Claims: `sub`, `role` (`dealer`, `hq_admin`, `hq_analyst`), `dealer` (for role dealer), `exp`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from leadnet_shared.problems import Forbidden, Unauthenticated

Role = Literal["dealer", "hq_admin", "hq_analyst"]
ROLES: tuple[Role, ...] = ("dealer", "hq_admin", "hq_analyst")
ALGORITHMS = ["RS256", "ES256", "EdDSA"]
HQ_ROLES = ("hq_admin", "hq_analyst")


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    role: Role
    dealer: str | None

    @property
    def is_hq(self) -> bool:
        return self.role in HQ_ROLES

    @property
    def sees_personal_data(self) -> bool:
        """Only hq_admin reads everything unmasked; a dealer sees a customer unmasked only while it is assigned."""
        return self.role == "hq_admin"

    @property
    def caller_key(self) -> str:
        """Who this caller is for per-caller state (idempotency keys, rate limits)."""
        return f"{self.role}:{self.dealer or self.sub}"


class TokenVerifier:
    """Verifies tokens against a JWKS; verified tokens are cached until they expire (verification costs ~50 µs)."""

    def __init__(self, jwks: dict[str, Any], *, cache_size: int = 10_000) -> None:
        self._keys = jwt.PyJWKSet.from_dict(jwks)
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._cache_size = cache_size

    @classmethod
    def from_settings(cls, *, jwks_file: str | None, jwks_url: str | None) -> TokenVerifier:
        if jwks_file:
            return cls(json.loads(Path(jwks_file).read_text()))
        if jwks_url:
            return cls(httpx.get(jwks_url, timeout=10).json())
        raise RuntimeError("no JWKS configured: set LEADNET_JWKS_FILE or LEADNET_JWKS_URL")

    def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        try:
            header = jwt.get_unverified_header(token)
            key = self._find_key(header.get("kid"))
            claims = jwt.decode(token, key=key.key, algorithms=ALGORITHMS, options={"require": ["exp", "sub"]})
        except (jwt.PyJWTError, KeyError, ValueError) as exc:
            raise Unauthenticated("The bearer token is invalid or expired.") from exc
        role = claims.get("role")
        if role not in ROLES:
            raise Unauthenticated("The token carries no known role.")
        dealer = claims.get("dealer")
        if role == "dealer" and not dealer:
            raise Unauthenticated("A dealer token must name its dealer.")
        principal = Principal(sub=str(claims["sub"]), role=role, dealer=dealer)
        self._cache[token] = (principal, float(claims["exp"]))
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal

    def _find_key(self, kid: str | None) -> jwt.PyJWK:
        if kid is not None:
            for key in self._keys.keys:
                if key.key_id == kid:
                    return key
            raise KeyError(kid)
        return self._keys.keys[0]


BEARER_SCHEME = HTTPBearer(scheme_name="bearerAuth", bearerFormat="JWT", auto_error=False,
                           description="A JWT from the identity provider (`leadnet token` in development).")


async def bearer_principal(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER_SCHEME)] = None,
) -> Principal:
    """FastAPI dependency: the authenticated caller (401 without a valid token).

    `_declared` only puts the bearer scheme into the OpenAPI document (the Authorize button of `/docs`, and the
    `security` of every operation that takes a token); the header is read here, so that a fast lane can call this
    with the request alone.

    `async` although it never awaits: FastAPI runs a plain `def` dependency in a worker thread, and that hand-off
    cost more than the (cached) verification itself."""
    header = request.headers.get("authorization")
    if not header or not header.lower().startswith("bearer "):
        raise Unauthenticated("Send Authorization: Bearer <token>.")
    verifier: TokenVerifier = request.app.state.verifier
    return verifier.verify(header[7:].strip())


def require_roles(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        raise Forbidden(f"Role {principal.role} may not do this.")


# ---- development keys and tokens ----------------------------------------------------------------------------

def ensure_keys(key_dir: Path) -> tuple[Path, Path]:
    """Create (once) an RSA signing key and its JWKS under `key_dir`; returns (private key path, jwks path)."""
    key_dir.mkdir(parents=True, exist_ok=True)
    private_path, jwks_path = key_dir / "jwt-private.pem", key_dir / "jwks.json"
    if not private_path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        private_path.write_bytes(pem)
        private_path.chmod(0o600)
        public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        public_jwk.update({"kid": uuid.uuid4().hex[:16], "use": "sig", "alg": "RS256"})
        jwks_path.write_text(json.dumps({"keys": [public_jwk]}, indent=2))
    return private_path, jwks_path


def mint_token(*, private_key_pem: bytes, kid: str, role: Role, dealer: str | None = None, sub: str | None = None,
               ttl_seconds: int = 3600) -> str:
    if role == "dealer" and not dealer:
        raise ValueError("a dealer token needs --dealer")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub or (f"dealer:{dealer}" if dealer else f"{role}:dev"), "role": role,
                              "iat": now, "exp": now + ttl_seconds}
    if dealer:
        claims["dealer"] = dealer
    return jwt.encode(claims, private_key_pem, algorithm="RS256", headers={"kid": kid})


def mint_from_dir(key_dir: Path, *, role: Role, dealer: str | None = None, ttl_seconds: int = 3600) -> str:
    private_path, jwks_path = ensure_keys(key_dir)
    kid = json.loads(jwks_path.read_text())["keys"][0]["kid"]
    return mint_token(private_key_pem=private_path.read_bytes(), kid=kid, role=role, dealer=dealer,
                      ttl_seconds=ttl_seconds)
