"""The manifest at scale (issue 27): with more tables than the server's shared lock
table holds, a version still gets its manifest, read in batches that release their
locks. A server of its own with the smallest lock table (`max_locks_per_transaction` =
10) makes the bound bite at 1,500 tables (4 indexes each), which the default server would need 50,000
for (that size is in `make bench`)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from checkpoints.lifecycle import manifest as manifests
from checkpoints.servers.pgserver import EmbeddedPostgres

TABLES = 1_500


@pytest.fixture(scope="module")
def small_locks(tmp_path_factory) -> Iterator[str]:
    """A database with `TABLES` tables (four indexes each: a read locks five relations a table) on a server whose shared lock
    table holds about 10 × 200 locks."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("locks"), fast=True)
    server._initdb()  # configured before its first start: no restart
    with (server.pgdata / "postgresql.conf").open("a") as conf:
        conf.write("\nmax_locks_per_transaction = 10\n")
    server.start()
    try:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE many")
        with psycopg.connect(server.url("many"), autocommit=True) as conn:
            for start in range(0, TABLES, 100):  # 100 tables a transaction
                conn.execute(
                    f"DO $$ BEGIN FOR i IN {start}..{start + 99} LOOP EXECUTE format("
                    "'CREATE TABLE t%s (id int PRIMARY KEY, a int UNIQUE, b int UNIQUE, "
                    "c int UNIQUE); INSERT INTO t%s (id) VALUES (%s)', i, i, i); END LOOP; END $$"
                )
        yield server.url("many")
    finally:
        server.stop("immediate")


def test_one_transaction_over_every_table_runs_out_of_lock_memory(small_locks):
    """The attack as it was: the old read counted every table in one transaction."""
    with (
        psycopg.connect(small_locks) as conn,
        pytest.raises(psycopg.errors.OutOfMemory, match="shared memory"),
    ):
        for i in range(TABLES):
            conn.execute(f"SELECT count(*) FROM t{i}")


def test_the_manifest_reads_every_table_within_bounded_locks(small_locks):
    manifest = manifests.manifest_required(small_locks)
    assert len(manifest["tables"]) == TABLES
    entry = manifest["tables"]["public.t1499"]
    assert entry["rows"] == 1 and entry["checksum_kind"] == "rows" and entry["checksum"]
    manifest["exact"] = True
    with psycopg.connect(small_locks) as conn:
        conn.read_only = True
        assert manifests.manifest_verify(conn, manifest) == []
        with psycopg.connect(small_locks, autocommit=True) as other:
            other.execute("INSERT INTO t7 VALUES (-1)")
        assert manifests.manifest_verify(conn, manifest) == ["table t7 has 2 rows, expected 1"]
