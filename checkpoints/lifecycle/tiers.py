"""The tier policy: which versions stay hot (template databases, rollback in a swap) and
which go cold (an archive each, loaded on rollback). Kept hot: the newest
`CHECKPOINTS_HOT_VERSIONS` live versions of the project (default 5), every pinned
version and the current one (warm-copied ones the engine refuses to move). Reads only."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from checkpoints.models import AgentProject, Version

#: Expected rollback time per tier (measured by `make bench` on a tiny app database: a
#: warm or hot template swap vs. pg_restore of the archive); shown on the holdings card.
EXPECTED_ROLLBACK = {"hot": "under a second", "cold": "a few seconds (grows with size)"}


def hot_versions() -> int:
    return max(1, int(settings.CHECKPOINTS_HOT_VERSIONS))


@dataclass
class TierPlan:
    to_cold: list[Version] = field(default_factory=list)
    to_hot: list[Version] = field(default_factory=list)


def keeps_hot(project: AgentProject, versions: list[Version]) -> set[int]:
    """Pks of the versions the policy keeps hot (`versions`: the live ones, any order)."""
    newest = sorted(versions, key=lambda v: v.number, reverse=True)[: hot_versions()]
    kept = {v.pk for v in newest} | {v.pk for v in versions if v.pinned}
    if project.current_version_id:
        kept.add(project.current_version_id)
    return kept


def tier_plan(project: AgentProject) -> TierPlan:
    """What should move: hot versions outside the kept set go cold, cold ones inside it
    (pinned, or current again after a rollback) come back hot."""
    versions = list(
        Version.objects.filter(project=project, deleted_at__isnull=True).order_by("number")
    )
    kept = keeps_hot(project, versions)
    plan = TierPlan()
    for version in versions:
        if version.pk in kept and version.tier == Version.Tier.COLD:
            plan.to_hot.append(version)
        elif version.pk not in kept and version.tier == Version.Tier.HOT:
            plan.to_cold.append(version)
    return plan
