"""apply_in_runs: a batch handler's events grouped into runs without changing what each key sees, or in what order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from leadnet_shared.consumer import apply_in_runs
from leadnet_shared.events import EventData, make_envelope


def _envelope(event_type: str, lead: str) -> Any:
    return make_envelope(data=EventData(lead_id=lead), event_type=event_type, source="/test",  # type: ignore[call-arg]
                         time=datetime.now(UTC), subject=lead)


async def _apply(events: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    calls: list[tuple[str, list[str]]] = []

    async def apply_run(session: Any, items: list[str]) -> None:
        calls.append(("run", items))

    async def other(session: Any, envelope: Any) -> None:
        calls.append((envelope.type, [envelope.data["lead_id"]]))

    await apply_in_runs(None, [_envelope(t, lead) for t, lead in events],  # type: ignore[arg-type]
                        run_types={"verdict"}, parse=lambda e: str(e.data["lead_id"]), key=lambda lead: lead,
                        apply_run=apply_run, handlers={"reassigned": other})
    return calls


async def test_runs_end_at_another_type_and_at_a_repeated_key() -> None:
    calls = await _apply([("verdict", "A"), ("verdict", "B"), ("reassigned", "A"), ("verdict", "C"),
                          ("verdict", "C"), ("verdict", "D")])
    assert calls == [("run", ["A", "B"]), ("reassigned", ["A"]), ("run", ["C"]), ("run", ["C", "D"])]


@given(st.lists(st.tuples(st.sampled_from(["verdict", "reassigned"]), st.sampled_from("ABC")), max_size=12))
async def test_every_key_sees_its_events_once_in_delivery_order(events: list[tuple[str, str]]) -> None:
    calls = await _apply(events)
    seen = [(("verdict" if kind == "run" else kind), lead) for kind, leads in calls for lead in leads]
    for key in "ABC":
        assert [e for e in seen if e[1] == key] == [e for e in events if e[1] == key]
    assert all(len(set(leads)) == len(leads) for kind, leads in calls if kind == "run")
