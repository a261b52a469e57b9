"""Browser tests: Chromium through Playwright, a live server and a real task worker.

Chromium comes from the system (`apt-get install -y chromium`); Playwright cannot
download browsers here. Without it the browser tests skip locally, and fail in CI.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHECKPOINTS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING = "Chromium not found: install it with `apt-get install -y chromium`"


def _chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _chromium_available() or os.environ.get("CI") == "true":
        return
    skip = pytest.mark.skip(reason=MISSING)
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    """A browser test that fails says what its page showed then (CI keeps only the output)."""
    report = yield
    page = getattr(item, "funcargs", {}).get("page")
    if report.when == "call" and report.failed and page is not None:
        try:
            shown = f"{page.url}\n{page.locator('body').inner_text(timeout=2_000)[:4_000]}"
        except Exception as error:  # the page itself may be what broke
            shown = f"the page could not be read: {error}"
        report.sections.append(("the page when the test failed", shown))
    return report


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not _chromium_available():
        pytest.fail(MISSING)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread while it runs; the ORM calls
    # the tests and fixtures make meanwhile are still plain synchronous calls. Set only
    # while the browser lives: the variable must not leak into other tests' subprocesses.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser) -> Iterator:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def engine_cleanup(transactional_db) -> Iterator[None]:
    """Drop the engine projects the test made (the local engine's databases)."""
    yield
    from checkpoints.models import AgentProject
    from tests.web_fixtures import engine_project_drop

    for project in AgentProject.objects.all():
        engine_project_drop(project)
