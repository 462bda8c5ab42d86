"""The orders stage of a stock job: pull the reserving channels' orders, keep the ledger, say what is reserved.

A stock job that names ``reservations:`` pulls those channels' orders *before* it pulls stock, so
the stock it then decides already accounts for every sale the channels had made by the time they
were read. A sale made after that read is caught by the next order pull (a webhook brings one
within seconds, the schedule within its period): it changes the SKUs' reservations, which makes
their groups be decided again, and the channel that lost the sale (WooCommerce has no
compare-and-set) is written the right value.

What one target location may sell is ``truth on hand at the locations it sells from - units
reserved there - its safety stock``. An order reserves at the canonical location it leaves from;
that location is mapped into the truth's locations by the ordering channel's own location rule
(``rules: {web: {locations: {web-warehouse: [wms-main]}}}``), and subtracted from every target
location selling from any of them: a pool shared by several locations loses the units everywhere
it is sold, never nowhere. An order that names no location reserves at every location (sold
nowhere twice rather than somewhere twice).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from hub.config.models import JobConfig
from hub.errors import OmnihubError
from hub.model.orders import Order
from hub.plugins.contract import Connector
from hub.redact import redact
from hub.state.orders import StoredOrder
from hub.state.store import Store

__all__ = ["ANYWHERE", "OrdersPulled", "Reserved", "pull_orders", "reserved_for"]

log = logging.getLogger("omnihub.engine")

#: The stream name of orders in the cursors table.
ORDERS = "orders"
#: The truth locations of an order that names none: every location.
ANYWHERE: frozenset[str] = frozenset()


@dataclass
class OrdersPulled:
    """What one channel's order pull brought."""

    channel: str
    orders: list[Order] = field(default_factory=list)
    #: (order id, reason, origin) of orders the connector could not read.
    rejected: list[tuple[str | None, str, str]] = field(default_factory=list)
    #: SKUs whose reservations the pull changed (empty in a dry run: nothing is stored).
    changed: set[str] = field(default_factory=set)
    #: Whether the pull read every order that holds stock (no cursor), rather than what changed.
    full: bool = False


async def pull_orders(store: Store, connector: Connector, *, dry_run: bool, run_id: int | None) -> OrdersPulled:
    """Read ``connector``'s orders changed since its cursor (every open one the first time), store
    them and their cursor, and quarantine the unreadable ones. A dry run reads and stores nothing
    but keeps what it read, for the caller to overlay on the ledger."""
    since = store.cursors.get(connector.name, ORDERS)
    pulled = OrdersPulled(connector.name, full=since is None)
    cursor: str | None = since
    async for page in connector.pull_orders(since):
        pulled.orders.extend(page.orders)
        pulled.rejected.extend(page.rejected)
        if page.cursor is not None:
            cursor = page.cursor
    if dry_run:
        return pulled
    pulled.changed = store.orders.apply(pulled.orders)
    if pulled.full:
        still_open = (o.order_id for o in pulled.orders if o.status.reserves)
        pulled.changed |= store.orders.close_unseen(connector.name, still_open)
    if pulled.rejected:
        rows = [(connector.name, ORDERS, key, origin, reason) for key, reason, origin in pulled.rejected]
        store.quarantine.add(run_id, rows)
    if cursor is not None:
        store.cursors.set(connector.name, ORDERS, cursor)
    return pulled


async def pull_reserving_channels(
    store: Store,
    job: JobConfig,
    connectors: Mapping[str, Connector],
    *,
    dry_run: bool,
    run_id: int | None,
) -> tuple[list[OrdersPulled], list[str]]:
    """Pull every reserving channel of ``job`` one after the other (a handful of requests each);
    answers what landed and an error per channel that could not be read (its reservations stay as
    the ledger last knew them, and the job says so)."""
    landed: list[OrdersPulled] = []
    errors: list[str] = []
    for channel in job.reservations:
        try:
            landed.append(await pull_orders(store, connectors[channel], dry_run=dry_run, run_id=run_id))
        except OmnihubError as exc:
            errors.append(f"orders of {channel} could not be read; its reservations are as last pulled: {redact(exc)}")
    return landed, errors


@dataclass(frozen=True)
class Reserved:
    """Units of one SKU reserved by the ledger, by the truth locations they leave from."""

    #: (truth locations, units); ``ANYWHERE`` for an order that names no location.
    holds: tuple[tuple[frozenset[str], int], ...] = ()

    def at(self, sources: Iterable[str]) -> int:
        """Units reserved at any of ``sources`` (the truth locations a target location sells from)."""
        wanted = set(sources)
        return sum(units for where, units in self.holds if not where or not where.isdisjoint(wanted))


def reserved_for(
    job: JobConfig, open_orders: Sequence[StoredOrder], overlay: Sequence[Order] = ()
) -> dict[str, Reserved]:
    """What ``job``'s reservations hold, by SKU: the open orders of its reserving channels not
    counted by the truth, with ``overlay`` (a dry run's fresh pull) in place of what is stored."""
    counted = set(job.counted_by_truth)
    orders = {(o.channel, o.order_id): o for o in open_orders}
    for fresh in overlay:
        orders[(fresh.channel, fresh.order_id)] = StoredOrder.of(fresh)
    holds: dict[str, list[tuple[frozenset[str], int]]] = {}
    for order in orders.values():
        if order.channel not in job.reservations or order.channel in counted:
            continue
        where = _truth_locations(job, order)
        for sku, _, units in order.holding():
            holds.setdefault(sku, []).append((where, units))
    return {sku: Reserved(tuple(h)) for sku, h in holds.items()}


def _truth_locations(job: JobConfig, order: StoredOrder) -> frozenset[str]:
    """The truth locations an order's units leave from, through its channel's location rule."""
    if order.location is None:
        return ANYWHERE
    mapped = job.rules_for(order.channel).locations.get(order.location)
    return frozenset(mapped) if mapped else frozenset({order.location})
