"""Loading ``omnihub.yaml``: read with locations, interpolate ``${ENV}``, validate, and report every problem at once.

``load_config`` reads ``omnihub.yaml``, substitutes environment variables (``hub.config.yamlio``),
validates everything (the models of ``hub.config.models``, each connector's own settings model and
the references between sections, ``hub.config.checks``) and raises one ``ConfigError`` that lists
every problem as ``file:line:column (key.path): what to do``. Unknown keys are errors: a
misspelled ``sefety_stock`` must not be silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from hub.config.checks import check_references
from hub.config.models import AlertsConfig, HubConfig, HubSettings, JobConfig
from hub.config.yamlio import Located, load_located, locate_problem
from hub.errors import ConfigError, ConfigProblem
from hub.plugins.contract import ConnectorSettings
from hub.plugins.registry import available_types, connector_class
from hub.redact import register_secret

__all__ = ["LoadedConfig", "StateLocation", "load_config", "load_overview", "load_state_location"]


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
    check_references(located, model, connectors, problems)
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


def load_overview(path: str | Path, *, env: dict[str, str] | None = None) -> LoadedConfig:
    """The config as a read-only view needs it (``omnihub console``): the ``hub:`` section
    interpolated and validated, the jobs and alerts validated, and of each connector only its
    ``type``. The connectors' ``${TOKEN}`` variables need not be set: showing what the store holds
    reaches no platform. Connectors are not validated, so this is never a config to run jobs with.
    """
    path = Path(path)
    located = load_located(path, env=env, interpolate_within=("hub",))
    if not isinstance(located.data, dict):
        raise ConfigError(located.problem((), "the config must be a mapping with `connectors:` and `jobs:` sections"))
    try:
        model = HubConfig.model_validate(located.data)
    except ValidationError as exc:
        raise ConfigError(_pydantic_problems(located, exc, ())) from None
    types = {
        name: ConnectorSettings.model_construct(type=str(raw.get("type"))) for name, raw in model.connectors.items()
    }
    return LoadedConfig(model, types, located, path)


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
