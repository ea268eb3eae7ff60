"""lead-intake benchmark: single-record POST at fixed open-loop rates through intake AND the router, and bulk import,
each next to a bare FastAPI endpoint that only parses the same payload into pydantic (measured in the same run).

    python bench/intake_bench.py [--quick] [--rates 250,500,1000] [--seconds 10] [--bulk 100000] [--seed 20000]
                                 [--profile]

Starts its own embedded PostgreSQL and broker (or uses DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS), runs
`python -m lead_intake serve`, `python -m dedup_router serve` and the baseline app as real uvicorn processes.
The load generator is open-loop (a request is sent at its scheduled time whether or not earlier ones answered), so
latency includes queueing, and it runs on the same 2 cores as everything else, on uvloop like the services: on the
default loop it took about a third more CPU per request (0.31 against 0.22-0.25 ms at 1,000/s), CPU the services
under test then lacked.

Before the runs it imports `--seed` records (not measured) and refreshes the planner's statistics before each
measured phase, so the runs meet tables with rows and plans a settled deployment has. After each rate it prints
where a record's time went between the POST and its verdict, stage by stage, from the services' own timestamps.

`--profile` samples intake and the router with py-spy (a dev dependency; it needs ptrace rights) during each
open-loop rate and prints where each spends its CPU: self time by package, and the project's functions by
inclusive share. Sampling costs the processes a little CPU, so read that run's rates with care.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import psutil
import uvloop

from lead_intake.importer import run_import_async
from leadnet.demo import DEMO_RECORD
from leadnet_shared.auth import ensure_keys, mint_from_dir
from leadnet_shared.infra import free_port, local_servers, wait_for_port
from leadnet_shared.kafka import ensure_topics
from leadnet_shared.migrate import upgrade
from leadnet_shared.settings import database_url_for, to_plain_url

RECORD: dict[str, Any] = DEMO_RECORD  # the example record of contract.md
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国"
COUNTIES = [
    "山东省潍坊市诸城市密州街道",
    "山东省济南市历下区",
    "山东省青岛市黄岛区",
    "河北省石家庄市长安区",
    "河南省郑州市金水区",
    "江苏省南京市玄武区",
    "山东省潍坊市寿光市",
    "山东省临沂市兰山区",
]

BASELINE_APP = """
from typing import Any
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

class Customer(Strict):
    name: str; phone: str; address: str; region_code: str | None = None; tier: str = "retail"; nature: str = "new"

class Vehicle(Strict):
    brand: str; model: str; quantity: int; function: str; horsepower: float; body_spec: str

class Usage(Strict):
    cargo: str; load_tons: float; haul_distance_km: float; consumer_credit: str; insurance: str

class Intent(Vehicle):
    product_line: str | None = None; horizon: str | None = None

class Record(Strict):
    source: str; network_code: str | None = None; customer: Customer
    vehicles_in_use: list[Vehicle] | None = None; usage: Usage | None = None; purchase_intent: Intent | None = None

class Batch(Strict):
    records: list[Record]

app = FastAPI()

@app.post("/v1/leads", status_code=201)
async def one(record: Record) -> dict[str, Any]:
    return {"status": "accepted", "source": record.source}

@app.post("/v1/leads/batch")
async def many(batch: Batch) -> dict[str, Any]:
    return {"results": [{"status": "accepted"} for _ in batch.records]}
"""


def record(i: int) -> dict[str, Any]:
    """A distinct customer per i (phone and name), so the router routes instead of refusing duplicates."""
    rec = copy.deepcopy(RECORD)
    rec["customer"]["phone"] = f"{(135, 136, 137, 138, 139, 150, 151, 186)[i % 8]}{i % 100_000_000:08d}"
    rec["customer"]["name"] = SURNAMES[i % len(SURNAMES)] + GIVEN[(i // 31) % len(GIVEN)] + GIVEN[(i // 7) % len(GIVEN)]
    rec["customer"]["address"] = COUNTIES[i % len(COUNTIES)]
    rec["vehicles_in_use"][0]["horsepower"] = 300 + i % 300
    return rec


class RawClient:
    """A minimal HTTP/1.1 keep-alive client: httpx costs more CPU per request than the services measured here."""

    def __init__(self, host: str, port: int, *, connections: int) -> None:
        self.host, self.port, self.size = host, port, connections
        self.pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def open(self) -> None:
        for _ in range(self.size):
            self.pool.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def close(self) -> None:
        while not self.pool.empty():
            _, writer = self.pool.get_nowait()
            writer.close()

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        reader, writer = await self.pool.get()
        try:
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            raw = await reader.readuntil(b"\r\n\r\n")
            status = int(raw[9:12])
            length = 0
            for line in raw.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            return status
        finally:
            self.pool.put_nowait((reader, writer))


class CpuMeter:
    """CPU seconds used by each part of the system between two snapshots, to say where a record's time goes.

    PostgreSQL and the broker are counted with their child processes (backends, including exited ones)."""

    def __init__(self, parts: dict[str, int | None]) -> None:
        self.parts = {name: psutil.Process(pid) for name, pid in parts.items() if pid}

    def snapshot(self) -> dict[str, float]:
        out: dict[str, float] = {}
        others = {proc.pid for proc in self.parts.values()}
        for name, proc in self.parts.items():
            total = 0.0
            # The bench's own children are the services, counted apart; only PostgreSQL's and the broker's count.
            children = [] if proc.pid == os.getpid() else proc.children(recursive=True)
            for p in [proc, *(c for c in children if c.pid not in others)]:
                try:
                    t = p.cpu_times()
                except psutil.Error:
                    continue
                total += t.user + t.system
                if p.pid != os.getpid():  # exited backends; the bench's own reaped children are setup tools
                    total += t.children_user + t.children_system
            out[name] = total
        out["(wall)"] = time.monotonic()
        return out

    @staticmethod
    def per_record(before: dict[str, float], after: dict[str, float], records: int) -> str:
        wall = after["(wall)"] - before["(wall)"]
        used = {name: (after[name] - before[name]) * 1000 / max(records, 1) for name in before if name != "(wall)"}
        parts = "  ".join(f"{name} {ms:.2f}" for name, ms in used.items())
        total = sum(used.values())
        # Cores busy says whether the figure is a ceiling: with every core busy, cores * 1000 / total is the most
        # this machine carries; below that, CPU per record is inflated by work that no batch shares.
        busy = total * records / 1000 / wall if wall > 0 else float("nan")
        return (
            f"CPU ms per record: {parts}  (total {total:.2f}; {busy:.1f} of {os.cpu_count()} cores busy, "
            f"so at most ~{(os.cpu_count() or 1) * 1000 / total:,.0f} records/s at this cost)"
        )


def postmaster_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "postmaster.pid"
    return int(pid_file.read_text().split()[0]) if pid_file.exists() else None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# Where a record's time goes between the POST and its answer, read back from the two services' own tables after a
# run: the intake's lead row and outbox, the router's inbox and outbox, the intake's inbox. An inbox row's time is
# its transaction's start (`now()`), so a stage ending there closes a little before that transaction commits.
STAGES = (
    ("intake: received -> lead.submitted published", "received", "published"),
    ("broker + router: published -> routing transaction", "published", "routed"),
    ("router: routing transaction -> verdict published", "routed", "verdict_published"),
    ("broker + intake: verdict published -> verdict saved", "verdict_published", "verdict_saved"),
    ("all: received -> verdict saved", "received", "verdict_saved"),
)


async def analyze(*database_urls: str) -> None:
    """Refresh the planner's statistics, as autovacuum does in a running system once a table has grown.

    The bench's databases start empty and each run lasts seconds, shorter than autovacuum's one-minute nap: without
    this, statements planned while a table held a few rows keep scanning it whole as it grows (pg_stat_user_tables
    showed about 470 customer rows read sequentially per record at 100/s), which no settled deployment does."""
    for url in database_urls:
        connection = await asyncpg.connect(to_plain_url(url))
        try:
            await connection.execute("ANALYZE")
        finally:
            await connection.close()


async def pipeline_stages(intake_db: str, router_db: str, *, since: datetime) -> list[tuple[str, int, float, float]]:
    """Per stage of STAGES: how many records went through it, and its p50 and p90 in ms, for leads received
    after `since`."""
    intake = await asyncpg.connect(to_plain_url(intake_db))
    router = await asyncpg.connect(to_plain_url(router_db))
    try:
        times: dict[str, dict[str, datetime]] = {}
        submitted_event: dict[str, str] = {}  # intake outbox event id -> lead id
        for lead_id, received, event_id, published in await intake.fetch(
            "SELECT l.lead_id, l.submitted_at, o.event_id, o.sent_at FROM leads AS l JOIN outbox AS o "
            "ON o.event_type = 'leadnet.lead.submitted' AND o.payload::jsonb->>'subject' = l.lead_id "
            "WHERE l.submitted_at >= $1",
            since,
        ):
            times[lead_id] = {"received": received, "published": published}
            submitted_event[event_id] = lead_id
        for event_id, routed in await router.fetch(
            "SELECT event_id, processed_at FROM inbox WHERE processed_at >= $1", since
        ):
            if event_id in submitted_event:
                times[submitted_event[event_id]]["routed"] = routed
        verdict_event: dict[str, str] = {}
        for event_id, lead_id, verdict_published in await router.fetch(
            "SELECT event_id, payload::jsonb->'data'->>'lead_id', sent_at FROM outbox "
            "WHERE event_type IN ('leadnet.lead.accepted', 'leadnet.lead.rejected') AND created_at >= $1",
            since,
        ):
            if lead_id in times:
                times[lead_id]["verdict_published"] = verdict_published
                verdict_event[event_id] = lead_id
        for event_id, saved in await intake.fetch(
            "SELECT event_id, processed_at FROM inbox WHERE processed_at >= $1", since
        ):
            if event_id in verdict_event:
                times[verdict_event[event_id]]["verdict_saved"] = saved
    finally:
        await intake.close()
        await router.close()
    return stage_figures(times)


def stage_figures(times: dict[str, dict[str, datetime]]) -> list[tuple[str, int, float, float]]:
    """Per stage of STAGES, over the leads that have both its ends (a lead still in flight counts in the stages it
    finished): how many, p50 and p90 in ms."""
    out = []
    for label, start, end in STAGES:
        ms = [
            (t[end] - t[start]).total_seconds() * 1000
            for t in times.values()
            if t.get(start) is not None and t.get(end) is not None
        ]
        out.append((label, len(ms), percentile(ms, 0.5), percentile(ms, 0.9)))
    return out


def write_ndjson(path: Path, indexes: range) -> Path:
    with path.open("wb") as f:
        for i in indexes:
            f.write(orjson.dumps(record(i)) + b"\n")
    return path


def connections_for(rate: float) -> int:
    return min(512, int(rate))


async def open_loop(base_url: str, token: str, *, rate: float, seconds: float, start_index: int) -> dict[str, Any]:
    """Send `rate` records/s for `seconds` on schedule; answers' latencies and status counts."""
    n = int(rate * seconds)
    bodies = [orjson.dumps(record(start_index + i)) for i in range(n)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    host, port = base_url.removeprefix("http://").split(":")
    client = RawClient(host, int(port), connections=connections_for(rate))
    await client.open()
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.2

    async def one(i: int) -> None:
        scheduled = t0 + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            status = await client.post("/v1/leads", bodies[i], headers)
        except (OSError, asyncio.IncompleteReadError):
            status = -1
        statuses[status] = statuses.get(status, 0) + 1
        latencies.append(loop.time() - scheduled)

    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = loop.time() - t0
    await client.close()
    return {
        "rate": rate,
        "sent": n,
        "achieved_rps": round(n / elapsed, 1),
        "statuses": statuses,
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
    }


async def closed_loop_max(
    base_url: str, token: str, *, seconds: float, concurrency: int, start_index: int
) -> dict[str, Any]:
    """Sustained throughput: `concurrency` callers back to back for `seconds`."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    host, port = base_url.removeprefix("http://").split(":")
    client = RawClient(host, int(port), connections=concurrency)
    await client.open()
    done = ok = 0
    counter = start_index
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    async def worker() -> None:
        nonlocal done, ok, counter
        while loop.time() < deadline:
            counter += 1
            status = await client.post("/v1/leads", orjson.dumps(record(counter)), headers)
            done += 1
            ok += status == 201

    started = loop.time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = loop.time() - started
    await client.close()
    return {"concurrency": concurrency, "requests": done, "ok_201": ok, "rps": round(done / elapsed, 1)}


class Profiler:
    """py-spy `record --format raw` on some processes for a fixed time, then a short text summary of each."""

    PROJECT = ("leadnet_shared", "lead_intake", "dedup_router")

    def __init__(self, out: Path) -> None:
        self.out = out
        self.exe = shutil.which("py-spy")
        out.mkdir(parents=True, exist_ok=True)

    def record(self, pids: dict[str, int], *, seconds: float, label: str) -> list[tuple[str, Path, Any]]:
        if self.exe is None:
            print("               (py-spy is not installed: `pip install -e .[dev]`; no profile)")
            return []
        running = []
        for name, pid in pids.items():
            path = self.out / f"{name}-{label}.txt"
            proc = subprocess.Popen(
                [
                    self.exe,
                    "record",
                    "--rate",
                    "200",
                    "--format",
                    "raw",
                    "--output",
                    str(path),
                    "--pid",
                    str(pid),
                    "--duration",
                    str(max(1, round(seconds))),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            running.append((name, path, proc))
        return running

    def report(self, running: list[tuple[str, Path, Any]], *, top: int = 10) -> None:
        for name, path, proc in running:
            proc.wait(timeout=120)
            if not path.exists():
                print(f"               {name}: py-spy wrote no profile (ptrace not permitted?)")
                continue
            by_package, inclusive, total = self.summarize(path)
            if not total:
                continue
            print(
                f"               {name}, self time by package: "
                + ", ".join(f"{pkg} {100 * n / total:.0f}%" for pkg, n in by_package[:8])
            )
            print(
                f"               {name}, project functions (inclusive): "
                + ", ".join(f"{fn} {100 * n / total:.0f}%" for fn, n in inclusive[:top])
            )

    @classmethod
    def summarize(cls, path: Path) -> tuple[list[tuple[str, int]], list[tuple[str, int]], int]:
        """From py-spy's raw lines (`frame;frame;... count`): self samples per package, inclusive samples per
        project function (a function counted once per sample however deep it recurses), and the total."""
        by_package: dict[str, int] = {}
        inclusive: dict[str, int] = {}
        total = 0
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = stack.split(";")
            by_package[cls._package(frames[-1])] = by_package.get(cls._package(frames[-1]), 0) + n
            seen = set()
            for frame in frames:
                name, location = cls._split(frame)
                if location.split("/", 1)[0] in cls.PROJECT:
                    fn = f"{name} ({location.rsplit('/', 1)[-1].split(':')[0]})"
                    if fn not in seen:
                        seen.add(fn)
                        inclusive[fn] = inclusive.get(fn, 0) + n
        # Entry points that every sample passes through say nothing about where the time goes.
        ranked = sorted(((fn, n) for fn, n in inclusive.items() if n < 0.9 * total), key=lambda item: -item[1])
        return sorted(by_package.items(), key=lambda item: -item[1]), ranked, total

    @staticmethod
    def _split(frame: str) -> tuple[str, str]:
        """`Class.method (package/module.py:123)` -> (`Class.method`, `package/module.py:123`)."""
        name, _, location = frame.rpartition(" (")
        return name, location.rstrip(")")

    @classmethod
    def _package(cls, frame: str) -> str:
        location = cls._split(frame)[1]
        return location.split("/", 1)[0] if "/" in location else location.split(".py", 1)[0]


def start_server(args: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    wait_for_port(port, timeout=60, proc=proc)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small run, under a minute")
    parser.add_argument("--rates", default="250,500,1000")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--bulk", type=int, default=100_000, help="records to import; 0 skips the import")
    parser.add_argument(
        "--seed",
        type=int,
        default=20_000,
        help="records imported (not measured) before the runs, so they meet settled tables, not empty "
        "ones; 0 starts empty",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample intake and the router with py-spy at each rate and print where the CPU goes",
    )
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    seconds, bulk = args.seconds, args.bulk
    seed = args.seed
    if args.quick:
        rates, seconds, bulk, seed = [250.0], 3.0, 5_000, 1_000

    tmp = Path(tempfile.mkdtemp(prefix="intake-bench-"))
    servers_stack = contextlib.ExitStack()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        servers = servers_stack.enter_context(
            local_servers(tmp, broker=os.environ.get("LEADNET_BENCH_BROKER", "embedded"))
        )
        server_url, bootstrap = servers.database_url, servers.bootstrap_servers
        pg, kafka = servers.embedded_postgres, servers.broker
        prefix = f"bench{int(time.time())}."
        asyncio.run(ensure_topics(bootstrap, prefix=prefix, partitions=3))
        key_dir = tmp / "keys"
        _, jwks = ensure_keys(key_dir)
        intake_db = database_url_for(server_url, f"bench_intake_{int(time.time())}")
        router_db = database_url_for(server_url, f"bench_router_{int(time.time())}")
        upgrade("lead_intake", intake_db)
        upgrade("dedup_router", router_db)
        common = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "LEADNET_TOPIC_PREFIX": prefix,
            "LEADNET_JWKS_FILE": str(jwks),
            "LEADNET_LOG_LEVEL": "WARNING",
            "LEADNET_ENV": "development",
        }
        ports = {"intake": free_port(), "router": free_port(), "baseline": free_port()}
        procs.append(
            start_server(
                [sys.executable, "-m", "dedup_router", "serve"],
                {**common, "LEADNET_ROUTER_DATABASE_URL": router_db, "LEADNET_ROUTER_PORT": str(ports["router"])},
                ports["router"],
                tmp / "router.log",
            )
        )
        procs.append(
            start_server(
                [sys.executable, "-m", "lead_intake", "serve"],
                {
                    **common,
                    "LEADNET_INTAKE_DATABASE_URL": intake_db,
                    "LEADNET_INTAKE_PORT": str(ports["intake"]),
                    "LEADNET_INTAKE_RATE_LIMIT_PER_SECOND": "100000",
                    "LEADNET_INTAKE_RATE_LIMIT_BURST": "100000",
                    "LEADNET_INTAKE_BATCH_RATE_LIMIT_PER_SECOND": "1000",
                    "LEADNET_INTAKE_DB_POOL_SIZE": "20",
                },
                ports["intake"],
                tmp / "intake.log",
            )
        )
        (tmp / "baseline_app.py").write_text(BASELINE_APP)
        procs.append(
            start_server(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "baseline_app:app",
                    "--port",
                    str(ports["baseline"]),
                    "--loop",
                    "uvloop",
                    "--http",
                    "httptools",
                    "--no-access-log",
                    "--log-level",
                    "warning",
                    "--app-dir",
                    str(tmp),
                ],
                {},
                ports["baseline"],
                tmp / "baseline.log",
            )
        )
        intake_url = f"http://127.0.0.1:{ports['intake']}"
        baseline_url = f"http://127.0.0.1:{ports['baseline']}"
        token = mint_from_dir(key_dir, role="dealer", dealer="D002", ttl_seconds=7200)
        hq = mint_from_dir(key_dir, role="hq_admin", ttl_seconds=7200)
        r = httpx.post(
            f"http://127.0.0.1:{ports['router']}/v1/dealers",
            headers={"Authorization": f"Bearer {hq}"},
            json={
                "code": "D001",
                "name": "潍坊欧曼",
                "territories": ["3707", "3701", "3702", "3713", "13", "41", "32"],
                "product_lines": ["tractor", "dump"],
                "capability": 80,
                "sales_level": "300_999",
            },
        )
        print("dealer registered:", r.status_code)
        # The entering dealer: only a registered dealer's token writes. Its territory holds none of the records,
        # so every record is routed to the authorized dealer, as when D002 entered unregistered before.
        r = httpx.post(
            f"http://127.0.0.1:{ports['router']}/v1/dealers",
            headers={"Authorization": f"Bearer {hq}"},
            json={
                "code": "D002",
                "name": "济南欧曼",
                "territories": ["65"],
                "product_lines": ["tractor"],
                "capability": 60,
            },
        )
        print("entering dealer registered:", r.status_code)
        # Warm up: the router's consumer group has joined once a record gets its verdict (and intake has read D002's
        # registration once it stops answering 403).
        for i in range(200):
            r = httpx.post(
                f"{intake_url}/v1/leads",
                json=record(9_000_000 + i),
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            if r.status_code == 201:
                break
            time.sleep(0.1)
        print("warm-up:", r.status_code)
        if seed > 0:
            started = time.perf_counter()
            seeded = write_ndjson(tmp / "seed.ndjson", range(30_000_000, 30_000_000 + seed))
            asyncio.run(
                run_import_async(
                    path=seeded, base_url=intake_url, token=token, progress=False, result_path=tmp / "seed.results.csv"
                )
            )
            print(
                f"seeded {seed:,} records through the import (every verdict in) in "
                f"{time.perf_counter() - started:.0f} s"
            )

        meter = CpuMeter(
            {
                "load generator": os.getpid(),
                "intake": procs[1].pid,
                "router": procs[0].pid,
                "baseline": procs[2].pid,
                "postgres": postmaster_pid(tmp / "pg") if pg else None,
                "broker": kafka.proc.pid if kafka is not None and kafka.proc is not None else None,
            }
        )
        index = 0
        profiler = Profiler(tmp / "profiles") if args.profile else None
        print(
            f"\n== single-record POST, open loop, {seconds:.0f} s per rate (intake answers after the router's "
            "verdict) =="
        )
        for rate in rates:
            base_before = meter.snapshot()
            base = uvloop.run(open_loop(baseline_url, token, rate=rate, seconds=seconds, start_index=index))
            # The floor: what parsing alone costs the same load generator and a bare endpoint.
            base_cpu = meter.per_record(base_before, meter.snapshot(), base["sent"])
            asyncio.run(analyze(intake_db, router_db))
            before = meter.snapshot()
            since = datetime.now(UTC)
            sampling = (
                profiler.record({"intake": procs[1].pid, "router": procs[0].pid}, seconds=seconds, label=f"{rate:.0f}")
                if profiler
                else []
            )
            res = uvloop.run(open_loop(intake_url, token, rate=rate, seconds=seconds, start_index=index))
            cpu = meter.per_record(before, meter.snapshot(), res["sent"])
            index += int(rate * seconds)
            print(
                f"rate {rate:6.0f}/s  intake: {res['achieved_rps']:7.1f} rps p50 {res['p50_ms']:7.1f} ms "
                f"p99 {res['p99_ms']:7.1f} ms  {res['statuses']}"
            )
            print(
                f"               baseline: {base['achieved_rps']:7.1f} rps p50 {base['p50_ms']:7.1f} ms "
                f"p99 {base['p99_ms']:7.1f} ms  p99 ratio {res['p99_ms'] / max(base['p99_ms'], 0.01):.1f}x"
            )
            print(f"               {cpu}")
            print(f"               baseline run, {base_cpu}")
            print(
                "               where a record's time goes, p50 / p90 ms (POST latency above also counts the wait "
                f"for one of the load generator's {connections_for(rate)} connections):"
            )
            for label, n, p50, p90 in asyncio.run(pipeline_stages(intake_db, router_db, since=since)):
                print(f"                 {label:52s} {p50:7.1f} / {p90:7.1f}  ({n} records)")
            if profiler:
                profiler.report(sampling)

        print(f"\n== single-record POST, closed loop (max sustained), {seconds:.0f} s ==")
        for conc in (64,):
            asyncio.run(analyze(intake_db, router_db))
            base = uvloop.run(
                closed_loop_max(baseline_url, token, seconds=seconds, concurrency=conc, start_index=index)
            )
            res = uvloop.run(closed_loop_max(intake_url, token, seconds=seconds, concurrency=conc, start_index=index))
            index += res["requests"] + 10
            print(
                f"concurrency {conc}: intake {res['rps']} rps ({res['ok_201']} x 201 of {res['requests']}); "
                f"baseline {base['rps']} rps; ratio {res['rps'] / base['rps']:.2f}"
            )

        if bulk > 0:  # --bulk 0: the single-record figures only
            print(f"\n== bulk import of {bulk:,} records (NDJSON, batches of 1000 through POST /v1/leads/batch) ==")
            source = write_ndjson(tmp / "bulk.ndjson", range(20_000_000, 20_000_000 + bulk))
            asyncio.run(analyze(intake_db, router_db))
            before = meter.snapshot()
            summary = asyncio.run(
                run_import_async(
                    path=source, base_url=intake_url, token=token, progress=False, result_path=tmp / "bulk.results.csv"
                )
            )
            rps = summary.records_per_second
            bulk_cpu = meter.per_record(before, meter.snapshot(), bulk)
            print(
                f"intake: {rps:,.0f} records/s saved ({bulk:,} in {summary.sent_seconds:.1f} s, batches sent "
                f"respond-async); every verdict in after {summary.elapsed_seconds:.1f} s "
                f"({bulk / summary.elapsed_seconds:,.0f} records/s routed end to end): "
                f"{summary.accepted:,} accepted, "
                f"{summary.pending:,} still pending, "
                f"{summary.refused + summary.duplicates + summary.unreadable:,} other"
            )
            print(f"saving and routing, {bulk_cpu}")
            base_n: int = min(bulk, 50_000)
            bodies = [
                orjson.dumps({"records": [record(i) for i in range(s, min(s + 1000, base_n))]})
                for s in range(0, base_n, 1000)
            ]

            async def baseline_bulk() -> float:
                async with httpx.AsyncClient(base_url=baseline_url, timeout=60) as client:
                    started = time.perf_counter()
                    for body in bodies:
                        await client.post("/v1/leads/batch", content=body, headers={"Content-Type": "application/json"})
                    return base_n / (time.perf_counter() - started)

            base_rps = asyncio.run(baseline_bulk())
            print(f"baseline (parse only, one batch at a time): {base_rps:,.0f} records/s; ratio {rps / base_rps:.2f}")
        print(f"\nlogs: {tmp}")
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        servers_stack.close()
        for data in ("pg", "kafka"):  # keep the logs, drop the gigabytes of data
            shutil.rmtree(tmp / data, ignore_errors=True)


if __name__ == "__main__":
    main()
