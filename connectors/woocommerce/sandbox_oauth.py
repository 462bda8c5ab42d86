"""One-legged OAuth 1.0a as WooCommerce checks it (``WC_REST_Authentication::check_oauth_signature``).

Written from WooCommerce's REST API documentation ("Authentication over HTTP") and its PHP, not
from omnihub's client: the base string is ``METHOD&rawurlencode(url)&rawurlencode(params)`` where
the parameters (the query without ``oauth_signature``) are encoded with ``rawurlencode``, sorted
by key and joined with ``&``; the key is ``consumer_secret&``; HMAC-SHA1 or HMAC-SHA256; the
timestamp within 15 minutes; a nonce used once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["SIGNATURE_METHODS", "expected_signature"]

SIGNATURE_METHODS = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}


def _rawurlencode(text: str) -> str:
    """PHP's ``rawurlencode``: every byte but ``A-Za-z0-9-_.~`` as ``%XX``."""
    return quote(text, safe="-_.~")


def expected_signature(method: str, url: str, params: Iterable[tuple[str, str]], secret: str, algorithm: str) -> str:
    """The signature WooCommerce computes for a request (``params`` without ``oauth_signature``)."""
    encoded = sorted((_rawurlencode(k), _rawurlencode(v)) for k, v in params)
    query = "&".join(f"{k}={v}" for k, v in encoded)
    base = f"{method.upper()}&{_rawurlencode(url)}&{_rawurlencode(query)}"
    digest = hmac.new(f"{secret}&".encode(), base.encode(), SIGNATURE_METHODS[algorithm]).digest()
    return base64.b64encode(digest).decode()
