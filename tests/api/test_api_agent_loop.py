"""The whole agent loop through the API only, with a real database-backed task worker.

Every long action uses `?wait=true`: the view polls the job row while django_tasks_db's
worker (in a thread, as `make run` has one) runs the job.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from checkpoints.engines.connect import run_sql
from checkpoints.models import AgentProject
from tests.api_helpers import Api, token_for
from tests.web_fixtures import engine_project_drop, user_make


@pytest.fixture
def api(transactional_db) -> Iterator[Api]:
    yield Api(token_for(user_make("agent")))
    for project in AgentProject.objects.all():
        engine_project_drop(project)


def tables(uri: str) -> set[str]:
    rows = run_sql(uri, "select tablename from pg_tables where schemaname = 'public'")
    return {row[0] for row in rows}


def done(response, status: int = 200) -> dict:
    assert response.status_code == status, response.content
    return response.json()


def test_agent_loop_with_wait(api, task_worker):
    job = done(api.post("projects", {"name": "Todo app"}, wait="true"))
    assert job["state"] == "succeeded" and job["version"]["number"] == 0
    base = f"projects/{job['project']}"
    uri = done(api.get(f"{base}/connection", reveal="true"))["connection_uri"]

    steps = [
        ("Create a todo list", "create table todos (id serial primary key, title text not null);"),
        ("Add tags", "create table tags (id serial primary key, name text);"),
        (
            "Add due dates",
            "create table reminders (todo int references todos(id), at timestamptz);",
        ),
    ]
    for number, (prompt, sql) in enumerate(steps, 1):
        job = done(api.post(f"{base}/versions", {"prompt": prompt, "sql": sql}, wait="true"))
        assert job["version"]["number"] == number and job["version"]["prompt"] == prompt
    assert tables(uri) == {"todos", "tags", "reminders"}

    # A failing statement: the job's error, no version, nothing applied.
    failed = done(
        api.post(
            f"{base}/versions",
            {"prompt": "Oops", "sql": "drop table tags; select * from nope;"},
            wait="true",
        ),
        422,
    )
    assert failed["code"] == "sql_failed" and "Statement 2 of 2" in failed["message"]
    assert failed["job"]["state"] == "failed"
    assert tables(uri) == {"todos", "tags", "reminders"}

    job = done(api.post(f"{base}/versions/1/rollback", wait="true"))
    assert job["kind"] == "rollback" and job["version"]["number"] == 1
    # Same connection string, and the later tables are gone.
    assert done(api.get(f"{base}/connection", reveal="true"))["connection_uri"] == uri
    assert tables(uri) == {"todos"}

    job = done(api.post(f"{base}/previews", {"version": 3}, wait="true"))
    preview = done(api.get(job["preview"]["url"], reveal="true"))
    assert preview["connection_uri"] != uri
    assert tables(preview["connection_uri"]) == {"todos", "tags", "reminders"}
    assert tables(uri) == {"todos"}

    job = done(api("DELETE", job["preview"]["url"], wait="true"))
    assert job["kind"] == "preview_discard" and job["state"] == "succeeded"
    assert not done(api.get(job["preview"]["url"]))["live"]
    versions = done(api.get(f"{base}/versions"))["items"]
    assert [v["number"] for v in versions] == [0, 1, 2, 3]
    assert [v["current"] for v in versions] == [False, True, False, False]
