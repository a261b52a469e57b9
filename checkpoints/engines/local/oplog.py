"""Reading the operation log: Neon's operations, recorded by every mutation."""

from __future__ import annotations

from ..base import Operation
from ..errors import EngineNotFound
from . import catalog as cat
from .rows import LocalRows
from .util import is_uuid


class OperationsMixin(LocalRows):
    def operation_get(self, project_id: str, operation_id: str) -> Operation:
        ops = self.operations_get(project_id, [operation_id])
        if not ops:
            raise EngineNotFound(f"operation {operation_id} not found", status=404)
        return ops[0]

    def operations_get(self, project_id: str, operation_ids: list[str]) -> list[Operation]:
        valid = [op_id for op_id in operation_ids if is_uuid(op_id)]
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {cat.OPERATION_COLUMNS} FROM operations "
                "WHERE project_id = %s AND id = ANY(%s::uuid[])",
                (project_id, valid),
            ).fetchall()
        by_id = {op.id: op for op in map(cat.operation_from, rows)}
        missing = [op_id for op_id in operation_ids if op_id not in by_id]
        if missing:
            raise EngineNotFound(f"operation {missing[0]} not found", status=404)
        return [by_id[op_id] for op_id in operation_ids]

    def operation_list(self, project_id: str) -> list[Operation]:
        """A project's operations, newest first (local only)."""
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {cat.OPERATION_COLUMNS} FROM operations WHERE project_id = %s "
                "ORDER BY created_at DESC",
                (project_id,),
            ).fetchall()
        return [cat.operation_from(row) for row in rows]
