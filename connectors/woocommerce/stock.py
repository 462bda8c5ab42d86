"""Stock writes that keep a sale made between the pull and the push.

WooCommerce has no compare-and-set, so each push re-reads the items right before writing:

* the value is already the one wanted: nothing to write (this also makes a resent push harmless);
* the value is still the one pulled: write the wanted value;
* it moved (a sale): keep the sale, write ``wanted - (pulled - now)`` (never below 0) and answer
  ``ok=False, stale=True, actual={"available": <the quantity left on the platform>}``.

Re-reads go by SKU, 100 per call, because ``GET /products?sku=a,b,...`` answers simple products and
variations alike whatever their parent; reading by ``include`` would need one call per parent
product. Items a SKU read cannot find (a comma in the SKU, a SKU changed since) are read by id.

A stock batch is never resent blindly when its answer is lost (a 5xx, a dropped connection): the
next round re-reads and sees whether the write landed (the value is the one written), did not land
(the value is the one seen before), or cannot be told apart from a sale (anything else; then
nothing is written and the result says so, for the next run to decide).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connectors.woocommerce.batches import BatchItem, Outcome, send_batches
from connectors.woocommerce.client import PAGE_SIZE, WooClient, chunks
from connectors.woocommerce.values import stock_amount, unstored
from hub.sdk import Change, EntityMapping, PushResult

__all__ = ["StockWriter"]

_GONE = "the product is gone from WooCommerce, or its SKU changed, since the pull"
#: Re-read-and-write rounds for items whose write answer was lost.
_ROUNDS = 3


@dataclass(slots=True)
class _Item:
    ref: int
    change: Change
    sku: str
    product_id: str
    parent_id: str | None
    wanted: int
    pulled: int | None
    #: The quantity seen by the last re-read, and the value a write with a lost answer tried to set.
    seen: int | None = None
    sent: int | None = None
    #: The result to give if the write in flight turns out to have landed.
    planned: PushResult | None = None
    #: The item's in-stock flag contradicted its quantity (a half-saved item): write the quantity
    #: even if it is already the one wanted, so WooCommerce derives the flag again.
    repair: bool = False


class StockWriter:
    """One push of stock changes: re-read, decide, write in batches per parent, answer per change."""

    def __init__(self, client: WooClient, mapping: EntityMapping, *, manage_stock: bool) -> None:
        self.client = client
        self.mapping = mapping
        self.manage_stock = manage_stock

    async def push(self, changes: Sequence[Change]) -> list[PushResult]:
        results: dict[int, PushResult] = {}
        pending: list[_Item] = []
        for ref, change in enumerate(changes):
            item = _item(ref, change)
            if isinstance(item, PushResult):
                results[ref] = item
            else:
                pending.append(item)
        for _ in range(_ROUNDS):
            if not pending:
                break
            pending = await self._round(pending, results)
        for item in pending:
            results[item.ref] = PushResult(
                item.change.key,
                ok=False,
                code="unavailable",
                message="WooCommerce did not answer the stock write; it will be re-read and retried",
                retriable=True,
            )
        return [results[ref] for ref in range(len(changes))]

    async def _round(self, items: list[_Item], results: dict[int, PushResult]) -> list[_Item]:
        current = await self._reread(items)
        writes: list[tuple[_Item, int, PushResult]] = []
        for item in items:
            record = current.get(item.product_id)
            if record is None:
                results[item.ref] = _fail(item, "woocommerce_rest_product_invalid_id", _GONE)
                continue
            managed = bool(record.get("manage_stock"))
            now = record.get("stock_quantity") if managed else None
            if item.sent is not None:  # the previous round's write answer was lost
                if now == item.sent and item.planned is not None:
                    results[item.ref] = item.planned
                    continue
                if now != item.seen:
                    results[item.ref] = PushResult(
                        item.change.key,
                        ok=False,
                        stale=True,
                        actual={"available": now},
                        code="stock_write_unconfirmed",
                        message=(
                            f"the answer to writing {item.sent} was lost and the quantity is now {now}: "
                            "not written again, so that neither the write nor a sale is applied twice"
                        ),
                    )
                    continue
            if not managed and not self.manage_stock:
                results[item.ref] = _fail(
                    item,
                    "stock_not_managed",
                    "WooCommerce does not manage stock for this item, so a quantity written would be ignored; "
                    "turn on 'Manage stock' for it, or set manage_stock: true on this connector",
                )
                continue
            item.seen = now
            decision = _decide(item, now, torn=item.repair and _torn(record))
            if isinstance(decision, PushResult):
                results[item.ref] = decision
            else:
                value, planned = decision
                writes.append((item, value, planned))
        return await self._write(writes, results)

    async def _write(self, writes: list[tuple[_Item, int, PushResult]], results: dict[int, PushResult]) -> list[_Item]:
        batch = []
        for item, value, _planned in writes:
            body: dict[str, Any] = {"id": int(item.product_id), **self.mapping.to_platform({"available": value})}
            if self.manage_stock:
                body["manage_stock"] = True
            path = f"products/{item.parent_id}/variations/batch" if item.parent_id else "products/batch"
            batch.append(BatchItem(item.ref, path, "update", body))
        outcomes = await send_batches(self.client, batch, resend_updates=False) if batch else {}
        retry = []
        for item, value, planned in writes:
            outcome: Outcome = outcomes[item.ref]
            wrong = unstored({"stock_quantity": value}, outcome.record, ("stock_quantity",)) if outcome.ok else None
            if wrong:
                results[item.ref] = _fail(item, "not_stored", wrong)
            elif outcome.ok:
                results[item.ref] = planned
            elif outcome.uncertain:
                item.sent, item.planned = value, planned
                retry.append(item)
            else:
                results[item.ref] = _fail(item, outcome.code or "error", outcome.message or "")
        return retry

    async def _reread(self, items: list[_Item]) -> dict[str, dict[str, Any]]:
        """The current records of ``items`` by id: by SKU 100 per call, the rest by id."""
        found: dict[str, dict[str, Any]] = {}
        wanted = {item.product_id for item in items}
        by_sku = sorted({item.sku for item in items if "," not in item.sku})
        for part in chunks(by_sku, PAGE_SIZE):
            for record in await self.client.get_list("products", {"sku": ",".join(part)}):
                key = str(record.get("id"))
                if key in wanted:
                    found[key] = record
        missing: dict[str | None, list[str]] = {}
        for item in items:
            if item.product_id not in found:
                missing.setdefault(item.parent_id, []).append(item.product_id)
        for parent, ids in missing.items():
            path = f"products/{parent}/variations" if parent else "products"
            for part in chunks(sorted(set(ids)), PAGE_SIZE):
                for record in await self.client.get_list(path, {"include": ",".join(part)}):
                    found[str(record.get("id"))] = record
        return found


def _item(ref: int, change: Change) -> _Item | PushResult:
    product_id = change.link.get("product_id")
    wanted = change.values.get("available")
    if not product_id:
        return PushResult(
            change.key,
            ok=False,
            code="not_linked",
            message="no WooCommerce product is linked to this SKU; stock is written to existing products only",
        )
    try:
        wanted = stock_amount(wanted)
    except ValueError as exc:
        return PushResult(change.key, ok=False, code="invalid_quantity", message=str(exc))
    pulled = change.previous.get("available")
    return _Item(
        ref=ref,
        change=change,
        sku=change.key.rsplit("@", 1)[0],
        product_id=product_id,
        parent_id=change.link.get("parent_id") or None,
        wanted=wanted,
        pulled=pulled if isinstance(pulled, int) else None,
        repair="in_stock" in change.values,
    )


def _torn(record: dict[str, Any]) -> bool:
    """The stock status WooCommerce shows contradicts the quantity it holds."""
    status, quantity = record.get("stock_status"), record.get("stock_quantity")
    if status not in ("instock", "outofstock") or not isinstance(quantity, int):
        return False  # backorders allowed, or no quantity: nothing to contradict
    return (status == "instock") != (quantity > 0)


def _decide(item: _Item, now: int | None, *, torn: bool = False) -> PushResult | tuple[int, PushResult]:
    """Nothing to write (a result), or the value to write and the result to give once it is written."""
    key = item.change.key
    if now == item.wanted:
        return (item.wanted, PushResult(key, ok=True)) if torn else PushResult(key, ok=True)
    if now is None or item.pulled is None or now == item.pulled:
        return item.wanted, PushResult(key, ok=True)
    kept = max(0, item.wanted - (item.pulled - now))
    planned = PushResult(
        key,
        ok=False,
        stale=True,
        actual={"available": kept},
        code="stock_moved",
        message=(
            f"the quantity moved from {item.pulled} to {now} since the pull (a sale?); "
            f"wrote {kept} instead of {item.wanted} so that the movement is kept"
        ),
    )
    if kept == now:
        return planned
    return kept, planned


def _fail(item: _Item, code: str, message: str) -> PushResult:
    return PushResult(item.change.key, ok=False, code=code, message=message)
