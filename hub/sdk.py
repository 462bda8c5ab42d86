"""The public seam for connector plugins: everything a connector may import from the hub, and nothing else.

A connector (``connectors/<name>/``) imports only ``hub.sdk``; the core never imports a connector
(plugins are found through the ``omnihub.connectors`` and ``omnihub.sandboxes`` entry points).
``tests/unit/test_import_boundaries.py`` holds both directions. What is listed in ``__all__`` is the
supported API: renaming or removing a name here breaks plugins outside this repository.
"""

from __future__ import annotations

from hub.errors import AuthError, ConfigError, FatalError, RateLimited, RetriableError
from hub.model.base import Consent, Entity, RecordInvalid
from hub.model.catalogue import Price, Product, StockLevel
from hub.model.customers import Customer
from hub.model.limits import ValueLimits
from hub.model.orders import Order, OrderLine, OrderStatus, status_from_table
from hub.model.values import normalize_email, normalize_sku, parse_decimal
from hub.plugins.contract import (
    READ,
    READ_WRITE,
    SALES_CHANNEL,
    Change,
    ClientConnector,
    Connector,
    ConnectorContext,
    ConnectorSettings,
    HttpConnectorSettings,
    PullPage,
    PushResult,
    RawRecord,
    is_local_url,
    secret_value,
)
from hub.plugins.mapping import EntityMapping, Mapping, TransformContext, load_mapping, register_transform
from hub.plugins.webhooks import WebhookDelivery, WebhookParser, WebhookRefused, lower_headers, sign, verify_signature
from hub.redact import RedactingFilter, redact
from hub.sandbox.kit import sandbox_app
from hub.sandbox.plugin import SandboxPlugin
from hub.sandbox.schema import SchemaProblem, request_schema, schema_problems
from hub.sandbox.seed import Catalogue, SeedCustomer, SeedItem, demo_store
from hub.sync.listing_memo import ListingMemo
from hub.transport import (
    AllLimiters,
    CostBucket,
    CursorTracker,
    Endpoint,
    EndpointDefaults,
    EndpointPage,
    HeaderWindowLimiter,
    Incremental,
    JsonCursorPaginator,
    Limiter,
    LinkHeaderPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
    Paginator,
    Parent,
    Reply,
    RestClient,
    RestReader,
    SettingHint,
    TokenBucket,
    Transport,
    TransportSettings,
    TransportStats,
    default_error_parser,
    dig,
    iso_time,
    server_time,
)

__all__ = [
    "READ",
    "READ_WRITE",
    "SALES_CHANNEL",
    "AllLimiters",
    "AuthError",
    "Catalogue",
    "Change",
    "ClientConnector",
    "ConfigError",
    "Connector",
    "ConnectorContext",
    "ConnectorSettings",
    "Consent",
    "CostBucket",
    "CursorTracker",
    "Customer",
    "Endpoint",
    "EndpointDefaults",
    "EndpointPage",
    "Entity",
    "EntityMapping",
    "FatalError",
    "HeaderWindowLimiter",
    "HttpConnectorSettings",
    "Incremental",
    "JsonCursorPaginator",
    "Limiter",
    "LinkHeaderPaginator",
    "ListingMemo",
    "Mapping",
    "OffsetPaginator",
    "Order",
    "OrderLine",
    "OrderStatus",
    "PageNumberPaginator",
    "PageRequest",
    "Paginator",
    "Parent",
    "Price",
    "Product",
    "PullPage",
    "PushResult",
    "RateLimited",
    "RawRecord",
    "RecordInvalid",
    "RedactingFilter",
    "Reply",
    "RestClient",
    "RestReader",
    "RetriableError",
    "SandboxPlugin",
    "SchemaProblem",
    "SeedCustomer",
    "SeedItem",
    "SettingHint",
    "StockLevel",
    "TokenBucket",
    "TransformContext",
    "Transport",
    "TransportSettings",
    "TransportStats",
    "ValueLimits",
    "WebhookDelivery",
    "WebhookParser",
    "WebhookRefused",
    "default_error_parser",
    "demo_store",
    "dig",
    "is_local_url",
    "iso_time",
    "load_mapping",
    "lower_headers",
    "normalize_email",
    "normalize_sku",
    "parse_decimal",
    "redact",
    "register_transform",
    "request_schema",
    "sandbox_app",
    "schema_problems",
    "secret_value",
    "server_time",
    "sign",
    "status_from_table",
    "verify_signature",
]
