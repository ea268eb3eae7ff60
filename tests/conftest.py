"""Cross-service tests: the pipeline fixture lives in tests/pipeline.py."""

from __future__ import annotations

import pytest

from leadnet_shared.testing import Infra


@pytest.fixture(params=["session-broker", "embedded-broker"])
def any_broker(request: pytest.FixtureRequest, infra: Infra) -> Infra:
    """The session's broker (Apache Kafka where Java is present) and the embedded broker, in turn."""
    if request.param == "embedded-broker":
        if infra.broker_kind == "EmbeddedBroker":
            pytest.skip("the session broker is already the embedded one")
        embedded: Infra = request.getfixturevalue("embedded_broker_infra")
        return embedded
    return infra
