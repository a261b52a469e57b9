"""Neon at its limits, over HTTP against the emulator over the local engine (real databases).

- A version step is all or nothing: the snapshot limit reached at v10 leaves the live
  database at v9 (checked before applying, or undone after Neon's refusal), the API answers
  409 `snapshot_limit`, and the same step works once there is room; quota and other 4xx
  refusals likewise, on the local engine too.
- Pages make no engine call (the emulator counts requests), even during a 429 storm.
- Capacity shown on the page and in the API; unique version names; cancelled operations.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from django.urls import reverse
from django.utils import timezone

from checkpoints import connections, services
from checkpoints.engines.errors import EngineRefused
from checkpoints.engines.local import LocalEngine, names
from checkpoints.engines.neon import NeonEngine
from checkpoints.models import AgentProject, Job, Version
from checkpoints.services import lifecycle
from contacts.db import connect
from neon_emulator import CANCEL, NeonEmulator
from tests.api_helpers import Api, token_for
from tests.postgres_plugin import engine_url
from tests.web_fixtures import HX, jobs_run_queued, user_make

pytestmark = pytest.mark.django_db
API_KEY = "napi_limits_" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def emulator(pg_server) -> Iterator[NeonEmulator]:
    backend = LocalEngine(engine_url(), control_db=f"cknl_{uuid.uuid4().hex[:8]}")
    try:
        with NeonEmulator(backend, api_key=API_KEY, op_duration=0) as emu:
            yield emu
    finally:
        backend.destroy()


@pytest.fixture
def neon(emulator, monkeypatch) -> Iterator[NeonEngine]:
    """The neon engine, told the plan allows 10 snapshots; the emulator enforces 10."""
    emulator.clear_faults()
    emulator.snapshot_limit = 10
    engine = NeonEngine(API_KEY, api_url=emulator.url, backoff_initial=0.01, snapshot_limit=10)
    monkeypatch.setattr(connections, "engine_for", lambda *, project: engine)
    before = set(emulator.project_ids())
    yield engine
    engine.close()
    emulator.clear_faults()
    emulator.snapshot_limit = None
    for project_id in set(emulator.project_ids()) - before:
        emulator.drop_project(project_id)


@pytest.fixture
def user():
    return user_make("limits")


@pytest.fixture
def api(user) -> Api:
    return Api(token_for(user))


def tables(project: AgentProject) -> set[str]:
    project.refresh_from_db()
    with connect(services.project_connection_uri(project=project)) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def project_with_versions(user, count: int) -> AgentProject:
    """A project at v0, then v1…v`count`, each adding table t<n>."""
    job = services.project_create(user=user, name="Limits")
    jobs_run_queued()
    project = AgentProject.objects.get(pk=job.project_id)
    for n in range(1, count + 1):
        version_add(project, user, n)
        assert project.jobs.first().state == Job.State.SUCCEEDED, project.jobs.first().error
    project.refresh_from_db()
    return project


def version_add(project: AgentProject, user, n: int) -> Job:
    project.refresh_from_db()
    services.version_create(
        project=project, user=user, prompt=f"add t{n}", sql=f"create table t{n} (id int)"
    )
    jobs_run_queued()
    return project.jobs.first()


def test_limit_at_v10_leaves_the_live_database_at_v9(neon, emulator, user, api):
    """Neon's limit is 10 (v0…v9). Unannounced, the refusal comes after the SQL is applied
    and the step restores v9; learnt, or announced, v10 is refused before applying."""
    neon.snapshot_limit = None  # the engine does not know the plan's limit: no count first
    project = project_with_versions(user, 9)
    v9 = project.current_version
    branch_before = project.active_branch_id
    uri_before = project.connection_uri
    assert tables(project) == {f"t{n}" for n in range(1, 10)}

    started = time.monotonic()
    job = version_add(project, user, 10)
    undo_seconds = time.monotonic() - started
    assert job.state == Job.State.FAILED and job.result["error_code"] == "snapshot_limit"
    assert "Neon's snapshot limit for this project is reached (10 of 10 snapshots)" in job.error
    assert "delete a version or set a restore window" in job.error
    assert "The live database is back at v9" in job.error
    names = [step["name"] for step in job.steps]
    assert names.index("applying the prompt") < names.index("undoing the prompt")
    project.refresh_from_db()
    assert tables(project) == {f"t{n}" for n in range(1, 10)}  # t10 is gone again
    assert project.current_version == v9 and project.active_branch_id != branch_before
    assert project.connection_uri == uri_before  # the endpoint moved, the string did not
    assert not Version.objects.filter(project=project, number=10).exists()
    branches = neon.branch_list(project.engine_project_id)
    assert [b.id for b in branches] == [project.active_branch_id]  # nothing left behind
    body = api.get(f"projects/{project.pk}/jobs/{job.pk}").json()
    assert body["error"]["code"] == "snapshot_limit"
    from checkpoints.serialize import JOB_ERROR_STATUS

    assert JOB_ERROR_STATUS["snapshot_limit"] == 409  # what `?wait=true` answers

    # Learnt: the API shows the limit and refuses the same step at once, 409, no job.
    assert api.get(f"projects/{project.pk}").json()["snapshots"] == {
        "limit": 10,
        "used": 10,
        "as_of": project.engine_listing["at"],
    }
    response = api.post(
        f"projects/{project.pk}/versions", {"prompt": "add t10", "sql": "create table t10 (id int)"}
    )
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "snapshot_limit"
    assert "Neon's snapshot limit for this project is reached" in response.json()["message"]
    assert not project.jobs.filter(state=Job.State.QUEUED).exists()

    # Announced (NEON_SNAPSHOT_LIMIT=10), with metadata that has not seen it: the job
    # counts the snapshots first and refuses before applying anything.
    neon.snapshot_limit = 10
    AgentProject.objects.filter(pk=project.pk).update(engine_listing=None)
    started = time.monotonic()
    job = version_add(project, user, 10)
    check_seconds = time.monotonic() - started
    assert job.state == Job.State.FAILED and job.result["error_code"] == "snapshot_limit"
    assert "Nothing was applied" in job.error
    assert "applying the prompt" not in [step["name"] for step in job.steps]
    assert tables(project) == {f"t{n}" for n in range(1, 10)}
    print(
        f"\nv10 refused: undone after Neon's refusal in {undo_seconds * 1000:.0f} ms; "
        f"refused by the count before applying in {check_seconds * 1000:.0f} ms"
    )

    # Room made (v1 deleted): the very same step works.
    services.version_delete(version=project.versions.get(number=1), user=user)
    jobs_run_queued()
    job = version_add(project, user, 10)
    assert job.state == Job.State.SUCCEEDED, job.error
    assert "t10" in tables(project) and project.current_version.number == 10


@pytest.mark.parametrize(
    ("reason", "code", "status"),
    [("quota", "snapshot_quota", 409), ("refused", "snapshot_refused", 422)],
)
def test_quota_and_other_refusals_leave_the_live_database_as_it_was(
    neon, emulator, user, api, reason, code, status
):
    project = project_with_versions(user, 1)
    emulator.refuse_snapshots(reason)
    response = api.post(
        f"projects/{project.pk}/versions",
        {"prompt": "add t2", "sql": "create table t2 (id int)"},
    )
    assert response.status_code == 202
    jobs_run_queued()
    job = project.jobs.first()
    assert job.state == Job.State.FAILED and job.result["error_code"] == code
    assert "Neon refused the snapshot" in job.error and "back at v1" in job.error
    assert tables(project) == {"t1"}
    from checkpoints.serialize import JOB_ERROR_STATUS

    assert JOB_ERROR_STATUS[code] == status
    # Retried once Neon accepts snapshots again: the same SQL applies cleanly.
    assert version_add(project, user, 2).state == Job.State.SUCCEEDED
    assert tables(project) == {"t1", "t2"}


def test_a_quota_refusal_is_a_quota_whatever_words_the_ids_hold(neon, emulator, user, monkeypatch):
    """Neon's ids are made of words, and `limit` is one of them: only Neon's own message
    says why a snapshot was refused, not the path the error also names."""
    monkeypatch.setattr(names, "NOUNS", ("limit",))
    project = project_with_versions(user, 1)
    assert "limit" in project.engine_project_id and "limit" in project.active_branch_id
    emulator.refuse_snapshots("quota")
    job = version_add(project, user, 2)
    assert job.state == Job.State.FAILED and job.result["error_code"] == "snapshot_quota", job.error
    assert "Neon refused the snapshot: the project's quota is reached" in job.error
    assert tables(project) == {"t1"}


def test_local_engine_step_is_all_or_nothing_too(pg_server, monkeypatch, user):
    engine = LocalEngine(engine_url(), control_db=f"cknm_{uuid.uuid4().hex[:8]}")
    monkeypatch.setattr(connections, "engine_for", lambda *, project: engine)
    try:
        project = project_with_versions(user, 1)
        real = engine.snapshot_create

        def refusing(*args, **kwargs):
            raise EngineRefused("disk quota exceeded", reason="quota")

        monkeypatch.setattr(engine, "snapshot_create", refusing)
        job = version_add(project, user, 2)
        assert job.result["error_code"] == "snapshot_quota"
        assert "The local engine refused the snapshot" in job.error
        assert tables(project) == {"t1"}
        monkeypatch.setattr(engine, "snapshot_create", real)
        assert version_add(project, user, 2).state == Job.State.SUCCEEDED
        assert tables(project) == {"t1", "t2"}
        page_capacity = lifecycle.project_holdings(project=project).capacity
        assert page_capacity["limit"] is None and page_capacity["used"] == 3
    finally:
        engine.destroy()


PAGES = [
    ("project page", "project-detail", {}, False),
    ("meta tab", "project-detail", {"tab": "meta"}, False),
    ("schema tab", "project-detail", {"tab": "schema"}, False),
    ("activity tab", "project-detail", {"tab": "activity"}, False),
    ("holdings card", "project-holdings", {}, True),
    ("cleanup dry run", "project-cleanup", {}, True),
    ("project page (htmx)", "project-detail", {}, True),
]


def render_all(client, project, preview) -> dict[str, float]:
    took = {}
    for label, name, query, hx in PAGES:
        url = reverse(name, args=[project.pk])
        started = time.monotonic()
        response = client.get(url, query, headers=HX if hx else {})
        took[label] = time.monotonic() - started
        assert response.status_code == 200, (label, response.status_code)
    started = time.monotonic()
    response = client.get(reverse("preview-detail", args=[project.pk, preview.pk]))
    took["preview page"] = time.monotonic() - started
    assert response.status_code == 200
    confirm = reverse("version-rollback", args=[project.pk, 1])
    started = time.monotonic()
    assert client.get(confirm, headers=HX).status_code == 200
    took["rollback confirmation"] = time.monotonic() - started
    return took


def test_pages_make_no_engine_call_even_in_a_429_storm(neon, emulator, user, client):
    project = project_with_versions(user, 2)
    services.preview_open(project=project, version=project.versions.get(number=1), user=user)
    jobs_run_queued()
    preview = project.previews.get()
    client.force_login(user)

    since = len(emulator.requests)
    calm = render_all(client, project, preview)
    assert emulator.engine_requests(since) == []  # zero API calls for every page

    # Every request answers 429 with Retry-After: 2 s: a page that asked would sleep 2 s
    # per attempt (it took 1.1 s instead of 130 ms before connection strings were stored).
    emulator.inject("status", path=".", status=429, retry_after=2, count=10_000)
    since = len(emulator.requests)
    stormy = render_all(client, project, preview)
    assert emulator.engine_requests(since) == []
    assert max(stormy.values()) < 2.0, stormy
    page = client.get(reverse("project-detail", args=[project.pk])).content.decode()
    assert "********" in page and neon.connection_uri  # the masked stored string
    emulator.clear_faults()
    print(
        "\npage renders (ms, calm / 429 storm): "
        + ", ".join(f"{k} {calm[k] * 1000:.0f}/{stormy[k] * 1000:.0f}" for k in calm)
    )


def test_capacity_shown_and_the_window_form_suggests_keeping_the_last_n(
    neon, emulator, user, client, api
):
    neon.snapshot_limit = emulator.snapshot_limit = 4
    project = project_with_versions(user, 2)
    client.force_login(user)
    page = client.get(reverse("project-detail", args=[project.pk])).content.decode()
    assert "Snapshots: 3 used of 4 allowed by the engine" in page
    assert "Keep the last N versions" in page and "N = 3 or fewer" in page
    snapshots = api.get(f"projects/{project.pk}").json()["snapshots"]
    assert snapshots["limit"] == 4 and snapshots["used"] == 3 and snapshots["as_of"]

    # Keep the last 3: each new version makes room by deleting an expired one's snapshot.
    lifecycle.restore_window_set(project=project, user=user, window="versions", count=3)
    project.refresh_from_db()
    page = client.get(reverse("project-detail", args=[project.pk])).content.decode()
    assert 'id="window-warning"' not in page
    for n in range(3, 7):
        job = version_add(project, user, n)
        assert job.state == Job.State.SUCCEEDED, job.error
    assert len(neon.snapshot_list(project.engine_project_id)) <= 4
    assert tables(project) == {f"t{n}" for n in range(1, 7)}


def test_version_names_are_unique(neon, emulator, user, api):
    project = project_with_versions(user, 2)
    response = api("PATCH", f"projects/{project.pk}/versions/1", {"name": "add t2"})
    assert response.status_code == 409 and response.json()["code"] == "name_taken"
    # A snapshot no version records holds the name on Neon: Neon's 409 gives the same.
    neon.snapshot_create(project.engine_project_id, project.active_branch_id, name="stray")
    response = api("PATCH", f"projects/{project.pk}/versions/1", {"name": "stray"})
    assert response.status_code == 409 and response.json()["code"] == "name_taken"
    assert project.versions.get(number=1).name == "add t1"
    # A version whose label another snapshot took still gets a snapshot of its own.
    neon.snapshot_rename(
        project.engine_project_id, project.versions.get(number=1).snapshot_id, "v3"
    )
    AgentProject.objects.filter(pk=project.pk).update(engine_listing=None)
    assert version_add(project, user, 3).state == Job.State.SUCCEEDED


def test_cancelled_operations_fail_unless_the_result_is_in_place(neon, emulator, user):
    project = project_with_versions(user, 1)
    # The snapshot's operation reports cancelled, but the snapshot exists: verified, saved.
    emulator.fail_operations(CANCEL, action="create_timeline")
    assert version_add(project, user, 2).state == Job.State.SUCCEEDED
    # A deletion reported cancelled is not verified by the job: it fails loudly.
    emulator.fail_operations(CANCEL, action="delete_timeline")
    services.version_delete(version=project.versions.get(number=1), user=user)
    jobs_run_queued()
    job = project.jobs.first()
    assert job.state == Job.State.FAILED and "was cancelled" in job.error
    assert project.versions.get(number=1).deleted_at is None


def test_holdings_label_an_in_flight_snapshot(neon, emulator, user, client):
    project = project_with_versions(user, 1)
    job = Job.objects.create(
        project=project,
        kind=Job.Kind.CREATE_VERSION,
        state=Job.State.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    made = neon.snapshot_create(project.engine_project_id, project.active_branch_id, name="v2")
    Job.objects.filter(pk=job.pk).update(result={"snapshot_id": made.snapshot.id})
    lifecycle.listing_refresh(project=project)
    client.force_login(user)
    card = client.get(reverse("project-holdings", args=[project.pk]), headers=HX).content.decode()
    assert f"being saved by the running job #{job.pk}" in card
    assert "left by a failed job" not in card
