"""The sandbox's HTTP face: routes, HTTP Basic with the API key, the connection limit, JSON bodies."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.sdk import Catalogue, SandboxPlugin, sandbox_app

from . import batches
from .audience import MailchimpState
from .problems import Answer, answer, problem

__all__ = ["PLUGIN", "create_app"]

_JSON_ERROR = (400, "JSON Parse Error", "We encountered an unspecified JSON parsing error.")

Handler = Callable[[Request, MailchimpState], Awaitable[Response]]


def _project(item: dict[str, Any], fields: list[str], prefix: str) -> dict[str, Any]:
    """Mailchimp's ``fields=``: keep the named (dotted) fields only."""
    wanted = [f[len(prefix) :] for f in fields if f.startswith(prefix)]
    return {k: v for k, v in item.items() if k in wanted} if wanted else item


def _guarded(state: MailchimpState, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate, hold the connection limit and check the audience id."""

    async def endpoint(request: Request) -> Response:
        if not _authorized(request, state.api_key):
            return answer(
                problem(
                    401,
                    "API Key Invalid",
                    "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
                )
            )
        with state._lock:
            refused = state.in_flight >= state.max_connections
            if refused:
                state.refused_connections += 1
            else:
                state.in_flight += 1
                state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
        if refused:
            return answer(
                problem(
                    429,
                    "Too Many Requests",
                    f"You have exceeded the limit of {state.max_connections} simultaneous connections.",
                )
            )
        try:
            if state.latency_s:
                await asyncio.sleep(state.latency_s)
            if request.path_params.get("list_id", state.list_id) != state.list_id:
                return answer(problem(404, "Resource Not Found", "The requested resource could not be found."))
            return await handler(request, state)
        finally:
            with state._lock:
                state.in_flight -= 1

    return endpoint


def _authorized(request: Request, api_key: str) -> bool:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return False
    try:
        _, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return password == api_key


async def _with_body(request: Request, write: Callable[[Any], Answer]) -> Response:
    try:
        payload = await request.json()
    except ValueError:
        return answer(problem(*_JSON_ERROR))
    return answer(write(payload))


async def _list_info(request: Request, state: MailchimpState) -> Response:
    info = {"id": state.list_id, "name": "Sandbox audience", "stats": {"member_count": len(state.members)}}
    fields = [f for f in request.query_params.get("fields", "").split(",") if f]
    return JSONResponse(_project(info, fields, ""))


async def _members(request: Request, state: MailchimpState) -> Response:
    query = request.query_params
    try:
        count = int(query.get("count", "10"))
        offset = int(query.get("offset", "0"))
        since = datetime.fromisoformat(query["since_last_changed"]) if "since_last_changed" in query else None
    except ValueError as exc:
        return answer(problem(400, "Invalid Resource", f"The resource submitted could not be validated: {exc}"))
    if not 1 <= count <= 1000:
        return answer(problem(400, "Invalid Resource", f"count must be between 1 and 1000, got {count}"))
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    found = state.listing(since, query.get("status"))
    fields = [f for f in query.get("fields", "").split(",") if f]
    page = [_project(m, fields, "members.") for m in found[offset : offset + count]]
    body = _project({"members": page, "list_id": state.list_id, "total_items": len(found), "_links": []}, fields, "")
    body["members"] = page
    return JSONResponse(body)


async def _batch_subscribe(request: Request, state: MailchimpState) -> Response:
    return await _with_body(request, lambda body: state.batch_subscribe(request.path_params["list_id"], body))


async def _put_member(request: Request, state: MailchimpState) -> Response:
    params = request.path_params
    return await _with_body(request, lambda body: state.put_member(params["list_id"], params["subscriber_hash"], body))


async def _tag_member(request: Request, state: MailchimpState) -> Response:
    params = request.path_params
    return await _with_body(request, lambda body: state.tag_member(params["list_id"], params["subscriber_hash"], body))


async def _start_batch(request: Request, state: MailchimpState) -> Response:
    try:
        payload = await request.json()
    except ValueError:
        return answer(problem(*_JSON_ERROR))
    code, body = batches.start(state, payload)
    if code == 200 and body is not None:
        # The archive is served here, standing in for the storage host of the real response_body_url.
        url = str(request.base_url.replace(path=f"/batch-results/{body['id']}.tar.gz"))
        asyncio.get_running_loop().call_later(state.batch_delay_s, batches.run, state, body["id"], url)
    return answer((code, body))


async def _batch_status(request: Request, state: MailchimpState) -> Response:
    return answer(batches.status(state, request.path_params["batch_id"]))


async def _batch_results(request: Request) -> Response:
    """The results archive: no credentials asked, like the signed storage URL Mailchimp hands out."""
    state: MailchimpState = request.app.state.sandbox
    data = batches.archive(state, request.path_params["batch_id"])
    if data is None:
        return Response(status_code=404)
    return Response(data, media_type="application/x-gzip")


async def _unsubscribe(request: Request) -> Response:
    state: MailchimpState = request.app.state.sandbox
    payload = await request.json()
    try:
        return JSONResponse(state.unsubscribe(payload["email"]))
    except KeyError:
        return answer(problem(404, "Resource Not Found", "The requested resource could not be found."))


def create_app(catalogue: Catalogue | None = None, **options: Any) -> Any:
    """The Mailchimp sandbox app, its audience seeded with ``catalogue.customers``.

    ``options`` are ``MailchimpState``'s fields (``api_key``, ``list_id``, ``max_connections``,
    ``latency_s``, ``batch_delay_s``: how long a ``/batches`` job stays pending before it runs).
    """
    state = MailchimpState(**options)
    if catalogue is not None:
        state.seed(catalogue)
    member = "/3.0/lists/{list_id}/members/{subscriber_hash}"
    routes = [
        Route("/3.0/lists/{list_id}", _guarded(state, _list_info), methods=["GET"]),
        Route("/3.0/lists/{list_id}", _guarded(state, _batch_subscribe), methods=["POST"]),
        Route("/3.0/lists/{list_id}/members", _guarded(state, _members), methods=["GET"]),
        Route(member, _guarded(state, _put_member), methods=["PUT"]),
        Route(f"{member}/tags", _guarded(state, _tag_member), methods=["POST"]),
        Route("/3.0/batches", _guarded(state, _start_batch), methods=["POST"]),
        Route("/3.0/batches/{batch_id}", _guarded(state, _batch_status), methods=["GET"]),
        Route("/batch-results/{batch_id}.tar.gz", _batch_results, methods=["GET"]),
        Route("/_sandbox/mailchimp/unsubscribe", _unsubscribe, methods=["POST"]),
    ]
    return sandbox_app("mailchimp", routes, state=state)


def _connector_block(url: str, app: Any) -> dict[str, Any]:
    return {
        "type": "mailchimp",
        "api_key": "${OMNIHUB_DEMO_MAILCHIMP_KEY}",
        "list_id": app.state.sandbox.list_id,
        "base_url": url,
        "merge_fields": {"first_name": "FNAME", "last_name": "LNAME", "phone": "PHONE", "loyalty_points": "POINTS"},
    }


_KEY = "demo00000000000000000000000000000-us21"

#: What the demo, ``omnihub sandbox mailchimp`` and the contract tests know of this sandbox
#: (entry point ``omnihub.sandboxes: mailchimp``).
_SECRETS = {"api_key": ("OMNIHUB_DEMO_MAILCHIMP_KEY", _KEY)}
PLUGIN = SandboxPlugin(
    "mailchimp",
    create_app,
    _connector_block,
    _SECRETS,
    options={"list_id": "a1b2c3"},
    demo_name="news",
    paging_settings={"page_size": 10},
    page_size=10,
)
