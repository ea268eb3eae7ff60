"""The access table (leadnet_shared.access) against the code: what each service's consumers read, what its outbox
writes, who produces each event type. The broker ACLs are written from this table (tests/deploy checks them), so a
consumer or an event added without its row here fails here, not as a TopicAuthorizationFailed in production."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import import_module

import pytest

import leadnet.services
from leadnet_shared.access import PRODUCER_OF, READS, SERVICES, WRITES, source_of, trusted_sources
from leadnet_shared.events import (
    DEAD_LETTERS,
    EVENT_TYPES,
    LEDGER,
    SALES,
    TOPIC_OF_TYPE,
    EntryPosted,
    SaleCancelled,
)
from leadnet_shared.outbox import Outbox, Outgoing, TopicNotWritable

PACKAGES = {service.name: service.package for service in leadnet.services.SERVICES}


def _app(service: str):  # type: ignore[no-untyped-def]
    package = PACKAGES[service]
    settings_module = import_module(f"{package}.settings")
    (settings_class,) = [
        c
        for c in vars(settings_module).values()
        if isinstance(c, type) and c.__module__ == settings_module.__name__ and hasattr(c, "default_port")
    ]
    return import_module(f"{package}.app").create_app(settings_class(env="test", jwks_file="unused"))


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_reads_exactly_what_its_consumers_subscribe(service: str) -> None:
    app = _app(service)
    assert app.service == service
    assert {topic for spec in app.consumer_specs for topic in spec.topics} == READS[service]


def test_every_event_type_has_one_producer_that_may_write_its_topic() -> None:
    assert set(PRODUCER_OF) == set(EVENT_TYPES) - {"leadnet.event.dead_lettered"}
    for event_type, service in PRODUCER_OF.items():
        assert TOPIC_OF_TYPE[event_type] in WRITES[service], event_type
    # Every service that consumes dead-letters; nobody writes a topic without producing an event type on it.
    assert all(DEAD_LETTERS in WRITES[s] for s in SERVICES if READS[s])
    for service, topics in WRITES.items():
        produced = {TOPIC_OF_TYPE[t] for t, s in PRODUCER_OF.items() if s == service} | {DEAD_LETTERS}
        assert topics == produced, service


def test_the_one_writer_of_money_topics() -> None:
    assert {s for s, topics in WRITES.items() if LEDGER in topics} == {"ledger"}
    assert {s for s, topics in WRITES.items() if SALES in topics} == {"router"}


def test_the_ledger_trusts_each_fact_from_its_producer_only() -> None:
    app = _app("ledger")
    (spec,) = app.consumer_specs
    assert spec.sources == trusted_sources(spec.types)
    assert spec.sources["leadnet.sale.attributed"] == spec.sources["leadnet.sale.cancelled"] == source_of("router")
    assert spec.sources["leadnet.lead.verified"] == source_of("scheduler")


def test_the_outbox_refuses_a_topic_its_service_may_not_write() -> None:
    """What the broker's ACL would refuse the relay is refused where it is written, in the caller's transaction."""
    now = datetime(2026, 11, 2, tzinfo=UTC)
    cancelled = SaleCancelled(sale_id="S1", customer_id="C1", cancelled_at=now)
    scheduler = Outbox(EVENT_TABLE, source=source_of("scheduler"), writes=WRITES["scheduler"])
    with pytest.raises(TopicNotWritable, match=r"/leadnet/scheduler may not write leadnet\.sale\.cancelled"):
        scheduler.row(Outgoing(cancelled, key="C1", subject="C1"), time=now)
    router = Outbox(EVENT_TABLE, source=source_of("router"), writes=WRITES["router"])
    assert router.row(Outgoing(cancelled, key="C1", subject="C1"), time=now).envelope.source == "/leadnet/router"
    posted = EntryPosted.model_construct()
    with pytest.raises(TopicNotWritable):
        router.row(Outgoing(posted, key="C1", subject="C1"), time=now)


EVENT_TABLE = import_module("rewards_ledger.models").OUTBOX
