"""WooCommerce auth: the OAuth 1.0a signature against a vector computed here by hand, the Link
clean-up, and the settings that choose an auth (and refuse one that would leak the secret)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import httpx
import pytest
from pydantic import ValidationError

from connectors.woocommerce.auth import OAuth1Auth, QueryAuth, strip_auth_params
from connectors.woocommerce.settings import WooCommerceSettings
from tests.conftest import TEST_SECRETS

KEY, SECRET = TEST_SECRETS[1], TEST_SECRETS[2]


def settings(**overrides: object) -> WooCommerceSettings:
    values: dict[str, object] = {
        "type": "woocommerce",
        "url": "https://shop.example.com",
        "consumer_key": KEY,
        "consumer_secret": SECRET,
        "location": "web-warehouse",
    }
    values.update(overrides)
    return WooCommerceSettings.model_validate(values)


def signed(request: httpx.Request, auth: httpx.Auth) -> httpx.Request:
    flow = auth.auth_flow(request)
    return next(flow)


def test_oauth1_signature_matches_an_independently_computed_vector() -> None:
    auth = OAuth1Auth(KEY, SECRET, clock=lambda: 1795390216.7, nonce=lambda: "80971675d9d50aad4601985a0f700c42")
    request = httpx.Request("GET", "http://127.0.0.1:8080/wp-json/wc/v3/products?per_page=2&orderby=id&order=asc")
    out = signed(request, auth)
    params = dict(out.url.params)

    # The base string written out by hand: sorted, each key and value encoded, then the whole
    # parameter string encoded again; key = consumer_secret + "&".
    base = (
        "GET&http%3A%2F%2F127.0.0.1%3A8080%2Fwp-json%2Fwc%2Fv3%2Fproducts&"
        f"oauth_consumer_key%3D{KEY}%26oauth_nonce%3D80971675d9d50aad4601985a0f700c42"
        "%26oauth_signature_method%3DHMAC-SHA256%26oauth_timestamp%3D1795390216"
        "%26order%3Dasc%26orderby%3Did%26per_page%3D2"
    )
    expected = base64.b64encode(hmac.new(f"{SECRET}&".encode(), base.encode(), hashlib.sha256).digest()).decode()
    assert params["oauth_signature"] == expected
    assert params["oauth_signature_method"] == "HMAC-SHA256"
    assert params["oauth_timestamp"] == "1795390216"
    assert "oauth_version" not in params
    assert params["per_page"] == "2" and params["orderby"] == "id"


def test_oauth1_encodes_reserved_characters_in_values() -> None:
    auth = OAuth1Auth(KEY, SECRET, clock=lambda: 1, nonce=lambda: "n")
    out = signed(httpx.Request("GET", "http://h/p", params={"sku": "A B,C/D"}), auth)
    base = (
        "GET&http%3A%2F%2Fh%2Fp&"
        f"oauth_consumer_key%3D{KEY}%26oauth_nonce%3Dn%26oauth_signature_method%3DHMAC-SHA256"
        "%26oauth_timestamp%3D1%26sku%3DA%2520B%252CC%252FD"
    )
    expected = base64.b64encode(hmac.new(f"{SECRET}&".encode(), base.encode(), hashlib.sha256).digest()).decode()
    assert out.url.params["oauth_signature"] == expected


def test_each_request_gets_a_fresh_nonce_and_old_oauth_parameters_are_replaced() -> None:
    auth = OAuth1Auth(KEY, SECRET)
    first = signed(httpx.Request("GET", "http://h/p?page=2"), auth)
    again = signed(httpx.Request("GET", str(first.url)), auth)
    assert first.url.params["oauth_nonce"] != again.url.params["oauth_nonce"]
    assert again.url.params.get_list("oauth_signature") == [again.url.params["oauth_signature"]]


def test_query_auth_adds_the_pair_once() -> None:
    out = signed(httpx.Request("GET", "https://h/p?consumer_key=old&page=1"), QueryAuth(KEY, SECRET))
    assert out.url.params.get_list("consumer_key") == [KEY]
    assert out.url.params["consumer_secret"] == SECRET and out.url.params["page"] == "1"


def test_strip_auth_params_on_the_captured_link_keeps_the_rest_byte_for_byte() -> None:
    captured = (
        "http://127.0.0.1:8080/wp-json/wc/v3/products?per_page=2&page=2&orderby=id&order=asc"
        "&oauth_consumer_key=ck_3c34a400298015a6bd07d930bfa8c6a6927d7179&oauth_nonce=80971675d9d50aad4601985a0f700c42"
        "&oauth_signature_method=HMAC-SHA256&oauth_timestamp=1795390216"
        "&oauth_signature=lgjVJnzMcqE9e4LzD+NwDzV0%2FpEocw7IuerZMOOMGuE"
    )
    assert strip_auth_params(captured) == (
        "http://127.0.0.1:8080/wp-json/wc/v3/products?per_page=2&page=2&orderby=id&order=asc"
    )
    moved = strip_auth_params(
        "https://shop.example.com/wp-json/wc/v3/products?page=2&consumer_key=x", "http://127.0.0.1:9"
    )
    assert moved == "http://127.0.0.1:9/wp-json/wc/v3/products?page=2"


def test_auto_auth_is_basic_over_https_and_oauth1_over_http() -> None:
    assert settings().auth_mode == "basic"
    assert settings(url="http://shop.example.com").auth_mode == "oauth1"
    assert settings(base_url="http://127.0.0.1:8080").auth_mode == "oauth1"


def test_api_root_keeps_the_site_path_and_base_url_replaces_the_host() -> None:
    s = settings(url="https://example.com/shop/", base_url="http://127.0.0.1:8080")
    assert s.api_root == "http://127.0.0.1:8080/shop/wp-json/wc/v3"
    assert settings(url="https://example.com/wp-json/wc/v3").api_root == "https://example.com/wp-json/wc/v3"


@pytest.mark.parametrize("mode", ["basic", "query"])
def test_forced_secret_in_clear_to_a_remote_host_is_a_config_error(mode: str) -> None:
    with pytest.raises(ValidationError) as info:
        settings(url="http://shop.example.com", auth=mode)
    text = str(info.value)
    assert "consumer_secret" in text and "oauth1" in text
    assert SECRET not in text


def test_basic_over_plain_http_is_allowed_to_loopback_only() -> None:
    assert settings(url="http://127.0.0.1:8080", auth="basic").auth_mode == "basic"


def test_secrets_do_not_show_in_repr() -> None:
    s = settings()
    assert SECRET not in repr(s) and KEY not in repr(s)
    assert SECRET not in repr(OAuth1Auth(KEY, SECRET))
