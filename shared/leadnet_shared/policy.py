"""Policy data: the rule tables of domain.md, loaded from versioned TOML files, never hard-coded.

Each service ships its defaults in `<package>/policy/<name>.toml`. HQ can change a table without a deploy by
pointing `LEADNET_POLICY_DIR` at a directory holding a file of the same name: that file wins. Every table carries a
`version` so an entry, a task or a verdict can say which policy produced it.
"""

from __future__ import annotations

import os
import tomllib
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
    data.setdefault("_origin", origin)
    return data


@cache
def cached_policy(package: str, name: str) -> dict[str, Any]:
    """The same as `load_policy`, read once per process (call `cached_policy.cache_clear()` to reload)."""
    return load_policy(package, name)
