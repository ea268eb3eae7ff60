"""The kit's visibility rules: HQ sees all, a dealer what names it, anything else is "not found" (never "forbidden",
which would reveal that the object exists)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import Column, MetaData, String, Table
from sqlalchemy.dialects import postgresql

from leadnet_shared.auth import Principal
from leadnet_shared.problems import NotFound
from leadnet_shared.visibility import DealerScoped, dealer_own, names_caller

HQ = Principal(sub="hq", role="hq_analyst", dealer=None)
D1 = Principal(sub="d1", role="dealer", dealer="D001")
D2 = Principal(sub="d2", role="dealer", dealer="D002")


@dataclass
class Sale:
    seller: str
    supplier: str | None


def test_a_dealer_sees_what_names_it_and_hq_sees_everything() -> None:
    sales: DealerScoped[Sale] = DealerScoped("sale", lambda s: (s.seller, s.supplier))
    sold = Sale(seller="D001", supplier=None)
    assert sales.visible(HQ, sold) is sold and sales.visible(D1, sold) is sold
    for caller, found in ((D2, sold), (D1, None)):
        with pytest.raises(NotFound, match=r"No such sale\."):
            sales.visible(caller, found)  # another dealer's and a missing one answer alike
    assert sales.may_see(D2, Sale(seller="D003", supplier="D002"))
    assert names_caller(HQ) and not names_caller(D1, None)
    with pytest.raises(NotFound, match=r"No such plan\."):
        dealer_own(D1, "D002", what="plan")


def test_a_list_is_filtered_to_what_the_caller_may_see() -> None:
    table = Table("sales", MetaData(), Column("seller", String), Column("supplier", String))
    sales: DealerScoped[Sale] = DealerScoped(
        "sale", lambda s: (s.seller, s.supplier), (table.c.seller, table.c.supplier)
    )  # type: ignore[arg-type]
    assert sales.condition(HQ) is None
    where = sales.condition(D1)
    assert where is not None
    sql = str(where.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))  # type: ignore[no-untyped-call]
    assert sql == "sales.seller = 'D001' OR sales.supplier = 'D001'"
