"""Validate rendered Kubernetes objects against pinned schemas, offline; run with the deploy tools' Python.

Built-in kinds: the Kubernetes JSON schemas shipped inside the `kubernetes-validate` package, strict
(an unknown field is an error, as `kubectl apply --validate=strict` makes it). Custom resources (Strimzi,
Prometheus Operator): the strict JSON schemas vendored under deploy/schemas/, made from each project's CRDs.
An object of a kind that has no schema is an error too, so a new kind cannot slip through unchecked.

Usage: python validate_objects.py KUBERNETES_VERSION SCHEMA_DIR MANIFEST.yaml...
Prints a JSON list of {"object": "Kind/name", "error": "..."}; exits 0 when the list is empty, 1 otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

Schemas = dict[tuple[str, str], dict[str, Any]]


def custom_schemas(schema_dir: Path) -> Schemas:
    """(apiVersion, kind) -> schema, for every vendored custom-resource schema."""
    schemas: Schemas = {}
    for path in sorted(schema_dir.glob("*/*.json")):
        schema = json.loads(path.read_text())
        props = schema["properties"]
        schemas[(props["apiVersion"]["const"], props["kind"]["const"])] = schema
    return schemas


def problems(obj: dict[str, Any], *, version: str, schemas: Schemas) -> list[str]:
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    if key in schemas:
        validator = jsonschema.Draft7Validator(schemas[key])
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
        ]
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = "/".join(map(str, exc.path)) or "(root)"
        return [f"{path}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"no schema for {key[0]} {key[1]} (Kubernetes {version} or deploy/schemas)"]
    return []


def main(version: str, schema_dir: str, *manifests: str) -> int:
    schemas = custom_schemas(Path(schema_dir))
    found: list[dict[str, str]] = []
    for manifest in manifests:
        for obj in yaml.safe_load_all(Path(manifest).read_text()):
            if not obj:
                continue
            name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
            errors = problems(obj, version=version, schemas=schemas)
            found += [{"object": name, "error": error} for error in errors]
    print(json.dumps(found, indent=1))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
