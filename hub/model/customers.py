"""The customer record: a person keyed by normalized e-mail, with addresses, consent and tags.

Names and tags are compared in one spelling (``hub.model.values.canonical_text``) and phones in
E.164 where they parse (``hub.model.phones``), so two platforms that write the same person
differently are no difference.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from hub.model.base import Consent, Entity, Record
from hub.model.phones import normalize_phone
from hub.model.values import canonical_text, normalize_email

__all__ = ["Address", "Customer"]


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
        """One spelling of a name (``canonical_text``); a blank one is no name, as Mailchimp sends
        ``""`` for an empty merge field where HubSpot sends nothing."""
        if not isinstance(value, str):
            return value  # None, or a value pydantic refuses with its own message
        return canonical_text(value) or None

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: Any, info: ValidationInfo) -> str | None:
        """E.164 when the number parses (``hub.model.phones``), read in the hub's country (the validation
        context's ``country``) when it has no country code; otherwise kept as given, trimmed."""
        return normalize_phone(value, (info.context or {}).get("country"))

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> tuple[str, ...]:
        """A set of tags: each in one spelling (``canonical_text``), sorted, duplicates and blanks
        dropped, so the order a platform lists them in is no difference."""
        if value is None or value == "":
            return ()
        items = value.split(",") if isinstance(value, str) else list(value)
        return tuple(sorted({canonical_text(str(t)) for t in items} - {""}))

    @field_validator("consent_updated_at", "updated_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value
