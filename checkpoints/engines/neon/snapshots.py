"""Neon snapshots: take, list, rename, delete, restore (a rollback or a preview branch)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..base import Branch, KeepLive, Operation, RestoreResult, Snapshot, SnapshotCreated
from ..errors import EngineError, EngineInvalidRequest, EngineNotFound, EngineRefused
from .answers import refusal_reason
from .parse import body_of, branch_from, format_dt, operations_from, parsed, seg, snapshot_from
from .resource import NeonResource

#: 4xx answers to a creation that say nothing about the account's room for it.
_NOT_REFUSALS = frozenset({401, 404, 423, 429})


class NeonSnapshots(NeonResource):
    def snapshot_create(
        self,
        project_id: str,
        branch_id: str,
        *,
        name: str | None = None,
        expires_at: datetime | None = None,
        lsn: str | None = None,
        timestamp: datetime | None = None,
    ) -> SnapshotCreated:
        """Snapshot a root branch, at its head or at `lsn` / `timestamp`.

        The options go in the query string: Neon ignores a JSON body here. A 4xx answer
        (the plan's snapshot limit, a quota, a name already taken…) is `EngineRefused`:
        nothing was made. More info: https://api-docs.neon.tech/reference/createsnapshot"""
        params = _snapshot_params(name=name, expires_at=expires_at, lsn=lsn, timestamp=timestamp)

        def parse(body: dict[str, Any]) -> SnapshotCreated:
            return SnapshotCreated(
                snapshot=snapshot_from(body["snapshot"]),
                operations=operations_from(body.get("operations", [])),
            )

        def recover(since: datetime) -> SnapshotCreated | None:
            candidates = [
                s
                for s in self.snapshot_list(project_id)
                if s.created_at >= since
                and (name is None or s.name == name)
                and s.source_branch_id in (None, branch_id)
            ]
            if not candidates:
                return None
            snapshot = max(candidates, key=lambda s: s.created_at)
            return SnapshotCreated(snapshot, self._busy_operations(project_id, branch_id))

        path = f"/projects/{seg(project_id)}/branches/{seg(branch_id)}/snapshot"
        try:
            return self.http.post(path, params=params, parse=parse, recover=recover)
        except EngineError as exc:
            refusal = _as_refusal(exc)
            if refusal is exc:
                raise
            raise refusal from exc

    def snapshot_list(self, project_id: str) -> list[Snapshot]:
        """More info: https://api-docs.neon.tech/reference/listsnapshots"""
        body = self._json("GET", f"/projects/{seg(project_id)}/snapshots")
        return [parsed(snapshot_from, raw) for raw in body.get("snapshots", [])]

    def snapshot_rename(self, project_id: str, snapshot_id: str, name: str) -> Snapshot:
        """More info: https://api-docs.neon.tech/reference/updatesnapshot"""
        body = self._json(
            "PATCH",
            f"/projects/{seg(project_id)}/snapshots/{seg(snapshot_id)}",
            json={"snapshot": {"name": name}},
        )
        return parsed(snapshot_from, body, "snapshot")

    def snapshot_delete(self, project_id: str, snapshot_id: str) -> list[Operation]:
        """More info: https://api-docs.neon.tech/reference/deletesnapshot"""
        response = self.http.request(
            "DELETE",
            f"/projects/{seg(project_id)}/snapshots/{seg(snapshot_id)}",
            gone_ok_after_retry=True,
        )
        if response is None or not response.content:
            return []
        return parsed(operations_from, body_of(response), "operations")

    def snapshot_restore(
        self,
        project_id: str,
        snapshot_id: str,
        *,
        target_branch_id: str | None = None,
        finalize_restore: bool = False,
        name: str | None = None,
        keep_live: KeepLive | None = None,
    ) -> RestoreResult:
        """Restore a snapshot into a new branch (and, finalized, move the target's endpoint);
        no `keep_live` (`keeps_live_on_swap` is False). The new branch id comes from the response, never from a name search.
        More info: https://api-docs.neon.tech/reference/restoresnapshot"""
        if keep_live is not None:
            raise EngineInvalidRequest("keep_live is not supported by Neon", status=400)
        payload: dict[str, Any] = {"finalize_restore": finalize_restore}
        if target_branch_id is not None:
            payload["target_branch_id"] = target_branch_id
        if name is not None:
            payload["name"] = name

        def result(branch: Branch, operations: list[Operation]) -> RestoreResult:
            orphan = (target_branch_id or branch.restored_as) if finalize_restore else None
            if finalize_restore and self._default_branch.get(project_id) == orphan:
                self._default_branch[project_id] = branch.id
            return RestoreResult(branch=branch, operations=operations, orphan_branch_id=orphan)

        def parse(body: dict[str, Any]) -> RestoreResult:
            return result(branch_from(body["branch"]), operations_from(body.get("operations", [])))

        def recover(since: datetime) -> RestoreResult | None:
            candidates = [
                b
                for b in self.branch_list(project_id)
                if b.restored_from == snapshot_id
                and b.created_at >= since
                and (target_branch_id is None or b.restored_as == target_branch_id)
                and (name is None or finalize_restore or b.name == name)
            ]
            if not candidates:
                return None
            branch = max(candidates, key=lambda b: b.created_at)
            return result(branch, self._busy_operations(project_id))

        return self.http.post(
            f"/projects/{seg(project_id)}/snapshots/{seg(snapshot_id)}/restore",
            json=payload,
            parse=parse,
            recover=recover,
        )

    def branch_finalize_restore(
        self, project_id: str, branch_id: str, *, old_name: str | None = None
    ) -> list[Operation]:
        """Finish a restore made without finalizing: the target's computes move onto
        `branch_id`, which takes the target's name; the target is renamed `old_name`.

        A lost answer is looked up (the branch `finalized`), never sent twice.
        More info: https://api-docs.neon.tech/reference/finalizerestorebranch"""
        payload = {"name": old_name} if old_name is not None else {}

        def parse(body: dict[str, Any]) -> list[Operation]:
            return operations_from(body.get("operations", []))

        def recover(since: datetime) -> list[Operation] | None:
            if self.branch_get(project_id, branch_id).restore_status != "finalized":
                return None
            return self._busy_operations(project_id)

        operations = self.http.post(
            f"/projects/{seg(project_id)}/branches/{seg(branch_id)}/finalize_restore",
            json=payload,
            parse=parse,
            recover=recover,
        )
        # The finalized branch is the default now if the one it replaced was.
        self._default_branch.pop(project_id, None)
        return operations

    def snapshots_delete_expired(self, project_id: str) -> list[str]:
        """Delete snapshots whose `expires_at` has passed (Neon also does so on its own)."""
        now = datetime.now(UTC)
        deleted = []
        for snapshot in self.snapshot_list(project_id):
            if snapshot.expires_at is not None and snapshot.expires_at <= now:
                try:
                    self.snapshot_delete(project_id, snapshot.id)
                except EngineNotFound:
                    pass
                deleted.append(snapshot.id)
        return deleted


def _snapshot_params(
    *, name: str | None, expires_at: datetime | None, lsn: str | None, timestamp: datetime | None
) -> dict[str, str]:
    """The query parameters of a snapshot creation."""
    if lsn and timestamp:
        raise EngineInvalidRequest("a snapshot takes `lsn` or `timestamp`, not both")
    options = {"name": name, "expires_at": expires_at, "lsn": lsn, "timestamp": timestamp}
    return {
        key: format_dt(value) if isinstance(value, datetime) else value
        for key, value in options.items()
        if value is not None
    }


def _as_refusal(exc: EngineError) -> EngineError:
    """A 4xx answer to a snapshot creation is a refusal: nothing was made."""
    if exc.status is None or not 400 <= exc.status < 500 or exc.status in _NOT_REFUSALS:
        return exc
    return EngineRefused(
        exc.message,
        reason=refusal_reason(exc.reply or exc.message),
        status=exc.status,
        code=exc.code,
        request_id=exc.request_id,
        reply=exc.reply,
    )
