"""Writes: prices per product, stock by compare-and-set, customers with consent protected.

Every per-record refusal (``userErrors``) becomes a ``PushResult`` carrying Shopify's code and
message; only a whole-request failure that cannot be retried (bad token) escapes as an exception.
A transient failure of one request marks its own changes ``retriable`` and the others go on.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.shopify.client import ShopifyClient
from connectors.shopify.queries import (
    CUSTOMER_CONSENT_UPDATE,
    CUSTOMER_CREATE,
    CUSTOMER_UPDATE,
    IDEMPOTENT_STOCK_SINCE,
    PRICE_UPDATE,
    STOCK_LEVEL,
    stock_set_for,
)
from connectors.shopify.settings import ShopifySettings, version_at_least
from hub.sdk import Change, Consent, Entity, PushResult, RetriableError, dig, load_mapping
from hub.sdk import Mapping as FieldMapping

__all__ = ["STALE_CODES", "Writer"]

log = logging.getLogger("omnihub.connectors.shopify")

#: The compare-and-set refusals: the quantity moved since it was read.
STALE_CODES = frozenset({"COMPARE_QUANTITY_STALE", "CHANGE_FROM_QUANTITY_STALE"})
_CONSENT_FIELDS = frozenset({"email_marketing", "consent_updated_at"})


def error_index(field: Any, list_name: str) -> int | None:
    """The position a ``userErrors[].field`` path points at (``["input", "quantities", "3", ...]``)."""
    if not isinstance(field, list):
        return None
    for i, part in enumerate(field[:-1]):
        if part == list_name and str(field[i + 1]).isdigit():
            return int(field[i + 1])
    return None


def _failed(change: Change, error: Mapping[str, Any]) -> PushResult:
    return PushResult(change.key, ok=False, code=error.get("code") or "USER_ERROR", message=error.get("message"))


def _transient(changes: Sequence[Change], exc: RetriableError) -> list[PushResult]:
    return [PushResult(c.key, ok=False, code="TRANSIENT", message=str(exc), retriable=True) for c in changes]


@dataclass
class _Quantity:
    change: Change
    item: str
    location: str
    desired: int
    compare: int
    #: Set when a sale happened since the pull and the write was adjusted to keep it.
    sold: int = 0
    stale_code: str | None = None


class Writer:
    """One push call's worth of writes for one connector."""

    def __init__(
        self, name: str, client: ShopifyClient, settings: ShopifySettings, mapping: FieldMapping | None
    ) -> None:
        self.name = name
        self.client = client
        self.settings = settings
        self.mapping = mapping or load_mapping("shopify", settings={"locations": dict(settings.locations)})

    # ------------------------------------------------------------------ prices

    async def prices(self, changes: Sequence[Change]) -> list[PushResult]:
        """One ``productVariantsBulkUpdate`` per product, carrying all of its changed variants."""
        results: dict[str, PushResult] = {}
        by_product: dict[str, list[Change]] = defaultdict(list)
        for change in changes:
            if not change.link.get("product_id") or not change.link.get("variant_id"):
                results[change.key] = PushResult(
                    change.key, ok=False, code="NOT_LINKED", message="variant not found on Shopify; create it there"
                )
            else:
                by_product[change.link["product_id"]].append(change)
        for product_id, group in by_product.items():
            variants = [
                {"id": c.link["variant_id"], **self.mapping[Entity.prices].to_platform(c.values)} for c in group
            ]
            try:
                data = await self.client.execute(PRICE_UPDATE, {"productId": product_id, "variants": variants})
            except RetriableError as exc:
                results.update((r.key, r) for r in _transient(group, exc))
                continue
            payload = data.get("productVariantsBulkUpdate") or {}
            bad: dict[int, Mapping[str, Any]] = {}
            for error in payload.get("userErrors") or []:
                index = error_index(error.get("field"), "variants")
                for i in [index] if index is not None else range(len(group)):
                    bad.setdefault(i, error)
            for i, change in enumerate(group):
                results[change.key] = _failed(change, bad[i]) if i in bad else PushResult(change.key, ok=True)
        return [results[c.key] for c in changes]

    # ------------------------------------------------------------------ stock

    async def stock(self, changes: Sequence[Change]) -> list[PushResult]:
        """``inventorySetQuantities`` of ``available``, guarded by the quantity seen at pull time.

        Shopify applies such a call all or nothing. When some items moved (a sale), each is read
        again and the call is sent once more with the sale kept: ``desired - (previous - now)``.
        """
        results: dict[str, PushResult] = {}
        pending: list[_Quantity] = []
        for change in changes:
            try:
                pending.append(await self._quantity(change))
            except ValueError as exc:
                results[change.key] = PushResult(change.key, ok=False, code="NOT_LINKED", message=str(exc))
            except RetriableError as exc:
                results.update((r.key, r) for r in _transient([change], exc))
        for attempt in (1, 2):
            if not pending:
                break
            try:
                errors = await self._set_quantities(pending)
            except RetriableError as exc:
                results.update((r.key, r) for r in _transient([q.change for q in pending], exc))
                break
            if not errors:
                results.update((q.change.key, self._applied(q)) for q in pending)
                break
            retry: list[_Quantity] = []
            by_index: dict[int, Mapping[str, Any]] = {}
            for error in errors:
                index = error_index(error.get("field"), "quantities")
                for i in [index] if index is not None else range(len(pending)):
                    by_index.setdefault(i, error)
            for i, quantity in enumerate(pending):
                error = by_index.get(i)
                if error is None:
                    retry.append(quantity)  # refused only because another item was
                elif error.get("code") in STALE_CODES:
                    result = await self._after_stale(quantity, error, last_try=attempt == 2)
                    if result is None:
                        retry.append(quantity)
                    else:
                        results[quantity.change.key] = result
                else:
                    results[quantity.change.key] = _failed(quantity.change, error)
            pending = retry
        else:
            for q in pending:
                results[q.change.key] = PushResult(
                    q.change.key,
                    ok=False,
                    code="BATCH_REFUSED",
                    message="refused twice with other items",
                    retriable=True,
                )
        return [results[c.key] for c in changes]

    async def _quantity(self, change: Change) -> _Quantity:
        item = change.link.get("inventory_item_id")
        location = change.link.get("location_id")
        if not item or not location:
            raise ValueError("inventory item not linked at this location; stock it on Shopify first")
        desired = int(change.values["available"])
        previous = change.previous.get("available")
        compare = int(previous) if previous is not None else await self._read_available(item, location)
        return _Quantity(change, item, location, max(0, desired), compare)

    async def _read_available(self, item: str, location: str) -> int:
        data = await self.client.execute(STOCK_LEVEL, {"item": item, "location": location})
        quantities = dig(data, "inventoryItem.inventoryLevel.quantities")
        if quantities is None:
            raise ValueError(f"inventory item {item} is not stocked at {location}")
        return int(next(q["quantity"] for q in quantities if q["name"] == "available"))

    async def _set_quantities(self, batch: list[_Quantity]) -> list[Mapping[str, Any]]:
        version = self.settings.api_version
        new_style = version_at_least(version, IDEMPOTENT_STOCK_SINCE)
        compare_field = "changeFromQuantity" if new_style else "compareQuantity"
        quantities = [
            {"inventoryItemId": q.item, "locationId": q.location, "quantity": q.desired, compare_field: q.compare}
            for q in batch
        ]
        variables: dict[str, Any] = {"input": {"name": "available", "reason": "correction", "quantities": quantities}}
        if new_style:
            key = hashlib.sha256(
                "|".join(f"{q.change.idempotency_key}:{q.desired}:{q.compare}" for q in batch).encode()
            )
            variables["idempotencyKey"] = key.hexdigest()[:64]
        else:
            variables["input"]["ignoreCompareQuantity"] = False
        # Compare-and-set makes a repeat harmless: a second application is refused as stale.
        data = await self.client.execute(stock_set_for(version), variables, idempotent=True)
        return list(dig(data, "inventorySetQuantities.userErrors") or [])

    async def _after_stale(self, quantity: _Quantity, error: Mapping[str, Any], *, last_try: bool) -> PushResult | None:
        """Read the level again; ``None`` means "send it again, adjusted", else the final answer."""
        try:
            now = await self._read_available(quantity.item, quantity.location)
        except (ValueError, RetriableError) as exc:
            return PushResult(quantity.change.key, ok=False, code=error.get("code"), message=str(exc), retriable=True)
        if now == quantity.desired:
            return PushResult(quantity.change.key, ok=True)  # already there (an earlier attempt landed)
        if last_try:
            return PushResult(
                quantity.change.key,
                ok=False,
                code=error.get("code"),
                message="the quantity moved again while writing; nothing was overwritten",
                stale=True,
                actual={"available": now},
            )
        sold = quantity.compare - now
        quantity.sold += sold
        quantity.stale_code = error.get("code")
        quantity.desired = max(0, quantity.desired - sold)
        quantity.compare = now
        return None

    @staticmethod
    def _applied(quantity: _Quantity) -> PushResult:
        if not quantity.sold:
            return PushResult(quantity.change.key, ok=True)
        return PushResult(
            quantity.change.key,
            ok=False,
            stale=True,
            code=quantity.stale_code,
            message=f"{quantity.sold} sold since the pull: wrote {quantity.desired} to keep the sale",
            actual={"available": quantity.desired},
        )

    # ------------------------------------------------------------------ customers

    async def customers(self, changes: Sequence[Change]) -> list[PushResult]:
        results = []
        for change in changes:
            try:
                results.append(await self._customer(change))
            except RetriableError as exc:
                results.extend(_transient([change], exc))
        return results

    async def _customer(self, change: Change) -> PushResult:
        mapping = self.mapping[Entity.customers]
        customer_id = change.link.get("customer_id")
        if not customer_id:
            if change.record is None:
                return PushResult(change.key, ok=False, code="NOT_LINKED", message="no customer record to create")
            values = {k: v for k, v in change.record.model_dump().items() if v not in (None, (), [])}
            data = await self.client.execute(CUSTOMER_CREATE, {"input": mapping.to_platform(values)}, idempotent=False)
            payload = data.get("customerCreate") or {}
            if errors := payload.get("userErrors"):
                return _failed(change, errors[0])
            return PushResult(change.key, ok=True, link={"customer_id": str(dig(payload, "customer.id"))})
        profile = {k: v for k, v in change.values.items() if k not in _CONSENT_FIELDS}
        if profile:
            data = await self.client.execute(
                CUSTOMER_UPDATE, {"input": {"id": customer_id, **mapping.to_platform(profile)}}
            )
            if errors := dig(data, "customerUpdate.userErrors"):
                return _failed(change, errors[0])
        if "email_marketing" in change.values:
            return await self._consent(change, customer_id)
        return PushResult(change.key, ok=True)

    async def _consent(self, change: Change, customer_id: str) -> PushResult:
        """Consent belongs to the person: an unsubscribe always goes out, a re-subscribe never does."""
        target = Consent(change.values["email_marketing"])
        current = change.previous.get("email_marketing")
        if target is Consent.subscribed and current == Consent.unsubscribed:
            return PushResult(
                change.key,
                ok=False,
                code="CONSENT_PROTECTED",
                message="the customer unsubscribed on Shopify; omnihub never subscribes them again",
            )
        consent = self.mapping[Entity.customers].to_platform(
            {k: v for k, v in change.values.items() if k in _CONSENT_FIELDS}
        )["emailMarketingConsent"]
        data = await self.client.execute(
            CUSTOMER_CONSENT_UPDATE, {"input": {"customerId": customer_id, "emailMarketingConsent": consent}}
        )
        if errors := dig(data, "customerEmailMarketingConsentUpdate.userErrors"):
            return _failed(change, errors[0])
        return PushResult(change.key, ok=True)
