"""JSON schemas of every event type, generated from the typed payloads in `events.py` and kept in the repo
(`leadnet_shared/schemas/*.json`) so that consumers outside Python (HQ dashboards) can validate what they read.

Regenerate after changing an event: `python -m leadnet_shared.schemas`. A test fails while they differ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from leadnet_shared.events import EVENT_TYPES, TOPIC_OF_TYPE, Envelope

SCHEMA_DIR = Path(__file__).parent / "schemas"


def envelope_schema() -> dict[str, Any]:
    schema = Envelope.model_json_schema()
    schema["$id"] = "/schemas/cloudevents-envelope"
    return schema


def event_schemas() -> dict[str, dict[str, Any]]:
    out = {}
    for event_type, model in sorted(EVENT_TYPES.items()):
        schema = model.model_json_schema()
        schema["$id"] = f"/schemas/{event_type}/v1"
        schema["x-leadnet-topic"] = TOPIC_OF_TYPE.get(event_type)
        out[event_type] = schema
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(exist_ok=True)
    written = []
    for name, schema in [("cloudevents-envelope", envelope_schema()), *event_schemas().items()]:
        path = directory / f"{name}.json"
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all():
        print(path)
