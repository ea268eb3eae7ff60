"""The console pages' own settings (env prefix `LEADNET_CONSOLE_`): the session secret and the identity provider."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from hq_console.web.session import LOGIN_AUDIENCE, LOGIN_TTL_SECONDS
from leadnet_shared.auth import TokenVerifier
from leadnet_shared.settings import CommonSettings


class WebConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADNET_CONSOLE_", extra="ignore")

    # Signs the session cookies; every replica needs the same one (a Kubernetes Secret). Development makes one.
    session_secret: SecretStr | None = None
    # OpenID Connect: the issuer (its discovery document at /.well-known/openid-configuration), the console's client
    # registration and the callback URL registered with it (…/console/auth/callback).
    oidc_issuer: str | None = None
    oidc_client_id: str = "leadnet-console"
    oidc_client_secret: SecretStr | None = None
    oidc_redirect_url: str = "http://127.0.0.1:8005/console/auth/callback"
    oidc_scopes: str = "openid profile"

    def login_verifier(self, settings: CommonSettings) -> TokenVerifier | None:
        """The verifier of development login links: the services' own keys, the login audience, ten minutes."""
        options = {
            "issuer": settings.jwt_issuer,
            "audience": LOGIN_AUDIENCE,
            "max_lifetime_seconds": LOGIN_TTL_SECONDS,
        }
        if settings.jwks_file:
            return TokenVerifier(json.loads(Path(settings.jwks_file).read_text()), **options)  # type: ignore[arg-type]
        if settings.jwks_url:
            return TokenVerifier(None, jwks_url=settings.jwks_url, **options)  # type: ignore[arg-type]
        return None
