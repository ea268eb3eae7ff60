"""The statements that count the figures of the pages (see the package docstring for the style): totals, totals
per group, and the records received with the refusals at intake. Every count is a figure's condition from
`measures`, so the pages (`hq_console.insights`, `dealers`, `regions`, `networks`, `customers`) only say which
figures they want and how to group them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from hq_console.repository.measures import MEASURES, Measure, Where


@dataclass(frozen=True)
class Counted:
    """A figure to count: `value` over the rows of `measure`'s table that `where` keeps."""

    name: str
    where: Where
    measure: Measure
    value: str = "count(*)"

    @classmethod
    def of(cls, name: str, where: Where, value: str = "count(*)", *, measure: str | None = None) -> Counted:
        return cls(name, where, MEASURES[measure or name], value)


def _params(counted: Sequence[Counted], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    params = dict(extra or {})
    for one in counted:
        params.update(one.where.params)
    return params


async def totals(session: AsyncSession, counted: Sequence[Counted]) -> dict[str, int]:
    """Every figure's total in one statement, each a scalar subquery on its indexed time column; counts of the same
    name add up (a snapshot counted in disjoint parts)."""
    parts: dict[str, list[str]] = {}
    for one in counted:
        parts.setdefault(one.name, []).append(f"({one.measure.select(one.value, one.where)})")
    sql = "SELECT " + ", ".join(f"({' + '.join(subqueries)}) AS {name}" for name, subqueries in parts.items())
    row = (await session.execute(text(sql), _params(counted))).mappings().one()
    return {name: int(row[name] or 0) for name in parts}


async def grouped(
    session: AsyncSession, counted: Sequence[Counted], key: Mapping[str, str], params: Mapping[str, Any] | None = None
) -> list[tuple[str, Any, int]]:
    """(figure, group, value) of every figure per group, one statement; `key` is each figure's group expression."""
    union = " UNION ALL ".join(
        one.measure.select(f"'{one.name}' AS figure, {key[one.name]} AS key, {one.value} AS n", one.where)
        + " GROUP BY 2"
        for one in counted
    )
    rows = (await session.execute(text(union), _params(counted, params))).all()
    return [(figure, group, int(n or 0)) for figure, group, n in rows]


async def counted_by(
    session: AsyncSession, by: str, where: Where, figures: Mapping[str, str], within: str
) -> list[dict[str, Any]]:
    """One scan of the tasks `where` keeps (and `within`), counting each figure's condition per `by`: {"key": ...,
    figure: n, ...} per group."""
    counts = ", ".join(f"count(*) FILTER (WHERE {condition}) AS {figure}" for figure, condition in figures.items())
    sql = f"SELECT {by} AS key, {counts} FROM tasks t WHERE {where.sql()} AND ({within}) GROUP BY 1"
    return [dict(row) for row in (await session.execute(text(sql), where.params)).mappings().all()]


async def received_and_refused(
    session: AsyncSession, *, key: str, leads: Where, refusals: Where, counts: Mapping[str, tuple[str, str]]
) -> list[tuple[Any, ...]]:
    """Per group (`key` over the leads `l`, the same over the refusals `r`): each of `counts` (its expression over
    the leads, its value for a refusal) summed over the period's records and its refusals at intake, the group that
    received most first."""
    refusal_key = key.replace("l.entered_by", "r.dealer").replace("l.", "r.")
    of_leads = ", ".join(f"{lead} AS {name}" for name, (lead, _) in counts.items())
    of_refusals = ", ".join(refusal for _, refusal in counts.values())
    sums = ", ".join(f"sum({name})" for name in counts)
    sql = f"""
        SELECT key, {sums} FROM (
            SELECT {key} AS key, {of_leads} FROM leads l WHERE {leads.sql()} GROUP BY 1
            UNION ALL
            SELECT {refusal_key}, {of_refusals} FROM refusals r WHERE {refusals.sql()} GROUP BY 1
        ) AS stages GROUP BY key ORDER BY sum({next(iter(counts))}) DESC, key NULLS LAST
    """
    return [tuple(row) for row in (await session.execute(text(sql), {**leads.params, **refusals.params})).all()]
