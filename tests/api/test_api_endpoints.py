"""Every API endpoint and every error code, against the real local engine.

Jobs run synchronously here (`jobs_run_queued`, as the worker would); `?wait=true` with a
real worker is in test_api_agent_loop.py.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from checkpoints import connections, services
from checkpoints.api import http
from checkpoints.api.models import ApiToken
from checkpoints.engines.connect import run_sql
from checkpoints.engines.errors import EngineError, OperationTimeout
from checkpoints.models import AgentProject, Job, Membership, Preview, Version
from tests.api_helpers import Api, member_add, project_via_api, token_for, version_via_api
from tests.web_fixtures import engine_project_drop, jobs_run_queued, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada():
    return user_make("ada")


@pytest.fixture
def api(ada):
    return Api(token_for(ada))


@pytest.fixture
def project(api):
    project = project_via_api(api)
    yield project
    engine_project_drop(project)


@pytest.fixture
def bob_api():
    return Api(token_for(user_make("bob")))


@pytest.fixture
def viewer_api(project):
    carol = user_make("carol")
    member_add(project, carol, Membership.Role.VIEWER)
    return Api(token_for(carol))


def tables(uri: str) -> set[str]:
    rows = run_sql(uri, "select tablename from pg_tables where schemaname = 'public'")
    return {row[0] for row in rows}


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and body["message"]
    assert "Traceback" not in response.content.decode()
    return body


# Tokens ------------------------------------------------------------------------------------


def test_token_page_shows_the_token_once_and_revokes(client, ada):
    client.force_login(ada)
    page = client.get("/settings/tokens/")
    assert page.status_code == 200 and "No tokens yet" in page.content.decode()
    created = client.post("/settings/tokens/", {"name": "CI agent"})
    raw = created.context["raw_token"]
    assert raw in created.content.decode() and created["Cache-Control"] == "no-store"
    token = ApiToken.objects.get()
    assert raw.startswith(f"ckp_{token.prefix}_") and raw not in token.token_hash
    assert len(token.token_hash) == 64
    assert raw not in client.get("/settings/tokens/").content.decode()
    assert Api(raw).get("projects").status_code == 200

    client.post(f"/settings/tokens/{token.pk}/revoke")
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert_error(Api(raw).get("projects"), 401, "unauthorized")
    assert client.post("/settings/tokens/", {"name": ""}).status_code == 400


def test_token_page_needs_login_and_is_linked(client, ada):
    assert client.get("/settings/tokens/").status_code == 302
    client.force_login(ada)
    assert 'href="/settings/tokens/"' in client.get("/").content.decode()


def test_unauthorized_without_or_with_bad_token(ada, client):
    assert_error(Api(None).get("projects"), 401, "unauthorized")
    assert_error(Api("nonsense").get("projects"), 401, "unauthorized")
    assert_error(Api("ckp_0000_" + "x" * 40).get("projects"), 401, "unauthorized")
    raw = token_for(ada)
    assert_error(Api(raw[:-2] + "zz").get("projects"), 401, "unauthorized")
    # A browser session does not count: the API is token-only.
    client.force_login(ada)
    assert client.get("/api/v1/projects").status_code == 401


def test_unknown_path_and_method(api):
    assert_error(api.get("nowhere"), 404, "not_found")
    response = api("PUT", "projects", {})
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, POST"


# Projects ----------------------------------------------------------------------------------


def test_project_create_poll_get_list_delete(api, ada):
    response = api.post("projects", {"name": "Shop"})
    assert response.status_code == 202
    job = response.json()
    assert job["kind"] == "create_project" and job["state"] == "queued"
    assert response["Location"] == job["url"]
    jobs_run_queued()
    done = api.get(response["Location"]).json()
    assert done["state"] == "succeeded" and done["version"]["number"] == 0
    assert [step["state"] for step in done["steps"]] == ["succeeded"] * len(done["steps"])
    project = AgentProject.objects.get(pk=job["project"])
    try:
        listed = api.get("projects").json()["items"]
        assert [p["name"] for p in listed] == ["Shop"]
        detail = api.get(f"projects/{project.pk}").json()
        assert detail["ready"] and detail["current_version"] == 0 and detail["role"] == "owner"
    finally:
        response = api("DELETE", f"projects/{project.pk}")
    assert response.status_code == 204
    assert not AgentProject.objects.filter(pk=project.pk).exists()
    assert_error(api.get(f"projects/{project.pk}"), 404, "not_found")


def test_project_create_checks_every_field(api, ada):
    body = assert_error(api.post("projects", {"name": "", "team": "x"}), 400, "invalid")
    assert set(body["details"]) == {"name", "team"}
    body = assert_error(api.post("projects", {"name": "a" * 201, "extra": 1}), 400, "invalid")
    assert set(body["details"]) == {"extra"}
    body = assert_error(api.post("projects", {"name": "ok", "team": 999999}), 400, "invalid")
    assert "team" in body["details"]
    body = assert_error(api("POST", "projects", raw=b"{not json"), 400, "invalid")
    assert "body" in body["details"]
    body = assert_error(api.post("projects", {"name": "nul\x00"}), 400, "invalid")
    assert "name" in body["details"]
    assert_error(api.post("projects", {"name": "x"}, wait="maybe"), 400, "invalid")
    assert not AgentProject.objects.exists()


def test_other_users_project_looks_missing(project, bob_api):
    job = project.jobs.get()
    for path in (
        f"projects/{project.pk}",
        f"projects/{project.pk}/versions",
        f"projects/{project.pk}/versions/0",
        f"projects/{project.pk}/connection",
        f"projects/{project.pk}/previews",
        f"projects/{project.pk}/jobs/{job.pk}",
        f"projects/{project.pk}/diff?from=0&to=0",
    ):
        missing = bob_api.get(path.replace(str(project.pk), "987654321", 1))
        theirs = bob_api.get(path)
        assert_error(theirs, 404, "not_found")
        # The same answer as for an id no project has (the sentence names the id asked).
        same = theirs.content.decode().replace(str(project.pk), "987654321")
        assert json.loads(same) == missing.json()
    assert_error(bob_api.post(f"projects/{project.pk}/versions/0/rollback"), 404, "not_found")
    assert_error(bob_api("DELETE", f"projects/{project.pk}"), 404, "not_found")
    assert bob_api.get("projects").json() == {
        "count": 0,
        "page": 1,
        "per_page": 50,
        "pages": 1,
        "next_page": None,
        "previous_page": None,
        "next": None,
        "previous": None,
        "items": [],
    }


def test_huge_ids_are_not_found(api):
    assert_error(api.get(f"projects/{2**70}"), 404, "not_found")


def test_viewer_reads_but_cannot_mutate(project, viewer_api):
    assert viewer_api.get(f"projects/{project.pk}").json()["role"] == "viewer"
    assert viewer_api.get(f"projects/{project.pk}/versions").status_code == 200
    assert_error(viewer_api.post(f"projects/{project.pk}/versions/0/rollback"), 403, "forbidden")
    assert_error(
        viewer_api.post(f"projects/{project.pk}/versions", {"prompt": "x"}), 403, "forbidden"
    )
    assert_error(
        viewer_api.post(f"projects/{project.pk}/previews", {"version": 0}), 403, "forbidden"
    )
    assert_error(viewer_api.get(f"projects/{project.pk}/connection"), 403, "forbidden")
    assert_error(viewer_api("DELETE", f"projects/{project.pk}"), 403, "forbidden")
    assert not project.jobs.filter(state__in=Job.UNFINISHED).exists()


def test_connection_string_is_stable_and_needs_a_ready_project(api, project, ada):
    body = api.get(f"projects/{project.pk}/connection", reveal="true").json()
    assert body["connection_uri"] == services.project_connection_uri(project=project)
    not_ready = services.project_create(user=ada, name="Later")  # its job has not run
    assert_error(api.get(f"projects/{not_ready.project_id}/connection"), 409, "not_ready")


# Versions ----------------------------------------------------------------------------------


def test_version_create_list_get_rename(api, project):
    job = version_via_api(api, project, "Add items", "create table items (id int primary key);")
    assert job["state"] == "succeeded"
    assert job["version"]["number"] == 1 and job["version"]["current"]
    assert job["version"]["prompt"] == "Add items" and job["version"]["parent"] == 0
    base = f"projects/{project.pk}/versions"
    assert [v["number"] for v in api.get(base).json()["items"]] == [0, 1]
    assert api.get(f"{base}/1").json()["name"] == "Add items"
    renamed = api("PATCH", f"{base}/1", {"name": "Items table"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Items table"
    body = assert_error(api("PATCH", f"{base}/1", {"name": 3, "x": 1}), 400, "invalid")
    assert set(body["details"]) == {"x"}
    body = assert_error(api("PATCH", f"{base}/1", {"name": 3}), 400, "invalid")
    assert set(body["details"]) == {"name"}
    assert_error(api.get(f"{base}/7"), 404, "not_found")


def test_version_create_checks_every_field(api, project):
    base = f"projects/{project.pk}/versions"
    body = assert_error(api.post(base, {"sql": 1, "name": ""}), 400, "invalid")
    assert set(body["details"]) == {"prompt", "sql", "name"}
    body = assert_error(api.post(base, {"prompt": "x", "sql": "select 1; commit"}), 400, "invalid")
    assert "Statement 2" in body["message"]
    assert project.versions.count() == 1


def test_sql_failure_creates_no_version_and_names_the_statement(api, project):
    job = version_via_api(
        api, project, "Broken", "create table a (id int);\nselect * from nowhere;\n"
    )
    assert job["state"] == "failed" and job["version"] is None
    assert job["error"]["code"] == "sql_failed"
    assert "Statement 2 of 2 failed" in job["error"]["message"]
    assert "select * from nowhere" in job["error"]["message"]
    assert project.versions.count() == 1
    assert tables(services.project_connection_uri(project=project)) == set()


def test_version_delete_keeps_history_and_then_refuses(api, project, ada):
    version_via_api(api, project, "Add items", "create table items (id int)")
    base = f"projects/{project.pk}/versions"
    response = api("DELETE", f"{base}/1")
    assert response.status_code == 202 and response.json()["kind"] == "version_delete"
    jobs_run_queued()
    deleted = api.get(f"{base}/1").json()
    assert deleted["deleted_at"] and deleted["deleted_by"] == "ada"
    assert [v["number"] for v in api.get(base).json()["items"]] == [0]
    assert [v["number"] for v in api.get(base, deleted="true").json()["items"]] == [0, 1]
    assert_error(api.post(f"{base}/1/rollback"), 422, "version_deleted")
    assert_error(
        api.post(f"projects/{project.pk}/previews", {"version": 1}), 422, "version_deleted"
    )
    assert_error(api("PATCH", f"{base}/1", {"name": "x"}), 422, "version_deleted")
    assert_error(api("DELETE", f"{base}/1"), 422, "version_deleted")


def test_expired_version_cannot_be_restored(api, project):
    Version.objects.filter(project=project).update(expires_at=timezone.now() - timedelta(1))
    assert_error(api.post(f"projects/{project.pk}/versions/0/rollback"), 422, "version_expired")
    assert_error(
        api.post(f"projects/{project.pk}/previews", {"version": 0}), 422, "version_expired"
    )


def test_diff_from_manifests_or_honestly_unavailable(api, project):
    version_via_api(api, project, "Add items", "create table items (id int)")
    body = api.get(f"projects/{project.pk}/diff", **{"from": 0, "to": 1}).json()
    assert body["summary"] == "adds table items" and body["tables_added"] == ["items"]
    Version.objects.filter(project=project).update(manifest=None)
    body = assert_error(
        api.get(f"projects/{project.pk}/diff", **{"from": 0, "to": 1}), 422, "diff_unavailable"
    )
    assert "v0 and v1" in body["message"]
    body = assert_error(api.get(f"projects/{project.pk}/diff", to="x"), 400, "invalid")
    assert set(body["details"]) == {"from", "to"}
    assert_error(api.get(f"projects/{project.pk}/diff", **{"from": 0, "to": 9}), 404, "not_found")


# Rollback, previews, busy --------------------------------------------------------------------


def test_rollback_and_two_at_once(api, project):
    version_via_api(api, project, "Add items", "create table items (id int)")
    version_via_api(api, project, "Add orders", "create table orders (id int)")
    base = f"projects/{project.pk}/versions"
    first = api.post(f"{base}/0/rollback")
    second = api.post(f"{base}/1/rollback")
    assert first.status_code == 202 and first.json()["kind"] == "rollback"
    body = assert_error(second, 409, "busy")
    assert body["job_id"] == first.json()["id"]
    assert second["Retry-After"] == str(body["retry_after"]) and body["retry_after"] >= 1
    jobs_run_queued()
    job = api.get(first["Location"]).json()
    assert job["state"] == "succeeded" and job["version"]["number"] == 0
    live = api.get(f"projects/{project.pk}/connection", reveal="true").json()["connection_uri"]
    assert tables(live) == set()
    assert api.get(f"projects/{project.pk}").json()["current_version"] == 0


def test_preview_open_get_discard(api, project, viewer_api):
    version_via_api(api, project, "Add items", "create table items (id int)")
    response = api.post(f"projects/{project.pk}/previews", {"version": 0})
    assert response.status_code == 202
    jobs_run_queued()
    job = api.get(response["Location"]).json()
    assert job["state"] == "succeeded", job["error"]
    preview = api.get(job["preview"]["url"], reveal="true").json()
    assert preview["live"] and preview["version"] == 0
    assert tables(preview["connection_uri"]) == set()
    live = api.get(f"projects/{project.pk}/connection", reveal="true").json()["connection_uri"]
    assert preview["connection_uri"] != live and tables(live) == {"items"}
    assert "connection_uri" not in viewer_api.get(job["preview"]["url"]).json()
    assert [p["id"] for p in api.get(f"projects/{project.pk}/previews").json()["items"]] == [
        preview["id"]
    ]

    discard = api("DELETE", job["preview"]["url"])
    assert discard.status_code == 202 and discard.json()["kind"] == "preview_discard"
    jobs_run_queued()
    gone = api.get(job["preview"]["url"]).json()
    assert not gone["live"] and "connection_uri" not in gone
    assert_error(api("DELETE", job["preview"]["url"]), 422, "preview_gone")
    assert_error(api.post(f"projects/{project.pk}/previews", {}), 400, "invalid")
    assert Preview.objects.count() == 1


def test_wait_times_out_into_202_when_no_worker_runs(api, project):
    response = api.post(
        f"projects/{project.pk}/versions", {"prompt": "x"}, wait="true", wait_seconds=0.3
    )
    assert response.status_code == 202 and response.json()["state"] == "queued"


# Engine failures and the catch-all -----------------------------------------------------------


class BrokenEngine:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def connection_uri(self, *args, **kwargs):
        raise self.error


def test_engine_errors_are_502_and_504(api, project, monkeypatch):
    path = f"projects/{project.pk}/connection"
    # A string the jobs stored is answered without the engine: without one, it is asked.
    AgentProject.objects.filter(pk=project.pk).update(connection_uri="")
    monkeypatch.setattr(
        connections,
        "engine_for",
        lambda **kw: BrokenEngine(EngineError("boom at postgres://u:secret@h/db")),
    )
    body = assert_error(api.get(path), 502, "engine_error")
    assert "boom" in body["message"] and "secret" not in body["message"]
    monkeypatch.setattr(
        connections, "engine_for", lambda **kw: BrokenEngine(OperationTimeout([], 3.0))
    )
    assert_error(api.get(path), 504, "engine_timeout")


def test_unexpected_error_is_a_generic_500(api, project, monkeypatch, caplog):
    def explode(**kwargs):
        raise RuntimeError("internal detail /etc/secret")

    monkeypatch.setattr(services, "project_connection_uri", explode)
    body = assert_error(api.get(f"projects/{project.pk}/connection"), 500, "internal")
    assert body["message"] == http.INTERNAL
    assert "internal detail" in caplog.text


def test_failed_job_with_wait_answers_its_error(api, project, monkeypatch):
    """A job that already failed (or fails while we wait) answers with its own error code."""
    job = services.version_create(
        project=project, user=project.created_by, prompt="x", sql="select * from nowhere"
    )
    jobs_run_queued()
    job.refresh_from_db()
    assert job.result["error_code"] == "sql_failed"
    response = api.get(f"projects/{project.pk}/jobs/{job.pk}", wait="true")
    assert response.status_code == 200 and response.json()["error"]["code"] == "sql_failed"
