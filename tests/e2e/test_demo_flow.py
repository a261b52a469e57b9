"""The demo clicked through in Chromium as a new user, on each engine: the local engine, and
the neon engine over real HTTP against the Neon-API emulator (itself backed by a local
engine), so the app cannot tell the two apart.

v0 -> v1 -> v2 -> v3, add a contact, roll back to v1, preview v3 while v1 is live,
discard the preview, roll back to v3. A screenshot of each step goes to test-artifacts/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from tests.neon_contract import API_KEY, shared_emulator

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-demo-password-42"
JOB_TIMEOUT = 60_000


def current_chip(page: Page):
    return page.locator('.timeline [aria-current="true"]')


def contacts_headers(page: Page) -> list[str]:
    return [t.strip() for t in page.locator("#contacts-app table thead th").all_text_contents()]


@pytest.fixture(params=["local", "neon"])
def demo_engine(request, settings) -> Iterator[str]:
    """The engine new projects use: settings as an operator would set them."""
    from checkpoints.engines import reset_engines

    if request.param == "neon":
        emulator = shared_emulator(request)
        settings.CHECKPOINTS_ENGINE = "neon"
        settings.NEON_API_KEY = API_KEY
        settings.NEON_API_URL = emulator.url
    else:
        settings.CHECKPOINTS_ENGINE = "local"
    reset_engines()
    yield request.param
    reset_engines()


def test_demo_click_through(
    demo_engine, live_server, engine_cleanup, task_worker, page: Page, artifacts_dir, capsys
):
    shots = artifacts_dir / ("demo" if demo_engine == "local" else f"demo-{demo_engine}")
    shots.mkdir(exist_ok=True)

    def shot(name: str) -> None:
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    get_user_model().objects.create_user("newcomer", password=PASSWORD)

    # Log in as a new user.
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    shot("01-login")
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="No projects yet")).to_be_visible()
    shot("02-home-empty")

    # Start demo: the engine project and v0.
    page.get_by_role("button", name="Start demo").click()
    expect(current_chip(page)).to_have_text("v0", timeout=JOB_TIMEOUT)
    expect(page.get_by_role("heading", name="Empty app")).to_be_visible()
    shot("03-v0")

    # Create next version, three times.
    for number in (1, 2, 3):
        page.get_by_role("button", name="Create next version").click()
        expect(page.locator("#job-status")).to_be_visible()
        if number == 1:
            shot("04-creating-v1-progress")
        expect(current_chip(page)).to_have_text(f"v{number}", timeout=JOB_TIMEOUT)
        expect(page.locator("#contacts-app")).to_contain_text("Grace Hopper")
        shot(f"05-v{number}")
    assert contacts_headers(page)[:5] == ["Name", "Email", "Role", "Company", "Tags"]
    expect(page.get_by_role("button", name="Create next version")).to_have_count(0)

    # Add a contact at v3.
    page.get_by_label("Name", exact=True).fill("Katherine Johnson")
    page.get_by_label("Email").fill("katherine@example.com")
    page.get_by_label("Role").fill("Mathematician")
    page.get_by_label("Company").fill("NASA")
    page.get_by_label("Tags").fill("orbits, nasa, Orbits")
    page.get_by_role("button", name="Add contact").click()
    row = page.locator('tr[data-contact="katherine@example.com"]')
    expect(row).to_be_visible()
    expect(row.locator(".tag")).to_have_text(["orbits", "nasa"])
    shot("06-v3-contact-added")
    connection = page.locator("#connection-string").inner_text()
    assert "********" in connection

    # Roll back to v1, with the confirmation step; time it.
    page.locator("#version-1").get_by_role("button", name="Roll back").click()
    confirm = page.locator("#confirm")
    expect(confirm).to_contain_text("Changes made after v1")
    expect(confirm.get_by_role("button", name="Roll back to v1")).to_be_focused()
    shot("07-rollback-confirm")
    started = time.monotonic()
    confirm.get_by_role("button", name="Roll back to v1").click()
    expect(current_chip(page)).to_have_text("v1", timeout=JOB_TIMEOUT)
    rollback_seconds = time.monotonic() - started
    expect(page.locator("#job-result")).to_contain_text("Changes made after v1 are gone")
    expect(page.locator("#contacts-app")).to_contain_text("Ada Lovelace")
    expect(row).to_have_count(0)
    assert contacts_headers(page)[:2] == ["Name", "Email"]
    assert "Role" not in contacts_headers(page) and "Tags" not in contacts_headers(page)
    assert page.locator("#connection-string").inner_text() == connection
    expect(page.locator("#job-result")).to_contain_text(connection)
    shot("08-rolled-back-to-v1")

    # Preview v3 while v1 is live.
    page.locator("#version-3").get_by_role("button", name="Preview").click()
    page.wait_for_url(re.compile(r"/previews/\d+/$"), timeout=JOB_TIMEOUT)
    expect(page.locator(".banner-preview")).to_contain_text("Preview of v3")
    expect(page.locator(".banner-preview")).to_contain_text("the live database (v1) is untouched")
    # Side by side: the live app (v1) and v3's, each with its own columns.
    live_pane, version_pane = page.locator("#pane-live"), page.locator("#pane-version")
    expect(live_pane).to_contain_text("Live app (v1)")
    version_headers = version_pane.locator("thead th").all_text_contents()
    assert any(h.startswith("Tags") for h in version_headers), version_headers
    assert not any(h.startswith("Tags") for h in live_pane.locator("thead th").all_text_contents())
    expect(page.locator('tr[data-contact="katherine@example.com"]')).to_have_count(0)
    shot("09-preview-v3")
    preview_url = page.url

    page.get_by_role("link", name=re.compile("Contact book")).click()
    expect(current_chip(page)).to_have_text("v1")
    assert "Tags" not in contacts_headers(page)
    shot("10-live-still-v1")

    # Discard the preview (from its page).
    page.goto(preview_url)
    page.get_by_role("button", name="Discard preview").click()
    expect(page.locator("#job-result")).to_contain_text("Preview discarded", timeout=JOB_TIMEOUT)
    expect(page.get_by_text("Open previews")).to_have_count(0)
    shot("11-preview-discarded")

    # Roll back to v3.
    page.locator("#version-3").get_by_role("button", name="Roll back").click()
    page.locator("#confirm").get_by_role("button", name="Move to v3").click()
    expect(current_chip(page)).to_have_text("v3", timeout=JOB_TIMEOUT)
    assert "Tags" in contacts_headers(page)
    assert page.locator("#connection-string").inner_text() == connection
    shot("12-rolled-back-to-v3")

    # The other tabs.
    for tab, name in (
        ("App DB schema", "13-tab-schema"),
        ("Meta DB", "14-tab-meta"),
        ("Activity", "15-tab-activity"),
    ):
        page.get_by_role("tab", name=tab).click()
        expect(page.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true")
        shot(name)
    expect(page.locator("#tab-panel")).to_contain_text("operations:")

    # Phone width and dark mode.
    page.get_by_role("tab", name="App", exact=True).click()
    page.set_viewport_size({"width": 390, "height": 844})
    shot("16-phone")
    too_wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > 391)
            .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))
            .slice(0, 10)"""
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, too_wide
    page.locator("#theme-toggle").click()
    shot("17-phone-dark")
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"

    with capsys.disabled():
        print(f"\nrollback click-to-done on the {demo_engine} engine: {rollback_seconds:.2f} s")
    (artifacts_dir / f"rollback-timing-{demo_engine}.txt").write_text(f"{rollback_seconds:.3f}\n")
