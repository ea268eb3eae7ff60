"""Messages for people (contract.md "Notifier"; policy `people.toml`): which events become digest lines for whom,
when those lines go out, and how they are grouped into one message per channel, trigger, dealer and position.

Works on the envelope's `type` and `data` as received, not on catalogue classes: plan and collection events are
added by other services over time, and a trigger is only a policy entry naming the event type and its fields.
Lines carry ids and the masked data the public topics carry, nothing else.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from leadnet_shared.policy import PolicyError, load_policy
from notifier import PACKAGE
from notifier.channels.base import Message
from notifier.channels.config import ChannelSpec, parse_channels
from notifier.channels.sending import RetryRule


@dataclass(frozen=True, slots=True)
class Trigger:
    name: str
    title: str
    events: frozenset[str]
    withdraw_events: frozenset[str]
    subject_field: str
    dealer_fields: tuple[str, ...]
    positions: tuple[str, ...]
    position_field: str | None
    positions_field: str | None
    position_by_kind: Mapping[str, str]
    route_field: str | None
    routes: Mapping[str, tuple[str | None, str]]  # value of route_field -> (dealer override or None, position)
    window: timedelta | None
    daily_at: time | None
    line: str
    sms_params: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class PeoplePolicy:
    version: str
    timezone: ZoneInfo
    max_lines: int
    retry: RetryRule
    per_minute: Mapping[str, int]
    triggers: tuple[Trigger, ...]
    channels: tuple[ChannelSpec, ...]

    def limit_of(self, kind: str) -> int:
        return self.per_minute[kind]


POLICY = "people"


def parse_people_policy(data: Mapping[str, Any]) -> PeoplePolicy:
    origin = str(data.get("_origin", f"{PACKAGE}/policy/{POLICY}.toml"))
    try:
        limits = {kind: int(entry["per_minute"]) for kind, entry in data["limits"].items()}
        triggers = tuple(_trigger(name, entry, origin) for name, entry in data["triggers"].items())
        channels = parse_channels(data.get("channels", []), origin)
        policy = PeoplePolicy(
            version=str(data["version"]),
            timezone=ZoneInfo(str(data.get("timezone", "Asia/Shanghai"))),
            max_lines=int(data["max_lines"]),
            retry=RetryRule(
                base=timedelta(seconds=float(data["retry_base_seconds"])),
                cap=timedelta(seconds=float(data["retry_max_seconds"])),
                give_up_after=timedelta(hours=float(data["retry_hours"])),
            ),
            per_minute=limits,
            triggers=triggers,
            channels=channels,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PolicyError(f"{origin}: {type(exc).__name__}: {exc}") from exc
    for channel in channels:
        if channel.kind not in limits or limits[channel.kind] < 1:
            raise PolicyError(f"{origin}: no send limit for channel kind {channel.kind}")
        unknown = (channel.triggers or frozenset()) - {t.name for t in triggers}
        if unknown:
            raise PolicyError(f"{origin}: channel {channel.channel_id} names unknown triggers {sorted(unknown)}")
    if policy.max_lines < 1:
        raise PolicyError(f"{origin}: max_lines must be at least 1")
    return policy


def _trigger(name: str, entry: Mapping[str, Any], origin: str) -> Trigger:
    window = entry.get("window_minutes")
    daily = entry.get("daily_at")
    if (window is None) == (daily is None):
        raise PolicyError(f"{origin}: trigger {name} needs exactly one of window_minutes and daily_at")
    return Trigger(
        name=name,
        title=str(entry["title"]),
        events=frozenset(entry["events"]),
        withdraw_events=frozenset(entry.get("withdraw_events", [])),
        subject_field=str(entry["subject_field"]),
        dealer_fields=tuple(entry["dealer_fields"]),
        positions=tuple(entry["positions"]),
        position_field=entry.get("position_field"),
        positions_field=entry.get("positions_field"),
        position_by_kind=dict(entry.get("position_by_kind", {})),
        route_field=entry.get("route_field"),
        routes={str(k): _route(str(v)) for k, v in entry.get("routes", {}).items()},
        window=None if window is None else timedelta(minutes=float(window)),
        daily_at=None if daily is None else time.fromisoformat(str(daily)),
        line=str(entry["line"]),
        sms_params={str(k): str(v) for k, v in entry.get("sms_params", {}).items()},
    )


def _route(target: str) -> tuple[str | None, str]:
    """`position` (at the event's dealer) or `DEALER:position` (`HQ:market_manager`)."""
    dealer, _, position = target.rpartition(":")
    return (dealer or None, position)


@cache
def people_policy() -> PeoplePolicy:
    return parse_people_policy(load_policy(PACKAGE, POLICY))


@dataclass(frozen=True, slots=True)
class DigestLine:
    """One line waiting for its digest: for `channel_id`, about `subject`, sent with the others at `flush_at`."""

    trigger: str
    channel_id: str
    dealer: str
    position: str
    subject: str
    line: str
    flush_at: datetime


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """Lines of `trigger` about `subject` that have not gone out yet are taken back."""

    trigger: str
    subject: str


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "-"


def _render(template: str, data: Mapping[str, Any], zone: ZoneInfo) -> str:
    fields = _Fields()
    for key, value in data.items():
        if isinstance(value, str | int | float | bool):
            fields[key] = _local_time(value, zone) if isinstance(value, str) else str(value)
    return template.format_map(fields)


def _local_time(value: str, zone: ZoneInfo) -> str:
    """RFC 3339 instants shown as Asia/Shanghai wall time (what people read); other strings as they are."""
    if len(value) >= 20 and value[4] == "-" and value[10] == "T":
        try:
            return datetime.fromisoformat(value).astimezone(zone).strftime("%m-%d %H:%M")
        except ValueError:
            return value
    return value


def _flush_at(trigger: Trigger, data: Mapping[str, Any], received_at: datetime, zone: ZoneInfo) -> datetime:
    if trigger.daily_at is not None:
        # The morning digest of the business day the item is due; an item arriving after that morning (or due
        # on an earlier day) goes out with the next window instead of waiting a day.
        due = data.get("due_at")
        day = datetime.fromisoformat(due).astimezone(zone).date() if isinstance(due, str) else None
        if day is not None:
            morning = datetime.combine(day, trigger.daily_at, tzinfo=zone)
            if morning > received_at:
                return morning
        return received_at
    assert trigger.window is not None
    # Windows are aligned to the clock, so every line of one window shares one flush time and one message.
    step = trigger.window.total_seconds()
    return datetime.fromtimestamp((received_at.timestamp() // step + 1) * step, tz=received_at.tzinfo)


def lines_for_event(
    policy: PeoplePolicy, event_type: str, data: Mapping[str, Any], *, received_at: datetime
) -> tuple[list[DigestLine], list[Withdrawal]]:
    """What one event adds to the digests and what it takes back."""
    lines: list[DigestLine] = []
    withdrawals: list[Withdrawal] = []
    for trigger in policy.triggers:
        subject = data.get(trigger.subject_field)
        if event_type in trigger.withdraw_events and subject is not None:
            withdrawals.append(Withdrawal(trigger.name, str(subject)))
        if event_type not in trigger.events or subject is None:
            continue
        dealer = next((str(data[f]) for f in trigger.dealer_fields if data.get(f)), None)
        route = trigger.routes.get(str(data.get(trigger.route_field))) if trigger.route_field else None
        if route is not None and route[0] is not None:
            dealer = route[0]
        if dealer is None:
            continue
        positions = (route[1],) if route is not None else _positions(trigger, data)
        text = _render(trigger.line, data, policy.timezone)
        flush_at = _flush_at(trigger, data, received_at, policy.timezone)
        for position in positions:
            for channel in policy.channels:
                if channel.reaches(dealer=dealer, position=position, trigger=trigger.name):
                    lines.append(
                        DigestLine(trigger.name, channel.channel_id, dealer, position, str(subject), text, flush_at)
                    )
    return lines, withdrawals


def _positions(trigger: Trigger, data: Mapping[str, Any]) -> tuple[str, ...]:
    named = data.get(trigger.position_field) if trigger.position_field else None
    if isinstance(named, str) and named:
        return (named,)
    listed = data.get(trigger.positions_field) if trigger.positions_field else None
    if isinstance(listed, list) and listed and all(isinstance(p, str) for p in listed):
        return tuple(listed)
    kind = data.get("kind")
    if isinstance(kind, str) and kind in trigger.position_by_kind:
        return (trigger.position_by_kind[kind],)
    return trigger.positions


@dataclass(frozen=True, slots=True)
class Digest:
    channel_id: str
    trigger: str
    dealer: str
    position: str
    message: Message


def digests(policy: PeoplePolicy, lines: Iterable[DigestLine]) -> list[Digest]:
    """Lines grouped per channel, trigger, dealer and position, in the order given, split at `max_lines`."""
    by_trigger = {t.name: t for t in policy.triggers}
    groups: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for line in lines:
        groups[(line.channel_id, line.trigger, line.dealer, line.position)].append(line.line)
    out: list[Digest] = []
    for (channel_id, trigger_name, dealer, position), texts in groups.items():
        trigger = by_trigger[trigger_name]
        chunks = _chunks(texts, policy.max_lines)
        for index, chunk in enumerate(chunks, start=1):
            title = _render(trigger.title, {"dealer": dealer}, policy.timezone)
            title = (
                f"{title}（{len(texts)} 项）"
                if len(chunks) == 1
                else f"{title}（{index}/{len(chunks)}，共 {len(texts)} 项）"
            )
            params = {**trigger.sms_params, "dealer": dealer, "count": str(len(texts))}
            out.append(Digest(channel_id, trigger_name, dealer, position, Message(title, tuple(chunk), params)))
    return out


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]
