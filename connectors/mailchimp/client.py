"""Mailchimp Marketing API v3, one audience, over ``hub.transport.Transport``: members listing, batch
subscribe of new members, and ``/batches`` jobs (started, polled, their results archive fetched)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

import httpx

from hub.sdk import (
    Endpoint,
    EndpointPage,
    FatalError,
    Incremental,
    OffsetPaginator,
    Reply,
    RestReader,
    SettingHint,
    Transport,
    TransportStats,
    default_error_parser,
    iso_time,
    secret_value,
)

from .settings import MailchimpSettings

__all__ = ["CHANGED", "MEMBER_FIELDS", "MailchimpClient", "parse_problem"]

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


def _a_second_early(since: str) -> str:
    """Mailchimp's filter is "changed after" at whole seconds: ask from one second earlier so a change
    in the cursor's own second is read again rather than lost."""
    moment = iso_time(since)
    if moment is None:
        raise ValueError(f"{since!r} is not a Mailchimp cursor")
    return (moment - timedelta(seconds=1)).isoformat(timespec="seconds")


#: The members' cursor: the newest ``last_changed``, never past the server's clock at the first answer.
CHANGED = Incremental(
    "last_changed",
    param="since_last_changed",
    send=_a_second_early,
    render=lambda moment: moment.isoformat(timespec="seconds"),
    until_server_clock=True,
)

#: Which setting to fix when Mailchimp refuses the key.
AUTH_HINT = SettingHint(
    "Mailchimp refused the API key (HTTP {status}); fix the `api_key` setting of connector {connector!r} "
    "(a key of the account, ending with its datacenter such as -us21)"
)


def _hints(list_id: str) -> tuple[SettingHint, ...]:
    """The key's hint, and the audience's for a 404 (Mailchimp does not know ``list_id``)."""
    audience = repr(list_id).replace("{", "{{").replace("}", "}}")
    unknown = f"Mailchimp has no audience {audience}; fix the `list_id` setting of connector {{connector!r}}"
    return AUTH_HINT, SettingHint(unknown, statuses=frozenset({404}))


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
            settings.transport_settings(
                settings.api_root(),
                auth=httpx.BasicAuth("omnihub", key),
                secrets=[key],
                max_concurrency=min(settings.max_concurrency or 10, 10),
                hints=_hints(settings.list_id),
            ),
            error_parser=parse_problem,
            http_transport=http_transport,
        )
        # ``/batches`` results live on another host (cloud storage): never send the key there.
        self.files = Transport(
            connector,
            settings.transport_settings(settings.api_root(), timeout=max(settings.timeout_s, 120.0), max_concurrency=1),
            http_transport=http_transport,
        )
        self.list_path = f"/lists/{settings.list_id}"
        self.reader = RestReader(self.transport)
        #: The audience's members, ``count`` a page by ``offset``, only the fields the hub reads.
        self.member_list = Endpoint(
            f"{self.list_path}/members",
            records_path="members",
            paginator=OffsetPaginator(records_path="members"),
            params={"count": settings.page_size, "offset": 0, "fields": ",".join(MEMBER_FIELDS)},
            incremental=CHANGED,
            total_path="total_items",
        )

    async def aclose(self) -> None:
        await self.transport.aclose()
        await self.files.aclose()

    @property
    def stats(self) -> TransportStats:
        """The API's figures and the result downloads', together."""
        return TransportStats.combined(self.transport.stats, self.files.stats)

    async def ping(self) -> None:
        """One request that proves both the key and the audience."""
        await self.transport.get(self.list_path, params={"fields": "id,name"})

    def members(self, since: str | None = None) -> AsyncIterator[EndpointPage]:
        """The audience's members page by page, changed after the cursor ``since`` if given."""
        return self.reader.pages(self.member_list, since=since)

    async def batch_subscribe(self, members: Sequence[Mapping[str, Any]]) -> Reply:
        """``POST /lists/{id}`` adding at most 500 new members; ``update_existing`` is false, so an
        address already in the audience is left as it is and comes back in ``errors``
        (``ERROR_CONTACT_EXISTS``) instead of having its status overwritten."""
        if len(members) > self.settings.batch_size:
            raise ValueError(f"at most {self.settings.batch_size} members per batch subscribe, got {len(members)}")
        body = {"members": list(members), "update_existing": False}
        # Sending it twice adds nobody twice: the second time every member is ERROR_CONTACT_EXISTS,
        # which the connector then writes by member PUT (never changing a status to subscribed).
        return await self.transport.post(self.list_path, json=body, idempotent=True)

    async def start_batch(self, operations: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """``POST /batches``: the job as Mailchimp answers it (``id``, ``status`` pending)."""
        # The operations set absolute values (member PUTs, tags made active or inactive): a job
        # started twice after a lost answer leaves the same audience.
        reply = await self.transport.post("/batches", json={"operations": list(operations)}, idempotent=True)
        return _job(reply, self.connector)

    async def batch_job(self, job_id: str) -> dict[str, Any]:
        """``GET /batches/{id}``: how far the job got, and its results' URL once finished."""
        return _job(await self.transport.get(f"/batches/{job_id}"), self.connector)

    async def download(self, url: str) -> bytes:
        """A finished job's results archive (a GET to storage, without the API key; retried freely)."""
        return (await self.files.get(url)).response.content


def _job(reply: Reply, connector: str) -> dict[str, Any]:
    if not isinstance(reply.data, Mapping) or not reply.data.get("id"):
        raise FatalError(f"Mailchimp answered HTTP {reply.status} without a batch job id", connector=connector)
    return dict(reply.data)
