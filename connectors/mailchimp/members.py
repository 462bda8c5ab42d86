"""What one change sends to Mailchimp, in the bodies the API documents, and how the answers read.

A member the hub does not know goes by batch subscribe (``email_address``, ``status``,
``merge_fields``: the fields of a batch subscribe member); an existing one by a member ``PUT``
(``email_address``, ``status_if_new``, ``status`` only to unsubscribe, ``merge_fields``); tags by
``POST .../tags`` (neither of the other two documents tags). ``consent`` decides the statuses.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.sdk import PushResult, dig

from . import consent

__all__ = ["MemberWrite", "read_batch_subscribe", "refused"]


@dataclass(frozen=True, slots=True)
class MemberWrite:
    """One change as Mailchimp writes: the member's address, statuses, merge fields and tag changes."""

    key: str
    email: str
    #: The consent this change asks for (what the answer is checked against; ``None``: not changed).
    wanted: str | None
    #: The status of the member if this write creates it.
    new_status: str
    #: ``unsubscribed`` when the change unsubscribes, else ``None`` (never ``subscribed``).
    status: str | None
    merge_fields: dict[str, Any]
    #: ``{name, status: active|inactive}`` for each tag to add or remove.
    tags: tuple[dict[str, str], ...]

    @classmethod
    def of(
        cls,
        key: str,
        email: str,
        values: Mapping[str, Any],
        new_consent: Any,
        merge_fields: dict[str, Any],
        tags: tuple[dict[str, str], ...],
    ) -> MemberWrite:
        """The write of a change's ``values``; ``new_consent`` is the whole record's, for a creation."""
        wanted = values.get("email_marketing")
        return cls(
            key=key,
            email=email,
            wanted=str(wanted) if wanted else None,
            new_status=consent.status_for_new(new_consent),
            status=consent.status_for_existing(wanted),
            merge_fields=merge_fields,
            tags=tags,
        )

    def subscribe_member(self) -> dict[str, Any]:
        """The member of a batch subscribe (adding it)."""
        member: dict[str, Any] = {"email_address": self.email, "status": self.new_status}
        if self.merge_fields:
            member["merge_fields"] = self.merge_fields
        return member

    def put(self, list_id: str) -> dict[str, Any]:
        """The ``/batches`` operation that writes an existing member (and adds it if it disappeared)."""
        body: dict[str, Any] = {"email_address": self.email, "status_if_new": self.new_status}
        if self.status:
            body["status"] = self.status
        if self.merge_fields:
            body["merge_fields"] = self.merge_fields
        return _operation("PUT", self._path(list_id), body)

    def tag(self, list_id: str) -> dict[str, Any]:
        """The ``/batches`` operation that adds and removes its tags (for a write with ``tags``)."""
        return _operation("POST", f"{self._path(list_id)}/tags", {"tags": list(self.tags)})

    def _path(self, list_id: str) -> str:
        digest = hashlib.md5(self.email.encode(), usedforsecurity=False).hexdigest()
        return f"/lists/{list_id}/members/{digest}"


def read_batch_subscribe(data: Any) -> tuple[dict[str, dict[str, Any]], dict[str, PushResult]]:
    """Members added (and updated) and per-member errors of a batch subscribe answer, by e-mail."""
    answered: dict[str, dict[str, Any]] = {}
    for key in ("new_members", "updated_members"):
        for member in dig(data, key) or []:
            if isinstance(member, Mapping) and member.get("email_address"):
                answered[str(member["email_address"]).strip().lower()] = dict(member)
    errors: dict[str, PushResult] = {}
    for error in dig(data, "errors") or []:
        email = str(error.get("email_address") or "").strip().lower()
        code = str(error.get("error_code") or "ERROR")
        errors[email] = PushResult(email, ok=False, code=code, message=str(error.get("error") or code))
    return answered, errors


def refused(key: str, status: int, body: Any) -> PushResult:
    """A failed operation of a ``/batches`` job, with Mailchimp's title, detail and field errors."""
    if not isinstance(body, Mapping):
        return PushResult(key, ok=False, retriable=status >= 500 or status == 429, code=f"HTTP {status}")
    fields = "; ".join(
        f"{e.get('field')}: {e.get('message')}" for e in body.get("errors") or [] if isinstance(e, Mapping)
    )
    message = " ".join(p for p in (str(body.get("detail") or ""), fields) if p) or None
    return PushResult(
        key,
        ok=False,
        retriable=status >= 500 or status == 429,
        code=str(body.get("title") or f"HTTP {status}"),
        message=message,
    )


def _operation(method: str, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"method": method, "path": path, "body": json.dumps(body, default=str)}
