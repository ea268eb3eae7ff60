"""Who sees a lead's personal data: HQ admins, and the assigned dealer only while it is an active dealer (a withdrawn
dealer's leads are on their way to another dealer; meanwhile it sees them masked, issue 16 §4)."""

from __future__ import annotations

from lead_intake.models import Lead
from lead_intake.visibility import sees_personal_data
from leadnet_shared.auth import Principal

ADMIN = Principal(sub="a", role="hq_admin", dealer=None)
ANALYST = Principal(sub="b", role="hq_analyst", dealer=None)
D1 = Principal(sub="d1", role="dealer", dealer="D001")
D2 = Principal(sub="d2", role="dealer", dealer="D002")


def test_unmasked_for_hq_admins_and_the_active_assigned_dealer_only() -> None:
    lead = Lead(entered_by="D002", assigned_dealer="D001")
    assert sees_personal_data(ADMIN, lead) and sees_personal_data(ADMIN, lead, dealer_active=False)
    assert not sees_personal_data(ANALYST, lead)
    assert sees_personal_data(D1, lead)
    assert not sees_personal_data(D1, lead, dealer_active=False)  # withdrawn (or unknown): masked
    assert not sees_personal_data(D2, lead)  # the entrant sees its record masked
