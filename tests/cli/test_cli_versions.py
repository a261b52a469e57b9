"""`manage.py versions …`: the same use cases from the command line, run to completion."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from checkpoints import services
from checkpoints.engines.connect import run_sql
from checkpoints.errors import PROJECT_NOT_FOUND
from checkpoints.management import project_command as command
from checkpoints.models import AgentProject, Membership
from tests.web_fixtures import engine_project_drop, jobs_run_queued, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return user_make("ci")


@pytest.fixture
def project(user):
    job = services.project_create(user=user, name="CI project")
    jobs_run_queued()
    project = AgentProject.objects.get(pk=job.project_id)
    yield project
    engine_project_drop(project)


def versions(*args: str) -> str:
    out = StringIO()
    call_command("versions", *args, stdout=out)
    return out.getvalue()


def tables(uri: str) -> set[str]:
    rows = run_sql(uri, "select tablename from pg_tables where schemaname = 'public'")
    return {row[0] for row in rows}


def test_create_rollback_preview_list(project, tmp_path):
    sql = tmp_path / "items.sql"
    sql.write_text("create table items (id int primary key);\ninsert into items values (1);\n")
    out = versions(
        "create", "--project", str(project.pk), "--prompt", "Add items", "--sql-file", str(sql)
    )
    assert "Saved v1 “Add items”" in out and "taking the snapshot" in out
    body = json.loads(
        versions(
            "create",
            "--project",
            str(project.pk),
            "--prompt",
            "Add orders",
            "--json",
            "--sql-file",
            str(_write(tmp_path, "create table orders (id int);")),
        )
    )
    assert body["version"]["number"] == 2 and body["version"]["current"]
    assert body["state"] == "succeeded"  # the job, as the API and MCP answer it
    uri = services.project_connection_uri(project=project)
    assert tables(uri) == {"items", "orders"}

    listed = versions("list", "--project", str(project.pk))
    lines = listed.splitlines()
    assert lines[0].split() == ["version", "name", "created", "(UTC)", "parent", "prompt", "labels"]
    assert lines[-1].startswith("* v2") and "Add orders" in lines[-1]

    out = versions("rollback", "--project", str(project.pk), "--version", "1")
    assert "Rolled back to v1" in out
    assert tables(uri) == {"items"}

    preview_uri = versions("preview", "--project", str(project.pk), "--version", "2").strip()
    assert preview_uri.startswith("postgresql://") and preview_uri != uri
    assert tables(preview_uri) == {"items", "orders"}

    items = json.loads(versions("list", "--project", str(project.pk), "--json"))["items"]
    assert [(v["number"], v["current"]) for v in items] == [(0, False), (1, True), (2, False)]


def _write(tmp_path, text: str):
    path = tmp_path / "step.sql"
    path.write_text(text)
    return path


def test_failing_sql_exits_non_zero_and_names_the_statement(project, tmp_path):
    path = _write(tmp_path, "create table a (id int);\nselect * from missing;")
    with pytest.raises(CommandError) as failed:
        versions("create", "--project", str(project.pk), "--prompt", "x", "--sql-file", str(path))
    assert "Statement 2 of 2 failed" in str(failed.value)
    assert "select * from missing" in str(failed.value)
    assert project.versions.count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--project", "999999"], PROJECT_NOT_FOUND.format(id=999999)),
        (["rollback", "--version", "9"], "has no version 9."),
        (["list", "--user", "nobody"], command.USER_NOT_FOUND.format(username="nobody")),
        (["create", "--prompt", "x", "--sql-file", "/nonexistent.sql"], "Cannot read the SQL file"),
    ],
)
def test_clear_errors(project, args, message):
    if "--project" not in args:
        args = [args[0], "--project", str(project.pk), *args[1:]]
    with pytest.raises(CommandError) as failed:
        versions(*args)
    assert message in str(failed.value)


def test_role_and_busy_refusals(project):
    viewer = user_make("viewer")
    Membership.objects.create(team=project.team, user=viewer, role=Membership.Role.VIEWER)
    with pytest.raises(CommandError) as refused:
        versions("rollback", "--project", str(project.pk), "--version", "0", "--user", "viewer")
    assert "is viewer: only an operator or an owner can roll back" in str(refused.value)
    # A user outside the project's team does not see it at all.
    user_make("stranger")
    with pytest.raises(CommandError) as missing:
        versions("list", "--project", str(project.pk), "--user", "stranger")
    assert str(missing.value) == PROJECT_NOT_FOUND.format(id=project.pk)
    services.version_create(project=project, user=project.created_by, prompt="queued")
    with pytest.raises(CommandError) as busy:
        versions("rollback", "--project", str(project.pk), "--version", "0")
    assert "busy" in str(busy.value)


def test_undo_restores_what_the_rollback_replaced(project, tmp_path):
    sql = tmp_path / "items.sql"
    sql.write_text("create table items (id int primary key);\n")
    versions(
        "create", "--project", str(project.pk), "--prompt", "Add items", "--sql-file", str(sql)
    )
    uri = services.project_connection_uri(project=project)
    run_sql(uri, "insert into items values (7)")  # after v1: only the live database has it
    with pytest.raises(CommandError, match="no rollback to undo"):
        versions("undo", "--project", str(project.pk))
    versions("rollback", "--project", str(project.pk), "--version", "0")
    assert "items" not in tables(uri)
    listed = versions("list", "--project", str(project.pk))
    assert "Before rollback to v0 [automatic]" in listed
    out = versions("undo", "--project", str(project.pk))
    assert "Undid the rollback: back to v2 “Before rollback to v0”" in out
    assert run_sql(uri, "select id from items") == [(7,)]
    body = json.loads(versions("undo", "--project", str(project.pk), "--json"))
    assert body["version"]["number"] == 0 and body["version"]["current"]
    assert body["state"] == "succeeded"
    assert "items" not in tables(uri)
