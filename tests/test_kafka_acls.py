"""compose's Kafka security on a real Apache Kafka (issue 16 §5): the broker as docker-compose.yml configures it,
the real deploy/compose/kafka-users.sh, and the kit's own clients (`KafkaSecurity`).

One KRaft node with the compose topology: a SASL_PLAINTEXT SCRAM-SHA-512 listener for the services, the
administration and inter-broker listener PLAINTEXT on loopback only, and the StandardAuthorizer (no ACL, no
access). kafka-users.sh creates the service users and their ACLs with Kafka's own command-line tools; they must be
the ones `leadnet_shared.access` gives (the same table the Kubernetes KafkaUsers are checked against). Then a
service may write its own topics and nothing else, read only what it consumes, and a wrong password gets nowhere.
Needs Java and Maven (the broker and tool jars come from Maven Central, cached); skipped without them.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

from leadnet_shared.access import READS, SERVICES, WRITES, consumer_group_prefix
from leadnet_shared.events import LEDGER, SALES
from leadnet_shared.infra import (
    die_with_parent,
    fetch_kafka_jars,
    free_port,
    java_and_maven_available,
    stop_process,
    wait_for_port,
)
from leadnet_shared.kafka import (
    KafkaSecurity,
    broker_cluster_id,
    broker_supports_idempotence,
    ensure_topics,
    start_producer,
)

pytestmark = [pytest.mark.kafka]

REPO = Path(__file__).resolve().parents[1]
PASSWORDS = {service: f"{service}-password" for service in SERVICES}
# The image's /opt/kafka/bin scripts, as the Java classes they run.
TOOLS = {
    "kafka-configs.sh": "kafka.admin.ConfigCommand",
    "kafka-acls.sh": "org.apache.kafka.tools.AclCommand",
    "kafka-topics.sh": "org.apache.kafka.tools.TopicCommand",
}
JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xms64m"
RUN_TOOLS = Path(__file__).with_name("kafka_tools") / "RunTools.java"


def compose_kafka_environment() -> dict[str, str]:
    """The kafka service's KAFKA_* settings in docker-compose.yml, as broker properties (the image's rule: `_` is
    `.`, `__` is `_`, `___` is `-`)."""
    import yaml

    env = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["kafka"]["environment"]
    props = {}
    for key, value in env.items():
        if not key.startswith("KAFKA_") or key in ("KAFKA_HEAP_OPTS",):
            continue
        name = key[len("KAFKA_") :]
        name = re.sub(r"(?<=[^_])_(?=[^_])", ".", name).replace("___", "-").replace("__", "_").lower()
        props[name] = str(value)
    return props


@dataclass
class SecuredBroker:
    bootstrap: str

    def security(self, service: str, password: str | None = None) -> KafkaSecurity:
        return KafkaSecurity(
            protocol="SASL_PLAINTEXT",
            mechanism="SCRAM-SHA-512",
            username=f"leadnet-{service}",
            password=password or PASSWORDS[service],
        )


@pytest.fixture(scope="module")
def broker() -> Iterator[SecuredBroker]:
    if not java_and_maven_available():
        pytest.skip("Java and Maven are needed for Apache Kafka")
    libs = fetch_kafka_jars()
    tools = fetch_kafka_jars(artifact="kafka-tools")
    cp = f"{libs}/*"
    work = Path(tempfile.mkdtemp(prefix="leadnet-acl-"))
    client, admin, controller = free_port(), free_port(), free_port()
    props = compose_kafka_environment()
    # compose's listeners and addresses, on ports free here; everything else as docker-compose.yml says.
    props |= {
        "listeners": f"INTERNAL://127.0.0.1:{client},BROKER://127.0.0.1:{admin},CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"INTERNAL://127.0.0.1:{client},BROKER://127.0.0.1:{admin}",
        "controller.quorum.voters": f"1@127.0.0.1:{controller}",
        "log.dirs": str(work / "logs"),
    }
    props.pop("cluster.id", None)
    props.pop("node.id", None)
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["listener.security.protocol.map"] == (
        "CONTROLLER:PLAINTEXT,BROKER:PLAINTEXT,INTERNAL:SASL_PLAINTEXT,HOST:SASL_PLAINTEXT"
    )
    properties = work / "server.properties"
    properties.write_text("node.id=1\n" + "".join(f"{k}={v}\n" for k, v in props.items()))
    fmt = ["java", "-cp", cp, "kafka.tools.StorageTool", "format", "-t", "aclTestClusterIdAAAAA"]
    subprocess.run([*fmt, "-c", str(properties)], capture_output=True, check=True)
    log_file = work / "broker.log"
    with open(log_file, "wb") as out:
        proc = subprocess.Popen(
            ["java", "-Xms128m", "-Xmx512m", "-XX:TieredStopAtLevel=1", "-cp", cp, "kafka.Kafka", str(properties)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
    try:
        wait_for_port(client, timeout=90, proc=proc, log_file=log_file)
        wait_for_port(admin, timeout=30, proc=proc, log_file=log_file)
        asyncio.run(ensure_topics(f"127.0.0.1:{admin}", partitions=1))
        # The script calls the image's tools (/opt/kafka/bin/*.sh); here each call is recorded, then all of them
        # run, in order, in one JVM (RunTools.java): the same tools, the same arguments, seconds instead of minutes.
        bin_dir, calls = work / "bin", work / "calls.tsv"
        bin_dir.mkdir()
        for script, main in TOOLS.items():
            wrapper = bin_dir / script
            wrapper.write_text(f'#!/bin/sh\n{{ printf %s {main}; printf "\\t%s" "$@"; echo; }} >>"{calls}"\n')
            wrapper.chmod(0o755)
        env = {
            **os.environ,
            "BOOTSTRAP": f"127.0.0.1:{admin}",
            "KAFKA_BIN": str(bin_dir),
            **{f"LEADNET_KAFKA_{s.upper()}_PASSWORD": p for s, p in PASSWORDS.items()},
        }
        recorded = subprocess.run(
            ["sh", str(REPO / "deploy" / "compose" / "kafka-users.sh")], env=env, capture_output=True, text=True
        )
        assert recorded.returncode == 0, recorded.stderr
        assert len(calls.read_text().splitlines()) == 4 * len(SERVICES)  # a user and three grants each
        made = subprocess.run(
            ["java", *JVM.split(), "-cp", f"{tools}/*:{libs}/*", str(RUN_TOOLS), str(calls)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-3000:]
        yield SecuredBroker(f"127.0.0.1:{client}")
    finally:
        stop_process(proc)
        shutil.rmtree(work, ignore_errors=True)


async def produce(broker: SecuredBroker, service: str, topic: str) -> None:
    producer = await start_producer(broker.bootstrap, security=broker.security(service), idempotence="auto")
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"{}", key=b"C1"), timeout=20)
    finally:
        await producer.stop()


class TestServiceUsers:
    async def test_each_service_writes_its_own_topics(self, broker: SecuredBroker) -> None:
        await produce(broker, "router", SALES)
        await produce(broker, "ledger", LEDGER)
        # The kit's start-up calls work with the service's own rights: the idempotence probe (InitProducerId)
        # and the cluster id the relay reconciles against.
        assert await broker_supports_idempotence(broker.bootstrap, security=broker.security("ledger"))
        assert await broker_cluster_id(broker.bootstrap, security=broker.security("scheduler"))

    @pytest.mark.parametrize(
        ("service", "topic"),
        [
            ("scheduler", SALES),  # nobody but the router writes the sales the ledger pays on
            ("intake", SALES),
            ("router", LEDGER),  # the ledger alone writes ledger postings
            ("scheduler", LEDGER),
            ("ledger", "leadnet.public.leads.v1"),
        ],
    )
    async def test_no_service_writes_another_services_topic(
        self, broker: SecuredBroker, service: str, topic: str
    ) -> None:
        assert topic not in WRITES[service]
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(broker, service, topic)

    async def test_a_service_reads_only_what_it_consumes(self, broker: SecuredBroker) -> None:
        await produce(broker, "router", SALES)
        allowed = AIOKafkaConsumer(
            SALES,
            bootstrap_servers=broker.bootstrap,
            group_id=consumer_group_prefix("ledger") + "rewards",
            auto_offset_reset="earliest",
            **broker.security("ledger").options(),
        )
        await allowed.start()
        try:
            batch = await allowed.getmany(timeout_ms=10_000)
            assert sum(len(v) for v in batch.values()) >= 1
        finally:
            await allowed.stop()
        # The scheduler does not consume the internal topic, which holds raw personal data.
        assert "leadnet.internal.leads.v1" not in READS["scheduler"]
        denied = AIOKafkaConsumer(
            "leadnet.internal.leads.v1",
            bootstrap_servers=broker.bootstrap,
            group_id=consumer_group_prefix("scheduler") + "leads",
            auto_offset_reset="earliest",
            **broker.security("scheduler").options(),
        )
        try:
            with pytest.raises(TopicAuthorizationFailedError):
                await denied.start()
                await denied.getmany(timeout_ms=5_000)
        finally:
            await denied.stop()

    async def test_a_wrong_password_gets_nowhere(self, broker: SecuredBroker) -> None:
        with pytest.raises(KafkaError):
            await asyncio.wait_for(
                start_producer(broker.bootstrap, security=broker.security("router", "guessed"), idempotence="on"),
                timeout=30,
            )
