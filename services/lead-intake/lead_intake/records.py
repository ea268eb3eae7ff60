"""One customer-information record: checked against the contract and domain.md §2, normalized for matching.

`validate_record` reports EVERY field problem at once (contract.md: a DMS developer fixes a record in one
round trip) and, when there are none, returns the `NormalizedRecord` the rest of the network works with:
simplified text, E.164 phone, county-level region, numbers as numbers, defaults filled in. It is pure and
hand-written rather than a pydantic model because intake must validate over 10,000 records a second a core.
The caller keeps the raw record (the internal topic carries it as submitted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from lead_intake.information_blocks import (
    BLOCKS,
    POLICY_NAME,
    POLICY_PACKAGE,
    information_blocks_policy,
    is_blank,
    missing_blocks,
    missing_field_problem,
)
from lead_intake.normalize import NormalizationError
from lead_intake.normalize.address import normalize_region
from lead_intake.normalize.chinese import clean_text
from lead_intake.normalize.quantities import normalize_number
from leadnet_shared.phone import InvalidPhone, normalize_phone
from leadnet_shared.policy import PolicyError, cached_policy
from leadnet_shared.problems import FieldProblem, ValidationFailed, json_pointer

Number = int | float


@dataclass(frozen=True, slots=True)
class Customer:
    """The basic block; `phone` (E.164) is the customer's identity, `region_code` picks the dealer."""

    name: str
    phone: str
    address: str
    region_code: str
    tier: str
    nature: str
    # The customer's industry (domain.md §2: HQ plans "by industry"): one of the policy's list, or None if not given.
    industry: str | None = None

    @property
    def is_big(self) -> bool:
        """Big customer = not retail (contract.md); decides protection period versus information fee."""
        return self.tier != "retail"


@dataclass(frozen=True, slots=True)
class VehicleInUse:
    """One entry of the vehicles-in-use block (None only where HQ's policy made a field optional)."""

    brand: str | None
    model: str | None
    quantity: int | None
    function: str | None
    horsepower: Number | None
    body_spec: str | None


@dataclass(frozen=True, slots=True)
class Usage:
    """The vehicle-usage block."""

    cargo: str | None
    load_tons: Number | None
    haul_distance_km: Number | None
    consumer_credit: str | None
    insurance: str | None


@dataclass(frozen=True, slots=True)
class PurchaseIntent(VehicleInUse):
    """The purchase-intent block: the vehicle wanted, described as a vehicle in use is; `product_line` and `horizon`
    are always set (given, derived, defaulted)."""

    product_line: str
    horizon: str


# Spelt out rather than read from the dataclass fields: this runs for every record saved, and a literal is twice as
# fast as a loop over the field names.
def _vehicle(v: VehicleInUse) -> dict[str, Any]:
    """A vehicle in use, or the vehicle a purchase intent wants, with the contract's names."""
    return {
        "brand": v.brand,
        "model": v.model,
        "quantity": v.quantity,
        "function": v.function,
        "horsepower": v.horsepower,
        "body_spec": v.body_spec,
    }


@dataclass(frozen=True, slots=True)
class NormalizedRecord:
    """A valid record in its normalized form: what is stored, published internally and routed."""

    source: str
    network_code: str | None
    customer: Customer
    vehicles_in_use: tuple[VehicleInUse, ...] | None
    usage: Usage | None
    purchase_intent: PurchaseIntent | None

    @property
    def product_line(self) -> str | None:
        """The line the lead is routed by: the intent's, else the one line all vehicles in use map to."""
        if self.purchase_intent is not None:
            return self.purchase_intent.product_line
        lines = {product_line_for_function(v.function) for v in self.vehicles_in_use or ()}
        return lines.pop() if len(lines) == 1 else None

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON types, the contract's field names: for the database and internal events."""
        c = self.customer
        return {
            "source": self.source,
            "network_code": self.network_code,
            "customer": {
                "name": c.name,
                "phone": c.phone,
                "address": c.address,
                "region_code": c.region_code,
                "tier": c.tier,
                "nature": c.nature,
                # Only when given: records stored before the field existed and records without it read the same.
                **({"industry": c.industry} if c.industry is not None else {}),
            },
            "vehicles_in_use": None if self.vehicles_in_use is None else [_vehicle(v) for v in self.vehicles_in_use],
            "usage": None
            if (u := self.usage) is None
            else {
                "cargo": u.cargo,
                "load_tons": u.load_tons,
                "haul_distance_km": u.haul_distance_km,
                "consumer_credit": u.consumer_credit,
                "insurance": u.insurance,
            },
            "purchase_intent": None
            if (i := self.purchase_intent) is None
            else {**_vehicle(i), "product_line": i.product_line, "horizon": i.horizon},
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> NormalizedRecord:
        """Rebuild from `to_json_dict` output (written by this service, so trusted, not re-checked)."""
        vehicles = data.get("vehicles_in_use")
        usage = data.get("usage")
        intent = data.get("purchase_intent")
        return cls(
            source=data["source"],
            network_code=data.get("network_code"),
            customer=Customer(**data["customer"]),
            vehicles_in_use=None if vehicles is None else tuple(VehicleInUse(**v) for v in vehicles),
            usage=None if usage is None else Usage(**usage),
            purchase_intent=None if intent is None else PurchaseIntent(**intent),
        )


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """`record` is set exactly when `problems` is empty."""

    record: NormalizedRecord | None
    problems: list[FieldProblem] = field(default_factory=list)
    policy_version: str = ""
    # The record's source when it is one of the policy's codes, also for a refused record (lead.refused says it).
    source: str | None = None

    @property
    def ok(self) -> bool:
        return self.record is not None

    def require_record(self) -> NormalizedRecord:
        """The record, or `ValidationFailed` (422) with every problem, for callers that answer over HTTP."""
        if self.record is None:
            raise ValidationFailed("The record has field problems; see errors.", errors=self.problems)
        return self.record


# ---- the record shape (contract.md "lead-intake"): field -> how its value is read ----

_TEXT, _NUMBER, _PHONE, _REGION_CODE, _TIER, _NATURE, _PRODUCT_LINE, _HORIZON, _INDUSTRY = range(9)
_ROOT_FIELDS = ("source", "network_code", *BLOCKS)
_VEHICLE_FIELDS = {
    "brand": _TEXT,
    "model": _TEXT,
    "quantity": _NUMBER,
    "function": _TEXT,
    "horsepower": _NUMBER,
    "body_spec": _TEXT,
}
_BLOCK_FIELDS: dict[str, dict[str, int]] = {
    "customer": {
        "name": _TEXT,
        "phone": _PHONE,
        "address": _TEXT,
        "region_code": _REGION_CODE,
        "tier": _TIER,
        "nature": _NATURE,
        "industry": _INDUSTRY,
    },
    "vehicles_in_use": _VEHICLE_FIELDS,
    "usage": {
        "cargo": _TEXT,
        "load_tons": _NUMBER,
        "haul_distance_km": _NUMBER,
        "consumer_credit": _TEXT,
        "insurance": _TEXT,
    },
    "purchase_intent": {
        **_VEHICLE_FIELDS,  # the vehicle wanted is described as a vehicle in use is
        "product_line": _PRODUCT_LINE,
        "horizon": _HORIZON,
    },
}
# Every field name of the record's shape: a refusal's pointers keep these and hide any other (a name the caller made
# up is a submitted value).
RECORD_FIELD_NAMES: frozenset[str] = frozenset(_ROOT_FIELDS).union(*(shape.keys() for shape in _BLOCK_FIELDS.values()))
_ENUM_OF_KIND = {
    _TIER: "tier",
    _NATURE: "nature",
    _PRODUCT_LINE: "product_line",
    _HORIZON: "horizon",
    _INDUSTRY: "industry",
}


@dataclass(frozen=True, slots=True)
class _Rules:
    """The policy pieces the validator needs, compiled once."""

    version: str
    sources: frozenset[str]
    enums: Mapping[str, frozenset[str]]
    enum_lists: Mapping[str, str]
    defaults: Mapping[str, str]
    product_line_by_function: Mapping[str, str]
    max_length: Mapping[str, int]
    max_length_default: int
    # Per block, per field: (name, kind, required, max length), in the record's field order.
    block_specs: Mapping[str, tuple[tuple[str, int, bool, int], ...]]
    max_vehicles: int
    system_decided: frozenset[str]


@cache
def _rules() -> _Rules:
    data = cached_policy(POLICY_PACKAGE, POLICY_NAME)
    blocks = information_blocks_policy()
    for block, required in blocks.required_fields.items():
        unknown = set(required) - set(_BLOCK_FIELDS[block])
        if unknown:
            raise PolicyError(f"information_blocks: blocks.{block} requires unknown fields {unknown}")
    # The customer's identity and region cannot be optional: nothing could be stored or routed without them.
    if not {"name", "phone", "address"} <= set(blocks.required_fields["customer"]):
        raise PolicyError("information_blocks: blocks.customer must require name, phone and address")
    enums = {name: frozenset(values) for name, values in data["enums"].items()}
    if not enums.get("industry"):
        raise PolicyError("information_blocks: enums.industry must list the customer industries")
    defaults = dict(data["defaults"])
    for name in ("tier", "nature", "horizon"):
        if defaults.get(name) not in enums[name]:
            raise PolicyError(f"information_blocks: defaults.{name} must be one of enums.{name}")
    by_function: dict[str, str] = {}
    for line, functions in data.get("product_line_by_function", {}).items():
        if line not in enums["product_line"]:
            raise PolicyError(f"information_blocks: product_line_by_function.{line} is not a product line")
        for function in functions:
            key = clean_text(function).lower()
            if by_function.get(key, line) != line:
                raise PolicyError(f"information_blocks: function {function!r} maps to two product lines")
            by_function[key] = line
    text = data.get("text", {})
    return _Rules(
        version=str(data["version"]),
        sources=frozenset(blocks.sources),
        enums=enums,
        enum_lists={name: ", ".join(values) for name, values in data["enums"].items()},
        defaults=defaults,
        product_line_by_function=by_function,
        max_length=dict(text.get("max_length", {})),
        max_length_default=int(text.get("max_length_default", 100)),
        block_specs={
            block: tuple(
                (
                    name,
                    kind,
                    name in blocks.required_fields[block],
                    int(text.get("max_length", {}).get(name, text.get("max_length_default", 100))),
                )
                for name, kind in shape.items()
            )
            for block, shape in _BLOCK_FIELDS.items()
        },
        max_vehicles=int(data.get("lists", {}).get("max_vehicles_in_use", 100)),
        system_decided=frozenset(data.get("unknown_fields", {}).get("system_decided", [])),
    )


def industries() -> tuple[str, ...]:
    """The policy's list of customer industries (`[enums] industry`), in its order: records and plans use it."""
    return tuple(str(i) for i in cached_policy(POLICY_PACKAGE, POLICY_NAME)["enums"]["industry"])


def product_line_for_function(function: str | None, /) -> str | None:
    """The product line a vehicle's function names unambiguously (policy table), else None."""
    if function is None:
        return None
    return _rules().product_line_by_function.get(clean_text(function).lower())


class _Validation:
    """One pass over one raw record, collecting problems instead of stopping at the first."""

    __slots__ = ("problems", "rules")

    def __init__(self, rules: _Rules) -> None:
        self.rules = rules
        self.problems: list[FieldProblem] = []

    def add(self, pointer: tuple[str | int, ...], code: str, message: str) -> None:
        self.problems.append(FieldProblem(json_pointer(*pointer), code, message))

    def unknown_fields(self, entry: Mapping[str, object], known: Any, pointer: tuple[str | int, ...]) -> None:
        for key in entry:
            if key not in known:
                message = (
                    "decided by the system; a caller cannot set it"
                    if key in self.rules.system_decided or str(key).endswith("_fen")
                    else "not a field of this record"
                )
                self.add((*pointer, key), "unknown_field", message)

    def text(self, value: object, pointer: tuple[str | int, ...], name: str) -> str | None:
        if value.__class__ is not str:
            self.add((*pointer, name), "invalid_type", "must be a string")
            return None
        cleaned = clean_text(value)
        limit = self.rules.max_length.get(name, self.rules.max_length_default)
        if len(cleaned) > limit:
            self.add((*pointer, name), "too_long", f"at most {limit} characters")
            return None
        return cleaned

    def enum(self, value: object, enum_name: str, pointer: tuple[str | int, ...], name: str) -> str | None:
        if not isinstance(value, str):
            self.add((*pointer, name), "invalid_type", "must be a string")
            return None
        if value not in self.rules.enums[enum_name]:
            self.add((*pointer, name), "invalid_enum", f"must be one of: {self.rules.enum_lists[enum_name]}")
            return None
        return value

    def block(self, block: str, entry: Mapping[str, object], pointer: tuple[str | int, ...]) -> dict[str, Any] | None:
        """Read one present block: unknown fields, missing required fields, each value by its kind."""
        shape = _BLOCK_FIELDS[block]
        before = len(self.problems)
        if not entry.keys() <= shape.keys():
            self.unknown_fields(entry, shape, pointer)
        values: dict[str, Any] = {}
        for name, kind, required, limit in self.rules.block_specs[block]:
            value = entry.get(name)
            if value.__class__ is str:
                if kind == _TEXT:
                    # The common case, inlined: intake's throughput is decided in this loop.
                    cleaned = clean_text(value)
                    if cleaned and len(cleaned) <= limit:
                        values[name] = cleaned
                        continue
                if not value.strip():
                    value = None
            if value is None:
                values[name] = None
                if required:
                    self.problems.append(missing_field_problem(block=block, pointer=(*pointer, name)))
            elif kind == _TEXT:
                values[name] = self.text(value, pointer, name)
            elif kind == _NUMBER:
                values[name] = self.number(value, pointer, name)
            elif kind == _PHONE:
                values[name] = self.phone(value, (*pointer, name))
            elif kind == _REGION_CODE:
                values[name] = self.region_code(value, (*pointer, name))
            else:
                values[name] = self.enum(value, _ENUM_OF_KIND[kind], pointer, name)
        return values if len(self.problems) == before else None

    def number(self, value: object, pointer: tuple[str | int, ...], name: str) -> int | float | None:
        try:
            return normalize_number(value, field=name)
        except NormalizationError as exc:
            self.add((*pointer, name), exc.code, exc.message)
            return None

    def digits(self, value: object, pointer: tuple[str | int, ...], message: str) -> str | None:
        """A string; a JSON integer is accepted as its digits: spreadsheets exported to JSON turn 13800138000 (or
        an adcode) into one."""
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str):
            return value
        self.add(pointer, "invalid_type", message)
        return None

    def phone(self, value: object, pointer: tuple[str | int, ...]) -> str | None:
        value = self.digits(value, pointer, "must be a string")
        if value is None:
            return None
        if len(value) > self.rules.max_length.get("phone", 40):
            self.add(pointer, "invalid_phone", "too long for a phone number")
            return None
        try:
            return normalize_phone(value)
        except InvalidPhone as exc:
            self.add(pointer, exc.code, exc.message)
            return None

    def region_code(self, value: object, pointer: tuple[str | int, ...]) -> str | None:
        value = self.digits(value, pointer, "must be a 6-digit adcode string")
        return None if value is None else value.strip()

    def customer(self, entry: Mapping[str, object]) -> Customer | None:
        values = self.block("customer", entry, ("customer",))
        given_code = entry.get("region_code")
        if values is None:
            # Still say whether the region resolves, unless the address itself is what is missing or wrong.
            address = entry.get("address")
            code_ok = is_blank(given_code) or isinstance(given_code, str | int)
            if isinstance(address, str) and not is_blank(address) and code_ok:
                code = None if is_blank(given_code) else str(given_code)
                self.region(address=clean_text(address), region_code=code)
            return None
        region = self.region(address=values["address"], region_code=values["region_code"])
        if region is None:
            return None
        defaults = self.rules.defaults
        return Customer(
            name=values["name"],
            phone=values["phone"],
            address=values["address"],
            region_code=region,
            tier=values["tier"] or defaults["tier"],
            nature=values["nature"] or defaults["nature"],
            industry=values["industry"],
        )

    def region(self, *, address: str, region_code: str | None) -> str | None:
        try:
            return normalize_region(address=address, region_code=region_code)
        except NormalizationError as exc:
            field = "address" if region_code is None else "region_code"
            self.add(("customer", field), exc.code, exc.message)
            return None

    def vehicles(self, entries: list[tuple[int, object]]) -> tuple[VehicleInUse, ...] | None:
        """Read the non-blank entries, reporting each at its index in the submitted list."""
        if len(entries) > self.rules.max_vehicles:
            self.add(("vehicles_in_use",), "too_many_items", f"at most {self.rules.max_vehicles} entries")
            return None
        vehicles: list[VehicleInUse] = []
        for index, entry in entries:
            if not isinstance(entry, dict):
                self.add(("vehicles_in_use", index), "invalid_type", "must be an object")
                continue
            values = self.block("vehicles_in_use", entry, ("vehicles_in_use", index))
            if values is not None:
                vehicles.append(VehicleInUse(**values))
        return tuple(vehicles) if len(vehicles) == len(entries) else None

    def usage(self, entry: Mapping[str, object]) -> Usage | None:
        values = self.block("usage", entry, ("usage",))
        return None if values is None else Usage(**values)

    def purchase_intent(self, entry: Mapping[str, object]) -> PurchaseIntent | None:
        values = self.block("purchase_intent", entry, ("purchase_intent",))
        if values is None:
            return None
        if values["product_line"] is None:
            line = product_line_for_function(values["function"])
            if line is None:
                self.add(
                    ("purchase_intent", "product_line"),
                    "missing_field",
                    f"give product_line: function {values['function']!r} names no single product line",
                )
                return None
            values["product_line"] = line
        if values["horizon"] is None:
            values["horizon"] = self.rules.defaults["horizon"]
        return PurchaseIntent(**values)


def _all_blank(entry: Mapping[str, object], shape: Mapping[str, int]) -> bool:
    for name in shape:
        value = entry.get(name)
        if value is not None and not (value.__class__ is str and not value.strip()):
            return False
    return True


def enum_code(kind: str, value: object) -> str | None:
    """`value` when it is one of the policy's codes of `kind` (tier, product_line, ...), else None: what a refused
    record may still say about itself without repeating anything the caller typed."""
    return value if isinstance(value, str) and value in _rules().enums.get(kind, frozenset()) else None


def validate_record(raw: object, /) -> ValidationResult:
    """Check one submitted record against the contract and domain.md §2, reporting every problem at once."""
    rules = _rules()
    check = _Validation(rules)
    if not isinstance(raw, dict):
        check.add((), "invalid_type", "a record must be a JSON object")
        return ValidationResult(record=None, problems=check.problems, policy_version=rules.version)
    check.unknown_fields(raw, _ROOT_FIELDS, ())

    source = raw.get("source")
    if is_blank(source):
        check.add(("source",), "missing_field", "source is required")
        source = None
    elif not isinstance(source, str):
        check.add(("source",), "invalid_type", "must be a string")
        source = None
    elif source not in rules.sources:
        check.add(("source",), "invalid_enum", f"must be one of: {', '.join(sorted(rules.sources))}")
        source = None

    network_code = raw.get("network_code")
    network_code = None if is_blank(network_code) else check.text(network_code, (), "network_code")

    # A block is present when it holds anything: an object whose every field is blank (as a CSV import with
    # empty columns produces) is the same as no block, not an incomplete one.
    present: dict[str, bool] = {}
    parsed: dict[str, Any] = {}
    for block in BLOCKS:
        value = raw.get(block)
        shape = _BLOCK_FIELDS[block]
        if value is None:
            present[block] = False
        elif block == "vehicles_in_use":
            if not isinstance(value, list):
                check.add((block,), "invalid_type", "must be a list of vehicles")
                present[block] = True
                continue
            entries = [
                (index, entry)
                for index, entry in enumerate(value)
                if not (isinstance(entry, dict) and _all_blank(entry, shape) and entry.keys() <= shape.keys())
            ]
            present[block] = bool(entries)
            if entries:
                parsed[block] = check.vehicles(entries)
        elif not isinstance(value, dict):
            check.add((block,), "invalid_type", "must be an object")
            present[block] = True
        elif _all_blank(value, shape) and value.keys() <= shape.keys():
            present[block] = False
        else:
            present[block] = True
            parsed[block] = getattr(check, block)(value)

    if source is not None:
        check.problems.extend(missing_blocks(source=source, present=present))

    if check.problems or source is None:
        return ValidationResult(record=None, problems=check.problems, policy_version=rules.version, source=source)
    record = NormalizedRecord(
        source=source,
        network_code=network_code,
        customer=parsed["customer"],
        vehicles_in_use=parsed.get("vehicles_in_use"),
        usage=parsed.get("usage"),
        purchase_intent=parsed.get("purchase_intent"),
    )
    return ValidationResult(record=record, problems=[], policy_version=rules.version, source=source)
