"""Write the Kafka users' ACLs from the one table, `leadnet_shared/access.py`: the Strimzi KafkaUsers
(`deploy/base/kafka/users.yaml`) and compose's `deploy/compose/kafka-users.sh` grants. Run it after changing the
table (`tests/deploy/test_manifests.py` and `tests/test_access.py` fail until the three agree):

    .venv/bin/python scripts/generate_kafka_acls.py
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from leadnet_shared.access import READS, SERVICES, WRITES
from leadnet_shared.events import DEAD_LETTERS

REPO = Path(__file__).resolve().parent.parent
USERS = REPO / "deploy" / "base" / "kafka" / "users.yaml"
COMPOSE = REPO / "deploy" / "compose" / "kafka-users.sh"


def ordered(topics: Iterable[str]) -> list[str]:
    return sorted(topics, key=lambda t: (t != DEAD_LETTERS, t))


def kafka_user(service: str) -> str:
    text = f"""apiVersion: kafka.strimzi.io/v1
kind: KafkaUser
metadata:
  name: leadnet-{service}
  labels:
    strimzi.io/cluster: leadnet
    app.kubernetes.io/name: leadnet-{service}
spec:
  authentication:
    type: scram-sha-512
  authorization:
    type: simple
    acls:
"""
    for operation, topics in (("Write", WRITES[service]), ("Read", READS[service])):
        for topic in ordered(topics):
            text += f"""      - resource:
          type: topic
          name: {topic}
          patternType: literal
        operations: [{operation}, Describe]
"""
    return (
        text
        + f"""      - resource:
          type: group
          name: leadnet-{service}-
          patternType: prefix
        operations: [Read]
"""
    )


def main() -> None:
    current = USERS.read_text()
    header = current[: current.index("apiVersion")]
    USERS.write_text(header + "---\n".join(kafka_user(s) for s in SERVICES))
    script = COMPOSE.read_text()
    for s in SERVICES:
        for grant, topics in (("grant_write", WRITES[s]), ("grant_read", READS[s])):
            line = f"{grant} leadnet-{s} {' '.join(ordered(topics))}\n"
            script = re.sub(rf"{grant} leadnet-{s} .*\n", lambda _, line=line: line, script)
    COMPOSE.write_text(script)


if __name__ == "__main__":
    main()
