"""HubSpot CRM v3 contacts over ``hub.transport.Transport``: list, windowed search and batch upsert.

The client knows HubSpot's endpoints, limits and error shapes; it knows nothing of the canonical
model (that is the connector's and the mapping's job).
"""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from hub.sdk import (
    AllLimiters,
    Endpoint,
    FatalError,
    HeaderWindowLimiter,
    JsonCursorPaginator,
    Reply,
    RestReader,
    SettingHint,
    TokenBucket,
    Transport,
    default_error_parser,
    dig,
    secret_value,
)

from .settings import HubSpotSettings

__all__ = ["ContactPage", "HubSpotClient", "modified_ms", "parse_error", "server_ms"]

CONTACTS = "/objects/contacts"


def parse_error(response: httpx.Response, data: Any) -> tuple[str | None, str | None]:
    """HubSpot errors: ``{status: "error", message, category, errorType?, subCategory?}``."""
    if isinstance(data, Mapping) and ("category" in data or "errorType" in data):
        sub = data.get("subCategory")
        code = data.get("errorType") or (sub if isinstance(sub, str) else None) or data.get("category")
        message = data.get("message")
        return (str(code) if code else None, str(message) if message else None)
    return default_error_parser(response, data)


@dataclass(slots=True)
class ContactPage:
    """Contacts of one answer, and the server's clock when it answered (``Date``, in ms)."""

    contacts: list[dict[str, Any]]
    server_ms: int | None


def server_ms(reply: Reply) -> int | None:
    """The server's ``Date`` header in epoch ms (whole seconds), ``None`` when absent or unreadable."""
    try:
        return int(email.utils.parsedate_to_datetime(reply.headers["date"]).timestamp()) * 1000
    except (KeyError, TypeError, ValueError):
        return None


def modified_ms(value: Any) -> int | None:
    """A HubSpot timestamp property (ISO 8601 in v3 answers, epoch milliseconds in filters) as ms."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


#: Every contact, ``limit`` a page (at most 100), ``after`` from ``paging.next.after``.
CONTACT_LIST = Endpoint(
    CONTACTS,
    records_path="results",
    paginator=JsonCursorPaginator("paging.next.after"),
    params={"archived": "false"},
)


#: Which setting to fix when HubSpot refuses the token.
SETTING_HINT = SettingHint(
    "HubSpot refused the access token (HTTP {status}); fix the `access_token` setting of connector "
    "{connector!r} (a private app token with the crm.objects.contacts scopes)"
)


class HubSpotClient:
    """One HubSpot account: the requests a contacts sync needs, with HubSpot's limits applied."""

    def __init__(
        self,
        connector: str,
        settings: HubSpotSettings,
        *,
        http_transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.connector = connector
        self.settings = settings
        token = secret_value(settings.access_token) or ""
        window = HeaderWindowLimiter(
            remaining_header="X-HubSpot-RateLimit-Remaining",
            interval_ms_header="X-HubSpot-RateLimit-Interval-Milliseconds",
            default_interval=10.0,
            reserve=1,
        )
        # 90 % of the tier as a pace plus a burst of a tenth: at most the tier in any 10 s, even
        # where no header tells us (search answers carry none on the real API).
        pace = TokenBucket(settings.rate_limit_tier * 0.09, capacity=settings.rate_limit_tier / 10.0)
        self.transport = Transport(
            connector,
            settings.transport_settings(
                settings.api_root(),
                headers={"Authorization": f"Bearer {token}"},
                secrets=[token],
                hints=(SETTING_HINT,),
            ),
            limiter=AllLimiters(window, pace),
            error_parser=parse_error,
            http_transport=http_transport,
            sleep=sleep,
        )
        self._search_pace = TokenBucket(settings.search_rate_per_s, capacity=1.0)
        self.reader = RestReader(self.transport)

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def ping(self) -> None:
        await self.transport.get(CONTACTS, params={"limit": 1})

    async def list_contacts(self) -> AsyncIterator[ContactPage]:
        """Every contact, page by page (``limit`` at most 100, ``after`` from ``paging.next.after``)."""
        params = {"limit": self.settings.page_size, "properties": ",".join(self.settings.read_properties())}
        async for page in self.reader.pages(CONTACT_LIST, params=params):
            yield ContactPage(page.records, server_ms(page.reply))

    async def search_modified_since(self, since_ms: int) -> AsyncIterator[ContactPage]:
        """Contacts whose modified property is at or after ``since_ms``, oldest first.

        The walk is by key, not by offset: each query starts at the newest modification time seen so
        far, skipping the contacts at exactly that time which were already yielded. Offsets would skip
        a contact whenever one before it in the sort order is edited during the walk (it moves to the
        end and everything after it shifts left), and a query can page through only
        ``search_result_cap`` (10,000) results; starting again from the newest time avoids both.
        ``after`` is followed only while a whole page shares one millisecond; more than
        ``search_result_cap`` contacts in one millisecond cannot be walked and raise.
        """
        start, seen_at_start = since_ms, set[str]()
        after: str | None = None
        offset = 0
        while True:
            reply = await self._search(start, after)
            results = self.reader.records(CONTACT_LIST, reply, f"{CONTACTS}/search")
            offset += len(results)
            page = []
            newest, at_newest = start, set(seen_at_start)
            for contact in results:
                ms = modified_ms(dig(contact, f"properties.{self.settings.modified_property}"))
                contact_id = str(contact.get("id"))
                if ms is not None and ms <= start and contact_id in seen_at_start:
                    continue
                page.append(contact)
                if ms is not None and ms > newest:
                    newest, at_newest = ms, set()
                if ms == newest:
                    at_newest.add(contact_id)
            if page:
                yield ContactPage(page, server_ms(reply))
            next_after = dig(reply.data, "paging.next.after")
            if not next_after:
                return
            if newest > start:
                start, seen_at_start, after, offset = newest, at_newest, None, 0
            elif offset < self.settings.search_result_cap:
                seen_at_start, after = at_newest, str(next_after)
            else:
                raise FatalError(
                    f"more than {self.settings.search_result_cap} contacts share the modification time {start} ms; "
                    "an incremental search cannot page past them: run a full pull (no cursor)",
                    connector=self.connector,
                )

    async def _search(self, since_ms: int, after: str | None) -> Reply:
        prop = self.settings.modified_property
        body: dict[str, Any] = {
            "filterGroups": [{"filters": [{"propertyName": prop, "operator": "GTE", "value": str(since_ms)}]}],
            "sorts": [{"propertyName": prop, "direction": "ASCENDING"}],
            "properties": self.settings.read_properties(),
            "limit": self.settings.search_page_size,
        }
        if after:
            body["after"] = after
        await self._search_pace.acquire()
        # A search changes nothing: repeating it after a dropped connection is harmless.
        return await self.transport.post(f"{CONTACTS}/search", json=body, idempotent=True)

    async def batch_upsert(self, inputs: Sequence[Mapping[str, Any]]) -> Reply:
        """``POST /objects/contacts/batch/upsert`` (at most 100 inputs): 200, or 207 with ``errors``."""
        if len(inputs) > self.settings.batch_size:
            raise ValueError(f"at most {self.settings.batch_size} inputs per batch upsert, got {len(inputs)}")
        # An upsert by e-mail sets absolute property values: applying the same batch twice leaves
        # the same contacts, so retrying it after a 5xx or a dropped answer cannot double anything.
        return await self.transport.post(f"{CONTACTS}/batch/upsert", json={"inputs": list(inputs)}, idempotent=True)
