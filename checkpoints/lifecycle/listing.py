"""What the engine holds for a project, listed by a job and stored for pages to read."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.utils import timezone

from checkpoints import connections
from checkpoints.engines.base import Engine, mask_password
from checkpoints.models import AgentProject

logger = logging.getLogger(__name__)


def listing_refresh(*, project: AgentProject, engine: Engine | None = None) -> dict[str, Any]:
    """List what the engine holds for the project (branches, snapshots, warm copies, the
    snapshot capacity) and store it in `AgentProject.engine_listing`.

    The worker calls it after every job, so pages show what the project holds without
    asking the engine. A limit a job learnt from a refusal (`snapshot_limit_learned`)
    is kept until the project holds more snapshots than that."""
    engine = engine or connections.engine_for(project=project)
    pid = project.engine_project_id
    branches = engine.branch_list(pid)
    snapshots = engine.snapshot_list(pid)
    warm = [list(item) for item in engine.warm_storage(pid)]
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


def from_json(cls: type, values: dict[str, Any]) -> Any:
    dates = {"created_at", "expires_at", "timestamp"}
    return cls(
        **{k: datetime.fromisoformat(v) if k in dates and v else v for k, v in values.items()}
    )


def listing_refresh_after_job(project: AgentProject) -> None:
    """Store what the engine holds now, for pages to show without asking it. A failure
    keeps the previous listing (the next job refreshes it)."""
    try:
        project.refresh_from_db()
        if not project.engine_project_id:
            return
        listing_refresh(project=project)
    except Exception as exc:
        text = mask_password(str(exc) or type(exc).__name__)[:2000]
        logger.warning("listing project %s after a job failed: %s", project.pk, text)
