"""Tokens are bound to this API (issue 16 §4, review M1): issuer, audience, lifetime, kid, claims, key rotation."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from leadnet.cli import app as cli
from leadnet_shared.auth import TokenVerifier, ensure_keys, verify_bearer
from leadnet_shared.problems import Unauthenticated, Unavailable
from leadnet_shared.settings import DEFAULT_AUDIENCE, DEFAULT_ISSUER, CommonSettings


class SigningKey:
    """An EC key with its public JWK, as an identity provider holds one."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.kid = uuid.uuid4().hex[:12]
        self.jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key()))
        self.jwk.update({"kid": self.kid, "use": "sig", "alg": "ES256"})

    def sign(self, *, kid: str | None = "self", **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": "person-1",
            "role": "hq_analyst",
            "iss": DEFAULT_ISSUER,
            "aud": DEFAULT_AUDIENCE,
            "iat": now,
            "exp": now + 600,
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        headers = {"kid": self.kid if kid == "self" else kid} if kid is not None else {}
        return jwt.encode(claims, self.private, algorithm="ES256", headers=headers)


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [k.jwk for k in keys]}


@pytest.fixture
def key() -> SigningKey:
    return SigningKey()


class TestClaimsBoundToThisApi:
    def test_a_token_for_this_issuer_and_audience_is_accepted(self, key: SigningKey) -> None:
        principal = TokenVerifier(jwks(key)).verify(key.sign(role="dealer", dealer="D002"))
        assert (principal.role, principal.dealer, principal.sub) == ("dealer", "D002", "person-1")

    @pytest.mark.parametrize(
        "claims",
        [
            {"aud": "another-api"},
            {"iss": "https://other-idp.example"},
            {"aud": None},
            {"iss": None},
            {"exp": None},
            {"sub": None},
        ],
    )
    def test_a_token_for_someone_else_or_without_binding_claims_is_refused(
        self, key: SigningKey, claims: dict[str, Any]
    ) -> None:
        with pytest.raises(Unauthenticated):
            TokenVerifier(jwks(key)).verify(key.sign(**claims))

    def test_an_identity_providers_own_issuer_and_audience_are_configurable(self, key: SigningKey) -> None:
        # The token an OAuth2 provider issues carries its own iss and an aud; both are refused until configured.
        token = key.sign(iss="https://idp.foton.example/realms/dealers", aud=["leadnet", "account"])
        with pytest.raises(Unauthenticated):
            TokenVerifier(jwks(key)).verify(token)
        verifier = TokenVerifier(jwks(key), issuer="https://idp.foton.example/realms/dealers", audience="leadnet")
        assert verifier.verify(token).role == "hq_analyst"

    def test_settings_carry_issuer_audience_and_lifetime_from_the_environment(
        self, key: SigningKey, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = tmp_path / "jwks.json"
        path.write_text(json.dumps(jwks(key)))
        monkeypatch.setenv("LEADNET_JWKS_FILE", str(path))
        monkeypatch.setenv("LEADNET_JWT_ISSUER", "idp")
        monkeypatch.setenv("LEADNET_JWT_AUDIENCE", "dms")
        monkeypatch.setenv("LEADNET_JWT_MAX_LIFETIME_SECONDS", "900")
        verifier = TokenVerifier.from_settings(CommonSettings())
        assert verifier.verify(key.sign(iss="idp", aud="dms")).sub == "person-1"
        now = int(time.time())
        with pytest.raises(Unauthenticated):
            verifier.verify(key.sign(iss="idp", aud="dms", iat=now, exp=now + 3600))


class TestLifetime:
    def test_a_token_that_lives_longer_than_the_cap_is_refused(self, key: SigningKey) -> None:
        now = int(time.time())
        verifier = TokenVerifier(jwks(key), max_lifetime_seconds=3600)
        assert verifier.verify(key.sign(iat=now, exp=now + 3600)).role == "hq_analyst"
        with pytest.raises(Unauthenticated, match="longer"):
            verifier.verify(key.sign(iat=now, exp=now + 3600 * 24 * 365))

    def test_without_iat_the_lifetime_counts_from_now(self, key: SigningKey) -> None:
        now = int(time.time())
        with pytest.raises(Unauthenticated, match="longer"):
            TokenVerifier(jwks(key), max_lifetime_seconds=3600).verify(key.sign(iat=None, exp=now + 7200))

    def test_a_token_issued_in_the_future_is_refused(self, key: SigningKey) -> None:
        now = int(time.time())
        with pytest.raises(Unauthenticated):
            TokenVerifier(jwks(key)).verify(key.sign(iat=now + 3600, exp=now + 4000))

    def test_an_expired_token_is_refused(self, key: SigningKey) -> None:
        now = int(time.time())
        with pytest.raises(Unauthenticated):
            TokenVerifier(jwks(key)).verify(key.sign(iat=now - 7200, exp=now - 3600))

    def test_leadnet_token_refuses_a_ttl_over_the_cap(self, tmp_path: Any) -> None:
        result = CliRunner().invoke(cli, ["token", "--role", "hq_admin", "--ttl", "2d", "--data-dir", str(tmp_path)])
        assert result.exit_code != 0
        ok = CliRunner().invoke(
            cli,
            [
                "token",
                "--role",
                "dealer",
                "--dealer",
                "D002",
                "--ttl",
                "30m",
                "--sub",
                "wang.li",
                "--data-dir",
                str(tmp_path),
            ],
        )
        assert ok.exit_code == 0, ok.output
        claims = jwt.decode(ok.output.strip(), options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 1800
        assert (claims["sub"], claims["aud"], claims["iss"]) == ("wang.li", DEFAULT_AUDIENCE, DEFAULT_ISSUER)
        verifier = TokenVerifier.from_settings(CommonSettings(jwks_file=str(tmp_path / "keys" / "jwks.json")))
        assert verifier.verify(ok.output.strip()).dealer == "D002"


class TestKeysAndClaims:
    def test_kid_is_required_when_the_key_set_has_several_keys(self, key: SigningKey) -> None:
        other = SigningKey()
        with pytest.raises(Unauthenticated):
            TokenVerifier(jwks(other, key)).verify(key.sign(kid=None))
        assert TokenVerifier(jwks(other, key)).verify(key.sign()).role == "hq_analyst"
        assert TokenVerifier(jwks(key)).verify(key.sign(kid=None)).role == "hq_analyst"

    @pytest.mark.parametrize("dealer", ["D002'; --", "", "x" * 33, 12, ["D002"]])
    def test_a_malformed_dealer_claim_is_refused(self, key: SigningKey, dealer: Any) -> None:
        with pytest.raises(Unauthenticated):
            TokenVerifier(jwks(key)).verify(key.sign(role="dealer", dealer=dealer))

    def test_a_dealer_token_without_a_dealer_and_an_unknown_role_are_refused(self, key: SigningKey) -> None:
        with pytest.raises(Unauthenticated):
            TokenVerifier(jwks(key)).verify(key.sign(role="dealer"))
        with pytest.raises(Unauthenticated):
            TokenVerifier(jwks(key)).verify(key.sign(role="superuser"))


class TestPositionsAndRegions:
    """contract.md "Plans": a person's position and an HQ regional person's regions travel in the token."""

    def test_a_position_and_regions_are_read_from_the_token(self, key: SigningKey) -> None:
        verifier = TokenVerifier(jwks(key))
        regional = verifier.verify(key.sign(position="regional_manager", regions=["37", "1301"]))
        assert (regional.position, regional.regions, regional.is_regional) == (
            "regional_manager",
            ("37", "1301"),
            True,
        )
        assert regional.covers_region("370102") and regional.covers_region("130102")
        assert not regional.covers_region("130202") and not regional.covers_region(None)
        clerk = verifier.verify(key.sign(role="dealer", dealer="D002", position="plan_clerk"))
        assert (clerk.position, clerk.regions, clerk.is_regional) == ("plan_clerk", (), False)
        assert clerk.covers_region("110101")

    def test_a_token_without_a_position_keeps_its_role(self, key: SigningKey) -> None:
        plain = TokenVerifier(jwks(key)).verify(key.sign(role="hq_admin"))
        assert (plain.role, plain.position, plain.regions) == ("hq_admin", None, ())

    @pytest.mark.parametrize(
        "claims",
        [
            {"role": "dealer", "dealer": "D002", "position": "market_manager"},  # an HQ position on a dealer
            {"position": "plan_clerk"},  # a dealer position on HQ staff
            {"position": 7},
            {"regions": ["3"]},
            {"regions": []},
            {"regions": "37"},
            {"regions": ["37"] * 65},
            {"role": "dealer", "dealer": "D002", "regions": ["37"]},
        ],
    )
    def test_a_malformed_position_or_regions_claim_is_refused(self, key: SigningKey, claims: dict[str, Any]) -> None:
        with pytest.raises(Unauthenticated):
            TokenVerifier(jwks(key)).verify(key.sign(**claims))

    def test_leadnet_token_mints_position_and_regions(self, tmp_path: Any) -> None:
        args = ["token", "--role", "hq_analyst", "--position", "regional_manager", "--regions", "37, 13"]
        result = CliRunner().invoke(cli, [*args, "--data-dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        verifier = TokenVerifier.from_settings(CommonSettings(jwks_file=str(tmp_path / "keys" / "jwks.json")))
        principal = verifier.verify(result.output.strip())
        assert (principal.position, principal.regions) == ("regional_manager", ("37", "13"))
        bad = CliRunner().invoke(cli, ["token", "--role", "hq_admin", "--position", "plan_clerk", "--data-dir", "x"])
        assert bad.exit_code != 0


class JwksServer:
    """A local identity provider's JWKS endpoint whose key set the test rotates; counts fetches."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {"keys": []}
        self.fetches = 0
        self.up = True
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                if not owner.up:
                    self.send_response(503)
                    self.end_headers()
                    return
                body = json.dumps(owner.keys).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def idp() -> Iterator[JwksServer]:
    server = JwksServer()
    try:
        yield server
    finally:
        server.close()


class TestKeySetFromUrl:
    async def test_a_rotated_key_is_fetched_when_a_token_names_it(self, idp: JwksServer) -> None:
        old, new = SigningKey(), SigningKey()
        idp.keys = jwks(old)
        verifier = TokenVerifier(None, jwks_url=idp.url, refresh_seconds=3600, min_refetch_seconds=0)
        assert (await verify_bearer(verifier, old.sign())).sub == "person-1"
        idp.keys = jwks(old, new)
        assert (await verify_bearer(verifier, new.sign())).sub == "person-1"
        assert idp.fetches == 2

    async def test_unknown_kids_do_not_hammer_the_provider(self, idp: JwksServer) -> None:
        known, stranger = SigningKey(), SigningKey()
        idp.keys = jwks(known)
        verifier = TokenVerifier(None, jwks_url=idp.url, refresh_seconds=3600, min_refetch_seconds=60)
        await verify_bearer(verifier, known.sign())
        for _ in range(5):
            with pytest.raises(Unauthenticated):
                await verify_bearer(verifier, stranger.sign())
        assert idp.fetches == 1

    async def test_the_key_set_is_refreshed_after_its_lifetime(self, idp: JwksServer) -> None:
        old, new = SigningKey(), SigningKey()
        idp.keys = jwks(old)
        verifier = TokenVerifier(None, jwks_url=idp.url, refresh_seconds=0.2, min_refetch_seconds=3600)
        await verify_bearer(verifier, old.sign())
        idp.keys = jwks(new)  # the old key is withdrawn: its tokens stop working without a restart
        await asyncio.sleep(0.3)
        with pytest.raises(Unauthenticated):
            await verify_bearer(verifier, old.sign(sub="someone-else"))
        assert (await verify_bearer(verifier, new.sign())).sub == "person-1"

    async def test_a_provider_away_at_start_answers_503_then_tokens_work(self, idp: JwksServer) -> None:
        key = SigningKey()
        idp.keys, idp.up = jwks(key), False
        verifier = TokenVerifier(None, jwks_url=idp.url, refresh_seconds=0.1, min_refetch_seconds=0.1)
        with pytest.raises(Unavailable):
            await verify_bearer(verifier, key.sign())
        idp.up = True
        await asyncio.sleep(0.2)
        assert (await verify_bearer(verifier, key.sign())).sub == "person-1"

    async def test_a_provider_away_later_keeps_the_keys_already_loaded(self, idp: JwksServer) -> None:
        key = SigningKey()
        idp.keys = jwks(key)
        verifier = TokenVerifier(None, jwks_url=idp.url, refresh_seconds=0.1, min_refetch_seconds=0.1)
        await verify_bearer(verifier, key.sign())
        idp.up = False
        await asyncio.sleep(0.2)
        assert (await verify_bearer(verifier, key.sign(sub="again"))).sub == "again"


class TestDevelopmentKeys:
    def test_the_private_key_and_its_directory_are_private_from_the_start(self, tmp_path: Any) -> None:
        private, _ = ensure_keys(tmp_path / "keys")
        assert (private.stat().st_mode & 0o777, private.parent.stat().st_mode & 0o777) == (0o600, 0o700)

    def test_production_refuses_a_jwks_url_over_plain_http(self) -> None:
        with pytest.raises(ValueError, match="https"):
            CommonSettings(env="production", jwks_url="http://idp.example/jwks.json")
        kafka = {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u", "kafka_sasl_password": "p"}
        assert CommonSettings(env="production", jwks_url="https://idp.example/jwks.json", **kafka).jwks_url
