"""The project's branches, classified: the active one stays; the rest is a live preview,
an expired preview's branch, a rollback's replaced branch, or a leftover."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from checkpoints.engines.base import Branch
from checkpoints.lifecycle.plan import CleanupPlan, Holding, Removal, Seen, made_by
from checkpoints.lifecycle.restore_names import made_by_job
from checkpoints.models import AgentProject, Job, MigrationTrial, Preview


def _rollback_orphans(project: AgentProject) -> dict[str, Job]:
    """Orphan branch id -> the rollback job that left it."""
    jobs = project.jobs.filter(kind=Job.Kind.ROLLBACK, result__has_key="orphan_branch_id")
    return {job.result["orphan_branch_id"]: job for job in jobs}


def _sql_branches(project: AgentProject) -> dict[str, str]:
    """Branch id -> why it stays: a live read copy of a version, a migration's copy."""
    kept = {
        c.branch_id: f"kept: read copy of {c.version.label} for run_sql"
        for c in project.sql_copies.filter(
            closed_at__isnull=True, expires_at__gt=timezone.now()
        ).select_related("version")
    }
    # A copy being made is the running job's (in-flight); a prepared one waits for its
    # apply or discard, for a day at most (CHECKPOINTS_MIGRATION_COPY_TTL_HOURS).
    hours = float(settings.CHECKPOINTS_MIGRATION_COPY_TTL_HOURS)
    for trial in project.migrations.exclude(branch_id="").filter(
        state=MigrationTrial.State.PREPARED,
        prepared_at__gt=timezone.now() - timedelta(hours=hours),
    ):
        kept[trial.branch_id] = f"kept: copy of migration #{trial.pk}"
    return kept


def _verified(job: Job) -> bool:
    return any(s["name"] == "verifying" and s["state"] == "succeeded" for s in job.steps)


#: A branch or snapshot an adopted project held before Checkpoints: never removed.
ADOPTED_KEPT = "kept: the project held it before Checkpoints adopted it (never deleted)"


def branches_classify(
    plan: CleanupPlan, seen: Seen, branches: list[Branch], live_previews: set[str]
) -> None:
    project = seen.project
    orphans = _rollback_orphans(project)
    previews = {p.branch_id: p for p in project.previews.select_related("version")}
    sql_kept = _sql_branches(project)
    foreign = set((project.adopted or {}).get("branches", []))
    for branch in branches:
        holding = Holding("branch", branch.id, branch.name, branch.logical_size)
        plan.branches.append(holding)
        if branch.id == project.active_branch_id or (
            branch.default and not project.active_branch_id
        ):
            holding.role, holding.note = "active", "kept: the active branch (serves the app)"
            continue
        if branch.id in foreign:
            holding.role, holding.note = "adopted", ADOPTED_KEPT
            plan.kept.append(f"{branch.name}: {holding.note}")
            continue
        preview = previews.get(branch.id)
        if preview is not None:
            _preview_branch(plan, holding, branch, preview, branch.id in live_previews)
        elif branch.id in sql_kept:
            holding.role, holding.note = "sql copy", sql_kept[branch.id]
            plan.kept.append(f"{branch.name}: {holding.note}")
        elif made_by(seen.in_flight, branch.id, branch.created_at):
            holding.role = "in-flight"
            holding.note = f"being made by the running job #{seen.in_flight.pk}"  # type: ignore[union-attr]
            plan.kept.append(f"{branch.name}: {holding.note}")
        elif branch.id in orphans:
            _orphan_branch(plan, holding, branch, orphans[branch.id])
        elif (named := _named_rollback(project, branch)) is not None:
            _orphan_branch(plan, holding, branch, named)
        else:
            holding.role = "leftover"
            holding.note = _leftover_note(branch.name)
            plan.removals.append(
                Removal("branch", branch.id, branch.name, holding.note, branch.logical_size)
            )


def _named_rollback(project: AgentProject, branch: Branch) -> Job | None:
    """The rollback whose finalize gave the branch its name (the job may have stopped
    before recording the branch's id)."""
    named = made_by_job(branch.name)
    if named is None or named[0] != "old":
        return None
    return project.jobs.filter(pk=named[1], kind=Job.Kind.ROLLBACK).first()


def _leftover_note(name: str) -> str:
    named = made_by_job(name)
    if named is not None and named[0] == "restoring":
        return f"restored by job #{named[1]}, which stopped before finalizing it"
    if named is not None:
        return f"the branch job #{named[1]} replaced"
    if name.endswith("(old)") or "(old " in name:
        return "orphan of a rollback"
    return "branch no version, preview or rollback records (left by a failed job)"


def _preview_branch(
    plan: CleanupPlan, holding: Holding, branch: Branch, preview: Preview, live: bool
) -> None:
    holding.role = "preview"
    if live:
        holding.note = f"kept: live preview of {preview.version.label}"
        return
    holding.note = (
        "expired preview" if preview.discarded_at is None else "discarded preview's branch"
    )
    plan.removals.append(
        Removal(
            "branch",
            branch.id,
            branch.name,
            f"branch of the {holding.note} of {preview.version.label}",
            branch.logical_size,
            preview_id=preview.pk if preview.discarded_at is None else None,
        )
    )


def _orphan_branch(plan: CleanupPlan, holding: Holding, branch: Branch, rollback: Job) -> None:
    holding.role = "orphan"
    target = rollback.target_version.label if rollback.target_version else "a version"
    if not _verified(rollback):
        holding.note = (
            f"kept: holds the database from before the unverified rollback to {target} "
            f"(job #{rollback.pk}); delete it by hand once checked"
        )
        plan.kept.append(f"{branch.name}: {holding.note}")
        return
    holding.note = f"orphan of the verified rollback to {target}"
    plan.removals.append(
        Removal("branch", branch.id, branch.name, holding.note, branch.logical_size)
    )
