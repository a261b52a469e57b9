"""Accessibility in Chromium: axe-core on every page state, keyboard focus through the demo,
and the one live region announcing a job's progress.

axe-core (bundled by axe-playwright-python) runs WCAG 2.2 A/AA and best-practice rules on
each state at laptop width in light mode, and the colour and layout rules again in dark mode
and at phone width; any serious or critical violation fails. The full report (all impacts)
goes to test-artifacts/axe-report.json.
"""

from __future__ import annotations

import json
import re
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
COLOUR_RULES = ["color-contrast", "link-in-text-block"]
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
        first = True  # every rule once per state, then the colour and layout rules
        for width in sorted(widths, key=lambda w: w != "laptop"):
            self.page.set_viewport_size(WIDTHS[width])
            # Dark at phone width adds little over dark at laptop width and light at phone
            # width (the same colour pairs, the same layout): left out to bound the run time.
            for scheme in (
                ("light", "dark") if width == "laptop" or len(widths) == 1 else ("light",)
            ):
                self.page.emulate_media(color_scheme=scheme, reduced_motion="reduce")
                options = AXE_OPTIONS
                if first:
                    first = False
                elif scheme == "dark":
                    options = {**AXE_OPTIONS, "runOnly": {"type": "rule", "values": COLOUR_RULES}}
                elif width == "phone":
                    options = {**AXE_OPTIONS, "runOnly": {"type": "rule", "values": LAYOUT_RULES}}
                results = self.run(options)
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
        # The page reacts to a new viewport in its next rendering steps (resize events,
        # resize observers): axe looks at the page after two frames, as a person would.
        self.page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
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
    audit("project-v0", widths=("laptop",))
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
    audit("rollback-result", widths=("laptop",))
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
        audit(f"tab-{tab}", widths=("laptop", "phone") if tab == "Meta DB" else ("laptop",))

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
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator("p.flash")).to_be_visible()
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


class SwitchableWorker:
    """The task worker of tests/conftest.py, stopped and started by the test: a job stays
    `queued` while it is stopped."""

    def __init__(self) -> None:
        self.worker = None
        self.thread = None

    def start(self) -> None:
        import threading

        from django.db import connection
        from django_tasks_db.management.commands.db_worker import Worker

        self.worker = Worker(
            queue_names=["default"],
            interval=0.1,
            batch=False,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id="test-worker",
            excluded_queue_names=[],
        )

        def run() -> None:
            try:
                self.worker.run()
            finally:
                connection.close()

        self.thread = threading.Thread(target=run, name="a11y-task-worker", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.running = False
            self.thread.join(timeout=30)
            self.worker = None


@pytest.fixture
def switchable_worker(transactional_db):
    worker = SwitchableWorker()
    worker.start()
    yield worker
    worker.stop()


#: Records every text written into the page's live region (#announcer).
RECORD_ANNOUNCEMENTS = """
window.__announced = [];
document.addEventListener("DOMContentLoaded", () => {
  const region = document.getElementById("announcer");
  if (!region) return;
  new MutationObserver(() => {
    const text = region.textContent.trim();
    if (text) window.__announced.push(text);
  }).observe(region, { childList: true, characterData: true, subtree: true });
});
"""


def announced(page: Page) -> list[str]:
    return page.evaluate("window.__announced")


def wait_announced(page: Page, text: str) -> None:
    page.wait_for_function("t => window.__announced.some(x => x.includes(t))", arg=text)


def focused(page: Page) -> str:
    """What has focus, as id, else tag and accessible text."""
    return page.evaluate(
        """() => { const el = document.activeElement;
            return el.id || (el.tagName.toLowerCase() + ':' + (el.getAttribute('aria-label')
              || el.textContent.trim().slice(0, 40))); }"""
    )


def test_demo_by_keyboard_focus_and_live_region(
    live_server, engine_cleanup, switchable_worker, page: Page
):
    """Start demo → v3 → Roll back → confirm → result → Preview → Discard, from the keyboard:
    after each step focus is on the step's result or back on its control, and the one live
    region announced the rollback queued → running → done."""
    get_user_model().objects.create_user("keys", password=PASSWORD)
    page.add_init_script(RECORD_ANNOUNCEMENTS)
    log_in(page, live_server.url, "keys")

    page.get_by_role("button", name="Start demo").focus()
    page.keyboard.press("Enter")
    expect(current_chip(page)).to_have_text("v0", timeout=JOB_TIMEOUT)

    # Create next version: focus goes to the progress, then to the result.
    for number in (1, 2, 3):
        page.get_by_role("button", name="Create next version").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#job-result")).to_contain_text(f"v{number} saved", timeout=JOB_TIMEOUT)
        expect(page.locator("#job-result")).to_be_focused()
    wait_announced(page, "v3 saved")

    # Roll back: the confirmation takes focus; Escape and Cancel give it back to the opener.
    opener = page.get_by_role("button", name="Roll back to v1")
    opener.focus()
    page.keyboard.press("Enter")
    confirm = page.locator("#confirm").get_by_role("button", name="Roll back to v1")
    expect(confirm).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#confirm")).to_have_count(0)
    expect(opener).to_be_focused()
    page.keyboard.press("Enter")
    expect(confirm).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#confirm").get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Space")
    expect(page.locator("#confirm")).to_have_count(0)
    expect(opener).to_be_focused()

    # Confirm with the worker stopped: queued; then running; then the one-line result.
    page.keyboard.press("Enter")
    expect(confirm).to_be_focused()
    switchable_worker.stop()
    page.keyboard.press("Enter")
    expect(page.locator("#job-status")).to_be_focused()
    expect(page.locator("#job-status")).to_contain_text("waiting for the worker")
    switchable_worker.start()
    expect(page.locator("#job-result")).to_contain_text(
        "Rolled back from v3 to v1.", timeout=JOB_TIMEOUT
    )
    expect(page.locator("#job-result")).to_be_focused()
    wait_announced(page, "Rolled back from v3 to v1:")
    texts = announced(page)
    queued = next(
        i for i, t in enumerate(texts) if t == "Roll back v1: queued, waiting for the worker"
    )
    running = next(i for i, t in enumerate(texts) if t == "Roll back v1: running")
    done = next(i for i, t in enumerate(texts) if t.startswith("Rolled back from v3 to v1:"))
    assert queued < running < done, texts
    assert page.locator("#announcer").count() == 1

    # Preview v3: progress, then the preview page with focus on its heading.
    page.get_by_role("button", name="Preview v3").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/previews/\d+/$"), timeout=JOB_TIMEOUT)
    expect(page.get_by_role("heading", level=1, name="Preview of v3")).to_be_focused()

    # Discard: back on the project page, focus on the progress or its result.
    page.get_by_role("button", name="Discard preview").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#job-result")).to_contain_text("Preview discarded", timeout=JOB_TIMEOUT)
    expect(page.locator("#job-result")).to_be_focused()

    # Tabs: arrow keys move between tabs, Enter opens one and focus stays on it.
    page.get_by_role("tab", name="App", exact=True).focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Meta DB")).to_be_focused()
    page.keyboard.press("End")
    expect(page.get_by_role("tab", name="Activity")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("tab", name="Activity")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tab", name="Activity")).to_be_focused()
    page.keyboard.press("Home")
    page.keyboard.press("Enter")
    expect(page.get_by_role("tab", name="App", exact=True)).to_have_attribute(
        "aria-selected", "true"
    )
    # A region refresh still under way (the discard's jobFinished) would replace the form.
    page.wait_for_load_state("networkidle")

    # Rename: Escape cancels, focus returns to Rename, which is still there after Save too.
    rename = page.locator("#version-name-2").get_by_role("button", name=re.compile("^Rename"))
    rename.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("New name of v2")).to_be_focused()
    page.keyboard.press("Escape")
    expect(rename).to_be_focused()
    page.keyboard.press("Enter")
    page.get_by_label("New name of v2").fill("Contacts, renamed")
    page.keyboard.press("Enter")
    expect(page.locator("#version-name-2")).to_contain_text("Contacts, renamed")
    expect(rename).to_be_focused()
    page.keyboard.press("Enter")
    page.get_by_label("New name of v2").fill("")
    page.keyboard.press("Enter")
    expect(page.get_by_label("New name of v2")).to_be_focused()

    # A form error: focus on the first invalid field, its message announced.
    page.get_by_label("Name", exact=True).fill("Bad Email")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_role("button", name="Add contact").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Email")).to_be_focused()
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    wait_announced(page, "Email: Enter a valid email address")


def test_a_background_job_ending_leaves_focus_where_the_person_put_it(
    live_server, engine_cleanup, switchable_worker, page: Page
):
    """A tier move nobody asked for ends while focus is on a Rename button: the project region
    refreshes, and focus stays on that Rename button (it used to jump to the last job's result)."""
    from checkpoints import tasks
    from checkpoints.models import AgentProject, Job

    get_user_model().objects.create_user("calm", password=PASSWORD)
    log_in(page, live_server.url, "calm")
    page.get_by_role("button", name="Start demo").click()
    expect(current_chip(page)).to_have_text("v0", timeout=JOB_TIMEOUT)
    page.get_by_role("button", name="Create next version").click()
    expect(page.locator("#job-result")).to_contain_text("v1 saved", timeout=JOB_TIMEOUT)

    switchable_worker.stop()
    project = AgentProject.objects.get(team__memberships__user__username="calm")
    job = tasks.job_enqueue(project=project, kind=Job.Kind.TIER_MOVE, user=None)
    page.reload()
    expect(page.locator("#job-status")).to_contain_text("Move between tiers")
    rename = page.locator("#version-name-1").get_by_role("button", name=re.compile("^Rename"))
    rename.focus()
    switchable_worker.start()
    expect(page.locator("#job-status")).to_have_count(0, timeout=JOB_TIMEOUT)
    page.wait_for_load_state("networkidle")
    assert Job.objects.get(pk=job.pk).is_finished
    expect(rename).to_be_focused()

    # Typing when the next one ends: the refresh waits until focus leaves the field.
    switchable_worker.stop()
    job = tasks.job_enqueue(project=project, kind=Job.Kind.TIER_MOVE, user=None)
    page.reload()
    expect(page.locator("#job-status")).to_contain_text("Move between tiers")
    rename.focus()
    page.keyboard.press("Enter")
    page.get_by_label("New name of v1").fill("Half typ")
    switchable_worker.start()
    expect(page.locator("#job-status .badge")).not_to_have_text("Queued", timeout=JOB_TIMEOUT)
    expect(page.locator("#job-status [hx-get], #job-status[hx-get]")).to_have_count(
        0, timeout=JOB_TIMEOUT
    )
    page.wait_for_load_state("networkidle")
    expect(page.get_by_label("New name of v1")).to_have_value("Half typ")
    expect(page.get_by_label("New name of v1")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#job-status")).to_have_count(0, timeout=JOB_TIMEOUT)
    expect(rename).to_be_focused()


#: Submits the rename form in the task right after htmx swaps it in: as soon as a person can,
#: since the browser focuses an [autofocus] field at its next rendering, before any timer.
SUBMIT_AT_ONCE = """() => {
  document.addEventListener("htmx:afterSwap", function submit() {
    const form = document.querySelector("form.rename-form");
    if (!form) return;
    document.removeEventListener("htmx:afterSwap", submit);
    setTimeout(() => { form.elements.name.value = "Typed at once"; form.requestSubmit(); }, 0);
  });
}"""


def test_a_form_submitted_the_instant_it_appears_is_sent_by_htmx(
    live_server, engine_cleanup, task_worker, page: Page
):
    """htmx wires a swapped-in form as it swaps it in (no settle delay): a rename submitted
    the instant its field appears is htmx's request, not a full-page post that reloads the
    page and drops the person's focus (the keyboard test above met it now and then)."""
    get_user_model().objects.create_user("quick", password=PASSWORD)
    log_in(page, live_server.url, "quick")
    page.get_by_role("button", name="Start demo").click()
    expect(current_chip(page)).to_have_text("v0", timeout=JOB_TIMEOUT)
    page.wait_for_load_state("networkidle")
    page.evaluate("window.samePage = true")
    page.evaluate(SUBMIT_AT_ONCE)

    rename = page.locator("#version-name-0").get_by_role("button", name=re.compile("^Rename"))
    rename.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#version-name-0")).to_contain_text("Typed at once")
    assert page.evaluate("window.samePage === true")  # no page load in between
    expect(rename).to_be_focused()
