"""Settings that production refuses or tightens (the review's L12 and §5)."""

from __future__ import annotations

import pytest

from leadnet_shared.settings import CommonSettings

SAFE = {
    "jwks_url": "https://idp.example/jwks.json",
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_username": "leadnet-intake",
    "kafka_sasl_password": "secret",
}


class TestKafkaIdempotence:
    def test_production_insists_on_idempotent_producers_unless_told_otherwise(self) -> None:
        # `auto` switches idempotence off when the broker probe fails, even for a moment: a retry could then
        # write an event twice.
        assert CommonSettings(env="production", **SAFE).kafka_idempotence == "on"
        assert CommonSettings(env="production", kafka_idempotence="off", **SAFE).kafka_idempotence == "off"
        assert CommonSettings(env="production", kafka_idempotence="auto", **SAFE).kafka_idempotence == "auto"

    @pytest.mark.parametrize("env", ["development", "test"])
    def test_elsewhere_the_probe_decides(self, env: str) -> None:
        # The embedded broker of `leadnet up` and the tests may not support idempotence: the probe decides.
        assert CommonSettings(env=env).kafka_idempotence == "auto"
