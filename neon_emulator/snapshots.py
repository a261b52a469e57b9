"""Emulated snapshots: Neon's limit and unique names, restore."""

from __future__ import annotations

from typing import Any

from .model import (
    SNAPSHOT_LIMIT_MESSAGE,
    SNAPSHOT_NAME_TAKEN,
    _ProjectMeta,
    _Reply,
)
from .shapes import (
    _branch_json,
    _endpoint_json,
    _parse_dt,
    _snapshot_json,
)


class _Snapshots:
    def _snapshot_create(
        self, meta: _ProjectMeta, branch_id: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, Any]:
        pid = meta.project.id
        self.backend.branch_get(pid, branch_id)
        args = query  # as Neon (2026): options are query parameters, a JSON body is ignored
        if args.get("lsn") and args.get("timestamp"):
            raise _Reply(400, "invalid request: lsn and timestamp are mutually exclusive")
        existing = self.backend.snapshot_list(pid)
        if args.get("name") and any(s.name == args["name"] for s in existing):
            raise _Reply(409, SNAPSHOT_NAME_TAKEN.format(name=args["name"]))
        used = sum(1 for s in existing if s.manual)
        if self.snapshot_limit is not None and used >= self.snapshot_limit:
            raise _Reply(422, SNAPSHOT_LIMIT_MESSAGE.format(used=used, limit=self.snapshot_limit))
        self._ensure_not_locked(meta)
        created = self.backend.snapshot_create(
            pid,
            branch_id,
            name=args.get("name"),
            expires_at=_parse_dt(args.get("expires_at")),
            lsn=args.get("lsn"),
            timestamp=_parse_dt(args.get("timestamp")),
        )
        self._wait_backend(pid, created.operations)
        ops = [self._new_op(meta, "create_timeline", branch_id=branch_id)]
        return 200, {"snapshot": _snapshot_json(created.snapshot), "operations": ops}

    def _snapshot_delete(self, meta: _ProjectMeta, snapshot_id: str) -> tuple[int, Any]:
        pid = meta.project.id
        snapshot = next((s for s in self.backend.snapshot_list(pid) if s.id == snapshot_id), None)
        if snapshot is None:
            raise _Reply(404, "snapshot not found")
        self._ensure_not_locked(meta)
        self._wait_backend(pid, self.backend.snapshot_delete(pid, snapshot_id))
        op = self._new_op(meta, "delete_timeline", branch_id=snapshot.source_branch_id)
        return 202, {"operations": [op]}

    def _restore(
        self, meta: _ProjectMeta, snapshot_id: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, Any]:
        pid = meta.project.id
        snapshot = next((s for s in self.backend.snapshot_list(pid) if s.id == snapshot_id), None)
        if snapshot is None:
            raise _Reply(404, "snapshot not found")
        target = body.get("target_branch_id") or snapshot.source_branch_id
        if not target:
            raise _Reply(400, "target branch could not be determined")
        self.backend.branch_get(pid, target)
        finalize = bool(body.get("finalize_restore", False))
        self._ensure_not_locked(meta)
        result = self.backend.snapshot_restore(
            pid,
            snapshot_id,
            target_branch_id=target,
            finalize_restore=finalize,
            name=body.get("name") or query.get("name"),
        )
        self._wait_backend(pid, result.operations)
        new = result.branch
        ops = [
            self._new_op(meta, "timeline_unarchive", branch_id=target),
            self._new_op(meta, "create_branch", branch_id=new.id),
        ]
        payload: dict[str, Any] = {"branch": _branch_json(new)}
        if finalize:
            moved = [e for e in self.backend.endpoint_list(pid) if e.branch_id == new.id]
            for endpoint in moved:
                ops.append(
                    self._new_op(meta, "start_compute", branch_id=new.id, endpoint_id=endpoint.id)
                )
            payload["endpoints"] = [_endpoint_json(e) for e in moved]
        payload["operations"] = ops
        return 200, payload

    def _finalize_restore(
        self, meta: _ProjectMeta, branch_id: str, body: dict[str, Any]
    ) -> tuple[int, Any]:
        """The target's computes move onto the restored branch, which takes the target's
        name; the target is renamed `name` (or `<name> (old)`). Only a branch restored
        with `finalize_restore: false`, not yet finalized, is eligible."""
        pid = meta.project.id
        branch = self.backend.branch_get(pid, branch_id)
        if branch.restore_status != "restored" or not branch.restored_as:
            raise _Reply(400, f"branch {branch_id} is not a restored branch to finalize")
        name = body.get("name")
        if name and any(b.name == name for b in self.backend.branch_list(pid)):
            raise _Reply(409, f"branch with name {name!r} already exists")
        self._ensure_not_locked(meta)
        target = branch.restored_as
        self._wait_backend(pid, self.backend.branch_finalize_restore(pid, branch_id, old_name=name))
        moved = [e for e in self.backend.endpoint_list(pid) if e.branch_id == branch_id]
        ops = [self._new_op(meta, "suspend_compute", branch_id=target)]
        ops += [
            self._new_op(meta, "start_compute", branch_id=branch_id, endpoint_id=e.id)
            for e in moved
        ]
        return 200, {"operations": ops}

    def _snapshot_rename(
        self, meta: _ProjectMeta, snapshot_id: str, body: dict[str, Any]
    ) -> tuple[int, Any]:
        pid = meta.project.id
        name = (body.get("snapshot") or {}).get("name")
        if not name:
            raise _Reply(400, "invalid request: snapshot.name is required")
        taken = [s for s in self.backend.snapshot_list(pid) if s.name == name]
        if any(s.id != snapshot_id for s in taken):
            raise _Reply(409, SNAPSHOT_NAME_TAKEN.format(name=name))
        return 200, {
            "snapshot": _snapshot_json(self.backend.snapshot_rename(pid, snapshot_id, name))
        }
