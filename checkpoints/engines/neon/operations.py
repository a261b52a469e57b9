"""Neon operations: one by id, or several in one call (waiting is `engines.operations`)."""

from __future__ import annotations

from ..base import Operation
from .parse import operation_from, parsed, seg
from .resource import NeonResource


class NeonOperations(NeonResource):
    def operation_get(self, project_id: str, operation_id: str) -> Operation:
        """More info: https://api-docs.neon.tech/reference/getprojectoperation"""
        body = self._json("GET", f"/projects/{seg(project_id)}/operations/{seg(operation_id)}")
        return parsed(operation_from, body, "operation")

    def operations_get(self, project_id: str, operation_ids: list[str]) -> list[Operation]:
        """Several operations in one call: the newest page of the project's operations,
        then a GET per id the page did not hold.

        More info: https://api-docs.neon.tech/reference/listprojectoperations"""
        ids = list(dict.fromkeys(operation_ids))
        if len(ids) <= 1:
            return [self.operation_get(project_id, op_id) for op_id in ids]
        wanted = set(ids)
        found = {
            op.id: op
            for op in self._recent_operations(project_id, max(self.operations_page_size, len(ids)))
            if op.id in wanted
        }
        return [found.get(op_id) or self.operation_get(project_id, op_id) for op_id in ids]
