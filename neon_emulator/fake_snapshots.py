"""Snapshots of the in-memory backend (`FakeBackend`): take, list, rename, delete, restore."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime

from checkpoints.engines.base import (
    Branch,
    Engine,
    Operation,
    RestoreResult,
    Snapshot,
    SnapshotCreated,
)
from checkpoints.engines.errors import EngineInvalidRequest, EngineNotFound


def _id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}-{secrets.token_hex(4)}"


class _FakeSnapshots(Engine):
    """Mixed into `FakeBackend`, whose state and helpers it uses."""

    def snapshot_create(
        self, project_id, branch_id, *, name=None, expires_at=None, lsn=None, timestamp=None
    ) -> SnapshotCreated:
        with self._lock:
            branch = self._branch(project_id, branch_id)
            if not branch.is_root:
                raise EngineInvalidRequest("snapshots can only be taken of root branches")
            now = datetime.now(UTC)
            snap = Snapshot(
                id=_id("snap-"),
                name=name or f"snapshot-{now:%Y%m%d%H%M%S}",
                created_at=now,
                source_branch_id=branch_id,
                expires_at=expires_at,
                lsn=lsn,
                timestamp=timestamp,
            )
            self.snapshots[project_id][snap.id] = snap
            self.data[snap.id] = self.data.get(branch_id, "")
            return SnapshotCreated(snap, [self._op(project_id, "create_timeline", branch_id)])

    def snapshot_list(self, project_id: str) -> list[Snapshot]:
        self._project(project_id)
        return list(self.snapshots[project_id].values())

    def _snapshot(self, project_id: str, snapshot_id: str) -> Snapshot:
        self._project(project_id)
        try:
            return self.snapshots[project_id][snapshot_id]
        except KeyError:
            raise EngineNotFound(f"snapshot {snapshot_id} not found") from None

    def snapshot_rename(self, project_id: str, snapshot_id: str, name: str) -> Snapshot:
        with self._lock:
            snap = replace(self._snapshot(project_id, snapshot_id), name=name)
            self.snapshots[project_id][snapshot_id] = snap
            return snap

    def snapshot_delete(self, project_id: str, snapshot_id: str) -> list[Operation]:
        with self._lock:
            snap = self._snapshot(project_id, snapshot_id)
            del self.snapshots[project_id][snapshot_id]
            return [self._op(project_id, "delete_timeline", snap.source_branch_id)]

    def snapshot_restore(
        self, project_id, snapshot_id, *, target_branch_id=None, finalize_restore=False, name=None
    ) -> RestoreResult:
        with self._lock:
            snap = self._snapshot(project_id, snapshot_id)
            target = self._branch(project_id, target_branch_id or snap.source_branch_id or "")
            new_id = _id("br-")
            new_name = name or f"{target.name}-restore-{secrets.token_hex(3)}"
            if not finalize_restore:
                self._check_name(project_id, new_name)
            branch = Branch(
                id=new_id, project_id=project_id, name=new_name, created_at=datetime.now(UTC),
                restore_status="restored", restored_from=snapshot_id, restored_as=target.id,
            )  # fmt: skip
            self.branches[project_id][new_id] = branch
            self.data[new_id] = self.data.get(snapshot_id, "")
            ops = [self._op(project_id, "create_branch", new_id)]
            if finalize_restore:
                self._finalize(project_id, new_id, None)
            return RestoreResult(
                self.branches[project_id][new_id],
                ops,
                orphan_branch_id=target.id if finalize_restore else None,
            )

    def branch_finalize_restore(
        self, project_id: str, branch_id: str, *, old_name: str | None = None
    ) -> list[Operation]:
        with self._lock:
            self._finalize(project_id, branch_id, old_name)
            return [self._op(project_id, "start_compute", branch_id)]

    def _finalize(self, project_id: str, branch_id: str, old_name: str | None) -> None:
        """The restored branch takes the target's name and endpoint; the target is renamed."""
        branch = self._branch(project_id, branch_id)
        if branch.restore_status != "restored" or not branch.restored_as:
            raise EngineInvalidRequest(f"branch {branch_id} is not a restore to finalize")
        target = self._branch(project_id, branch.restored_as)
        old_name = old_name or f"{target.name} (old)"
        self._check_name(project_id, old_name, exclude=target.id)
        self.branches[project_id][target.id] = replace(target, name=old_name, default=False)
        self.branches[project_id][branch_id] = replace(
            branch, name=target.name, default=target.default, restore_status="finalized"
        )
        for ep in list(self.endpoints[project_id].values()):
            if ep.branch_id == target.id:
                self.endpoints[project_id][ep.id] = replace(ep, branch_id=branch_id)

    def snapshots_delete_expired(self, project_id: str) -> list[str]:
        now = datetime.now(UTC)
        gone = [
            s.id for s in self.snapshot_list(project_id) if s.expires_at and s.expires_at <= now
        ]
        for sid in gone:
            self.snapshot_delete(project_id, sid)
        return gone
