"""The project page at 1,000 versions in Chromium: the newest page, the pager (plain link
and htmx swap), and no serious or critical axe-core violation on the paged page."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from checkpoints.models import Version
from tests.e2e.test_accessibility import AXE_OPTIONS, FAILING, PASSWORD, log_in
from tests.web_fixtures import project_demo, user_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_versions_page_through_1000(live_server, engine_cleanup, page: Page, artifacts_dir):
    user = user_make("pager", password=PASSWORD)
    project = project_demo(user)
    v0 = project.versions.get(number=0)
    Version.objects.bulk_create(
        Version(
            project=project,
            number=n,
            name=f"Step {n:04d}",
            snapshot_id=f"snap-{n}",
            parent=v0,
            created_by=user,
            manifest=v0.manifest,
        )
        for n in range(1, 1001)
    )
    project.current_version = project.versions.get(number=1000)
    project.save(update_fields=["current_version"])

    log_in(page, live_server.url, "pager")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    pager = page.get_by_role("navigation", name="Pages of versions")
    expect(pager).to_contain_text("Versions 1–20 of 1001 · page 1 of 51")
    expect(page.locator(".version-row")).to_have_count(20)
    page.screenshot(path=str(artifacts_dir / "pagination-1000-versions.png"), full_page=True)

    pager.get_by_role("link", name="Older versions").click()
    expect(page.locator("#version-980")).to_be_visible()
    expect(page.locator("#version-1000")).to_have_count(0)
    assert "versions_page=2" in page.url
    page.evaluate(Axe().axe_script)
    result = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
    failing = [(v["id"], v["impact"]) for v in result["violations"] if v["impact"] in FAILING]
    assert failing == []
