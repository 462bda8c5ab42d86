"""Orders: the last state of every order the hub pulled, from which the reservation ledger is read.

An order is stored as the hub's ``Order`` says (status in the hub's vocabulary, lines of SKU and
quantity, the canonical location it leaves from). Platforms answer the same order again and again
(every incremental pull re-reads the newest change); a version older than the one stored (an
answer that crossed a newer one) is ignored, so the ledger never goes back in time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select

from hub.model.orders import Order, OrderStatus
from hub.state import schema as t
from hub.state.sql import IN_CHUNK, Repository, aware, chunks, utcnow

__all__ = ["ANY_LOCATION", "OrderRepository", "StoredOrder"]

#: The location of an order that names none in the ledger: it reserves at every location.
ANY_LOCATION = "*"


@dataclass(frozen=True)
class StoredOrder:
    """One order as the ledger keeps it."""

    channel: str
    order_id: str
    status: OrderStatus
    location: str | None
    pickup: bool
    created_at: datetime
    updated_at: datetime
    #: (SKU, quantity) per line, SKUs repeated when the platform repeats them.
    lines: tuple[tuple[str, int], ...]

    @property
    def reserves(self) -> bool:
        return self.status.reserves

    def holding(self) -> frozenset[tuple[str, str | None, int]]:
        """What the order holds: (SKU, location, units), nothing unless it is open."""
        if not self.reserves:
            return frozenset()
        units: dict[str, int] = {}
        for sku, quantity in self.lines:
            units[sku] = units.get(sku, 0) + quantity
        return frozenset((sku, self.location, n) for sku, n in units.items())

    @classmethod
    def of(cls, order: Order) -> StoredOrder:
        return cls(
            order.channel,
            order.order_id,
            order.status,
            order.location,
            order.pickup,
            order.created_at,
            order.updated_at,
            tuple((line.sku, line.quantity) for line in order.lines),
        )


class OrderRepository(Repository):
    """``store.orders``: one row per channel and order id."""

    def apply(self, orders: Sequence[Order]) -> set[str]:
        """Store ``orders`` (a version older than the stored one is skipped) and answer the SKUs
        whose reservations they changed: the lines an order holds now and the lines it held."""
        newest: dict[tuple[str, str], StoredOrder] = {}
        for order in orders:
            stored = StoredOrder.of(order)
            key = (stored.channel, stored.order_id)
            if key not in newest or newest[key].updated_at <= stored.updated_at:
                newest[key] = stored
        if not newest:
            return set()
        before = self._load(list(newest))
        changed: set[str] = set()
        rows = []
        now = utcnow()
        for key, order in newest.items():
            old = before.get(key)
            if old is not None and old.updated_at > order.updated_at:
                continue
            held, was = order.holding(), old.holding() if old is not None else frozenset()
            if held != was:
                changed |= {sku for sku, _, _ in held | was}
            rows.append(_row(order, now))
        self._upsert(
            t.orders,
            ["channel", "order_id"],
            rows,
            ["status", "location", "pickup", "created_at", "updated_at", "lines", "seen_at"],
        )
        return changed

    def open_orders(self, channels: Iterable[str] | None = None) -> list[StoredOrder]:
        """The orders that hold stock, of ``channels`` (every channel when None), oldest first."""
        o = t.orders.c
        query = select(t.orders).where(o.status == OrderStatus.open.value)
        if channels is not None:
            query = query.where(o.channel.in_(list(channels)))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(o.created_at, o.channel, o.order_id)).mappings().all()
        return [_stored(row) for row in rows]

    def ledger(self) -> list[dict[str, Any]]:
        """The reservation ledger as ``omnihub reservations --json`` and the console show it: per
        ``SKU@location`` (``SKU@*`` for an order that names no location) the units reserved and the
        orders holding them, largest first."""
        rows: dict[str, dict[str, Any]] = {}
        for order in self.open_orders():
            for sku, location, units in sorted(order.holding(), key=lambda held: (held[0], held[1] or "")):
                key = f"{sku}@{location or ANY_LOCATION}"
                row = rows.setdefault(key, {"key": key, "reserved": 0, "orders": []})
                row["reserved"] += units
                row["orders"].append(
                    {"connector": order.channel, "order": order.order_id, "quantity": units, "pickup": order.pickup}
                )
        return sorted(rows.values(), key=lambda r: (-r["reserved"], r["key"]))

    def close_unseen(self, channel: str, seen: Iterable[str]) -> set[str]:
        """After a complete read of ``channel``'s open orders: its orders stored as open that the read
        did not answer hold nothing any more (closed while no pull saw them). They are forgotten,
        and the SKUs they held are answered so that those groups are decided again."""
        seen_ids = set(seen)
        gone = [o for o in self.open_orders([channel]) if o.order_id not in seen_ids]
        if not gone:
            return set()
        oc = t.orders.c
        with self.engine.begin() as conn:
            for chunk in chunks([o.order_id for o in gone], IN_CHUNK):
                conn.execute(delete(t.orders).where(oc.channel == channel, oc.order_id.in_(list(chunk))))
        return {sku for order in gone for sku, _ in order.lines}

    def get(self, channel: str, order_id: str) -> StoredOrder | None:
        return self._load([(channel, order_id)]).get((channel, order_id))

    def prune(self, before: datetime) -> int:
        """Forget closed orders (fulfilled, cancelled, refunded) last changed before ``before``: they
        hold nothing, and a pull that meets one again stores it again."""
        o = t.orders.c
        closed = [OrderStatus.fulfilled.value, OrderStatus.cancelled.value, OrderStatus.refunded.value]
        with self.engine.begin() as conn:
            return conn.execute(delete(t.orders).where(o.status.in_(closed), o.updated_at < before)).rowcount or 0

    def _load(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], StoredOrder]:
        o = t.orders.c
        out: dict[tuple[str, str], StoredOrder] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(keys, IN_CHUNK // 2):
                match = or_(*(and_(o.channel == c, o.order_id == i) for c, i in chunk))
                for row in conn.execute(select(t.orders).where(match)).mappings():
                    stored = _stored(row)
                    out[(stored.channel, stored.order_id)] = stored
        return out


def _row(order: StoredOrder, now: datetime) -> dict[str, object]:
    return {
        "channel": order.channel,
        "order_id": order.order_id,
        "status": order.status.value,
        "location": order.location,
        "pickup": int(order.pickup),
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "lines": json.dumps([list(line) for line in order.lines]),
        "seen_at": now,
    }


def _stored(row: object) -> StoredOrder:
    values = dict(row)  # type: ignore[call-overload]
    return StoredOrder(
        channel=values["channel"],
        order_id=values["order_id"],
        status=OrderStatus(values["status"]),
        location=values["location"],
        pickup=bool(values["pickup"]),
        created_at=aware(values["created_at"]),  # type: ignore[arg-type]
        updated_at=aware(values["updated_at"]),  # type: ignore[arg-type]
        lines=tuple((str(sku), int(n)) for sku, n in json.loads(values["lines"])),
    )
