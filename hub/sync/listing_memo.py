"""Pages of a platform listing kept for one sync, so that entities read from one listing read it once.

Some platforms list several canonical entities in one resource: WooCommerce's ``/products`` (and
``/variations``) carry products, prices and stock alike. The jobs of one ``omnihub sync`` share
their connectors (``Engine.sync``), so a connector that keeps what it listed can answer the second
entity's pull without asking again. A kept listing is replayed for an entity only while that entity
has not been written through the connector since the listing was read (a prices push changes no
stock, but a second stock job must see the first one's writes), and only listings up to
``max_items`` records are kept, so a large catalogue is streamed and read again rather than held.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass
from typing import Any

__all__ = ["ListingMemo"]


@dataclass(frozen=True, slots=True)
class _Listing:
    pages: tuple[list[Any], ...]
    items: int
    #: What had been written through the connector when the listing was read.
    written_before: frozenset[Hashable]


class ListingMemo:
    """Listings read whole during a connector's life, by key (a path and its query)."""

    def __init__(self, max_items: int = 10_000) -> None:
        #: The most records kept over every listing (a raw product is a few kilobytes).
        self.max_items = max_items
        self._listings: dict[Hashable, _Listing] = {}
        self._written: set[Hashable] = set()
        #: Listings answered from memory instead of the platform (for tests and benchmarks).
        self.replayed = 0

    def wrote(self, entity: Hashable) -> None:
        """``entity`` was written through the connector: listings read before are stale for it."""
        self._written.add(entity)

    async def pages(
        self, key: Hashable, entity: Hashable, fetch: Callable[[], AsyncIterator[list[Any]]]
    ) -> AsyncIterator[list[Any]]:
        """The pages of listing ``key`` for ``entity``: kept ones while still valid for it, else
        ``fetch()``'s, kept when the listing is read to its end and fits the budget."""
        kept = self._listings.get(key)
        if kept is not None and entity not in self._written - kept.written_before:
            self.replayed += 1
            for page in kept.pages:
                yield page
            return
        written_before = frozenset(self._written)
        pages: list[list[Any]] | None = []
        items = 0
        room = self.max_items - sum(k.items for k in self._listings.values() if k is not kept)
        async for page in fetch():
            if pages is not None:
                items += len(page)
                if items <= room:
                    pages.append(page)
                else:
                    pages = None  # too large to keep: streamed, and read again when asked again
            yield page
        if pages is not None:
            self._listings[key] = _Listing(tuple(pages), items, written_before)
