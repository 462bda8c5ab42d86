"""Secrets registered however they are written, prices in other currencies, cents never truncated."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from hub.config.loader import load_config
from hub.config.models import ChannelRules
from hub.model.base import Entity
from hub.model.catalogue import Price
from hub.plugins.mapping import TRANSFORMS, TransformContext
from hub.redact import redact
from hub.sync.reconcile import ReconcileInput, reconcile_group


def test_an_interpolated_secret_is_masked_on_its_own(tmp_path: Path) -> None:
    path = tmp_path / "omnihub.yaml"
    path.write_text(
        "version: 1\n"
        "connectors:\n"
        "  wms: {type: rest_wms, base_url: 'https://wms.example', api_key: 'Token ${OMNIHUB_T_KEY}'}\n"
    )
    load_config(path, env={"OMNIHUB_T_KEY": "wms_SECRET_0123456789"})
    # The bare token, seen anywhere (a header, an error echoing it), is masked, not only "Token ...".
    assert redact("refused wms_SECRET_0123456789 for you") == "refused *** for you"


def test_a_literal_secret_in_the_yaml_is_masked_too(tmp_path: Path) -> None:
    path = tmp_path / "omnihub.yaml"
    path.write_text(
        "version: 1\n"
        "connectors:\n"
        "  feed: {type: csv, path: a.csv}\n"
        "alerts:\n"
        "  email: {sender: a@example.com, recipients: [b@example.com], password: smtp-SECRET-password}\n"
    )
    load_config(path)
    assert "smtp-SECRET-password" not in redact("login failed with smtp-SECRET-password")


def test_prices_in_another_currency_are_reported_not_compared() -> None:
    job = ReconcileInput(
        entity=Entity.prices,
        source="erp",
        targets=["us"],
        rules={"us": ChannelRules()},
        fields={"us": ["amount", "compare_at"]},
    )
    truth = Price(sku="A", amount=Decimal("79.00"), currency="EUR")
    channel = Price(sku="A", amount=Decimal("79.00"), currency="USD")
    findings, plans, _ = reconcile_group(job, "A", {"erp": [truth], "us": [channel]})
    assert [(f.field, f.expected, f.actual) for f in findings] == [("currency", "EUR", "USD")]
    assert plans == []  # nothing to push: the hub does not convert currencies


def test_cents_are_never_truncated() -> None:
    reverse = TRANSFORMS["cents"].reverse
    assert reverse is not None
    context = TransformContext(settings={})
    assert reverse(Decimal("79.90"), context) == 7990
    with pytest.raises(ValueError, match="fraction of a cent"):
        reverse(Decimal("79.905"), context)


def test_available_over_on_hand_names_a_field() -> None:
    from pydantic import ValidationError

    from hub.model.base import RecordInvalid
    from hub.model.catalogue import StockLevel

    with pytest.raises(ValidationError) as caught:
        StockLevel(sku="A", location="milano-store", available=5, on_hand=3)
    error = RecordInvalid.from_validation(caught.value, "A@milano-store")
    assert error.field == "on_hand" and "available (5) exceeds on_hand (3)" in error.reason


async def test_a_link_back_to_the_first_page_is_a_loop_at_once() -> None:
    import httpx
    import respx

    from hub.errors import FatalError
    from hub.transport import LinkHeaderPaginator, Transport, TransportSettings

    with respx.mock:
        route = respx.get("https://shop.example/items").mock(
            return_value=httpx.Response(200, json=[], headers={"Link": '</items?page=1>; rel="next"'})
        )
        async with Transport("web", TransportSettings(base_url="https://shop.example")) as transport:
            with pytest.raises(FatalError, match="pagination loop"):
                async for _ in transport.paginate("GET", "/items", LinkHeaderPaginator(), params={"page": 1}):
                    pass
        assert route.call_count == 1  # the first page is not fetched twice before the loop is seen
