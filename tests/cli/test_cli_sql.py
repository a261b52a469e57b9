"""`manage.py sql …`: read, describe, prepare → apply, and a write refused."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from checkpoints import services
from checkpoints.engines.connect import run_sql
from checkpoints.models import AgentProject
from tests.web_fixtures import engine_project_drop, jobs_run_queued, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    user = user_make("ci")
    job = services.project_create(user=user, name="CLI SQL")
    jobs_run_queued()
    project = AgentProject.objects.get(pk=job.project_id)
    services.version_create(
        project=project, user=user, prompt="Items", name=None,
        sql="create table items (id int primary key, name text); insert into items values (1, 'a');",
    )  # fmt: skip
    jobs_run_queued()
    yield project
    engine_project_drop(project)


def sql(*args: str) -> str:
    out = StringIO()
    call_command("sql", *args, stdout=out)
    return out.getvalue()


def test_query_schema_prepare_apply(project, tmp_path):
    pid = str(project.pk)
    out = sql("query", "--project", pid, "--sql", "select id, name from items")
    assert out.splitlines()[0].split() == ["id", "name"] and out.splitlines()[1].split() == [
        "1",
        "a",
    ]
    assert "(1 rows from the live database)" in out
    with pytest.raises(CommandError, match="read-only transaction|permission denied"):
        sql("query", "--project", pid, "--sql", "delete from items")
    assert "items (table" in sql("schema", "--project", pid)
    path = tmp_path / "m.sql"
    path.write_text("alter table items add column qty int;")
    prepared = json.loads(sql("prepare", "--project", pid, "--sql-file", str(path), "--json"))
    assert prepared["state"] == "prepared" and prepared["summary"] == "adds column qty"
    out = sql("apply", "--project", pid, "--migration", str(prepared["id"]))
    assert "Applied migration" in out and "saved v2" in out
    uri = services.project_connection_uri(project=project)
    assert run_sql(uri, "select count(*) from information_schema.columns "
                   "where table_name = 'items' and column_name = 'qty'")[0][0] == 1  # fmt: skip
    old = json.loads(
        sql("query", "--project", pid, "--sql", "select * from items", "--version", "1", "--json")
    )
    assert [c["name"] for c in old["columns"]] == ["id", "name"]
    with pytest.raises(CommandError, match="has no migration 999"):
        sql("discard", "--project", pid, "--migration", "999")
