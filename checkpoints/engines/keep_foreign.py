"""An engine that never deletes what Checkpoints did not create.

A project Checkpoints adopted (an existing Neon project) keeps the project itself, and
the branches and snapshots it held when adopted, whatever cleanup, a version deletion, a
rollback or a project deletion asks: those deletions become no-ops (no operations), and
everything else goes to the engine unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from .base import Engine

logger = logging.getLogger("checkpoints.engines")


class KeepForeign:
    """`engine`, with deletions of the foreign project, branches and snapshots skipped."""

    def __init__(
        self, engine: Engine, *, project_id: str, branches: Iterable[str], snapshots: Iterable[str]
    ) -> None:
        self._engine = engine
        self.foreign_project = project_id
        self.foreign_branches = frozenset(branches)
        self.foreign_snapshots = frozenset(snapshots)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def __repr__(self) -> str:
        return f"KeepForeign({self._engine!r})"

    def project_delete(self, project_id: str) -> None:
        if project_id == self.foreign_project:
            logger.info("kept adopted engine project %s (not made by Checkpoints)", project_id)
            return
        self._engine.project_delete(project_id)

    def branch_delete(self, project_id: str, branch_id: str, *args: Any, **kwargs: Any) -> Any:
        if branch_id in self.foreign_branches:
            logger.info("kept branch %s of adopted project %s", branch_id, project_id)
            return []
        return self._engine.branch_delete(project_id, branch_id, *args, **kwargs)

    def snapshot_delete(self, project_id: str, snapshot_id: str, *args: Any, **kwargs: Any) -> Any:
        if snapshot_id in self.foreign_snapshots:
            logger.info("kept snapshot %s of adopted project %s", snapshot_id, project_id)
            return []
        return self._engine.snapshot_delete(project_id, snapshot_id, *args, **kwargs)
