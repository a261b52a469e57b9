"""POST versions with `timestamp` or `lsn` (Neon's shapes): the Neon engine receives them
as its snapshot's parameters; an engine without a history window refuses with a message,
and a malformed moment is a 400, never a 500."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from checkpoints import connections, services
from checkpoints.engines.neon import NeonEngine
from checkpoints.models import AgentProject, Job
from neon_emulator.fake_backend import FakeBackend
from neon_emulator.server import NeonEmulator
from tests.api_helpers import Api, token_for
from tests.web_fixtures import jobs_run_queued, user_make

pytestmark = pytest.mark.django_db
API_KEY = "test-key-history"


class Recording(httpx.HTTPTransport):
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


def neon_project(engine, user) -> AgentProject:
    created = engine.project_create(name="history")
    return AgentProject.objects.create(
        team=services.team_personal_for(user=user),
        created_by=user,
        name="History",
        engine_name="neon",
        engine_project_id=created.project.id,
        active_branch_id=created.branch.id,
        endpoint_id=created.endpoint.id,
    )


def test_post_versions_with_lsn_or_timestamp_drives_neon_s_snapshot(neon):
    engine, transport = neon
    user = user_make("ada")
    project = neon_project(engine, user)
    api = Api(token_for(user))
    path = f"projects/{project.pk}/versions"

    answer = api.post(path, {"lsn": "0/1A2B3C", "name": "at the lsn"})
    assert answer.status_code == 202, answer.content
    jobs_run_queued()
    when = (timezone.now() - timedelta(hours=1)).replace(microsecond=0)
    answer = api.post(path, {"timestamp": when.isoformat(), "prompt": "before the migration"})
    assert answer.status_code == 202, answer.content
    jobs_run_queued()

    jobs = project.jobs.filter(kind=Job.Kind.CREATE_VERSION).order_by("pk")
    assert [job.state for job in jobs] == [Job.State.SUCCEEDED] * 2, [j.error for j in jobs]
    snapshots = [u.params for u in transport.urls if u.path.endswith("/snapshot")]
    assert snapshots[0]["lsn"] == "0/1A2B3C"
    assert snapshots[1]["timestamp"].startswith(when.strftime("%Y-%m-%dT%H:%M:%S"))
    names = list(project.versions.order_by("number").values_list("name", "prompt"))
    assert names[0][0] == "at the lsn" and names[1][1] == "before the migration"


def test_moments_refused_with_a_message(neon):
    engine, _ = neon
    user = user_make("grace")
    project = neon_project(engine, user)
    api = Api(token_for(user))
    path = f"projects/{project.pk}/versions"
    for body, field in [
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "2020-01-01T00:00:00Z", "sql": "DROP TABLE x"}, "sql"),
    ]:
        answer = api.post(path, body)
        assert answer.status_code == 400 and field in answer.json()["details"], answer.content
    answer = api.post(path, {"lsn": "zz"})
    assert answer.status_code in (400, 409) and "LSN looks like" in answer.content.decode()
    assert not project.jobs.exists()
