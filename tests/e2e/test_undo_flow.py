"""Undo rollback in Chromium, on each engine (local, and neon against the emulator): at v3
add a contact, roll back to v1 (the contact and the tags column are gone), Undo rollback
(both are back), with the connection string unchanged throughout. Screenshots of the
banners go to test-artifacts/undo*/."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from tests.e2e.test_demo_flow import (
    JOB_TIMEOUT,
    PASSWORD,
    contacts_headers,
    current_chip,
    demo_engine,  # noqa: F401 - the engine fixture, parametrised local/neon
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_undo_rollback_brings_the_contact_and_column_back(
    demo_engine,  # noqa: F811
    live_server,
    engine_cleanup,
    task_worker,
    page: Page,
    artifacts_dir,
    capsys,
):
    shots = artifacts_dir / ("undo" if demo_engine == "local" else f"undo-{demo_engine}")
    shots.mkdir(exist_ok=True)
    get_user_model().objects.create_user("undoer", password=PASSWORD)
    page.goto(live_server.url + "/")
    page.get_by_label("Username").fill("undoer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Start demo").click()
    expect(current_chip(page)).to_have_text("v0", timeout=JOB_TIMEOUT)
    for number in (1, 2, 3):
        page.get_by_role("button", name="Create next version").click()
        expect(current_chip(page)).to_have_text(f"v{number}", timeout=JOB_TIMEOUT)

    page.get_by_label("Name", exact=True).fill("Katherine Johnson")
    page.get_by_label("Email").fill("katherine@example.com")
    page.get_by_label("Tags").fill("orbits")
    page.get_by_role("button", name="Add contact").click()
    row = page.locator('tr[data-contact="katherine@example.com"]')
    expect(row).to_be_visible()
    connection = page.locator("#connection-string").inner_text()

    page.locator("#version-1").get_by_role("button", name="Roll back").click()
    confirm = page.locator("#confirm")
    expect(confirm).to_contain_text("1 contact")  # compared with the live database
    expect(confirm).to_contain_text("kept first as an automatic version")
    confirm.get_by_role("button", name="Roll back to v1").click()
    expect(current_chip(page)).to_have_text("v1", timeout=JOB_TIMEOUT)
    result = page.locator("#job-result")
    expect(result).to_contain_text("Rolled back from v3 to v1")
    expect(result).to_contain_text("kept as v4")
    expect(row).to_have_count(0)
    assert "Tags" not in contacts_headers(page)
    expect(page.locator("#version-4 .badge-automatic")).to_have_text("automatic")
    expect(page.locator(".timeline .chip-automatic")).to_have_text("v4")
    result.screenshot(path=str(shots / "01-rollback-banner.png"))
    page.screenshot(path=str(shots / "02-rolled-back.png"), full_page=True)

    result.get_by_role("button", name="Undo rollback").click()
    confirm = page.locator("#confirm")
    expect(confirm).to_contain_text("Undoing the rollback")
    expect(confirm).to_contain_text("tags")
    page.screenshot(path=str(shots / "03-undo-confirm.png"), full_page=True)
    started = time.monotonic()
    confirm.get_by_role("button", name="Undo rollback").click()
    expect(current_chip(page)).to_have_text("v4", timeout=JOB_TIMEOUT)
    undo_seconds = time.monotonic() - started
    expect(page.locator("#job-result")).to_contain_text("Rollback undone (v1 → v4)")
    expect(row).to_be_visible()
    expect(row.locator(".tag")).to_have_text(["orbits"])
    assert "Tags" in contacts_headers(page)
    assert page.locator("#connection-string").inner_text() == connection
    page.locator("#job-result").screenshot(path=str(shots / "04-undo-banner.png"))
    # Still v3's step count: the demo has no next step (automatic versions are no step).
    expect(page.get_by_role("button", name="Create next version")).to_have_count(0)

    with capsys.disabled():
        print(f"\nundo click-to-done on the {demo_engine} engine: {undo_seconds:.2f} s")
