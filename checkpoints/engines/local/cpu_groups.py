"""CPU shares by control group: a process tree (a team's PostgreSQL server: its
postmaster and every backend it forks after) weighs as one process when the CPU is
contended, however many sessions of it burn CPU.

Linux's scheduler shares the CPU between runnable threads; 20 sessions of one team
burning CPU would take 20 shares against the one of another team's version. Put in a
control group of its own with the default weight (cgroup v2 `cpu.weight` 100, v1
`cpu.shares` 1024), the team's whole server weighs as one process, so another team's
work keeps its share. Backends inherit the postmaster's group when forked, so moving
the postmaster (then the children it already has) contains every later session.

Needs a writable cgroup file system with the cpu controller (v2 at `/sys/fs/cgroup`,
or v1's `cpu` hierarchy); root, or a delegated subtree. Without one, `contain` raises
`CpuGroupsUnavailable` saying why, and the caller runs uncontained (and says so).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import psutil

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: The controller's default weight: the group counts as one ordinary process.
DEFAULT_WEIGHT = 100
PREFIX = "checkpoints-"
#: The period a CPU cap is counted over (the kernel's default, 100 ms).
CAP_PERIOD_US = 100_000


class CpuGroupsUnavailable(Exception):
    """No writable cgroup hierarchy with the cpu controller here (the message says why)."""


@dataclass(frozen=True)
class Hierarchy:
    """Where groups with a cpu weight are made: `base`, cgroup `version` 1 or 2."""

    base: Path
    version: int

    def weight_file(self, group: Path) -> Path:
        return group / ("cpu.weight" if self.version == 2 else "cpu.shares")

    def weight_value(self, weight: int) -> str:
        return str(weight if self.version == 2 else weight * 1024 // DEFAULT_WEIGHT)

    def cap(self, group: Path, cores: float) -> None:
        """At most `cores` of CPU time for the whole group, however idle the machine."""
        quota = int(cores * CAP_PERIOD_US)
        if self.version == 2:
            (group / "cpu.max").write_text(f"{quota} {CAP_PERIOD_US}")
        else:
            (group / "cpu.cfs_period_us").write_text(str(CAP_PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(quota))


def hierarchy(root: Path | None = None) -> Hierarchy:
    """The cpu hierarchy under `root` (default CGROUP_ROOT), or `CpuGroupsUnavailable`."""
    root = root or CGROUP_ROOT
    controllers = root / "cgroup.controllers"
    if controllers.exists():
        if "cpu" not in controllers.read_text().split():
            raise CpuGroupsUnavailable(f"cgroup v2 at {root} has no cpu controller")
        found = Hierarchy(root, 2)
    elif (root / "cpu" / "cpu.shares").exists():
        found = Hierarchy(root / "cpu", 1)
    else:
        raise CpuGroupsUnavailable(f"no cgroup cpu controller under {root}")
    if not os.access(found.base, os.W_OK):
        raise CpuGroupsUnavailable(f"{found.base} is not writable by this user")
    return found


def group_name(key: str) -> str:
    """A group name for `key` (e.g. a server's data folder): unique per installation,
    so two installations on one machine never share a group."""
    label = "".join(c if c.isalnum() else "-" for c in Path(key).parent.name)[:20]
    return f"{PREFIX}{label}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def contain(
    name: str,
    pid: int,
    *,
    weight: int = DEFAULT_WEIGHT,
    cap: float | None = None,
    root: Path | None = None,
) -> Path:
    """Move process `pid` (then its children) into group `name` with `weight` (and at most
    `cap` cores, if given); the group's folder. Idempotent: a process already there stays."""
    where = hierarchy(root)
    group = where.base / name
    try:
        if where.version == 2:
            _enable_cpu(where.base)
        group.mkdir(exist_ok=True)
        where.weight_file(group).write_text(where.weight_value(weight))
        if cap is not None:
            where.cap(group, cap)
        procs = group / "cgroup.procs"
        procs.write_text(str(pid))
        # Forked before the move: still in the old group (a fork after it inherits).
        for child in psutil.Process(pid).children(recursive=True):
            try:
                procs.write_text(str(child.pid))
            except ProcessLookupError:
                pass  # ended meanwhile
    except (OSError, psutil.Error) as error:
        raise CpuGroupsUnavailable(f"{group}: {error}") from error
    return group


def _enable_cpu(base: Path) -> None:
    control = base / "cgroup.subtree_control"
    if "cpu" not in control.read_text().split():
        control.write_text("+cpu")


def group_of(pid: int, root: Path | None = None) -> str | None:
    """The cpu group of `pid` as /proc says (`/checkpoints-…`), None if unknown."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    v2 = ((root or CGROUP_ROOT) / "cgroup.controllers").exists()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if (v2 and controllers == "") or (not v2 and "cpu" in controllers.split(",")):
            return path
    return None


def weight_of(name: str, root: Path | None = None) -> str:
    """The group's weight as the kernel holds it (`cpu.weight` or `cpu.shares`)."""
    where = hierarchy(root)
    return where.weight_file(where.base / name).read_text().strip()


def remove(name: str, root: Path | None = None) -> None:
    """Remove the group once it is empty (its server stopped); silent otherwise."""
    try:
        (hierarchy(root).base / name).rmdir()
    except (OSError, CpuGroupsUnavailable):
        pass
