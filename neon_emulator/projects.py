"""Emulated projects and branches."""

from __future__ import annotations

import base64
import json
from typing import Any

from checkpoints.engines.errors import (
    EngineNotFound,
)

from .model import (
    _ProjectMeta,
    _Reply,
)
from .shapes import (
    _branch_json,
    _connection_details,
    _database_json,
    _endpoint_json,
    _int,
    _project_json,
    _role_json,
)


class _Projects:
    def _project_create(self, body: dict[str, Any]) -> tuple[int, Any]:
        spec = body.get("project")
        if not isinstance(spec, dict):
            raise _Reply(400, "invalid request: decode application/json: project (field required)")
        branch_spec = spec.get("branch") or {}
        database = branch_spec.get("database_name") or "neondb"
        role = branch_spec.get("role_name") or f"{database}_owner"
        name = spec.get("name") or "project"
        created = self.backend.project_create(name=name)
        self._wait_backend(created.project.id, created.operations)
        meta = _ProjectMeta(created.project, spec.get("org_id"), database, role)
        meta.account = self._caller or meta.account
        self._projects[created.project.id] = meta
        ops = [
            self._new_op(meta, "create_timeline", branch_id=created.branch.id),
            self._new_op(
                meta, "start_compute", branch_id=created.branch.id, endpoint_id=created.endpoint.id
            ),
        ]
        uri = self.backend.connection_uri(created.project.id, branch_id=created.branch.id)
        return 201, {
            "project": _project_json(meta),
            "connection_uris": [_connection_details(uri, database, role)],
            "roles": [_role_json(created.branch, role)],
            "databases": [_database_json(meta, created.branch)],
            "operations": ops,
            "branch": _branch_json(created.branch),
            "endpoints": [_endpoint_json(created.endpoint)],
        }

    def _project_search(self, query: dict[str, str]) -> tuple[int, Any]:
        search = query.get("search", "")
        org_id = query.get("org_id")
        found = [
            _project_json(meta)
            for meta in self._projects.values()
            if (search in meta.project.name or search == meta.project.id)
            and (org_id is None or meta.org_id == org_id)
            and (self._caller is None or meta.account == self._caller)
        ]
        limit = _int(query.get("limit"), 10, 1, 400)
        return 200, {"projects": found[:limit], "pagination": {"cursor": ""}}

    # --------------------------------------------------------------- branches

    def _branch_list(self, meta: _ProjectMeta, query: dict[str, str]) -> tuple[int, Any]:
        branches = self.backend.branch_list(meta.project.id)
        search = query.get("search")
        if search:
            branches = [b for b in branches if search in b.name or search in b.id]
        sort_by = query.get("sort_by", "updated_at")
        descending = query.get("sort_order", "desc").lower() != "asc"
        if sort_by == "name":
            branches.sort(key=lambda b: (b.name, b.id), reverse=descending)
        else:
            branches.sort(key=lambda b: (b.created_at, b.id), reverse=descending)
        start = 0
        if query.get("cursor"):
            try:
                start = int(json.loads(base64.b64decode(query["cursor"]))["offset"])
            except (ValueError, KeyError):
                raise _Reply(400, "invalid cursor") from None
        limit = _int(query.get("limit"), 10000, 1, 10000)
        page = branches[start : start + limit]
        next_cursor = base64.b64encode(json.dumps({"offset": start + len(page)}).encode())
        return 200, {
            "branches": [_branch_json(b) for b in page],
            "annotations": {},
            "pagination": {
                "next": next_cursor.decode(),
                "sort_by": sort_by,
                "sort_order": "DESC" if descending else "ASC",
            },
        }

    def _branch_delete(self, meta: _ProjectMeta, branch_id: str) -> tuple[int, Any]:
        pid = meta.project.id
        try:
            branch = self.backend.branch_get(pid, branch_id)
        except EngineNotFound:
            return 204, None
        self._ensure_not_locked(meta)
        endpoints = [e for e in self.backend.endpoint_list(pid) if e.branch_id == branch_id]
        backend_ops = self.backend.branch_delete(pid, branch_id)
        meta.branch_roles.pop(branch_id, None)
        self._wait_backend(pid, backend_ops)
        ops = [
            self._new_op(meta, "suspend_compute", branch_id=branch_id, endpoint_id=e.id)
            for e in endpoints
        ]
        ops.append(self._new_op(meta, "delete_timeline", branch_id=branch_id))
        return 200, {"branch": _branch_json(branch), "operations": ops}
