"""Typed reads of policy numbers: a wrong value in HQ's file stops the service, never skews a due date."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadnet_shared.policy import PolicyError


def policy_section(data: Mapping[str, Any], key: str, *, policy: str) -> Mapping[str, Any]:
    """A `[key]` table of a policy file."""
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise PolicyError(f"{policy} policy has no [{key}] table")
    return value


def policy_int(data: Mapping[str, Any], key: str, *, policy: str, minimum: int = 0) -> int:
    """A whole number >= `minimum` from a policy table."""
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise PolicyError(f"{policy} policy {key} must be a whole number >= {minimum}, got {value!r}")
    return value


def policy_number(data: Mapping[str, Any], key: str, *, policy: str, minimum: float = 0) -> float:
    """A number >= `minimum` (int or float) from a policy table."""
    value = data.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < minimum:
        raise PolicyError(f"{policy} policy {key} must be a number >= {minimum}, got {value!r}")
    return float(value)


def policy_bool(data: Mapping[str, Any], key: str, *, policy: str) -> bool:
    """A true/false switch from a policy table."""
    value = data.get(key)
    if not isinstance(value, bool):
        raise PolicyError(f"{policy} policy {key} must be true or false, got {value!r}")
    return value
