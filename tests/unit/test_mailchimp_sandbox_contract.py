"""The Mailchimp sandbox refuses what Mailchimp's published spec refuses, with Mailchimp's problem
document, and behaves as the API does where consent is at stake. Driven over ASGI, without the connector."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from connectors.mailchimp.sandbox import create_app, subscriber_hash
from hub.sandbox.seed import demo_store

KEY = "SECRETmc0123456789abcdef-us21"
LIST = "/3.0/lists/a1b2c3"


@pytest.fixture
async def api() -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """A client of the sandbox app with the API key, and the app (its state, its archive URLs)."""
    app = create_app(demo_store(), api_key=KEY)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mc.test", auth=("omnihub", KEY)) as client:
        yield client, app


def member_path(email: str) -> str:
    return f"{LIST}/members/{subscriber_hash(email)}"


def assert_invalid_resource(response: httpx.Response, field: str, message: str) -> None:
    body = response.json()
    assert response.status_code == 400 and response.headers["content-type"].startswith("application/problem+json")
    assert (body["type"], body["title"], body["status"]) == (
        "https://mailchimp.com/developer/marketing/docs/errors/",
        "Invalid Resource",
        400,
    )
    assert body["detail"] and body["instance"]
    assert {"field": field, "message": message} in body["errors"], body["errors"]


@pytest.mark.parametrize(
    ("member", "field", "message"),
    [
        ({"email_address": "new@example.com", "status_if_new": "subscribed", "status": "subscribed"},
         "members[0].status_if_new", "not a documented field"),
        ({"email_address": "new@example.com", "status": "subscribed", "tags": ["web"]},
         "members[0].tags", "not a documented field"),
        ({"email_address": "new@example.com"}, "members[0].status", "required by the documentation, missing"),
        ({"email_address": "new@example.com", "status": "archived"}, "members[0].status",
         "'archived' is not one of the documented values (subscribed, unsubscribed, cleaned, pending, transactional)"),
        ({"email_address": "new@example.com", "status": "subscribed", "vip": "yes"}, "members[0].vip",
         "string where the documentation asks for boolean"),
    ],
)  # fmt: skip
async def test_a_batch_subscribe_the_spec_refuses_is_a_400_problem(
    api: tuple[httpx.AsyncClient, Any], member: dict[str, Any], field: str, message: str
) -> None:
    client, app = api
    state = app.state.sandbox
    response = await client.post(LIST, json={"members": [member], "update_existing": False})
    assert_invalid_resource(response, field, message)
    assert state.member("new@example.com") is None


async def test_a_member_put_and_a_tags_post_are_held_to_the_spec(api: tuple[httpx.AsyncClient, Any]) -> None:
    client, app = api
    state = app.state.sandbox
    path = member_path("giulia.rossi@example.com")
    no_status_if_new = await client.put(path, json={"email_address": "giulia.rossi@example.com"})
    assert_invalid_resource(no_status_if_new, "status_if_new", "required by the documentation, missing")
    wrong_tag = await client.post(f"{path}/tags", json={"tags": [{"name": "vip", "status": "on"}]})
    assert_invalid_resource(wrong_tag, "tags[0].status", "'on' is not one of the documented values (inactive, active)")
    assert [t["name"] for t in state.member("giulia.rossi@example.com")["tags"]] == ["vip"]
    tagged = await client.post(f"{path}/tags", json={"tags": [{"name": "vip", "status": "inactive"}]})
    assert tagged.status_code == 204 and state.member("giulia.rossi@example.com")["tags"] == []


async def test_existing_members_keep_their_status_in_a_batch_subscribe_without_update_existing(
    api: tuple[httpx.AsyncClient, Any],
) -> None:
    client, app = api
    state = app.state.sandbox
    member = {"email_address": "luca.neri@example.com", "status": "subscribed", "merge_fields": {"FNAME": "L"}}
    response = await client.post(LIST, json={"members": [member], "update_existing": False})
    (error,) = response.json()["errors"]
    assert response.status_code == 200 and error["error_code"] == "ERROR_CONTACT_EXISTS"
    assert state.member("luca.neri@example.com")["status"] == "unsubscribed"
    assert state.member("luca.neri@example.com")["merge_fields"]["FNAME"] == "Luca"


async def test_a_put_obeys_status_as_the_api_does_except_on_a_cleaned_address(
    api: tuple[httpx.AsyncClient, Any],
) -> None:
    """The sandbox does not protect a client from itself: a PUT with ``status: subscribed``
    re-subscribes an unsubscribed member, so a connector that sent one would be caught."""
    client, app = api
    state = app.state.sandbox
    body = {"email_address": "luca.neri@example.com", "status_if_new": "subscribed", "status": "subscribed"}
    assert (await client.put(member_path("luca.neri@example.com"), json=body)).status_code == 200
    assert state.member("luca.neri@example.com")["status"] == "subscribed"
    state.member("marco.bianchi@example.com")["status"] = "cleaned"
    body = {"email_address": "marco.bianchi@example.com", "status_if_new": "subscribed", "status": "subscribed"}
    refused = await client.put(member_path("marco.bianchi@example.com"), json=body)
    assert (refused.status_code, refused.json()["title"]) == (400, "Member In Compliance State")
    kept = {"email_address": "anna.verdi@example.com", "status_if_new": "subscribed", "merge_fields": {"LNAME": "V"}}
    answer = await client.put(member_path("anna.verdi@example.com"), json=kept)
    assert answer.json()["status"] == "transactional" and answer.json()["merge_fields"]["LNAME"] == "V"


async def test_a_batch_job_runs_each_operation_with_the_same_checks(api: tuple[httpx.AsyncClient, Any]) -> None:
    client, app = api
    state = app.state.sandbox
    good = {"email_address": "anna.verdi@example.com", "status_if_new": "transactional", "merge_fields": {"FNAME": "A"}}
    bad = {"email_address": "marco.bianchi@example.com", "status": "subscribed"}  # no status_if_new
    operations = [put_operation("a", good), put_operation("m", bad)]
    assert_invalid_resource(
        await client.post("/3.0/batches", json={"operations": [{"method": "PUT", "body": "{}"}]}),
        "operations[0].path",
        "required by the documentation, missing",
    )
    started = (await client.post("/3.0/batches", json={"operations": operations})).json()
    assert (started["status"], started["total_operations"]) == ("pending", 2)
    job = started
    while job["status"] != "finished":
        await asyncio.sleep(0.01)
        job = (await client.get(f"/3.0/batches/{started['id']}")).json()
    assert (job["finished_operations"], job["errored_operations"]) == (2, 1)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as storage:  # no credentials
        archive = await storage.get(job["response_body_url"])
    results = {r["operation_id"]: r for r in _results(archive.content)}
    assert results["a"]["status_code"] == 200 and json.loads(results["a"]["response"])["merge_fields"]["FNAME"] == "A"
    assert results["m"]["status_code"] == 400
    assert json.loads(results["m"]["response"])["errors"] == [
        {"field": "status_if_new", "message": "required by the documentation, missing"}
    ]
    assert state.member("marco.bianchi@example.com")["status"] == "subscribed"


def put_operation(operation_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A member PUT as a ``/batches`` operation (its path relative to ``/3.0``)."""
    path = member_path(body["email_address"]).removeprefix("/3.0")
    return {"method": "PUT", "path": path, "body": json.dumps(body), "operation_id": operation_id}


def _results(data: bytes) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for entry in tar:
            handle = tar.extractfile(entry)
            if handle is not None:
                found += json.loads(handle.read())
    return found
