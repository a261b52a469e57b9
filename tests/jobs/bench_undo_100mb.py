"""Not collected by default: `pytest tests/jobs/bench_undo_100mb.py -s` measures, at 100 MB on
each engine, a rollback that keeps the live state, the undo, and a plain rollback."""

from __future__ import annotations

from datetime import datetime

import pytest

from checkpoints import services
from checkpoints.benchmark.dataset import build_app_database, set_marker
from checkpoints.models import AgentProject, Job
from tests.web_fixtures import engine_project_drop, jobs_run_queued, user_make

pytestmark = pytest.mark.django_db


def _steps(job: Job) -> str:
    parts = []
    for s in job.steps:
        if s["finished_at"]:
            took = datetime.fromisoformat(s["finished_at"]) - datetime.fromisoformat(
                s["started_at"]
            )
            parts.append(f"{s['name']} {took.total_seconds() * 1000:.0f}")
    return "; ".join(parts)


def _job(start) -> Job:
    start()
    job = jobs_run_queued()[0]
    assert job.state == Job.State.SUCCEEDED, job.error
    return job


@pytest.fixture(params=["local", "neon"])
def bench_engine(request, settings):
    from checkpoints.engines import reset_engines
    from tests.neon_contract import API_KEY, shared_emulator

    if request.param == "neon":
        emulator = shared_emulator(request)
        settings.CHECKPOINTS_ENGINE = "neon"
        settings.NEON_API_KEY = API_KEY
        settings.NEON_API_URL = emulator.url
    else:
        settings.CHECKPOINTS_ENGINE = "local"
    reset_engines()
    yield request.param
    reset_engines()


def test_undo_at_100_mb(bench_engine, capsys):
    user = user_make()
    job = services.project_create(user=user, name="bench")
    jobs_run_queued()
    project = AgentProject.objects.get(pk=job.project_id)
    try:
        uri = services.project_connection_uri(project=project)
        size = build_app_database(uri, 100)
        for prompt in ("v1 100 MB", "v2 marker"):
            set_marker(uri, len(prompt))
            _job(lambda p=prompt: services.version_create(project=project, user=user, prompt=p))
        project.refresh_from_db()
        set_marker(uri, 999)  # a change after v2: the rollback must keep it
        v1 = project.versions.get(number=1)
        keep = _job(lambda: services.version_rollback(project=project, version=v1, user=user))
        project.refresh_from_db()
        undo = _job(lambda: services.rollback_undo(project=project, user=user))
        project.refresh_from_db()
        v2 = project.versions.get(number=2)
        plain = _job(lambda: services.version_rollback(project=project, version=v2, user=user))
        with capsys.disabled():
            print(f"\n{bench_engine}: database {size / 1e6:.0f} MB")
            for name, j in (("rollback+keep", keep), ("undo", undo), ("plain rollback", plain)):
                print(f"{name}: {j.duration_ms} ms  [{_steps(j)}]")
    finally:
        engine_project_drop(project)
