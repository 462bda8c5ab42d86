"""What the connector writes is checked first, because WooCommerce stores bad values silently
(captured: "abc" wipes a price, "12,50" becomes 1250, 7.5 becomes 7), and a write counts only when
WooCommerce's answer holds the value sent."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
import respx

from connectors.woocommerce import WooCommerceConnector, WooCommerceSettings
from connectors.woocommerce.values import price_text, stock_amount, unstored
from hub.model.base import Entity
from hub.plugins.contract import Change
from tests.conftest import TEST_SECRETS

API = "https://shop.example.com/wp-json/wc/v3"


@pytest.mark.parametrize(
    ("value", "text"), [(Decimal("12.5"), "12.5"), (Decimal("1E+2"), "100"), ("0", "0"), (None, ""), ("", "")]
)
def test_prices_are_written_as_plain_decimals(value: object, text: str) -> None:
    assert price_text(value, "regular_price") == text


@pytest.mark.parametrize("value", ["abc", "12,50", "-5", Decimal("NaN"), "Infinity"])
def test_prices_woocommerce_would_mangle_are_refused_before_sending(value: object) -> None:
    with pytest.raises(ValueError, match="regular_price"):
        price_text(value, "regular_price")


@pytest.mark.parametrize("value", ["abc", 7.5, -1, True, "3"])
def test_quantities_woocommerce_would_mangle_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="whole number"):
        stock_amount(value)


def test_a_value_not_held_by_the_answer_is_named() -> None:
    assert unstored({"regular_price": "20.00"}, {"regular_price": "20"}, ("regular_price",)) is None
    said = unstored({"sale_price": "25.00"}, {"sale_price": ""}, ("sale_price",))
    assert said is not None and "sale_price ''" in said


@respx.mock
async def test_a_price_the_store_did_not_keep_is_a_failure_not_a_success() -> None:
    # WooCommerce drops a sale price it does not like and answers 200 with the record as stored.
    respx.post(f"{API}/products/batch").mock(
        return_value=httpx.Response(200, json={"update": [{"id": 10, "regular_price": "30.00", "sale_price": ""}]})
    )
    settings = WooCommerceSettings(
        type="woocommerce",
        url="https://shop.example.com",
        consumer_key=TEST_SECRETS[1],
        consumer_secret=TEST_SECRETS[2],
        location="web-warehouse",
    )
    change = Change(
        Entity.prices,
        "A",
        "web",
        {"amount": Decimal("20.00"), "compare_at": Decimal("30.00")},
        {},
        None,
        {"product_id": "10"},
        "A",
    )
    async with WooCommerceConnector("web", settings) as woo:
        [result] = await woo.push(Entity.prices, [change])
    assert (result.ok, result.code) == (False, "not_stored")
    assert "sale_price ''" in (result.message or "")
