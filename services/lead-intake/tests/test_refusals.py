"""`leadnet.lead.refused` never carries a submitted value (lead_intake.refusals): pointers keep only the record's
field names and small indexes, a network code only in its policy shape, codes only in snake_case; the queue of
single refusals is bounded. Pure: no database, no broker."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from lead_intake.records import RECORD_FIELD_NAMES, validate_record
from lead_intake.refusals import RefusalQueue, masked_pointer, outgoing, refusal
from leadnet_shared.auth import Principal
from leadnet_shared.problems import FieldProblem, json_pointer
from leadnet_shared.redaction import find_personal_data

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
D002 = Principal(sub="u1", role="dealer", dealer="D002")
HQ = Principal(sub="u2", role="hq_admin", dealer=None)


class TestMaskedPointer:
    def test_field_names_and_indexes_stay_and_anything_the_caller_named_is_hidden(self) -> None:
        assert masked_pointer("/customer/phone") == "/customer/phone"
        assert masked_pointer("/vehicles_in_use/2/brand") == "/vehicles_in_use/2/brand"
        assert masked_pointer("/customer/13800138000") == "/customer/*"
        assert masked_pointer("/张三/name") == "/*/name"
        assert masked_pointer("") == ""

    @given(st.lists(st.text(min_size=0, max_size=20), min_size=1, max_size=5))
    def test_every_segment_of_a_masked_pointer_is_a_field_name_a_small_index_or_hidden(self, parts: list[str]) -> None:
        for segment in masked_pointer(json_pointer(*parts)).split("/")[1:]:
            assert segment in RECORD_FIELD_NAMES or segment == "*" or (segment.isdigit() and len(segment) <= 4)


class TestRefusalEvent:
    def test_a_refused_record_says_who_which_source_and_what_but_no_value(self) -> None:
        raw = {
            "source": "walk_in",
            "network_code": "13800138000",
            "customer": {"phone": "12", "name": "张三", "13900139000": "x", "region_code": "370782", "tier": "gold"},
            "purchase_intent": {"product_line": "tractor"},
        }
        checked = validate_record(raw)
        assert checked.record is None and checked.source == "walk_in"
        event = refusal(
            principal=D002, raw=raw, source=checked.source, problems=checked.problems, status=422,
            channel="single", now=NOW,
        )  # fmt: skip
        data = event.model_dump(mode="json")
        assert (data["entered_by"], data["entered_by_role"], data["source"]) == ("D002", "dealer", "walk_in")
        assert data["network_code"] is None, "a phone-shaped network code is dropped"
        assert (data["region_code"], data["product_line"], data["tier"]) == ("370782", "tractor", None), data
        assert data["problems_total"] == len(checked.problems) == len(data["problems"])
        text = str(data)
        assert find_personal_data(text) == [] and "张三" not in text and "13900139000" not in text
        assert (outgoing(event).key, outgoing(event).subject) == ("D002", "D002")

    def test_a_network_code_of_its_shape_rides_along_and_hq_refusals_are_keyed_hq(self) -> None:
        event = refusal(
            principal=HQ, raw={"network_code": "NET-SD-0007"}, source=None, problems=[], status=413,
            channel="batch", batch_index=3, now=NOW,
        )  # fmt: skip
        assert (event.network_code, event.entered_by, event.batch_index) == ("NET-SD-0007", None, 3)
        assert outgoing(event).key == "HQ"

    def test_problems_are_capped_by_policy_and_odd_codes_are_replaced(self) -> None:
        problems = [FieldProblem(f"/customer/name{i}", "Bad Code!" if i == 0 else "x_y", "m") for i in range(50)]
        event = refusal(principal=D002, raw={}, source=None, problems=problems, status=422, channel="single", now=NOW)
        assert (len(event.problems), event.problems_total) == (20, 50)
        assert event.problems[0].code == "invalid" and event.problems[1].code == "x_y"


class TestRefusalQueue:
    def test_the_queue_is_bounded_and_drops_the_oldest(self) -> None:
        queue = RefusalQueue(max_waiting=3)
        events = [
            refusal(principal=D002, raw={}, source=None, problems=[], status=422, channel="single", now=NOW)
            for _ in range(5)
        ]
        for e in events:
            queue.add(e)
        assert queue.take(10) == events[2:]
        assert queue.take(10) == []
