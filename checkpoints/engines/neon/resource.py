"""What every part of the Neon engine shares: the HTTP choke point, the settings, the
connection names learned per project, and the operations still to wait for."""

from __future__ import annotations

from typing import Any

from ..base import BUSY_STATUSES, FAILED, Engine, Operation
from .http import NeonHttp
from .parse import operation_from, parsed, seg

DEFAULT_DATABASE = "neondb"
DEFAULT_ROLE = "neondb_owner"


class NeonResource(Engine):
    """The base of the engine's parts (projects, branches, snapshots, roles, operations)."""

    http: NeonHttp
    org_id: str | None
    region_id: str | None
    database_name: str
    role_name: str
    operations_page_size: int
    #: project id -> (database name, role name), learned at creation or looked up once.
    _conn_params: dict[str, tuple[str, str]]
    #: project id -> its default branch id, as last seen (creation, rollback, lookup).
    _default_branch: dict[str, str]

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self.http.json(method, path, **kwargs)

    def _recent_operations(self, project_id: str, limit: int) -> list[Operation]:
        body = self._json(
            "GET",
            f"/projects/{seg(project_id)}/operations",
            params={"limit": min(1000, max(1, limit))},
        )
        return [parsed(operation_from, raw) for raw in body.get("operations", [])]

    def _busy_operations(self, project_id: str, branch_id: str | None = None) -> list[Operation]:
        """Operations of the project (or branch) still to wait for: used after recovery."""
        return [
            op
            for op in self._recent_operations(project_id, self.operations_page_size)
            if (op.status in BUSY_STATUSES or op.status == FAILED)
            and (branch_id is None or op.branch_id in (None, branch_id))
        ]

    def _remember_conn_params(self, project_id: str, body: dict[str, Any]) -> None:
        databases = body.get("databases") or []
        if databases and databases[0].get("name") and databases[0].get("owner_name"):
            self._conn_params[project_id] = (databases[0]["name"], databases[0]["owner_name"])
        else:
            self._conn_params[project_id] = (self.database_name, self.role_name)
