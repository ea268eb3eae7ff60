"""Information networks (domain.md §1): who may register which network, and the quarters records are counted in.

HQ registers national networks, dealers their regional ones. Every record names the network that supplied it
(`network_code`); per network and per quarter (Asia/Shanghai) intake counts the records saved and how many of them
were later verified true, the inputs of the quarterly grade and authenticity level. A record naming a code nobody
registered is kept (a record is never lost over a typo) but flagged `unknown_network` and counted for no network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from lead_intake.checks import json_object
from leadnet_shared.auth import Principal
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.policy import cached_policy
from leadnet_shared.problems import FieldProblem, Forbidden, ProblemCollector, ValidationFailed

POLICY_PACKAGE = "lead_intake"
POLICY_NAME = "information_networks"
HQ_OWNER = "HQ"
_FIELDS = frozenset({"code", "name", "kind", "scope", "members"})
_MEMBER_FIELDS = frozenset({"name", "type"})
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


@dataclass(frozen=True, slots=True)
class NetworkRegistration:
    """A valid registration: what is stored."""

    code: str
    name: str
    kind: str
    scope: str
    owner: str
    members: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Rules:
    version: str
    kinds: frozenset[str]
    scope_role: dict[str, str]
    member_types: frozenset[str]
    code_pattern: re.Pattern[str]
    max_members: int
    max_name_length: int
    reserved_codes: frozenset[str]


@cache
def _rules() -> _Rules:
    data = cached_policy(POLICY_PACKAGE, POLICY_NAME)
    limits = data["limits"]
    return _Rules(
        version=str(data["version"]),
        kinds=frozenset(data["kinds"]),
        scope_role={scope: spec["registered_by_role"] for scope, spec in data["scopes"].items()},
        member_types=frozenset(data["member_types"]),
        code_pattern=re.compile(limits["code_pattern"]),
        max_members=int(limits["max_members"]),
        max_name_length=int(limits["max_name_length"]),
        reserved_codes=frozenset(str(c).lower() for c in limits.get("reserved_codes", [])),
    )


def member_types() -> frozenset[str]:
    """The member institution types a network may list (policy)."""
    return _rules().member_types


def check_registration(*, principal: Principal, body: object) -> NetworkRegistration:
    """Validate a registration and decide its scope and owner from who registers it (HQ national, dealer regional)."""
    rules = _rules()
    body = json_object(body)
    problems = ProblemCollector()
    for key in body:
        if key not in _FIELDS:
            message = "decided by the system" if key in ("owner", "registered_by") else "not a field of a network"
            problems.add(f"/{key}", "unknown_field", message)
    code = body.get("code")
    if not isinstance(code, str) or not code.strip():
        problems.add("/code", "missing_field", "code is required")
    elif not rules.code_pattern.match(code):
        problems.add("/code", "invalid_value", f"must match {rules.code_pattern.pattern}")
    elif code.lower() in rules.reserved_codes:
        problems.add("/code", "reserved_value", f"must not be one of: {', '.join(sorted(rules.reserved_codes))}")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add("/name", "missing_field", "name is required")
    elif len(name) > rules.max_name_length:
        problems.add("/name", "too_long", f"at most {rules.max_name_length} characters")
    kind = body.get("kind")
    if kind is None:
        problems.add("/kind", "missing_field", "kind is required")
    elif kind not in rules.kinds:
        problems.add("/kind", "invalid_enum", f"must be one of: {', '.join(sorted(rules.kinds))}")
    scope = body.get("scope")
    own_scope = next((s for s, role in rules.scope_role.items() if role == principal.role), None)
    if scope is None:
        scope = own_scope
    elif scope not in rules.scope_role:
        problems.add("/scope", "invalid_enum", f"must be one of: {', '.join(sorted(rules.scope_role))}")
    members = body.get("members", [])
    checked_members: list[dict[str, Any]] = []
    if not isinstance(members, list):
        problems.add("/members", "invalid_type", "must be a list of institutions")
    elif len(members) > rules.max_members:
        problems.add("/members", "too_many_items", f"at most {rules.max_members} members")
    else:
        for i, member in enumerate(members):
            if not isinstance(member, dict):
                problems.add(f"/members/{i}", "invalid_type", "must be an object {name, type}")
                continue
            for key in member:
                if key not in _MEMBER_FIELDS:
                    problems.add(f"/members/{i}/{key}", "unknown_field", "not a field of a member")
            m_name, m_type = member.get("name"), member.get("type")
            if not isinstance(m_name, str) or not m_name.strip():
                problems.add(f"/members/{i}/name", "missing_field", "name is required")
            if m_type not in rules.member_types:
                problems.add(
                    f"/members/{i}/type", "invalid_enum", f"must be one of: {', '.join(sorted(rules.member_types))}"
                )
            if isinstance(m_name, str):
                checked_members.append({"name": m_name.strip(), "type": m_type})
    problems.raise_if_any("The network has field problems; see errors.")
    if scope is None or rules.scope_role[scope] != principal.role:
        raise Forbidden(
            f"A {principal.role} may not register a {scope} network: national networks are "
            "registered by HQ (hq_admin), regional ones by dealers."
        )
    owner = HQ_OWNER if scope == "national" else str(principal.dealer)
    assert isinstance(code, str) and isinstance(name, str) and isinstance(kind, str)
    return NetworkRegistration(
        code=code, name=name.strip(), kind=kind, scope=scope, owner=owner, members=checked_members
    )


def may_see_network(*, principal: Principal, owner: str) -> bool:
    """HQ sees every network; a dealer sees the national ones and its own (never another dealer's)."""
    return principal.is_hq or owner in (HQ_OWNER, principal.dealer)


def parse_quarter(quarter: str) -> tuple[int, int]:
    """`2026Q4` -> (2026, 4), or ValidationFailed."""
    match = _QUARTER.match(quarter)
    if match is None:
        raise ValidationFailed(
            "quarter must look like 2026Q4.",
            errors=[FieldProblem("/quarter", "invalid_value", "must look like 2026Q4")],
        )
    return int(match.group(1)), int(match.group(2))


def quarter_of(moment: datetime) -> str:
    """The business quarter (Asia/Shanghai) an instant falls in."""
    local = moment.astimezone(SHANGHAI)
    return f"{local.year}Q{(local.month - 1) // 3 + 1}"


def quarter_bounds(quarter: str) -> tuple[datetime, datetime]:
    """[start, end) of a quarter in Asia/Shanghai, as aware UTC instants."""
    year, q = parse_quarter(quarter)
    start = datetime(year, 3 * (q - 1) + 1, 1, tzinfo=SHANGHAI)
    end = datetime(year + 1, 1, 1, tzinfo=SHANGHAI) if q == 4 else datetime(year, 3 * q + 1, 1, tzinfo=SHANGHAI)
    return start.astimezone(UTC), end.astimezone(UTC)


def authenticity(*, records: int, verified: int) -> float | None:
    """Share of a network's records later verified true (domain.md §1); None with no records."""
    return None if records == 0 else verified / records
