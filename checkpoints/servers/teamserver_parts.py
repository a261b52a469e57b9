"""What a team server is given beside its settings: its CPU control group, the engine
role's extra grants; and what it costs in memory (used by checkpoints/servers/teamservers.py)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import psutil
import psycopg

from checkpoints.engines.local import cpu_groups
from checkpoints.servers import pgroles
from checkpoints.servers.pgserver import EmbeddedPostgres

#: Data folders whose server this process has put in its CPU group.
cpu_checked: set[Path] = set()
logger = logging.getLogger("checkpoints.servers.teamservers")


def cpu_group_name(server: EmbeddedPostgres) -> str:
    return cpu_groups.group_name(str(server.data_dir.resolve()))


def cpu_contain(server: EmbeddedPostgres) -> str | None:
    """The running server's postmaster and backends into its CPU group: the group's path,
    or None (logged once: no writable cgroup cpu controller, the server runs uncontained)."""
    cpu_checked.add(server.data_dir)
    try:
        postmaster = int((server.pgdata / "postmaster.pid").read_text().splitlines()[0])
        return str(cpu_groups.contain(cpu_group_name(server), postmaster))
    except (OSError, ValueError, IndexError, cpu_groups.CpuGroupsUnavailable) as error:
        logger.warning("team server %s runs without a CPU group: %s", server.data_dir, error)
        return None


def memory_bytes(server: EmbeddedPostgres) -> int:
    """What the running server takes in memory: the proportional set size (PSS) of its
    postmaster and every backend, so shared memory counts once."""
    pid_file = server.pgdata / "postmaster.pid"
    postmaster = psutil.Process(int(pid_file.read_text().splitlines()[0]))
    total = 0
    for proc in [postmaster, *postmaster.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_full_info().pss
    return total


def grant_engine_extras(server: EmbeddedPostgres) -> None:
    """The engine role may use the reserved connection slots, and close the current WAL
    segment for the history."""
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(f"GRANT pg_use_reserved_connections TO {pgroles.ENGINE_ROLE}")
        databases = conn.execute(
            "SELECT datname FROM pg_database WHERE datname = 'template1' OR (datallowconn "
            "AND datdba = (SELECT oid FROM pg_roles WHERE rolname = %s))",
            (pgroles.ENGINE_ROLE,),
        ).fetchall()
    # The history's "as of now": the engine closes the current WAL segment for the archive
    # (a function's grant is its database's: template1's goes to control databases made later).
    for (database,) in databases:
        with psycopg.connect(server.url(database), autocommit=True) as conn:
            conn.execute(f"GRANT EXECUTE ON FUNCTION pg_switch_wal() TO {pgroles.ENGINE_ROLE}")
