"""The mailchimp connector against its sandbox over loopback: pulls, pushes, consent, limits, faults."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.mailchimp import MailchimpConnector, MailchimpSettings
from connectors.mailchimp.sandbox import create_app
from hub.errors import AuthError, FatalError
from hub.model.base import Entity
from hub.model.customers import Customer
from hub.plugins.contract import Change
from hub.sandbox.kit import ServedApp, serve
from hub.sandbox.seed import demo_store, synthetic

KEY = "SECRETmc0123456789abcdef-us21"
MEMBERS = "/3.0/lists/a1b2c3/members"
BATCH = "/3.0/lists/a1b2c3"
JOBS = "/3.0/batches"


@pytest.fixture
def sandbox() -> Iterator[ServedApp]:
    with serve(create_app(demo_store(), api_key=KEY)) as served:
        yield served


def connector(served: ServedApp, **settings: Any) -> MailchimpConnector:
    settings = {"list_id": "a1b2c3", "merge_fields": {"first_name": "FNAME", "last_name": "LNAME",
                "phone": "PHONE", "loyalty_points": "POINTS"}, "batch_poll_s": 0.05, **settings}  # fmt: skip
    return MailchimpConnector("news", MailchimpSettings(api_key=KEY, base_url=served.url, **settings))


async def pull_all(conn: MailchimpConnector, since: str | None = None) -> tuple[list[Customer], str | None]:
    customers: list[Customer] = []
    cursor = since
    async for page in conn.pull(Entity.customers, since=since):
        customers += [conn.mapping.to_canonical(r) for r in page.records]  # type: ignore[misc]
        cursor = page.cursor
    return customers, cursor


def change(key: str, values: dict[str, Any], *, previous: dict[str, Any] | None = None,
           record: Customer | None = None, link: bool = True) -> Change:  # fmt: skip
    return Change(Entity.customers, key, "news", values, previous or {}, record,
                  {"subscriber_hash": "x"} if link else {}, f"k-{key}")  # fmt: skip


async def test_full_pull_maps_members_and_consent(sandbox: ServedApp) -> None:
    sandbox.app.state.sandbox.members[next(iter(sandbox.app.state.sandbox.members))]["status"] = "cleaned"
    async with connector(sandbox) as conn:
        customers, cursor = await pull_all(conn)
    by_email = {c.email: c for c in customers}
    assert by_email["giulia.rossi@example.com"].email_marketing == "unsubscribed"  # cleaned counts as a no
    assert by_email["giulia.rossi@example.com"].tags == ("vip",)
    assert by_email["marco.bianchi@example.com"].loyalty_points == 80
    assert by_email["anna.verdi@example.com"].email_marketing == "never"  # transactional
    assert by_email["luca.neri@example.com"].consent_updated_at is not None
    assert cursor == "2026-01-01T00:00:00+00:00"


async def test_incremental_pull_returns_members_changed_since_the_cursor(sandbox: ServedApp) -> None:
    async with connector(sandbox) as conn:
        _, cursor = await pull_all(conn)
        sandbox.app.state.sandbox.unsubscribe("marco.bianchi@example.com")
        changed, newer = await pull_all(conn, since=cursor)
        again, _ = await pull_all(conn, since=newer)
    # the cursor's own second is read again on purpose (Mailchimp filters "after" at whole seconds)
    assert {c.email: c.email_marketing for c in changed}["marco.bianchi@example.com"] == "unsubscribed"
    assert newer is not None and cursor is not None and newer > cursor
    assert [(c.email, c.email_marketing) for c in again] == [("marco.bianchi@example.com", "unsubscribed")]


async def test_pull_pages_by_1000_with_trimmed_fields() -> None:
    with serve(create_app(synthetic(0, customers=2100), api_key=KEY)) as served:
        async with connector(served) as conn:
            customers, _ = await pull_all(conn)
            stats = conn.transport_stats
    assert len({c.email for c in customers}) == 2100
    assert stats is not None and stats.requests == 3


async def test_each_member_error_becomes_its_own_result(sandbox: ServedApp) -> None:
    state = sandbox.app.state.sandbox
    state.rejects["marco.bianchi@example.com"] = ("ERROR_GENERIC", "marco.bianchi@example.com has been banned")
    new = Customer(email="nuova@example.com", first_name="Nuova", email_marketing="subscribed", tags=("web",))
    changes = [
        change("giulia.rossi@example.com", {"first_name": "Giulietta", "loyalty_points": 1300}),
        change("marco.bianchi@example.com", {"last_name": "Bianco"}),
        change("bad@domain.c", {"first_name": "X"}, link=False),
        change("nuova@example.com", {"first_name": "Nuova"}, record=new, link=False),
    ]
    async with connector(sandbox) as conn:
        results = await conn.push(Entity.customers, changes)
    by_key = {r.key: r for r in results}
    assert [r.key for r in results] == [c.key for c in changes]
    assert by_key["giulia.rossi@example.com"].ok and by_key["nuova@example.com"].ok
    # marco exists: his write is a member PUT in a /batches job, refused with a problem document
    assert (by_key["marco.bianchi@example.com"].code, by_key["marco.bianchi@example.com"].message) == (
        "Invalid Resource",
        "marco.bianchi@example.com has been banned",
    )
    assert by_key["bad@domain.c"].code == "ERROR_GENERIC" and "looks fake" in (by_key["bad@domain.c"].message or "")
    giulia = state.member("giulia.rossi@example.com")
    assert giulia["merge_fields"]["FNAME"] == "Giulietta" and giulia["merge_fields"]["POINTS"] == 1300
    created = state.member("nuova@example.com")
    assert created["status"] == "subscribed" and [t["name"] for t in created["tags"]] == ["web"]
    assert state.member("marco.bianchi@example.com")["merge_fields"]["LNAME"] == "Bianchi"
    assert sandbox.app.state.requests[f"POST {BATCH}"] == 1 and sandbox.app.state.requests[f"POST {JOBS}"] == 1


async def test_an_unsubscribed_member_stays_unsubscribed(sandbox: ServedApp) -> None:
    """The person unsubscribed after the hub's pull; the push still says subscribed."""
    state = sandbox.app.state.sandbox
    async with connector(sandbox) as conn:
        pulled, _ = await pull_all(conn)
        assert {c.email: c.email_marketing for c in pulled}["marco.bianchi@example.com"] == "subscribed"
        state.unsubscribe("marco.bianchi@example.com")
        golden = Customer(email="marco.bianchi@example.com", first_name="Marcus", email_marketing="subscribed")
        stale = change("marco.bianchi@example.com", {"first_name": "Marcus", "email_marketing": "subscribed"},
                       previous={"email_marketing": "never"}, record=golden)  # fmt: skip
        also_new = change("luca.neri@example.com", {"email_marketing": "subscribed"}, record=None, link=False)
        results = await conn.push(Entity.customers, [stale, also_new])
    assert state.member("marco.bianchi@example.com")["status"] == "unsubscribed"
    assert state.member("marco.bianchi@example.com")["merge_fields"]["FNAME"] == "Marcus"
    assert state.member("luca.neri@example.com")["status"] == "unsubscribed"
    for result in results:
        assert not result.ok and result.stale and result.code == "CONSENT_KEPT"
        assert result.actual == {"email_marketing": "unsubscribed"}


async def test_an_unsubscribe_is_always_pushed(sandbox: ServedApp) -> None:
    async with connector(sandbox) as conn:
        results = await conn.push(
            Entity.customers, [change("giulia.rossi@example.com", {"email_marketing": "unsubscribed"})]
        )
    assert results[0].ok
    assert sandbox.app.state.sandbox.member("giulia.rossi@example.com")["status"] == "unsubscribed"


async def test_more_than_500_changes_go_in_several_batches() -> None:
    with serve(create_app(synthetic(0, customers=0), api_key=KEY)) as served:
        changes = [
            change(f"p{i:04d}@example.com", {}, record=Customer(email=f"p{i:04d}@example.com"), link=False)
            for i in range(1001)
        ]
        async with connector(served) as conn:
            results = await conn.push(Entity.customers, changes)
        assert all(r.ok for r in results)
        assert served.app.state.requests[f"POST {BATCH}"] == 3
        assert served.app.state.sandbox.member("p1000@example.com")["status"] == "transactional"


async def test_at_most_ten_connections_at_once() -> None:
    app = create_app(synthetic(0, customers=30), api_key=KEY, latency_s=0.05)
    with serve(app) as served:
        async with connector(served, page_size=1) as conn:
            results = await asyncio.gather(*(conn.client.ping() for _ in range(25)))
        state = served.app.state.sandbox
        assert len(results) == 25
        assert state.refused_connections == 0
        assert 1 < state.peak_in_flight <= 10


async def test_429_beyond_the_connection_limit_is_retried() -> None:
    app = create_app(synthetic(0, customers=5), api_key=KEY, max_connections=2, latency_s=0.05)
    with serve(app) as served:
        async with connector(served) as conn:
            await asyncio.gather(*(conn.client.ping() for _ in range(6)))
            stats = conn.transport_stats
        assert served.app.state.sandbox.refused_connections > 0
        assert stats is not None and stats.throttled == served.app.state.sandbox.refused_connections


async def test_wrong_key_is_one_auth_error_naming_connector_and_setting(sandbox: ServedApp) -> None:
    conn = MailchimpConnector("news", MailchimpSettings(api_key="wrongkey0123456789-us21", list_id="a1b2c3",
                                                         base_url=sandbox.url))  # fmt: skip
    async with conn:
        with pytest.raises(AuthError) as caught:
            await pull_all(conn)
    assert "[news]" in str(caught.value) and "api_key" in str(caught.value)
    assert "wrongkey0123456789" not in str(caught.value)
    assert sandbox.app.state.requests["total"] == 1


async def test_unknown_audience_names_the_list_id_setting(sandbox: ServedApp) -> None:
    async with connector(sandbox, list_id="nope") as conn:
        with pytest.raises(FatalError) as caught:
            await conn.ping()
    assert "list_id" in str(caught.value) and "'nope'" in str(caught.value)


@pytest.mark.parametrize("kind", ["status", "drop", "drop_after", "malformed"])
async def test_faults_on_batch_subscribe_are_retried_and_applied_once(sandbox: ServedApp, kind: str) -> None:
    sandbox.app.state.faults.add(kind=kind, status=500, method="POST", path=BATCH)
    new = Customer(email="solo@example.com", first_name="Solo", email_marketing="subscribed")
    async with connector(sandbox) as conn:
        results = await conn.push(Entity.customers, [change("solo@example.com", {}, record=new, link=False)])
        customers, _ = await pull_all(conn)
    assert results[0].ok, results[0]
    assert [c.email for c in customers].count("solo@example.com") == 1
    assert sandbox.app.state.requests[f"POST {BATCH}"] == 2


async def test_a_failed_members_page_is_read_again(sandbox: ServedApp) -> None:
    sandbox.app.state.faults.add(kind="drop", method="GET", path=MEMBERS)
    sandbox.app.state.faults.add(kind="status", status=503, method="GET", path=MEMBERS)
    async with connector(sandbox) as conn:
        customers, _ = await pull_all(conn)
    assert len(customers) == 4
    assert sandbox.app.state.requests[f"GET {MEMBERS}"] == 3


async def test_a_batch_job_is_polled_until_it_finishes() -> None:
    with serve(create_app(demo_store(), api_key=KEY, batch_delay_s=0.4)) as served:
        async with connector(served) as conn:
            (result,) = await conn.push(
                Entity.customers, [change("giulia.rossi@example.com", {"first_name": "Giulietta"})]
            )
        requests = served.app.state.requests
        assert result.ok and served.app.state.sandbox.member("giulia.rossi@example.com")["merge_fields"]["FNAME"] == (
            "Giulietta"
        )
        job = next(iter(served.app.state.sandbox.jobs))
        assert requests[f"POST {JOBS}"] == 1 and requests[f"GET {JOBS}/{job}"] >= 2
        assert requests[f"GET /batch-results/{job}.tar.gz"] == 1


@pytest.mark.parametrize("sync_tags", [False, True])
async def test_tags_go_by_the_tags_endpoint(sandbox: ServedApp, sync_tags: bool) -> None:
    """Batch subscribe and member PUT document no tags: they are written by ``POST .../tags``."""
    state = sandbox.app.state.sandbox
    new = Customer(email="tagged@example.com", email_marketing="subscribed", tags=("web", "promo"))
    changes = [
        change("giulia.rossi@example.com", {"tags": ("milano",)}, previous={"tags": ("vip",)}),
        change("tagged@example.com", {}, record=new, link=False),
    ]
    async with connector(sandbox, sync_tags=sync_tags) as conn:
        results = await conn.push(Entity.customers, changes)
    assert all(r.ok for r in results)
    giulia = [t["name"] for t in state.member("giulia.rossi@example.com")["tags"]]
    assert giulia == (["milano"] if sync_tags else ["vip", "milano"])
    assert sorted(t["name"] for t in state.member("tagged@example.com")["tags"]) == ["promo", "web"]
    assert sandbox.app.state.requests[f"POST {JOBS}"] == 1  # both members' tags, one job


@pytest.mark.parametrize(
    ("kind", "method", "path"),
    [
        ("status", "POST", JOBS),
        ("drop", "POST", JOBS),
        ("drop_after", "POST", JOBS),
        ("status", "GET", "/batch-results"),
    ],
)
async def test_faults_on_a_batch_job_are_retried_and_applied_once(
    sandbox: ServedApp, kind: str, method: str, path: str
) -> None:
    sandbox.app.state.faults.add(kind=kind, status=503, method=method, path=path)
    async with connector(sandbox) as conn:
        (result,) = await conn.push(
            Entity.customers,
            [change("marco.bianchi@example.com", {"loyalty_points": 99, "email_marketing": "unsubscribed"})],
        )
    marco = sandbox.app.state.sandbox.member("marco.bianchi@example.com")
    assert result.ok, result
    assert (marco["merge_fields"]["POINTS"], marco["status"]) == (99, "unsubscribed")
    assert sandbox.app.state.faults.injected[kind] == 1
