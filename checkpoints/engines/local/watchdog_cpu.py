"""The CPU one project's sessions may take of a server they share with other projects.

A backend is one session's process; the scheduler gives every runnable one an equal
share, so a role with 20 sessions burning CPU would take 20 shares against the one of
another team's version. When the sessions of a project role (or a preview's) that are
running a statement now have used more than `cpu_seconds` of CPU together, each of them
is lowered: moved into the installation's CPU group for lowered sessions (`cpu_groups`:
weight 1, about 1% of an ordinary process's share when the CPU is contended, and all of
them together at most half a core) and set to the lowest priority (`nice` 19). The group
is what bounds them: a server started by `pg_ctl` runs in a session of its own, and the
kernel's autogroups then make `nice` count only among that server's own backends
(measured: a plain process kept 10% of a core against 20 reniced burners, 99% against
them grouped). The renice stays for a machine without a writable cgroup hierarchy.
Counted together, so 20 sessions are caught as soon as one would be (20 burners on 2
cores reach 3 s in 1.5 s); counted over running sessions only, so an app's pool of idle
connections is never lowered. Short queries never get there; a long computation keeps
running, behind everyone else.
The priority belongs to the process, so it ends with the session; the agent cannot raise
it (only root may lower a nice value).

Only for a server on this machine whose backends this process may renice (the
installation's own, or a team's embedded server): the backend's parent must be the
server's postmaster, read from `postmaster.pid` in its data directory. On another
machine's server nothing is done (its own administrator bounds CPU).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import psutil

from . import cpu_groups
from . import sql as db

LOWEST = 19
#: The group lowered sessions are moved into, and its weight (the controller's lowest).
LOWERED_GROUP = f"{cpu_groups.PREFIX}lowered"
LOWERED_WEIGHT = 1
#: All lowered sessions together get at most this many cores: a weight alone still let
#: another team's version wait seconds now and then behind 20 of them (`make bench`).
LOWERED_CAP = 0.5

_BACKENDS = """
SELECT s.pid, s.usesysid FROM pg_catalog.pg_stat_get_activity(NULL) s
WHERE s.backend_type IN ('client backend', 'parallel worker') AND s.state = 'active'
  AND s.usesysid = ANY (%s::oid[])
"""


def postmaster_pid(conn: db.Conn) -> int | None:
    """The server's postmaster, if the server runs on this machine (else None)."""
    row = conn.execute("SELECT pg_catalog.current_setting('data_directory', true)").fetchone()
    if not row or not row[0]:
        return None
    try:
        first = (Path(row[0]) / "postmaster.pid").read_text().splitlines()[0]
        pid = int(first)
        started = conn.execute("SELECT pg_catalog.pg_backend_pid()").fetchone()
        # Ours if the session answering is this postmaster's child on this machine.
        if started and psutil.Process(int(started[0])).ppid() == pid:
            return pid
    except (OSError, ValueError, IndexError, psutil.Error):
        pass
    return None


def cpu_demote(conn: db.Conn, role_oids: Iterable[int], cpu_seconds: float) -> dict[int, int]:
    """Lower the priority of the running sessions of every role of `role_oids` whose
    running sessions used more than `cpu_seconds` of CPU together: role oid -> how many
    sessions were lowered now (those lowered before are not counted again)."""
    oids = list(role_oids)
    if cpu_seconds <= 0 or not oids:
        return {}
    postmaster = postmaster_pid(conn)
    if postmaster is None:
        return {}
    used: dict[int, float] = {}
    running: dict[int, list[psutil.Process]] = {}
    for pid, oid in conn.execute(_BACKENDS, (oids,)).fetchall():
        try:
            process = psutil.Process(int(pid))
            if process.ppid() != postmaster:
                continue
            times = process.cpu_times()
        except psutil.Error:
            continue  # ended meanwhile
        used[oid] = used.get(oid, 0.0) + times.user + times.system
        running.setdefault(oid, []).append(process)
    lowered: dict[int, int] = {}
    for oid, total in used.items():
        if total > cpu_seconds:
            count = sum(_lower(process) for process in running[oid])
            if count:
                lowered[int(oid)] = count
    return lowered


def _lower(process: psutil.Process) -> bool:
    try:
        if process.nice() >= LOWEST:
            return False
        os.setpriority(os.PRIO_PROCESS, process.pid, LOWEST)
    except (OSError, psutil.Error):
        return False  # ended meanwhile, or not ours to renice
    try:
        cpu_groups.contain(LOWERED_GROUP, process.pid, weight=LOWERED_WEIGHT, cap=LOWERED_CAP)
    except cpu_groups.CpuGroupsUnavailable:
        pass  # no cgroups here: the renice is all there is
    return True


def priority_of(pid: int) -> int:
    """A process's nice value (tests and the bench read it)."""
    return os.getpriority(os.PRIO_PROCESS, pid)
