"""The fair-share bench's CPU attack: `count` sessions of team A's projects burn CPU in
PostgreSQL. The bench runs on the servers' machine, so it reads each burner's backend:
how long until the watchdog lowered them all (`lowered_after`, None if it did not within
`wait` seconds, e.g. with CHECKPOINTS_ROLE_CPU_SECONDS=0) and the CPU group they run in."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil
import psycopg

from checkpoints.engines.local import cpu_groups
from checkpoints.engines.local.watchdog_cpu import LOWEST, priority_of

BURN_SQL = "select count(*) from generate_series(1, 2000000000)"


@contextmanager
def burning(
    uris: list[str], count: int, seen: dict, *, thorough: bool = True, wait: float = 30
) -> Iterator[None]:
    """`count` sessions over `uris` burn CPU for as long as the block runs; `seen` gets
    `cpu_group` (of the first burner) and, `thorough`, `lowered_after` (seconds) and
    `probe_share`."""
    sessions = [psycopg.connect(uris[n % len(uris)], autocommit=True) for n in range(count)]
    pids = [conn.execute("select pg_backend_pid()").fetchone()[0] for conn in sessions]
    threads = [threading.Thread(target=_burn_one, args=(c,), daemon=True) for c in sessions]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    seen["cpu_group"] = cpu_groups.group_of(pids[0])
    if thorough:
        seen["lowered_after"] = _lowered(pids, started, wait)
        seen["probe_share"] = probe_share()
    try:
        yield
    finally:
        for conn in sessions:
            conn.cancel_safe()
        for thread in threads:
            thread.join(timeout=30)
        for conn in sessions:
            conn.close()


def _lowered(pids: list[int], started: float, wait: float) -> float | None:
    """Seconds until every burner runs at the lowest priority (None: not within `wait`;
    the attack is then measured as it is)."""
    while time.monotonic() - started < wait:
        try:
            if all(priority_of(pid) >= LOWEST for pid in pids):
                return round(time.monotonic() - started, 1)
        except OSError:
            return None  # a burner ended: measure as it is
        time.sleep(0.2)
    return None


def _burn_one(conn: psycopg.Connection) -> None:
    try:
        conn.execute(BURN_SQL)
    except psycopg.Error:
        pass  # cancelled at the end


def probe_share(seconds: float = 3.0) -> float:
    """The share of one core a plain process spinning for `seconds` gets now (0..1): what
    any other work of the machine (another team's worker, say) can count on."""
    spin = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"
    probe = subprocess.Popen([sys.executable, "-c", spin])
    used = 0.0
    try:
        while probe.poll() is None:
            with_times = psutil.Process(probe.pid).cpu_times()
            used = with_times.user + with_times.system
            time.sleep(0.1)
    except psutil.Error:
        pass  # ended between the poll and the read: the last figure stands
    probe.wait()
    return round(used / seconds, 2)
