"""`leadnet import-vehicles FILE`: load the maker's vehicle registry from a CSV export of its factory/wholesale
system into the router (`PUT /v1/vehicles`, 1000 vehicles a request).

The file has a header with the columns `vin, model, product_line, delivered_to, delivered_at` (any order; other
columns ignored), UTF-8 (with or without BOM) or GB18030. `delivered_at` is an ISO 8601 time, or a date, read as
midnight in Shanghai. A batch the router refuses is reported row by row (the file's line numbers) and the next
batches are still sent: a registry upload is an upsert, so the file can simply be sent again once fixed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

COLUMNS = ("vin", "model", "product_line", "delivered_to", "delivered_at")
BATCH = 1000
_POINTER = re.compile(r"^/vehicles/(\d+)(/.*)?$")


@dataclass
class VehicleImport:
    created: int = 0
    updated: int = 0
    # (line in the file, column, code, message) for every refused vehicle
    problems: list[tuple[int, str, str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "problems": [
                {"line": line, "column": column, "code": code, "message": message}
                for line, column, code, message in self.problems
            ],
        }


def decode(raw: bytes) -> str:
    """UTF-8 (a BOM is dropped) when the file decodes as UTF-8, else GB18030 (the Windows exports of the DMS)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("gb18030")


def _delivered_at(value: str) -> str:
    value = value.strip()
    return f"{value}T00:00:00+08:00" if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else value


def read_batches(path: Path, *, size: int = BATCH) -> Iterator[tuple[int, list[dict[str, str]]]]:
    """The file's vehicles in request-sized batches, each with the file line of its first row."""
    reader = csv.DictReader(io.StringIO(decode(path.read_bytes()), newline=""))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{path}: the header lacks {', '.join(missing)}")
    batch: list[dict[str, str]] = []
    first_line = 2
    for row in reader:
        vehicle = {c: (row.get(c) or "").strip() for c in COLUMNS}
        vehicle["delivered_at"] = _delivered_at(vehicle["delivered_at"])
        batch.append(vehicle)
        if len(batch) == size:
            yield first_line, batch
            first_line, batch = first_line + size, []
    if batch:
        yield first_line, batch


def account(result: VehicleImport, response: httpx.Response, *, first_line: int) -> None:
    """Add one batch's answer to the summary: counts, or each refused row's problems at its file line."""
    if response.status_code == 200:
        result.created += int(response.json()["created"])
        result.updated += int(response.json()["updated"])
        return
    if response.status_code != 422:
        response.raise_for_status()
    for problem in response.json().get("errors", []):
        match = _POINTER.match(problem.get("field", ""))
        line = first_line + int(match.group(1)) if match else first_line
        column = (match.group(2) or "").lstrip("/") if match else problem.get("field", "")
        result.problems.append((line, column, problem.get("code", ""), problem.get("message", "")))


def import_vehicles(path: Path, *, base_url: str, token: str) -> VehicleImport:
    result = VehicleImport()
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for first_line, batch in read_batches(path):
            account(result, client.put("/v1/vehicles", json={"vehicles": batch}), first_line=first_line)
    return result
