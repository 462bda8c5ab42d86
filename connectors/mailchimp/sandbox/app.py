"""A local Mailchimp Marketing API v3 for one audience, faithful where a sync depends on it.

What it simulates: HTTP Basic with the API key as password (401 otherwise), members listing with
``count`` (<= 1,000), ``offset``, ``since_last_changed`` (strictly after, whole seconds), ``status``
and ``fields``; batch subscribe ``POST /3.0/lists/{id}`` (500 members at most, else a 400; per-member
failures in the ``errors`` of a 200 with ``new_members``, ``updated_members``, ``error_count``);
``status_if_new`` applied only on creation and ``status`` obeyed on existing members (so a client
that sends ``status: subscribed`` does re-subscribe an unsubscribed member, as the real API would;
a cleaned member refuses it); the limit of simultaneous connections (429 beyond it);
``application/problem+json`` errors.

``state.unsubscribe(email)`` (or ``POST /_sandbox/mailchimp/unsubscribe``) is the person clicking
"unsubscribe" in an e-mail.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.sandbox import sandbox_app
from hub.seed import Catalogue

__all__ = ["MailchimpState", "create_app", "subscriber_hash"]

_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
#: The audience's merge fields: tag -> type.
MERGE_FIELDS = {"FNAME": "text", "LNAME": "text", "PHONE": "phone", "POINTS": "number"}


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lowercased address."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def problem(status: int, title: str, detail: str) -> JSONResponse:
    body = {
        "type": "https://mailchimp.com/developer/marketing/docs/errors/",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": str(uuid.uuid4()),
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


@dataclass
class MailchimpState:
    """The simulated audience."""

    api_key: str
    list_id: str = "a1b2c3"
    max_connections: int = 10
    #: Seconds each API request takes (so that concurrency is visible).
    latency_s: float = 0.0
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Addresses whose write fails with (error_code, message).
    rejects: dict[str, tuple[str, str]] = field(default_factory=dict)
    in_flight: int = 0
    peak_in_flight: int = 0
    refused_connections: int = 0
    _last: float = 0.0
    _tag_ids: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> datetime:
        """The change clock: real time, never before the newest stamp (seeds may be in the future)."""
        self._last = max(time.time(), self._last)
        return datetime.fromtimestamp(int(self._last), tz=UTC)

    def member(self, email: str) -> dict[str, Any] | None:
        return self.members.get(subscriber_hash(email))

    def _tag(self, name: str) -> dict[str, Any]:
        tag_id = self._tag_ids.setdefault(name, 1000 + len(self._tag_ids))
        return {"id": tag_id, "name": name}

    def add(self, email: str, status: str, merge: dict[str, Any], tags: list[str], when: datetime) -> dict[str, Any]:
        self._last = max(self._last, when.timestamp())
        member_id = subscriber_hash(email)
        fields = dict.fromkeys(MERGE_FIELDS, "")
        fields.update({k: v for k, v in merge.items() if v is not None})
        member = {
            "id": member_id,
            "email_address": email.strip().lower(),
            "unique_email_id": member_id[:10],
            "status": status,
            "merge_fields": fields,
            "tags": [self._tag(t) for t in tags],
            "tags_count": len(tags),
            "last_changed": _iso(when),
            "list_id": self.list_id,
        }
        self.members[member_id] = member
        return member

    def seed(self, catalogue: Catalogue) -> None:
        for person in catalogue.customers:
            status = {"subscribed": "subscribed", "unsubscribed": "unsubscribed"}.get(person.consent, "transactional")
            merge = {"FNAME": person.first_name, "LNAME": person.last_name, "PHONE": person.phone}
            if person.loyalty_points is not None:
                merge["POINTS"] = person.loyalty_points
            self.add(person.email, status, merge, list(person.tags), person.consent_updated_at or person.updated_at)

    def unsubscribe(self, email: str) -> dict[str, Any]:
        """The person clicked "unsubscribe"."""
        with self._lock:
            member = self.member(email)
            if member is None:
                raise KeyError(email)
            member["status"] = "unsubscribed"
            member["last_changed"] = _iso(self.now())
            return member

    # -------------------------------------------------------------- batch subscribe

    def subscribe(self, members: list[dict[str, Any]], update_existing: bool, sync_tags: bool) -> dict[str, Any]:
        created, updated, errors = [], [], []
        with self._lock:
            for item in members:
                email = str(item.get("email_address") or "").strip()
                error = self._refusal(item, update_existing)
                if error is not None:
                    code, message = error
                    errors.append({"email_address": email, "error": message, "error_code": code})
                    continue
                existing = self.member(email)
                if existing is None:
                    status = item.get("status") or item.get("status_if_new")
                    created.append(self.add(email, status, {}, [], self.now()))
                    existing = created[-1]
                    self._apply(existing, item, sync_tags, stamp=False)
                else:
                    self._apply(existing, item, sync_tags, stamp=True)
                    updated.append(existing)
        return {
            "new_members": [dict(m) for m in created],
            "updated_members": [dict(m) for m in updated],
            "errors": errors,
            "total_created": len(created),
            "total_updated": len(updated),
            "error_count": len(errors),
            "_links": [],
        }

    def _refusal(self, item: dict[str, Any], update_existing: bool) -> tuple[str, str] | None:
        email = str(item.get("email_address") or "").strip()
        if not _EMAIL.match(email):
            return "ERROR_GENERIC", f"{email} looks fake or invalid, please enter a real email address."
        if email.lower() in self.rejects:
            return self.rejects[email.lower()]
        existing = self.member(email)
        if existing is not None and not update_existing:
            return "ERROR_CONTACT_EXISTS", f"{email} is already a list member."
        for key in ("status", "status_if_new"):
            if key in item and item[key] not in STATUSES:
                return "ERROR_GENERIC", f"Invalid {key} {item[key]!r}; expected one of {', '.join(STATUSES)}"
        if existing is None and not (item.get("status") or item.get("status_if_new")):
            return "ERROR_GENERIC", f"{email}: status or status_if_new is required for a new member"
        if existing is not None and existing["status"] == "cleaned" and item.get("status") == "subscribed":
            return (
                "ERROR_CONTACT_COMPLIANCE",
                f"{email} is already a list member in compliance state due to unsubscribe, bounce, or compliance "
                "review and cannot be subscribed.",
            )
        for tag, value in (item.get("merge_fields") or {}).items():
            if tag not in MERGE_FIELDS:
                return "ERROR_GENERIC", f"Your merge fields were invalid: {tag} is not a merge field of this audience"
            if (
                MERGE_FIELDS[tag] == "number"
                and value not in ("", None)
                and not re.fullmatch(r"-?\d+(\.\d+)?", str(value))
            ):
                return "ERROR_GENERIC", f"Your merge fields were invalid: {tag} must be a number"
        return None

    def _apply(self, member: dict[str, Any], item: dict[str, Any], sync_tags: bool, *, stamp: bool) -> None:
        before = repr(member)
        if item.get("status") and member["status"] != item["status"]:
            member["status"] = item["status"]
        member["merge_fields"].update(
            {k: ("" if v is None else v) for k, v in (item.get("merge_fields") or {}).items()}
        )
        if "tags" in item:
            names = [str(t) for t in item["tags"]]
            kept = [] if sync_tags else [t["name"] for t in member["tags"]]
            member["tags"] = [self._tag(n) for n in dict.fromkeys([*kept, *names])]
            member["tags_count"] = len(member["tags"])
        if stamp and repr(member) != before:
            member["last_changed"] = _iso(self.now())

    # -------------------------------------------------------------- listing

    def listing(self, since: datetime | None, status: str | None) -> list[dict[str, Any]]:
        found = []
        for member in self.members.values():
            if status and member["status"] != status:
                continue
            if since is not None and datetime.fromisoformat(member["last_changed"]) <= since:
                continue
            found.append(member)
        return found


def _project(item: dict[str, Any], fields: list[str], prefix: str) -> dict[str, Any]:
    """Mailchimp's ``fields=``: keep the named (dotted) fields only."""
    wanted = [f[len(prefix) :] for f in fields if f.startswith(prefix)]
    return {k: v for k, v in item.items() if k in wanted} if wanted else item


Handler = Callable[[Request, MailchimpState], Awaitable[Response]]


def _guarded(state: MailchimpState, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate, hold the connection limit and check the audience id."""

    async def endpoint(request: Request) -> Response:
        if not _authorized(request, state.api_key):
            return problem(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            )
        with state._lock:
            if state.in_flight >= state.max_connections:
                state.refused_connections += 1
                refused = True
            else:
                state.in_flight += 1
                state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
                refused = False
        if refused:
            return problem(
                429,
                "Too Many Requests",
                f"You have exceeded the limit of {state.max_connections} simultaneous connections.",
            )
        try:
            if state.latency_s:
                await asyncio.sleep(state.latency_s)
            if request.path_params.get("list_id") != state.list_id:
                return problem(404, "Resource Not Found", "The requested resource could not be found.")
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
        return problem(400, "Invalid Resource", f"The resource submitted could not be validated: {exc}")
    if not 1 <= count <= 1000:
        return problem(400, "Invalid Resource", f"count must be between 1 and 1000, got {count}")
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    found = state.listing(since, query.get("status"))
    fields = [f for f in query.get("fields", "").split(",") if f]
    page = [_project(m, fields, "members.") for m in found[offset : offset + count]]
    body = _project({"members": page, "list_id": state.list_id, "total_items": len(found), "_links": []}, fields, "")
    body["members"] = page
    return JSONResponse(body)


async def _batch(request: Request, state: MailchimpState) -> Response:
    try:
        payload = await request.json()
    except ValueError:
        return problem(400, "JSON Parse Error", "We encountered an unspecified JSON parsing error.")
    members = payload.get("members")
    if not isinstance(members, list):
        return problem(400, "Invalid Resource", "members must be a list")
    if len(members) > 500:
        return problem(400, "Invalid Resource", f"You may only add or update 500 members at a time, got {len(members)}")
    answer = state.subscribe(members, bool(payload.get("update_existing")), bool(payload.get("sync_tags")))
    return JSONResponse(answer)


async def _unsubscribe(request: Request) -> Response:
    state: MailchimpState = request.app.state.sandbox
    payload = await request.json()
    try:
        return JSONResponse(state.unsubscribe(payload["email"]))
    except KeyError:
        return problem(404, "Resource Not Found", "The requested resource could not be found.")


def create_app(
    catalogue: Catalogue | None = None,
    *,
    api_key: str = "sandbox0000000000000000000000000-us21",
    list_id: str = "a1b2c3",
    max_connections: int = 10,
    latency_s: float = 0.0,
) -> Any:
    """The Mailchimp sandbox app, its audience seeded with ``catalogue.customers``."""
    state = MailchimpState(api_key=api_key, list_id=list_id, max_connections=max_connections, latency_s=latency_s)
    if catalogue is not None:
        state.seed(catalogue)
    routes = [
        Route("/3.0/lists/{list_id}", _guarded(state, _list_info), methods=["GET"]),
        Route("/3.0/lists/{list_id}", _guarded(state, _batch), methods=["POST"]),
        Route("/3.0/lists/{list_id}/members", _guarded(state, _members), methods=["GET"]),
        Route("/_sandbox/mailchimp/unsubscribe", _unsubscribe, methods=["POST"]),
    ]
    return sandbox_app("mailchimp", routes, state=state)
