"""API calls and notice latency of one rollback and one preview, against the emulator.

Calls are counted by the engine (`request_count`, every HTTP attempt); the notice delay is
the time between the emulator's last operation of a step turning `finished` and
`wait_for_operations` returning. Engines are fresh (cold caches), as in a background job.

Print a table for several operation durations:
    .venv/bin/python -m tests.engines.test_neon_measure 0.5 1 2 3 5
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

from checkpoints.engines.neon import NeonEngine
from checkpoints.engines.operations import wait_for_operations
from tests.emulator import FakeBackend, NeonEmulator
from tests.emulator.schema import OpenAPIChecker

KEY = "napi_measure_key_0000000000000000"


@dataclass
class Step:
    calls: int
    notice: float  # seconds


def _wait(engine: NeonEngine, emu: NeonEmulator, pid: str, ops, wait_kwargs) -> float:
    wait_for_operations(engine, pid, ops, **wait_kwargs)
    noticed = time.time()
    finished = max(emu.operation_finished_at(op.id) or noticed for op in ops)
    return noticed - finished


def measure(op_duration: float, *, check: bool = False, **wait_kwargs: Any) -> dict[str, Any]:
    """Schema checks cost ~10 ms per answer: off by default so timings are the client's."""
    checker = OpenAPIChecker() if check else None
    with NeonEmulator(FakeBackend(), api_key=KEY, op_duration=op_duration, checker=checker) as emu:
        with NeonEngine(KEY, api_url=emu.url) as setup:
            created = setup.project_create(name="measure")
            pid, main = created.project.id, created.branch.id
            wait_for_operations(setup, pid, created.operations)
            snap = setup.snapshot_create(pid, main, name="v1")
            wait_for_operations(setup, pid, snap.operations)

        # Rollback: restore into the active branch, wait, read the (unchanged) URI.
        with NeonEngine(KEY, api_url=emu.url) as engine:
            restore = engine.snapshot_restore(
                pid, snap.snapshot.id, target_branch_id=main, finalize_restore=True
            )
            notice = _wait(engine, emu, pid, restore.operations, wait_kwargs)
            restore_wait = Step(engine.request_count, notice)
            engine.connection_uri(pid)
            with_uri = engine.request_count
            delete_ops = engine.branch_delete(pid, restore.orphan_branch_id)
            cleanup_notice = _wait(engine, emu, pid, delete_ops, wait_kwargs)
            with_cleanup = Step(engine.request_count, cleanup_notice)

        # Preview: restore to a new branch, give it an endpoint, read its URI.
        with NeonEngine(KEY, api_url=emu.url) as engine:
            new_main = restore.branch.id
            preview = engine.snapshot_restore(pid, snap.snapshot.id, target_branch_id=new_main)
            notice_restore = _wait(engine, emu, pid, preview.operations, wait_kwargs)
            endpoint = engine.endpoint_create(pid, preview.branch.id)
            notice_endpoint = _wait(engine, emu, pid, endpoint.operations, wait_kwargs)
            engine.connection_uri(pid, branch_id=preview.branch.id)
            preview_calls = engine.request_count
        assert emu.schema_errors == []
    return {
        "op_duration": op_duration,
        "rollback_restore_wait": restore_wait.calls,
        "rollback_with_uri": with_uri,
        "rollback_with_orphan_cleanup": with_cleanup.calls,
        "rollback_notice_s": round(restore_wait.notice, 3),
        "cleanup_notice_s": round(with_cleanup.notice, 3),
        "preview_calls": preview_calls,
        "preview_notice_s": (round(notice_restore, 3), round(notice_endpoint, 3)),
    }


def test_rollback_and_preview_cost() -> None:
    result = measure(1.0)
    print(result)
    assert result["rollback_with_uri"] <= 8
    assert result["rollback_notice_s"] < 0.5
    assert all(0 <= n < 0.5 for n in result["preview_notice_s"])


if __name__ == "__main__":
    durations = [float(a) for a in sys.argv[1:]] or [0.5, 1.0, 2.0, 3.0]
    for duration in durations:
        print("default", measure(duration))
        print("max_interval=0.5", measure(duration, max_interval=0.5))
