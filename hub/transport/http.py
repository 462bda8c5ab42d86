"""The one HTTP transport every connector talks through.

Connectors describe *what* to ask a platform; this module owns *how*: one ``httpx.AsyncClient``
per connector, retries with backoff that honour ``Retry-After`` (tenacity), client-side rate
limiting (a token bucket, a cost bucket fed by the platform's own accounting, or a window read
from rate-limit headers), a bound on concurrent connections, timeouts, pagination, error mapping
and secret redaction. A connector never hand-rolls any of these.

Retries: 429, 5xx, timeouts and connection errors are retried; a non-idempotent request
(``POST``/``PATCH`` without ``idempotent=True``) is retried only when the connection failed before
the request was sent, so a write is never applied twice because of a retry.

What a retry may cost is bounded, so that a platform in trouble cannot hold a run: a
``Retry-After`` longer than ``max_retry_wait_s`` is not waited for (the request fails at once and
the change is decided again next run), and no wait starts that would end past ``max_retry_time``
seconds of retrying. During a push, each write call that fails for good is reported to the
connector's circuit breaker (``hub.sync.breaker``), which stops the rest of its writes for the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import html
import logging
import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

import httpx
import orjson
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from hub.errors import AuthError, ConnectorError, FatalError, RateLimited, RetriableError
from hub.redact import redact, register_secret
from hub.sync import breaker as push_breaker
from hub.sync.breaker import Breaker, CircuitOpen

__all__ = [
    "AllLimiters",
    "CostBucket",
    "GraphQLCursorPaginator",
    "HeaderWindowLimiter",
    "JsonCursorPaginator",
    "Limiter",
    "LinkHeaderPaginator",
    "OffsetPaginator",
    "PageNumberPaginator",
    "Paginator",
    "Reply",
    "TokenBucket",
    "Transport",
    "TransportSettings",
    "TransportStats",
    "dig",
    "parse_retry_after",
]

log = logging.getLogger("omnihub.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Requests that change nothing: during a push they are not writes the circuit breaker counts.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def dig(data: Any, path: str | None) -> Any:
    """Follow a dotted path (``data.products.pageInfo``) into nested dicts; ``None`` when absent."""
    if not path:
        return data
    for part in path.split("."):
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit():
            index = int(part)
            data = data[index] if index < len(data) else None
        else:
            return None
        if data is None:
            return None
    return data


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# --------------------------------------------------------------------------------------------
# Rate limiting
# --------------------------------------------------------------------------------------------


class Limiter(Protocol):
    """Decides how long to wait before a request, and learns from each response."""

    async def acquire(self, cost: float = 1.0) -> None: ...

    def observe(self, response: httpx.Response, data: Any) -> None: ...


class TokenBucket:
    """``rate`` requests per second on average, bursts of up to ``capacity``."""

    def __init__(self, rate: float, capacity: float | None = None, *, clock: Callable[[], float] = time.monotonic):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._clock = clock
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self, cost: float = 1.0) -> None:
        cost = min(cost, self.capacity)
        async with self._lock:
            self._refill()
            while self._tokens < cost:
                await asyncio.sleep((cost - self._tokens) / self.rate)
                self._refill()
            self._tokens -= cost

    def observe(self, response: httpx.Response, data: Any) -> None:
        return None


class CostBucket:
    """A client-side mirror of a leaky bucket measured in cost points (Shopify's GraphQL limit).

    Before a request we wait until the bucket, as last reported by the platform and restored at
    its rate since then, holds the request's expected cost, so the platform never has to answer
    THROTTLED. ``observe`` takes the platform's own ``currentlyAvailable`` after each response.
    """

    def __init__(
        self,
        capacity: float = 1000.0,
        restore_rate: float = 100.0,
        *,
        margin: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.capacity = capacity
        self.restore_rate = restore_rate
        self.margin = margin
        self._available = capacity
        self._clock = clock
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _current(self) -> float:
        elapsed = self._clock() - self._stamp
        return min(self.capacity, self._available + elapsed * self.restore_rate)

    async def acquire(self, cost: float = 1.0) -> None:
        cost = min(cost, self.capacity)
        async with self._lock:
            while True:
                free = self._current() - self.margin
                if free >= cost:
                    break
                await asyncio.sleep(max(0.005, (cost - free) / self.restore_rate))
            self._available = self._current() - cost
            self._stamp = self._clock()

    def refund(self, cost: float) -> None:
        """Give back a charge the platform never made (the request failed without a cost answer),
        so a retry does not wait for points that were never spent."""
        self._available = min(self.capacity, self._current() + cost)
        self._stamp = self._clock()

    def observe(self, response: httpx.Response, data: Any) -> None:
        status = dig(data, "extensions.cost.throttleStatus") if isinstance(data, Mapping) else None
        if not isinstance(status, Mapping):
            return
        try:
            self.capacity = float(status.get("maximumAvailable", self.capacity))
            self.restore_rate = float(status.get("restoreRate", self.restore_rate))
            self._available = float(status["currentlyAvailable"])
        except (KeyError, TypeError, ValueError):
            return
        self._stamp = self._clock()


class HeaderWindowLimiter:
    """A window limit announced in response headers (HubSpot's ``X-HubSpot-RateLimit-*``).

    When the remaining allowance of the window falls to ``reserve``, the next request waits for
    the window to roll over instead of spending the last requests and receiving a 429.
    """

    def __init__(
        self,
        *,
        remaining_header: str,
        interval_ms_header: str | None = None,
        default_interval: float = 10.0,
        reserve: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.remaining_header = remaining_header
        self.interval_ms_header = interval_ms_header
        self.interval = default_interval
        self.reserve = reserve
        self._remaining: int | None = None
        self._window_start = clock()
        self._clock = clock
        self._lock = asyncio.Lock()

    async def acquire(self, cost: float = 1.0) -> None:
        async with self._lock:
            if self._remaining is not None and self._remaining <= self.reserve:
                wait = self.interval - (self._clock() - self._window_start)
                if wait > 0:
                    await asyncio.sleep(wait)
                self._remaining = None
                self._window_start = self._clock()
            elif self._remaining is not None:
                self._remaining -= int(cost)

    def observe(self, response: httpx.Response, data: Any) -> None:
        remaining = response.headers.get(self.remaining_header)
        if remaining is None:
            return
        try:
            value = int(remaining)
        except ValueError:
            return
        if self.interval_ms_header and (ms := response.headers.get(self.interval_ms_header)):
            with contextlib.suppress(ValueError):
                self.interval = int(ms) / 1000.0
        if self._remaining is None or value >= self._remaining + 1:
            self._window_start = self._clock()  # the allowance went up: a new window began
        self._remaining = value


class AllLimiters:
    """Several limits at once: a request goes when every limiter lets it, and every limiter learns
    from every response (HubSpot's header window plus its tier as an even pace; a WMS's token
    bucket plus its ``X-RateLimit-Remaining``)."""

    def __init__(self, *limiters: Limiter) -> None:
        self.limiters = limiters

    async def acquire(self, cost: float = 1.0) -> None:
        for limiter in self.limiters:
            await limiter.acquire(cost)

    def observe(self, response: httpx.Response, data: Any) -> None:
        for limiter in self.limiters:
            limiter.observe(response, data)

    def refund(self, cost: float) -> None:
        for limiter in self.limiters:
            refund = getattr(limiter, "refund", None)
            if refund is not None:
                refund(cost)


# --------------------------------------------------------------------------------------------
# The transport
# --------------------------------------------------------------------------------------------


@dataclass
class TransportSettings:
    """How one connector reaches its platform. Built by the connector from its config."""

    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    auth: httpx.Auth | None = None
    #: Values to mask wherever they could appear (tokens, keys); registered on creation.
    secrets: list[str] = field(default_factory=list)
    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_attempts: int = 6
    #: Upper bound on one backoff sleep, and on the whole retrying of one request (no wait starts
    #: that would end past it).
    max_backoff: float = 30.0
    max_retry_time: float = 300.0
    #: The longest ``Retry-After`` waited for; a platform asking for more fails the request at once
    #: (a one-hour ``Retry-After`` must not hold the run: the change is decided again next run).
    max_retry_wait_s: float = 60.0
    #: Bound on simultaneous requests (Mailchimp allows 10 connections; slow WooCommerce hosts few).
    max_concurrency: int = 4
    verify_tls: bool = True
    user_agent: str = "omnihub/0.1 (+https://github.com/omnihub)"


@dataclass
class TransportStats:
    """What a connector's transport did: the figures benchmarks and ``/metrics`` report."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    #: The longest run of consecutive throttled answers (429 or GraphQL THROTTLED).
    throttled_in_a_row_max: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    _throttle_run: int = 0

    @classmethod
    def combined(cls, *parts: TransportStats) -> Self:
        """One figure for a client that talks through more than one transport (an API and a file
        host for bulk results): the counts added up, the longest throttled run the longest."""
        total = cls()
        for part in parts:
            total.requests += part.requests
            total.retries += part.retries
            total.throttled += part.throttled
            total.throttled_in_a_row_max = max(total.throttled_in_a_row_max, part.throttled_in_a_row_max)
            total.by_status.update(part.by_status)
            total.by_kind.update(part.by_kind)
        return total

    def record_throttle(self, throttled: bool) -> None:
        if throttled:
            self.throttled += 1
            self._throttle_run += 1
            self.throttled_in_a_row_max = max(self.throttled_in_a_row_max, self._throttle_run)
        else:
            self._throttle_run = 0


@dataclass
class Reply:
    """A response with its JSON body parsed once (``data`` is ``None`` for an empty or non-JSON body)."""

    response: httpx.Response
    data: Any

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers


#: Reads a platform's error body: returns (platform error code, human message).
ErrorParser = Callable[[httpx.Response, Any], tuple[str | None, str | None]]
#: Inspects a successful reply and raises when it is an error in disguise (GraphQL ``errors`` in a 200).
ReplyCheck = Callable[[Reply], None]


def default_error_parser(response: httpx.Response, data: Any) -> tuple[str | None, str | None]:
    if isinstance(data, Mapping):
        code = data.get("code") or data.get("errorType") or data.get("type") or data.get("error_code")
        message = data.get("message") or data.get("detail") or data.get("title") or data.get("error")
        return (str(code) if code else None, str(message) if message else None)
    text = response.text[:300] if response.content else None
    return None, text


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
        self._sleep = sleep
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        for secret in settings.secrets:
            register_secret(secret)
        headers = {"User-Agent": settings.user_agent, "Accept": "application/json", **settings.headers}
        self._client = httpx.AsyncClient(
            base_url=settings.base_url,
            headers=headers,
            auth=settings.auth,
            timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
            verify=settings.verify_tls,
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
        ok: frozenset[int] | set[int] = frozenset({200, 201, 202, 204, 207}),
    ) -> Reply:
        """Send one request, retrying what can be retried, and return its parsed reply.

        ``idempotent`` says whether repeating the request is harmless; it defaults to the method's
        nature. ``cost`` is what the limiter charges (query cost points for Shopify). Statuses in
        ``ok`` are returned; any other becomes an ``AuthError``, ``FatalError``, ``RateLimited`` or
        ``RetriableError`` carrying the platform's own code and message.
        """
        method = method.upper()
        safe_to_repeat = idempotent if idempotent is not None else method in IDEMPOTENT_METHODS
        breaker = push_breaker.current() if method not in READ_METHODS else None
        body = content if content is not None else (orjson.dumps(json) if json is not None else None)
        send_headers = dict(headers or {})
        if json is not None:
            send_headers.setdefault("Content-Type", "application/json")

        def retryable(exc: BaseException) -> bool:
            if isinstance(exc, _NotSent):
                return True
            if isinstance(exc, CircuitOpen) or self._waits_too_long(exc):
                return False
            return isinstance(exc, RetriableError) and (safe_to_repeat or isinstance(exc, RateLimited))

        retrying = AsyncRetrying(
            retry=retry_if_exception(retryable),
            stop=stop_after_attempt(self.settings.max_attempts) | self._out_of_time,
            wait=self._wait,
            sleep=self._sleep,
            reraise=True,
            before_sleep=self._before_sleep,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    reply = await self._attempt(method, url, params, body, send_headers, cost, ok, breaker)
            if breaker is not None:
                breaker.succeeded()
            return reply
        except _NotSent as exc:
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
        except ConnectorError:
            if breaker is not None:
                breaker.succeeded()  # the platform answered (a refusal): it is up
            raise

    async def get(self, url: str, **kwargs: Any) -> Reply:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> Reply:
        return await self.request("POST", url, **kwargs)

    async def _attempt(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        body: bytes | None,
        headers: Mapping[str, str],
        cost: float,
        ok: frozenset[int] | set[int],
        breaker: Breaker | None,
    ) -> Reply:
        """One try; a ``Retry-After`` longer than the transport waits for ends the request here."""
        try:
            return await self._send_once(method, url, params, body, headers, cost, ok, breaker)
        except RateLimited as exc:
            if self._waits_too_long(exc):
                raise self._left_for_next_run(exc) from None
            raise

    async def _send_once(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        body: bytes | None,
        headers: Mapping[str, str],
        cost: float,
        ok: frozenset[int] | set[int],
        breaker: Breaker | None,
    ) -> Reply:
        if self.limiter is not None:
            await self.limiter.acquire(cost)
        async with self._semaphore:
            if breaker is not None and breaker.is_open:
                self._refund(cost)
                breaker.refuse()  # checked once a slot is free: the breaker may have opened meanwhile
            self.stats.requests += 1
            try:
                response = await self._client.request(method, url, params=params, content=body, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                self._refund(cost)
                self.stats.by_kind["connect_error"] += 1
                raise _NotSent(type(exc).__name__) from None
            except httpx.TimeoutException as exc:
                self._refund(cost)
                self.stats.by_kind["timeout"] += 1
                raise RetriableError(
                    f"{method} {redact(self._display_url(url))} timed out ({type(exc).__name__})",
                    connector=self.connector,
                ) from None
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                self._refund(cost)
                self.stats.by_kind["dropped"] += 1
                raise RetriableError(
                    f"{method} {redact(self._display_url(url))}: connection dropped ({type(exc).__name__})",
                    connector=self.connector,
                ) from None
        self.stats.by_status[response.status_code] += 1
        data = _parse_json(response)
        if self.limiter is not None:
            if response.status_code >= 500:
                self._refund(cost)  # a server error spent nothing of the platform's allowance
            self.limiter.observe(response, data)
        if response.status_code in ok:
            reply = Reply(response, data)
            if response.status_code < 300 and response.content and data is None and _declares_json(response):
                self.stats.by_kind["malformed"] += 1
                raise RetriableError(
                    f"{method} {redact(self._display_url(url))}: malformed JSON body", connector=self.connector
                )
            try:
                if self.check_reply is not None:
                    self.check_reply(reply)
            except RateLimited:
                self.stats.record_throttle(True)
                raise
            self.stats.record_throttle(False)
            return reply
        raise self._error_for(method, url, response, data)

    def _error_for(self, method: str, url: str, response: httpx.Response, data: Any) -> Exception:
        status = response.status_code
        code, message = self.error_parser(response, data)
        # Platforms echo requests back (a key in an error about it): nothing unredacted leaves here.
        code = redact(code) if code is not None else None
        message = redact(summarize_body(message)) if message is not None else None
        detail = " ".join(p for p in (f"{code}:" if code else None, message) if p) or response.reason_phrase
        text = redact(f"{method} {self._display_url(url)} -> HTTP {status}: {detail}")
        if status == 429:
            self.stats.record_throttle(True)
            return RateLimited(
                text,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                connector=self.connector,
                status=status,
                platform_code=code,
                platform_message=message,
            )
        self.stats.record_throttle(False)
        if status in (401, 403):
            return AuthError(
                text, connector=self.connector, status=status, platform_code=code, platform_message=message
            )
        if status >= 500 or status in (408, 425):
            return RetriableError(
                text, connector=self.connector, status=status, platform_code=code, platform_message=message
            )
        return FatalError(text, connector=self.connector, status=status, platform_code=code, platform_message=message)

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

    def _waits_too_long(self, exc: BaseException) -> bool:
        return (
            isinstance(exc, RateLimited)
            and exc.retry_after is not None
            and exc.retry_after > self.settings.max_retry_wait_s
        )

    def _left_for_next_run(self, exc: RateLimited) -> RateLimited:
        """The platform's refusal, saying that its wait is not taken and what becomes of the request."""
        detail = str(exc).removeprefix(f"[{exc.connector}] ") if exc.connector else str(exc)
        asked, most = _seconds(exc.retry_after or 0.0), _seconds(self.settings.max_retry_wait_s)
        return RateLimited(
            f"{detail}; asked to wait {asked} s, more than max_retry_wait_s ({most} s): left for the next run",
            retry_after=exc.retry_after,
            connector=exc.connector or self.connector,
            status=exc.status,
            platform_code=exc.platform_code,
            platform_message=exc.platform_message,
        )

    def _out_of_time(self, state: RetryCallState) -> bool:
        """Stop rather than start a wait that would end past ``max_retry_time`` of retrying. The time
        spent counts the waits themselves too, so that a fake sleep in the tests counts as waited."""
        spent = max(state.seconds_since_start or 0.0, state.idle_for)
        return spent + state.upcoming_sleep > self.settings.max_retry_time

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return exc.retry_after  # at most max_retry_wait_s: a longer one is not retried
        base = min(self.settings.max_backoff, 0.25 * (2 ** (state.attempt_number - 1)))
        return base / 2 + random.uniform(0, base / 2)  # jitter spreads out retries of parallel workers

    def _before_sleep(self, state: RetryCallState) -> None:
        self.stats.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        log.info("%s: retry %d after %s", self.connector, state.attempt_number, redact(exc))

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
    ) -> AsyncIterator[Reply]:
        """Yield every page of a listing, asking ``paginator`` for the next request each time.

        A page token seen before stops the walk with an error: a platform bug or a paginator
        misconfiguration must not loop forever.
        """
        request = PageRequest(url=url, params=dict(params or {}), json=json)
        seen: set[str] = {self._page_token(request)}  # a link back to the first page is a loop too
        while True:
            reply = await self.request(method, request.url, params=request.params or None, json=request.json, cost=cost)
            yield reply
            nxt = paginator.next_request(request, reply)
            if nxt is None:
                return
            token = self._page_token(nxt)
            if token in seen:
                raise FatalError(f"pagination loop: page token {redact(token)!r} came back", connector=self.connector)
            seen.add(token)
            request = nxt


class _NotSent(Exception):
    """The request never reached the server (connect error): safe to retry any method."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _seconds(value: float) -> str:
    """Seconds as a person writes them: ``3600``, ``2.5``."""
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _declares_json(response: httpx.Response) -> bool:
    # JSON Lines (Shopify bulk results) and NDJSON are line streams, not one JSON document.
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return "json" in media and not media.endswith(("jsonl", "ndjson", "json-seq"))


_TAG = re.compile(r"</?[A-Za-z!][^<>]*>")
_HEADLINE = re.compile(r"<(title|h1)[^>]*>(.*?)</\1>", re.IGNORECASE | re.DOTALL)
#: The longest error text a message keeps from a platform's answer.
_MAX_BODY_TEXT = 500


def summarize_body(text: str) -> str:
    """An error text fit for a message: an HTML page (a proxy's 502, a maintenance page) becomes
    its title or headline, or its text without tags; anything long is cut. Pasting a page into a
    log line, an e-mail or ``runs`` helps nobody."""
    if text.lstrip().startswith("<") and _TAG.search(text):
        headline = _HEADLINE.search(text)
        text = headline.group(2) if headline else text
        text = html.unescape(_TAG.sub(" ", text))
        text = f"{' '.join(text.split())} (an HTML page, not the platform's answer: a proxy or server in between?)"
    text = " ".join(text.split())
    return text if len(text) <= _MAX_BODY_TEXT else text[: _MAX_BODY_TEXT - 1] + "…"


def _parse_json(response: httpx.Response) -> Any:
    if not response.content or not _declares_json(response):
        return None
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


# --------------------------------------------------------------------------------------------
# Paginators: "first request" is the caller's; "next request from this reply" is theirs.
# --------------------------------------------------------------------------------------------


@dataclass
class PageRequest:
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None

    def token(self) -> str:
        return repr((self.url, sorted(self.params.items()), orjson.dumps(self.json) if self.json else b""))


class Paginator(Protocol):
    def next_request(self, previous: PageRequest, reply: Reply) -> PageRequest | None: ...


@dataclass
class LinkHeaderPaginator:
    """Follows ``Link: <...>; rel="next"`` (WooCommerce). ``rewrite`` may clean the URL first
    (WooCommerce echoes the previous page's OAuth parameters, which must be re-signed)."""

    rewrite: Callable[[str], str] | None = None

    def next_request(self, previous: PageRequest, reply: Reply) -> PageRequest | None:
        link = reply.response.links.get("next")
        if not link or not link.get("url"):
            return None
        url = link["url"]
        if self.rewrite is not None:
            url = self.rewrite(url)
        return PageRequest(url=url, params={}, json=previous.json)


@dataclass
class PageNumberPaginator:
    """``page=1,2,...`` until the total-pages header (or an empty page) says the list is over."""

    page_param: str = "page"
    total_pages_header: str | None = "X-WP-TotalPages"
    records_path: str | None = None

    def next_request(self, previous: PageRequest, reply: Reply) -> PageRequest | None:
        page = int(previous.params.get(self.page_param, 1))
        total = reply.headers.get(self.total_pages_header) if self.total_pages_header else None
        if total is not None:
            if page >= int(total):
                return None
        elif not dig(reply.data, self.records_path):
            return None
        return PageRequest(url=previous.url, params={**previous.params, self.page_param: page + 1}, json=previous.json)


@dataclass
class OffsetPaginator:
    """``offset``/``count`` against a total in the body (Mailchimp's ``total_items``)."""

    offset_param: str = "offset"
    count_param: str = "count"
    total_path: str = "total_items"
    records_path: str | None = None

    def next_request(self, previous: PageRequest, reply: Reply) -> PageRequest | None:
        offset = int(previous.params.get(self.offset_param, 0))
        count = int(previous.params[self.count_param])
        total = dig(reply.data, self.total_path)
        records = dig(reply.data, self.records_path) if self.records_path else None
        if records is not None and len(records) == 0:
            return None
        if total is not None and offset + count >= int(total):
            return None
        return PageRequest(
            url=previous.url, params={**previous.params, self.offset_param: offset + count}, json=previous.json
        )


@dataclass
class JsonCursorPaginator:
    """A cursor in the body (HubSpot ``paging.next.after``) sent back as a parameter or body field,
    or a full next URL in the body (``next_url_path``)."""

    cursor_path: str | None = None
    param: str = "after"
    in_body: bool = False
    next_url_path: str | None = None

    def next_request(self, previous: PageRequest, reply: Reply) -> PageRequest | None:
        if self.next_url_path:
            nxt = dig(reply.data, self.next_url_path)
            if not nxt:
                return None
            url = str(reply.response.request.url.join(str(nxt)))
            if httpx.URL(url).netloc != reply.response.request.url.netloc:
                # The credentials travel with the request: never follow a body to another host.
                raise FatalError(f"refusing to follow a next-page URL to another host ({httpx.URL(url).host})")
            return PageRequest(url=url, params={}, json=previous.json)
        cursor = dig(reply.data, self.cursor_path)
        if cursor in (None, ""):
            return None
        if self.in_body:
            return PageRequest(
                url=previous.url, params=previous.params, json={**(previous.json or {}), self.param: cursor}
            )
        return PageRequest(url=previous.url, params={**previous.params, self.param: cursor}, json=previous.json)


@dataclass
class GraphQLCursorPaginator:
    """Relay connections: ``pageInfo {hasNextPage endCursor}`` at ``connection_path``, sent back
    as the ``variable`` (``after``) of the same query."""

    connection_path: str
    variable: str = "after"

    def next_request(self, previous: PageRequest, reply: Reply) -> PageRequest | None:
        info = dig(reply.data, f"{self.connection_path}.pageInfo") or {}
        if not info.get("hasNextPage") or not info.get("endCursor"):
            return None
        body = dict(previous.json or {})
        body["variables"] = {**(body.get("variables") or {}), self.variable: info["endCursor"]}
        return PageRequest(url=previous.url, params=previous.params, json=body)
