"""The history windows' upkeep (run with the periodic cleanup): on every running team
server, a base backup when one is due, and the WAL archive and backups trimmed to the
widest window of the server's projects (and to their storage budget, when every project
there has one). See checkpoints/engines/local/history."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Max

from checkpoints import tasks
from checkpoints.engines.local.history import basebackup, retention, wal
from checkpoints.models import AgentProject, EngineConnection
from checkpoints.servers import teamservers
from checkpoints.servers.pgserver import POSTGRES_BIN_PATH

logger = logging.getLogger(__name__)
DEFAULT_HOURS = 24


def team_projects(team_id: int):
    return AgentProject.objects.filter(
        connection__kind=EngineConnection.Kind.EMBEDDED, connection__team_id=team_id
    )


def team_window(team_id: int) -> tuple[timedelta, int | None]:
    """(the widest window of the team's projects, the storage budget in bytes or None)."""
    projects = team_projects(team_id)
    hours = projects.aggregate(Max("history_hours"))["history_hours__max"] or DEFAULT_HOURS
    budgets = list(projects.values_list("history_budget_mb", flat=True))
    budget = None
    if budgets and all(b is not None for b in budgets):
        budget = sum(int(b) for b in budgets) * 1024 * 1024
    return timedelta(hours=hours), budget


def history_begin(project: AgentProject) -> bool:
    """The first base backup of the project's team server, when its history holds none:
    the window opens as the team's first project is made, not at the next upkeep (up to
    an hour later). False when there was nothing to do (not a team server's project, a
    server not running, or a history that already has a backup)."""
    connection = project.connection
    if connection is None or connection.kind != EngineConnection.Kind.EMBEDDED:
        return False
    server = teamservers.team_server(settings.CHECKPOINTS_TEAM_SERVERS_DIR, connection.team_id)
    history = wal.history_dir(server.data_dir)
    if not server.is_running() or basebackup.backups(history):
        return False
    window, budget = team_window(connection.team_id)
    retention.maintain(POSTGRES_BIN_PATH, server.url(), history, window=window, budget=budget)
    return True


def history_open(project: AgentProject) -> None:
    """`history_begin` for a project a job just made (created, imported or moved onto a
    team server). The project stands whatever happens: a failure is logged, and the
    hourly upkeep tries again."""
    try:
        history_begin(project)
    except Exception:
        logger.exception("the first base backup of project %s's server failed", project.pk)


@tasks.handles("history_maintain")
def history_maintain() -> dict[int, retention.Storage]:
    """Each running team server's history kept up; a failure on one skips only it."""
    done = {}
    root = settings.CHECKPOINTS_TEAM_SERVERS_DIR
    for team_id, server in teamservers.initialised(root).items():
        if not server.is_running():
            continue
        window, budget = team_window(team_id)
        try:
            done[team_id] = retention.maintain(
                POSTGRES_BIN_PATH,
                server.url(),
                wal.history_dir(server.data_dir),
                window=window,
                budget=budget,
            )
        except Exception:
            logger.exception("history upkeep of team %s's server failed", team_id)
    return done
