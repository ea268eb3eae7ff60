"""The Kafka access table on a real Apache Kafka with SCRAM and ACLs (issue 16 §5).

One KRaft node with a SASL_PLAINTEXT SCRAM-SHA-512 listener and the StandardAuthorizer (no ACL, no access), the
service users of compose and Kubernetes with the ACLs `leadnet_shared.access` gives them (the same table the
KafkaUsers and compose's kafka-users.sh are checked against), and the kit's own clients (`KafkaSecurity`): a
service may write its own topics and nothing else, read only what it consumes, and a wrong password gets nowhere.
Needs Java and the broker jars `leadnet_shared.infra` fetches with Maven; skipped without them.
"""

from __future__ import annotations

import asyncio
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

ADMIN = ("admin", "admin-secret")
PASSWORDS = {service: f"{service}-password" for service in SERVICES}
ACL_TOOL = Path(__file__).with_name("kafka_acl") / "CreateAcls.java"


def acl_lines(service: str) -> list[str]:
    """The ACLs of one service user, as deploy/base/kafka/users.yaml grants them on Kubernetes."""
    principal = f"User:leadnet-{service}"
    lines = [f"{principal}\tTOPIC\t{t}\tLITERAL\t{op}" for t in WRITES[service] for op in ("WRITE", "DESCRIBE")]
    lines += [f"{principal}\tTOPIC\t{t}\tLITERAL\t{op}" for t in READS[service] for op in ("READ", "DESCRIBE")]
    lines.append(f"{principal}\tGROUP\t{consumer_group_prefix(service)}\tPREFIXED\tREAD")
    return lines


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
    cp = f"{libs}/*"
    work = Path(tempfile.mkdtemp(prefix="leadnet-acl-"))
    port, controller = free_port(), free_port()
    props = work / "server.properties"
    props.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{controller}",
                f"listeners=BROKER://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=BROKER://127.0.0.1:{port}",
                "listener.security.protocol.map=BROKER:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=BROKER",
                "sasl.enabled.mechanisms=SCRAM-SHA-512",
                "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
                "listener.name.broker.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{ADMIN[0]}" password="{ADMIN[1]}";',
                "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                # The broker itself (SCRAM admin) and the in-process controller link (a PLAINTEXT listener on
                # loopback, whose principal is ANONYMOUS); no service user is a super user.
                f"super.users=User:{ADMIN[0]};User:ANONYMOUS",
                "allow.everyone.if.no.acl.found=false",
                f"log.dirs={work / 'logs'}",
                "num.partitions=1",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
            ]
        )
        + "\n"
    )
    scram = [f"--add-scram=SCRAM-SHA-512=[name={ADMIN[0]},password={ADMIN[1]}]"]
    scram += [f"--add-scram=SCRAM-SHA-512=[name=leadnet-{s},password={p}]" for s, p in PASSWORDS.items()]
    fmt = ["java", "-cp", cp, "kafka.tools.StorageTool", "format", "-t", "aclTestClusterIdAAAAA", "-c", str(props)]
    subprocess.run(
        [*fmt, *scram],
        capture_output=True,
        check=True,
    )
    log_file = work / "broker.log"
    with open(log_file, "wb") as out:
        proc = subprocess.Popen(
            ["java", "-Xms128m", "-Xmx512m", "-XX:TieredStopAtLevel=1", "-cp", cp, "kafka.Kafka", str(props)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
    try:
        wait_for_port(port, timeout=90, proc=proc, log_file=log_file)
        bootstrap = f"127.0.0.1:{port}"
        admin = KafkaSecurity(protocol="SASL_PLAINTEXT", username=ADMIN[0], password=ADMIN[1])
        asyncio.run(ensure_topics(bootstrap, partitions=1, security=admin))
        acls = "\n".join(line for s in SERVICES for line in acl_lines(s)) + "\n"
        made = subprocess.run(
            ["java", "-cp", cp, str(ACL_TOOL), bootstrap, *ADMIN],
            input=acls,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert made.returncode == 0, made.stderr[-3000:]
        yield SecuredBroker(bootstrap)
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
