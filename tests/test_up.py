"""`leadnet up` as an operator meets it (issue 17): it prints and writes every address a client needs, restarts a
service that dies, and takes its children with it when it is killed, so the next `leadnet up` starts cleanly."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.slow]


def free_port_base(count: int = 8) -> int:
    """A base port with `count` free ports after it (the services' ports under LEADNET_UP_PORT_BASE)."""
    for base in range(23100, 40000, 97):
        free = True
        for port in range(base, base + count):
            with socket.socket() as s:
                free = free and s.connect_ex(("127.0.0.1", port)) != 0
        if free:
            return base
    raise RuntimeError("no free ports")


class Up:
    """A `leadnet up` process whose output lines are read as they come."""

    def __init__(self, data_dir: Path, base: int) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
        env["LEADNET_UP_PORT_BASE"] = str(base)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "leadnet.cli", "up", "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}; output so far:\n" + "\n".join(self.seen))

    def service_pids(self) -> dict[str, int]:
        children = psutil.Process(self.proc.pid).children()
        return {c.cmdline()[2]: c.pid for c in children if len(c.cmdline()) > 3 and c.cmdline()[1] == "-m"}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "leadnet"
    pg = tmp_path / "leadnet" / "pg"
    if (pg / "postmaster.pid").exists():  # a test that failed midway must not leave PostgreSQL running
        from leadnet_shared.infra import EmbeddedPostgres

        EmbeddedPostgres(pg).stop(quiet=True)


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(check: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return True
        time.sleep(0.3)
    return False


class TestLeadnetUp:
    def test_addresses_supervision_and_no_orphans(self, data_dir: Path) -> None:
        base = free_port_base()
        up = Up(data_dir, base)
        try:
            kafka_line = up.wait_for(r"^kafka  ")
            up.wait_for(r"Ctrl-C stops everything")
            endpoints = json.loads((data_dir / "endpoints.json").read_text())
            assert re.fullmatch(r"kafka  127\.0\.0\.1:\d+", kafka_line)
            assert endpoints["kafka"] == kafka_line.split()[1]
            assert endpoints["router"] == f"http://127.0.0.1:{base + 1}"
            assert endpoints["notifier"].startswith("http://127.0.0.1:")
            assert endpoints["postgres"].startswith("postgresql://") and "@127.0.0.1:" in endpoints["postgres"]
            with socket.create_connection(tuple(endpoints["kafka"].split(":")), timeout=5):  # type: ignore[arg-type]
                pass

            # kill -9 of one service: restarted with a line saying so, and ready again.
            router_pid = up.service_pids()["dedup_router"]
            os.kill(router_pid, signal.SIGKILL)
            up.wait_for(r"^router exited \(code -9\)", timeout=30)
            up.wait_for(r"^router restarted", timeout=30)
            assert wait_until(lambda: ready(endpoints["router"]), timeout=90)
            assert up.service_pids()["dedup_router"] != router_pid
            assert up.proc.poll() is None  # the rest kept running

            # kill -9 of `leadnet up` itself: its services and broker go with it.
            children = psutil.Process(up.proc.pid).children(recursive=True)
            up.proc.kill()
            up.proc.wait(10)
            assert wait_until(
                lambda: not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children), timeout=60
            ), [c.cmdline() for c in children if c.is_running()]
        finally:
            up.stop()

        # The next `leadnet up` on the same data directory starts (ports free, the old PostgreSQL taken over).
        again = Up(data_dir, base)
        try:
            again.wait_for(r"Ctrl-C stops everything")
            assert ready(f"http://127.0.0.1:{base}")
        finally:
            again.stop()
        assert again.proc.returncode == 0
