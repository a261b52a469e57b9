"""Version lifecycle: restore window and expiry, cleanup, what a project holds, diffs.

Rename and delete are `services.version_rename` / `services.version_delete`; this module
adds what decides how long versions live and what removes them.

- **Restore window** (`AgentProject.restore_window`): keep every version (default), keep
  versions N days, or keep the last N versions. It sets `Version.expires_at`: a new
  version gets `now + N days` under "days" (also passed to the engine as the snapshot's
  `expires_at`); under "last N", versions that fall out of the last N expire at once.
  Changing the window recomputes the expiry of every live version but the current one.
  Neon cannot change a snapshot's `expires_at` after creation (PATCH ignores it), so a
  window made longer later is honoured here, while Neon still deletes the snapshot at its
  first expiry; cleanup then marks such a version deleted ("snapshot gone").
- **Cleanup** (`project_cleanup`) removes expired versions' snapshots, expired or
  abandoned previews, the `(old)` branches of verified rollbacks, and branches or
  snapshots a failed job left behind. It never touches the active branch, the current
  version, a version inside the restore window, or a live preview; every deletion is an
  `Activity` (kind "cleanup"). It runs as a `Job` (one job per project at a time), from
  the page, from `manage.py cleanup`, and every `CHECKPOINTS_CLEANUP_INTERVAL_MINUTES`
  (default 60; 0 turns it off) from the periodic task `cleanup_periodic`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.tasks import default_task_backend, task
from django.utils import timezone

from checkpoints import manifest as manifests
from checkpoints import services
from checkpoints.engines.connect import connect_app as connect
from checkpoints.engines.errors import EngineError, EngineNotFound
from checkpoints.models import Activity, AgentProject, Job, Preview, Version

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from checkpoints.engines.base import Engine
    from checkpoints.tasks import JobRun

logger = logging.getLogger(__name__)

Window = AgentProject.RestoreWindow

RESTORE_WINDOW_INVALID = "Choose how long to keep versions: forever, N days or the last N versions."
RESTORE_WINDOW_COUNT = "Give a number from 1 to 3650."
AS_OF_INVALID = "Give the date and time to save the version as of (in the past)."
AS_OF_UNSUPPORTED = "The {engine} engine cannot save a version as of a past time."
DIFF_NO_MANIFEST = (
    "{labels} {verb} saved before manifests were recorded (or as of a past time): "
    "no diff is available."
)
CURRENT_KEPT = "the current version (what the live database serves)"

#: task_path of the periodic cleanup, to find whether it is already scheduled.
PERIODIC_TASK_PATH = "checkpoints.lifecycle.cleanup_periodic"


def _require(*, project: AgentProject, user: AbstractBaseUser, action: str) -> None:
    """Refuse unless the user's role allows `action` (rules: `checkpoints.permissions`)."""
    services._require(project=project, user=user, action=action)


# Restore window and expiry ----------------------------------------------------------------


def window_describe(project: AgentProject) -> str:
    count = project.restore_window_count
    if project.restore_window == Window.DAYS:
        return f"Versions are kept {count} day{'s' if count != 1 else ''}."
    if project.restore_window == Window.VERSIONS:
        return f"The last {count} version{'s are' if count != 1 else ' is'} kept."
    return "Every version is kept until you delete it."


def version_expiry_default(*, project: AgentProject, created_at: datetime) -> datetime | None:
    """The expiry a version created at `created_at` gets (None: no time-based expiry)."""
    if project.restore_window == Window.DAYS:
        return created_at + timedelta(days=project.restore_window_count)
    return None


def versions_in_window(*, project: AgentProject, now: datetime | None = None) -> set[int]:
    """Pks of the live versions inside the restore window (cleanup never removes them)."""
    now = now or timezone.now()
    live = project.versions.filter(deleted_at__isnull=True)
    if project.restore_window == Window.FOREVER:
        return set(live.values_list("pk", flat=True))
    if project.restore_window == Window.DAYS:
        since = now - timedelta(days=project.restore_window_count)
        return set(live.filter(created_at__gt=since).values_list("pk", flat=True))
    newest = live.order_by("-created_at", "-pk")[: project.restore_window_count]
    return set(newest.values_list("pk", flat=True))


def versions_expiry_apply(*, project: AgentProject, now: datetime | None = None) -> int:
    """Recompute `expires_at` of the live versions per the window; return how many changed.

    The current version is never touched."""
    now = now or timezone.now()
    keep = versions_in_window(project=project, now=now)
    changed = 0
    live = project.versions.filter(deleted_at__isnull=True).exclude(
        pk=project.current_version_id or 0
    )
    for version in live:
        if project.restore_window == Window.DAYS:
            expires = version_expiry_default(project=project, created_at=version.created_at)
        elif project.restore_window == Window.VERSIONS:
            outside = version.pk not in keep
            already = (
                version.expires_at if version.expires_at and version.expires_at <= now else None
            )
            expires = (already or now) if outside else None
        else:
            expires = None
        if expires != version.expires_at:
            Version.objects.filter(pk=version.pk).update(expires_at=expires)
            changed += 1
    return changed


def restore_window_set(
    *, project: AgentProject, user: AbstractBaseUser, window: str, count: int | str | None
) -> int:
    """Change the project's restore window and recompute live versions' expiry."""
    _require(project=project, user=user, action="restore_window")
    if window not in Window.values:
        raise services.ServiceError(RESTORE_WINDOW_INVALID)
    if window != Window.FOREVER:
        try:
            count = int(count or 0)
        except (TypeError, ValueError):
            raise services.ServiceError(RESTORE_WINDOW_COUNT) from None
        if not 1 <= count <= 3650:
            raise services.ServiceError(RESTORE_WINDOW_COUNT)
        project.restore_window_count = count
    before = window_describe(project)
    project.restore_window = window
    with transaction.atomic():
        project.save(update_fields=["restore_window", "restore_window_count"])
        changed = versions_expiry_apply(project=project)
        services.activity_record(
            project=project,
            actor=user,
            kind=Activity.Kind.CLEANUP,
            detail=f"Restore window changed: {before} → {window_describe(project)} "
            f"Expiry recomputed for {changed} version{'s' if changed != 1 else ''}.",
        )
    return changed


def version_expiry_note(*, project: AgentProject, version: Version, now: datetime) -> str:
    """What the page says about when a version goes ("expires 12 May 14:00 UTC")."""
    if version.deleted_at is not None:
        return ""
    if version.pk == project.current_version_id:
        return "kept while it is the current version"
    if version.expires_at is not None:
        when = timezone.localtime(version.expires_at).strftime("%d %b %H:%M")
        if version.expires_at <= now:
            return f"expired {when} UTC: the next cleanup removes it"
        return f"expires {when} UTC"
    if project.restore_window == Window.VERSIONS:
        return f"kept while among the last {project.restore_window_count}"
    return "kept until deleted"


# What the project holds ---------------------------------------------------------------------


@dataclass
class Holding:
    """One branch, snapshot or preview on the engine, and what the metadata says it is."""

    kind: str  # "branch" | "snapshot"
    id: str
    name: str
    size: int | None = None
    role: str = ""  # active | preview | orphan | version | leftover | …
    note: str = ""
    version: str = ""
    expires_at: datetime | None = None


@dataclass
class Removal:
    """One thing cleanup removes (or, in a dry run, would remove), and why."""

    kind: str  # snapshot | branch | preview | version
    id: str
    name: str
    reason: str
    size: int | None = None
    version_id: int | None = None
    preview_id: int | None = None
    done: bool = False
    error: str = ""


@dataclass
class CleanupPlan:
    project_id: int
    dry_run: bool
    removals: list[Removal] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    branches: list[Holding] = field(default_factory=list)
    snapshots: list[Holding] = field(default_factory=list)
    #: Ready copies of recent snapshots (local engine): rolling back to them is a swap.
    warm: list[Holding] = field(default_factory=list)
    error: str = ""
    #: When the listing was taken (pages show the one the last job stored).
    listed_at: datetime | None = None
    #: {limit, used}: the engine's snapshot limit (None: no limit) and the snapshots held.
    capacity: dict[str, Any] | None = None

    @property
    def branches_size(self) -> int:
        return sum(h.size or 0 for h in self.branches)

    @property
    def snapshots_size(self) -> int:
        return sum(h.size or 0 for h in self.snapshots)

    @property
    def warm_size(self) -> int:
        return sum(h.size or 0 for h in self.warm)

    @property
    def bytes_freed(self) -> int:
        return sum(r.size or 0 for r in self.removals if r.kind in ("snapshot", "branch"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project_id,
            "dry_run": self.dry_run,
            "removals": [asdict(r) for r in self.removals],
            "kept": self.kept,
            "bytes_freed": self.bytes_freed,
        }


def _rollback_orphans(project: AgentProject) -> dict[str, Job]:
    """Orphan branch id -> the rollback job that left it."""
    jobs = project.jobs.filter(kind=Job.Kind.ROLLBACK, result__has_key="orphan_branch_id")
    return {job.result["orphan_branch_id"]: job for job in jobs}


def _verified(job: Job) -> bool:
    return any(s["name"] == "verifying" and s["state"] == "succeeded" for s in job.steps)


def _made_by(job: Job | None, item_id: str, created_at: datetime) -> bool:
    """Whether a branch or snapshot is being made by the project's running job: the job
    recorded its id, or it appeared after the job started."""
    if job is None:
        return False
    if item_id in {str(v) for v in job.result.values() if isinstance(v, str)}:
        return True
    started = job.started_at or job.created_at
    return created_at >= started - timedelta(seconds=5)


def _warm_holdings(plan: CleanupPlan, warm: list, by_snapshot: dict[str, Version]) -> None:
    """Warm copies are the engine's own cache (made and dropped by it), shown, never removed."""
    for snapshot_id, size in warm:
        version = by_snapshot.get(snapshot_id)
        label = version.label if version else snapshot_id
        plan.warm.append(
            Holding(
                "warm copy",
                snapshot_id,
                label,
                size,
                role="warm",
                note=f"ready copy: rolling back to {label} is only a swap",
                version=label,
            )
        )


def listing_refresh(*, project: AgentProject, engine: Engine | None = None) -> dict[str, Any]:
    """List what the engine holds for the project (branches, snapshots, warm copies, the
    snapshot capacity) and store it in `AgentProject.engine_listing`.

    The worker calls it after every job, so pages show what the project holds without
    asking the engine. A limit a job learnt from a refusal (`snapshot_limit_learned`)
    is kept until the project holds more snapshots than that."""
    engine = engine or services.engine_for(project=project)
    pid = project.engine_project_id
    branches = engine.branch_list(pid)
    snapshots = engine.snapshot_list(pid)
    warm_storage = getattr(engine, "warm_storage", None)
    warm = [list(item) for item in warm_storage(pid)] if warm_storage else []
    used = sum(1 for s in snapshots if s.manual)
    previous = ((project.engine_listing or {}).get("capacity") or {}).get("learned")
    latest = (
        project.jobs.filter(result__has_key="snapshot_limit_learned")
        .order_by("-pk")
        .values_list("result", flat=True)
        .first()
    )
    learned = latest["snapshot_limit_learned"] if latest else previous
    if learned is not None and used > learned:
        learned = None  # the plan allows more than the refusal suggested
    limits = [n for n in (engine.snapshot_limit, learned) if n]
    listing = {
        "at": timezone.now().isoformat(),
        "branches": [_jsonable(asdict(b)) for b in branches],
        "snapshots": [_jsonable(asdict(s)) for s in snapshots],
        "warm": warm,
        "capacity": {
            "limit": min(limits) if limits else None,
            "used": used,
            "learned": learned,
            "engine": engine.name,
        },
    }
    AgentProject.objects.filter(pk=project.pk).update(
        engine_listing=listing, engine_listed_at=timezone.now()
    )
    project.engine_listing = listing
    return listing


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def _from_json(cls: type, values: dict[str, Any]) -> Any:
    dates = {"created_at", "expires_at", "timestamp"}
    return cls(
        **{k: datetime.fromisoformat(v) if k in dates and v else v for k, v in values.items()}
    )


def project_holdings(*, project: AgentProject, engine: Engine | None = None) -> CleanupPlan:
    """What the engine holds for the project, each item classified, and the dry-run plan.

    With an `engine` (the cleanup job), asked of the engine now; without one (pages),
    read from what the last job stored (`listing_refresh`): no engine call. Reads only."""
    from checkpoints.engines.base import Branch, Snapshot

    plan = CleanupPlan(project_id=project.pk, dry_run=True)
    if not project.engine_project_id:
        return plan
    now = timezone.now()
    listing = None
    if engine is None:  # the row as stored now (a job may have listed since `project` loaded)
        listing = (
            AgentProject.objects.filter(pk=project.pk)
            .values_list("engine_listing", flat=True)
            .first()
        )
    try:
        if listing is None:  # the cleanup job, or a project never listed since upgrading
            engine = engine or services.engine_for(project=project)
            listing = listing_refresh(project=project, engine=engine)
    except EngineError as exc:
        plan.error = str(exc)
        return plan
    branches = [_from_json(Branch, raw) for raw in listing["branches"]]
    snapshots = [_from_json(Snapshot, raw) for raw in listing["snapshots"]]
    plan.listed_at = datetime.fromisoformat(listing["at"])
    plan.capacity = listing.get("capacity")
    in_flight = services.job_active(project=project)
    if in_flight is not None and in_flight.kind == Job.Kind.CLEANUP:
        in_flight = None  # cleanup makes nothing; it runs alone
    versions = list(project.versions.all())
    live = [v for v in versions if v.deleted_at is None]
    by_snapshot = {v.snapshot_id: v for v in live}
    deleted_snapshots = {v.snapshot_id: v for v in versions if v.deleted_at is not None}
    in_window = versions_in_window(project=project, now=now)
    current_id = project.current_version_id
    engine_snapshot_ids = {s.id for s in snapshots}

    # Versions: expired ones go; versions whose snapshot the engine no longer has are
    # marked deleted (Neon deletes expired snapshots by itself).
    for version in live:
        if version.pk == current_id:
            continue
        if version.snapshot_id not in engine_snapshot_ids:
            plan.removals.append(
                Removal(
                    "version",
                    version.snapshot_id,
                    version.label,
                    "its snapshot is gone from the engine (expired there)",
                    version_id=version.pk,
                )
            )
    for snap in snapshots:
        version = by_snapshot.get(snap.id)
        holding = Holding(
            "snapshot", snap.id, snap.name, snap.full_size, expires_at=snap.expires_at
        )
        plan.snapshots.append(holding)
        if version is not None:
            holding.role, holding.version = "version", version.label
            expired = version.expires_at is not None and version.expires_at <= now
            if version.pk == current_id:
                holding.note = "kept: " + CURRENT_KEPT
            elif version.pk in in_window:
                holding.note = "kept: inside the restore window"
            elif expired:
                holding.note = "expired"
                plan.removals.append(
                    Removal(
                        "snapshot",
                        snap.id,
                        version.label,
                        f"{version.label} expired "
                        f"{timezone.localtime(version.expires_at):%d %b %H:%M} UTC "
                        "and is outside the restore window",
                        size=snap.full_size,
                        version_id=version.pk,
                    )
                )
            else:
                holding.note = "kept: not expired"
        elif _made_by(in_flight, snap.id, snap.created_at):
            holding.role = "in-flight"
            holding.note = f"being saved by the running job #{in_flight.pk}"
            plan.kept.append(f"{snap.name}: {holding.note}")
        else:
            gone = deleted_snapshots.get(snap.id)
            holding.role = "leftover"
            reason = (
                f"snapshot of deleted {gone.label} still on the engine"
                if gone
                else "snapshot no version records (left by a failed job)"
            )
            holding.note = reason
            plan.removals.append(Removal("snapshot", snap.id, snap.name, reason, snap.full_size))
    if current_id:
        plan.kept.append("the current version's snapshot")
    warm = listing.get("warm") or []
    if engine is None and project.engine_name == "local":
        # The local engine's warm copies are made in the background after a job; reading
        # them is one query on the local control database (no API, never rate-limited).
        warm_storage = getattr(services.engine_for(project=project), "warm_storage", None)
        if warm_storage is not None:
            try:
                warm = warm_storage(project.engine_project_id)
            except EngineError:
                pass
    _warm_holdings(plan, warm, by_snapshot)

    # Previews: expired, or whose branch is gone.
    previews = list(project.previews.filter(discarded_at__isnull=True).select_related("version"))
    branch_ids = {b.id for b in branches}
    live_preview_branches = set()
    preview_by_branch = {p.branch_id: p for p in project.previews.select_related("version")}
    for preview in previews:
        label = f"preview of {preview.version.label}"
        if preview.branch_id not in branch_ids:
            plan.removals.append(
                Removal(
                    "preview",
                    preview.branch_id,
                    label,
                    "abandoned: its branch is gone",
                    preview_id=preview.pk,
                )
            )
        elif preview.expires_at > now:
            live_preview_branches.add(preview.branch_id)
        # An expired preview goes with its branch, below.

    # Branches: the active one stays; the rest is a live preview or removable.
    orphans = _rollback_orphans(project)
    for branch in branches:
        holding = Holding("branch", branch.id, branch.name, branch.logical_size)
        plan.branches.append(holding)
        if branch.id == project.active_branch_id or (
            branch.default and not project.active_branch_id
        ):
            holding.role, holding.note = "active", "kept: the active branch (serves the app)"
            continue
        preview = preview_by_branch.get(branch.id)
        if branch.id in live_preview_branches:
            holding.role, holding.note = "preview", f"kept: live preview of {preview.version.label}"
            continue
        if preview is not None:
            holding.role = "preview"
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
            continue
        if _made_by(in_flight, branch.id, branch.created_at):
            holding.role = "in-flight"
            holding.note = f"being made by the running job #{in_flight.pk}"
            plan.kept.append(f"{branch.name}: {holding.note}")
            continue
        rollback = orphans.get(branch.id)
        if rollback is not None:
            holding.role = "orphan"
            target = rollback.target_version.label if rollback.target_version else "a version"
            if not _verified(rollback):
                holding.note = (
                    f"kept: holds the database from before the unverified rollback to {target} "
                    f"(job #{rollback.pk}); delete it by hand once checked"
                )
                plan.kept.append(f"{branch.name}: {holding.note}")
                continue
            holding.note = f"orphan of the verified rollback to {target}"
            plan.removals.append(
                Removal("branch", branch.id, branch.name, holding.note, branch.logical_size)
            )
            continue
        holding.role = "leftover"
        holding.note = (
            "orphan of a rollback"
            if branch.name.endswith("(old)") or "(old " in branch.name
            else "branch no version, preview or rollback records (left by a failed job)"
        )
        plan.removals.append(
            Removal("branch", branch.id, branch.name, holding.note, branch.logical_size)
        )
    plan.kept.append("the active branch")
    if in_window:
        plan.kept.append(f"{len(in_window)} version(s) inside the restore window")
    return plan


# Cleanup ------------------------------------------------------------------------------------


def project_cleanup(
    *,
    project: AgentProject,
    user: AbstractBaseUser | None,
    dry_run: bool = True,
    fresh: bool = True,
) -> CleanupPlan:
    """The cleanup plan (dry run), or the plan carried out now, as a job of the project.

    A dry run asks the engine what it holds now (`fresh`), or, for pages, reads what the
    last job listed (no engine call; the cleanup job itself plans from the engine).

    Carrying it out claims the project like any job (`ProjectBusy` if one runs), so no
    job creates a branch or snapshot that cleanup would mistake for a leftover."""
    if user is not None:
        _require(project=project, user=user, action="cleanup")
    if dry_run:
        engine = services.engine_for(project=project) if fresh else None
        return project_holdings(project=project, engine=engine)
    from checkpoints.tasks import JobRun, _job_finish

    services.jobs_fail_stale(project=project)
    now = timezone.now()
    try:
        with transaction.atomic():
            job = Job.objects.create(
                project=project,
                kind=Job.Kind.CLEANUP,
                created_by=user,
                state=Job.State.RUNNING,
                started_at=now,
                heartbeat_at=now,
            )
    except IntegrityError as exc:
        running = services.job_active(project=project)
        label = running.get_kind_display() if running else "another job"
        raise services.ProjectBusy(services.PROJECT_BUSY.format(job=label), job=running) from exc
    run = JobRun(job)
    try:
        plan = run_cleanup(run)
    except Exception as exc:
        _job_finish(run, state=Job.State.FAILED, error=str(exc)[:2000])
        raise
    _job_finish(run, state=Job.State.SUCCEEDED)
    return plan


def cleanup_start(*, project: AgentProject, user: AbstractBaseUser) -> Job:
    """Enqueue the cleanup as a background job (the page's "Clean up now")."""
    _require(project=project, user=user, action="cleanup")
    if not project.engine_project_id:
        raise services.ServiceError(services.NOT_STARTED)
    return services._job_enqueue(project=project, kind=Job.Kind.CLEANUP, user=user)


def run_cleanup(run: JobRun) -> CleanupPlan:
    """The job runner: plan from what the engine holds now, then remove, logging each."""
    project = run.project
    actor = run.job.created_by
    engine = services.engine_for(project=project)
    with run.step("listing branches and snapshots"):
        plan = project_holdings(project=project, engine=engine)
        if plan.error:
            raise EngineError(plan.error)
        run.detail(f"{len(plan.removals)} to remove")
    plan.dry_run = False
    # Snapshots and previews first, then branches (children before parents).
    order = {"version": 0, "snapshot": 1, "preview": 2, "branch": 3}
    for removal in sorted(plan.removals, key=lambda r: order[r.kind]):
        with run.step(f"removing {removal.kind} {removal.name}", removal.reason):
            try:
                ops = _remove(project, engine, removal, actor)
            except EngineError as exc:
                # One stubborn item must not stop the rest: record it and go on.
                removal.error = str(exc)
                run.detail(f"not removed: {exc}")
                continue
        if ops:
            run.wait(engine, ops, name=f"{removal.kind} {removal.name} deleted")
        removal.done = True
        services.activity_record(
            project=project,
            actor=actor,
            kind=Activity.Kind.CLEANUP,
            to_version=Version.objects.filter(pk=removal.version_id).first()
            if removal.version_id
            else None,
            operation_ids=[op.id for op in ops],
            detail=f"Removed {removal.kind} {removal.name} ({removal.id}): {removal.reason}.",
        )
    run.remember(cleanup=plan.as_dict())
    with run.step("listing what remains"):
        listing_refresh(project=project, engine=engine)
    return plan


def _remove(project: AgentProject, engine: Engine, removal: Removal, actor) -> list:
    now = timezone.now()
    ops: list = []
    if removal.kind == "snapshot":
        try:
            ops = engine.snapshot_delete(project.engine_project_id, removal.id)
        except EngineNotFound:
            ops = []
    elif removal.kind == "branch":
        try:
            ops = engine.branch_delete(project.engine_project_id, removal.id)
        except EngineNotFound:
            ops = []
    if removal.version_id:
        Version.objects.filter(pk=removal.version_id, deleted_at__isnull=True).update(
            deleted_at=now, deleted_by=actor, deleted_reason=f"cleanup: {removal.reason}"
        )
    if removal.preview_id:
        Preview.objects.filter(pk=removal.preview_id, discarded_at__isnull=True).update(
            discarded_at=now
        )
    return ops


def projects_cleanup(*, dry_run: bool, project_id: int | None = None) -> list[CleanupPlan]:
    """Clean up every started project (or one); a busy project is skipped this round."""
    projects = AgentProject.objects.exclude(engine_project_id="")
    if project_id is not None:
        projects = projects.filter(pk=project_id)
    plans = []
    for project in projects:
        try:
            plans.append(project_cleanup(project=project, user=None, dry_run=dry_run))
        except services.ProjectBusy:
            logger.info("cleanup of project %s skipped: busy", project.pk)
        except Exception:
            logger.exception("cleanup of project %s failed", project.pk)
    return plans


def rollback_keeps_old_branch() -> bool:
    """CHECKPOINTS_ROLLBACK_KEEP_OLD_BRANCH: leave a verified rollback's `(old)` branch for
    cleanup instead of deleting it at once (an undo window until the next cleanup)."""
    return bool(getattr(settings, "CHECKPOINTS_ROLLBACK_KEEP_OLD_BRANCH", False))


# The periodic cleanup -----------------------------------------------------------------------


def cleanup_interval() -> timedelta | None:
    minutes = getattr(settings, "CHECKPOINTS_CLEANUP_INTERVAL_MINUTES", 60)
    return timedelta(minutes=minutes) if minutes else None


def cleanup_schedule_ensure() -> bool:
    """Enqueue `cleanup_periodic` unless it is already waiting or running. True if enqueued.

    Called by the worker after each job and by `manage.py cleanup --schedule`. Needs a
    backend that can defer (the database backend); with others it does nothing."""
    interval = cleanup_interval()
    if interval is None or not default_task_backend.supports_defer:
        return False
    try:
        from django_tasks_db.models import DBTaskResult
    except ImportError:  # pragma: no cover - another deferring backend
        return False
    waiting = DBTaskResult.objects.filter(
        task_path=PERIODIC_TASK_PATH, status__in=["READY", "RUNNING"]
    ).exists()
    if waiting:
        return False
    cleanup_periodic.using(run_after=timezone.now() + interval).enqueue()
    return True


@task()
def cleanup_periodic() -> None:
    """Clean up every project, then run again after the interval."""
    try:
        projects_cleanup(dry_run=False)
    finally:
        interval = cleanup_interval()
        if interval is not None:
            cleanup_periodic.using(run_after=timezone.now() + interval).enqueue()


# Manifests and diffs ------------------------------------------------------------------------


def manifest_of_uri(uri: str) -> dict[str, Any] | None:
    """The manifest of the database at `uri`, or None if it cannot be read (logged)."""
    try:
        with connect(uri) as conn:
            conn.read_only = True
            return manifests.manifest_read(conn)
    except Exception:
        logger.exception("could not read a manifest")
        return None


@dataclass
class Diff:
    old: str
    new: str
    changes: dict[str, Any] | None = None
    summary: str = ""
    unavailable: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _missing(*versions: Version) -> str:
    labels = [v.label for v in versions if not v.manifest]
    return DIFF_NO_MANIFEST.format(
        labels=" and ".join(labels), verb="was" if len(labels) == 1 else "were"
    )


def version_diff(*, old: Version, new: Version) -> Diff:
    """What going from `old` to `new` changes (from the stored manifests)."""
    diff = Diff(old=old.label, new=new.label)
    if not old.manifest or not new.manifest:
        diff.unavailable = _missing(old, new)
        return diff
    diff.changes = manifests.manifest_diff(old.manifest, new.manifest)
    diff.summary = manifests.diff_summary(diff.changes)
    return diff


def rollback_diff(*, project: AgentProject, version: Version) -> Diff:
    """What rolling back to `version` changes in the live database now (live manifest)."""
    diff = Diff(old="live", new=version.label)
    if not version.manifest:
        diff.unavailable = _missing(version)
        return diff
    live = manifest_of_uri(services.project_connection_uri(project=project))
    if live is None:
        diff.unavailable = "The live database could not be read."
        return diff
    diff.changes = manifests.manifest_diff(live, version.manifest)
    diff.summary = manifests.diff_summary(diff.changes)
    return diff


# Point-in-time versions ---------------------------------------------------------------------


def version_create_as_of(
    *,
    project: AgentProject,
    user: AbstractBaseUser,
    timestamp: datetime | None,
    name: str = "",
) -> Job:
    """Save a version of the active branch as it was at `timestamp` (engines that can)."""
    _require(project=project, user=user, action="version_create")
    if not project.engine_project_id:
        raise services.ServiceError(services.NOT_STARTED)
    engine = services.engine_for(project=project)
    if not engine.supports_point_in_time:
        raise services.ServiceError(AS_OF_UNSUPPORTED.format(engine=engine.name))
    if timestamp is None or timestamp >= timezone.now():
        raise services.ServiceError(AS_OF_INVALID)
    name = (name or "").strip()
    if len(name) > 200:
        raise services.ServiceError(services.NAME_REQUIRED)
    services.snapshot_room_check(project=project)
    when = timestamp.astimezone(UTC)
    prompt = f"Saved as of {when:%Y-%m-%d %H:%M:%S} UTC"
    request = {"prompt": prompt, "sql": "", "name": name, "timestamp": timestamp.isoformat()}
    return services._job_enqueue(
        project=project, kind=Job.Kind.CREATE_VERSION, user=user, request=request
    )
