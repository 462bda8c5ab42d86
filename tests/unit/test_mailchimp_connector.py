"""The mailchimp connector with HTTP mocked by respx: mapping, the consent rule, every error path."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from connectors.mailchimp import MailchimpConnector, MailchimpSettings
from connectors.mailchimp import consent as rule
from hub.connector import Change, RawRecord
from hub.errors import AuthError, ConfigError, FatalError
from hub.model import Consent, Customer, Entity

KEY = "SECRETmc0123456789abcdef-us21"
ROOT = "https://us21.api.mailchimp.com/3.0/lists/a1b2c3"

#: A member as Mailchimp's members listing answers it with our ``fields=`` (values made up).
MEMBER = {
    "id": "852aaa9532cb36adfb5e9fef7a4206a9",
    "email_address": "Giulia.Rossi@example.com",
    "status": "cleaned",
    "merge_fields": {"FNAME": "Giulia", "LNAME": "", "PHONE": "0039 347 1234567", "POINTS": 1200},
    "tags": [{"id": 1001, "name": "vip"}, {"id": 1002, "name": "milano"}],
    "last_changed": "2026-02-03T10:20:30+00:00",
}


def settings(**extra: Any) -> MailchimpSettings:
    merge = {"first_name": "FNAME", "last_name": "LNAME", "phone": "PHONE", "loyalty_points": "POINTS"}
    return MailchimpSettings(api_key=KEY, list_id="a1b2c3", **{"merge_fields": merge, **extra})


def change(key: str, values: dict[str, Any], *, record: Customer | None = None, link: bool = True,
           previous: dict[str, Any] | None = None) -> Change:  # fmt: skip
    return Change(
        Entity.customers, key, "news", values, previous or {}, record, {"subscriber_hash": "h"} if link else {}, "k"
    )


def problem(status: int, title: str, detail: str) -> httpx.Response:
    body = {"type": "https://mailchimp.com/developer/marketing/docs/errors/", "title": title, "status": status,
            "detail": detail, "instance": "i-1"}  # fmt: skip
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


def test_a_member_maps_to_a_canonical_customer() -> None:
    conn = MailchimpConnector("news", settings())
    customer = conn.mapping.to_canonical(RawRecord(conn._row(MEMBER)))
    assert isinstance(customer, Customer)
    assert customer.email == "giulia.rossi@example.com"
    assert (customer.first_name, customer.last_name, customer.phone) == ("Giulia", None, "+393471234567")
    assert customer.email_marketing == "unsubscribed"  # cleaned
    assert customer.tags == ("milano", "vip") and customer.loyalty_points == 1200
    assert customer.consent_updated_at == customer.updated_at and customer.updated_at is not None


def test_the_mapping_and_the_consent_rule_read_statuses_alike() -> None:
    conn = MailchimpConnector("news", settings())
    for status, consent in rule.CONSENT_OF_STATUS.items():
        customer = conn.mapping.to_canonical(RawRecord(conn._row({**MEMBER, "status": status})))
        assert customer.email_marketing == consent  # type: ignore[attr-defined]


def test_without_a_points_merge_field_loyalty_is_not_read() -> None:
    conn = MailchimpConnector("news", MailchimpSettings(api_key=KEY, list_id="a1b2c3"))
    customer = conn.mapping.to_canonical(RawRecord(conn._row(MEMBER)))
    assert customer.loyalty_points is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"email_marketing": "subscribed"}, {"status_if_new": "subscribed"}),
        ({"email_marketing": "never"}, {"status_if_new": "transactional"}),
        ({"email_marketing": "unsubscribed"}, {"status_if_new": "unsubscribed", "status": "unsubscribed"}),
        (
            {"first_name": "Ann", "loyalty_points": None},
            {"status_if_new": "transactional", "merge_fields": {"FNAME": "Ann", "POINTS": ""}},
        ),
    ],
)
def test_an_existing_member_is_never_sent_status_subscribed(values: dict[str, Any], expected: dict[str, Any]) -> None:
    member = MailchimpConnector("news", settings())._member(change("a@x.co", values))
    assert member == {"email_address": "a@x.co", **expected}


def test_a_new_member_carries_the_whole_record_and_its_tags() -> None:
    record = Customer(email="n@x.co", first_name="N", email_marketing="subscribed", tags=("web",), loyalty_points=2)
    member = MailchimpConnector("news", settings())._member(change("n@x.co", {}, record=record, link=False))
    assert member == {
        "email_address": "n@x.co",
        "status_if_new": "subscribed",
        "merge_fields": {"FNAME": "N", "LNAME": "", "PHONE": "", "POINTS": 2},
        "tags": ["web"],
    }


def test_with_sync_tags_every_member_carries_its_full_tag_set() -> None:
    conn = MailchimpConnector("news", settings(sync_tags=True))
    assert conn._member(change("a@x.co", {"first_name": "A"}, previous={"tags": ("old",)}))["tags"] == ["old"]
    assert "tags" not in MailchimpConnector("news", settings())._member(change("a@x.co", {"first_name": "A"}))


def test_the_answer_decides_whether_consent_was_applied() -> None:
    kept = rule.check("a@x.co", Consent.subscribed, {"id": "h", "status": "unsubscribed"})
    assert (kept.ok, kept.stale, kept.actual, kept.code) == (
        False,
        True,
        {"email_marketing": "unsubscribed"},
        "CONSENT_KEPT",
    )
    upgrade = rule.check("a@x.co", "subscribed", {"id": "h", "status": "transactional"})
    assert (upgrade.ok, upgrade.stale, upgrade.code) == (False, False, "CONSENT_NOT_CHANGED")
    assert rule.check("a@x.co", "unsubscribed", {"id": "h", "status": "cleaned"}).ok
    assert rule.check("a@x.co", None, {"id": "h", "status": "subscribed"}).link == {"subscriber_hash": "h"}


@respx.mock
async def test_pull_pages_by_offset_and_reads_again_the_cursors_second() -> None:
    route = respx.get(f"{ROOT}/members").mock(
        side_effect=[
            httpx.Response(200, json={"members": [MEMBER], "total_items": 2}),
            httpx.Response(200, json={"members": [{**MEMBER, "email_address": "b@x.co"}], "total_items": 2}),
        ]
    )
    async with MailchimpConnector("news", settings(page_size=1)) as conn:
        pages = [page async for page in conn.pull(Entity.customers, since="2026-02-01T00:00:00+00:00")]
    first, second = (call.request.url.params for call in route.calls)
    assert (first["count"], first["offset"], second["offset"]) == ("1", "0", "1")
    assert first["since_last_changed"] == "2026-01-31T23:59:59+00:00"
    assert "members.status" in first["fields"] and "members._links" not in first["fields"]
    assert route.calls[0].request.headers["authorization"].startswith("Basic ")
    assert pages[-1].cursor == "2026-02-03T10:20:30+00:00" and not pages[-1].complete and pages[0].total == 2


@respx.mock
async def test_errors_in_a_200_become_results_and_silence_is_retried() -> None:
    answer = {
        "new_members": [{"id": "h1", "email_address": "new@x.co", "status": "subscribed"}],
        "updated_members": [],
        "errors": [
            {"email_address": "bad@x.co", "error": "bad@x.co looks fake or invalid", "error_code": "ERROR_GENERIC"}
        ],
        "total_created": 1, "total_updated": 0, "error_count": 1,
    }  # fmt: skip
    route = respx.post(ROOT).mock(return_value=httpx.Response(200, json=answer))
    async with MailchimpConnector("news", settings()) as conn:
        new, bad, silent = await conn.push(
            Entity.customers,
            [
                change("new@x.co", {"email_marketing": "subscribed"}, link=False),
                change("bad@x.co", {}),
                change("s@x.co", {}),
            ],
        )
    body = json.loads(route.calls.last.request.content)
    assert body["update_existing"] is True and body["sync_tags"] is False and len(body["members"]) == 3
    assert new.ok and new.link == {"subscriber_hash": "h1"}
    assert (bad.ok, bad.code, bad.message) == (False, "ERROR_GENERIC", "bad@x.co looks fake or invalid")
    assert (silent.ok, silent.retriable, silent.code) == (False, True, "UNCONFIRMED")


@respx.mock
async def test_401_names_the_api_key_setting_and_404_the_list_id() -> None:
    refusals = [
        problem(401, "API Key Invalid", "Your API key may be invalid"),
        problem(404, "Resource Not Found", "The requested resource could not be found."),
    ]
    respx.get(ROOT).mock(side_effect=refusals)
    async with MailchimpConnector("news", settings()) as conn:
        with pytest.raises(AuthError) as auth:
            await conn.ping()
        with pytest.raises(FatalError, match="list_id"):
            await conn.ping()
    assert "api_key" in str(auth.value) and KEY not in str(auth.value)


@respx.mock
async def test_a_refused_batch_carries_mailchimps_title_and_detail() -> None:
    respx.post(ROOT).mock(return_value=problem(400, "Invalid Resource", "You may only add or update 500 members"))
    async with MailchimpConnector("news", settings()) as conn:
        with pytest.raises(FatalError, match="Invalid Resource: You may only add or update 500 members"):
            await conn.push(Entity.customers, [change("a@x.co", {"first_name": "A"})])


@respx.mock
async def test_a_malformed_page_is_read_again() -> None:
    route = respx.get(f"{ROOT}/members").mock(
        side_effect=[
            httpx.Response(200, content=b'{"members": [', headers={"content-type": "application/json"}),
            httpx.Response(200, json={"members": [MEMBER], "total_items": 1}),
        ]
    )
    async with MailchimpConnector("news", settings()) as conn:
        pages = [page async for page in conn.pull(Entity.customers)]
    assert route.call_count == 2 and len(pages[0].records) == 1 and pages[0].complete


def test_settings_datacenter_limits_and_secrecy() -> None:
    assert settings().api_root() == "https://us21.api.mailchimp.com/3.0"
    assert settings(base_url="http://127.0.0.1:9").api_root() == "http://127.0.0.1:9/3.0"
    with pytest.raises(ConfigError, match="datacenter") as caught:
        MailchimpSettings(api_key="SECRETnodatacenter", list_id="x").api_root()
    assert "SECRETnodatacenter" not in str(caught.value)
    with pytest.raises(ValidationError) as invalid:
        MailchimpSettings(api_key=KEY, list_id="x", max_concurrency=11)
    assert KEY not in str(invalid.value)
    with pytest.raises(ValidationError, match="cannot be a merge field"):
        settings(merge_fields={"email": "EMAIL"})
    assert KEY not in repr(settings())
