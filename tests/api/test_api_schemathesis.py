"""A bounded schemathesis run over the OpenAPI description, against a live server on loopback.

Each operation gets a few generated requests (valid and invalid) with a valid token, aimed
at a real project. No request may produce a server error, and every answer must match the
description. No worker runs: jobs stay queued, so later actions answer `busy`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from checkpoints import services
from checkpoints.models import AgentProject
from tests.api_helpers import token_for
from tests.web_fixtures import engine_project_drop, jobs_run_queued, user_make

MAX_EXAMPLES = 6
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_schema(live_server, settings):
    settings.CHECKPOINTS_API_WAIT_SECONDS = 0.2  # no worker runs: keep `?wait=true` short
    return schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")


@pytest.fixture
def seeded(transactional_db) -> Iterator[tuple[str, AgentProject]]:
    """A token and a started project (engine project and v0) for the requests to aim at."""
    user = user_make("fuzz")
    job = services.project_create(user=user, name="Fuzzed")
    jobs_run_queued()
    project = AgentProject.objects.get(pk=job.project_id)
    yield token_for(user), project
    for leftover in AgentProject.objects.all():
        engine_project_drop(leftover)


def _run_operation(operation, token: str, project_id: int, mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case) -> None:
        if "project_id" in (case.path_parameters or {}):
            case.path_parameters["project_id"] = project_id
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    run()


@pytest.mark.timeout(300)
def test_api_has_no_server_errors(api_schema, seeded):
    token, project = seeded
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 48
    runs = [
        (mode, operation)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for operation in operations
    ]
    # Deleting the project ends everything else: run those last.
    runs.sort(key=lambda run: run[1].label == "DELETE /api/v1/projects/{project_id}")
    for mode, operation in runs:
        _run_operation(operation, token, project.pk, mode)
