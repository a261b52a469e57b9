"""The named steps at which the local engine calls `fault_hook(step)` (tests kill the
process there, then check that `recover()` repairs what the crash left)."""

from __future__ import annotations

#: Steps of a rollback at which `fault_hook(step)` is called (tests kill the process there).
ROLLBACK_STEPS = (
    "after_branch_created",  # the snapshot copied into the new branch's database (`init`)
    "before_swap",  # the active database blocked and its sessions ended
    "before_orphan_recorded",  # inside the swap transaction: renames done, rows not yet
    "after_swap",  # renames and rows committed together; operations finished
)
# The orphan is recorded in the swap's own transaction, so "the swap happened but the
# orphan was not recorded" cannot be observed: a crash before the commit undoes both.
#: Steps of other mutations with a fault hook: a crash there must be repaired as well.
OTHER_STEPS = (
    "project_intent_recorded",  # project_create: rows and role committed, no database yet
    "snapshot_dumped",  # snapshot_create: the served branch dumped, its copy being made
    "snapshot_copied",  # snapshot_create: copy made, not yet recorded ready
    "delete_intent_recorded",  # branch_delete: branch marked deleting, database still there
)

#: Steps of a warm-up (a copy of a recent snapshot made ready for rollbacks).
WARM_STEPS = (
    "warm_intent_recorded",  # warm copy recorded `init`, copy not started
    "warm_copied",  # copy made, not yet recorded ready
)
