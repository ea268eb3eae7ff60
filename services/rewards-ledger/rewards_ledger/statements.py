"""The monthly statement of a dealer: each line says which record, which customer (masked), which rule, how much,
and the running total, so a dealer can check every fen it is paid."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from leadnet_shared.clock import SHANGHAI
from leadnet_shared.spreadsheets import spreadsheet_cell

_EXPLAIN = {
    "info_fee.cross_region_retail_verified": (
        "Information fee: cross-region retail record {lead} (customer {customer}) verified true and valid"
    ),
    "purchase_reward.customer_bought_from_another_dealer": (
        "Purchase reward: the customer {customer} of record {lead} bought from another dealer (sale {sale})"
    ),
    "profit_guarantee.entrant_sold_with_authorized_supply": (
        "Profit guarantee: you sold vehicle {vin} (sale {sale}) to the customer {customer} of record {lead} "
        "with the vehicle supplied by the authorized dealer; default amount of its product line"
    ),
    "profit_guarantee.amount_set_by_hq": (
        "Profit guarantee: vehicle {vin} (sale {sale}) to the customer {customer} of record {lead}; amount set by HQ"
    ),
    "reversal.sale_cancelled": "Reversal of entry {reverses}: sale {sale} was cancelled",
    "reversal.guarantee_amount_set_by_hq": (
        "Reversal of entry {reverses}: HQ set another profit guarantee for vehicle {vin} (sale {sale})"
    ),
    "reversal.no_longer_due": "Reversal of entry {reverses}: record {lead} no longer earns this reward",
}


@dataclass(frozen=True, slots=True)
class StatementEntry:
    entry_id: str
    posted_at: datetime
    kind: str
    rule: str
    amount_fen: int
    lead_id: str | None
    customer_id: str | None
    customer_name: str | None
    customer_phone: str | None
    sale_id: str | None
    vin: str | None
    reverses: str | None


def explain(entry: StatementEntry) -> str:
    """One sentence a dealer can check against its own records."""
    customer = " ".join(x for x in (entry.customer_name, entry.customer_phone) if x) or entry.customer_id or "?"
    template = _EXPLAIN.get(entry.rule, "{kind} (rule {rule})")
    return template.format(
        lead=entry.lead_id or "-",
        customer=customer,
        sale=entry.sale_id or "-",
        vin=entry.vin or "-",
        reverses=entry.reverses or "-",
        kind=entry.kind,
        rule=entry.rule,
    )


def statement_lines(entries: Sequence[StatementEntry], *, opening_balance_fen: int) -> list[dict[str, object]]:
    """The lines in posting order, each with the running balance after it."""
    running = opening_balance_fen
    lines: list[dict[str, object]] = []
    for e in entries:
        running += e.amount_fen
        lines.append(
            {
                "entry_id": e.entry_id,
                "posted_at": e.posted_at.astimezone(SHANGHAI).isoformat(),
                "kind": e.kind,
                "rule": e.rule,
                "explanation": explain(e),
                "lead_id": e.lead_id,
                "customer_id": e.customer_id,
                "customer": {"name": e.customer_name, "phone": e.customer_phone},
                "sale_id": e.sale_id,
                "vin": e.vin,
                "reverses": e.reverses,
                "amount_fen": e.amount_fen,
                "running_total_fen": running,
            }
        )
    return lines


CSV_COLUMNS = (
    "posted_at",
    "entry_id",
    "kind",
    "rule",
    "lead_id",
    "customer_id",
    "customer_name",
    "customer_phone",
    "sale_id",
    "vin",
    "reverses",
    "amount_fen",
    "running_total_fen",
    "explanation",
)


def statement_csv(statement: dict[str, object]) -> str:
    """The statement as CSV: an opening row, one row per line, a closing row (for spreadsheets and DMS imports)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    blank = dict.fromkeys(CSV_COLUMNS, "")
    opening = statement["opening_balance_fen"]
    writer.writerow([*{**blank, "kind": "opening_balance", "running_total_fen": opening}.values()])
    lines = statement["lines"]
    assert isinstance(lines, list)
    for line in lines:
        customer = line["customer"]
        row = {
            **blank,
            **{k: line[k] for k in CSV_COLUMNS if k in line},
            "customer_name": customer["name"] or "",
            "customer_phone": customer["phone"] or "",
        }
        writer.writerow([spreadsheet_cell(row[c]) for c in CSV_COLUMNS])
    writer.writerow(
        [*{**blank, "kind": "closing_balance", "running_total_fen": statement["closing_balance_fen"]}.values()]
    )
    return out.getvalue()
