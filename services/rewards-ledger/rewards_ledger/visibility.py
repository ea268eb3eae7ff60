"""Who sees which account, entries and statements (a dealer: its own; HQ: all), on the kit's rules."""

from __future__ import annotations

from leadnet_shared.auth import Principal
from leadnet_shared.visibility import dealer_own


def own_account(principal: Principal, dealer: str | None) -> str | None:
    """The dealer whose account the caller reads: the one asked for (None: all, for HQ), a dealer's own whatever
    it asked; another dealer's is not found."""
    if principal.is_hq:
        return dealer
    dealer_own(principal, dealer or str(principal.dealer), what="account")
    return principal.dealer
