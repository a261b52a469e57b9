"""A manifest the agent cannot spoof: functions it plants in `public` that shadow the
built-ins the manifest calls (a closer argument match wins across schemas) never run."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from checkpoints.lifecycle.manifest import manifest_read

SHADOWS = """
CREATE FUNCTION public.hashtextextended(text, integer) RETURNS bigint
    LANGUAGE sql AS 'SELECT 7::bigint';
CREATE FUNCTION public.format_type(oid, bigint) RETURNS text
    LANGUAGE sql AS $$SELECT 'spoofed'$$;
"""


@pytest.fixture
def planted_db(pg_server):
    name = f"shadow_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    uri = pg_server.url(name)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (id int, body text)")
        conn.execute("INSERT INTO notes VALUES (1, 'one'), (2, 'two')")
        conn.execute(SHADOWS)
    yield uri
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _checksum(uri: str) -> str:
    with psycopg.connect(uri) as conn:
        manifest = manifest_read(conn)
    return manifest["tables"]["public.notes"]["checksum"]


def test_a_shadowing_hash_does_not_decide_the_checksum(planted_db):
    before = _checksum(planted_db)
    with psycopg.connect(planted_db, autocommit=True) as conn:
        conn.execute("UPDATE notes SET body = 'changed' WHERE id = 1")
    after = _checksum(planted_db)
    # The agent's hash answers 7 for every row: with it, both checksums would be 14.
    assert before != after
    assert "14" not in (before, after)
