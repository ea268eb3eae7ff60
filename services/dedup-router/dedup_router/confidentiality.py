"""Confidentiality (domain.md §3 保密, contract.md "Who may do what"): who sees which customer, masked or not.

- hq_admin: every customer, unmasked; hq_analyst: every customer, masked.
- dealer: the customers assigned to it (unmasked while assigned) and the customers it entered a record for
  (masked unless also assigned to it); anything else does not exist for it (404, never 403).
- The customer file (its timeline and corrections) is the assigned dealer's and HQ's: the whole story names other
  dealers' leads, sales and rewards, so an entrant the customer is not assigned to gets 404 for it.
- who protects a customer (`protected_by`, `protection_until`): HQ, and the dealers the customer is with (the one
  it is assigned to, the one protecting it); one rule, `sees_protection`, for the customer view and for the
  protection lookup (review L13). A dealer that only entered a record learns nothing of another dealer's
  protection here, as it learns nothing from the lookup.
- who saw a customer unmasked is logged (`ACCESS_LOG`, leadnet_shared.access_log).
The reads that apply these rules in SQL (which customers a dealer may list or open, whose file it may read) are
`repository/customers.py`: `visible_customer`, `page_of_visible_customers`, `file_customer`.
"""

from __future__ import annotations

from dedup_router.models import AccessLogEntry, Customer
from dedup_router.schemas import CustomerOut
from leadnet_shared.access_log import AccessLog
from leadnet_shared.auth import Principal
from leadnet_shared.masking import mask_address, mask_name, mask_phone


def sees_unmasked(customer: Customer, principal: Principal) -> bool:
    """HQ admin always; a dealer only while the customer is assigned to it."""
    return principal.sees_personal_data or (
        principal.role == "dealer"
        and customer.assigned_dealer is not None
        and customer.assigned_dealer == principal.dealer
    )


def sees_protection(customer: Customer, principal: Principal) -> bool:
    """Who is told which dealer protects a customer, and until when: HQ, the assigned and the protecting dealer."""
    return principal.is_hq or (
        principal.role == "dealer"
        and principal.dealer is not None
        and principal.dealer in (customer.assigned_dealer, customer.protected_by)
    )


ACCESS_LOG = AccessLog(AccessLogEntry)


def customer_out(customer: Customer, principal: Principal) -> CustomerOut:
    unmasked = sees_unmasked(customer, principal)
    told = sees_protection(customer, principal)
    return CustomerOut(
        customer_id=customer.customer_id,
        name=customer.name if unmasked else mask_name(customer.name),
        phone=customer.phone if unmasked else mask_phone(customer.phone),
        address=customer.address if unmasked else mask_address(customer.address, customer.region_code),
        region_code=customer.region_code,
        tier=customer.tier,
        nature=customer.nature,
        assigned_dealer=customer.assigned_dealer,
        protected_by=customer.protected_by if told else None,
        protection_until=customer.protection_until if told else None,
        masked=not unmasked,
    )
