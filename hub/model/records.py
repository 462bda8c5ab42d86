"""The canonical model: what every platform's records are normalized into.

Every connector maps its platform's payloads to these records, and every comparison the reconciler
makes is between two of them. Keys are the identity that holds across platforms: the SKU of a
sellable variant, the SKU plus a canonical location code for a stock level, the normalized e-mail
of a customer. Money is ``Decimal`` (never float) with an ISO 4217 currency, at that currency's
precision (``hub.model.currencies``); quantities are whole numbers within a signed 32-bit range. A value
outside these bounds is refused where it is read, so one bad cell is quarantined with its origin
instead of stopping a push.

Records are frozen pydantic models: cheap to compare, safe to share between the reconciler and
the store, and their validation errors name the field that is wrong.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, Literal, Self

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from hub.model.currencies import minor_units
from hub.model.phones import normalize_phone

__all__ = [
    "ENTITY_MODELS",
    "PRICE_LIMIT",
    "QUANTITY_MAX",
    "QUANTITY_MIN",
    "RULES_VERSION",
    "Consent",
    "Customer",
    "Entity",
    "Price",
    "Product",
    "Record",
    "RecordInvalid",
    "StockLevel",
    "at_currency_precision",
    "json_dumper",
    "normalize_email",
    "normalize_sku",
    "parse_decimal",
    "parse_whole",
]


#: The version of the value rules below (bounds, plain-digit text, currency precision). It salts every
#: mapping's fingerprint, so rows stored under older, looser rules are read again once under these
#: instead of being trusted by their unchanged hash.
RULES_VERSION = b"values/2"


class Entity(enum.StrEnum):
    """The kinds of record the hub keeps, named as in the YAML ``jobs:`` and ``truth:`` sections."""

    products = "products"
    prices = "prices"
    stock = "stock"
    customers = "customers"


class Consent(enum.StrEnum):
    """E-mail marketing consent. ``unsubscribed`` is the most restrictive and always wins a conflict."""

    subscribed = "subscribed"
    unsubscribed = "unsubscribed"
    never = "never"


_CURRENCY = re.compile(r"^[A-Z]{3}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_sku(value: Any) -> str:
    """Trim a SKU; case is preserved because platforms treat ``ab-1`` and ``AB-1`` as different."""
    if value is None:
        raise ValueError("SKU is missing")
    sku = str(value).strip()
    if not sku:
        raise ValueError("SKU is empty")
    if "@" in sku:
        raise ValueError(f"SKU {sku!r} contains '@', which is reserved for stock keys (SKU@location)")
    return sku


def normalize_email(value: Any) -> str:
    """Trim and lowercase an e-mail address: the customer key across every platform."""
    if value is None:
        raise ValueError("e-mail is missing")
    email = str(value).strip().lower()
    if not _EMAIL.match(email):
        raise ValueError(f"{email!r} is not an e-mail address")
    return email


def parse_decimal(value: Any, *, decimal_comma: bool = False) -> Decimal:
    """Parse a money amount from a platform or a file, exactly.

    Floats are refused on purpose: ``79.9`` as a float is not ``79.90`` and a hub that compares
    prices must not invent differences. ``decimal_comma`` reads Italian/German exports
    (``1.234,50``). Text is plain digits only: ``Decimal`` (like ``int``) would also read ``1e30``,
    ``1_000.00`` and non-ASCII digits (``٥``), none of which a feed means as an amount.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        result = Decimal(value)
    elif isinstance(value, str):
        if not decimal_comma and value.isascii() and "e" not in value and "E" not in value and "_" not in value:
            # Most amounts are plain ("79.90"): Decimal reads them, and any outer whitespace, as the
            # thorough path does; anything it refuses ("1 234.50") goes the thorough path.
            try:
                result = Decimal(value)
            except InvalidOperation:
                pass
            else:
                if result.is_finite():
                    return result
        result = _parse_decimal_text(value, decimal_comma)
    elif isinstance(value, float):
        raise ValueError(f"{value!r} is a float; money must be given as a decimal string")
    else:
        raise ValueError(f"{value!r} is not a decimal number")
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return result


def _money_value(value: Any) -> Decimal | None:
    """An exact, finite, non-negative amount below ``PRICE_LIMIT`` (``None`` for no amount): the one
    money check, shared by the model's validator and its fast path."""
    if type(value) is Decimal and value.is_finite():  # the common case first: a parsed amount
        amount = value
    elif value is None or value == "":
        return None
    else:
        amount = parse_decimal(value)
    if amount < _ZERO:
        raise ValueError(f"{amount} is negative")
    if amount >= PRICE_LIMIT:
        raise ValueError(f"{amount} is too large for a price (at most {_PRICE_DIGITS} digits before the point)")
    return amount


def at_currency_precision(amount: Decimal, currency: str) -> Decimal:
    """``amount`` written at ``currency``'s precision (79.9 EUR as 79.90, 1000.00 JPY as 1000), or
    refused when it has more decimals than the currency: a platform that keeps money at that
    precision would round it and every run would push it again. Refused rather than rounded, so
    the source gets fixed instead of the hub choosing a price nobody set."""
    places = minor_units(currency)
    step = _STEPS[places]
    if amount.same_quantum(step):  # the common case: written with the currency's decimals
        return amount
    exact = amount.quantize(step)
    if exact != amount:
        raise ValueError(f"{amount} {currency} has more decimals than {currency}'s {places}")
    return exact


#: Prices have at most this many digits before the decimal point: no shop sells at a trillion, and
#: a value past it is a broken feed (a barcode in the price column, a missing decimal point).
_PRICE_DIGITS = 12
PRICE_LIMIT = Decimal(10**_PRICE_DIGITS)
#: ISO 4217 exponents (0 to 4) -> the smallest amount of a currency with that many decimals.
_STEPS = {places: Decimal(1).scaleb(-places) for places in range(5)}


def _currency_value(value: Any) -> str:
    known = _CURRENCIES_SEEN.get(value) if type(value) is str else None
    if known is not None:
        return known
    text = str(value).strip().upper()
    if not _CURRENCY.match(text):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    if type(value) is str and len(_CURRENCIES_SEEN) < 1000:
        _CURRENCIES_SEEN[value] = text
    return text


_ZERO = Decimal(0)
#: Currency spellings already checked (``"eur "`` -> ``"EUR"``): a catalogue repeats a handful of
#: them hundreds of thousands of times. Bounded, in case a feed puts something else in the column.
_CURRENCIES_SEEN: dict[str, str] = {}


def parse_whole(value: Any) -> int:
    """A whole number from a platform or a file: an int, an integral float or decimal, or text of
    plain digits (``"7"``, ``"-2"``, ``"7.0"``, ``"1 000"``). ``int()`` would also read ``1_000``
    and ``٥``, and ``Decimal`` ``1e3``: a feed means none of them as a count, so they are refused
    with the reason."""
    if type(value) is int:
        return value
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a whole number")
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():  # the common case: "40"
            return int(text)
        number = parse_decimal(text)
    elif isinstance(value, int):
        return int(value)
    elif isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(value)
    elif isinstance(value, Decimal):
        number = value
    else:
        raise ValueError(f"{value!r} is not a whole number")
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number")
    return int(number)


def _quantity_value(value: Any) -> int | None:
    """A whole quantity within ``QUANTITY_MIN``..``QUANTITY_MAX`` (``None`` for none). Negatives pass:
    a target may report them (Shopify's ``available`` of an oversold item); the source of truth may
    not, and ``hub.model.limits.check_truth`` refuses them there."""
    if type(value) is int:
        quantity = value
    elif value is None or value == "":
        return None
    else:
        quantity = parse_whole(value)
    if not QUANTITY_MIN <= quantity <= QUANTITY_MAX:
        raise ValueError(f"{quantity} is out of range for a quantity ({QUANTITY_MIN} to {QUANTITY_MAX})")
    return quantity


#: Quantities are signed 32-bit integers: no platform holds more (Shopify's GraphQL ``Int`` is 32
#: bits and refuses the whole ``inventorySetQuantities`` call for one value past it).
QUANTITY_MIN = -(2**31)
QUANTITY_MAX = 2**31 - 1


def _barcode_value(value: Any) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if not text.isdigit() or len(text) not in (8, 12, 13, 14):
        raise ValueError(f"{text!r} is not a GTIN (8, 12, 13 or 14 digits)")
    return text


def _optional_text(value: Any) -> str | None:
    """An optional string field as the model keeps it (stripped); anything else is for pydantic."""
    if value is None:
        return None
    if type(value) is not str:
        raise TypeError("not a string")
    return value.strip()


_new_object = object.__new__
_set_attribute = object.__setattr__
# pydantic keeps these in slots of BaseModel: setting a slot through its descriptor is the cheapest way.
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
#: One ``model_fields_set`` per shape of input, shared by the records built from it: a set per
#: record would cost 200 bytes each at catalogue scale. Records are frozen, nothing adds to it, and
#: ``model_copy`` copies it before it adds the updated fields.
_FIELDS_SETS: dict[tuple[str, ...], set[str]] = {}


def _parse_decimal_text(value: str, decimal_comma: bool) -> Decimal:
    """The thorough reading of an amount written as text: no-break and plain spaces between
    thousands dropped, ``1.234,50`` read with a decimal comma, then plain digits only."""
    text = value.strip().replace("\u00a0", "").replace(" ", "")
    if decimal_comma:
        text = text.replace(".", "").replace(",", ".")
    if not _PLAIN_NUMBER.fullmatch(text):
        raise ValueError(_not_plain(value, text))
    return Decimal(text)


#: What an amount or a quantity may look like once spaces are dropped: digits 0-9, a point, a sign.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_EXPONENT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+")


def _not_plain(value: str, text: str) -> str:
    """Why ``value`` (``text`` once spaces are dropped) is not a plain number, so the feed can be fixed."""
    if _EXPONENT.fullmatch(text):
        return f"{value!r} is in exponent notation; write it in plain digits"
    if "_" in text and _PLAIN_NUMBER.fullmatch(text.replace("_", "")):
        return f"{value!r} has an underscore; write it in plain digits (a space may separate thousands)"
    if any(char.isdigit() and not char.isascii() for char in text):
        return f"{value!r} has digits other than 0-9; write it in plain digits"
    return f"{value!r} is not a decimal number"


class RecordInvalid(ValueError):
    """A platform record that cannot become a canonical record; it is quarantined with this reason."""

    def __init__(self, reason: str, *, key: str | None = None, field: str | None = None) -> None:
        super().__init__(reason)
        #: Why the record was refused, in words an admin can act on.
        self.reason = reason
        #: The canonical key if it could be read, so the quarantine can say which record it was.
        self.key = key
        #: The canonical field at fault, when one field is.
        self.field = field

    @classmethod
    def from_validation(cls, error: ValidationError, key: str | None) -> RecordInvalid:
        parts = []
        first_field = None
        for item in error.errors():
            loc = ".".join(str(p) for p in item["loc"]) or "record"
            first_field = first_field or loc
            msg = item["msg"].removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}")
        return cls("; ".join(parts), key=key, field=first_field)


class Record(BaseModel):
    """Base of every canonical record."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    #: The entity this record belongs to.
    entity: ClassVar[Entity]
    #: Fields the reconciler compares across channels (identity fields are not compared).
    compared_fields: ClassVar[tuple[str, ...]]

    @property
    def key(self) -> str:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def compared(self) -> dict[str, Any]:
        """The values the reconciler compares, by canonical field name."""
        return {name: getattr(self, name) for name in self.compared_fields}

    @classmethod
    def build(cls, values: dict[str, Any], context: dict[str, Any] | None = None) -> Self:
        """Validate normalized values into a record, as ``model_validate`` does, only faster.

        Every pulled row becomes a record, so this is the hottest call of a sync. The common shapes
        (plain strings, decimals and ints) are checked in plain Python by ``_fast`` with the very
        functions the field validators call; anything else, and every invalid record, goes
        through pydantic, which stays the reference and writes the error messages. A property
        test holds the two paths to the same records.

        ``context`` is what the hub knows beyond the values (its ``country``, in which a customer's
        phone number without a country code is read), passed to pydantic's validators; no shape of
        the fast path depends on it.
        """
        try:
            record = cls._fast(values)
        except (ValueError, TypeError, ArithmeticError):
            record = None
        return record if record is not None else cls.model_validate(values, context=context)

    @classmethod
    def _fast(cls, values: dict[str, Any]) -> Self | None:
        """The record when ``values`` has a shape the fast path knows, else ``None`` (or an error):
        then pydantic decides. The base class knows no shape."""
        return None

    @classmethod
    def _install(cls, fields: dict[str, Any], given: dict[str, Any]) -> Self:
        """A record from fields already validated exactly as the model would: what
        ``model_construct`` does, without its per-field loop. ``given`` is what the caller passed
        (pydantic's ``model_fields_set``)."""
        record = _new_object(cls)
        _set_attribute(record, "__dict__", fields)
        shape = tuple(given)
        fields_set = _FIELDS_SETS.get(shape)
        if fields_set is None:
            fields_set = _FIELDS_SETS[shape] = set(shape)
        _set_fields_set(record, fields_set)
        _set_extra(record, None)
        _set_private(record, None)
        return record


Sku = Annotated[str, Field(min_length=1, max_length=255)]


class _SkuKeyed(Record):
    sku: Sku

    @field_validator("sku", mode="before")
    @classmethod
    def _sku(cls, value: Any) -> str:
        return normalize_sku(value)


class Product(_SkuKeyed):
    """One sellable variant. ``group`` is the parent product that variants share."""

    entity: ClassVar[Entity] = Entity.products
    compared_fields: ClassVar[tuple[str, ...]] = ("title", "barcode", "status")

    title: str | None = None
    barcode: str | None = None
    group: str | None = None
    options: dict[str, str] = Field(default_factory=dict)
    status: Literal["active", "draft", "archived"] = "active"

    @property
    def key(self) -> str:
        return self.sku

    @field_validator("barcode", mode="before")
    @classmethod
    def _barcode(cls, value: Any) -> str | None:
        return _barcode_value(value)

    @classmethod
    def _fast(cls, values: dict[str, Any]) -> Product | None:
        sku = values.get("sku")
        options = values.get("options")
        status = values.get("status", "active")
        if (
            not values.keys() <= _PRODUCT_FIELDS
            or type(sku) is not str
            or status not in _STATUSES
            or ("options" in values and options != {})
        ):
            return None  # options (a nested dict) and everything unusual: pydantic
        sku = normalize_sku(sku)
        if len(sku) > 255:
            return None
        fields = {
            "sku": sku,
            "title": _optional_text(values.get("title")),
            "barcode": _barcode_value(values.get("barcode")),
            "group": _optional_text(values.get("group")),
            "options": {},
            "status": status,
        }
        return cls._install(fields, values)


class Price(_SkuKeyed):
    """The selling price of a variant in one currency; ``compare_at`` is the struck-through price."""

    entity: ClassVar[Entity] = Entity.prices
    compared_fields: ClassVar[tuple[str, ...]] = ("amount", "compare_at")

    amount: Decimal
    currency: str = "EUR"
    compare_at: Decimal | None = None
    #: What a customer pays as the platform derived it (WooCommerce's read-only ``price``), where it
    #: keeps one apart from the written fields: a product saved halfway shows the new ``amount``
    #: while still charging the old price, and only this field tells. Read, compared, never written.
    effective: Decimal | None = None

    @property
    def key(self) -> str:
        return self.sku

    @field_validator("amount", "compare_at", "effective", mode="before")
    @classmethod
    def _money(cls, value: Any) -> Decimal | None:
        """Exact decimals only (no floats), never negative: one validator, as it runs per record."""
        return _money_value(value)

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> str:
        return _currency_value(value)

    @model_validator(mode="after")
    def _currency_precision(self) -> Price:
        """Amounts at the currency's precision (known only once both are read), or an error that
        names the amount at fault."""
        fields = self.__dict__
        for name in ("amount", "compare_at", "effective"):
            value = fields[name]
            if value is None:
                continue
            try:
                fields[name] = at_currency_precision(value, self.currency)
            except ValueError as exc:
                error = PydanticCustomError("currency_precision", "{reason}", {"reason": str(exc)})
                raise ValidationError.from_exception_data(
                    type(self).__name__, [InitErrorDetails(type=error, loc=(name,), input=value)]
                ) from None
        return self

    @classmethod
    def _fast(cls, values: dict[str, Any]) -> Price | None:
        sku = values.get("sku")
        if not values.keys() <= _PRICE_FIELDS or type(sku) is not str or "effective" in values:
            return None  # (a platform's derived price: few channels, pydantic's path)
        sku = normalize_sku(sku)
        amount = _money_value(values.get("amount"))
        if amount is None or len(sku) > 255:
            return None  # a missing amount: pydantic says so
        currency = values.get("currency")
        currency = "EUR" if currency is None and "currency" not in values else _currency_value(currency)
        compare_at = _money_value(values.get("compare_at"))
        fields = {
            "sku": sku,
            "amount": at_currency_precision(amount, currency),
            "currency": currency,
            "compare_at": None if compare_at is None else at_currency_precision(compare_at, currency),
            "effective": None,
        }
        return cls._install(fields, values)


class StockLevel(_SkuKeyed):
    """Stock of one SKU at one canonical location (``milano-store``, ``web-warehouse``)."""

    entity: ClassVar[Entity] = Entity.stock
    compared_fields: ClassVar[tuple[str, ...]] = ("available",)

    location: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")]  # as _LOCATION
    available: int
    on_hand: int | None = None
    #: The platform's own in-stock flag where it keeps one beside the quantity (WooCommerce's
    #: ``stock_status``); ``None`` where it has none or allows backorders. A flag that disagrees
    #: with the quantity is a half-saved item: read, compared, repaired by writing the quantity.
    in_stock: bool | None = None

    @property
    def key(self) -> str:
        return f"{self.sku}@{self.location}"

    @field_validator("available", "on_hand", mode="before")
    @classmethod
    def _quantity(cls, value: Any) -> int | None:
        return _quantity_value(value)

    @classmethod
    def _fast(cls, values: dict[str, Any]) -> StockLevel | None:
        sku = values.get("sku")
        location = values.get("location")
        if (
            not values.keys() <= _STOCK_FIELDS
            or type(sku) is not str
            or type(location) is not str
            or values.get("in_stock") is not None
        ):
            return None
        sku = normalize_sku(sku)
        location = location.strip()
        available = _quantity_value(values.get("available"))
        on_hand = _quantity_value(values.get("on_hand"))
        if (
            available is None
            or len(sku) > 255
            or not _LOCATION.fullmatch(location)
            or (on_hand is not None and available > on_hand)
        ):
            return None  # pydantic says what is wrong
        fields = {"sku": sku, "location": location, "available": available, "on_hand": on_hand, "in_stock": None}
        return cls._install(fields, values)

    @field_validator("on_hand")
    @classmethod
    def _available_within_on_hand(cls, value: int | None, info: ValidationInfo) -> int | None:
        """Checked on ``on_hand`` (declared after ``available``), so the error names a field."""
        available = info.data.get("available")
        if value is not None and available is not None and available > value:
            raise ValueError(f"available ({available}) exceeds on_hand ({value})")
        return value


def _canonical_text(text: str) -> str:
    """Text as compared across platforms: Unicode NFC (an accented letter typed as one character or
    as a letter plus an accent is one letter) and every run of white space as one space, trimmed."""
    return " ".join(unicodedata.normalize("NFC", text).split())


class Address(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postcode: str | None = None
    region: str | None = None
    country: str | None = None


class Customer(Record):
    """A person, keyed by normalized e-mail, with the time their marketing consent last changed."""

    entity: ClassVar[Entity] = Entity.customers
    compared_fields: ClassVar[tuple[str, ...]] = (
        "first_name",
        "last_name",
        "phone",
        "email_marketing",
        "tags",
        "loyalty_points",
    )

    email: str
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    addresses: tuple[Address, ...] = ()
    email_marketing: Consent = Consent.never
    consent_updated_at: datetime | None = None
    tags: tuple[str, ...] = ()
    loyalty_points: int | None = None
    updated_at: datetime | None = None

    @property
    def key(self) -> str:
        return self.email

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> str:
        return normalize_email(value)

    @field_validator("first_name", "last_name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        """One spelling of a name (``_canonical_text``); a blank one is no name, as Mailchimp sends
        ``""`` for an empty merge field where HubSpot sends nothing."""
        if not isinstance(value, str):
            return value  # None, or a value pydantic refuses with its own message
        return _canonical_text(value) or None

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: Any, info: ValidationInfo) -> str | None:
        """E.164 when the number parses (``hub.model.phones``), read in the hub's country (the validation
        context's ``country``) when it has no country code; otherwise kept as given, trimmed."""
        return normalize_phone(value, (info.context or {}).get("country"))

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> tuple[str, ...]:
        """A set of tags: each in one spelling (``_canonical_text``), sorted, duplicates and blanks
        dropped, so the order a platform lists them in is no difference."""
        if value is None or value == "":
            return ()
        items = value.split(",") if isinstance(value, str) else list(value)
        return tuple(sorted({_canonical_text(str(t)) for t in items} - {""}))

    @field_validator("consent_updated_at", "updated_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


_PRODUCT_FIELDS = frozenset(Product.model_fields)
_STATUSES = frozenset({"active", "draft", "archived"})
_PRICE_FIELDS = frozenset(Price.model_fields)
_STOCK_FIELDS = frozenset(StockLevel.model_fields)
_LOCATION = re.compile(r"[A-Za-z0-9_.:-]+")


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
