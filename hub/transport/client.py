"""The one HTTP transport every connector talks through: ``Transport``.

Connectors describe *what* to ask a platform; the transport owns *how*: one ``httpx.AsyncClient``
per connector, retries with backoff that honour ``Retry-After`` (``hub.transport.retries``),
client-side rate limiting (``hub.transport.limiters``), a bound on concurrent connections,
timeouts, pagination (``hub.transport.paginators``), error mapping (``hub.transport.errors``),
"which setting to fix" hints (``hub.transport.auth``) and secret redaction. A connector never
hand-rolls any of these. During a push, each write call that fails for good is reported to the
connector's circuit breaker (``hub.transport.breaker``), which stops the rest of its writes for the run.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from hub.errors import ConnectorError, FatalError, RateLimited, RetriableError
from hub.redact import redact, register_secret
from hub.transport import breaker as push_breaker
from hub.transport.auth import explain
from hub.transport.breaker import Breaker
from hub.transport.errors import ErrorParser, ReplyCheck, default_error_parser, error_for
from hub.transport.limiters import Limiter
from hub.transport.paginators import PageRequest, Paginator
from hub.transport.reply import Reply, declares_json, parse_json
from hub.transport.retries import IDEMPOTENT_METHODS, READ_METHODS, NotSent, RetryPolicy
from hub.transport.settings import TransportSettings
from hub.transport.stats import TransportStats

__all__ = ["Transport"]

#: Statuses a request accepts unless it says otherwise.
OK_STATUSES = frozenset({200, 201, 202, 204, 207})
#: Connection failures by kind: counted in ``stats.by_kind`` and described in the error.
_DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
_UNREACHED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True, slots=True)
class _Call:
    """One request as every try of it sends it."""

    method: str
    url: str
    params: Mapping[str, Any] | None
    body: bytes | None
    headers: Mapping[str, str]
    cost: float
    ok: frozenset[int] | set[int]
    breaker: Breaker | None


@functools.cache
def verified_tls() -> ssl.SSLContext:
    """The TLS context every transport verifies certificates with, built once per process.

    Building one loads the whole CA bundle (about 70 ms); a daemon opens its connectors for every
    run, a run triggered by a webhook included, so a context per client cost a quarter of such a
    run. It is httpx's own default (certifi's bundle), shared: a context is safe to share between
    clients and threads."""
    return httpx.create_ssl_context()


class Transport:
    """One platform connection: requests, retries, limits, pagination and redaction in one place."""

    def __init__(
        self,
        connector: str,
        settings: TransportSettings,
        *,
        limiter: Limiter | None = None,
        error_parser: ErrorParser = default_error_parser,
        check_reply: ReplyCheck | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.connector = connector
        self.settings = settings
        self.limiter = limiter
        self.error_parser = error_parser
        self.check_reply = check_reply
        self.stats = TransportStats()
        self.retries = RetryPolicy(connector, settings, self.stats, sleep)
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        for secret in settings.secrets:
            register_secret(secret)
        headers = {"User-Agent": settings.user_agent, "Accept": "application/json", **settings.headers}
        self._client = httpx.AsyncClient(
            base_url=settings.base_url,
            headers=headers,
            auth=settings.auth,
            timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
            verify=verified_tls() if settings.verify_tls else False,
            transport=http_transport,
            limits=httpx.Limits(
                max_connections=settings.max_concurrency, max_keepalive_connections=settings.max_concurrency
            ),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"Transport(connector={self.connector!r}, base_url={redact(self.settings.base_url)!r})"

    @property
    def client(self) -> httpx.AsyncClient:
        return self._client

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---------------------------------------------------------------- requests

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        cost: float = 1.0,
        ok: frozenset[int] | set[int] = OK_STATUSES,
    ) -> Reply:
        """Send one request, retrying what can be retried, and return its parsed reply.

        ``idempotent`` says whether repeating the request is harmless; it defaults to the method's
        nature. ``cost`` is what the limiter charges (query cost points for Shopify). Statuses in
        ``ok`` are returned; any other becomes an ``AuthError``, ``FatalError``, ``RateLimited`` or
        ``RetriableError`` carrying the platform's own code and message (reworded by the settings'
        ``hints`` when one names its status).
        """
        method = method.upper()
        safe_to_repeat = idempotent if idempotent is not None else method in IDEMPOTENT_METHODS
        breaker = push_breaker.current() if method not in READ_METHODS else None
        body = content if content is not None else (orjson.dumps(json) if json is not None else None)
        send_headers = dict(headers or {})
        if json is not None:
            send_headers.setdefault("Content-Type", "application/json")
        call = _Call(method, url, params, body, send_headers, cost, ok, breaker)
        try:
            async for attempt in self.retries.retrying(safe_to_repeat):
                with attempt:
                    reply = await self._attempt(call)
            if breaker is not None:
                breaker.succeeded()
            return reply
        except NotSent as exc:
            error = RetriableError(
                f"cannot reach {redact(self._display_url(url))}: {exc.reason}", connector=self.connector
            )
            if breaker is not None:
                breaker.failed(error)
            raise error from None
        except RetriableError as exc:
            if breaker is not None:
                breaker.failed(exc)  # the transport gave up on this write
            raise
        except ConnectorError as exc:
            if breaker is not None:
                breaker.succeeded()  # the platform answered (a refusal): it is up
            explained = explain(exc, self.settings.hints, self.connector)
            if explained is exc:
                raise
            raise explained from None

    async def get(self, url: str, **kwargs: Any) -> Reply:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> Reply:
        return await self.request("POST", url, **kwargs)

    async def _attempt(self, call: _Call) -> Reply:
        """One try; a ``Retry-After`` longer than the transport waits for ends the request here."""
        try:
            return await self._send_once(call)
        except RetriableError as exc:
            if self.retries.waits_too_long(exc):
                raise self.retries.left_for_next_run(exc) from None
            raise

    async def _send_once(self, call: _Call) -> Reply:
        if self.limiter is not None:
            await self.limiter.acquire(call.cost)
        async with self._semaphore:
            if call.breaker is not None and call.breaker.is_open:
                self._refund(call.cost)
                call.breaker.refuse()  # checked once a slot is free: the breaker may have opened meanwhile
            self.stats.requests += 1
            response = await self._exchange(call)
        self.stats.by_status[response.status_code] += 1
        data = parse_json(response)
        if self.limiter is not None:
            if response.status_code >= 500:
                self._refund(call.cost)  # a server error spent nothing of the platform's allowance
            self.limiter.observe(response, data)
        where = self._display_url(call.url)
        if response.status_code not in call.ok:
            error = error_for(self.connector, call.method, where, response, data, self.error_parser)
            self.stats.record_throttle(isinstance(error, RateLimited))
            raise error
        if response.status_code < 300 and response.content and data is None and declares_json(response):
            self.stats.by_kind["malformed"] += 1
            raise RetriableError(f"{call.method} {redact(where)}: malformed JSON body", connector=self.connector)
        reply = Reply(response, data)
        try:
            if self.check_reply is not None:
                self.check_reply(reply)
        except RateLimited:
            self.stats.record_throttle(True)
            raise
        self.stats.record_throttle(False)
        return reply

    async def _exchange(self, call: _Call) -> httpx.Response:
        """The request on the wire; a failure of the connection becomes the error that says how it failed."""
        try:
            return await self._client.request(
                call.method, call.url, params=call.params, content=call.body, headers=call.headers
            )
        except _UNREACHED as exc:
            self._refund(call.cost)
            self.stats.by_kind["connect_error"] += 1
            raise NotSent(type(exc).__name__) from None
        except httpx.TimeoutException as exc:
            self._refund(call.cost)
            self.stats.by_kind["timeout"] += 1
            raise RetriableError(
                f"{call.method} {redact(self._display_url(call.url))} timed out ({type(exc).__name__})",
                connector=self.connector,
            ) from None
        except _DROPPED as exc:
            self._refund(call.cost)
            self.stats.by_kind["dropped"] += 1
            raise RetriableError(
                f"{call.method} {redact(self._display_url(call.url))}: connection dropped ({type(exc).__name__})",
                connector=self.connector,
            ) from None

    def _page_token(self, request: PageRequest) -> str:
        """A page's identity with its URL made absolute and its query merged into the parameters, so
        that ``/items?page=2`` and ``https://host/items?page=2`` are recognized as one page."""
        url = self._client.base_url.join(request.url) if not request.url.startswith("http") else httpx.URL(request.url)
        params = {**dict(url.params), **{k: str(v) for k, v in request.params.items()}}
        absolute = PageRequest(url=str(url.copy_with(query=None)), params=params, json=request.json)
        return absolute.token()

    def _refund(self, cost: float) -> None:
        refund = getattr(self.limiter, "refund", None)
        if refund is not None:
            refund(cost)

    def _display_url(self, url: str) -> str:
        return url if url.startswith("http") else self.settings.base_url.rstrip("/") + "/" + url.lstrip("/")

    # ---------------------------------------------------------------- pagination

    async def paginate(
        self,
        method: str,
        url: str,
        paginator: Paginator,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        cost: float = 1.0,
        idempotent: bool | None = None,
    ) -> AsyncIterator[Reply]:
        """Yield every page of a listing, asking ``paginator`` for the next request each time.

        ``idempotent`` as in ``request``: a listing sent as a POST (a search, a batch retrieve)
        is still a read, and says so to be retried like one.

        A page token seen before stops the walk with an error: a platform bug or a paginator
        misconfiguration must not loop forever.
        """
        request = PageRequest(url=url, params=dict(params or {}), json=json)
        seen: set[str] = {self._page_token(request)}  # a link back to the first page is a loop too
        while True:
            reply = await self.request(
                method, request.url, params=request.params or None, json=request.json, cost=cost, idempotent=idempotent
            )
            yield reply
            nxt = paginator.next_request(request, reply)
            if nxt is None:
                return
            token = self._page_token(nxt)
            if token in seen:
                raise FatalError(f"pagination loop: page token {redact(token)!r} came back", connector=self.connector)
            seen.add(token)
            request = nxt
