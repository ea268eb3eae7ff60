"""A valid record has four information blocks; which blocks each source must supply (domain.md §2)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lead_intake.information_blocks import (
    BLOCKS,
    Presence,
    blocks_source_must_supply,
    known_sources,
    missing_blocks,
    missing_fields,
)
from lead_intake.records import validate_record
from tests.examples import CONTRACT_RECORD

# Every block complete, as in the contract's example record.
COMPLETE: dict[str, Any] = {block: CONTRACT_RECORD[block] for block in BLOCKS}
REQUIRED_FIELDS = {
    "vehicles_in_use": ["brand", "model", "quantity", "function", "horsepower", "body_spec"],
    "usage": ["cargo", "load_tons", "haul_distance_km", "consumer_credit", "insurance"],
    "purchase_intent": ["brand", "model", "quantity", "function", "horsepower", "body_spec"],
}
REQ, OPT, NOT = "required", "optional", "not_expected"
# domain.md §2 "Which blocks each source must supply", column order basic, in use, usage, intent.
DOMAIN_TABLE = {
    "walk_in": (REQ, REQ, OPT, REQ),
    "phone_inquiry": (REQ, OPT, OPT, REQ),
    "vehicle_admin_office": (REQ, REQ, OPT, NOT),
    "transport_office": (REQ, REQ, NOT, NOT),
    "insurer": (REQ, REQ, REQ, NOT),
    "bank": (REQ, REQ, REQ, NOT),
    "service_repair": (REQ, REQ, REQ, NOT),
    "service_station": (REQ, REQ, REQ, NOT),
    "transport_company": (REQ, REQ, OPT, NOT),
    "competitor_channel": (REQ, REQ, OPT, NOT),
    "info_agent": (REQ, REQ, OPT, OPT),
    "hq": (REQ, REQ, OPT, OPT),  # not in the seed: treated like info_agent (see the policy file)
}


def record_with(source: str, blocks: set[str]) -> dict[str, Any]:
    record: dict[str, Any] = {"source": source}
    for block in blocks:
        record[block] = copy.deepcopy(COMPLETE[block])
    return record


class TestTheTableIsDomainMd:
    def test_every_source_of_the_contract_has_a_row(self) -> None:
        assert set(known_sources()) == set(DOMAIN_TABLE)

    def test_each_row_reads_as_domain_md(self) -> None:
        for source, row in DOMAIN_TABLE.items():
            presences = blocks_source_must_supply(source=source)
            assert tuple(presences[b].value for b in BLOCKS) == row, source


class TestWhichBlocksEachSourceMustSupply:
    @given(source=st.sampled_from(sorted(DOMAIN_TABLE)), present=st.sets(st.sampled_from(BLOCKS)))
    def test_exactly_the_absent_required_blocks_are_missing(self, source: str, present: set[str]) -> None:
        result = validate_record(record_with(source, present))
        expected = {
            "/" + block
            for block, presence in zip(BLOCKS, DOMAIN_TABLE[source], strict=True)
            if presence == REQ and block not in present
        }
        assert {p.field for p in result.problems if p.code == "missing_block"} == expected
        # Complete blocks give no other problem: the record is valid exactly when no required block is absent.
        assert all(p.code == "missing_block" for p in result.problems)
        assert result.ok == (not expected)

    @given(source=st.sampled_from(sorted(DOMAIN_TABLE)), present=st.sets(st.sampled_from(BLOCKS)))
    def test_missing_blocks_rule_alone(self, source: str, present: set[str]) -> None:
        problems = missing_blocks(source=source, present={b: b in present for b in BLOCKS})
        row = blocks_source_must_supply(source=source)
        assert [p.field for p in problems] == [
            "/" + b for b in BLOCKS if row[b] is Presence.REQUIRED and b not in present
        ]

    def test_walk_in_without_intent(self) -> None:
        result = validate_record(record_with("walk_in", {"customer", "vehicles_in_use"}))
        assert [(p.field, p.code) for p in result.problems] == [("/purchase_intent", "missing_block")]

    def test_insurer_must_supply_usage(self) -> None:
        result = validate_record(record_with("insurer", {"customer", "vehicles_in_use"}))
        assert [(p.field, p.code) for p in result.problems] == [("/usage", "missing_block")]

    def test_phone_inquiry_needs_only_basic_and_intent(self) -> None:
        assert validate_record(record_with("phone_inquiry", {"customer", "purchase_intent"})).ok


class TestAPresentBlockMustBeComplete:
    @given(
        source=st.sampled_from(sorted(DOMAIN_TABLE)),
        block=st.sampled_from(sorted(REQUIRED_FIELDS)),
        removed=st.data(),
    )
    def test_each_absent_required_field_is_reported(self, source: str, block: str, removed: st.DataObject) -> None:
        fields = removed.draw(st.sets(st.sampled_from(REQUIRED_FIELDS[block]), min_size=1))
        # Leave at least one field so the block is present rather than blank.
        if len(fields) == len(REQUIRED_FIELDS[block]):
            fields = set(sorted(fields)[1:]) or set(REQUIRED_FIELDS[block][:1])
        record = record_with(source, set(BLOCKS))
        entry = record[block][0] if block == "vehicles_in_use" else record[block]
        for name in fields:
            entry[name] = removed.draw(st.sampled_from([None, "", "  "])) if name != "quantity" else None
        result = validate_record(record)
        prefix = "/vehicles_in_use/0/" if block == "vehicles_in_use" else f"/{block}/"
        assert {(p.field, p.code) for p in result.problems} == {(prefix + name, "missing_field") for name in fields}
        assert not result.ok

    def test_missing_fields_rule_alone(self) -> None:
        problems = missing_fields(block="usage", entry={"cargo": "煤炭", "load_tons": ""}, pointer=("usage",))
        assert [p.field for p in problems] == [
            "/usage/load_tons",
            "/usage/haul_distance_km",
            "/usage/consumer_credit",
            "/usage/insurance",
        ]
        assert {p.code for p in problems} == {"missing_field"}

    def test_customer_block_needs_name_phone_address(self) -> None:
        record = record_with("walk_in", set(BLOCKS))
        record["customer"] = {"name": "张三"}
        fields = {(p.field, p.code) for p in validate_record(record).problems}
        assert fields == {("/customer/phone", "missing_field"), ("/customer/address", "missing_field")}


class TestNotExpectedBlocks:
    def test_a_complete_not_expected_block_is_kept(self) -> None:
        result = validate_record(record_with("transport_office", set(BLOCKS)))
        assert result.record is not None
        assert result.record.usage is not None and result.record.purchase_intent is not None

    def test_an_incomplete_not_expected_block_is_reported(self) -> None:
        record = record_with("transport_office", {"customer", "vehicles_in_use", "usage"})
        del record["usage"]["insurance"]
        assert [(p.field, p.code) for p in validate_record(record).problems] == [("/usage/insurance", "missing_field")]


class TestBlankBlocksAreAbsent:
    def test_all_blank_optional_block_is_no_block(self) -> None:
        # A CSV import with empty columns sends every field of a block as "".
        record = record_with("vehicle_admin_office", {"customer", "vehicles_in_use"})
        record["usage"] = {name: "" for name in REQUIRED_FIELDS["usage"]}
        result = validate_record(record)
        assert result.record is not None and result.record.usage is None

    def test_all_blank_required_block_is_missing(self) -> None:
        record = record_with("walk_in", {"customer", "vehicles_in_use"})
        record["purchase_intent"] = {name: None for name in REQUIRED_FIELDS["purchase_intent"]}
        assert [(p.field, p.code) for p in validate_record(record).problems] == [("/purchase_intent", "missing_block")]

    def test_empty_vehicle_list_is_no_block(self) -> None:
        record = record_with("bank", {"customer", "usage"})
        record["vehicles_in_use"] = []
        assert [(p.field, p.code) for p in validate_record(record).problems] == [("/vehicles_in_use", "missing_block")]
