"""The simulated audience: its members, and the writes Mailchimp documents on them.

Each write takes the request's path parameters and JSON body, holds the body to the published spec,
and returns what Mailchimp answers (status and body), so the same code serves a direct request and
an operation of a ``/batches`` job.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.sdk import Catalogue

from .problems import Answer, body_refusal, problem

__all__ = ["MERGE_FIELDS", "MailchimpState", "subscriber_hash"]

_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
#: The audience's merge fields: tag -> type.
MERGE_FIELDS = {"FNAME": "text", "LNAME": "text", "PHONE": "phone", "POINTS": "number"}
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_NOT_FOUND = (404, "Resource Not Found", "The requested resource could not be found.")


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lowercased address."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


@dataclass
class MailchimpState:
    """The simulated audience, the connection figures and the ``/batches`` jobs."""

    api_key: str = "sandbox0000000000000000000000000-us21"
    list_id: str = "a1b2c3"
    max_connections: int = 10
    #: Seconds each API request takes (so that concurrency is visible).
    latency_s: float = 0.0
    #: Seconds a ``/batches`` job stays pending before its operations run.
    batch_delay_s: float = 0.0
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Addresses whose write fails with (error_code, message).
    rejects: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: ``/batches`` jobs by id (``connectors.mailchimp.sandbox.batches``).
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
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
            "last_changed": iso(when),
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
            member["last_changed"] = iso(self.now())
            return member

    # -------------------------------------------------------------- batch subscribe

    def batch_subscribe(self, list_id: str, payload: Any) -> Answer:
        """``POST /lists/{list_id}``: new members added, existing ones updated only with
        ``update_existing``, each refusal in ``errors`` of a 200."""
        if list_id != self.list_id:
            return problem(*_NOT_FOUND)
        refusal = body_refusal("batch-subscribe", "POST", "/lists/{list_id}", payload)
        if refusal is not None:
            return refusal
        members, update_existing = payload["members"], bool(payload.get("update_existing"))
        if len(members) > 500:
            return problem(
                400, "Invalid Resource", f"You may only add or update 500 members at a time, got {len(members)}"
            )
        created, updated, errors = [], [], []
        with self._lock:
            for item in members:
                email = item["email_address"].strip()
                error = self._refusal(item, update_existing)
                if error is not None:
                    code, message = error
                    errors.append({"email_address": email, "error": message, "error_code": code})
                    continue
                existing = self.member(email)
                if existing is None:
                    created.append(self.add(email, item["status"], {}, [], self.now()))
                    self._apply(created[-1], item, stamp=False)
                else:
                    self._apply(existing, item, stamp=True)
                    updated.append(existing)
        body = {
            "new_members": [dict(m) for m in created],
            "updated_members": [dict(m) for m in updated],
            "errors": errors,
            "total_created": len(created),
            "total_updated": len(updated),
            "error_count": len(errors),
            "_links": [],
        }
        return 200, body

    def _refusal(self, item: dict[str, Any], update_existing: bool) -> tuple[str, str] | None:
        email = item["email_address"].strip()
        if not _EMAIL.match(email):
            return "ERROR_GENERIC", _looks_fake(email)
        if email.lower() in self.rejects:
            return self.rejects[email.lower()]
        existing = self.member(email)
        if existing is not None and not update_existing:
            return (
                "ERROR_CONTACT_EXISTS",
                f"{email} is already a list member. Use PUT to insert or update list members.",
            )
        if existing is not None and existing["status"] == "cleaned" and item["status"] == "subscribed":
            return "ERROR_GENERIC", _compliance(email)
        invalid = _merge_field_errors(item.get("merge_fields") or {})
        if invalid:
            return "ERROR_GENERIC", f"Your merge fields were invalid: {invalid[0]['message']}"
        return None

    def _apply(self, member: dict[str, Any], item: dict[str, Any], *, stamp: bool) -> None:
        before = repr(member)
        if item.get("status"):
            member["status"] = item["status"]
        member["merge_fields"].update(
            {k: ("" if v is None else v) for k, v in (item.get("merge_fields") or {}).items()}
        )
        if stamp and repr(member) != before:
            member["last_changed"] = iso(self.now())

    # -------------------------------------------------------------- one member

    def put_member(self, list_id: str, key: str, payload: Any) -> Answer:
        """``PUT /lists/{list_id}/members/{subscriber_hash}``: add or update one member.

        ``status_if_new`` is the status of a member this creates; ``status`` changes an existing
        member, and is obeyed (a ``subscribed`` re-subscribes an unsubscribed member, as the real API
        does) except on a cleaned address, which stays in compliance state.
        """
        if list_id != self.list_id:
            return problem(*_NOT_FOUND)
        refusal = body_refusal("members", "PUT", "/lists/{list_id}/members/{subscriber_hash}", payload)
        if refusal is not None:
            return refusal
        email = payload["email_address"].strip()
        if not _EMAIL.match(email):
            return problem(
                400, "Invalid Resource", f"{email} looks fake or invalid, please enter a real email address."
            )
        if key.lower() not in (subscriber_hash(email), email.lower()):
            return problem(400, "Invalid Resource", "The email address in the body does not match the subscriber hash.")
        if email.lower() in self.rejects:
            return problem(400, "Invalid Resource", self.rejects[email.lower()][1])
        invalid = _merge_field_errors(payload.get("merge_fields") or {})
        if invalid:
            return problem(400, "Invalid Resource", "Your merge fields were invalid.", invalid)
        with self._lock:
            member = self.member(email)
            if member is None:
                member = self.add(email, payload.get("status") or payload["status_if_new"], {}, [], self.now())
                self._apply(member, {"merge_fields": payload.get("merge_fields")}, stamp=False)
            elif member["status"] == "cleaned" and payload.get("status") == "subscribed":
                return problem(400, "Member In Compliance State", _compliance(email))
            else:
                self._apply(member, payload, stamp=True)
            return 200, dict(member)

    def tag_member(self, list_id: str, key: str, payload: Any) -> Answer:
        """``POST /lists/{list_id}/members/{subscriber_hash}/tags``: each tag made active or inactive; 204."""
        if list_id != self.list_id:
            return problem(*_NOT_FOUND)
        refusal = body_refusal("members", "POST", "/lists/{list_id}/members/{subscriber_hash}/tags", payload)
        if refusal is not None:
            return refusal
        with self._lock:
            member = self.members.get(key.lower()) or self.member(key)
            if member is None:
                return problem(*_NOT_FOUND)
            names = [t["name"] for t in member["tags"]]
            for tag in payload["tags"]:
                if tag["status"] == "active" and tag["name"] not in names:
                    names.append(tag["name"])
                elif tag["status"] == "inactive" and tag["name"] in names:
                    names.remove(tag["name"])
            if names != [t["name"] for t in member["tags"]]:
                member["tags"] = [self._tag(n) for n in names]
                member["tags_count"] = len(names)
                member["last_changed"] = iso(self.now())
        return 204, None

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


def _merge_field_errors(merge_fields: dict[str, Any]) -> list[dict[str, str]]:
    """What the audience's merge fields refuse: an unknown tag, a number field given text."""
    errors = []
    for tag, value in merge_fields.items():
        if tag not in MERGE_FIELDS:
            errors.append({"field": f"merge_fields.{tag}", "message": f"{tag} is not a merge field of this audience"})
        elif (
            MERGE_FIELDS[tag] == "number" and value not in ("", None) and not re.fullmatch(r"-?\d+(\.\d+)?", str(value))
        ):
            errors.append({"field": f"merge_fields.{tag}", "message": f"{tag} must be a number"})
    return errors


def _exists(email: str) -> str:
    return f"{email} is already a list member. Use PUT to insert or update list members."


def _looks_fake(email: str) -> str:
    return f"{email} looks fake or invalid, please enter a real email address."


def _compliance(email: str) -> str:
    return (
        f"{email} is already a list member in compliance state due to unsubscribe, bounce, or compliance review "
        "and cannot be subscribed."
    )
