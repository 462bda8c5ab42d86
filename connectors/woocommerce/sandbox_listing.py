"""How the WooCommerce sandbox filters, orders and pages a listing, as the real store does.

Captured on WooCommerce 11.0.1: newest first by default (``orderby=date``, ``order=desc``); a page
past the last is 200 ``[]`` with ``X-WP-Total``/``X-WP-TotalPages`` still set and a ``prev`` link
to the last page; ``page=0`` and ``per_page`` outside 1-100 are 400 ``rest_invalid_param`` with
WordPress's ``params`` and ``details``; an empty listing has ``X-WP-TotalPages: 0``; trashed
products are left out unless ``status=trash`` is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["MAX_PER_PAGE", "error", "filtered", "page", "root_link"]

MAX_PER_PAGE = 100
_ORDER_KEYS = {"date": "date_created_gmt", "modified": "date_modified_gmt", "id": "id", "include": "id"}


def error(code: str, message: str, status: int, **data: Any) -> JSONResponse:
    """WooCommerce's (WordPress's) error body."""
    return JSONResponse({"code": code, "message": message, "data": {"status": status, **data}}, status_code=status)


def root_link(request: Request) -> str:
    """The ``Link`` WordPress puts on every answer that has no paging links."""
    return f'<{request.url.scheme}://{request.url.netloc}/wp-json/>; rel="https://api.w.org/"'


def _invalid(name: str, message: str, code: str) -> JSONResponse:
    return error(
        "rest_invalid_param",
        f"Invalid parameter(s): {name}",
        400,
        params={name: message},
        details={name: {"code": code, "message": message, "data": None}},
    )


def _csv_ints(value: str | None) -> set[int] | None:
    if not value:
        return None
    return {int(v) for v in value.replace("[", "").replace("]", "").split(",") if v.strip().isdigit()}


def _list_param(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name) + request.query_params.getlist(f"{name}[]")
    return ",".join(values) if values else None


def filtered(request: Request, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]] | JSONResponse:
    """``records`` that pass the request's filters, in the order it asks for (default newest first)."""
    q = request.query_params
    items = list(records)
    include = _csv_ints(_list_param(request, "include"))
    if include is not None:
        items = [r for r in items if r["id"] in include]
    for name in ("parent", "parent_id"):
        parents = _csv_ints(_list_param(request, name))
        if parents is not None:
            items = [r for r in items if r.get("parent_id", 0) in parents]
    if q.get("type"):
        items = [r for r in items if r.get("type") == q["type"]]
    status = q.get("status", "any")
    if status == "any":
        items = [r for r in items if r.get("status") != "trash"]
    else:
        items = [r for r in items if r.get("status") == status]
    if q.get("email"):
        items = [r for r in items if r.get("email") == q["email"].strip().lower()]
    if q.get("modified_after"):
        try:
            after = datetime.fromisoformat(q["modified_after"].replace("Z", "+00:00")).strftime("%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return _invalid("modified_after", "Invalid date.", "rest_invalid_date")
        field = "date_modified_gmt" if q.get("dates_are_gmt") in ("true", "1") else "date_modified"
        items = [r for r in items if r.get(field, r.get("date_modified_gmt", "")) > after]
    reverse = q.get("order", "desc") == "desc"
    key = _ORDER_KEYS.get(q.get("orderby", "date"), "date_created_gmt")
    items.sort(key=lambda r: (r.get(key) or "", r["id"]) if key != "id" else (r["id"],), reverse=reverse)
    return items


def _int_param(request: Request, name: str, default: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        return None


Show = Callable[[Mapping[str, Any]], dict[str, Any]]


def page(request: Request, items: list[dict[str, Any]], show: Show) -> Response:
    """One page of ``items`` with WordPress's paging headers, each record shown through ``show``."""
    per_page = _int_param(request, "per_page", 10)
    number = _int_param(request, "page", 1)
    if per_page is None or not 1 <= per_page <= MAX_PER_PAGE:
        message = f"per_page must be between 1 (inclusive) and {MAX_PER_PAGE} (inclusive)"
        return _invalid("per_page", message, "rest_out_of_bounds")
    if number is None or number < 1:
        return _invalid("page", "page must be greater than or equal to 1", "rest_out_of_bounds")
    total = len(items)
    pages = -(-total // per_page)
    body = [show(r) for r in items[(number - 1) * per_page : number * per_page]]
    headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
    links = []
    if number > 1 and pages:
        links.append(f'<{_page_url(request, min(number - 1, pages))}>; rel="prev"')
    if number < pages:
        links.append(f'<{_page_url(request, number + 1)}>; rel="next"')
    headers["Link"] = ", ".join(links) if links else root_link(request)
    return JSONResponse(body, headers=headers)


def _page_url(request: Request, number: int) -> str:
    """The request's URL with ``page`` replaced, the other parameters echoed as they came."""
    pairs = [p for p in request.url.query.split("&") if p and not p.startswith("page=")]
    head = [p for p in pairs if p.startswith("per_page=")]
    rest = [p for p in pairs if not p.startswith("per_page=")]
    query = "&".join([*head, f"page={number}", *rest])
    return f"{request.url.scheme}://{request.url.netloc}{request.url.path}?{query}"
