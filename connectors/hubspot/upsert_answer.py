"""Which input each part of a batch upsert's answer speaks of.

HubSpot's batch upsert answer does not echo its inputs. A result carries the contact's ``id`` and the
properties HubSpot chose to return, which need not include the values written or even the e-mail;
and an e-mail that is another contact's secondary address upserts that contact, so a result's
e-mail, when there is one, need not be the one sent. Each input is therefore answered by what is
known for sure, in this order:

1. an error names its inputs (``context.ids``: the e-mails sent), so those inputs failed;
2. a result whose ``id`` is the contact the input was linked to by a pull answers that input;
3. a result whose ``properties.email`` is the e-mail an input sent answers that input;
4. what is left is decided by counting. HubSpot answers every input with one result or one error,
   so when every error was placed and exactly as many results as inputs are left, every input left
   succeeded: with one left, its result (and contact id) is known; with several, each one succeeded
   but which contact is whose is not, so they are confirmed without a contact id (the next pull
   links them). Otherwise (an error that names no input, or fewer results than inputs) the inputs
   left are reported unconfirmed and retried: repeating an upsert is harmless, and silence is not a
   success.

A success whose properties came back empty is still a success: it is never left to be retried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hub.sdk import PushResult, dig

__all__ = ["Sent", "read_upsert"]


@dataclass(frozen=True, slots=True)
class Sent:
    """One input of a batch upsert: the change's key, the e-mail sent as ``id``, the linked contact id."""

    key: str
    email: str
    contact_id: str | None


def read_upsert(sent: Sequence[Sent], data: Any) -> dict[str, PushResult]:
    """A result for every input of ``sent`` (by change key) from the answer's body ``data``."""
    answers: dict[str, PushResult] = {}
    by_email = {s.email: s for s in sent}
    unplaced_errors = 0
    for error in _list(data, "errors"):
        ids = (str(i).strip().lower() for i in dig(error, "context.ids") or [])
        named = [by_email[e] for e in ids if e in by_email]
        if not named:
            unplaced_errors += 1
        for item in named:
            answers[item.key] = _failure(item.key, error)
    results = [r for r in _list(data, "results") if isinstance(r, Mapping)]
    left = [s for s in sent if s.key not in answers]
    for match in (_by_contact_id, _by_email):
        for result in list(results):
            item = match(result, left)
            if item is not None:
                answers[item.key] = _success(item.key, result)
                left.remove(item)
                results.remove(result)
    if left and not unplaced_errors and len(results) == len(left):
        if len(left) == 1:
            answers[left[0].key] = _success(left[0].key, results[0])
        else:
            answers.update((item.key, PushResult(item.key, ok=True)) for item in left)
        left = []
    for item in left:
        answers[item.key] = PushResult(
            item.key,
            ok=False,
            retriable=True,
            code="UNCONFIRMED",
            message="HubSpot's answer does not show whether this contact was written; it is sent again next time",
        )
    return answers


def _by_contact_id(result: Mapping[str, Any], left: Sequence[Sent]) -> Sent | None:
    contact_id = str(result.get("id") or "")
    found = [s for s in left if contact_id and s.contact_id == contact_id]
    return found[0] if len(found) == 1 else None


def _by_email(result: Mapping[str, Any], left: Sequence[Sent]) -> Sent | None:
    email = str(dig(result, "properties.email") or "").strip().lower()
    return next((s for s in left if email and s.email == email), None)


def _success(key: str, result: Mapping[str, Any]) -> PushResult:
    contact_id = result.get("id")
    return PushResult(key, ok=True, link={"contact_id": str(contact_id)} if contact_id else None)


def _failure(key: str, error: Mapping[str, Any]) -> PushResult:
    details = error.get("errors") if isinstance(error.get("errors"), list) else []
    first = details[0] if details and isinstance(details[0], Mapping) else {}
    sub = error.get("subCategory")
    code = first.get("code") or (sub if isinstance(sub, str) else None) or error.get("category") or "ERROR"
    return PushResult(key, ok=False, code=str(code), message=str(error.get("message") or code))


def _list(data: Any, path: str) -> list[Any]:
    found = dig(data, path)
    return found if isinstance(found, list) else []
