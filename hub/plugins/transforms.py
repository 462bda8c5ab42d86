"""The transforms a mapping file may name: a whitelist of Python functions, each with its inverse.

A mapping never evaluates code: a field's ``transform:`` names entries of ``TRANSFORMS``. Each has
a forward function (platform value -> canonical value) and, where one exists, a reverse one, so the
same mapping file also builds the payloads written back. Plugins add their own with
``register_transform``.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hub.model.values import normalize_email, normalize_sku, parse_decimal, parse_whole

__all__ = ["TRANSFORMS", "Forward", "Reverse", "Transform", "TransformContext", "register_transform"]


@dataclass(frozen=True)
class TransformContext:
    """What a transform may consult: the connector's settings and the hub's defaults."""

    settings: MappingABC[str, Any]
    currency: str = "EUR"
    #: The hub's country (ISO 3166 alpha-2), in which a phone number without a country code is read.
    country: str | None = None

    def setting(self, name: str) -> Any:
        if name == "currency":
            return self.settings.get("currency") or self.currency
        return self.settings.get(name)


Forward = Callable[[Any, TransformContext], Any]
Reverse = Callable[[Any, TransformContext], Any]


@dataclass(frozen=True)
class Transform:
    forward: Forward
    reverse: Reverse | None
    doc: str


#: Every transform a mapping may name. Extend with ``register_transform`` (a plugin's own module).
TRANSFORMS: dict[str, Transform] = {}


def register_transform(name: str, forward: Forward, reverse: Reverse | None = None, doc: str = "") -> None:
    TRANSFORMS[name] = Transform(forward, reverse, doc or (forward.__doc__ or "").strip())


def _none_passes(fn: Callable[[Any, TransformContext], Any]) -> Forward:
    def wrapped(value: Any, ctx: TransformContext) -> Any:
        return None if value is None else fn(value, ctx)

    wrapped.__doc__ = fn.__doc__
    return wrapped


def _decimal_str(value: Any, ctx: TransformContext) -> str:
    return format(Decimal(value), "f")


def _bool(value: Any, ctx: TransformContext) -> bool:
    """yes/no, true/false, 1/0 to a boolean."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "y", "si", "sì", "on"}:
        return True
    if text in {"0", "false", "no", "n", "off", ""}:
        return False
    raise ValueError(f"{value!r} is not yes/no")


def _iso_datetime(value: Any, ctx: TransformContext) -> datetime:
    """An ISO 8601 timestamp; a naive one is taken as UTC."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_ms(value: Any, ctx: TransformContext) -> datetime:
    """Milliseconds since 1970 (HubSpot) to a UTC timestamp."""
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def _location(value: Any, ctx: TransformContext) -> str:
    """A platform location id to the canonical code, through the connector's ``locations`` map;
    without a map, the platform's own id is the code (a WMS whose warehouse codes are already
    canonical)."""
    mapping = ctx.setting("locations")
    if not mapping:
        return str(value)
    code = mapping.get(str(value))
    if code is None:
        raise ValueError(f"platform location {value!r} is not mapped; add it under this connector's `locations`")
    return str(code)


def _location_reverse(value: Any, ctx: TransformContext) -> str:
    mapping = ctx.setting("locations")
    if not mapping:
        return str(value)
    for platform_id, code in mapping.items():
        if code == value:
            return str(platform_id)
    raise ValueError(f"canonical location {value!r} has no platform location in `locations`")


def _to_cents(value: Any, ctx: TransformContext) -> int:
    """A decimal amount to integer cents; an amount with a fraction of a cent is refused, not cut."""
    cents = Decimal(value) * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{value} has a fraction of a cent and cannot be written as whole cents")
    return int(cents)


def _split_comma(value: Any, ctx: TransformContext) -> tuple[str, ...]:
    """``"a, b"`` to ``("a", "b")``; lists pass through."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return tuple(str(i).strip() for i in items if str(i).strip())


for _name, _fwd, _rev, _doc in [
    ("strip", lambda v, c: str(v).strip(), None, "trim surrounding white space"),
    ("lower", lambda v, c: str(v).strip().lower(), None, "lowercase"),
    ("upper", lambda v, c: str(v).strip().upper(), None, "uppercase"),
    ("str", lambda v, c: str(v), lambda v, c: v, "any value as text"),
    (
        "empty_to_none",
        lambda v, c: None if isinstance(v, str) and not v.strip() else v,
        lambda v, c: v if v is not None else "",
        "an empty string means no value",
    ),
    (
        "decimal",
        _none_passes(lambda v, c: parse_decimal(v)),
        _none_passes(_decimal_str),
        "a decimal string such as 79.90",
    ),
    (
        "decimal_comma",
        _none_passes(lambda v, c: parse_decimal(v, decimal_comma=True)),
        _none_passes(lambda v, c: _decimal_str(v, c).replace(".", ",")),
        "a decimal with a comma, such as 1.234,50",
    ),
    (
        "cents",
        _none_passes(lambda v, c: Decimal(parse_whole(v)).scaleb(-2)),
        _none_passes(_to_cents),
        "integer cents (7990) to a decimal amount (79.90)",
    ),
    ("int", _none_passes(lambda v, c: parse_whole(v)), _none_passes(lambda v, c: int(v)), "a whole number"),
    ("bool", _none_passes(_bool), None, "yes/no, true/false, 1/0"),
    ("iso_datetime", _none_passes(_iso_datetime), _none_passes(lambda v, c: v.isoformat()), "an ISO 8601 timestamp"),
    (
        "epoch_ms",
        _none_passes(_epoch_ms),
        _none_passes(lambda v, c: str((v - _EPOCH) // timedelta(milliseconds=1))),  # exact: no float
        "milliseconds since 1970",
    ),
    (
        "location",
        _none_passes(_location),
        _none_passes(_location_reverse),
        "platform location id to canonical location code (connector setting `locations`)",
    ),
    ("split_comma", _none_passes(_split_comma), _none_passes(lambda v, c: ",".join(v)), "comma-separated list"),
    ("sku", _none_passes(lambda v, c: normalize_sku(v)), None, "a trimmed SKU"),
    ("email", _none_passes(lambda v, c: normalize_email(v)), None, "a normalized e-mail address"),
]:
    register_transform(_name, _fwd, _rev, _doc)
