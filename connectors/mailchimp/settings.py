"""The ``mailchimp`` entry of ``connectors:`` in the YAML, validated."""

from __future__ import annotations

from pydantic import ConfigDict, Field, SecretStr, field_validator

from hub.sdk import ConfigError, HttpConnectorSettings, secret_value

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
    #: A member's tags become exactly the canonical ones: tags the hub removed are made inactive
    #: on the member too. Off, tags are only ever added.
    sync_tags: bool = False
    #: Mailchimp allows 10 simultaneous connections per user: more is refused, not queued.
    max_concurrency: int | None = Field(None, ge=1, le=10)
    #: Members per page (Mailchimp's maximum is 1,000).
    page_size: int = Field(1000, ge=1, le=1000)
    #: Members per batch subscribe (Mailchimp's maximum is 500).
    batch_size: int = Field(500, ge=1, le=500)
    #: Changes per push: new members go by batch subscribe in ``batch_size`` groups, and the writes of
    #: existing members (and all tag changes) in one ``/batches`` job per push.
    job_size: int = Field(5000, ge=1)
    #: Seconds between reads of a ``/batches`` job's status (the wait grows by half each time, to 10 s).
    batch_poll_s: float = Field(1.0, gt=0, le=60)
    #: How long a ``/batches`` job may take before the push gives up on it (its changes are retried
    #: next run; the job's writes are absolute, so running it again is harmless).
    batch_timeout_s: float = Field(600.0, gt=0)

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
