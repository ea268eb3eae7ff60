"""notifier settings (env prefix `LEADNET_NOTIFIER_`)."""

from __future__ import annotations

from pydantic import Field, model_validator

from leadnet_shared.settings import ServiceSettings


class NotifierSettings(ServiceSettings, service="notifier", default_port=8006):
    # Server-side request forgery: where webhooks may point. Production allows https to public addresses only;
    # development and tests also allow http to the networks listed here (an integrator's local receiver on
    # 127.0.0.1). None means "the environment's default" (resolved below).
    webhook_allow_http: bool | None = None
    webhook_allowed_networks: list[str] | None = None
    # The delivery worker: deliveries claimed per round, requests in flight at once, a claim's lease (a delivery
    # claimed by a process that died is sent again once its lease has passed), the request timeout.
    delivery_batch: int = Field(50, gt=0)
    # Rounds under way at once: while one waits for its slowest receiver, the others claim and send (a round's
    # deliveries are recorded together, so one round at a time would make every delivery wait for the slowest).
    delivery_rounds: int = Field(4, gt=0)
    delivery_concurrency: int = Field(64, gt=0)
    delivery_lease_seconds: float = Field(60.0, gt=0)
    delivery_timeout_seconds: float = Field(10.0, gt=0)
    # How often the worker looks for due deliveries when nothing woke it (new deliveries wake it at once).
    delivery_poll_seconds: float = Field(1.0, gt=0)
    run_delivery: bool = True
    # The worker that flushes digests to people and sends them on their channels (people.toml).
    run_people_messages: bool = True

    @model_validator(mode="after")
    def _ssrf_defaults(self) -> NotifierSettings:
        local = self.env != "production"
        if self.webhook_allow_http is None:
            self.webhook_allow_http = local
        if self.webhook_allowed_networks is None:
            self.webhook_allowed_networks = ["127.0.0.1/32"] if local else []
        return self
