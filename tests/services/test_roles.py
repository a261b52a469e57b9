"""Every action × every role: viewer, operator, owner, and a user of another team.

One project (at v1, with a live preview) is built once for the module on the real local
engine; each case runs in a transaction that is rolled back, so an allowed action only
leaves a queued job that never runs (its on_commit never fires). Allowed actions answer
200/202/204/302, refused ones 403 with a readable message, non-members 404.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from checkpoints import connections, services, tasks
from checkpoints.engines.errors import EngineNotFound
from checkpoints.models import AgentProject, Job, Membership, Preview, Team
from checkpoints.rules import permissions
from contacts import repository
from tests.api_helpers import Api, token_for
from tests.web_fixtures import HX, engine_project_drop, jobs_run_queued, project_demo, user_make

pytestmark = pytest.mark.django_db
ROLES = ("viewer", "operator", "owner", "stranger")


@dataclass
class World:
    project: AgentProject
    users: dict
    preview: Preview
    contact_id: uuid.UUID
    spare: Membership
    job_id: int
    tokens: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Users of every role, and one started project with v1 and an open preview."""
    # Outside a test transaction on_commit fires at once: jobs are run here, not enqueued.
    with django_db_blocker.unblock(), mock.patch.object(tasks, "_job_send", lambda pk: None):
        owner = user_make("role-owner")
        users = {"owner": owner}
        for role in ("viewer", "operator", "stranger", "spare"):
            users[role] = user_make(f"role-{role}")
        project = project_demo(owner, versions=1)
        team = project.team
        Membership.objects.create(team=team, user=users["viewer"], role="viewer")
        Membership.objects.create(team=team, user=users["operator"], role="operator")
        spare = Membership.objects.create(team=team, user=users["spare"], role="viewer")
        services.preview_open(project=project, version=project.current_version, user=owner)
        jobs_run_queued()
        project.refresh_from_db()
        preview = project.previews.get()
        uri = services.project_connection_uri(project=project)
        contact_id = repository.contacts_list(uri)[1][0].id
        world = World(
            project=project,
            users=users,
            preview=preview,
            contact_id=contact_id,
            spare=spare,
            job_id=project.jobs.first().pk,
        )
        world.tokens = {role: token_for(users[role]) for role in ROLES}
    yield world
    with django_db_blocker.unblock():
        engine_project_drop(project)
        team_ids = list(Team.objects.filter(personal_for__in=users.values()).values_list("pk"))
        AgentProject.objects.filter(pk=project.pk).delete()
        Team.objects.filter(pk__in=[pk for (pk,) in team_ids]).delete()
        get_user_model().objects.filter(pk__in=[u.pk for u in users.values()]).delete()


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str  # formatted with the world's ids
    allowed: tuple[str, ...]  # roles allowed (the others of viewer/operator/owner get 403)
    ok: tuple[int, ...] = (200,)
    data: dict | None = None
    htmx: bool = True
    api: bool = False
    fake_engine: bool = False

    def url(self, w: World) -> str:
        return self.path.format(
            p=w.project.pk,
            preview=w.preview.pk,
            contact=w.contact_id,
            team=w.project.team_id,
            spare=w.spare.pk,
            job=w.job_id,
        )


ALL = ("viewer", "operator", "owner")
OPS = ("operator", "owner")
OWN = ("owner",)
P = "/projects/{p}"
A = "/api/v1/projects/{p}"

WEB_CASES = [
    Case("project page", "GET", P + "/", ALL, htmx=False),
    Case("project region", "GET", P + "/", ALL),
    Case("tab meta", "GET", P + "/?tab=meta", ALL),
    Case("tab schema", "GET", P + "/?tab=schema", ALL),
    Case("tab activity", "GET", P + "/?tab=activity", ALL),
    Case("activity filter", "GET", P + "/activity?kind=create", ALL),
    Case("job status", "GET", P + "/jobs/{job}/status", ALL),
    Case("preview page", "GET", P + "/previews/{preview}/", ALL, htmx=False),
    Case("rollback confirm", "GET", P + "/versions/0/rollback", OPS),
    Case("rollback", "POST", P + "/versions/0/rollback", OPS),
    Case("rollback (no htmx)", "POST", P + "/versions/0/rollback", OPS, (302,), htmx=False),
    Case("create next version", "POST", P + "/versions/next", OPS),
    Case("open preview", "POST", P + "/versions/0/preview", OPS),
    Case(
        "discard preview",
        "POST",
        P + "/previews/{preview}/discard",
        OPS,
        data={"from": "project"},
    ),
    Case("rename version", "POST", P + "/versions/0/rename", OPS, data={"name": "Start"}),
    Case("what the project holds", "GET", P + "/holdings", ALL),
    Case("share dialog", "GET", P + "/versions/1/share", OPS),
    Case("share a version", "POST", P + "/versions/1/share", OPS, (201,), data={"hours": "24"}),
    Case("share links card", "GET", P + "/shares/", ALL),
    Case("restore window", "POST", P + "/restore-window", OWN, data={"window": "forever"}),
    Case("start over confirm", "GET", P + "/start-over", OWN),
    Case("start over", "POST", P + "/start-over", OWN),
    Case(
        "contact add",
        "POST",
        P + "/contacts/",
        OPS,
        data={"name": "Katherine Johnson", "email": "kj-{unique}@example.com"},
    ),
    Case("contact edit form", "GET", P + "/contacts/{contact}/edit", OPS),
    Case("contact delete", "POST", P + f"/contacts/{uuid.uuid4()}/delete", OPS),
    Case("team page", "GET", "/teams/{team}/", ALL, htmx=False),
    Case("team members region", "GET", "/teams/{team}/", ALL),
    Case("switch team", "POST", "/teams/switch", ALL, (302,), data={"team": "{team}"}, htmx=False),
    Case(
        "add member",
        "POST",
        "/teams/{team}/members",
        OWN,
        data={"who": "role-stranger", "role": "viewer"},
    ),
    Case("change role", "POST", "/teams/{team}/members/{spare}/role", OWN, data={"role": "owner"}),
    # Removing rotates the team's passwords: the shared engine project keeps its own
    # (the stored connection string would be rolled back with the test's transaction).
    Case("remove member", "POST", "/teams/{team}/members/{spare}/remove", OWN, fake_engine=True),
]

API_CASES = [
    Case("api project", "GET", A, ALL, api=True),
    Case("api versions", "GET", A + "/versions", ALL, api=True),
    Case("api version", "GET", A + "/versions/1", ALL, api=True),
    Case("api previews", "GET", A + "/previews", ALL, api=True),
    Case("api preview", "GET", A + "/previews/{preview}", ALL, api=True),
    Case("api job", "GET", A + "/jobs/{job}", ALL, api=True),
    Case("api connection", "GET", A + "/connection", OPS, api=True),
    Case("api create version", "POST", A + "/versions", OPS, (202,), {"prompt": "x"}, api=True),
    Case("api rename version", "PATCH", A + "/versions/1", OPS, data={"name": "v1!"}, api=True),
    Case("api rollback", "POST", A + "/versions/0/rollback", OPS, (202,), api=True),
    Case("api open preview", "POST", A + "/previews", OPS, (202,), {"version": 0}, api=True),
    Case("api discard preview", "DELETE", A + "/previews/{preview}", OPS, (202,), api=True),
    Case("api shares", "GET", A + "/shares", ALL, api=True),
    Case("api share a version", "POST", A + "/shares", OPS, (201,), {"version": 1}, api=True),
    Case("api delete version", "DELETE", A + "/versions/0", OWN, (202,), api=True),
    Case("api delete project", "DELETE", A, OWN, (204,), api=True, fake_engine=True),
]

CASES = WEB_CASES + API_CASES


def _request(world: World, case: Case, role: str):
    url = case.url(world)
    unique = uuid.uuid4().hex[:8]
    data = {
        key: value.format(team=world.project.team_id, unique=unique)
        if isinstance(value, str)
        else value
        for key, value in (case.data or {}).items()
    }
    if case.api:
        api = Api(world.tokens[role])
        return api(case.method, url, data or None)
    client = Client()
    client.force_login(world.users[role])
    headers = HX if case.htmx else {}
    if case.method == "GET":
        return client.get(url, headers=headers)
    return client.post(url, data, headers=headers)


class _NoEngine:
    def project_delete(self, project_id: str) -> None:
        pass

    def role_password_reset(self, project_id: str) -> str:
        raise EngineNotFound("not rotated in this test")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_action_by_role(world, case: Case, role: str, monkeypatch):
    if case.fake_engine:  # deleting the shared engine project would end the module
        monkeypatch.setattr(connections, "engine_for", lambda *, project: _NoEngine())
    response = _request(world, case, role)
    body = response.content.decode()
    if role == "stranger":
        assert response.status_code == 404, body[:300]
        if case.api:
            assert response.json()["code"] == "not_found"
        assert world.project.name not in body
    elif role in case.allowed:
        assert response.status_code in case.ok, body[:300]
    else:
        assert response.status_code == 403, body[:300]
        if case.api:
            error = response.json()
            assert error["code"] == "forbidden"
            assert f"is {role}: only an" in error["message"]
        else:
            assert f"is {role}: only an" in body
            if case.htmx:  # a fragment for the #flash region, not a page
                assert "<html" not in body and response["HX-Retarget"] == "#flash"
    # Refused requests started nothing.
    if role not in case.allowed:
        assert not Job.objects.filter(state__in=Job.UNFINISHED).exists()


def test_the_table_names_every_action_once():
    assert set(permissions.ACTIONS) >= {
        "view",
        "version_create",
        "preview_open",
        "preview_discard",
        "rollback",
        "contacts_edit",
        "version_rename",
        "version_delete",
        "start_over",
        "restore_window",
        "cleanup",
        "members_manage",
    }
    expected = {
        "viewer": {"view"},
        "operator": {
            "view",
            "project_create",
            "version_create",
            "version_rename",
            "version_pin",
            "rollback",
            "preview_open",
            "preview_discard",
            "contacts_edit",
            "connection_uri",
            "job_cancel",
            "sessions_end",
            "share_create",
            "share_revoke",
            "tables_restore",
            "table_protect",
        },
    }
    for role, actions in expected.items():
        assert {a for a in permissions.ACTIONS if permissions.allows(role, a)} == actions
    assert all(permissions.allows("owner", a) for a in permissions.ACTIONS)
    assert not any(permissions.allows(None, a) for a in permissions.ACTIONS)
    can = permissions.Can("viewer")
    assert can.view and not can.rollback
    with pytest.raises(AttributeError):
        can.rolback  # noqa: B018  (a typo is an error in Python)


def test_viewer_page_shows_no_action_buttons(world):
    client = Client()
    client.force_login(world.users["viewer"])
    page = client.get(reverse("project-detail", args=[world.project.pk])).content.decode()
    for label in ("Roll back", "Create next version", "Start over", "Discard preview"):
        assert f">{label}</button>" not in page, label
    assert ">Preview</button>" not in page
    assert "Add contact" not in page and ">Edit</a>" not in page
    assert "you can look, not change" in page
    preview = client.get(
        reverse("preview-detail", args=[world.project.pk, world.preview.pk])
    ).content.decode()
    assert "Roll back to this version" not in preview and "Discard preview" not in preview


def test_operator_sees_operator_buttons_only(world):
    client = Client()
    client.force_login(world.users["operator"])
    page = client.get(reverse("project-detail", args=[world.project.pk])).content.decode()
    assert ">Roll back</button>" in page and ">Preview</button>" in page
    assert "Add contact" in page
    assert ">Start over</button>" not in page
    owner = Client()
    owner.force_login(world.users["owner"])
    page = owner.get(reverse("project-detail", args=[world.project.pk])).content.decode()
    assert ">Start over</button>" in page


def test_htmx_refusal_is_swappable_403(world):
    """base.html tells htmx to swap 403 answers (they carry the #flash fragment)."""
    client = Client()
    client.force_login(world.users["viewer"])
    page = client.get(reverse("home")).content.decode()
    config = page.split('name="htmx-config" content=\'')[1].split("'>")[0]
    handling = json.loads(config)["responseHandling"]
    assert {"code": "403", "swap": True, "error": False} in handling
