"""The engine's parked control connection: reused while clean, never handed out ended,
never shared across a fork, and never holding a project's lock after a mutation."""

from __future__ import annotations

import os

import psycopg
import pytest

from checkpoints.engines.errors import EngineNotFound
from checkpoints.engines.local import LocalEngine
from tests.postgres_plugin import engine_url


def _backend(engine: LocalEngine) -> int:
    with engine._reading() as conn:
        return conn.info.backend_pid


def _locks_of(pid: int) -> int:
    with psycopg.connect(engine_url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE pid = %s AND locktype = 'advisory'", (pid,)
        ).fetchone()
    return int(row[0]) if row else -1


def test_consecutive_calls_share_one_session(local: LocalEngine):
    project = local.project_create(name="parked").project
    first = _backend(local)
    local.branch_list(project.id)
    local.snapshot_list(project.id)
    assert _backend(local) == first


def test_a_mutation_leaves_no_lock_on_the_parked_session(local: LocalEngine):
    project = local.project_create(name="parked lock").project
    local.snapshot_create(project.id, local.branch_list(project.id)[0].id, name="v1")
    pid = _backend(local)
    assert _locks_of(pid) == 0
    # A second engine (another process's) may take the project at once: no 423.
    other = LocalEngine(engine_url(), control_db=local.control_db, recover=False)
    try:
        other.snapshot_create(project.id, other.branch_list(project.id)[0].id, name="v2")
    finally:
        other.close()


def test_a_session_the_server_ended_is_not_handed_out(local: LocalEngine):
    project = local.project_create(name="terminated").project
    pid = _backend(local)
    with psycopg.connect(engine_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
    assert [b.name for b in local.branch_list(project.id)]  # answers, on a new session
    assert _backend(local) != pid


def test_a_failed_mutation_ends_its_session(local: LocalEngine):
    pid = _backend(local)
    with pytest.raises(EngineNotFound):
        local.snapshot_create("no-such-project", "br-none", name="v1")
    assert _backend(local) != pid


# The child only connects and leaves: no lock of another thread is taken there.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_opens_its_own_session(local: LocalEngine):
    parent = _backend(local)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report its session's backend, then leave without cleanup
        try:
            os.write(write, str(_backend(local)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child_backend = int(pipe.read() or 0)
    os.waitpid(child, 0)
    assert child_backend not in (0, parent)
    assert _backend(local) == parent  # the parent's session survived the child's exit
