"""Authentication: verify bearer JWTs against a JWKS (any OAuth2 provider that issues these claims will do), and
mint development tokens with a locally generated key (`leadnet token`).

Claims: `sub`, `role` (`dealer`, `hq_admin`, `hq_analyst`), `dealer` (for role dealer), `exp`; optionally
`position` (who the person is in the seed's organisation: `DEALER_POSITIONS` for a dealer's people,
`HQ_POSITIONS` for HQ's) and `regions` (adcode prefixes that limit what HQ regional staff see and approve).
A token without a position keeps its role's rights.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict, Unpack

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from leadnet_shared.problems import Forbidden, Unauthenticated, Unavailable
from leadnet_shared.settings import DEFAULT_AUDIENCE, DEFAULT_ISSUER, DEFAULT_MAX_LIFETIME, CommonSettings

log = logging.getLogger(__name__)

Role = Literal["dealer", "hq_admin", "hq_analyst"]
ROLES: tuple[Role, ...] = ("dealer", "hq_admin", "hq_analyst")
ALGORITHMS = ["RS256", "ES256", "EdDSA"]
HQ_ROLES = ("hq_admin", "hq_analyst")
CLOCK_LEEWAY_SECONDS = 60  # clocks of the identity provider and of the services differ a little

# contract.md "Plans": the positions of the seed's organisation (domain.md §4-5 name who makes, reviews and approves).
DealerPosition = Literal[
    "general_manager",
    "brand_manager",
    "customer_manager",
    "marketing_consultant",
    "precall_agent",
    "plan_clerk",
    "channel_admin",
]
HqPosition = Literal["info_processor", "market_manager", "regional_manager", "department_head", "salesman"]
Position = DealerPosition | HqPosition
DEALER_POSITIONS: tuple[str, ...] = DealerPosition.__args__  # type: ignore[attr-defined]
HQ_POSITIONS: tuple[str, ...] = HqPosition.__args__  # type: ignore[attr-defined]
REGION_PREFIX = re.compile(r"^[0-9]{2}(?:[0-9]{2}){0,2}$")  # a province (2), city (4) or county (6) adcode prefix
MAX_REGIONS = 64


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    role: Role
    dealer: str | None
    position: str | None = None
    # Adcode prefixes for HQ regional staff; empty means "not limited by region" (every region the role sees).
    regions: tuple[str, ...] = ()

    @property
    def is_hq(self) -> bool:
        return self.role in HQ_ROLES

    @property
    def sees_personal_data(self) -> bool:
        """Only hq_admin reads everything unmasked; a dealer sees a customer unmasked only while it is assigned."""
        return self.role == "hq_admin"

    @property
    def is_regional(self) -> bool:
        """HQ staff limited to some regions (a `regions` claim): they see and approve only those."""
        return self.is_hq and bool(self.regions)

    def covers_region(self, adcode: str | None) -> bool:
        """Whether a region (an adcode or a prefix of one) lies inside this caller's regions; callers without a
        `regions` claim cover every region, a regional caller never covers an unknown one."""
        if not self.regions:
            return True
        return adcode is not None and any(adcode.startswith(prefix) for prefix in self.regions)

    @property
    def caller_key(self) -> str:
        """Who this caller is for per-caller state (idempotency keys, rate limits)."""
        return f"{self.role}:{self.dealer or self.sub}"


class UnknownSigningKey(Exception):
    """The token names a key (`kid`) the current key set does not have: a rotation the JWKS URL may know."""


DEALER_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")  # the router's dealer-code format (dedup_router.schemas)


class TokenVerifier:
    """Verifies tokens bound to this API: signature from the JWKS, `iss` and `aud` as configured, a bounded
    lifetime, `kid` when the key set has several keys, and well-formed claims. Verified tokens are cached until
    they expire, because verification is a visible share of a small request's CPU (docs/performance.md).

    A key set from a URL is refreshed after `refresh_seconds` and at once (at most every `min_refetch_seconds`) when
    a token names a key the set lacks, so an identity provider's key rotation needs no restart."""

    def __init__(
        self,
        jwks: dict[str, Any] | None,
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        max_lifetime_seconds: int = DEFAULT_MAX_LIFETIME,
        jwks_url: str | None = None,
        refresh_seconds: float = 300.0,
        min_refetch_seconds: float = 30.0,
        cache_size: int = 10_000,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.max_lifetime_seconds = max_lifetime_seconds
        self.jwks_url = jwks_url
        self.refresh_seconds = refresh_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self._keys: list[jwt.PyJWK] = []
        self._loaded_at = float("-inf")
        self._fetched_at = float("-inf")
        self._refresh_lock = asyncio.Lock()
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._cache_size = cache_size
        if jwks is not None:
            self._set_keys(jwks)

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> TokenVerifier:
        """The verifier a service runs with; a key set from a URL is fetched on first use (`ensure_fresh`), so a
        service starts while its identity provider is briefly away and answers 503 until the keys arrive."""
        options: dict[str, Any] = {
            "issuer": settings.jwt_issuer,
            "audience": settings.jwt_audience,
            "max_lifetime_seconds": settings.jwt_max_lifetime_seconds,
        }
        if settings.jwks_file:
            return cls(json.loads(Path(settings.jwks_file).read_text()), **options)
        if settings.jwks_url:
            return cls(None, jwks_url=settings.jwks_url, refresh_seconds=settings.jwks_refresh_seconds, **options)
        raise RuntimeError("no JWKS configured: set LEADNET_JWKS_FILE or LEADNET_JWKS_URL")

    def _set_keys(self, jwks: dict[str, Any]) -> None:
        self._keys = list(jwt.PyJWKSet.from_dict(jwks).keys)
        self._loaded_at = time.monotonic()

    async def ensure_fresh(self, *, unknown_kid: bool = False) -> None:
        """Fetch the key set from its URL when it is missing, older than its lifetime, or lacks a named key."""
        if self.jwks_url is None:
            return
        now = time.monotonic()
        stale = now - self._loaded_at >= self.refresh_seconds
        if not (stale or (unknown_kid and now - self._fetched_at >= self.min_refetch_seconds)):
            return
        async with self._refresh_lock:
            if time.monotonic() - self._fetched_at < min(self.min_refetch_seconds, self.refresh_seconds):
                return  # another request fetched it while we waited
            self._fetched_at = time.monotonic()
            try:
                async with httpx.AsyncClient(timeout=5) as client:
                    response = await client.get(self.jwks_url)
                    response.raise_for_status()
                    self._set_keys(response.json())
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                # Keep the keys we have: a provider that is briefly away must not log everybody out.
                log.warning("JWKS refresh from %s failed: %s", self.jwks_url, type(exc).__name__)

    @property
    def has_keys(self) -> bool:
        return bool(self._keys)

    def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        try:
            header = jwt.get_unverified_header(token)
            key = self._find_key(header.get("kid"))
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=CLOCK_LEEWAY_SECONDS,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except UnknownSigningKey:
            raise
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthenticated("The bearer token is invalid or expired.") from exc
        principal = self._principal(claims)
        self._cache[token] = (principal, float(claims["exp"]))
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal

    def _principal(self, claims: dict[str, Any]) -> Principal:
        """The caller the verified claims name, once its lifetime and claims are in bounds."""
        exp = float(claims["exp"])
        issued = claims.get("iat")
        now = time.time()
        if isinstance(issued, int | float) and issued > now + CLOCK_LEEWAY_SECONDS:
            raise Unauthenticated("The token was issued in the future.")
        # A token that lives for ever cannot be taken back: the lifetime counts from issue, or from now without iat.
        start = float(issued) if isinstance(issued, int | float) else now
        if exp - start > self.max_lifetime_seconds + CLOCK_LEEWAY_SECONDS:
            raise Unauthenticated(f"The token lives longer than {self.max_lifetime_seconds} s; ask for a shorter one.")
        role = claims.get("role")
        if role not in ROLES:
            raise Unauthenticated("The token carries no known role.")
        dealer = claims.get("dealer")
        if role == "dealer" and not dealer:
            raise Unauthenticated("A dealer token must name its dealer.")
        if dealer is not None and not (isinstance(dealer, str) and DEALER_CODE.fullmatch(dealer)):
            raise Unauthenticated("The token's dealer claim is not a dealer code.")
        position, regions = claims.get("position"), claims.get("regions")
        return Principal(
            sub=str(claims["sub"]),
            role=role,
            dealer=dealer,
            position=_checked_position(role, position),
            regions=_checked_regions(role, regions),
        )

    def _find_key(self, kid: str | None) -> jwt.PyJWK:
        if not self._keys:
            raise Unavailable(
                "The identity provider's keys are not loaded yet; retry shortly.", headers={"Retry-After": "5"}
            )
        if kid is None:
            # With several keys, guessing one would accept a token whichever key signed it (or none we meant).
            if len(self._keys) > 1:
                raise jwt.InvalidTokenError("kid required: the key set has several keys")
            return self._keys[0]
        for key in self._keys:
            if key.key_id == kid:
                return key
        raise UnknownSigningKey(kid)


BEARER_SCHEME = HTTPBearer(
    scheme_name="bearerAuth",
    bearerFormat="JWT",
    auto_error=False,
    description="A JWT from the identity provider (`leadnet token` in development).",
)


async def bearer_principal(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER_SCHEME)] = None,
) -> Principal:
    """FastAPI dependency: the authenticated caller (401 without a valid token).

    `_declared` only puts the bearer scheme into the OpenAPI document (the Authorize button of `/docs`, and the
    `security` of every operation that takes a token); the header is read here, so that a fast lane can call this
    with the request alone.

    `async` although it rarely awaits: FastAPI runs a plain `def` dependency in a worker thread, and that hand-off
    cost more than the (cached) verification itself."""
    header = request.headers.get("authorization")
    if not header or not header.lower().startswith("bearer "):
        raise Unauthenticated("Send Authorization: Bearer <token>.")
    verifier: TokenVerifier = request.app.state.verifier
    return await verify_bearer(verifier, header[7:].strip())


async def verify_bearer(verifier: TokenVerifier, token: str) -> Principal:
    """Verify `token`, refreshing a URL key set that is stale or lacks the token's key first."""
    await verifier.ensure_fresh()
    try:
        return verifier.verify(token)
    except UnknownSigningKey:
        await verifier.ensure_fresh(unknown_kid=True)
        try:
            return verifier.verify(token)
        except UnknownSigningKey as exc:
            raise Unauthenticated("The bearer token is signed by an unknown key.") from exc


def _checked_position(role: str, position: object) -> str | None:
    if position is None:
        return None
    allowed = DEALER_POSITIONS if role == "dealer" else HQ_POSITIONS
    if not isinstance(position, str) or position not in allowed:
        raise Unauthenticated(f"The token's position is not one of {', '.join(allowed)}.")
    return position


def _checked_regions(role: str, regions: object) -> tuple[str, ...]:
    if regions is None:
        return ()
    if role == "dealer":
        raise Unauthenticated("A dealer token carries no regions: a dealer's territory comes from its authorization.")
    if (
        not isinstance(regions, list)
        or not 0 < len(regions) <= MAX_REGIONS
        or not all(isinstance(r, str) and REGION_PREFIX.fullmatch(r) for r in regions)
    ):
        raise Unauthenticated("The token's regions claim must list 1-64 adcode prefixes (2, 4 or 6 digits).")
    return tuple(regions)


def parse_regions(text: str | None) -> list[str] | None:
    """`37,13` → `["37", "13"]` (the `leadnet token --regions` form)."""
    if not text:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def require_roles(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        raise Forbidden(f"Role {principal.role} may not do this.")


# ---- development keys and tokens ----------------------------------------------------------------------------


def ensure_keys(key_dir: Path) -> tuple[Path, Path]:
    """Create (once) an RSA signing key and its JWKS under `key_dir`; returns (private key path, jwks path)."""
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_dir.chmod(0o700)  # whoever reads the private key mints hq_admin tokens
    private_path, jwks_path = key_dir / "jwt-private.pem", key_dir / "jwks.json"
    if not private_path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Created 0600 in one step: write-then-chmod left it world-readable for a moment under the usual umask.
        fd = os.open(private_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        public_jwk.update({"kid": uuid.uuid4().hex[:16], "use": "sig", "alg": "RS256"})
        jwks_path.write_text(json.dumps({"keys": [public_jwk]}, indent=2))
    return private_path, jwks_path


def mint_token(
    *,
    private_key_pem: bytes,
    kid: str,
    role: Role,
    dealer: str | None = None,
    sub: str | None = None,
    ttl_seconds: int = 3600,
    issuer: str = DEFAULT_ISSUER,
    audience: str = DEFAULT_AUDIENCE,
    position: str | None = None,
    regions: list[str] | None = None,
) -> str:
    if role == "dealer" and not dealer:
        raise ValueError("a dealer token needs --dealer")
    try:  # the same checks the services apply, so a bad token fails here and not at the first request
        _checked_position(role, position)
        _checked_regions(role, regions)
    except Unauthenticated as exc:
        raise ValueError(exc.detail) from exc
    if dealer is not None and not DEALER_CODE.fullmatch(dealer):
        raise ValueError(f"not a dealer code: {dealer!r}")
    if not 0 < ttl_seconds <= DEFAULT_MAX_LIFETIME:
        raise ValueError(f"a token lives between 1 s and {DEFAULT_MAX_LIFETIME} s")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub or (f"dealer:{dealer}" if dealer else f"{role}:dev"),
        "role": role,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if dealer:
        claims["dealer"] = dealer
    if position:
        claims["position"] = position
    if regions:
        claims["regions"] = regions
    return jwt.encode(claims, private_key_pem, algorithm="RS256", headers={"kid": kid})


class TokenOptions(TypedDict, total=False):
    """What a minted token may say besides its role (`mint_token`'s keywords)."""

    dealer: str | None
    sub: str | None
    ttl_seconds: int
    position: str | None
    regions: list[str] | None


def mint_from_dir(key_dir: Path, *, role: Role, **options: Unpack[TokenOptions]) -> str:
    private_path, jwks_path = ensure_keys(key_dir)
    kid = json.loads(jwks_path.read_text())["keys"][0]["kid"]
    return mint_token(private_key_pem=private_path.read_bytes(), kid=kid, role=role, **options)
