"""The WooCommerce sandbox's state with WooCommerce's authentication: HTTP Basic or the key pair over
HTTPS, one-legged OAuth 1.0a over plain HTTP, each refused with the codes WooCommerce answers."""

from __future__ import annotations

import base64
import hmac
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

from connectors.woocommerce.sandbox_listing import error as _error
from connectors.woocommerce.sandbox_oauth import SIGNATURE_METHODS, expected_signature
from connectors.woocommerce.sandbox_orders import WooOrderBook
from connectors.woocommerce.sandbox_webhooks import WooWebhooks
from hub.sdk import Catalogue, WebhookSender

#: The keys the sandbox accepts when none are given (tests and ``omnihub sandbox`` name their own).
DEFAULT_CONSUMER_KEY = "ck_sandbox_0000000000000000000000000000000000000000"
DEFAULT_CONSUMER_SECRET = "cs_sandbox_0000000000000000000000000000000000000000"

__all__ = ["TIMESTAMP_WINDOW_S", "WooSandbox"]

#: How far an OAuth timestamp may be from the server's clock (WooCommerce: 15 minutes).
TIMESTAMP_WINDOW_S = 15 * 60


class WooSandbox(WooOrderBook):
    """The sandbox's state plus what the HTTP layer needs: credentials, nonces, latency, webhooks.

    ``webhook_sender`` delivers the webhooks (a ``WebhookSender``; a fresh one by default)."""

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        consumer_key: str = DEFAULT_CONSUMER_KEY,
        consumer_secret: str = DEFAULT_CONSUMER_SECRET,
        accept_basic: bool = False,
        latency: float = 0.0,
        wall_clock: Callable[[], float] = time.time,
        webhook_sender: Any = None,
        **store_options: Any,
    ) -> None:
        super().__init__(catalogue, **store_options)
        self.webhooks = WooWebhooks(webhook_sender if webhook_sender is not None else WebhookSender(), self.now)
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.accept_basic = accept_basic
        self.latency = latency
        self.wall_clock = wall_clock
        self._nonces: dict[str, float] = {}

    # ------------------------------------------------------------------ auth

    def authenticate(self, request: Request, action: str) -> JSONResponse | None:
        """``None`` when the request carries valid credentials, else WooCommerce's 401."""
        params = request.query_params
        if "oauth_signature" in params or "oauth_consumer_key" in params:
            return self._oauth(request)
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                key, secret = "", ""
        else:
            key, secret = params.get("consumer_key", ""), params.get("consumer_secret", "")
        if not (key or secret) or not (self.accept_basic or request.url.scheme == "https"):
            return self._refused(action)
        if not hmac.compare_digest(key, self.consumer_key):
            return self._refused(action)
        if not hmac.compare_digest(secret, self.consumer_secret):
            return _error("woocommerce_rest_authentication_error", "Consumer secret is invalid.", 401)
        return None

    def _refused(self, action: str) -> JSONResponse:
        if action == "batch":
            return _error(
                "woocommerce_rest_cannot_batch", "Sorry, you are not allowed to batch manipulate this resource.", 401
            )
        return _error("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401)

    def _oauth(self, request: Request) -> JSONResponse | None:
        def refuse(message: str) -> JSONResponse:
            return _error("woocommerce_rest_authentication_error", message, 401)

        params = list(parse_qsl(request.url.query, keep_blank_values=True))
        given = dict(params)
        for name in (
            "oauth_consumer_key",
            "oauth_timestamp",
            "oauth_nonce",
            "oauth_signature",
            "oauth_signature_method",
        ):
            if not given.get(name):
                return refuse(f"{name} parameter is missing.")
        if not hmac.compare_digest(given["oauth_consumer_key"], self.consumer_key):
            return refuse("Consumer key is invalid.")
        method = given["oauth_signature_method"]
        if method not in SIGNATURE_METHODS:
            return refuse("Invalid signature - signature method is invalid.")
        url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        # PHP's $_GET: a parameter sent twice (the official client repeats its query) counts once,
        # with its last value.
        signed = [(k, v) for k, v in given.items() if k != "oauth_signature"]
        expected = expected_signature(request.method, url, signed, self.consumer_secret, method)
        # The query parser reads an unencoded "+" as a space: WooCommerce puts it back.
        if not hmac.compare_digest(expected, given["oauth_signature"].replace(" ", "+")):
            return refuse("Invalid signature - provided signature does not match.")
        try:
            stamp = int(given["oauth_timestamp"])
        except ValueError:
            return refuse("Invalid timestamp.")
        now = self.wall_clock()
        if abs(now - stamp) > TIMESTAMP_WINDOW_S:
            return refuse("Invalid timestamp.")
        with self.lock:
            if len(self._nonces) > 50_000:
                self._nonces = {n: t for n, t in self._nonces.items() if t > now - TIMESTAMP_WINDOW_S}
            if given["oauth_nonce"] in self._nonces:
                return refuse("Invalid nonce - nonce has already been used.")
            self._nonces[given["oauth_nonce"]] = float(stamp)
        return None
