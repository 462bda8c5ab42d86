"""The hubspot connector against its sandbox over loopback: pulls, pushes, limits, faults, auth."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.hubspot.sandbox import create_app
from hub.errors import AuthError
from hub.model.base import Entity
from hub.model.customers import Customer
from hub.plugins.contract import Change
from hub.sandbox.kit import ServedApp, serve
from hub.sandbox.seed import EPOCH, Catalogue, SeedCustomer, demo_store, synthetic
from hub.sync.drive import push_batched

TOKEN = "pat-eu1-SECRET-0123456789"
CONTACTS = "/crm/v3/objects/contacts"


@pytest.fixture
def sandbox() -> Iterator[ServedApp]:
    with serve(create_app(demo_store(), access_token=TOKEN)) as served:
        yield served


def connector(served: ServedApp, **settings: Any) -> HubSpotConnector:
    return HubSpotConnector("crm", HubSpotSettings(access_token=TOKEN, base_url=served.url, **settings))


async def pull_all(conn: HubSpotConnector, since: str | None = None) -> tuple[list[Customer], str | None]:
    customers: list[Customer] = []
    cursor = since
    async for page in conn.pull(Entity.customers, since=since):
        customers += [conn.mapping.to_canonical(r) for r in page.records]  # type: ignore[misc]
        cursor = page.cursor
    return customers, cursor


def change(
    key: str, values: dict[str, Any], *, record: Customer | None = None, contact_id: str | None = None
) -> Change:
    """A change for ``key``; ``contact_id`` is the contact a pull linked it to (none: a create)."""
    link = {"contact_id": contact_id} if contact_id else {}
    return Change(Entity.customers, key, "crm", values, {}, record, link, f"k-{key}")


def linked(served: ServedApp, email: str) -> str:
    """The id of the sandbox contact whose address ``email`` is (what a pull would have linked)."""
    return str(served.app.state.sandbox.contact(email)["id"])


async def test_full_pull_maps_every_contact(sandbox: ServedApp) -> None:
    async with connector(sandbox) as conn:
        customers, cursor = await pull_all(conn)
    by_email = {c.email: c for c in customers}
    assert set(by_email) == {c.email for c in demo_store().customers}
    assert by_email["luca.neri@example.com"].email_marketing == "unsubscribed"
    assert by_email["giulia.rossi@example.com"].loyalty_points == 1200
    assert by_email["anna.verdi@example.com"].email_marketing == "never"
    assert cursor == "2026-01-01T00:00:00.000Z"


async def test_incremental_pull_returns_only_changed_contacts(sandbox: ServedApp) -> None:
    async with connector(sandbox) as conn:
        _, cursor = await pull_all(conn)
        sandbox.app.state.sandbox.change_contact("anna.verdi@example.com", firstname="Annie")
        changed, newer = await pull_all(conn, since=cursor)
        assert [c.email for c in changed][-1] == "anna.verdi@example.com"
        assert changed[-1].first_name == "Annie"
        assert newer is not None and cursor is not None and newer > cursor
        again, last = await pull_all(conn, since=newer)
    # the cursor's own millisecond is read again on purpose; nothing older comes back
    assert [c.email for c in again] == ["anna.verdi@example.com"]
    assert last == newer
    assert sandbox.app.state.requests[f"POST {CONTACTS}/search"] == 2


def _crowded(n: int, same_ms: int) -> Catalogue:
    """``n`` customers, ``same_ms`` of them sharing each modification time."""
    people = [
        SeedCustomer(f"p{i:04d}@example.com", f"P{i}", updated_at=EPOCH + timedelta(seconds=i // same_ms))
        for i in range(n)
    ]
    return Catalogue(customers=people)


@pytest.mark.parametrize("same_ms", [1, 7])
async def test_search_walks_past_the_result_cap(same_ms: int) -> None:
    app = create_app(_crowded(65, same_ms), access_token=TOKEN, search_cap=30, search_per_s=50)
    with serve(app) as served:
        async with connector(served, search_result_cap=30, search_page_size=15, search_rate_per_s=5) as conn:
            customers, cursor = await pull_all(conn, since="2025-12-31T00:00:00.000Z")
    emails = [c.email for c in customers]
    assert sorted(emails) == [f"p{i:04d}@example.com" for i in range(65)]
    assert len(emails) == len(set(emails))
    assert cursor == (EPOCH + timedelta(seconds=64 // same_ms)).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


async def test_batch_upsert_reports_partial_failures_per_contact(sandbox: ServedApp) -> None:
    state = sandbox.app.state.sandbox
    state.rejects["marco.bianchi@example.com"] = ("CONTACT_LOCKED", "This contact is locked by a workflow")
    new = Customer(email="new.person@example.com", first_name="Nuova", email_marketing="subscribed", loyalty_points=3)
    changes = [
        change(
            "giulia.rossi@example.com",
            {"first_name": "Giulietta", "email_marketing": "unsubscribed"},
            contact_id=linked(sandbox, "giulia.rossi@example.com"),
        ),
        change(
            "marco.bianchi@example.com",
            {"last_name": "Bianco"},
            contact_id=linked(sandbox, "marco.bianchi@example.com"),
        ),
        change("bad@domain.c", {"first_name": "X"}),
        change("new.person@example.com", {"first_name": "Nuova"}, record=new),
    ]
    async with connector(sandbox) as conn:
        results = await conn.push(Entity.customers, changes)
    assert [r.key for r in results] == [c.key for c in changes]
    ok = {r.key: r for r in results}
    assert ok["giulia.rossi@example.com"].ok and ok["new.person@example.com"].ok
    assert ok["new.person@example.com"].link and ok["new.person@example.com"].link["contact_id"]
    assert (ok["marco.bianchi@example.com"].code, ok["marco.bianchi@example.com"].message) == (
        "CONTACT_LOCKED",
        "This contact is locked by a workflow",
    )
    assert not ok["bad@domain.c"].ok and ok["bad@domain.c"].code == "INVALID_EMAIL"
    assert not ok["bad@domain.c"].retriable
    giulia = state.contact("giulia.rossi@example.com")["properties"]
    assert (giulia["firstname"], giulia["email_marketing"]) == ("Giulietta", "unsubscribed")
    created = state.contact("new.person@example.com")["properties"]
    assert (created["firstname"], created["email_marketing"], created["loyalty_points"]) == ("Nuova", "subscribed", "3")
    assert state.contact("marco.bianchi@example.com")["properties"]["lastname"] == "Bianchi"
    assert sandbox.app.state.requests[f"POST {CONTACTS}/batch/upsert"] == 1


async def test_an_upsert_through_a_secondary_email_is_confirmed_and_never_retried(sandbox: ServedApp) -> None:
    """HubSpot answers with the contact the address belongs to, not the address sent, and no e-mail."""
    state = sandbox.app.state.sandbox
    giulia = state.add_secondary_email("giulia.rossi@example.com", "g.rossi@example.org")
    alias = Customer(email="g.rossi@example.org", first_name="Giulietta")
    changes = [
        change("g.rossi@example.org", {"first_name": "Giulietta"}, record=alias),
        change("fresh@example.com", {}, record=Customer(email="fresh@example.com", first_name="Fresh")),
        change(
            "marco.bianchi@example.com",
            {"last_name": "Bianco"},
            contact_id=linked(sandbox, "marco.bianchi@example.com"),
        ),
    ]
    contacts = len(state.contacts)
    async with connector(sandbox) as conn:
        results = await conn.push(Entity.customers, changes)
    assert [(r.key, r.ok, r.retriable) for r in results] == [(c.key, True, False) for c in changes]
    assert results[2].link == {"contact_id": linked(sandbox, "marco.bianchi@example.com")}
    assert giulia["properties"]["firstname"] == "Giulietta" and state.contact("g.rossi@example.org") is None
    assert len(state.contacts) == contacts + 1  # only fresh@ was created
    assert sandbox.app.state.requests[f"POST {CONTACTS}/batch/upsert"] == 1


async def test_pushes_are_cut_into_batches_of_100() -> None:
    with serve(create_app(synthetic(0, customers=150), access_token=TOKEN, limit_per_10s=1000)) as served:
        changes = [
            change(
                f"customer{i:07d}@example.com",
                {"loyalty_points": i},
                contact_id=linked(served, f"customer{i:07d}@example.com"),
            )
            for i in range(150)
        ]
        async with connector(served) as conn:
            results = await push_batched(conn, Entity.customers, changes)  # the engine's slicing
            with pytest.raises(ValueError, match="at most 100"):
                await conn.push(Entity.customers, changes)  # more than one upsert carries: refused unsent
        assert len(results) == 150 and all(r.ok for r in results)
        assert served.app.state.requests[f"POST {CONTACTS}/batch/upsert"] == 2
        assert served.app.state.sandbox.contact("customer0000149@example.com")["properties"]["loyalty_points"] == "149"


async def test_rate_limit_headers_are_honoured_before_any_429() -> None:
    app = create_app(synthetic(0, customers=40), access_token=TOKEN, limit_per_10s=4, interval_ms=400)
    with serve(app) as served:
        async with connector(served, page_size=5) as conn:
            started = time.monotonic()
            customers, _ = await pull_all(conn)
            elapsed = time.monotonic() - started
            stats = conn.transport_stats
        assert len(customers) == 40
        assert served.app.state.sandbox.throttled == 0
        assert stats is not None and stats.throttled == 0 and stats.requests == 8
        assert elapsed >= 0.4  # eight requests cannot fit one window of four: the limiter waited


async def test_429_is_retried_after_the_time_hubspot_asks(sandbox: ServedApp) -> None:
    body = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING", "correlationId": "c-1"}  # fmt: skip
    sandbox.app.state.faults.add(status=429, body=body, headers={"Retry-After": "1"}, method="GET", path=CONTACTS)
    async with connector(sandbox) as conn:
        started = time.monotonic()
        customers, _ = await pull_all(conn)
        stats = conn.transport_stats
    assert len(customers) == 4
    assert time.monotonic() - started >= 0.9
    assert stats is not None and stats.throttled == 1 and stats.retries == 1


async def test_wrong_token_is_one_auth_error_naming_connector_and_setting(sandbox: ServedApp) -> None:
    conn = HubSpotConnector("crm", HubSpotSettings(access_token="pat-eu1-wrong-000000000", base_url=sandbox.url))
    async with conn:
        with pytest.raises(AuthError) as caught:
            await pull_all(conn)
    message = str(caught.value)
    assert "[crm]" in message and "access_token" in message
    assert "pat-eu1-wrong" not in message
    assert sandbox.app.state.requests["total"] == 1


@pytest.mark.parametrize("kind", ["status", "drop", "drop_after"])
async def test_faults_on_upsert_are_retried_and_applied_once(sandbox: ServedApp, kind: str) -> None:
    sandbox.app.state.faults.add(kind=kind, status=503, method="POST", path=f"{CONTACTS}/batch/upsert")
    new = Customer(email="solo@example.com", first_name="Solo")
    async with connector(sandbox) as conn:
        results = await conn.push(Entity.customers, [change("solo@example.com", {}, record=new)])
        customers, _ = await pull_all(conn)
    assert results[0].ok
    assert [c.email for c in customers].count("solo@example.com") == 1
    assert sandbox.app.state.requests[f"POST {CONTACTS}/batch/upsert"] == 2


async def test_a_dropped_list_page_is_read_again(sandbox: ServedApp) -> None:
    sandbox.app.state.faults.add(kind="drop", method="GET", path=CONTACTS)
    sandbox.app.state.faults.add(kind="status", status=502, method="GET", path=CONTACTS)
    async with connector(sandbox) as conn:
        customers, _ = await pull_all(conn)
    assert len(customers) == 4
    assert sandbox.app.state.requests[f"GET {CONTACTS}"] == 3
