"""The WooCommerce sandbox's ``/orders`` and ``/webhooks`` routes, and ``/_sandbox/webhooks``.

``GET /orders`` filters as wc/v3 documents it (the OpenAPI slice in ``tests/fixtures/platforms/
woocommerce``): ``status`` is an array parameter, so WordPress takes one status, a comma list or
``status[]=a&status[]=b`` alike, ``any`` (the default) being every status but ``trash`` (and the
block checkout's drafts); an unknown status, ``orderby`` or ``order`` is 400 ``rest_invalid_param``;
``modified_after``/``modified_before``/``after``/``before`` compare the site's dates, or the GMT
ones with ``dates_are_gmt``; ``include``, ``exclude``, ``customer``, ``product``; paged as every
listing (``X-WP-Total``, ``X-WP-TotalPages``, ``Link``).

Every write answers first and then hands what it changed to the webhooks (``sandbox_webhooks``).
``/_sandbox/webhooks`` shows (GET) and sets (POST JSON) the delivery knobs of the sandbox's
``WebhookSender`` (``delay_s``, ``duplicates``, ``reorder``, ``attempts``, ``retry_s``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.woocommerce.sandbox_auth import WooSandbox
from connectors.woocommerce.sandbox_listing import error, page, root_link
from connectors.woocommerce.sandbox_orders import LIST_STATUSES

__all__ = ["OrderRoutes"]

_API = "/wp-json/wc/v3"
_ORDERBY = {
    "date": "date_created",
    "id": "id",
    "include": "id",
    "title": "id",
    "slug": "id",
    "modified": "date_modified",
}
_HIDDEN_FROM_ANY = frozenset({"trash", "checkout-draft"})
_LINK_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

Guard = Callable[[Request, str], Awaitable["JSONResponse | None"]]


def _invalid(name: str, message: str, code: str) -> JSONResponse:
    return error(
        "rest_invalid_param",
        f"Invalid parameter(s): {name}",
        400,
        params={name: message},
        details={name: {"code": code, "message": message, "data": None}},
    )


def _list(request: Request, name: str) -> list[str] | None:
    """An array parameter as WordPress reads it: ``a,b``, or ``name[]=a&name[]=b``."""
    values = request.query_params.getlist(name) + request.query_params.getlist(f"{name}[]")
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _site(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}/"


def _when(text: str) -> str | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).strftime("%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None


def _failed(done: dict[str, Any]) -> JSONResponse:
    problem = done["error"]
    data = dict(problem["data"])
    return error(problem["code"], problem["message"], data.pop("status"), **data)


class OrderRoutes:
    """Orders and webhooks of one sandbox; ``guard`` is the sandbox's auth (and latency) check."""

    def __init__(self, state: WooSandbox, guard: Guard) -> None:
        self.state = state
        self.guard = guard

    # ------------------------------------------------------------------ shared

    def flush(self, request: Request) -> None:
        """Send the webhooks of what the store did since the last flush (from this event loop)."""
        with self.state.lock:
            events, self.state.events[:] = list(self.state.events), []
            self.state.webhooks.deliver(events, self.state.webhook_payload, _site(request))

    def _order_out(self, order: dict[str, Any], request: Request) -> dict[str, Any]:
        return self.state.order_payload(order, _site(request))

    async def _body(self, request: Request) -> dict[str, Any] | Response:
        try:
            body = await request.json()
        except ValueError:
            return error(
                "rest_invalid_json",
                "Invalid JSON body passed.",
                400,
                json_error_code=4,
                json_error_message="Syntax error",
            )
        return body if isinstance(body, dict) else {}

    # ------------------------------------------------------------------ orders

    def _orders(self, request: Request) -> list[dict[str, Any]] | JSONResponse:
        q = request.query_params
        items = list(self.state.orders.values())
        statuses = _list(request, "status") or ["any"]
        for index, status in enumerate(statuses):
            if status not in LIST_STATUSES:
                message = f"status[{index}] is not one of {', '.join(LIST_STATUSES)}."
                return _invalid("status", message, "rest_not_in_enum")
        if "any" not in statuses:
            items = [o for o in items if o["status"] in statuses]
        else:
            items = [o for o in items if o["status"] not in _HIDDEN_FROM_ANY or o["status"] in statuses]
        for name, keep in (("include", True), ("exclude", False)):
            ids = _list(request, name)
            if ids is not None:
                wanted = {int(i) for i in ids if i.isdigit()}
                items = [o for o in items if (o["id"] in wanted) == keep]
        if q.get("customer", "").isdigit():
            items = [o for o in items if o["customer_id"] == int(q["customer"])]
        if q.get("product", "").isdigit():
            product = int(q["product"])
            items = [o for o in items if any(li["product_id"] == product for li in o["line_items"])]
        gmt = "_gmt" if q.get("dates_are_gmt") in ("true", "1") else ""
        for name, field, after in (
            ("modified_after", "date_modified", True),
            ("modified_before", "date_modified", False),
            ("after", "date_created", True),
            ("before", "date_created", False),
        ):
            if q.get(name):
                moment = _when(q[name])
                if moment is None:
                    return _invalid(name, "Invalid date.", "rest_invalid_date")
                key = field + gmt
                items = [o for o in items if (o[key] > moment if after else o[key] < moment)]
        orderby, order = q.get("orderby", "date"), q.get("order", "desc")
        if orderby not in _ORDERBY:
            return _invalid("orderby", f"orderby is not one of {', '.join(_ORDERBY)}.", "rest_not_in_enum")
        if order not in ("asc", "desc"):
            return _invalid("order", "order is not one of asc, desc.", "rest_not_in_enum")
        key = _ORDERBY[orderby] + (gmt if _ORDERBY[orderby] != "id" else "")
        items.sort(key=lambda o: (o[key], o["id"]), reverse=order == "desc")
        return items

    async def list_orders(self, request: Request) -> Response:
        if (refused := await self.guard(request, "view")) is not None:
            return refused
        with self.state.lock:
            items = self._orders(request)
            if isinstance(items, Response):
                return items
            return page(request, items, lambda o: self._order_out(self.state.order_view(o), request))

    async def create_order(self, request: Request) -> Response:
        if (refused := await self.guard(request, "edit")) is not None:
            return refused
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        with self.state.lock:
            done = self.state.create_order(body)
        if "error" in done:
            return _failed(done)
        location = f"{request.url.scheme}://{request.url.netloc}{_API}/orders/{done['id']}"
        answer = JSONResponse(
            self._order_out(done, request),
            status_code=201,
            headers={"Link": root_link(request), "Location": location},
        )
        self.flush(request)
        return answer

    async def one_order(self, request: Request) -> Response:
        action = "view" if request.method == "GET" else "edit"
        if (refused := await self.guard(request, action)) is not None:
            return refused
        order_id = request.path_params["id"]
        if request.method == "GET":
            with self.state.lock:
                order = self.state.orders.get(order_id)
                if order is None:
                    return error("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404)
                shown = self.state.order_view(order)
            return JSONResponse(self._order_out(shown, request), headers={"Link": root_link(request)})
        if request.method == "DELETE":
            force = request.query_params.get("force") in ("true", "1")
            with self.state.lock:
                done = self.state.delete_order(order_id, force)
        else:
            body = await self._body(request)
            if isinstance(body, Response):
                return body
            with self.state.lock:
                done = self.state.update_order(order_id, body)
        if "error" in done:
            return _failed(done)
        answer = JSONResponse(self._order_out(done, request), headers={"Link": root_link(request)})
        self.flush(request)
        return answer

    # ------------------------------------------------------------------ webhooks

    async def list_webhooks(self, request: Request) -> Response:
        if (refused := await self.guard(request, "view")) is not None:
            return refused
        status = request.query_params.get("status", "all")
        if status not in ("all", "active", "paused", "disabled"):
            return _invalid("status", "status is not one of all, active, paused, disabled.", "rest_not_in_enum")
        with self.state.lock:
            hooks = self.state.webhooks
            hooks.reconcile()
            items = [r for r in hooks.records.values() if status in ("all", r["status"])]
            newest_first = request.query_params.get("order") != "asc"
            items.sort(key=lambda r: (r["date_created_gmt"], r["id"]), reverse=newest_first)
            return page(request, items, lambda r: hooks.show(r, _site(request)))

    async def create_webhook(self, request: Request) -> Response:
        if (refused := await self.guard(request, "edit")) is not None:
            return refused
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        with self.state.lock:
            done = self.state.webhooks.create(body)
            if "error" in done:
                return _failed(done)
            shown = self.state.webhooks.show(done, _site(request))
            self.state.webhooks.ping(done)
        location = f"{request.url.scheme}://{request.url.netloc}{_API}/webhooks/{done['id']}"
        return JSONResponse(shown, status_code=201, headers={"Link": root_link(request), "Location": location})

    async def one_webhook(self, request: Request) -> Response:
        action = "view" if request.method == "GET" else "edit"
        if (refused := await self.guard(request, action)) is not None:
            return refused
        webhook_id = request.path_params["id"]
        hooks = self.state.webhooks
        if request.method == "GET":
            with self.state.lock:
                hooks.reconcile()
                record = hooks.records.get(webhook_id)
                done = record if record is not None else {"error": _missing()}
        elif request.method == "DELETE":
            with self.state.lock:
                hooks.reconcile()
                done = hooks.delete(webhook_id, request.query_params.get("force") in ("true", "1"))
        else:
            body = await self._body(request)
            if isinstance(body, Response):
                return body
            with self.state.lock:
                done = hooks.update(webhook_id, body)
        if "error" in done:
            return _failed(done)
        return JSONResponse(hooks.show(done, _site(request)), headers={"Link": root_link(request)})

    async def sandbox_webhooks(self, request: Request) -> Response:
        """``/_sandbox/webhooks``: the sender's knobs (POST sets them), its counts and the webhooks."""
        sender = self.state.webhooks.sender
        if sender is None:
            return JSONResponse({"error": "this sandbox was built without a webhook sender"}, status_code=501)
        if request.method == "POST":
            try:
                sender.configure(**(await request.json()))
            except (TypeError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        with self.state.lock:
            self.state.webhooks.reconcile()
            hooks = [
                {"id": r["id"], "topic": r["topic"], "status": r["status"], "failures": r["_failures"]}
                for r in self.state.webhooks.records.values()
            ]
        return JSONResponse({**sender.describe(), "webhooks": hooks})

    def routes(self) -> list[Route]:
        one = ["GET", "PUT", "PATCH", "POST", "DELETE"]
        return [
            Route("/_sandbox/webhooks", self.sandbox_webhooks, methods=["GET", "POST"]),
            Route(f"{_API}/orders", self.list_orders, methods=["GET"]),
            Route(f"{_API}/orders", self.create_order, methods=["POST"]),
            Route(f"{_API}/orders/{{id:int}}", self.one_order, methods=one),
            Route(f"{_API}/webhooks", self.list_webhooks, methods=["GET"]),
            Route(f"{_API}/webhooks", self.create_webhook, methods=["POST"]),
            Route(f"{_API}/webhooks/{{id:int}}", self.one_webhook, methods=one),
        ]


def _missing() -> dict[str, Any]:
    return {"code": "woocommerce_rest_shop_webhook_invalid_id", "message": "Invalid ID.", "data": {"status": 404}}
