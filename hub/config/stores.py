"""A stores directory: several complete configs served by one deployment, one config per store.

``omnihub run --stores DIR`` and ``omnihub worker --stores DIR`` serve every ``*.yaml`` of ``DIR``
as a store of its own: the file is that store's whole ``omnihub.yaml`` (connectors, jobs, alerts,
``hub.database``), and its stem is the store's name (``acme.yaml`` is store ``acme``). The name
becomes part of a queue name (``omnihub.acme``), of a URL (``/webhooks/acme/<connector>``) and of
metric labels, so it is limited to letters, digits, ``-`` and ``_``.

Secrets: a store's ``${NAME}`` references are resolved from the process environment overlaid
with ``<stem>.env`` beside its file (``acme.env``: ``KEY=VALUE`` lines), when there is one. The
overlay belongs to that store alone: it is passed to ``load_config`` as its ``env`` and never put
into ``os.environ`` (another store must not see it), and its values are never logged (a line that
cannot be read is reported by its number, not its text). Values used by secret settings are masked
as any environment variable's are (``hub.redact``).

Each store is loaded on its own: a store whose file (or env file) has a problem is reported with
its ``file:line`` and left out, and the others are served. Two stores whose ``hub.database``
names the same database and schema are both left out: their state would mix (one store's cursors,
outbox and mismatches read as the other's), so this is an error naming both files, never a guess
at which one was meant.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hub.config.loader import LoadedConfig, load_config
from hub.errors import ConfigError, ConfigProblem

__all__ = [
    "STORE_NAME",
    "StoreConfig",
    "StoreFailure",
    "Stores",
    "env_file_of",
    "load_store_config",
    "load_stores",
    "read_env_file",
    "state_identity",
    "store_env",
    "store_queue",
]

#: What a store's name (its file's stem) may be: it ends up in queue names, URLs and metric labels.
STORE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
#: A variable's name in an env file, as a shell would accept it.
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: The queue a store's runs go to on the distributed engine (``hub.distributed.enqueue``'s
#: ``queue=``); ``omnihub worker --stores`` consumes every store's.
QUEUE_PREFIX = "omnihub."


def store_queue(name: str) -> str:
    """The broker queue of store ``name``'s runs: one per store, so that Celery's Redis transport,
    which takes from a worker's queues in turn, serves a store whose queue is short between the
    tasks of one whose queue is long."""
    return QUEUE_PREFIX + name


@dataclass(frozen=True)
class StoreConfig:
    """One store of the directory, loaded and validated."""

    name: str
    config: LoadedConfig

    @property
    def path(self) -> Path:
        return self.config.path


@dataclass(frozen=True)
class StoreFailure:
    """A store of the directory that is not served, and why (each problem with its ``file:line``)."""

    name: str
    path: Path
    error: ConfigError

    def __str__(self) -> str:
        return str(self.error)


@dataclass
class Stores:
    """What a stores directory holds: the stores that loaded, and the ones that did not."""

    directory: Path
    loaded: list[StoreConfig] = field(default_factory=list)
    failed: list[StoreFailure] = field(default_factory=list)

    def fail(self, store: StoreConfig, error: ConfigError) -> None:
        """Move a loaded store to the failed ones (a check across stores refused it)."""
        self.loaded = [s for s in self.loaded if s.name != store.name]
        self.failed.append(StoreFailure(store.name, store.path, error))
        self.failed.sort(key=lambda f: f.name)


def env_file_of(config_path: Path) -> Path:
    """The env file of a store's config: ``acme.yaml`` -> ``acme.env`` beside it."""
    return config_path.with_suffix(".env")


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines: blank lines and ``#`` comments are skipped, an ``export`` before the key
    is allowed, and one pair of quotes around the whole value is removed (nothing inside is
    escaped or expanded: a value is taken as written). A line that is not a pair, or a key given
    twice, is a ``ConfigError`` at that line; the line's text is never repeated, since it may hold
    a secret."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(ConfigProblem(str(path), None, None, "", f"cannot read the env file: {exc}")) from None
    values: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _ENV_KEY.match(key):
            message = "expected KEY=VALUE (a letter or _ first, then letters, digits, _)"
            problems.append(ConfigProblem(str(path), number, None, "", message))
            continue
        if key in values:
            problems.append(ConfigProblem(str(path), number, None, key, f"{key} is set twice; keep one line"))
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    if problems:
        raise ConfigError(problems)
    return values


def store_env(config_path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables a store's ``${NAME}`` references are resolved from: ``environ`` (the process
    environment) overlaid with the store's env file when it has one. A new mapping each time: the
    overlay never reaches ``os.environ``."""
    base = dict(os.environ if environ is None else environ)
    env_file = env_file_of(config_path)
    if env_file.is_file():
        base.update(read_env_file(env_file))
    return base


def load_store_config(path: str | Path, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """A store's config, with its env file's variables: ``load_config`` otherwise. Without an env
    file beside it, exactly what ``load_config(path)`` gives."""
    path = Path(path)
    try:
        return load_config(path, env=store_env(path, environ))
    except ConfigError as exc:
        raise ConfigError([_with_env_hint(p, path) for p in exc.problems]) from None


def _with_env_hint(problem: ConfigProblem, path: Path) -> ConfigProblem:
    """Say where else an unset variable of a store can be set."""
    if problem.message.startswith("environment variable ") and " is not set" in problem.message:
        hint = f"{problem.message} (or set it in {env_file_of(path).name}, beside the store's file)"
        return ConfigProblem(problem.file, problem.line, problem.column, problem.path, hint)
    return problem


def state_identity(url: str) -> str | None:
    """What makes two database URLs the same state: the SQLite file, or the PostgreSQL server,
    database and schema (the first of ``options=-csearch_path=...``, else ``public``). User and
    password do not count: two users of one schema still share its tables. None for an in-memory
    database, which no one else can share."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
            return None
        return f"sqlite:{Path(database).resolve()}"
    if backend == "postgresql":
        options = parsed.query.get("options", "")
        text = " ".join(options) if isinstance(options, tuple) else options
        found = re.search(r"search_path\s*=\s*([^\s]+)", text)
        schema = found.group(1).split(",")[0].strip("\"'") if found else "public"
        host = parsed.host or "localhost"
        return f"postgresql://{host}:{parsed.port or 5432}/{parsed.database or ''}#{schema}"
    return parsed.render_as_string(hide_password=True)


def store_paths(directory: Path) -> list[Path]:
    """The store files of a directory, by name."""
    return sorted(p for p in directory.glob("*.yaml") if p.is_file())


def load_stores(directory: str | Path, *, environ: Mapping[str, str] | None = None) -> Stores:
    """Load every store of ``directory``; each one that cannot be served is in ``failed`` with
    its problems. Raises ``ConfigError`` only when the directory itself cannot be used (missing,
    or without a ``*.yaml``)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(ConfigProblem(str(directory), None, None, "", "not a directory of store configs (*.yaml)"))
    paths = store_paths(directory)
    if not paths:
        raise ConfigError(
            ConfigProblem(str(directory), None, None, "", "no *.yaml here: each store is one config file, name.yaml")
        )
    stores = Stores(directory)
    for path in paths:
        name = path.stem
        if not STORE_NAME.match(name):
            message = f"store name {name!r} (the file's name) may hold only letters, digits, - and _"
            problem = ConfigProblem(str(path), None, None, "", message)
            stores.failed.append(StoreFailure(name, path, ConfigError(problem)))
            continue
        try:
            stores.loaded.append(StoreConfig(name, load_store_config(path, environ)))
        except ConfigError as exc:
            stores.failed.append(StoreFailure(name, path, exc))
    _refuse_shared_state(stores)
    return stores


def _refuse_shared_state(stores: Stores) -> None:
    """Leave out every store whose state database (and schema) is another's, naming both files."""
    by_identity: dict[str, list[StoreConfig]] = {}
    for store in stores.loaded:
        identity = state_identity(store.config.database_url())
        if identity is not None:
            by_identity.setdefault(identity, []).append(store)
    for sharing in by_identity.values():
        if len(sharing) < 2:
            continue
        files = ", ".join(s.path.name for s in sharing)
        for store in sharing:
            others = ", ".join(s.path.name for s in sharing if s is not store)
            message = (
                f"hub.database is the same database and schema as {others}'s: stores {files} would mix their "
                "state; give each store its own database, or its own PostgreSQL schema (options=-csearch_path=NAME)"
            )
            stores.fail(store, ConfigError(store.config.located.problem(("hub", "database"), message)))


def refuse_other_brokers(stores: Stores, *, among: set[str] | None = None) -> None:
    """Leave out the stores (of ``among``, by name; default all) whose ``hub.broker`` is not the
    first one's: one deployment's workers take every store's runs from one broker, so a store on
    another broker would wait for a worker that never comes. The URLs are never named (they
    carry a password); the files are."""
    first: StoreConfig | None = None
    for store in list(stores.loaded):
        if (among is not None and store.name not in among) or store.config.hub.broker is None:
            continue
        if first is None:
            first = store
            continue
        assert first.config.hub.broker is not None
        if store.config.hub.broker.get_secret_value() != first.config.hub.broker.get_secret_value():
            message = (
                f"hub.broker differs from {first.path.name}'s: the stores of one directory share one broker, "
                "whose workers serve them all"
            )
            stores.fail(store, ConfigError(store.config.located.problem(("hub", "broker"), message)))
