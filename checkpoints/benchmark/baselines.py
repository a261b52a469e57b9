"""The baselines measured on the same database in the same run: `pg_dump -Fc |
pg_restore` into a fresh database, `CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY` alone
(the floor for a full copy), and ending sessions with a few idle clients connected next to
`pg_terminate_backend(pid, timeout)`, which waits in 100 ms steps."""

from __future__ import annotations

import subprocess
import time
import uuid
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from checkpoints.benchmark.results import IDLE_CLIENTS, SizeResult
from checkpoints.engines.local import sql as local_sql
from checkpoints.servers.pgserver import pg_bin


def bench_end_sessions(
    admin_url: str, uri: str, dbname: str, runs: int, result: SizeResult
) -> None:
    """End IDLE_CLIENTS idle sessions: the engine's way, and with a timeout per session."""
    ours, builtin = [], []
    with psycopg.connect(admin_url, autocommit=True) as admin:
        for way, times in (("ours", ours), ("builtin", builtin)):
            for _ in range(runs):
                clients = [psycopg.connect(uri, autocommit=True) for _ in range(IDLE_CLIENTS)]
                for client in clients:
                    client.execute("SELECT 1")
                local_sql.allow_connections(admin, dbname, False)
                try:
                    started = time.perf_counter()
                    if way == "ours":
                        local_sql.end_sessions(admin, dbname)
                    else:
                        admin.execute(
                            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                            "WHERE datname = %s AND pid <> pg_backend_pid()",
                            (dbname,),
                        )
                    times.append(time.perf_counter() - started)
                finally:
                    local_sql.allow_connections(admin, dbname, True)
                    for client in clients:
                        client.close()
    result.record("end_sessions", ours)
    result.record("end_sessions_builtin", builtin)


def template_copy(admin_url: str, template: str, scratch: list[str]) -> float:
    name = f"bench_tpl_{uuid.uuid4().hex[:8]}"
    scratch.append(name)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
        return time.perf_counter() - started


def dump_restore(admin_url: str, source_uri: str, scratch: list[str]) -> float:
    name = f"bench_dump_{uuid.uuid4().hex[:8]}"
    scratch.append(name)
    target_uri = _with_database(admin_url, name)
    started = time.perf_counter()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dump = subprocess.Popen(
        [str(pg_bin("pg_dump")), "-Fc", "-d", source_uri], stdout=subprocess.PIPE
    )
    restore = subprocess.run(
        [str(pg_bin("pg_restore")), "--no-owner", "--no-acl", "-d", target_uri],
        stdin=dump.stdout,
        capture_output=True,
    )
    dump.stdout.close()
    if dump.wait() != 0 or restore.returncode != 0:
        raise RuntimeError(f"pg_dump | pg_restore failed: {restore.stderr.decode()[-500:]}")
    return time.perf_counter() - started


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return parts._replace(path=f"/{database}").geturl()


def drop_all(admin_url: str, names: list[str]) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in names:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
