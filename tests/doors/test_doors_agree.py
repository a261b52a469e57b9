"""The same flow through the API, the command line and a real MCP client session (the
SDK's client and `manage.py mcp` over stdio), answers compared field by field: create, save ×3, diff, plan,
rollback, undo, restore tables, preview, discard, share, revoke, the lists, and refusals.

What differs by nature (ids, times, URLs, connection strings, tokens) is compared by type;
everything else must be equal on every door."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from django.core.management import CommandError, call_command
from mcp import Client

from tests.api_helpers import Api
from tests.mcp.agent import stdio
from tests.mcp.conftest import _env

pytestmark = pytest.mark.django_db  # the test database; the flow itself commits (worker)

SAVES = [
    ("Contacts", "create table contacts (id serial primary key, name text not null);"),
    ("Two contacts", "insert into contacts (name) values ('ada'), ('bob');"),
    ("Emails and tags", "alter table contacts add column email text; create table tags (id int);"),
]
#: Values that differ by nature from door to door: compared by type only.
VOLATILE = {
    "id", "project", "created_at", "started_at", "finished_at", "expires_at", "duration_ms",
    "url", "snapshot_id", "size_bytes", "connection_uri", "token", "link", "path", "as_of",
    "first_opened_at", "revoked_at", "discarded_at", "job_id", "deleted_at",
    "detail",  # a step's detail: timings, branch names
}  # fmt: skip
MISSING = 99_999


class Refused(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error)
        self.error = error


class ApiDoor:
    name = "api"

    def __init__(self, token: str, username: str) -> None:
        self.api = Api(token)

    def _answer(self, response) -> dict[str, Any]:
        if response.status_code >= 400:
            raise Refused(response.json())
        return response.json()

    def _get(self, path: str, **query: Any) -> dict[str, Any]:
        return self._answer(self.api.get(path, **query))

    def _do(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        return self._answer(self.api(method, path, body, wait="true"))

    def create_project(self, name: str) -> dict[str, Any]:
        return self._do("POST", "projects", {"name": name})

    def project(self, pid: int) -> dict[str, Any]:
        return self._get(f"projects/{pid}")

    def save(self, pid: int, prompt: str, sql: str) -> dict[str, Any]:
        return self._do("POST", f"projects/{pid}/versions", {"prompt": prompt, "sql": sql})

    def diff(self, pid: int, old: int, new: int) -> dict[str, Any]:
        return self._get(f"projects/{pid}/diff", **{"from": old, "to": new})

    def plan(self, pid: int, number: int) -> dict[str, Any]:
        return self._get(f"projects/{pid}/versions/{number}/rollback/plan")

    def rollback(self, pid: int, number: int) -> dict[str, Any]:
        return self._do("POST", f"projects/{pid}/versions/{number}/rollback")

    def undo(self, pid: int) -> dict[str, Any]:
        return self._do("POST", f"projects/{pid}/rollback/undo")

    def restore(self, pid: int, number: int, tables: list[str]) -> dict[str, Any]:
        body = {"tables": tables}
        return self._do("POST", f"projects/{pid}/versions/{number}/restore-tables", body)

    def rename(self, pid: int, number: int, name: str) -> dict[str, Any]:
        return self._answer(self.api("PATCH", f"projects/{pid}/versions/{number}", {"name": name}))

    def pin(self, pid: int, number: int) -> dict[str, Any]:
        return self._answer(self.api.post(f"projects/{pid}/versions/{number}/pin"))

    def preview(self, pid: int, number: int) -> dict[str, Any]:
        return self._do("POST", f"projects/{pid}/previews", {"version": number})

    def discard(self, pid: int, preview: int) -> dict[str, Any]:
        return self._do("DELETE", f"projects/{pid}/previews/{preview}")

    def share(self, pid: int, number: int) -> dict[str, Any]:
        return self._answer(self.api.post(f"projects/{pid}/shares", {"version": number}))

    def revoke(self, pid: int, share: int) -> dict[str, Any]:
        return self._answer(self.api("DELETE", f"projects/{pid}/shares/{share}"))

    def _page(self, path: str) -> dict[str, Any]:
        """A page, less the links to its neighbours (the API's own, beside their numbers)."""
        page = self._get(path)
        assert {page.pop("next"), page.pop("previous")} == {None}
        return page

    def versions(self, pid: int) -> dict[str, Any]:
        return self._page(f"projects/{pid}/versions")

    def previews(self, pid: int) -> dict[str, Any]:
        return self._page(f"projects/{pid}/previews")

    def shares(self, pid: int) -> dict[str, Any]:
        return self._page(f"projects/{pid}/shares")

    def projects(self) -> dict[str, Any]:
        return self._page("projects")


class CliDoor:
    name = "cli"

    def __init__(self, token: str, username: str, folder: Path) -> None:
        self.username, self.folder = username, folder

    def _run(self, *args: Any) -> dict[str, Any]:
        out = StringIO()
        try:
            call_command(*[str(a) for a in args], "--json", stdout=out)
        except CommandError:
            raise Refused(json.loads(out.getvalue())["error"]) from None
        return json.loads(out.getvalue())

    def create_project(self, name: str) -> dict[str, Any]:
        return self._run("projects", "create", "--user", self.username, "--name", name)

    def project(self, pid: int) -> dict[str, Any]:
        return self._run("projects", "show", "--project", pid)

    def save(self, pid: int, prompt: str, sql: str) -> dict[str, Any]:
        path = self.folder / f"{len(list(self.folder.iterdir()))}.sql"
        path.write_text(sql)
        return self._run(
            "versions", "create", "--project", pid, "--prompt", prompt, "--sql-file", path
        )

    def diff(self, pid: int, old: int, new: int) -> dict[str, Any]:
        return self._run("versions", "diff", "--project", pid, "--from", old, "--to", new)

    def plan(self, pid: int, number: int) -> dict[str, Any]:
        return self._run("versions", "plan", "--project", pid, "--version", number)

    def rollback(self, pid: int, number: int) -> dict[str, Any]:
        return self._run("versions", "rollback", "--project", pid, "--version", number)

    def undo(self, pid: int) -> dict[str, Any]:
        return self._run("versions", "undo", "--project", pid)

    def restore(self, pid: int, number: int, tables: list[str]) -> dict[str, Any]:
        named = [word for table in tables for word in ("--table", table)]
        args = ("versions", "restore-tables", "--project", pid, "--version", number, *named)
        return self._run(*args)

    def rename(self, pid: int, number: int, name: str) -> dict[str, Any]:
        args = ("--project", pid, "--version", number, "--name", name)
        return self._run("versions", "rename", *args)

    def pin(self, pid: int, number: int) -> dict[str, Any]:
        return self._run("versions", "pin", "--project", pid, "--version", number)

    def preview(self, pid: int, number: int) -> dict[str, Any]:
        return self._run("versions", "preview", "--project", pid, "--version", number)

    def discard(self, pid: int, preview: int) -> dict[str, Any]:
        return self._run("versions", "discard", "--project", pid, "--preview", preview)

    def share(self, pid: int, number: int) -> dict[str, Any]:
        return self._run("shares", "create", "--project", pid, "--version", number)

    def revoke(self, pid: int, share: int) -> dict[str, Any]:
        return self._run("shares", "revoke", "--project", pid, "--share", share)

    def versions(self, pid: int) -> dict[str, Any]:
        return self._run("versions", "list", "--project", pid)

    def previews(self, pid: int) -> dict[str, Any]:
        return self._run("projects", "previews", "--project", pid)

    def shares(self, pid: int) -> dict[str, Any]:
        return self._run("shares", "list", "--project", pid)

    def projects(self) -> dict[str, Any]:
        return self._run("projects", "list", "--user", self.username)


class McpDoor:
    """The SDK's client of a `manage.py mcp` process, called from this thread via a portal."""

    name = "mcp"

    def __init__(self, portal: Any, client: Client) -> None:
        self.portal, self.client = portal, client

    def _call(self, tool: str, key: str | None = None, **arguments: Any) -> dict[str, Any]:
        result = self.portal.call(self.client.call_tool, tool, arguments)
        data = result.structured_content or {}
        if result.is_error:
            raise Refused(data["error"])
        return data[key] if key else data

    def create_project(self, name: str) -> dict[str, Any]:
        return self._call("create_project", "job", name=name)

    def project(self, pid: int) -> dict[str, Any]:
        return self._call("get_project", project_id=pid)

    def save(self, pid: int, prompt: str, sql: str) -> dict[str, Any]:
        return self._call("save_version", "job", project_id=pid, prompt=prompt, sql=sql)

    def diff(self, pid: int, old: int, new: int) -> dict[str, Any]:
        return self._call("compare_versions", project_id=pid, from_version=old, to_version=new)

    def plan(self, pid: int, number: int) -> dict[str, Any]:
        return self._call("plan_rollback", project_id=pid, version=number)

    def rollback(self, pid: int, number: int) -> dict[str, Any]:
        return self._call("rollback_to_version", "job", project_id=pid, version=number)

    def undo(self, pid: int) -> dict[str, Any]:
        return self._call("undo_rollback", "job", project_id=pid)

    def restore(self, pid: int, number: int, tables: list[str]) -> dict[str, Any]:
        return self._call("restore_tables", "job", project_id=pid, version=number, tables=tables)

    def rename(self, pid: int, number: int, name: str) -> dict[str, Any]:
        return self._call("rename_version", "version", project_id=pid, version=number, name=name)

    def pin(self, pid: int, number: int) -> dict[str, Any]:
        return self._call("pin_version", "version", project_id=pid, version=number)

    def preview(self, pid: int, number: int) -> dict[str, Any]:
        return self._call("open_preview", "job", project_id=pid, version=number)

    def discard(self, pid: int, preview: int) -> dict[str, Any]:
        return self._call("discard_preview", "job", project_id=pid, preview_id=preview)

    def share(self, pid: int, number: int) -> dict[str, Any]:
        return self._call("share_version", "share", project_id=pid, version=number)

    def revoke(self, pid: int, share: int) -> dict[str, Any]:
        return self._call("revoke_share", "share", project_id=pid, share_id=share)

    def versions(self, pid: int) -> dict[str, Any]:
        return self._call("list_versions", project_id=pid)

    def previews(self, pid: int) -> dict[str, Any]:
        return self._call("list_previews", project_id=pid)

    def shares(self, pid: int) -> dict[str, Any]:
        return self._call("list_shares", project_id=pid)

    def projects(self) -> dict[str, Any]:
        data = self._call("list_projects")
        data.pop("teams")  # MCP's own: create_project takes a team id, no other door lists teams
        return data


def _refusal(action: Callable[..., Any], *args: Any) -> dict[str, Any]:
    with pytest.raises(Refused) as refused:
        action(*args)
    return refused.value.error


def flow(door: Any) -> dict[str, Any]:
    """The agent's flow on one door: every answer, by step."""
    seen: dict[str, Any] = {}
    seen["create project"] = door.create_project("Doors")
    pid = seen["create project"]["project"]
    seen["project"] = door.project(pid)
    for number, (prompt, sql) in enumerate(SAVES, start=1):
        seen[f"save v{number}"] = door.save(pid, prompt, sql)
    seen["diff"] = door.diff(pid, 1, 3)
    seen["plan"] = door.plan(pid, 1)
    seen["rollback"] = door.rollback(pid, 1)
    seen["undo"] = door.undo(pid)
    seen["restore tables"] = door.restore(pid, 2, ["contacts"])
    seen["rename"] = door.rename(pid, 1, "First steps")
    seen["pin"] = door.pin(pid, 2)
    seen["preview"] = door.preview(pid, 2)
    seen["previews"] = door.previews(pid)
    seen["discard"] = door.discard(pid, seen["preview"]["preview"]["id"])
    seen["share"] = door.share(pid, 2)
    seen["shares"] = door.shares(pid)
    seen["revoke"] = door.revoke(pid, seen["share"]["id"])
    seen["versions"] = door.versions(pid)
    seen["project after"] = door.project(pid)
    seen["no such version"] = _refusal(door.diff, pid, 1, MISSING)
    seen["no such plan"] = _refusal(door.plan, pid, MISSING)
    seen["no such preview"] = _refusal(door.discard, pid, MISSING)
    seen["no such share"] = _refusal(door.revoke, pid, MISSING)
    seen["no such project"] = _refusal(door.project, MISSING)
    seen["preview gone"] = _refusal(door.discard, pid, seen["preview"]["preview"]["id"])
    return {step: _normal(answer, pid) for step, answer in seen.items()}


def _normal(value: Any, pid: int, key: str = "") -> Any:
    """`value` with what differs by nature replaced by its type (and `Project <pid>` in
    sentences by `Project P`)."""
    if key in VOLATILE and not isinstance(value, dict):
        return f"<{type(value).__name__}>"
    if key == "snapshots":  # the capacity as the last listing saw it: one may be on its way
        return "<snapshots>"
    if isinstance(value, dict):
        return {k: _normal(v, pid, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v, pid) for v in value]
    if isinstance(value, str):
        return re.sub(rf"\bProject {pid}\b", "Project P", value)
    return value


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Where two answers differ, field by field (`job.version.name: 'x' != 'y'`)."""
    if where.endswith("steps."):  # a job may note a last step (cleanup) after it succeeded
        names = [[step["name"] for step in steps] for steps in (a, b)]
        shorter = min(len(n) for n in names)
        same = names[0][:shorter] == names[1][:shorter] and {len(step) for step in a + b} == {6}
        return [] if same else [f"{where.rstrip('.')}: {names[0]} != {names[1]}"]
    if isinstance(a, dict) and isinstance(b, dict):
        found = [f"{where}{k}: only in the first" for k in a.keys() - b.keys()]
        found += [f"{where}{k}: only in the second" for k in b.keys() - a.keys()]
        for k in a.keys() & b.keys():
            found += differences(a[k], b[k], f"{where}{k}.")
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in differences(x, y, f"{where}{i}.")
        ]
    return [] if a == b else [f"{where.rstrip('.')}: {a!r} != {b!r}"]


@pytest.fixture(scope="module")
def answers(doors, django_db_blocker, tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Each door's answers to the flow (each on a project of its own)."""
    from django.db import connection

    with django_db_blocker.unblock(), start_blocking_portal() as portal:
        session = stdio(doors.token, _env(connection.settings_dict["NAME"]))
        with portal.wrap_async_context_manager(session) as client:
            opened = [
                ApiDoor(doors.token, doors.username),
                CliDoor(doors.token, doors.username, tmp_path_factory.mktemp("sql")),
                McpDoor(portal, client),
            ]
            found = {door.name: flow(door) for door in opened}
            for door in opened:  # every door lists the same three projects
                found[door.name]["projects"] = _normal(door.projects(), 0)
    return found


STEPS = [
    "create project", "project", "save v1", "save v2", "save v3", "diff", "plan", "rollback",
    "undo", "restore tables", "rename", "pin", "preview", "previews", "discard", "share", "shares", "revoke",
    "versions", "project after", "projects", "no such version", "no such plan",
    "no such preview", "no such share", "no such project", "preview gone",
]  # fmt: skip


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("door", ["cli", "mcp"])
def test_each_door_answers_as_the_api(answers, step, door):
    found = differences(answers["api"][step], answers[door][step])
    assert not found, "\n".join(found)


def test_the_flow_did_what_it_says(answers):
    api = answers["api"]
    assert [v["number"] for v in api["versions"]["items"]][:4] == [0, 1, 2, 3]
    assert api["diff"]["tables_added"] == ["tags"] and "email" in api["diff"]["summary"]
    assert api["plan"]["summary"].startswith("drops table tags")
    assert api["rollback"]["version"]["number"] == 1 and api["undo"]["state"] == "succeeded"
    assert api["preview"]["preview"]["connection_uri"].startswith("<")
    assert api["no such version"] == {
        "code": "not_found",
        "message": f"Project P has no version {MISSING}.",
    }
    assert api["projects"]["count"] == 3
