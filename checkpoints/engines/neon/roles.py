"""Connection strings and the roles in them: the project's role on its default branch, a
role of its own on every other branch (a preview), password resets.

On Neon a branch inherits its parent's roles with their passwords, so the owner role's
string on a preview would open the live branch too. A preview therefore connects with a
role created on the preview branch only: it exists nowhere else and goes with the branch.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..errors import EngineError, EngineInvalidRequest, EngineNotFound
from ..operations import wait_for_operations
from .parse import operations_from, seg
from .resource import NeonResource

PREVIEW_ROLE_PREFIX = "preview_"


def preview_role_name(branch_id: str) -> str:
    """The role a preview branch connects with (deterministic: found again after a crash)."""
    return (PREVIEW_ROLE_PREFIX + branch_id.replace("-", "_"))[:63]


class NeonRoles(NeonResource):
    def connection_uri(self, project_id: str, *, branch_id: str | None = None) -> str:
        """The branch's read-write endpoint URI (default: the project's default branch).

        The default branch connects as the project's role; any other branch as a role of
        its own (`preview_role_name`), created on first use. Database and role names come
        from project creation, or are the ones this engine gives every project it creates;
        only if Neon does not know them are they looked up (once per project). It carries
        a password: never log it. More info: https://api-docs.neon.tech/reference/getconnectionuri"""
        if branch_id is not None and not self._is_default(project_id, branch_id):
            return self._preview_uri(project_id, branch_id)
        cached = self._conn_params.get(project_id)
        names = cached or (self.database_name, self.role_name)
        try:
            return self._connection_uri(project_id, branch_id, names)
        except (EngineNotFound, EngineInvalidRequest):
            if cached:
                raise
            looked_up = self._lookup_connection_names(project_id, branch_id)
            if looked_up == names:
                raise
            return self._connection_uri(project_id, branch_id, looked_up)

    def role_password_reset(self, project_id: str) -> str:
        """Reset the default branch's role password; connections to the endpoint drop.
        More info: https://api-docs.neon.tech/reference/resetprojectbranchrolepassword"""
        branch = next((b for b in self.branch_list(project_id) if b.default), None)
        if branch is None:
            raise EngineNotFound(f"project {project_id} has no default branch")
        role = self._conn_params.get(project_id, (self.database_name, self.role_name))[1]
        body = self._json(
            "POST",
            f"/projects/{seg(project_id)}/branches/{seg(branch.id)}/roles/{seg(role)}"
            "/reset_password",
        )
        wait_for_operations(self, project_id, operations_from(body.get("operations") or []))
        return self.connection_uri(project_id)

    def _is_default(self, project_id: str, branch_id: str) -> bool:
        if self._default_branch.get(project_id) == branch_id:
            return True
        if not self.branch_get(project_id, branch_id).default:
            return False
        self._default_branch[project_id] = branch_id
        return True

    def _preview_uri(self, project_id: str, branch_id: str) -> str:
        role = preview_role_name(branch_id)
        self._branch_role_ensure(project_id, branch_id, role)
        database = self._conn_params.get(project_id, (self.database_name, self.role_name))[0]
        return self._connection_uri(project_id, branch_id, (database, role), remember=False)

    def _branch_role_ensure(self, project_id: str, branch_id: str, role: str) -> None:
        """Create `role` on the branch unless it is there. More info:
        https://api-docs.neon.tech/reference/createprojectbranchrole"""
        path = f"/projects/{seg(project_id)}/branches/{seg(branch_id)}/roles"

        def present() -> bool:
            body = self._json("GET", path)
            return any(raw.get("name") == role for raw in body.get("roles") or [])

        if present():
            return

        def recover(since: datetime) -> list[Any] | None:
            return [] if present() else None

        operations = self.http.post(
            path,
            json={"role": {"name": role}},
            parse=lambda body: operations_from(body.get("operations") or []),
            recover=recover,
        )
        wait_for_operations(self, project_id, operations)

    def _connection_uri(
        self,
        project_id: str,
        branch_id: str | None,
        names: tuple[str, str],
        *,
        remember: bool = True,
    ) -> str:
        params = {"database_name": names[0], "role_name": names[1]}
        if branch_id is not None:
            params["branch_id"] = branch_id
        body = self._json("GET", f"/projects/{seg(project_id)}/connection_uri", params=params)
        uri = body.get("uri")
        if not isinstance(uri, str) or not uri:
            raise EngineError("Neon API returned no connection URI")
        if remember:
            self._conn_params.setdefault(project_id, names)
        return uri

    def _lookup_connection_names(self, project_id: str, branch_id: str | None) -> tuple[str, str]:
        if branch_id is None:
            default = [b for b in self.branch_list(project_id) if b.default]
            if not default:
                raise EngineNotFound(f"project {project_id} has no default branch")
            branch_id = default[0].id
        body = self._json("GET", f"/projects/{seg(project_id)}/branches/{seg(branch_id)}/databases")
        databases = body.get("databases") or []
        if not databases:
            raise EngineNotFound(f"branch {branch_id} has no database")
        chosen = next((d for d in databases if d.get("name") == self.database_name), databases[0])
        names = (str(chosen["name"]), str(chosen["owner_name"]))
        self._conn_params[project_id] = names
        return names
