"""The progress panel in Chromium: the page shows a finished job as soon as it ends (the
status request waits for the job's notification, no poll tick), and Cancel stops a long
statement from the panel with nothing applied."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from checkpoints import services
from checkpoints.models import Job
from tests.conftest import worker_threads
from tests.web_fixtures import project_demo, user_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery-staple"


def _log_in(page: Page, base: str, username: str) -> None:
    page.goto(base + "/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_the_page_updates_when_the_job_ends_and_cancel_stops_it(
    live_server, engine_cleanup, page: Page, artifacts_dir
):
    user = user_make("ada", PASSWORD)
    project = project_demo(user)
    _log_in(page, live_server.url, "ada")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    # A long fallback poll: only the notifications can make this quick.
    with worker_threads(1, interval=30):
        page.get_by_role("button", name="Create next version").click()
        expect(page.locator('.timeline [aria-current="true"]')).to_have_text("v1", timeout=60_000)
        seen_at = timezone.now()
        job = Job.objects.filter(project=project).order_by("-pk").first()
        lag = (seen_at - job.finished_at).total_seconds()
        assert job.state == Job.State.SUCCEEDED
        # Well under the 30 s fallback poll: the job's notification did it, however loaded
        # the machine is (a bound to tell the two apart, not a speed goal).
        assert lag < 15, f"the page showed the finished job {lag:.2f} s after it ended"

        long = services.version_create(
            project=project, user=user, prompt="sleep", sql="select pg_sleep(40)"
        )
        deadline = time.monotonic() + 30
        while not any(s["name"] == "applying the prompt" for s in long.steps):
            assert time.monotonic() < deadline
            time.sleep(0.1)
            long.refresh_from_db()
        page.goto(f"{live_server.url}/projects/{project.pk}/")
        panel = page.locator("#job-status")
        expect(panel).to_contain_text("applying the prompt")
        page.screenshot(path=str(artifacts_dir / "job-cancel-before.png"))
        started = time.monotonic()
        panel.get_by_role("button", name="Cancel").click()
        expect(page.locator("#job-result, #job-status").first).to_contain_text(
            "Cancelled", timeout=15_000
        )
        took = time.monotonic() - started
        page.screenshot(path=str(artifacts_dir / "job-cancel-after.png"))
    long.refresh_from_db()
    assert long.state == Job.State.CANCELLED and took < 30  # the statement sleeps 40 s
    project.refresh_from_db()
    assert project.current_version.number == 1


def test_a_quick_rollback_shows_its_result_from_the_buttons_own_answer(
    live_server, engine_cleanup, page: Page, settings
):
    settings.CHECKPOINTS_ACTION_WAIT_SECONDS = 10  # as `make run` does (0.5 s), roomier
    user = user_make("ada", PASSWORD)
    project = project_demo(user, versions=2)
    _log_in(page, live_server.url, "ada")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    with worker_threads(1, interval=30):
        page.get_by_role("button", name="Roll back to v1", exact=True).click()
        page.locator("#confirm").get_by_role("button", name="Roll back to v1").click()
        expect(page.locator('.timeline [aria-current="true"]')).to_have_text("v1", timeout=30_000)
    expect(page.locator("#job-result")).to_contain_text("Rolled back from v2 to v1")
    expect(page.get_by_role("button", name="Undo rollback")).to_be_visible()
    assert not [u for u in asked if "/status" in u], asked  # no progress panel, no status poll
    project.refresh_from_db()
    assert project.current_version.number == 1


@pytest.mark.parametrize("width", [1280, 390])
def test_the_cards_loaded_after_a_refresh_never_move_the_next_step_button(
    live_server, engine_cleanup, page: Page, width
):
    """The Destructive statements card loads on its own after each refresh of the project
    region (a job ended): it comes after "Create next version", so its arrival never moves
    the button under a pointer about to click it."""
    user = user_make("ada", PASSWORD)
    project = project_demo(user)
    page.set_viewport_size({"width": width, "height": 900})
    _log_in(page, live_server.url, "ada")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    button = page.get_by_role("button", name="Create next version")
    before = button.bounding_box()
    events = page.locator("#events.events-card")
    expect(events).to_be_visible()
    assert button.bounding_box() == before
    assert before is not None and before["y"] + before["height"] <= events.bounding_box()["y"]
