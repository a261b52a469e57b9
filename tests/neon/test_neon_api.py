"""The Neon-account operations of the API against the emulator, every answer checked
against openapi.json: add (a bad key's message), list, adopt with its snapshot, import a
snapshot as a version, import a database, remove; no answer holds a key or a password."""

from __future__ import annotations

import pytest

from checkpoints.engines.neon import account
from checkpoints.engines.operations import wait_for_operations
from checkpoints.models import AgentProject
from checkpoints.signals import team_personal_for
from tests.api.test_api_openapi import RecordingApi
from tests.api_helpers import token_for
from tests.neon.conftest import KEY_A, KEY_B, neon_engine, raw_project
from tests.web_fixtures import jobs_run_queued, user_make

pytestmark = pytest.mark.django_db


def test_neon_accounts_through_the_api(emulator, pg_server) -> None:
    ada = user_make("ada-neon-api")
    team = team_personal_for(user=ada)
    api = RecordingApi(token_for(ada), set())
    base = f"teams/{team.pk}/neon-accounts"
    answers = []

    bad = api.post(base, {"api_key": "napi_nope_0000", "api_url": emulator.url})
    assert bad.status_code == 400 and bad.json()["message"] == account.KEY_REFUSED
    made = api.post(
        base, {"name": "A", "api_key": KEY_A, "api_url": emulator.url, "snapshot_limit": 10}
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["snapshot_limit"] == 10 and body["has_key"] and body["unusable"] is None
    answers += [bad.content, made.content, api.get(base).content]

    created = raw_project(emulator, KEY_A, "api-console")
    other = raw_project(emulator, KEY_B, "other-account")
    pid, root = created.project.id, created.branch.id
    with neon_engine(emulator, KEY_A) as engine:
        snap = engine.snapshot_create(pid, root, name="console snap")
        wait_for_operations(engine, pid, snap.operations)
    listed = api.get(f"{base}/{body['id']}/projects")
    answers.append(listed.content)
    ids = {row["id"] for row in listed.json()["results"]}
    assert pid in ids and other.project.id not in ids

    adopted = api.post(f"{base}/{body['id']}/adopt", {"project": pid, "branch": root, "name": "Ad"})
    assert adopted.status_code == 202, adopted.content
    jobs_run_queued()
    project = AgentProject.objects.get(engine_project_id=pid)
    version = api.post(f"projects/{project.pk}/neon-snapshots/{snap.snapshot.id}/import")
    answers.append(version.content)
    assert version.status_code == 201 and version.json()["name"] == "console snap"

    source = pg_server.url("postgres").replace("@", "x@", 1)  # a wrong password
    refused = api.post(f"teams/{team.pk}/imports", {"name": "Imp", "source_url": source})
    answers.append(refused.content)
    assert refused.status_code == 400 and "refused the connection" in refused.json()["message"]

    assert api("DELETE", f"{base}/{body['id']}").status_code == 204
    [kept] = api.get(base).json()["results"]
    assert not kept["has_key"] and "removed" in kept["unusable"]
    blob = b"\n".join(answers).decode()
    assert KEY_A not in blob and "napi_nope" not in blob and source.split("@")[0] not in blob
