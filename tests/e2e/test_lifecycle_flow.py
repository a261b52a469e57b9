"""Version lifecycle clicked through in Chromium, on the real local engine and worker.

Demo to v3, add a contact, rename v2, compare v1 -> v3, read what rolling back to v1
drops, roll back, delete v2, roll back to v3, then Clean up: the dry run lists the two
`(old)` branches the rollbacks left (kept for cleanup by the setting), Clean up now
removes them. Screenshots go to test-artifacts/lifecycle/.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-lifecycle-password-7"
JOB_TIMEOUT = 60_000


def current_chip(page: Page):
    return page.locator('.timeline [aria-current="true"]')


def test_lifecycle_click_through(
    live_server, engine_cleanup, task_worker, page: Page, artifacts_dir, settings
):
    settings.CHECKPOINTS_ROLLBACK_KEEP_OLD_BRANCH = True
    shots = artifacts_dir / "lifecycle"
    shots.mkdir(exist_ok=True)

    def shot(name: str) -> None:
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    get_user_model().objects.create_user("lin", password=PASSWORD)
    page.goto(live_server.url + "/")
    page.get_by_label("Username").fill("lin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Start demo").click()
    expect(current_chip(page)).to_have_text("v0", timeout=JOB_TIMEOUT)
    for number in (1, 2, 3):
        page.get_by_role("button", name="Create next version").click()
        expect(current_chip(page)).to_have_text(f"v{number}", timeout=JOB_TIMEOUT)
    page.get_by_label("Name").fill("Katherine Johnson")
    page.get_by_label("Email").fill("katherine@example.com")
    page.get_by_role("button", name="Add contact").click()
    expect(page.locator('tr[data-contact="katherine@example.com"]')).to_be_visible()

    # Rename v2 inline.
    page.get_by_role("button", name="Rename v2").click()
    field = page.get_by_label("New name of v2")
    expect(field).to_be_focused()
    field.fill("Roles and companies")
    shot("01-rename-v2-form")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator("#version-name-2")).to_contain_text("Roles and companies")
    shot("02-renamed-v2")

    # What changed from v1 to v3, and what rolling back to v1 would drop.
    page.locator("#diff-from").select_option("1")
    page.locator("#diff-to").select_option("3")
    page.get_by_role("button", name="Compare").click()
    diff = page.locator("#version-diff")
    expect(diff).to_contain_text("v1 → v3 adds columns role, company, tags")
    expect(page.locator("#version-1 .diff-note")).to_contain_text(
        "rolling back drops columns role, company, tags"
    )
    diff.scroll_into_view_if_needed()
    shot("03-diff-v1-v3")
    page.locator("#version-1").get_by_role("button", name="Roll back").click()
    confirm = page.locator("#confirm")
    expect(confirm).to_contain_text(
        "Rolling back to v1 drops columns role, company, tags and 1 contact."
    )
    shot("04-rollback-confirm-with-diff")
    confirm.get_by_role("button", name="Roll back to v1").click()
    expect(current_chip(page)).to_have_text("v1", timeout=JOB_TIMEOUT)

    # Delete v2: it stays in the history, marked deleted, without Roll back or Preview.
    page.get_by_role("button", name="Delete v2").click()
    expect(page.locator("#confirm")).to_contain_text("stays in the history")
    page.locator("#confirm").get_by_role("button", name="Delete v2").click()
    deleted = page.locator(".version-row.is-deleted")
    expect(deleted).to_contain_text("deleted", timeout=JOB_TIMEOUT)
    expect(deleted).to_contain_text("by lin")
    expect(deleted.get_by_role("button")).to_have_count(0)
    shot("05-v2-deleted")

    # Back to v3: the live database matched v1, so its branch is left behind, old. (The
    # first rollback's live state became the kept version's snapshot: no branch left.)
    page.locator("#version-3").get_by_role("button", name="Roll back").click()
    page.locator("#confirm").get_by_role("button", name="Move to v3").click()
    expect(current_chip(page)).to_have_text("v3", timeout=JOB_TIMEOUT)

    # Clean up: the dry run lists the orphan, then it goes.
    holdings = page.locator("#holdings")
    expect(holdings.locator("tr[data-branch]")).to_have_count(2)
    holdings.scroll_into_view_if_needed()
    shot("06-holdings-before")
    page.get_by_role("button", name="Clean up…").click()
    plan = page.locator("#cleanup-plan")
    expect(plan).to_contain_text("Cleanup would remove 1 item")
    expect(plan).to_contain_text("main (old)")
    expect(plan).to_contain_text("verified rollback to v3")
    plan.scroll_into_view_if_needed()
    shot("07-cleanup-dry-run")
    page.get_by_role("button", name="Clean up now").click()
    expect(page.locator("#holdings tr[data-branch]")).to_have_count(1, timeout=JOB_TIMEOUT)
    expect(page.locator('#holdings tr[data-branch="main"]')).to_contain_text("active branch")
    expect(page.locator("#last-cleanup")).to_contain_text("by lin: removed 1 item")
    page.locator("#holdings").scroll_into_view_if_needed()
    shot("08-after-cleanup")
    page.get_by_role("tab", name="Activity").click()
    expect(page.locator("#tab-panel")).to_contain_text("Removed branch main (old")
    shot("09-activity")
