"""The demo in front of a room, in Chromium on the real local engine and worker (issue 33).

- A visitor without an account opens a share link while the owner has "Undo rollback" on
  screen: the owner's result, buttons and Undo stay exactly as they were, and nothing on
  the project is running or cancellable (the link was prepared when it was made).
- Present mode at 1280x720 and 1920x1080: every action of the demo (Create next version,
  each version's Roll back / Preview / Share…, Undo, the App / Meta DB / App DB tabs, the
  confirmation) is inside the viewport, and the page does not scroll.
- Preview: the live app and the version's app side by side (stacked on a phone), what
  differs marked, the preview's own connection string, Discard and Roll back at hand.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from checkpoints import services
from checkpoints.models import Job
from tests.web_fixtures import jobs_run_queued, project_demo, user_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-room-password-33"
TIMEOUT = 60_000
SIZES = ((1280, 720), (1920, 1080))


def _log_in(page: Page, base: str, username: str) -> None:
    page.goto(base + "/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


@pytest.fixture
def rolled_back(transactional_db):
    """v0..v3, then rolled back to v1 (jobs run here, before the worker starts)."""
    owner = user_make("pia", PASSWORD)
    project = project_demo(owner, versions=3)
    services.version_rollback(project=project, version=project.versions.get(number=1), user=owner)
    jobs_run_queued()
    project.refresh_from_db()
    return project


def _owner_state(page: Page) -> dict:
    region = page.locator("#project")
    return {
        "result": page.locator("#job-result").inner_text(),
        # Every button and its state (the storage and events cards aside: they load on
        # their own, after the page).
        "buttons": region.locator("button").evaluate_all(
            "els => els.filter(b => !b.closest('#lifecycle') && !b.closest('#events'))"
            ".map(b => (b.getAttribute('aria-label') || b.textContent.trim())"
            " + (b.disabled ? ' (disabled)' : ''))"
        ),
    }


def test_a_visitor_never_takes_the_owners_page(
    live_server, engine_cleanup, rolled_back, task_worker, page: Page, browser, settings
):
    settings.CHECKPOINTS_ACTION_WAIT_SECONDS = 0.5  # buttons answer with their job's outcome
    project = rolled_back
    _log_in(page, live_server.url, "pia")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    result = page.locator("#job-result")
    expect(result).to_contain_text("Rolled back from v3 to v1")
    undo = result.get_by_role("button", name="Undo rollback")
    expect(undo).to_be_enabled()
    expect(page.locator(".timeline-undo button")).to_contain_text("back to v3")

    # The owner shares v3 with Undo on screen: the dialog says the view is ready.
    page.get_by_role("button", name="Share v3").click()
    page.locator("#share-dialog").get_by_role("button", name="Create link").click()
    expect(page.locator("#share-ready")).to_contain_text("runs nothing on this project")
    link = page.locator("#share-url").input_value()
    page.locator("#share-dialog").get_by_role("link", name="Done").click()
    expect(undo).to_be_enabled()
    before = _owner_state(page)
    jobs_before = Job.objects.filter(project=project).count()

    # Someone without an account opens it, twice.
    visitor_context = browser.new_context(viewport={"width": 1280, "height": 800})
    visitor = visitor_context.new_page()
    for _ in range(2):
        assert visitor.goto(link).status == 200
        expect(visitor.locator("tr[data-contact]")).to_have_count(3)
        expect(visitor.locator(".shared-banner")).to_contain_text(
            f"{project.name} · v3 shared by pia"
        )
        expect(visitor.locator(".tag").first).to_be_visible()

    # Nothing ran on the project: no new job, none unfinished (nothing to cancel).
    assert Job.objects.filter(project=project).count() == jobs_before
    assert not Job.objects.filter(project=project, state__in=Job.UNFINISHED).exists()
    # The owner's page, as it stands and reloaded: the same result, buttons and Undo.
    assert _owner_state(page) == before
    page.reload()
    assert _owner_state(page) == before
    expect(result.get_by_role("button", name="Undo rollback")).to_be_enabled()
    expect(page.locator("#job-status")).to_have_count(0)
    expect(page.locator("#job-cancel")).to_have_count(0)
    expect(page.locator("#shares")).to_contain_text("opened 2 times")
    visitor_context.close()


def _inside(page: Page, locator, what: str) -> None:
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    box = locator.bounding_box()
    assert box is not None, f"{what}: not shown"
    assert box["x"] >= 0 and box["y"] >= 0, f"{what}: {box}"
    assert box["x"] + box["width"] <= width + 0.5, f"{what}: {box} in {width}x{height}"
    assert box["y"] + box["height"] <= height + 0.5, f"{what}: {box} in {width}x{height}"


def _demo_actions_fit(page: Page, labels: list[str]) -> None:
    for label in labels:
        row = page.locator(f"#version-{label[1:]}")
        for name in ("Roll back", "Preview", "Share"):
            _inside(page, row.get_by_role("button", name=name), f"{name} {label}")
        _inside(page, row.locator(".version-prompt"), f"prompt of {label}")
    for tab in ("App", "Meta DB", "App DB schema"):
        _inside(page, page.get_by_role("tab", name=tab, exact=True), f"tab {tab}")
    _inside(page, page.locator("#contacts-app table"), "the app")
    scroll = page.evaluate("document.scrollingElement.scrollHeight - window.innerHeight")
    assert scroll <= 1, f"the page scrolls by {scroll} px"


@pytest.fixture
def at_v2(transactional_db):
    """v0..v2 (jobs run here, before the worker starts)."""
    return project_demo(user_make("pia", PASSWORD), versions=2)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_present_mode_has_every_demo_action_in_view(
    live_server, engine_cleanup, at_v2, task_worker, browser, size, artifacts_dir
):
    width, height = size
    project = at_v2
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    _log_in(page, live_server.url, "pia")
    page.goto(f"{live_server.url}/projects/{project.pk}/?present=1")
    chip = page.locator('.timeline [aria-current="true"]')

    create = page.get_by_role("button", name="Create next version")
    _inside(page, create, "Create next version")
    _demo_actions_fit(page, ["v0", "v1", "v2"])
    create.click()
    expect(chip).to_have_text("v3", timeout=TIMEOUT)
    _demo_actions_fit(page, ["v0", "v1", "v2", "v3"])

    # Add a contact, so the rollback keeps the live state as an automatic version (v4).
    page.get_by_label("Name", exact=True).fill("Katherine Johnson")
    page.get_by_label("Email").fill("katherine@example.com")
    page.get_by_role("button", name="Add contact").click()
    expect(page.locator('tr[data-contact="katherine@example.com"]')).to_be_visible()
    page.locator("#version-1").get_by_role("button", name="Roll back").click()
    confirm = page.locator("#confirm").get_by_role("button", name="Roll back to v1")
    _inside(page, confirm, "the rollback's confirmation")
    confirm.click()
    expect(chip).to_have_text("v1", timeout=TIMEOUT)
    expect(page.locator("#version-4")).to_be_visible()
    _demo_actions_fit(page, ["v0", "v1", "v2", "v3", "v4"])
    _inside(page, page.locator("#job-result").get_by_role("button", name="Undo rollback"), "Undo")
    _inside(page, page.locator(".timeline-undo button"), "Undo in the timeline")
    page.screenshot(path=str(artifacts_dir / f"present-{width}x{height}.png"))
    context.close()


def test_the_preview_is_side_by_side_with_the_live_app(
    live_server, engine_cleanup, rolled_back, task_worker, page: Page, artifacts_dir
):
    project = rolled_back
    _log_in(page, live_server.url, "pia")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    live_connection = page.locator("#connection-string").inner_text()
    page.locator("#version-3").get_by_role("button", name="Preview").click()
    page.wait_for_url(re.compile(r"/previews/\d+/$"), timeout=TIMEOUT)

    live, version = page.locator("#pane-live"), page.locator("#pane-version")
    expect(live.get_by_role("heading")).to_have_text("Live app (v1)")
    expect(version.get_by_role("heading")).to_have_text("Preview of v3")
    expect(live.locator("tr[data-contact]")).to_have_count(3)
    expect(version.locator("tr[data-contact]")).to_have_count(3)
    assert [t.strip() for t in live.locator("thead th").all_text_contents()] == ["Name", "Email"]
    marked = version.locator("thead th.only-here")
    expect(marked).to_have_count(3)
    expect(marked.first).to_contain_text("only here")
    expect(version.locator('tr[data-contact="ada@example.com"]')).to_contain_text("math, pioneer")
    expect(page.locator("#diff-summary")).to_contain_text("3 differences")
    own = page.locator("#preview-connection").inner_text()
    assert own.startswith("postgresql://") and "********" in own and own != live_connection
    expect(page.get_by_role("button", name="Discard preview")).to_be_visible()
    expect(page.get_by_role("button", name="Roll back to this version")).to_be_enabled()

    live_box, version_box = live.bounding_box(), version.bounding_box()
    assert abs(live_box["y"] - version_box["y"]) < 1 and version_box["x"] > live_box["x"]
    page.screenshot(path=str(artifacts_dir / "side-by-side-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    live_box, version_box = live.bounding_box(), version.bounding_box()
    assert version_box["y"] >= live_box["y"] + live_box["height"]  # stacked
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts_dir / "side-by-side-phone.png"), full_page=True)
