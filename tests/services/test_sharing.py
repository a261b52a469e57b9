"""Share links with the Django client, on the real local engine: create, open without an
account (read-only role), what a link can and cannot reach, revoke and expiry (410), the
preview branch's cleanup, rate limiting, Activity."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from checkpoints import connections, services, tasks
from checkpoints.engines.errors import EngineNotFound
from checkpoints.models import Activity, Membership, Preview, ShareLink, Team
from checkpoints.services import sharing
from tests.web_fixtures import (
    HX,
    engine_project_drop,
    jobs_run_queued,
    project_demo,
    url,
    user_make,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return user_make("ada")


@pytest.fixture
def project(owner):
    project = project_demo(owner, versions=2)  # v0, v1, v2 (live)
    yield project
    engine_project_drop(project)


def _version(project, number):
    return project.versions.get(number=number, deleted_at__isnull=True)


def _open(anonymous: Client, path: str):
    """First GET starts the preview; the worker runs it; the next GET shows the app."""
    first = anonymous.get(path)
    assert first.status_code == 200 and b"Starting the shared view" in first.content
    jobs_run_queued()
    return anonymous.get(path)


def test_share_flow_without_an_account(project, owner):
    """v2 shared and opened read-only; other pages out of reach; revoke and expiry 410."""
    created = sharing.share_create(version=_version(project, 2), user=owner, hours=24)
    token = created.token
    assert len(token) >= 43 and created.path == f"/s/{token}"
    share = ShareLink.objects.get()
    assert share.token_hash == sharing.token_hash(token) and token not in share.token_hash
    assert (
        timedelta(hours=23, minutes=59) < share.expires_at - timezone.now() <= timedelta(hours=24)
    )

    anonymous = Client()
    page = _open(anonymous, created.path)
    body = page.content.decode()
    assert page.status_code == 200
    assert "v2 shared by ada · read-only · expires" in body and "Contact book" in body
    for column in ("Name", "Email", "Role", "Company"):
        assert f'<th scope="col">{column}</th>' in body
    assert body.count('<tr data-contact="') == 3 and "ada@example.com" in body.lower()
    assert "<form" not in body and "csrf" not in body.lower()
    assert page["Referrer-Policy"] == "no-referrer"
    assert "noindex" in page["X-Robots-Tag"] and '<meta name="robots" content="noindex' in body
    assert "default-src 'none'" in page["Content-Security-Policy"]
    assert not page.cookies  # no session, no CSRF cookie
    # Nothing that names other objects: no project id, engine ids, URIs or app links.
    project.refresh_from_db()
    preview = Preview.objects.get(pk=ShareLink.objects.get().preview_id)
    for secret in (
        project.engine_project_id,
        project.active_branch_id,
        preview.branch_id,
        "postgresql://",
        "/projects/",
        "/api/",
        'href="/"',
    ):
        assert secret not in body, secret
    assert re.findall(r'href="([^"]+)"', body) == [
        "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ccircle cx='8' cy='8' r='7' fill='%2300a86b'/%3E%3C/svg%3E",
        "/static/css/app.css",
        "/static/css/share.css",
    ]

    # The preview lives as long as the link; its connection may only read.
    assert abs((preview.expires_at - share.expires_at).total_seconds()) < 1
    engine = services.engine_for(project=project)
    uri = engine.readonly_connection_uri(project.engine_project_id, preview.branch_id)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM contacts")

    # A hand-made POST changes nothing (CSRF, then GET only).
    for client in (anonymous, Client(enforce_csrf_checks=False)):
        assert client.post(created.path, {"name": "Eve"}).status_code in (403, 405)
    assert anonymous.get(created.path).content.decode().count('<tr data-contact="') == 3

    share.refresh_from_db()
    assert share.open_count == 2 and share.first_opened_at is not None
    kinds = list(project.activities.values_list("kind", flat=True))
    assert kinds.count(Activity.Kind.SHARE) == 1 and kinds.count(Activity.Kind.SHARE_OPEN) == 1
    assert all(token not in a.detail for a in project.activities.all())

    _reaches_nothing_else(project, owner)
    _revoke_answers_410_and_the_preview_branch_goes(project, owner, created, share)
    _expiry_answers_410_and_cleanup_removes_the_branch(project, owner)


def _reaches_nothing_else(project, owner):
    created = sharing.share_create(version=_version(project, 1), user=owner, hours=1)
    anonymous = Client()
    _open(anonymous, created.path)
    # Other pages of the app still want a login; another version or project is not reachable.
    for path in (
        url("project-detail", project.pk),
        url("project-shares", project.pk),
        url("preview-detail", project.pk, ShareLink.objects.get(version__number=1).preview_id),
        url("home"),
    ):
        response = anonymous.get(path)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], path
    assert anonymous.get(f"/api/v1/projects/{project.pk}").status_code == 401
    v1 = anonymous.get(created.path + "?version=3&project=99").content.decode()
    assert "Shared view of v1" in v1 and "Role" not in v1
    for path in (created.path + "/", created.path + "/../v2", created.path + "x", "/s/" + "a" * 43):
        assert anonymous.get(path).status_code == 404, path
    sharing.share_revoke(share=ShareLink.objects.get(version__number=1), user=owner)
    jobs_run_queued()


def _revoke_answers_410_and_the_preview_branch_goes(project, owner, created, share):
    anonymous = Client()
    share.refresh_from_db()
    preview = share.preview
    member = Client()
    member.force_login(owner)
    card = member.post(url("share-revoke", project.pk, share.pk), headers=HX)
    assert card.status_code == 200 and 'id="shares"' in card.content.decode()
    gone = anonymous.get(created.path)
    assert gone.status_code == 410 and b"This link has ended" in gone.content
    assert gone["Referrer-Policy"] == "no-referrer"
    jobs_run_queued()
    preview.refresh_from_db()
    assert preview.discarded_at is not None
    with pytest.raises(EngineNotFound):
        services.engine_for(project=project).branch_get(
            project.engine_project_id, preview.branch_id
        )
    assert project.activities.filter(kind=Activity.Kind.UNSHARE, actor=owner).count() == 2


def _expiry_answers_410_and_cleanup_removes_the_branch(project, owner):
    created = sharing.share_create(version=_version(project, 2), user=owner)
    _open(Client(), created.path)
    share = ShareLink.objects.get(revoked_at__isnull=True)
    ShareLink.objects.filter(pk=share.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().get(created.path).status_code == 410
    assert tasks.previews_cleanup_expired() == 1
    jobs_run_queued()
    preview = Preview.objects.get(pk=share.preview_id)
    assert preview.discarded_at is not None
    branches = services.engine_for(project=project).branch_list(project.engine_project_id)
    assert preview.branch_id not in {b.id for b in branches}


def test_create_rules_dialog_rate_limit_and_refusals(owner, settings, monkeypatch):
    project = project_demo(owner, versions=1)
    try:
        _create_rules(project, owner, settings)
        _command_line(project)
        _refused_without_read_only_roles(project, owner, monkeypatch)
    finally:
        engine_project_drop(project)


def _create_rules(project, owner, settings):
    v1 = _version(project, 1)
    for hours in (0, 169, -1, True):
        with pytest.raises(services.ServiceError, match="1 to 168 hours"):
            sharing.share_create(version=v1, user=owner, hours=hours)
    viewer = user_make("vic")
    Membership.objects.create(team=project.team, user=viewer, role=Membership.Role.VIEWER)
    with pytest.raises(services.NotAllowed):
        sharing.share_create(version=v1, user=viewer)
    stranger = Client()
    stranger.force_login(user_make("eve"))
    assert stranger.get(url("version-share", project.pk, 1), headers=HX).status_code == 404
    assert Team.objects.filter(personal_for__username="eve").exists()

    # The dialog: default 24 h, the link shown once, the card lists who, when, how often.
    member = Client()
    member.force_login(owner)
    dialog = member.get(url("version-share", project.pk, 1), headers=HX).content.decode()
    assert '<option value="24" selected>' in dialog
    made = member.post(url("version-share", project.pk, 1), {"hours": "168"}, headers=HX)
    assert made.status_code == 201 and "shareCreated" in made["HX-Trigger"]
    link = re.search(r'value="(http://testserver/s/[^"]+)"', made.content.decode()).group(1)
    assert (
        member.post(url("version-share", project.pk, 1), {"hours": "999"}, headers=HX).status_code
        == 422
    )
    card = member.get(url("project-shares", project.pk), headers=HX).content.decode()
    assert "by ada" in card and "opened 0 times" in card and link.split("/s/")[1] not in card

    settings.CHECKPOINTS_SHARE_RATE_PER_MINUTE = 3
    anonymous = Client()
    statuses = [anonymous.get(link.removeprefix("http://testserver")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def _command_line(project):
    jobs_run_queued()  # the dialog's link is prepared first: one job at a time per project
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "shares",
        "create",
        "--project",
        str(project.pk),
        "--version",
        "1",
        "--hours",
        "2",
        "--base-url",
        "https://ckp.example.com/",
        stdout=out,
        stderr=err,
    )
    link = out.getvalue().strip()
    assert re.fullmatch(r"https://ckp\.example\.com/s/[A-Za-z0-9_-]{43}", link)
    share = sharing.share_find(token=link.rsplit("/", 1)[1])
    assert share is not None and "shown only now" in err.getvalue()
    out = io.StringIO()
    call_command("shares", "list", "--project", str(project.pk), "--json", stdout=out)
    assert share.pk in [item["id"] for item in json.loads(out.getvalue())["items"]]
    out = io.StringIO()
    call_command(
        "shares", "revoke", "--project", str(project.pk), "--share", str(share.pk), stdout=out
    )
    assert "Revoked" in out.getvalue()
    assert Client().get("/s/" + link.rsplit("/", 1)[1]).status_code == 410
    with pytest.raises(CommandError, match="no share link"):
        call_command("shares", "revoke", "--project", str(project.pk), "--share", "999999")


def _refused_without_read_only_roles(project, owner, monkeypatch):
    engine = services.engine_for(project=project)

    class NoReadOnly:
        name = "neon"
        supports_readonly_roles = False

        def __getattr__(self, attr):
            return getattr(engine, attr)

    monkeypatch.setattr(connections, "engine_for", lambda project: NoReadOnly())
    with pytest.raises(services.ServiceError, match="neon engine cannot make"):
        sharing.share_create(version=_version(project, 1), user=owner)
