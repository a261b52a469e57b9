"""The task worker: django_tasks_db's `Worker`, woken by NOTIFY instead of waiting a poll.

An idle worker LISTENs on `jobs_live.QUEUE_CHANNEL` and waits for a notification, with its
polling interval as the timeout: an enqueued job starts within milliseconds, and a lost
notification (or a task due later, like a preview's expiry) costs at most one interval.
Several workers may run side by side (`make run` starts `CHECKPOINTS_WORKERS`): each
claims a task row with `SELECT … FOR UPDATE SKIP LOCKED`, and the partial unique index on
`Job` still allows one job per project, so projects run in parallel, never one project
twice, and no team holds more than `CHECKPOINTS_WORKERS_PER_TEAM` of them (`job_fair`).
The worker also reaps jobs left behind by a dead worker (`job_reaper.jobs_fail_stale`): pages
and status polls only read.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from django.conf import settings
from django.db import close_old_connections, connection
from django.db.utils import DatabaseError, OperationalError
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from checkpoints import tasks
from checkpoints.queue import job_fair, job_watchdog, jobs_live
from checkpoints.queue.job_reaper import jobs_fail_stale

logger = logging.getLogger(__name__)

#: How often a worker looks for jobs whose worker died.
REAP_SECONDS = 5.0


class ListeningWorker(Worker):
    """`Worker.run` with the idle sleep replaced by a wait for a queue notification."""

    listener: jobs_live.Listener | None = None
    _reaped_at = 0.0
    _watching: threading.Event | None = None

    def stop(self) -> None:
        """Ask the loop to end (from another thread); wakes it if it is idle."""
        self.running = False
        if self._watching is not None:
            self._watching.set()
        try:
            with jobs_live.metadata_connect() as conn:
                conn.execute("SELECT pg_notify(%s, '')", [jobs_live.QUEUE_CHANNEL])
        except psycopg.Error:
            pass  # it ends after its interval instead

    def _listen(self) -> None:
        if self.listener is None:
            try:
                self.listener = jobs_live.Listener(jobs_live.QUEUE_CHANNEL)
            except psycopg.Error:
                logger.warning("cannot LISTEN for new jobs: polling only", exc_info=True)

    def _idle(self) -> None:
        """Wait for a notification, at most the interval (then poll anyway)."""
        if self.listener is None:
            time.sleep(self.interval)
            return
        try:
            self.listener.wait(self.interval)
        except psycopg.Error:
            logger.warning("lost the notification connection: reconnecting", exc_info=True)
            self.listener.close()
            self.listener = None
            time.sleep(self.interval)

    def _claim(self) -> DBTaskResult | None:
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if not self.process_all_queues:
            tasks = tasks.filter(queue_name__in=self.queue_names)
        if self.excluded_queue_names:
            tasks = tasks.exclude(queue_name__in=self.excluded_queue_names)
        with exclusive_transaction(tasks.db):
            try:
                for pk in job_fair.claim_order(tasks):
                    task_result = tasks.filter(pk=pk).get_locked()
                    if task_result is not None:
                        task_result.claim(self.worker_id)
                        return task_result
                return None
            except OperationalError as error:
                if is_locked_database_exception(error):
                    return None
                raise

    def _claim_or_wait(self) -> DBTaskResult | None:
        """`_claim`, or None when the metadata database cannot answer for now (a full
        lock table, a restart): the worker waits for the next round instead of dying."""
        try:
            return self._claim()
        except OperationalError:
            logger.warning("cannot claim a task now: trying again", exc_info=True)
            close_old_connections()
            return None

    def _run_or_go_on(self, task_result: DBTaskResult) -> None:
        """`run_task`, and a worker that outlives it when the metadata database cannot
        record the task's end (the lock table filled meanwhile, a restart): the task's
        job keeps its own state, and the reaper (`jobs_fail_stale`) ends it if need be."""
        try:
            self.run_task(task_result)
        except DatabaseError:
            logger.warning(
                "cannot record the end of task %s: going on", task_result.pk, exc_info=True
            )
            connection.close()

    def _reap(self) -> None:
        if time.monotonic() - self._reaped_at < REAP_SECONDS:
            return
        self._reaped_at = time.monotonic()
        try:
            jobs_fail_stale()
            tasks.legacy_paths_rename()
        except Exception:
            logger.exception("reaping stale jobs failed")

    def _watch(self, stopped: threading.Event) -> None:
        """The watchdog's rounds (`job_watchdog`), beside the jobs: a long job does not
        hold them up."""
        interval = float(settings.CHECKPOINTS_WATCHDOG_SECONDS)
        while not stopped.is_set():
            try:
                job_watchdog.watchdog_run()
            except Exception:
                logger.exception("watchdog round failed")
            finally:
                connection.close()
            stopped.wait(interval)

    def run(self) -> None:
        logger.info("Starting worker worker_id=%s (listening for new jobs)", self.worker_id)
        self._watching = threading.Event()
        watcher = threading.Thread(
            target=self._watch, args=(self._watching,), name="checkpoints-watchdog", daemon=True
        )
        watcher.start()
        try:
            while self.running:
                close_old_connections()
                self._listen()
                if self.listener is not None:
                    self.listener.drain()  # about to look: earlier wake-ups are answered
                self._reap()
                task_result = self._claim_or_wait()
                if task_result is not None:
                    self._run_or_go_on(task_result)
                close_old_connections()
                if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
                    return
                if self.running and task_result is None:
                    if self.batch:
                        return
                    self._idle()
        finally:
            self._watching.set()
            if self.listener is not None:
                self.listener.close()
