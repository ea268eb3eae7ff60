"""Sales that pay money are confirmed facts (issue 16 §1): the attack of review finding C1 is refused at each step,
a supplied sale waits for its supplier, product lines come from the maker's registry, the record's intended quantity
bounds what a sale claims without HQ."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dedup_router.models import RoutedLead
from dedup_router.sales import decide_sale, record_sale
from dedup_router.schemas import SaleIn, VehicleIn
from dedup_router.vehicles import upsert_vehicles
from dedup_router.vin import TRANSLITERATION, check_digit, is_valid_vin, with_check_digit
from leadnet_shared.auth import Principal
from leadnet_shared.problems import Forbidden, NotFound, ServiceError, ValidationFailed

from .conftest import T0, RouterDb

pytestmark = [pytest.mark.postgres]

PHONE = "+8613800138000"
NOW = T0 + timedelta(days=10)


def vin(serial: int, *, wmi: str = "LRDS6PEB") -> str:
    """A VIN with a correct check digit: the maker's serial numbers."""
    return with_check_digit(f"{wmi}0KR{serial:06d}")


def bad_check_digit(serial: int) -> str:
    good = vin(serial)
    return good[:8] + ("0" if good[8] != "0" else "1") + good[9:]


def dealer(code: str) -> Principal:
    return Principal(sub=f"dealer:{code}", role="dealer", dealer=code)


HQ = Principal(sub="hq_admin:alice", role="hq_admin", dealer=None)


async def setup(rdb: RouterDb, *, vehicles: dict[int, tuple[str, str]]) -> RoutedLead:
    """Three dealers, D002's cross-region retail record of a Weifang customer (routed to D001), the registry."""
    await rdb.add_dealer("D001", ["3707"], ["tractor", "dump"], capability=80)  # Weifang, authorized
    await rdb.add_dealer("D002", ["3701"], ["tractor"], capability=60)  # Jinan, the entrant
    await rdb.add_dealer("D003", ["3702"], ["tractor"], capability=40)  # Qingdao
    lead = await rdb.submit(dealer="D002", phone=PHONE, tier="retail")
    assert lead is not None and (lead.assigned_dealer, lead.reward_eligible) == ("D001", True)
    async with rdb.db.transaction() as session:
        await upsert_vehicles(
            session,
            [
                VehicleIn(vin=vin(serial), model="EST 6", product_line=line, delivered_to=holder, delivered_at=T0)
                for serial, (holder, line) in vehicles.items()
            ],
            now=T0,
        )
    return lead


async def report(
    rdb: RouterDb,
    *,
    seller: str,
    vins: list[str],
    supplied_by: str | None = None,
    sold_at: datetime = NOW - timedelta(days=1),
    line: str | None = "tractor",
) -> dict[str, Any]:
    body = SaleIn(
        customer_phone=PHONE,
        sold_at=sold_at,
        supplied_by=supplied_by,
        vehicles=[{"vin": v, "product_line": line} for v in vins],
    )
    async with rdb.db.transaction() as session:
        return await record_sale(session, rdb.outbox, seller=seller, body=body, now=NOW, dealers=rdb.dealers)


async def decide(rdb: RouterDb, sale_id: str, principal: Principal, *, confirm: bool = True) -> dict[str, Any]:
    async with rdb.db.transaction() as session:
        return await decide_sale(session, rdb.outbox, sale_id=sale_id, principal=principal, confirm=confirm, now=NOW)


async def refusal(rdb: RouterDb, **kwargs: Any) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        await report(rdb, **kwargs)
    return caught.value


def problems(error: ServiceError) -> list[tuple[str, str]]:
    return [(p.field, p.code) for p in error.errors]


ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
VINS = st.text(alphabet=ALPHABET, min_size=17, max_size=17)


class TestVinCheckDigit:
    def test_the_textbook_example_and_remainder_ten_written_x(self) -> None:
        assert check_digit("1M8GDM9AXKP042788") == "X"
        assert (check_digit("LSVAM4187C2184847"), is_valid_vin("LSVAM4187C2184847")) == ("7", True)
        assert not is_valid_vin("LRDS6PEB5KR000001")  # the old tests' VIN: syntax only, wrong check digit

    @given(VINS, st.sampled_from("0123456789X"))
    def test_exactly_one_ninth_character_is_valid(self, raw: str, ninth: str) -> None:
        candidate = raw[:8] + ninth + raw[9:]
        assert is_valid_vin(candidate) == (ninth == check_digit(raw))
        assert is_valid_vin(with_check_digit(raw))

    @given(VINS, st.integers(0, 16), st.sampled_from(ALPHABET))
    def test_any_one_changed_character_of_another_value_is_caught(
        self, raw: str, position: int, replacement: str
    ) -> None:
        valid = with_check_digit(raw)
        changed = valid[:position] + replacement + valid[position + 1 :]
        if position == 8 or TRANSLITERATION[replacement] == TRANSLITERATION[valid[position]]:
            return  # the check digit itself, or a letter worth the same number (A and 1): not a weighted change
        assert not is_valid_vin(changed)

    @given(st.text(max_size=20))
    def test_anything_else_is_no_vin(self, text: str) -> None:
        if len(text) != 17 or any(c not in ALPHABET for c in text):
            assert not is_valid_vin(text)


class TestTheAttackIsRefusedAtEachStep:
    async def test_made_up_vins_each_refused_at_its_pointer_at_once(self, router_db: RouterDb) -> None:
        await setup(router_db, vehicles={1: ("D001", "tractor"), 3: ("D003", "tractor")})
        error = await refusal(
            router_db,
            seller="D002",
            supplied_by="D001",
            vins=[bad_check_digit(9), vin(2), vin(3), vin(1), "LRDS6PEBQKR000000"],
        )
        assert isinstance(error, ValidationFailed)
        assert problems(error) == [
            ("/vehicles/0/vin", "invalid_vin"),
            ("/vehicles/1/vin", "unknown_vin"),
            ("/vehicles/2/vin", "vin_not_held"),
            ("/vehicles/4/vin", "invalid_vin"),
        ]
        assert await router_db.rows("SELECT * FROM sales") == []
        assert await router_db.events("leadnet.sale.attributed") == []

    @pytest.mark.parametrize(
        "sold_at",
        [
            NOW + timedelta(minutes=1),
            T0 - timedelta(seconds=1),
            datetime(1, 1, 1, tzinfo=UTC),
            datetime(9999, 12, 31, tzinfo=UTC),
        ],
    )
    async def test_sold_at_is_past_and_not_before_the_record(self, router_db: RouterDb, sold_at: datetime) -> None:
        await setup(router_db, vehicles={1: ("D001", "tractor")})
        error = await refusal(router_db, seller="D002", supplied_by="D001", vins=[vin(1)], sold_at=sold_at)
        assert problems(error) == [("/sold_at", "invalid_sold_at")]

    async def test_the_product_line_and_amount_come_from_the_registry(self, router_db: RouterDb) -> None:
        lead = await setup(router_db, vehicles={1: ("D001", "dump")})
        sale = await report(router_db, seller="D002", supplied_by="D001", vins=[vin(1)], line="tractor")
        assert [(r["kind"], r["product_line"], r["amount_fen"]) for r in sale["rewards"]] == [
            ("profit_guarantee", "dump", 150000)
        ]  # the seller said tractor (200000)
        assert sale["attributed_lead_id"] == lead.lead_id
        rows = await router_db.rows("SELECT product_line, model FROM sold_vehicles")
        assert [tuple(r) for r in rows] == [("dump", "EST 6")]

    async def test_a_supplied_sale_pays_nothing_until_the_supplier_confirms(self, router_db: RouterDb) -> None:
        await setup(router_db, vehicles={1: ("D001", "tractor")})
        sale = await report(router_db, seller="D002", supplied_by="D001", vins=[vin(1)])
        assert (sale["status"], sale["awaiting_confirmation_by"]) == ("pending_confirmation", "D001")
        assert sale["rewards"][0]["pending_on"] == ["sale_confirmation", "record_verification"]
        assert await router_db.events("leadnet.sale.attributed") == []  # the ledger hears of nothing yet
        with pytest.raises(Forbidden) as forbidden:
            await decide(router_db, sale["sale_id"], dealer("D002"))  # the seller cannot confirm its own claim
        assert forbidden.value.code == "not_confirmer"
        with pytest.raises(NotFound):
            await decide(router_db, sale["sale_id"], dealer("D003"))
        confirmed = await decide(router_db, sale["sale_id"], dealer("D001"))
        assert (confirmed["status"], confirmed["awaiting_confirmation_by"]) == ("attributed", None)
        assert confirmed["rewards"][0]["pending_on"] == ["record_verification"]
        [event] = await router_db.events("leadnet.sale.attributed")
        assert [(c["kind"], c["vin"], c["amount_fen"]) for c in event["data"]["rewards"]] == [
            ("profit_guarantee", vin(1), 200000)
        ]
        with pytest.raises(ServiceError) as again:
            await decide(router_db, sale["sale_id"], dealer("D001"))
        assert again.value.code == "sale_not_pending"

    async def test_a_rejected_sale_frees_its_vins_and_is_never_announced(self, router_db: RouterDb) -> None:
        await setup(router_db, vehicles={1: ("D001", "tractor")})
        sale = await report(router_db, seller="D002", supplied_by="D001", vins=[vin(1)])
        rejected = await decide(router_db, sale["sale_id"], dealer("D001"), confirm=False)
        assert (rejected["status"], rejected["rewards"]) == ("rejected", [])
        assert await router_db.events("leadnet.sale.attributed") == []
        again = await report(router_db, seller="D002", supplied_by="D001", vins=[vin(1)])
        assert again["status"] == "pending_confirmation"

    async def test_more_vehicles_than_the_record_intends_wait_for_hq(self, router_db: RouterDb) -> None:
        await setup(router_db, vehicles={1: ("D001", "tractor"), 2: ("D001", "tractor")})
        sale = await report(router_db, seller="D002", supplied_by="D001", vins=[vin(1), vin(2)])
        assert sale["awaiting_confirmation_by"] == "hq"  # the record states no quantity: one vehicle
        with pytest.raises(Forbidden):
            await decide(router_db, sale["sale_id"], dealer("D001"))
        assert (await decide(router_db, sale["sale_id"], HQ))["status"] == "attributed"
        [event] = await router_db.events("leadnet.sale.attributed")
        assert len(event["data"]["rewards"]) == 2


class TestOwnStock:
    async def test_a_sale_from_the_sellers_own_stock_is_confirmed_when_reported(self, router_db: RouterDb) -> None:
        await setup(router_db, vehicles={1: ("D001", "tractor")})
        sale = await report(router_db, seller="D001", vins=[vin(1)])
        assert (sale["status"], [(r["kind"], r["dealer"]) for r in sale["rewards"]]) == (
            "attributed",
            [("purchase_reward", "D002")],
        )
        assert len(await router_db.events("leadnet.sale.attributed")) == 1


class TestKnownCustomers:
    async def test_a_later_record_of_a_known_customer_earns_no_reward(self, router_db: RouterDb) -> None:
        await setup(router_db, vehicles={})
        later = await router_db.submit(dealer="D003", phone=PHONE, tier="retail")
        assert later is not None and (later.cross_region, later.reward_eligible) == (True, False)
        rows = await router_db.rows("SELECT reward_eligible FROM leads WHERE lead_id = :id", id=later.lead_id)
        assert rows[0][0] is False
