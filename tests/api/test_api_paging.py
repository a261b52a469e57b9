"""Every list of /api/v1, the MCP tools and the CLI is paged: bounded at 1,000 versions,
counted right, and walking `next` yields every item once. Bad page input answers 400."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from jsonschema import Draft202012Validator

from checkpoints.api.openapi import openapi_document
from checkpoints.mcp import version_calls
from checkpoints.mcp.auth import acting_as
from checkpoints.mcp.failures import ToolFailure, guarded
from checkpoints.models import AgentProject, Membership, Preview, ShareLink, Version
from checkpoints.paging import PageRequest
from tests.api_helpers import Api, token_for
from tests.web_fixtures import user_make

pytestmark = pytest.mark.django_db

VERSIONS = 1000
DOC = openapi_document()


def _project(user, name: str = "Big") -> AgentProject:
    team = Membership.objects.filter(user=user).first().team
    return AgentProject.objects.create(team=team, created_by=user, name=name, engine_name="local")


@pytest.fixture
def ada():
    return user_make("ada")


@pytest.fixture
def raw_token(ada):
    return token_for(ada)


@pytest.fixture
def api(raw_token):
    return Api(raw_token)


@pytest.fixture
def big(ada):
    """A project with 1,000 live versions and 3 deleted ones (metadata rows only)."""
    project = _project(ada)
    rows = [
        Version(project=project, number=n, name=f"step {n}", prompt=f"p{n}", snapshot_id=f"s{n}")
        for n in range(VERSIONS)
    ]
    deleted = [
        Version(project=project, number=n, name="gone", snapshot_id="x", deleted_at=timezone.now())
        for n in (5, 6, 7)
    ]
    Version.objects.bulk_create(rows + deleted)
    project.current_version = Version.objects.get(project=project, number=500, deleted_at=None)
    project.save(update_fields=["current_version"])
    return project


def _walk(api: Api, first: str) -> tuple[list[dict], int]:
    items, requests, link = [], 0, first
    while link:
        response = api.get(link)
        assert response.status_code == 200, response.content
        body = response.json()
        items += body["items"]
        requests += 1
        link = body["next"]
    return items, requests


def _validate(body: dict, schema: str) -> None:
    validator = Draft202012Validator({"$ref": f"#/components/schemas/{schema}", **DOC})
    errors = list(validator.iter_errors(body))
    assert not errors, errors[0].message


def test_1000_versions_answer_one_bounded_page(api, big, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        response = api.get(f"projects/{big.pk}/versions")
    body = response.json()
    assert response.status_code == 200 and len(response.content) < 40_000
    assert body["count"] == VERSIONS and body["pages"] == 20 and body["per_page"] == 50
    assert [v["number"] for v in body["items"]] == list(range(50))
    assert body["previous"] is None
    assert body["next"] == f"/api/v1/projects/{big.pk}/versions?page=2"
    _validate(body, "VersionList")


def test_walking_next_yields_every_version_once(api, big):
    items, requests = _walk(api, f"/api/v1/projects/{big.pk}/versions?per_page=100")
    assert requests == 10
    assert [v["number"] for v in items] == list(range(VERSIONS))
    assert [v["number"] for v in items if v["current"]] == [500]
    # Other parameters ride along in `next`: the history adds the 3 deleted versions.
    history, _ = _walk(api, f"/api/v1/projects/{big.pk}/versions?deleted=true&per_page=100")
    assert len(history) == VERSIONS + 3
    assert len({(v["number"], v["deleted_at"]) for v in history}) == VERSIONS + 3


def test_a_middle_and_a_past_the_end_page(api, big):
    base = f"projects/{big.pk}/versions"
    middle = api.get(base, page=7, per_page=100).json()
    assert [v["number"] for v in middle["items"]] == list(range(600, 700))
    assert middle["previous"] == f"/api/v1/{base}?page=6&per_page=100"
    assert middle["next"] == f"/api/v1/{base}?page=8&per_page=100"
    past = api.get(base, page=99, per_page=100).json()
    assert past["items"] == [] and past["count"] == VERSIONS and past["next"] is None
    assert past["previous"] == f"/api/v1/{base}?page=10&per_page=100"  # the last with items


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"page": "²"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page": "abc"}, "page"),
        ({"page": "9" * 5000}, "page"),
        ({"per_page": 0}, "per_page"),
        ({"per_page": 101}, "per_page"),
        ({"per_page": "%00"}, None),
    ],
)
def test_bad_page_input_answers_400(api, big, query, field):
    for path in (f"projects/{big.pk}/versions", "projects"):
        response = api.get(path, **query)
        assert response.status_code == 400, (path, query, response.content)
        body = response.json()
        assert body["code"] == "invalid" and body["message"]
        if field is not None:
            assert field in body["details"]


def test_projects_previews_and_shares_are_paged(api, ada, big):
    for n in range(4):
        _project(ada, f"p{n}")
    projects, requests = _walk(api, "/api/v1/projects?per_page=2")
    assert requests == 3 and len({p["id"] for p in projects}) == 5
    soon = timezone.now() + timedelta(hours=1)
    version = big.versions.get(number=1, deleted_at=None)
    Preview.objects.bulk_create(
        Preview(project=big, version=version, branch_id=f"b{n}", expires_at=soon)
        for n in range(120)
    )
    ShareLink.objects.bulk_create(
        ShareLink(project=big, version=version, token_hash=f"{n:064d}", expires_at=soon)
        for n in range(130)
    )
    for path, total in (("previews", 120), ("shares", 130)):
        first = api.get(f"projects/{big.pk}/{path}").json()
        assert first["count"] == total and len(first["items"]) == 50
        _validate(first, {"previews": "PreviewList", "shares": "ShareList"}[path])
        items, requests = _walk(api, f"/api/v1/projects/{big.pk}/{path}?per_page=100")
        assert requests == 2 and len({i["id"] for i in items}) == total


def test_mcp_list_versions_pages(raw_token, big):
    with acting_as(raw_token):
        first, current = version_calls.versions_list(project_id=big.pk)
        seen, page = [], 1
        while page:
            asked = PageRequest(number=page, per_page=100)
            body, _ = version_calls.versions_list(project_id=big.pk, page=asked)
            seen += [v["number"] for v in body["items"]]
            page = body["next_page"]
    assert len(first["items"]) == 50 and first["count"] == VERSIONS
    assert first["next_page"] == 2 and current == 500
    assert seen == list(range(VERSIONS))


def test_cli_versions_list_pages(big):
    out = StringIO()
    call_command(
        "versions",
        "list",
        "--project",
        str(big.pk),
        "--json",
        "--page",
        "3",
        "--per-page",
        "100",
        stdout=out,
    )
    body = json.loads(out.getvalue())
    assert body["count"] == VERSIONS and body["next_page"] == 4
    assert [v["number"] for v in body["items"]] == list(range(200, 300))
    text = StringIO()
    call_command("versions", "list", "--project", str(big.pk), stdout=text)
    assert "versions 1–50 of 1000 · page 1 of 20 (--page 2 for more)" in text.getvalue()
    assert text.getvalue().count("\n") < 60
    with pytest.raises(CommandError, match="--per-page"):
        call_command("versions", "list", "--project", str(big.pk), "--per-page", "500")


def test_mcp_page_out_of_range_is_a_tool_failure(raw_token, big):
    from checkpoints.paging import page_request

    with acting_as(raw_token), pytest.raises(ToolFailure) as failure:
        guarded(lambda: page_request({"page": "0"}))
    assert failure.value.code == "invalid" and "page" in failure.value.message
