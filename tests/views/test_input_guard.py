"""No input gives a 500: each case of issue 14, pages and API, with a readable answer."""

from __future__ import annotations

import json

import pytest

from checkpoints import services
from checkpoints.api.models import ApiToken
from checkpoints.models import Job, Team
from checkpoints.security.input_guard import int_or_none
from tests.api_helpers import Api, token_for
from tests.web_fixtures import HX, engine_project_drop, project_demo, url, user_make

pytestmark = pytest.mark.django_db

HUGE = "9" * 5000


@pytest.fixture
def ada():
    return user_make("ada")


@pytest.fixture
def project(ada):
    project = project_demo(ada, versions=1)
    yield project
    engine_project_drop(project)


@pytest.fixture
def browser(client, ada):
    client.force_login(ada)
    return client


def readable(response, status: int, text: str = "") -> str:
    body = response.content.decode()
    assert response.status_code == status, body[:500]
    assert "Traceback" not in body
    assert text in body, body[:500]
    return body


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12", 12), (" 7 ", 7), ("²", None), ("١٢", None), ("-1", None), ("", None), (HUGE, None)],
)
def test_int_or_none_takes_ascii_digits_only(raw, expected):
    assert int_or_none(raw) == expected


def test_unicode_digits_and_huge_numbers_in_queries(browser, project):
    detail = url("project-detail", project.pk)
    readable(browser.get(detail, {"tab": "activity", "person": "²"}), 200)
    readable(browser.get(detail, {"tab": "activity", "person": HUGE}), 200)
    readable(browser.get(url("project-activity", project.pk), {"person": "²"}, headers=HX), 200)
    diff = url("version-diff", project.pk)
    for bad in ("²", HUGE):
        readable(browser.get(diff, {"from": bad, "to": "1"}, headers=HX), 200, "Pick two")
    readable(browser.get(diff, {"from": "99999999999", "to": "1"}, headers=HX), 404)
    api = Api(token_for(project.created_by))
    for bad in ("²", HUGE):
        response = api.get(f"projects/{project.pk}/diff", **{"from": bad, "to": "1"})
        assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_team_switch_with_unicode_digit_or_huge_id_is_not_found(browser):
    for bad in ("²", HUGE, str(2**70)):
        readable(browser.post(url("team-switch"), {"team": bad}), 404)


def test_huge_ids_in_paths_are_not_found(browser, project):
    readable(browser.get(f"/projects/{HUGE}/"), 404)
    readable(browser.get(f"/projects/{2**63}/"), 404)
    readable(browser.get(f"/teams/{HUGE}/"), 404)
    api = Api(token_for(project.created_by))
    assert api.get(f"projects/{HUGE}").status_code == 404
    assert api.get(f"projects/{project.pk}/versions/{2**40}").status_code == 404


def test_nul_in_forms_is_refused_readably(browser, ada, project):
    team = Team.objects.get(personal_for=ada)
    readable(browser.post(url("team-list"), {"name": "A\x00B"}), 400, "NUL character")
    readable(
        browser.post(url("member-add", team.pk), {"who": "x\x00", "role": "viewer"}, headers=HX),
        400,
        "NUL character",
    )
    readable(browser.post("/settings/tokens/", {"name": "ci\x00"}), 400, "NUL character")
    readable(
        browser.post(url("version-rename", project.pk, 1), {"name": "a\x00b"}), 400, "NUL character"
    )
    readable(browser.get(url("project-detail", project.pk), {"tab": "a\x00"}), 400)
    assert not Team.objects.filter(name__contains="A").exists()
    assert not ApiToken.objects.exists()


def test_api_hostile_json(project):
    api = Api(token_for(project.created_by))
    base = f"projects/{project.pk}/versions"
    deep = api.post(base, raw=b"[" * 100_000)
    assert deep.status_code == 400 and deep.json()["code"] == "invalid"
    for field in ("prompt", "name"):
        body = json.dumps({"prompt": "x", field: "\ud800"})
        response = api.post(base, raw=body.encode())
        assert response.status_code == 400, response.content
        assert "surrogate" in response.json()["details"]["body"]
    projects = api.post("projects", raw=b'{"name": "\\ud800"}')
    assert projects.status_code == 400
    nul = api("PATCH", f"{base}/1", {"name": "a\x00b"})
    assert nul.status_code == 400 and nul.json()["details"]["name"]


def test_body_limits_answer_413_with_the_limit(browser, project, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    api = Api(token_for(project.created_by))
    response = api.post(f"projects/{project.pk}/versions", {"prompt": "x", "sql": "-" * 2000})
    assert response.status_code == 413
    assert response.json() == {
        "code": "too_large",
        "message": "The request body is too large: at most 1 KiB (1,024 bytes) are accepted.",
    }
    page = browser.post(url("team-list"), {"name": "x" * 2000})
    readable(page, 413, "at most 1 KiB (1,024 bytes)")
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    readable(browser.post(url("team-list"), {f"f{i}": "x" for i in range(10)}), 400, "at most 5")


def test_rename_while_a_job_runs_is_busy(browser, ada, project):
    job = services.version_create_next(project=project, user=ada)
    assert job.state == Job.State.QUEUED
    version = project.versions.get(number=1)
    response = browser.post(url("version-rename", project.pk, 1), {"name": "New"}, headers=HX)
    readable(response, 409, "busy")
    api = Api(token_for(ada))
    answer = api("PATCH", f"projects/{project.pk}/versions/1", {"name": "New"})
    assert answer.status_code == 409 and answer.json()["code"] == "busy"
    assert answer["Retry-After"] == str(answer.json()["retry_after"])
    version.refresh_from_db()
    assert version.name != "New"
