"""Settings: one pydantic-settings class per service, with an env prefix, over a common base.

The common variables (`DATABASE_URL`, `KAFKA_BOOTSTRAP_SERVERS`, `LEADNET_*`) are shared by every service; each
service's own ones carry its prefix (`LEADNET_INTAKE_PORT`, `LEADNET_INTAKE_DATABASE_URL`, ...).
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/"
# Tokens are bound to this API: `leadnet token` mints these, and an identity provider is configured to issue them
# (or the services are told its own values with LEADNET_JWT_ISSUER / LEADNET_JWT_AUDIENCE).
DEFAULT_ISSUER = "leadnet"
DEFAULT_AUDIENCE = "leadnet-api"
DEFAULT_MAX_LIFETIME = 86_400  # a day: a leaked token is useless by tomorrow


class CommonSettings(BaseSettings):
    """Variables every service reads under the same name."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    env: Literal["development", "test", "production"] = Field(
        "development", validation_alias=AliasChoices("LEADNET_ENV", "env")
    )
    database_server_url: str = Field(
        DEFAULT_SERVER_URL, validation_alias=AliasChoices("DATABASE_URL", "database_server_url")
    )
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers")
    )
    kafka_idempotence: Literal["auto", "on", "off"] = Field(
        "auto", validation_alias=AliasChoices("LEADNET_KAFKA_IDEMPOTENCE", "kafka_idempotence")
    )
    # How the clients authenticate to the broker (aiokafka's own options, leadnet_shared.kafka.KafkaSecurity):
    # SASL_SSL with SCRAM-SHA-512 on Kubernetes (Strimzi KafkaUser), SASL_PLAINTEXT with SCRAM in compose,
    # PLAINTEXT only for a local broker (`leadnet up`, tests). The password comes from a file (a mounted Secret)
    # or the environment.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", validation_alias=AliasChoices("KAFKA_SECURITY_PROTOCOL", "kafka_security_protocol")
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512", validation_alias=AliasChoices("KAFKA_SASL_MECHANISM", "kafka_sasl_mechanism")
    )
    kafka_sasl_username: str | None = Field(
        None, validation_alias=AliasChoices("KAFKA_SASL_USERNAME", "kafka_sasl_username")
    )
    kafka_sasl_password: SecretStr | None = Field(
        None, validation_alias=AliasChoices("KAFKA_SASL_PASSWORD", "kafka_sasl_password")
    )
    kafka_sasl_password_file: str | None = Field(
        None, validation_alias=AliasChoices("KAFKA_SASL_PASSWORD_FILE", "kafka_sasl_password_file")
    )
    # TLS: the CA that signed the brokers' certificates (Strimzi's <cluster>-cluster-ca-cert Secret); a client
    # certificate and key only for mutual TLS instead of SCRAM.
    kafka_ssl_cafile: str | None = Field(None, validation_alias=AliasChoices("KAFKA_SSL_CAFILE", "kafka_ssl_cafile"))
    kafka_ssl_certfile: str | None = Field(
        None, validation_alias=AliasChoices("KAFKA_SSL_CERTFILE", "kafka_ssl_certfile")
    )
    kafka_ssl_keyfile: str | None = Field(None, validation_alias=AliasChoices("KAFKA_SSL_KEYFILE", "kafka_ssl_keyfile"))
    topic_prefix: str = Field("", validation_alias=AliasChoices("LEADNET_TOPIC_PREFIX", "topic_prefix"))
    jwks_file: str | None = Field(None, validation_alias=AliasChoices("LEADNET_JWKS_FILE", "jwks_file"))
    jwks_url: str | None = Field(None, validation_alias=AliasChoices("LEADNET_JWKS_URL", "jwks_url"))
    jwt_issuer: str = Field(DEFAULT_ISSUER, validation_alias=AliasChoices("LEADNET_JWT_ISSUER", "jwt_issuer"))
    jwt_audience: str = Field(DEFAULT_AUDIENCE, validation_alias=AliasChoices("LEADNET_JWT_AUDIENCE", "jwt_audience"))
    jwt_max_lifetime_seconds: int = Field(
        DEFAULT_MAX_LIFETIME,
        gt=0,
        validation_alias=AliasChoices("LEADNET_JWT_MAX_LIFETIME_SECONDS", "jwt_max_lifetime_seconds"),
    )
    jwks_refresh_seconds: float = Field(
        300.0, gt=0, validation_alias=AliasChoices("LEADNET_JWKS_REFRESH_SECONDS", "jwks_refresh_seconds")
    )
    log_level: str = Field("INFO", validation_alias=AliasChoices("LEADNET_LOG_LEVEL", "log_level"))
    log_json: bool = Field(True, validation_alias=AliasChoices("LEADNET_LOG_JSON", "log_json"))
    host: str = Field("127.0.0.1", validation_alias=AliasChoices("LEADNET_HOST", "host"))
    consumer_max_attempts: int = Field(
        5, validation_alias=AliasChoices("LEADNET_CONSUMER_MAX_ATTEMPTS", "consumer_max_attempts")
    )
    outbox_retention_hours: int = Field(
        168, validation_alias=AliasChoices("LEADNET_OUTBOX_RETENTION_HOURS", "outbox_retention_hours")
    )
    # Sent outbox rows of events with personal data (lead.submitted) are deleted after this many minutes: the
    # broker-loss republish covers them for this window only (docs/privacy.md).
    outbox_personal_data_retention_minutes: int = Field(
        15,
        gt=0,
        validation_alias=AliasChoices(
            "LEADNET_OUTBOX_PERSONAL_DATA_RETENTION_MINUTES", "outbox_personal_data_retention_minutes"
        ),
    )

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> CommonSettings:
        # A production process without a key to verify tokens would accept nobody or, worse, anybody.
        if self.env == "production" and not (self.jwks_file or self.jwks_url):
            raise ValueError("LEADNET_JWKS_FILE or LEADNET_JWKS_URL is required in production")
        if self.env == "production" and self.jwks_url and not self.jwks_url.startswith("https://"):
            # Keys fetched over plain HTTP can be swapped on the way: then anybody's token verifies.
            raise ValueError("LEADNET_JWKS_URL must be https in production")
        if self.kafka_security_protocol.startswith("SASL_"):
            if not self.kafka_sasl_username:
                raise ValueError(
                    f"KAFKA_SASL_USERNAME is required with KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol}"
                )
            if not (self.kafka_sasl_password or self.kafka_sasl_password_file):
                raise ValueError("KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE is required with SASL")
        if self.env == "production" and self.kafka_security_protocol == "PLAINTEXT":
            # A broker that asks nobody who they are lets any process on the network write the events money is
            # paid on (issue 16 §5): production authenticates, with SCRAM (over TLS on Kubernetes) or mutual TLS.
            raise ValueError(
                "KAFKA_SECURITY_PROTOCOL=PLAINTEXT is refused in production: use SASL_SSL or SASL_PLAINTEXT"
            )
        if (
            self.env == "production"
            and self.kafka_idempotence == "auto"
            and "kafka_idempotence" not in (self.model_fields_set)
        ):
            # `auto` turns idempotence off when the probe fails, even transiently (review L12): a producer retry
            # could then write an event twice. Production brokers support it, so production insists.
            self.kafka_idempotence = "on"
        return self


class ServiceSettings(CommonSettings):
    """Base of a service's settings. A subclass names its `service` and `default_port` in its class statement
    (`class RouterSettings(ServiceSettings, service="router", default_port=8002)`) and declares its own fields; its
    env prefix (`LEADNET_<SERVICE>_`) and database (`leadnet_<service>`) follow from the name."""

    service: ClassVar[str] = "service"
    database_name: ClassVar[str] = "leadnet"
    default_port: ClassVar[int] = 8000

    def __init_subclass__(cls, *, service: str | None = None, default_port: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Not named: as the parent says (a subclass of a service's settings stays that service).
        cls.service = service or cls.service
        cls.default_port = default_port or cls.default_port

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # pydantic-settings reads `env_prefix` from the class's config when it is instantiated, so it may be set here.
        cls.model_config = {**cls.model_config, "env_prefix": f"LEADNET_{cls.service.upper()}_"}
        cls.database_name = f"leadnet_{cls.service}"

    # Read from `<PREFIX>DATABASE_URL` (e.g. LEADNET_INTAKE_DATABASE_URL); named apart from the common
    # `DATABASE_URL` because settings names match environment variables case-insensitively.
    service_database_url: str | None = None
    port: int | None = None
    db_pool_size: int = 10
    db_max_overflow: int = 10
    # A ping before each pooled connection is used costs a round trip per transaction (a quarter of a small
    # transaction's CPU: docs/performance.md, "Pool pre-ping"). Off by default: a connection the server dropped
    # fails its one transaction, is discarded by the pool, and the work is retried (consumers back off and re-read
    # from the committed offset; a DMS retries its request, with its Idempotency-Key). On for networks that cut
    # idle connections silently.
    db_pool_pre_ping: bool = False
    # Per-session limits in milliseconds (0: none). A statement or a lock wait past them fails, as a transient
    # error (consumers retry it with backoff, callers get 503 and retry), instead of holding its connection,
    # and the locks it has, for as long as a stuck peer or a black-holed network lasts.
    db_statement_timeout_ms: int = 30_000
    db_lock_timeout_ms: int = 5_000
    # asyncpg's own limit per command, in seconds: a connection whose server went silent fails instead of hanging.
    db_command_timeout_seconds: float = 60.0
    # Server processes on one host (uvicorn workers), for a single machine such as `leadnet up` or a benchmark.
    # On Kubernetes keep 1 and scale with replicas: each pod then exposes its own /metrics.
    workers: int = 1
    # Seconds from SIGTERM to exit. uvicorn waits up to `shutdown_http_seconds` of it for requests in flight; the
    # lifespan spends the rest: the consumers' last batch (at most 10 s), the outbox drain (at most 5 s), the
    # shutdown hooks, each step given what is left. The orchestrator's grace period must exceed it plus the preStop
    # pause (tests/deploy checks the manifests and compose), or the final drain is killed half-way.
    shutdown_timeout_seconds: float = Field(30.0, gt=0)
    shutdown_http_seconds: float = Field(10.0, ge=0)

    @model_validator(mode="after")
    def _shutdown_budget(self) -> ServiceSettings:
        if self.shutdown_http_seconds >= self.shutdown_timeout_seconds:
            raise ValueError("shutdown_http_seconds must leave part of shutdown_timeout_seconds to the lifespan")
        return self

    @model_validator(mode="before")
    @classmethod
    def _own_database_url(cls, data: Any) -> Any:
        prefix = str(cls.model_config.get("env_prefix", ""))
        value = os.environ.get(f"{prefix}DATABASE_URL")
        if value and isinstance(data, dict) and not data.get("service_database_url"):
            data["service_database_url"] = value
        return data

    @property
    def http_port(self) -> int:
        return self.port or self.default_port

    @property
    def async_dsn(self) -> str:
        """The service's own database as an SQLAlchemy asyncpg URL."""
        return to_asyncpg_url(
            self.service_database_url or database_url_for(self.database_server_url, self.database_name)
        )

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


def database_url_for(server_url: str, database: str) -> str:
    """The URL of `database` on the server `server_url` points at (its own path, if any, is replaced)."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


def to_asyncpg_url(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


def to_plain_url(url: str) -> str:
    """The URL asyncpg itself accepts (`postgresql://`)."""
    return "postgresql://" + to_asyncpg_url(url)[len("postgresql+asyncpg://") :]
