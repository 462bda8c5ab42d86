"""``omnihub discover`` and ``omnihub init``: what a platform reports, and a starter config from it.

``discover`` reads a bounded sample of each entity a configured connector can read and says what
it holds: counts, location codes, currencies, sample records, and which raw fields its mapping
reads or ignores. ``init`` writes a commented ``omnihub.yaml`` for the connector types named,
secrets as ``${ENV}`` references, jobs for the entities they can serve, and, when the credentials
are at hand, the location settings filled from discovery. Both are built on the connector contract
and each type's settings model: no platform is named here.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
import yaml
from pydantic import BaseModel, SecretStr, ValidationError
from rich.table import Table
from rich.text import Text

from hub.cli.common import EXIT_FAILED, err, fail, load, out, styled
from hub.errors import ConfigError, OmnihubError
from hub.model.base import Entity
from hub.plugins.contract import Capability, Connector, ConnectorContext
from hub.plugins.registry import available_types, connector_class
from hub.redact import redact
from hub.sync.discover import MAX_PAGES, MAX_RECORDS, Discovery, EntityDiscovery
from hub.sync.discover import discover as discover_platform

__all__ = ["discover", "init"]


# ---------------------------------------------------------------------------------------- discover


def discover(
    connector: str = typer.Argument(..., help="A connector's name in the config."),
    json_output: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
    max_pages: int = typer.Option(MAX_PAGES, "--max-pages", min=1, help="Most pages read per entity."),
    max_records: int = typer.Option(MAX_RECORDS, "--max-records", min=1, help="Most records read per entity."),
) -> None:
    """Show what a platform reports: records, locations, currencies, samples and fields
    (exit 0 read, 1 unreachable, 2 config error)."""
    config = load()
    if connector not in config.connectors:
        fail(f"no connector {connector!r} in the config; connectors: {', '.join(config.connectors)}")
    from hub.sync.engine import Engine

    engine = Engine(config, store=None)  # type: ignore[arg-type]  # connectors and mappings only
    try:
        engine.mapping_for(connector)
        conn = engine.connector(connector)
    except ConfigError as exc:
        fail(str(exc))
    try:
        found = asyncio.run(_reach_and_discover(conn, max_pages, max_records))
    except OmnihubError as exc:
        err.print(styled("unreachable", "bold red", f"{connector}: {redact(exc)}"), soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None
    if json_output:
        sys.stdout.write(json.dumps(found.as_json(), indent=2, default=str) + "\n")
    else:
        _print_discovery(found, dict(conn.settings))


async def _reach_and_discover(conn: Connector, max_pages: int, max_records: int) -> Discovery:
    async with conn:
        await conn.ping()
        return await discover_platform(conn, max_pages=max_pages, max_records=max_records)


def _counts(values: dict[str, int]) -> str:
    return ", ".join(f"{k} ({v})" for k, v in values.items())


def _print_discovery(found: Discovery, settings: dict[str, Any]) -> None:
    out.print(
        Text(
            f"{found.connector} ({found.type}): at most {found.max_pages} pages or "
            f"{found.max_records} records read per entity"
        ),
        soft_wrap=True,
    )
    table = Table(show_edge=False)
    for column, justify in (("entity", "left"), ("read", "right"), ("platform says", "right"), ("holds", "left")):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for entity in found.entities:
        read = f"{entity.read}+" if entity.cut else str(entity.read)
        said = "-" if entity.reported is None else str(entity.reported)
        holds = _counts(entity.locations) or _counts(entity.currencies) or ("error" if entity.error else "")
        table.add_row(entity.entity.value, read, said, Text(holds))
    out.print(table)
    for entity in found.entities:
        _print_entity(entity, settings)


def _print_entity(entity: EntityDiscovery, settings: dict[str, Any]) -> None:
    out.print(Text(f"\n{entity.entity.value}", style="bold"))
    lines: list[tuple[str, str]] = []
    if entity.cut:
        lines.append(("note", f"stopped after {entity.read} records: the platform holds more"))
    if entity.error:
        lines.append(("error", entity.error))
    if entity.locations:
        lines.append(("locations", _counts(entity.locations)))
    unmapped = [pid for pid, code in entity.platform_locations.items() if code is None]
    if unmapped:
        lines.append(("not mapped", f"{', '.join(unmapped)}: add them to this connector's `locations`"))
    renamed = {pid: code for pid, code in entity.platform_locations.items() if code is not None and code != pid}
    if renamed:
        lines.append(("platform ids", ", ".join(f"{pid} -> {code}" for pid, code in renamed.items())))
    if entity.entity is Entity.stock and not entity.read and not entity.error and "locations" in settings:
        lines.append(
            ("note", "no stock read: locations the `locations` setting does not map may be skipped (see --verbose)")
        )
    if entity.currencies:
        lines.append(("currencies", _counts(entity.currencies)))
    lines.append(("fields read", ", ".join(entity.mapped_fields) or "-"))
    lines.append(("ignored", ", ".join(entity.ignored_fields) or "-"))
    if entity.invalid:
        lines.append(("refused", f"{entity.invalid} rows the mapping cannot read; first: {'; '.join(entity.reasons)}"))
    lines.extend(("sample", json.dumps(s, ensure_ascii=False, default=str)) for s in entity.samples)
    for label, text in lines:
        style = "red" if label == "error" else "yellow" if label in ("not mapped", "refused", "note") else ""
        out.print(Text(f"  {label}: ", style=style) + Text(text), soft_wrap=False, overflow="fold")


# -------------------------------------------------------------------------------------------- init

#: How often each entity's starter job runs.
SCHEDULES = {
    Entity.products: "every 1h",
    Entity.prices: "every 15m",
    Entity.stock: "every 5m",
    Entity.customers: "every 1h",
}
_NOT_ENV = re.compile(r"[^A-Za-z0-9]+")
_NOT_CODE = re.compile(r"[^A-Za-z0-9_.:-]+")


@dataclass
class _Planned:
    """One connector of the starter config."""

    name: str
    type: str
    cls: type[Connector]
    values: dict[str, Any] = field(default_factory=dict)
    #: Settings whose value is an ``${ENV}`` reference: setting -> variable.
    env: dict[str, str] = field(default_factory=dict)
    #: Optional secret settings, written commented out: setting -> variable.
    optional: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def can(self, entity: Entity, capability: Capability) -> bool:
        return capability in self.cls.capabilities.get(entity, frozenset())


def init(
    types: list[str] = typer.Argument(
        None,
        help="Connector types, each TYPE or TYPE:NAME (shopify:shop); none: asked.",
        show_default=False,
    ),
    out_path: Path = typer.Option(Path("omnihub.yaml"), "--out", "-o", help="The file to write."),
    force: bool = typer.Option(False, "--force", help="Overwrite the file if it exists."),
    settings: list[str] = typer.Option(
        [], "--set", help="A connector setting, NAME.SETTING=VALUE (shop.base_url=http://...); repeatable."
    ),
    database: str = typer.Option(
        "sqlite:///omnihub.db", "--database", help="hub.database: a SQLAlchemy URL, or '${VARIABLE}'."
    ),
    discover_: bool | None = typer.Option(
        None,
        "--discover/--no-discover",
        help="Fill the location settings from what the platforms report (default: when their variables are set).",
        show_default=False,
    ),
) -> None:
    """Write a commented starter omnihub.yaml for the connector types named (exit 0 written, 2 not)."""
    if not types:
        types = _ask_types()
    if out_path.exists() and not force:
        fail(f"{out_path} exists; pass --force to overwrite it")
    planned = _plan(types, settings)
    truth = _truths(planned)
    if discover_ is not False:
        _fill_locations(planned, truth, required=bool(discover_))
    out_path.write_text(_render(planned, truth, database), encoding="utf-8")
    variables = [v for p in planned for v in p.env.values()]
    out.print(styled("wrote", "green", f"{out_path}: {len(planned)} connectors"), soft_wrap=True)
    if variables:
        out.print(Text(f"  set these environment variables: {', '.join(variables)}"), soft_wrap=True)
    out.print(Text(f"  then: omnihub --config {out_path} check --ping"), soft_wrap=True)


def _ask_types() -> list[str]:
    installed = ", ".join(available_types())
    if not sys.stdin.isatty():
        fail(f"name the connector types, e.g. `omnihub init shopify rest_wms`; installed: {installed}")
    answer = typer.prompt(f"Connector types (installed: {installed}), separated by spaces")
    return answer.split()


def _env_name(connector: str, setting: str) -> str:
    return _NOT_ENV.sub("_", f"{connector}_{setting}").strip("_").upper()


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())


def _plan(types: list[str], settings: list[str]) -> list[_Planned]:
    """Each named type's block: given settings, and ``${ENV}`` references for the required rest."""
    planned: dict[str, _Planned] = {}
    installed = available_types()
    for spec in types:
        type_name, _, name = spec.partition(":")
        name = name or type_name
        if type_name not in installed:
            fail(f"unknown connector type {type_name!r}; installed: {', '.join(installed)}")
        if name in planned:
            fail(f"two connectors named {name!r}: name them with TYPE:NAME")
        try:
            cls = connector_class(type_name)
        except ConfigError as exc:
            fail(str(exc))
        planned[name] = _Planned(name, type_name, cls)
    for item in settings:
        key, eq, raw = item.partition("=")
        name, dot, setting = key.partition(".")
        if not (eq and dot and setting):
            fail(f"--set {item!r}: write NAME.SETTING=VALUE")
        if name not in planned:
            fail(f"--set {item!r}: no connector {name!r}; connectors: {', '.join(planned)}")
        model: type[BaseModel] = planned[name].cls.settings_model
        if setting not in model.model_fields or setting == "type":
            fail(f"--set {item!r}: {planned[name].type} has no setting {setting!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        planned[name].values[setting] = value if isinstance(value, dict | list | int | float | bool) else raw
    for plan in planned.values():
        for setting, info in plan.cls.settings_model.model_fields.items():
            if setting == "type" or setting in plan.values:
                continue
            variable = _env_name(plan.name, setting)
            if _is_secret(info.annotation) and info.is_required():
                plan.env[setting] = variable
            elif _is_secret(info.annotation):
                plan.optional[setting] = variable
            elif info.is_required() and info.annotation is str:
                plan.env[setting] = variable  # a value only the admin knows: from the environment, or written here
            elif info.is_required():
                plan.values[setting] = {}
                plan.notes[setting] = "fill in"
    return list(planned.values())


def _truths(planned: list[_Planned]) -> dict[Entity, str]:
    """The source of truth of each entity some connector reads and another writes.

    The one that reads but cannot write it (a WMS's stock, an ERP's prices) when there is one, else
    one that does not take orders (a CRM's customers), else the first named.
    """
    truth: dict[Entity, str] = {}
    for entity in Entity:
        readers = [p for p in planned if p.can(entity, Capability.read)]
        ranked = sorted(
            readers, key=lambda p: (p.can(entity, Capability.write), p.cls.reads_orders)
        )  # stable: the order named breaks ties
        for reader in ranked:
            if any(p.can(entity, Capability.write) for p in planned if p is not reader):
                truth[entity] = reader.name
                break
    return truth


def _resolved(plan: _Planned) -> dict[str, Any] | None:
    """The block with its ``${ENV}`` references resolved, or None when a variable is not set."""
    block = {"type": plan.type, **plan.values}
    for setting, variable in plan.env.items():
        if variable not in os.environ:
            return None
        block[setting] = os.environ[variable]
    return block


def _discovered(plan: _Planned) -> Discovery | None:
    """A short discovery of the connector's stock, or None when it cannot be reached or built."""
    block = _resolved(plan)
    if block is None or not plan.can(Entity.stock, Capability.read):
        return None
    try:
        settings = plan.cls.settings_model.model_validate(block)
        conn = plan.cls(plan.name, settings, ConnectorContext(base_dir=Path.cwd()))

        async def run() -> Discovery:
            async with conn:
                await conn.ping()
                return await discover_platform(conn, max_pages=2, max_records=500, entities=[Entity.stock])

        return asyncio.run(run())
    except (OmnihubError, ValidationError) as exc:
        err.print(styled("not discovered", "yellow", f"{plan.name}: {redact(exc)}"), soft_wrap=True)
        return None


def _fill_locations(planned: list[_Planned], truth: dict[Entity, str], *, required: bool) -> None:
    """Location settings from discovery: a ``locations`` map {platform id: code} where the platform
    reports ids of its own, and a single ``location`` code taken from the truth's locations."""
    found = {p.name: _discovered(p) for p in planned}
    if required and not any(found.values()):
        err.print(styled("warning:", "yellow", "nothing discovered: set the variables listed, then run init again"))
    truth_codes: list[str] = []
    if Entity.stock in truth and found.get(truth[Entity.stock]):
        truth_codes = found[truth[Entity.stock]].locations  # type: ignore[union-attr]
    for plan in planned:
        fields = plan.cls.settings_model.model_fields
        stock = found[plan.name].entity(Entity.stock) if found[plan.name] else None  # type: ignore[union-attr]
        if "locations" in fields and "locations" not in plan.values and stock and stock.platform_locations:
            plan.values["locations"] = {
                pid: code or _code_for(stock.location_names.get(pid) or pid)
                for pid, code in stock.platform_locations.items()
            }
            plan.notes["locations"] = "platform id: canonical code (discovered; rename the codes freely)"
        if "location" in plan.env and truth_codes and plan.name != truth.get(Entity.stock):
            del plan.env["location"]
            plan.values["location"] = truth_codes[0]
            plan.notes["location"] = f"the truth's locations: {', '.join(truth_codes)}"


def _code_for(name: str) -> str:
    """A canonical location code from a platform's name for it (``Milano Store`` -> ``milano-store``)."""
    return _NOT_CODE.sub("-", name.strip().lower()).strip("-") or "location"


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else json.dumps(value)


def _render(planned: list[_Planned], truth: dict[Entity, str], database: str) -> str:
    """The starter config as YAML text with comments (written by hand: comments are the point)."""
    variables = [v for p in planned for v in p.env.values()]
    lines = [
        "# omnihub starter config, written by `omnihub init`. Check it with `omnihub check --ping`,",
        "# see what each platform reports with `omnihub discover NAME`, then `omnihub sync`.",
    ]
    if variables:
        lines.append("# Set these environment variables (never write a secret in this file):")
        lines.extend(f"#   {v}" for v in variables)
    relative = "   # relative to this file" if database.startswith("sqlite:///") and database[10:11] != "/" else ""
    lines += ["version: 1", "hub:", f"  database: {_scalar(database)}{relative}", "  currency: EUR"]
    lines.append("connectors:")
    for plan in planned:
        lines.append(f"  {plan.name}:")
        lines.append(f"    type: {plan.type}")
        for setting, variable in plan.env.items():
            lines.append(f'    {setting}: "${{{variable}}}"')
        for setting, value in plan.values.items():
            note = f"   # {plan.notes[setting]}" if setting in plan.notes else ""
            lines.append(f"    {setting}: {_scalar(value)}{note}")
        for setting, variable in plan.optional.items():
            lines.append(f'    # {setting}: "${{{variable}}}"')
    jobs = []
    for entity, source in truth.items():
        targets = [p.name for p in planned if p.name != source and p.can(entity, Capability.write)]
        jobs.append((entity, targets))
    if truth:
        lines.append("# The source of truth of each entity: its values win on every other channel.")
        lines.append("truth:")
        lines.extend(f"  {entity.value}: {name}" for entity, name in truth.items())
        lines.append("# monitor reports mismatches; change a job to `mode: enforce` to correct them.")
        lines.append("jobs:")
        for entity, targets in jobs:
            lines.append(f"  {entity.value}:")
            lines.append(f"    entity: {entity.value}")
            lines.append(f"    targets: [{', '.join(targets)}]")
            lines.append("    mode: monitor")
            lines.append(f'    schedule: "{SCHEDULES[entity]}"')
    return "\n".join(lines) + "\n"
