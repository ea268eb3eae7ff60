"""route_leads' in-memory candidate index keeps only the lowest ids per key; the possible-duplicate warning it
gives must be the one an uncapped index gives: the strongest of the `limit` lowest ids sharing a key, as an
`ORDER BY customer_id LIMIT` query picks them (pure: no database)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dedup_router.batch_routing import _BatchKeys, _Candidates, _possible_duplicate
from dedup_router.possible_duplicates import DuplicateKeys
from dedup_router.routing import possible_duplicate_warning

NAMES = ["n:a", "n:b", None]
FLEETS = ["f:x", "f:y", None]

customer = st.tuples(st.integers(0, 15), st.sampled_from(NAMES), st.sampled_from(FLEETS))


def _id(n: int) -> str:
    return f"c{n:03d}"


def _uncapped(
    *, me: str, keys: DuplicateKeys, known: dict[str, DuplicateKeys], limit: int
) -> tuple[Any, dict[str, Any]] | None:
    """The reference: every customer sharing a key, the lowest `limit` ids of them, the strongest of those."""
    if keys.name_county is None and keys.fleet_city is None:
        return None
    sharing = sorted(
        cid
        for cid, k in known.items()
        if cid != me
        and (
            (keys.name_county is not None and k.name_county == keys.name_county)
            or (keys.fleet_city is not None and k.fleet_city == keys.fleet_city)
        )
    )
    return possible_duplicate_warning(keys=keys, candidates={cid: known[cid] for cid in sharing[:limit]})


@settings(max_examples=300)
@given(
    before=st.lists(customer, max_size=40), batch=st.lists(customer, min_size=1, max_size=80), limit=st.integers(1, 6)
)
def test_the_capped_index_warns_like_the_uncapped_one(
    before: list[tuple[int, str | None, str | None]], batch: list[tuple[int, str | None, str | None]], limit: int
) -> None:
    known: dict[str, DuplicateKeys] = {}
    for n, name, fleet in before:
        known.setdefault(_id(n), DuplicateKeys(name_county=name, fleet_city=fleet))
    # The pre-batch lookup gives the lowest limit + 1 ids per key, as _load_candidates asks the database.
    by_name: dict[str, list[str]] = {}
    by_fleet: dict[str, list[str]] = {}
    for cid in sorted(known):
        k = known[cid]
        if k.name_county is not None:
            by_name.setdefault(k.name_county, []).append(cid)
        if k.fleet_city is not None:
            by_fleet.setdefault(k.fleet_city, []).append(cid)
    candidates = _Candidates(
        by_name={k: v[: limit + 1] for k, v in by_name.items()},
        by_fleet={k: v[: limit + 1] for k, v in by_fleet.items()},
        keys=dict(known),
    )
    batch_keys = _BatchKeys(cap=limit + 1)
    for n, name, fleet in batch:
        me = _id(n)
        old = known.get(me, DuplicateKeys(name_county=None, fleet_city=None))
        # A record only fills keys in, never changes one (as _update_customer does).
        keys = DuplicateKeys(name_county=old.name_county or name, fleet_city=old.fleet_city or fleet)
        got = _possible_duplicate(customer_id=me, keys=keys, candidates=candidates, batch_keys=batch_keys, limit=limit)
        assert got == _uncapped(me=me, keys=keys, known=known, limit=limit)
        known[me] = keys
        batch_keys.set(me, keys)


def test_the_index_holds_the_lowest_ids_once_each() -> None:
    index = _BatchKeys(cap=3)
    for n in (9, 4, 7, 4, 1, 8, 2):
        index.set(_id(n), DuplicateKeys(name_county="n:a", fleet_city=None))
    assert index.by_name["n:a"] == [_id(1), _id(2), _id(4)]
