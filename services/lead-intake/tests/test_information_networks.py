"""Information networks (domain.md §1): who registers what, quarters in Asia/Shanghai, authenticity."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lead_intake.information_networks import (
    authenticity,
    check_registration,
    may_see_network,
    quarter_bounds,
    quarter_of,
)
from leadnet_shared.auth import Principal
from leadnet_shared.problems import Forbidden, ValidationFailed

HQ = Principal(sub="hq", role="hq_admin", dealer=None)
D1 = Principal(sub="d1", role="dealer", dealer="D001")
BODY = {
    "code": "NET-SD-0007",
    "name": "潍坊车管所",
    "kind": "fixed",
    "members": [{"name": "潍坊市车管所", "type": "vehicle_admin_office"}],
}


class TestWhoRegistersWhat:
    def test_hq_registers_national_networks_dealers_regional_ones(self) -> None:
        assert (
            check_registration(principal=HQ, body=BODY).scope,
            check_registration(principal=HQ, body=BODY).owner,
        ) == ("national", "HQ")
        reg = check_registration(principal=D1, body=BODY)
        assert (reg.scope, reg.owner) == ("regional", "D001")

    def test_a_dealer_cannot_register_a_national_network(self) -> None:
        with pytest.raises(Forbidden):
            check_registration(principal=D1, body={**BODY, "scope": "national"})
        with pytest.raises(Forbidden):
            check_registration(principal=HQ, body={**BODY, "scope": "regional"})

    def test_every_problem_at_once(self) -> None:
        with pytest.raises(ValidationFailed) as err:
            check_registration(
                principal=D1,
                body={"code": "a b", "kind": "weekly", "owner": "D2", "members": [{"name": "", "type": "moon"}]},
            )
        assert {(e.field, e.code) for e in err.value.errors} == {
            ("/owner", "unknown_field"),
            ("/code", "invalid_value"),
            ("/name", "missing_field"),
            ("/kind", "invalid_enum"),
            ("/members/0/name", "missing_field"),
            ("/members/0/type", "invalid_enum"),
        }

    def test_visibility(self) -> None:
        assert may_see_network(principal=D1, owner="HQ") and may_see_network(principal=D1, owner="D001")
        assert not may_see_network(principal=D1, owner="D002")
        assert may_see_network(principal=HQ, owner="D002")


class TestQuarters:
    def test_quarter_is_shanghai_time(self) -> None:
        # 2026-12-31 17:00 UTC is 2027-01-01 01:00 in Shanghai: the first quarter of 2027.
        assert quarter_of(datetime(2026, 12, 31, 17, 0, tzinfo=UTC)) == "2027Q1"
        assert quarter_of(datetime(2026, 12, 31, 15, 59, tzinfo=UTC)) == "2026Q4"
        start, end = quarter_bounds("2026Q4")
        assert (start, end) == (datetime(2026, 9, 30, 16, 0, tzinfo=UTC), datetime(2026, 12, 31, 16, 0, tzinfo=UTC))

    def test_a_malformed_quarter(self) -> None:
        with pytest.raises(ValidationFailed):
            quarter_bounds("2026-Q4")

    def test_authenticity_share(self) -> None:
        assert authenticity(records=10, verified=5) == 0.5
        assert authenticity(records=0, verified=0) is None
