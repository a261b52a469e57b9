"""What the engine holds for a project, each item classified, and the dry-run cleanup plan.

Cleanup never touches the active branch, the current version, a version inside the
restore window, a live preview, or what the running job is making."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from checkpoints import connections
from checkpoints.engines.base import Branch, Engine, Snapshot
from checkpoints.engines.errors import EngineError
from checkpoints.lifecycle.branches import ADOPTED_KEPT, branches_classify
from checkpoints.lifecycle.listing import from_json, listing_refresh
from checkpoints.lifecycle.plan import CleanupPlan, Holding, Removal, Seen, made_by
from checkpoints.lifecycle.tiers import EXPECTED_ROLLBACK
from checkpoints.models import AgentProject, Version

CURRENT_KEPT = "the current version (what the live database serves)"


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


def project_holdings(*, project: AgentProject, engine: Engine | None = None) -> CleanupPlan:
    """What the engine holds for the project, each item classified, and the dry-run plan.

    With an `engine` (the cleanup job), asked of the engine now; without one (pages),
    read from what the last job stored (`listing_refresh`): no engine call. Reads only."""
    plan = CleanupPlan(project_id=project.pk, dry_run=True)
    if not project.engine_project_id:
        return plan
    try:
        listing = _listing(project, engine)
    except EngineError as exc:
        plan.error = str(exc)
        return plan
    branches = [from_json(Branch, raw) for raw in listing["branches"]]
    snapshots = [from_json(Snapshot, raw) for raw in listing["snapshots"]]
    plan.listed_at = datetime.fromisoformat(listing["at"])
    plan.storage_mode = _storage_mode(project, engine)
    plan.rollback_times = dict(EXPECTED_ROLLBACK)
    plan.capacity = listing.get("capacity")
    seen = Seen.of(project)
    _versions_gone(plan, seen, {s.id for s in snapshots})
    for snap in snapshots:
        _snapshot_classify(plan, seen, snap)
    if project.current_version_id:
        plan.kept.append("the current version's snapshot")
    _warm_holdings(plan, _warm(project, listing, engine), seen.by_snapshot)
    live_previews = _previews_classify(plan, project, {b.id for b in branches}, seen.now)
    branches_classify(plan, seen, branches, live_previews)
    plan.kept.append("the active branch")
    if seen.in_window:
        plan.kept.append(f"{len(seen.in_window)} version(s) inside the restore window")
    return plan


def _storage_mode(project: AgentProject, engine: Engine | None) -> str:
    """The engine's mode, an attribute set at its start-up (no engine call)."""
    try:
        engine = engine or connections.engine_for(project=project)
    except Exception:  # an engine that cannot start: the listing still shows
        return ""
    return engine.storage_mode or ""


def _listing(project: AgentProject, engine: Engine | None) -> dict:
    """The listing to plan from: the engine's now (the cleanup job, or a project never
    listed since upgrading), else the row as stored now (a job may have listed since
    `project` loaded)."""
    listing = None
    if engine is None:
        listing = (
            AgentProject.objects.filter(pk=project.pk)
            .values_list("engine_listing", flat=True)
            .first()
        )
    if listing is None:
        engine = engine or connections.engine_for(project=project)
        listing = listing_refresh(project=project, engine=engine)
    return listing


def _versions_gone(plan: CleanupPlan, seen: Seen, engine_snapshot_ids: set[str]) -> None:
    """Versions whose snapshot the engine no longer has are marked deleted (Neon deletes
    expired snapshots by itself)."""
    for version in seen.live:
        if version.pk == seen.project.current_version_id:
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


def _snapshot_classify(plan: CleanupPlan, seen: Seen, snap: Snapshot) -> None:
    version = seen.by_snapshot.get(snap.id)
    holding = Holding("snapshot", snap.id, snap.name, snap.full_size, expires_at=snap.expires_at)
    plan.snapshots.append(holding)
    if version is not None:
        _version_snapshot_classify(plan, seen, snap, holding, version)
    elif made_by(seen.in_flight, snap.id, snap.created_at):
        holding.role = "in-flight"
        holding.note = f"being saved by the running job #{seen.in_flight.pk}"  # type: ignore[union-attr]
        plan.kept.append(f"{snap.name}: {holding.note}")
    elif snap.id in {s["id"] for s in (seen.project.adopted or {}).get("snapshots", [])}:
        holding.role, holding.note = "adopted", ADOPTED_KEPT
        plan.kept.append(f"{snap.name}: {holding.note}")
    else:
        gone = seen.deleted_snapshots.get(snap.id)
        holding.role = "leftover"
        reason = (
            f"snapshot of deleted {gone.label} still on the engine"
            if gone
            else "snapshot no version records (left by a failed job)"
        )
        holding.note = reason
        plan.removals.append(Removal("snapshot", snap.id, snap.name, reason, snap.full_size))


def _version_snapshot_classify(
    plan: CleanupPlan, seen: Seen, snap: Snapshot, holding: Holding, version: Version
) -> None:
    holding.role, holding.version, holding.number = "version", version.label, version.number
    holding.tier, holding.pinned = version.tier, version.pinned
    if version.size_bytes is not None:  # recorded when saved or moved: never computed here
        holding.size = version.size_bytes
    expired = version.expires_at is not None and version.expires_at <= seen.now
    if version.pk == seen.project.current_version_id:
        holding.note = "kept: " + CURRENT_KEPT
    elif version.pk in seen.in_window:
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


def _warm(project: AgentProject, listing: dict, engine: Engine | None) -> list:
    warm = listing.get("warm") or []
    if engine is None and project.engine_name == "local":
        # The local engine's warm copies are made in the background after a job; reading
        # them is one query on the local control database (no API, never rate-limited).
        try:
            warm = connections.engine_for(project=project).warm_storage(project.engine_project_id)
        except EngineError:
            pass
    return warm


def _previews_classify(
    plan: CleanupPlan, project: AgentProject, branch_ids: set[str], now: datetime
) -> set[str]:
    """Previews whose branch is gone are removed; answers the branches of live previews (an
    expired preview goes with its branch)."""
    previews = project.previews.filter(discarded_at__isnull=True).select_related("version")
    live_preview_branches = set()
    for preview in previews:
        if preview.branch_id not in branch_ids:
            plan.removals.append(
                Removal(
                    "preview",
                    preview.branch_id,
                    f"preview of {preview.version.label}",
                    "abandoned: its branch is gone",
                    preview_id=preview.pk,
                )
            )
        elif preview.expires_at > now:
            live_preview_branches.add(preview.branch_id)
    return live_preview_branches
