"""The HubSpot sandbox's account: contacts, search and upsert rules, and the rate-limit windows.

Every write stamps ``lastmodifieddate`` from a clock that never goes back, so incremental searches
see every change; an e-mail that is a contact's secondary address (``hs_additional_emails``)
upserts that contact; the account's 10-second window, the daily quota and the search endpoints'
own per-second limit are counted here and announced by the routes (``sandbox``).
"""

from __future__ import annotations

import bisect
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.sdk import Catalogue

__all__ = ["ALWAYS_RETURNED", "CONSENT_OPTIONS", "PROPERTIES", "HubSpotState", "error_body", "iso_ms"]

_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
#: Properties the simulated account has, by type; ``None`` marks read-only ones.
PROPERTIES: dict[str, str | None] = {
    "email": "string",
    "firstname": "string",
    "lastname": "string",
    "phone": "string",
    "hs_email_optout": "bool",
    "email_marketing": "enumeration",
    "loyalty_points": "number",
    "hs_additional_emails": None,
    "createdate": None,
    "lastmodifieddate": None,
    "hs_object_id": None,
}
CONSENT_OPTIONS = ("subscribed", "unsubscribed", "never")
ALWAYS_RETURNED = ("createdate", "hs_object_id", "lastmodifieddate")


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def error_body(message: str, category: str, **extra: Any) -> dict[str, Any]:
    """HubSpot's error shape."""
    return {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category, **extra}


@dataclass
class _Window:
    """A fixed window of ``limit`` requests per ``interval`` seconds."""

    limit: int
    interval: float
    start: float = 0.0
    used: int = 0

    def take(self, now: float) -> bool:
        if now - self.start >= self.interval:
            self.start, self.used = now, 0
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def reset_in(self, now: float) -> float:
        return max(0.0, self.interval - (now - self.start))


@dataclass
class HubSpotState:
    """The simulated account: contacts, rate-limit windows and request figures."""

    access_token: str = "pat-sandbox-hubspot-token"
    limit_per_10s: int = 100
    interval_ms: int = 10_000
    daily_limit: int = 250_000
    search_per_s: int = 5
    search_cap: int = 10_000
    batch_max: int = 100
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: E-mails whose upsert fails with (code, message), as if HubSpot refused them.
    rejects: dict[str, tuple[str, str]] = field(default_factory=dict)
    throttled: int = 0
    _ids: list[int] = field(default_factory=list)
    _by_email: dict[str, str] = field(default_factory=dict)
    _by_secondary: dict[str, str] = field(default_factory=dict)
    _modified: dict[str, int] = field(default_factory=dict)
    _next_id: int = 1001
    _last_ms: int = 0
    _daily_used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _window: _Window = field(init=False)
    _search_window: _Window = field(init=False)

    def __post_init__(self) -> None:
        self._window = _Window(self.limit_per_10s, self.interval_ms / 1000)
        self._search_window = _Window(self.search_per_s, 1.0)

    # -------------------------------------------------------------- data

    def now_ms(self) -> int:
        """The write clock: real time, but always after the newest stamp (seeds may be in the future)."""
        self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
        return self._last_ms

    def add_contact(self, properties: dict[str, Any], *, modified_ms: int | None = None) -> dict[str, Any]:
        ms = modified_ms if modified_ms is not None else self.now_ms()
        self._last_ms = max(self._last_ms, ms)
        contact_id = str(self._next_id)
        self._next_id += 1
        props = {k: (None if v is None else str(v)) for k, v in properties.items()}
        props.update(hs_object_id=contact_id, createdate=iso_ms(ms), lastmodifieddate=iso_ms(ms))
        contact = {
            "id": contact_id,
            "properties": props,
            "createdAt": iso_ms(ms),
            "updatedAt": iso_ms(ms),
            "archived": False,
        }
        self.contacts[contact_id] = contact
        self._ids.append(int(contact_id))
        self._by_email[str(props["email"]).lower()] = contact_id
        self._modified[contact_id] = ms
        return contact

    def contact(self, email: str) -> dict[str, Any] | None:
        contact_id = self._by_email.get(email.strip().lower())
        return self.contacts.get(contact_id) if contact_id else None

    def add_secondary_email(self, email: str, secondary: str) -> dict[str, Any]:
        """Give the contact of ``email`` a secondary address, as a HubSpot user (or a merge) would."""
        with self._lock:
            contact = self.contact(email)
            if contact is None:
                raise KeyError(email)
            known = [e for e in (contact["properties"].get("hs_additional_emails") or "").split(";") if e]
            self._set(contact, {"hs_additional_emails": ";".join([*known, secondary.strip().lower()])})
            self._by_secondary[secondary.strip().lower()] = contact["id"]
            return contact

    def _upsert_target(self, email: str) -> dict[str, Any] | None:
        """The contact an upsert by e-mail lands on: the one whose address it is, else the one that
        has it as a secondary address (HubSpot matches both)."""
        contact = self.contact(email)
        if contact is None and (contact_id := self._by_secondary.get(email.strip().lower())):
            contact = self.contacts.get(contact_id)
        return contact

    def change_contact(self, email: str, **properties: Any) -> dict[str, Any]:
        """Edit a contact as a HubSpot user would (its ``lastmodifieddate`` moves on)."""
        with self._lock:
            contact = self.contact(email)
            if contact is None:
                raise KeyError(email)
            self._set(contact, properties)
            return contact

    def _set(self, contact: dict[str, Any], properties: dict[str, Any]) -> None:
        ms = self.now_ms()
        contact["properties"].update({k: (None if v is None else str(v)) for k, v in properties.items()})
        contact["properties"]["lastmodifieddate"] = contact["updatedAt"] = iso_ms(ms)
        self._modified[contact["id"]] = ms

    def seed(self, catalogue: Catalogue) -> None:
        for person in catalogue.customers:
            self.add_contact(
                {
                    "email": person.email,
                    "firstname": person.first_name,
                    "lastname": person.last_name,
                    "phone": person.phone,
                    "email_marketing": person.consent,
                    "hs_email_optout": "true" if person.consent == "unsubscribed" else "false",
                    "loyalty_points": person.loyalty_points,
                },
                modified_ms=_ms(person.updated_at),
            )

    # -------------------------------------------------------------- views

    def view(self, contact: dict[str, Any], properties: Iterable[str]) -> dict[str, Any]:
        props = contact["properties"]
        wanted = dict.fromkeys([*properties, *ALWAYS_RETURNED])
        return {**contact, "properties": {name: props.get(name) for name in wanted}}

    def page(self, after: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        start = bisect.bisect_left(self._ids, after)
        ids = self._ids[start : start + limit + 1]
        more = ids[limit] if len(ids) > limit else None
        return [self.contacts[str(i)] for i in ids[:limit]], more

    def search(self, groups: list[dict[str, Any]], sorts: list[Any]) -> list[dict[str, Any]]:
        found = [c for c in self.contacts.values() if not groups or any(self._matches(c, g) for g in groups)]
        for sort in reversed(sorts or [{"propertyName": "hs_object_id"}]):
            name = sort if isinstance(sort, str) else sort.get("propertyName", "hs_object_id")
            descending = isinstance(sort, dict) and str(sort.get("direction", "")).upper() == "DESCENDING"
            found.sort(key=lambda c, n=name: self._sort_key(c, n), reverse=descending)
        return found

    def _value(self, contact: dict[str, Any], name: str) -> Any:
        if name in ("lastmodifieddate", "createdate"):
            return self._modified[contact["id"]] if name == "lastmodifieddate" else contact["properties"][name]
        return contact["properties"].get(name)

    def _sort_key(self, contact: dict[str, Any], name: str) -> tuple[Any, ...]:
        value = self._value(contact, name)
        return (value is None, _comparable(value), int(contact["id"]))

    def _matches(self, contact: dict[str, Any], group: dict[str, Any]) -> bool:
        for flt in group.get("filters", []):
            value = self._value(contact, flt.get("propertyName", ""))
            op = str(flt.get("operator", "EQ")).upper()
            if op == "HAS_PROPERTY":
                ok = value not in (None, "")
            elif op == "NOT_HAS_PROPERTY":
                ok = value in (None, "")
            else:
                target = _comparable(flt.get("value"))
                here = _comparable(value)
                if value is None:
                    ok = op == "NEQ"
                else:
                    ok = {
                        "EQ": here == target,
                        "NEQ": here != target,
                        "GT": here > target,
                        "GTE": here >= target,
                        "LT": here < target,
                        "LTE": here <= target,
                    }.get(op, False)
            if not ok:
                return False
        return True

    # -------------------------------------------------------------- writes

    def upsert(self, inputs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        results, errors = [], []
        with self._lock:
            for item in inputs:
                email = str(item.get("id", "")).strip()
                problem = self._invalid(item)
                if problem is not None:
                    code, message = problem
                    errors.append(
                        error_body(
                            message,
                            "VALIDATION_ERROR",
                            context={"ids": [email]},
                            errors=[{"message": message, "code": code}],
                            links={},
                        )
                    )
                    continue
                properties = dict(item.get("properties") or {})
                contact = self._upsert_target(email)
                if contact is None:
                    contact = self.add_contact({**properties, "email": email.lower()})
                    created = True
                else:
                    self._set(contact, properties)
                    created = False
                results.append({**self.view(contact, ()), "new": created})
        return results, errors

    def _invalid(self, item: dict[str, Any]) -> tuple[str, str] | None:
        email = str(item.get("id", "")).strip()
        if item.get("idProperty") != "email":
            return "INVALID_ID_PROPERTY", "this sandbox upserts contacts by idProperty email only"
        if not _EMAIL.match(email):
            return "INVALID_EMAIL", f'Property values were not valid: email "{email}" is not a valid email address'
        if email.lower() in self.rejects:
            return self.rejects[email.lower()]
        for name, value in (item.get("properties") or {}).items():
            kind = PROPERTIES.get(name, "missing")
            if kind == "missing":
                return "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'
            if kind is None:
                return "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set'
            text = "" if value is None else str(value)
            if kind == "enumeration" and text and text not in CONSENT_OPTIONS:
                return "INVALID_OPTION", f"{text!r} was not one of the allowed options: {', '.join(CONSENT_OPTIONS)}"
            if kind == "bool" and text and text not in ("true", "false"):
                return "INVALID_BOOLEAN", f'{text!r} is not a valid boolean for property "{name}"'
            if kind == "number" and text and not re.fullmatch(r"-?\d+(\.\d+)?", text):
                return "INVALID_INTEGER", f'{text!r} is not a valid number for property "{name}"'
        return None

    # -------------------------------------------------------------- limits

    def admit(self, search: bool) -> tuple[bool, dict[str, str], float, str]:
        """Count a request against the windows: (allowed, rate headers, retry after, policy)."""
        with self._lock:
            now = time.monotonic()
            allowed, policy = self._window.take(now), "TEN_SECONDLY_ROLLING"
            if allowed and search and not self._search_window.take(now):
                self._window.used -= 1
                allowed, policy = False, "SECONDLY"
            if allowed:
                self._daily_used += 1
            else:
                self.throttled += 1
            window = self._search_window if policy == "SECONDLY" else self._window
            headers = {
                "X-HubSpot-RateLimit-Max": str(self._window.limit),
                "X-HubSpot-RateLimit-Remaining": str(max(0, self._window.limit - self._window.used)),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.interval_ms),
                "X-HubSpot-RateLimit-Daily": str(self.daily_limit),
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily_limit - self._daily_used)),
            }
            return allowed, headers, window.reset_in(now), policy


def _comparable(value: Any) -> Any:
    """Numbers compare as numbers (timestamps are ms), everything else as lowercase text."""
    if isinstance(value, int):
        return (0, value, "")
    text = "" if value is None else str(value)
    if re.fullmatch(r"-?\d+", text):
        return (0, int(text), "")
    return (1, 0, text.lower())
