"""Batch writes: items grouped by route, at most 100 per call, answers matched back to items.

WooCommerce's ``POST .../batch`` answers **200** even when some items failed: each failed item
comes back as ``{id, error: {code, message, data}}`` in place of the record. Those become
per-item failures with WooCommerce's own code and message; the items that went through are done
and are never sent again. A whole call that fails is reported for its own items only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from connectors.woocommerce.client import BATCH_LIMIT, WooClient, chunks
from hub.sdk import AuthError, FatalError, RetriableError

__all__ = ["BatchItem", "Outcome", "send_batches"]

Kind = Literal["create", "update"]


@dataclass(slots=True)
class BatchItem:
    """One item to write: ``ref`` is the caller's handle, ``path`` the batch route it goes to."""

    ref: int
    path: str
    kind: Kind
    body: dict[str, Any]


@dataclass(slots=True)
class Outcome:
    """What became of one item: the record WooCommerce returned, or why not."""

    ok: bool
    record: dict[str, Any] = field(default_factory=dict)
    code: str | None = None
    message: str | None = None
    #: The whole call failed transiently: the item may or may not have been applied.
    uncertain: bool = False


async def send_batches(
    client: WooClient, items: Sequence[BatchItem], *, resend_updates: bool = True
) -> dict[int, Outcome]:
    """Send ``items`` in calls of at most 100 per route, concurrently (the transport bounds it).

    Calls holding only updates are marked idempotent, since an update sets absolute values and
    applying it twice leaves the same state; a call that creates is not, so a lost answer is
    never answered by creating twice. ``resend_updates=False`` keeps updates from being resent too
    (stock: a resend could overwrite a sale made in between; its caller re-reads instead).
    ``AuthError`` propagates: nothing else can succeed.
    """
    by_route: dict[tuple[str, bool], list[BatchItem]] = {}
    for item in items:
        by_route.setdefault((item.path, item.kind == "create"), []).append(item)
    calls = [
        (path, list(part))
        for (path, _creates), route_items in by_route.items()
        for part in chunks(route_items, BATCH_LIMIT)
    ]
    answers = await asyncio.gather(
        *(_one_call(client, path, part, resend_updates) for path, part in calls), return_exceptions=True
    )
    outcomes: dict[int, Outcome] = {}
    for (_, part), answer in zip(calls, answers, strict=True):
        if isinstance(answer, AuthError):
            raise answer
        if isinstance(answer, BaseException) and not isinstance(answer, (FatalError, RetriableError)):
            raise answer
        if isinstance(answer, BaseException):
            outcome = _failed_call(answer)
            outcomes.update({item.ref: outcome for item in part})
        else:
            outcomes.update(answer)
    return outcomes


async def _one_call(client: WooClient, path: str, part: list[BatchItem], resend_updates: bool) -> dict[int, Outcome]:
    body: dict[str, list[dict[str, Any]]] = {}
    for item in part:
        body.setdefault(item.kind, []).append(item.body)
    answer = await client.batch(path, body, idempotent=resend_updates and "create" not in body)
    outcomes: dict[int, Outcome] = {}
    for kind in ("create", "update"):
        sent = [i for i in part if i.kind == kind]
        if sent:
            outcomes.update(_match(sent, answer.get(kind), kind))
    return outcomes


def _match(sent: list[BatchItem], answered: Any, kind: str) -> dict[int, Outcome]:
    """Pair each sent item with its answer: by position (WooCommerce keeps the order), checked by id."""
    answers = [a for a in answered if isinstance(a, Mapping)] if isinstance(answered, list) else []
    by_id = {str(a.get("id")): a for a in answers if a.get("id") not in (None, 0)}
    outcomes = {}
    for position, item in enumerate(sent):
        candidate = answers[position] if position < len(answers) else None
        wanted = str(item.body.get("id")) if "id" in item.body else None
        if wanted is not None and (candidate is None or str(candidate.get("id")) != wanted):
            candidate = by_id.get(wanted)
        if candidate is None:
            outcomes[item.ref] = Outcome(
                ok=False, code="missing_answer", message=f"WooCommerce's batch answer has no {kind} entry for this item"
            )
            continue
        error = candidate.get("error")
        if isinstance(error, Mapping):
            outcomes[item.ref] = Outcome(
                ok=False, code=str(error.get("code") or "error"), message=str(error.get("message") or "")
            )
        else:
            outcomes[item.ref] = Outcome(ok=True, record=dict(candidate))
    return outcomes


def _failed_call(exc: FatalError | RetriableError) -> Outcome:
    if isinstance(exc, RetriableError):
        return Outcome(ok=False, code="unavailable", message=str(exc), uncertain=True)
    code = getattr(exc, "platform_code", None) or (f"http_{exc.status}" if exc.status else "request_failed")
    return Outcome(ok=False, code=code, message=getattr(exc, "platform_message", None) or str(exc))
