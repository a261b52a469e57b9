"""/api/v1 SQL reads and migrations: run_sql and the schema (live and as of a version),
prepare → apply → undo, an apply refused after a concurrent change, and refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from checkpoints import connections
from checkpoints.engines.connect import run_sql
from checkpoints.models import Membership, MigrationTrial, SqlCopy
from checkpoints.services import lifecycle
from tests.api_helpers import Api, member_add, project_via_api, token_for, version_via_api
from tests.web_fixtures import engine_project_drop, jobs_run_queued, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_project():
    api = Api(token_for(user_make("ada")))
    project = project_via_api(api)
    version_via_api(
        api, project, "Items", "create table items (id serial primary key, name text);"
        "insert into items (name) values ('a'), ('b');",
    )  # fmt: skip
    yield api, project
    engine_project_drop(project)


def test_sql_reads_live_and_as_of_a_version(api_project):
    api, project = api_project
    base = f"projects/{project.pk}"
    version_via_api(api, project, "More", "insert into items (name) values ('c')")
    live = api.post(
        f"{base}/sql", {"sql": "select name from items where name like '%' order by id"}
    )
    assert live.status_code == 200, live.content
    assert live.json()["rows"] == [["a"], ["b"], ["c"]]
    assert live.json()["columns"] == [{"name": "name", "type": "text"}]
    v1 = api.post(f"{base}/sql", {"sql": "select count(*) from items", "version": 1}).json()
    assert v1["rows"] == [[2]] and v1["read_on"] == "a read-only copy of v1"
    refused = api.post(f"{base}/sql", {"sql": "delete from items"})
    assert refused.status_code == 400 and refused.json()["code"] == "sql_refused"
    two = api.post(f"{base}/sql", {"sql": "select 1; select 2"})
    assert two.status_code == 400 and "exactly one statement" in two.json()["message"]
    assert api.post(f"{base}/sql", {"sql": "select 1", "version": "x"}).status_code == 400
    assert api.post(f"{base}/sql", {"sql": "select 1", "version": 99}).status_code == 404
    # A schema the agent makes later is readable too (granted again on the first refusal).
    run_sql(project.connection_uri, "create schema extra; create table extra.t (i int);"
            "insert into extra.t values (5)")  # fmt: skip
    assert api.post(f"{base}/sql", {"sql": "select i from extra.t"}).json()["rows"] == [[5]]
    schema = api.get(f"{base}/schema", version=1).json()
    (items,) = schema["tables"]
    assert items["name"] == "items" and [c["name"] for c in items["columns"]] == ["id", "name"]
    assert items["indexes"][0]["primary"] is True


def test_prepare_apply_undo_and_a_refused_apply(api_project):
    api, project = api_project
    base = f"projects/{project.pk}"
    uri = project.connection_uri
    made = api.post(f"{base}/migrations", {"sql": "alter table items add column qty int"})
    assert made.status_code == 202 and made.json()["migration"]["state"] == "preparing"
    jobs_run_queued()
    migration = api.get(f"{base}/migrations/{made.json()['migration']['id']}").json()
    assert migration["state"] == "prepared" and migration["summary"] == "adds column qty"
    applied = api.post(f"{base}/migrations/{migration['id']}/apply")
    assert applied.status_code == 202
    jobs_run_queued()
    assert api.get(applied["Location"]).json()["version"]["number"] == 2
    assert [r[0] for r in run_sql(uri, "select column_name from information_schema.columns "
                                  "where table_name = 'items' order by 1")] == ["id", "name", "qty"]  # fmt: skip
    undo = api.post(f"{base}/rollback/undo")
    assert undo.status_code == 202
    jobs_run_queued()
    assert "qty" not in {r[0] for r in run_sql(uri, "select column_name from "
                         "information_schema.columns where table_name = 'items'")}  # fmt: skip

    second = api.post(f"{base}/migrations", {"sql": "drop table items"}).json()["migration"]
    jobs_run_queued()
    run_sql(uri, "insert into items (name) values ('late')")  # live changes after the copy
    refused = api.post(f"{base}/migrations/{second['id']}/apply")
    jobs_run_queued()
    assert api.get(refused["Location"]).json()["error"]["code"] == "live_changed"
    assert run_sql(uri, "select count(*) from items")[0][0] == 3
    discarded = api("DELETE", f"{base}/migrations/{second['id']}")
    assert discarded.status_code == 200 and discarded.json()["state"] == "discarded"
    assert api.get(f"{base}/migrations/999999").status_code == 404


def test_a_viewer_reads_but_cannot_migrate(api_project):
    api, project = api_project
    viewer = user_make("vic")
    member_add(project, viewer, Membership.Role.VIEWER)
    as_viewer = Api(token_for(viewer))
    base = f"projects/{project.pk}"
    assert as_viewer.post(f"{base}/sql", {"sql": "select 1"}).status_code == 200
    refused = as_viewer.post(f"{base}/migrations", {"sql": "select 1"})
    assert refused.status_code == 403


def test_a_read_copy_is_reused_then_dropped_when_its_time_is_up(api_project):
    api, project = api_project
    base = f"projects/{project.pk}"
    for _ in range(2):
        assert api.post(f"{base}/sql", {"sql": "select 1", "version": 1}).status_code == 200
    (copy,) = SqlCopy.objects.filter(project=project)
    engine = connections.engine_for(project=project)
    assert copy.branch_id in {b.id for b in engine.branch_list(project.engine_project_id)}
    # Its time passes (set, not waited for): the next read of the project drops it.
    SqlCopy.objects.filter(pk=copy.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api.post(f"{base}/sql", {"sql": "select 1"}).status_code == 200
    copy.refresh_from_db()
    assert copy.closed_at is not None
    assert copy.branch_id not in {b.id for b in engine.branch_list(project.engine_project_id)}


def test_cleanup_keeps_live_copies_and_removes_expired_ones(api_project):
    api, project = api_project
    base = f"projects/{project.pk}"
    api.post(f"{base}/sql", {"sql": "select 1", "version": 1})
    made = api.post(f"{base}/migrations", {"sql": "create table t (i int)"}).json()
    jobs_run_queued()
    trial = MigrationTrial.objects.get(pk=made["migration"]["id"])
    copy = SqlCopy.objects.get(project=project)
    plan = lifecycle.project_cleanup(project=project, user=None, dry_run=True)
    removed = {r.id for r in plan.removals}
    assert copy.branch_id not in removed and trial.branch_id not in removed
    SqlCopy.objects.filter(pk=copy.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    MigrationTrial.objects.filter(pk=trial.pk).update(
        prepared_at=timezone.now() - timedelta(days=2)
    )
    plan = lifecycle.project_cleanup(project=project, user=None, dry_run=True)
    assert {copy.branch_id, trial.branch_id} <= {r.id for r in plan.removals}
