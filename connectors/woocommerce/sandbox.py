"""A local WooCommerce (REST wc/v3) for tests, the demo and benchmarks.

It answers as a real WooCommerce 11.0.1 did in the captures (``tests/fixtures/platforms/
woocommerce/real-captures``, replayed against it by ``tests/integration/test_woocommerce_replay.py``):
records with the same fields, listings newest first unless ``orderby`` says otherwise,
``X-WP-Total``/``X-WP-TotalPages`` and ``Link`` rel next/prev echoing the query (OAuth parameters
included), a page past the last as 200 ``[]`` with the totals, ``page=0`` and ``per_page`` over 100
as 400 ``rest_invalid_param``, the ``sku`` filter blind to case, batches over 100 items as 413
``woocommerce_rest_request_entity_too_large``, failed batch items inside a 200 with WooCommerce's
own codes, an empty batch as ``[]``, values stored the way WooCommerce coerces them
(``sandbox_store``), errors as ``{code, message, data: {status}}``. ``GET /variations`` lists every
variation of every product, as WooCommerce 10.3 and newer do; ``variations_route=False`` makes it
an older store that answers 404 ``rest_no_route`` there. Orders (``sandbox_orders``: a paid order
takes its units once, a cancelled one gives them back, as captures 72-74 show) and webhooks
(``sandbox_webhooks``: the creation ping, signed deliveries of ``order.*`` and ``product.*``) are
simulated; other routes answer 404 ``rest_no_route``.

Auth is WooCommerce's: over plain HTTP Basic is refused with 401 ``woocommerce_rest_cannot_view``
(captured) and one-legged OAuth 1.0a is verified (``sandbox_oauth``: signature, 15-minute timestamp
window, nonce not seen before); over HTTPS (the kit's ``serve(..., tls=...)``) Basic and the
``consumer_key``/``consumer_secret`` query parameters are read, and a wrong secret answers 401
``woocommerce_rest_authentication_error`` "Consumer secret is invalid." (captured).
``accept_basic=True`` makes a plain-HTTP sandbox answer as a site behind a TLS proxy would.

A sale is placed the real way: ``POST /orders`` with ``set_paid: true``. ``POST /_sandbox/sale
{sku, quantity}`` (or ``app.state.sandbox.sale(sku, quantity)``) only takes stock, without an
order; the kit's ``/_sandbox/faults`` injects failures; ``/_sandbox/webhooks`` shows and sets the
delivery knobs of ``app.state.webhooks`` (the ``WebhookSender``).

The state and its auth are ``sandbox_auth``, the routes ``sandbox_routes``, how values are stored
``sandbox_store``; this module builds the app and names the sandbox plugin.
"""

from __future__ import annotations

from typing import Any

from connectors.woocommerce.sandbox_auth import DEFAULT_CONSUMER_KEY, DEFAULT_CONSUMER_SECRET, WooSandbox
from connectors.woocommerce.sandbox_routes import API, MAX_BATCH, WooRoutes
from hub.sdk import Catalogue, SandboxPlugin, demo_store, sandbox_app

__all__ = ["API", "DEFAULT_CONSUMER_KEY", "DEFAULT_CONSUMER_SECRET", "MAX_BATCH", "PLUGIN", "WooSandbox", "create_app"]


def create_app(
    catalogue: Catalogue | None = None, *, variations_route: bool = True, seed: int = 7, **options: Any
) -> Any:
    """The sandbox app; its state is ``app.state.sandbox`` (a ``WooSandbox``), faults ``app.state.faults``.

    ``options`` are ``WooSandbox``'s: ``consumer_key``, ``consumer_secret``, ``accept_basic``,
    ``latency``, ``wall_clock``, ``location_code``, ``variable_products``, ``clock``, ``first_id``,
    ``webhook_sender`` (a ``WebhookSender`` from ``hub.sdk``; a fresh one by default).
    ``location_code`` is the catalogue location whose stock the shop holds (default the first);
    ``variations_route=False`` answers as a store older than 10.3 (no ``GET /variations``);
    ``clock`` gives ``date_modified_gmt`` of writes, ``wall_clock`` the time OAuth timestamps are
    checked against; ``latency`` seconds are added to every API answer (shared hosting is slow);
    ``first_id`` is the id the first record gets.
    """
    state = WooSandbox(catalogue if catalogue is not None else demo_store(), **options)
    routes = WooRoutes(state, variations_route=variations_route).routes()
    app = sandbox_app("woocommerce", routes, state=state, seed=seed)
    app.state.webhooks = state.webhooks.sender
    return app


def _connector_block(url: str, app: Any) -> dict[str, Any]:
    return {
        "type": "woocommerce",
        "url": url,
        "consumer_key": "${OMNIHUB_DEMO_WC_KEY}",
        "consumer_secret": "${OMNIHUB_DEMO_WC_SECRET}",
        "location": app.state.sandbox.location_code,
        "manage_stock": True,
    }


_KEY, _SECRET = "ck_demo_" + "0" * 36, "cs_demo_" + "0" * 36

#: What the demo, ``omnihub sandbox woocommerce`` and the contract tests know of this sandbox
#: (entry point ``omnihub.sandboxes: woocommerce``). Listings page by 100 (``per_page``'s maximum).
_SECRETS = {"consumer_key": ("OMNIHUB_DEMO_WC_KEY", _KEY), "consumer_secret": ("OMNIHUB_DEMO_WC_SECRET", _SECRET)}
PLUGIN = SandboxPlugin(
    "woocommerce", create_app, _connector_block, _SECRETS, options={"location_code": "web-warehouse"}, demo_name="web"
)
