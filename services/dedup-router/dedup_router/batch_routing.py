"""route_leads: register the customers, apply the duplicate rule, route by territory, publish the verdicts.

domain.md §3: the same dealer entering the same customer again is a duplicate and is not saved; another dealer
entering an existing customer is saved with the warning `customer_exists`; the lead goes to the dealer authorized
for the customer's region and product line, except that a big customer stays one calendar month with its first
cross-region entrant. HQ-collected records (no entering dealer) are routed by the same rules; with no authorized
dealer a record waits in the HQ queue (`assigned_dealer` null).

This is the router's only decision path: a consumer poll is one batch, and the consumer's poison-event fallback
(or a test, or the bench) hands it a batch of one. A batch pays each lookup once (customers, open leads, possible
duplicate candidates, pool counts), decides the records in delivery order in memory (a later record sees what an
earlier one did to the registry, its open leads, its keys and the pool counts), and writes everything once, so a
batch's verdicts are those of its records decided one by one.

Order and redelivery: a lead id already decided is never decided again; one customer's submissions are decided
one after the other under the registry row's lock, and the partial unique index on open (customer, entrant) leads
makes "one open lead per dealer and customer" hold even if two deciders raced past the lock. Locks are taken in a
fixed order (customers by phone, pool rows by key, dealers by code) so two batches never deadlock on each other's
rows.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.cross_region import decide_assignment, first_entrant_rule, needs_authorized_dealer
from dedup_router.customer_tiers import apply_later_record
from dedup_router.dealer_index import DealerIndexCache, current_index
from dedup_router.events import (
    publish_customer_tier_changed,
    publish_customer_upserted,
    publish_lead_accepted,
    publish_lead_rejected,
)
from dedup_router.fairness import PoolKey, route_to_authorized_dealer
from dedup_router.models import Customer, DecidedLead
from dedup_router.possible_duplicates import DuplicateKeys, candidate_limit, duplicate_keys
from dedup_router.repository import customers as registry
from dedup_router.repository import leads as lead_rows
from dedup_router.repository.customers import CANDIDATES_SQL as CANDIDATES_SQL  # bench/router_bench.py explains it
from dedup_router.repository.customers import LOCK_CUSTOMERS_SQL as LOCK_CUSTOMERS_SQL
from dedup_router.repository.dealers import hold_dealers
from dedup_router.repository.pools import add_to_pool_counts, lock_pools
from dedup_router.routing import (
    HQ_ENTRANT,
    DealersChanged,
    _update_customer,
    _vehicles,
    customer_exists_warning,
    decided_lead,
    possible_duplicate_warning,
)
from leadnet_shared.events import LeadSubmitted, Warning_
from leadnet_shared.outbox import Outbox, OutboxRow

log = logging.getLogger(__name__)


class BufferedOutbox(Outbox):
    """Collects a batch's events so they are written with one multi-row insert at the end."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__(outbox.table, topic_prefix=outbox.topic_prefix, source=outbox.source)
        self.rows: list[OutboxRow] = []

    async def write(self, session: AsyncSession, rows: Sequence[OutboxRow]) -> None:
        self.rows.extend(rows)


@dataclass
class _BatchKeys:
    """Keys of registry rows as this batch has changed them so far, indexed by key like the database's.

    Per key only the `cap` lowest ids are kept (sorted): a record is compared with at most `limit` customers of
    lowest id, and `limit + 1` per key still holds them after the record's own id is left out. Without the cap
    every record of a batch sharing one key (a common fleet in one city) walked all the others before it
    (docs/performance.md, "Duplicate-key cap")."""

    cap: int
    keys: dict[str, DuplicateKeys] = field(default_factory=dict)
    by_name: dict[str, list[str]] = field(default_factory=dict)
    by_fleet: dict[str, list[str]] = field(default_factory=dict)

    def set(self, customer_id: str, keys: DuplicateKeys) -> None:
        self.keys[customer_id] = keys
        # Keys are only ever filled in, never changed: an id never has to leave an index.
        if keys.name_county is not None:
            self._add(self.by_name.setdefault(keys.name_county, []), customer_id)
        if keys.fleet_city is not None:
            self._add(self.by_fleet.setdefault(keys.fleet_city, []), customer_id)

    def _add(self, lowest: list[str], customer_id: str) -> None:
        if customer_id in lowest or (len(lowest) >= self.cap and customer_id > lowest[-1]):
            return
        bisect.insort(lowest, customer_id)
        del lowest[self.cap :]


@dataclass
class _Candidates:
    """Possible-duplicate candidates per key as the database held them before the batch (first ids only)."""

    by_name: dict[str, list[str]]
    by_fleet: dict[str, list[str]]
    keys: dict[str, DuplicateKeys]


async def route_leads(
    session: AsyncSession,
    outbox: Outbox,
    *,
    submissions: list[LeadSubmitted],
    now: datetime,
    dealers: DealerIndexCache | None = None,
) -> list[DecidedLead | None]:
    """Decide a batch in order; returns per submission the saved lead, or None when it was a duplicate or already
    decided."""
    results: list[DecidedLead | None] = [None] * len(submissions)
    ids = [s.lead_id for s in submissions]
    # Saved leads are decided for good; a refused one is not stored, so a copy of it is decided (refused) again.
    saved = await lead_rows.saved_lead_ids(session, ids)
    todo = [i for i, s in enumerate(submissions) if s.lead_id not in saved]
    if not todo:
        return results

    customers, new_phones = await _lock_customers(session, [submissions[i] for i in todo])
    by_id = {c.customer_id: c for c in customers.values()}
    # (customer, entrant) -> the entrant's open lead and its assigned dealer (what a duplicate's refusal names)
    open_leads = await lead_rows.open_leads_by_entrant(session, list(by_id))

    index = await current_index(session, dealers)
    keys = [_keys(s) for s in submissions]
    limit = candidate_limit()
    candidates = await _load_candidates(session, [keys[i] for i in todo], limit=limit)
    # Keys of registry rows as this batch has changed them so far: what a later decision would read back.
    batch_keys = _BatchKeys(cap=limit + 1)

    pools: set[PoolKey] = set()
    for i in todo:
        s = submissions[i]
        entering = index.dealer(s.entered_by) if s.entered_by else None
        region, line = s.record["customer"]["region_code"], _line(s) or "unknown"
        if needs_authorized_dealer(entering_dealer=entering, region_code=region, product_line=line):
            pool = index.candidates(region_code=region, product_line=line).pool
            if pool is not None:
                pools.add(pool)
    counts = await lock_pools(session, pools)
    added: Counter[tuple[str, str, str]] = Counter()

    buffered = BufferedOutbox(outbox)
    seen_phones: set[str] = set()
    held: set[str] = set()
    leads: list[DecidedLead] = []
    touched: dict[str, Customer] = {}
    for i in todo:
        s = submissions[i]
        if s.lead_id in saved:
            continue  # an earlier copy in this batch was saved
        record = s.record
        c = record["customer"]
        product_line = _line(s)
        entrant = s.entered_by or HQ_ENTRANT
        customer = customers[c["phone"]]
        customer_is_new = c["phone"] in new_phones and c["phone"] not in seen_phones
        seen_phones.add(c["phone"])
        own = open_leads.get((customer.customer_id, entrant))
        if own is not None:
            await publish_lead_rejected(
                session,
                buffered,
                submitted=s,
                customer_id=customer.customer_id,
                existing_lead_id=own[0],
                existing_assigned_dealer=own[1],
                product_line=product_line,
                now=now,
            )
            continue

        entering = index.dealer(s.entered_by) if s.entered_by else None
        region = c["region_code"]
        line = product_line or "unknown"
        authorized = None
        explanation: dict[str, Any] = {}
        if needs_authorized_dealer(entering_dealer=entering, region_code=region, product_line=line):
            routed = route_to_authorized_dealer(index=index, region_code=region, product_line=line, pool_counts=counts)
            authorized, explanation = routed.dealer, dict(routed.explanation)
            if routed.dealer is not None and routed.pool is not None:
                pool_counts = counts.setdefault(routed.pool, {})
                pool_counts[routed.dealer.code] = pool_counts.get(routed.dealer.code, 0) + 1
                added[(*routed.pool, routed.dealer.code)] += 1
        if s.entered_by and entering is None:
            # Intake refuses records of dealers nobody registered (leadnet_shared.dealer_directory); one that still
            # gets here (saved before that rule) is taken by HQ, and the verdict says so rather than pass as HQ's.
            explanation["unknown_entrant"] = s.entered_by
            log.warning("a record of an unregistered dealer was routed as HQ's", extra={"lead_id": s.lead_id})
        assignment = decide_assignment(
            entering_dealer=entering,
            region_code=region,
            product_line=line,
            tier=c["tier"],
            entered_at=s.submitted_at,
            authorized_dealer=authorized,
        )
        assignment = first_entrant_rule(
            assignment,
            customer_is_new=customer_is_new,
            protected_by=customer.protected_by,
            protection_until=customer.protection_until,
            at=s.submitted_at,
        )
        held.update(code for code in (assignment.assigned_dealer, assignment.authorized_dealer) if code)

        warnings: list[Warning_] = []
        if not customer_is_new:
            warnings.append(customer_exists_warning())
        possible = _possible_duplicate(
            customer_id=customer.customer_id, keys=keys[i], candidates=candidates, batch_keys=batch_keys, limit=limit
        )
        if possible is not None:
            warning, found = possible
            warnings.append(warning)
            explanation["possible_duplicate"] = found

        lead = decided_lead(
            submitted=s,
            customer_id=customer.customer_id,
            entrant=entrant,
            assignment=assignment,
            region=region,
            product_line=product_line,
            explanation=explanation,
        )
        leads.append(lead)
        saved.add(lead.lead_id)
        results[i] = lead
        open_leads[(customer.customer_id, entrant)] = (lead.lead_id, lead.assigned_dealer)
        _update_customer(customer, lead=lead, keys=keys[i], is_new=customer_is_new, now=now)
        if not customer_is_new:
            changed = apply_later_record(
                customer,
                said_tier=c["tier"],
                said_nature=c["nature"],
                lead_id=lead.lead_id,
                entered_by=s.entered_by,
                now=now,
            )
            if changed is not None:
                await publish_customer_tier_changed(session, buffered, event=changed)
        batch_keys.set(
            customer.customer_id,
            DuplicateKeys(name_county=customer.name_county_key, fleet_city=customer.fleet_city_key),
        )
        touched[customer.customer_id] = customer
        await publish_lead_accepted(
            session,
            buffered,
            lead=lead,
            customer=customer,
            customer_existed=not customer_is_new,
            warnings=warnings,
            now=now,
            record=s.record,
        )
        await publish_customer_upserted(session, buffered, customer=customer, now=now)

    await _hold_dealers(session, held, dealers)
    await add_to_pool_counts(session, added)
    await registry.write_customers(session, list(touched.values()))
    await lead_rows.insert_leads(session, leads)
    await outbox.write(session, buffered.rows)
    return results


def _line(s: LeadSubmitted) -> str | None:
    intent = s.record.get("purchase_intent") or {}
    line: str | None = s.record.get("product_line") or intent.get("product_line")
    return line


def _keys(s: LeadSubmitted) -> DuplicateKeys:
    c = s.record["customer"]
    return duplicate_keys(name=c["name"], region_code=c["region_code"], vehicles=_vehicles(s.record))


async def _lock_customers(
    session: AsyncSession, submissions: list[LeadSubmitted]
) -> tuple[dict[str, Customer], set[str]]:
    """Register every phone not yet known (the batch's first record of it gives the row) and lock all rows."""
    first: dict[str, LeadSubmitted] = {}
    for s in submissions:
        first.setdefault(s.record["customer"]["phone"], s)
    rows = []
    for phone in sorted(first):  # sorted: two batches inserting the same phones wait, never deadlock
        c = first[phone].record["customer"]
        rows.append(
            {
                "customer_id": str(uuid.uuid4()),
                "phone": phone,
                "name": c["name"],
                "address": c["address"],
                "region_code": c["region_code"],
                "tier": c["tier"],
                "nature": c["nature"],
                "product_line": _line(first[phone]),
            }
        )
    new_phones = await registry.register_customers(session, rows)
    customers = await registry.lock_customers_by_phone(session, list(first))
    return {c.phone: c for c in customers}, new_phones


async def _load_candidates(session: AsyncSession, keys: list[DuplicateKeys], *, limit: int) -> _Candidates:
    """The first limit + 1 customers per key (one more, as the record's own customer is left out):
    enough for the first `limit` of either key, whoever the record's customer is."""
    names = sorted({k.name_county for k in keys if k.name_county is not None})
    fleets = sorted({k.fleet_city for k in keys if k.fleet_city is not None})
    found = _Candidates(by_name={k: [] for k in names}, by_fleet={k: [] for k in fleets}, keys={})
    if not names and not fleets:
        return found
    rows = await registry.duplicate_candidates(session, names=names, fleets=fleets, per_key=limit + 1)
    for kind, key, customer_id, name_key, fleet_key in rows:
        (found.by_name if kind == "n" else found.by_fleet)[key].append(customer_id)
        found.keys[customer_id] = DuplicateKeys(name_county=name_key, fleet_city=fleet_key)
    return found


def _possible_duplicate(
    *, customer_id: str, keys: DuplicateKeys, candidates: _Candidates, batch_keys: _BatchKeys, limit: int
) -> tuple[Warning_, dict[str, Any]] | None:
    """The lowest `limit` other customers sharing a key, from the pre-batch lookup plus the keys this batch wrote;
    the warning names keys and strength only."""
    if keys.name_county is None and keys.fleet_city is None:
        return None
    ids: set[str] = set()
    # Keys are only ever filled in, never changed, so a pre-batch match still matches; the batch adds matches.
    if keys.name_county is not None:
        ids.update(candidates.by_name.get(keys.name_county, ()))
        ids.update(batch_keys.by_name.get(keys.name_county, ()))
    if keys.fleet_city is not None:
        ids.update(candidates.by_fleet.get(keys.fleet_city, ()))
        ids.update(batch_keys.by_fleet.get(keys.fleet_city, ()))
    ids.discard(customer_id)
    # strongest_match breaks ties by id itself: the lowest `limit` ids only need picking out when there are more.
    chosen = heapq.nsmallest(limit, ids) if len(ids) > limit else ids
    current = {cid: batch_keys.keys.get(cid) or candidates.keys[cid] for cid in chosen}
    return possible_duplicate_warning(keys=keys, candidates=current)


async def _hold_dealers(session: AsyncSession, codes: set[str], cache: DealerIndexCache | None) -> None:
    """Share-lock every dealer chosen in the batch so a withdrawal waits for this decision (and then takes the
    leads along)."""
    if not codes:
        return
    if any(status != "active" for status in await hold_dealers(session, codes)):
        if cache is not None:
            cache.invalidate()
        raise DealersChanged("a dealer chosen in this batch is no longer active; deciding again")
