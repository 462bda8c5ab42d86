"""Bulk exports: one ``bulkOperationRunQuery`` instead of hundreds of pages.

Above ``bulk_threshold`` variants a full pull asks Shopify to run the query itself, polls the
operation until it completes, downloads the JSONL result and puts nested rows back under their
parents. A connection nested in a bulk query comes out as separate lines that carry their
parent's id as ``__parentId``; Shopify writes each parent before its children, so reassembly
streams with one parent held at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import orjson

from connectors.shopify.client import ShopifyClient
from connectors.shopify.queries import BULK_POLL, BULK_RUN, Document
from hub.sdk import FatalError

__all__ = ["iter_jsonl", "reassemble", "run_bulk_query"]

log = logging.getLogger("omnihub.connectors.shopify")

_DONE_BAD = frozenset({"FAILED", "CANCELED", "CANCELING", "EXPIRED"})


def iter_jsonl(body: bytes) -> Iterator[dict[str, Any]]:
    """Each non-empty line of a JSONL file as a dict; a line that does not parse is an error."""
    for number, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield orjson.loads(line)
        except orjson.JSONDecodeError:
            raise FatalError(f"bulk result line {number} is not JSON") from None


def reassemble(
    lines: Iterable[dict[str, Any]], orphans: list[dict[str, Any]] | None = None
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Yield ``(parent, children)`` from JSONL rows; a child whose parent is not the row before it
    (which Shopify's ordering excludes) is put in ``orphans`` instead of being lost silently."""
    parent: dict[str, Any] | None = None
    children: list[dict[str, Any]] = []
    for row in lines:
        parent_id = row.get("__parentId")
        if parent_id is None:
            if parent is not None:
                yield parent, children
            parent, children = row, []
        elif parent is not None and parent.get("id") == parent_id:
            children.append(row)
        elif orphans is not None:
            orphans.append(row)
    if parent is not None:
        yield parent, children


async def run_bulk_query(
    client: ShopifyClient,
    query: Document,
    *,
    poll_interval: float,
    timeout_s: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bytes:
    """Run ``query`` as a bulk operation and return its JSONL result (empty when nothing matched)."""
    started = await client.execute(BULK_RUN, {"query": query.text}, idempotent=False)
    payload = started.get("bulkOperationRunQuery") or {}
    errors = payload.get("userErrors") or []
    if errors or not payload.get("bulkOperation"):
        first = errors[0] if errors else {}
        raise FatalError(
            f"bulk operation refused: {first.get('code') or ''} {first.get('message') or 'no operation'}".strip(),
            connector=client.name,
        )
    operation_id = payload["bulkOperation"]["id"]
    deadline = time.monotonic() + timeout_s
    wait = poll_interval
    while True:
        node = (await client.execute(BULK_POLL, {"id": operation_id})).get("node") or {}
        status = node.get("status")
        if status == "COMPLETED":
            url = node.get("url")
            log.info("%s: bulk operation %s completed (%s objects)", client.name, operation_id, node.get("objectCount"))
            return await client.download(url) if url else b""
        if status in _DONE_BAD or status is None:
            raise FatalError(
                f"bulk operation {operation_id} ended {status or 'unknown'}: "
                f"{node.get('errorCode') or 'no error code'}",
                connector=client.name,
            )
        if time.monotonic() > deadline:
            raise FatalError(
                f"bulk operation {operation_id} still {status} after {timeout_s:.0f}s", connector=client.name
            )
        await sleep(wait)
        wait = min(wait * 1.5, 10.0)
