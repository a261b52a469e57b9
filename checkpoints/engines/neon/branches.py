"""Neon branches and their read-write endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..base import Branch, Endpoint, EndpointCreated, Operation
from .parse import body_of, branch_from, endpoint_from, operations_from, parsed, seg
from .resource import NeonResource


class NeonBranches(NeonResource):
    def branch_list(self, project_id: str) -> list[Branch]:
        """Every branch, following the cursor.

        More info: https://api-docs.neon.tech/reference/listprojectbranches"""
        branches: list[Branch] = []
        seen: set[str] = set()
        params: dict[str, Any] = {"limit": 1000, "sort_by": "created_at", "sort_order": "asc"}
        while True:
            body = self._json("GET", f"/projects/{seg(project_id)}/branches", params=params)
            page = [parsed(branch_from, raw) for raw in body.get("branches", [])]
            fresh = [b for b in page if b.id not in seen]
            branches.extend(fresh)
            seen.update(b.id for b in fresh)
            cursor = (body.get("pagination") or {}).get("next")
            # Neon sends `next` even on the last page: stop on a short or empty page.
            if not fresh or not cursor or len(page) < params["limit"]:
                return branches
            params = {**params, "cursor": cursor}

    def branch_get(self, project_id: str, branch_id: str) -> Branch:
        """More info: https://api-docs.neon.tech/reference/getprojectbranch"""
        body = self._json("GET", f"/projects/{seg(project_id)}/branches/{seg(branch_id)}")
        return parsed(branch_from, body, "branch")

    def branch_rename(self, project_id: str, branch_id: str, name: str) -> Branch:
        """More info: https://api-docs.neon.tech/reference/updateprojectbranch"""
        body = self._json(
            "PATCH",
            f"/projects/{seg(project_id)}/branches/{seg(branch_id)}",
            json={"branch": {"name": name}},
        )
        return parsed(branch_from, body, "branch")

    def branch_delete(self, project_id: str, branch_id: str) -> list[Operation]:
        """Neon answers 204 for a branch that is already gone: no operations then. The
        branch's own roles go with it.

        More info: https://api-docs.neon.tech/reference/deleteprojectbranch"""
        response = self.http.request(
            "DELETE",
            f"/projects/{seg(project_id)}/branches/{seg(branch_id)}",
            gone_ok_after_retry=True,
        )
        if response is None or response.status_code == 204 or not response.content:
            return []
        return parsed(operations_from, body_of(response), "operations")

    def endpoint_create(self, project_id: str, branch_id: str) -> EndpointCreated:
        """A read-write endpoint for a branch (Neon allows one per branch).

        More info: https://api-docs.neon.tech/reference/createprojectendpoint"""

        def parse(body: dict[str, Any]) -> EndpointCreated:
            return EndpointCreated(
                endpoint=endpoint_from(body["endpoint"]),
                operations=operations_from(body.get("operations", [])),
            )

        def recover(since: datetime) -> EndpointCreated | None:
            body = self._json(
                "GET", f"/projects/{seg(project_id)}/branches/{seg(branch_id)}/endpoints"
            )
            for raw in body.get("endpoints", []):
                if raw.get("type") == "read_write":
                    endpoint = parsed(endpoint_from, raw)
                    return EndpointCreated(endpoint, self._busy_operations(project_id, branch_id))
            return None

        return self.http.post(
            f"/projects/{seg(project_id)}/endpoints",
            json={"endpoint": {"branch_id": branch_id, "type": "read_write"}},
            parse=parse,
            recover=recover,
        )

    def endpoint_list(self, project_id: str) -> list[Endpoint]:
        """More info: https://api-docs.neon.tech/reference/listprojectendpoints"""
        body = self._json("GET", f"/projects/{seg(project_id)}/endpoints")
        return [parsed(endpoint_from, raw) for raw in body.get("endpoints", [])]
