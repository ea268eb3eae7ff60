"""The event catalogue: every type parses back to its model through the discriminated union, what a newer producer
adds is tolerated, an old version is upcast, and `data` on the wire is what it was before the catalogue."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from leadnet_shared.events import (
    EVENT_TYPES,
    UPCASTERS,
    Envelope,
    EventData,
    LeadClosed,
    TaskDue,
    UnknownEventType,
    make_envelope,
    parse_data,
    parse_event,
    schema_uri,
    version_of,
)
from leadnet_shared.schemas import event_schemas

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def _sample_value(schema: dict[str, Any]) -> Any:
    """A value fitting a JSON-schema property: the simplest one of its type."""
    if "anyOf" in schema:
        return _sample_value(next(s for s in schema["anyOf"] if s.get("type") != "null"))
    if "$ref" in schema:
        return {}  # the nested models (masked customer, ...) have no required fields
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "string":
        return {"date-time": NOW.isoformat(), "date": "2026-12-30"}.get(fmt or "", "x")
    return {"integer": 1, "number": 0.5, "boolean": True, "array": [], "object": {}}[str(kind)]


def sample_data(event_type: str) -> dict[str, Any]:
    """The required fields of a type's payload, read from its generated schema (so a new type needs no sample)."""
    model = EVENT_TYPES[event_type]
    schema = event_schemas()[f"{event_type}.v{model.version}"]
    return {name: _sample_value(schema["properties"][name]) for name in schema.get("required", [])}


def envelope_of(event_type: str, data: dict[str, Any], *, dataschema: str | None = None) -> Envelope:
    """An envelope as it comes off a topic: parsed from bytes, as a consumer reads it."""
    envelope = Envelope(
        id="e1",
        type=event_type,
        source="/test",
        time=NOW,
        subject="C1",
        data=data,
        dataschema=dataschema
        or schema_uri(event_type, EVENT_TYPES[event_type].version if event_type in EVENT_TYPES else 1),
    )
    return Envelope.from_bytes(envelope.to_bytes())


class TestTheUnionParsesEveryType:
    @pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
    def test_published_payload_comes_back_as_its_own_model(self, event_type: str) -> None:
        model = EVENT_TYPES[event_type]
        event = model.model_validate(sample_data(event_type))
        sent = make_envelope(data=event, source="/test", time=NOW, subject="C1")
        received = Envelope.from_bytes(sent.to_bytes())
        assert (received.type, received.dataschema) == (event_type, f"/schemas/{event_type}/v{model.version}")
        parsed = parse_event(received)
        assert type(parsed) is model
        assert parsed == event
        assert model.of(received) == event

    @pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
    def test_the_discriminator_never_enters_data(self, event_type: str) -> None:
        """`data` on the wire is the payload as before the catalogue: consumers see no new `type` field."""
        event = EVENT_TYPES[event_type].model_validate(sample_data(event_type))
        assert "type" not in make_envelope(data=event, source="/test", time=NOW, subject="C1").data

    def test_each_task_moment_is_its_own_type_with_the_shared_payload(self) -> None:
        data = sample_data("leadnet.task.due")
        assert isinstance(parse_event(envelope_of("leadnet.task.due", data)), TaskDue)
        assert type(parse_event(envelope_of("leadnet.task.overdue", data))).__name__ == "TaskOverdue"

    def test_parse_data_is_parse_event(self) -> None:
        assert parse_data is parse_event


class TestWhatANewerProducerSends:
    def test_an_unknown_type_is_a_clear_error_the_consumer_can_skip(self) -> None:
        with pytest.raises(UnknownEventType) as raised:
            parse_event(envelope_of("leadnet.lead.teleported", {"lead_id": "L1"}))
        assert raised.value.event_type == "leadnet.lead.teleported"

    def test_unknown_fields_are_kept(self) -> None:
        data = {**sample_data("leadnet.lead.closed"), "closed_by": "D001"}
        parsed = parse_event(envelope_of("leadnet.lead.closed", data))
        assert parsed.model_extra == {"closed_by": "D001"}

    def test_a_newer_compatible_version_is_read_as_ours(self) -> None:
        data = {**sample_data("leadnet.lead.closed"), "closed_by": "D001"}
        envelope = envelope_of("leadnet.lead.closed", data, dataschema="/schemas/leadnet.lead.closed/v2")
        assert isinstance(parse_event(envelope), LeadClosed)

    def test_a_payload_that_does_not_fit_its_type_is_refused(self) -> None:
        with pytest.raises(ValidationError):
            parse_event(envelope_of("leadnet.lead.closed", {"lead_id": "L1"}))

    def test_a_type_asked_for_by_name_must_be_that_type(self) -> None:
        with pytest.raises(ValueError, match=r"expected a leadnet\.lead\.closed"):
            LeadClosed.of(envelope_of("leadnet.task.due", sample_data("leadnet.task.due")))


class TestUpcasters:
    """No event has an old version yet: a test-only v0 of lead.closed (`why` instead of `reason`, no customer id)."""

    @pytest.fixture
    def v0_upcaster(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def v0_to_v1(data: dict[str, Any]) -> dict[str, Any]:
            data["reason"] = data.pop("why")
            data.setdefault("customer_id", "unknown")
            return data

        monkeypatch.setitem(UPCASTERS, ("leadnet.lead.closed", 0), v0_to_v1)

    V0: ClassVar[dict[str, Any]] = {"lead_id": "L1", "why": "invalid_information", "closed_at": NOW.isoformat()}

    @pytest.mark.usefixtures("v0_upcaster")
    def test_an_old_version_is_upcast_before_it_is_parsed(self) -> None:
        envelope = envelope_of("leadnet.lead.closed", dict(self.V0), dataschema="/schemas/leadnet.lead.closed/v0")
        assert version_of(envelope) == 0
        for parsed in (parse_event(envelope), LeadClosed.of(envelope)):
            assert isinstance(parsed, LeadClosed)
            assert (parsed.reason, parsed.customer_id) == ("invalid_information", "unknown")
        assert "why" in envelope.data, "the received envelope is not changed by upcasting"

    def test_an_old_version_without_its_upcaster_is_refused(self) -> None:
        envelope = envelope_of("leadnet.lead.closed", dict(self.V0), dataschema="/schemas/leadnet.lead.closed/v0")
        with pytest.raises(ValueError, match=r"no upcaster from leadnet\.lead\.closed v0"):
            parse_event(envelope)

    def test_an_envelope_without_dataschema_is_version_1(self) -> None:
        envelope = Envelope(id="e1", type="leadnet.lead.closed", source="/t", time=NOW, data={})
        assert version_of(envelope) == 1


class TestUncataloguedPayloads:
    def test_a_plain_payload_has_no_event_type(self) -> None:
        with pytest.raises(TypeError, match="not a catalogued event type"):
            EventData.event_type()
