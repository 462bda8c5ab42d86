"""Declarative mappings: shipped files load, transforms go both ways, errors are located."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hub.errors import ConfigError
from hub.model.base import Consent, Entity, RecordInvalid
from hub.model.catalogue import Price, StockLevel
from hub.model.customers import Customer
from hub.plugins.contract import RawRecord
from hub.plugins.mapping import TRANSFORMS, TransformContext, load_mapping, register_transform, shipped_mapping_path
from hub.plugins.registry import connector_class

TYPES = ["csv", "shopify", "woocommerce", "hubspot", "mailchimp", "rest_wms"]
CTX = TransformContext(settings={})


@pytest.fixture(scope="module", autouse=True)
def _connectors_imported() -> None:
    for type_name in TYPES:  # their modules register the transforms their mappings name (money, wms_location)
        connector_class(type_name)


def fwd(name: str, value: Any, ctx: TransformContext = CTX) -> Any:
    return TRANSFORMS[name].forward(value, ctx)


def rev(name: str, value: Any, ctx: TransformContext = CTX) -> Any:
    reverse = TRANSFORMS[name].reverse
    assert reverse is not None
    return reverse(value, ctx)


# ------------------------------------------------------------------ shipped mappings


@pytest.mark.parametrize("type_name", TYPES)
def test_shipped_mapping_loads_for_every_connector_type(type_name: str) -> None:
    mapping = load_mapping(type_name)
    assert mapping.source == str(shipped_mapping_path(type_name))
    assert mapping.entities
    capabilities = connector_class(type_name).capabilities
    for entity in capabilities:
        assert mapping.covers(entity), f"{type_name} declares {entity} but its mapping does not cover it"
    assert len(mapping.fingerprint) == 16


def test_mapping_without_a_section_says_so() -> None:
    with pytest.raises(ConfigError, match="the mapping has no section for prices"):
        load_mapping("hubspot")[Entity.prices]


SAMPLES: list[tuple[str, Entity, dict[str, Any], dict[str, Any], str]] = [
    (
        "csv",
        Entity.prices,
        {"sku": " A-1 ", "price": "79.90", "compare_at_price": "", "currency": "usd"},
        {},
        "A-1",
    ),
    (
        "shopify",
        Entity.stock,
        {"sku": "A-1", "location_id": "gid://shopify/Location/1", "available": "3", "on_hand": "5"},
        {"locations": {"gid://shopify/Location/1": "milano-store"}},
        "A-1@milano-store",
    ),
    (
        "woocommerce",
        Entity.prices,
        {"sku": "W-1", "pricing": {"amount": "19.50", "compare_at": "25.00"}},
        {},
        "W-1",
    ),
    (
        "woocommerce",
        Entity.stock,
        {"sku": "W-1", "stock_quantity": 4},
        {"location": "web-warehouse"},
        "W-1@web-warehouse",
    ),
    (
        "hubspot",
        Entity.customers,
        {
            "properties": {"email": " Ann@Example.com ", "firstname": "Ann", "lastname": "", "phone": None},
            "configured": {"consent": "unsubscribed", "loyalty": "12", "modified": "2024-05-01T10:00:00Z"},
        },
        {},
        "ann@example.com",
    ),
    (
        "mailchimp",
        Entity.customers,
        {"email_address": "bob@example.com", "status": "cleaned", "last_changed": "2024-05-01T10:00:00+00:00"},
        {},
        "bob@example.com",
    ),
    ("rest_wms", Entity.stock, {"sku": "R-1", "warehouse_id": "WH1", "available": 2, "on_hand": 2}, {}, "R-1@WH1"),
]


@pytest.mark.parametrize(("type_name", "entity", "row", "settings", "key"), SAMPLES)
def test_shipped_mappings_read_platform_rows(
    type_name: str, entity: Entity, row: dict[str, Any], settings: dict[str, Any], key: str
) -> None:
    mapping = load_mapping(type_name, settings=settings)[entity]
    raw = RawRecord(row)
    assert mapping.key_of(raw) == key
    record = mapping.to_canonical(raw, key)
    assert record.key == key
    assert record.entity is entity


def test_csv_prices_values() -> None:
    record = load_mapping("csv")[Entity.prices].to_canonical(RawRecord({"sku": "A", "price": "79.90", "currency": ""}))
    assert record == Price(sku="A", amount=Decimal("79.90"), currency="EUR")


def test_csv_decimal_comma_setting() -> None:
    mapping = load_mapping("csv", settings={"decimal_comma": True})[Entity.prices]
    record = mapping.to_canonical(RawRecord({"sku": "A", "price": "1.234,50", "compare_at_price": "1.500,00"}))
    assert isinstance(record, Price)
    assert (record.amount, record.compare_at) == (Decimal("1234.50"), Decimal("1500.00"))
    assert mapping.to_platform({"amount": Decimal("1234.50")}) == {"price": "1234,50"}


def test_mailchimp_cleaned_is_unsubscribed_and_hubspot_consent() -> None:
    mc = load_mapping("mailchimp")[Entity.customers]
    record = mc.to_canonical(RawRecord({"email_address": "b@example.com", "status": "cleaned"}))
    assert isinstance(record, Customer)
    assert record.email_marketing is Consent.unsubscribed
    hs = load_mapping("hubspot")[Entity.customers]
    row = {"properties": {"email": "a@example.com"}, "configured": {"modified": "2024-05-01T10:00:00Z"}}
    customer = hs.to_canonical(RawRecord(row))
    assert isinstance(customer, Customer)
    assert customer.email_marketing is Consent.never  # the default when the property is empty
    assert customer.updated_at == datetime(2024, 5, 1, 10, tzinfo=UTC)


def test_a_value_outside_a_map_names_the_field() -> None:
    mc = load_mapping("mailchimp")[Entity.customers]
    with pytest.raises(RecordInvalid) as info:
        mc.to_canonical(RawRecord({"email_address": "b@example.com", "status": "zombie"}), "b@example.com")
    assert info.value.field == "email_marketing"
    assert info.value.key == "b@example.com"
    assert "'zombie' is not one of subscribed" in info.value.reason


# ------------------------------------------------------------------ transforms


def test_decimal_transform_both_ways() -> None:
    assert fwd("decimal", "79.90") == Decimal("79.90")
    assert fwd("decimal", None) is None
    assert rev("decimal", Decimal("79.90")) == "79.90"
    assert rev("decimal", Decimal("1E+3")) == "1000"
    with pytest.raises(ValueError, match="float"):
        fwd("decimal", 79.9)


def test_decimal_comma_transform_both_ways() -> None:
    assert fwd("decimal_comma", "1.234,50") == Decimal("1234.50")
    assert rev("decimal_comma", Decimal("1234.50")) == "1234,50"


@given(st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False, allow_infinity=False))
def test_decimal_transforms_round_trip(amount: Decimal) -> None:
    for name in ("decimal", "decimal_comma"):
        assert fwd(name, rev(name, amount)) == amount
    assert fwd("cents", rev("cents", amount)) == amount


def test_cents_transform_both_ways() -> None:
    assert fwd("cents", 7990) == Decimal("79.90")
    assert fwd("cents", "5") == Decimal("0.05")
    assert rev("cents", Decimal("79.90")) == 7990
    assert rev("cents", Decimal("0.29")) == 29  # exact: no float rounding


def test_location_transform_with_a_mapping() -> None:
    ctx = TransformContext(settings={"locations": {"gid://shopify/Location/1": "milano-store", "2": "roma"}})
    assert fwd("location", "gid://shopify/Location/1", ctx) == "milano-store"
    assert fwd("location", 2, ctx) == "roma"  # ids are compared as text
    assert rev("location", "milano-store", ctx) == "gid://shopify/Location/1"
    with pytest.raises(ValueError, match="is not mapped; add it under this connector's `locations`"):
        fwd("location", "gid://shopify/Location/9", ctx)
    with pytest.raises(ValueError, match="has no platform location"):
        rev("location", "torino", ctx)


def test_location_transform_without_a_mapping_keeps_the_id() -> None:
    assert fwd("location", "WH-1") == "WH-1"
    assert rev("location", "WH-1") == "WH-1"


def test_split_comma_both_ways() -> None:
    assert fwd("split_comma", " vip, b2b ,,x") == ("vip", "b2b", "x")
    assert fwd("split_comma", ["a", " b "]) == ("a", "b")
    assert rev("split_comma", ("a", "b")) == "a,b"
    assert fwd("split_comma", rev("split_comma", ("a", "b"))) == ("a", "b")


def test_iso_datetime_both_ways() -> None:
    assert fwd("iso_datetime", "2024-05-01T10:00:00Z") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert fwd("iso_datetime", "2024-05-01 10:00:00") == datetime(2024, 5, 1, 10, tzinfo=UTC)  # naive is UTC
    rome = fwd("iso_datetime", "2024-05-01T12:00:00+02:00")
    assert rome == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert rome.utcoffset() == timedelta(hours=2)
    value = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-5)))
    assert fwd("iso_datetime", rev("iso_datetime", value)) == value
    with pytest.raises(ValueError):
        fwd("iso_datetime", "yesterday")


def test_epoch_ms_both_ways() -> None:
    assert fwd("epoch_ms", "1714557600000") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert rev("epoch_ms", datetime(2024, 5, 1, 10, tzinfo=UTC)) == "1714557600000"


@given(st.integers(min_value=0, max_value=4102444800000))
@example(1001)  # found by hypothesis: 1.001 s * 1000 == 1000.9999999999999
def test_epoch_ms_round_trips_to_the_millisecond(ms: int) -> None:
    assert rev("epoch_ms", fwd("epoch_ms", ms)) == str(ms)


def test_small_transforms() -> None:
    assert fwd("strip", "  a ") == "a"
    assert fwd("lower", " AB ") == "ab"
    assert fwd("upper", " ab ") == "AB"
    assert fwd("int", " 42 ") == 42
    assert fwd("empty_to_none", "  ") is None
    assert fwd("empty_to_none", 0) == 0
    assert rev("empty_to_none", None) == ""
    assert fwd("bool", "Sì") is True
    assert fwd("bool", "no") is False
    with pytest.raises(ValueError, match="is not yes/no"):
        fwd("bool", "maybe")
    assert fwd("sku", " A-1 ") == "A-1"
    assert fwd("email", " A@Example.com") == "a@example.com"
    assert TRANSFORMS["strip"].reverse is None
    assert TRANSFORMS["decimal"].doc


def test_register_transform_makes_a_name_usable(tmp_path: Path) -> None:
    register_transform("test_times_two", lambda v, c: int(v) * 2, lambda v, c: int(v) // 2, "doubles")
    path = tmp_path / "m.yaml"
    path.write_text(
        "entities:\n  stock:\n    fields:\n      sku: sku\n      location: loc\n"
        "      available: {from: qty, transform: test_times_two}\n"
    )
    mapping = load_mapping("csv", user_file=path)[Entity.stock]
    record = mapping.to_canonical(RawRecord({"sku": "A", "loc": "x", "qty": "4"}))
    assert isinstance(record, StockLevel)
    assert record.available == 8
    assert mapping.to_platform({"available": 8}) == {"qty": 4}


# ------------------------------------------------------------------ key_of, to_canonical, to_platform


def test_key_of_reads_only_the_key_fields() -> None:
    mapping = load_mapping("csv")[Entity.stock]
    raw = RawRecord({"sku": " S-1 ", "location": "milano-store", "available": "not a number"})
    assert mapping.key_of(raw) == "S-1@milano-store"
    with pytest.raises(RecordInvalid) as info:
        mapping.to_canonical(raw, "S-1@milano-store")
    assert info.value.field == "available"
    assert info.value.key == "S-1@milano-store"


def test_key_of_refuses_a_bad_key_naming_the_field() -> None:
    stock = load_mapping("csv")[Entity.stock]
    with pytest.raises(RecordInvalid) as info:
        stock.key_of(RawRecord({"sku": "  ", "location": "x"}))
    assert info.value.field == "sku"
    customers = load_mapping("csv")[Entity.customers]
    assert customers.key_of(RawRecord({"email": " A@Example.com "})) == "a@example.com"
    with pytest.raises(RecordInvalid) as info:
        customers.key_of(RawRecord({"email": "nobody"}))
    assert info.value.field == "email"
    shopify = load_mapping("shopify", settings={"locations": {"1": "milano"}})[Entity.stock]
    with pytest.raises(RecordInvalid) as info:
        shopify.key_of(RawRecord({"sku": "A", "location_id": "2"}))
    assert info.value.field == "location"
    assert "not mapped" in info.value.reason


def test_key_of_agrees_with_the_record_key() -> None:
    mapping = load_mapping("csv")[Entity.stock]
    raw = RawRecord({"sku": "A", "location": " milano-store ", "available": "3"})
    assert mapping.key_of(raw) == mapping.to_canonical(raw).key


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        ({"sku": "A", "price": "abc"}, "amount", "'abc' is not a decimal number"),
        ({"sku": "A", "price": "-1"}, "amount", "negative"),
        ({"sku": "A", "price": "1", "currency": "euro"}, "currency", "ISO 4217"),
        ({"sku": "A@B", "price": "1"}, "sku", "'@'"),
        ({"sku": "A"}, "amount", "amount"),
    ],
)
def test_to_canonical_errors_name_the_field(row: dict[str, Any], field: str, words: str) -> None:
    mapping = load_mapping("csv")[Entity.prices]
    with pytest.raises(RecordInvalid) as info:
        mapping.to_canonical(RawRecord(row), "K")
    assert info.value.field == field
    assert info.value.key == "K"
    assert words in info.value.reason
    assert info.value.reason.startswith(f"{field}:")


def test_to_platform_round_trips_shopify_prices() -> None:
    mapping = load_mapping("shopify")[Entity.prices]
    row = {"sku": "A-1", "price": "79.90", "compareAtPrice": "99.00"}
    record = mapping.to_canonical(RawRecord(row))
    payload = mapping.to_platform(record.compared())
    assert payload == {"price": "79.90", "compareAtPrice": "99.00"}  # sku is `write: false`
    again = mapping.to_canonical(RawRecord({**payload, "sku": "A-1"}))
    assert again == record


def test_to_platform_builds_nested_payloads_and_reverses_maps() -> None:
    mapping = load_mapping("hubspot")[Entity.customers]
    payload = mapping.to_platform(
        {"first_name": "Ann", "email_marketing": Consent.unsubscribed, "loyalty_points": 7, "email": "a@example.com"}
    )
    assert payload == {
        "properties": {"firstname": "Ann", "email": "a@example.com"},
        "configured": {"consent": "unsubscribed", "loyalty": 7},
    }
    record = mapping.to_canonical(RawRecord({**payload, "configured": {**payload["configured"], "modified": None}}))
    assert isinstance(record, Customer)
    assert (record.first_name, record.email_marketing, record.loyalty_points) == ("Ann", Consent.unsubscribed, 7)


def test_to_platform_with_location_mapping_round_trips() -> None:
    mapping = load_mapping("shopify", settings={"locations": {"gid://shopify/Location/1": "milano-store"}})
    stock = mapping[Entity.stock]
    assert stock.to_platform({"available": 5, "location": "milano-store"}) == {"available": 5}  # write: false
    csv_customers = load_mapping("csv")[Entity.customers]
    customer = Customer(email="a@example.com", tags=("b", "a"), consent_updated_at=datetime(2024, 1, 1, tzinfo=UTC))
    payload = csv_customers.to_platform(customer.model_dump())
    assert payload["tags"] == "a,b"
    assert payload["consent_updated_at"] == "2024-01-01T00:00:00+00:00"
    assert csv_customers.to_canonical(RawRecord(payload)) == customer


def test_to_platform_refuses_a_field_without_inverse(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "entities:\n  products:\n    fields:\n      sku: sku\n      title: {from: name, transform: strip}\n"
    )
    mapping = load_mapping("csv", user_file=path)[Entity.products]
    with pytest.raises(ValueError, match="field title cannot be written"):
        mapping.to_platform({"title": "x"})
    assert mapping.platform_field("title") == "name"
    assert mapping.platform_field("barcode") is None


# ------------------------------------------------------------------ bad mapping files


def _mapping_problems(tmp_path: Path, text: str) -> list[Any]:
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_mapping("csv", user_file=path)
    for problem in info.value.problems:
        assert problem.file == str(path)
    return info.value.problems


def test_unknown_transform_is_located(tmp_path: Path) -> None:
    [problem] = _mapping_problems(
        tmp_path,
        "entities:\n  prices:\n    fields:\n      sku: sku\n      amount: {from: price, transform: [decimel]}\n",
    )
    assert (problem.line, problem.column, problem.path) == (5, 7, "entities.prices.fields.amount")
    assert "unknown transform 'decimel'" in problem.message
    assert "decimal" in problem.message  # the known ones are listed


def test_unknown_canonical_field_is_located(tmp_path: Path) -> None:
    [problem] = _mapping_problems(
        tmp_path, "entities:\n  prices:\n    fields:\n      sku: sku\n      amount: price\n      colour: c\n"
    )
    assert (problem.line, problem.column, problem.path) == (6, 7, "entities.prices.fields.colour")
    assert "'colour' is not a field of prices" in problem.message


def test_field_with_two_sources_and_unknown_entity(tmp_path: Path) -> None:
    problems = _mapping_problems(
        tmp_path, "entities:\n  prices:\n    fields:\n      sku: {from: sku, const: x}\n  orders: {fields: {}}\n"
    )
    by_path = {p.path: p for p in problems}
    assert "exactly one of `from`" in by_path["entities.prices.fields.sku"].message
    assert by_path["entities.prices.fields.sku"].line == 4
    assert any(p.startswith("entities.orders") for p in by_path)


def test_mapping_that_is_not_a_mapping(tmp_path: Path) -> None:
    [problem] = _mapping_problems(tmp_path, "- a\n")
    assert "must be a mapping with an `entities:` section" in problem.message


def test_missing_user_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_mapping("csv", user_file="nope.yaml", base_dir=tmp_path)


def test_missing_key_field_is_located(tmp_path: Path) -> None:
    [problem] = _mapping_problems(tmp_path, "entities:\n  stock:\n    fields:\n      sku: sku\n      available: q\n")
    assert (problem.line, problem.path) == (3, "entities.stock.fields")
    assert "the key field 'location' of stock must be mapped" in problem.message


def test_user_mapping_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("entities:\n  prices:\n    fields:\n      sku: code\n      amount: p\n")
    mapping = load_mapping("csv", user_file="m.yaml", base_dir=tmp_path)
    assert mapping.source == str(tmp_path / "m.yaml")
    price = mapping[Entity.prices].to_canonical(RawRecord({"code": "Z", "p": "2.50"}))
    assert price == Price(sku="Z", amount=Decimal("2.50"), currency="EUR")  # currency from the hub default


# ------------------------------------------------------------------ fingerprint


def test_fingerprint_is_stable_and_changes_with_file_and_settings(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    text = "entities:\n  stock:\n    fields:\n      sku: sku\n      location: {from: loc, transform: location}\n"
    path.write_text(text + "      available: qty\n")
    base = load_mapping("csv", user_file=path, settings={"locations": {"1": "a"}}).fingerprint
    assert load_mapping("csv", user_file=path, settings={"locations": {"1": "a"}}).fingerprint == base
    other_locations = load_mapping("csv", user_file=path, settings={"locations": {"1": "b"}}).fingerprint
    assert other_locations != base
    assert load_mapping("csv", user_file=path, settings={"locations": {"1": "a"}}, currency="USD").fingerprint != base
    # a setting the mapping does not read leaves the fingerprint alone
    unrelated = load_mapping("csv", user_file=path, settings={"locations": {"1": "a"}, "min_rows": 5}).fingerprint
    assert unrelated == base
    path.write_text(text + "      available: {from: qty, transform: int}\n")
    assert load_mapping("csv", user_file=path, settings={"locations": {"1": "a"}}).fingerprint != base


def test_fingerprint_changes_with_the_model_s_value_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stricter value rules make every row count as changed once, so a row stored under looser ones
    (a quantity past 32 bits) is read again and quarantined instead of trusted by its unchanged hash."""
    path = tmp_path / "m.yaml"
    path.write_text("entities:\n  stock:\n    fields:\n      sku: sku\n      location: loc\n      available: qty\n")
    base = load_mapping("csv", user_file=path).fingerprint
    monkeypatch.setattr("hub.plugins.mapping.RULES_VERSION", b"values/next")
    assert load_mapping("csv", user_file=path).fingerprint != base


@pytest.mark.parametrize(("raw", "expected"), [(" 42 ", 42), ("-3", -3), (7, 7), (5.0, 5), ("7.0", 7), ("1 000", 1000)])
def test_int_transform_reads_whole_numbers_in_plain_digits(raw: object, expected: int) -> None:
    assert fwd("int", raw) == expected


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("1_000", "has an underscore"),
        ("\u0665", "has digits other than 0-9"),  # int() reads ARABIC-INDIC DIGIT FIVE as 5
        ("1e3", "is in exponent notation"),
        (True, "is not a whole number"),
        (7.5, "is not a whole number"),
        ("7.5", "is not a whole number"),
    ],
)
def test_whole_number_transforms_refuse_other_spellings_with_the_reason(raw: object, words: str) -> None:
    for name in ("int", "cents"):
        with pytest.raises(ValueError, match=words):
            fwd(name, raw)


def test_a_quantity_past_32_bits_read_through_int_is_refused_naming_the_field() -> None:
    mapping = load_mapping("shopify", settings={"locations": {"gid://shopify/Location/1": "milano-store"}})
    row = {"sku": "A", "location_id": "gid://shopify/Location/1", "available": 2**31, "on_hand": None}
    with pytest.raises(RecordInvalid) as info:
        mapping[Entity.stock].to_canonical(RawRecord(row), "A@milano-store")
    assert info.value.field == "available"
    assert info.value.reason == "available: 2147483648 is out of range for a quantity (-2147483648 to 2147483647)"
