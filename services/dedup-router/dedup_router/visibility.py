"""Who sees which dealer and sale, on the kit's rules (customers, masked per role, are `confidentiality.py`)."""

from __future__ import annotations

from dedup_router.models import Sale
from leadnet_shared.auth import Principal
from leadnet_shared.visibility import DealerScoped, dealer_own

# HQ, the seller and the dealer that supplied the vehicles (it confirms or rejects the sale)
SALES: DealerScoped[Sale] = DealerScoped("sale", lambda sale: (sale.seller, sale.supplied_by))


def own_dealer(principal: Principal, code: str) -> None:
    """A dealer reads its own registration only."""
    dealer_own(principal, code, what="dealer")
