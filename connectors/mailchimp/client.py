"""Mailchimp Marketing API v3, one audience, over ``hub.transport.Transport``: members listing, batch
subscribe of new members, and ``/batches`` jobs (started, polled, their results archive fetched)."""

from __future__ import annotations

import contextlib
import email.utils
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from hub.sdk import (
    AuthError,
    FatalError,
    OffsetPaginator,
    Reply,
    Transport,
    TransportSettings,
    TransportStats,
    default_error_parser,
    dig,
    secret_value,
)

from .settings import MailchimpSettings

__all__ = ["MEMBER_FIELDS", "MailchimpClient", "MemberPage", "parse_problem"]

#: What a pull asks for (``fields=``): Mailchimp's members carry ``_links`` and statistics otherwise,
#: several times the size of what the hub reads.
MEMBER_FIELDS = (
    "members.id",
    "members.email_address",
    "members.status",
    "members.merge_fields",
    "members.tags",
    "members.last_changed",
    "total_items",
)


def parse_problem(response: httpx.Response, data: Any) -> tuple[str | None, str | None]:
    """Mailchimp errors are ``application/problem+json``: ``{type, title, status, detail, instance}``,
    with ``errors: [{field, message}]`` when fields are at fault (they say what to fix, so they are
    part of the message)."""
    if isinstance(data, Mapping) and "title" in data:
        detail = str(data.get("detail") or "")
        fields = [e for e in data.get("errors") or [] if isinstance(e, Mapping)]
        if fields:
            detail += " " + "; ".join(f"{e.get('field') or 'body'}: {e.get('message')}" for e in fields)
        return str(data["title"]), detail.strip() or None
    return default_error_parser(response, data)


@dataclass(slots=True)
class MemberPage:
    """Members of one answer, the audience's total, and the server's clock when it answered."""

    members: list[dict[str, Any]]
    total: int | None
    server_time: datetime | None


@contextlib.contextmanager
def _name_the_setting(connector: str, list_id: str) -> Iterator[None]:
    """Say which setting to fix when Mailchimp refuses the key or does not know the audience."""
    try:
        yield
    except AuthError as exc:
        raise AuthError(
            f"Mailchimp refused the API key (HTTP {exc.status}); fix the `api_key` setting of connector "
            f"{connector!r} (a key of the account, ending with its datacenter such as -us21)",
            connector=connector,
            status=exc.status,
        ) from None
    except FatalError as exc:
        if exc.status != 404:
            raise
        raise FatalError(
            f"Mailchimp has no audience {list_id!r}; fix the `list_id` setting of connector {connector!r}",
            connector=connector,
            status=404,
        ) from None


class MailchimpClient:
    """One audience: members listing and batch subscribe, at most 10 connections at a time."""

    def __init__(
        self, connector: str, settings: MailchimpSettings, *, http_transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.connector = connector
        self.settings = settings
        key = secret_value(settings.api_key) or ""
        self.transport = Transport(
            connector,
            TransportSettings(
                base_url=settings.api_root(),
                auth=httpx.BasicAuth("omnihub", key),
                secrets=[key],
                timeout=settings.timeout_s,
                max_attempts=settings.max_attempts,
                max_concurrency=min(settings.max_concurrency or 10, 10),
                verify_tls=settings.verify_tls,
            ),
            error_parser=parse_problem,
            http_transport=http_transport,
        )
        # ``/batches`` results live on another host (cloud storage): never send the key there.
        self.files = Transport(
            connector,
            TransportSettings(
                base_url=settings.api_root(),
                timeout=max(settings.timeout_s, 120.0),
                max_attempts=settings.max_attempts,
                max_concurrency=1,
                verify_tls=settings.verify_tls,
            ),
            http_transport=http_transport,
        )
        self.list_path = f"/lists/{settings.list_id}"

    async def aclose(self) -> None:
        await self.transport.aclose()
        await self.files.aclose()

    @property
    def stats(self) -> TransportStats:
        """The API's figures and the result downloads', together."""
        return TransportStats.combined(self.transport.stats, self.files.stats)

    async def ping(self) -> None:
        """One request that proves both the key and the audience."""
        with _name_the_setting(self.connector, self.settings.list_id):
            await self.transport.get(self.list_path, params={"fields": "id,name"})

    async def members(self, since: datetime | None = None) -> AsyncIterator[MemberPage]:
        """The audience's members, ``count`` per page by ``offset``, changed after ``since`` if given."""
        params: dict[str, Any] = {"count": self.settings.page_size, "offset": 0, "fields": ",".join(MEMBER_FIELDS)}
        if since is not None:
            # Mailchimp's filter is "changed after" at whole seconds: ask from one second earlier so a
            # change in the cursor's own second is read again rather than lost.
            params["since_last_changed"] = (since - timedelta(seconds=1)).isoformat(timespec="seconds")
        paginator = OffsetPaginator(records_path="members")
        pages = self.transport.paginate("GET", f"{self.list_path}/members", paginator, params=params)
        with _name_the_setting(self.connector, self.settings.list_id):
            async for reply in pages:
                members = dig(reply.data, "members")
                if not isinstance(members, list):
                    raise FatalError(
                        f"Mailchimp answered HTTP {reply.status} without `members`", connector=self.connector
                    )
                total = dig(reply.data, "total_items")
                yield MemberPage(members, int(total) if total is not None else None, _server_time(reply))

    async def batch_subscribe(self, members: Sequence[Mapping[str, Any]]) -> Reply:
        """``POST /lists/{id}`` adding at most 500 new members; ``update_existing`` is false, so an
        address already in the audience is left as it is and comes back in ``errors``
        (``ERROR_CONTACT_EXISTS``) instead of having its status overwritten."""
        if len(members) > self.settings.batch_size:
            raise ValueError(f"at most {self.settings.batch_size} members per batch subscribe, got {len(members)}")
        body = {"members": list(members), "update_existing": False}
        with _name_the_setting(self.connector, self.settings.list_id):
            # Sending it twice adds nobody twice: the second time every member is ERROR_CONTACT_EXISTS,
            # which the connector then writes by member PUT (never changing a status to subscribed).
            return await self.transport.post(self.list_path, json=body, idempotent=True)

    async def start_batch(self, operations: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """``POST /batches``: the job as Mailchimp answers it (``id``, ``status`` pending)."""
        with _name_the_setting(self.connector, self.settings.list_id):
            # The operations set absolute values (member PUTs, tags made active or inactive): a job
            # started twice after a lost answer leaves the same audience.
            reply = await self.transport.post("/batches", json={"operations": list(operations)}, idempotent=True)
        return _job(reply, self.connector)

    async def batch_job(self, job_id: str) -> dict[str, Any]:
        """``GET /batches/{id}``: how far the job got, and its results' URL once finished."""
        with _name_the_setting(self.connector, self.settings.list_id):
            return _job(await self.transport.get(f"/batches/{job_id}"), self.connector)

    async def download(self, url: str) -> bytes:
        """A finished job's results archive (a GET to storage, without the API key; retried freely)."""
        return (await self.files.get(url)).response.content


def _job(reply: Reply, connector: str) -> dict[str, Any]:
    if not isinstance(reply.data, Mapping) or not reply.data.get("id"):
        raise FatalError(f"Mailchimp answered HTTP {reply.status} without a batch job id", connector=connector)
    return dict(reply.data)


def _server_time(reply: Reply) -> datetime | None:
    try:
        return email.utils.parsedate_to_datetime(reply.headers["date"])
    except (KeyError, TypeError, ValueError):
        return None
