"""The copy strategy: the faster of WAL_LOG and FILE_COPY by the measured cost estimates
(small databases and heavy pending writes: WAL_LOG), the pending WAL read from the real
server."""

from __future__ import annotations

import psycopg

from checkpoints.engines.local import sql as local_sql
from checkpoints.engines.local.strategy import copy_strategy

MB = 1024 * 1024


def test_the_strategy_follows_size_and_pending_writes():
    # The measured cases of `strategy`'s table, each given its faster strategy.
    assert copy_strategy(int(11.5 * MB), None) == "WAL_LOG"
    assert copy_strategy(21 * MB, 10 * MB) == "WAL_LOG"
    assert copy_strategy(35 * MB, 97 * MB) == "WAL_LOG"
    assert copy_strategy(35 * MB, 583 * MB) == "WAL_LOG"
    assert copy_strategy(103 * MB, None) == "FILE_COPY"
    assert copy_strategy(210 * MB, 97 * MB) == "FILE_COPY"
    assert copy_strategy(415 * MB, 291 * MB) == "FILE_COPY"
    assert copy_strategy(723 * MB, 583 * MB) == "FILE_COPY"
    # Pending writes move the crossing up: 100 MB flips once about 220 MB are pending.
    assert copy_strategy(100 * MB, 200 * MB) == "FILE_COPY"
    assert copy_strategy(100 * MB, 250 * MB) == "WAL_LOG"


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
