"""Share links clicked through in Chromium, on the real local engine and worker.

An owner shares v2 from the project page; a browser context with no session opens the link
on a 390 px phone: the starting view, then v2's contacts and columns, no form. A hand-made
POST and a write through the view's database connection fail. Revoke -> 410. A second link
expires -> 410, and the preview cleanup deletes its branch. Screenshots (phone 390 px,
desktop 1280 and 1920 px) go to test-artifacts/share/.
"""

from __future__ import annotations

import time
from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from checkpoints import services, tasks
from checkpoints.models import Preview, ShareLink
from checkpoints.services import sharing
from tests.web_fixtures import jobs_run_queued, project_demo, user_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-share-password-7"
TIMEOUT = 60_000
BANNER = "v2 shared by olu · read-only · expires"


@pytest.fixture
def demo(transactional_db):
    """A demo project at v2, made before the worker starts (jobs run here, in order)."""
    owner = user_make("olu", PASSWORD)
    project = project_demo(owner, versions=2)
    jobs_run_queued()
    return project


def _wait_until(check, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_share_flow(
    live_server, engine_cleanup, demo, task_worker, page: Page, browser, artifacts_dir
):
    shots = artifacts_dir / "share"
    shots.mkdir(exist_ok=True)
    project = demo

    # The owner shares v2 from the project page.
    page.goto(live_server.url + "/")
    page.get_by_label("Username").fill("olu")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.get_by_role("button", name="Share v2").click()
    dialog = page.locator("#share-dialog")
    expect(dialog.get_by_label("Expires after")).to_have_value("24")
    dialog.get_by_role("button", name="Create link").click()
    link_field = page.locator("#share-url")
    expect(link_field).to_be_visible()
    link = link_field.input_value()
    assert link.startswith(live_server.url + "/s/") and len(link.rsplit("/", 1)[1]) == 43
    dialog.get_by_role("button", name="Copy link").click()
    expect(page.locator("#share-copied")).to_have_text("Copied to the clipboard.")
    expect(page.locator("#shares")).to_contain_text("by olu")
    expect(page.locator("#shares")).to_contain_text("opened 0 times")
    page.screenshot(path=str(shots / "owner-dialog-1280.png"), full_page=True)

    # Someone without an account opens it on a phone.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.set_default_timeout(TIMEOUT)
    visitor = phone.new_page()
    first = visitor.goto(link)
    assert first.status == 200
    visitor.screenshot(path=str(shots / "starting-phone-390.png"))  # the progress view
    assert first.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in first.headers["x-robots-tag"]
    expect(visitor.locator(".shared-banner")).to_contain_text(BANNER)
    expect(visitor.locator("tr[data-contact]")).to_have_count(3, timeout=TIMEOUT)
    expect(visitor.locator("h2")).to_have_text("Contact book")
    headers = visitor.locator("table.contacts th")
    expect(headers).to_have_text(["Name", "Email", "Role", "Company"])
    expect(visitor.locator('td[data-label="Company"]').first).to_be_visible()
    assert visitor.locator("form, input, button, textarea, select").count() == 0
    assert visitor.locator("a").count() == 0
    assert visitor.locator('meta[name="robots"]').get_attribute("content").startswith("noindex")
    assert visitor.evaluate("document.documentElement.scrollWidth") <= 390
    assert phone.cookies() == []
    visitor.screenshot(path=str(shots / "shared-v2-phone-390.png"), full_page=True)
    for width, height in ((1280, 800), (1920, 1080)):
        wide = browser.new_context(viewport={"width": width, "height": height})
        shown = wide.new_page()
        shown.goto(link)
        expect(shown.locator("tr[data-contact]")).to_have_count(3)
        expect(shown.locator("table.contacts thead")).to_be_visible()
        shown.screenshot(path=str(shots / f"shared-v2-desktop-{width}.png"), full_page=True)
        wide.close()

    # A hand-made POST fails, and so does a write through the view's own connection.
    assert visitor.request.post(link, data={"name": "Eve"}).status in (403, 405)
    share = ShareLink.objects.get()
    engine = services.engine_for(project=project)
    uri = engine.readonly_connection_uri(project.engine_project_id, share.preview.branch_id)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO contacts (name, email) VALUES ('Eve', 'eve@example.com')")
    visitor.reload()
    expect(visitor.locator("tr[data-contact]")).to_have_count(3)

    # The owner sees it was opened, then revokes it: 410 at once.
    page.reload()
    expect(page.locator("#shares")).not_to_contain_text("opened 0 times")
    page.once("dialog", lambda confirm: confirm.accept())
    page.get_by_role("button", name="Revoke link to v2").click()
    expect(page.locator("#shares .share-row")).to_have_count(0)
    revoked = visitor.goto(link)
    assert revoked.status == 410
    expect(visitor.get_by_role("heading", name="This link has ended")).to_be_visible()
    visitor.screenshot(path=str(shots / "revoked-phone-390.png"), full_page=True)
    preview_id = share.preview_id
    _wait_until(lambda: Preview.objects.get(pk=preview_id).discarded_at is not None)

    # A second link expires: 410, and the cleanup deletes its preview branch.
    second = sharing.share_create(version=share.version, user=share.created_by, hours=1)
    visitor.goto(live_server.url + second.path)
    expect(visitor.locator("tr[data-contact]")).to_have_count(3, timeout=TIMEOUT)
    expiring = ShareLink.objects.get(pk=second.share.pk)
    ShareLink.objects.filter(pk=expiring.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert visitor.goto(live_server.url + second.path).status == 410
    tasks.previews_cleanup_expired()
    branch = Preview.objects.get(pk=expiring.preview_id).branch_id

    def branch_gone() -> bool:
        return branch not in {b.id for b in engine.branch_list(project.engine_project_id)}

    _wait_until(branch_gone)
    phone.close()
