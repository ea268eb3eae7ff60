"""Page views: the figures of `hq_console.insights` (and its siblings) shaped into tiles, charts and tables.

No SQL here: every number comes from the insights API that also answers `/v1/insights/*`, so a page, its export and
the JSON always agree, and each figure's definition lives in one place (docs/console-kpis.md). This module only
decides what a page shows, in which order, and which masked list each number links to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hq_console import customers as customer_figures
from hq_console import dealers as dealer_figures
from hq_console import insights, periods, records
from hq_console import networks as network_figures
from hq_console import regions as region_figures
from hq_console.filters import Filters as InsightFilters
from hq_console.filters import Scope
from hq_console.repository import directory, measures
from hq_console.web.filters import Filters
from hq_console.web.i18n import Translator
from hq_console.web.viewmodel import Chart, Column, Crumb, PageView, Row, Table, Tile
from leadnet_shared.auth import Principal
from leadnet_shared.masking import region_label
from leadnet_shared.pagination import PageParams

PREFIX = "/console"
# The lists a number can open: the figures of repository.measures.MEASURES.
MEASURES: frozenset[str] = frozenset(measures.MEASURES)
EXPORT_LIMIT = 500  # rows of a list export: one page of the kit's largest
LIST_PAGE = 100

# Overview tiles: (tile key, the list behind it, money?): the overview's figures but the vehicles sold, and the
# authenticity share (a share, placed after the figures it divides).
OVERVIEW_TILES: tuple[tuple[str, str | None, bool], ...] = tuple(
    (key, "rewards" if key == "rewards_fen" else key, key == "rewards_fen")
    for key in insights.KpiValues.model_fields
    if key not in ("authenticity_share", "vehicles_sold")
)
FUNNEL_STAGES = ("received", "accepted", "verified", "promoted", "sold")
# The list behind each stage: the cohort received in the period and, after "received", those of it that reached
# the stage since (measures.MEASURES "funnel_*", the funnel's own conditions).
FUNNEL_MEASURES = {
    "received": "records_received",
    "accepted": "funnel_accepted",
    "verified": "funnel_verified",
    "promoted": "funnel_promoted",
    "sold": "funnel_sold",
}
FUNNEL_GROUPS: tuple[insights.FunnelBy, ...] = ("source", "network", "tier", "product_line")
# A funnel group's value as the filter that narrows a list to it.
GROUP_FILTER = {"source": "source", "network": "network", "tier": "tier", "product_line": "product_line"}
CUSTOMER_MEASURES = ("new_customers", "lost_customers", "upgraded_customers", "repeat_purchases")


@dataclass(frozen=True)
class Context:
    db: AsyncSession
    principal: Principal
    filters: Filters
    period: periods.Period
    insight_filters: InsightFilters
    scope: Scope
    now: datetime
    page: str
    t: Translator

    def list_href(self, measure: str, **overrides: str | None) -> str:
        """The masked list behind a number: the page's filters, the cell's own dimension, the figure's measure."""
        return f"{PREFIX}/list?{self.filters.query(**overrides)}&measure={measure}&from_page={self.page}"


def context(
    db: AsyncSession, principal: Principal, filters: Filters, page: str, t: Translator, now: datetime
) -> Context:
    at = filters.at or periods.today(now)
    return Context(
        db=db,
        principal=principal,
        filters=filters,
        period=periods.containing(filters.period, at),
        insight_filters=filters.narrowing(),
        scope=Scope.of(principal),
        now=now,
        page=page,
        t=t,
    )


async def build(
    name: str, db: AsyncSession, principal: Principal, filters: Filters, t: Translator, now: datetime
) -> PageView:
    ctx = context(db, principal, filters, name, t, now)
    builder = {
        "overview": overview,
        "funnel": funnel,
        "dealers": dealers,
        "regions": regions,
        "networks": networks,
        "customers": customers,
    }[name]
    return await builder(ctx)


def _figure(key: str, label: str | None = None, *, measure: str | None = None, **style: bool) -> Column:
    """A column of counts, each linking to the list of its figure (`measure`, by default the column's key)."""
    return Column(key, label or f"col.{key}", numeric=True, measure=measure or key, **style)


RECEIVED = _figure("records_received", "col.received")
ACCEPTED = _figure("records_accepted", "col.accepted")
REWARDS = _figure("rewards_fen", measure="rewards", money=True)


def _linker(ctx: Context, overrides_of: Any = None) -> Any:
    def link(row: Row, column: Column) -> str | None:
        assert column.measure is not None
        overrides = overrides_of(row) if overrides_of else {}
        return ctx.list_href(column.measure, **overrides)

    return link


def _tiles(ctx: Context, current: Any, previous: Any, tiles: Iterable[tuple[str, str | None, bool]]) -> list[Tile]:
    """A tile per (figure, the list behind it, money?) with the previous period's value."""
    return [
        Tile(
            key=key,
            value=int(getattr(current, key)),
            previous=int(getattr(previous, key)),
            href=ctx.list_href(measure) if measure else None,
            money=money,
        )
        for key, measure, money in tiles
    ]


# ---- overview ---------------------------------------------------------------------------------------------------


async def overview(ctx: Context) -> PageView:
    k = await insights.kpis(ctx.db, ctx.period, ctx.insight_filters, ctx.scope, now=ctx.now)
    tiles = _tiles(ctx, k, k.previous, OVERVIEW_TILES)
    # The authenticity share: of the records accepted in the period, the share verified since.
    tiles.insert(
        6,
        Tile(
            key="authenticity_share",
            value=k.authenticity_share,
            previous=k.previous.authenticity_share,
            href=ctx.list_href("accepted_verified"),
            percent=True,
        ),
    )
    rows: list[Row] = [
        {
            "dimension": ctx.t(f"kpi.{tile.key}") + (" (¥)" if tile.money else " (%)" if tile.percent else ""),
            "current": _plain(tile.value, tile),
            "previous": _plain(tile.previous, tile),
            "list": tile.href,
        }
        for tile in tiles
    ]
    table = _comparison("kpis", rows, linker=lambda row, column: row["list"])
    points = await insights.trend(ctx.db, ctx.period, ctx.insight_filters, ctx.scope, now=ctx.now)
    trend = Chart(
        id="trend",
        title="chart.trend",
        option=_line_chart(
            ctx,
            [p.day.isoformat() for p in points],
            {
                "records_received": [p.records_received for p in points],
                "verified": [p.verified for p in points],
                "sold": [p.sold for p in points],
            },
        ),
    )
    return PageView(name="overview", title="nav.overview", tiles=tiles, charts=[trend], tables=[table])


def _comparison(table_id: str, rows: list[Row], *, linker: Any) -> Table:
    """A table of figures this period and the previous one, each number linking to its list."""
    columns = [
        Column("dimension", "col.dimension"),
        Column("current", "col.current", numeric=True, measure="current"),
        Column("previous", "col.previous", numeric=True),
    ]
    return Table(id=table_id, title=f"table.{table_id}", columns=columns, rows=rows, linker=linker)


def _plain(value: int | float | None, tile: Tile) -> int | float | None:
    """A tile's value as a table cell: yuan for an amount, a rounded share."""
    if value is None:
        return None
    if tile.money:
        return value / 100
    if tile.percent:
        return round(float(value) * 100, 1)
    return value


# ---- funnel -----------------------------------------------------------------------------------------------------


def _funnel_columns(first: str) -> list[Column]:
    return [
        Column("label", first),
        *(Column(stage, f"col.{stage}", numeric=True, measure=FUNNEL_MEASURES[stage]) for stage in FUNNEL_STAGES),
    ]


async def funnel(ctx: Context) -> PageView:
    whole = await insights.funnel(ctx.db, ctx.period, ctx.insight_filters, ctx.scope, now=ctx.now, by="none")
    total = whole[0] if whole else None
    stages = [int(getattr(total, stage)) if total else 0 for stage in FUNNEL_STAGES]
    chart = Chart(
        id="funnel",
        title="chart.funnel",
        option={
            "tooltip": TOOLTIP | {"trigger": "item"},
            "color": PALETTE,
            "series": [
                {
                    "type": "funnel",
                    "sort": "none",
                    "left": "10%",
                    "width": "80%",
                    "min": 0,
                    "max": max(stages[0], 1),
                    "minSize": "4%",
                    "gap": 2,
                    "label": {"show": True, "position": "right", "color": "#1a1f2b", "formatter": "{b}  {c}"},
                    "data": [
                        {"name": ctx.t(f"col.{stage}"), "value": value}
                        for stage, value in zip(FUNNEL_STAGES, stages, strict=True)
                    ],
                }
            ],
            "leadnetLinks": [ctx.list_href(FUNNEL_MEASURES[stage]) for stage in FUNNEL_STAGES],
        },
    )
    tables = [
        Table(
            id="stages",
            title="table.stages",
            columns=[
                Column("key", "col.stage"),
                Column("count", "col.count", numeric=True, measure="records_received"),
            ],
            rows=[
                {"key": ctx.t(f"col.{stage}"), "stage": stage, "count": value}
                for stage, value in zip(FUNNEL_STAGES, stages, strict=True)
            ],
            linker=lambda row, column: ctx.list_href(FUNNEL_MEASURES[row["stage"]]),
        )
    ]
    for group in FUNNEL_GROUPS:
        rows = await insights.funnel(ctx.db, ctx.period, ctx.insight_filters, ctx.scope, now=ctx.now, by=group)
        tables.append(
            Table(
                id=f"by_{group}",
                title=f"table.funnel_by_{group}",
                columns=_funnel_columns(f"col.{group}"),
                rows=[{**row.model_dump(), "group": group, "label": _group_label(ctx, group, row.key)} for row in rows],
                # a group of unknown value has no filter that narrows a list to it: its numbers link nowhere
                linker=lambda row, column: (
                    ctx.list_href(column.measure or "", **{GROUP_FILTER[row["group"]]: row["key"]})
                    if row["key"]
                    else None
                ),
            )
        )
    return PageView(name="funnel", title="nav.funnel", charts=[chart], tables=tables)


def _group_label(ctx: Context, group: str, key: str | None) -> str:
    """A group's value as people read it: sources and tiers by their names, unknown as such."""
    if key is None:
        return ctx.t("col.unknown")
    if group in ("source", "tier"):
        name = f"{group}.{key}"
        return ctx.t(name) if ctx.t.has(name) else key
    return key


# ---- dealers ----------------------------------------------------------------------------------------------------


async def dealers(ctx: Context) -> PageView:
    rows = await dealer_figures.dealer_rows(ctx.db, ctx.period, ctx.insight_filters, ctx.scope, now=ctx.now)
    table_rows = [_dealer_cells(row) for row in rows]
    table = Table(
        id="dealers",
        title="table.dealers",
        columns=[
            Column("dealer", "col.dealer"),
            Column("dealer_name", "col.dealer_name"),
            RECEIVED,
            _figure("verified"),
            *_timeliness_columns("callbacks", "callback"),
            *_timeliness_columns("promotions", "promotion"),
            _figure("overdue", measure="tasks_became_overdue"),
            _figure("escalated", measure="tasks_escalated"),
            # a share links to the list of its numerator (the callbacks completed in the period)
            _figure("plan_completion", measure="callbacks_completed", percent=True),
            _figure("sold"),
            _figure("cross_region_sales"),
            _figure("sales_pending"),
            _figure("sales_rejected"),
            REWARDS,
        ],
        rows=table_rows,
        linker=_linker(ctx, lambda row: {"dealer": row["dealer"]}),
    )
    ranked = sorted(table_rows, key=lambda r: (r["sold"], r["records_received"]), reverse=True)[:15][::-1]
    chart = _bar_chart(
        ctx,
        "dealers",
        [r["dealer_name"] or r["dealer"] for r in ranked],
        {"sold": [r["sold"] for r in ranked], "records_received": [r["records_received"] for r in ranked]},
        links=[f"{PREFIX}/dealers?{ctx.filters.query(dealer=r['dealer'])}" for r in ranked],
    )
    return PageView(name="dealers", title="nav.dealers", charts=[chart], tables=[table])


def _dealer_cells(row: dealer_figures.DealerRow) -> Row:
    """A dealer's row as table cells: its figures, and each timeliness's counts and share on time."""
    cells: Row = row.model_dump(exclude={"callbacks", "promotions", "name"}) | {"dealer_name": row.name}
    for plural, singular, timeliness in (
        ("callbacks", "callback", row.callbacks),
        ("promotions", "promotion", row.promotions),
    ):
        cells |= {f"{plural}_{part}": getattr(timeliness, part) for part in _TIMELINESS_PARTS}
        cells[f"{singular}_on_time"] = timeliness.share_on_time
    return cells


_TIMELINESS_PARTS = ("due", "on_time", "late", "open")


def _timeliness_columns(plural: str, singular: str) -> list[Column]:
    """Due, on time, late, open (each linking to its tasks) and the share on time (linking to those on time)."""
    shares = _figure(f"{singular}_on_time", measure=f"{plural}_on_time", percent=True)
    return [*(_figure(f"{plural}_{part}") for part in _TIMELINESS_PARTS), shares]


# ---- regions ----------------------------------------------------------------------------------------------------


def region_crumbs(ctx: Context, t_country: str) -> list[Crumb]:
    crumbs = [Crumb(t_country, f"{PREFIX}/regions?{ctx.filters.query(region=None)}")]
    code = ctx.filters.region or ""
    for digits in (2, 4, 6):
        if len(code) >= digits:
            prefix = code[:digits]
            name = _region_part(prefix)
            crumbs.append(Crumb(name, f"{PREFIX}/regions?{ctx.filters.query(region=prefix)}"))
    crumbs[-1] = Crumb(crumbs[-1].text, None)
    return crumbs


def _region_part(prefix: str) -> str:
    """The last name of a region prefix: `3707` → 潍坊市 (not 山东省潍坊市)."""
    full = region_label(prefix.ljust(6, "0")) or prefix
    if len(prefix) > 2:
        parent = region_label(prefix[:-2].ljust(6, "0")) or ""
        if full.startswith(parent):
            return full[len(parent) :] or full
    return full


async def regions(ctx: Context) -> PageView:
    rows = await region_figures.region_rows(ctx.db, ctx.period, ctx.insight_filters, ctx.scope, now=ctx.now)
    table_rows: list[Row] = [
        row.model_dump()
        | {
            "region": _region_part(row.region_code) if row.region_code else ctx.t("col.unknown"),
            "code": row.region_code,
        }
        for row in rows
    ]

    def link(row: Row, column: Column) -> str | None:
        if not row["code"]:
            return None
        if column.key == "region":
            # the name drills down one level (province → city → county)
            if row["code"] and len(row["code"]) < 6:
                return f"{PREFIX}/regions?{ctx.filters.query(region=row['code'])}"
            return None
        assert column.measure is not None
        return ctx.list_href(column.measure, region=row["code"]) if row["code"] else None

    table = Table(
        id="regions",
        title="table.regions",
        columns=[
            Column("region", "col.region", measure="drill"),
            RECEIVED,
            ACCEPTED,
            _figure("cross_region", "kpi.cross_region"),
            _figure("verified"),
            _figure("sold"),
            REWARDS,
            _figure("tasks_overdue", "kpi.tasks_overdue"),
        ],
        rows=table_rows,
        linker=link,
    )
    ranked = [r for r in table_rows if r["code"]][:20][::-1]
    chart = _bar_chart(
        ctx,
        "regions",
        [r["region"] for r in ranked],
        {"records_received": [r["records_received"] for r in ranked]},
        links=[
            f"{PREFIX}/regions?{ctx.filters.query(region=r['code'])}"
            if len(r["code"]) < 6
            else ctx.list_href("records_received", region=r["code"])
            for r in ranked
        ],
    )
    return PageView(name="regions", title="nav.regions", charts=[chart], tables=[table], note="regions.no_map")


# ---- networks ---------------------------------------------------------------------------------------------------


# The networks' quarterly evaluations, as graded (no list behind them: their numbers link nowhere).
EVALUATION_COLUMNS = [
    Column("owner", "col.owner"),
    Column("quarter", "col.quarter"),
    Column("networks", "nav.networks", numeric=True),
    Column("development_rating", "col.grade"),
    Column("records", "col.records", numeric=True),
    Column("verified", "col.verified", numeric=True),
    Column("authenticity_share", "col.authenticity_share", numeric=True, percent=True),
    Column("authenticity_rating", "col.authenticity_level"),
]


async def networks(ctx: Context) -> PageView:
    view = await network_figures.network_view(ctx.db, ctx.period, ctx.insight_filters, ctx.scope, now=ctx.now)
    rows: list[Row] = [{**row.model_dump(), "label": row.network_code or ctx.t("col.unknown")} for row in view.networks]
    table = Table(
        id="networks",
        title="nav.networks",
        columns=[
            Column("label", "col.network"),
            RECEIVED,
            _figure("refused_at_intake", "kpi.refused_at_intake"),
            ACCEPTED,
            _figure("verified", measure="accepted_verified"),
            Column("authenticity_share", "col.authenticity_share", numeric=True, percent=True),
            Column("authenticity_level", "col.authenticity_level", numeric=True),
        ],
        rows=rows,
        # records that named no network have no filter that narrows a list to them: their numbers link nowhere
        linker=lambda row, column: (
            ctx.list_href(column.measure or "", network=row["network_code"]) if row["network_code"] else None
        ),
    )
    evaluations = Table("evaluations", "table.networks", EVALUATION_COLUMNS, [e.model_dump() for e in view.evaluations])
    shown = [r for r in rows if r["network_code"] and r["authenticity_share"] is not None][:20][::-1]
    chart = _bar_chart(
        ctx,
        "networks",
        [r["network_code"] for r in shown],
        {"authenticity_share": [round(r["authenticity_share"] * 100, 1) for r in shown]},
        links=[ctx.list_href("accepted_verified", network=r["network_code"]) for r in shown],
    )
    return PageView(
        name="networks",
        title="nav.networks",
        charts=[chart],
        tables=[table, evaluations],
        note=None if view.evaluations else "networks.pending",
    )


# ---- customers --------------------------------------------------------------------------------------------------


async def customers(ctx: Context) -> PageView:
    figures = await customer_figures.customer_figures(ctx.db, ctx.period, ctx.insight_filters, ctx.scope, now=ctx.now)
    tiles = _tiles(ctx, figures, figures.previous, ((name, name, False) for name in CUSTOMER_MEASURES))
    rows: list[Row] = [
        {"dimension": ctx.t(f"kpi.{name}"), "current": tile.value, "previous": tile.previous, "list": name}
        for name, tile in zip(CUSTOMER_MEASURES, tiles, strict=True)
    ]
    table = _comparison("customers", rows, linker=lambda row, column: ctx.list_href(row["list"]))
    chart = _bar_chart(
        ctx,
        "customers",
        [ctx.t(f"kpi.{name}") for name in CUSTOMER_MEASURES],
        {"current": [t.value for t in tiles], "previous": [t.previous for t in tiles]},
        links=[ctx.list_href(name) for name in CUSTOMER_MEASURES],
        horizontal=False,
    )
    return PageView(
        name="customers", title="nav.customers", tiles=tiles, charts=[chart], tables=[table], note="customers.note"
    )


# ---- the list behind a number -----------------------------------------------------------------------------------

LIST_COLUMNS = [
    Column("at", "col.time"),
    Column("lead_id", "col.lead"),
    Column("customer_name", "col.customer"),
    Column("customer_phone", "col.phone"),
    Column("customer_address", "col.address"),
    Column("region_name", "col.region"),
    Column("dealer", "col.dealer"),
    Column("product_line", "col.product_line"),
    Column("source", "col.source"),
    Column("tier", "col.tier"),
    Column("network_code", "col.network"),
    Column("status", "col.status"),
    Column("detail", "col.kind"),
    Column("amount_fen", "col.amount_fen", numeric=True, money=True),
]


async def drill_list(
    db: AsyncSession,
    principal: Principal,
    filters: Filters,
    measure: str,
    params: Mapping[str, str],
    t: Translator,
    now: datetime,
    *,
    limit: int = LIST_PAGE,
) -> tuple[Table, str | None, int | None]:
    """One page of the masked list behind a figure, the next page's cursor, and the list's total (first page)."""
    ctx = context(db, principal, filters, "list", t, now)
    page = await records.records(
        db,
        measure,
        ctx.period,
        ctx.insight_filters,
        ctx.scope,
        now=ctx.now,
        page=PageParams(cursor=params.get("cursor") or None, limit=limit),
    )
    rows: list[Row] = []
    for item in page.items:
        customer = item.customer
        rows.append(
            {
                **item.model_dump(exclude={"customer"}),
                "customer_name": customer.name if customer else None,
                "customer_phone": customer.phone if customer else None,
                "customer_address": customer.address if customer else None,
                "source": _group_label(ctx, "source", item.source) if item.source else None,
                "tier": _group_label(ctx, "tier", item.tier) if item.tier else None,
            }
        )
    table = Table(id=measure, title=f"kpi.{measure}", columns=LIST_COLUMNS, rows=rows)
    return table, page.next_cursor, page.total


# ---- filters ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterOption:
    name: str
    options: list[tuple[str, str]]
    selected: str | None


async def filter_options(db: AsyncSession, principal: Principal, filters: Filters, t: Translator) -> list[FilterOption]:
    """The filter menus: provinces (a regional caller's own), product lines and dealers as the dealers topic
    published them, the contract's sources and tiers."""
    provinces = [
        (code, region_label(code.ljust(6, "0")) or code)
        for code in _provinces()
        if not principal.regions or any(code.startswith(r[:2]) for r in principal.regions)
    ]
    if filters.region and len(filters.region) > 2:
        provinces.append((filters.region, region_label(filters.region.ljust(6, "0")) or filters.region))
    dealers = await directory.dealer_names(db)
    product_lines = [(line, line) for line in await directory.product_lines(db)]
    if filters.product_line and filters.product_line not in dict(product_lines):
        product_lines.append((filters.product_line, filters.product_line))
    return [
        FilterOption("region", provinces, filters.region),
        FilterOption("product_line", product_lines, filters.product_line),
        FilterOption("source", [(s, t(f"source.{s}")) for s in SOURCES], filters.source),
        FilterOption("tier", [(s, t(f"tier.{s}")) for s in TIERS], filters.tier),
        FilterOption("dealer", [(code, f"{code} {name or ''}".strip()) for code, name in dealers], filters.dealer),
    ]


# contract.md: a record's `source` and `customer.tier`
SOURCES = (
    "walk_in",
    "phone_inquiry",
    "vehicle_admin_office",
    "transport_office",
    "insurer",
    "bank",
    "service_repair",
    "service_station",
    "transport_company",
    "competitor_channel",
    "info_agent",
    "hq",
)
TIERS = ("gold_silver", "general_big", "retail")


def _provinces() -> list[str]:
    from leadnet_shared.masking import _region_names

    return sorted(code[:2] for code in _region_names() if code.endswith("0000"))


# ---- charts -----------------------------------------------------------------------------------------------------

# Distinct for the common colour-vision deficiencies, each at least 3:1 against white (WCAG non-text contrast).
PALETTE = ["#0b4f9c", "#c2410c", "#0a6b2d", "#a4161a", "#6d28d9"]


# Tooltips drawn on the canvas: ECharts' HTML tooltips carry inline style attributes, which the pages' CSP refuses.
TOOLTIP: dict[str, Any] = {"renderMode": "richText"}


def _line_chart(ctx: Context, x: list[str], series: dict[str, list[int]]) -> dict[str, Any]:
    return {
        "color": PALETTE,
        "tooltip": TOOLTIP | {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 48, "right": 24, "top": 36, "bottom": 32},
        "xAxis": {"type": "category", "data": x},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"name": ctx.t(f"kpi.{name}"), "type": "line", "data": data} for name, data in series.items()],
    }


def _bar_chart(
    ctx: Context,
    name: str,
    labels: list[str],
    series: dict[str, list[Any]],
    *,
    links: list[str],
    horizontal: bool = True,
) -> Chart:
    """A bar chart of some figures (`series`, each a list of numbers by label), each bar opening its `links` entry."""
    category = {"type": "category", "data": labels}
    value = {"type": "value"}
    option = {
        "color": PALETTE,
        "tooltip": TOOLTIP | {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 12, "right": 24, "top": 36, "bottom": 24, "containLabel": True},
        "xAxis": value if horizontal else category,
        "yAxis": category if horizontal else value,
        "series": [
            {"name": ctx.t(f"kpi.{figure}"), "type": "bar", "data": data, "barMaxWidth": 28}
            for figure, data in series.items()
        ],
        "leadnetLinks": links,
    }
    return Chart(id=name, title=f"chart.{name}", option=option)
