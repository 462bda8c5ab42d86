"""The web console in a real browser, on a daemon serving a seeded store over loopback: its pages list
the jobs, runs and mismatches (escaped, secrets masked); the filters and a key's history work; "run
now" is refused without the admin token and runs the job with it; a forged POST is refused."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import ADMIN_TOKEN, Hub


async def open_console(browser: Browser, hub: Hub, path: str = "/") -> Page:
    page = await browser.new_page()
    await page.goto(hub.base + path)
    return page


async def test_the_jobs_page_shows_each_job_with_its_schedule_last_and_next_run(hub: Hub, browser: Browser) -> None:
    page = await open_console(browser, hub)
    assert page.url == f"{hub.base}/console/"  # / leads to the console
    rows = page.locator("tbody tr")
    await expect(rows).to_have_count(2)
    stock = rows.filter(has_text="stock").first
    await expect(stock).to_contain_text("every 1h")
    await expect(stock).to_contain_text("failed")  # the store's last run: the daemon has not run it yet
    await expect(stock).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T"))  # hub.timezone
    await expect(stock.locator("td").nth(6)).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d"))  # next run
    await expect(rows.filter(has_text="prices").first).to_contain_text("0 6 * * *")
    assert ADMIN_TOKEN not in await page.content()  # the run's error named it: masked


async def test_the_runs_page_lists_counts_and_masked_errors(hub: Hub, browser: Browser) -> None:
    page = await open_console(browser, hub, "/console/runs")
    rows = page.locator("tbody tr")
    await expect(rows).to_have_count(2)
    failed = rows.first
    await expect(failed).to_contain_text("failed")
    await expect(failed).to_contain_text("wms 40, shop 40")
    await expect(failed).to_contain_text("401 Unauthorized for token")
    await expect(failed).to_contain_text("negative stock")
    assert ADMIN_TOKEN not in await page.content()


async def test_mismatches_are_listed_escaped_and_filtered(hub: Hub, browser: Browser) -> None:
    page = await open_console(browser, hub, "/console/mismatches")
    rows = page.locator("tbody tr")
    await expect(rows).to_have_count(5)  # open ones only: the resolved sighting is history
    await expect(page.locator("tbody")).to_contain_text("<script>alert(1)</script>")  # shown as text
    await expect(page.locator("tbody b")).to_have_count(0)  # the key's markup was not rendered
    await page.select_option("select[name=connector]", "web")
    await page.click("text=Filter")
    await expect(rows).to_have_count(2)
    await expect(page.locator("select[name=connector]")).to_have_value("web")
    await page.fill("input[name=q]", "cap-wool")
    await page.click("text=Filter")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("CAP-WOOL@main")
    await page.select_option("select[name=connector]", "")
    await page.fill("input[name=q]", "")
    await page.select_option("select[name=job]", "prices")
    await page.click("text=Filter")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("19.90")
    await page.fill("input[name=q]", "nothing-like-this")
    await page.click("text=Filter")
    await expect(rows.first).to_contain_text("No open mismatch matches these filters")


async def test_a_keys_history_shows_its_resolved_sightings_and_its_runs(hub: Hub, browser: Browser) -> None:
    page = await open_console(browser, hub, "/console/mismatches?entity=stock")
    await page.locator("a", has_text="TEE-RED-M@main").first.click()
    await expect(page.locator("h1")).to_contain_text("TEE-RED-M@main")
    history = page.locator("table").first.locator("tbody tr")
    await expect(history).to_have_count(2)  # shop (opened, resolved, open again) and web
    await expect(page.locator("table").first).to_contain_text("open")
    runs = page.locator("table").nth(1).locator("tbody tr")
    await expect(runs).to_have_count(2)


async def test_quarantine_connectors_and_reservations_pages(hub: Hub, browser: Browser) -> None:
    page = await open_console(browser, hub, "/console/quarantine")
    await expect(page.locator("tbody")).to_contain_text("'lots' is not a number")
    await page.click("nav >> text=Connectors")
    web = page.locator("tbody tr", has_text="web").first
    await expect(web).to_contain_text("did not land")
    await expect(web.locator("td").nth(6)).to_have_text("4")  # throttled in its last run
    await expect(page.locator("tbody tr", has_text="shop").first).to_contain_text("landed")
    assert "shop.csv" not in await page.locator("main").inner_text()  # settings are never shown
    await page.click("nav >> text=Reservations")
    await expect(page.locator("tbody")).to_contain_text("Nothing reserved")


async def test_run_now_is_refused_without_the_admin_token(hub: Hub, browser: Browser) -> None:
    page = await open_console(browser, hub)
    button = page.locator("tbody tr", has_text="stock").first.get_by_role("button", name="Run now")
    await expect(button).to_be_disabled()
    await page.fill("input[name=token]", "not-the-admin-token")
    await page.click("text=Sign in")
    await expect(page.locator("[role=alert]")).to_have_text("that is not the admin token")
    # the form posted by hand, with the browser's CSRF cookie and token but no session
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    answer = await page.request.post(
        f"{hub.base}/console/jobs/stock/run", form={"csrf": csrf or ""}, headers={"Origin": hub.base}
    )
    assert answer.status == 401
    assert "sign in first" in await answer.text()
    assert await hub.ran(1, within=0.3) == []


async def test_run_now_with_the_admin_token_runs_the_job(hub: Hub, browser: Browser) -> None:
    page = await open_console(browser, hub)
    await page.fill("input[name=token]", ADMIN_TOKEN)
    await page.click("text=Sign in")
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert cookies["omnihub_admin"]["sameSite"] == "Strict" and cookies["omnihub_admin"]["httpOnly"]
    assert cookies["omnihub_csrf"]["sameSite"] == "Strict"
    await page.locator("tbody tr", has_text="stock").first.get_by_role("button", name="Run now").click()
    await expect(page.locator("[role=status]")).to_have_text("run of stock requested")
    assert await hub.ran(1) == ["stock"]


async def test_a_forged_post_is_refused_and_runs_nothing(hub: Hub, browser: Browser) -> None:
    page = await open_console(browser, hub)
    await page.fill("input[name=token]", ADMIN_TOKEN)
    await page.click("text=Sign in")
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    csrf = cookies["omnihub_csrf"]
    url = f"{hub.base}/console/jobs/stock/run"
    async with httpx.AsyncClient(cookies=cookies, timeout=5) as client:
        # another site's form: the session cookie rides along (were SameSite ignored), no CSRF token
        forged = await client.post(url, data={}, headers={"Origin": "https://evil.example"})
        assert forged.status_code == 403
        assert "CSRF" in forged.text
        # even the right token, posted from another origin, is refused
        elsewhere = await client.post(url, data={"csrf": csrf}, headers={"Origin": "https://evil.example"})
        assert elsewhere.status_code == 403
        assert "Origin" in elsewhere.text
        # and a GET runs nothing
        assert (await client.get(url)).status_code == 405
    assert await hub.ran(1, within=0.3) == []
