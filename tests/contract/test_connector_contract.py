"""Every installed connector keeps the plugin contract, and every installed sandbox proves it over HTTP.

Nothing here names a platform: connectors come from the ``omnihub.connectors`` entry points and
sandboxes from ``omnihub.sandboxes`` (``hub.sdk.SandboxPlugin``), so a connector shipped tomorrow is
held to the same checks without a line added here. Per platform differences (the settings that
point a connector at its sandbox, how big a page is) come from the plugin object.

Declared against implemented: an entity declared readable has a ``pull``, writable a ``push`` (its
own, or the default one and the ``push_<entity>`` it hands changes to), and none undeclared;
and every declared entity a section in the shipped mapping ``mappings/<type>.yaml``.

Against the sandbox on 127.0.0.1, for every entity the connector reads: a full read returns the
seeded catalogue's keys; a seed larger than a page is read across several requests, every record
exactly once; a write of every writable entity lands and reads back; a 500 then a 429 injected
through the kit's ``/_sandbox/faults`` are retried and the read completes; wrong credentials are
refused with ``AuthError``.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from importlib.metadata import entry_points
from typing import Any

import httpx
import pytest
import yaml

from hub.errors import AuthError
from hub.model.records import Entity, Record
from hub.plugins.contract import Capability, Change, Connector
from hub.plugins.mapping import shipped_mapping_path
from hub.plugins.registry import connector_class
from hub.sandbox.kit import serve
from hub.sandbox.plugin import GROUP as SANDBOXES
from hub.sandbox.plugin import SandboxPlugin
from hub.sandbox.seed import EPOCH, Catalogue, SeedCustomer, SeedItem, demo_store
from hub.sync.drive import pull_canonical, push_batched

CONNECTOR_TYPES = sorted({ep.name for ep in entry_points(group="omnihub.connectors")})
SANDBOX_NAMES = sorted({ep.name for ep in entry_points(group=SANDBOXES)})


def _plugin(name: str) -> SandboxPlugin:
    (found,) = [ep for ep in entry_points(group=SANDBOXES) if ep.name == name]
    plugin = found.load()
    assert isinstance(plugin, SandboxPlugin), f"entry point {name!r} names {plugin!r}, not a SandboxPlugin"
    return plugin


def _entities(cls: type[Connector], capability: Capability) -> list[Entity]:
    return [entity for entity, caps in cls.capabilities.items() if capability in caps]


def test_the_entry_points_are_found() -> None:
    assert len(CONNECTOR_TYPES) >= 2 and len(SANDBOX_NAMES) >= 2


# ------------------------------------------------------------------ declared against implemented


@pytest.mark.parametrize("type_name", CONNECTOR_TYPES)
def test_declared_capabilities_are_implemented(type_name: str) -> None:
    cls = connector_class(type_name)
    assert cls.type_name == type_name, "the entry point name is the connector's `type:`"
    assert cls.capabilities, "a connector declares at least one entity"
    for entity, capabilities in cls.capabilities.items():
        assert entity in Entity and capabilities <= {Capability.read, Capability.write}
        if Capability.read in capabilities:
            assert cls.pull is not Connector.pull, f"{type_name} declares reading {entity} and has no pull"
        if Capability.write in capabilities:
            assert _writes(cls, entity), f"{type_name} declares writing {entity} and has no push for it"
    for entity in Entity:
        if callable(getattr(cls, f"push_{entity.value}", None)):
            declared = Capability.write in cls.capabilities.get(entity, frozenset())
            assert declared, f"{type_name} has push_{entity.value} but does not declare writing it"
    if not _entities(cls, Capability.write):
        assert cls.push is Connector.push, f"{type_name} has a push but declares no writable entity"


def _writes(cls: type[Connector], entity: Entity) -> bool:
    """A push of its own, or the default push and the ``push_<entity>`` it hands the changes to."""
    return cls.push is not Connector.push or callable(getattr(cls, f"push_{entity.value}", None))


@pytest.mark.parametrize("type_name", CONNECTOR_TYPES)
def test_every_declared_entity_has_a_shipped_mapping(type_name: str) -> None:
    document = yaml.safe_load(shipped_mapping_path(type_name).read_text(encoding="utf-8"))
    sections = document.get("entities") or {}
    cls = connector_class(type_name)
    missing = [entity.value for entity in cls.capabilities if entity.value not in sections]
    assert missing == [], f"mappings/{type_name}.yaml has no section for {missing}"
    for entity in _entities(cls, Capability.write):
        fields = sections[entity.value].get("fields") or {}
        writable = [f for f, spec in fields.items() if not (isinstance(spec, dict) and spec.get("write") is False)]
        assert writable, f"{type_name} declares writing {entity.value} but its mapping writes no field"


@pytest.mark.parametrize("name", SANDBOX_NAMES)
def test_every_sandbox_simulates_an_installed_connector(name: str) -> None:
    plugin = _plugin(name)
    assert plugin.connector_type in CONNECTOR_TYPES
    assert plugin.credentials, "a sandbox that accepts anything cannot show that a connector authenticates"
    assert _entities(connector_class(plugin.connector_type), Capability.read), "a sandbox is read through"


# ------------------------------------------------------------------ against the sandbox


@dataclass
class Running:
    """One sandbox served on loopback, and how to build its connector."""

    plugin: SandboxPlugin
    app: Any
    url: str

    @property
    def cls(self) -> type[Connector]:
        return connector_class(self.plugin.connector_type)

    def connector(self, credentials: dict[str, str] | None = None, **overrides: Any) -> Connector:
        plugin = self.plugin if credentials is None else _with_credentials(self.plugin, credentials)
        raw = plugin.settings(self.url, self.app, **overrides)
        return self.cls("contract", self.cls.settings_model.model_validate(raw))

    def requests(self) -> int:
        return int(self.app.state.requests["total"])


def _with_credentials(plugin: SandboxPlugin, credentials: dict[str, str]) -> SandboxPlugin:
    """The plugin with other values for its credentials: the connector's settings use them, the app
    (already served) still accepts only the plugin's own."""
    secrets = {option: (env, credentials[env]) for option, (env, _) in plugin.secrets.items()}
    return dataclasses.replace(plugin, secrets=secrets)


@contextmanager
def running(name: str, catalogue: Catalogue, **options: Any) -> Iterator[Running]:
    plugin = _plugin(name)
    app = plugin.app(catalogue, **options)
    with serve(app) as served:
        yield Running(plugin, app, served.url)


def expected_keys(entity: Entity, catalogue: Catalogue) -> set[str]:
    """The keys a platform holding ``catalogue`` answers for ``entity`` (stock: every SKU somewhere)."""
    if entity is Entity.customers:
        return {c.email for c in catalogue.customers}
    return {item.sku for item in catalogue.items}


def read_keys(entity: Entity, keys: set[str] | list[str], catalogue: Catalogue) -> set[str]:
    """``keys`` as ``expected_keys`` counts them: a stock key ``SKU@location`` is its SKU."""
    if entity is not Entity.stock:
        return set(keys)
    split = [key.rsplit("@", 1) for key in keys]
    assert {location for _, location in split} <= set(catalogue.locations), "stock at a location never seeded"
    return {sku for sku, _ in split}


def many(count: int) -> Catalogue:
    """``count`` simple products (one variant each) and ``count`` customers, at the demo store's locations."""
    base = demo_store()
    items = [SeedItem(f"SKU-{i:05d}", f"Item {i}", f"SKU-{i:05d}", f"{10 + i % 50}.90") for i in range(count)]
    customers = [
        SeedCustomer(f"person{i:05d}@example.com", f"First{i}", f"Last{i}", None, "subscribed", EPOCH)
        for i in range(count)
    ]
    stock = {item.sku: {code: 5 + i % 7 for code in base.locations} for i, item in enumerate(items)}
    return Catalogue(items, stock, customers, list(base.locations))


@pytest.mark.parametrize("name", SANDBOX_NAMES)
async def test_a_full_read_returns_the_seeded_catalogue(name: str) -> None:
    catalogue = demo_store()
    with running(name, catalogue) as sandbox:
        for entity in _entities(sandbox.cls, Capability.read):
            async with sandbox.connector() as conn:
                pulled = await pull_canonical(conn, entity)
            assert pulled.quarantined == 0, f"{name} {entity.value}: the demo store is valid"
            got = read_keys(entity, list(pulled.records), catalogue)
            assert got == expected_keys(entity, catalogue), f"{name} {entity.value}"


@pytest.mark.parametrize("name", SANDBOX_NAMES)
async def test_a_read_longer_than_a_page_reads_every_record_once(name: str) -> None:
    plugin = _plugin(name)
    count = 2 * plugin.page_size + 1
    catalogue = many(count)
    with running(name, catalogue, **plugin.paging_app_options) as sandbox:
        for entity in _entities(sandbox.cls, Capability.read):
            before = sandbox.requests()
            seen: Counter[str] = Counter()
            async with sandbox.connector(**plugin.paging_settings) as conn:
                mapping = conn.field_mapping[entity]
                async for page in conn.pull(entity):
                    seen.update(mapping.to_canonical(raw).key for raw in page.records)
            pages = math.ceil(count / plugin.page_size)
            assert sandbox.requests() - before >= pages, f"{name} {entity.value}: {count} records in one request?"
            twice = [key for key, n in seen.items() if n > 1]
            assert twice == [], f"{name} {entity.value}: read more than once: {twice[:5]}"
            assert read_keys(entity, set(seen), catalogue) == expected_keys(entity, catalogue), f"{name} {entity.value}"


#: Per entity, the field a write changes and how (from the value read).
EDITS: dict[Entity, tuple[str, Any]] = {
    Entity.prices: ("amount", lambda old: Decimal(old) + Decimal("1.25")),
    Entity.stock: ("available", lambda old: int(old) + 3),
    Entity.customers: ("first_name", lambda old: f"{old or 'Someone'}-edited"),
    Entity.products: ("title", lambda old: f"{old or 'Item'} (edited)"),
}


def _change(conn: Connector, entity: Entity, record: Record, link: dict[str, str]) -> tuple[Change, str, Any]:
    field, edit = EDITS[entity]
    old = getattr(record, field)
    new = edit(old)
    values = {field: new}
    updated = record.model_copy(update=values)
    change = Change(entity, record.key, conn.name, values, {field: old}, updated, dict(link), f"contract-{record.key}")
    return change, field, new


def _writable_sandboxes() -> list[str]:
    """The sandboxes whose connector declares a writable entity (a read-only one is not skipped, it is
    not a case of this test: its pushes are held by ``test_declared_capabilities_are_implemented``)."""
    return [n for n in SANDBOX_NAMES if _entities(connector_class(_plugin(n).connector_type), Capability.write)]


def test_the_write_check_has_sandboxes_to_run_on() -> None:
    """The write check below is parametrized by a filter: it must not quietly run on nothing."""
    assert _writable_sandboxes(), "no installed sandbox simulates a connector that writes"


@pytest.mark.parametrize("name", _writable_sandboxes())
async def test_a_write_lands_and_reads_back(name: str) -> None:
    with running(name, demo_store()) as sandbox:
        writable = _entities(sandbox.cls, Capability.write)
        assert writable
        for entity in writable:
            async with sandbox.connector() as conn:
                pulled = await pull_canonical(conn, entity)
                key = min(pulled.records)
                record, raw = pulled.records[key]
                change, field, new = _change(conn, entity, record, raw.link)
                results = await push_batched(conn, entity, [change])
            assert [(r.key, r.ok) for r in results] == [(key, True)], f"{name} {entity.value}: {results}"
            async with sandbox.connector() as conn:
                again = await pull_canonical(conn, entity)
            assert getattr(again.records[key][0], field) == new, f"{name} {entity.value}: the write did not land"


@pytest.mark.parametrize("name", SANDBOX_NAMES)
async def test_a_500_then_a_429_are_retried_and_the_read_completes(name: str) -> None:
    catalogue = demo_store()
    with running(name, catalogue) as sandbox:
        entity = _entities(sandbox.cls, Capability.read)[0]
        faults = [{"status": 500, "times": 1}, {"status": 429, "times": 1, "headers": {"Retry-After": "0"}}]
        async with httpx.AsyncClient(base_url=sandbox.url) as control:
            answer = await control.post("/_sandbox/faults", json=faults)
            assert answer.status_code == 200 and len(answer.json()["faults"]) == 2
            async with sandbox.connector() as conn:
                pulled = await pull_canonical(conn, entity)
            injected = (await control.get("/_sandbox/faults")).json()
        assert read_keys(entity, list(pulled.records), catalogue) == expected_keys(entity, catalogue)
        assert injected["injected"] == {"status": 2} and injected["faults"] == [], f"{name}: {injected}"


def _wrong(secret: str) -> str:
    """``secret`` with one character in its middle changed: the same shape, not the same key."""
    middle = len(secret) // 2
    return secret[:middle] + ("1" if secret[middle] != "1" else "2") + secret[middle + 1 :]


@pytest.mark.parametrize("name", SANDBOX_NAMES)
async def test_wrong_credentials_are_refused(name: str) -> None:
    with running(name, demo_store()) as sandbox:
        wrong = {env: _wrong(value) for env, value in sandbox.plugin.credentials.items()}
        entity = _entities(sandbox.cls, Capability.read)[0]
        async with sandbox.connector(credentials=wrong) as conn:
            with pytest.raises(AuthError):
                await pull_canonical(conn, entity)
        assert sandbox.requests() >= 1, "refused by the sandbox, not before a request left"
