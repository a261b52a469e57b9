"""Accessibility in Chromium: axe-core on every page state, keyboard focus through the demo,
and the one live region announcing a job's progress.

axe-core (bundled by axe-playwright-python) runs WCAG 2.2 A/AA and best-practice rules at
phone and laptop widths, light and dark; any serious or critical violation fails. The full
report (all impacts) goes to test-artifacts/axe-report.json.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-demo-password-42"
JOB_TIMEOUT = 60_000
AXE_OPTIONS = {
    "resultTypes": ["violations"],
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
}
#: Rules whose outcome depends on the width or the colours: the only ones re-run at the other
#: widths and in dark mode (the rest is checked once per state, at laptop width, light).
LAYOUT_RULES = [
    "color-contrast",
    "link-in-text-block",
    "target-size",
    "scrollable-region-focusable",
    "meta-viewport",
    "region",
]
WIDTHS = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1280, "height": 900}}
FAILING = {"serious", "critical"}


def current_chip(page: Page):
    return page.locator('.timeline [aria-current="true"]')


class Auditor:
    """Runs axe on the page as it is, at each width and theme, and keeps every violation."""

    def __init__(self, page: Page, report) -> None:
        self.page = page
        self.report = report
        self.axe = Axe()
        self.found: list[dict] = []
        self.states = 0

    def __call__(self, state: str, *, widths: tuple[str, ...] = ("phone", "laptop")) -> None:
        self.states += 1
        for width in sorted(widths, key=lambda w: w != "laptop"):
            self.page.set_viewport_size(WIDTHS[width])
            for scheme in ("light", "dark"):
                self.page.emulate_media(color_scheme=scheme, reduced_motion="reduce")
                options = AXE_OPTIONS
                if (width, scheme) != ("laptop", "light"):
                    options = {**AXE_OPTIONS, "runOnly": {"type": "rule", "values": LAYOUT_RULES}}
                began = time.monotonic()
                results = self.run(options)
                print(state, width, scheme, round(time.monotonic() - began, 2))
                for violation in results["violations"]:
                    self.found.append(
                        {
                            "state": state,
                            "width": width,
                            "scheme": scheme,
                            "rule": violation["id"],
                            "impact": violation["impact"],
                            "nodes": [n["target"] for n in violation["nodes"]][:5],
                            "summary": violation["nodes"][0].get("failureSummary", "")[:300],
                        }
                    )
        self.page.set_viewport_size(WIDTHS["laptop"])
        self.page.emulate_media(color_scheme="light", reduced_motion="reduce")
        self.save()

    def save(self) -> None:
        counts = Counter(v["impact"] for v in self.found)
        rules = Counter(f"{v['rule']} ({v['impact']})" for v in self.found)
        summary = {"states": self.states, "counts": counts, "rules": rules}
        self.report.write_text(json.dumps({**summary, "violations": self.found}, indent=1))

    def run(self, options: dict) -> dict:
        # axe.min.js once per document (Axe.run would inject its 500 kB at every call).
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.evaluate(self.axe.axe_script)
        return self.page.evaluate("options => axe.run(document, options)", options)

    def failing(self) -> list[dict]:
        return [v for v in self.found if v["impact"] in FAILING]


def log_in(page: Page, url: str, username: str) -> None:
    page.goto(url + "/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_axe_every_page_state(live_server, engine_cleanup, task_worker, page: Page, artifacts_dir):
    audit = Auditor(page, artifacts_dir / "axe-report.json")
    user = get_user_model().objects.create_user("axe", password=PASSWORD, email="axe@example.com")
    get_user_model().objects.create_user("colleague", password=PASSWORD)

    page.goto(live_server.url + "/")
    audit("login")
    log_in(page, live_server.url, "axe")
    expect(page.get_by_role("heading", name="No projects yet")).to_be_visible()
    audit("home-empty")

    page.get_by_role("button", name="Start demo").click()
    expect(current_chip(page)).to_have_text("v0", timeout=JOB_TIMEOUT)
    audit("project-v0")
    for number in (1, 2, 3):
        page.get_by_role("button", name="Create next version").click()
        if number == 1:
            expect(page.locator("#job-status")).to_be_visible()
            audit("job-progress", widths=("laptop",))
        expect(current_chip(page)).to_have_text(f"v{number}", timeout=JOB_TIMEOUT)
    expect(page.locator("#job-result")).to_be_visible()
    audit("project-v3-result")

    # A form error, then editing a contact.
    page.get_by_label("Name", exact=True).fill("Bad Email")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_role("button", name="Add contact").click()
    expect(page.locator("#contacts-app [aria-invalid=true]")).to_have_count(1)
    audit("contact-form-error")
    page.get_by_role("link", name="Edit Ada Lovelace").click()
    expect(page.get_by_role("button", name="Save contact")).to_be_visible()
    audit("contact-editing", widths=("phone",))
    page.locator("#contacts-app .form-actions").get_by_text("Cancel").click()
    expect(page.get_by_role("button", name="Add contact")).to_be_visible()

    # The rollback confirmation and its result; the inline rename.
    page.locator("#version-1").get_by_role("button", name="Roll back").click()
    expect(page.locator("#confirm")).to_be_visible()
    audit("rollback-confirm")
    page.locator("#confirm").get_by_role("button", name="Roll back to v1").click()
    expect(current_chip(page)).to_have_text("v1", timeout=JOB_TIMEOUT)
    expect(page.locator("#job-result")).to_contain_text("Rolled back from v3 to v1")
    audit("rollback-result")
    page.locator("#version-2").get_by_role("button", name=re.compile("^Rename")).click()
    expect(page.get_by_label("New name of v2")).to_be_focused()
    audit("rename-form", widths=("laptop",))
    page.get_by_label("New name of v2").press("Escape")

    # Cleanup dry run.
    page.get_by_role("button", name="Clean up…").click()
    expect(page.locator("#cleanup-plan")).to_be_visible()
    audit("cleanup-plan", widths=("laptop",))

    for tab in ("App DB schema", "Meta DB", "Activity"):
        page.get_by_role("tab", name=tab).click()
        expect(page.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true")
        audit(f"tab-{tab}")

    # A preview, and the page of a closed one.
    page.get_by_role("tab", name="App", exact=True).click()
    expect(page.get_by_role("tab", name="App", exact=True)).to_have_attribute(
        "aria-selected", "true"
    )
    page.locator("#version-3").get_by_role("button", name="Preview").click()
    page.wait_for_url(re.compile(r"/previews/\d+/$"), timeout=JOB_TIMEOUT)
    audit("preview")
    preview_url = page.url
    page.get_by_role("button", name="Discard preview").click()
    expect(page.locator("#job-result")).to_contain_text("Preview discarded", timeout=JOB_TIMEOUT)
    page.goto(preview_url)
    expect(page.get_by_role("heading", name="Preview closed")).to_be_visible()
    audit("preview-closed", widths=("laptop",))

    # Present mode.
    page.goto(page.url.split("previews")[0] + "?present=1")
    expect(page.locator("#contacts-app")).to_be_visible()
    audit("present")
    page.goto(page.url.split("?")[0] + "?present=0")

    # Teams, the team menu, tokens, errors.
    page.goto(live_server.url + "/teams/")
    audit("teams", widths=("laptop",))
    page.get_by_role("link", name=re.compile("axe")).first.click()
    page.get_by_label("Username or email").fill("colleague")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator('[data-member="colleague"]')).to_be_visible()
    audit("team-detail")
    page.locator(".team-switcher > summary").click()
    audit("team-menu", widths=("laptop",))
    page.goto(live_server.url + "/settings/tokens/")
    page.get_by_label("Name").fill("CI agent")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_be_visible()
    audit("tokens")
    page.goto(live_server.url + "/projects/999999/")
    audit("not-found", widths=("laptop",))
    assert user.pk

    failing = audit.failing()
    assert not failing, json.dumps(failing, indent=1)[:6000]
