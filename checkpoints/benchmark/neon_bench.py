"""Neon engine figures against the Neon-API emulator (neon_emulator, over real HTTP).

API calls are counted by the engine (`request_count`, every HTTP attempt); the notice
delay is the longest, over the waits of a rollback or preview, from the emulator's last
operation of the step turning `finished` to `wait_for_operations` returning.

Each figure comes twice. Cold: a process that has seen no operation finish (its waits
poll on the growing schedule). Steady: the same process after one rollback (or preview)
of its own, whose operations taught the waits how long each action takes; this is what
a long-lived worker pays from its second job on. The project's setup teaches nothing
(its engine keeps a memory of its own).
"""

from __future__ import annotations

import time
from typing import Any

from checkpoints.engines.neon import NeonEngine
from checkpoints.engines.op_timings import OperationTimings
from checkpoints.engines.operations import wait_for_operations

KEY = "napi_benchmark_key_000000000000000"


def emulator_available() -> bool:
    try:
        import neon_emulator  # noqa: F401
    except ImportError:
        return False
    return True


def bench_neon(op_duration: float) -> dict[str, float]:
    """Two rollbacks (in two steps, as the job makes them), then two previews, each pair
    sharing one fresh memory of timings (one worker process), on the emulator whose
    operations take `op_duration`."""
    from neon_emulator import FakeBackend, NeonEmulator

    with NeonEmulator(FakeBackend(), api_key=KEY, op_duration=op_duration) as emu:
        with NeonEngine(KEY, api_url=emu.url) as setup:
            setup.operation_timings = OperationTimings()
            created = setup.project_create(name="benchmark")
            pid, main = created.project.id, created.branch.id
            wait_for_operations(setup, pid, created.operations)
            snap = setup.snapshot_create(pid, main, name="v1")
            wait_for_operations(setup, pid, snap.operations)
        run = _Run(emu, pid, snap.snapshot.id)
        worker = OperationTimings()
        cold_rollback = run.rollback(main, 1, worker)
        steady_rollback = run.rollback(run.active, 2, worker)
        worker = OperationTimings()
        cold_preview = run.preview(worker)
        steady_preview = run.preview(worker)
    return {
        "op_duration_s": op_duration,
        "rollback_api_calls_cold": cold_rollback[0],
        "rollback_notice_s_cold": cold_rollback[1],
        "rollback_api_calls": steady_rollback[0],
        "rollback_notice_s": steady_rollback[1],
        "preview_api_calls_cold": cold_preview[0],
        "preview_notice_s_cold": cold_preview[1],
        "preview_api_calls": steady_preview[0],
        "preview_notice_s": steady_preview[1],
    }


class _Run:
    """Rollbacks and previews of one project's snapshot; each returns (calls, notice)."""

    def __init__(self, emu: Any, pid: str, snapshot_id: str) -> None:
        self.emu, self.pid, self.snapshot_id = emu, pid, snapshot_id
        self.active = ""

    def rollback(self, target: str, job: int, timings: OperationTimings) -> tuple[int, float]:
        # As the rollback job does it: restore, then finalize naming the replaced branch.
        with self._engine(timings) as engine:
            name = f"v1 (restoring, job #{job})"
            restore = engine.snapshot_restore(
                self.pid, self.snapshot_id, target_branch_id=target, name=name
            )
            notice = self._wait(engine, restore.operations)
            swap = engine.branch_finalize_restore(
                self.pid, restore.branch.id, old_name=f"before v1 (old, job #{job})"
            )
            notice = max(notice, self._wait(engine, swap))
            engine.connection_uri(self.pid)
            self.active = restore.branch.id
            return engine.request_count, notice

    def preview(self, timings: OperationTimings) -> tuple[int, float]:
        with self._engine(timings) as engine:
            preview = engine.snapshot_restore(
                self.pid, self.snapshot_id, target_branch_id=self.active
            )
            notice = self._wait(engine, preview.operations)
            endpoint = engine.endpoint_create(self.pid, preview.branch.id)
            notice = max(notice, self._wait(engine, endpoint.operations))
            engine.connection_uri(self.pid, branch_id=preview.branch.id)
            return engine.request_count, notice

    def _engine(self, timings: OperationTimings) -> NeonEngine:
        """A fresh engine, as each job makes one, with the worker's memory of timings
        (for its own waits too: a preview's connection URI creates a role)."""
        engine = NeonEngine(KEY, api_url=self.emu.url)
        engine.operation_timings = timings
        return engine

    def _wait(self, engine: NeonEngine, ops: list) -> float:
        wait_for_operations(engine, self.pid, ops)
        noticed = time.time()
        finished = max(self.emu.operation_finished_at(op.id) or noticed for op in ops)
        return max(0.0, noticed - finished)
