"""Who sees which lead and network, masked or not, on the kit's rules: a dealer sees the leads it entered or was
assigned (personal data only of the assigned ones, and only while it is an active dealer), the national networks and
its own; HQ sees all. Who saw a record unmasked is logged (`ACCESS_LOG`)."""

from __future__ import annotations

from lead_intake.information_networks import may_see_network
from lead_intake.models import AccessLogEntry, InformationNetwork, Lead
from lead_intake.service import LeadState
from leadnet_shared.access_log import AccessLog
from leadnet_shared.auth import Principal
from leadnet_shared.problems import NotFound
from leadnet_shared.visibility import DealerScoped, names_caller

LEADS: DealerScoped[Lead | LeadState] = DealerScoped("lead", lambda lead: (lead.entered_by, lead.assigned_dealer))


ACCESS_LOG = AccessLog(AccessLogEntry)


def sees_personal_data(principal: Principal, lead: Lead, *, dealer_active: bool = True) -> bool:
    """HQ admins, and the dealer the customer is assigned to while that dealer is active (a withdrawn dealer's
    leads are being reassigned: it sees them masked meanwhile); an entering dealer sees its record masked."""
    return principal.sees_personal_data or (
        dealer_active and not principal.is_hq and names_caller(principal, lead.assigned_dealer)
    )


def visible_network(principal: Principal, network: InformationNetwork | None) -> InformationNetwork:
    if network is None or not may_see_network(principal=principal, owner=network.owner):
        raise NotFound("No such network.")
    return network
