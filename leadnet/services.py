"""The services as `leadnet up` and `leadnet migrate` know them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    package: str
    env_prefix: str
    port: int
    database: str


SERVICES: tuple[ServiceInfo, ...] = (
    ServiceInfo("intake", "lead_intake", "LEADNET_INTAKE_", 8001, "leadnet_intake"),
    ServiceInfo("router", "dedup_router", "LEADNET_ROUTER_", 8002, "leadnet_router"),
    ServiceInfo("scheduler", "followup_scheduler", "LEADNET_SCHEDULER_", 8003, "leadnet_scheduler"),
    ServiceInfo("ledger", "rewards_ledger", "LEADNET_LEDGER_", 8004, "leadnet_ledger"),
    ServiceInfo("notifier", "notifier", "LEADNET_NOTIFIER_", 8006, "leadnet_notifier"),
)


def by_name(names: list[str] | None) -> list[ServiceInfo]:
    if not names:
        return list(SERVICES)
    known = {s.name: s for s in SERVICES} | {s.package: s for s in SERVICES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown service(s) {unknown}; known: {[s.name for s in SERVICES]}")
    return [known[n] for n in names]
