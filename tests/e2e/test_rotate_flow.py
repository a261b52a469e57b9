"""Rotate password clicked through in Chromium: the owner confirms, the connection string
shown keeps its shape (password hidden), the old password stops working at once and the
Activity log says so. Screenshots go to test-artifacts/rotate/."""

from __future__ import annotations

import psycopg
import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from checkpoints import services
from checkpoints.models import AgentProject

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-rotating-password-7"
JOB_TIMEOUT = 60_000


def test_owner_rotates_the_password(
    live_server, engine_cleanup, task_worker, page: Page, artifacts_dir
):
    shots = artifacts_dir / "rotate"
    shots.mkdir(exist_ok=True)
    get_user_model().objects.create_user("rosa", password=PASSWORD)
    page.goto(live_server.url + "/")
    page.get_by_label("Username").fill("rosa")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Start demo").click()
    expect(page.locator('.timeline [aria-current="true"]')).to_have_text("v0", timeout=JOB_TIMEOUT)
    project = AgentProject.objects.get()
    before = services.project_connection_uri(project=project)
    shown = page.locator("#connection-string").inner_text()
    page.get_by_role("button", name="Rotate password").click()
    expect(page.get_by_text("Rotate the password?")).to_be_visible()
    page.screenshot(path=str(shots / "01-confirm.png"), full_page=True)
    page.get_by_role("button", name="Rotate the password").click()
    expect(page.get_by_text("Rotate the password?")).to_be_hidden()
    page.get_by_role("tab", name="Activity").click()
    expect(page.locator("body")).to_contain_text("Password rotated", timeout=JOB_TIMEOUT)
    page.screenshot(path=str(shots / "02-rotated.png"), full_page=True)
    assert page.locator("#connection-string").inner_text() == shown  # password hidden
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(before).close()
    project.refresh_from_db()  # the rotation stored the new string
    psycopg.connect(services.project_connection_uri(project=project)).close()
