"""The local engine finalizes a restore apart through the same crash-safe swap as a
one-step rollback: a failure inside the swap leaves the target serving, and the restore
can be finalized afterwards, naming the replaced branch."""

from __future__ import annotations

import pytest

from checkpoints.engines.errors import EngineInvalidRequest


def test_a_failure_inside_the_swap_leaves_the_target_serving(local, sql) -> None:
    created = local.project_create(name="finalize")
    pid, main = created.project.id, created.branch.id
    uri = local.connection_uri(pid)
    sql(uri, "CREATE TABLE marker (v text); INSERT INTO marker VALUES ('v1')")
    snap = local.snapshot_create(pid, main, name="v1").snapshot
    sql(uri, "UPDATE marker SET v = 'v2'")
    restored = local.snapshot_restore(pid, snap.id, target_branch_id=main, name="r")

    def hook(step: str) -> None:
        if step == "before_orphan_recorded":  # renames done, rows not yet: rolled back
            raise RuntimeError("crash inside the swap")

    local.fault_hook = hook
    with pytest.raises(RuntimeError):
        local.branch_finalize_restore(pid, restored.branch.id, old_name="before v1 (old)")
    local.fault_hook = None
    assert sql(uri, "SELECT v FROM marker") == [("v2",)]
    assert {e.branch_id for e in local.endpoint_list(pid)} == {main}
    assert local.branch_get(pid, restored.branch.id).restore_status == "restored"

    ops = local.branch_finalize_restore(pid, restored.branch.id, old_name="before v1 (old)")
    assert {op.action for op in ops} == {"start_compute", "suspend_compute"}
    assert sql(uri, "SELECT v FROM marker") == [("v1",)]
    assert local.branch_get(pid, main).name == "before v1 (old)"
    assert local.branch_get(pid, restored.branch.id).name == "main"
    with pytest.raises(EngineInvalidRequest):
        local.branch_finalize_restore(pid, restored.branch.id, old_name="again")
