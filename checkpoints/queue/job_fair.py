"""Fair share of the workers between teams: which ready task a free worker claims.

A team's jobs queue behind its own, never in front of another team's. A team holds at
most `CHECKPOINTS_WORKERS_PER_TEAM` workers at once (fewer than the workers `make run`
starts), so a flood of slow jobs in many projects leaves a worker for everyone else; of
the ready tasks, a free worker takes one of the team that holds the fewest workers, the
oldest first. Tasks that belong to no team (the periodic cleanup, a preview's expiry) are
never held back. The choice is made under one advisory lock on the metadata database, so
two workers claiming at once cannot both take a team's last slot.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django_tasks_db.models import DBTaskResult

from checkpoints.models import Job
from checkpoints.queue import jobs_live

JOB_TASK_PATH = "checkpoints.tasks.job_run"
#: The ready tasks a claim looks at (oldest first); a team's flood is capped by its
#: projects (one unfinished job each), so this reaches past it.
CANDIDATES = 200
_CLAIM_LOCK = "SELECT pg_advisory_xact_lock(hashtext('checkpoints-fair-claim'))"


def workers_per_team() -> int:
    """CHECKPOINTS_WORKERS_PER_TEAM (at least 1)."""
    return max(1, int(settings.CHECKPOINTS_WORKERS_PER_TEAM))


def _job_id(args_kwargs: Any) -> int | None:
    try:
        return int(args_kwargs["args"][0])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def teams_busy() -> Counter[int]:
    """Team id -> how many workers its jobs hold: jobs a live worker runs (it holds their
    project's lock from before it marks them running), and jobs whose task a worker
    claimed but has not started yet.

    A job a stopped `make run` left running holds none: its team's next job must not
    wait for the reaper's minute (its lock went with its worker)."""
    claimed = DBTaskResult.objects.filter(status="RUNNING", task_path=JOB_TASK_PATH)
    claimed_ids = [str(pk) for pk in claimed.values_list("id", flat=True)]
    jobs = Job.objects.filter(
        Q(state=Job.State.RUNNING) | Q(state=Job.State.QUEUED, task_id__in=claimed_ids)
    ).values_list("state", "project_id", "project__team_id")
    rows = list(jobs)
    # Read after the states: a job marked running meanwhile already held its lock then.
    locked = jobs_live.projects_locked()
    return Counter(
        team for state, project, team in rows if state == Job.State.QUEUED or project in locked
    )


def claim_order(tasks: Any) -> list[Any]:
    """The ids of the ready `tasks` a worker may claim, best first (call inside the
    claiming transaction: it takes the claim lock)."""
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_LOCK)
    head = list(tasks.values_list("id", "task_path", "args_kwargs")[:CANDIDATES])
    job_ids = {
        job_id: pk
        for pk, path, args in head
        if path == JOB_TASK_PATH and (job_id := _job_id(args)) is not None
    }
    team_of_task = {
        job_ids[job_id]: team
        for job_id, team in Job.objects.filter(pk__in=job_ids).values_list("pk", "project__team_id")
    }
    busy = teams_busy()
    cap = workers_per_team()
    ranked = []
    for position, (pk, _, _) in enumerate(head):
        team = team_of_task.get(pk)
        held = busy[team] if team is not None else 0
        if held < cap:
            ranked.append((held, position, pk))
    return [pk for _, _, pk in sorted(ranked)]
