"""The hub's YAML configuration: pydantic models, ``${ENV}`` interpolation, located errors.

``load_config`` reads ``omnihub.yaml``, substitutes environment variables, validates everything
(including each connector's own settings model and its mapping file) and raises one
``ConfigError`` that lists every problem as ``file:line:column (key.path): what to do``. Unknown
keys are errors: a misspelled ``sefety_stock`` must not be silently ignored.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from hub.config.yamlio import Located, load_located, locate_problem
from hub.errors import ConfigError, ConfigProblem
from hub.model.base import Entity
from hub.model.phones import is_country
from hub.plugins.contract import ConnectorSettings
from hub.plugins.registry import available_types, connector_class
from hub.redact import register_secret

__all__ = [
    "MAX_DURATION",
    "AlertsConfig",
    "ChannelRules",
    "EmailConfig",
    "HubConfig",
    "JobConfig",
    "LoadedConfig",
    "StateLocation",
    "config_json_schema",
    "load_config",
    "load_state_location",
    "parse_duration",
    "parse_schedule",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_EVERY = re.compile(r"^\s*every\s+(\d+(?:\.\d+)?\s*(?:s|m|h|d))\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: The longest duration accepted (ten years, 3650d): longer ones mean "never" for a schedule or a
#: reminder, and past it date arithmetic overflows (``timedelta`` stops at 999,999,999 days).
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str | int | float) -> timedelta:
    """``"90s"``, ``"15m"``, ``"24h"``, ``"7d"`` (or a number of seconds) to a ``timedelta``, at most
    ``MAX_DURATION``."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if isinstance(text, float) and math.isnan(text):
            raise ValueError("nan is not a number of seconds")
        if text < 0:
            raise ValueError(f"{text!r} is negative; a duration is zero or more seconds")
        seconds: int | float = text  # compared before any conversion: a huge int does not fit a float
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise ValueError(f"{text!r} is not a duration such as 90s, 15m, 24h or 7d")
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{text!r} is longer than {MAX_DURATION.days}d (ten years), the longest duration accepted")
    return timedelta(seconds=float(seconds))


def parse_schedule(text: str) -> tuple[Literal["interval"], timedelta] | tuple[Literal["cron"], str]:
    """A job schedule: ``every 15m`` (an interval) or a five-field cron expression."""
    every = _EVERY.match(text)
    if every:
        interval = parse_duration(every.group(1))
        if interval.total_seconds() <= 0:
            raise ValueError("an interval must be longer than zero")
        return "interval", interval
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"{text!r} is neither `every <duration>` (every 15m) nor a five-field cron expression")
    from apscheduler.triggers.cron import CronTrigger  # validates field by field, with its own messages

    try:
        CronTrigger.from_crontab(text)
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {text!r}: {exc}") from None
    return "cron", text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HubSettings(_Strict):
    #: Any SQLAlchemy URL; a relative SQLite path is taken relative to the config file.
    database: str = "sqlite:///omnihub.db"
    currency: str = "EUR"
    #: ISO 3166 alpha-2 code of the country a phone number without a country code belongs to
    #: (``IT``: ``347 123 4567`` is ``+393471234567``); without it such a number is compared as written.
    country: str | None = None
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
    entity: Entity
    targets: list[str] = Field(min_length=1)
    #: ``every 15m`` or a cron expression; a job without one runs only from ``omnihub sync``.
    schedule: str | None = None
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

    def rules_for(self, connector: str) -> ChannelRules:
        return self.rules.get(connector) or ChannelRules()


class EmailConfig(_Strict):
    smtp_host: str = "localhost"
    smtp_port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    #: Implicit TLS (port 465); exclusive with starttls.
    ssl: bool = False
    username: str | None = None
    password: SecretStr | None = None
    sender: str
    recipients: list[str] = Field(min_length=1)
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


class AlertsConfig(_Strict):
    email: EmailConfig | None = None
    thresholds: Thresholds = Thresholds()
    renotify_after: timedelta = timedelta(hours=24)
    #: Also write each digest as .eml and .html into this folder (relative to the config file).
    outbox_dir: str | None = None

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


@dataclass(frozen=True)
class StateLocation:
    """Where the state store is: ``hub.database`` and the folder a relative SQLite path is read from."""

    database: str
    base_dir: Path

    def database_url(self) -> str:
        """The database URL, with a relative SQLite path resolved against the config's folder."""
        url = self.database
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.base_dir / url[len(prefix) :])
        return url


class LoadedConfig:
    """A validated config with each connector's settings parsed by its own model."""

    def __init__(self, model: HubConfig, connectors: dict[str, ConnectorSettings], located: Located, path: Path):
        self.model = model
        self.connectors = connectors
        self.located = located
        self.path = path
        self.base_dir = path.resolve().parent

    @property
    def hub(self) -> HubSettings:
        return self.model.hub

    @property
    def jobs(self) -> dict[str, JobConfig]:
        return self.model.jobs

    @property
    def alerts(self) -> AlertsConfig:
        return self.model.alerts

    def source_of(self, job: JobConfig) -> str:
        source = job.source or self.model.truth.get(job.entity)
        assert source is not None  # validated in load_config
        return source

    def database_url(self) -> str:
        """The database URL, with a relative SQLite path resolved against the config's folder."""
        return StateLocation(self.model.hub.database, self.base_dir).database_url()

    def resolve_path(self, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else self.base_dir / path


def _pydantic_problems(located: Located, error: ValidationError, prefix: tuple[str | int, ...]) -> list[ConfigProblem]:
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = f"unknown key {loc[-1]!r}: check its spelling (unknown keys are not ignored)"
        elif item["type"] == "missing":
            message = f"missing required key {loc[-1]!r}"
        elif item["type"] == "literal_error" or item["type"] == "enum":
            message = f"{message} (got {item.get('input')!r})"
        problems.append(locate_problem(located, loc, message, prefix=prefix))
    return problems


def _validate_connectors(
    located: Located, entries: dict[str, Any], problems: list[ConfigProblem]
) -> dict[str, ConnectorSettings]:
    """Validate each connector entry with its own type's settings model."""
    connectors: dict[str, ConnectorSettings] = {}
    for name, raw in entries.items():
        where = ("connectors", name)
        if not isinstance(raw, dict) or "type" not in raw:
            problems.append(
                located.problem(where, f"connector {name!r} needs a `type` ({', '.join(available_types())})")
            )
            continue
        try:
            cls = connector_class(str(raw["type"]))
        except ConfigError as exc:
            problems.append(located.problem((*where, "type"), "; ".join(p.message for p in exc.problems)))
            continue
        try:
            connectors[name] = cls.settings_model.model_validate(raw)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(located, exc, where))

    return connectors


def load_config(path: str | Path, *, env: dict[str, str] | None = None) -> LoadedConfig:
    """Read, interpolate and validate a config file; raise ``ConfigError`` listing every problem."""
    path = Path(path)
    problems: list[ConfigProblem] = []
    located = load_located(path, env=env, problems_out=problems)
    if not isinstance(located.data, dict):
        raise ConfigError(located.problem((), "the config must be a mapping with `connectors:` and `jobs:` sections"))
    try:
        model = HubConfig.model_validate(located.data)
    except ValidationError as exc:
        problems += _pydantic_problems(located, exc, ())
        raw = located.data.get("connectors")
        if isinstance(raw, dict):  # still say what is wrong inside each connector entry
            _validate_connectors(located, raw, problems)
        raise ConfigError(problems) from None

    connectors = _validate_connectors(located, model.connectors, problems)

    from hub.plugins.contract import Capability  # local: avoid a cycle at import time for plugins

    for entity, name in model.truth.items():
        if name not in model.connectors:
            problems.append(located.problem(("truth", entity.value), f"unknown connector {name!r}"))
    for job_name, job in model.jobs.items():
        where = ("jobs", job_name)
        source = job.source or model.truth.get(job.entity)
        if source is None:
            problems.append(
                located.problem(
                    where,
                    f"no source of truth for {job.entity.value}: add "
                    f"`truth: {{{job.entity.value}: <connector>}}` or `source:`",
                )
            )
        for field_name, names, capability in (
            ("source", [source] if source else [], Capability.read),
            ("sources", job.sources, Capability.read),
            ("targets", job.targets, Capability.read),
        ):
            for i, name in enumerate(names):
                at = (*where, field_name, i) if field_name != "source" else (*where, "source")
                if name not in model.connectors:
                    problems.append(
                        located.problem(at, f"unknown connector {name!r}; defined: {', '.join(model.connectors)}")
                    )
                    continue
                settings = connectors.get(name)
                if settings is None:
                    continue
                if capability not in connector_class(settings.type).capabilities.get(job.entity, frozenset()):
                    problems.append(
                        located.problem(at, f"connector {name!r} ({settings.type}) cannot read {job.entity.value}")
                    )
        if job.mode == "enforce":
            for i, name in enumerate(job.targets):
                settings = connectors.get(name)
                if settings and Capability.write not in connector_class(settings.type).capabilities.get(
                    job.entity, frozenset()
                ):
                    problems.append(
                        located.problem(
                            (*where, "targets", i),
                            f"connector {name!r} ({settings.type}) cannot write "
                            f"{job.entity.value}; use mode: monitor or another target",
                        )
                    )
        if source in job.targets and job.entity is not Entity.customers:
            # Customers are the exception: the CRM is the truth for the profile, but an unsubscribe
            # made anywhere else must reach it too, so the source may be a target of its own job.
            problems.append(located.problem((*where, "targets"), f"{source!r} is the source of truth and a target"))
        for name in job.rules:
            if name not in job.targets:
                problems.append(located.problem((*where, "rules", name), f"{name!r} is not one of this job's targets"))
        if job.fields is not None:
            from hub.model.records import ENTITY_MODELS

            known = ENTITY_MODELS[job.entity].compared_fields
            for i, name in enumerate(job.fields):
                if name not in known:
                    problems.append(
                        located.problem(
                            (*where, "fields", i),
                            f"{name!r} is not compared for {job.entity.value}; choose from {', '.join(known)}",
                        )
                    )
    if problems:
        raise ConfigError(problems)
    for settings in (*connectors.values(), model.alerts.email):
        _register_secrets(settings)
    return LoadedConfig(model, connectors, located, path)


def load_state_location(path: str | Path, *, env: dict[str, str] | None = None) -> StateLocation:
    """The state store of a config file, for the commands that only read it (``mismatches``,
    ``runs``, ``quarantine``).

    Only the ``hub:`` section is read and interpolated: listing what the store holds needs no
    platform credential, so the connectors' ``${TOKEN}`` variables need not be set. A variable in
    ``hub.database`` must be, and is a located error when it is not.
    """
    path = Path(path)
    located = load_located(path, env=env, interpolate_within=("hub",))
    if not isinstance(located.data, dict):
        raise ConfigError(located.problem((), "the config must be a mapping with `connectors:` and `jobs:` sections"))
    try:
        hub = HubSettings.model_validate(located.data.get("hub", {}))
    except ValidationError as exc:
        raise ConfigError(_pydantic_problems(located, exc, ("hub",))) from None
    return StateLocation(hub.database, path.resolve().parent)


def _register_secrets(settings: BaseModel | None) -> None:
    """Every ``SecretStr`` of a settings model is masked from now on, even one written literally in
    the YAML (a file with a password in it is a bad idea, but its password must not leak either)."""
    if settings is None:
        return
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            register_secret(value.get_secret_value())
        elif isinstance(value, BaseModel):
            _register_secrets(value)


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``omnihub.yaml`` for editors, connector entries included by type."""
    schema = HubConfig.model_json_schema()
    variants = []
    for type_name in available_types():
        try:
            cls = connector_class(type_name)
        except ConfigError:
            continue
        sub = cls.settings_model.model_json_schema(ref_template="#/$defs/{model}")
        # Nested models of a connector are referenced from the root: hoist their definitions there.
        schema.setdefault("$defs", {}).update(sub.pop("$defs", {}))
        sub.setdefault("properties", {})["type"] = {"const": type_name}
        variants.append(sub)
    if variants:
        schema["properties"]["connectors"]["additionalProperties"] = {"oneOf": variants}
    schema["title"] = "omnihub configuration"
    return schema
