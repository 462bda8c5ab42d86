"""The contract between the engine and a connector plugin.

A connector is a small adapter: it *pulls* flat platform rows (``RawRecord``) page by page, and it
*pushes* ``Change`` sets, answering one ``PushResult`` per change. Everything else is the hub's:
the mapping file turns raw rows into canonical records, the store remembers links and hashes, the
reconciler decides, the outbox journals, and ``hub.transport.Transport`` does the HTTP.

A connector declares per entity what it can do (``capabilities``) and its config model
(``settings_model``), and is found by ``type`` through the entry point group
``omnihub.connectors``.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from hub.model.base import Entity, Record
from hub.model.limits import ValueLimits
from hub.model.orders import Order
from hub.plugins.webhooks import WebhookParser, WebhookSubscription

if TYPE_CHECKING:
    import httpx

    from hub.plugins.mapping import Mapping as FieldMapping
    from hub.transport import Transport, TransportSettings, TransportStats

__all__ = [
    "SALES_CHANNEL",
    "Capability",
    "Change",
    "ClientConnector",
    "Connector",
    "ConnectorContext",
    "ConnectorSettings",
    "HttpConnectorSettings",
    "OrderPage",
    "PullPage",
    "PushResult",
    "RawRecord",
    "WebhookSettings",
    "is_local_url",
    "link_id",
    "secret_value",
]


class Capability(enum.StrEnum):
    read = "read"
    write = "write"


READ = frozenset({Capability.read})
READ_WRITE = frozenset({Capability.read, Capability.write})
#: What a sales channel does: reads its catalogue, and reads and writes prices, stock and customers.
SALES_CHANNEL: Mapping[Entity, frozenset[Capability]] = MappingProxyType(
    {Entity.products: READ, Entity.prices: READ_WRITE, Entity.stock: READ_WRITE, Entity.customers: READ_WRITE}
)


@dataclass(slots=True)
class RawRecord:
    """One flat platform row, before the mapping makes it canonical.

    ``data`` holds the platform's field values (nested dicts allowed; the mapping reads dotted
    paths); ``link`` the platform ids the connector needs to write this record back later
    (Shopify variant and inventory item ids, a WooCommerce product and variation id, ...);
    ``origin`` says where it came from (``prices.csv:14``) for quarantine messages.
    """

    data: dict[str, Any]
    link: dict[str, str] = field(default_factory=dict)
    origin: str = ""


@dataclass(slots=True)
class PullPage:
    """A page of raw records, and the incremental cursor that holds once it is stored."""

    records: list[RawRecord]
    #: The connector's cursor after this page (e.g. the newest ``updated_at`` seen); saved by the
    #: engine only when the whole pull succeeded.
    cursor: str | None = None
    #: Total number of records the pull will yield, when the platform says (for progress bars).
    total: int | None = None
    #: How many records of the entity the platform holds in all, whatever ``since`` left out, when a
    #: page carries it at no extra request (WooCommerce's ``X-WP-Total`` of an unfiltered list). After
    #: an incremental pull the engine compares it with what the store holds, and reads everything
    #: again when records appeared or vanished behind the cursor.
    held: int | None = None
    #: True when the pull covers the whole catalogue, so records not seen were deleted.
    complete: bool = True
    #: Records the connector could not even turn into a row, with why (key, reason, origin).
    rejected: list[tuple[str | None, str, str]] = field(default_factory=list)


@dataclass(slots=True)
class OrderPage:
    """A page of orders (already the hub's ``Order``: orders have no mapping file, their shape is
    the platform's and each connector reads it), and the cursor that holds once it is stored."""

    orders: list[Order]
    #: The connector's cursor after this page (the newest change time seen); saved by the hub only
    #: when the whole pull succeeded.
    cursor: str | None = None
    #: Orders the connector could not read, with why: (order id, reason, origin).
    rejected: list[tuple[str | None, str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Change:
    """What one channel should be told about one record.

    ``values`` are the canonical fields to set and ``previous`` what the channel showed when it was
    pulled: connectors with compare-and-set (Shopify stock) send ``previous`` so a sale made in the
    meantime is never overwritten; those without re-read and compare. ``record`` is the whole
    canonical record the channel should hold (for creates). ``link`` is empty when the record does
    not exist on the channel yet.
    """

    entity: Entity
    key: str
    connector: str
    values: dict[str, Any]
    previous: dict[str, Any]
    record: Record | None
    link: dict[str, str]
    idempotency_key: str


@dataclass(slots=True)
class PushResult:
    """The platform's answer for one change."""

    key: str
    ok: bool
    #: The platform's own error code and message (``NEGATIVE_PRICE_VALUE``, ``product_invalid_sku``).
    code: str | None = None
    message: str | None = None
    #: A transient failure: the outbox keeps the change for the next attempt.
    retriable: bool = False
    #: The value moved on the platform since the pull (a sale): the sale was kept (the connector
    #: wrote ``desired - (previous - now)`` or nothing); ``actual`` holds what is there now, and the
    #: mismatch stays open until the source of truth catches up.
    stale: bool = False
    actual: dict[str, Any] | None = None
    #: Platform ids learned by the write (after a create).
    link: dict[str, str] | None = None


def link_id(ids: Mapping[str, str], name: str) -> str | None:
    """The link id ``name`` as it may stand in a URL, its GraphQL prefix dropped
    (``gid://shopify/ProductVariant/42`` -> ``42``); None when absent or not a plain id."""
    value = ids.get(name)
    if not value:
        return None
    tail = str(value).rsplit("/", 1)[-1]
    return tail if _PLAIN_ID.match(tail) and tail != "None" else None


#: An id as it may appear in a URL path or query: word characters and dashes, nothing to escape.
_PLAIN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def secret_value(secret: SecretStr | str | None) -> str | None:
    if secret is None:
        return None
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret


def is_local_url(url: str) -> bool:
    """True when the URL's host is surely this machine, where turning TLS verification off is allowed:
    a loopback IP literal (127.0.0.0/8, ``[::1]``) or exactly ``localhost``.

    Any other name goes through DNS, which may answer with a remote address: ``evil.localhost``
    or ``localhost.example.com`` are not loopback however they are spelled.
    """
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ConnectorSettings(BaseModel):
    """What every connector entry of ``connectors:`` accepts; each connector extends it."""

    # hide_input: a validation error must never echo a token back into a terminal or a log
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    type: str
    #: A user's own mapping file, replacing the shipped ``mappings/<type>.yaml``.
    mapping: str | None = None


class HttpConnectorSettings(ConnectorSettings):
    """Settings shared by every connector that speaks HTTP through ``hub.transport.Transport``."""

    #: Replaces the platform's host (scheme://host[:port]); the platform's own path is still appended.
    base_url: str | None = None
    #: TLS certificate verification; may be turned off only for a loopback ``base_url``.
    verify_tls: bool = True
    #: Seconds one request may take before it is given up (and retried).
    timeout_s: float = Field(30.0, gt=0, le=600)
    #: Attempts per request, the first included, before it counts as failed.
    max_attempts: int = Field(6, ge=1, le=20)
    #: Requests in flight at once to this platform (default: the connector's own).
    max_concurrency: int | None = Field(None, ge=1, le=64)

    @model_validator(mode="after")
    def _tls_only_off_locally(self) -> HttpConnectorSettings:
        if not self.verify_tls and not (self.base_url and is_local_url(self.base_url)):
            raise ValueError(
                "verify_tls: false is allowed only with a loopback base_url (127.x.x.x, [::1] or localhost)"
            )
        if self.base_url is not None:
            parts = urlsplit(self.base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"base_url {self.base_url!r} must look like scheme://host[:port]")
        return self

    def transport_settings(self, base_url: str, *, default_concurrency: int = 4, **specifics: Any) -> TransportSettings:
        """The transport's settings from these: ``timeout_s``, ``max_attempts``, ``max_concurrency``
        (``default_concurrency`` when unset) and ``verify_tls``, with the platform's own ``specifics``
        (headers, auth, secrets, hints, or any of the above overridden) on top. Built once per
        transport, so every connector reads the common settings the same way."""
        from hub.transport.settings import TransportSettings

        common: dict[str, Any] = {
            "timeout": self.timeout_s,
            "max_attempts": self.max_attempts,
            "max_concurrency": self.max_concurrency or default_concurrency,
            "verify_tls": self.verify_tls,
        }
        return TransportSettings(base_url=base_url, **{**common, **specifics})


class WebhookSettings(BaseModel):
    """The setting of a connector that receives webhook deliveries (mixed into its settings model)."""

    #: The secret the platform signs deliveries with (Shopify: the app's client secret; WooCommerce:
    #: the webhook's secret, which ``omnihub webhooks register`` sets). Without it every delivery is
    #: refused with 401: an unsigned hint could make the hub re-read, and it must not be anyone's lever.
    webhook_secret: SecretStr | None = None


@dataclass
class ConnectorContext:
    """What the hub gives a connector besides its own settings."""

    #: The hub's default currency (``hub.currency``).
    currency: str = "EUR"
    #: The folder relative paths in the config are resolved against (the config file's folder).
    base_dir: Path = field(default_factory=Path.cwd)
    #: The loaded mapping for this connector (the shipped one, or the user's).
    mapping: FieldMapping | None = None


class Connector:
    """Base class of connector plugins. Subclasses set the class attributes and implement
    ``pull``/``push`` for the entities they declare; ``open``/``close`` manage their transport."""

    #: The ``type:`` value in YAML, and the entry point name.
    type_name: ClassVar[str]
    #: The platform's name as people know it (``Shopify``), in alerts and the console; the type when unset.
    display_name: ClassVar[str | None] = None
    #: The pydantic model of this connector's YAML entry.
    settings_model: ClassVar[type[ConnectorSettings]] = ConnectorSettings
    #: What the connector can do per entity.
    capabilities: ClassVar[Mapping[Entity, frozenset[Capability]]] = {}
    #: Most changes one push call should carry (the platform's batch limit).
    push_batch_size: ClassVar[int] = 100
    #: The values the platform can hold (``hub.model.limits``): a change outside them fails alone, unsent.
    value_limits: ClassVar[ValueLimits] = ValueLimits()
    #: Reads the platform's webhook deliveries into hints (``hub.plugins.webhooks``); ``None`` when the
    #: connector receives none. A function, not a method: reading a delivery needs no open connection.
    webhook_parser: ClassVar[WebhookParser | None] = None

    def __init__(self, name: str, settings: ConnectorSettings, context: ConnectorContext | None = None) -> None:
        self.name = name
        self.settings = settings
        #: Defaults to a bare context, for a connector used on its own (a test, a benchmark).
        self.context = context or ConnectorContext()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    @classmethod
    def admin_url(cls, settings: ConnectorSettings, entity: str, ids: Mapping[str, str]) -> str | None:
        """The record's page in the platform's admin, from its link ids (``store.links``: for a
        SKU-keyed entity, the SKU's products and prices ids merged under the record's own), so an
        alert is one click from what it is about. None (the default) when the platform has none."""
        return None

    def batch_size(self, entity: Entity) -> int:
        """Most changes of ``entity`` one ``push`` call should carry (the platform's batch limit)."""
        return self.push_batch_size

    def carried_fields(self, entity: Entity) -> frozenset[str] | None:
        """The canonical fields this connector, as configured, really holds for ``entity``.

        ``None`` (the default) means every field its mapping covers. A connector whose settings
        leave some mapped fields out (a Mailchimp audience without a merge tag for loyalty points)
        narrows them here, so the hub never asks it for a value it cannot store, and never reports
        a mismatch it could never correct.
        """
        return None

    def can(self, entity: Entity, capability: Capability) -> bool:
        return capability in self.capabilities.get(entity, frozenset())

    async def open(self) -> None:
        """Prepare clients; called once before the first pull or push of a run."""

    async def close(self) -> None:
        """Release clients; called once at the end of a run, also after a failure."""

    async def __aenter__(self) -> Connector:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def ping(self) -> None:
        """Reach the platform with the configured credentials; raise a ``ConnectorError`` if not."""

    def pull(self, entity: Entity, since: str | None = None) -> AsyncIterator[PullPage]:
        """Stream the entity's records, only those changed after ``since`` when it is given."""
        raise NotImplementedError(f"{self.type_name} cannot read {entity}")

    async def push(self, entity: Entity, changes: Sequence[Change]) -> list[PushResult]:
        """Apply changes (at most ``batch_size(entity)``) and answer one result per change.

        The default hands them to the connector's ``push_<entity>`` method (``push_prices``,
        ``push_stock`` ...), so a connector writes one method per entity it writes and no dispatch.
        """
        writer = getattr(self, f"push_{entity.value}", None)
        if writer is None:
            raise NotImplementedError(f"{self.type_name} cannot write {entity}")
        results: list[PushResult] = await writer(changes)
        return results

    async def platform_locations(self) -> dict[str, str]:
        """Every stock location the platform has, by its own id, with its name, whatever the
        settings map: what ``omnihub discover`` and ``init`` offer to map when a connector's pulls
        skip the locations it is not told about (Shopify). Empty when the platform's location ids
        are the codes its pulls already report."""
        return {}

    #: Whether ``pull_orders`` is implemented (a job's ``reservations:`` may name this connector).
    reads_orders: ClassVar[bool] = False

    def pull_orders(self, since: str | None = None) -> AsyncIterator[OrderPage]:
        """Stream orders. Without ``since``: every order that holds stock now (placed, not yet
        fulfilled, cancelled or refunded), however old. With ``since`` (a cursor this method gave):
        every order changed after it, whatever its status, so that a cancellation or a fulfilment
        releases its reservation. Each page carries the cursor that holds once it is stored."""
        raise NotImplementedError(f"{self.type_name} cannot read orders")

    async def register_webhooks(self, url: str, secret: str | None) -> list[WebhookSubscription]:
        """Subscribe ``url`` to the topics the hub follows (orders, stock, products), signed with
        ``secret`` where the platform takes one; subscriptions already there for ``url`` and a topic
        are kept, not doubled. Answers every subscription of ``url`` after the call."""
        raise NotImplementedError(f"{self.type_name} cannot register webhooks")

    async def list_webhooks(self) -> list[WebhookSubscription]:
        """The platform's webhook subscriptions (all of them, not only the hub's)."""
        raise NotImplementedError(f"{self.type_name} cannot list webhooks")

    def cursor_after_push(self, entity: Entity, cursor: str) -> str | None:
        """The cursor to save for ``entity`` once this run has pushed to it (``cursor`` is the pull's).

        The default keeps the pull's: a change time brings back what was written. A connector whose
        cursor describes the content it has just rewritten (a file's digest) answers the cursor of
        what is there now, or None to be read in full next time; otherwise a later edit that put the
        pulled content back would look unchanged."""
        return cursor

    @property
    def transport_stats(self) -> TransportStats | None:
        """Request figures of this connector's transport, when it has one."""
        return None

    @property
    def field_mapping(self) -> FieldMapping:
        """This connector's mapping: the hub's (the user's file or the shipped one), else loaded here,
        for a connector used on its own (a test, a benchmark)."""
        if self.context.mapping is None:
            from hub.plugins.mapping import load_mapping

            self.context.mapping = load_mapping(
                self.type_name,
                user_file=self.settings.mapping,
                settings=dict(self.settings),
                currency=self.context.currency,
                base_dir=self.context.base_dir,
            )
        return self.context.mapping


class PlatformClient(Protocol):
    """What ``ClientConnector`` needs of a platform client: it owns one ``hub.transport.Transport``."""

    @property
    def transport(self) -> Transport: ...

    async def ping(self) -> None: ...

    async def aclose(self) -> None: ...


ClientT = TypeVar("ClientT", bound=PlatformClient)


class ClientConnector(Connector, Generic[ClientT]):
    """A connector whose platform calls all go through one client object: the client's lifecycle
    (built on ``open``, closed on ``close``, reached by ``ping``) and its request figures live here
    once, so a connector writes only ``make_client`` and its pulls and pushes."""

    #: The platform client class, built as ``client_class(name, settings, http_transport=...)``.
    client_class: ClassVar[type[Any]]
    _client: ClientT | None = None
    _closed_stats: TransportStats | None = None

    def __init__(
        self,
        name: str,
        settings: ConnectorSettings,
        context: ConnectorContext | None = None,
        *,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(name, settings, context)
        #: Test seam: an ``httpx`` transport to use instead of the network.
        self.http_transport = http_transport

    def make_client(self) -> ClientT:
        client: ClientT = self.client_class(self.name, self.settings, http_transport=self.http_transport)
        return client

    @property
    def client(self) -> ClientT:
        if self._client is None:
            raise RuntimeError(f"{self!r} is not open; use `async with` or call open() first")
        return self._client

    async def open(self) -> None:
        if self._client is None:
            self._client = self.make_client()

    async def close(self) -> None:
        if self._client is not None:
            self._closed_stats = self._client.transport.stats
            await self._client.aclose()
            self._client = None

    async def ping(self) -> None:
        await self.client.ping()

    @property
    def transport_stats(self) -> TransportStats | None:
        """The open client's figures; after ``close``, the last client's (for the run's report)."""
        return self._client.transport.stats if self._client is not None else self._closed_stats
