"""Neon engine figures against the Neon-API emulator (neon_emulator, over real HTTP).

API calls are counted by the engine (`request_count`, every HTTP attempt); the notice
delay is the time from the emulator's last operation of a step turning `finished` to
`wait_for_operations` returning. Engines start cold, as in a background job.
"""

from __future__ import annotations

import time
from typing import Any

from checkpoints.engines.neon import NeonEngine
from checkpoints.engines.operations import wait_for_operations

KEY = "napi_benchmark_key_000000000000000"


def emulator_available() -> bool:
    try:
        import neon_emulator  # noqa: F401
    except ImportError:
        return False
    return True


def bench_neon(op_duration: float) -> dict[str, float]:
    """One rollback (in two steps, as the job makes it) and one preview on the emulator
    whose operations take `op_duration`."""
    from neon_emulator import FakeBackend, NeonEmulator

    with NeonEmulator(FakeBackend(), api_key=KEY, op_duration=op_duration) as emu:
        with NeonEngine(KEY, api_url=emu.url) as setup:
            created = setup.project_create(name="benchmark")
            pid, main = created.project.id, created.branch.id
            wait_for_operations(setup, pid, created.operations)
            snap = setup.snapshot_create(pid, main, name="v1")
            wait_for_operations(setup, pid, snap.operations)

        with NeonEngine(KEY, api_url=emu.url) as engine:
            # As the rollback job does it: restore, then finalize naming the replaced branch.
            restore = engine.snapshot_restore(
                pid, snap.snapshot.id, target_branch_id=main, name="v1 (restoring, job #1)"
            )
            wait_for_operations(engine, pid, restore.operations)
            swap = engine.branch_finalize_restore(
                pid, restore.branch.id, old_name="before v1 (old, job #1)"
            )
            rollback_notice = _wait(engine, emu, pid, swap)
            engine.connection_uri(pid)
            rollback_calls = engine.request_count

        with NeonEngine(KEY, api_url=emu.url) as engine:
            preview = engine.snapshot_restore(
                pid, snap.snapshot.id, target_branch_id=restore.branch.id
            )
            preview_notice = _wait(engine, emu, pid, preview.operations)
            endpoint = engine.endpoint_create(pid, preview.branch.id)
            preview_notice = max(preview_notice, _wait(engine, emu, pid, endpoint.operations))
            engine.connection_uri(pid, branch_id=preview.branch.id)
            preview_calls = engine.request_count
    return {
        "op_duration_s": op_duration,
        "rollback_api_calls": rollback_calls,
        "rollback_notice_s": rollback_notice,
        "preview_api_calls": preview_calls,
        "preview_notice_s": preview_notice,
    }


def _wait(engine: NeonEngine, emu: Any, pid: str, ops: list) -> float:
    wait_for_operations(engine, pid, ops)
    noticed = time.time()
    finished = max(emu.operation_finished_at(op.id) or noticed for op in ops)
    return max(0.0, noticed - finished)
