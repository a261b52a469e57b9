"""`make run` with a server per team (its default): a new team's first project starts the
team's own PostgreSQL; Ctrl-C stops it with everything else; the next `make run` starts it
again before serving, and SIGTERM stops it again. No team server is left running."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import psutil
import pytest

from checkpoints.servers import teamservers
from tests.e2e.test_launcher import (
    Clone,
    Run,
    _alive,
    assert_everything_stops,
    start,
    start_demo_over_http,
)
from tests.e2e.test_launcher import clone as clone  # noqa: F401  (the module's fixture)


def team_postmasters(clone: Clone) -> list[psutil.Process]:
    """Every team server's postmaster and backends, found by their pid files."""
    found = []
    for pid_file in (clone.path / ".data" / "teams").glob("*/postgres/pgdata/postmaster.pid"):
        try:
            postmaster = psutil.Process(int(pid_file.read_text().splitlines()[0]))
        except (psutil.NoSuchProcess, ValueError, IndexError, FileNotFoundError):
            continue
        found += [postmaster, *postmaster.children(recursive=True)]
    return found


def wait_for_team_server(clone: Clone, run: Run) -> list[int]:
    deadline = time.monotonic() + 120
    root = clone.path / ".data" / "teams"
    while time.monotonic() < deadline:
        running = teamservers.running(root) if root.exists() else []
        if running:
            return running
        assert run.launcher.poll() is None, run.text()
        time.sleep(0.2)
    raise AssertionError("no team server started for the new project\n" + run.text())


def test_ctrl_c_leaves_no_team_server_running(clone):  # noqa: F811
    run = start(clone)
    start_demo_over_http(run, clone)
    teams = wait_for_team_server(clone, run)
    run.processes += team_postmasters(clone)
    assert any("postgres" in " ".join(p.cmdline()) for p in run.processes if _alive(p))
    os.killpg(run.launcher.pid, signal.SIGINT)
    assert_everything_stops(run, clone)
    assert teamservers.running(clone.path / ".data" / "teams") == []
    for team in teams:
        folder = teamservers.server_dir(clone.path / ".data" / "teams", team)
        assert (folder / "server.json").exists(), sorted(p.name for p in folder.iterdir())

    again = start(clone)
    assert "Starting the teams' PostgreSQL servers" in again.text()
    assert teamservers.running(clone.path / ".data" / "teams") == teams
    again.processes += team_postmasters(clone)
    os.killpg(again.launcher.pid, signal.SIGTERM)
    assert_everything_stops(again, clone)
    assert teamservers.running(clone.path / ".data" / "teams") == []


@pytest.fixture(scope="module", autouse=True)
def _no_team_server_left(clone) -> Iterator[None]:  # noqa: F811
    yield
    from checkpoints.servers.pgserver import EmbeddedPostgres

    for run in clone.started:
        if run.launcher.poll() is None:
            os.killpg(run.launcher.pid, signal.SIGKILL)
    teamservers.stop_all(clone.path / ".data" / "teams", mode="immediate")
    EmbeddedPostgres(clone.path / ".data" / "postgres").stop(mode="immediate")
