"""Replays of a real WooCommerce 11 (bodies and headers captured on loopback) through the
connector's parsing and mapping. The captures live in the repository (tests/fixtures/platforms/
woocommerce/, origin in its README.md); a missing folder fails the test, it is not skipped."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from connectors.woocommerce import WooCommerceConnector, WooCommerceSettings
from connectors.woocommerce.batches import BatchItem, _match
from hub.errors import AuthError
from hub.model.base import Entity
from hub.plugins.mapping import load_mapping
from tests.conftest import TEST_SECRETS

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "platforms" / "woocommerce" / "real-captures"


def body(name: str) -> Any:
    path = CAPTURES / f"{name}.json"
    assert path.exists(), f"real capture {path} is missing: the replay tests need the repository's captures"
    return json.loads(path.read_text())


def headers(name: str) -> dict[str, str]:
    lines = (CAPTURES / f"{name}.headers").read_text().splitlines()[1:]
    return dict(line.split(": ", 1) for line in lines if ": " in line)


def status(name: str) -> int:
    return int((CAPTURES / f"{name}.headers").read_text().split()[1])


def connector(url: str = "http://127.0.0.1:8080") -> WooCommerceConnector:
    settings = WooCommerceSettings(
        type="woocommerce",
        url=url,
        consumer_key=TEST_SECRETS[1],
        consumer_secret=TEST_SECRETS[2],
        location="web-warehouse",
    )
    return WooCommerceConnector("web", settings)


def replay(name: str) -> httpx.Response:
    return httpx.Response(status(name), headers=headers(name), content=(CAPTURES / f"{name}.json").read_bytes())


def no_route() -> httpx.Response:
    """A WooCommerce older than 10.3 has no ``GET /variations`` (WordPress's answer to an unknown route)."""
    body = {
        "code": "rest_no_route",
        "message": "No route was found matching the URL and request method.",
        "data": {"status": 404},
    }
    return httpx.Response(404, json=body)


def test_capture_folder_exists() -> None:
    assert CAPTURES.is_dir(), f"{CAPTURES} is missing"


@respx.mock
async def test_captured_list_pages_and_variations_become_canonical_records() -> None:
    api = "http://127.0.0.1:8080/wp-json/wc/v3"
    p1 = headers("41_http_oauth1_list_p1")
    page2 = respx.get(f"{api}/products", params={"page": "2"}).mock(return_value=replay("31_list_products_p2"))
    respx.get(f"{api}/products").mock(
        return_value=httpx.Response(200, headers=p1, content=(CAPTURES / "30_list_products_p1.json").read_bytes())
    )
    respx.get(f"{api}/products/12/variations").mock(return_value=replay("32_list_variations"))
    listing = respx.get(f"{api}/variations").mock(return_value=no_route())
    mapping = load_mapping("woocommerce", settings={"location": "web-warehouse"})
    async with connector() as woo:
        prices, stock, products = {}, {}, {}
        for entity, out in ((Entity.prices, prices), (Entity.stock, stock), (Entity.products, products)):
            async for page in woo.pull(entity):
                for raw in page.records:
                    record = mapping[entity].to_canonical(raw)
                    out[record.key] = (record, raw.link)
        assert page2.call_count == 1  # listed once: the other entities replay what this connector listed
        assert listing.call_count == 1  # the missing route is asked for once, then per parent
        # Page 2 was reached through the captured Link, its echoed OAuth parameters replaced.
        sent = page2.calls[0].request.url.params
        assert len(sent.get_list("oauth_signature")) == 1
        assert sent.get_list("oauth_consumer_key") == [TEST_SECRETS[1]]
        assert sent["oauth_nonce"] != "80971675d9d50aad4601985a0f700c42"
        assert (sent["per_page"], sent["orderby"], sent["order"]) == ("2", "id", "asc")
    # The variable product TEE is a group, not a sellable item.
    assert sorted(prices) == ["TBC-1", "TEE-M", "TEE-S", "TSA-1", "TSB-1"]
    assert prices["TSB-1"][0].amount == Decimal("19.99") and prices["TSB-1"][0].compare_at is None
    assert prices["TEE-M"][1] == {"product_id": "14", "parent_id": "12"}
    assert prices["TSA-1"][1] == {"product_id": "10"}
    assert stock["TSA-1@web-warehouse"][0].available == 42
    assert stock["TEE-S@web-warehouse"][0].available == 0
    tee_m = products["TEE-M"][0]
    assert (tee_m.group, tee_m.options, tee_m.title, tee_m.status) == ("TEE", {"size": "M"}, "Test Tee M", "active")


async def test_captured_cursor_is_the_newest_gmt_modification() -> None:
    with respx.mock:
        api = "http://127.0.0.1:8080/wp-json/wc/v3"
        route = respx.get(f"{api}/products").mock(return_value=replay("31_list_products_p2"))
        respx.get(f"{api}/products/12/variations").mock(return_value=replay("32_list_variations"))
        respx.get(f"{api}/variations").mock(return_value=no_route())
        async with connector() as woo:
            pages = [p async for p in woo.pull(Entity.stock, since="2026-11-22T23:30:13")]
        params = route.calls[0].request.url.params
        assert params["modified_after"] == "2026-11-22T23:30:12"  # one second of overlap
        assert params["dates_are_gmt"] == "true"
    assert pages[-1].cursor == "2026-11-22T23:30:15"
    assert pages[-1].complete is False


def test_captured_batch_answer_gives_per_item_results() -> None:
    answer = body("22_batch_products")
    sent = [
        BatchItem(0, "products/batch", "update", {"id": 11, "regular_price": "19.99"}),
        BatchItem(1, "products/batch", "update", {"id": 999999, "regular_price": "1.00"}),
    ]
    outcomes = _match(sent, answer["update"], "update")
    assert outcomes[0].ok and outcomes[0].record["regular_price"] == "19.99"
    assert not outcomes[1].ok
    assert (outcomes[1].code, outcomes[1].message) == ("woocommerce_rest_product_invalid_id", "Invalid ID.")
    created = _match([BatchItem(7, "products/batch", "create", {"sku": "TSA-1"})], answer["create"][1:], "create")
    assert (created[7].code, created[7].message) == ("product_invalid_sku", "Invalid or duplicated SKU.")


@pytest.mark.parametrize("capture", ["40_http_basic_rejected", "37_https_bad_key"])
@respx.mock
async def test_captured_refusals_become_one_auth_error_naming_the_settings(capture: str) -> None:
    route = respx.get(url__regex=r".*/products.*").mock(return_value=replay(capture))
    async with connector() as woo:
        with pytest.raises(AuthError) as info:
            await woo.ping()
    text = str(info.value)
    assert "[web]" in text and "consumer_key" in text and "consumer_secret" in text
    assert "woocommerce_rest_cannot_view" in text
    assert TEST_SECRETS[1] not in text and TEST_SECRETS[2] not in text
    assert route.call_count == 1


def test_captured_variable_product_without_stock_is_a_group_only() -> None:
    variable = body("34_get_variable")
    assert variable["type"] == "variable" and variable["stock_quantity"] is None
    assert variable["variations"] == [13, 14]
