"""Restore tables… in Chromium, on each engine: at v3 (a contact added, a table `notes`
the agent made), restore only `contacts` from v2; `notes` keeps its rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from checkpoints import services
from checkpoints.engines.connect import run_sql
from checkpoints.models import AgentProject
from tests.e2e.test_demo_flow import JOB_TIMEOUT, PASSWORD, contacts_headers, current_chip
from tests.neon_contract import API_KEY, shared_emulator

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(params=["local", "neon"])
def demo_engine(request, settings) -> Iterator[str]:
    """The engine new projects use (as in test_demo_flow)."""
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


def test_restore_only_contacts_from_v2(
    demo_engine, live_server, engine_cleanup, task_worker, page: Page, artifacts_dir
):
    shots = artifacts_dir / f"tables-{demo_engine}"
    shots.mkdir(exist_ok=True)
    get_user_model().objects.create_user("tables", password=PASSWORD)
    page.goto(live_server.url + "/")
    page.get_by_label("Username").fill("tables")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Start demo").click()
    expect(current_chip(page)).to_have_text("v0", timeout=JOB_TIMEOUT)
    for number in (1, 2, 3):
        page.get_by_role("button", name="Create next version").click()
        expect(current_chip(page)).to_have_text(f"v{number}", timeout=JOB_TIMEOUT)
    page.get_by_label("Name", exact=True).fill("Katherine Johnson")
    page.get_by_label("Email").fill("katherine@example.com")
    page.get_by_role("button", name="Add contact").click()
    expect(page.locator('tr[data-contact="katherine@example.com"]')).to_be_visible()
    uri = services.project_connection_uri(project=AgentProject.objects.get())
    run_sql(uri, "CREATE TABLE notes (id serial PRIMARY KEY, body text)")
    run_sql(uri, "INSERT INTO notes (body) VALUES ('made at v3'), ('kept')")
    connection = page.locator("#connection-string").inner_text()

    page.locator("#version-2").get_by_role("button", name="Restore tables from v2").click()
    dialog = page.locator("#confirm")
    expect(dialog).to_contain_text("Restore tables from v2")
    dialog.get_by_role("checkbox", name="contacts").check()
    shot = lambda name: page.screenshot(path=str(shots / f"{name}.png"), full_page=True)  # noqa: E731
    shot("01-pick")
    dialog.get_by_role("button", name="Review changes").click()
    expect(dialog).to_contain_text("Restore 1 table from v2?")
    expect(dialog).to_contain_text("contacts drops column tags and 1 contact")
    shot("02-confirm")
    dialog.get_by_role("button", name="Restore 1 table").click()
    result = page.locator("#job-result")
    expect(result).to_contain_text("Restored contacts", timeout=JOB_TIMEOUT)
    expect(result).to_contain_text("Every other table is untouched")
    shot("03-restored")
    expect(page.locator('tr[data-contact="katherine@example.com"]')).to_have_count(0)
    assert "Tags" not in contacts_headers(page) and "Role" in contacts_headers(page)
    assert run_sql(uri, "SELECT body FROM notes ORDER BY id") == [("made at v3",), ("kept",)]
    assert page.locator("#connection-string").inner_text() == connection
