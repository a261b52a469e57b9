"""The running job's heartbeat: a thread that touches `Job.heartbeat_at` and holds
the project's lock, so the reaper (`job_reaper`) leaves a live worker's job alone."""

from __future__ import annotations

import logging
import threading

from django.db import connection
from django.utils import timezone

from checkpoints.models import Job
from checkpoints.queue import jobs_live

logger = logging.getLogger(__name__)


HEARTBEAT_SECONDS = 5.0


class Heartbeat:
    """Touches `Job.heartbeat_at` every few seconds from a thread while the job runs, and
    holds the project's lock (`jobs_live.ProjectLock`) so that the job is not reaped while
    this worker lives, even if beats are missed.

    A database error costs one beat, not the heartbeat: the next beat reconnects."""

    def __init__(self, job_id: int, project_id: int) -> None:
        self.job_id = job_id
        self.lock = jobs_live.ProjectLock(project_id)
        self.beats = 0
        self.backend_pid: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name=f"job-{job_id}-beat")

    def _beat(self) -> None:
        try:
            while not self._stop.wait(HEARTBEAT_SECONDS):
                try:
                    Job.objects.filter(pk=self.job_id, state=Job.State.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                    self.beats += 1
                    self.backend_pid = connection.connection.info.backend_pid
                except Exception:
                    logger.warning("heartbeat of job %s missed a beat", self.job_id, exc_info=True)
                    connection.close()  # the next beat opens a fresh connection
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self.lock.__enter__()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_SECONDS + 1)
        self.lock.__exit__(*exc)
