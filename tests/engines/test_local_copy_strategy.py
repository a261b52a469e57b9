"""The copy strategy: WAL_LOG right after heavy writes (no checkpoint of the fresh pages in
the user's wait), FILE_COPY otherwise; the pending WAL is read from the real server."""

from __future__ import annotations

import psycopg

from checkpoints.engines.local import sql as local_sql

MB = 1024 * 1024


def test_the_strategy_follows_size_and_pending_writes():
    assert local_sql.copy_strategy(1 * MB, None) == "WAL_LOG"
    assert local_sql.copy_strategy(100 * MB, None) == "FILE_COPY"
    assert local_sql.copy_strategy(100 * MB, 10 * MB) == "FILE_COPY"
    assert local_sql.copy_strategy(100 * MB, 30 * MB) == "WAL_LOG"
    assert local_sql.copy_strategy(100 * MB, 60 * MB) == "WAL_LOG"
    assert local_sql.copy_strategy(1000 * MB, 100 * MB) == "FILE_COPY"


def test_pending_wal_grows_with_a_bulk_write_and_a_checkpoint_clears_it(pg_server):
    # Another test's background DROP DATABASE can checkpoint meanwhile: then measure again.
    for _attempt in range(5):
        with psycopg.connect(pg_server.url(), autocommit=True) as conn:
            conn.execute("CHECKPOINT")
            redo = _redo_lsn(conn)
            before = local_sql.wal_since_checkpoint(conn)
            conn.execute("CREATE TABLE copy_strategy_bulk (g int, pad text)")
            conn.execute(  # a table of its own transaction: WAL-logged at every wal_level
                "INSERT INTO copy_strategy_bulk SELECT g, repeat('x', 900) "
                "FROM generate_series(1, 3000) g"
            )
            after = local_sql.wal_since_checkpoint(conn)
            undisturbed = _redo_lsn(conn) == redo
            conn.execute("DROP TABLE copy_strategy_bulk")
        if undisturbed:
            break
    assert undisturbed, "a checkpoint ran during every attempt"
    assert before is not None and after is not None
    assert after - before > MB / 2


def _redo_lsn(conn: psycopg.Connection) -> str:
    return str(conn.execute("SELECT redo_lsn FROM pg_control_checkpoint()").fetchone()[0])
