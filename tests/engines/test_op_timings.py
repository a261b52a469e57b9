"""Adaptive polling: `OperationTimings` and the schedule `wait_for_operations` draws from it,
on a fake clock (sleeping advances it) and a fake engine whose operations end on time."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from checkpoints.engines.base import FINISHED, RUNNING, Operation
from checkpoints.engines.errors import OperationTimeout
from checkpoints.engines.op_timings import MAX_ESTIMATE, OperationTimings, took
from checkpoints.engines.operations import wait_for_operations


class ScriptedEngine:
    """Operations running until their `ends` (fake-clock seconds); counts the polls."""

    name = "scripted"

    def __init__(self, ends: dict[str, float]) -> None:
        self.now = 0.0
        self.ends = ends
        self.sleeps: list[float] = []
        self.polls = 0
        self.operation_timings = OperationTimings()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def operations_get(self, project_id: str, ids: list[str]) -> list[Operation]:
        self.polls += 1
        return [self.state(op_id) for op_id in ids]

    def state(self, op_id: str) -> Operation:
        end = self.ends[op_id]
        done = self.now >= end
        return replace(
            operation(op_id),
            status=FINISHED if done else RUNNING,
            total_duration_ms=int(1000 * min(self.now, end)),
        )

    def wait(self, ops: list[Operation], **kwargs) -> list[Operation]:
        return wait_for_operations(self, "p", ops, sleep=self.sleep, clock=self.clock, **kwargs)


def operation(op_id: str, action: str = "", created_at: datetime | None = None) -> Operation:
    """A just-created `running` operation (its action is its id unless given)."""
    now = datetime.now(UTC)
    return Operation(
        id=op_id,
        project_id="p",
        action=action or op_id,
        status=RUNNING,
        created_at=created_at or now,
        updated_at=now,
    )


def test_an_unknown_action_polls_on_the_growing_schedule() -> None:
    engine = ScriptedEngine({"create_branch": 1.0})
    engine.wait([operation("create_branch")])
    assert engine.sleeps == pytest.approx([0.2, 0.3, 0.4, 0.4])
    assert engine.polls == 4


def test_a_learned_action_is_first_polled_just_before_its_expected_end() -> None:
    engine = ScriptedEngine({"create_branch": 2.0})
    engine.operation_timings.record("scripted", "create_branch", 2.0)
    engine.wait([operation("create_branch")])
    assert engine.sleeps == pytest.approx([1.8, 0.4], abs=0.01)
    assert engine.polls == 2
    assert engine.now - 2.0 < 0.5  # noticed within half a second of the end


def test_the_wait_learns_what_it_saw_finish_and_the_next_one_polls_less() -> None:
    first = ScriptedEngine({"timeline_unarchive": 2.0, "create_branch": 1.2})
    first.wait([operation("timeline_unarchive"), operation("create_branch")])
    assert first.operation_timings.estimate("scripted", "timeline_unarchive") == 2.0
    assert first.operation_timings.estimate("scripted", "create_branch") == 1.2
    assert first.polls == 6

    second = ScriptedEngine({"timeline_unarchive": 2.0, "create_branch": 1.2})
    second.operation_timings = first.operation_timings
    second.wait([operation("timeline_unarchive"), operation("create_branch")])
    assert second.polls == 2
    assert second.sleeps[0] == pytest.approx(1.8, abs=0.01)  # the slowest one sets it


def test_a_short_learned_action_is_not_polled_sooner_than_a_fresh_process_would() -> None:
    engine = ScriptedEngine({"apply_config": 0.19})
    engine.operation_timings.record("scripted", "apply_config", 0.2)
    engine.wait([operation("apply_config")])
    assert engine.sleeps == pytest.approx([0.2], abs=0.01)  # not 0.2 - 0.2: a wasted poll
    assert engine.polls == 1


def test_the_same_action_on_another_engine_is_not_known() -> None:
    engine = ScriptedEngine({"create_branch": 2.0})
    engine.operation_timings.record("neon", "create_branch", 2.0)
    engine.wait([operation("create_branch")])
    assert engine.sleeps[0] == pytest.approx(0.2)


def test_one_pending_operation_without_an_estimate_keeps_the_growing_schedule() -> None:
    engine = ScriptedEngine({"create_branch": 1.0, "start_compute": 1.0})
    engine.operation_timings.record("scripted", "create_branch", 1.0)
    engine.wait([operation("create_branch"), operation("start_compute")])
    assert engine.sleeps == pytest.approx([0.2, 0.3, 0.4, 0.4])


def test_the_age_of_the_operation_counts_from_its_created_at() -> None:
    engine = ScriptedEngine({"create_branch": 0.5})
    engine.operation_timings.record("scripted", "create_branch", 2.0)
    started = datetime.now(UTC) - timedelta(seconds=1.5)
    engine.wait([operation("create_branch", created_at=started)])
    assert engine.sleeps[0] == pytest.approx(0.3, abs=0.05)  # 2.0 - 1.5 - 0.2


def test_a_whole_second_created_at_does_not_wake_a_fresh_wait_early() -> None:
    # Neon's timestamps have whole seconds: up to 1 s before the operation began.
    engine = ScriptedEngine({"create_branch": 2.0})
    engine.operation_timings.record("scripted", "create_branch", 2.0)
    whole = datetime.now(UTC).replace(microsecond=0)
    engine.wait([operation("create_branch", created_at=whole)])
    assert engine.sleeps[0] == pytest.approx(1.8, abs=0.01)


def test_an_operation_past_its_expected_end_is_polled_at_once() -> None:
    engine = ScriptedEngine({"create_branch": 0.1})
    engine.operation_timings.record("scripted", "create_branch", 2.0)
    old = datetime.now(UTC) - timedelta(seconds=10)
    engine.wait([operation("create_branch", created_at=old)])
    assert engine.sleeps == [0.0, 0.4]


def test_a_slow_outlier_does_not_move_the_estimate_and_estimates_are_capped() -> None:
    timings = OperationTimings()
    for seconds in (2.0, 2.1, 1.9, 2.0, 600.0):
        timings.record("neon", "create_branch", seconds)
    assert timings.estimate("neon", "create_branch") == pytest.approx(2.0)
    timings.record("neon", "suspend_compute", 600.0)
    assert timings.estimate("neon", "suspend_compute") == MAX_ESTIMATE
    assert timings.estimate("neon", "start_compute") is None


def test_only_recent_durations_count() -> None:
    timings = OperationTimings(window=3)
    for seconds in (9.0, 9.0, 9.0, 1.0, 1.0, 1.0):
        timings.record("neon", "create_branch", seconds)
    assert timings.estimate("neon", "create_branch") == 1.0


def test_a_learned_sleep_never_passes_the_deadline() -> None:
    engine = ScriptedEngine({"create_branch": 1e9})  # hangs
    engine.operation_timings.record("scripted", "create_branch", 600.0)
    with pytest.raises(OperationTimeout):
        engine.wait([operation("create_branch")], deadline=5.0)
    assert engine.sleeps[0] == pytest.approx(5.0)
    assert sum(engine.sleeps) == pytest.approx(5.0)


def test_finished_operations_cost_no_poll_even_when_known() -> None:
    engine = ScriptedEngine({"create_branch": 0.0})
    engine.operation_timings.record("scripted", "create_branch", 2.0)
    done = replace(operation("create_branch"), status=FINISHED)
    assert engine.wait([done]) == [done]
    assert (engine.polls, engine.sleeps) == (0, [])
    assert engine.operation_timings.estimate("scripted", "create_branch") == 2.0  # not learned


def test_a_retried_operation_is_not_learned() -> None:
    timings = OperationTimings()
    finished = replace(operation("create_branch"), status=FINISHED, total_duration_ms=9000)
    timings.learn("neon", replace(finished, failures_count=1), observed=9.0)
    timings.learn("neon", replace(finished, status="skipped"), observed=0.0)
    assert timings.estimate("neon", "create_branch") is None
    timings.learn("neon", finished, observed=9.5)
    assert timings.estimate("neon", "create_branch") == 9.0


def test_took_prefers_neons_own_figures_then_the_observed_time() -> None:
    start = datetime(2025, 1, 16, 21, 2, 4, tzinfo=UTC)
    op = replace(operation("x"), status=FINISHED, created_at=start, updated_at=start)
    assert took(replace(op, total_duration_ms=1500), observed=3.0) == 1.5
    later = start + timedelta(seconds=2)
    assert took(replace(op, updated_at=later), observed=3.0) == 2.0
    assert took(op, observed=3.0) == 3.0


def test_timings_are_shared_safely_between_threads() -> None:
    timings = OperationTimings(window=1000)

    def record() -> None:
        for _ in range(250):
            timings.record("neon", "create_branch", 1.0)
            timings.estimate("neon", "create_branch")

    threads = [threading.Thread(target=record) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(timings._recent["neon", "create_branch"]) == 1000
