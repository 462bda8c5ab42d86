"""Redaction: registered secrets, secret query parameters and headers, and the logging hooks."""

from __future__ import annotations

import logging
import sys

import pytest

from hub.redact import MASK, RedactingFilter, install_log_redaction, redact, register_secret, secrets
from tests.conftest import TEST_SECRETS

SHOPIFY, WOO_KEY, WOO_SECRET, HUBSPOT, MAILCHIMP, WMS, SMTP, SQUARE = TEST_SECRETS


@pytest.fixture(autouse=True)
def _registered() -> None:
    for secret in TEST_SECRETS:
        register_secret(secret)


def test_registered_secrets_are_masked_anywhere_in_the_text() -> None:
    text = f"value {SHOPIFY}; key {WMS} inside/{MAILCHIMP}/path and {SMTP}."
    out = redact(text)
    for secret in (SHOPIFY, WMS, MAILCHIMP, SMTP):
        assert secret not in out
    assert out == f"value {MASK}; key {MASK} inside/{MASK}/path and {MASK}."
    assert set(TEST_SECRETS) <= secrets()


def test_a_secret_that_contains_another_is_masked_whole() -> None:
    short = "abcdef-inner"
    long = "prefix-abcdef-inner-suffix"
    register_secret(short)
    register_secret(long)
    assert redact(f"x {long} y {short}") == f"x {MASK} y {MASK}"


def test_secrets_with_regex_characters_are_matched_literally() -> None:
    odd = "s3cr+t.(x)*[y]"
    register_secret(odd)
    assert redact(f"a {odd} b") == f"a {MASK} b"
    assert redact("a s3crrt.(x)*[y] b") == "a s3crrt.(x)*[y] b"


def test_empty_or_blank_values_are_not_treated_as_secrets() -> None:
    before = secrets()
    register_secret("")
    register_secret("   ")
    register_secret(None)
    assert secrets() == before
    assert redact("a b  c") == "a b  c"


def test_a_short_secret_echoed_by_a_platform_is_masked() -> None:
    register_secret("k1234")
    assert redact("401: invalid api key k1234") == f"401: invalid api key {MASK}"
    assert redact('{"error": "bad key", "key": "k1234"}') == f'{{"error": "bad key", "key": "{MASK}"}}'
    assert redact("GET /x?page=2&key=k1234&y=1") == f"GET /x?page=2&key={MASK}&y=1"


def test_a_short_secret_is_masked_only_as_a_whole_token() -> None:
    register_secret("zq")
    assert redact("password zq refused") == f"password {MASK} refused"
    assert redact("(zq), zq. zq:zq") == f"({MASK}), {MASK}. {MASK}:{MASK}"
    # the same letters inside a word, a number or an identifier are not the secret
    assert redact("zqx xzq zq2 zq_a a_zq") == "zqx xzq zq2 zq_a a_zq"


def test_a_secret_after_a_percent_escape_is_masked() -> None:
    register_secret("k9z8")
    assert redact("GET&https%3A%2F%2Fx%2Fp&consumer_key%3Dk9z8%26page%3D2") == (
        f"GET&https%3A%2F%2Fx%2Fp&consumer_key%3D{MASK}%26page%3D2"
    )
    assert redact("Bearer%20k9z8") == f"Bearer%20{MASK}"


def test_a_secret_ending_in_punctuation_needs_no_boundary_there() -> None:
    register_secret("pw!")
    assert redact("pw!word and xpw!") == f"{MASK}word and xpw!"


def test_non_strings_are_rendered_then_masked() -> None:
    assert redact(ValueError(f"bad {HUBSPOT}")) == f"bad {MASK}"
    assert redact(12345) == "12345"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET https://shop.example.com/wp-json/wc/v3/products?consumer_key=ck_x1&consumer_secret=cs_y2&page=2",
            "GET https://shop.example.com/wp-json/wc/v3/products?consumer_key=***&consumer_secret=***&page=2",
        ),
        ("/x?oauth_consumer_key=k1&oauth_signature=s1%3D", "/x?oauth_consumer_key=***&oauth_signature=***"),
        ("/x?api_key=k&apikey=k&hapikey=k&access_token=t", "/x?api_key=***&apikey=***&hapikey=***&access_token=***"),
        ("/x?Password=hunter2 next", "/x?Password=*** next"),
        ("/x?page=2&per_page=100", "/x?page=2&per_page=100"),
    ],
)
def test_secret_query_parameters_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer unregistered-token-1", "Authorization: ***"),
        ("authorization: Basic dXNlcjpwYXNz", "authorization: ***"),
        ("X-Shopify-Access-Token: shpat_unregistered", "X-Shopify-Access-Token: ***"),
        ("{'authorization': 'Bearer abc', 'accept': 'json'}", "{'authorization': '***', 'accept': 'json'}"),
        ('{"X-Shopify-Access-Token": "shpat_zz", "A": "j"}', '{"X-Shopify-Access-Token": "***", "A": "j"}'),
        ("x-api-key=abc123", "x-api-key=***"),
        ("Accept: application/json", "Accept: application/json"),
    ],
)
def test_secret_headers_are_masked_even_when_not_registered(text: str, expected: str) -> None:
    assert redact(text) == expected


def _record(msg: str, args: object = None, exc_info: object = None) -> logging.LogRecord:
    # A LogRecord built directly does not go through the (redacting) record factory.
    return logging.LogRecord("omnihub.test", logging.INFO, __file__, 1, msg, args, exc_info)  # type: ignore[arg-type]


def test_filter_masks_message_arguments() -> None:
    record = _record("calling %s with %s", (f"https://x/?token={WOO_KEY}", {"auth": WOO_SECRET}))
    assert RedactingFilter().filter(record) is True
    assert record.args is None
    assert WOO_KEY not in record.getMessage()
    assert WOO_SECRET not in record.getMessage()
    assert record.getMessage() == "calling https://x/?token=*** with {'auth': '***'}"


def test_filter_masks_exception_text() -> None:
    try:
        raise RuntimeError(f"platform refused {SHOPIFY}")
    except RuntimeError:
        record = _record("failed", exc_info=sys.exc_info())
    RedactingFilter().filter(record)
    assert record.exc_info is None
    assert record.exc_text is not None
    assert "RuntimeError: platform refused ***" in record.exc_text
    assert SHOPIFY not in record.exc_text
    formatted = logging.Formatter().format(record)
    assert SHOPIFY not in formatted
    assert "platform refused ***" in formatted


def test_filter_keeps_a_record_with_a_broken_format_string() -> None:
    record = _record(f"bad %d format {WMS}", ("not a number",))
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == f"bad %d format {MASK}"


def test_record_factory_masks_every_logger(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent: wrapping twice would still work, but must not stack
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("httpcore.http11").debug("headers %s", [("Link", f"<x?oauth_consumer_key={WOO_KEY}>")])
        logging.getLogger("some.library").warning("token %s", HUBSPOT)
        try:
            raise ValueError(MAILCHIMP)
        except ValueError:
            logging.getLogger("omnihub.x").exception("boom")
    text = caplog.text
    assert text.count(MASK) >= 3
    for secret in (WOO_KEY, HUBSPOT, MAILCHIMP):
        assert secret not in text
    assert "ValueError: ***" in text
