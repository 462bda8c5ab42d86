"""``Record.build`` (the plain-Python fast path) must give exactly what pydantic gives.

The fast path exists for speed only: for any input, it either declines (and pydantic decides) or
returns the very record ``model_validate`` returns, with the same fields set, the same types and
the same JSON. Hypothesis throws valid, odd and invalid values at both paths.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hub.model.base import Record
from hub.model.catalogue import Price, Product, StockLevel
from hub.model.records import json_dumper
from hub.model.values import _parse_decimal_text, parse_decimal

# Values a mapping can hand over: strings with padding, numbers of every type, the odd None, and
# values at and past the model's bounds (32-bit quantities, 12-digit prices, currency decimals).
texts = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["SKU-1", " SKU-2 ", "a@b", "", "  ", "x" * 256, "EUR", " usd", "EURO", "12.50", "-1", "1e3"]),
    st.sampled_from(["1_000", "\u0665", " \u0661\u0662 ", "12.345", "0.001", "1e30", "1_000.00", "1 000"]),
    st.sampled_from(["2147483647", "2147483648", "-2147483648", "-2147483649", "99999999999999999999999999.99"]),
)
bounds = st.sampled_from([2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 10**12, 10**26])
decimals = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True, places=2),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=0, max_value=10**13),
    st.sampled_from([Decimal("-0"), Decimal("0.00"), Decimal("1E+2"), Decimal("79.90"), Decimal("0E-7")]),
    st.sampled_from([Decimal("999999999999.99"), Decimal("1E+12"), Decimal("12.345"), Decimal("1000.000")]),
)
numbers = st.one_of(st.integers(-5, 10**6), bounds, st.floats(allow_nan=True), st.booleans(), decimals)
scalars = st.one_of(st.none(), texts, numbers, st.sampled_from(["12,50", " 7 ", "3.0", "3.5", "NaN", "inf"]))


def values_for(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts with any subset of the fields (sometimes an unknown one)."""
    return st.fixed_dictionaries({}, optional={**fields, "unknown": scalars})


price_values = values_for(
    {
        "sku": st.one_of(texts, scalars),
        "amount": st.one_of(decimals, scalars),
        "currency": st.one_of(st.sampled_from(["EUR", "usd ", "EU", "€", "JPY", " kwd", "CLF"]), scalars),
        "compare_at": st.one_of(decimals, scalars),
    }
)
stock_values = values_for(
    {
        "sku": st.one_of(texts, scalars),
        "location": st.one_of(st.sampled_from(["web-warehouse", " main-wh ", "a b", "x:y.z_1", ""]), scalars),
        "available": st.one_of(st.integers(-3, 50), bounds, scalars),
        "on_hand": st.one_of(st.integers(-3, 50), bounds, scalars),
    }
)
product_values = values_for(
    {
        "sku": st.one_of(texts, scalars),
        "title": scalars,
        "barcode": st.one_of(st.sampled_from(["4006381333931", " 12345670 ", "123", ""]), scalars),
        "group": scalars,
        "options": st.one_of(st.just({}), st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2)),
        "status": st.one_of(st.sampled_from(["active", "draft", "archived", " active", "gone"]), scalars),
    }
)


def assert_same(model: type[Record], values: dict[str, Any]) -> None:
    try:
        reference = model.model_validate(dict(values))
    except ValidationError:
        reference = None
    try:
        fast = model.build(dict(values))
    except ValidationError:
        fast = None
    if reference is None:
        assert fast is None, f"the fast path accepted what pydantic refuses: {values!r} -> {fast!r}"
        return
    assert fast is not None, f"pydantic accepts {values!r} but build refused it"
    assert fast == reference
    assert fast.model_fields_set == reference.model_fields_set
    assert {k: type(v) for k, v in fast.__dict__.items()} == {k: type(v) for k, v in reference.__dict__.items()}
    assert list(fast.__dict__) == list(reference.__dict__)
    assert fast.model_dump_json() == reference.model_dump_json()
    # The store writes records through ``json_dumper``: byte for byte pydantic's JSON.
    assert json_dumper(model)(fast) == json_dumper(model)(reference) == reference.model_dump_json()
    assert hash_or_error(fast) == hash_or_error(reference)


def hash_or_error(record: Record) -> int | str:
    """A product's options dict makes it unhashable: both paths must agree on that too."""
    try:
        return hash(record)
    except TypeError as exc:
        return str(exc)


@settings(max_examples=600, deadline=None)
@given(price_values)
def test_price_fast_path_matches_pydantic(values: dict[str, Any]) -> None:
    assert_same(Price, values)


@settings(max_examples=600, deadline=None)
@given(stock_values)
def test_stock_fast_path_matches_pydantic(values: dict[str, Any]) -> None:
    assert_same(StockLevel, values)


@settings(max_examples=600, deadline=None)
@given(product_values)
def test_product_fast_path_matches_pydantic(values: dict[str, Any]) -> None:
    assert_same(Product, values)


@pytest.mark.parametrize(
    ("model", "values"),
    [
        (Price, {"sku": " SKU-1 ", "amount": Decimal("79.90"), "currency": "eur", "compare_at": None}),
        (Price, {"sku": "SKU-1", "amount": "12.5"}),
        (Price, {"sku": "SKU-1", "amount": "1000", "currency": "JPY", "compare_at": "1200"}),
        (StockLevel, {"sku": "SKU-1", "location": "web-warehouse", "available": "4", "on_hand": 6}),
        (Product, {"sku": "SKU-1", "title": " Jacket ", "barcode": "4006381333931", "status": "draft"}),
    ],
)
def test_the_common_shapes_take_the_fast_path(model: type[Record], values: dict[str, Any]) -> None:
    """The fast path must really be taken for what connectors hand over, or it is dead weight."""
    fast = model._fast(dict(values))
    assert fast is not None
    assert fast == model.model_validate(values)


def test_an_invalid_record_still_gets_pydantic_s_message() -> None:
    with pytest.raises(ValidationError, match="amount") as caught:
        Price.build({"sku": "SKU-1", "amount": "abc", "currency": "EUR"})
    assert "'abc' is not a decimal number" in str(caught.value)
    with pytest.raises(ValidationError, match="available \\(5\\) exceeds on_hand \\(3\\)"):
        StockLevel.build({"sku": "SKU-1", "location": "web", "available": 5, "on_hand": 3})


amount_texts = st.one_of(
    st.text(alphabet=" 0123456789.,-+_eE\u00a0\t\nNaInfy", max_size=12),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(["79.90", " 79.90 ", "1 234.50", "1\u00a0234.50", "1_000", "NaN", "-Infinity", "\u0661\u0662"]),
    st.sampled_from(["1e30", "1E3", " 1_000.00 ", "\u0665.5", "+.5", "5.", "1e", "e3", "1.5e-2"]),
)


@settings(max_examples=2000, deadline=None)
@given(amount_texts)
def test_plain_amounts_read_as_the_thorough_path_reads_them(text: str) -> None:
    """``parse_decimal`` lets ``Decimal`` read plain text first; it must never read a value
    differently from the thorough path (spaces removed, then ``Decimal``): same digits, same
    exponent, same refusals."""
    try:
        number = _parse_decimal_text(text, decimal_comma=False)
        thorough = str(number) if number.is_finite() else "not finite"
    except ValueError:
        thorough = "refused"
    try:
        fast = str(parse_decimal(text))
    except ValueError as exc:
        fast = "not finite" if "finite" in str(exc) else "refused"
    assert fast == thorough


def test_records_of_one_shape_share_their_fields_set_safely() -> None:
    """Fast-built records of one input shape share one ``model_fields_set``; a copy with updates
    must get its own, leaving every other record's untouched."""
    first = Price.build({"sku": "A", "amount": Decimal("1.00"), "currency": "EUR"})
    second = Price.build({"sku": "B", "amount": Decimal("2.00"), "currency": "EUR"})
    assert first.model_fields_set == {"sku", "amount", "currency"}
    updated = first.model_copy(update={"compare_at": Decimal("3.00")})
    assert updated.model_fields_set == {"sku", "amount", "currency", "compare_at"}
    assert first.model_fields_set == second.model_fields_set == {"sku", "amount", "currency"}


@pytest.mark.parametrize(
    "record",
    [
        Price(sku="SKU-1", amount=Decimal("1E+2"), compare_at=Decimal("-0") + Decimal("0.00")),
        Price(sku='quote"back\\slash/é', amount=Decimal("79.90"), currency="usd"),
        Product(sku="SKU-2", title="tab\tnl\ncontrol\x01 del\x7f 𝄞 €", options={"Größe": "M"}),
        StockLevel(sku="SKU-3", location="web-warehouse", available=-2, on_hand=None),
    ],
)
def test_stored_json_is_pydantics_for_awkward_values(record: Record) -> None:
    """Exponents, escapes, control characters and astral-plane text: the orjson writer and
    pydantic agree byte for byte, and the stored text reads back into the same record."""
    stored = json_dumper(type(record))(record)
    assert stored == record.model_dump_json()
    assert type(record).model_validate_json(stored) == record
