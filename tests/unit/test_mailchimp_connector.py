"""The mailchimp connector with HTTP mocked by respx: mapping, the consent rule, every error path."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from connectors.mailchimp import MailchimpConnector, MailchimpSettings
from connectors.mailchimp import consent as rule
from connectors.mailchimp.spec import marketing_spec
from hub.errors import AuthError, ConfigError, FatalError
from hub.model.base import Consent, Entity
from hub.model.customers import Customer
from hub.plugins.contract import Change, RawRecord
from hub.sandbox.kit import request_schema, schema_problems

KEY = "SECRETmc0123456789abcdef-us21"
API = "https://us21.api.mailchimp.com/3.0"
ROOT = f"{API}/lists/a1b2c3"
#: Where Mailchimp keeps a finished job's results: storage on another host, reached without the key.
ARCHIVE = "https://mailchimp-api-batch.s3.amazonaws.com/j1-response.tar.gz"

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
    return MailchimpSettings(api_key=KEY, list_id="a1b2c3", **{"merge_fields": merge, "batch_poll_s": 0.01, **extra})


def documented(slice_name: str, method: str, path: str, body: Any) -> list[str]:
    """What the published spec finds wrong with ``body`` (empty when it conforms)."""
    spec = marketing_spec(slice_name)
    return [str(p) for p in schema_problems(request_schema(spec, method, path), body, spec=spec)]


def archive(*results: dict[str, Any]) -> bytes:
    """A ``/batches`` results archive: a gzipped tar of JSON arrays of operation results."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = json.dumps(list(results)).encode()
        info = tarfile.TarInfo("j1/0.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def outcome(operation_id: str, status: int, body: Any) -> dict[str, Any]:
    return {"status_code": status, "operation_id": operation_id, "response": json.dumps(body) if body else ""}


def mock_job(*results: dict[str, Any], pending: int = 1) -> tuple[respx.Route, respx.Route, respx.Route]:
    """``/batches`` answering: started, ``pending`` reads while it runs, finished, then the archive."""
    started = respx.post(f"{API}/batches").mock(
        return_value=httpx.Response(200, json={"id": "j1", "status": "pending"})
    )
    finished = {"id": "j1", "status": "finished", "response_body_url": ARCHIVE}
    reads = [httpx.Response(200, json={"id": "j1", "status": "started"})] * pending + [
        httpx.Response(200, json=finished)
    ]
    polled = respx.get(f"{API}/batches/j1").mock(side_effect=reads)
    fetched = respx.get(ARCHIVE).mock(return_value=httpx.Response(200, content=archive(*results)))
    return started, polled, fetched


def operations(route: respx.Route) -> list[dict[str, Any]]:
    return list(json.loads(route.calls.last.request.content)["operations"])


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
    operation = MailchimpConnector("news", settings())._write(change("a@x.co", values)).put("a1b2c3")
    body = json.loads(operation["body"])
    assert body == {"email_address": "a@x.co", **expected}
    assert operation["path"] == "/lists/a1b2c3/members/7c8798e21a740830b5b76bdfc33a240b"  # md5 of the address
    assert documented("members", "PUT", "/lists/{list_id}/members/{subscriber_hash}", body) == []


def test_a_new_member_carries_the_whole_record_and_its_tags_go_by_the_tags_endpoint() -> None:
    record = Customer(email="n@x.co", first_name="N", email_marketing="subscribed", tags=("web",), loyalty_points=2)
    write = MailchimpConnector("news", settings())._write(change("n@x.co", {}, record=record, link=False))
    member = write.subscribe_member()
    assert member == {
        "email_address": "n@x.co",
        "status": "subscribed",
        "merge_fields": {"FNAME": "N", "LNAME": "", "PHONE": "", "POINTS": 2},
    }
    assert json.loads(write.tag("a1b2c3")["body"]) == {"tags": [{"name": "web", "status": "active"}]}


def test_with_sync_tags_dropped_tags_are_made_inactive() -> None:
    moved = change("a@x.co", {"tags": ("keep", "new")}, previous={"tags": ("keep", "old")})
    synced = MailchimpConnector("news", settings(sync_tags=True))._write(moved).tags
    assert [(t["name"], t["status"]) for t in synced] == [("keep", "active"), ("new", "active"), ("old", "inactive")]
    assert [t["status"] for t in MailchimpConnector("news", settings())._write(moved).tags] == ["active", "active"]
    assert MailchimpConnector("news", settings())._write(change("a@x.co", {"first_name": "A"})).tags == ()


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
                change("bad@x.co", {}, link=False),
                change("s@x.co", {}, link=False),
            ],
        )
    body = json.loads(route.calls.last.request.content)
    assert body["update_existing"] is False and len(body["members"]) == 3
    assert new.ok and new.link == {"subscriber_hash": "h1"}
    assert (bad.ok, bad.code, bad.message) == (False, "ERROR_GENERIC", "bad@x.co looks fake or invalid")
    assert (silent.ok, silent.retriable, silent.code) == (False, True, "UNCONFIRMED")


@respx.mock
async def test_a_batch_subscribe_sends_only_what_the_spec_documents() -> None:
    route = respx.post(ROOT).mock(return_value=httpx.Response(200, json={"new_members": [], "errors": []}))
    record = Customer(email="n@x.co", first_name="N", email_marketing="unsubscribed", tags=("web",))
    async with MailchimpConnector("news", settings(sync_tags=True)) as conn:
        await conn.push(
            Entity.customers,
            [
                change("n@x.co", {}, record=record, link=False),
                change("m@x.co", {"email_marketing": "subscribed"}, link=False),
            ],
        )
    body = json.loads(route.calls.last.request.content)
    assert documented("batch-subscribe", "POST", "/lists/{list_id}", body) == []
    assert body["update_existing"] is False  # an address already there keeps its status
    assert [m["status"] for m in body["members"]] == ["unsubscribed", "subscribed"]


@respx.mock
async def test_existing_members_are_written_by_member_puts_in_one_batch_job() -> None:
    member = {"id": "h", "email_address": "a@x.co", "status": "unsubscribed"}
    refusal = {"type": "https://mailchimp.com/developer/marketing/docs/errors/", "title": "Invalid Resource",
               "status": 400, "detail": "The resource submitted could not be validated.", "instance": "i",
               "errors": [{"field": "merge_fields.POINTS", "message": "POINTS must be a number"}]}  # fmt: skip
    started, polled, fetched = mock_job(
        outcome("0.put", 200, member), outcome("1.put", 400, refusal), outcome("0.tags", 204, None), pending=2
    )
    changes = [
        change("a@x.co", {"email_marketing": "unsubscribed", "tags": ("vip",)}),
        change("b@x.co", {"loyalty_points": 3}),
        change("c@x.co", {"first_name": "C"}),
    ]
    async with MailchimpConnector("news", settings()) as conn:
        unsubscribed, refused, lost = await conn.push(Entity.customers, changes)
    put_a, put_b, put_c, tags_a = operations(started)
    assert [o["operation_id"] for o in (put_a, put_b, put_c, tags_a)] == ["0.put", "1.put", "2.put", "0.tags"]
    for operation in (put_a, put_b, put_c):
        body = json.loads(operation["body"])
        assert operation["method"] == "PUT" and body.get("status") != "subscribed"
        assert documented("members", "PUT", "/lists/{list_id}/members/{subscriber_hash}", body) == []
    assert json.loads(put_a["body"])["status"] == "unsubscribed"
    assert tags_a["method"] == "POST" and tags_a["path"].endswith("/tags")
    assert documented("batches", "POST", "/batches", {"operations": operations(started)}) == []
    assert polled.call_count == 3 and "authorization" not in fetched.calls.last.request.headers
    assert (unsubscribed.ok, unsubscribed.link) == (True, {"subscriber_hash": "h"})
    assert (refused.ok, refused.code) == (False, "Invalid Resource")
    assert (
        refused.message == "The resource submitted could not be validated. merge_fields.POINTS: POINTS must be a number"
    )
    assert (lost.ok, lost.retriable, lost.code) == (False, True, "UNCONFIRMED")


@respx.mock
async def test_an_address_already_in_the_audience_is_put_without_a_subscribe() -> None:
    """The hub did not know the member: batch subscribe leaves it alone, a member PUT writes it."""
    exists = {
        "email_address": "a@x.co",
        "error": "a@x.co is already a list member.",
        "error_code": "ERROR_CONTACT_EXISTS",
    }
    respx.post(ROOT).mock(return_value=httpx.Response(200, json={"new_members": [], "errors": [exists]}))
    member = {"id": "h", "email_address": "a@x.co", "status": "unsubscribed"}
    started, _, _ = mock_job(outcome("0.put", 200, member))
    record = Customer(email="a@x.co", first_name="A", email_marketing="subscribed")
    async with MailchimpConnector("news", settings()) as conn:
        (result,) = await conn.push(Entity.customers, [change("a@x.co", {}, record=record, link=False)])
    (put,) = operations(started)
    assert json.loads(put["body"]) == {"email_address": "a@x.co", "status_if_new": "subscribed", "merge_fields": {
        "FNAME": "A", "LNAME": "", "PHONE": "", "POINTS": ""}}  # fmt: skip
    assert (result.ok, result.stale, result.code) == (False, True, "CONSENT_KEPT")


@respx.mock
async def test_a_batch_job_that_does_not_finish_in_time_leaves_its_changes_to_be_retried() -> None:
    respx.post(f"{API}/batches").mock(return_value=httpx.Response(200, json={"id": "j1", "status": "pending"}))
    respx.get(f"{API}/batches/j1").mock(return_value=httpx.Response(200, json={"id": "j1", "status": "started"}))
    async with MailchimpConnector("news", settings(batch_timeout_s=0.05)) as conn:
        (result,) = await conn.push(Entity.customers, [change("a@x.co", {"first_name": "A"})])
    assert (result.ok, result.retriable, result.code) == (False, True, "UNCONFIRMED")
    assert "still started" in (result.message or "") and "batch_timeout_s" in (result.message or "")


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
            await conn.push(Entity.customers, [change("a@x.co", {"first_name": "A"}, link=False)])


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
