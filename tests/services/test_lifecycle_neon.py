"""Point-in-time versions: the neon engine (over the emulator) offers and sends them."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.urls import reverse
from django.utils import timezone

from checkpoints import connections, services
from checkpoints.engines.neon import NeonEngine
from checkpoints.models import AgentProject, Job
from checkpoints.services import lifecycle
from neon_emulator.fake_backend import FakeBackend
from neon_emulator.server import NeonEmulator
from tests.web_fixtures import HX, jobs_run_queued, user_make

pytestmark = pytest.mark.django_db
API_KEY = "test-key-lifecycle"


class Recording(httpx.HTTPTransport):
    """Remembers every request URL (the snapshot's `timestamp` is a query parameter)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[httpx.URL] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        return super().handle_request(request)


@pytest.fixture
def neon(monkeypatch):
    transport = Recording()
    with NeonEmulator(FakeBackend(), api_key=API_KEY, op_duration=0) as emu:
        engine = NeonEngine(API_KEY, api_url=emu.url, transport=transport)
        monkeypatch.setattr(connections, "engine_for", lambda *, project: engine)
        yield engine, transport
        engine.close()


@pytest.fixture
def user():
    return user_make("grace")


def neon_project(engine, user) -> AgentProject:
    created = engine.project_create(name="pitr")
    return AgentProject.objects.create(
        team=services.team_personal_for(user=user),
        created_by=user,
        name="PITR",
        engine_name="neon",
        engine_project_id=created.project.id,
        active_branch_id=created.branch.id,
        endpoint_id=created.endpoint.id,
    )


def test_save_a_version_as_of_a_timestamp_on_neon(neon, user, client):
    engine, transport = neon
    project = neon_project(engine, user)
    client.force_login(user)
    page = client.get(reverse("project-detail", args=[project.pk]))
    assert page.status_code == 200

    when = (timezone.now() - timedelta(hours=2)).replace(microsecond=0)
    response = client.post(
        reverse("version-create-as-of", args=[project.pk]),
        {"as_of": when.strftime("%Y-%m-%dT%H:%M:%S"), "name": "Before the migration"},
        headers=HX,
    )
    assert response.status_code == 200
    jobs_run_queued()
    job = project.jobs.get(kind=Job.Kind.CREATE_VERSION)
    assert job.state == Job.State.SUCCEEDED, job.error
    version = project.versions.get()
    assert version.name == "Before the migration" and version.manifest is None
    assert version.prompt.startswith("Saved as of")
    snapshot_calls = [u for u in transport.urls if u.path.endswith("/snapshot")]
    assert snapshot_calls and snapshot_calls[-1].params["timestamp"].startswith(
        when.strftime("%Y-%m-%dT%H:%M:%S")
    )
    snap = next(s for s in engine.snapshot_list(project.engine_project_id))
    assert snap.timestamp == when
    # The form shows for this engine; a version from the future is refused.
    project.refresh_from_db()
    page = client.get(reverse("project-detail", args=[project.pk])).content.decode()
    assert "Save a version as of" in page
    with pytest.raises(services.ServiceError, match="in the past"):
        lifecycle.version_create_as_of(
            project=project, user=user, timestamp=timezone.now() + timedelta(hours=1)
        )
