"""Job kinds MIGRATION_PREPARE and MIGRATION_APPLY: SQL tried on a fresh copy of the live
database, then applied to live as one new version (services/migrations.py).

Prepare: the live database copied to a branch of its own (its sessions end for that
moment, as for a snapshot), its manifest read (what live must still be for an apply), the
SQL applied there in one transaction as the project's role (the agent's privileges), the
manifest read again: the diff. Apply: live compared with that first manifest (refused if
it differs), the live state kept as an automatic version, the SQL applied and saved as a
version like `save_version`, the copy dropped. `undo_rollback` then goes back to the kept
version (`services/undo.py` takes an apply as it takes a rollback)."""

from __future__ import annotations

import logging

from django.utils import timezone

from checkpoints import connections
from checkpoints.engines.base import Engine
from checkpoints.engines.connect import connect_app as connect
from checkpoints.engines.errors import EngineError
from checkpoints.jobs.failures import JobFailed, SqlFailed, error_text
from checkpoints.jobs.live_keep import live_state_keep
from checkpoints.jobs.run import JobRun, engine_of, runner
from checkpoints.jobs.sql import statements_apply
from checkpoints.jobs.version import _version_save
from checkpoints.lifecycle.diff import diff_summary, manifest_diff
from checkpoints.lifecycle.manifest import manifest_of_uri, manifests_equal
from checkpoints.models import Job, MigrationTrial
from checkpoints.rules import version_rules

logger = logging.getLogger(__name__)

LIVE_CHANGED = (
    "The live database changed since migration #{id} was tried on its copy (its tables, "
    "columns or rows differ); nothing was applied. Prepare it again on a fresh copy."
)
ON_THE_COPY = "On the copy of the live database (live was not touched): "
State = MigrationTrial.State


def _trial(run: JobRun) -> MigrationTrial:
    trial_id = int((run.result.get("request") or {}).get("migration_id") or 0)
    trial = MigrationTrial.objects.filter(pk=trial_id, project=run.project).first()
    if trial is None:
        raise JobFailed("The migration this job was asked to run is gone.")
    run.remember(migration_id=trial.pk)
    return trial


def _first_line(sql: str) -> str:
    return next((line.strip() for line in sql.splitlines() if line.strip()), "")[:200]


def _copy_drop(engine: Engine, run: JobRun, branch_id: str) -> None:
    try:
        engine.branch_delete(run.project.engine_project_id, branch_id)
    except EngineError as error:  # a leftover: cleanup removes it
        logger.warning("could not drop migration copy %s: %s", branch_id, error_text(error))


@runner(Job.Kind.MIGRATION_PREPARE)
def run_migration_prepare(run: JobRun) -> None:
    trial = _trial(run)
    pid = run.project.engine_project_id
    with engine_of(run) as engine:
        with run.step("copying the live database", f"a copy for migration #{trial.pk}"):
            branch = engine.branch_create(pid, name=f"migration-{trial.pk}")
            MigrationTrial.objects.filter(pk=trial.pk).update(branch_id=branch.id)
            run.remember(migration_branch_id=branch.id)
        try:
            _try_on_copy(run, trial, engine.sql_owner_uri(pid, branch.id))
        except BaseException as exc:
            _copy_drop(engine, run, branch.id)
            MigrationTrial.objects.filter(pk=trial.pk).update(
                state=State.FAILED, branch_id="", error=error_text(exc)
            )
            raise


def _try_on_copy(run: JobRun, trial: MigrationTrial, uri: str) -> None:
    with run.step("reading the copy", "tables, columns and rows before the migration"):
        before = manifest_of_uri(uri)
        if before is None:
            raise JobFailed("The copy of the live database could not be read.")
    step = run.step("applying the migration to the copy", _first_line(trial.sql))
    try:
        with step, connect(uri) as conn:  # one transaction, as save_version runs it
            statements_apply(run, conn, version_rules.sql_split(trial.sql))
    except SqlFailed as failed:
        raise type(failed)(ON_THE_COPY + str(failed)) from None
    with run.step("comparing", "the copy before and after"):
        after = manifest_of_uri(uri)
        if after is None:
            raise JobFailed("The copy could not be read after the migration.")
        changes = manifest_diff(before, after)
        summary = diff_summary(changes)
        run.detail(summary)
    MigrationTrial.objects.filter(pk=trial.pk).update(
        state=State.PREPARED,
        base_manifest=before,
        changes=changes,
        summary=summary,
        prepared_at=timezone.now(),
    )


@runner(Job.Kind.MIGRATION_APPLY)
def run_migration_apply(run: JobRun) -> None:
    trial = _trial(run)
    project = run.project
    with engine_of(run) as engine:
        with run.step("checking the live database", "unchanged since the copy was taken"):
            live = manifest_of_uri(connections.live_uri(project=project, engine=engine))
            if not manifests_equal(live, trial.base_manifest):
                raise JobFailed(LIVE_CHANGED.format(id=trial.pk), code="live_changed")
        kept = live_state_keep(run, engine, reason=f"Before migration #{trial.pk}")
    back = kept or project.current_version
    if back is not None:  # what undo_rollback goes back to
        run.remember(undo_version_id=back.pk, undo_label=back.label)
    number = version_rules.version_number_after(project=project)
    prompt = trial.prompt or f"Migration #{trial.pk}: {_first_line(trial.sql)}"
    version = _version_save(
        run,
        number=number,
        name=version_rules.version_default_name(prompt=prompt, number=number),
        prompt=prompt,
        statements=version_rules.sql_split(trial.sql),
    )
    Job.objects.filter(pk=run.job.pk).update(target_version=version)
    MigrationTrial.objects.filter(pk=trial.pk).update(state=State.APPLIED, version=version)
    if trial.branch_id:
        with engine_of(run) as engine:
            _copy_drop(engine, run, trial.branch_id)
        MigrationTrial.objects.filter(pk=trial.pk).update(branch_id="")
