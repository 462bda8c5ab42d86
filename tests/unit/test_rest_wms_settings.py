"""The rest_wms settings: what an admin may write, and what is refused with a reason."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from connectors.rest_wms import RestWmsSettings
from connectors.rest_wms.limits import build_limiter
from hub.plugins.registry import connector_class
from hub.transport import AllLimiters, HeaderWindowLimiter, TokenBucket

KEY = "wms_SECRET_0123456789"


def settings(**overrides: Any) -> RestWmsSettings:
    return RestWmsSettings(
        **{"type": "rest_wms", "base_url": "https://wms.example.com/api", "api_key": KEY, **overrides}
    )


def test_the_smallest_yaml_entry_is_enough() -> None:
    wms = settings()

    assert wms.auth_value() == f"Bearer {KEY}"
    assert wms.endpoints.stock.path == "/v1/inventory" and wms.endpoints.products.path == "/v1/items"
    assert wms.pagination.style == "cursor" and wms.min_records == 1 and wms.max_drop_fraction == 0.5


def test_endpoints_take_a_bare_path_or_a_path_with_an_id_field() -> None:
    wms = settings(endpoints={"stock": "/api/stock.quant", "products": {"path": "/p", "id_field": "uid"}})

    assert wms.endpoints.stock.path == "/api/stock.quant" and wms.endpoints.stock.id_field is None
    assert wms.endpoints.products.id_field == "uid"


def test_a_bare_key_header_has_no_scheme() -> None:
    assert settings(auth_header="X-Api-Key", auth_scheme="").auth_value() == KEY


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"base_url": None}, "base_url"),
        ({"auth_header": "X Api Key"}, "not an HTTP header name"),
        ({"pagination": {"style": "offset"}}, "pagination.style"),
        ({"max_drop_fraction": 1.5}, "max_drop_fraction"),
        ({"min_records": -1}, "min_records"),
        ({"page_size": 0}, "page_size"),
        ({"rate_limit_per_s": 0}, "rate_limit_per_s"),
        ({"verify_tls": False}, "verify_tls"),
        ({"endpoint": {}}, "endpoint"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(overrides: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError) as caught:
        settings(**overrides)
    assert complaint in str(caught.value)
    assert KEY not in str(caught.value)


def test_the_entry_point_finds_the_connector() -> None:
    cls = connector_class("rest_wms")

    assert cls.type_name == "rest_wms" and cls.settings_model is RestWmsSettings


async def test_pacing_follows_the_settings() -> None:
    assert build_limiter(settings(rate_limit_remaining_header=None)) is None
    assert isinstance(build_limiter(settings()), HeaderWindowLimiter)
    assert isinstance(build_limiter(settings(rate_limit_per_s=5, rate_limit_remaining_header=None)), TokenBucket)

    both = build_limiter(settings(rate_limit_per_s=5))
    assert isinstance(both, AllLimiters)
    header, bucket = both.limiters[1], both.limiters[0]
    assert isinstance(header, HeaderWindowLimiter) and isinstance(bucket, TokenBucket)
    both.observe(httpx.Response(200, headers={"X-RateLimit-Remaining": "7"}), None)
    await both.acquire()
    assert header._remaining == 6  # the header limiter saw the answer and counted the request
