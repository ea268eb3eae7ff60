"""The console's measures policy (`policy/measures.toml`): tier order, task kinds, what counts as lost."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from leadnet_shared.policy import PolicyError, cached_policy

PACKAGE = "hq_console"


@dataclass(frozen=True)
class MeasuresPolicy:
    version: str
    time_zone: ZoneInfo
    tier_order: tuple[str, ...]
    callback_kinds: tuple[str, ...]
    promotion_kinds: tuple[str, ...]
    lost_close_reasons: tuple[str, ...]
    duplicate_reasons: tuple[str, ...]
    authenticity_level_1_min: float
    authenticity_level_2_min: float

    def authenticity_level(self, share: float | None) -> int | None:
        """domain.md §1 "Authenticity level": 1, 2 or 3 by the verified share; None without records."""
        if share is None:
            return None
        if share >= self.authenticity_level_1_min:
            return 1
        return 2 if share >= self.authenticity_level_2_min else 3


def _strings(data: dict[str, object], name: str) -> tuple[str, ...]:
    value = data.get(name)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise PolicyError(f"measures policy: {name} must be a non-empty list of names")
    return tuple(value)


def parse_measures_policy(data: dict[str, object]) -> MeasuresPolicy:
    try:
        zone = ZoneInfo(str(data.get("time_zone", "")))
    except (ValueError, KeyError) as exc:
        raise PolicyError(f"measures policy: unknown time_zone {data.get('time_zone')!r}") from exc
    level_1, level_2 = data.get("authenticity_level_1_min"), data.get("authenticity_level_2_min")
    if not isinstance(level_1, int | float) or not isinstance(level_2, int | float) or not 0 < level_2 < level_1 <= 1:
        raise PolicyError("measures policy: authenticity levels need 0 < level_2_min < level_1_min <= 1")
    return MeasuresPolicy(
        version=str(data["version"]),
        time_zone=zone,
        tier_order=_strings(data, "tier_order"),
        callback_kinds=_strings(data, "callback_kinds"),
        promotion_kinds=_strings(data, "promotion_kinds"),
        lost_close_reasons=_strings(data, "lost_close_reasons"),
        duplicate_reasons=_strings(data, "duplicate_reasons"),
        authenticity_level_1_min=float(level_1),
        authenticity_level_2_min=float(level_2),
    )


def measures_policy() -> MeasuresPolicy:
    return parse_measures_policy(cached_policy(PACKAGE, "measures"))


def is_upgrade(old: str | None, new: str | None, *, policy: MeasuresPolicy | None = None) -> bool:
    """Whether a tier change moves the customer up (towards the front of `tier_order`); unknown tiers never do."""
    order = (policy or measures_policy()).tier_order
    if old not in order or new not in order:
        return False
    return order.index(new) < order.index(old)
