"""Teams in Chromium: an owner invites a viewer on the team page; the viewer accepts, switches
to the team, sees the project without Roll back buttons, and a hand-made POST answers 403.

Screenshots (desktop and phone width) go to test-artifacts/teams/.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from checkpoints.models import Job, Membership
from tests.web_fixtures import project_demo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-teams-password-42"

#: A POST the page itself never offers a viewer: fetch() with the page's CSRF token.
HAND_MADE_POST = """async ([url, htmx]) => {
  const token = JSON.parse(document.body.getAttribute("hx-headers"))["x-csrftoken"];
  const headers = {"X-CSRFToken": token};
  if (htmx) headers["HX-Request"] = "true";
  const response = await fetch(url, {method: "POST", headers, credentials: "same-origin"});
  return [response.status, await response.text()];
}"""


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(base + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()


def wide_elements(page: Page) -> list[str]:
    """Elements that stick out on the right (to explain a horizontal scroll)."""
    return page.evaluate(
        """() => [...document.querySelectorAll("body *")]
          .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
          .slice(0, 8).map(e => e.tagName + "." + e.className + " " + e.getBoundingClientRect().right)"""
    )


def no_horizontal_scroll(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_owner_adds_viewer_who_cannot_roll_back(live_server, engine_cleanup, page, artifacts_dir):
    shots = artifacts_dir / "teams"
    shots.mkdir(exist_ok=True)

    def shot(name: str) -> None:
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    users = get_user_model().objects
    olivia = users.create_user("olivia", password=PASSWORD)
    users.create_user("victor", email="victor@example.com", password=PASSWORD)
    project = project_demo(olivia, versions=1)
    team = project.team
    base = live_server.url

    # The owner opens the team page from the header's switcher and adds victor by email.
    log_in(page, base, "olivia")
    page.locator(".team-switcher summary").click()
    shot("01-switcher-open")
    page.get_by_role("link", name=f"Members of {team.name}").click()
    expect(page.get_by_role("heading", name=team.name)).to_be_visible()
    page.get_by_label("Username or email").fill("victor@example.com")
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Send invitation").click()
    # An invitation: the answer tells nothing about whether victor has an account.
    expect(page.locator("#members")).to_contain_text("If “victor@example.com” has an account")
    expect(page.locator('[data-member="victor"]')).to_have_count(0)
    shot("02-team-page-viewer-invited")
    page.get_by_label("Username or email").fill("nobody")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator("#members")).to_contain_text("If “nobody” has an account")
    # The last owner cannot demote herself.
    page.get_by_label("Role of olivia").select_option("operator")
    page.locator('[data-member="olivia"]').get_by_role("button", name="Save").click()
    expect(page.locator("#members .flash-error")).to_contain_text("last owner")
    shot("03-team-page-errors")
    assert Membership.objects.get(team=team, user=olivia).role == "owner"
    page.get_by_role("button", name="Log out").click()

    # The viewer logs in (own personal team first), switches to olivia's team.
    log_in(page, base, "victor")
    expect(page.get_by_role("heading", name="No projects yet")).to_be_visible()
    page.goto(base + "/teams/")
    page.get_by_role("button", name=f"Accept the invitation to {team.name}").click()
    expect(
        page.locator("#flash").get_by_text(f"You joined team “{team.name}” as viewer.")
    ).to_be_visible()
    shot("03b-invitation-accepted")
    page.locator(".team-switcher summary").click()
    page.get_by_role("button", name=re.compile(re.escape(team.name))).click()
    expect(page.get_by_role("link", name=project.name)).to_be_visible()
    expect(page.get_by_role("button", name="Start demo")).to_have_count(0)
    shot("04-viewer-home")
    page.get_by_role("link", name=project.name).click()
    expect(page.get_by_role("heading", name=project.name, level=1)).to_be_visible()
    expect(page.locator(".version-row")).to_have_count(2)
    expect(page.get_by_role("button", name=re.compile("Roll back"))).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Preview"))).to_have_count(0)
    expect(page.get_by_role("button", name="Create next version")).to_have_count(0)
    expect(page.get_by_role("button", name="Add contact")).to_have_count(0)
    expect(page.get_by_text("you can look, not change")).to_be_visible()
    shot("05-viewer-project")

    # A hand-made POST to roll back (valid session and CSRF token) answers 403.
    rollback_url = f"{base}/projects/{project.pk}/versions/0/rollback"
    status, body = page.evaluate(HAND_MADE_POST, [rollback_url, False])
    assert status == 403, body[:500]
    assert "only an operator or an owner can roll back" in body
    status, body = page.evaluate(HAND_MADE_POST, [rollback_url, True])
    assert status == 403 and "<html" not in body
    # Through htmx the refusal shows in the page's #flash region.
    page.evaluate(
        "url => htmx.ajax('POST', url, {target: '#project', swap: 'outerHTML'})", rollback_url
    )
    expect(page.locator("#flash")).to_contain_text("only an operator or an owner can roll back")
    shot("06-viewer-refused")
    assert not Job.objects.filter(kind=Job.Kind.ROLLBACK).exists()
    project.refresh_from_db()
    assert project.current_version.number == 1

    # Activity filtered by person and kind.
    page.get_by_role("tab", name="Activity").click()
    page.get_by_label("Person").select_option(label="olivia")
    page.get_by_label("Kind").select_option("create")
    expect(page.locator("#activity-list .activity-item")).to_have_count(2)
    expect(page.locator("#activity-list .actor").first).to_have_text("olivia")
    shot("07-activity-filtered")

    # Phone width: the same pages without horizontal scrolling.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/projects/{project.pk}/")
    shot("08-phone-viewer-project")
    assert no_horizontal_scroll(page), wide_elements(page)
    page.locator(".team-switcher summary").click()
    shot("09-phone-switcher")
    page.goto(f"{base}/teams/{team.pk}/")
    assert no_horizontal_scroll(page)
    shot("10-phone-team-page")
