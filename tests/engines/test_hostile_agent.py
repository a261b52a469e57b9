"""A hostile agent with nothing but its project's connection string, on the local engine.

Every attack of issue 13 runs through the project role's own connection string (the one the
agent is given), then the suite proves the promises still hold: every version still holds
what it held when it was taken (a rollback to it succeeds and serves exactly those rows),
the live database survives or a rollback rebuilds it, the role's state is the engine's
again after a rollback or `recover()`, and nothing outside the project opens.
The attacks that already failed before (COPY PROGRAM, pg_read_file, …) stay as regressions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from checkpoints.engines.connect import run_sql
from checkpoints.engines.local import LocalEngine
from checkpoints.engines.neon import NeonEngine
from checkpoints.engines.operations import wait_for_operations
from neon_emulator.server import NeonEmulator
from tests.postgres_plugin import engine_url

ROWS_V1 = [(1, "alpha"), (2, "beta")]
ROWS_V2 = [(1, "alpha"), (2, "beta"), (3, "gamma")]


def with_database(uri: str, dbname: str) -> str:
    return urlunsplit(urlsplit(uri)._replace(path="/" + dbname))


def with_password(uri: str, password: str) -> str:
    parts = urlsplit(uri)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def dbname_of(uri: str) -> str:
    return urlsplit(uri).path.lstrip("/")


def superuser(pg_server, dbname: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(pg_server.url(dbname), autocommit=True)


def rows(uri: str) -> list[tuple]:
    return run_sql(uri, "SELECT id, name FROM items ORDER BY id")


def attempt(uri: str, statement: str) -> str:
    """Run one statement as the role: 'ok' or the error message (first line)."""
    try:
        run_sql(uri, statement, retry_for=0, blocked_for=0)
    except psycopg.Error as error:
        return str(error).strip().splitlines()[0]
    return "ok"


def refused(uri: str, statement: str) -> None:
    outcome = attempt(uri, statement)
    assert outcome != "ok", f"the role could run: {statement}"


def cannot_connect(uri: str) -> None:
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(uri, connect_timeout=5).close()


@dataclass
class Scene:
    """A project with two versions (v1, v2), both warm, the live database at v2 + 1 row."""

    engine: LocalEngine
    project_id: str
    uri: str
    v1: str
    v2: str

    @property
    def role(self) -> str:
        return self.engine.names.role(self.project_id)

    def active_branch(self) -> str:
        return next(b.id for b in self.engine.branch_list(self.project_id) if b.default)

    def rollback(self, snapshot_id: str) -> None:
        result = self.engine.snapshot_restore(
            self.project_id,
            snapshot_id,
            target_branch_id=self.active_branch(),
            finalize_restore=True,
        )
        assert all(op.succeeded for op in result.operations)

    def engine_databases(self) -> list[str]:
        """Every database of this project other than the live one (snapshots, warm copies,
        orphans), as the role can list them in pg_database."""
        prefix = self.engine.names.prefix
        names = run_sql(
            self.uri,
            "SELECT datname FROM pg_database WHERE left(datname, %s) = %s AND datname <> %s",
            (len(prefix), prefix, dbname_of(self.uri)),
        )
        return [name for (name,) in names]

    def every_version_holds_its_rows(self) -> None:
        """Roll back to each version in turn: each serves exactly its rows, through the
        same connection string (its password included)."""
        for snapshot_id, expected in ((self.v1, ROWS_V1), (self.v2, ROWS_V2), (self.v1, ROWS_V1)):
            self.rollback(snapshot_id)
            assert rows(self.uri) == expected


@pytest.fixture
def scene(local: LocalEngine) -> Iterator[Scene]:
    created = local.project_create(name="hostile")
    pid = created.project.id
    uri = local.connection_uri(pid)
    run_sql(uri, "CREATE TABLE items (id int PRIMARY KEY, name text)")
    run_sql(uri, "INSERT INTO items VALUES (1, 'alpha'), (2, 'beta')")
    v1 = local.snapshot_create(pid, created.branch.id, name="v1").snapshot.id
    run_sql(uri, "INSERT INTO items VALUES (3, 'gamma')")
    v2 = local.snapshot_create(pid, created.branch.id, name="v2").snapshot.id
    run_sql(uri, "INSERT INTO items VALUES (4, 'delta')")
    local.warm_up(pid)
    yield Scene(local, pid, uri, v1, v2)


# 1. A version can be rewritten ------------------------------------------------------------


def test_warm_copies_and_snapshots_refuse_every_change(scene: Scene):
    others = scene.engine_databases()
    assert len(others) >= 4  # two snapshots, two warm copies
    for name in others:
        for statement in (
            'ALTER DATABASE "{}" ALLOW_CONNECTIONS true',
            'ALTER DATABASE "{}" CONNECTION LIMIT 5',
            'ALTER DATABASE "{}" SET default_transaction_read_only = on',
            'ALTER DATABASE "{}" RENAME TO stolen',
            'ALTER DATABASE "{}" OWNER TO CURRENT_USER',
            'DROP DATABASE "{}"',
            'GRANT CONNECT ON DATABASE "{}" TO CURRENT_USER',
        ):
            refused(scene.uri, statement.format(name))
        cannot_connect(with_database(scene.uri, name))
    scene.every_version_holds_its_rows()


def test_a_touched_warm_copy_is_not_used(scene: Scene, pg_server):
    """Even someone who can open a warm copy (the engine's own role here: a superuser's
    session no non-superuser engine may end) and keeps a session on it after changing its
    rows does not make the rollback fail or serve those rows."""
    warm = dict(
        scene.engine._connect().execute(
            "SELECT snapshot_id, dbname FROM warm_copies WHERE project_id = %s",
            (scene.project_id,),
        )
    )
    with psycopg.connect(engine_url(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{warm[scene.v1]}" ALLOW_CONNECTIONS true')
    held = psycopg.connect(make_conninfo(engine_url(), dbname=warm[scene.v1]), autocommit=True)
    try:
        # The engine holds none of the project's privileges (issue 27): it may SET ROLE.
        held.execute(f'SET ROLE "{scene.role}"')
        held.execute("UPDATE items SET name = 'tampered'")
        scene.rollback(scene.v1)
        assert rows(scene.uri) == ROWS_V1
    finally:
        held.close()
    scene.every_version_holds_its_rows()


# 2. The project can be destroyed ----------------------------------------------------------


def test_live_database_cannot_be_dropped_renamed_or_reconfigured(scene: Scene):
    live = dbname_of(scene.uri)
    # A second database the role may open: a preview branch with its endpoint.
    preview = scene.engine.snapshot_restore(scene.project_id, scene.v1, name="preview")
    scene.engine.endpoint_create(scene.project_id, preview.branch.id)
    preview_uri = scene.engine.connection_uri(scene.project_id, branch_id=preview.branch.id)
    for uri in (scene.uri, preview_uri):
        for statement in (
            f'DROP DATABASE "{live}" WITH (FORCE)',
            f'ALTER DATABASE "{live}" RENAME TO gone',
            f'ALTER DATABASE "{live}" ALLOW_CONNECTIONS false',
            f'ALTER DATABASE "{live}" CONNECTION LIMIT 0',
            f'ALTER DATABASE "{live}" SET default_transaction_read_only = on',
            f'ALTER DATABASE "{live}" OWNER TO CURRENT_USER',
            f'ALTER DATABASE "{live}" IS_TEMPLATE true',
        ):
            refused(uri, statement)
    # GRANT without the grant option only warns: PUBLIC must still be kept out.
    attempt(scene.uri, f'GRANT CONNECT ON DATABASE "{live}" TO PUBLIC')
    (acl,) = run_sql(scene.uri, "SELECT datacl::text FROM pg_database WHERE datname = %s", (live,))
    assert acl[0] is not None and "=c" not in acl[0] and "=Tc" not in acl[0]
    assert rows(scene.uri) == ROWS_V2 + [(4, "delta")]
    scene.every_version_holds_its_rows()


def test_a_rollback_rebuilds_a_missing_live_database(scene: Scene, pg_server):
    with superuser(pg_server) as admin:
        admin.execute(f'DROP DATABASE "{dbname_of(scene.uri)}" WITH (FORCE)')
    scene.rollback(scene.v2)
    assert rows(scene.uri) == ROWS_V2
    scene.every_version_holds_its_rows()


def test_a_rollback_rebuilds_a_missing_live_database_without_warm_copy(scene: Scene, pg_server):
    with superuser(pg_server) as admin:
        for (name,) in admin.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            (scene.engine.names.prefix + "warm%",),
        ).fetchall():
            admin.execute(f'DROP DATABASE "{name}"')
        admin.execute(f'DROP DATABASE "{dbname_of(scene.uri)}" WITH (FORCE)')
    scene.engine.recover()
    scene.rollback(scene.v1)
    assert rows(scene.uri) == ROWS_V1


# 3. Role changes outlive rollbacks --------------------------------------------------------


def test_role_settings_are_reset_at_every_rollback(scene: Scene):
    live = dbname_of(scene.uri)
    for statement in (
        "ALTER ROLE CURRENT_USER SET statement_timeout = '1ms'",
        f'ALTER ROLE CURRENT_USER IN DATABASE "{live}" SET search_path = nowhere',
        "ALTER ROLE CURRENT_USER SET default_transaction_read_only = on",
    ):
        assert attempt(scene.uri, statement) == "ok"  # PostgreSQL lets a role do this
    assert run_sql(scene.uri, "SHOW default_transaction_read_only") == [("on",)]
    scene.rollback(scene.v1)
    assert run_sql(scene.uri, "SHOW default_transaction_read_only") == [("off",)]
    assert run_sql(scene.uri, "SHOW search_path")[0][0] != "nowhere"
    assert (
        run_sql(scene.uri, "SHOW statement_timeout")[0][0] == scene.engine.limits.statement_timeout
    )
    run_sql(scene.uri, "INSERT INTO items VALUES (9, 'writable')")
    scene.every_version_holds_its_rows()


def test_a_changed_password_is_detected_and_repaired(scene: Scene):
    assert attempt(scene.uri, "ALTER ROLE CURRENT_USER PASSWORD 'mine-now'") == "ok"
    cannot_connect(scene.uri)
    assert scene.engine.role_repair(scene.project_id) == ["password"]
    assert rows(scene.uri) == ROWS_V2 + [(4, "delta")]
    assert scene.engine.role_repair(scene.project_id) == []  # nothing left to repair


def test_a_rollback_repairs_the_password(scene: Scene):
    attempt(scene.uri, "ALTER ROLE CURRENT_USER PASSWORD 'mine-now'")
    scene.rollback(scene.v1)
    assert rows(scene.uri) == ROWS_V1
    # A snapshot works too once repaired, and the versions are intact.
    attempt(scene.uri, "ALTER ROLE CURRENT_USER PASSWORD 'again'")
    scene.engine.snapshot_create(scene.project_id, scene.active_branch(), name="v3")
    scene.every_version_holds_its_rows()


def test_recover_restores_the_role_state(scene: Scene, pg_server):
    attempt(scene.uri, "ALTER ROLE CURRENT_USER PASSWORD 'mine-now'")
    attempt(scene.uri, "ALTER ROLE CURRENT_USER SET default_transaction_read_only = on")
    LocalEngine(engine_url(), control_db=scene.engine.control_db)  # recover() runs
    assert run_sql(scene.uri, "SHOW default_transaction_read_only") == [("off",)]


def test_the_role_cannot_lift_its_own_limits(plain_uri: str):
    for statement in (
        "ALTER ROLE CURRENT_USER CONNECTION LIMIT -1",
        "ALTER ROLE CURRENT_USER SUPERUSER",
        "ALTER ROLE CURRENT_USER CREATEDB",
        "ALTER ROLE CURRENT_USER CREATEROLE",
        "ALTER ROLE CURRENT_USER BYPASSRLS",
        "ALTER ROLE CURRENT_USER RENAME TO other",
    ):
        refused(plain_uri, statement)


# 4. It sees past its project --------------------------------------------------------------


def test_nothing_outside_the_project_opens(scene: Scene, local: LocalEngine):
    other = local.project_create(name="neighbour")
    other_uri = local.connection_uri(other.project.id)
    for dbname in ("postgres", "template1", "template0", local.control_db, dbname_of(other_uri)):
        cannot_connect(with_database(scene.uri, dbname))
    # Not with the neighbour's role name either (the password is the project's).
    cannot_connect(with_password(other_uri, urlsplit(scene.uri).password or ""))


# 5. Credentials never change --------------------------------------------------------------


def test_rotate_password(scene: Scene):
    held = psycopg.connect(scene.uri, autocommit=True)
    new_uri = scene.engine.role_password_reset(scene.project_id)
    assert new_uri == scene.engine.connection_uri(scene.project_id)
    old, new = urlsplit(scene.uri), urlsplit(new_uri)
    assert old.password != new.password
    assert old._replace(netloc="") == new._replace(netloc="")
    assert (old.username, old.hostname, old.port) == (new.username, new.hostname, new.port)
    cannot_connect(scene.uri)
    with pytest.raises(psycopg.OperationalError):
        held.execute("SELECT 1")  # the open session was ended
    held.close()
    assert rows(new_uri) == ROWS_V2 + [(4, "delta")]
    scene.uri = new_uri
    scene.every_version_holds_its_rows()


def test_a_preview_string_never_opens_the_live_database(scene: Scene):
    preview = scene.engine.snapshot_restore(scene.project_id, scene.v1, name="preview")
    scene.engine.endpoint_create(scene.project_id, preview.branch.id)
    preview_uri = scene.engine.connection_uri(scene.project_id, branch_id=preview.branch.id)
    assert urlsplit(preview_uri).username != scene.role
    assert rows(preview_uri) == ROWS_V1
    run_sql(preview_uri, "INSERT INTO items VALUES (5, 'preview only')")
    cannot_connect(with_database(preview_uri, dbname_of(scene.uri)))
    # Nor with the live role's name: the preview's password is its own.
    cannot_connect(with_password(scene.uri, urlsplit(preview_uri).password or ""))
    scene.engine.branch_delete(scene.project_id, preview.branch.id)
    cannot_connect(preview_uri)
    assert rows(scene.uri) == ROWS_V2 + [(4, "delta")]


# 6. One project can take the whole server -------------------------------------------------


def test_connection_limit_and_timeouts(scene: Scene, local: LocalEngine):
    other = local.project_create(name="neighbour")
    other_uri = local.connection_uri(other.project.id)
    limit = scene.engine.limits.connection_limit
    assert 0 < limit < 100
    opened = []
    try:
        with pytest.raises(psycopg.OperationalError, match="too many connections for role"):
            for _ in range(limit + 1):
                opened.append(psycopg.connect(scene.uri))
        assert len(opened) == limit
        assert run_sql(other_uri, "SELECT 1") == [(1,)]  # the neighbour still connects
    finally:
        for conn in opened:
            conn.close()
    assert run_sql(scene.uri, "SHOW statement_timeout")[0][0] == local.limits.statement_timeout
    assert run_sql(scene.uri, "SHOW idle_in_transaction_session_timeout")[0][0] == (
        local.limits.idle_in_transaction_timeout
    )


def test_temporary_files_are_bounded_and_the_agent_cannot_lift_the_bound(scene: Scene):
    limit = scene.engine.limits.temp_file_limit
    assert run_sql(scene.uri, "SHOW temp_file_limit")[0][0] == limit
    for lift in (
        "SET temp_file_limit = -1",
        "ALTER ROLE CURRENT_USER SET temp_file_limit = -1",
        f"ALTER DATABASE {dbname_of(scene.uri)} SET temp_file_limit = -1",
        "SELECT set_config('temp_file_limit', '-1', false)",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            run_sql(scene.uri, lift)
    with psycopg.connect(scene.uri, autocommit=True) as conn:  # the role's RESET ALL
        conn.execute("ALTER ROLE CURRENT_USER RESET ALL")
    assert run_sql(scene.uri, "SHOW temp_file_limit")[0][0] == limit


def test_a_sort_past_the_temporary_file_bound_fails(local: LocalEngine):
    small = LocalEngine(  # the same control database: the fixture deletes its project
        engine_url(),
        control_db=local.control_db,
        limits=replace(local.limits, temp_file_limit="1MB"),
    )
    try:
        created = small.project_create(name="spills")
        uri = small.connection_uri(created.project.id)
    finally:
        small.close()
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("SET work_mem = '64kB'")
        with pytest.raises(psycopg.errors.ConfigurationLimitExceeded, match="temp_file_limit"):
            conn.execute("SELECT g FROM generate_series(1, 500000) g ORDER BY g DESC").fetchall()


# What held up before: keep it ------------------------------------------------------------

HELD_UP = {
    "copy program": "COPY (SELECT 1) TO PROGRAM 'id'",
    "copy to file": "COPY (SELECT 1) TO '/tmp/checkpoints-hostile'",
    "pg_read_file": "SELECT pg_read_file('/etc/passwd')",
    "pg_ls_dir": "SELECT pg_ls_dir('.')",
    "lo_import": "SELECT lo_import('/etc/passwd')",
    "untrusted extension dblink": "CREATE EXTENSION dblink",
    "untrusted extension file_fdw": "CREATE EXTENSION file_fdw",
    "set role": "SET ROLE postgres",
    "set session authorization": "SET SESSION AUTHORIZATION postgres",
    "alter role superuser": "ALTER ROLE CURRENT_USER SUPERUSER",
    "alter system": "ALTER SYSTEM SET max_connections = 5",
    "c function": "CREATE FUNCTION f() RETURNS int AS 'libc', 'getpid' LANGUAGE C",
    "event trigger": (
        "CREATE FUNCTION et() RETURNS event_trigger LANGUAGE plpgsql AS 'BEGIN END';"
        "CREATE EVENT TRIGGER et ON ddl_command_start EXECUTE FUNCTION et()"
    ),
    "create role": "CREATE ROLE intruder LOGIN",
    "create database": "CREATE DATABASE mine",
    "untrusted language": "CREATE LANGUAGE plperlu",
}


@pytest.fixture(scope="module")
def plain_uri(local_module_engine: LocalEngine) -> str:
    """One project for attacks that change nothing when refused (deleted with the engine)."""
    created = local_module_engine.project_create(name="plain")
    return local_module_engine.connection_uri(created.project.id)


@pytest.mark.parametrize("name", sorted(HELD_UP))
def test_what_held_up_still_does(plain_uri: str, name: str):
    refused(plain_uri, HELD_UP[name])


def test_sessions_of_others_cannot_be_ended(plain_uri: str, local_module_engine, pg_server):
    with superuser(pg_server, local_module_engine.control_db) as admin:
        refused(plain_uri, f"SELECT pg_terminate_backend({admin.info.backend_pid})")
        assert admin.execute("SELECT 1").fetchone() == (1,)


# What an app needs still works -----------------------------------------------------------


def test_an_app_still_creates_what_it_needs(scene: Scene):
    for statement in (
        "CREATE TABLE more (id serial PRIMARY KEY, tags text[])",
        "CREATE SCHEMA app",
        "CREATE TABLE app.things (id bigint GENERATED ALWAYS AS IDENTITY, x int)",
        "CREATE SEQUENCE app.counter",
        "CREATE VIEW app.v AS SELECT * FROM items",
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        "CREATE EXTENSION IF NOT EXISTS hstore SCHEMA app",
        "CREATE FUNCTION app.add(a int, b int) RETURNS int LANGUAGE sql AS 'SELECT a + b'",
        "CREATE TEMP TABLE scratch (x int)",
    ):
        assert attempt(scene.uri, statement) == "ok", statement
    snap = scene.engine.snapshot_create(scene.project_id, scene.active_branch(), name="v3")
    scene.rollback(scene.v1)
    scene.rollback(snap.snapshot.id)
    assert run_sql(scene.uri, "SELECT app.add(2, 3), nextval('app.counter')") == [(5, 1)]
    assert attempt(scene.uri, "DROP SCHEMA app CASCADE") == "ok"
    assert attempt(scene.uri, "CREATE TABLE after_rollback (x int)") == "ok"


# The same attacks on the Neon engine, through the emulator (over the local engine) -------


@pytest.fixture(scope="module")
def neon(pg_server) -> Iterator[NeonEngine]:
    backend = LocalEngine(engine_url(), control_db=f"ckh_{uuid.uuid4().hex[:8]}")
    key = "napi_hostile_" + uuid.uuid4().hex
    try:
        with NeonEmulator(backend, api_key=key, op_duration=0.02) as emulator:
            engine = NeonEngine(key, api_url=emulator.url, backoff_initial=0.02, backoff_max=0.2)
            try:
                yield engine
            finally:
                engine.close()
    finally:
        backend.destroy()


def test_on_neon_the_agent_cannot_break_out_and_rollbacks_repair_the_role(neon: NeonEngine):
    created = neon.project_create(name="hostile")
    pid = created.project.id
    wait_for_operations(neon, pid, created.operations)
    uri = neon.connection_uri(pid)
    run_sql(uri, "CREATE TABLE items (id int PRIMARY KEY, name text)")
    run_sql(uri, "INSERT INTO items VALUES (1, 'alpha'), (2, 'beta')")
    snap = neon.snapshot_create(pid, created.branch.id, name="v1")
    wait_for_operations(neon, pid, snap.operations)
    live = dbname_of(uri)
    for statement in (
        f'ALTER DATABASE "{live}" RENAME TO gone',
        f'ALTER DATABASE "{live}" ALLOW_CONNECTIONS false',
        f'ALTER DATABASE "{live}" OWNER TO CURRENT_USER',
        *HELD_UP.values(),
    ):
        refused(uri, statement)
    for dbname in ("postgres", "template1"):
        cannot_connect(with_database(uri, dbname))
    run_sql(uri, "INSERT INTO items VALUES (3, 'gamma')")
    attempt(uri, "ALTER ROLE CURRENT_USER SET default_transaction_read_only = on")
    attempt(uri, "ALTER ROLE CURRENT_USER PASSWORD 'mine-now'")
    branch = next(b.id for b in neon.branch_list(pid) if b.default)
    restored = neon.snapshot_restore(
        pid, snap.snapshot.id, target_branch_id=branch, finalize_restore=True
    )
    wait_for_operations(neon, pid, restored.operations)
    uri = neon.connection_uri(pid)
    assert rows(uri) == ROWS_V1
    assert run_sql(uri, "SHOW default_transaction_read_only") == [("off",)]
    # Rotate: Neon's reset_password.
    rotated = neon.role_password_reset(pid)
    assert urlsplit(rotated).password != urlsplit(uri).password
    cannot_connect(uri)
    assert rows(rotated) == ROWS_V1
