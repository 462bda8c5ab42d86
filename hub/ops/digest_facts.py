"""What makes a digest line actionable, gathered from the config and the store: the product's title,
the currency, who the truth and the channel are, a link to the record, and what omnihub does next.

``hub.ops.alerts`` stays pure (it decides what to mail from plain values); this module reads what
the hub already knows, with no platform call: the truth's ``products`` observations for titles,
the prices observations for currencies, ``store.links`` for the ids of an admin link. Anything it
cannot find is simply left out of the line.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hub.config.loader import LoadedConfig
from hub.ops.admin_links import admin_url, platform_label
from hub.ops.alerts import Digest, MismatchView
from hub.state.store import Store
from hub.sync.report import JobReport

__all__ = ["Facts", "gather_facts", "platform_name"]

#: Entities keyed by SKU (stock by ``SKU@location``): their title is the product's.
_SKU_ENTITIES = frozenset({"products", "prices", "stock"})


@dataclass(frozen=True)
class Facts:
    """The context of one mismatch line; every part is optional."""

    title: str | None = None
    currency: str | None = None
    #: ``wms (REST WMS)``: the source of truth by name and platform.
    truth: str | None = None
    #: ``shop (Shopify)``: the channel that shows the value.
    channel: str | None = None
    admin_url: str | None = None
    #: What omnihub does or did about it, in words.
    action: str | None = None


def platform_name(config: LoadedConfig, connector: str) -> str:
    """``shop (Shopify)``: the configured name and the platform it is (its type when unknown)."""
    settings = config.connectors.get(connector)
    kind = str(getattr(settings, "type", "") or "")
    return f"{connector} ({platform_label(kind)})" if kind else connector


def _sku(mismatch: MismatchView) -> str | None:
    return mismatch.key.partition("@")[0] if mismatch.entity in _SKU_ENTITIES else None


def _read(store: Store, connector: str | None, entity: str, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Canonical records by key from the store (what the connector held when last read)."""
    wanted = sorted(set(keys))
    if not connector or not wanted:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for key, _group, data in store.observations.fetch(connector, entity, wanted):
        try:
            out[key] = json.loads(data)
        except ValueError:
            continue
    return out


def _action(mismatch: MismatchView, mode: str, failures: Mapping[tuple[str, str], str]) -> str:
    """What omnihub did or will do, as the person reading should expect it."""
    if mismatch.status == "resolved":
        return {"pushed": "corrected by omnihub", "converged": "back in line on its own"}.get(
            mismatch.resolution or "", "resolved"
        )
    if mode != "enforce":
        return f"reported only: mode {mode}"
    failure = failures.get((mismatch.connector, mismatch.key)) or mismatch.detail
    return f"not corrected: {failure}" if failure else "will be corrected at the next run"


def gather_facts(
    config: LoadedConfig, store: Store, digest: Digest, reports: Sequence[JobReport] = ()
) -> dict[int, Facts]:
    """Facts by mismatch id for every mismatch of ``digest``: a few batched store reads, no platform call."""
    mismatches = [*digest.new, *digest.persisting, *digest.resolved]
    modes = {r.name: r.mode for r in reports}
    failures = {
        (f.connector, f.key): f"{f.code}: {f.message}" if f.code else f.message for r in reports for f in r.failures
    }
    truth = config.model.truth

    def source(m: MismatchView) -> str | None:
        job = config.jobs.get(m.job)
        return config.source_of(job) if job is not None else truth.get(m.entity)  # type: ignore[call-overload]

    # titles: the truth's products first, then the job's source, then the channel itself
    skus_by_reader: dict[str, set[str]] = defaultdict(set)
    for m in mismatches:
        sku = _sku(m)
        if sku:
            for reader in (truth.get("products"), source(m), m.connector):  # type: ignore[call-overload]
                if reader:
                    skus_by_reader[reader].add(sku)
    products = {reader: _read(store, reader, "products", skus) for reader, skus in skus_by_reader.items()}
    price_keys: dict[str, set[str]] = defaultdict(set)
    for m in mismatches:
        if m.entity == "prices":
            for reader in (source(m), m.connector):
                if reader:
                    price_keys[reader].add(m.key)
    prices = {reader: _read(store, reader, "prices", keys) for reader, keys in price_keys.items()}
    customer_keys: dict[str, set[str]] = defaultdict(set)
    for m in mismatches:
        if m.entity == "customers" and source(m):
            customer_keys[source(m)].add(m.key)  # type: ignore[index]
    customers = {reader: _read(store, reader, "customers", keys) for reader, keys in customer_keys.items()}

    links = _links(config, store, [m for m in mismatches if m.connector in config.connectors])
    facts: dict[int, Facts] = {}
    for m in mismatches:
        truth_name, sku = source(m), _sku(m)
        title = None
        if sku:
            readers = (truth.get("products"), truth_name, m.connector)  # type: ignore[call-overload]
            title = next((products[r][sku].get("title") for r in readers if r and sku in products.get(r, {})), None)
        elif m.entity == "customers" and truth_name:
            record = customers.get(truth_name, {}).get(m.key, {})
            title = " ".join(str(record[n]) for n in ("first_name", "last_name") if record.get(n)) or None
        currency = None
        if m.entity == "prices":
            held = [prices.get(r or "", {}).get(m.key) for r in (truth_name, m.connector)]
            currency = next((record.get("currency") for record in held if record), None)
        mode = modes.get(m.job) or getattr(config.jobs.get(m.job), "mode", "monitor")
        facts[m.id] = Facts(
            title=title,
            currency=currency,
            truth=platform_name(config, truth_name) if truth_name else None,
            channel=platform_name(config, m.connector),
            admin_url=links.get(m.id),
            action=_action(m, mode, failures),
        )
    return facts


def _lookups(mismatch: MismatchView) -> list[tuple[str, str]]:
    """(entity, key) of the links that may hold the record's ids, the mismatch's own last (it wins):
    a Shopify stock level's link holds no product id, the SKU's product or price link does."""
    sku = _sku(mismatch)
    extra = [("products", sku), ("prices", sku)] if sku else []
    return [*extra, (mismatch.entity, mismatch.key)]


def _links(config: LoadedConfig, store: Store, mismatches: Sequence[MismatchView]) -> dict[int, str]:
    """Admin URLs by mismatch id, for channels whose type has a link shape (one read per stream)."""
    wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
    for m in mismatches:
        for entity, key in _lookups(m):
            wanted[(m.connector, entity)].add(key)
    loaded = {(c, e): store.links.load(c, e, sorted(keys)) for (c, e), keys in wanted.items()}
    out: dict[int, str] = {}
    for m in mismatches:
        settings = config.connectors.get(m.connector)
        kind = str(getattr(settings, "type", "") or "")
        ids: dict[str, str] = {}
        for entity, key in _lookups(m):
            ids.update(loaded[(m.connector, entity)].get(key, {}))
        url = admin_url(kind, settings, m.entity, ids) if kind else None
        if url:
            out[m.id] = url
    return out
