"""notifier benchmark: webhook deliveries per second, and the delay from an event on the topic to its webhook.

1. Throughput: N deliveries queued for one subscription (spread over many customers, so order per customer holds
   none back), the subscription enabled, the clock runs until the receiver has them all. Next to it, in the same
   run and to the same receiver (its own process, answering 204), a bare httpx POST loop with the same concurrency
   and body size: the ratio says what signing, the durable queue and the per-customer order cost.
2. Delay: `lead.accepted` events produced to the topic at a steady rate (200/s), each stamped with its send time;
   the receiver notes when each webhook arrives: p50 / p99 of arrival - send.

    python bench/notifier_bench.py [--quick] [--deliveries 20000] [--rate 200] [--seconds 30]

Uses DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS when set, else an embedded PostgreSQL and broker. The notifier runs as
its own process (`python -m notifier serve`), as deployed. The machine may be loaded by other processes: the load
average is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaProducer

from leadnet_shared.auth import ensure_keys, mint_from_dir
from leadnet_shared.events import LEADS, Envelope
from leadnet_shared.infra import free_port, local_servers
from leadnet_shared.kafka import ensure_topics
from leadnet_shared.migrate import upgrade
from leadnet_shared.settings import database_url_for, to_plain_url

CONCURRENCY = 64


# ---- the receiver (its own process) ---------------------------------------------------------------------------


class Receiver(asyncio.Protocol):
    """A bare HTTP/1.1 server (keep-alive, Content-Length bodies): 204 to every POST, noting each arrival's delay
    after the payload's timestamp on /timed; GET /stats, POST /reset. Plain asyncio, so that the receiver costs far
    less CPU than either client measured against it."""

    count = 0
    delays: list[float] = []  # noqa: RUF012 (one receiver per process)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4 : head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length :]
            method, path = head[0].split(" ")[:2]
            self.transport.write(self.answer(method, path, body))

    def answer(self, method: str, path: str, body: bytes) -> bytes:
        if method == "GET":
            data = orjson.dumps({"count": Receiver.count, "delays": Receiver.delays})
            return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(data), data)
        if path == "/reset":
            Receiver.count, Receiver.delays = 0, []
        else:
            Receiver.count += 1
            if path == "/timed":
                sent = datetime.fromisoformat(orjson.loads(body)["timestamp"])
                Receiver.delays.append(time.time() - sent.timestamp())
        return b"HTTP/1.1 204 No Content\r\n\r\n"


def serve_receiver(port: int) -> None:
    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(Receiver, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


# ---- helpers ------------------------------------------------------------------------------------------------


def wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited ({proc.returncode})")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


async def bare_loop(url: str, n: int, body: bytes) -> float:
    """The same POSTs without the notifier: an httpx client, CONCURRENCY at once. Returns requests/s."""
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONCURRENCY)) as client:
        queue = iter(range(n))

        async def worker() -> None:
            for _ in queue:
                r = await client.post(url, content=body, headers={"content-type": "application/json"})
                assert r.status_code == 204

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return n / (time.perf_counter() - started)


async def stats(base: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        data: dict[str, Any] = (await client.get(f"{base}/stats")).json()
        return data


async def reset(base: str) -> None:
    async with httpx.AsyncClient() as client:
        await client.post(f"{base}/reset")


_QUEUE = """
INSERT INTO deliveries (delivery_id, webhook_id, event_type, source_event_id, order_key, payload, status, attempts,
                        next_attempt_at, created_at, updated_at)
SELECT 'msg_' || replace(CAST(gen_random_uuid() AS text), '-', ''), $1, 'lead.assigned', 'bench-' || i,
       'customer:C' || (i % 1000), jsonb_build_object('type', 'lead.assigned', 'timestamp', now(),
       'data', jsonb_build_object('lead_id', 'L' || i, 'customer_id', 'C' || (i % 1000), 'assigned_dealer', 'D001',
                                  'customer', jsonb_build_object('name', '张*', 'phone', '138****8000'))),
       'pending', 0, now(), now(), now()
FROM generate_series(1, $2) AS i
"""


async def throughput(api: str, db: str, receiver: str, token: str, n: int) -> tuple[float, float]:
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=api, headers=auth) as client:
        hook = (await client.post("/v1/webhooks", json={"url": f"{receiver}/hook", "events": ["lead.assigned"]})).json()
        await client.patch(f"/v1/webhooks/{hook['webhook_id']}", json={"status": "disabled"})
        conn = await asyncpg.connect(to_plain_url(db))
        try:
            await conn.execute(_QUEUE, hook["webhook_id"], n)
            body = await conn.fetchval("SELECT payload::text FROM deliveries LIMIT 1")
            await reset(receiver)
            started = time.perf_counter()
            await client.patch(f"/v1/webhooks/{hook['webhook_id']}", json={"status": "enabled"})
            while (await stats(receiver))["count"] < n:  # noqa: ASYNC110 (another process counts)
                await asyncio.sleep(0.1)
            notifier_rate = n / (time.perf_counter() - started)
            await client.delete(f"/v1/webhooks/{hook['webhook_id']}")
        finally:
            await conn.close()
    await reset(receiver)
    bare_rate = await bare_loop(f"{receiver}/hook", n, body.encode())
    return notifier_rate, bare_rate


async def latency(
    api: str, receiver: str, token: str, bootstrap: str, prefix: str, rate: float, seconds: float
) -> list[float]:
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=api, headers=auth) as client:
        r = await client.post("/v1/webhooks", json={"url": f"{receiver}/timed", "events": ["lead.assigned"]})
        assert r.status_code == 201, r.text
    await reset(receiver)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    total = int(rate * seconds)
    try:
        started = time.perf_counter()
        for i in range(total):
            due = started + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
            customer = f"C{i}"
            envelope = Envelope(
                id=str(uuid.uuid4()),
                type="leadnet.lead.accepted",
                source="/leadnet/router",
                time=datetime.now(UTC),
                data={"lead_id": f"L{i}", "customer_id": customer, "assigned_dealer": "D001",
                      "accepted_at": datetime.now(UTC).isoformat(), "lead_version": 1},
            )  # fmt: skip
            await producer.send(prefix + LEADS, envelope.to_bytes(), key=customer.encode())
        await producer.flush()
    finally:
        await producer.stop()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = await stats(receiver)
        if got["count"] >= total:
            break
        await asyncio.sleep(0.2)
    delays: list[float] = got["delays"]
    if len(delays) < total:
        print(f"  only {len(delays)} of {total} webhooks arrived within 60 s")
    return delays


async def register_dealer(db: str, code: str) -> None:
    """The dealer active in the notifier's directory, as the router's dealers topic would have told it."""
    conn = await asyncpg.connect(to_plain_url(db))
    try:
        await conn.execute("INSERT INTO dealers (code, status, updated_at) VALUES ($1, 'active', now())", code)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small run, under a minute")
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)  # internal: run the receiver on this port
    args = parser.parse_args()
    if args.receiver:
        serve_receiver(args.receiver)
        return
    n, rate, seconds = args.deliveries, args.rate, args.seconds
    if args.quick:
        n, seconds = 2_000, 5.0
    print(f"load average before: {load()}")
    tmp = Path(tempfile.mkdtemp(prefix="notifier-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with local_servers(tmp, broker=os.environ.get("LEADNET_BENCH_BROKER", "embedded")) as servers:
            prefix = f"bench{int(time.time())}."
            asyncio.run(ensure_topics(servers.bootstrap_servers, prefix=prefix, partitions=3))
            key_dir = tmp / "keys"
            _, jwks = ensure_keys(key_dir)
            db = database_url_for(servers.database_url, f"bench_notifier_{int(time.time())}")
            upgrade("notifier", db)
            asyncio.run(register_dealer(db, "D001"))
            receiver_port, api_port = free_port(), free_port()
            procs.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--receiver", str(receiver_port)],
                    stdout=subprocess.DEVNULL,
                    stderr=(tmp / "receiver.log").open("wb"),
                )
            )
            env = {
                **os.environ,
                "KAFKA_BOOTSTRAP_SERVERS": servers.bootstrap_servers,
                "LEADNET_TOPIC_PREFIX": prefix,
                "LEADNET_JWKS_FILE": str(jwks),
                "LEADNET_LOG_LEVEL": "WARNING",
                "LEADNET_ENV": "development",
                "LEADNET_NOTIFIER_DATABASE_URL": db,
                "LEADNET_NOTIFIER_PORT": str(api_port),
            }
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "notifier", "serve"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=(tmp / "notifier.log").open("wb"),
                )
            )
            receiver = f"http://127.0.0.1:{receiver_port}"
            api = f"http://127.0.0.1:{api_port}"
            wait_for(f"{receiver}/stats", procs[0])
            wait_for(f"{api}/readyz", procs[1])
            token = mint_from_dir(key_dir, role="dealer", dealer="D001")

            notifier_rate, bare_rate = asyncio.run(throughput(api, db, receiver, token, n))
            print(f"throughput ({n} deliveries, {CONCURRENCY} in flight, receiver answering 204):")
            print(f"  notifier        {notifier_rate:8.0f} deliveries/s")
            print(f"  bare httpx POST {bare_rate:8.0f} requests/s")
            print(f"  ratio           {notifier_rate / bare_rate:8.2f}")

            delays = asyncio.run(latency(api, receiver, token, servers.bootstrap_servers, prefix, rate, seconds))
            print(f"delay lead.accepted on the topic -> webhook arrival ({rate:.0f} events/s for {seconds:.0f} s):")
            print(f"  p50 {pct(delays, 0.5):.1f} ms   p99 {pct(delays, 0.99):.1f} ms   max {pct(delays, 1.0):.1f} ms"
                  f"   ({len(delays)} arrived)")  # fmt: skip
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
