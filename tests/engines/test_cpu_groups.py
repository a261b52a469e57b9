"""CPU fairness by construction: a team server and every session it serves live in a CPU
control group of their own with the default weight, so one team's CPU-burning sessions
weigh as one process against everyone else's work (the timing is `make bench`'s; this
checks the mechanism). Without a writable cgroup cpu controller the server still runs,
uncontained, and says so."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from checkpoints.engines.local import cpu_groups
from checkpoints.servers import teamservers


def _available() -> bool:
    try:
        cpu_groups.hierarchy()
    except cpu_groups.CpuGroupsUnavailable:
        return False
    return True


@pytest.fixture(scope="module")
def team_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="checkpoints-cpu-"))
    yield root
    teamservers.stop_all(root, mode="immediate")
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def server_url(team_root) -> str:
    return teamservers.ensure_running(team_root, 7, fast=True)


def _backend_pids(url: str, count: int) -> tuple[list[psycopg.Connection], list[int]]:
    sessions = [psycopg.connect(url, autocommit=True) for _ in range(count)]
    pids = [conn.execute("select pg_backend_pid()").fetchone()[0] for conn in sessions]
    return sessions, pids


def test_every_backend_of_a_team_server_is_in_its_cpu_group(team_root, server_url):
    server = teamservers.team_server(team_root, 7)
    name = teamservers.cpu_group_name(server)
    postmaster = int((server.pgdata / "postmaster.pid").read_text().splitlines()[0])
    sessions, pids = _backend_pids(server_url, 3)
    try:
        helpers = [child.pid for child in psutil.Process(postmaster).children()]
        found = {pid: cpu_groups.group_of(pid) for pid in [postmaster, *pids, *helpers]}
        if _available():
            assert set(found.values()) == {f"/{name}"}, found
            assert cpu_groups.weight_of(name) in {"100", "1024"}  # v2 weight, v1 shares
        else:  # the fallback: running, not in any group of ours
            assert not any((group or "").endswith(name) for group in found.values())
    finally:
        for conn in sessions:
            conn.close()


def test_group_name_is_unique_per_installation(tmp_path):
    first = cpu_groups.group_name(str(tmp_path / "a" / "7" / "postgres"))
    second = cpu_groups.group_name(str(tmp_path / "b" / "7" / "postgres"))
    assert first != second
    assert first.startswith("checkpoints-7-")


def test_without_a_cgroup_controller_the_server_runs_uncontained_and_says_so(
    team_root, server_url, tmp_path, monkeypatch, caplog
):
    with pytest.raises(cpu_groups.CpuGroupsUnavailable, match="no cgroup cpu controller"):
        cpu_groups.contain("checkpoints-test", 1, root=tmp_path)
    monkeypatch.setattr(cpu_groups, "CGROUP_ROOT", tmp_path)
    server = teamservers.team_server(team_root, 7)
    with caplog.at_level(logging.WARNING, logger="checkpoints.servers.teamservers"):
        assert teamservers.cpu_contain(server) is None
    assert "runs without a CPU group: no cgroup cpu controller" in caplog.text
    with psycopg.connect(server_url, autocommit=True) as conn:  # still serving
        assert conn.execute("select 1").fetchone() == (1,)
