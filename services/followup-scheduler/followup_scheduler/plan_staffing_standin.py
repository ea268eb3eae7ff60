"""Stand-in for followup_scheduler.staffing (branch h-staffing) until it is merged: same signature."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Assignment:
    position: str
    method: str
    accompany: tuple[str, ...] = ()


def assignment_for(*, kind: str, nature: str, tier: str, horizon: str | None) -> Assignment:
    position = {"gold_silver": "general_manager", "general_big": "customer_manager"}.get(tier, "marketing_consultant")
    return Assignment(position=position, method="phone" if kind == "callback" else "visit")
