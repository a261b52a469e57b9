"""The API for platforms that embed Checkpoints: passwords masked unless revealed, read-only
and project-scoped tokens, version labels, `Idempotency-Key` (also when retries race)."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from checkpoints import services
from checkpoints.models import IdempotencyRecord, Job, Version
from checkpoints.tokens import token_create
from tests.api_helpers import API, Api, project_via_api, token_for, version_via_api
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


def scoped(user, **options) -> Api:
    return Api(token_create(user=user, name="scoped", **options)[1])


def post(api: Api, path: str, body: dict | None, key: str):
    """POST with an `Idempotency-Key` header."""
    return api.client.post(
        f"{API}/{path}",
        data=json.dumps(body or {}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.token}", "Idempotency-Key": key},
    )


# Secrets -----------------------------------------------------------------------------------


def test_connection_strings_are_masked_unless_revealed_by_a_token_that_may(ada, api, project):
    real = services.project_connection_uri(project=project)
    masked = api.get(f"projects/{project.pk}/connection").json()
    assert masked["masked"] and masked["connection_uri"] != real
    assert (
        ":********@" in masked["connection_uri"] and real.split("@")[1] in masked["connection_uri"]
    )
    shown = api.get(f"projects/{project.pk}/connection", reveal="true").json()
    assert shown == {"connection_uri": real, "masked": False, "project": project.pk}
    never = scoped(ada, can_reveal=False)
    kept = never.get(f"projects/{project.pk}/connection", reveal="true").json()
    assert kept["masked"] and ":********@" in kept["connection_uri"]
    assert api.get(f"projects/{project.pk}/connection", reveal="maybe").status_code == 400


def test_a_preview_password_is_masked_unless_revealed(api, project):
    response = api.post(f"projects/{project.pk}/previews", {"version": 0})
    jobs_run_queued()
    url = api.get(response["Location"]).json()["preview"]["url"]
    real = services.preview_connection_uri(preview=project.previews.get())
    assert ":********@" in api.get(url).json()["connection_uri"]
    assert api.get(url, reveal="true").json()["connection_uri"] == real


# Token scopes -------------------------------------------------------------------------------


def test_a_read_only_token_reads_but_every_write_is_refused(ada, api, project):
    reader = scoped(ada, read_only=True)
    assert reader.get(f"projects/{project.pk}/versions").status_code == 200
    writes = [
        reader.post("projects", {"name": "x"}),
        reader.post(f"projects/{project.pk}/versions", {"prompt": "x"}),
        reader.post(f"projects/{project.pk}/versions/0/rollback"),
        reader("PATCH", f"projects/{project.pk}/versions/0", {"name": "y"}),
        reader("DELETE", f"projects/{project.pk}"),
        reader.post(f"projects/{project.pk}/previews", {"version": 0}),
    ]
    for response in writes:
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "read_only_token"
    assert not Job.objects.filter(state=Job.State.QUEUED).exists()
    assert Version.objects.get(project=project, number=0).name != "y"


def test_a_project_scoped_token_sees_only_its_projects(ada, api, project):
    other = project_via_api(api, "Other")
    try:
        only = scoped(ada, project_ids=[project.pk])
        listed = only.get("projects").json()["items"]
        assert [p["id"] for p in listed] == [project.pk]
        assert only.get(f"projects/{project.pk}").status_code == 200
        for path in (f"projects/{other.pk}", f"projects/{other.pk}/versions"):
            assert only.get(path).status_code == 404
        refused = only.post("projects", {"name": "More"})
        assert refused.status_code == 403 and refused.json()["code"] == "token_scope"
        stranger = user_make("mallory")
        with pytest.raises(services.ServiceError):
            token_create(user=stranger, name="steal", project_ids=[project.pk])
    finally:
        engine_project_drop(other)


# Labels -------------------------------------------------------------------------------------


def test_labels_round_trip_and_filter_the_list(api, project):
    labels = {"git_sha": "3f2a9c1", "agent_run": "42"}
    saved = version_via_api(api, project, "Add items", "create table items (id int)")
    assert saved["version"]["labels"] == {}
    response = api.post(f"projects/{project.pk}/versions", {"prompt": "Add tags", "labels": labels})
    assert response.status_code == 202, response.content
    jobs_run_queued()
    job = api.get(response["Location"]).json()
    assert job["version"]["labels"] == labels
    number = job["version"]["number"]
    assert api.get(f"projects/{project.pk}/versions/{number}").json()["labels"] == labels

    def numbers(*filters: str) -> list[int]:
        query = "&".join(f"label={f}" for f in filters)
        body = api.get(f"{API}/projects/{project.pk}/versions?{query}").json()
        return [v["number"] for v in body["items"]]

    assert numbers("git_sha:3f2a9c1") == [number]
    assert numbers("git_sha:3f2a9c1", "agent_run:42") == [number]
    assert numbers("git_sha:nope") == []
    assert numbers("agent_run") == [number]
    assert api.get(f"{API}/projects/{project.pk}/versions?label=:x").status_code == 400


@pytest.mark.parametrize(
    "labels",
    [
        ["not", "an object"],
        {"": "empty key"},
        {"bad key": "space"},
        {"k": 7},
        {"k": "x" * 201},
        {f"k{n}": "v" for n in range(21)},
        {"k": "line\nbreak"},
    ],
)
def test_labels_that_break_the_rules_answer_400_naming_them(api, project, labels):
    response = api.post(f"projects/{project.pk}/versions", {"prompt": "x", "labels": labels})
    assert response.status_code == 400
    assert "labels" in response.json()["details"]
    assert not Job.objects.filter(kind=Job.Kind.CREATE_VERSION, state="queued").exists()


# Idempotency --------------------------------------------------------------------------------


def test_a_retry_with_the_same_key_answers_the_first_answer_and_does_nothing_twice(api, project):
    first = post(api, f"projects/{project.pk}/versions", {"prompt": "Once"}, "key-1")
    again = post(api, f"projects/{project.pk}/versions", {"prompt": "Once"}, "key-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert Job.objects.filter(kind=Job.Kind.CREATE_VERSION).count() == 1
    other = post(api, f"projects/{project.pk}/versions", {"prompt": "Twice"}, "key-1")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    bad = post(api, f"projects/{project.pk}/versions", {"prompt": "x"}, "k" * 256)
    assert bad.status_code == 400


def test_a_refusal_is_replayed_but_a_busy_answer_is_not(api, project):
    refused = post(api, f"projects/{project.pk}/versions/99/rollback", None, "r-1")
    assert refused.status_code == 404
    assert post(api, f"projects/{project.pk}/versions/99/rollback", None, "r-1").json() == (
        refused.json()
    )
    api.post(f"projects/{project.pk}/versions", {"prompt": "holds the project"})
    busy = post(api, f"projects/{project.pk}/versions/0/rollback", None, "b-1")
    assert busy.status_code == 409
    assert not IdempotencyRecord.objects.filter(key="b-1").exists()
    jobs_run_queued()
    assert post(api, f"projects/{project.pk}/versions/0/rollback", None, "b-1").status_code == 202


@pytest.mark.django_db(transaction=True)
def test_the_same_key_sent_5_times_at_once_saves_once_and_answers_the_same():
    ada = user_make("ada")
    api = Api(token_for(ada))
    project = project_via_api(api)
    try:
        start = threading.Barrier(5)
        answers: list = [None] * 5

        def send(index: int) -> None:
            try:
                start.wait(timeout=30)
                client = Api(api.token)
                client.client = Client()
                answers[index] = post(
                    client, f"projects/{project.pk}/versions", {"prompt": "Race"}, "race-key"
                )
            finally:
                connection.close()

        threads = [threading.Thread(target=send, args=(n,)) for n in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert all(a is not None for a in answers)
        assert {a.status_code for a in answers} == {202}
        assert len({a.content for a in answers}) == 1
        assert sum(a.has_header("Idempotent-Replayed") for a in answers) == 4
        jobs_run_queued()
        saved = Version.objects.filter(project=project, prompt="Race")
        assert saved.count() == 1
        assert Job.objects.filter(project=project, kind=Job.Kind.CREATE_VERSION).count() == 1
    finally:
        engine_project_drop(project)
