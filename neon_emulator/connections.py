"""Emulated endpoints, roles (one branch's own, password resets) and connection URIs."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from .model import (
    _ProjectMeta,
    _Reply,
)
from .shapes import (
    _endpoint_json,
    _role_json,
    _with_credentials,
)


class _Connections:
    def _endpoint_create(self, meta: _ProjectMeta, body: dict[str, Any]) -> tuple[int, Any]:
        spec = body.get("endpoint") or {}
        branch_id = spec.get("branch_id")
        if not branch_id:
            raise _Reply(400, "invalid request: endpoint.branch_id (field required)")
        if spec.get("type", "read_write") != "read_write":
            raise _Reply(400, "only read_write endpoints are emulated")
        pid = meta.project.id
        self.backend.branch_get(pid, branch_id)
        if any(e.branch_id == branch_id for e in self.backend.endpoint_list(pid)):
            raise _Reply(409, "read-write endpoint already exists on the branch")
        self._ensure_not_locked(meta)
        created = self.backend.endpoint_create(pid, branch_id)
        self._wait_backend(pid, created.operations)
        op = self._new_op(
            meta, "start_compute", branch_id=branch_id, endpoint_id=created.endpoint.id
        )
        return 201, {"endpoint": _endpoint_json(created.endpoint), "operations": [op]}

    def _reset_password(self, meta: _ProjectMeta, branch_id: str, role: str) -> tuple[int, Any]:
        branch = self.backend.branch_get(meta.project.id, branch_id)
        if role != meta.role_name:
            raise _Reply(404, f"role {role!r} not found")
        reset = getattr(self.backend, "role_password_reset", None)
        if reset is None:
            raise _Reply(501, "this emulator backend cannot reset passwords")
        password = urlsplit(reset(meta.project.id)).password
        return 200, {"role": {**_role_json(branch, role), "password": password}, "operations": []}

    def _role_create(
        self, meta: _ProjectMeta, branch_id: str, body: dict[str, Any]
    ) -> tuple[int, Any]:
        """A role on one branch only. Over a backend that gives each non-default branch a
        login role of its own (the local engine), that role's credentials stand for it."""
        name = ((body or {}).get("role") or {}).get("name")
        if not name:
            raise _Reply(400, "invalid request: role.name is required")
        branch = self.backend.branch_get(meta.project.id, branch_id)
        roles = meta.branch_roles.setdefault(branch_id, set())
        if name == meta.role_name or name in roles:
            raise _Reply(409, f"role {name!r} already exists")
        if branch.default:
            raise _Reply(400, "the emulator creates roles on non-default branches only")
        self._ensure_not_locked(meta)
        roles.add(name)
        password = urlsplit(self.backend.connection_uri(meta.project.id, branch_id=branch_id))
        op = self._new_op(meta, "apply_config", branch_id=branch_id)
        role = {**_role_json(branch, name), "password": unquote(password.password or "")}
        return 201, {"role": role, "operations": [op]}

    def _connection_uri(self, meta: _ProjectMeta, query: dict[str, str]) -> tuple[int, Any]:
        for required in ("database_name", "role_name"):
            if not query.get(required):
                raise _Reply(400, f"invalid request: query parameter {required} is required")
        if query["database_name"] != meta.database_name:
            raise _Reply(404, f"database {query['database_name']!r} not found")
        pid, branch_id, role = meta.project.id, query.get("branch_id"), query["role_name"]
        if branch_id and role in meta.branch_roles.get(branch_id, ()):
            return 200, {"uri": self.backend.connection_uri(pid, branch_id=branch_id)}
        if role != meta.role_name:
            raise _Reply(404, f"role {role!r} not found")
        uri = self.backend.connection_uri(pid, branch_id=branch_id)
        if branch_id and not self.backend.branch_get(pid, branch_id).default:
            # As on Neon: a branch inherits its parent's roles and their passwords.
            uri = _with_credentials(uri, self.backend.connection_uri(pid))
        return 200, {"uri": uri}
