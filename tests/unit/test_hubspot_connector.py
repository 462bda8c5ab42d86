"""The hubspot connector with HTTP mocked by respx: mapping, requests sent, every error path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.hubspot.client import HubSpotClient
from hub.errors import AuthError, FatalError
from hub.model.base import Entity, RecordInvalid
from hub.model.customers import Customer
from hub.plugins.contract import Change, ConnectorContext, RawRecord
from hub.plugins.mapping import load_mapping

TOKEN = "pat-eu1-SECRET-0123456789"
API = "https://api.hubapi.com/crm/v3/objects/contacts"

#: A contact as HubSpot's v3 list answers it (ids and values made up, shape as documented).
CONTACT = {
    "id": "51",
    "properties": {
        "createdate": "2025-09-12T08:15:02.316Z",
        "email": " Giulia.Rossi@Example.com ",
        "firstname": "Giulia",
        "lastname": "",
        "phone": "+39 347 123 4567",
        "email_marketing": "subscribed",
        "loyalty_points": "1200",
        "hs_object_id": "51",
        "lastmodifieddate": "2026-02-03T10:20:30.456Z",
    },
    "createdAt": "2025-09-12T08:15:02.316Z",
    "updatedAt": "2026-02-03T10:20:30.456Z",
    "archived": False,
}


def settings(**extra: Any) -> HubSpotSettings:
    return HubSpotSettings(access_token=TOKEN, **extra)


def canonical(conn: HubSpotConnector, contact: dict[str, Any]) -> Customer:
    record = conn.mapping.to_canonical(RawRecord(conn._row(contact)))
    assert isinstance(record, Customer)
    return record


def change(key: str, values: dict[str, Any], *, record: Customer | None = None, link: bool = True) -> Change:
    return Change(Entity.customers, key, "crm", values, {}, record, {"contact_id": "51"} if link else {}, "k")


async def no_sleep(seconds: float) -> None:
    sleeps.append(seconds)


sleeps: list[float] = []


def test_a_contact_maps_to_a_canonical_customer() -> None:
    customer = canonical(HubSpotConnector("crm", settings()), CONTACT)
    assert customer.email == "giulia.rossi@example.com"
    assert (customer.first_name, customer.last_name, customer.phone) == ("Giulia", None, "+393471234567")
    assert customer.email_marketing == "subscribed" and customer.loyalty_points == 1200
    assert customer.updated_at is not None and customer.updated_at.isoformat() == "2026-02-03T10:20:30.456000+00:00"


def test_missing_properties_give_defaults_and_a_missing_email_is_refused() -> None:
    conn = HubSpotConnector("crm", settings())
    bare = canonical(conn, {"id": "7", "properties": {"email": "a@b.co", "email_marketing": None}})
    assert bare.email_marketing == "never" and bare.loyalty_points is None
    with pytest.raises(RecordInvalid, match="email"):
        canonical(conn, {"id": "8", "properties": {"firstname": "No mail"}})
    with pytest.raises(RecordInvalid, match="email_marketing"):
        canonical(conn, {"id": "9", "properties": {"email": "a@b.co", "email_marketing": "maybe"}})


def test_consent_can_come_from_hs_email_optout_with_a_user_mapping(tmp_path: Path) -> None:
    shipped = Path(__file__).parents[2] / "mappings" / "hubspot.yaml"
    text = shipped.read_text().replace(
        "map: {subscribed: subscribed, unsubscribed: unsubscribed, never: never}",
        'map: {"false": never, "true": unsubscribed}',
    )
    (tmp_path / "mine.yaml").write_text(text)
    config = settings(consent_property="hs_email_optout", loyalty_property=None, mapping="mine.yaml")
    mapping = load_mapping("hubspot", user_file=config.mapping, base_dir=tmp_path)
    conn = HubSpotConnector("crm", config, ConnectorContext(mapping=mapping, base_dir=tmp_path))
    optout = {"id": "3", "properties": {"email": "x@y.co", "hs_email_optout": "true", "loyalty_points": "9"}}
    customer = canonical(conn, optout)
    assert customer.email_marketing == "unsubscribed" and customer.loyalty_points is None
    assert "hs_email_optout" in config.read_properties() and "loyalty_points" not in config.read_properties()
    assert conn._properties(change("x@y.co", {"email_marketing": "unsubscribed"})) == {"hs_email_optout": "true"}


def test_a_new_contact_is_written_whole_and_an_update_only_in_what_changed() -> None:
    conn = HubSpotConnector("crm", settings(consent_property="newsletter", loyalty_property="points"))
    record = Customer(email="n@x.co", first_name="N", email_marketing="subscribed", loyalty_points=4)
    assert conn._properties(change("n@x.co", {}, record=record, link=False)) == {
        "firstname": "N",
        "lastname": "",
        "phone": "",
        "newsletter": "subscribed",
        "points": "4",
    }
    assert conn._properties(change("n@x.co", {"loyalty_points": None, "tags": ("a",)}, record=record)) == {"points": ""}


@respx.mock
async def test_full_pull_pages_with_after_and_asks_for_every_property() -> None:
    route = respx.get(API).mock(
        side_effect=[
            httpx.Response(200, json={"results": [CONTACT], "paging": {"next": {"after": "52"}}}),
            httpx.Response(200, json={"results": [{**CONTACT, "id": "52"}]}),
        ]
    )
    async with HubSpotConnector("crm", settings()) as conn:
        pages = [page async for page in conn.pull(Entity.customers)]
    first, second = (call.request for call in route.calls)
    assert first.url.params["limit"] == "100" and "after" not in first.url.params
    assert first.url.params["properties"].split(",") == [
        "email", "firstname", "lastname", "phone", "email_marketing", "lastmodifieddate", "loyalty_points",
    ]  # fmt: skip
    assert second.url.params["after"] == "52"
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert [r.link for p in pages for r in p.records] == [{"contact_id": "51"}, {"contact_id": "52"}]
    assert pages[-1].cursor == "2026-02-03T10:20:30.456Z" and pages[-1].complete


def _found(contact_id: str, ms_iso: str) -> dict[str, Any]:
    return {"id": contact_id, "properties": {"email": f"{contact_id}@x.co", "lastmodifieddate": ms_iso}}


@respx.mock
async def test_incremental_search_restarts_from_the_newest_time_instead_of_paging_by_offset() -> None:
    route = respx.post(f"{API}/search").mock(
        side_effect=[
            httpx.Response(
                200,
                json={
                    "total": 3,
                    "results": [_found("1", "2026-01-01T00:00:00.000Z"), _found("2", "2026-01-01T00:00:01.000Z")],
                    "paging": {"next": {"after": "2"}},
                },
            ),
            httpx.Response(
                200,
                json={
                    "total": 2,
                    "results": [_found("2", "2026-01-01T00:00:01.000Z"), _found("3", "2026-01-01T00:00:02.000Z")],
                },
            ),
        ]
    )
    async with HubSpotConnector("crm", settings()) as conn:
        pages = [page async for page in conn.pull(Entity.customers, since="2026-01-01T00:00:00.000Z")]
    bodies = [json.loads(call.request.content) for call in route.calls]
    assert bodies[0]["filterGroups"] == [
        {"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "1767225600000"}]}
    ]
    assert bodies[0]["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    assert bodies[0]["limit"] == 200 and "after" not in bodies[0]
    assert bodies[1]["filterGroups"][0]["filters"][0]["value"] == "1767225601000" and "after" not in bodies[1]
    assert [r.data["id"] for p in pages for r in p.records] == ["1", "2", "3"]  # "2" is not yielded twice
    assert not pages[-1].complete and pages[-1].cursor == "2026-01-01T00:00:02.000Z"


@respx.mock
async def test_a_207_turns_each_error_into_a_result_and_the_rest_into_successes() -> None:
    answer = {
        "status": "COMPLETE",
        "results": [{"id": "51", "new": False, "properties": {"email": "ok@x.co"}}],
        "numErrors": 2,
        "errors": [
            {"status": "error", "category": "VALIDATION_ERROR", "message": "Email address bad@x.co is invalid",
             "context": {"ids": ["bad@x.co"]}, "errors": [{"message": "invalid", "code": "INVALID_EMAIL"}]},
            {"status": "error", "category": "VALIDATION_ERROR", "message": "no ids here", "context": {}},
        ],
    }  # fmt: skip
    route = respx.post(f"{API}/batch/upsert").mock(return_value=httpx.Response(207, json=answer))
    async with HubSpotConnector("crm", settings()) as conn:
        results = await conn.push(
            Entity.customers,
            [change("ok@x.co", {"first_name": "A"}), change("bad@x.co", {"first_name": "B"}), change("lost@x.co", {})],
        )
    sent = json.loads(route.calls.last.request.content)["inputs"]
    assert sent[0] == {"id": "ok@x.co", "idProperty": "email", "properties": {"firstname": "A"}}
    ok, bad, lost = results
    assert ok.ok and ok.link == {"contact_id": "51"}
    assert (bad.ok, bad.code, bad.message, bad.retriable) == (
        False,
        "INVALID_EMAIL",
        "Email address bad@x.co is invalid",
        False,
    )
    assert (lost.ok, lost.retriable, lost.code) == (False, True, "UNCONFIRMED")


def linked(key: str, values: dict[str, Any], contact_id: str) -> Change:
    return Change(Entity.customers, key, "crm", values, {}, None, {"contact_id": contact_id}, "k")


def upsert_result(contact_id: str, **properties: str) -> dict[str, Any]:
    """A batch upsert result as HubSpot documents it: the contact, not the input it answers."""
    stamp = "2026-02-03T10:20:30.456Z"
    return {"id": contact_id, "new": False, "properties": properties, "createdAt": stamp, "updatedAt": stamp,
            "archived": False}  # fmt: skip


@respx.mock
async def test_successes_with_empty_properties_are_matched_by_contact_id_and_never_retried() -> None:
    answer = {"status": "COMPLETE", "results": [upsert_result("77"), upsert_result("51")]}
    respx.post(f"{API}/batch/upsert").mock(return_value=httpx.Response(200, json=answer))
    async with HubSpotConnector("crm", settings()) as conn:
        first, second = await conn.push(
            Entity.customers, [linked("a@x.co", {"first_name": "A"}, "51"), linked("b@x.co", {"first_name": "B"}, "77")]
        )
    assert (first.ok, first.retriable, first.link) == (True, False, {"contact_id": "51"})
    assert (second.ok, second.retriable, second.link) == (True, False, {"contact_id": "77"})


@respx.mock
async def test_a_secondary_email_match_answers_the_input_that_was_sent() -> None:
    """``alt@x.co`` is a secondary address of contact 90, whose primary e-mail comes back instead."""
    answer = {"status": "COMPLETE", "results": [upsert_result("90", email="primary@x.co"), upsert_result("51")]}
    respx.post(f"{API}/batch/upsert").mock(return_value=httpx.Response(200, json=answer))
    async with HubSpotConnector("crm", settings()) as conn:
        alt, known = await conn.push(
            Entity.customers, [change("alt@x.co", {"first_name": "A"}, link=False), linked("k@x.co", {}, "51")]
        )
    assert (alt.ok, alt.link) == (True, {"contact_id": "90"})
    assert (known.ok, known.link) == (True, {"contact_id": "51"})


@respx.mock
async def test_results_that_cannot_be_told_apart_are_confirmed_only_when_the_count_proves_it() -> None:
    new = [change(f"n{i}@x.co", {"first_name": "N"}, link=False) for i in range(3)]
    counted = {"status": "COMPLETE", "results": [upsert_result("1"), upsert_result("2"), upsert_result("3")]}
    unplaced = {"status": "error", "category": "VALIDATION_ERROR", "message": "something", "context": {}}
    short = {**counted, "results": counted["results"][:2], "errors": [unplaced], "numErrors": 1}
    respx.post(f"{API}/batch/upsert").mock(
        side_effect=[httpx.Response(200, json=counted), httpx.Response(207, json=short)]
    )
    async with HubSpotConnector("crm", settings()) as conn:
        proven = await conn.push(Entity.customers, new)
        unproven = await conn.push(Entity.customers, new)
    assert [(r.ok, r.link) for r in proven] == [(True, None)] * 3  # written, but which contact is whose is unknown
    assert [(r.ok, r.retriable, r.code) for r in unproven] == [(False, True, "UNCONFIRMED")] * 3


@respx.mock
async def test_401_is_an_auth_error_naming_the_setting_without_the_token() -> None:
    body = {"status": "error", "message": "Authentication credentials not found.", "correlationId": "c",
            "category": "INVALID_AUTHENTICATION"}  # fmt: skip
    route = respx.get(API).mock(return_value=httpx.Response(401, json=body))
    async with HubSpotConnector("crm", settings()) as conn:
        with pytest.raises(AuthError) as caught:
            await conn.ping()
    assert route.call_count == 1
    assert "access_token" in str(caught.value) and "[crm]" in str(caught.value)
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)


@respx.mock
async def test_a_refused_batch_is_a_fatal_error_with_hubspots_message() -> None:
    body = {
        "status": "error",
        "message": "Batch input limit exceeded",
        "correlationId": "c",
        "category": "VALIDATION_ERROR",
    }
    respx.post(f"{API}/batch/upsert").mock(return_value=httpx.Response(400, json=body))
    async with HubSpotConnector("crm", settings()) as conn:
        with pytest.raises(FatalError, match="VALIDATION_ERROR: Batch input limit exceeded"):
            await conn.push(Entity.customers, [change("a@x.co", {"first_name": "A"})])


@respx.mock
async def test_429_waits_for_retry_after_and_5xx_upserts_are_retried() -> None:
    limited = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
               "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING", "correlationId": "c"}  # fmt: skip
    respx.get(API).mock(
        side_effect=[
            httpx.Response(429, json=limited, headers={"Retry-After": "3"}),
            httpx.Response(200, json={"results": []}),
        ]
    )
    upsert = respx.post(f"{API}/batch/upsert").mock(
        side_effect=[httpx.Response(502, text="bad gateway"), httpx.Response(200, json={"results": []})]
    )
    sleeps.clear()
    client = HubSpotClient("crm", settings(), sleep=no_sleep)
    try:
        pages = [page async for page in client.list_contacts()]
        await client.batch_upsert([{"id": "a@x.co", "idProperty": "email", "properties": {}}])
    finally:
        await client.aclose()
    assert pages[0].contacts == [] and sleeps[0] == 3.0
    assert upsert.call_count == 2 and client.transport.stats.throttled == 1


@respx.mock
async def test_an_answer_without_results_is_refused() -> None:
    respx.get(API).mock(return_value=httpx.Response(200, json={"message": "odd"}))
    async with HubSpotConnector("crm", settings()) as conn:
        with pytest.raises(FatalError, match="without a list of records at `results`"):
            [page async for page in conn.pull(Entity.customers)]


def test_settings_keep_the_token_secret_and_check_the_tier() -> None:
    config = settings(base_url="http://127.0.0.1:9")
    assert TOKEN not in repr(config) and config.api_root() == "http://127.0.0.1:9/crm/v3"
    with pytest.raises(ValidationError) as caught:
        HubSpotSettings(access_token=TOKEN, rate_limit_tier=150)  # type: ignore[arg-type]
    assert TOKEN not in str(caught.value)
    with pytest.raises(ValidationError):
        settings(page_size=101)


async def test_only_customers_are_handled() -> None:
    async with HubSpotConnector("crm", settings()) as conn:
        with pytest.raises(NotImplementedError, match="customers only"):
            await conn.pull(Entity.prices).__anext__()
        with pytest.raises(NotImplementedError, match="customers only"):
            await conn.push(Entity.stock, [])


async def test_an_http_transport_given_to_the_connector_carries_its_calls() -> None:
    """The ``http_transport=`` seam every client connector inherits: calls go through it, not the
    network (and not respx)."""
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json={"results": [], "paging": None})

    async with HubSpotConnector("crm", settings(), http_transport=httpx.MockTransport(answer)) as conn:
        await conn.ping()
    assert seen == ["/crm/v3/objects/contacts"]
