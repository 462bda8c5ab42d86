"""The ``hubspot`` entry of ``connectors:`` in the YAML, validated."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, SecretStr

from hub.sdk import HttpConnectorSettings

__all__ = ["DEFAULT_BASE_URL", "HubSpotSettings"]

#: The public API host; ``base_url`` replaces it (a sandbox), ``/crm/v3`` is appended either way.
DEFAULT_BASE_URL = "https://api.hubapi.com"


class HubSpotSettings(HttpConnectorSettings):
    """A HubSpot account reached with a private app token.

    HubSpot's real marketing consent lives in its subscription APIs, which are per subscription type
    and not part of the contact record. The hub reads consent from one contact property instead
    (``consent_property``): by default a custom enumeration ``email_marketing`` with the options
    ``subscribed``, ``unsubscribed`` and ``never``, which round-trips the canonical value exactly.
    ``mappings/hubspot.yaml`` explains how to use HubSpot's own ``hs_email_optout`` instead.
    """

    # A validation error must not echo the input: it holds the access token.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    type: str = "hubspot"
    #: Private app access token, sent as ``Authorization: Bearer``.
    access_token: SecretStr
    #: Contact properties to read besides the ones named by the settings below.
    properties: tuple[str, ...] = ("email", "firstname", "lastname", "phone")
    #: The contact property holding e-mail marketing consent (see the class docstring).
    consent_property: str = "email_marketing"
    #: A custom number property holding loyalty points; ``None`` when the account has none.
    loyalty_property: str | None = "loyalty_points"
    #: The contact property that changes on every edit (contacts use ``lastmodifieddate``, other
    #: objects ``hs_lastmodifieddate``): incremental pulls search on it.
    modified_property: str = "lastmodifieddate"
    #: Requests per 10 s of the account's plan: 100 (Free, Starter) or 190 (Professional, Enterprise).
    rate_limit_tier: Literal[100, 190] = 100
    #: The search endpoints have their own, lower limit (about 5 requests/s).
    search_rate_per_s: float = Field(4.0, gt=0, le=5)
    #: Contacts per list page (HubSpot's maximum is 100).
    page_size: int = Field(100, ge=1, le=100)
    #: Results per search page (HubSpot's maximum is 200).
    search_page_size: int = Field(200, ge=1, le=200)
    #: Most results one search query can page through; beyond it HubSpot answers 400.
    search_result_cap: int = Field(10_000, ge=1)
    #: Contacts per batch upsert (HubSpot's maximum is 100).
    batch_size: int = Field(100, ge=1, le=100)

    def read_properties(self) -> list[str]:
        """Every property a pull asks for, without duplicates, in a stable order."""
        names = [*self.properties, "email", self.consent_property, self.modified_property]
        if self.loyalty_property:
            names.append(self.loyalty_property)
        return list(dict.fromkeys(names))

    def api_root(self) -> str:
        return (self.base_url or DEFAULT_BASE_URL).rstrip("/") + "/crm/v3"
