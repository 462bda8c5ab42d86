"""A local HubSpot CRM v3 contacts API, faithful where a sync depends on it.

What it simulates: list paging (``limit`` <= 100, ``after``), search (``filterGroups``, ``sorts``,
``limit`` <= 200, ``after`` as an offset, the 10,000-result cap, its own per-second limit), batch
upsert by e-mail (100 inputs at most, a 207 with ``errors`` for invalid e-mails and property
values), the account's 10-second window announced in ``X-HubSpot-RateLimit-*`` headers and a 429
with ``Retry-After`` and HubSpot's body beyond it, HubSpot's error shape, and a 401 for a wrong
token. Every write stamps ``lastmodifieddate`` from a clock that never goes back, so incremental
searches see every change.

Request bodies are checked against HubSpot's published OpenAPI document (``spec/``): an
undocumented field, a missing required one or a value of the wrong type or outside its enum is a
400 in HubSpot's error shape, with one ``errors`` entry per problem. Where HubSpot's own guide
contradicts that document the guide wins, and ``SEARCH_ERRATA`` says where.

Upsert answers carry only what HubSpot returns: the result's ``id`` and the properties HubSpot
always stamps (``hs_object_id``, ``createdate``, ``lastmodifieddate``), not the values written (a
batch upsert cannot ask for properties back). An e-mail that is a contact's secondary address
(``hs_additional_emails``) upserts that contact, so the result names a contact whose primary
address is not the one sent (``state.add_secondary_email``).

``state.change_contact(email, **properties)`` (or ``POST /_sandbox/hubspot/contacts``) edits a
contact as a HubSpot user would, for incremental tests.

The account and its rules are ``sandbox_state``; this module holds the routes, the request checks
and the sandbox plugin.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.sdk import Catalogue, SandboxPlugin, SchemaProblem, request_schema, sandbox_app, schema_problems

from .sandbox_state import ALWAYS_RETURNED, HubSpotState, error_body, iso_ms
from .spec import contacts_spec

__all__ = ["ALWAYS_RETURNED", "API", "PLUGIN", "SEARCH_ERRATA", "HubSpotState", "create_app"]

API = "/crm/v3/objects/contacts"

#: Where HubSpot's CRM search guide (https://developers.hubspot.com/docs/guides/api/crm/search) and
#: the published document disagree, the guide is what the API does: ``sorts`` are
#: ``{propertyName, direction}`` objects (the document says strings), and a search may leave out any
#: of the five fields the document marks required (``after`` on the first page, for one).
SEARCH_ERRATA: dict[str, Any] = {
    "required": [],
    "properties": {
        "sorts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["propertyName"],
                "properties": {
                    "propertyName": {"type": "string"},
                    "direction": {"type": "string", "enum": ["ASCENDING", "DESCENDING"]},
                },
            },
        }
    },
}


Handler = Callable[[Request, HubSpotState], Any]


def _guarded(state: HubSpotState, handler: Handler, *, search: bool = False) -> Callable[[Request], Any]:
    """Authenticate, count against the rate limits and add the rate-limit headers to the answer."""

    async def endpoint(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {state.access_token}":
            return JSONResponse(
                error_body(
                    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
                    "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    "INVALID_AUTHENTICATION",
                ),
                status_code=401,
            )
        allowed, headers, reset_in, policy = state.admit(search)
        if not allowed:
            body = error_body(
                f"You have reached your {policy.lower()} limit.",
                "RATE_LIMITS",
                errorType="RATE_LIMIT",
                policyName=policy,
            )
            body.pop("category")
            headers["Retry-After"] = str(max(1, math.ceil(reset_in)))
            return JSONResponse(body, status_code=429, headers=headers)
        response: Response = await handler(request, state)
        response.headers.update(headers)
        return response

    return endpoint


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse(error_body(message, "VALIDATION_ERROR"), status_code=400)


def _undocumented(problems: list[SchemaProblem]) -> JSONResponse:
    """A body that departs from the published schema: HubSpot's 400, one ``errors`` entry per problem."""
    shown = "; ".join(str(p) for p in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    body = error_body(
        f"Invalid input JSON: {shown}{more}",
        "VALIDATION_ERROR",
        errors=[{"message": p.message, "in": p.where} for p in problems],
    )
    return JSONResponse(body, status_code=400)


async def _json_body(request: Request, schema: dict[str, Any]) -> tuple[Any, JSONResponse | None]:
    """The request's JSON body, or the 400 HubSpot answers when it is not JSON or not as documented."""
    try:
        payload = await request.json()
    except ValueError as exc:
        return None, _bad_request(f"Invalid input JSON on line 1: {exc}")
    problems = schema_problems(schema, payload, spec=contacts_spec())
    return payload, _undocumented(problems) if problems else None


@cache
def _upsert_schema() -> dict[str, Any]:
    return request_schema(contacts_spec(), "POST", f"{API}/batch/upsert")


@cache
def _search_schema() -> dict[str, Any]:
    spec = contacts_spec()
    schema = copy.deepcopy(spec["components"]["schemas"]["PublicObjectSearchRequest"])
    schema["required"] = SEARCH_ERRATA["required"]
    schema["properties"].update(SEARCH_ERRATA["properties"])
    return dict(schema)


async def _list(request: Request, state: HubSpotState) -> Response:
    query = request.query_params
    try:
        limit = int(query.get("limit", "10"))
        after = int(query.get("after", "0") or 0)
    except ValueError:
        return _bad_request("limit and after must be whole numbers")
    if not 1 <= limit <= 100:
        return _bad_request(f"limit must be between 1 and 100, got {limit}")
    properties = [p for p in query.get("properties", "").split(",") if p]
    contacts, more = state.page(after, limit)
    body: dict[str, Any] = {"results": [state.view(c, properties) for c in contacts]}
    if more is not None:
        body["paging"] = {"next": {"after": str(more), "link": f"{request.url.path}?after={more}"}}
    return JSONResponse(body)


async def _search(request: Request, state: HubSpotState) -> Response:
    payload, refusal = await _json_body(request, _search_schema())
    if refusal is not None:
        return refusal
    limit = int(payload.get("limit", 10))
    if not 1 <= limit <= 200:
        return _bad_request(f"limit must be between 1 and 200, got {limit}")
    offset = int(payload.get("after") or 0)
    if offset >= state.search_cap:
        return _bad_request(f"Search results are limited to {state.search_cap} records; narrow the filters")
    found = state.search(payload.get("filterGroups") or [], payload.get("sorts") or [])
    end = min(offset + limit, state.search_cap)
    body: dict[str, Any] = {
        "total": len(found),
        "results": [state.view(c, payload.get("properties") or []) for c in found[offset:end]],
    }
    if end < len(found):
        body["paging"] = {"next": {"after": str(end)}}
    return JSONResponse(body)


async def _upsert(request: Request, state: HubSpotState) -> Response:
    payload, refusal = await _json_body(request, _upsert_schema())
    if refusal is not None:
        return refusal
    inputs = payload["inputs"]
    if not inputs:
        return _bad_request("inputs must be a non-empty list")
    if len(inputs) > state.batch_max:
        return _bad_request(f"Batch input limit exceeded: at most {state.batch_max} inputs, got {len(inputs)}")
    results, errors = state.upsert(inputs)
    stamp = iso_ms(int(time.time() * 1000))
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": stamp, "completedAt": stamp}
    if errors:
        body.update(errors=errors, numErrors=len(errors))
    return JSONResponse(body, status_code=207 if errors else 200)


async def _change(request: Request) -> Response:
    state: HubSpotState = request.app.state.sandbox
    payload = await request.json()
    try:
        contact = state.change_contact(payload["email"], **payload.get("properties", {}))
    except KeyError:
        return JSONResponse(error_body("no such contact", "OBJECT_NOT_FOUND"), status_code=404)
    return JSONResponse(contact)


def create_app(catalogue: Catalogue | None = None, **options: Any) -> Any:
    """The HubSpot sandbox app, seeded with ``catalogue.customers`` as contacts.

    ``options`` are ``HubSpotState``'s fields (``access_token``, ``limit_per_10s``, ``interval_ms``,
    ``daily_limit``, ``search_per_s``, ``search_cap``, ``batch_max``). ``limit_per_10s`` is the
    account's window (100 Free/Starter, 190 Professional/Enterprise) and ``interval_ms`` its
    length: tests shorten it, benchmarks say which one they used.
    """
    state = HubSpotState(**options)
    if catalogue is not None:
        state.seed(catalogue)
    routes = [
        Route(API, _guarded(state, _list), methods=["GET"]),
        Route(f"{API}/search", _guarded(state, _search, search=True), methods=["POST"]),
        Route(f"{API}/batch/upsert", _guarded(state, _upsert), methods=["POST"]),
        Route("/_sandbox/hubspot/contacts", _change, methods=["POST"]),
    ]
    return sandbox_app("hubspot", routes, state=state)


def _connector_block(url: str, app: Any) -> dict[str, Any]:
    return {"type": "hubspot", "access_token": "${OMNIHUB_DEMO_HUBSPOT_TOKEN}", "base_url": url}


#: What the demo, ``omnihub sandbox hubspot`` and the contract tests know of this sandbox
#: (entry point ``omnihub.sandboxes: hubspot``).
_SECRETS = {"access_token": ("OMNIHUB_DEMO_HUBSPOT_TOKEN", "pat-demo-000000000000")}
_PAGING = {"page_size": 10, "search_page_size": 10}
PLUGIN = SandboxPlugin(
    "hubspot", create_app, _connector_block, _SECRETS, demo_name="crm", paging_settings=_PAGING, page_size=10
)
