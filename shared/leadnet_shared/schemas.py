"""JSON schemas of every event type's payload (CloudEvents `data`), generated from the catalogue in `events.py` and
kept in the repo (`leadnet_shared/schemas/<type>.v<version>.json`, the file an envelope's `dataschema` names) so that
consumers outside Python (HQ dashboards) can validate what they read.

Regenerate after changing an event: `python -m leadnet_shared.schemas`. A test fails while they differ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from leadnet_shared.events import EVENT_TYPES, Envelope

SCHEMA_DIR = Path(__file__).parent / "schemas"
ENVELOPE_SCHEMA = "cloudevents-envelope"


def envelope_schema() -> dict[str, Any]:
    schema = Envelope.model_json_schema()
    schema["$id"] = f"/schemas/{ENVELOPE_SCHEMA}"
    return schema


def event_schemas() -> dict[str, dict[str, Any]]:
    """Per file name (`<type>.v<version>`), the schema of that type's `data`."""
    out = {}
    for event_type, model in sorted(EVENT_TYPES.items()):
        schema = model.model_json_schema()
        # The discriminator travels as the envelope's `type`, never inside `data` (it is excluded from dumps).
        schema["properties"].pop("type")
        if "type" in schema.get("required", []):
            schema["required"].remove("type")
        schema["$id"] = model.dataschema()
        schema["x-leadnet-type"] = event_type
        schema["x-leadnet-version"] = model.version
        schema["x-leadnet-topic"] = model.event_topic
        out[f"{event_type}.v{model.version}"] = schema
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema and delete the files of types or versions the catalogue no longer has."""
    directory.mkdir(exist_ok=True)
    wanted = {ENVELOPE_SCHEMA: envelope_schema(), **event_schemas()}
    for stale in directory.glob("*.json"):
        if stale.stem not in wanted:
            stale.unlink()
    written = []
    for name, schema in wanted.items():
        path = directory / f"{name}.json"
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all():
        print(path)
