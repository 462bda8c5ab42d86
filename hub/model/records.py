"""The canonical records by entity: which model class keeps each entity, and how a record is written as JSON.

Every connector maps its platform's payloads to these records, and every comparison the reconciler
makes is between two of them. The records themselves live in ``hub.model.catalogue`` (products,
prices, stock) and ``hub.model.customers``; their base and the value rules in ``hub.model.base``
and ``hub.model.values``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

from hub.model.base import Entity, Record
from hub.model.catalogue import Price, Product, StockLevel
from hub.model.customers import Customer

__all__ = ["ENTITY_MODELS", "json_dumper"]


def json_dumper(model: type[Record]) -> Callable[[Record], str]:
    """The function that writes a ``model`` record as the store keeps it: its ``model_dump_json()``.

    Every changed record of a sync is written, so this runs once per record. Products, prices and
    stock levels hold only strings, numbers, decimals and a flat dict, which orjson writes byte for
    byte as pydantic does (a property test holds it to that) at half the cost; anything it cannot
    write goes to pydantic. Customers (nested addresses, dates) always go to pydantic."""
    to_json = model.__pydantic_serializer__.to_json
    if model not in _FLAT_MODELS:
        return lambda record: to_json(record).decode()
    dumps = orjson.dumps

    def dump(record: Record) -> str:
        try:
            return dumps(record.__dict__, default=_decimal_text).decode()
        except orjson.JSONEncodeError:
            return to_json(record).decode()

    return dump


def _decimal_text(value: Any) -> str:
    if type(value) is Decimal:
        return str(value)  # as pydantic writes a Decimal in JSON
    raise TypeError(f"{type(value).__name__} is not a flat record value")


#: Records whose fields orjson writes exactly as pydantic does.
_FLAT_MODELS: frozenset[type[Record]] = frozenset({Product, Price, StockLevel})

#: The canonical model class of each entity.
ENTITY_MODELS: dict[Entity, type[Record]] = {
    Entity.products: Product,
    Entity.prices: Price,
    Entity.stock: StockLevel,
    Entity.customers: Customer,
}
