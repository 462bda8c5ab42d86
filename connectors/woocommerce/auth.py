"""WooCommerce's three ways of presenting the API key pair, as ``httpx.Auth`` objects.

* Basic over HTTPS (``httpx.BasicAuth``, nothing of ours);
* ``consumer_key``/``consumer_secret`` query parameters over HTTPS, for hosts that drop the
  ``Authorization`` header (``QueryAuth``);
* one-legged OAuth 1.0a over plain HTTP (``OAuth1Auth``), the only auth WooCommerce reads there.

The auth flow runs for every request sent, retries included, so each attempt carries a fresh
nonce and timestamp: WooCommerce remembers nonces and refuses one seen before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Generator, Iterable
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

__all__ = ["OAuth1Auth", "QueryAuth", "base_string", "oauth_signature", "percent_encode", "strip_auth_params"]

SignatureMethod = Literal["HMAC-SHA256", "HMAC-SHA1"]
_DIGESTS = {"HMAC-SHA256": hashlib.sha256, "HMAC-SHA1": hashlib.sha1}
#: Query parameters that carry credentials; WooCommerce echoes them into the ``Link`` header.
_AUTH_PARAM_PREFIXES = ("oauth_", "consumer_key", "consumer_secret")


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as OAuth 1.0a (and PHP's ``rawurlencode``) does it: only ``A-Za-z0-9-._~`` stay."""
    return quote(value, safe="~")


def base_string(method: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """``METHOD&enc(url without query)&enc(sorted k=v joined by &)``, keys and values encoded first."""
    pairs = sorted((percent_encode(k), percent_encode(v)) for k, v in params)
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join((method.upper(), percent_encode(url), percent_encode(normalized)))


def oauth_signature(
    method: str,
    url: str,
    params: Iterable[tuple[str, str]],
    consumer_secret: str,
    signature_method: SignatureMethod = "HMAC-SHA256",
) -> str:
    """The base64 HMAC of the base string, keyed ``consumer_secret&`` (one-legged: no token secret)."""
    key = f"{consumer_secret}&".encode()  # as WooCommerce builds it: the secret as stored, then "&"
    digest = hmac.new(key, base_string(method, url, params).encode(), _DIGESTS[signature_method]).digest()
    return base64.b64encode(digest).decode()


def _origin_path(url: httpx.URL) -> str:
    """The URL signed: scheme, host, port when not the default, and path; no query."""
    return urlunsplit((url.scheme, url.netloc.decode("ascii"), url.path, "", ""))


class OAuth1Auth(httpx.Auth):
    """One-legged OAuth 1.0a as WooCommerce verifies it over plain HTTP.

    Parameters: ``oauth_consumer_key, oauth_timestamp, oauth_nonce, oauth_signature_method,
    oauth_signature``, sent in the query string (no ``oauth_version``, no token). The request's own
    query parameters are signed too; a JSON body is not (only form bodies are, and we send none).
    """

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        *,
        signature_method: SignatureMethod = "HMAC-SHA256",
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        self._key = consumer_key
        self._secret = consumer_secret
        self._method = signature_method
        self._clock = clock
        self._nonce = nonce

    def __repr__(self) -> str:
        return f"OAuth1Auth(signature_method={self._method!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        kept = [(k, v) for k, v in request.url.params.multi_items() if not k.startswith("oauth_")]
        oauth = [
            ("oauth_consumer_key", self._key),
            ("oauth_timestamp", str(int(self._clock()))),
            ("oauth_nonce", self._nonce()),
            ("oauth_signature_method", self._method),
        ]
        signature = oauth_signature(request.method, _origin_path(request.url), kept + oauth, self._secret, self._method)
        request.url = request.url.copy_with(params=httpx.QueryParams([*kept, *oauth, ("oauth_signature", signature)]))
        yield request


class QueryAuth(httpx.Auth):
    """``consumer_key`` and ``consumer_secret`` as query parameters (HTTPS only; settings enforce it)."""

    def __init__(self, consumer_key: str, consumer_secret: str) -> None:
        self._key = consumer_key
        self._secret = consumer_secret

    def __repr__(self) -> str:
        return "QueryAuth()"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        kept = [(k, v) for k, v in request.url.params.multi_items() if k not in ("consumer_key", "consumer_secret")]
        request.url = request.url.copy_with(
            params=httpx.QueryParams([*kept, ("consumer_key", self._key), ("consumer_secret", self._secret)])
        )
        yield request


def strip_auth_params(url: str, origin: str | None = None) -> str:
    """Clean a ``Link`` next URL before following it.

    WooCommerce echoes the request's query into ``Link``, old OAuth parameters (and their stale
    signature, with its ``+`` left unencoded) included: they are dropped so the auth signs the URL
    afresh. The other parameters are kept byte for byte. With ``origin`` the URL's scheme://host is
    replaced by it, because the site names itself by its public host, which a ``base_url`` may
    have replaced.
    """
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and not p.split("=", 1)[0].startswith(_AUTH_PARAM_PREFIXES)]
    scheme, netloc = parts.scheme, parts.netloc
    if origin is not None:
        target = urlsplit(origin)
        scheme, netloc = target.scheme, target.netloc
    return urlunsplit((scheme, netloc, parts.path, "&".join(kept), ""))
