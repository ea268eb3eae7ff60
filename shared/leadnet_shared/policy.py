"""Policy data: the rule tables of domain.md, loaded from versioned TOML files, never hard-coded.

Each service ships its defaults in `<package>/policy/<name>.toml`. HQ can change a table without a deploy by
pointing `LEADNET_POLICY_DIR` at a directory holding a file of the same name: that file wins. Every table carries a
`version` so an entry, a task or a verdict can say which policy produced it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any


class PolicyError(RuntimeError):
    """A policy file is missing or malformed; a service refuses to start rather than guess a rule."""


def policy_override_dir() -> Path | None:
    value = os.environ.get("LEADNET_POLICY_DIR")
    return Path(value) if value else None


def load_policy(package: str, name: str) -> dict[str, Any]:
    """Load `<name>.toml`: from `LEADNET_POLICY_DIR` if a file of that name is there, else the package default."""
    override = policy_override_dir()
    if override is not None and (override / f"{name}.toml").is_file():
        text = (override / f"{name}.toml").read_text(encoding="utf-8")
        origin = str(override / f"{name}.toml")
    else:
        try:
            text = resources.files(package).joinpath("policy", f"{name}.toml").read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise PolicyError(f"policy {name!r} not found in {package}.policy") from exc
        origin = f"{package}/policy/{name}.toml"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy {origin} is not valid TOML: {exc}") from exc
    if "version" not in data:
        raise PolicyError(f"policy {origin} has no version")
    check = _CHECKS.get((package, name))
    if check is not None:
        check(data, origin)
    data.setdefault("_origin", origin)
    return data


# domain.md §3: a profit guarantee is 1000-3000 CNY per vehicle. A rewards policy may narrow the range HQ sets
# amounts in, never widen it, and every default it gives must lie in its range: a file that says otherwise stops
# the service at startup instead of paying an amount the rules do not allow.
GUARANTEE_RANGE_FEN = (100_000, 300_000)


def _fen(value: Any, what: str, origin: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(f"policy {origin}: {what} must be an integer amount in fen, not {value!r}")
    return value


def check_rewards_policy(data: dict[str, Any], origin: str) -> None:
    """The rewards table's amounts: positive integers in fen; guarantees inside the domain's 1000-3000 CNY."""
    for key in ("info_fee_fen", "purchase_reward_fen"):
        if _fen(data.get(key), key, origin) <= 0:
            raise PolicyError(f"policy {origin}: {key} must be positive")
    table = data.get("profit_guarantee")
    if not isinstance(table, dict):
        raise PolicyError(f"policy {origin}: [profit_guarantee] is missing")
    floor, ceiling = GUARANTEE_RANGE_FEN
    low = _fen(table.get("min_fen"), "profit_guarantee.min_fen", origin)
    high = _fen(table.get("max_fen"), "profit_guarantee.max_fen", origin)
    if not floor <= low <= high <= ceiling:
        raise PolicyError(
            f"policy {origin}: the guarantee range {low}-{high} fen must lie within {floor}-{ceiling} fen "
            "(domain.md §3: 1000-3000 CNY per vehicle)"
        )
    defaults = {"profit_guarantee.default_fen": table.get("default_fen")}
    by_line = table.get("by_product_line", {})
    if not isinstance(by_line, dict):
        raise PolicyError(f"policy {origin}: profit_guarantee.by_product_line must be a table")
    defaults |= {f"profit_guarantee.by_product_line.{line}": amount for line, amount in by_line.items()}
    for what, value in defaults.items():
        if not low <= _fen(value, what, origin) <= high:
            raise PolicyError(f"policy {origin}: {what} = {value} fen is outside the guarantee range {low}-{high} fen")


_CHECKS: dict[tuple[str, str], Callable[[dict[str, Any], str], None]] = {
    ("leadnet_shared", "rewards"): check_rewards_policy,
}


@cache
def cached_policy(package: str, name: str) -> dict[str, Any]:
    """The same as `load_policy`, read once per process (call `cached_policy.cache_clear()` to reload)."""
    return load_policy(package, name)


# The rewards a sale can earn (domain.md §3), as the router claims them and the ledger posts them.
PURCHASE_REWARD = "purchase_reward"
PROFIT_GUARANTEE = "profit_guarantee"


def rewards_policy() -> dict[str, Any]:
    """The reward amounts in force: one table for the router, which announces them in its sale answer, and the
    ledger, which posts by them."""
    return cached_policy("leadnet_shared", "rewards")
