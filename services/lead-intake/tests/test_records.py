"""validate_record: every problem at once, one code per rule, and the normalized form (contract.md)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lead_intake.records import NormalizedRecord, validate_record
from leadnet_shared.problems import ValidationFailed
from tests.examples import CONTRACT_RECORD as EXAMPLE


def example(**changes: Any) -> dict[str, Any]:
    """The example with `block__field=value` changes (`value=...` of DELETE removes the field)."""
    record = copy.deepcopy(EXAMPLE)
    for key, value in changes.items():
        target: Any = record
        parts = key.split("__")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is DELETE:
            del target[parts[-1]]
        else:
            target[parts[-1]] = value
    return record


DELETE = object()


def problems_of(raw: object) -> list[tuple[str, str]]:
    return [(p.field, p.code) for p in validate_record(raw).problems]


class TestTheContractExample:
    def test_validates_cleanly_to_zhucheng(self) -> None:
        result = validate_record(EXAMPLE)
        assert result.problems == []
        record = result.record
        assert record is not None
        assert record.customer.region_code == "370782"
        assert record.customer.phone == "+8613800138000"
        assert record.customer.name == "张三"
        assert record.source == "walk_in" and record.network_code == "NET-SD-0007"
        assert record.usage is not None and record.usage.load_tons == 49
        assert record.purchase_intent is not None and record.purchase_intent.horizon == "within_2_weeks"
        assert record.product_line == "tractor"

    def test_json_dict_round_trips(self) -> None:
        record = validate_record(EXAMPLE).require_record()
        data = record.to_json_dict()
        assert data["customer"]["region_code"] == "370782"
        assert data["vehicles_in_use"][0]["quantity"] == 2
        assert NormalizedRecord.from_json_dict(data) == record

    def test_the_raw_record_is_not_changed(self) -> None:
        raw = example()
        validate_record(raw)
        assert raw == EXAMPLE


class TestDefaults:
    def test_tier_retail_and_nature_new(self) -> None:
        record = validate_record(example(customer__tier=DELETE, customer__nature=None)).require_record()
        assert (record.customer.tier, record.customer.nature) == ("retail", "new")
        assert not record.customer.is_big

    def test_horizon_defaults_to_uncertain(self) -> None:
        record = validate_record(example(purchase_intent__horizon=DELETE)).require_record()
        assert record.purchase_intent is not None and record.purchase_intent.horizon == "uncertain"

    def test_big_customer_is_not_retail(self) -> None:
        record = validate_record(example(customer__tier="gold_silver")).require_record()
        assert record.customer.is_big


class TestProductLine:
    def test_derived_from_a_chinese_function(self) -> None:
        raw = example(purchase_intent__product_line=DELETE, purchase_intent__function="自卸车")
        record = validate_record(raw).require_record()
        assert record.purchase_intent is not None and record.purchase_intent.product_line == "dump"

    def test_derived_from_traditional_function(self) -> None:
        raw = example(purchase_intent__product_line=None, purchase_intent__function="攪拌車")
        record = validate_record(raw).require_record()
        assert record.purchase_intent is not None and record.purchase_intent.product_line == "mixer"

    def test_underivable_function_asks_for_product_line(self) -> None:
        raw = example(purchase_intent__product_line=DELETE, purchase_intent__function="拉货用")
        assert problems_of(raw) == [("/purchase_intent/product_line", "missing_field")]

    def test_given_product_line_wins_over_function(self) -> None:
        raw = example(purchase_intent__product_line="cargo", purchase_intent__function="自卸")
        record = validate_record(raw).require_record()
        assert record.purchase_intent is not None and record.purchase_intent.product_line == "cargo"

    def test_without_intent_the_vehicles_in_use_decide(self) -> None:
        raw = example(source="insurer", purchase_intent=DELETE)
        assert validate_record(raw).require_record().product_line == "tractor"


class TestNormalization:
    def test_traditional_record_is_simplified(self) -> None:
        raw = example(
            customer__name="張三",
            customer__address="山東省濰坊市諸城市密州街道",
            purchase_intent__brand="歐曼",
        )
        record = validate_record(raw).require_record()
        assert record.customer.name == "张三"
        assert record.customer.address == "山东省潍坊市诸城市密州街道"
        assert record.customer.region_code == "370782"
        assert record.purchase_intent is not None and record.purchase_intent.brand == "欧曼"

    def test_numbers_written_as_text(self) -> None:
        raw = example(
            usage__load_tons="49吨",
            usage__haul_distance_km="三百公里",
            vehicles_in_use__0__quantity="2台",
            vehicles_in_use__0__horsepower="460马力",
        )
        record = validate_record(raw).require_record()
        assert record.usage is not None
        assert (record.usage.load_tons, record.usage.haul_distance_km) == (49, 300)
        assert record.vehicles_in_use is not None
        assert (record.vehicles_in_use[0].quantity, record.vehicles_in_use[0].horsepower) == (2, 460)

    def test_region_code_override_wins(self) -> None:
        raw = example(customer__address="某某村", customer__region_code="370783")
        assert validate_record(raw).require_record().customer.region_code == "370783"

    def test_phone_as_json_number(self) -> None:
        assert validate_record(example(customer__phone=13800138000)).require_record().customer.phone == (
            "+8613800138000"
        )


class TestOneCodePerRule:
    def test_not_an_object(self) -> None:
        assert problems_of([1, 2]) == [("", "invalid_type")]

    def test_unknown_field_the_system_decides(self) -> None:
        raw = example(assigned_dealer="D-001", status="accepted", info_fee_fen=200)
        assert problems_of(raw) == [
            ("/assigned_dealer", "unknown_field"),
            ("/status", "unknown_field"),
            ("/info_fee_fen", "unknown_field"),
        ]
        assert "system" in validate_record(raw).problems[0].message

    def test_unknown_nested_fields(self) -> None:
        raw = example(customer__vip=True, vehicles_in_use__0__color="red")
        assert problems_of(raw) == [
            ("/customer/vip", "unknown_field"),
            ("/vehicles_in_use/0/color", "unknown_field"),
        ]

    def test_invalid_type(self) -> None:
        raw = example(customer__name=5, usage="lots", vehicles_in_use__0__quantity=[2], customer__tier=1)
        assert set(problems_of(raw)) == {
            ("/customer/name", "invalid_type"),
            ("/customer/tier", "invalid_type"),
            ("/vehicles_in_use/0/quantity", "invalid_type"),
            ("/usage", "invalid_type"),
        }

    def test_invalid_enum(self) -> None:
        raw = example(customer__nature="old", purchase_intent__horizon="soon", purchase_intent__product_line="bus")
        assert problems_of(raw) == [
            ("/customer/nature", "invalid_enum"),
            ("/purchase_intent/product_line", "invalid_enum"),
            ("/purchase_intent/horizon", "invalid_enum"),
        ]

    def test_invalid_source(self) -> None:
        assert problems_of(example(source="street")) == [("/source", "invalid_enum")]
        assert problems_of(example(source=DELETE)) == [("/source", "missing_field")]

    def test_missing_block(self) -> None:
        assert problems_of(example(vehicles_in_use=DELETE)) == [("/vehicles_in_use", "missing_block")]

    def test_missing_field(self) -> None:
        assert problems_of(example(usage__cargo="")) == [("/usage/cargo", "missing_field")]

    def test_invalid_phone(self) -> None:
        assert problems_of(example(customer__phone="400-810-8888")) == [("/customer/phone", "invalid_phone")]

    def test_address_unresolved(self) -> None:
        assert problems_of(example(customer__address="朝阳区建国路1号")) == [
            ("/customer/address", "address_unresolved")
        ]

    def test_region_code_not_county_level(self) -> None:
        assert problems_of(example(customer__region_code="370700")) == [("/customer/region_code", "address_unresolved")]

    def test_invalid_number(self) -> None:
        assert problems_of(example(usage__load_tons="40-50吨")) == [("/usage/load_tons", "invalid_number")]

    def test_out_of_range(self) -> None:
        assert problems_of(example(purchase_intent__quantity=0)) == [("/purchase_intent/quantity", "out_of_range")]

    def test_too_long(self) -> None:
        assert problems_of(example(customer__name="张" * 65)) == [("/customer/name", "too_long")]

    def test_too_many_vehicles(self) -> None:
        raw = example(vehicles_in_use=[copy.deepcopy(EXAMPLE["vehicles_in_use"][0]) for _ in range(101)])
        assert problems_of(raw) == [("/vehicles_in_use", "too_many_items")]


class TestEveryProblemAtOnce:
    def test_all_problems_of_a_bad_record(self) -> None:
        raw = example(
            status="accepted",
            customer__phone="12345",
            customer__address="不知道",
            usage__load_tons="几十吨",
            vehicles_in_use__0__brand=None,
            purchase_intent__horizon="later",
        )
        assert set(problems_of(raw)) == {
            ("/status", "unknown_field"),
            ("/customer/phone", "invalid_phone"),
            ("/customer/address", "address_unresolved"),
            ("/vehicles_in_use/0/brand", "missing_field"),
            ("/usage/load_tons", "invalid_number"),
            ("/purchase_intent/horizon", "invalid_enum"),
        }

    def test_require_record_raises_422_with_every_problem(self) -> None:
        result = validate_record(example(customer__phone="1", usage__cargo=None))
        with pytest.raises(ValidationFailed) as caught:
            result.require_record()
        assert caught.value.status == 422
        assert {e.field for e in caught.value.errors} == {"/customer/phone", "/usage/cargo"}

    def test_problems_point_at_the_submitted_index(self) -> None:
        blank = {
            "brand": "",
            "model": "",
            "quantity": None,
            "function": "",
            "horsepower": None,
            "body_spec": "",
        }
        second = dict(EXAMPLE["vehicles_in_use"][0], quantity="三五台")
        raw = example(vehicles_in_use=[blank, second])
        assert problems_of(raw) == [("/vehicles_in_use/1/quantity", "invalid_number")]


class TestIndustry:
    def test_an_industry_from_the_policy_list_is_kept_and_round_trips(self) -> None:
        record = validate_record(example(customer__industry="sand_gravel")).require_record()
        assert record.customer.industry == "sand_gravel"
        data = record.to_json_dict()
        assert data["customer"]["industry"] == "sand_gravel"
        assert NormalizedRecord.from_json_dict(data) == record

    def test_no_industry_is_none_and_leaves_the_stored_form_as_before(self) -> None:
        record = validate_record(example()).require_record()
        assert record.customer.industry is None
        assert "industry" not in record.to_json_dict()["customer"]

    def test_an_unknown_industry_names_the_allowed_ones(self) -> None:
        [problem] = validate_record(example(customer__industry="fishing")).problems
        assert (problem.field, problem.code) == ("/customer/industry", "invalid_enum")
        for allowed in ("coal", "sand_gravel", "logistics", "construction"):
            assert allowed in problem.message
        assert problems_of(example(customer__industry="fishing", customer__nature="old")) == [
            ("/customer/nature", "invalid_enum"),
            ("/customer/industry", "invalid_enum"),
        ]
