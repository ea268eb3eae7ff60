"""Bulk import (`leadnet import FILE`): a CSV or NDJSON file of records through `POST /v1/leads/batch`.

Files:
- **NDJSON**: one record (the JSON body of `POST /v1/leads`) per line; blank lines are skipped.
- **CSV**: a header row of dotted paths into the record, list entries by index:
  `source, network_code, customer.name, customer.phone, customer.address, customer.region_code, customer.tier,
  customer.nature, vehicles_in_use.0.brand, vehicles_in_use.0.model, ..., vehicles_in_use.1.brand, ...,
  usage.cargo, usage.load_tons, ..., purchase_intent.horizon`. An empty cell is an absent value, so a block whose
  cells are all empty is an absent block (the validator's rule). Cells stay text: intake parses "49吨", "2".
  A column that is not a field of the record is sent as is and refused per row (`unknown_field`).
- Encoding: UTF-8 (with or without BOM) or GB18030, detected from the first MiB. A line that does not decode is
  reported as that row's `bad_encoding` and the rest is imported.

Exactly once: the rows are cut into batches deterministically (by count and by size), and each batch is sent with
`Idempotency-Key: import:<file fingerprint>:<batch index>:<first row>`, so a retried or resumed batch replays its
answer instead of saving its records twice. Progress is kept in a small state file next to the result file
(`<result>.state.json`): after each batch its results are appended to the result file, then the state file is
replaced atomically; a resumed import truncates the result file to the last recorded length and goes on from the
next batch.

Speed: batches are sent with `Prefer: respond-async`, so intake answers as soon as a batch is saved (each saved
record `202 pending`) and the import goes as fast as intake saves rather than as fast as the router decides. Once
every row is sent, the import collects the verdicts (`POST /v1/leads/verdicts`, 1000 leads per request) until none
is pending or `settle_seconds` pass, and rewrites the result file with them (atomically; a resumed import whose rows
were all sent goes straight to this step). Rows still pending then stay `202` with their lead id: they are saved
and will be routed; `GET /v1/leads/{id}` tells their verdict later.

The result file is CSV: `row, line, status, lead_id, codes, detail` (row = data row number from 1, line = the
file line it starts on; status = the record's HTTP status: 201, 202 pending, 409 duplicate, 413, 422, or 400 for
a row that could not be read: `bad_encoding`, `malformed_json`, `malformed_row`).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import csv
import functools
import hashlib
import io
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from tqdm import tqdm

RESULT_COLUMNS = ("row", "line", "status", "lead_id", "codes", "detail")
SAMPLE_BYTES = 1 << 20
# Below the service's 8 MiB batch limit, with room for the envelope.
MAX_BATCH_BYTES = 7 * 1024 * 1024
MAX_ATTEMPTS = 8


@dataclass
class ImportSummary:
    """What an import did, for the CLI to print and a caller to check."""

    path: str
    result_path: str
    encoding: str
    rows: int = 0
    accepted: int = 0
    pending: int = 0
    duplicates: int = 0
    refused: int = 0  # 413/422 from intake
    unreadable: int = 0  # bad encoding, malformed JSON or CSV rows: never sent
    batches: int = 0
    resumed_from_row: int = 0
    elapsed_seconds: float = 0.0
    sent_seconds: float = 0.0  # until every row was saved (or refused); the rest is collecting verdicts
    by_code: dict[str, int] = field(default_factory=dict)

    @property
    def records_per_second(self) -> float:
        """Rows sent (saved or refused) per second of sending."""
        sent = self.rows - self.resumed_from_row
        seconds = self.sent_seconds or self.elapsed_seconds
        return sent / seconds if seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "records_per_second": round(self.records_per_second, 1)}


@dataclass(frozen=True, slots=True)
class Row:
    """One data row of the file: its record, or why it could not be read."""

    number: int
    line: int
    record: Any = None
    error: tuple[str, str] | None = None  # (code, detail)


class ImportError_(RuntimeError):
    """The import cannot go on (the file changed under a resume, intake refuses the token, ...)."""


# ---- reading files ------------------------------------------------------------------------------------------


def detect_encoding(path: Path) -> str:
    """UTF-8 (BOM or not) when most non-ASCII lines of the first MiB decode as UTF-8, else GB18030.

    Judged line by line, so one corrupt line in a UTF-8 file does not make the whole file GB18030.
    """
    with path.open("rb") as f:
        sample = f.read(SAMPLE_BYTES)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    lines = sample.split(b"\n")
    if len(sample) == SAMPLE_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut in the middle of a character
    non_ascii = utf8 = 0
    for line in lines:
        if line.isascii():
            continue
        non_ascii += 1
        try:
            line.decode("utf-8")
            utf8 += 1
        except UnicodeDecodeError:
            pass
    return "utf-8" if utf8 * 2 >= non_ascii else "gb18030"


def file_fingerprint(path: Path) -> str:
    """The file's identity for idempotency keys: its size and a hash of its head and tail (cheap for 1 GB)."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as f:
        digest.update(f.read(SAMPLE_BYTES))
        if size > SAMPLE_BYTES:
            f.seek(max(SAMPLE_BYTES, size - SAMPLE_BYTES))
            digest.update(f.read())
    return digest.hexdigest()[:24]


def _has_undecodable(text: str) -> bool:
    # surrogateescape turns undecodable bytes into lone surrogates U+DC80..U+DCFF.
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".ndjson", ".jsonl", ".json"):
        return "ndjson"
    if suffix in (".csv", ".txt"):
        return "csv"
    raise ImportError_(f"{path}: unknown file type {suffix!r}; use .csv or .ndjson/.jsonl")


def read_rows(path: Path, *, encoding: str) -> Iterator[Row]:
    """Every data row of the file in order, each a record or a per-row error."""
    if file_format(path) == "ndjson":
        yield from _ndjson_rows(path, encoding=encoding)
    else:
        yield from _csv_rows(path, encoding=encoding)


def _ndjson_rows(path: Path, *, encoding: str) -> Iterator[Row]:
    number = 0
    with path.open("r", encoding=encoding, errors="surrogateescape", newline="") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            number += 1
            if _has_undecodable(line):
                yield Row(number, line_no, error=("bad_encoding", f"line {line_no} is not valid {encoding}"))
                continue
            try:
                yield Row(number, line_no, record=orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                yield Row(number, line_no, error=("malformed_json", str(exc)))


def record_from_columns(header: list[str], cells: list[str]) -> dict[str, Any]:
    """Build a record from dotted-path columns (`vehicles_in_use.0.brand`); empty cells are absent values."""
    record: dict[str, Any] = {}
    for path, cell in zip(header, cells, strict=False):
        value: str | None = cell if cell.strip() else None
        parts = path.split(".")
        node: Any = record
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = parts[i + 1] if not last else None
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append({})
                if last:
                    node[index] = value
                else:
                    node = node[index]
                continue
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, [] if nxt is not None and nxt.isdigit() else {})
    # Vehicles whose cells are all empty (a file with room for three vehicles, a customer with one) are dropped.
    vehicles = record.get("vehicles_in_use")
    if isinstance(vehicles, list):
        kept = [v for v in vehicles if isinstance(v, dict) and any(x is not None for x in v.values())]
        record["vehicles_in_use"] = kept or None
    return record


def _csv_rows(path: Path, *, encoding: str) -> Iterator[Row]:
    with path.open("r", encoding=encoding, errors="surrogateescape", newline="") as f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            return
        if _has_undecodable("".join(header)):
            raise ImportError_(f"{path}: the header row is not valid {encoding}")
        number = 0
        line = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                number += 1
                yield Row(number, line, error=("malformed_row", str(exc)))
                line = reader.line_num + 1
                continue
            start, line = line, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            number += 1
            if any(_has_undecodable(c) for c in cells):
                yield Row(number, start, error=("bad_encoding", f"line {start} is not valid {encoding}"))
            elif len(cells) > len(header):
                yield Row(number, start, error=("malformed_row", f"{len(cells)} cells for {len(header)} columns"))
            else:
                yield Row(number, start, record=record_from_columns(header, cells))


# ---- progress state ----------------------------------------------------------------------------------------


@dataclass
class ImportState:
    """Where a resumed import goes on: the next row and batch, and how long the result file was then."""

    fingerprint: str
    next_row: int = 1
    next_batch: int = 0
    result_bytes: int = 0
    counts: dict[str, Any] = field(default_factory=dict)
    all_sent: bool = False  # every row sent and its answer written: a resume only collects verdicts

    @classmethod
    def load(cls, path: Path) -> ImportState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        os.replace(tmp, path)  # atomic: a crash leaves the old state or the new one


def state_path_for(result_path: Path) -> Path:
    return result_path.with_name(result_path.name + ".state.json")


# ---- sending ------------------------------------------------------------------------------------------------


def _batches(rows: Iterator[Row], *, batch_size: int) -> Iterator[list[tuple[Row, bytes | None]]]:
    """Cut rows into batches by count and by size, deterministically (so a resumed import cuts the same)."""
    batch: list[tuple[Row, bytes | None]] = []
    size = 0
    for row in rows:
        encoded = orjson.dumps(row.record) if row.error is None else None
        grow = len(encoded) + 1 if encoded is not None else 0
        if batch and (len(batch) >= batch_size or size + grow > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append((row, encoded))
        size += grow
    if batch:
        yield batch


async def _post_batch(
    client: httpx.AsyncClient,
    *,
    token: str,
    key: str | None,
    body: bytes,
    path: str = "/v1/leads/batch",
    respond_async: bool = False,
) -> list[dict[str, Any]]:
    """Send one batch until intake answers it; retries are safe because the key makes them replays."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    if respond_async:
        headers["Prefer"] = "respond-async"
    delay = 0.5
    for attempt in range(MAX_ATTEMPTS):
        try:
            response = await client.post(path, content=body, headers=headers, timeout=120)
        except httpx.TransportError:
            if attempt == MAX_ATTEMPTS - 1:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30)
            continue
        if response.status_code == 200:
            results: list[dict[str, Any]] = response.json()["results"]
            return results
        if response.status_code == 429 or response.status_code >= 500:
            await asyncio.sleep(float(response.headers.get("Retry-After", delay)))
            delay = min(delay * 2, 30)
            continue
        raise ImportError_(f"intake refused batch {key}: {response.status_code} {response.text[:500]}")
    raise ImportError_(f"intake did not accept batch {key} after {MAX_ATTEMPTS} attempts")


def _result_line(row: Row, result: dict[str, Any] | None) -> tuple[list[Any], str]:
    """The result-file cells for a row and the outcome it counts as."""
    if row.error is not None:
        code, detail = row.error
        return [row.number, row.line, 400, "", code, detail], "unreadable"
    assert result is not None
    status = result.get("status")
    if status == "accepted":
        return [row.number, row.line, 201, result["lead_id"], "", ""], "accepted"
    if status == "pending":
        return [row.number, row.line, 202, result["lead_id"], "", ""], "pending"
    codes = [e["code"] for e in result.get("errors", [])] or [result.get("code", "")]
    fields = ";".join(f"{e['field']}:{e['code']}" for e in result.get("errors", []))
    lead_id = result.get("existing_lead_id", "") if status == 409 else ""
    outcome = "duplicates" if status == 409 else "refused"
    return [row.number, row.line, status, lead_id, ";".join(codes), fields or result.get("detail", "")], outcome


def _count_rows(path: Path) -> int:
    """Lines in the file (a fast upper bound of its rows, for the progress bar)."""
    count = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            count += chunk.count(b"\n")
    return count


async def run_import_async(
    *,
    path: Path | str,
    base_url: str,
    token: str,
    result_path: Path | str | None = None,
    batch_size: int = 1000,
    resume: bool = True,
    progress: bool = True,
    concurrency: int = 3,
    client: httpx.AsyncClient | None = None,
    respond_async: bool = True,
    settle_seconds: float = 1800.0,
) -> ImportSummary:
    """Import a CSV/NDJSON file through `POST /v1/leads/batch`; see the module docstring for the guarantees."""
    if not 1 <= batch_size <= 1000:
        raise ValueError("batch_size must be between 1 and 1000")
    path = Path(path)
    result_file = Path(result_path) if result_path else path.with_name(path.name + ".results.csv")
    state_file = state_path_for(result_file)
    fingerprint = file_fingerprint(path)
    encoding = detect_encoding(path)
    state = ImportState.load(state_file) if resume else None
    if state is not None and state.fingerprint != fingerprint:
        raise ImportError_(f"{state_file} belongs to another file; remove it or import with resume=False")
    if state is None:
        state = ImportState(fingerprint=fingerprint)
        result_file.write_text(",".join(RESULT_COLUMNS) + "\n", encoding="utf-8")
        state.result_bytes = result_file.stat().st_size
        state.save(state_file)
    summary = ImportSummary(
        path=str(path), result_path=str(result_file), encoding=encoding, resumed_from_row=state.next_row - 1
    )
    for name in ("accepted", "pending", "duplicates", "refused", "unreadable", "batches"):
        setattr(summary, name, int(state.counts.get(name, 0)))
    summary.by_code = dict(state.counts.get("by_code", {}))
    summary.rows = state.next_row - 1
    if not state.all_sent:
        with result_file.open("r+b") as f:
            f.truncate(state.result_bytes)  # drop results written after the last saved state: that batch is resent

    started = time.perf_counter()
    bar = tqdm(
        total=_count_rows(path) if progress else None,
        initial=summary.rows,
        unit="rec",
        disable=not progress,
        desc=path.name,
        smoothing=0.1,
    )
    async with contextlib.AsyncExitStack() as stack:
        if client is None:
            client = await stack.enter_async_context(
                httpx.AsyncClient(base_url=base_url, limits=httpx.Limits(max_connections=concurrency + 1))
            )
        in_flight: asyncio.Queue[tuple[int, list[tuple[Row, bytes | None]], asyncio.Task[list[dict[str, Any]]]]]
        in_flight = asyncio.Queue()
        slots = asyncio.Semaphore(concurrency)  # batches sent and not yet written: at most `concurrency`

        async def send_all() -> None:
            rows = (r for r in read_rows(path, encoding=encoding) if r.number >= state.next_row)
            for index, batch in enumerate(_batches(rows, batch_size=batch_size), start=state.next_batch):
                records = [encoded for _, encoded in batch if encoded is not None]
                body = b'{"records":[' + b",".join(records) + b"]}"
                key = f"import:{fingerprint}:{index}:{batch[0][0].number}"
                await slots.acquire()
                task = asyncio.create_task(
                    _post_batch(client, token=token, key=key, body=body, respond_async=respond_async)
                )
                await in_flight.put((index, batch, task))
            await in_flight.put((-1, [], asyncio.create_task(_nothing())))

        # Once every batch is sent (now, or by an earlier run): collect the verdicts still pending.
        settle = functools.partial(
            _settle,
            client,
            token=token,
            result_file=result_file,
            state_file=state_file,
            state=state,
            summary=summary,
            within=settle_seconds,
            progress=progress,
        )
        if state.all_sent:
            await settle()
            summary.elapsed_seconds = time.perf_counter() - started
            bar.close()
            return summary
        producer = asyncio.create_task(send_all())
        try:
            with result_file.open("a", encoding="utf-8", newline="") as out:
                writer = csv.writer(out)
                while True:
                    index, batch, task = await in_flight.get()
                    if index < 0:
                        break
                    results = iter(await task)
                    for row, encoded in batch:
                        cells, outcome = _result_line(row, next(results) if encoded is not None else None)
                        writer.writerow(cells)
                        setattr(summary, outcome, getattr(summary, outcome) + 1)
                        if cells[4]:
                            for code in str(cells[4]).split(";"):
                                summary.by_code[code] = summary.by_code.get(code, 0) + 1
                    out.flush()
                    os.fsync(out.fileno())
                    summary.rows = batch[-1][0].number
                    summary.batches += 1
                    state.next_row = summary.rows + 1
                    state.next_batch = index + 1
                    state.result_bytes = out.tell()
                    state.counts = {name: getattr(summary, name) for name in OUTCOMES}
                    state.counts["by_code"] = summary.by_code
                    state.save(state_file)
                    bar.update(len(batch))
                    slots.release()
            await producer
            summary.sent_seconds = time.perf_counter() - started
            state.all_sent = True
            state.save(state_file)
            bar.close()
            await settle()
        finally:
            bar.close()
            if not producer.done():
                producer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await producer
            while not in_flight.empty():
                in_flight.get_nowait()[2].cancel()
    summary.elapsed_seconds = time.perf_counter() - started
    return summary


async def _nothing() -> list[dict[str, Any]]:
    return []


OUTCOMES = ("accepted", "pending", "duplicates", "refused", "unreadable", "batches")


async def _settle(
    client: httpx.AsyncClient,
    *,
    token: str,
    result_file: Path,
    state_file: Path,
    state: ImportState,
    summary: ImportSummary,
    within: float,
    progress: bool,
) -> None:
    """Collect the verdicts of the rows answered `202 pending` and rewrite the result file with them."""
    if summary.pending == 0:
        return
    with result_file.open("r", encoding="utf-8", newline="") as f:  # lists, not dicts: a million rows fit
        rows = list(csv.reader(f))[1:]
    status_at, lead_at = RESULT_COLUMNS.index("status"), RESULT_COLUMNS.index("lead_id")
    pending = {r[lead_at]: i for i, r in enumerate(rows) if r[status_at] == "202"}
    deadline = time.monotonic() + within
    bar = tqdm(total=len(pending), unit="verdict", disable=not progress, desc="verdicts")
    delay = 0.2
    while pending and time.monotonic() < deadline:
        came = 0
        ids = list(pending)  # in file order, which is about the order the router takes them in
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            answers = await _post_batch(
                client, token=token, key=None, body=orjson.dumps({"lead_ids": chunk}), path="/v1/leads/verdicts"
            )
            decided = [
                (lead_id, answer)
                for lead_id, answer in zip(chunk, answers, strict=True)
                if answer.get("status") != "pending"
            ]
            if not decided:
                # The router has not reached this chunk, so it has not reached the later ones either: asking for
                # all of a million rows on every pass only took CPU from the router that was still routing them.
                break
            for lead_id, answer in decided:
                index = pending.pop(lead_id)
                cells, outcome = _result_line(Row(int(rows[index][0]), int(rows[index][1])), answer)
                rows[index] = [str(c) for c in cells]
                summary.pending -= 1
                setattr(summary, outcome, getattr(summary, outcome) + 1)
                for code in filter(None, str(cells[4]).split(";")):
                    summary.by_code[code] = summary.by_code.get(code, 0) + 1
                came += 1
        bar.update(came)
        if pending:
            await asyncio.sleep(delay if came else min(delay * 5, 2.0))
    bar.close()
    tmp = result_file.with_name(result_file.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(RESULT_COLUMNS)
        writer.writerows(rows)
        out.flush()
        os.fsync(out.fileno())
        size = out.tell()
    os.replace(tmp, result_file)
    state.result_bytes = size
    state.counts = {name: getattr(summary, name) for name in OUTCOMES}
    state.counts["by_code"] = summary.by_code
    state.save(state_file)


def run_import(**options: Any) -> ImportSummary:
    """Blocking `run_import_async` for the CLI (`leadnet import FILE`), with the same keyword options."""
    return asyncio.run(run_import_async(**options))


def read_results(result_path: Path | str) -> list[dict[str, str]]:
    """Read a result file back (for tests and tools)."""
    return list(csv.DictReader(io.StringIO(Path(result_path).read_text(encoding="utf-8"))))
