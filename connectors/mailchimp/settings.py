"""The ``mailchimp`` entry of ``connectors:`` in the YAML, validated."""

from __future__ import annotations

from pydantic import ConfigDict, Field, SecretStr, field_validator

from hub.connector import HttpConnectorSettings, secret_value
from hub.errors import ConfigError

__all__ = ["MERGEABLE", "MailchimpSettings"]

#: Canonical customer fields a merge field can hold.
MERGEABLE = ("first_name", "last_name", "phone", "loyalty_points")


class MailchimpSettings(HttpConnectorSettings):
    """One Mailchimp audience (``list_id``) reached with an API key whose suffix names the datacenter."""

    # A validation error must not echo the input: it holds the API key.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    type: str = "mailchimp"
    #: ``<key>-<dc>``; sent as the password of HTTP Basic.
    api_key: SecretStr
    #: The audience id.
    list_id: str = Field(min_length=1)
    #: Canonical field -> merge tag of the audience (add e.g. ``loyalty_points: POINTS``).
    merge_fields: dict[str, str] = Field(
        default_factory=lambda: {"first_name": "FNAME", "last_name": "LNAME", "phone": "PHONE"}
    )
    #: Send batch subscribe with ``sync_tags: true``: a member's tags become exactly the canonical
    #: ones (tags removed in the hub are removed). Off, tags are only ever added.
    sync_tags: bool = False
    #: Mailchimp allows 10 simultaneous connections per user: more is refused, not queued.
    max_concurrency: int | None = Field(None, ge=1, le=10)
    #: Members per page (Mailchimp's maximum is 1,000).
    page_size: int = Field(1000, ge=1, le=1000)
    #: Members per batch subscribe (Mailchimp's maximum is 500).
    batch_size: int = Field(500, ge=1, le=500)

    @field_validator("merge_fields")
    @classmethod
    def _mergeable(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(MERGEABLE))
        if unknown:
            raise ValueError(f"{unknown[0]!r} cannot be a merge field; choose among {', '.join(MERGEABLE)}")
        return {k: v.strip().upper() for k, v in value.items()}

    def api_root(self) -> str:
        """``https://{dc}.api.mailchimp.com/3.0``, or ``base_url`` + ``/3.0``."""
        if self.base_url:
            return self.base_url.rstrip("/") + "/3.0"
        key = secret_value(self.api_key) or ""
        dc = key.rpartition("-")[2] if "-" in key else ""
        if not dc.isalnum():
            raise ConfigError("mailchimp: `api_key` must end with its datacenter, like -us21 (see Account > API keys)")
        return f"https://{dc}.api.mailchimp.com/3.0"
