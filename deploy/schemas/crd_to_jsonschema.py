"""Turn CustomResourceDefinitions into strict JSON schemas, so a typo in a custom resource fails validation.

The API server prunes unknown fields of a structural schema silently; a strict schema (no additional
properties where the CRD lists them, unless it preserves unknown fields) makes that silent loss a failure.
Usage: python crd_to_jsonschema.py OUT_DIR CRD.yaml...
(writes <kind>-<group>-<version>.json per served version)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml


def strict(node: Any) -> Any:
    """The JSON-schema form of an OpenAPI v3 node, closed where the CRD is closed."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: strict(value) for key, value in node.items() if not key.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def main(out_dir: str, *crd_files: str) -> None:
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    for crd_file in crd_files:
        crd = yaml.safe_load(Path(crd_file).read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served"):
                continue
            schema = strict(version["schema"]["openAPIV3Schema"])
            schema["properties"]["apiVersion"] = {"const": f"{group}/{version['name']}"}
            schema["properties"]["kind"] = {"const": kind}
            schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
            schema["$schema"] = "http://json-schema.org/draft-07/schema#"
            name = f"{kind.lower()}-{group}-{version['name']}.json"
            (target / name).write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
            print(f"wrote {target / name}")


if __name__ == "__main__":
    main(*sys.argv[1:])
