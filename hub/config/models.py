"""The pydantic models of ``omnihub.yaml``: the hub's settings, jobs, per-channel rules and alerts.

Every model forbids unknown keys: a misspelled ``sefety_stock`` must be an error, not silently
ignored. Connector entries stay plain dicts here; each is validated by its own type's settings
model in ``hub.config.loader``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

from hub.config.durations import parse_duration, parse_schedule
from hub.model.base import Entity
from hub.model.phones import is_country
from hub.redact import register_secret

__all__ = [
    "AlertChannel",
    "AlertsConfig",
    "ChannelRules",
    "EmailConfig",
    "HubConfig",
    "HubSettings",
    "JobConfig",
    "MergeRule",
    "Thresholds",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HubSettings(_Strict):
    #: Any SQLAlchemy URL; a relative SQLite path is taken relative to the config file.
    database: str = "sqlite:///omnihub.db"
    #: ISO 4217 code of the prices that name no currency, and of the amounts in the digest.
    currency: str = "EUR"
    #: ISO 3166 alpha-2 code of the country a phone number without a country code belongs to
    #: (``IT``: ``347 123 4567`` is ``+393471234567``); without it such a number is compared as written.
    country: str | None = None
    #: IANA time zone of the schedules, the digest's and the console's times, `mismatches` times.
    timezone: str = "UTC"
    #: A complete pull that would delete more than this fraction of a connector's known records is
    #: refused as a truncated feed (an empty CSV must not zero the stock everywhere).
    max_delete_fraction: float = Field(0.5, ge=0, le=1)
    #: Changed records a run holds in memory for the reconciler (shared by the job's connectors);
    #: beyond it they are written page by page and streamed back from the store group by group, so
    #: memory stays bounded however large the catalogue (at some cost in speed).
    memory_records: int = Field(500_000, ge=1)
    #: How long a run waits for a run of the same job in another process (the daemon and a manual
    #: ``sync``) to end before it gives up, does nothing and fails saying so.
    job_lock_wait: timedelta = timedelta(seconds=5)
    #: A connector whose write calls fail this many times in a row in one run (each after the
    #: transport's retries) is sent nothing more in that run: the rest is reported failed
    #: (``circuit_open``) and decided again next run, instead of costing every batch its retries.
    push_failures_to_trip: int = Field(3, ge=1, le=1000)
    #: Where the platforms reach ``omnihub run --http-port``'s webhook receiver from outside
    #: (``https://hub.example.com``): ``omnihub webhooks register`` subscribes
    #: ``<webhook_url>/webhooks/<connector>``.
    webhook_url: str | None = Field(None, pattern=r"^https?://[^/\s]+(/[^\s]*)?$")
    #: The token the web console (``omnihub run --http-port``, ``omnihub console``) asks for before
    #: any action (``run now``); without it the console only shows. Write it as
    #: ``"${OMNIHUB_ADMIN_TOKEN}"`` so it stays out of the file; at least 16 characters.
    admin_token: SecretStr | None = None
    #: The Celery broker of the distributed engine (``redis://host:6379/0``, ``amqp://...``). It
    #: usually carries a password: write it as ``"${OMNIHUB_BROKER_URL}"``; it is never logged.
    broker: SecretStr | None = None
    #: Where runs happen: ``inprocess`` (the default: ``omnihub run`` runs each job itself) or
    #: ``celery`` (``omnihub run`` keeps the schedule and enqueues each run on ``broker``;
    #: ``omnihub worker`` processes run them). ``celery`` needs PostgreSQL for state (``database``):
    #: the job locks and the outbox that make a redelivered run safe are shared through it.
    engine: Literal["inprocess", "celery"] = "inprocess"
    #: Distributed engine: how long the scheduler keeps trying a broker it cannot reach (a
    #: restart, a failover) before it fails the run, saying so; the same for a broker that goes
    #: away while a run's step is waiting for its answer.
    broker_outage: timedelta = timedelta(minutes=5)
    #: Distributed engine: a run's reconciling and pushing is split into this many tasks at most,
    #: each deciding the keys of one partition (a stable hash of the SKU or e-mail), so that the
    #: workers share a big job. About the number of worker processes; 1 keeps a run's decisions in
    #: one task.
    partitions: int = Field(8, ge=1, le=256)
    #: Distributed engine: records per partition below which a run uses fewer partitions (a small
    #: catalogue is decided faster by one task than by eight).
    partition_records: int = Field(50_000, ge=1)

    @field_validator("broker")
    @classmethod
    def _broker(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value().strip()
        if "://" not in text:
            raise ValueError('a broker url looks like redis://host:6379/0; write it as "${OMNIHUB_BROKER_URL}"')
        register_secret(text)
        password = urlsplit(text).password
        if password:
            register_secret(password)
        return SecretStr(text)

    @field_validator("engine")
    @classmethod
    def _engine(cls, value: str, info: ValidationInfo) -> str:
        # declared after database and broker, so both are validated (and in info.data) by now
        if value == "celery":
            # a field that failed its own validation is missing here, and already reported
            if "database" in info.data and not info.data["database"].startswith("postgresql"):
                raise ValueError("the distributed engine needs PostgreSQL for state (hub.database)")
            if "broker" in info.data and info.data["broker"] is None:
                raise ValueError('the distributed engine needs a broker (hub.broker: "${OMNIHUB_BROKER_URL}")')
        return value

    @field_validator("job_lock_wait", mode="before")
    @classmethod
    def _lock_wait(cls, value: Any) -> timedelta:
        return value if isinstance(value, timedelta) else parse_duration(value)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError(f"{value!r} is not an ISO 4217 currency code such as EUR")
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and not is_country(value):
            raise ValueError(f"{value!r} is not an ISO 3166 alpha-2 country code such as IT, DE or GB")
        return value

    @field_validator("admin_token")
    @classmethod
    def _admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        # a guessable token would let anyone who reaches the port start runs
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError('must be at least 16 characters; write it as "${OMNIHUB_ADMIN_TOKEN}"')
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Rome") from None
        return value


class ChannelRules(_Strict):
    """How the golden value becomes what one channel should show, so intended differences are not
    mismatches."""

    #: Units held back from this channel (stock): it shows max(0, golden - safety_stock).
    safety_stock: int = Field(0, ge=0)
    #: Channel location code -> the truth locations whose stock it sells (summed). Default: same code.
    locations: dict[str, list[str]] = {}
    #: Prices on this channel are the golden price plus this percentage (a discount when negative);
    #: bounded so that a typo (``1e999999``) is a config error, not a failed sync.
    markup_percent: Decimal = Field(Decimal(0), gt=-100, le=1000)
    #: Round marked-up prices up to this ending (``0.90``, ``0.99``); none keeps cents.
    price_ending: Decimal | None = None
    #: Differences up to this much are not mismatches.
    price_tolerance: Decimal = Field(Decimal(0), ge=0)
    stock_tolerance: int = Field(0, ge=0)

    @field_validator("price_ending")
    @classmethod
    def _ending(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and not (0 <= value < 1):
            raise ValueError("price_ending is the cents part, between 0 and 0.99 (e.g. 0.90)")
        return value


MergeRule = Literal["truth", "newest", "most_restrictive"]


class JobConfig(_Strict):
    #: What the job reconciles: products, prices, stock or customers.
    entity: Entity
    #: The connectors this job compares with the source of truth (and writes, in enforce mode).
    targets: list[str] = Field(min_length=1)
    #: ``every 15m`` or a cron expression; a job without one runs only from ``omnihub sync``.
    schedule: str | None = None
    #: `enforce` writes the corrections; `monitor` only reports them.
    mode: Literal["enforce", "monitor"] = "monitor"
    #: The connector whose values are the truth; defaults to ``truth:`` for the entity.
    source: str | None = None
    #: Other connectors read for the golden record (customers: every place consent can change).
    sources: list[str] = []
    #: Canonical fields compared; default: every compared field the target's mapping covers.
    fields: list[str] | None = None
    #: Rules per target connector.
    rules: dict[str, ChannelRules] = {}
    #: Customers: how each field's golden value is chosen; default profile from the truth (else the
    #: newest), consent ``most_restrictive`` (an unsubscribe anywhere wins over an older subscribe).
    merge: dict[str, MergeRule] = {}
    #: How old the last full read of each connector the job pulls may be before the job reads it
    #: whole again instead of asking only for what changed since its cursor: a platform restored
    #: from a backup goes back in time behind the cursor, and only a full read sees it. ``0s``:
    #: every run reads everything.
    full_every: timedelta = timedelta(hours=24)
    #: Stock: the channels whose open orders (placed, not yet fulfilled, cancelled or refunded)
    #: reserve stock at the location they leave from; every target then shows the truth's on-hand
    #: minus those reservations (minus its safety stock). Their orders are pulled before the stock.
    reservations: list[str] = []
    #: Stock: the channels among ``reservations`` whose orders the source of truth already
    #: subtracts (a WMS that receives them): listed in the ledger, never subtracted a second time.
    counted_by_truth: list[str] = []

    @field_validator("full_every", mode="before")
    @classmethod
    def _full_every(cls, value: Any) -> timedelta:
        return value if isinstance(value, timedelta) else parse_duration(value)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is not None:
            parse_schedule(value)
        return value

    @model_validator(mode="after")
    def _reservations(self) -> JobConfig:
        if (self.reservations or self.counted_by_truth) and self.entity is not Entity.stock:
            raise ValueError("reservations and counted_by_truth are for stock jobs only")
        stray = [c for c in self.counted_by_truth if c not in self.reservations]
        if stray:
            raise ValueError(f"counted_by_truth names {', '.join(stray)}, which reservations does not list")
        return self

    def rules_for(self, connector: str) -> ChannelRules:
        return self.rules.get(connector) or ChannelRules()


class EmailConfig(_Strict):
    #: The SMTP server the digest is sent through.
    smtp_host: str = "localhost"
    #: Its port (587 with starttls, 465 with ssl).
    smtp_port: int = Field(25, ge=1, le=65535)
    #: Upgrade the connection with STARTTLS (port 587).
    starttls: bool = False
    #: Implicit TLS (port 465); exclusive with starttls.
    ssl: bool = False
    #: SMTP login, when the server asks for one.
    username: str | None = None
    #: SMTP password: write it as "${SMTP_PASSWORD}"; never logged.
    password: SecretStr | None = None
    #: The From address of the digest.
    sender: str
    #: Who gets the digest.
    recipients: list[str] = Field(min_length=1)
    #: Seconds to wait for the SMTP server.
    timeout_s: float = Field(30, gt=0)

    @model_validator(mode="after")
    def _tls(self) -> EmailConfig:
        if self.ssl and self.starttls:
            raise ValueError("choose one of ssl (implicit TLS, port 465) and starttls")
        return self


class Thresholds(_Strict):
    #: Price differences up to this are not mailed.
    price: Decimal = Decimal("0.01")
    #: Stock differences up to this are not mailed.
    stock: int = 0


class AlertChannel(_Strict):
    """One place besides e-mail that gets the plain-text digest, as an apprise URL (Slack, Teams,
    ``json://``/``jsons://`` webhooks, ...). The URL usually carries its own secret, so it is a
    ``SecretStr`` registered with ``hub.redact``: write it as ``${SLACK_WEBHOOK_URL}``."""

    url: SecretStr
    #: What the logs and the delivery queue call this channel; default: its scheme and a short hash.
    name: str | None = Field(None, min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value().strip()
        if "://" not in text:
            raise ValueError("an alert channel url looks like slack://..., msteams://... or jsons://host/path")
        register_secret(text)
        # apprise may log a part of it (a Slack token, a webhook path) rebuilt in another form
        parts = urlsplit(text)
        pieces = [parts.password, *parts.path.split("/"), *(v for _, v in parse_qsl(parts.query))]
        for piece in pieces:
            if piece and len(piece) >= 8:
                register_secret(piece)
        return SecretStr(text)


class AlertsConfig(_Strict):
    #: The digest by e-mail; none: no mail is sent.
    email: EmailConfig | None = None
    #: Differences too small to mail.
    thresholds: Thresholds = Thresholds()
    #: A mismatch still open is mailed again after this long.
    renotify_after: timedelta = timedelta(hours=24)
    #: Also write each digest as .eml and .html into this folder (relative to the config file).
    outbox_dir: str | None = None
    #: Other channels that get the plain-text digest after each run, beside the e-mail.
    channels: list[AlertChannel] = []

    @field_validator("renotify_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return value if isinstance(value, timedelta) else parse_duration(value)


class HubConfig(_Strict):
    """The whole ``omnihub.yaml``."""

    version: Literal[1] = 1
    hub: HubSettings = HubSettings()
    #: Connector entries; each is validated by its own type's settings model.
    connectors: dict[str, dict[str, Any]] = Field(min_length=1)
    truth: dict[Entity, str] = {}
    jobs: dict[str, JobConfig] = {}
    alerts: AlertsConfig = AlertsConfig()
