"""Before any engine step of a job: the project's role as the engine set it (local
engine). The agent's SQL may change its own role's password or settings; every step that
connects as the role would then fail, so each job puts it back first and says so."""

from __future__ import annotations

import logging
from typing import Protocol

from checkpoints.engines.base import Engine
from checkpoints.engines.errors import EngineError
from checkpoints.models import Activity, AgentProject


class JobRun(Protocol):
    """What of `jobs.run.JobRun` this needs (run.py imports this module)."""

    project: AgentProject

    def record_activity(self, *, kind: str, detail: str) -> None: ...


logger = logging.getLogger(__name__)

ROLE_REPAIRED = (
    "The project's SQL had changed its role's {what}; the engine restored it (the "
    "connection string is unchanged)."
)


def role_state_repair(run: JobRun, engine: Engine) -> list[str]:
    """Before any engine step: the role's password, settings and limit back to the
    engine's (local engine), with an Activity entry saying what was changed. An agent's
    `ALTER ROLE … PASSWORD` would otherwise fail every step that connects as the role."""
    if not run.project.engine_project_id:
        return []
    try:
        repaired = list(engine.role_repair(run.project.engine_project_id))
    except EngineError as error:  # the step itself says what is wrong, if anything
        logger.warning("role repair of project %s: %s", run.project.pk, error)
        return []
    if repaired:
        run.record_activity(
            kind=Activity.Kind.REPAIR, detail=ROLE_REPAIRED.format(what=", ".join(repaired))
        )
    return repaired
