"""The quarterly evaluation of information networks (domain.md §1 "Quarterly evaluation").

By the 10th of the first month of each quarter, for the previous quarter, per owner (HQ for the national networks,
each dealer for its regional ones): development completion (networks developed / planned) and its rating,
authenticity (verified-true records / records) and its rating, the frequency, volume and quality of what each
network supplied with its grade and level (`network_grades`), and the network kinds expected for the owner's size
against the kinds it has. Numbers and tables: `policy/network_evaluation.toml`.

Once per owner and quarter, across restarts and replicas: the row of `network_evaluations` is claimed by an insert
in the same transaction that writes its `leadnet.network.evaluated` event, so a second run (the timer again, another
replica, HQ on demand) inserts nothing and publishes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time
from functools import cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.information_networks import HQ_OWNER, member_types, parse_quarter, quarter_bounds, quarter_of
from lead_intake.information_networks import POLICY_NAME as NETWORKS_POLICY
from lead_intake.network_grades import PercentSteps, grade_network, grade_rules, percent_steps
from lead_intake.repository import network_evaluations as stored
from leadnet_shared.app import Runtime
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.events import SALES_LEVELS, NetworkEvaluated, NetworkUpserted
from leadnet_shared.outbox import Outbox, Outgoing
from leadnet_shared.policy import PolicyError, cached_policy
from leadnet_shared.workers import Step

log = logging.getLogger(__name__)

POLICY_PACKAGE = "lead_intake"
POLICY_NAME = "network_evaluation"
MAX_TIMER_WAIT_SECONDS = 900.0
EVALUATION_WORK_MEM = "64MB"  # the timer looks again at least this often (a clock change, a new dealer)
# A party type (events.PARTY_TYPES) -> its row of [network_kinds_expected.service_provider].
SERVICE_PROVIDER_KEYS = {"service_provider_exclusive": "exclusive", "service_provider_non_exclusive": "non_exclusive"}


@dataclass(frozen=True, slots=True)
class EvaluationRules:
    version: str
    day_of_first_month: int
    at: time
    development_completion_rating: PercentSteps
    authenticity_rating: PercentSteps
    network_kinds: tuple[str, ...]
    kinds_expected_dealer: dict[str, int]
    kinds_expected_service_provider: dict[str, int]
    remind_days_before: tuple[int, ...]  # ascending
    remind_at: time


@cache
def evaluation_rules() -> EvaluationRules:
    data = cached_policy(POLICY_PACKAGE, POLICY_NAME)
    try:
        schedule = data["schedule"]
        day = int(schedule["day_of_first_month"])
        at = time.fromisoformat(str(schedule["at"]))
        kinds = tuple(str(k) for k in data["network_kinds"]["kinds"])
        dealer = {str(k): int(v) for k, v in data["network_kinds_expected"]["dealer"].items()}
        provider = {str(k): int(v) for k, v in data["network_kinds_expected"]["service_provider"].items()}
        reminders = tuple(sorted({int(d) for d in data["reminders"]["days_before"]}))
        remind_at = time.fromisoformat(str(data["reminders"]["at"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PolicyError(f"policy {POLICY_NAME} is malformed: {exc!r}") from exc
    if not 1 <= day <= 28:
        raise PolicyError(f"policy {POLICY_NAME}: schedule.day_of_first_month must be 1..28")
    if any(not 0 <= d <= 27 for d in reminders):
        raise PolicyError(f"policy {POLICY_NAME}: reminders.days_before must be 0..27")
    if len(set(kinds)) != len(kinds):
        raise PolicyError(f"policy {POLICY_NAME}: network_kinds.kinds repeats a kind")
    unknown = set(kinds) - member_types()
    if unknown:
        raise PolicyError(f"policy {POLICY_NAME}: kinds {sorted(unknown)} are not member types of {NETWORKS_POLICY}")
    if set(dealer) != set(SALES_LEVELS):
        raise PolicyError(f"policy {POLICY_NAME}: network_kinds_expected.dealer must name exactly {SALES_LEVELS}")
    if set(provider) != set(SERVICE_PROVIDER_KEYS.values()):
        raise PolicyError(
            f"policy {POLICY_NAME}: network_kinds_expected.service_provider must name exclusive, non_exclusive"
        )
    if any(not 0 <= n <= len(kinds) for n in [*dealer.values(), *provider.values()]):
        raise PolicyError(f"policy {POLICY_NAME}: an expected count exceeds the {len(kinds)} kinds")
    return EvaluationRules(
        version=str(data["version"]),
        day_of_first_month=day,
        at=at,
        development_completion_rating=percent_steps(
            data["development_completion_rating"], key="rating", name=POLICY_NAME, value_type=str
        ),
        authenticity_rating=percent_steps(data["authenticity_rating"], key="rating", name=POLICY_NAME, value_type=str),
        network_kinds=kinds,
        kinds_expected_dealer=dealer,
        kinds_expected_service_provider=provider,
        remind_days_before=reminders,
        remind_at=remind_at,
    )


# ---- the rules --------------------------------------------------------------------------------------------------


def previous_quarter(quarter: str) -> str:
    year, q = parse_quarter(quarter)
    return f"{year - 1}Q4" if q == 1 else f"{year}Q{q - 1}"


def next_quarter(quarter: str) -> str:
    year, q = parse_quarter(quarter)
    return f"{year + 1}Q1" if q == 4 else f"{year}Q{q + 1}"


def evaluation_due_at(quarter: str) -> datetime:
    """When the timer evaluates `quarter`: the policy's day and time (Asia/Shanghai) of the next quarter's first
    month (by default the 10th, the deadline itself, so the quarter's last records have had time to be verified)."""
    rules = evaluation_rules()
    year, q = parse_quarter(next_quarter(quarter))
    day = date(year, 3 * (q - 1) + 1, rules.day_of_first_month)
    return datetime.combine(day, rules.at, tzinfo=SHANGHAI).astimezone(UTC)


def quarter_due(now: datetime) -> str:
    """The latest quarter whose evaluation has fallen due at `now`."""
    last = previous_quarter(quarter_of(now))
    return last if now >= evaluation_due_at(last) else previous_quarter(last)


def development_completion(*, developed: int, planned: int | None) -> tuple[float | None, str | None]:
    """developed / planned and its rating (≥ 85 % excellent, 60–85 % average, < 60 % poor); none without a plan."""
    if planned is None or planned <= 0:
        return None, None
    rating: str = evaluation_rules().development_completion_rating.of(part=developed, whole=planned)
    return developed / planned, rating


def authenticity_rating(*, records: int, verified: int) -> tuple[float | None, str | None]:
    """verified / records and its rating (≥ 50 % excellent, 20–50 % average, < 20 % poor); none without records."""
    if records <= 0:
        return None, None
    rating: str = evaluation_rules().authenticity_rating.of(part=verified, whole=records)
    return verified / records, rating


def kinds_expected(*, owner: str, sales_level: str | None, party_type: str | None = None) -> int | None:
    """How many of the 14 kinds the owner should cover: a service provider by whether it is exclusive (5 / 6), a
    dealer by its sales level (14 / 13 / 12); None for HQ or a dealer of unknown level."""
    rules = evaluation_rules()
    if owner == HQ_OWNER:
        return None
    provider = SERVICE_PROVIDER_KEYS.get(party_type or "")
    if provider is not None:
        return rules.kinds_expected_service_provider.get(provider)
    if sales_level is None:
        return None
    return rules.kinds_expected_dealer.get(sales_level)


def kinds_of(members: list[dict[str, Any]]) -> set[str]:
    """The network kinds (of the 14) a network's members make it."""
    kinds = set(evaluation_rules().network_kinds)
    return {str(m.get("type")) for m in members if m.get("type") in kinds}


# ---- computing and storing --------------------------------------------------------------------------------------


@dataclass
class OwnerTally:
    owner: str
    scope: str
    networks: int = 0
    developed: int = 0
    records: int = 0
    verified: int = 0
    kinds: set[str] = field(default_factory=set)
    class_counts: dict[str, int] = field(default_factory=dict)
    main: int = 0
    auxiliary: int = 0
    lines: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EvaluationRun:
    quarter: str
    evaluated: list[str]  # owners evaluated by this run
    already: int  # owners evaluated before


async def evaluate_quarter(
    session: AsyncSession,
    outbox: Outbox,
    *,
    quarter: str,
    now: datetime,
    trigger: str,
) -> EvaluationRun:
    """Evaluate every owner not yet evaluated for `quarter`, in the caller's transaction; one event per owner."""
    start, end = quarter_bounds(quarter)
    owners, already = await stored.owners_to_evaluate(session, quarter=quarter, end=end, hq=HQ_OWNER)
    if not owners:
        return EvaluationRun(quarter=quarter, evaluated=[], already=already)
    tallies = {o: OwnerTally(owner=o, scope="national" if o == HQ_OWNER else "regional") for o in owners}
    # A quarterly batch query over a quarter's records: room to aggregate in memory rather than in sorted temp files
    # (measured in docs/performance.md), for this transaction only.
    rows = await stored.network_quarters(session, owners=owners, start=start, end=end, work_mem=EVALUATION_WORK_MEM)
    registered: dict[str, tuple[list[str], datetime]] = {}  # per network: member types, registered at
    for code, owner, scope, kind, members, created_at, records, verified, days, months, complete, dups in rows:
        tally = tallies[owner]
        registered[code] = (sorted({str(m.get("type")) for m in members if m.get("type")}), created_at)
        graded = grade_network(scope=scope, records=records, verified=verified)
        tally.networks += 1
        tally.developed += start <= created_at < end
        tally.records += records
        tally.verified += verified
        network_kinds = kinds_of(members)
        tally.kinds |= network_kinds
        key = graded.network_class or graded.grade
        tally.class_counts[key] = tally.class_counts.get(key, 0) + 1
        tally.main += graded.management == "main"
        tally.auxiliary += graded.management == "auxiliary"
        tally.lines.append(
            {
                "code": code,
                "kind": kind,
                "network_kinds": sorted(network_kinds),
                **asdict(graded),  # records, verified, grade, authenticity and level, class, cycle, management
                "active_days": days,
                "active_months": months,
                "complete_share": None if records == 0 else complete / records,
                "duplicates_refused": dups,
            }
        )
    dealer_codes = [o for o in owners if o != HQ_OWNER]
    profiles = await stored.dealer_profiles(session, dealer_codes) if dealer_codes else {}
    # An owner without any plan in the quarter has no completion to rate.
    planned = await stored.networks_planned(session, quarter=quarter, owners=owners)
    versions = {"network_grades": grade_rules().version, "network_evaluation": evaluation_rules().version}
    values = []
    for owner, tally in tallies.items():
        plan = planned.get(owner)
        completion, completion_rating = development_completion(developed=tally.developed, planned=plan)
        share, auth_rating = authenticity_rating(records=tally.records, verified=tally.verified)
        level, party = profiles.get(owner, (None, None))
        values.append(
            {
                "owner": owner,
                "quarter": quarter,
                "scope": tally.scope,
                "evaluated_at": now,
                "trigger": trigger,
                "policy_versions": versions,
                "networks_planned": plan,
                "networks_developed": tally.developed,
                "development_completion": completion,
                "development_rating": completion_rating,
                "networks": tally.networks,
                "records": tally.records,
                "verified": tally.verified,
                "authenticity_share": share,
                "authenticity_rating": auth_rating,
                "sales_level": level,
                "kinds_expected": kinds_expected(owner=owner, sales_level=level, party_type=party),
                "kinds_present": sorted(tally.kinds),
                "class_counts": dict(sorted(tally.class_counts.items())),
                "lines": tally.lines,
            }
        )
    claimed = await stored.claim(session, values)
    events: list[Outgoing] = [
        Outgoing(_event(v, tallies[v["owner"]]), key=str(v["owner"]), subject=str(v["owner"]))
        for v in values
        if v["owner"] in claimed
    ]
    # Each network of an owner evaluated now, with the grade it just got: what a dashboard shows per network.
    for owner in sorted(claimed):
        for line in tallies[owner].lines:
            upserted = NetworkUpserted(
                code=line["code"],
                kind=line["kind"],
                scope=tallies[owner].scope,
                owner=owner,
                member_types=registered[line["code"]][0],
                registered_at=registered[line["code"]][1],
                graded_in=quarter,
                grade=line["grade"],
                authenticity_level=line["authenticity_level"],
                network_class=line["network_class"],
                collection_cycle=line["collection_cycle"],
                updated_at=now,
            )
            events.append(Outgoing(upserted, key=line["code"], subject=line["code"]))
    await outbox.publish_many(session, events, time=now)
    return EvaluationRun(quarter=quarter, evaluated=sorted(claimed), already=already + len(owners) - len(claimed))


def _event(row: dict[str, Any], tally: OwnerTally) -> NetworkEvaluated:
    """The owner's evaluation as stored (the per-network lines apart), with its count of main and auxiliary
    sources."""
    stored = {name: value for name, value in row.items() if name in NetworkEvaluated.model_fields}
    return NetworkEvaluated(**stored, main_sources=tally.main, auxiliary_sources=tally.auxiliary)


def evaluation_timer(runtime: Runtime) -> Step:
    """The durable timer: evaluates the quarter last fallen due for every owner not yet evaluated (catching up after
    a stop), then waits until the next quarter falls due, looking again at least every 15 minutes."""

    async def step() -> float:
        now = runtime.clock.now()
        quarter = quarter_due(now)
        async with runtime.db.transaction() as session:
            run = await evaluate_quarter(session, runtime.outbox, quarter=quarter, now=now, trigger="timer")
        if run.evaluated:
            log.info("evaluated the networks of %d owners for %s", len(run.evaluated), quarter)
        until_next = (evaluation_due_at(quarter_of(now)) - now).total_seconds()
        return max(1.0, min(until_next, MAX_TIMER_WAIT_SECONDS))

    return step
