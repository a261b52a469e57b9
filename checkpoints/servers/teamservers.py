"""A PostgreSQL server per team: its own postmaster, port, superuser, lock table and memory.

Each team's embedded server lives under the team servers' folder (`<root>/<team id>/
postgres`, root: CHECKPOINTS_TEAM_SERVERS_DIR, default `.data/teams`). It is created with
the team's first project, started by `make run` (`start_all`) and on demand by whichever
process needs its engine (`ensure_running`), and stopped with everything else
(`stop_all`). The engine works on it as the least-privilege role of checkpoints.servers.pgroles,
never as its superuser. One team's SQL then cannot reach or starve another team's: a lock
table or connection slots filled on one server are another server's business, and each
server runs in a CPU control group of its own (`engines/local/cpu_groups.py`), so 20
sessions of one team burning CPU weigh as one process against another team's work.

Knows no Django: callers pass the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from checkpoints.engines.local import cpu_groups
from checkpoints.engines.local.history import wal as history_wal
from checkpoints.servers import pgroles
from checkpoints.servers.pgserver import (
    CONFIG_FILE,
    FIRST_PORT,
    SUPERUSER,
    EmbeddedPostgres,
    _system_user,
    free_port,
    pg_bin,
    read_config,
)
from checkpoints.servers.teamserver_parts import (
    cpu_checked as _cpu_checked,
)
from checkpoints.servers.teamserver_parts import (
    cpu_contain,
    cpu_group_name,
    grant_engine_extras,
)
from checkpoints.servers.teamserver_parts import memory_bytes as memory_bytes  # callers use this

#: Small on purpose: a team server idles in a few tens of MB (measured by `make bench`).
#: `reserved_connections`: slots only the engine's role may take (pg_use_reserved_
#: connections), so a team that fills its slots still has its versions saved and restored.
TEAM_SERVER_SETTINGS = {
    "shared_buffers": "16MB",
    "max_connections": "40",
    "reserved_connections": "4",
    "maintenance_work_mem": "16MB",
    "autovacuum_max_workers": "1",
    "max_worker_processes": "4",
    "io_method": "sync",
    "min_wal_size": "32MB",
    "max_wal_size": "256MB",
}
#: Team servers take ports from here up, past the installation's own server.
FIRST_TEAM_PORT = FIRST_PORT + 100
_LOCK_FILE = ".lock"
#: A cluster made by initdb once, never started: every team server starts as a copy of it.
TEMPLATE_DIR = ".template"
_thread_lock = threading.Lock()
#: Servers this process has put in their CPU group (or found it could not): checked once.
logger = logging.getLogger(__name__)


def server_dir(root: Path, team_id: int) -> Path:
    return Path(root) / str(int(team_id)) / "postgres"


def cold_dir(root: Path, team_id: int) -> Path:
    """The team's cold-tier archives, beside its server's data."""
    return Path(root) / str(int(team_id)) / "cold"


def team_server(root: Path, team_id: int, *, fast: bool = False) -> EmbeddedPostgres:
    """The team's server, its WAL archived into its history (engines/local/history)."""
    folder = server_dir(root, team_id)
    archiving = history_wal.server_settings(history_wal.history_dir(folder))
    return EmbeddedPostgres(folder, fast=fast, settings={**TEAM_SERVER_SETTINGS, **archiving})


def ensure_running(root: Path, team_id: int, *, fast: bool = False) -> str:
    """The engine role's URL on the team's server, created and started if needed."""
    server = team_server(root, team_id, fast=fast)
    url = pgroles.engine_url(server.data_dir)
    if url and server.is_running():
        if server.data_dir not in _cpu_checked:  # started by another process
            cpu_contain(server)
        return url
    with _locked(root):
        if not (server.data_dir / CONFIG_FILE).exists():
            _create(root, team_id, fast=fast)
        history_wal.prepare(history_wal.history_dir(server.data_dir), server.run_as)
        server.start()
        cpu_contain(server)
        pgroles.ensure_roles(server, None)
        grant_engine_extras(server)
    return pgroles.engine_url(server.data_dir) or server.url()


def _create(root: Path, team_id: int, *, fast: bool) -> None:
    """A copy of the template cluster (else a fresh initdb) in a staging folder, with a
    superuser password of its own, moved into place once whole: a process killed midway
    (Ctrl-C during a team's first project) leaves no half-made cluster to start."""
    final = server_dir(root, team_id)
    staging = final.with_name("postgres.new")
    shutil.rmtree(staging, ignore_errors=True)
    if final.exists():  # without its server.json it never started: kept aside, not deleted
        final.rename(final.with_name(f"postgres.broken-{int(time.time())}"))
    first_port = _next_port(root)
    if fast:  # throwaway test servers: parallel test runs must not race for one port
        first_port = max(first_port, FIRST_PORT + 1000 + secrets.randbelow(5000))
    try:
        _copy_template(root, staging, first_port)
    except (OSError, subprocess.CalledProcessError):
        shutil.rmtree(staging, ignore_errors=True)  # initdb then: slower, same result
        EmbeddedPostgres(staging, fast=fast, first_port=first_port).initialise()
    staging.rename(final)


def _copy_template(root: Path, staging: Path, first_port: int) -> None:
    """initdb once per installation (about 2 s, 9 s on a loaded machine); each team server
    is then a copy of that cluster (a few hundred ms) with its own superuser password."""
    template = Path(root) / TEMPLATE_DIR
    if not (template / CONFIG_FILE).exists():
        making = template.with_name(TEMPLATE_DIR + ".new")
        shutil.rmtree(making, ignore_errors=True)
        EmbeddedPostgres(making, first_port=FIRST_TEAM_PORT).initialise()
        making.rename(template)
    staging.mkdir(parents=True)
    subprocess.run(["cp", "-a", str(template / "pgdata"), str(staging / "pgdata")], check=True)
    password = secrets.token_urlsafe(24)  # [A-Za-z0-9_-]: safe inside quotes
    subprocess.run(
        [str(pg_bin("postgres")), "--single", "-D", str(staging / "pgdata"), "postgres"],
        input=f"ALTER ROLE {SUPERUSER} PASSWORD '{password}'\n",
        capture_output=True,  # single-user mode echoes nothing to a log file
        text=True,
        check=True,
        user=_system_user(),
        cwd="/",
    )
    config = staging / CONFIG_FILE
    config.write_text(json.dumps({"port": free_port(first_port), "password": password}))
    config.chmod(0o600)


def initialised(root: Path) -> dict[int, EmbeddedPostgres]:
    """Every team server created under `root`, by team id."""
    found: dict[int, EmbeddedPostgres] = {}
    for config in sorted(Path(root).glob(f"*/postgres/{CONFIG_FILE}")):
        name = config.parent.parent.name
        if name.isdigit():
            found[int(name)] = team_server(root, int(name))
    return found


def start_all(root: Path) -> list[int]:
    """Start every team server created so far (`make run`); the team ids."""
    started = []
    for team_id in initialised(root):
        ensure_running(root, team_id)
        started.append(team_id)
    return started


def running(root: Path) -> list[int]:
    """Team ids whose server runs now."""
    return [team_id for team_id, server in initialised(root).items() if server.is_running()]


def stop_all(root: Path, *, mode: str = "fast") -> None:
    """Stop every team server at once (side by side: each stop takes its own checkpoint);
    one that takes over 3 s stops at once (crash-safe: it recovers at its next start)."""
    threads = [
        threading.Thread(target=server.stop, kwargs={"mode": mode, "patience": 3}, daemon=True)
        for server in initialised(root).values()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for server in initialised(root).values():  # empty once its processes ended
        cpu_groups.remove(cpu_group_name(server))
        _cpu_checked.discard(server.data_dir)


def remove(root: Path, team_id: int) -> bool:
    """Stop the team's server and delete its folder (data and cold archives): the team
    is gone, or has no projects and an admin asked. Whether there was one."""
    folder = Path(root) / str(int(team_id))
    if not folder.exists():
        return False
    with _locked(root):
        server = team_server(root, team_id)
        if (server.data_dir / CONFIG_FILE).exists():
            server.stop(mode="fast", patience=3)
        shutil.rmtree(folder, ignore_errors=True)
    return True


def _next_port(root: Path) -> int:
    """Past every port a team server already holds (a stopped one keeps its port)."""
    ports = [FIRST_TEAM_PORT - 1]
    for config_file in Path(root).glob("*/postgres/server.json"):
        config = read_config(config_file.parent)
        if config is not None:
            ports.append(config.port)
    return max(ports) + 1


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One creation or start at a time, across threads and processes (web, workers)."""
    Path(root).mkdir(parents=True, exist_ok=True)
    with _thread_lock, open(Path(root) / _LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
