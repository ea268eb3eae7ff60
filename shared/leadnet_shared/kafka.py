"""Kafka plumbing: producers that never give at-most-once delivery, topic creation, broker capability probes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.transaction import InitProducerIdRequest

from leadnet_shared.events import TOPICS

if TYPE_CHECKING:
    from leadnet_shared.settings import CommonSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KafkaSecurity:
    """How a client proves who it is to the broker, as aiokafka's own options (`security_protocol`,
    `sasl_mechanism`, `sasl_plain_username`/`_password`, `ssl_context`), the same for every producer, consumer and
    admin client of a process. The broker's ACLs are written for the user named here (deploy/base/kafka/users.yaml,
    `leadnet_shared.access`)."""

    protocol: str = "PLAINTEXT"
    mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = None
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> KafkaSecurity:
        """From KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and KAFKA_SSL_*; a password file is read now (at startup)."""
        password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else None
        if settings.kafka_sasl_password_file:
            password = Path(settings.kafka_sasl_password_file).read_text(encoding="utf-8").strip()
        return cls(
            protocol=settings.kafka_security_protocol,
            mechanism=settings.kafka_sasl_mechanism,
            username=settings.kafka_sasl_username,
            password=password,
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
        )

    def options(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient / AIOKafkaClient."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.protocol.startswith("SASL_"):
            options |= {
                "sasl_mechanism": self.mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        if self.protocol.endswith("SSL"):
            # Verifies the broker's certificate and host name against the CA (the system's when none is given).
            options["ssl_context"] = create_ssl_context(
                cafile=self.cafile, certfile=self.certfile, keyfile=self.keyfile
            )
        return options

    def __repr__(self) -> str:  # never the password, in a log line or a traceback
        return f"KafkaSecurity(protocol={self.protocol!r}, mechanism={self.mechanism!r}, username={self.username!r})"


PLAINTEXT = KafkaSecurity()

DEFAULT_PARTITIONS = 12
# COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, NOT_ENOUGH_REPLICAS
_RETRIABLE_PID_ERRORS = frozenset({14, 15, 16, 19})
_DAY_MS = 24 * 3600 * 1000
# Every producer's fixed options: acknowledged by all in-sync replicas (never at-most-once), larger batches.
_PRODUCER_OPTIONS: dict[str, Any] = {"acks": "all", "request_timeout_ms": 15000, "max_batch_size": 256 * 1024}


async def broker_supports_idempotence(bootstrap_servers: str, *, security: KafkaSecurity = PLAINTEXT) -> bool:
    """Ask the broker for a producer id, which an idempotent producer needs; brokers that cannot refuse it."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, **security.options())
    try:
        await client.bootstrap()
        for _ in range(30):
            node = client.get_random_node()
            request = InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=60000)
            code = int((await client.send(node, request)).error_code)
            if code in _RETRIABLE_PID_ERRORS:  # a broker that just started is still loading its coordinators
                await asyncio.sleep(0.5)
                continue
            return code == 0
        return False
    except Exception:  # an old or partial broker may not even answer the request
        return False
    finally:
        await client.close()


async def start_producer(
    bootstrap_servers: str,
    *,
    idempotence: str = "auto",
    client_id: str = "leadnet",
    linger_ms: int = 2,
    security: KafkaSecurity = PLAINTEXT,
) -> AIOKafkaProducer:
    """A started producer with `acks=all`, idempotent where the broker supports it."""
    if idempotence == "auto":
        enable = await broker_supports_idempotence(bootstrap_servers, security=security)
        if not enable:
            log.warning(
                "kafka broker does not support idempotent producers; using acks=all without idempotence "
                "(duplicates on retry are absorbed by the consumers' inboxes)"
            )
    else:
        enable = idempotence == "on"
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=enable,
        linger_ms=linger_ms,
        **_PRODUCER_OPTIONS,
        **security.options(),
    )
    try:
        await producer.start()
    except BaseException:  # a refused login or no broker: close what start() opened, then say why
        await producer.stop()
        raise
    return producer


async def ensure_topics(
    bootstrap_servers: str,
    *,
    prefix: str = "",
    partitions: int = DEFAULT_PARTITIONS,
    replication: int = 1,
    security: KafkaSecurity = PLAINTEXT,
) -> list[str]:
    """Create the contract's topics with their partitions and cleanup policies; existing ones are left alone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **security.options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = []
        for spec in TOPICS:
            name = prefix + spec.name
            if name in existing:
                continue
            config: dict[str, str] = {"cleanup.policy": spec.cleanup}
            if spec.retention_days is not None:
                config["retention.ms"] = str(spec.retention_days * _DAY_MS)
            new.append(NewTopic(name, partitions, replication, topic_configs=config))
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):  # a concurrent starter created them first
                await admin.create_topics(new)
        return [t.name for t in new]
    finally:
        await admin.close()


async def broker_cluster_id(bootstrap_servers: str, *, security: KafkaSecurity = PLAINTEXT) -> str | None:
    """The broker's cluster id: a new one means the broker lost what was published before (an embedded restart)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **security.options())
    await admin.start()
    try:
        info = await admin.describe_cluster()
        value = info.get("cluster_id") if isinstance(info, dict) else None
        return str(value) if value else None
    except Exception:
        return None
    finally:
        await admin.close()
