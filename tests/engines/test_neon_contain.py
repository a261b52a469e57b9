"""Containment on Neon (issue 13), over the emulator backed by the local engine: rotating the
password locks the old one out; a preview connects with a role of its own, whose string
never opens the live branch."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from checkpoints.engines.connect import run_sql
from checkpoints.engines.neon import NeonEngine, preview_role_name
from checkpoints.engines.operations import wait_for_operations
from tests.neon_contract import neon_engine

ROWS = [(1, "alpha"), (2, "beta")]


@pytest.fixture
def neon(request: pytest.FixtureRequest) -> Iterator[NeonEngine]:
    with neon_engine(request) as engine:
        yield engine


@pytest.fixture
def project(neon: NeonEngine) -> tuple[str, str]:
    created = neon.project_create(name="contain")
    pid = created.project.id
    wait_for_operations(neon, pid, created.operations)
    uri = neon.connection_uri(pid)
    run_sql(uri, "CREATE TABLE items (id int PRIMARY KEY, name text)")
    run_sql(uri, "INSERT INTO items VALUES (1, 'alpha'), (2, 'beta')")
    return pid, created.branch.id


def _cannot_connect(uri: str) -> None:
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(uri, connect_timeout=5).close()


def _credentials_on(uri: str, credentials_of: str) -> str:
    """`uri`'s host and database with the user and password of `credentials_of`."""
    parts, creds = urlsplit(uri), urlsplit(credentials_of)
    netloc = creds.netloc.rsplit("@", 1)[0] + "@" + parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=netloc))


def test_rotate_password_locks_the_old_one_out(neon: NeonEngine, project) -> None:
    pid, _ = project
    old = neon.connection_uri(pid)
    session = psycopg.connect(old, autocommit=True)
    new = neon.role_password_reset(pid)
    try:
        assert urlsplit(new).password != urlsplit(old).password
        assert new.replace(urlsplit(new).password or "", "") == old.replace(
            urlsplit(old).password or "", ""
        )  # only the password part changed
        _cannot_connect(old)
        with pytest.raises(psycopg.OperationalError):  # open sessions ended
            session.execute("SELECT 1")
        assert run_sql(new, "SELECT id, name FROM items ORDER BY id") == ROWS
        assert neon.connection_uri(pid) == new
    finally:
        session.close()


def test_a_preview_connects_with_a_role_of_its_own(neon: NeonEngine, project) -> None:
    pid, main = project
    live = neon.connection_uri(pid)
    snap = neon.snapshot_create(pid, main, name="v1")
    wait_for_operations(neon, pid, snap.operations)
    restored = neon.snapshot_restore(pid, snap.snapshot.id, target_branch_id=main)
    wait_for_operations(neon, pid, restored.operations)
    endpoint = neon.endpoint_create(pid, restored.branch.id)
    wait_for_operations(neon, pid, endpoint.operations)

    preview = neon.connection_uri(pid, branch_id=restored.branch.id)

    assert urlsplit(preview).username != urlsplit(live).username
    assert urlsplit(preview).password != urlsplit(live).password
    assert run_sql(preview, "SELECT id, name FROM items ORDER BY id") == ROWS
    _cannot_connect(_credentials_on(live, preview))  # the preview's role opens no live branch
    # Asked again (a refresh), the same role answers: no second role is made.
    assert neon.connection_uri(pid, branch_id=restored.branch.id) == preview
    assert neon.connection_uri(pid) == live


def test_the_owner_role_on_a_preview_would_open_the_live_branch(neon: NeonEngine, project):
    """Why previews need their own role: Neon branches inherit the owner's password."""
    pid, main = project
    live = neon.connection_uri(pid)
    snap = neon.snapshot_create(pid, main, name="v1")
    wait_for_operations(neon, pid, snap.operations)
    restored = neon.snapshot_restore(pid, snap.snapshot.id, target_branch_id=main)
    wait_for_operations(neon, pid, restored.operations)
    endpoint = neon.endpoint_create(pid, restored.branch.id)
    wait_for_operations(neon, pid, endpoint.operations)
    inherited = neon._connection_uri(pid, restored.branch.id, (neon.database_name, neon.role_name))
    assert run_sql(_credentials_on(live, inherited), "SELECT count(*) FROM items") == [(2,)]
    assert preview_role_name(restored.branch.id) != neon.role_name
