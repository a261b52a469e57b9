"""The OpenAPI description: valid OpenAPI 3.1, and true of real responses of every endpoint."""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator
from schemathesis.specs.openapi.definitions import OPENAPI_31

from checkpoints.api.openapi import openapi_document
from checkpoints.models import Membership
from checkpoints.shapes import openapi_components
from tests.api_helpers import Api, member_add, project_via_api, token_for, version_via_api
from tests.web_fixtures import engine_project_drop, jobs_run_queued, user_make

DOC = openapi_document()


def test_document_is_valid_openapi_31():
    Draft202012Validator(OPENAPI_31).validate(DOC)
    for schema in DOC["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_the_answers_components_are_generated_from_the_shapes():
    """`make openapi` wrote them: the served document describes the answers exactly as the
    models every door answers through (`checkpoints.shapes`) declare them."""
    generated = openapi_components()
    served = DOC["components"]["schemas"]
    assert {name: served.get(name) for name in generated} == generated
    assert {"Project", "Version", "Preview", "Job", "Share", "Error", "VersionList"} <= set(served)


def test_every_operation_has_a_unique_operation_id():
    operations = [
        (method, path, operation)
        for path, item in DOC["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    ids = [operation.get("operationId") for _, _, operation in operations]
    missing = [
        f"{method.upper()} {path}" for method, path, op in operations if not op.get("operationId")
    ]
    assert not missing, missing
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[a-z][A-Za-z]+", i) for i in ids)
    for method, path, operation in operations:  # a busy refusal says when to try again
        if "409" in operation["responses"]:
            assert "Retry-After" in operation["responses"]["409"]["headers"], (method, path)


def test_every_operation_documents_the_input_guards_400():
    """The input guard answers 400 before any view runs (a NUL in any query value)."""
    undocumented = [
        f"{method.upper()} {path}"
        for path, item in DOC["paths"].items()
        for method, operation in item.items()
        if method != "parameters" and "400" not in operation["responses"]
    ]
    assert undocumented == []


@pytest.mark.django_db
def test_a_nul_in_a_query_value_is_a_described_400():
    api = RecordingApi(token_for(user_make("ada")), set())
    response = api.get("projects/1", note="a%00b")
    assert response.status_code == 400 and "NUL character" in response.json()["message"]


def test_document_is_served(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.json() == DOC


def _template_regex(template: str) -> re.Pattern:
    template = template.replace("{snapshot_id}", "[^/]+")  # Neon's ids are words
    return re.compile("^" + re.sub(r"\{[a-z_]+\}", r"[0-9]+", template) + "$")


TEMPLATES = [(template, _template_regex(template)) for template in DOC["paths"]]


class RecordingApi(Api):
    """Checks every response against the document and notes which operations were seen."""

    def __init__(self, token: str | None, seen: set[tuple[str, str]]) -> None:
        super().__init__(token)
        self.seen = seen

    def __call__(self, method, path, body=None, **kwargs):
        response = super().__call__(method, path, body, **kwargs)
        url = path if path.startswith("/") else f"/api/v1/{path}"
        url = url.split("?")[0]
        matches = [template for template, regex in TEMPLATES if regex.match(url)]
        assert matches, f"{url} is not described"
        template = matches[0]
        operation = DOC["paths"][template].get(method.lower())
        if operation is None and response.status_code == 405:  # any method not listed
            operation = {
                "responses": {
                    "405": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        }
                    }
                }
            }
        assert operation is not None, f"{method} {template} is not described"
        described = operation["responses"].get(str(response.status_code))
        assert described is not None, f"{method} {template} {response.status_code} not described"
        if response.status_code == 204:
            assert response.content == b""
        else:
            schema = described["content"]["application/json"]["schema"]
            validator = Draft202012Validator({**schema, "components": DOC["components"]})
            errors = list(validator.iter_errors(response.json()))
            assert not errors, (method, template, response.status_code, errors[0].message)
        if response.status_code == 202:
            assert response["Location"]
        self.seen.add((method.lower(), template))
        return response


@pytest.mark.django_db
def test_real_responses_of_every_endpoint_match_the_document():
    ada = user_make("ada")
    api = RecordingApi(token_for(ada), set())
    project = project_via_api(api)
    try:
        _exercise(api, project)
        _exercise_neon(api, project)
    finally:
        engine_project_drop(project)
    described = {
        (method, template)
        for template, item in DOC["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert described - api.seen == set()


def _exercise_events(api: RecordingApi, base: str) -> None:
    """Destructive statements and protected tables (tests/events has the behaviour)."""
    api.get(f"{base}/events")
    api.post(f"{base}/protected-tables", {"table": "items"})
    api.get(f"{base}/protected-tables")
    api.post(f"{base}/protected-tables/lift", {"table": "items"})
    api.post(f"{base}/events/999999/restore-before")  # 404


def _exercise(api: RecordingApi, project) -> None:
    base = f"projects/{project.pk}"
    api.get("projects")
    api.get(base)
    api.get(f"{base}/connection")
    api.post(f"{base}/connection/rotate")
    assert api.post(f"{base}/sessions/end").json()["ended"] == 0
    assert api.post(f"{base}/move", {"connection": 999999}).status_code == 400  # not the team's
    api.post(f"{base}/versions", {"prompt": ""})  # 400
    job = version_via_api(api, project, "Add items", "create table items (id int)")
    api.get(job["url"])
    _exercise_events(api, base)
    failed = version_via_api(api, project, "Broken", "select * from nowhere")
    assert failed["error"]["code"] == "sql_failed"
    api.get(f"{base}/versions")
    api.get(f"{base}/versions/1")
    api("PATCH", f"{base}/versions/1", {"name": "Items"})
    api.post(f"{base}/versions/1/pin")
    api.post(f"{base}/versions/1/unpin")
    api.get(f"{base}/diff", **{"from": 0, "to": 1})  # 200, from the manifests
    api.get(f"{base}/diff")  # 400
    assert api.get(f"{base}/versions/0/rollback/plan").json()["version"] == 0
    api.get(f"{base}/versions/{2**40}/rollback/plan")  # 404

    assert api.post(f"{base}/rollback/undo").json()["code"] == "nothing_to_undo"  # 409
    first = api.post(f"{base}/versions/0/rollback")
    api.post(f"{base}/versions/1/rollback")  # 409
    jobs_run_queued()
    api.get(first["Location"])
    api.post(f"{first['Location']}/cancel")  # 409 not_running
    for back_to in (1, 0):  # undo, then undo the undo
        undo = api.post(f"{base}/rollback/undo")  # 202
        jobs_run_queued()
        assert api.get(undo["Location"]).json()["state"] == "succeeded"
        versions = api.get(f"{base}/versions").json()
        current = [v for v in versions["items"] if v["current"]]
        assert [v["number"] for v in current] == [back_to]
    queued = api.post(f"{base}/versions", {"prompt": "Never", "sql": "select 1"})
    assert api.post(f"{queued['Location']}/cancel").json()["state"] == "cancelled"  # 200

    api.post(f"{base}/versions/1/restore-tables", {"tables": []})  # 400
    restored = api.post(f"{base}/versions/1/restore-tables", {"tables": ["items"]})
    jobs_run_queued()
    assert api.get(restored["Location"]).json()["state"] == "succeeded"

    opened = api.post(f"{base}/previews", {"version": 1})
    jobs_run_queued()
    preview_url = api.get(opened["Location"]).json()["preview"]["url"]
    assert "connection_uri" in api.get(preview_url).json()
    api.get(f"{base}/previews")
    api("DELETE", preview_url)
    jobs_run_queued()
    api("DELETE", preview_url)  # 422 preview_gone

    shared = api.post(f"{base}/shares", {"version": 1, "hours": 2}).json()
    assert shared["link"].endswith(f"/s/{shared['token']}")
    api.post(f"{base}/shares", {"version": 1, "hours": 169})  # 400
    api.get(f"{base}/shares")
    api.get(shared["url"])
    api("DELETE", shared["url"])
    jobs_run_queued()

    api("DELETE", f"{base}/versions/1")
    jobs_run_queued()
    api.get(f"{base}/versions/1")
    api.post(f"{base}/versions/1/rollback")  # 422 version_deleted
    api.post(f"{base}/shares", {"version": 1})  # 422 version_deleted

    api.post(f"{base}/sql", {"sql": "select 1 as one"})
    api.post(f"{base}/sql", {"sql": "select 1; select 2"})  # 400
    api.get(f"{base}/schema")
    trial = api.post(f"{base}/migrations", {"sql": "create table later (id int)"})  # 202
    jobs_run_queued()
    migration_url = f"{base}/migrations/{trial.json()['migration']['id']}"
    api.get(migration_url)
    applied = api.post(f"{migration_url}/apply")  # 202
    jobs_run_queued()
    assert api.get(applied["Location"]).json()["state"] == "succeeded"
    api("DELETE", migration_url)  # 409 migration_not_prepared (applied)

    viewer = user_make("carol")
    member_add(project, viewer, Membership.Role.VIEWER)
    RecordingApi(token_for(viewer), api.seen)("DELETE", base)  # 403
    RecordingApi(token_for(viewer), api.seen)("DELETE", shared["url"])  # 403
    RecordingApi(token_for(viewer), api.seen).post(f"{base}/shares", {"version": 0})  # 403
    RecordingApi("ckp_bad_token", api.seen).get("projects")  # 401
    api.get(f"{base}/jobs/999999")  # 404
    api("PUT", "projects")  # 405

    other = project_via_api(api, "Second")
    assert api("DELETE", f"projects/{other.pk}").status_code == 204  # drops the engine project


def _exercise_neon(api: RecordingApi, project) -> None:
    """The Neon-account operations' refusals (their successes: tests/neon/test_neon_api.py)."""
    team = f"teams/{project.team_id}"
    assert api.get(f"{team}/neon-accounts").json() == {"results": []}
    assert api.post(f"{team}/neon-accounts", {"name": "no key"}).status_code == 400
    assert api("DELETE", f"{team}/neon-accounts/999999").status_code == 404
    assert api.get(f"{team}/neon-accounts/999999/projects").status_code == 404
    assert api.post(f"{team}/neon-accounts/999999/adopt", {}).status_code == 404
    assert api.post(f"{team}/imports", {"name": "x"}).status_code == 400
    assert api.post(f"projects/{project.pk}/neon-snapshots/123/import").status_code == 400
