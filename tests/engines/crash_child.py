"""Run one local-engine mutation in a child process that SIGKILLs itself at a fault step.

Usage: python -m tests.engines.crash_child '<json>' with keys server_url, control_db,
step, call ("rollback", "snapshot", "delete_branch", "create_project", "freeze",
"thaw", "as_of") and its arguments.
Exit code 3 means the step was never reached (the call completed).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import datetime

from checkpoints.engines.base import KeepLive
from checkpoints.engines.local import LocalEngine


def main() -> None:
    args = json.loads(sys.argv[1])
    step = args["step"]

    def hook(reached: str) -> None:
        if reached == step:
            os.kill(os.getpid(), signal.SIGKILL)

    engine = LocalEngine(
        args["server_url"],
        control_db=args["control_db"],
        fault_hook=hook,
        recover=False,
        archive_dir=args.get("archive_dir"),
        reflink=False,
        history_dir=args.get("history_dir"),
    )
    call = args["call"]
    if call == "rollback":
        engine.snapshot_restore(
            args["project_id"],
            args["snapshot_id"],
            target_branch_id=args["branch_id"],
            finalize_restore=True,
            keep_live=KeepLive(args["keep"]) if args.get("keep") else None,
        )
    elif call == "snapshot":
        engine.snapshot_create(args["project_id"], args["branch_id"], name="crash")
    elif call == "delete_branch":
        engine.branch_delete(args["project_id"], args["branch_id"])
    elif call == "freeze":
        engine.snapshot_freeze(args["project_id"], args["snapshot_id"])
    elif call == "thaw":
        engine.snapshot_thaw(args["project_id"], args["snapshot_id"])
    elif call == "as_of":
        when = datetime.fromisoformat(args["timestamp"])
        engine.snapshot_create(args["project_id"], args["branch_id"], timestamp=when)
    elif call == "create_project":
        engine.project_create(name="crash")
    sys.exit(3)


if __name__ == "__main__":
    main()
