"""A spilled catalogue of products or prices read back from the store key by key, in pages.

A run whose pulls outgrew ``hub.memory_records`` keeps its records in the store only. For the keyed
entities (a record's group is its key) the reconciler needs no groups: the store streams every
connector's records in key order, and they are cut into pages of whole keys (a key's records never
straddle two pages) for ``reconcile_keyed``, so the run holds one page at a time.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import orjson

from hub.model.base import Record

#: (the truth's records by key, each target's records by key) of one page.
Page = tuple[dict[str, Record], dict[str, dict[str, Record]]]


def stored_loader(model: type[Record]) -> Callable[[str], Record]:
    """The function that reads back a record the store keeps (``json_dumper``'s JSON of a record
    that was validated before it was written), without validating it again.

    ``model_validate_json`` would check every field anew, the whole cost of reading a spilled
    catalogue back; the stored JSON holds validated values, so only what JSON cannot carry is
    rebuilt: the decimals, written as their exact text. Products and prices hold nothing else."""
    decimals = tuple(name for name, info in model.model_fields.items() if _holds_decimal(info.annotation))
    # What ``model_construct`` does without its per-field loop (which costs more than validating).
    loads, construct = orjson.loads, model._install

    def load(data: str) -> Record:
        values = loads(data)
        for name in decimals:
            value = values.get(name)
            if value is not None:
                values[name] = Decimal(value)
        return construct(values, values)

    return load


def _holds_decimal(annotation: Any) -> bool:
    if annotation is Decimal:
        return True
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and Decimal in typing.get_args(annotation)


def keyed_pages(
    rows: Iterable[tuple[str, str, str]],
    load: Callable[[str], Record],
    source: str,
    targets: Sequence[str],
    skip: set[tuple[str, str]],
    size: int,
) -> Iterator[Page]:
    """Pages of about ``size`` keys from (key, connector, JSON) rows in key order. ``skip`` holds
    the (connector, key) pairs not to use (a duplicated key: neither copy counts)."""
    truth: dict[str, Record] = {}
    held: dict[str, dict[str, Record]] = {t: {} for t in targets}
    keys = 0
    current: str | None = None
    for key, connector, data in rows:
        if key != current:
            if keys >= size:
                yield truth, held
                truth, held, keys = {}, {t: {} for t in targets}, 0
            current = key
            keys += 1
        if (connector, key) in skip:
            continue
        if connector == source:
            truth[key] = load(data)
        elif connector in held:
            held[connector][key] = load(data)
    if keys:
        yield truth, held
