"""The event schemas kept in the repo are the ones the typed payloads produce, and public events carry no PII."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from leadnet_shared.events import EVENT_TYPES, TOPIC_OF_TYPE, TOPICS, Envelope
from leadnet_shared.schemas import SCHEMA_DIR, envelope_schema, event_schemas, render


class TestSchemasInRepo:
    def test_every_event_type_has_an_up_to_date_schema_file(self) -> None:
        for name, schema in event_schemas().items():
            path = SCHEMA_DIR / f"{name}.json"
            assert path.exists(), f"missing {path}: run python -m leadnet_shared.schemas"
            assert path.read_text(encoding="utf-8") == render(schema), f"{path} is stale: regenerate it"
        assert (SCHEMA_DIR / "cloudevents-envelope.json").read_text(encoding="utf-8") == render(envelope_schema())

    def test_no_schema_file_without_an_event_type(self) -> None:
        known = set(event_schemas()) | {"cloudevents-envelope"}
        assert {p.stem for p in SCHEMA_DIR.glob("*.json")} <= known

    def test_a_schema_file_per_type_and_version_named_by_the_envelopes_dataschema(self) -> None:
        for event_type, model in EVENT_TYPES.items():
            schema = event_schemas()[f"{event_type}.v{model.version}"]
            assert schema["$id"] == model.dataschema() == f"/schemas/{event_type}/v{model.version}"
            assert "type" not in schema["properties"], "the discriminator is the envelope's type, not data's"

    def test_every_event_type_has_a_topic_of_the_contract(self) -> None:
        topics = {t.name for t in TOPICS}
        assert set(TOPIC_OF_TYPE) == set(EVENT_TYPES)
        assert set(TOPIC_OF_TYPE.values()) <= topics


class TestPublicPayloadsCarryNoPersonalData:
    def test_public_event_fields_never_name_a_phone_or_full_address(self) -> None:
        public = {t.name for t in TOPICS if t.public}
        for schema in event_schemas().values():
            event_type = schema["x-leadnet-type"]
            if TOPIC_OF_TYPE[event_type] not in public or event_type.startswith("leadnet.dealer."):
                continue  # a dealer's name is its company name, not a person's data
            fields = set(schema.get("properties", {}))
            # Personal data may only appear inside the masked `customer` block (MaskedCustomer).
            assert not fields & {"phone", "name", "address", "record", "raw"}, event_type


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


class TestEnvelopeBytes:
    @settings(max_examples=200, deadline=None)
    @given(
        data=st.dictionaries(st.text(max_size=6), json_values, max_size=4),
        time=st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))])),
        subject=st.none() | st.text(max_size=10),
    )
    def test_fast_serialization_is_the_same_json_as_pydantic_s(
        self, data: dict[str, Any], time: datetime, subject: str | None
    ) -> None:
        envelope = Envelope(
            id="e1", type="leadnet.lead.closed", source="/test", time=time, subject=subject, data=data, dataschema=None
        )
        assert envelope.to_bytes() == orjson.dumps(envelope.model_dump(mode="json", exclude_none=True))
