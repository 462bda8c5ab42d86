"""The HubSpot sandbox refuses what HubSpot's published OpenAPI document refuses, in HubSpot's error
shape, and answers upserts with only what HubSpot returns. Driven over ASGI, without the connector."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from connectors.hubspot.sandbox import ALWAYS_RETURNED, create_app
from hub.sandbox.seed import demo_store

TOKEN = "pat-eu1-SECRET-0123456789"
UPSERT = "/crm/v3/objects/contacts/batch/upsert"
SEARCH = "/crm/v3/objects/contacts/search"


@pytest.fixture
async def api() -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    app = create_app(demo_store(), access_token=TOKEN)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://hubspot.test", headers=headers) as client:
        yield client, app.state.sandbox


def upsert(email: str, **properties: Any) -> dict[str, Any]:
    return {"id": email, "idProperty": "email", "properties": properties}


def assert_hubspot_error(response: httpx.Response, where: str, message: str) -> None:
    body = response.json()
    assert response.status_code == 400
    assert (body["status"], body["category"]) == ("error", "VALIDATION_ERROR") and body["correlationId"]
    assert {"in": where, "message": message} in body["errors"], body["errors"]
    assert where in body["message"]


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ({"inputs": [upsert("a@x.co", loyalty_points=3)]}, "inputs[0].properties.loyalty_points",
         "integer where the documentation asks for string"),
        ({"inputs": [{**upsert("a@x.co"), "email": "a@x.co"}]}, "inputs[0].email", "not a documented field"),
        ({"inputs": [{"id": "a@x.co", "idProperty": "email"}]}, "inputs[0].properties",
         "required by the documentation, missing"),
        ({"inputs": [upsert("a@x.co", firstname=None)]}, "inputs[0].properties.firstname",
         "null where the documentation asks for string"),
        ({"contacts": []}, "inputs", "required by the documentation, missing"),
    ],
)  # fmt: skip
async def test_an_upsert_the_schema_refuses_is_a_400_in_hubspots_shape(
    api: tuple[httpx.AsyncClient, Any], body: dict[str, Any], where: str, message: str
) -> None:
    client, state = api
    before = {c["id"]: dict(c["properties"]) for c in state.contacts.values()}
    assert_hubspot_error(await client.post(UPSERT, json=body), where, message)
    assert {c["id"]: c["properties"] for c in state.contacts.values()} == before  # nothing written


async def test_a_body_that_is_not_json_is_refused(api: tuple[httpx.AsyncClient, Any]) -> None:
    client, _ = api
    response = await client.post(UPSERT, content=b'{"inputs": [', headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["category"] == "VALIDATION_ERROR"


async def test_a_search_is_held_to_the_guide_where_it_corrects_the_document(api: tuple[httpx.AsyncClient, Any]) -> None:
    client, _ = api
    as_the_guide_writes = {
        "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"}]}],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "limit": 2,
    }
    assert (await client.post(SEARCH, json=as_the_guide_writes)).status_code == 200
    wrong_direction = {**as_the_guide_writes, "sorts": [{"propertyName": "lastmodifieddate", "direction": "UP"}]}
    assert_hubspot_error(
        await client.post(SEARCH, json=wrong_direction),
        "sorts[0].direction",
        "'UP' is not one of the documented values (ASCENDING, DESCENDING)",
    )
    bad_operator = {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE", "value": "a"}]}]}
    response = await client.post(SEARCH, json=bad_operator)
    assert response.status_code == 400 and response.json()["errors"][0]["in"] == "filterGroups[0].filters[0].operator"


async def test_an_upsert_answers_with_the_contact_not_the_values_written(api: tuple[httpx.AsyncClient, Any]) -> None:
    client, state = api
    giulia = state.contact("giulia.rossi@example.com")
    state.add_secondary_email("giulia.rossi@example.com", "G.Rossi@Example.org")
    count = len(state.contacts)
    response = await client.post(UPSERT, json={"inputs": [upsert("g.rossi@example.org", firstname="Giulietta")]})
    (result,) = response.json()["results"]
    assert response.status_code == 200 and (result["id"], result["new"]) == (giulia["id"], False)
    assert set(result["properties"]) == set(ALWAYS_RETURNED)  # neither the e-mail nor the value written
    assert len(state.contacts) == count and giulia["properties"]["firstname"] == "Giulietta"
