"""What keeps the console safe to expose: read-only without the admin token, CSRF-proof actions, strict headers.

An action (``run now``) needs three things: a session cookie signed after the admin token was
typed in, the per-browser CSRF token in the form equal to its cookie (a page on another site can
neither read the cookie nor set it), and a request from this host's pages (``Origin``, else
``Sec-Fetch-Site``, else ``Referer``). Cookies are ``HttpOnly`` and ``SameSite=Strict``; sessions
are signed with a key made at start, so a restart signs everyone out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import parse_qs, urlsplit

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["CSRF_COOKIE", "HEADERS", "SESSION_COOKIE", "Guard", "read_form", "set_cookie"]

CSRF_COOKIE = "omnihub_csrf"
SESSION_COOKIE = "omnihub_admin"
#: The console's forms carry a token or two: a larger body is not one of them.
MAX_FORM = 8192
#: How long a sign-in lasts.
SESSION_S = 12 * 3600
#: Sent with every answer of the console: nothing from elsewhere, never in a frame, no referrer.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class Guard:
    """Signs sessions and checks the three conditions of an action."""

    def __init__(self, admin_token: SecretStr | None) -> None:
        self._token = admin_token.get_secret_value().encode() if admin_token is not None else None
        self._key = secrets.token_bytes(32)

    @property
    def enabled(self) -> bool:
        """Whether actions exist at all: no admin token configured, the console only shows."""
        return self._token is not None

    def token_matches(self, typed: str) -> bool:
        return self._token is not None and hmac.compare_digest(typed.encode(), self._token)

    def session_value(self) -> str:
        expires = str(int(time.time()) + SESSION_S)
        return f"{expires}.{self._sign(expires)}"

    def signed_in(self, request: Request) -> bool:
        value = request.cookies.get(SESSION_COOKIE, "")
        expires, _, signature = value.partition(".")
        return (
            self.enabled
            and expires.isdigit()
            and int(expires) > time.time()
            and hmac.compare_digest(signature, self._sign(expires))
        )

    def _sign(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def csrf_token(request: Request) -> str:
        """The browser's CSRF token (its cookie), or a new one that ``remember_csrf`` will set."""
        token = request.cookies.get(CSRF_COOKIE)
        if token and len(token) == 43:
            return token
        token = getattr(request.state, "new_csrf", None) or secrets.token_urlsafe(32)
        request.state.new_csrf = token
        return token

    @staticmethod
    def remember_csrf(request: Request, response: Response) -> None:
        new = getattr(request.state, "new_csrf", None)
        if new:
            set_cookie(request, response, CSRF_COOKIE, new, max_age=None)

    @staticmethod
    def refusal(request: Request, form_token: str) -> str | None:
        """Why a POST is refused as a possible forgery, or None when it came from a console page."""
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not cookie or not form_token or not hmac.compare_digest(cookie, form_token):
            return "the form's CSRF token does not match this browser's: reload the page and try again"
        if not same_origin(request):
            return "the request did not come from a page of this console (Origin/Referer)"
        return None


def same_origin(request: Request) -> bool:
    """Whether a POST came from one of this host's pages. The pages send ``Referrer-Policy:
    no-referrer``, under which a browser posts ``Origin: null`` and no ``Referer`` even to the same
    origin; its ``Sec-Fetch-Site`` (which that policy does not touch) then says where it came from."""
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return urlsplit(origin).netloc == host
    if (site := request.headers.get("sec-fetch-site")) is not None:
        return site == "same-origin"
    referer = request.headers.get("referer")
    return bool(referer) and urlsplit(referer).netloc == host


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None) -> None:
    """A cookie for the console's path only, out of scripts' reach, never sent from another site."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=request.scope.get("root_path") or "/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


async def read_form(request: Request) -> dict[str, str]:
    """A console form (``application/x-www-form-urlencoded``, small); anything else reads as empty,
    which every action then refuses."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}
