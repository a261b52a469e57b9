"""Adaptive polling over real HTTP against the Neon-API emulator: a worker's second
rollback (restore, then finalize) polls less than its first, and still notices promptly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from checkpoints.engines.op_timings import OPERATION_TIMINGS, OperationTimings
from checkpoints.engines.operations import wait_for_operations
from neon_emulator import FakeBackend, NeonEmulator
from neon_emulator.schema import OpenAPIChecker
from tests.engines.test_neon_emulator import API_KEY, make_engine

OP_SECONDS = 0.6
#: The default schedule scaled down: 0.05 s growing to a 0.1 s cap.
INTERVALS = {"initial_interval": 0.05, "max_interval": 0.1}


@pytest.fixture
def emulator() -> Iterator[NeonEmulator]:
    checker = OpenAPIChecker()
    with NeonEmulator(
        FakeBackend(), api_key=API_KEY, op_duration=OP_SECONDS, checker=checker
    ) as emu:
        yield emu
    assert emu.schema_errors == []


@dataclass
class Rolled:
    polls: int  # GET …/operations calls
    notice: float  # longest delay from an operation finishing to its wait returning
    branch_id: str  # the active branch after it


def rollback(
    emulator: NeonEmulator, timings: OperationTimings, pid: str, snap: str, target: str, job: int
) -> Rolled:
    """One rollback as the job makes it, by a fresh engine sharing the worker's `timings`."""
    since, notices = len(emulator.requests), [0.0]
    with make_engine(emulator) as neon:
        neon.operation_timings = timings

        def wait(ops) -> None:
            wait_for_operations(neon, pid, ops, **INTERVALS)
            returned = time.time()
            finished = max(emulator.operation_finished_at(op.id) or returned for op in ops)
            notices.append(returned - finished)

        restore = neon.snapshot_restore(pid, snap, target_branch_id=target, name=f"v1 #{job}")
        wait(restore.operations)
        wait(neon.branch_finalize_restore(pid, restore.branch.id, old_name=f"old #{job}"))
    polls = sum(
        1
        for method, path, _ in emulator.engine_requests(since)
        if method == "GET" and "/operations" in path
    )
    return Rolled(polls, max(notices), restore.branch.id)


def test_the_second_rollback_in_a_process_polls_less_and_notices_promptly(
    emulator: NeonEmulator,
) -> None:
    with make_engine(emulator) as setup:
        setup.operation_timings = OperationTimings()  # the setup teaches the worker nothing
        created = setup.project_create(name="adaptive")
        pid = created.project.id
        wait_for_operations(setup, pid, created.operations, **INTERVALS)
        snap = setup.snapshot_create(pid, created.branch.id, name="v1")
        wait_for_operations(setup, pid, snap.operations, **INTERVALS)

    worker = OperationTimings()
    first = rollback(emulator, worker, pid, snap.snapshot.id, created.branch.id, 1)
    second = rollback(emulator, worker, pid, snap.snapshot.id, first.branch_id, 2)

    assert worker.estimate("neon", "create_branch") == pytest.approx(OP_SECONDS, abs=0.05)
    # Cold: about 7 polls per 0.6 s wait on the scaled schedule; learned: about 2.
    assert second.polls < first.polls
    assert second.polls <= 6
    # Generous bounds for a loaded machine (a notice within a cap interval, 0.1 s, is typical).
    assert first.notice < 1.0 and second.notice < 1.0
    assert OPERATION_TIMINGS.estimate("neon", "create_branch") is None  # its own memory
